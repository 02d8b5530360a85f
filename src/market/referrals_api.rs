//! `/api/v1/referrals`: the hub refers, providers decide; and
//! `/api/v1/patients/{id}/find-care`: the offers the hub could refer a patient to, ranked as
//! the find-care page ranks them ([`super::find_care`]).

use super::commands::{self, Decision};
use super::find_care::{self, RankedOffer};
use super::offers::OfferJson;
use super::referrals::{self, ReferralJson};
use crate::accounts::ApiCaller;
use crate::domain::{PatientId, ReferralStatus};
use crate::error::{ApiResult, AppError, ErrorBody, FieldErrors};
use crate::state::AppState;
use crate::web::Id;
use crate::web::api::{ApiJson, ApiQuery};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_referrals, create_referral))
        .routes(routes!(get_referral))
        .routes(routes!(decide_referral))
        .routes(routes!(book_referral))
        .routes(routes!(find_care_for_patient))
}

/// A page of referrals (CONTRACT.md "Lists"): newest change first, ties by id.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReferralList {
    pub items: Vec<ReferralJson>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next: Option<String>,
    /// Referrals matching the filters (of those the caller may see), on every page.
    pub total: i64,
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
    #[param(schema_with = crate::web::openapi::referral_status)]
    status: Option<String>,
    /// Referrals changed at or after this time (ISO 8601), to sync incrementally.
    updated_since: Option<String>,
    /// Referrals on a page (1-500, default 100).
    #[param(schema_with = crate::web::openapi::limit)]
    limit: Option<String>,
    /// Where the page starts: the `next` of the page before.
    cursor: Option<String>,
}

/// The tag of the referral list's cursors.
const CURSORS: &str = "referrals";

#[utoipa::path(get, path = "/api/v1/referrals", tag = "referrals", params(ReferralQuery),
    responses((status = 200, body = ReferralList), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_referrals(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<ReferralQuery>,
) -> ApiResult<Json<ReferralList>> {
    use crate::web::paging;
    let mut errors = FieldErrors::new();
    let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => s
            .parse::<ReferralStatus>()
            .map_err(|_| {
                errors.add(
                    "status",
                    "Status must be pending, accepted, declined or withdrawn",
                )
            })
            .ok(),
    };
    let updated_since = paging::updated_since(q.updated_since.as_deref(), &mut errors);
    let limit = paging::limit(q.limit.as_deref(), &mut errors);
    let after = paging::cursor(q.cursor.as_deref(), CURSORS, &mut errors);
    errors.into_result(|| ())?;
    let filter = referrals::ReferralFilter {
        status,
        updated_since,
    };
    let (mut rows, total) = referrals::page(&state.pool, &caller, &filter, after, limit).await?;
    let next = paging::split_page(&mut rows, limit, CURSORS, |r| paging::Position {
        at: r.updated_at,
        id: r.id,
    });
    Ok(Json(ReferralList {
        items: rows.into_iter().map(Into::into).collect(),
        next,
        total,
    }))
}

