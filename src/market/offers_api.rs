//! `/api/v1/capacity`: providers post, confirm and withdraw offers; the hub lists them.

use super::commands;
use super::offers::{self, OfferDraft, OfferFilter, OfferJson};
use crate::accounts::ApiCaller;
use crate::domain::OfferStatus;
use crate::domain::time::{parse_date, parse_instant};
use crate::error::{ApiResult, AppError, ErrorBody, FieldErrors};
use crate::state::AppState;
use crate::web::Id;
use crate::web::api::{ApiJson, ApiQuery};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_offers, create_offer))
        .routes(routes!(get_offer))
        .routes(routes!(withdraw_offer))
        .routes(routes!(confirm_offer))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OfferList {
    pub items: Vec<OfferJson>,
}

/// A list of codes, sent either as a JSON array or as one comma-separated string.
#[derive(Deserialize, Debug, Clone, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Codes {
    List(Vec<String>),
    Text(String),
}

impl Codes {
    fn into_vec(self) -> Vec<String> {
        match self {
            Codes::List(v) => v
                .into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            Codes::Text(s) => s
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewOfferRequest {
    /// A capacity type code; it fixes the pathway.
    #[schema(example = "residential")]
    pub service_type: Option<String>,
    /// Beds for bed-based types, packages for home-based ones.
    pub places: Option<serde_json::Value>,
    /// ISO 8601; defaults to now.
    pub available_from: Option<String>,
    /// ISO 8601.
    pub available_until: Option<String>,
    /// Area covered; postcode districts named in it (e.g. `LS6, LS7`) are used for matching.
    pub area: Option<String>,
    /// any, female or male.
    pub gender: Option<String>,
    pub specialisms: Option<Codes>,
    pub funding: Option<Codes>,
    pub earliest_start: Option<String>,
    pub notes: Option<String>,
    /// Optional: must be the caller's own organisation.
    pub org_code: Option<String>,
}

fn instant(
    v: &Option<String>,
    field: &str,
    errors: &mut FieldErrors,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let s = v.as_deref().unwrap_or("").trim();
    if s.is_empty() {
        return None;
    }
    let t = parse_instant(s);
    if t.is_none() {
        errors.add(field, format!("{field} must be an ISO 8601 date and time"));
    }
    t
}

#[utoipa::path(post, path = "/api/v1/capacity", tag = "capacity", request_body = NewOfferRequest,
    responses((status = 201, body = OfferJson), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_offer(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(body): ApiJson<NewOfferRequest>,
) -> ApiResult<(StatusCode, Json<OfferJson>)> {
    caller.require(&[crate::domain::Role::Provider])?;
    if body
        .org_code
        .as_deref()
        .is_some_and(|o| o != caller.org_code)
    {
        return Err(AppError::Forbidden.into());
    }
    let mut errors = FieldErrors::new();
    let available_from = instant(&body.available_from, "available_from", &mut errors);
    let available_until = instant(&body.available_until, "available_until", &mut errors);
    let earliest_start = instant(&body.earliest_start, "earliest_start", &mut errors);
    let places = match &body.places {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let draft = OfferDraft {
        service_type: body.service_type.unwrap_or_default(),
        places,
        available_from,
        available_until,
        area: body.area.unwrap_or_default(),
        gender: body.gender.unwrap_or_default(),
        specialisms: body.specialisms.map(Codes::into_vec).unwrap_or_default(),
        funding: body.funding.map(Codes::into_vec).unwrap_or_default(),
        earliest_start,
        notes: body.notes.unwrap_or_default(),
    };
    let now = state.clock.now();
    let new = draft.validate(&state.pool, now, errors).await?;
    let offer = commands::create_offer(&state, &caller, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(OfferJson::new(offer, now, state.config.offer_stale_after)),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OfferQuery {
    /// 1, 2 or 3.
    #[param(schema_with = crate::web::openapi::offer_pathway)]
    pathway: Option<String>,
    service_type: Option<String>,
    /// `YYYY-MM-DD`: offers available at some time that day.
    available_on: Option<String>,
    /// open, full, withdrawn or expired.
    #[param(schema_with = crate::web::openapi::offer_status)]
    status: Option<String>,
}

impl OfferQuery {
    fn filter(&self) -> Result<OfferFilter, AppError> {
        let mut errors = FieldErrors::new();
        let non_empty = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let pathway = non_empty(&self.pathway).and_then(|p| match p.parse::<i16>() {
            Ok(n) if (1..=3).contains(&n) => Some(n),
            _ => {
                errors.add("pathway", "Pathway must be 1, 2 or 3");
                None
            }
        });
        let available_on = non_empty(&self.available_on).and_then(|d| {
            let parsed = parse_date(&d);
            if parsed.is_none() {
                errors.add(
                    "available_on",
                    "available_on must be a date like 2026-11-30",
                );
            }
            parsed
        });
        let status = non_empty(&self.status).and_then(|s| {
            s.parse::<OfferStatus>()
                .map_err(|_| {
                    errors.add("status", "Status must be open, full, withdrawn or expired")
                })
                .ok()
        });
        errors.into_result(|| OfferFilter {
            pathway,
            service_type: non_empty(&self.service_type),
            available_on,
            status,
        })
    }
}

#[utoipa::path(get, path = "/api/v1/capacity", tag = "capacity", params(OfferQuery),
    responses((status = 200, body = OfferList), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_offers(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<OfferQuery>,
) -> ApiResult<Json<OfferList>> {
    let filter = q.filter()?;
    let now = state.clock.now();
    let offers = offers::list(&state.pool, &caller, &filter, now).await?;
    let stale = state.config.offer_stale_after;
    Ok(Json(OfferList {
        items: offers
            .into_iter()
            .map(|o| OfferJson::new(o, now, stale))
            .collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/capacity/{id}", tag = "capacity", params(("id" = i64, Path)),
    responses((status = 200, body = OfferJson), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_offer(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<i64>,
) -> ApiResult<Json<OfferJson>> {
    let now = state.clock.now();
    let offer = offers::get(&state.pool, &caller, id, now).await?;
    Ok(Json(OfferJson::new(
        offer,
        now,
        state.config.offer_stale_after,
    )))
}

#[utoipa::path(post, path = "/api/v1/capacity/{id}/withdraw", tag = "capacity", params(("id" = i64, Path)),
    responses((status = 200, body = OfferJson), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn withdraw_offer(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<i64>,
) -> ApiResult<Json<OfferJson>> {
    let offer = commands::withdraw_offer(&state, &caller, id).await?;
    Ok(Json(OfferJson::new(
        offer,
        state.clock.now(),
        state.config.offer_stale_after,
    )))
}

#[utoipa::path(post, path = "/api/v1/capacity/{id}/confirm", tag = "capacity", params(("id" = i64, Path)),
    responses((status = 200, body = OfferJson), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn confirm_offer(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<i64>,
) -> ApiResult<Json<OfferJson>> {
    let offer = commands::confirm_offer(&state, &caller, id).await?;
    Ok(Json(OfferJson::new(
        offer,
        state.clock.now(),
        state.config.offer_stale_after,
    )))
}
