//! `/api/v1/patients`: CONTRACT.md's calls over [`super::commands`] and [`crate::cases::queries`].

use super::commands::{
    self, CriteriaChange, CtrCodeRule, DestinationRule, DetailsChange, DischargeDetails,
};
use super::model::{NewPatientRequest, PatientJson};
use crate::accounts::ApiCaller;
use crate::cases::HistoryEntry;
use crate::cases::queries::{self, CaseFilter, Cursor, ListOrder, PageRequest, Seen};
use crate::domain::Caller;
use crate::domain::time::london_to_utc;
use crate::domain::time::{parse_date, parse_instant, parse_instant_or_date};
use crate::domain::{CancelReason, CaseStatus, Pathway, PatientId};
use crate::error::{ApiResult, AppError, ErrorBody, FieldErrors};
use crate::state::AppState;
use crate::web::Id;
use crate::web::api::{ApiJson, ApiQuery};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_patients, create_patient))
        .routes(routes!(get_patient))
        .routes(routes!(patient_history))
        .routes(routes!(record_criteria))
        .routes(routes!(choose_pathway))
        .routes(routes!(set_delay_reason))
        .routes(routes!(update_details))
        .routes(routes!(plan_discharge))
        .routes(routes!(discharge))
        .routes(routes!(cancel))
        .routes(routes!(take_ownership))
}

