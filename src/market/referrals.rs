//! Referrals as read: the row, CONTRACT.md's JSON, and every read, scoped to the caller
//! with [`ReferralScope`]. Changes to referrals are in [`super::commands`].

use crate::domain::{Caller, PatientId, ReferralStatus};
use crate::error::AppError;
use crate::scope::ReferralScope;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgExecutor, Postgres, QueryBuilder};

#[derive(Debug, Clone, FromRow)]
pub struct ReferralRow {
    pub id: i64,
    pub patient_id: PatientId,
    pub offer_id: i64,
    pub org_code: String,
    pub org_name: String,
    pub service_type: String,
    pub service_label: String,
    pub status: ReferralStatus,
    pub decided_at: Option<DateTime<Utc>>,
    pub decline_reason: Option<String>,
    pub decline_label: Option<String>,
    pub decline_detail: Option<String>,
    pub place_released_at: Option<DateTime<Utc>>,
    pub place_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Accepted: when the provider plans to admit, and whom to contact.
    pub admission_planned_for: Option<chrono::NaiveDate>,
    pub accept_contact: Option<String>,
    /// Accepted and held for the patient to choose until then (not yet booked).
    pub held_until: Option<DateTime<Utc>>,
    /// The last change (creation, decision, withdrawal, booking, place released or used).
    pub updated_at: DateTime<Utc>,
}

/// CONTRACT.md's referral.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReferralJson {
    pub id: i64,
    #[schema(value_type = i64)]
    pub patient_id: PatientId,
    pub offer_id: i64,
    pub org_code: String,
    pub service_type: String,
    /// pending, accepted, declined or withdrawn.
    pub status: ReferralStatus,
    pub decided_at: Option<DateTime<Utc>>,
    pub decline_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Accepted: the date the provider plans to admit, if it said.
    pub admission_date: Option<chrono::NaiveDate>,
    /// Accepted: whom to contact at the provider, if it said.
    pub contact: Option<String>,
    /// Accepted and holding a place for the patient to choose until this time; null once
    /// booked (or when acceptances are not held).
    pub held_until: Option<DateTime<Utc>>,
    /// The last change to the referral (lists are newest change first).
    pub updated_at: DateTime<Utc>,
}

impl From<ReferralRow> for ReferralJson {
    fn from(r: ReferralRow) -> Self {
        ReferralJson {
            id: r.id,
            patient_id: r.patient_id,
            offer_id: r.offer_id,
            org_code: r.org_code,
            service_type: r.service_type,
            status: r.status,
            decided_at: r.decided_at,
            decline_reason: r.decline_reason,
            created_at: r.created_at,
            admission_date: r.admission_planned_for,
            contact: r.accept_contact,
            held_until: r.held_until,
            updated_at: r.updated_at,
        }
    }
}

const REFERRAL_SELECT: &str = "SELECT r.id, r.patient_id, r.offer_id, r.org_code, org.name AS org_name, \
    o.service_type, ct.label AS service_label, r.status, r.decided_at, r.decline_reason, \
    dr.label AS decline_label, r.decline_detail, r.place_released_at, r.place_used_at, r.created_at, \
    r.admission_planned_for, r.accept_contact, r.held_until, r.updated_at \
    FROM referrals r JOIN organisations org ON org.code = r.org_code \
    JOIN capacity_offers o ON o.id = r.offer_id JOIN capacity_types ct ON ct.code = o.service_type \
    LEFT JOIN decline_reasons dr ON dr.code = r.decline_reason";

/// `REFERRAL_SELECT WHERE <the caller's scope>`, ready for more conditions.
fn scoped_select(caller: &Caller) -> QueryBuilder<'static, Postgres> {
    let mut q = QueryBuilder::new(REFERRAL_SELECT);
    q.push(" WHERE ");
    ReferralScope::of(caller).push_sql(&mut q, "r");
    q
}

/// One referral, if the caller may see it.
pub async fn get(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    id: i64,
) -> Result<ReferralRow, AppError> {
    let mut q = scoped_select(caller);
    q.push(" AND r.id = ").push_bind(id);
    q.build_query_as::<ReferralRow>()
        .fetch_optional(db)
        .await?
        .ok_or(AppError::NotFound)
}

