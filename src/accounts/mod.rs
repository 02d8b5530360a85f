//! Who is calling: users, passwords, sessions, API tokens, and the extractors that turn a
//! request into the [`Caller`] every handler that touches patient data must take
//! ([`ApiCaller`], [`PageCaller`], [`AnyCaller`]). A caller always has a role and an
//! organisation; [`crate::scope`] turns them into what the caller may see.
//!
//! Signing in (password, throttling, second factor, single sign-on) is [`signin`], [`login`],
//! [`mfa`] and [`sso`]; how long a page session lasts and how all of a user's sessions end
//! is [`sessions`]. Password hashing is bounded here: at most one Argon2 computation per
//! core at a time, so a flood of sign-ins queues for CPU instead of filling the blocking
//! pool that static files and everything else share.

pub mod admin;
pub mod login;
pub mod mfa;
pub mod password_policy;
pub mod sessions;
pub mod signin;
pub mod sso;
pub mod throttle;
pub mod tokens;
pub mod two_factor;
pub mod users;

use crate::domain::Caller;
use crate::error::{ApiError, AppError};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

/// Who a page session belongs to, as stored at sign-in: the user, and the role and
/// organisation they signed in with. Knowing the role before reading the user lets the
/// extractor read the user and the header's notification count in one statement; a user
/// whose role or organisation has changed since no longer matches and signs in again.
pub const SESSION_WHO_KEY: &str = "who";

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SessionUser {
    pub user_id: i64,
    pub role: crate::domain::Role,
    pub org_code: String,
    /// The user's `session_epoch` at sign-in: the caller query ends the session when the
    /// user's epoch has moved on (password reset, disabled, enabled, two-factor reset).
    pub epoch: i32,
    /// When the session was signed in (the absolute lifetime runs from here).
    pub signed_in_at: chrono::DateTime<chrono::Utc>,
    /// The last activity written to the session (the idle timeout runs from here).
    pub last_seen_at: chrono::DateTime<chrono::Utc>,
}

/// A caller identified by `Authorization: Bearer TOKEN` (the API).
pub struct ApiCaller(pub Caller);

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = tokens::bearer(&parts.headers).ok_or(AppError::Unauthorized)?;
        let caller = tokens::caller_for_token(&state.system, token, state.clock.now())
            .await?
            .ok_or(AppError::Unauthorized)?;
        crate::tenancy::enter(&caller.hubs);
        Ok(ApiCaller(caller))
    }
}

/// A caller signed in to the pages with a session cookie. Anyone else is sent to the
/// sign-in page. The user row is read on every request, so disabling a user ends their
/// sessions at once.
pub struct PageCaller(pub Caller);

/// Where an unsigned request goes.
pub struct SignInRedirect;

impl IntoResponse for SignInRedirect {
    fn into_response(self) -> Response {
        Redirect::to("/login").into_response()
    }
}

impl FromRequestParts<AppState> for PageCaller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(s, m)| (s, m).into_response())?;
        // a session store that cannot be read (the database restarting) is a 503, not a
        // signed-out user; a session that cannot be decoded (from before this version, with
        // no epoch or times) is no session: sign in again
        let who: Option<SessionUser> = match session.get(SESSION_WHO_KEY).await {
            Ok(who) => who,
            Err(e) => match AppError::from(e) {
                AppError::Unavailable => return Err(crate::web::error_page(AppError::Unavailable)),
                _ => None,
            },
        };
        let Some(who) = who else {
            return Err(SignInRedirect.into_response());
        };
        let now = state.clock.now();
        if let Some(ended) = sessions::ended(&who, now, &state.config) {
            let _ = session.flush().await;
            crate::web::flash(&session, ended.message()).await;
            tracing::info!(
                user_id = who.user_id,
                reason = ended.as_str(),
                "session ended"
            );
            return Err(SignInRedirect.into_response());
        }
        // the user, their epoch and the header's count in one statement
        let found = users::active_caller_with_notices(
            &state.system,
            &who,
            now,
            state.config.response_overdue_after,
        )
        .await;
        match found {
            Ok(Some(caller)) => {
                crate::tenancy::enter(&caller.hubs);
                sessions::note_activity(&session, who, now, &state.config).await;
                Ok(PageCaller(caller))
            }
            Ok(None) => {
                // disabled, deleted, changed, or signed out everywhere: end this session now
                let _ = session.flush().await;
                Err(SignInRedirect.into_response())
            }
            Err(e) => Err(crate::web::error_page(e)),
        }
    }
}

