//! What the OpenAPI document says for every operation alike, so a client (or a schema-driven
//! fuzzer such as schemathesis, `docs/schemathesis.sh`) meets no answer it was not told of:
//! the error answers any call can give, and the allowed values of query parameters.
//!
//! Query parameters are read as text and checked by the handlers (so a bad value gets
//! CONTRACT.md's 422 with a message), and an empty value means "no filter"; the schemas
//! below say exactly that: the allowed values, or empty.

use crate::domain::status::ALL_STATUSES;
use crate::domain::{OfferStatus, ReferralStatus};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};

/// The error answers every operation may give, with CONTRACT.md's error body.
const ERRORS: &[(&str, &str)] = &[
    (
        "400",
        "Malformed request: a body that is not JSON, or not sent as `application/json`",
    ),
    ("401", "No bearer token, or one that is not valid"),
    ("403", "The caller's role may not do this"),
    (
        "404",
        "Not found, or not the caller's to see (also a path id that is not a number)",
    ),
    (
        "409",
        "Conflict: wrong state, stale `version`, capacity gone, duplicate",
    ),
    (
        "422",
        "A field or query parameter fails validation (`fields` names each), including text with control characters",
    ),
    (
        "503",
        "Unavailable: busy (`overloaded`), too slow (`timeout`) or the database is unavailable; see `Retry-After`",
    ),
];

/// Only for operations that take a body.
const BODY_ERRORS: &[(&str, &str)] = &[
    (
        "408",
        "The request body did not arrive within the request timeout",
    ),
    ("413", "The request body is over 1 MB"),
];

/// Adds the error answers an operation does not list yet.
pub struct ErrorResponses;

impl utoipa::Modify for ErrorResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let body = op.request_body.is_some();
                let extra = if body { BODY_ERRORS } else { &[] };
                for (status, why) in ERRORS.iter().chain(extra) {
                    op.responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| RefOr::T(error_response(why)));
                }
            }
        }
    }
}

fn error_response(description: &str) -> Response {
    let mut res = Response::new(description);
    res.content.insert(
        "application/json".to_string(),
        RefOr::T(Content::new(Some(Ref::from_schema_name("ErrorBody")))),
    );
    res
}

/// A text parameter that is empty or one of `values`.
fn one_of<I: IntoIterator<Item = String>>(values: I) -> Object {
    let mut all = vec![String::new()];
    all.extend(values);
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(all))
        .build()
}

fn names<T: serde::Serialize>(values: impl IntoIterator<Item = T>) -> Vec<String> {
    values
        .into_iter()
        .filter_map(|v| match serde_json::to_value(v) {
            Ok(serde_json::Value::String(s)) => Some(s),
            _ => None,
        })
        .collect()
}

pub fn case_status() -> Object {
    one_of(names(ALL_STATUSES))
}

pub fn referral_status() -> Object {
    one_of(names(ReferralStatus::ALL))
}

pub fn offer_status() -> Object {
    one_of(names(OfferStatus::ALL))
}

pub fn pathway() -> Object {
    one_of((0..=3).map(|n| n.to_string()))
}

/// Offers are for pathways 1 to 3.
pub fn offer_pathway() -> Object {
    one_of((1..=3).map(|n| n.to_string()))
}

pub fn true_or_false() -> Object {
    one_of(["true".to_string(), "false".to_string()])
}

pub fn json_or_csv() -> Object {
    one_of(["json".to_string(), "csv".to_string()])
}

/// A page size: 1 to 500, or empty for the default (100).
pub fn limit() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^(|[1-9][0-9]?|[1-4][0-9][0-9]|500)$"))
        .build()
}
