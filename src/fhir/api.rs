//! `/api/v1/fhir/...`: the read-only FHIR R4 endpoints. Bearer token and scoping as for
//! `/api/v1/patients`; every answer is `application/fhir+json`, errors included (an
//! `OperationOutcome`): not found and not yours are the same 404.

use super::{
    Bundle, BundleEntry, BundleLink, BundleSearch, Encounter, FHIR_JSON, NHS_NUMBER_SYSTEM,
    OperationOutcome, Patient,
};
use crate::accounts::ApiCaller;
use crate::cases::CaseRow;
use crate::cases::queries::{self, CASE_SELECT};
use crate::domain::{Caller, NhsNumber, PatientId};
use crate::error::AppError;
use crate::scope::CaseScope;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sqlx::{Postgres, QueryBuilder};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(metadata))
        .routes(routes!(read_patient))
        .routes(routes!(search_patients))
        .routes(routes!(read_encounter))
}

/// A FHIR answer: the resource as `application/fhir+json`.
pub struct Fhir<T>(pub StatusCode, pub T);

impl<T: Serialize> IntoResponse for Fhir<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.1) {
            Ok(body) => {
                let mut res = (self.0, body).into_response();
                res.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
                res
            }
            Err(e) => FhirError(AppError::Internal(e.into())).into_response(),
        }
    }
}

/// An error as an `OperationOutcome`, with the status the JSON API would give.
pub struct FhirError(pub AppError);

impl<E: Into<AppError>> From<E> for FhirError {
    fn from(e: E) -> Self {
        FhirError(e.into())
    }
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        let e = self.0.classified();
        let code = match &e {
            AppError::Unauthorized => "login",
            AppError::Forbidden => "forbidden",
            AppError::NotFound => "not-found",
            AppError::Validation(_) | AppError::BadRequest(_) => "invalid",
            AppError::Conflict { .. } | AppError::Stale => "conflict",
            AppError::PayloadTooLarge => "too-long",
            AppError::Unavailable
            | AppError::Overloaded
            | AppError::Timeout
            | AppError::RequestTimeout => "transient",
            AppError::Internal(inner) => {
                tracing::error!(error = %format!("{inner:#}"), "internal error");
                "exception"
            }
        };
        let diagnostics = match &e {
            AppError::Validation(fields) => fields
                .iter()
                .map(|(f, m)| format!("{f}: {m}"))
                .collect::<Vec<_>>()
                .join("; "),
            AppError::Internal(_) => "Internal error".to_string(),
            other => other.to_string(),
        };
        let mut res = Fhir(e.status(), OperationOutcome::error(code, diagnostics)).into_response();
        e.add_headers(&mut res);
        res
    }
}

type FhirResult<T> = Result<Fhir<T>, FhirError>;