pub struct AnyCaller(pub Caller);

impl FromRequestParts<AppState> for AnyCaller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            return ApiCaller::from_request_parts(parts, state)
                .await
                .map(|c| AnyCaller(c.0))
                .map_err(IntoResponse::into_response);
        }
        match PageCaller::from_request_parts(parts, state).await {
            Ok(PageCaller(c)) => Ok(AnyCaller(c)),
            // an API client without a session gets the contract's 401, not a redirect
            Err(_) => Err(ApiError(AppError::Unauthorized).into_response()),
        }
    }
}

/// At most this many Argon2 computations run at once: one per core. More would only make
/// each slower and take blocking threads that everything else needs.
static ARGON2_SLOTS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    tokio::sync::Semaphore::new(cores)
});

/// A sign-in that cannot get an Argon2 slot within this long is told to come back later
/// (503) rather than queue without bound.
pub const ARGON2_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs Argon2 work on the blocking pool once a slot is free; `None` when `wait` passed
/// first (no wait given: wait as long as it takes, for administrators' own actions).
async fn argon2<T: Send + 'static>(
    wait: Option<std::time::Duration>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<Option<T>, AppError> {
    let permit = match wait {
        Some(wait) => match tokio::time::timeout(wait, ARGON2_SLOTS.acquire()).await {
            Ok(permit) => permit,
            Err(_) => return Ok(None),
        },
        None => ARGON2_SLOTS.acquire().await,
    }
    .map_err(|e| AppError::Internal(e.into()))?;
    let done = tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    drop(permit);
    Ok(Some(done))
}

/// Hashes a password with Argon2id off the async threads.
pub async fn hash_password(password: String) -> Result<String, AppError> {
    argon2(None, move || password_auth::generate_hash(password))
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no Argon2 slot")))
}

/// Checks a password against a stored hash off the async threads (no hash: against a hash
/// of nothing in particular, which costs the same, for unknown usernames); `None` when no
/// Argon2 slot came free within [`ARGON2_WAIT`].
pub async fn verify_password(
    password: String,
    hash: Option<String>,
) -> Result<Option<bool>, AppError> {
    argon2(Some(ARGON2_WAIT), move || match hash {
        Some(hash) => password_auth::verify_password(password, &hash).is_ok(),
        None => {
            let _ = password_auth::verify_password(password, dummy_hash());
            false
        }
    })
    .await
}

/// A hash to check against when the username is unknown, made with the same (default)
/// parameters as real ones so both take the same time.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| password_auth::generate_hash("homeward-dummy-password"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_argon2_work_runs_at_once_than_there_are_cores() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs = (0..cores * 4).map(|_| {
            let (running, most) = (running.clone(), most.clone());
            tokio::spawn(argon2(None, move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(20));
                running.fetch_sub(1, Ordering::SeqCst);
            }))
        });
        for job in jobs.collect::<Vec<_>>() {
            job.await.unwrap().unwrap();
        }
        // (at most: the other test in this module may hold a slot meanwhile)
        let most = most.load(Ordering::SeqCst);
        assert!(
            (1..=cores).contains(&most),
            "{most} at once on {cores} cores"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sign_in_that_cannot_get_a_slot_in_time_is_told_so() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let busy: Vec<_> = (0..cores)
            .map(|_| {
                tokio::spawn(argon2(None, || {
                    std::thread::sleep(std::time::Duration::from_millis(300))
                }))
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let waited = argon2(Some(std::time::Duration::from_millis(20)), || ()).await;
        assert!(matches!(waited, Ok(None)));
        for b in busy {
            b.await.unwrap().unwrap();
        }
    }
}
