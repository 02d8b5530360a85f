//! Reads from a streaming replica (`serve --read-database-url`): reports and exports, which
//! read much and change nothing, go to a hot standby so that the primary keeps its time for
//! the pages people work on. Never a page that must show what its caller just wrote: only
//! the callers of [`crate::state::AppState::read_pool`] use it, and those are the reports.
//!
//! Staleness is bounded: before the replica is used, its lag is read (at most once a
//! second, [`Replica::usable`]) and when it is more than the configured bound, or it cannot
//! be reached, reads go to the primary instead.

use sqlx::PgPool;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a lag reading is trusted before it is read again.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The most positions of the primary remembered (one a check, at most one a second).
const REMEMBERED: usize = 3600;

/// A read replica and what was last learnt of its lag.
pub struct Replica {
    pool: PgPool,
    max_lag: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The last check: when, and whether the replica was usable.
    checked: Option<(Instant, bool)>,
    /// The primary's WAL position when it was read, oldest first.
    primary: VecDeque<(Instant, i64)>,
}

impl Replica {
    pub fn new(pool: PgPool, max_lag: Duration) -> Self {
        Replica {
            pool,
            max_lag,
            state: Mutex::new(State::default()),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Whether reads may go to the replica now: it answers, and either it is no standby
    /// (promoted: then it is current) or it has replayed everything the primary had written
    /// no more than `max_lag` ago.
    ///
    /// The bound is kept without any privilege beyond the application role's: at most once
    /// a second the primary's WAL position is read and remembered, then the replica's replay
    /// position; the replica holds every change the primary had made at the latest
    /// remembered moment whose position it has replayed.
    pub async fn usable(&self, primary: &PgPool) -> bool {
        let now = Instant::now();
        if let Ok(state) = self.state.lock()
            && let Some((at, ok)) = state.checked
            && now.duration_since(at) < CHECK_EVERY
        {
            return ok;
        }
        let ok = match self.read_positions(primary).await {
            Ok((_, None)) => true,
            Ok((position, Some(replayed))) => {
                let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                state.primary.push_back((now, position));
                while state.primary.len() > REMEMBERED {
                    state.primary.pop_front();
                }
                // the latest moment the replica is known to hold everything of
                let current_as_of = state
                    .primary
                    .iter()
                    .rev()
                    .find(|(_, p)| replayed >= *p)
                    .map(|(at, _)| *at);
                let ok = current_as_of.is_some_and(|at| now.duration_since(at) <= self.max_lag);
                if !ok {
                    tracing::info!(
                        behind_bytes = position - replayed,
                        "the read replica is behind: reading from the primary"
                    );
                }
                ok
            }
            Err(e) => {
                tracing::warn!(error = %e, "the read replica does not answer: reading from the primary");
                false
            }
        };
        if let Ok(mut state) = self.state.lock() {
            state.checked = Some((now, ok));
        }
        ok
    }

    /// The primary's WAL position, then the replica's replay position (`None` when the
    /// replica is not in recovery), as byte offsets.
    async fn read_positions(&self, primary: &PgPool) -> Result<(i64, Option<i64>), sqlx::Error> {
        let position: i64 =
            sqlx::query_scalar("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint")
                .fetch_one(primary)
                .await?;
        let replayed: Option<i64> = sqlx::query_scalar(
            "SELECT CASE WHEN pg_is_in_recovery() \
                    THEN (COALESCE(pg_last_wal_replay_lsn(), '0/0'::pg_lsn) - '0/0'::pg_lsn)::bigint END",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((position, replayed))
    }
}