/// Every error under `/api/v1/fhir` is an `OperationOutcome`, whoever answered it: an
/// unknown resource type (the API's 404), a method not allowed (405), the request guard's
/// text rule (422), shedding (503). The status and other headers are kept; the JSON error's
/// message becomes the diagnostics.
pub async fn shape_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let fhir = req.uri().path().starts_with("/api/v1/fhir");
    let res = next.run(req).await;
    let status = res.status();
    if !fhir || !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let already = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with(FHIR_JSON));
    if already {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let error = &json["error"];
    let mut diagnostics = error["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("Error").to_string());
    if let Some(fields) = error["fields"].as_object() {
        for (f, m) in fields {
            diagnostics.push_str(&format!("; {f}: {}", m.as_str().unwrap_or_default()));
        }
    }
    let code = match status.as_u16() {
        401 => "login",
        403 => "forbidden",
        404 => "not-found",
        405 => "not-supported",
        408 | 503 => "transient",
        409 => "conflict",
        413 => "too-long",
        429 => "throttled",
        400 | 415 | 422 => "invalid",
        500..=599 => "exception",
        _ => "processing",
    };
    let mut shaped = Fhir(status, OperationOutcome::error(code, diagnostics)).into_response();
    for name in [
        header::ALLOW,
        header::RETRY_AFTER,
        header::CONNECTION,
        header::WWW_AUTHENTICATE,
    ] {
        if let Some(v) = parts.headers.remove(&name) {
            shaped.headers_mut().insert(name, v);
        }
    }
    shaped
}

/// [`ApiCaller`] whose refusal is an `OperationOutcome`.
pub struct FhirCaller(pub Caller);

impl FromRequestParts<AppState> for FhirCaller {
    type Rejection = FhirError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, FhirError> {
        match ApiCaller::from_request_parts(parts, state).await {
            Ok(ApiCaller(c)) => Ok(FhirCaller(c)),
            Err(e) => Err(FhirError(e.0)),
        }
    }
}

/// A path id that is not a number names nothing: 404.
fn case_id(raw: &str) -> Result<PatientId, FhirError> {
    raw.parse::<i64>()
        .map(PatientId)
        .map_err(|_| FhirError(AppError::NotFound))
}

/// The case, if the caller may see it, and whether it may see who the patient is. A refusal
/// is written to the access log, as `/api/v1/patients/{id}` does.
async fn scoped_case(
    state: &AppState,
    caller: &Caller,
    id: PatientId,
    what: &str,
) -> Result<(CaseRow, bool), FhirError> {
    let now = state.clock.now();
    let case = match queries::get(&state.pool, caller, id).await {
        Ok(case) => case,
        Err(AppError::NotFound) => {
            crate::audit::record_refusal(&state.pool, caller, id, what, now).await?;
            return Err(FhirError(AppError::NotFound));
        }
        Err(e) => return Err(e.into()),
    };
    let identifiable = queries::identifiable(&state.pool, caller, &[case.id])
        .await?
        .contains(&case.id);
    if identifiable {
        crate::audit::record_views(&state.pool, caller, &[case.id], what, now).await?;
    }
    Ok((case, identifiable))
}

#[utoipa::path(get, path = "/api/v1/fhir/metadata", tag = "fhir",
    responses((status = 200, description = "The CapabilityStatement (FHIR R4), as application/fhir+json")),
    security(("bearer" = [])))]
pub async fn metadata(
    State(state): State<AppState>,
    _caller: FhirCaller,
) -> FhirResult<serde_json::Value> {
    Ok(Fhir(
        StatusCode::OK,
        super::capability_statement(state.clock.now()),
    ))
}

#[utoipa::path(get, path = "/api/v1/fhir/Patient/{id}", tag = "fhir", params(("id" = i64, Path)),
    responses((status = 200, description = "A UK Core Patient (the case's patient), as application/fhir+json"),
        (status = 404, description = "An OperationOutcome: no such case, or not the caller's to see")),
    security(("bearer" = [])))]
pub async fn read_patient(
    State(state): State<AppState>,
    FhirCaller(caller): FhirCaller,
    Path(id): Path<String>,
) -> FhirResult<Patient> {
    let id = case_id(&id)?;
    let (case, identifiable) = scoped_case(&state, &caller, id, "FHIR Patient").await?;
    Ok(Fhir(
        StatusCode::OK,
        Patient::from_case(&case, identifiable),
    ))
}

#[utoipa::path(get, path = "/api/v1/fhir/Encounter/{id}", tag = "fhir", params(("id" = i64, Path)),
    responses((status = 200, description = "A UK Core Encounter (the hospital stay), as application/fhir+json"),
        (status = 404, description = "An OperationOutcome: no such case, or not the caller's to see")),
    security(("bearer" = [])))]
pub async fn read_encounter(
    State(state): State<AppState>,
    FhirCaller(caller): FhirCaller,
    Path(id): Path<String>,
) -> FhirResult<Encounter> {
    let id = case_id(&id)?;
    let (case, _) = scoped_case(&state, &caller, id, "FHIR Encounter").await?;
    Ok(Fhir(
        StatusCode::OK,
        Encounter::from_case(&case, state.clock.now()),
    ))
}

/// Most matches a search returns (one person has few stays).
const SEARCH_LIMIT: i64 = 100;

