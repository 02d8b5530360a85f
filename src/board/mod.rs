//! The board round view and the 24-hour standard. For each trust and ward: open cases by
//! status and pathway; patients not meeting the criteria with no delay reason; pathway 1-3
//! patients past 24 hours without care arranged (escalated); the longest waits; today's and
//! this week's share of pathway 1-3 patients discharged within 24 hours of being ready; and,
//! for the hub, a capacity panel. Ward users see their own trust only.
//!
//! This module is the page: its handler and typed template struct. The counts it shows are
//! read by [`queries`], each scoped to the caller; the case lists by
//! [`crate::cases::queries::list`].

pub mod queries;

use crate::accounts::PageCaller;
use crate::cases::CaseLine;
use crate::cases::queries::{self as case_queries, CaseFilter, PageRequest};
use crate::domain::PatientId;
use crate::domain::Role;
use crate::domain::time::{display_london, london_date, london_to_utc};
use crate::reference::TrustRow;
use crate::state::AppState;
use crate::web::{Layout, PageResult};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use chrono::{DateTime, Datelike, Duration, Utc};
use queries::{CapacityLine, Compliance, WardRow};
use serde::Deserialize;
use tower_sessions::Session;

/// A list of patients on the board.
pub struct Section {
    pub title: &'static str,
    pub id: &'static str,
    pub empty: &'static str,
    pub count: bool,
    pub lines: Vec<CaseLine>,
}

#[derive(Deserialize, Default)]
pub struct BoardQuery {
    #[serde(default)]
    trust: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "board/board.html")]
struct BoardPage {
    layout: Layout,
    trusts: Vec<TrustRow>,
    trust: String,
    wards: Vec<WardRow>,
    totals: WardRow,
    sections: Vec<Section>,
    escalated_count: usize,
    today: Compliance,
    week: Compliance,
    capacity: Vec<CapacityLine>,
    is_hub: bool,
    as_at: String,
}

/// Start of today and of this week (Monday) in England, as instants.
fn day_and_week_start(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let today = london_date(now);
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let midnight = |d: chrono::NaiveDate| london_to_utc(d.and_hms_opt(0, 0, 0).unwrap_or_default());
    (midnight(today), midnight(monday))
}

pub async fn board(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Query(q): Query<BoardQuery>,
) -> PageResult {
    caller.require(&[Role::Hub, Role::Ward])?;
    let now = state.clock.now();
    let is_hub = caller.is(Role::Hub);
    // a ward sees its own trust; the hub any one trust, or all
    let trust = queries::trust_shown(&caller, &q.trust);
    let trust_filter = Some(trust.clone()).filter(|t| !t.is_empty());
    let day_ago = now - Duration::hours(24);
    let wards = queries::ward_rows(&state.pool, &caller, trust_filter.as_deref(), day_ago).await?;
    let totals = WardRow::total(&wards);
    // each list reads the rows it shows (the board's access-log row is written once below)
    let list = |f: CaseFilter, limit: i64| {
        let state = state.clone();
        let caller = caller.clone();
        async move {
            let page = PageRequest {
                limit,
                ..PageRequest::default()
            };
            Ok::<_, crate::error::AppError>(
                case_queries::list(&state.pool, &caller, &f, page, now, None)
                    .await?
                    .cases
                    .iter()
                    .map(|l| CaseLine::new(&l.case, now))
                    .collect::<Vec<_>>(),
            )
        }
    };
    let base = CaseFilter {
        open_only: true,
        trust_code: trust_filter.clone(),
        ..CaseFilter::default()
    };
    let no_reason = list(
        CaseFilter {
            no_delay_reason: true,
            ..base.clone()
        },
        200,
    )
    .await?;
    let escalated = list(
        CaseFilter {
            escalated_before: Some(day_ago),
            ..base.clone()
        },
        200,
    )
    .await?;
    let longest: Vec<CaseLine> = list(base.clone(), 10)
        .await?
        .into_iter()
        .filter(|l| !l.ready.is_empty())
        .collect();
    let mut shown: Vec<PatientId> = no_reason
        .iter()
        .chain(&escalated)
        .chain(&longest)
        .map(|l| l.id)
        .collect();
    shown.sort();
    shown.dedup();
    crate::audit::record_views(
        &state.pool,
        &caller,
        &shown,
        "board round",
        state.clock.now(),
    )
    .await?;

    let (today_start, week_start) = day_and_week_start(now);
    let compliance = |from: DateTime<Utc>| {
        queries::compliance(&state.pool, &caller, trust_filter.as_deref(), from, now)
    };
    let today = compliance(today_start).await?;
    let week = compliance(week_start).await?;
    let capacity = queries::capacity(
        &state.pool,
        &caller,
        now,
        state.config.offer_stale_after,
        today_start,
    )
    .await?;
    Ok(BoardPage {
        layout: crate::notifications::layout(&state, &session, &caller, "board").await,
        trusts: if is_hub {
            state
                .reference
                .get(&state.pool)
                .await?
                .trusts_of_hub(&caller.hub_code)
        } else {
            vec![]
        },
        trust,
        wards,
        totals,
        escalated_count: escalated.len(),
        sections: vec![
            Section {
                title: "Escalated: pathway 1-3, over 24 hours, no care arranged",
                id: "escalated",
                empty: "Nobody: every pathway 1-3 patient past 24 hours has care arranged.",
                count: true,
                lines: escalated,
            },
            Section {
                title: "Not meeting the criteria with no delay reason",
                id: "no-reason",
                empty: "Every waiting patient has a delay reason.",
                count: true,
                lines: no_reason,
            },
            Section {
                title: "Longest waits",
                id: "longest",
                empty: "Nobody is waiting.",
                count: false,
                lines: longest,
            },
        ],
        today,
        week,
        capacity,
        is_hub,
        as_at: display_london(now),
    }
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_week_starts_on_monday_in_england() {
        // Sunday 22 November 2026, 10:00 GMT
        let now = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let (day, week) = day_and_week_start(now);
        assert_eq!(day.to_rfc3339(), "2026-11-22T00:00:00+00:00");
        assert_eq!(week.to_rfc3339(), "2026-11-16T00:00:00+00:00");
        // in summer, midnight in England is 23:00 UTC the day before
        let now = DateTime::parse_from_rfc3339("2026-06-10T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let (day, week) = day_and_week_start(now);
        assert_eq!(day.to_rfc3339(), "2026-06-09T23:00:00+00:00");
        assert_eq!(week.to_rfc3339(), "2026-06-07T23:00:00+00:00");
    }
}
