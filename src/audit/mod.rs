//! The access log: every view of identifiable patient data, by anyone, is written here
//! (who, role, organisation, patient, when, what), and an administrator can answer "who
//! looked at this patient". The table is append-only (a trigger refuses changes).

pub mod pages;

use crate::domain::{Caller, PatientId, Role};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};

/// Records that the caller saw these patients' identifiable details, in one statement.
pub async fn record_views(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    patient_ids: &[PatientId],
    what: &str,
) -> Result<(), AppError> {
    if patient_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO access_log (at, user_id, username, role, org_code, patient_id, what) \
         SELECT now(), $1, $2, $3, $4, unnest($5::bigint[]), $6",
    )
    .bind(caller.user_id)
    .bind(&caller.username)
    .bind(caller.role)
    .bind(&caller.org_code)
    .bind(patient_ids)
    .bind(what)
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
        "SELECT at, username, role, org_code, what FROM access_log WHERE patient_id = $1 ORDER BY at DESC, id DESC LIMIT 5000",
    )
    .bind(patient_id)
    .fetch_all(db)
    .await?)
}
