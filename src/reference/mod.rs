//! Reference data: the active national code sets (delay reasons, capacity types, criteria to
//! reside reasons), read from versioned tables loaded by migration.

use crate::accounts::ApiCaller;
use crate::error::{ApiResult, AppError};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use sqlx::{FromRow, PgExecutor};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub mod discharge;

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct DelayReason {
    pub code: String,
    pub label: String,
    /// Which sector must act: acute, hub, community, social_care, housing, patient_family, other.
    pub sector: String,
    pub code_set: String,
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct CapacityType {
    pub code: String,
    pub label: String,
    pub pathway: i16,
    /// bed, package or place.
    pub unit: String,
    pub code_set: String,
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct CtrReason {
    pub code: String,
    pub label: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Items<T> {
    pub items: Vec<T>,
}

pub async fn delay_reasons(db: impl PgExecutor<'_>) -> Result<Vec<DelayReason>, AppError> {
    Ok(sqlx::query_as::<_, DelayReason>(
        "SELECT d.code, d.label, d.sector, d.code_set FROM delay_reasons d \
         JOIN code_sets s ON s.name = d.code_set WHERE s.active ORDER BY d.sort_order",
    )
    .fetch_all(db)
    .await?)
}

pub async fn capacity_types(db: impl PgExecutor<'_>) -> Result<Vec<CapacityType>, AppError> {
    Ok(sqlx::query_as::<_, CapacityType>(
        "SELECT c.code, c.label, c.pathway, c.unit, c.code_set FROM capacity_types c \
         JOIN code_sets s ON s.name = c.code_set WHERE s.active ORDER BY c.sort_order",
    )
    .fetch_all(db)
    .await?)
}

pub async fn ctr_reasons(db: impl PgExecutor<'_>) -> Result<Vec<CtrReason>, AppError> {
    Ok(sqlx::query_as::<_, CtrReason>(
        "SELECT c.code, c.label FROM ctr_reasons c JOIN code_sets s ON s.name = c.code_set \
         WHERE s.active ORDER BY c.sort_order",
    )
    .fetch_all(db)
    .await?)
}

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
        items: delay_reasons(&state.pool).await?,
    }))
}

#[utoipa::path(get, path = "/api/v1/reference/capacity-types", tag = "reference",
    responses((status = 200, body = Items<CapacityType>)), security(("bearer" = [])))]
pub async fn list_capacity_types(
    State(state): State<AppState>,
    _caller: ApiCaller,
) -> ApiResult<Json<Items<CapacityType>>> {
    Ok(Json(Items {
        items: capacity_types(&state.pool).await?,
    }))
}
