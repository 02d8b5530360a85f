//! The board round view and the 24-hour standard. For each trust and ward: open cases by
//! status and pathway; patients not meeting the criteria with no delay reason; pathway 1-3
//! patients past 24 hours without care arranged (escalated); the longest waits; today's and
//! this week's share of pathway 1-3 patients discharged within 24 hours of being ready; and,
//! for the hub, a capacity panel. Ward users see their own trust only.

use crate::accounts::PageCaller;
use crate::cases::CaseLine;
use crate::cases::queries::{self, CaseFilter, TrustRow};
use crate::domain::time::{display_london, london_date, london_to_utc};
use crate::domain::{PatientId, Role};
use crate::scope::CaseScope;
use crate::state::AppState;
use crate::web::{Layout, PageResult};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use chrono::{DateTime, Datelike, Duration, Utc};
use serde::Deserialize;
use sqlx::{FromRow, QueryBuilder};
use tower_sessions::Session;

/// Open cases on one ward, by status and pathway.
#[derive(Debug, Clone, Default, FromRow)]
pub struct WardRow {
    pub trust_code: String,
    pub ward_code: String,
    pub ward_name: String,
    pub planning: i64,
    pub awaiting_triage: i64,
    pub awaiting_care: i64,
    pub care_arranged: i64,
    pub ready_to_go: i64,
    pub p0: i64,
    pub p1: i64,
    pub p2: i64,
    pub p3: i64,
    pub over_24h: i64,
}

/// The 24-hour standard for a span of days: pathway 1-3 discharges, and how many left
/// within 24 hours of their discharge ready time.
#[derive(Debug, Clone, Default, FromRow)]
pub struct Compliance {
    pub discharged: i64,
    pub within_24h: i64,
}

