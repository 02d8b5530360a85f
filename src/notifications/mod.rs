//! Notifications inside Homeward. Providers: new referrals. The hub: providers' decisions,
//! and referrals unanswered beyond the configured time (default 4 hours). Wards: care
//! arranged for their patients. "New" means since the user last opened the notifications
//! page; overdue referrals count until they are answered. Every signed-in page's header
//! shows the count of new ones: page handlers build their layout with [`layout`].

use crate::accounts::PageCaller;
use crate::domain::Caller;
use crate::domain::time::display_london;
use crate::domain::{PatientId, ReferralStatus, Role};
use crate::error::AppError;
use crate::scope::ReferralScope;
use crate::state::AppState;
use crate::web::{Layout, PageResult};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use sqlx::{FromRow, Postgres, QueryBuilder};
use tower_sessions::Session;

async fn seen_at(state: &AppState, caller: &Caller) -> Result<DateTime<Utc>, AppError> {
    let seen: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT seen_at FROM notification_reads WHERE user_id = $1")
            .bind(caller.user_id)
            .fetch_optional(&state.pool)
            .await?;
    Ok(seen.unwrap_or(DateTime::<Utc>::MIN_UTC))
}

pub use crate::news::{COUNT_CAP, push_count_sql};

/// The header's count of new notifications for the caller, on its own (when the page
/// extractor did not read it with the user).
pub async fn count_new(state: &AppState, caller: &Caller) -> Result<i64, AppError> {
    let mut q = QueryBuilder::new("SELECT ");
    push_count_sql(
        &mut q,
        caller,
        state.clock.now(),
        state.config.response_overdue_after,
    );
    Ok(q.build_query_scalar::<i64>().fetch_one(&state.pool).await?)
}

/// A signed-in page's layout, with the header's count of new notifications (read with the
/// caller; counted here only if it was not). A failure to count shows no count rather than
/// failing the page.
pub async fn layout(
    state: &AppState,
    session: &Session,
    caller: &Caller,
    section: &'static str,
) -> Layout {
    let notices = match caller.notices {
        Some(n) => n,
        None => count_new(state, caller).await.unwrap_or(0),
    };
    Layout::new(session, caller, section, notices).await
}

/// One notification line.
#[derive(Debug, Clone, FromRow)]
pub struct Notice {
    /// The referral's id.
    pub id: i64,
    pub at: DateTime<Utc>,
    pub patient_id: PatientId,
    /// What happened, without patient identifiers for providers before acceptance.
    pub what: String,
    pub org_name: String,
    pub status: ReferralStatus,
    pub decline_label: Option<String>,
}

impl Notice {
    pub fn when(&self) -> String {
        display_london(self.at)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "notifications/list.html")]
struct NotificationsPage {
    layout: Layout,
    role: Role,
    seen: DateTime<Utc>,
    /// Decisions (hub), new referrals (provider), care arranged (ward).
    recent: Vec<Notice>,
    /// Hub only: referrals waiting for an answer beyond the configured time (a page of
    /// them), and how many there are in all.
    overdue: Vec<Notice>,
    overdue_total: i64,
    overdue_hours: i64,
    /// Which part this is: the first page shows both lists; a later page one of them.
    part: Part,
    /// The next page of the recent list (`?before=`), when there is one.
    older_href: Option<String>,
    /// The next page of the overdue list (`?overdue_after=`), when there is one.
    overdue_next_href: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    First,
    OlderRecent,
    LaterOverdue,
}

/// Lines shown a page at a time, in each list.
const NOTICES_PAGE: i64 = 50;
const RECENT_LIST: &str = "notices";
const OVERDUE_LIST: &str = "notices-overdue";

#[derive(serde::Deserialize, Default)]
pub struct NoticesQuery {
    #[serde(default)]
    before: Option<String>,
    #[serde(default)]
    overdue_after: Option<String>,
}

fn position(n: &Notice) -> crate::web::paging::Position {
    crate::web::paging::Position { at: n.at, id: n.id }
}

impl NotificationsPage {
    fn is_new(&self, n: &Notice) -> bool {
        n.at > self.seen
    }
}

