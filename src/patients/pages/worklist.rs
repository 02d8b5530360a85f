//! The hub's worklist: every open case across trusts, longest wait first or by a column,
//! in views (mine, unassigned, escalated), searched, filtered and a page at a time. Owns the
//! filter form's query and its links; reads only through the scoped queries of
//! [`crate::cases::queries`] and never changes a case.

use crate::accounts::PageCaller;
use crate::cases::CaseLine;
use crate::cases::queries::{
    self, Assignment, CaseFilter, Cursor, ListOrder, NewsFor, PageRequest, Seen,
};
use crate::domain::status::ALL_STATUSES;
use crate::domain::{Caller, CaseStatus, Pathway, Role};
use crate::reference::DelayReason;
use crate::reference::{TrustRow, WardRow};
use crate::state::AppState;
use crate::web::{Layout, PageResult};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tower_sessions::Session;

#[derive(Deserialize, Default, Clone)]
pub struct WorklistQuery {
    /// Find a patient: name, NHS number, hospital number or bed.
    #[serde(default)]
    pub q: String,
    /// `mine` (cases I coordinate), `unassigned`, `escalated`, or all open cases.
    #[serde(default)]
    pub view: String,
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
    /// The column the list is sorted by (`ListOrder::as_str`); the wait by default.
    #[serde(default)]
    pub sort: String,
    /// The next page starts after this case (an opaque cursor from the page before).
    #[serde(default)]
    pub after: String,
    /// The previous page ends before this case.
    #[serde(default)]
    pub before: String,
    /// "1": the escalated view (kept for old links: `view=escalated`).
    #[serde(default)]
    pub escalated: String,
}

/// The worklist's views, each a link above the list.
const VIEWS: [(&str, &str); 4] = [
    ("", "All open"),
    ("mine", "My cases"),
    ("unassigned", "Unassigned"),
    ("escalated", "Escalated"),
];

/// The columns that sort the list when their heading is chosen.
const SORTS: [(&str, ListOrder); 5] = [
    ("Ward", ListOrder::Ward),
    ("Status", ListOrder::Status),
    ("Pathway", ListOrder::Pathway),
    ("Waiting", ListOrder::Wait),
    ("Coordinator", ListOrder::Coordinator),
];

/// A link above or in the list.
pub struct ViewLink {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

impl WorklistQuery {
    fn view(&self) -> &str {
        if self.escalated == "1" {
            "escalated"
        } else {
            match self.view.as_str() {
                v @ ("mine" | "unassigned" | "escalated") => v,
                _ => "",
            }
        }
    }

    fn order(&self) -> ListOrder {
        ListOrder::parse(&self.sort)
            .filter(|o| *o != ListOrder::Updated)
            .unwrap_or_default()
    }

    /// This list's address with some parameters changed (an empty value drops one); a new
    /// view, filter or sort starts at the first page.
    fn href_with(&self, changes: &[(&str, String)]) -> String {
        let view = self.view().to_string();
        let sort = match self.order() {
            ListOrder::Wait => String::new(),
            o => o.as_str().to_string(),
        };
        let mut params: Vec<(&str, String)> = vec![
            ("q", self.q.trim().to_string()),
            ("view", view),
            ("trust", self.trust.clone()),
            ("ward", self.ward.clone()),
            ("status", self.status.clone()),
            ("pathway", self.pathway.clone()),
            ("reason", self.reason.clone()),
            ("sort", sort),
        ];
        for (k, v) in changes {
            match params.iter_mut().find(|(name, _)| name == k) {
                Some(p) => p.1 = v.clone(),
                None => params.push((k, v.clone())),
            }
        }
        params.retain(|(_, v)| !v.is_empty());
        if params.is_empty() {
            "/hub".to_string()
        } else {
            format!(
                "/hub?{}",
                serde_urlencoded::to_string(&params).unwrap_or_default()
            )
        }
    }

    /// The filters in use, as `(name, value)`: kept by the search form.
    fn filters_set(&self) -> Vec<(&'static str, String)> {
        [
            ("trust", &self.trust),
            ("ward", &self.ward),
            ("status", &self.status),
            ("pathway", &self.pathway),
            ("reason", &self.reason),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k, v.clone()))
        .collect()
    }

    fn clear_search_href(&self) -> String {
        self.href_with(&[("q", String::new())])
    }

    fn clear_filters_href(&self) -> String {
        let none = String::new;
        self.href_with(&[
            ("trust", none()),
            ("ward", none()),
            ("status", none()),
            ("pathway", none()),
            ("reason", none()),
        ])
    }

    fn views(&self) -> Vec<ViewLink> {
        VIEWS
            .iter()
            .map(|(view, label)| ViewLink {
                label,
                href: self.href_with(&[("view", view.to_string())]),
                current: self.view() == *view,
            })
            .collect()
    }

    /// The sortable column headings: `(label, link, aria-sort)`.
    fn sorts(&self) -> Vec<(&'static str, String, &'static str)> {
        SORTS
            .iter()
            .map(|(label, order)| {
                let sort = match order {
                    ListOrder::Wait => String::new(),
                    o => o.as_str().to_string(),
                };
                let current = self.order() == *order;
                (
                    *label,
                    self.href_with(&[("sort", sort)]),
                    if current { "ascending" } else { "none" },
                )
            })
            .collect()
    }
}

