//! How long a page session lasts, and how every session and token of a user ends.
//!
//! A session carries its own clock readings ([`SessionUser::signed_in_at`] and
//! [`SessionUser::last_seen_at`], from the application's clock, so tests can move time):
//! it ends after [`Config::session_idle`] without activity or [`Config::session_absolute`]
//! after sign-in, whichever comes first. Activity extends it, but writing the session on
//! every request would cost a statement per page, so the extension is written only once
//! a tenth of the idle time has gone by: the idle timeout is honest to within that tenth.
//! (The session store's own expiry and the cookie's Max-Age follow each write, measured by
//! the real clock; they never end a session before these rules do.)
//!
//! [`end_all`] bumps the user's `session_epoch` and deletes their API tokens in the caller's
//! transaction: every page session signed in under the old epoch fails the caller query on
//! its next request, with no extra statement on the way.

use super::{SESSION_WHO_KEY, SessionUser};
use crate::config::Config;
use crate::error::AppError;
use chrono::{DateTime, Utc};
use tower_sessions::Session;

/// Why a session ended on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Idle,
    Absolute,
}

impl Ended {
    pub fn as_str(self) -> &'static str {
        match self {
            Ended::Idle => "idle",
            Ended::Absolute => "absolute",
        }
    }

    /// What the sign-in page tells the user.
    pub fn message(self) -> &'static str {
        match self {
            Ended::Idle => "You were signed out because you had not used Homeward for a while",
            Ended::Absolute => "You were signed out because your session reached its time limit",
        }
    }
}

/// Whether a session has run out at `now`.
pub fn ended(who: &SessionUser, now: DateTime<Utc>, config: &Config) -> Option<Ended> {
    if now - who.signed_in_at >= config.session_absolute {
        Some(Ended::Absolute)
    } else if now - who.last_seen_at >= config.session_idle {
        Some(Ended::Idle)
    } else {
        None
    }
}

/// Whether activity at `now` is worth writing to the session: a tenth of the idle time has
/// passed since the last write.
pub fn worth_extending(who: &SessionUser, now: DateTime<Utc>, config: &Config) -> bool {
    now - who.last_seen_at >= config.session_idle / 10
}

/// Records activity on a session that is still valid, when it is worth a write (the
/// session layer saves a changed session once the response is ready).
pub async fn note_activity(
    session: &Session,
    mut who: SessionUser,
    now: DateTime<Utc>,
    config: &Config,
) {
    if worth_extending(&who, now, config) {
        who.last_seen_at = now;
        if let Err(e) = session.insert(SESSION_WHO_KEY, who).await {
            tracing::warn!(error = %e, "could not extend the session");
        }
    }
}

/// Signs `user` in on this session: a new session id (no fixation), anything from the
/// sign-in steps removed, and the user, their epoch and the times stored.
pub async fn start(
    session: &Session,
    user: &super::users::UserRow,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    session.cycle_id().await?;
    super::login::forget_pending(session).await;
    session
        .insert(
            SESSION_WHO_KEY,
            SessionUser {
                user_id: user.id,
                role: user.role,
                org_code: user.org_code.clone(),
                epoch: user.session_epoch,
                signed_in_at: now,
                last_seen_at: now,
            },
        )
        .await?;
    Ok(())
}

/// Ends every page session and API token of a user, in the caller's transaction.
pub async fn end_all(tx: &mut sqlx::PgConnection, user_id: i64) -> Result<(), AppError> {
    sqlx::query!(
        "UPDATE users SET session_epoch = session_epoch + 1 WHERE id = $1",
        user_id
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("DELETE FROM api_tokens WHERE user_id = $1", user_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
