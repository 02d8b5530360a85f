//! The reference data API: the active national code sets (delay reasons, capacity types)
//! as CONTRACT.md lists them, served from the process's cache ([`crate::refdata`]).

pub use crate::refdata::{
    CapacityType, CtrReason, DelayReason, Items, ReferenceCache, Snapshot, TrustRow, WardRow,
    capacity_types, ctr_reasons, delay_reasons,
};

use crate::accounts::ApiCaller;
use crate::error::ApiResult;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub mod discharge;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_delay_reasons))
        .routes(routes!(list_capacity_types))
        .routes(routes!(discharge::list_discharge_destinations))
        .routes(routes!(discharge::list_discharge_methods))
}

#[utoipa::path(get, path = "/api/v1/reference/delay-reasons", tag = "reference",
    responses((status = 200, body = Items<DelayReason>)), security(("bearer" = [])))]
pub async fn list_delay_reasons(
    State(state): State<AppState>,
    _caller: ApiCaller,
) -> ApiResult<Json<Items<DelayReason>>> {
    Ok(Json(Items {
        items: state
            .reference
            .get(&state.pool)
            .await?
            .delay_reasons
            .clone(),
    }))
}

#[utoipa::path(get, path = "/api/v1/reference/capacity-types", tag = "reference",
    responses((status = 200, body = Items<CapacityType>)), security(("bearer" = [])))]
pub async fn list_capacity_types(
    State(state): State<AppState>,
    _caller: ApiCaller,
) -> ApiResult<Json<Items<CapacityType>>> {
    Ok(Json(Items {
        items: state
            .reference
            .get(&state.pool)
            .await?
            .capacity_types
            .clone(),
    }))
}