impl Compliance {
    pub fn percent(&self) -> String {
        if self.discharged == 0 {
            "no discharges".into()
        } else {
            format!(
                "{}%",
                (self.within_24h * 100 + self.discharged / 2) / self.discharged
            )
        }
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct CapacityLine {
    pub label: String,
    pub pathway: i16,
    pub open_places: i64,
    pub offers: i64,
    pub stale: i64,
    pub reserved_today: i64,
}

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
    // A ward user's scope is its own trust; the hub sees every trust and may choose one.
    let scope = CaseScope::of(&caller);
    let trust_filter = if is_hub {
        Some(q.trust.trim().to_uppercase()).filter(|t| !t.is_empty())
    } else {
        None
    };
    let trust = if is_hub {
        trust_filter.clone().unwrap_or_default()
    } else {
        caller.org_code.clone()
    };
    let day_ago = now - Duration::hours(24);
    let mut wards = QueryBuilder::new(
        "SELECT p.trust_code, p.ward_code, w.name AS ward_name, \
         count(*) FILTER (WHERE p.status = 'planning') AS planning, \
         count(*) FILTER (WHERE p.status = 'awaiting_triage') AS awaiting_triage, \
         count(*) FILTER (WHERE p.status = 'awaiting_care') AS awaiting_care, \
         count(*) FILTER (WHERE p.status = 'care_arranged') AS care_arranged, \
         count(*) FILTER (WHERE p.status = 'ready_to_go') AS ready_to_go, \
         count(*) FILTER (WHERE p.pathway = 0) AS p0, count(*) FILTER (WHERE p.pathway = 1) AS p1, \
         count(*) FILTER (WHERE p.pathway = 2) AS p2, count(*) FILTER (WHERE p.pathway = 3) AS p3, \
         count(*) FILTER (WHERE p.discharge_ready_at <= ",
    );
    wards.push_bind(day_ago).push(
        ") AS over_24h FROM patients p JOIN wards w ON w.code = p.ward_code \
             WHERE p.status NOT IN ('discharged','cancelled') AND ",
    );
    scope.push_sql(&mut wards, "p");
    if let Some(t) = &trust_filter {
        wards.push(" AND p.trust_code = ").push_bind(t.clone());
    }
    wards.push(" GROUP BY p.trust_code, p.ward_code, w.name ORDER BY p.trust_code, p.ward_code");
    let wards: Vec<WardRow> = wards.build_query_as().fetch_all(&state.pool).await?;
    let mut totals = WardRow::default();
    for w in &wards {
        totals.planning += w.planning;
        totals.awaiting_triage += w.awaiting_triage;
        totals.awaiting_care += w.awaiting_care;
        totals.care_arranged += w.care_arranged;
        totals.ready_to_go += w.ready_to_go;
        totals.p0 += w.p0;
        totals.p1 += w.p1;
        totals.p2 += w.p2;
        totals.p3 += w.p3;
        totals.over_24h += w.over_24h;
    }
    let list = |f: CaseFilter| {
        let state = state.clone();
        let caller = caller.clone();
        async move {
            Ok::<_, crate::error::AppError>(
                queries::list(&state.pool, &caller, &f, now)
                    .await?
                    .iter()
                    .map(|l| CaseLine::new(&l.case, now))
                    .collect::<Vec<_>>(),
            )
        }
    };
    let base = CaseFilter {
        open_only: true,
        trust_code: trust_filter.clone(),
        limit: 200,
        ..CaseFilter::default()
    };
    let no_reason = list(CaseFilter {
        no_delay_reason: true,
        ..base.clone()
    })
    .await?;
    let escalated = list(CaseFilter {
        escalated_before: Some(day_ago),
        ..base.clone()
    })
    .await?;
    let longest: Vec<CaseLine> = list(CaseFilter {
        limit: 10,
        ..base.clone()
    })
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
    crate::audit::record_views(&state.pool, &caller, &shown, "board round").await?;

    let (today_start, week_start) = day_and_week_start(now);
    let compliance = |from: DateTime<Utc>| {
        let mut q = QueryBuilder::new(
            "SELECT count(*) AS discharged, \
             count(*) FILTER (WHERE p.discharged_at - p.discharge_ready_at <= interval '24 hours') AS within_24h \
             FROM patients p WHERE p.status = 'discharged' AND p.pathway BETWEEN 1 AND 3 \
             AND p.discharge_ready_at IS NOT NULL AND p.discharged_at >= ",
        );
        q.push_bind(from)
            .push(" AND p.discharged_at <= ")
            .push_bind(now)
            .push(" AND ");
        scope.push_sql(&mut q, "p");
        if let Some(t) = &trust_filter {
            q.push(" AND p.trust_code = ").push_bind(t.clone());
        }
        let pool = state.pool.clone();
        async move { q.build_query_as::<Compliance>().fetch_one(&pool).await }
    };
    let today = compliance(today_start).await?;
    let week = compliance(week_start).await?;
    let capacity = if is_hub {
        sqlx::query_as::<_, CapacityLine>(
            "SELECT ct.label, ct.pathway, \
             COALESCE(sum(o.places_left) FILTER (WHERE o.withdrawn_at IS NULL AND o.available_until > $1), 0)::bigint AS open_places, \
             count(o.id) FILTER (WHERE o.withdrawn_at IS NULL AND o.available_until > $1 AND o.places_left > 0) AS offers, \
             count(o.id) FILTER (WHERE o.withdrawn_at IS NULL AND o.available_until > $1 AND o.places_left > 0 AND o.last_confirmed_at <= $2) AS stale, \
             (SELECT count(*) FROM referrals r JOIN capacity_offers ro ON ro.id = r.offer_id \
              WHERE ro.service_type = ct.code AND r.status = 'accepted' AND r.decided_at >= $3) AS reserved_today \
             FROM capacity_types ct LEFT JOIN capacity_offers o ON o.service_type = ct.code \
             GROUP BY ct.code, ct.label, ct.pathway, ct.sort_order ORDER BY ct.sort_order",
        )
        .bind(now)
        .bind(now - state.config.offer_stale_after)
        .bind(today_start)
        .fetch_all(&state.pool)
        .await?
    } else {
        vec![]
    };
    Ok(BoardPage {
        layout: crate::notifications::layout(&state, &session, &caller, "board").await,
        trusts: if is_hub {
            queries::trusts(&state.pool).await?
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

    #[test]
    fn compliance_rounds_to_whole_percent() {
        assert_eq!(
            Compliance {
                discharged: 3,
                within_24h: 2
            }
            .percent(),
            "67%"
        );
        assert_eq!(
            Compliance {
                discharged: 0,
                within_24h: 0
            }
            .percent(),
            "no discharges"
        );
    }
}
