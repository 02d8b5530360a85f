//! `Idempotency-Key` (CONTRACT.md "Lists"), once for every `POST` of the API: a partner that
//! sends a create again (a timeout, a dropped connection) gets the first answer back instead
//! of a second case, referral, offer, note or task.
//!
//! - A key belongs to the user who sent it (two partners may pick the same key), and lives
//!   24 hours by the application's clock.
//! - The same key with the same request (method, path and body; a JSON body compared by
//!   value, so key order and spacing do not matter) returns the first answer: the same status
//!   and body, with `Idempotent-Replayed: true`. Nothing runs again.
//! - The same key with a different request is a 422 naming `Idempotency-Key`.
//! - **Two at once.** The first request *claims* the key by inserting its row (the primary
//!   key `(user_id, key)` lets exactly one insert win) and commits the claim before the
//!   handler runs; a second request with the key finds the claim, waits for the answer (up
//!   to the request timeout) and returns it, or gets 409 `idempotency_key_in_use` if the
//!   first is still running. So two concurrent requests never both create.
//! - An answer that says "try again" (5xx: the database away, overloaded, an internal error)
//!   is not kept: the claim is removed, and a retry with the key runs afresh.
//! - What this cannot know: if the process dies after the handler committed but before the
//!   answer was stored, the claim stays unanswered and the key answers 409 until it expires
//!   (never a second create). The partner checks the list (or `updated_since`) and goes on
//!   with a new key.
//!
//! Requests without the header, requests without a valid bearer token (the handler answers
//! those 401) and sign-in (whose answer is a token, never stored) pass through untouched.

use crate::accounts::ApiCaller;
use crate::error::{ApiError, AppError, FieldErrors};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use sha2::{Digest, Sha256};
use std::time::Duration as StdDuration;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// Sign-in, which a key never covers.
const TOKEN_PATH: &str = "/api/v1/auth/token";
/// Set on an answer that is a stored one.
pub const REPLAYED: &str = "idempotent-replayed";
/// How long a key is remembered.
pub const KEEP_FOR_HOURS: i64 = 24;
/// The longest answer kept (creates answer with one object; anything bigger is not stored
/// and the claim is released).
const ANSWER_LIMIT: usize = 1024 * 1024;

fn refuse(message: &str) -> Response {
    ApiError(AppError::Validation(FieldErrors::single(
        "Idempotency-Key",
        message,
    )))
    .into_response()
}

