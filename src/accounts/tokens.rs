//! API bearer tokens: `POST /api/v1/auth/token` exchanges a username and password for a
//! random token. Only its SHA-256 is stored, so a database leak does not leak tokens.

use crate::domain::Caller;
use crate::error::{ApiResult, AppError};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TokenRequest {
    pub username: String,
    pub password: String,
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

/// Checks a username and password; `None` for a wrong pair or a disabled user. The same
/// answer either way, so the response does not reveal which usernames exist.
pub async fn authenticate(
    pool: &sqlx::PgPool,
    username: &str,
    password: &str,
) -> Result<Option<Caller>, AppError> {
    let user = super::users::by_username(pool, username.trim()).await?;
    let Some(user) = user else {
        // spend the same time as a real check, so timing does not reveal unknown usernames
        let password = password.to_string();
        let _ = tokio::task::spawn_blocking(move || {
            let dummy = DUMMY_HASH.get_or_init(|| password_auth::generate_hash("homeward-dummy"));
            password_auth::verify_password(password, dummy).is_ok()
        })
        .await;
        return Ok(None);
    };
    let ok = super::verify_password(password.to_string(), user.password_hash.clone()).await?;
    if !ok || user.disabled_at.is_some() {
        return Ok(None);
    }
    Ok(Some(user.caller()))
}

/// A hash to compare against when the username is unknown.
static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth",
    request_body = TokenRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = crate::error::ErrorBody)))]
pub async fn issue_token(
    State(state): State<AppState>,
    crate::web::api::ApiJson(req): crate::web::api::ApiJson<TokenRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let caller = authenticate(&state.pool, &req.username, &req.password)
        .await?
        .ok_or(AppError::Unauthorized)?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let now = state.clock.now();
    let expires_at = now + state.config.token_lifetime;
    sqlx::query(
        "INSERT INTO api_tokens (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(digest(&token))
    .bind(caller.user_id)
    .bind(now)
    .bind(expires_at)
    .execute(&state.pool)
    .await
    .map_err(AppError::from)?;
    tracing::info!(user_id = caller.user_id, "issued API token");
    Ok(Json(TokenResponse {
        token,
        expires_at,
        user: TokenUser {
            id: caller.user_id,
            username: caller.username,
            role: caller.role,
            org_code: caller.org_code,
        },
    }))
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
