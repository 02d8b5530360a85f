//! The access log: every view of identifiable patient data, by anyone, is written here
//! (who, role, organisation, the patients shown, when, what), one row per request naming
//! every patient the request showed, and an administrator can answer "who looked at this
//! patient" with one indexed query (GIN over the array). Lists write their row in the same
//! statement that reads the page ([`crate::cases::queries::list`]); other reads call
//! [`record_views`]. The table is append-only (triggers refuse UPDATE, DELETE and TRUNCATE).

pub mod pages;

use crate::domain::{Caller, PatientId, Role};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};

/// Records that the caller saw these patients' identifiable details: one row.
pub async fn record_views(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    patient_ids: &[PatientId],
    what: &str,
) -> Result<(), AppError> {
    if patient_ids.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "INSERT INTO access_log (at, user_id, username, role, org_code, patient_ids, what) \
         VALUES (now(), $1, $2, $3, $4, $5, $6)",
        caller.user_id,
        caller.username,
        caller.role as _,
        caller.org_code,
        patient_ids as _,
        what,
    )
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct AccessEntry {
    pub at: DateTime<Utc>,
    pub username: String,
    pub role: Role,
    pub org_code: String,
    pub what: String,
}

/// Everyone who saw a patient's identifiable details, newest first.
pub async fn who_looked(
    db: impl PgExecutor<'_>,
    patient_id: PatientId,
) -> Result<Vec<AccessEntry>, AppError> {
    Ok(sqlx::query_as::<_, AccessEntry>(
        "SELECT at, username, role, org_code, what FROM access_log WHERE patient_ids @> ARRAY[$1::bigint] \
         ORDER BY at DESC, id DESC LIMIT 5000",
    )
    .bind(patient_id)
    .fetch_all(db)
    .await?)
}
