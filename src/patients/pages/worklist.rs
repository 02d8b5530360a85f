//! The hub's worklist: every open case across trusts, longest wait first, filtered and a
//! page at a time. Owns the filter form's query and its links; reads only through the
//! scoped queries of [`crate::cases::queries`] and never changes a case.

use crate::accounts::PageCaller;
use crate::cases::CaseLine;
use crate::cases::queries::{self, CaseFilter, Cursor, ListOrder, PageRequest, Seen};
use crate::domain::status::ALL_STATUSES;
use crate::domain::{CaseStatus, Pathway, Role};
use crate::reference::DelayReason;
use crate::reference::{TrustRow, WardRow};
use crate::state::AppState;
use crate::web::{Layout, PageResult};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use tower_sessions::Session;

#[derive(Deserialize, Default, Clone)]
pub struct WorklistQuery {
    #[serde(default)]
    pub trust: String,
    #[serde(default)]
    pub ward: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub pathway: String,
    #[serde(default)]
    pub reason: String,
    /// The next page starts after this case (an opaque cursor from the page before).
    #[serde(default)]
    pub after: String,
    /// The previous page ends before this case.
    #[serde(default)]
    pub before: String,
    /// "1": only pathway 1-3 patients past 24 hours without care arranged.
    #[serde(default)]
    pub escalated: String,
}

impl WorklistQuery {
    /// This list's address on another page (`("after" | "before", cursor)`), keeping the
    /// filters.
    fn href(&self, page: Option<(&str, Cursor)>) -> String {
        let mut params: Vec<(&str, String)> = vec![];
        for (k, v) in [
            ("trust", &self.trust),
            ("ward", &self.ward),
            ("status", &self.status),
            ("pathway", &self.pathway),
            ("reason", &self.reason),
            ("escalated", &self.escalated),
        ] {
            if !v.is_empty() {
                params.push((k, v.clone()));
            }
        }
        if let Some((side, cursor)) = page {
            params.push((side, cursor.encode()));
        }
        let query: Vec<String> = params
            .into_iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.replace(
                        |c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-',
                        ""
                    )
                )
            })
            .collect();
        if query.is_empty() {
            "/hub".to_string()
        } else {
            format!("/hub?{}", query.join("&"))
        }
    }
}

/// Cases on one page of the worklist.
pub const WORKLIST_PAGE_SIZE: i64 = 100;

#[derive(Template, WebTemplate)]
#[template(path = "patients/worklist.html")]
struct WorklistPage {
    layout: Layout,
    q: WorklistQuery,
    lines: Vec<CaseLine>,
    total: i64,
    over_24h: i64,
    prev_href: Option<String>,
    next_href: Option<String>,
    trusts: Vec<TrustRow>,
    wards: Vec<WardRow>,
    statuses: Vec<CaseStatus>,
    reasons: Vec<DelayReason>,
    filtered: bool,
}

/// The hub's worklist: every open case across trusts, longest wait first, a page at a time.
pub async fn worklist(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Query(q): Query<WorklistQuery>,
) -> PageResult {
    caller.require(&[Role::Hub])?;
    let now = state.clock.now();
    // Unknown filter values (and cursors) are ignored rather than failing the page.
    let status = q.status.parse::<CaseStatus>().ok();
    let no_reason = q.reason == "none";
    let filter = CaseFilter {
        status,
        open_only: true,
        pathway: q.pathway.parse::<Pathway>().ok(),
        ward_code: Some(q.ward.clone()).filter(|s| !s.is_empty()),
        trust_code: Some(q.trust.clone()).filter(|s| !s.is_empty()),
        delay_reason: Some(q.reason.clone()).filter(|s| !s.is_empty() && !no_reason),
        no_delay_reason: no_reason,
        escalated_before: (q.escalated == "1").then(|| now - chrono::Duration::hours(24)),
        ..CaseFilter::default()
    };
    let page = PageRequest {
        order: ListOrder::Wait,
        after: Cursor::decode(&q.after, ListOrder::Wait),
        before: Cursor::decode(&q.before, ListOrder::Wait),
        limit: WORKLIST_PAGE_SIZE,
    };
    let seen = Some(Seen {
        what: "hub worklist",
    });
    let listed = queries::list(&state.pool, &caller, &filter, page, now, seen).await?;
    let lines: Vec<CaseLine> = listed
        .cases
        .iter()
        .map(|l| CaseLine::new(&l.case, now))
        .collect();
    let filtered = !(q.trust.is_empty()
        && q.ward.is_empty()
        && q.status.is_empty()
        && q.pathway.is_empty()
        && q.reason.is_empty()
        && q.escalated.is_empty());
    let reference = state.reference.get(&state.pool).await?;
    Ok(WorklistPage {
        layout: crate::notifications::layout(&state, &session, &caller, "hub").await,
        prev_href: listed.prev.map(|c| q.href(Some(("before", c)))),
        next_href: listed.next.map(|c| q.href(Some(("after", c)))),
        lines,
        total: listed.total,
        over_24h: listed.over_24h,
        trusts: reference.trusts.clone(),
        wards: reference.wards_for(&caller),
        statuses: ALL_STATUSES
            .into_iter()
            .filter(|s| !s.is_terminal())
            .collect(),
        reasons: reference.delay_reasons.clone(),
        q,
        filtered,
    }
    .into_response())
}
