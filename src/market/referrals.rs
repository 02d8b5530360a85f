//! Referrals as read: the row, CONTRACT.md's JSON, and every read, scoped to the caller.
//! Changes to referrals are in [`super::commands`].

use crate::domain::{Caller, ReferralStatus};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgExecutor};

#[derive(Debug, Clone, FromRow)]
pub struct ReferralRow {
    pub id: i64,
    pub patient_id: i64,
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
}

/// CONTRACT.md's referral.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReferralJson {
    pub id: i64,
    pub patient_id: i64,
    pub offer_id: i64,
    pub org_code: String,
    pub service_type: String,
    /// pending, accepted, declined or withdrawn.
    #[schema(value_type = String)]
    pub status: ReferralStatus,
    pub decided_at: Option<DateTime<Utc>>,
    pub decline_reason: Option<String>,
    pub created_at: DateTime<Utc>,
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
        }
    }
}

const REFERRAL_SELECT: &str = "SELECT r.id, r.patient_id, r.offer_id, r.org_code, org.name AS org_name, \
    o.service_type, ct.label AS service_label, r.status, r.decided_at, r.decline_reason, \
    dr.label AS decline_label, r.decline_detail, r.place_released_at, r.place_used_at, r.created_at \
    FROM referrals r JOIN organisations org ON org.code = r.org_code \
    JOIN capacity_offers o ON o.id = r.offer_id JOIN capacity_types ct ON ct.code = o.service_type \
    LEFT JOIN decline_reasons dr ON dr.code = r.decline_reason";

/// Need to know for referrals, over `$1` (role), `$2` (organisation) and `r`: the hub sees
/// all; a provider its own; a ward its trust's patients'.
const SCOPE: &str = "($1::text = 'hub' OR ($1::text = 'provider' AND r.org_code = $2::text) \
    OR ($1::text = 'ward' AND EXISTS (SELECT 1 FROM patients p WHERE p.id = r.patient_id AND p.trust_code = $2::text)))";

pub async fn get(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    id: i64,
) -> Result<ReferralRow, AppError> {
    sqlx::query_as::<_, ReferralRow>(&format!("{REFERRAL_SELECT} WHERE r.id = $3 AND {SCOPE}"))
        .bind(caller.role.as_str())
        .bind(&caller.org_code)
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or(AppError::NotFound)
}

/// Referrals the caller may see, newest first, optionally one status only.
pub async fn list(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    status: Option<ReferralStatus>,
) -> Result<Vec<ReferralRow>, AppError> {
    Ok(sqlx::query_as::<_, ReferralRow>(&format!(
        "{REFERRAL_SELECT} WHERE {SCOPE} AND ($3::text IS NULL OR r.status = $3) \
         ORDER BY r.status = 'pending' DESC, r.created_at DESC, r.id DESC LIMIT 1000"
    ))
    .bind(caller.role.as_str())
    .bind(&caller.org_code)
    .bind(status)
    .fetch_all(db)
    .await?)
}

/// One patient's referrals, oldest first. The caller must already have been allowed the case.
pub async fn for_patient(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    patient_id: i64,
) -> Result<Vec<ReferralRow>, AppError> {
    Ok(sqlx::query_as::<_, ReferralRow>(&format!(
        "{REFERRAL_SELECT} WHERE r.patient_id = $3 AND {SCOPE} ORDER BY r.created_at, r.id"
    ))
    .bind(caller.role.as_str())
    .bind(&caller.org_code)
    .bind(patient_id)
    .fetch_all(db)
    .await?)
}
