//! Who is calling: users, passwords, sessions, API tokens, and the extractors that turn a
//! request into the [`Caller`] every handler that touches patient data must take
//! ([`ApiCaller`], [`PageCaller`], [`AnyCaller`]). A caller always has a role and an
//! organisation; [`crate::scope`] turns them into what the caller may see.

pub mod admin;
pub mod login;
pub mod tokens;
pub mod users;

use crate::domain::Caller;
use crate::error::{ApiError, AppError};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

pub const SESSION_USER_KEY: &str = "user_id";

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
}

/// A caller identified by `Authorization: Bearer TOKEN` (the API).
pub struct ApiCaller(pub Caller);

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(AppError::Unauthorized)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(AppError::Unauthorized)?;
        let caller = tokens::caller_for_token(&state.pool, token.trim(), state.clock.now())
            .await?
            .ok_or(AppError::Unauthorized)?;
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
        // signed-out user; a session that cannot be decoded is no session
        let who: Option<SessionUser> = match session.get(SESSION_WHO_KEY).await {
            Ok(who) => who,
            Err(e) => match AppError::from(e) {
                AppError::Unavailable => return Err(crate::web::error_page(AppError::Unavailable)),
                _ => None,
            },
        };
        let found = match who {
            Some(who) => {
                users::active_caller_with_notices(
                    &state.pool,
                    &who,
                    state.clock.now(),
                    state.config.response_overdue_after,
                )
                .await
            }
            None => {
                // a session from before sign-in stored the role: read the user alone
                let user_id: Option<i64> = session.get(SESSION_USER_KEY).await.unwrap_or(None);
                let Some(user_id) = user_id else {
                    return Err(SignInRedirect.into_response());
                };
                users::active_caller(&state.pool, user_id).await
            }
        };
        match found {
            Ok(Some(caller)) => Ok(PageCaller(caller)),
            Ok(None) => {
                // disabled, deleted or changed: end this session now
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

/// Hashes a password with Argon2id off the async threads.
pub async fn hash_password(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || password_auth::generate_hash(password))
        .await
        .map_err(|e| AppError::Internal(e.into()))
}

/// Checks a password against a stored hash off the async threads.
pub async fn verify_password(password: String, hash: String) -> Result<bool, AppError> {
    tokio::task::spawn_blocking(move || password_auth::verify_password(password, &hash).is_ok())
        .await
        .map_err(|e| AppError::Internal(e.into()))
}

/// The rule for new passwords, shared by the CLI and the admin pages.
pub fn check_new_password(password: &str) -> Result<(), &'static str> {
    if password.chars().count() < 12 {
        Err("Password must be 12 characters or more")
    } else if password.len() > 1024 {
        Err("Password must be 1024 characters or fewer")
    } else {
        Ok(())
    }
}