#[utoipa::path(get, path = "/api/v1/referrals/{id}", tag = "referrals", params(("id" = i64, Path)),
    responses((status = 200, body = ReferralJson), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_referral(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<i64>,
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
    /// When accepting, optional: the date the provider plans to admit (YYYY-MM-DD).
    pub admission_date: Option<String>,
    /// When accepting, optional: whom the hub and the ward should contact, and how.
    pub contact: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/referrals/{id}/decision", tag = "referrals", params(("id" = i64, Path)),
    request_body = DecisionRequest,
    responses((status = 200, body = ReferralJson), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn decide_referral(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<i64>,
    ApiJson(body): ApiJson<DecisionRequest>,
) -> ApiResult<Json<ReferralJson>> {
    caller.require(&[crate::domain::Role::Provider])?;
    let decision = match body.decision.trim() {
        "accept" => {
            let admission_date = match body
                .admission_date
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                None => None,
                Some(d) => Some(crate::domain::time::parse_date(d).ok_or_else(|| {
                    AppError::Validation(FieldErrors::single(
                        "admission_date",
                        "The admission date must be a real date, like 2026-12-01",
                    ))
                })?),
            };
            Decision::Accept {
                admission_date,
                contact: body.contact.unwrap_or_default(),
            }
        }
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

/// An open offer ranked for one patient: the offer, and why it ranks where it does.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RankedOfferJson {
    /// 1 for the best fit.
    pub rank: usize,
    pub offer: OfferJson,
    /// The provider's name.
    pub org_name: String,
    /// The capacity type's label.
    pub service_label: String,
    /// `bed` or `package`.
    pub unit: String,
    /// The offer covers the patient's postcode district (an offer naming none covers anywhere).
    pub covers_district: bool,
    /// Specialism codes the needs summary mentions that the offer has.
    pub matched_specialisms: Vec<&'static str>,
    /// When the place could start: the offer's earliest start, or now if that has passed.
    pub starts_at: DateTime<Utc>,
    /// The patient already has a pending or accepted referral to this offer.
    pub already_referred: bool,
}

impl RankedOfferJson {
    fn new(rank: usize, r: RankedOffer, now: DateTime<Utc>, stale_after: Duration) -> Self {
        RankedOfferJson {
            rank,
            org_name: r.offer.org_name.clone(),
            service_label: r.offer.service_label.clone(),
            unit: r.offer.unit.clone(),
            covers_district: r.covers,
            matched_specialisms: r.matched,
            starts_at: r.starts,
            already_referred: r.referred,
            offer: OfferJson::new(r.offer, now, stale_after),
        }
    }
}

/// The offers a patient awaiting care could go to, best fit first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FindCareJson {
    #[schema(value_type = i64)]
    pub patient_id: PatientId,
    /// The pathway the patient awaits care on (1-3).
    pub pathway: i16,
    /// The patient's postcode district (outward code), which offers are matched against.
    pub postcode_district: String,
    /// Specialism codes the patient's needs summary mentions.
    pub needs_specialisms: Vec<&'static str>,
    /// Open offers on the patient's pathway, ranked: covering the district first, then most
    /// specialisms matched, soonest start, most recently confirmed. Offers that cannot take
    /// the patient's sex are left out.
    pub items: Vec<RankedOfferJson>,
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/find-care", tag = "referrals", params(("id" = i64, Path)),
    responses((status = 200, body = FindCareJson), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The patient is not awaiting care on pathway 1, 2 or 3")),
    security(("bearer" = [])))]
pub async fn find_care_for_patient(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<PatientId>,
) -> ApiResult<Json<FindCareJson>> {
    let now = state.clock.now();
    let stale_after = state.config.offer_stale_after;
    let mut conn = state.pool.acquire().await.map_err(AppError::from)?;
    let found = find_care::for_patient(&mut conn, &caller, id, now, stale_after).await?;
    drop(conn);
    Ok(Json(FindCareJson {
        patient_id: found.case.id,
        pathway: found.pathway.number(),
        postcode_district: found.district,
        needs_specialisms: found.wanted,
        items: found
            .offers
            .into_iter()
            .enumerate()
            .map(|(i, r)| RankedOfferJson::new(i + 1, r, now, stale_after))
            .collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/referrals/{id}/book", tag = "referrals", params(("id" = i64, Path)),
    responses((status = 200, body = ReferralJson), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Not a held place, the hold lapsed, or another place is booked")),
    security(("bearer" = [])))]
/// The hub books a place held for the patient to choose (when acceptances are held): the
/// patient's care is arranged with it and the other held places are given back.
pub async fn book_referral(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<i64>,
) -> ApiResult<Json<ReferralJson>> {
    Ok(Json(commands::book_held(&state, &caller, id).await?.into()))
}
