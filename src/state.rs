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
    /// Live events heard from the database, fanned out to this process's subscribers.
    pub live: crate::live::Live,
    /// Trusts, wards and code sets, read once and again when they change.
    pub reference: crate::refdata::ReferenceCache,
    /// The single sign-on provider, when one is configured.
    pub sso: Option<Arc<crate::accounts::sso::Sso>>,
    /// Places for requests being worked on ([`crate::web::guard`]).
    pub requests: crate::web::guard::RequestSlots,
}

impl AppState {
    /// The state of a running server: starts listening for live events (needs a tokio
    /// runtime).
    pub fn new(pool: PgPool, clock: Clock, config: Config) -> Self {
        let live = crate::live::Live::start(pool.clone());
        crate::cases::counts::start(pool.clone(), clock.clone());
        crate::market::commands::start_lapsing(
            pool.clone(),
            clock.clone(),
            std::time::Duration::from_secs(30),
        );
        let sso = config.oidc.clone().and_then(|oidc| {
            crate::accounts::sso::Sso::new(oidc)
                .map(Arc::new)
                .inspect_err(|e| tracing::error!(error = %e, "single sign-on is off"))
                .ok()
        });
        AppState {
            sso,
            reference: crate::refdata::ReferenceCache::following(&live),
            requests: crate::web::guard::RequestSlots::new(config.max_concurrent_requests),
            live,
            pool,
            clock,
            config: Arc::new(config),
        }
    }
}