/// Cases on one page of the worklist.
pub const WORKLIST_PAGE_SIZE: i64 = 100;

#[derive(Template, WebTemplate)]
#[template(path = "patients/worklist.html")]
struct WorklistPage {
    layout: Layout,
    q: WorklistQuery,
    view: String,
    views: Vec<ViewLink>,
    sorts: Vec<(&'static str, String, &'static str)>,
    order_text: &'static str,
    lines: Vec<CaseLine>,
    total: i64,
    over_24h: i64,
    prev_href: Option<String>,
    next_href: Option<String>,
    trusts: Vec<TrustRow>,
    wards: Vec<WardRow>,
    statuses: Vec<CaseStatus>,
    reasons: Vec<DelayReason>,
    /// Filters other than the view and the search are in use.
    filtered: bool,
}

/// How long a decision on a referral stays news on the worklist if the reader never opens
/// the case.
pub const NEWS_DAYS: i64 = 3;

/// What the access log says a view of the worklist showed.
pub const WORKLIST_SEEN: Seen<'static> = Seen {
    what: "hub worklist",
};

impl WorklistQuery {
    /// The list this view of the worklist reads: its filter and page (unknown filter values
    /// and cursors are ignored rather than failing the page). The default query is the
    /// worklist as a coordinator first opens it.
    pub fn list_request(&self, caller: &Caller, now: DateTime<Utc>) -> (CaseFilter, PageRequest) {
        let q = self;
        let status = q.status.parse::<CaseStatus>().ok();
        let no_reason = q.reason == "none";
        let view = q.view();
        let search: String = q.q.trim().chars().take(100).collect();
        let filter = CaseFilter {
            status,
            open_only: true,
            // patients who still meet the criteria are the wards' (the hospital feed admits
            // every inpatient): the hub sees them by choosing the status
            waiting_only: true,
            pathway: q.pathway.parse::<Pathway>().ok(),
            ward_code: Some(q.ward.clone()).filter(|s| !s.is_empty()),
            trust_code: Some(q.trust.clone()).filter(|s| !s.is_empty()),
            delay_reason: Some(q.reason.clone()).filter(|s| !s.is_empty() && !no_reason),
            no_delay_reason: no_reason,
            escalated_before: (view == "escalated").then(|| now - chrono::Duration::hours(24)),
            assignment: match view {
                "mine" => Some(Assignment::CoordinatedBy(caller.user_id)),
                "unassigned" => Some(Assignment::Unassigned),
                _ => None,
            },
            search: Some(search).filter(|s| !s.is_empty()),
            ..CaseFilter::default()
        };
        let order = q.order();
        let page = PageRequest {
            order,
            after: Cursor::decode(&q.after, order),
            before: Cursor::decode(&q.before, order),
            limit: WORKLIST_PAGE_SIZE,
            news_for: Some(NewsFor {
                user_id: caller.user_id,
                since: now - chrono::Duration::days(NEWS_DAYS),
            }),
        };
        (filter, page)
    }
}

/// The hub's worklist: every open case across trusts, longest wait first (or by a column), a
/// page at a time, with views (mine, unassigned, escalated), a search and filters.
pub async fn worklist(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Query(q): Query<WorklistQuery>,
) -> PageResult {
    caller.require(&[Role::Hub])?;
    let now = state.clock.now();
    let (filter, page) = q.list_request(&caller, now);
    let order = page.order;
    let seen = Some(WORKLIST_SEEN);
    let listed = queries::list(&state.pool, &caller, &filter, page, now, seen).await?;
    let lines: Vec<CaseLine> = listed
        .cases
        .iter()
        .map(|l| CaseLine::new(&l.case, now).with_news(l.news.as_ref()))
        .collect();
    let filtered = !(q.trust.is_empty()
        && q.ward.is_empty()
        && q.status.is_empty()
        && q.pathway.is_empty()
        && q.reason.is_empty());
    let reference = state.reference.get(&state.pool).await?;
    Ok(WorklistPage {
        layout: crate::notifications::layout(&state, &session, &caller, "hub").await,
        prev_href: listed.prev.map(|c| q.href_with(&[("before", c.encode())])),
        next_href: listed.next.map(|c| q.href_with(&[("after", c.encode())])),
        lines,
        total: listed.total,
        over_24h: listed.over_24h,
        trusts: reference.trusts_of_hub(&caller.hub_code),
        wards: reference.wards_for(&caller),
        statuses: ALL_STATUSES
            .into_iter()
            .filter(|s| !s.is_terminal())
            .collect(),
        reasons: reference.delay_reasons.clone(),
        views: q.views(),
        sorts: q.sorts(),
        order_text: match order {
            ListOrder::Ward => "by ward, then longest wait first",
            ListOrder::Status => "by status, then longest wait first",
            ListOrder::Pathway => "by pathway, then longest wait first",
            ListOrder::Coordinator => "by coordinator (unassigned first), then longest wait first",
            ListOrder::Wait | ListOrder::Updated => "longest wait first",
        },
        view: q.view().to_string(),
        q,
        filtered,
    }
    .into_response())
}
