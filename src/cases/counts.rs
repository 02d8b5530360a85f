//! Keeping the case counters small. A trigger appends a row to `case_counts` for every change
//! to a case's trust, ward, status, pathway, delay reason or hour of readiness (see the
//! migration), so counts read in any transaction are exact without two changes ever waiting
//! on one counter row. Every server process folds those rows together every few seconds, and
//! folds the hours more than [`KEEP_HOURS`] before its clock into one; an advisory lock lets
//! one process at a time do it, and a database with nothing new to fold writes almost
//! nothing.

use crate::domain::time::Clock;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::time::Duration;

/// Hours of readiness kept apart: enough for any "waiting 24 hours or more" line.
pub const KEEP_HOURS: i64 = 48;

/// The advisory lock the folding holds (any number unique to Homeward).
const LOCK_KEY: i64 = 0x486f_6d65_0002;

/// How often each process tries to fold the counters.
pub const EVERY: Duration = Duration::from_secs(2);

/// Folds the counters once, folding the hours before `now - KEEP_HOURS` together, unless
/// another process is doing it. Returns the rows folded.
pub async fn compact(pool: &PgPool, now: DateTime<Utc>) -> Result<i64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(LOCK_KEY)
        .fetch_one(&mut *tx)
        .await?;
    let folded = if locked {
        sqlx::query_scalar("SELECT compact_case_counts($1)")
            .bind(now - chrono::Duration::hours(KEEP_HOURS))
            .fetch_one(&mut *tx)
            .await?
    } else {
        0
    };
    tx.commit().await?;
    Ok(folded)
}

/// Folds the counters every [`EVERY`] for as long as the pool is open.
pub fn start(pool: PgPool, clock: Clock) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(EVERY).await;
            match compact(&pool, clock.now()).await {
                Ok(_) => {}
                Err(sqlx::Error::PoolClosed) => return,
                Err(e) => tracing::warn!(error = %e, "folding the case counters failed"),
            }
        }
    });
}
