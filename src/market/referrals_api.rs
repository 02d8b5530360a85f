//! `/api/v1/referrals`: the hub refers, providers decide.

use super::commands::{self, Decision};
use super::referrals::{self, ReferralJson};
use crate::accounts::ApiCaller;
use crate::domain::{PatientId, ReferralStatus};
use crate::error::{ApiResult, AppError, ErrorBody, FieldErrors};
use crate::state::AppState;
use crate::web::api::{ApiJson, ApiQuery};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_referrals, create_referral))
        .routes(routes!(get_referral))
        .routes(routes!(decide_referral))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ReferralList {
    pub items: Vec<ReferralJson>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewReferralRequest {
    #[schema(value_type = i64)]
    pub patient_id: PatientId,
    pub offer_id: i64,
}

#[utoipa::path(post, path = "/api/v1/referrals", tag = "referrals", request_body = NewReferralRequest,
    responses((status = 201, body = ReferralJson), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_referral(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(body): ApiJson<NewReferralRequest>,
) -> ApiResult<(StatusCode, Json<ReferralJson>)> {
    let mut made = commands::refer(&state, &caller, body.patient_id, &[body.offer_id]).await?;
    let referral = made
        .pop()
        .ok_or(AppError::Internal(anyhow::anyhow!("no referral made")))?;
    Ok((StatusCode::CREATED, Json(referral.into())))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReferralQuery {
    /// pending, accepted, declined or withdrawn.
    status: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/referrals", tag = "referrals", params(ReferralQuery),
    responses((status = 200, body = ReferralList), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_referrals(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<ReferralQuery>,
) -> ApiResult<Json<ReferralList>> {
    let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(s.parse::<ReferralStatus>().map_err(|_| {
            AppError::Validation(FieldErrors::single(
                "status",
                "Status must be pending, accepted, declined or withdrawn",
            ))
        })?),
    };
    let rows = referrals::list(&state.pool, &caller, status).await?;
    Ok(Json(ReferralList {
        items: rows.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/referrals/{id}", tag = "referrals", params(("id" = i64, Path)),
    responses((status = 200, body = ReferralJson), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_referral(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<i64>,
) -> ApiResult<Json<ReferralJson>> {
    Ok(Json(referrals::get(&state.pool, &caller, id).await?.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct DecisionRequest {
    /// accept or decline.
    pub decision: String,
    /// When declining: no_capacity, needs_too_high, outside_area, funding, staffing, infection or other.
    pub reason: Option<String>,
    /// Optional free text with a decline.
    pub detail: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/referrals/{id}/decision", tag = "referrals", params(("id" = i64, Path)),
    request_body = DecisionRequest,
    responses((status = 200, body = ReferralJson), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn decide_referral(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<DecisionRequest>,
) -> ApiResult<Json<ReferralJson>> {
    caller.require(&[crate::domain::Role::Provider])?;
    let decision = match body.decision.trim() {
        "accept" => Decision::Accept,
        "decline" => Decision::Decline {
            reason: body.reason.unwrap_or_default().trim().to_string(),
            detail: body.detail.unwrap_or_default(),
        },
        _ => {
            return Err(AppError::Validation(FieldErrors::single(
                "decision",
                "Decision must be accept or decline",
            ))
            .into());
        }
    };
    Ok(Json(
        commands::decide(&state, &caller, id, decision)
            .await?
            .into(),
    ))
}
