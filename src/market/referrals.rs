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
        }
    }
}

const REFERRAL_SELECT: &str = "SELECT r.id, r.patient_id, r.offer_id, r.org_code, org.name AS org_name, \
    o.service_type, ct.label AS service_label, r.status, r.decided_at, r.decline_reason, \
    dr.label AS decline_label, r.decline_detail, r.place_released_at, r.place_used_at, r.created_at, \
    r.admission_planned_for, r.accept_contact, r.held_until \
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
