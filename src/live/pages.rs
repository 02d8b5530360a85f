//! `GET /api/v1/events`: the event stream, for API clients (bearer token) and for the pages'
//! live-update script (session cookie).

use crate::accounts::{Caller, PageCaller};
use crate::error::{ApiError, AppError};
use crate::state::AppState;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

/// A caller by bearer token if one is sent, else by session.
pub struct AnyCaller(pub Caller);

impl FromRequestParts<AppState> for AnyCaller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            return crate::accounts::ApiCaller::from_request_parts(parts, state)
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

#[utoipa::path(get, path = "/api/v1/events", tag = "live",
    responses((status = 200, description = "text/event-stream: `event:` is the type (patient.created, patient.updated, patient.discharged, referral.created, referral.decided, referral.updated, offer.created, offer.updated, resync, ready); `data:` JSON with `type`, `at` and the ids concerned", content_type = "text/event-stream"),
        (status = 401, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn events(State(state): State<AppState>, AnyCaller(caller): AnyCaller) -> Response {
    crate::live::stream_for(&state.live, caller).into_response()
}
