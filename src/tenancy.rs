//! Several hubs on one install: the second wall.
//!
//! The first wall is the application's own scoping ([`crate::scope`]): every query names the
//! caller's hub. The second is PostgreSQL's row-level security (migration
//! `20261208000001_several_hubs.sql`): on every table that holds a case's data the
//! application role sees only the rows of the hubs named by the setting `homeward.hubs`, so a
//! query that forgot its hub still cannot read or write another hub's rows.
//!
//! Each request runs in a [`scope`]; once the request's caller is known its extractor calls
//! [`enter`], and from then on every connection the request takes from the pool is set to
//! the caller's hubs before it is handed over ([`set_on_acquire`], the pool's
//! `before_acquire` and `after_connect` hooks). Work that belongs to no caller (the
//! hospital feed, the counters, lapsing holds, live events, the command line, and a
//! request's own sign-in before its caller is known) runs with [`SYSTEM`], every hub.

use std::sync::{Arc, Mutex};

/// Every hub: the server's own work, which belongs to no caller.
pub const SYSTEM: &str = "*";

tokio::task_local! {
    static REQUEST: Arc<Mutex<Option<Arc<str>>>>;
}

/// Runs a request (or any task acting for one caller) with a place for its caller's hubs.
pub async fn scope<F: std::future::Future>(fut: F) -> F::Output {
    REQUEST.scope(Arc::new(Mutex::new(None)), fut).await
}

/// Runs `fut` acting for the same caller as the current task (for work a request hands to
/// a task of its own).
pub fn carry<F: std::future::Future>(fut: F) -> impl std::future::Future<Output = F::Output> {
    let current = REQUEST.try_with(|cell| cell.clone()).ok();
    async move {
        match current {
            Some(cell) => REQUEST.scope(cell, fut).await,
            None => fut.await,
        }
    }
}

/// From now on, the current request's connections see only `hubs` (a caller's
/// [`crate::domain::Caller::hubs`]). Outside a request this does nothing.
pub fn enter(hubs: &str) {
    let _ = REQUEST.try_with(|cell| {
        let mut slot = cell.lock().unwrap_or_else(|e| e.into_inner());
        *slot = Some(Arc::from(hubs));
    });
}

/// The hubs the current task's connections see: its caller's, or [`SYSTEM`].
pub fn current() -> Arc<str> {
    REQUEST
        .try_with(|cell| cell.lock().unwrap_or_else(|e| e.into_inner()).clone())
        .ok()
        .flatten()
        .unwrap_or_else(|| Arc::from(SYSTEM))
}

/// Pool options for the application's own pool: every connection is set to the hubs of the
/// task that takes it, when it is made and each time it is taken from the pool.
///
/// The setting is itself a round trip to the server, so sqlx's own check of an idle
/// connection before handing it over (a ping) is switched off: a connection that has died
/// fails the setting instead, and the pool closes it and takes or opens another.
pub fn pool_options() -> sqlx::postgres::PgPoolOptions {
    sqlx::postgres::PgPoolOptions::new()
        .test_before_acquire(false)
        .after_connect(|conn, _| Box::pin(set_on_acquire(conn)))
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                // a connection to a server that was the primary before a failover is closed
                if crate::db::failover::opened_before_switch(&meta) {
                    return Ok(false);
                }
                set_on_acquire(conn).await?;
                Ok(true)
            })
        })
}

/// Sets a pooled connection's `homeward.hubs` for the task about to use it.
pub async fn set_on_acquire(conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    let hubs = current();
    sqlx::query("SELECT set_config('homeward.hubs', $1, false)")
        .bind(&*hubs)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_sees_its_callers_hubs_once_known_and_the_system_sees_every_hub() {
        assert_eq!(&*current(), SYSTEM);
        scope(async {
            assert_eq!(&*current(), SYSTEM, "before the caller is known");
            enter("HUB2");
            assert_eq!(&*current(), "HUB2");
            let carried = tokio::spawn(carry(async { current() })).await.unwrap();
            assert_eq!(&*carried, "HUB2", "a task the request hands work to");
            let stray = tokio::spawn(async { current() }).await.unwrap();
            assert_eq!(&*stray, SYSTEM);
        })
        .await;
        assert_eq!(&*current(), SYSTEM);
    }
}