/// Referrals the caller may see, waiting ones first, then newest first, optionally one
/// status only.
pub async fn list(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    status: Option<ReferralStatus>,
) -> Result<Vec<ReferralRow>, AppError> {
    let mut q = scoped_select(caller);
    if let Some(status) = status {
        q.push(" AND r.status = ").push_bind(status);
    }
    q.push(" ORDER BY r.status = ")
        .push_bind(ReferralStatus::Pending)
        .push(" DESC, r.created_at DESC, r.id DESC LIMIT 1000");
    Ok(q.build_query_as::<ReferralRow>().fetch_all(db).await?)
}

/// What the provider's page shows at the top: every referral still to act on (waiting for
/// an answer, or accepted with the place not yet used or given back), newest first.
const STILL_OPEN: &str = "(r.status = 'pending' OR (r.status = 'accepted' \
     AND r.place_used_at IS NULL AND r.place_released_at IS NULL))";

pub async fn still_open(
    db: impl PgExecutor<'_>,
    caller: &Caller,
) -> Result<Vec<ReferralRow>, AppError> {
    let mut q = scoped_select(caller);
    q.push(" AND ")
        .push(STILL_OPEN)
        .push(" ORDER BY r.created_at DESC, r.id DESC");
    Ok(q.build_query_as::<ReferralRow>().fetch_all(db).await?)
}

/// The rest (answered, withdrawn, lapsed, admitted), a page at a time, newest first: the
/// ones referred before `before` (keyset on referral time and id, never an offset), at most
/// `limit` + 1 (the extra one says there is an older page).
pub async fn answered_page(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    before: Option<crate::web::paging::Position>,
    limit: i64,
) -> Result<Vec<ReferralRow>, AppError> {
    let mut q = scoped_select(caller);
    q.push(" AND NOT ").push(STILL_OPEN);
    if let Some(p) = before {
        q.push(" AND (r.created_at, r.id) < (")
            .push_bind(p.at)
            .push(", ")
            .push_bind(p.id)
            .push(")");
    }
    q.push(" ORDER BY r.created_at DESC, r.id DESC LIMIT ")
        .push((limit + 1).to_string());
    Ok(q.build_query_as::<ReferralRow>().fetch_all(db).await?)
}

/// What a partner's referral list is filtered by.
#[derive(Debug, Default, Clone)]
pub struct ReferralFilter {
    pub status: Option<ReferralStatus>,
    /// Referrals changed at or after this time.
    pub updated_since: Option<DateTime<Utc>>,
}

/// Pushes ` AND <filter>` over referrals `r`, after the caller's scope.
fn push_referral_filter(q: &mut QueryBuilder<'_, Postgres>, f: &ReferralFilter) {
    if let Some(status) = f.status {
        q.push(" AND r.status = ").push_bind(status);
    }
    if let Some(since) = f.updated_since {
        q.push(" AND r.updated_at >= ").push_bind(since);
    }
}

/// A page of the referrals the caller may see (CONTRACT.md "Lists"): newest change first,
/// ties by id, after `after`; at most `limit` + 1 rows (the extra one says there is a next
/// page), and how many match the filter. The scope is in both statements' WHERE clause, so
/// the total and the cursor never count or pass a row the caller may not see.
pub async fn page(
    db: &sqlx::PgPool,
    caller: &Caller,
    filter: &ReferralFilter,
    after: Option<crate::web::paging::Position>,
    limit: i64,
) -> Result<(Vec<ReferralRow>, i64), AppError> {
    let mut q = scoped_select(caller);
    push_referral_filter(&mut q, filter);
    if let Some(p) = after {
        q.push(" AND (r.updated_at, r.id) < (")
            .push_bind(p.at)
            .push(", ")
            .push_bind(p.id)
            .push(")");
    }
    q.push(" ORDER BY r.updated_at DESC, r.id DESC LIMIT ")
        .push((limit + 1).to_string());
    let rows = q.build_query_as::<ReferralRow>().fetch_all(db).await?;
    let mut count = QueryBuilder::new("SELECT count(*) FROM referrals r WHERE ");
    ReferralScope::of(caller).push_sql(&mut count, "r");
    push_referral_filter(&mut count, filter);
    let total: i64 = count.build_query_scalar().fetch_one(db).await?;
    Ok((rows, total))
}

/// One patient's referrals (those the caller may see), oldest first.
pub async fn for_patient(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    patient_id: PatientId,
) -> Result<Vec<ReferralRow>, AppError> {
    let mut q = scoped_select(caller);
    q.push(" AND r.patient_id = ")
        .push_bind(patient_id)
        .push(" ORDER BY r.created_at, r.id");
    Ok(q.build_query_as::<ReferralRow>().fetch_all(db).await?)
}
