//! API plumbing: a JSON body extractor and a query extractor whose rejections use
//! CONTRACT.md's error shape instead of axum's plain-text ones.

use crate::error::{ApiError, AppError};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// `Json<T>` with contract errors: 400 for malformed JSON, 422 for a body that is not a JSON
/// object or whose fields have the wrong types, 413 when over the size limit. (serde would
/// read a struct from an array too, `[null, null]`; a body is an object.)
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let value = match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(v)) => v,
            Err(rejection) => return Err(ApiError(json_rejection(rejection))),
        };
        if !value.is_object() {
            return Err(ApiError(AppError::Validation(
                crate::error::FieldErrors::single("body", "The body must be a JSON object"),
            )));
        }
        serde_json::from_value(value).map(ApiJson).map_err(|e| {
            ApiError(AppError::Validation(crate::error::FieldErrors::single(
                "body",
                format!("Failed to deserialize the JSON body into the target type: {e}"),
            )))
        })
    }
}

fn json_rejection(r: JsonRejection) -> AppError {
    use axum::http::StatusCode;
    match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge,
        StatusCode::UNPROCESSABLE_ENTITY => {
            let mut fields = crate::error::FieldErrors::new();
            let text = r.body_text();
            // serde names the field in "... at line L column C"; keep the whole message
            fields.add("body", text);
            AppError::Validation(fields)
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            AppError::BadRequest("Send the body as JSON with Content-Type: application/json".into())
        }
        _ => AppError::BadRequest(format!("The body is not valid JSON: {}", r.body_text())),
    }
}

/// `Query<T>` with contract errors: a malformed or unknown parameter value is a 422.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(r) => Err(ApiError(query_rejection(r))),
        }
    }
}

fn query_rejection(r: QueryRejection) -> AppError {
    let mut fields = crate::error::FieldErrors::new();
    fields.add("query", r.body_text());
    AppError::Validation(fields)
}
