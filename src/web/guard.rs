//! What every request passes before a handler sees it, in this order:
//!
//! 1. **Shedding**: at most `max_concurrent_requests` requests are worked on at once; one
//!    more is answered `503 overloaded` with `Retry-After` at once instead of queueing behind
//!    the others (a queue only makes every answer late). The event stream, `/healthz` and
//!    static files are not counted.
//! 2. **The body, whole, in time**: it is read in full (at most [`crate::BODY_LIMIT`], else
//!    413) before anything starts, within the request timeout (else 408): a client that
//!    sends slowly holds no handler and no database connection.
//! 3. **Text**: [`super::text`]'s rule, for every field of the body and query (422).
//! 4. **Detached, with a deadline**: the handler runs in a task of its own and is awaited
//!    until the request timeout. A client that hangs up cannot cancel it halfway, and neither
//!    can the timeout: past the deadline the client gets `503 timeout` and the task runs on
//!    to its end, so its transaction commits or rolls back as a whole and never leaves a
//!    pooled connection inside a transaction (sqlx#4393). It keeps its place among the
//!    concurrent requests until it ends, and no statement outlives the timeout by much: the
//!    pool's `statement_timeout` is the request timeout ([`crate::db`]).
//!
//! The event stream (`GET /api/v1/events`) has no deadline: it lives until the client leaves
//! or the server shuts down.

use crate::error::AppError;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The event stream's path: long-lived, so neither timed nor counted.
pub const EVENTS_PATH: &str = "/api/v1/events";

/// Places for requests being worked on.
#[derive(Clone)]
pub struct RequestSlots {
    slots: Arc<Semaphore>,
    max: u32,
}

impl RequestSlots {
    pub fn new(max: u32) -> Self {
        let max = max.max(1);
        RequestSlots {
            slots: Arc::new(Semaphore::new(max as usize)),
            max,
        }
    }

    fn try_take(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }

    /// Requests being worked on now (including ones past their timeout, still finishing).
    pub fn in_flight(&self) -> usize {
        self.max as usize - self.slots.available_permits()
    }

    /// Resolves when no request is being worked on (used at shutdown).
    pub async fn drained(&self) {
        let _ = self.slots.acquire_many(self.max).await;
    }
}

fn counted(path: &str) -> bool {
    !(path == "/healthz" || path.starts_with("/static/") || path.starts_with("/assets/"))
}

/// The middleware itself (see the module comment).
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path == EVENTS_PATH {
        return crate::tenancy::scope(next.run(req)).await;
    }
    let slot = if counted(&path) {
        match state.requests.try_take() {
            Some(slot) => Some(slot),
            None => {
                tracing::debug!("shed a request: too many in flight");
                return super::error_for(&path, AppError::Overloaded);
            }
        }
    } else {
        None
    };
    let deadline = Instant::now() + state.config.request_timeout;
    let (parts, body) = req.into_parts();
    let bytes = match tokio::time::timeout_at(deadline, read_body(body, &parts.headers)).await {
        Err(_) => return super::error_for(&path, AppError::RequestTimeout),
        Ok(Err(e)) => return super::error_for(&path, e),
        Ok(Ok(bytes)) => bytes,
    };
    let errors = super::text::check_request(parts.uri.query(), &parts.headers, &bytes);
    if !errors.is_empty() {
        return super::error_for(&path, AppError::Validation(errors));
    }
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let req = Request::from_parts(parts, Body::from(bytes));
    // the request's own task, with a place for its caller's hubs (src/tenancy.rs)
    let mut task = tokio::spawn(crate::tenancy::scope(async move {
        let res = next.run(req).await;
        drop(slot);
        res
    }));
    match tokio::time::timeout_at(deadline, &mut task).await {
        Ok(Ok(res)) => res,
        Ok(Err(e)) => super::error_for(&path, AppError::Internal(e.into())),
        Err(_) => {
            tracing::warn!(%route, "request timed out: answered 503; it runs on to its end");
            tokio::spawn(async move {
                if let Ok(res) = task.await {
                    tracing::warn!(%route, status = res.status().as_u16(), "a request that timed out has finished");
                }
            });
            super::error_for(&path, AppError::Timeout)
        }
    }
}

/// The whole body, refusing one over the limit as soon as it is known to be.
async fn read_body(body: Body, headers: &axum::http::HeaderMap) -> Result<Bytes, AppError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > crate::BODY_LIMIT as u64) {
        return Err(AppError::PayloadTooLarge);
    }
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|_| AppError::BadRequest("The request body could not be read".into()))?;
        if buf.len() + chunk.len() > crate::BODY_LIMIT {
            return Err(AppError::PayloadTooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

/// Answers that some other layer wrote as plain text (axum's extractor rejections: a form
/// field missing, a wrong content type, a method not allowed; a panic caught; the session
/// layer failing to save) are rewritten in the caller's shape: CONTRACT.md's JSON error on the
/// API, the NHS error page on pages. The status and other headers (such as `Allow`) are kept.
pub async fn shape_plain_errors(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let plain = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("text/plain"));
    if !plain {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    // tower-sessions answers an empty 500 when it cannot save the session: its store is the
    // database, so that is the database being unavailable
    let (status, error) = if status == StatusCode::INTERNAL_SERVER_ERROR && text.is_empty() {
        (StatusCode::SERVICE_UNAVAILABLE, Some(AppError::Unavailable))
    } else {
        (status, None)
    };
    let mut shaped = match error {
        Some(e) => super::error_for(&path, e),
        None if super::is_api(&path) => plain_api_error(status, &text),
        None => super::status_page(status, &text),
    };
    // keep what the original answer said besides its body (Allow, Retry-After, ...)
    for name in [header::ALLOW, header::RETRY_AFTER, header::CONNECTION] {
        if let Some(v) = parts.headers.remove(&name) {
            shaped.headers_mut().insert(name, v);
        }
    }
    shaped
}

/// CONTRACT.md's JSON error for a status and a plain-text message.
fn plain_api_error(status: StatusCode, text: &str) -> Response {
    let code = match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        409 => "conflict",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "validation_failed",
        429 => "too_many_requests",
        503 => "unavailable",
        500..=599 => "internal",
        _ => "error",
    };
    let message = match status.as_u16() {
        405 => "This method is not allowed here".to_string(),
        500..=599 => "Internal error".to_string(),
        _ if text.is_empty() => status.canonical_reason().unwrap_or("Error").to_string(),
        _ => text.to_string(),
    };
    let body = crate::error::ErrorBody {
        error: crate::error::ErrorDetail {
            code: code.to_string(),
            message,
            fields: None,
        },
    };
    (status, axum::Json(body)).into_response()
}
