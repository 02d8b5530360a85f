//! The web shell: page layout, flash messages, the HTML error page, security headers and
//! helpers shared by page handlers. Nothing here knows about patients, and nothing here
//! reads the database: the layout is given what it shows (such as the header's count of new
//! notifications, which `notifications::layout` works out).

pub mod api;
pub mod guard;
pub mod idempotency;
pub mod openapi;
pub mod paging;
pub mod text;

use crate::domain::{Caller, Role};
use crate::error::{AppError, FieldErrors};
use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

const FLASH_KEY: &str = "flash";

/// What every page's frame needs: who is signed in (for the header and navigation) and a
/// one-time message from the previous action.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub caller: Option<Caller>,
    pub flash: Option<String>,
    /// Which navigation item is current.
    pub section: &'static str,
    /// New notifications for the header ("Notifications (3)").
    pub notices: i64,
}

pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub section: &'static str,
}

impl Layout {
    /// Builds a signed-in page's layout, taking (and so clearing) the flash message.
    /// `notices` is the header's count of new notifications.
    pub async fn new(
        session: &Session,
        caller: &Caller,
        section: &'static str,
        notices: i64,
    ) -> Self {
        let flash = take_flash(session).await;
        Layout {
            caller: Some(caller.clone()),
            flash,
            section,
            notices,
        }
    }

    pub fn anonymous() -> Self {
        Layout::default()
    }

    /// Everyone but administrators has notifications.
    pub fn show_notices(&self) -> bool {
        self.caller.as_ref().is_some_and(|c| c.role != Role::Admin)
    }

    /// Hub and ward users have tasks (the header's "Tasks" with what is due today).
    pub fn show_tasks(&self) -> bool {
        self.caller
            .as_ref()
            .is_some_and(|c| matches!(c.role, Role::Hub | Role::Ward))
    }

    /// The caller's open tasks due by the end of today.
    pub fn tasks_due(&self) -> i64 {
        self.caller.as_ref().and_then(|c| c.tasks_due).unwrap_or(0)
    }

    pub fn nav(&self) -> Vec<NavItem> {
        let Some(c) = &self.caller else {
            return vec![];
        };
        let item = |href, label, section| NavItem {
            href,
            label,
            section,
        };
        match c.role {
            Role::Ward => vec![
                item("/ward", "My patients", "ward"),
                item("/board", "Board round", "board"),
                item("/patients/new", "Flag a patient", "flag"),
                item("/directory", "Service directory", "directory"),
            ],
            Role::Hub => vec![
                item("/hub", "Worklist", "hub"),
                item("/board", "Board round", "board"),
                item("/hub/choice", "Choice overdue", "choice"),
                item("/reports/sitrep", "Sitrep", "reports"),
                item("/reports/national", "National return", "national"),
                item("/reports/flow", "Flow", "flow"),
                item("/directory", "Service directory", "directory"),
                item("/patients/new", "Flag a patient", "flag"),
            ],
            Role::Provider => vec![
                item("/provider", "Referrals", "provider"),
                item("/provider/offers", "Our offers", "offers"),
                item("/directory", "Service directory", "directory"),
            ],
            Role::Admin => vec![
                item("/admin/users", "Users", "admin"),
                item("/admin/access", "Who looked at a patient", "access"),
                item("/admin/hl7", "Hospital feed", "hl7"),
                item("/reports/sitrep", "Sitrep", "reports"),
                item("/reports/national", "National return", "national"),
                item("/reports/flow", "Flow", "flow"),
            ],
        }
    }
}

/// Takes the one-time message, if any. Reading first keeps the session unmodified (and so
/// not written back to the database) on the usual request that has none.
pub async fn take_flash(session: &Session) -> Option<String> {
    match session.get::<String>(FLASH_KEY).await {
        Ok(Some(_)) => session.remove::<String>(FLASH_KEY).await.ok().flatten(),
        _ => None,
    }
}

/// Sets the one-time message shown on the next page.
pub async fn flash(session: &Session, message: impl Into<String>) {
    let _ = session.insert(FLASH_KEY, message.into()).await;
}

