//! Writing a case's history: the only place that inserts into `patient_history` and the
//! only place that bumps a case's version. Every change to a case, whichever module makes it
//! (patient commands, the market's referrals, choice), ends in [`write()`]: one history row
//! and a version bump (with the new status, if the change moves it), inside the caller's
//! transaction. A case's first row, written as the case is inserted, is [`opened`].
//!
//! The SQL is checked at compile time (`query!`, offline data in `.sqlx/`). Binds written
//! `x as _` are Homeward's own types (or chrono times, which sqlx's macros would otherwise
//! map to the `time` crate that the session store enables).

use crate::domain::{Caller, CaseAction, CaseStatus, PatientId};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// A history entry for a case, written with the change it records.
pub struct Note {
    pub patient_id: PatientId,
    pub action: CaseAction,
    pub detail: String,
    /// The case's status before the change.
    pub from_status: CaseStatus,
    /// The status the change moves the case to, if it moves it.
    pub to_status: Option<CaseStatus>,
}

/// Records a change to an existing case: bumps its version and `updated_at`, sets the new
/// status if the change moves it, and appends the history row.
pub async fn write(
    conn: &mut PgConnection,
    caller: &Caller,
    now: DateTime<Utc>,
    note: Note,
) -> Result<(), AppError> {
    write_as(conn, Some(caller.user_id), now, note).await
}

/// Records a change nobody made by hand (a hold on a place lapsing): as [`write`], with no
/// actor.
pub async fn write_by_system(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    note: Note,
) -> Result<(), AppError> {
    write_as(conn, None, now, note).await
}

async fn write_as(
    conn: &mut PgConnection,
    actor: Option<i64>,
    now: DateTime<Utc>,
    note: Note,
) -> Result<(), AppError> {
    let Note {
        patient_id,
        action,
        detail,
        from_status,
        to_status,
    } = note;
    sqlx::query!(
        "UPDATE patients SET version = version + 1, updated_at = $2, status = COALESCE($3, status) \
         WHERE id = $1",
        patient_id as _,
        now as _,
        to_status as _,
    )
    .execute(&mut *conn)
    .await?;
    let moved_to = to_status.filter(|s| *s != from_status);
    append(
        conn,
        actor,
        now,
        patient_id,
        action,
        detail,
        Some(from_status),
        moved_to,
    )
    .await
}

/// The history row of a change whose own `UPDATE` of the case already bumped its version
/// and `updated_at` (and set its status): as [`write`], without a second update of the row.
/// One update a change, not two: each update of a case writes every index of `patients`.
pub async fn write_changed(
    conn: &mut PgConnection,
    caller: &Caller,
    now: DateTime<Utc>,
    note: Note,
) -> Result<(), AppError> {
    let moved_to = note.to_status.filter(|s| *s != note.from_status);
    append(
        conn,
        Some(caller.user_id),
        now,
        note.patient_id,
        note.action,
        note.detail,
        Some(note.from_status),
        moved_to,
    )
    .await
}

/// The first row of a case just inserted (at its first version, so nothing to bump): it
/// comes from no status and starts in `status`.
pub async fn opened(
    conn: &mut PgConnection,
    caller: &Caller,
    now: DateTime<Utc>,
    patient_id: PatientId,
    status: CaseStatus,
    detail: String,
) -> Result<(), AppError> {
    append(
        conn,
        Some(caller.user_id),
        now,
        patient_id,
        CaseAction::Created,
        detail,
        None,
        Some(status),
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn append(
    conn: &mut PgConnection,
    actor: Option<i64>,
    now: DateTime<Utc>,
    patient_id: PatientId,
    action: CaseAction,
    detail: String,
    from_status: Option<CaseStatus>,
    to_status: Option<CaseStatus>,
) -> Result<(), AppError> {
    sqlx::query!(
        "INSERT INTO patient_history (patient_id, at, actor_id, action, detail, from_status, to_status) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        patient_id as _,
        now as _,
        actor,
        action as _,
        detail,
        from_status as _,
        to_status as _,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
