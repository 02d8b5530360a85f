//! One error type for the whole service. The API renders it as CONTRACT.md's JSON
//! (`{"error":{"code","message","fields"}}`); pages render it as an NHS-styled error page.
//! Database and other internal failures are logged and shown as a generic 500 without detail;
//! a database that is down, restarting or shutting down is a 503 with `Retry-After`, never a
//! 500 ([`is_unavailable`]).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::BTreeMap;

/// Field name -> message, in the order the form shows the fields (the NHS error summary
/// lists errors in page order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<(String, String)>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        if self.get(field).is_none() {
            self.0.push((field.to_string(), message.into()));
        }
    }
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(f, m)| (f.as_str(), m.as_str()))
    }
    /// `Ok(value)` when no errors were collected.
    pub fn into_result<T>(self, value: impl FnOnce() -> T) -> Result<T, AppError> {
        if self.is_empty() {
            Ok(value())
        } else {
            Err(AppError::Validation(self))
        }
    }
    pub fn single(field: &str, message: impl Into<String>) -> Self {
        let mut e = Self::new();
        e.add(field, message);
        e
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("Sign in to continue")]
    Unauthorized,
    #[error("You do not have permission to do this")]
    Forbidden,
    #[error("Not found")]
    NotFound,
    #[error("There is a problem with the information given")]
    Validation(FieldErrors),
    /// 409: wrong state, duplicate open case, capacity gone.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 409: the record changed since the caller read it.
    #[error("This case changed since you opened it")]
    Stale,
    #[error("{0}")]
    BadRequest(String),
    #[error("The request body is too large")]
    PayloadTooLarge,
    #[error("The service is not available just now. Try again in a moment.")]
    Unavailable,
    /// 503: too many requests in flight; this one was not started.
    #[error("The service is busy. Try again in a moment.")]
    Overloaded,
    /// 503: the answer took longer than the request timeout. A change may still complete.
    #[error(
        "The service took too long to answer. A change you sent may still be saved: check before sending it again."
    )]
    Timeout,
    /// 408: the client took longer than the request timeout to send its request.
    #[error("The request took too long to arrive")]
    RequestTimeout,
    #[error("Internal error")]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        if is_unavailable(&e) {
            tracing::warn!(cause = %e, "database unavailable");
            AppError::Unavailable
        } else {
            AppError::Internal(e.into())
        }
    }
}

/// Whether a database error means "not now" rather than "wrong": the server is shutting
/// down, restarting, starting or full, the connection broke, the pool has no connection to
/// give, a statement ran past its timeout, or a transaction lost a serialization race. These
/// are answered 503 with `Retry-After`; anything else is a 500.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|code| {
            // 08: connection exception; 53: insufficient resources (too many connections,
            // out of memory or disk); 57P01-57P05: admin/crash shutdown, cannot connect now,
            // database dropped, idle session timeout; 57014: statement timeout; 40001/40P01:
            // serialization failure and deadlock (retrying succeeds)
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P")
                || matches!(code.as_ref(), "57014" | "40001" | "40P01")
        }),
        _ => false,
    }
}

impl From<crate::domain::Forbidden> for AppError {
    fn from(_: crate::domain::Forbidden) -> Self {
        AppError::Forbidden
    }
}

impl From<tower_sessions::session::Error> for AppError {
    fn from(e: tower_sessions::session::Error) -> Self {
        use tower_sessions::session_store::Error as Store;
        match e {
            // the store is the database, and its errors arrive as text: a backend failure is
            // the database being unavailable
            tower_sessions::session::Error::Store(Store::Backend(cause)) => {
                tracing::warn!(%cause, "session store unavailable");
                AppError::Unavailable
            }
            e => AppError::Internal(anyhow::anyhow!("session: {e}")),
        }
    }
}

impl AppError {
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Conflict { .. } | AppError::Stale => StatusCode::CONFLICT,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Unavailable | AppError::Overloaded | AppError::Timeout => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AppError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthorized => "unauthorized",
            AppError::Forbidden => "forbidden",
            AppError::NotFound => "not_found",
            AppError::Validation(_) => "validation_failed",
            AppError::Conflict { code, .. } => code,
            AppError::Stale => "stale_version",
            AppError::BadRequest(_) => "bad_request",
            AppError::PayloadTooLarge => "payload_too_large",
            AppError::Unavailable => "unavailable",
            AppError::Overloaded => "overloaded",
            AppError::Timeout => "timeout",
            AppError::RequestTimeout => "request_timeout",
            AppError::Internal(_) => "internal",
        }
    }

    /// An internal error caused by the database being unavailable (a sqlx error wrapped in
    /// an `anyhow` chain somewhere) becomes [`AppError::Unavailable`].
    pub fn classified(self) -> Self {
        match self {
            AppError::Internal(e)
                if e.chain()
                    .any(|c| c.downcast_ref::<sqlx::Error>().is_some_and(is_unavailable)) =>
            {
                tracing::warn!(cause = %format!("{e:#}"), "database unavailable");
                AppError::Unavailable
            }
            e => e,
        }
    }

    /// Headers the answer needs besides its body: when to retry a 503, and that a 408's
    /// connection is closed (its request may be half-read).
    pub fn add_headers(&self, res: &mut Response) {
        use axum::http::{HeaderValue, header};
        match self.status() {
            StatusCode::SERVICE_UNAVAILABLE => {
                res.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(RETRY_AFTER_SECONDS),
                );
            }
            StatusCode::REQUEST_TIMEOUT => {
                res.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
    }

    /// Logs server-side failures once, where they are turned into responses.
    fn log(&self) {
        // (an unavailable database is logged where the error is recognised, with its cause)
        if let AppError::Internal(e) = self {
            tracing::error!(error = %format!("{e:#}"), "internal error");
        }
    }
}

/// Seconds a client is asked to wait before retrying a 503.
pub const RETRY_AFTER_SECONDS: &str = "1";

/// CONTRACT.md's error body.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, String>>,
}

/// The API's rendering of an [`AppError`].
pub struct ApiError(pub AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0.classified();
        e.log();
        let fields = match &e {
            AppError::Validation(f) => Some(
                f.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            _ => None,
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: e.code().to_string(),
                message: e.to_string(),
                fields,
            },
        };
        let mut res = (e.status(), Json(body)).into_response();
        e.add_headers(&mut res);
        res
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
