//! The shared context every handler receives: the pool, the clock and the configuration.

use crate::config::Config;
use crate::domain::time::Clock;
use sqlx::PgPool;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub clock: Clock,
    pub config: Arc<Config>,
}

impl AppState {
    pub fn new(pool: PgPool, clock: Clock, config: Config) -> Self {
        AppState {
            pool,
            clock,
            config: Arc::new(config),
        }
    }
}