fn invalid(field: &str, message: &str) -> FhirError {
    FhirError(AppError::Validation(crate::error::FieldErrors::single(
        field, message,
    )))
}

#[utoipa::path(get, path = "/api/v1/fhir/Patient", tag = "fhir",
    params(("identifier" = String, Query, description = "`https://fhir.nhs.uk/Id/nhs-number|NNNNNNNNNN` (or the 10 digits alone)")),
    responses((status = 200, description = "A searchset Bundle of UK Core Patients: the caller's cases of that NHS number that it may know by name, newest change first"),
        (status = 422, description = "An OperationOutcome: no identifier, an unknown parameter or a malformed NHS number")),
    security(("bearer" = [])))]
pub async fn search_patients(
    State(state): State<AppState>,
    FhirCaller(caller): FhirCaller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> FhirResult<Bundle<Patient>> {
    let params: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or_default())
            .map_err(|_| invalid("query", "The query string could not be read"))?;
    let mut identifier = None;
    for (name, value) in &params {
        match name.as_str() {
            "identifier" if identifier.is_none() => identifier = Some(value.trim().to_string()),
            "identifier" => return Err(invalid("identifier", "Give one identifier")),
            // the format is always JSON
            "_format" => {}
            other => {
                return Err(invalid(
                    other,
                    "Unknown search parameter: Patient is searched by identifier only",
                ));
            }
        }
    }
    let Some(identifier) = identifier else {
        return Err(invalid(
            "identifier",
            "Search by identifier=https://fhir.nhs.uk/Id/nhs-number|NNNNNNNNNN",
        ));
    };
    let (system, value) = match identifier.split_once('|') {
        Some((system, value)) => (Some(system), value),
        None => (None, identifier.as_str()),
    };
    let self_url = format!(
        "{}/Patient?{}",
        base_url(&state, &headers),
        query.unwrap_or_default()
    );
    let mut entries = vec![];
    // another identifier system: nothing of ours is indexed by it
    if system.is_none_or(|s| s.is_empty() || s == NHS_NUMBER_SYSTEM) {
        let nhs = NhsNumber::parse(value).map_err(|_| {
            invalid(
                "identifier",
                "The NHS number must be 10 digits with a valid check digit",
            )
        })?;
        // the cases with this NHS number the caller may see and may know by name (a
        // provider that has not accepted must not learn that a number is referred to it)
        let scope = CaseScope::of(&caller);
        let mut q = QueryBuilder::<Postgres>::new(CASE_SELECT);
        q.push(" WHERE p.nhs_number = ")
            .push_bind(nhs.as_str().to_string())
            .push(" AND ");
        scope.push_sql(&mut q, "p");
        q.push(" AND ");
        scope.push_identifiable_sql(&mut q, "p");
        q.push(" ORDER BY p.updated_at DESC, p.id DESC LIMIT ")
            .push(SEARCH_LIMIT.to_string());
        let cases: Vec<CaseRow> = q.build_query_as().fetch_all(&state.pool).await?;
        let ids: Vec<PatientId> = cases.iter().map(|c| c.id).collect();
        crate::audit::record_views(
            &state.pool,
            &caller,
            &ids,
            "FHIR Patient search",
            state.clock.now(),
        )
        .await?;
        let base = base_url(&state, &headers);
        entries = cases
            .iter()
            .map(|c| BundleEntry {
                full_url: format!("{base}/Patient/{}", c.id),
                resource: Patient::from_case(c, true),
                search: BundleSearch { mode: "match" },
            })
            .collect();
    }
    Ok(Fhir(
        StatusCode::OK,
        Bundle {
            resource_type: "Bundle",
            type_: "searchset",
            total: entries.len(),
            link: vec![BundleLink {
                relation: "self",
                url: self_url,
            }],
            entry: entries,
        },
    ))
}

/// The FHIR base URL as the client reached it (for `fullUrl`s): the `Host` it sent, over
/// HTTPS when the server is configured for TLS (secure cookies).
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    let scheme = if state.config.secure_cookies {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}/api/v1/fhir")
}
