//! The national lists a discharge is coded with: destinations within pathway (each return's
//! own categories, with the NHS Data Dictionary discharge destination each usually means)
//! and NHS Data Dictionary discharge methods. Read from versioned tables loaded by
//! migration; `GET /api/v1/reference/discharge-destinations` and `.../discharge-methods`.

use super::Items;
use crate::accounts::ApiCaller;
use crate::error::{ApiResult, AppError};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use sqlx::{FromRow, PgExecutor};

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct DischargeDestination {
    /// What `POST /api/v1/patients/{id}/discharge` takes as `destination`.
    pub code: String,
    pub label: String,
    /// The pathway this destination belongs to, 0 to 3.
    pub pathway: i16,
    /// Which national return lists it: `acute` or `community` (a trust's patients use its
    /// return's list).
    #[serde(rename = "return")]
    pub return_kind: String,
    /// The NHS Data Dictionary discharge destination code it usually means (2 digits).
    pub nhs_dd_code: String,
    pub code_set: String,
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct DischargeMethod {
    /// NHS Data Dictionary discharge method code.
    pub code: String,
    pub label: String,
}

/// The active destinations, of one return (`acute`, `community`) or of both, in the
/// returns' order.
pub async fn destinations(
    db: impl PgExecutor<'_>,
    return_kind: Option<&str>,
) -> Result<Vec<DischargeDestination>, AppError> {
    Ok(sqlx::query_as::<_, DischargeDestination>(
        "SELECT d.code, d.label, d.pathway, d.return_kind, d.nhs_dd_code, d.code_set \
         FROM discharge_destinations d JOIN code_sets s ON s.name = d.code_set \
         WHERE s.active AND ($1::text IS NULL OR d.return_kind = $1) ORDER BY d.sort_order",
    )
    .bind(return_kind)
    .fetch_all(db)
    .await?)
}

pub async fn methods(db: impl PgExecutor<'_>) -> Result<Vec<DischargeMethod>, AppError> {
    Ok(sqlx::query_as::<_, DischargeMethod>(
        "SELECT m.code, m.label FROM discharge_methods m JOIN code_sets s ON s.name = m.code_set \
         WHERE s.active ORDER BY m.sort_order",
    )
    .fetch_all(db)
    .await?)
}

#[utoipa::path(get, path = "/api/v1/reference/discharge-destinations", tag = "reference",
    responses((status = 200, body = Items<DischargeDestination>)), security(("bearer" = [])))]
pub async fn list_discharge_destinations(
    State(state): State<AppState>,
    _caller: ApiCaller,
) -> ApiResult<Json<Items<DischargeDestination>>> {
    Ok(Json(Items {
        items: destinations(&state.pool, None).await?,
    }))
}

#[utoipa::path(get, path = "/api/v1/reference/discharge-methods", tag = "reference",
    responses((status = 200, body = Items<DischargeMethod>)), security(("bearer" = [])))]
pub async fn list_discharge_methods(
    State(state): State<AppState>,
    _caller: ApiCaller,
) -> ApiResult<Json<Items<DischargeMethod>>> {
    Ok(Json(Items {
        items: methods(&state.pool).await?,
    }))
}