/// Notice lines over the referrals the caller may see, `at` being the referral's `at`
/// column (created_at or decided_at); ready for `AND <more conditions>`.
fn notices(caller: &Caller, at: &str) -> QueryBuilder<'static, Postgres> {
    let mut q = QueryBuilder::new(format!(
        "SELECT r.id, r.{at} AS at, r.patient_id, ct.label AS what, org.name AS org_name, r.status, \
         dr.label AS decline_label FROM referrals r JOIN capacity_offers o ON o.id = r.offer_id \
         JOIN capacity_types ct ON ct.code = o.service_type JOIN organisations org ON org.code = r.org_code \
         LEFT JOIN decline_reasons dr ON dr.code = r.decline_reason WHERE "
    ));
    ReferralScope::of(caller).push_sql(&mut q, "r");
    q
}

pub async fn page(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    axum::extract::Query(q): axum::extract::Query<NoticesQuery>,
) -> PageResult {
    use crate::web::paging::{Position, split_page};
    caller.require(&[Role::Hub, Role::Ward, Role::Provider])?;
    let now = state.clock.now();
    let seen = seen_at(&state, &caller).await?;
    let since = now - chrono::Duration::days(7);
    // a cursor this page did not give out shows the first page
    let before = q
        .before
        .as_deref()
        .and_then(|c| Position::decode(c, RECENT_LIST));
    let overdue_after = q
        .overdue_after
        .as_deref()
        .and_then(|c| Position::decode(c, OVERDUE_LIST));
    let part = match (before, overdue_after) {
        (Some(_), _) => Part::OlderRecent,
        (None, Some(_)) if caller.is(Role::Hub) => Part::LaterOverdue,
        _ => Part::First,
    };
    let (at, only) = match caller.role {
        Role::Provider => ("created_at", ""),
        Role::Hub => ("decided_at", ""),
        _ => ("decided_at", " AND r.status = 'accepted'"),
    };
    let mut recent = vec![];
    if part != Part::LaterOverdue {
        let mut q = notices(&caller, at);
        q.push(only)
            .push(format_args!(" AND r.{at} > "))
            .push_bind(since);
        if let Some(p) = before {
            q.push(format_args!(" AND (r.{at}, r.id) < ("))
                .push_bind(p.at)
                .push(", ")
                .push_bind(p.id)
                .push(")");
        }
        q.push(format_args!(" ORDER BY r.{at} DESC, r.id DESC LIMIT "))
            .push_bind(NOTICES_PAGE + 1);
        recent = q.build_query_as().fetch_all(&state.pool).await?;
    }
    let older = split_page(&mut recent, NOTICES_PAGE, RECENT_LIST, position);
    let (mut overdue, mut overdue_total) = (vec![], 0);
    if caller.is(Role::Hub) && part != Part::OlderRecent {
        let overdue_since = now - state.config.response_overdue_after;
        let mut q = notices(&caller, "created_at");
        q.push(" AND r.status = 'pending' AND r.created_at <= ")
            .push_bind(overdue_since);
        if let Some(p) = overdue_after {
            q.push(" AND (r.created_at, r.id) > (")
                .push_bind(p.at)
                .push(", ")
                .push_bind(p.id)
                .push(")");
        }
        q.push(" ORDER BY r.created_at, r.id LIMIT ")
            .push_bind(NOTICES_PAGE + 1);
        overdue = q.build_query_as().fetch_all(&state.pool).await?;
        let mut count = QueryBuilder::new("SELECT count(*) FROM referrals r WHERE ");
        ReferralScope::of(&caller).push_sql(&mut count, "r");
        count
            .push(" AND r.status = 'pending' AND r.created_at <= ")
            .push_bind(overdue_since);
        overdue_total = count
            .build_query_scalar::<i64>()
            .fetch_one(&state.pool)
            .await?;
    }
    let overdue_next = split_page(&mut overdue, NOTICES_PAGE, OVERDUE_LIST, position);
    // the first page marks everything seen: the header then counts only what arrives after
    let shown_as = if part == Part::First {
        sqlx::query(
            "INSERT INTO notification_reads (user_id, seen_at) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO UPDATE SET seen_at = EXCLUDED.seen_at",
        )
        .bind(caller.user_id)
        .bind(now)
        .execute(&state.pool)
        .await?;
        Caller {
            notices: Some(0),
            tasks_due: None,
            ..caller.clone()
        }
    } else {
        caller.clone()
    };
    Ok(NotificationsPage {
        layout: layout(&state, &session, &shown_as, "notifications").await,
        role: caller.role,
        seen,
        recent,
        overdue,
        overdue_total,
        overdue_hours: state.config.response_overdue_after.num_hours(),
        part,
        older_href: older.map(|c| format!("/notifications?before={c}")),
        overdue_next_href: overdue_next.map(|c| format!("/notifications?overdue_after={c}")),
    }
    .into_response())
}
