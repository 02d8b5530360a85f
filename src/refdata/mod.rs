//! Reference data: the active national code sets (delay reasons, capacity types, criteria
//! to reside reasons), read from versioned tables loaded by migration, and the acute trusts
//! and wards; [`cache`] keeps them in memory. Nothing here knows about requests or the
//! application's state, so the state can hold the cache.

pub mod cache;

pub use cache::{ReferenceCache, Snapshot, TrustRow, WardRow};

use crate::error::AppError;
use serde::Serialize;
use sqlx::{FromRow, PgExecutor};

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
