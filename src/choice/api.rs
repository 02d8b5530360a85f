//! `/api/v1/patients/{id}/choice` and `/api/v1/choice/overdue`.

use super::{ChoiceRecord, ChoiceStep};
use crate::accounts::ApiCaller;
use crate::domain::time::london_date;
use crate::domain::{CaseStatus, PatientId};
use crate::error::{ApiResult, AppError, ErrorBody, FieldErrors};
use crate::state::AppState;
use crate::web::Id;
use crate::web::api::ApiJson;
use axum::Json;
use axum::extract::State;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_choice, record_choice))
        .routes(routes!(overdue_choices))
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/choice", tag = "choice", params(("id" = i64, Path)),
    responses((status = 200, body = ChoiceRecord), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_choice(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<PatientId>,
) -> ApiResult<Json<ChoiceRecord>> {
    caller.require(&[crate::domain::Role::Hub, crate::domain::Role::Ward])?;
    let case = crate::cases::queries::get(&state.pool, &caller, id).await?;
    Ok(Json(super::get(&state.pool, case.id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ChoiceRequest {
    /// information, letter, preferences, escalation or outcome.
    pub stage: String,
    /// For `letter`: the options offered.
    pub options: Option<Vec<String>>,
    /// For `preferences`: up to three, most preferred first.
    pub preferences: Option<Vec<String>>,
    /// For `outcome`: accepted, interim or declined.
    pub outcome: Option<String>,
    /// For `escalation` (required) and `outcome` (optional).
    pub note: Option<String>,
    pub version: Option<i32>,
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/choice", tag = "choice", params(("id" = i64, Path)),
    request_body = ChoiceRequest,
    responses((status = 200, body = ChoiceRecord), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn record_choice(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<PatientId>,
    ApiJson(body): ApiJson<ChoiceRequest>,
) -> ApiResult<Json<ChoiceRecord>> {
    let step = match body.stage.as_str() {
        "information" => ChoiceStep::InformationGiven,
        "letter" => ChoiceStep::Letter {
            options: body.options.unwrap_or_default(),
        },
        "preferences" => ChoiceStep::Preferences(body.preferences.unwrap_or_default()),
        "escalation" => ChoiceStep::Escalated {
            note: body.note.unwrap_or_default(),
        },
        "outcome" => ChoiceStep::Outcome {
            outcome: body.outcome.unwrap_or_default(),
            note: body.note.unwrap_or_default(),
        },
        _ => {
            return Err(AppError::Validation(FieldErrors::single(
                "stage",
                "Stage must be information, letter, preferences, escalation or outcome",
            ))
            .into());
        }
    };
    Ok(Json(
        super::record(&state, &caller, id, body.version, step).await?,
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OverdueItem {
    #[schema(value_type = i64)]
    pub patient_id: PatientId,
    pub ward_code: String,
    #[schema(value_type = String)]
    pub status: CaseStatus,
    pub deadline: NaiveDate,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OverdueList {
    pub items: Vec<OverdueItem>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next: Option<String>,
    /// Cases past their choice deadline, on every page.
    pub total: i64,
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OverdueQuery {
    /// Cases on a page (1-500, default 100).
    #[param(schema_with = crate::web::openapi::limit)]
    limit: Option<String>,
    /// Where the page starts: the `next` of the page before.
    cursor: Option<String>,
}

/// Most overdue first, ties by case id.
#[utoipa::path(get, path = "/api/v1/choice/overdue", tag = "choice", params(OverdueQuery),
    responses((status = 200, body = OverdueList), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn overdue_choices(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    crate::web::api::ApiQuery(q): crate::web::api::ApiQuery<OverdueQuery>,
) -> ApiResult<Json<OverdueList>> {
    use crate::web::paging;
    let mut errors = FieldErrors::new();
    let limit = paging::limit(q.limit.as_deref(), &mut errors);
    let after = paging::cursor(q.cursor.as_deref(), super::OVERDUE_LIST, &mut errors);
    errors.into_result(|| ())?;
    let today = london_date(state.clock.now());
    let (mut rows, total) = super::overdue(&state.pool, &caller, today, after, limit).await?;
    let next = paging::split_page(
        &mut rows,
        limit,
        super::OVERDUE_LIST,
        super::overdue_position,
    );
    Ok(Json(OverdueList {
        items: rows
            .into_iter()
            .map(|r| OverdueItem {
                patient_id: r.patient_id,
                ward_code: r.ward_code,
                status: r.status,
                deadline: r.deadline,
            })
            .collect(),
        next,
        total,
    }))
}
