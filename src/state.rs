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
    /// A streaming replica for reports and exports (`--read-database-url`).
    pub replica: Option<Arc<crate::db::replica::Replica>>,
    /// Connections with a session of their own, for what a transaction pooler cannot carry
    /// (the demo's start-up lock; the live-event listener has its own): the pool itself
    /// unless `--listen-database-url` names a direct connection.
    pub direct: PgPool,
    /// Where the server looks up a request's session and caller before it knows the
    /// caller's hubs: connections that see every hub and are never set again
    /// ([`crate::db::connect_system`]); the pool itself unless [`with_system`](Self::with_system).
    pub system: PgPool,
}

impl AppState {
    /// The state of a running server: starts listening for live events and the server's
    /// periodic work (folding the case counters, lapsing offers, the feed's message
    /// retention). Needs a tokio runtime.
    pub fn new(pool: PgPool, clock: Clock, config: Config) -> Self {
        Self::with_direct(pool.clone(), pool, clock, config)
    }

    /// [`new`](Self::new) with `direct` connections for live events and session locks, when
    /// `pool` goes through a transaction pooler (`--listen-database-url`).
    pub fn with_direct(pool: PgPool, direct: PgPool, clock: Clock, config: Config) -> Self {
        let live = crate::live::Live::start(direct.clone());
        crate::cases::counts::start(pool.clone(), clock.clone());
        crate::market::commands::start_lapsing(
            pool.clone(),
            clock.clone(),
            std::time::Duration::from_secs(30),
        );
        crate::hl7::feed::start_retention(pool.clone(), clock.clone(), config.hl7_keep);
        Self::with_live(pool, direct, clock, config, live)
    }

    /// The state of a one-off command (`homeward hl7 replay`): the same pool, clock and
    /// configuration, but nothing running in the background: no live-event listener, no
    /// periodic work that would outlive (or race) the command.
    pub fn offline(pool: PgPool, clock: Clock, config: Config) -> Self {
        let direct = pool.clone();
        Self::with_live(pool, direct, clock, config, crate::live::Live::detached())
    }

    fn with_live(
        pool: PgPool,
        direct: PgPool,
        clock: Clock,
        config: Config,
        live: crate::live::Live,
    ) -> Self {
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
            direct,
            system: pool.clone(),
            pool,
            clock,
            config: Arc::new(config),
            replica: None,
        }
    }

    /// Looks up sessions and callers on `system` ([`crate::db::connect_system`]).
    pub fn with_system(mut self, system: PgPool) -> Self {
        self.system = system;
        self
    }

    /// Sends reports and exports to a read replica while it is within `max_lag` of the
    /// primary.
    pub fn with_replica(mut self, pool: PgPool, max_lag: std::time::Duration) -> Self {
        self.replica = Some(Arc::new(crate::db::replica::Replica::new(pool, max_lag)));
        self
    }

    /// Where a report or an export reads: the replica when one is configured and current,
    /// else the primary. Never for a page that must show what its caller has just written.
    pub async fn read_pool(&self) -> &PgPool {
        match &self.replica {
            Some(replica) if replica.usable(&self.pool).await => replica.pool(),
            _ => &self.pool,
        }
    }
}
