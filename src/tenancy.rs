//! Several hubs on one install: the second wall.
//!
//! The first wall is the application's own scoping ([`crate::scope`]): every query names the
//! caller's hub. The second is PostgreSQL's row-level security (migration
//! `20261208000001_several_hubs.sql`): on every table that holds a case's data the
//! application role sees only the rows of the hubs named by its connection, so a query that
//! forgot its hub still cannot read or write another hub's rows. The connection names them in
//! its application name (`homeward:HUB,HUB2`, [`application_name`]), which a transaction
//! pooler carries to every server connection it uses, and in the setting `homeward.hubs`
//! (migration `20261211000001_hub_wall_through_a_pooler.sql`).
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
///
/// `pooled`: the connections go through a transaction pooler (PgBouncer), which carries only
/// the application name from one transaction to the next ([`application_name`]).
pub fn pool_options(pooled: bool) -> sqlx::postgres::PgPoolOptions {
    sqlx::postgres::PgPoolOptions::new()
        .test_before_acquire(false)
        .after_connect(move |conn, _| Box::pin(set_on_acquire(conn, pooled)))
        .before_acquire(move |conn, meta| {
            Box::pin(async move {
                // a connection to a server that was the primary before a failover is closed
                if crate::db::failover::opened_before_switch(&meta) {
                    return Ok(false);
                }
                set_on_acquire(conn, pooled).await?;
                Ok(true)
            })
        })
}

/// Pool options for the server's own lookups before a request's caller is known (the
/// session, the user behind a session or token): every connection is set to [`SYSTEM`] once,
/// when it is made, and is never set again (the application's pool sets each connection it
/// hands out: [`pool_options`]). A connection is pinged before it is handed out (sqlx's
/// check, a round trip but no statement), so one that died while idle (the database
/// restarted) is replaced rather than failing the request, as the setting does in the
/// application's pool.
pub fn system_pool_options(pooled: bool) -> sqlx::postgres::PgPoolOptions {
    sqlx::postgres::PgPoolOptions::new()
        .test_before_acquire(true)
        .after_connect(move |conn, _| Box::pin(set_hubs(conn, SYSTEM, pooled)))
        .before_acquire(|_, meta| {
            Box::pin(async move { Ok(!crate::db::failover::opened_before_switch(&meta)) })
        })
}

/// Sets a pooled connection's hubs for the task about to use it: `homeward.hubs`, and the
/// application name the wall reads first ([`application_name`]).
pub async fn set_on_acquire(
    conn: &mut sqlx::PgConnection,
    pooled: bool,
) -> Result<(), sqlx::Error> {
    set_hubs(conn, &current(), pooled).await
}

/// Sets a connection to see `hubs`.
async fn set_hubs(
    conn: &mut sqlx::PgConnection,
    hubs: &str,
    pooled: bool,
) -> Result<(), sqlx::Error> {
    let name = application_name(hubs, pooled);
    // Behind a transaction pooler `homeward.hubs` would stay on whichever server connection
    // ran this, for the next client of another name to read: there it is cleared instead,
    // and the application name alone carries the hubs.
    let setting = if pooled { "" } else { hubs };
    sqlx::query(
        "SELECT set_config('homeward.hubs', $1, false), set_config('application_name', $2, false)",
    )
    .bind(setting)
    .bind(&*name)
    .execute(conn)
    .await?;
    Ok(())
}

/// The longest application name PostgreSQL keeps (NAMEDATALEN - 1 bytes); a longer one is
/// cut short.
const NAME_MAX: usize = 63;
/// What the wall looks for at the start of the application name (migration
/// `20261211000001_hub_wall_through_a_pooler.sql`).
const LABEL: &str = "homeward:";

/// The application name naming a connection's hubs: `homeward:HUB,HUB2`. A transaction
/// pooler sets it again on whichever server connection runs each transaction, where a
/// setting of our own (`homeward.hubs`) would stay behind on the server connection it was
/// set on. Hubs too long for an application name (a provider serving many hubs): plain
/// `homeward` when connected directly, so the wall reads `homeward.hubs`; behind a pooler,
/// `homeward:`, no hub at all, rather than a setting the pooler could hand to someone else.
pub fn application_name(hubs: &str, pooled: bool) -> std::borrow::Cow<'static, str> {
    let printable = hubs.bytes().all(|b| b.is_ascii_graphic());
    if printable && LABEL.len() + hubs.len() <= NAME_MAX {
        return format!("{LABEL}{hubs}").into();
    }
    if pooled {
        tracing::error!(
            hubs,
            "these hubs are too long to name in the application name, which is all a transaction pooler carries: the caller sees no hub; connect directly to serve it"
        );
        LABEL.into()
    } else {
        "homeward".into()
    }
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

    #[test]
    fn the_application_name_names_the_hubs_when_they_fit_and_otherwise_never_a_stale_setting() {
        assert_eq!(application_name("*", true), "homeward:*");
        assert_eq!(application_name("HUB,HUB2", false), "homeward:HUB,HUB2");
        let fits = "H".repeat(NAME_MAX - LABEL.len());
        assert_eq!(application_name(&fits, true), format!("homeward:{fits}"));
        let long = format!("{fits},X");
        // connected directly: the wall reads homeward.hubs
        assert_eq!(application_name(&long, false), "homeward");
        // behind a pooler: no hub, rather than whatever a server connection holds
        assert_eq!(application_name(&long, true), "homeward:");
        // PostgreSQL would turn these into '?': never a name the wall could misread
        assert_eq!(application_name("HÜB", true), "homeward:");
        assert_eq!(application_name("HUB 2", false), "homeward");
    }
}