/// A page of cases (CONTRACT.md "Lists"): most recently changed first, ties by id.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PatientList {
    pub items: Vec<PatientJson>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next: Option<String>,
    /// Cases matching the filters, on every page.
    pub total: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct HistoryList {
    pub items: Vec<HistoryEntry>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PatientQuery {
    /// One of the statuses of CONTRACT.md.
    #[param(schema_with = crate::web::openapi::case_status)]
    status: Option<String>,
    /// 0 to 3.
    #[param(schema_with = crate::web::openapi::pathway)]
    pathway: Option<String>,
    ward_code: Option<String>,
    /// An acute trust's ODS code.
    trust_code: Option<String>,
    delay_reason: Option<String>,
    /// `true` for open (not discharged or cancelled) cases only.
    #[param(schema_with = crate::web::openapi::true_or_false)]
    open: Option<String>,
    /// Cases changed at or after this time (ISO 8601), to sync incrementally.
    updated_since: Option<String>,
    /// Cases on a page (1-500, default 100).
    #[param(schema_with = crate::web::openapi::limit)]
    limit: Option<String>,
    /// Where the page starts: the `next` of the page before.
    cursor: Option<String>,
    /// Find patients by name (case, accents, apostrophes and hyphens ignored), NHS number
    /// (spaces ignored), hospital number or bed; among those the caller may know by name.
    q: Option<String>,
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl PatientQuery {
    fn filter(&self) -> Result<(CaseFilter, PageRequest), AppError> {
        let mut errors = FieldErrors::new();
        let status = non_empty(&self.status).and_then(|s| {
            s.parse::<CaseStatus>()
                .map_err(|_| errors.add("status", "Unknown status"))
                .ok()
        });
        let pathway = non_empty(&self.pathway).and_then(|s| {
            s.parse::<Pathway>()
                .map_err(|_| errors.add("pathway", "Pathway must be 0, 1, 2 or 3"))
                .ok()
        });
        let open_only = match non_empty(&self.open) {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                errors.add("open", "open must be true or false");
                false
            }
        };
        let limit = match non_empty(&self.limit) {
            None => 100,
            Some(s) => match s.parse::<i64>() {
                Ok(n) if (1..=500).contains(&n) => n,
                _ => {
                    errors.add("limit", "limit must be a whole number from 1 to 500");
                    0
                }
            },
        };
        let updated_since = non_empty(&self.updated_since).and_then(|s| {
            let parsed = parse_instant(s);
            if parsed.is_none() {
                errors.add(
                    "updated_since",
                    "updated_since must be a date and time, like 2026-11-30T09:00:00Z",
                );
            }
            parsed
        });
        let after = non_empty(&self.cursor).and_then(|c| {
            let parsed = Cursor::decode(c, ListOrder::Updated);
            if parsed.is_none() {
                errors.add("cursor", "The cursor is not one this list gave out");
            }
            parsed
        });
        let search = non_empty(&self.q).map(str::to_string);
        if search.as_ref().is_some_and(|q| q.chars().count() > 100) {
            errors.add("q", "q must be 100 characters or fewer");
        }
        errors.into_result(|| {
            (
                CaseFilter {
                    search,
                    status,
                    open_only,
                    pathway,
                    ward_code: non_empty(&self.ward_code).map(str::to_uppercase),
                    trust_code: non_empty(&self.trust_code).map(str::to_uppercase),
                    delay_reason: non_empty(&self.delay_reason).map(str::to_string),
                    updated_since,
                    ..CaseFilter::default()
                },
                PageRequest {
                    order: ListOrder::Updated,
                    after,
                    before: None,
                    limit,
                    news_for: None,
                },
            )
        })
    }
}

/// A case a command just changed, as JSON. The caller made the change, so nothing new is
/// disclosed and no read is logged (the change itself is in the case's history).
async fn written(
    state: &AppState,
    caller: &Caller,
    case: crate::cases::CaseRow,
) -> Result<Json<PatientJson>, AppError> {
    let identifiable = queries::identifiable(&state.pool, caller, &[case.id])
        .await?
        .contains(&case.id);
    Ok(Json(PatientJson::from_case(
        case,
        identifiable,
        state.clock.now(),
    )))
}

/// One case as JSON, identifiable or not as the caller may see it; a view of identifiable
/// details is logged.
async fn json(
    state: &AppState,
    caller: &Caller,
    case: crate::cases::CaseRow,
) -> Result<Json<PatientJson>, AppError> {
    let identifiable = queries::identifiable(&state.pool, caller, &[case.id])
        .await?
        .contains(&case.id);
    if identifiable {
        crate::audit::record_views(
            &state.pool,
            caller,
            &[case.id],
            "API patient",
            state.clock.now(),
        )
        .await?;
    }
    Ok(Json(PatientJson::from_case(
        case,
        identifiable,
        state.clock.now(),
    )))
}

#[utoipa::path(get, path = "/api/v1/patients", tag = "patients",
    params(PatientQuery),
    responses((status = 200, body = PatientList), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_patients(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<PatientQuery>,
) -> ApiResult<Json<PatientList>> {
    let (filter, page) = q.filter()?;
    let now = state.clock.now();
    let seen = Some(Seen {
        what: "API patient list",
    });
    let listed = queries::list(&state.pool, &caller, &filter, page, now, seen).await?;
    Ok(Json(PatientList {
        next: listed.next.map(|c| c.encode()),
        total: listed.total,
        items: listed
            .cases
            .into_iter()
            .map(|l| PatientJson::from_case(l.case, l.identifiable, now))
            .collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/patients", tag = "patients",
    request_body = NewPatientRequest,
    responses((status = 201, body = PatientJson), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_patient(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(body): ApiJson<NewPatientRequest>,
) -> ApiResult<(StatusCode, Json<PatientJson>)> {
    caller.require(&[crate::domain::Role::Ward, crate::domain::Role::Hub])?;
    let (draft, errors) = body.into_draft();
    let new = draft
        .validate(state.clock.now(), errors)
        .map_err(AppError::Validation)?;
    let case = commands::flag(&state, &caller, new).await?;
    Ok((StatusCode::CREATED, written(&state, &caller, case).await?))
}

#[utoipa::path(get, path = "/api/v1/patients/{id}", tag = "patients",
    params(("id" = i64, Path)),
    responses((status = 200, body = PatientJson), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_patient(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<PatientId>,
) -> ApiResult<Json<PatientJson>> {
    let case = match queries::get(&state.pool, &caller, id).await {
        Ok(case) => case,
        Err(AppError::NotFound) => {
            // an attempt to read a case the caller may not see is in the access log too
            crate::audit::record_refusal(
                &state.pool,
                &caller,
                id,
                "API patient",
                state.clock.now(),
            )
            .await?;
            return Err(AppError::NotFound.into());
        }
        Err(e) => return Err(e.into()),
    };
    Ok(json(&state, &caller, case).await?)
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/history", tag = "patients",
    params(("id" = i64, Path)),
    responses((status = 200, body = HistoryList), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn patient_history(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<PatientId>,
) -> ApiResult<Json<HistoryList>> {
    let case = queries::get(&state.pool, &caller, id).await?;
    crate::audit::record_views(
        &state.pool,
        &caller,
        &[case.id],
        "API history",
        state.clock.now(),
    )
    .await?;
    Ok(Json(HistoryList {
        items: queries::history(&state.pool, case.id).await?,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CriteriaRequest {
    pub meets_criteria: bool,
    /// When the review happened: an ISO 8601 date and time, or a date `YYYY-MM-DD` (00:00 in
    /// England that day, as the national data set records the discharge ready date);
    /// defaults to now.
    pub at: Option<String>,
    /// When meeting the criteria again: the NHS Data Dictionary code, 01-12.
    pub ctr_code: Option<String>,
    pub version: Option<i32>,
}

fn optional_instant(v: &Option<String>, field: &str) -> Result<Option<DateTime<Utc>>, AppError> {
    match non_empty(v) {
        None => Ok(None),
        Some(s) => parse_instant(s).map(Some).ok_or_else(|| {
            AppError::Validation(FieldErrors::single(
                field,
                format!("{field} must be an ISO 8601 date and time, like 2026-11-20T09:30:00Z"),
            ))
        }),
    }
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/criteria", tag = "patients",
    params(("id" = i64, Path)), request_body = CriteriaRequest,
    responses((status = 200, body = PatientJson), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn record_criteria(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<PatientId>,
    ApiJson(body): ApiJson<CriteriaRequest>,
) -> ApiResult<Json<PatientJson>> {
    let at = match non_empty(&body.at) {
        None => None,
        Some(s) => Some(parse_instant_or_date(s).ok_or_else(|| {
            AppError::Validation(FieldErrors::single(
                "at",
                "at must be a date like 2026-11-20 or an ISO 8601 date and time",
            ))
        })?),
    };
    let change = CriteriaChange {
        meets_criteria: body.meets_criteria,
        at,
        ctr_code: non_empty(&body.ctr_code).map(str::to_string),
        // CONTRACT.md: `ctr_code` is optional for partner systems
        ctr_code_rule: CtrCodeRule::Optional,
    };
    let case = commands::record_criteria(&state, &caller, id, body.version, change).await?;
    Ok(written(&state, &caller, case).await?)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PathwayRequest {
    /// 0, 1, 2 or 3.
    #[schema(value_type = i16, minimum = 0, maximum = 3)]
    pub pathway: serde_json::Value,
    pub version: Option<i32>,
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/pathway", tag = "patients",
    params(("id" = i64, Path)), request_body = PathwayRequest,
    responses((status = 200, body = PatientJson), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn choose_pathway(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<PatientId>,
    ApiJson(body): ApiJson<PathwayRequest>,
) -> ApiResult<Json<PatientJson>> {
    caller.require(&[crate::domain::Role::Hub])?;
    let pathway = body
        .pathway
        .as_i64()
        .and_then(Pathway::new)
        .ok_or_else(|| {
            AppError::Validation(FieldErrors::single(
                "pathway",
                "Pathway must be 0, 1, 2 or 3",
            ))
        })?;
    let case = commands::choose_pathway(&state, &caller, id, body.version, pathway).await?;
    Ok(written(&state, &caller, case).await?)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct DelayReasonRequest {
    /// A delay reason code from `/api/v1/reference/delay-reasons`.
    pub code: String,
    pub version: Option<i32>,
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/delay-reason", tag = "patients",
    params(("id" = i64, Path)), request_body = DelayReasonRequest,
    responses((status = 200, body = PatientJson), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_delay_reason(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<PatientId>,
    ApiJson(body): ApiJson<DelayReasonRequest>,
) -> ApiResult<Json<PatientJson>> {
    let case =
        commands::set_delay_reason(&state, &caller, id, body.version, body.code.trim()).await?;
    Ok(written(&state, &caller, case).await?)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct DetailsRequest {
    /// `YYYY-MM-DD`, or null to clear. Omit to leave unchanged.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub expected_discharge_date: Option<Option<String>>,
    pub needs_summary: Option<String>,
    pub version: Option<i32>,
}

/// Tells "absent" (None) from "null" (Some(None)).
fn double_option<'de, D>(d: D) -> Result<Option<Option<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Option::<String>::deserialize(d).map(Some)
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/details", tag = "patients",
    params(("id" = i64, Path)), request_body = DetailsRequest,
    responses((status = 200, body = PatientJson), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_details(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<PatientId>,
    ApiJson(body): ApiJson<DetailsRequest>,
) -> ApiResult<Json<PatientJson>> {
    let edd = match body.expected_discharge_date {
        None => None,
        Some(None) => Some(None),
        Some(Some(s)) if s.trim().is_empty() => Some(None),
        Some(Some(s)) => Some(Some(parse_date(&s).ok_or_else(|| {
            AppError::Validation(FieldErrors::single(
                "expected_discharge_date",
                "expected_discharge_date must be a date like 2026-11-30",
            ))
        })?)),
    };
    let change = DetailsChange {
        expected_discharge_date: edd,
        needs_summary: body.needs_summary,
    };
    let case = commands::update_details(&state, &caller, id, body.version, change).await?;
    Ok(written(&state, &caller, case).await?)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PlanDischargeRequest {
    /// ISO 8601 date and time, or a date (`YYYY-MM-DD`, taken as midday in England).
    pub planned_for: String,
    pub version: Option<i32>,
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/plan-discharge", tag = "patients",
    params(("id" = i64, Path)), request_body = PlanDischargeRequest,
    responses((status = 200, body = PatientJson), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn plan_discharge(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<PatientId>,
    ApiJson(body): ApiJson<PlanDischargeRequest>,
) -> ApiResult<Json<PatientJson>> {
    let planned_for = parse_instant(&body.planned_for)
        .or_else(|| {
            parse_date(&body.planned_for).map(|d| {
                london_to_utc(d.and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default()))
            })
        })
        .ok_or_else(|| {
            AppError::Validation(FieldErrors::single(
                "planned_for",
                "planned_for must be an ISO 8601 date and time or a date",
            ))
        })?;
    let case = commands::plan_discharge(&state, &caller, id, body.version, planned_for).await?;
    Ok(written(&state, &caller, case).await?)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct DischargeRequest {
    /// ISO 8601; defaults to now.
    pub discharged_at: Option<String>,
    /// Where the patient went: a code of `GET /api/v1/reference/discharge-destinations` for
    /// the trust's return (acute or community). Leave it out when the patient died.
    pub destination: Option<String>,
    /// NHS Data Dictionary discharge method (`1` on clinical advice, the default; `4` died;
    /// `6` self-discharge; ...).
    pub method: Option<String>,
    pub version: Option<i32>,
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/discharge", tag = "patients",
    params(("id" = i64, Path)), request_body = DischargeRequest,
    responses((status = 200, body = PatientJson), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn discharge(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<PatientId>,
    ApiJson(body): ApiJson<DischargeRequest>,
) -> ApiResult<Json<PatientJson>> {
    let at = optional_instant(&body.discharged_at, "discharged_at")?;
    let details = DischargeDetails {
        at,
        destination: non_empty(&body.destination).map(str::to_string),
        method: non_empty(&body.method).map(str::to_string),
        // CONTRACT.md v1 partners discharge without a destination
        destination_rule: DestinationRule::Optional,
    };
    let case = commands::discharge(&state, &caller, id, body.version, details).await?;
    Ok(written(&state, &caller, case).await?)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CancelRequest {
    /// `died`, `transferred_out`, `self_discharged` or `other`; `other` when left out.
    pub reason_code: Option<String>,
    /// Words: required for `other`.
    pub reason: Option<String>,
    pub version: Option<i32>,
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/cancel", tag = "patients",
    params(("id" = i64, Path)), request_body = CancelRequest,
    responses((status = 200, body = PatientJson), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<PatientId>,
    ApiJson(body): ApiJson<CancelRequest>,
) -> ApiResult<Json<PatientJson>> {
    let code = match non_empty(&body.reason_code) {
        None => None,
        Some(c) => Some(c.parse::<CancelReason>().map_err(|_| {
            AppError::Validation(FieldErrors::single(
                "reason_code",
                "reason_code must be died, transferred_out, self_discharged or other",
            ))
        })?),
    };
    let reason = body.reason.unwrap_or_default();
    let case = commands::cancel(&state, &caller, id, body.version, code, &reason).await?;
    Ok(written(&state, &caller, case).await?)
}

#[derive(Deserialize, utoipa::ToSchema, Default)]
pub struct VersionOnly {
    pub version: Option<i32>,
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/coordinator", tag = "patients",
    params(("id" = i64, Path)), request_body = VersionOnly,
    responses((status = 200, body = PatientJson), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn take_ownership(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<PatientId>,
    ApiJson(body): ApiJson<VersionOnly>,
) -> ApiResult<Json<PatientJson>> {
    let case = commands::take_ownership(&state, &caller, id, body.version).await?;
    Ok(written(&state, &caller, case).await?)
}
