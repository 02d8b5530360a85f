//! Signing in with a username and password, once for the page and the API: the throttle
//! first (a refused attempt costs no Argon2 work), then the password (an unknown username
//! costs the same hash as a known one), then what the second factor asks. Every refusal is
//! logged, with the account's id when the username exists and never with the password (nor
//! the username when it does not exist: that is often a password typed in the wrong box).
//!
//! The answer never says which part was wrong: a wrong password, an unknown or disabled
//! user, and a wrong or spent code are all [`Refusal::Failed`]; the throttle counts unknown
//! usernames exactly like known ones.

use super::throttle::{self, ClientAddress, RetryAfter, Ticket};
use super::users::UserRow;
use crate::error::{AppError, ErrorBody, ErrorDetail};
use crate::state::AppState;
use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Why a sign-in did not go through.
#[derive(Debug)]
pub enum Refusal {
    /// Wrong username or password, a disabled account, a wrong or spent code.
    Failed,
    /// Too many failures for this account or from this address.
    Throttled(RetryAfter),
    /// The password was right, and this account also needs a code from its app.
    MfaRequired,
    /// Every Argon2 slot stayed busy (a flood): come back shortly.
    Busy,
    Error(AppError),
}

impl From<AppError> for Refusal {
    fn from(e: AppError) -> Self {
        Refusal::Error(e)
    }
}

impl From<sqlx::Error> for Refusal {
    fn from(e: sqlx::Error) -> Self {
        Refusal::Error(e.into())
    }
}

/// Seconds a client is told to wait when the Argon2 slots are all busy.
const BUSY_RETRY_AFTER: i64 = 5;

impl Refusal {
    /// The API's answer: CONTRACT.md's error JSON, with `Retry-After` where it applies.
    pub fn api_response(self) -> Response {
        let (status, code, message, retry) = match self {
            Refusal::Failed => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "The username, password or code is not right",
                None,
            ),
            Refusal::MfaRequired => (
                StatusCode::UNAUTHORIZED,
                "mfa_required",
                "This account needs a code from its authenticator app: send it as otp",
                None,
            ),
            Refusal::Throttled(RetryAfter(s)) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "Too many failed sign-in attempts: wait before trying again",
                Some(s),
            ),
            Refusal::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "Too many sign-ins at once: try again shortly",
                Some(BUSY_RETRY_AFTER),
            ),
            Refusal::Error(e) => return crate::error::ApiError(e).into_response(),
        };
        let body = Json(ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
                fields: None,
            },
        });
        match retry {
            Some(s) => (status, [(header::RETRY_AFTER, s.to_string())], body).into_response(),
            None => (status, body).into_response(),
        }
    }
}

/// What the second factor asks of a user whose password was right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    /// An authenticator app is enrolled: a code is needed.
    Enrolled,
    /// None is enrolled and the user's role must enrol one (pages only; see `login`).
    MustEnrol,
    /// None is enrolled, none is required.
    NotNeeded,
}

/// A right password, and the ticket that counts the attempt until the sign-in completes.
pub struct PasswordOk {
    pub user: UserRow,
    pub second_factor: SecondFactor,
    pub ticket: Ticket,
}

/// Checks a username and password, throttled.
pub async fn check_password(
    state: &AppState,
    username: &str,
    password: &str,
    client: &ClientAddress,
) -> Result<PasswordOk, Refusal> {
    let now = state.clock.now();
    let account = throttle::account_key(username);
    let ticket =
        match throttle::reserve(&state.pool, &state.config.sign_in, &account, client, now).await? {
            Ok(ticket) => ticket,
            Err(wait) => {
                refused(None, client, "throttled");
                return Err(Refusal::Throttled(wait));
            }
        };
    let user = super::users::by_username(&state.pool, &username.trim().to_lowercase()).await?;
    // an unknown user costs the same hash as a known one
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let Some(right) = super::verify_password(password.to_string(), hash).await? else {
        refused(user.as_ref(), client, "busy");
        return Err(Refusal::Busy);
    };
    let Some(user) = user else {
        refused(None, client, "unknown_username");
        return Err(Refusal::Failed);
    };
    if !right {
        refused(Some(&user), client, "wrong_password");
        return Err(Refusal::Failed);
    }
    if user.disabled_at.is_some() {
        refused(Some(&user), client, "disabled");
        return Err(Refusal::Failed);
    }
    let second_factor = if super::mfa::enrolled(&state.pool, user.id).await? {
        SecondFactor::Enrolled
    } else if state.config.mfa_roles.contains(&user.role) {
        SecondFactor::MustEnrol
    } else {
        SecondFactor::NotNeeded
    };
    Ok(PasswordOk {
        user,
        second_factor,
        ticket,
    })
}

/// Checks a code from the authenticator app (or a recovery code) sent in a request of its
/// own (the page's second step) for a user who has given the right password: it is a guess
/// like a password, and throttled like one.
pub async fn check_code(
    state: &AppState,
    user: &UserRow,
    code: &str,
    client: &ClientAddress,
) -> Result<Ticket, Refusal> {
    let now = state.clock.now();
    let account = throttle::account_key(&user.username);
    let ticket =
        match throttle::reserve(&state.pool, &state.config.sign_in, &account, client, now).await? {
            Ok(ticket) => ticket,
            Err(wait) => {
                refused(Some(user), client, "throttled");
                return Err(Refusal::Throttled(wait));
            }
        };
    check_code_counted(state, user, code, client).await?;
    Ok(ticket)
}

/// Checks a code sent with the password (the token call): the password's ticket already
/// counts the attempt.
pub async fn check_code_counted(
    state: &AppState,
    user: &UserRow,
    code: &str,
    client: &ClientAddress,
) -> Result<(), Refusal> {
    if super::mfa::verify(&state.pool, user.id, code, state.clock.now()).await? {
        Ok(())
    } else {
        refused(Some(user), client, "wrong_or_spent_code");
        Err(Refusal::Failed)
    }
}

/// Logs a refused sign-in: the account when it exists, the client, the reason.
pub fn refused(user: Option<&UserRow>, client: &ClientAddress, reason: &'static str) {
    match user {
        Some(u) => tracing::warn!(
            target: "homeward::sign_in",
            user_id = u.id,
            username = %u.username,
            client = %client.0,
            reason,
            "sign-in refused"
        ),
        None => tracing::warn!(
            target: "homeward::sign_in",
            client = %client.0,
            reason,
            "sign-in refused"
        ),
    }
}
