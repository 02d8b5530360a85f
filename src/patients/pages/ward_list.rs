//! The ward user's home: every ward of the trust with its counts, and one ward's open
//! cases. Owns the ward chooser and the session key that remembers the ward; reads only
//! through the scoped queries of [`crate::cases::queries`] and never changes a case.

use crate::accounts::PageCaller;
use crate::cases::CaseLine;
use crate::cases::queries::{self, CaseFilter, NewsFor, PageRequest, Seen, WardCounts};
use crate::domain::Role;
use crate::state::AppState;
use crate::web::{Layout, PageResult};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use tower_sessions::Session;

#[derive(Template, WebTemplate)]
#[template(path = "patients/ward_list.html")]
struct WardListPage {
    layout: Layout,
    wards: Vec<WardCounts>,
    /// The ward shown, if the trust has any.
    ward: Option<WardCounts>,
    lines: Vec<CaseLine>,
    /// The search, when the list shows patients found across the trust's wards.
    search: String,
    /// Now in England, for the one-step "no longer meets the criteria" button beside
    /// patients who still meet them (the hospital feed admits every inpatient).
    now_date: String,
    now_time: String,
}

#[derive(Deserialize, Default)]
pub struct WardQuery {
    #[serde(default)]
    ward: String,
    /// Find a patient on any of the trust's wards: name, NHS number, hospital number or bed.
    #[serde(default)]
    q: String,
}

const SESSION_WARD_KEY: &str = "ward";

/// The most open cases one ward's list shows.
const WARD_PAGE_SIZE: i64 = 500;

/// A ward user's trust: every ward with its counts, and one ward's open cases. The ward
/// chosen last is remembered for the session.
pub async fn ward_list(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Query(q): Query<WardQuery>,
) -> PageResult {
    caller.require(&[Role::Ward])?;
    let now = state.clock.now();
    let search: String = q.q.trim().chars().take(100).collect();
    let wards = queries::ward_counts(&state.pool, &caller, now).await?;
    let remembered: Option<String> = session.get(SESSION_WARD_KEY).await.ok().flatten();
    let find = |code: &str| wards.iter().find(|w| w.code == code).cloned();
    let ward = find(&q.ward)
        .or_else(|| remembered.as_deref().and_then(find))
        .or_else(|| wards.iter().find(|w| w.open > 0).cloned())
        .or_else(|| wards.first().cloned());
    let mut lines = vec![];
    if let Some(w) = &ward {
        // remembered for the session; written only when it changes
        if remembered.as_deref() != Some(w.code.as_str()) {
            session.insert(SESSION_WARD_KEY, &w.code).await?;
        }
        // a search looks across the trust's wards; otherwise the ward's own cases
        let filter = CaseFilter {
            open_only: true,
            ward_code: Some(w.code.clone()).filter(|_| search.is_empty()),
            search: Some(search.clone()).filter(|s| !s.is_empty()),
            ..CaseFilter::default()
        };
        // a ward's open cases fit on one page (a ward has a few dozen beds)
        let page = PageRequest {
            limit: WARD_PAGE_SIZE,
            news_for: Some(NewsFor {
                user_id: caller.user_id,
                since: now - chrono::Duration::days(super::worklist::NEWS_DAYS),
            }),
            ..PageRequest::default()
        };
        let seen = Some(Seen { what: "ward list" });
        let listed = queries::list(&state.pool, &caller, &filter, page, now, seen).await?;
        lines = listed
            .cases
            .iter()
            .map(|l| CaseLine::new(&l.case, now).with_news(l.news.as_ref()))
            .collect();
    }
    let london_now = state.clock.now().with_timezone(&chrono_tz::Europe::London);
    Ok(WardListPage {
        layout: crate::notifications::layout(&state, &session, &caller, "ward").await,
        wards,
        ward,
        lines,
        search,
        now_date: london_now.format("%Y-%m-%d").to_string(),
        now_time: london_now.format("%H:%M").to_string(),
    }
    .into_response())
}
