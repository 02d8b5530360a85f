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
        .routes(routes!(get_offer, edit_offer))
        .routes(routes!(withdraw_offer))
        .routes(routes!(confirm_offer))
        .routes(routes!(confirm_all_offers))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OfferList {
    pub items: Vec<OfferJson>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next: Option<String>,
    /// Offers matching the filters (of those the caller may see), on every page.
    pub total: i64,
}

/// The tag of the offer list's cursors.
const CURSORS: &str = "capacity";

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
    /// A date and time (ISO 8601) or a date (the start of that day in England); defaults to
    /// now.
    pub available_from: Option<String>,
    /// A date and time (ISO 8601) or a date (the end of that day in England).
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

/// Which end of a day a plain date means.
#[derive(Clone, Copy)]
enum DayEnd {
    /// The start of that day (00:00 in England).
    Start,
    /// The end of that day (00:00 in England the day after).
    End,
}

/// An instant given as an ISO 8601 date and time, or as a plain date (`YYYY-MM-DD`, England's
/// calendar: the start or the end of that day).
fn instant(
    v: &Option<String>,
    field: &str,
    end: DayEnd,
    errors: &mut FieldErrors,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let s = v.as_deref().unwrap_or("").trim();
    if s.is_empty() {
        return None;
    }
    let t = parse_instant(s).or_else(|| {
        crate::domain::time::parse_date(s).map(|d| {
            let day = match end {
                DayEnd::Start => d,
                DayEnd::End => d + chrono::Duration::days(1),
            };
            crate::domain::time::london_to_utc(day.and_hms_opt(0, 0, 0).unwrap_or_default())
        })
    });
    if t.is_none() {
        errors.add(
            field,
            format!(
                "{field} must be a date (2026-12-01) or a date and time (2026-12-01T09:00:00Z)"
            ),
        );
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
    let available_from = instant(
        &body.available_from,
        "available_from",
        DayEnd::Start,
        &mut errors,
    );
    let available_until = instant(
        &body.available_until,
        "available_until",
        DayEnd::End,
        &mut errors,
    );
    let earliest_start = instant(
        &body.earliest_start,
        "earliest_start",
        DayEnd::Start,
        &mut errors,
    );
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
    /// Offers changed at or after this time (ISO 8601), to sync incrementally.
    updated_since: Option<String>,
    /// Offers on a page (1-500, default 100).
    #[param(schema_with = crate::web::openapi::limit)]
    limit: Option<String>,
    /// Where the page starts: the `next` of the page before.
    cursor: Option<String>,
}

impl OfferQuery {
    fn filter(&self) -> Result<(OfferFilter, Option<crate::web::paging::Position>, i64), AppError> {
        use crate::web::paging;
        let mut errors = FieldErrors::new();
        let updated_since = paging::updated_since(self.updated_since.as_deref(), &mut errors);
        let limit = paging::limit(self.limit.as_deref(), &mut errors);
        let after = paging::cursor(self.cursor.as_deref(), CURSORS, &mut errors);
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
        errors.into_result(|| {
            (
                OfferFilter {
                    pathway,
                    service_type: non_empty(&self.service_type),
                    available_on,
                    status,
                    updated_since,
                },
                after,
                limit,
            )
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
    let (filter, after, limit) = q.filter()?;
    let now = state.clock.now();
    let (mut offers, total) =
        offers::page(&state.pool, &caller, &filter, after, limit, now).await?;
    let next = crate::web::paging::split_page(&mut offers, limit, CURSORS, |o| {
        crate::web::paging::Position {
            at: o.updated_at,
            id: o.id,
        }
    });
    let stale = state.config.offer_stale_after;
    Ok(Json(OfferList {
        items: offers
            .into_iter()
            .map(|o| OfferJson::new(o, now, stale))
            .collect(),
        next,
        total,
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

/// What a provider may change on its offer (CONTRACT.md "Capacity offers (additions)").
#[derive(Deserialize, utoipa::ToSchema)]
pub struct OfferEditRequest {
    /// Places in all: never below those already reserved or used (409).
    #[schema(value_type = Option<i64>)]
    pub places: Option<serde_json::Value>,
    /// A date and time, or a date (the end of that day in England).
    pub available_until: Option<String>,
    pub notes: Option<String>,
    /// The offer's version as last read (required: missing is 422); a stale one is 409.
    pub version: Option<i32>,
}

#[utoipa::path(patch, path = "/api/v1/capacity/{id}", tag = "capacity", params(("id" = i64, Path)),
    request_body = OfferEditRequest,
    responses((status = 200, body = OfferJson), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn edit_offer(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<i64>,
    ApiJson(body): ApiJson<OfferEditRequest>,
) -> ApiResult<Json<OfferJson>> {
    let mut errors = FieldErrors::new();
    let places = match &body.places {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => {
            let n = v
                .as_i64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .and_then(|n| i32::try_from(n).ok());
            if n.is_none() {
                errors.add("places", "Places must be a whole number from 1 to 500");
            }
            n
        }
    };
    let available_until = instant(
        &body.available_until,
        "available_until",
        DayEnd::End,
        &mut errors,
    );
    if body.version.is_none() {
        errors.add(
            "version",
            "Give the offer's version as you last read it, so no one else's change is overwritten",
        );
    }
    errors.into_result(|| ())?;
    let edit = commands::OfferEdit {
        places,
        available_until,
        notes: body.notes,
        version: body.version,
    };
    let offer = commands::edit_offer(&state, &caller, id, edit)
        .await
        .map_err(|e| match e {
            AppError::Stale => AppError::conflict(
                "stale_version",
                "This offer changed since you read it: read it again and retry",
            ),
            e => e,
        })?;
    Ok(Json(OfferJson::new(
        offer,
        state.clock.now(),
        state.config.offer_stale_after,
    )))
}

/// How many offers "all still available" confirmed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConfirmedAll {
    pub confirmed: u64,
}

#[utoipa::path(post, path = "/api/v1/capacity/confirm", tag = "capacity",
    responses((status = 200, body = ConfirmedAll), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn confirm_all_offers(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> ApiResult<Json<ConfirmedAll>> {
    Ok(Json(ConfirmedAll {
        confirmed: commands::confirm_all_offers(&state, &caller).await?,
    }))
}
