//! Writing a case's history. Every change to a case, whichever module makes it (patient
//! commands, referrals, choice), ends here: one history row and a version bump (with the new
//! status, if the change moves it), inside the caller's transaction.

use crate::domain::{Caller, CaseStatus};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// A history entry for a case, written with the change it records.
pub struct Note<'a> {
    pub patient_id: i64,
    pub action: &'a str,
    pub detail: String,
    /// The case's status before the change.
    pub from_status: CaseStatus,
    /// The status the change moves the case to, if it moves it.
    pub to_status: Option<CaseStatus>,
}

pub async fn write(
    conn: &mut PgConnection,
    caller: &Caller,
    now: DateTime<Utc>,
    note: Note<'_>,
) -> Result<(), AppError> {
    let Note {
        patient_id,
        action,
        detail,
        from_status,
        to_status,
    } = note;
    sqlx::query("UPDATE patients SET version = version + 1, updated_at = $2, status = COALESCE($3, status) WHERE id = $1")
        .bind(patient_id)
        .bind(now)
        .bind(to_status)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO patient_history (patient_id, at, actor_id, action, detail, from_status, to_status) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(patient_id)
    .bind(now)
    .bind(caller.user_id)
    .bind(action)
    .bind(detail)
    .bind(from_status)
    .bind(to_status.filter(|s| *s != from_status))
    .execute(&mut *conn)
    .await?;
    Ok(())
}