/// POST, then 303 to a GET with a flash message.
pub async fn done(session: &Session, to: &str, message: impl Into<String>) -> Response {
    flash(session, message).await;
    Redirect::to(to).into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    title: String,
    message: String,
    /// Field -> what is wrong with it (validation errors).
    fields: Vec<(String, String)>,
}

/// Whether a request is the API's (JSON errors) rather than a page's (NHS error pages).
pub fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// An error answered in the shape the caller expects: CONTRACT.md's JSON on the API, the
/// NHS error page on pages.
pub fn error_for(path: &str, e: AppError) -> Response {
    if is_api(path) {
        crate::error::ApiError(e).into_response()
    } else {
        error_page(e)
    }
}

/// A path id (`/patients/{id}`): one that does not parse (`abc`, or past 64 bits) names
/// nothing, so it is a 404 in the caller's shape, like an id that parses but is not there.
pub struct Id<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for Id<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Response> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Id(v)),
            Err(_) => Err(error_for(parts.uri.path(), AppError::NotFound)),
        }
    }
}

/// Renders an error as a page. Internal errors are logged and shown without detail.
pub fn error_page(e: AppError) -> Response {
    let e = e.classified();
    let status = e.status();
    if let AppError::Internal(inner) = &e {
        tracing::error!(error = %format!("{inner:#}"), "internal error");
    }
    let fields = match &e {
        AppError::Validation(f) => f
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        _ => vec![],
    };
    let (title, message) = match &e {
        AppError::NotFound => (
            "Page not found".to_string(),
            "If you typed the web address, check it is correct. The page may also be one you do not have access to.".to_string(),
        ),
        AppError::Forbidden => (
            "You do not have access to this page".to_string(),
            "Your role does not allow this. Ask your administrator if you think it should.".to_string(),
        ),
        AppError::Internal(_) | AppError::Unavailable | AppError::Overloaded => (
            "Sorry, there is a problem with the service".to_string(),
            "Try again in a moment. Nothing you entered has been saved.".to_string(),
        ),
        AppError::Timeout => (
            "Sorry, the service is slow".to_string(),
            "It took too long to answer. What you entered may still have been saved: check before entering it again.".to_string(),
        ),
        other => ("There is a problem".to_string(), other.to_string()),
    };
    let page = ErrorPage {
        layout: Layout::anonymous(),
        title,
        message,
        fields,
    };
    let mut res = (status, page).into_response();
    e.add_headers(&mut res);
    res
}

/// An error page for a status only (an error some other layer answered in plain text).
pub fn status_page(status: StatusCode, message: &str) -> Response {
    let (title, message) = match status.as_u16() {
        404 => (
            "Page not found".to_string(),
            "If you typed the web address, check it is correct.".to_string(),
        ),
        405 => (
            "There is a problem".to_string(),
            "This page cannot be used that way.".to_string(),
        ),
        500..=599 => (
            "Sorry, there is a problem with the service".to_string(),
            "Try again in a moment. Nothing you entered has been saved.".to_string(),
        ),
        _ => ("There is a problem".to_string(), message.to_string()),
    };
    let page = ErrorPage {
        layout: Layout::anonymous(),
        title,
        message,
        fields: vec![],
    };
    (status, page).into_response()
}

/// A page handler's result: errors become error pages.
pub struct PageError(pub AppError);

impl<E: Into<AppError>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(self.0)
    }
}

pub type PageResult = Result<Response, PageError>;

/// A form's error state: the summary at the top and a message beside each field.
#[derive(Debug, Clone, Default)]
pub struct FormErrors(pub FieldErrors);

impl FormErrors {
    pub fn any(&self) -> bool {
        !self.0.is_empty()
    }
    /// The message for a field, or "" (templates test with `!= ""`).
    pub fn of<S: AsRef<str>>(&self, field: S) -> &str {
        self.0.get(field.as_ref()).unwrap_or("")
    }
    pub fn has<S: AsRef<str>>(&self, field: S) -> bool {
        self.0.get(field.as_ref()).is_some()
    }
    pub fn list(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .map(|(f, m)| (f.to_string(), m.to_string()))
            .collect()
    }
}

/// 422 for a page re-rendered with its form errors, so clients and tests can tell.
pub fn invalid(page: impl IntoResponse) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
}