/// Writes `v` with object keys in sorted order, so equal JSON values hash equally whatever
/// order a client sent the keys in.
fn canonical(v: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(serde_json::to_string(k).unwrap_or_default().as_bytes());
                out.push(b':');
                if let Some(value) = map.get(k) {
                    canonical(value, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(item, out);
            }
            out.push(b']');
        }
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

/// The request's fingerprint: SHA-256 (hex) of the method, path and query, and the body.
pub fn fingerprint(method: &Method, path_and_query: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_str().as_bytes());
    h.update(b"\n");
    h.update(path_and_query.as_bytes());
    h.update(b"\n");
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => {
            let mut out = Vec::with_capacity(body.len());
            canonical(&v, &mut out);
            h.update(b"json:");
            h.update(&out);
        }
        Err(_) => {
            h.update(b"raw:");
            h.update(body);
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A stored answer as a response.
fn replay(status: i16, content_type: Option<String>, body: Vec<u8>) -> Response {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
    if let Some(ct) = content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
        res.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    res.headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    res
}

/// The middleware (see the module comment).
pub async fn idempotent(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // (never sign-in: its answer is a secret, which must not be stored)
    if req.method() != Method::POST
        || !req.headers().contains_key(HEADER)
        || req.uri().path() == TOKEN_PATH
    {
        return next.run(req).await;
    }
    let key = match req.headers().get(HEADER).map(|v| v.to_str()) {
        Some(Ok(k))
            if (1..=255).contains(&k.len()) && k.bytes().all(|b| (0x20..0x7f).contains(&b)) =>
        {
            k.to_string()
        }
        _ => return refuse("Idempotency-Key must be 1 to 255 printable ASCII characters"),
    };
    let (mut parts, body) = req.into_parts();
    let caller = match ApiCaller::from_request_parts(&mut parts, &state).await {
        Ok(ApiCaller(c)) => c,
        // no caller: the handler answers (401) and nothing is remembered
        Err(_) => return next.run(Request::from_parts(parts, body)).await,
    };
    let bytes = match axum::body::to_bytes(body, crate::BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => return ApiError(AppError::PayloadTooLarge).into_response(),
    };
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let hash = fingerprint(&parts.method, &target, &bytes);

    // claim the key, or find whose it is
    let deadline = tokio::time::Instant::now() + state.config.request_timeout;
    loop {
        let now = state.clock.now();
        let claimed = sqlx::query_scalar!(
            "INSERT INTO idempotency_keys (user_id, key, request_hash, created_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, \
             created_at = EXCLUDED.created_at, status = NULL, content_type = NULL, body = NULL, \
             completed_at = NULL \
             WHERE idempotency_keys.created_at <= $5 \
             RETURNING true AS \"claimed!\"",
            caller.user_id,
            key,
            hash,
            now as _,
            (now - Duration::hours(KEEP_FOR_HOURS)) as _,
        )
        .fetch_optional(&state.pool)
        .await;
        match claimed {
            Err(e) => return ApiError(AppError::from(e)).into_response(),
            Ok(Some(_)) => break,
            Ok(None) => {}
        }
        let seen = sqlx::query!(
            "SELECT request_hash, status, content_type, body FROM idempotency_keys \
             WHERE user_id = $1 AND key = $2",
            caller.user_id,
            key,
        )
        .fetch_optional(&state.pool)
        .await;
        match seen {
            Err(e) => return ApiError(AppError::from(e)).into_response(),
            // released by a failed first attempt a moment ago: claim it again
            Ok(None) => continue,
            Ok(Some(row)) if row.request_hash != hash => {
                return refuse(
                    "This Idempotency-Key was used with a different request: use a new key for a new request",
                );
            }
            Ok(Some(row)) => {
                if let Some(status) = row.status {
                    return replay(status, row.content_type, row.body.unwrap_or_default());
                }
            }
        }
        // the first request with this key is still running: wait for its answer
        if tokio::time::Instant::now() >= deadline {
            return ApiError(AppError::conflict(
                "idempotency_key_in_use",
                "A request with this Idempotency-Key has not finished yet: check whether it took effect before sending it again",
            ))
            .into_response();
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }

    // ours: run it, and keep the answer
    let res = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (res_parts, res_body) = res.into_parts();
    let answer = axum::body::to_bytes(res_body, ANSWER_LIMIT).await;
    let keep = !res_parts.status.is_server_error();
    match (&answer, keep) {
        (Ok(answer), true) => {
            let content_type = res_parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let stored = sqlx::query!(
                "UPDATE idempotency_keys SET status = $3, content_type = $4, body = $5, completed_at = $6 \
                 WHERE user_id = $1 AND key = $2",
                caller.user_id,
                key,
                res_parts.status.as_u16() as i16,
                content_type,
                answer.as_ref(),
                state.clock.now() as _,
            )
            .execute(&state.pool)
            .await;
            if let Err(e) = stored {
                tracing::warn!(error = %e, "could not store an idempotent answer; the key stays claimed");
            }
        }
        _ => {
            let released = sqlx::query!(
                "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND status IS NULL",
                caller.user_id,
                key,
            )
            .execute(&state.pool)
            .await;
            if let Err(e) = released {
                tracing::warn!(error = %e, "could not release an idempotency key");
            }
        }
    }
    match answer {
        Ok(bytes) => Response::from_parts(res_parts, Body::from(bytes)),
        Err(_) => ApiError(AppError::Internal(anyhow::anyhow!(
            "an answer could not be read"
        )))
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_json_in_another_order_is_the_same_request() {
        let a = fingerprint(
            &Method::POST,
            "/api/v1/x",
            br#"{"a":1,"b":[1,{"c":2,"d":3}]}"#,
        );
        let b = fingerprint(
            &Method::POST,
            "/api/v1/x",
            br#" { "b" : [1, {"d":3,"c":2}], "a": 1 } "#,
        );
        assert_eq!(a, b);
        let c = fingerprint(
            &Method::POST,
            "/api/v1/x",
            br#"{"a":2,"b":[1,{"c":2,"d":3}]}"#,
        );
        assert_ne!(a, c);
        let d = fingerprint(
            &Method::POST,
            "/api/v1/y",
            br#"{"a":1,"b":[1,{"c":2,"d":3}]}"#,
        );
        assert_ne!(a, d);
        assert_ne!(
            fingerprint(&Method::POST, "/p", b"not json"),
            fingerprint(&Method::POST, "/p", b"not json!")
        );
    }
}
