//! API bearer tokens: `POST /api/v1/auth/token` exchanges a username and password (and, for a
//! user with an authenticator app, its code as `otp`) for a random token; `DELETE` revokes
//! the token it is called with. Only a token's SHA-256 is stored, so a database leak does not
//! leak tokens. Sign-in is throttled and logged as on the pages (see `signin`).

use super::signin::{self, Refusal, SecondFactor};
use super::throttle::ClientAddress;
use crate::domain::Caller;
use crate::error::{ApiResult, AppError};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TokenRequest {
    pub username: String,
    pub password: String,
    /// The 6-digit code from the user's authenticator app, or one of their recovery codes;
    /// required when the user has enrolled one (otherwise 401 `mfa_required`).
    #[serde(default)]
    pub otp: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: TokenUser,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenUser {
    pub id: i64,
    pub username: String,
    pub role: crate::domain::Role,
    pub org_code: String,
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

// `POST /api/v1/auth/token`. After 5 failed attempts for one username within 15 minutes, or 20
// from one client address, the next is refused with 429 and `Retry-After`, whether or not the
// username exists. (A plain comment: a doc comment would become the operation's summary.)
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth",
    request_body = TokenRequest,
    responses((status = 200, body = TokenResponse),
        (status = 400, description = "the body is not JSON", body = crate::error::ErrorBody),
        (status = 401, description = "wrong username, password or code (`unauthorized`), or a code is needed (`mfa_required`)", body = crate::error::ErrorBody),
        (status = 422, description = "a field is missing or of the wrong type", body = crate::error::ErrorBody),
        (status = 429, description = "too many failed attempts for this username or from this address; `Retry-After` says how many seconds to wait", body = crate::error::ErrorBody,
            headers(("Retry-After" = i64, description = "seconds"))),
        (status = 503, description = "too many sign-ins at once", body = crate::error::ErrorBody,
            headers(("Retry-After" = i64, description = "seconds")))))]
pub async fn issue_token(
    State(state): State<AppState>,
    client: ClientAddress,
    crate::web::api::ApiJson(req): crate::web::api::ApiJson<TokenRequest>,
) -> Response {
    match sign_in(&state, &client, &req).await {
        Ok(response) => Json(response).into_response(),
        Err(refusal) => refusal.api_response(),
    }
}

async fn sign_in(
    state: &AppState,
    client: &ClientAddress,
    req: &TokenRequest,
) -> Result<TokenResponse, Refusal> {
    let ok = signin::check_password(state, &req.username, &req.password, client).await?;
    // An account that must enrol but has not yet can only enrol on the pages; the API
    // answers it as before (CONTRACT.md asks for a code from enrolled users).
    if ok.second_factor == SecondFactor::Enrolled {
        let Some(otp) = req.otp.as_deref().filter(|o| !o.trim().is_empty()) else {
            signin::refused(Some(&ok.user), client, "mfa_required");
            return Err(Refusal::MfaRequired);
        };
        signin::check_code_counted(state, &ok.user, otp, client).await?;
    }
    super::throttle::completed(&state.pool, &[ok.ticket]).await?;
    let caller = ok.user.caller();
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let now = state.clock.now();
    let expires_at = now + state.config.token_lifetime;
    sqlx::query!(
        "INSERT INTO api_tokens (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        digest(&token),
        caller.user_id,
        now as _,
        expires_at as _
    )
    .execute(&state.pool)
    .await?;
    tracing::info!(user_id = caller.user_id, client = %client.0, "issued API token");
    Ok(TokenResponse {
        token,
        expires_at,
        user: TokenUser {
            id: caller.user_id,
            username: caller.username,
            role: caller.role,
            org_code: caller.org_code,
        },
    })
}

/// The bearer token of a request, if it has one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
}

// `DELETE /api/v1/auth/token`: revokes the token the call is made with.
#[utoipa::path(delete, path = "/api/v1/auth/token", tag = "auth",
    responses((status = 204, description = "the token is revoked"),
        (status = 401, description = "no token, or not a current one", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke_token(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let token = bearer(&headers).ok_or(AppError::Unauthorized)?;
    let revoked = sqlx::query_scalar!(
        "DELETE FROM api_tokens WHERE token_hash = $1 AND expires_at > $2 RETURNING user_id",
        digest(token),
        state.clock.now() as _
    )
    .fetch_optional(&state.pool)
    .await?
    .ok_or(AppError::Unauthorized)?;
    tracing::info!(user_id = revoked, "revoked API token");
    Ok(StatusCode::NO_CONTENT)
}

/// The caller a token belongs to, if it is current and its user is enabled.
pub async fn caller_for_token(
    pool: &sqlx::PgPool,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<Caller>, AppError> {
    // the token and its (enabled) user in one statement
    let user = super::users::by_token(pool, &digest(token), now).await?;
    Ok(user.map(|u| u.caller()))
}
