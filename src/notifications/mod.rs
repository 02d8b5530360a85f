//! Notifications inside Homeward. Providers: new referrals. The hub: providers' decisions,
//! and referrals unanswered beyond the configured time (default 4 hours). Wards: care
//! arranged for their patients. "New" means since the user last opened the notifications
//! page; overdue referrals count until they are answered. Every signed-in page's header
//! shows the count of new ones: page handlers build their layout with [`layout`].

use crate::accounts::PageCaller;
use crate::domain::Caller;
use crate::domain::time::display_london;
use crate::domain::{ReferralStatus, Role};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::{Layout, PageResult};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use sqlx::FromRow;
use tower_sessions::Session;

async fn seen_at(state: &AppState, caller: &Caller) -> Result<DateTime<Utc>, AppError> {
    let seen: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT seen_at FROM notification_reads WHERE user_id = $1")
            .bind(caller.user_id)
            .fetch_optional(&state.pool)
            .await?;
    Ok(seen.unwrap_or(DateTime::<Utc>::MIN_UTC))
}

/// The header's count of new notifications for the caller.
pub async fn count_new(state: &AppState, caller: &Caller) -> Result<i64, AppError> {
    let now = state.clock.now();
    let count: i64 = match caller.role {
        Role::Admin => 0,
        Role::Provider => sqlx::query_scalar(
            "SELECT count(*) FROM referrals WHERE org_code = $1 AND status = 'pending' \
             AND created_at > COALESCE((SELECT seen_at FROM notification_reads WHERE user_id = $2), '-infinity')",
        )
        .bind(&caller.org_code)
        .bind(caller.user_id)
        .fetch_one(&state.pool)
        .await?,
        Role::Hub => sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM referrals WHERE decided_at IS NOT NULL \
               AND decided_at > COALESCE((SELECT seen_at FROM notification_reads WHERE user_id = $1), '-infinity')) \
             + (SELECT count(*) FROM referrals WHERE status = 'pending' AND created_at <= $2)",
        )
        .bind(caller.user_id)
        .bind(now - state.config.response_overdue_after)
        .fetch_one(&state.pool)
        .await?,
        Role::Ward => sqlx::query_scalar(
            "SELECT count(*) FROM referrals r JOIN patients p ON p.id = r.patient_id \
             WHERE p.trust_code = $1 AND r.status = 'accepted' \
             AND r.decided_at > COALESCE((SELECT seen_at FROM notification_reads WHERE user_id = $2), '-infinity')",
        )
        .bind(&caller.org_code)
        .bind(caller.user_id)
        .fetch_one(&state.pool)
        .await?,
    };
    Ok(count)
}

/// A signed-in page's layout, with the header's count of new notifications. A failure to
/// count shows no count rather than failing the page.
pub async fn layout(
    state: &AppState,
    session: &Session,
    caller: &Caller,
    section: &'static str,
) -> Layout {
    let notices = count_new(state, caller).await.unwrap_or(0);
    Layout::new(session, caller, section, notices).await
}

/// One notification line.
#[derive(Debug, Clone, FromRow)]
pub struct Notice {
    pub at: DateTime<Utc>,
    pub patient_id: i64,
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
    /// Hub only: referrals waiting for an answer beyond the configured time.
    overdue: Vec<Notice>,
    overdue_hours: i64,
}

impl NotificationsPage {
    fn is_new(&self, n: &Notice) -> bool {
        n.at > self.seen
    }
}

const NOTICE_SELECT: &str = "SELECT r.created_at AS at, r.patient_id, ct.label AS what, org.name AS org_name, r.status, \
    dr.label AS decline_label FROM referrals r JOIN capacity_offers o ON o.id = r.offer_id \
    JOIN capacity_types ct ON ct.code = o.service_type JOIN organisations org ON org.code = r.org_code \
    LEFT JOIN decline_reasons dr ON dr.code = r.decline_reason";

pub async fn page(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
) -> PageResult {
    caller.require(&[Role::Hub, Role::Ward, Role::Provider])?;
    let now = state.clock.now();
    let seen = seen_at(&state, &caller).await?;
    let since = now - chrono::Duration::days(7);
    let (recent, overdue) = match caller.role {
        Role::Provider => (
            sqlx::query_as::<_, Notice>(&format!(
                "{NOTICE_SELECT} WHERE r.org_code = $1 AND r.created_at > $2 ORDER BY r.created_at DESC LIMIT 200"
            ))
            .bind(&caller.org_code)
            .bind(since)
            .fetch_all(&state.pool)
            .await?,
            vec![],
        ),
        Role::Hub => (
            sqlx::query_as::<_, Notice>(&format!(
                "{} WHERE r.decided_at > $1 ORDER BY r.decided_at DESC LIMIT 200",
                NOTICE_SELECT.replace("r.created_at AS at", "r.decided_at AS at")
            ))
            .bind(since)
            .fetch_all(&state.pool)
            .await?,
            sqlx::query_as::<_, Notice>(&format!(
                "{NOTICE_SELECT} WHERE r.status = 'pending' AND r.created_at <= $1 ORDER BY r.created_at LIMIT 500"
            ))
            .bind(now - state.config.response_overdue_after)
            .fetch_all(&state.pool)
            .await?,
        ),
        _ => (
            sqlx::query_as::<_, Notice>(&format!(
                "{} JOIN patients p ON p.id = r.patient_id WHERE p.trust_code = $1 AND r.status = 'accepted' \
                 AND r.decided_at > $2 ORDER BY r.decided_at DESC LIMIT 200",
                NOTICE_SELECT.replace("r.created_at AS at", "r.decided_at AS at")
            ))
            .bind(&caller.org_code)
            .bind(since)
            .fetch_all(&state.pool)
            .await?,
            vec![],
        ),
    };
    sqlx::query(
        "INSERT INTO notification_reads (user_id, seen_at) VALUES ($1, $2) \
         ON CONFLICT (user_id) DO UPDATE SET seen_at = EXCLUDED.seen_at",
    )
    .bind(caller.user_id)
    .bind(now)
    .execute(&state.pool)
    .await?;
    Ok(NotificationsPage {
        layout: layout(&state, &session, &caller, "notifications").await,
        role: caller.role,
        seen,
        recent,
        overdue,
        overdue_hours: state.config.response_overdue_after.num_hours(),
    }
    .into_response())
}
