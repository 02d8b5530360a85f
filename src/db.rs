//! Connecting to PostgreSQL: waits for the server (bounded), creates the database when it is
//! missing and applies the embedded migrations, so `homeward serve` works on a fresh machine
//! and in a container that starts before its database. When it cannot connect it says why
//! in one line ("too many clients", "password authentication failed", ...), never a bare
//! "pool timed out".
//!
//! **Two roles.** `DATABASE_URL` names the *owner*: it runs the migrations, owns every table
//! and grants the *application role* what the server needs, at every start. The server's pool
//! connects as the application role (`HOMEWARD_APP_DATABASE_URL`; by default the owner's
//! server and database as user `homeward_app`, which the owner creates when it is missing).
//! The application role owns nothing: it reads and writes rows, but on the append-only tables
//! (the access log, case history, and any table guarded by the `refuse_change()` trigger) it
//! may only read and insert, so no bug or injected statement can TRUNCATE, UPDATE, DELETE or
//! disable the triggers that guard them. The server refuses to start if the application role
//! could ([`roles`]).

use anyhow::{Context, anyhow, bail};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};
use std::str::FromStr;
use std::time::{Duration, Instant};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

pub mod failover;
pub mod replica;
pub mod roles;

/// How to connect: pool size, how long to wait for the server at start, the application
/// role's URL and the longest a statement may run.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub pool_size: u32,
    pub wait: Duration,
    /// The application role's connection URL; `None`: the owner's with user
    /// [`roles::DEFAULT_APP_ROLE`] and no password.
    pub app_url: Option<String>,
    /// PostgreSQL's `statement_timeout` for the application's connections.
    pub statement_timeout: Option<Duration>,
    /// Whether to prepare the database as its owner first (migrations, the application
    /// role); when not, `app_url` is required, the owner is never connected to, and the
    /// database must already be prepared (`homeward migrate`).
    pub as_owner: bool,
    /// The application role's URL leads to a transaction pooler (PgBouncer with
    /// `pool_mode = transaction`): no session settings are sent when connecting (the
    /// pooler's `connect_query` sets them on its server connections), and the hubs' wall
    /// travels in the application name only ([`crate::tenancy::application_name`]).
    pub transaction_pooler: bool,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            pool_size: 20,
            wait: Duration::from_secs(30),
            app_url: None,
            statement_timeout: None,
            as_owner: true,
            transaction_pooler: false,
        }
    }
}

impl DbOptions {
    /// The same options for a connection made directly, not through a transaction pooler.
    fn direct(&self) -> DbOptions {
        DbOptions {
            transaction_pooler: false,
            ..self.clone()
        }
    }
}

/// Prepares the database as its owner (creates it if missing, migrates, grants the
/// application role) and returns a pool connected as the application role. With
/// `as_owner: false` it only checks, as the application role, that the database is prepared
/// and that the role cannot rewrite the audit.
pub async fn connect(database_url: &str, db: &DbOptions) -> anyhow::Result<PgPool> {
    let app = if db.as_owner {
        let owner = owner_options(database_url)?;
        wait_for_server(&owner, db.wait).await?;
        let app = app_options(&owner, db.app_url.as_deref())?;
        prepare(&owner, app.get_username()).await?;
        app
    } else {
        let Some(url) = db.app_url.as_deref() else {
            bail!(
                "without the owner (--no-migrate), HOMEWARD_APP_DATABASE_URL must name the application role"
            );
        };
        let app = PgConnectOptions::from_str(url)
            .context("HOMEWARD_APP_DATABASE_URL is not a valid PostgreSQL URL")?
            .log_statements(tracing::log::LevelFilter::Trace);
        wait_for_server(&app, db.wait).await?;
        let mut conn = sqlx::PgConnection::connect_with(&app)
            .await
            .map_err(|e| anyhow!("connecting to PostgreSQL at {}: {e}", describe(&app)))?;
        check_prepared(&mut conn).await?;
        roles::check_self(&mut conn).await?;
        conn.close().await.ok();
        app
    };
    let app = with_settings(app, db);
    // the row-level wall between hubs: each connection is set to the hubs of the task that
    // takes it (src/tenancy.rs)
    let pool = crate::tenancy::pool_options(db.transaction_pooler)
        .max_connections(db.pool_size)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(app.clone())
        .await
        .map_err(|e| {
            anyhow!(
                "connecting to PostgreSQL at {} as the application role {}: {e}",
                describe(&app),
                app.get_username()
            )
        })?;
    Ok(pool)
}

/// A pool on a read replica (`--read-database-url`), as the application role: the URL's
/// server and database, and its user when `HOMEWARD_APP_DATABASE_URL` names the role
/// (give the replica's URL with that role's credentials then); otherwise the default
/// application role with no password, as for the primary. Nothing is prepared: a replica
/// is read-only and receives the primary's migrations and roles.
pub fn connect_replica(read_url: &str, db: &DbOptions) -> anyhow::Result<PgPool> {
    let given = PgConnectOptions::from_str(read_url)
        .context("HOMEWARD_READ_DATABASE_URL is not a valid PostgreSQL URL")?
        .log_statements(tracing::log::LevelFilter::Trace);
    let options = if db.app_url.is_some() {
        given
    } else {
        given.username(roles::DEFAULT_APP_ROLE).password("")
    };
    // a replica is connected to directly, never through the primary's transaction pooler
    let options = with_settings(options, &db.direct()).application_name("homeward-read");
    // connected when first used: a replica that is down at start only sends reads to the
    // primary until it answers (db/replica.rs)
    tracing::info!(replica = %describe(&options), "reports and exports read from a replica when it is current");
    Ok(crate::tenancy::pool_options(false)
        .max_connections(db.pool_size.div_ceil(2).max(1))
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy_with(options))
}

/// The server's own pool for what it looks up before a request's caller is known (sessions,
/// the user behind a session or API token): the application pool's server, role and
/// settings, every connection set once to see every hub
/// ([`crate::tenancy::system_pool_options`]), so a lookup costs its statement and sqlx's
/// ping, not also a setting. A quarter of `--db-pool-size` (at least 2) more connections;
/// connected when first used.
pub fn connect_system(pool: &PgPool, db: &DbOptions) -> PgPool {
    crate::tenancy::system_pool_options(db.transaction_pooler)
        .max_connections((db.pool_size / 4).max(2))
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with((*pool.connect_options()).clone())
}

/// A small pool of direct connections (not through a pooler) as the application role, for
/// what needs a session of its own: listening for live events (LISTEN) and the demo's
/// start-up lock (`--listen-database-url`). Its connections name no hub, so they see no
/// case; connected when first used.
pub fn connect_direct(url: &str, db: &DbOptions) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(url)
        .context("HOMEWARD_LISTEN_DATABASE_URL is not a valid PostgreSQL URL")?
        .log_statements(tracing::log::LevelFilter::Trace);
    let options = with_settings(options, &db.direct()).application_name("homeward-listen");
    Ok(PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options))
}

/// The session settings of every application connection (none through a transaction
/// pooler, which would keep them on whichever server connection they were sent to).
fn with_settings(options: PgConnectOptions, db: &DbOptions) -> PgConnectOptions {
    if db.transaction_pooler {
        // no hub until the pool sets the caller's (src/tenancy.rs)
        return options.application_name("homeward:");
    }
    let mut settings = vec![
        // Homeward's queries are short; JIT compiling them costs more than it saves (it
        // once tripled the flow report's time).
        ("jit", "off".to_string()),
        // A second guard against a connection left inside a transaction (a request
        // cancelled mid-BEGIN, sqlx#4393): the server ends such a session, and its
        // locks, after this long. No Homeward transaction waits on anything but
        // PostgreSQL between statements.
        ("idle_in_transaction_session_timeout", "30s".to_string()),
    ];
    if let Some(t) = db.statement_timeout {
        // no statement outlives the request that started it by much (web/guard.rs)
        settings.push(("statement_timeout", format!("{}ms", t.as_millis().max(1))));
    }
    options
        .application_name("homeward")
        .options(settings.iter().map(|(k, v)| (*k, v.as_str())))
}

fn owner_options(database_url: &str) -> anyhow::Result<PgConnectOptions> {
    Ok(PgConnectOptions::from_str(database_url)
        .context("DATABASE_URL is not a valid PostgreSQL URL")?
        .log_statements(tracing::log::LevelFilter::Trace))
}

fn app_options(
    owner: &PgConnectOptions,
    app_url: Option<&str>,
) -> anyhow::Result<PgConnectOptions> {
    Ok(match app_url {
        Some(url) => PgConnectOptions::from_str(url)
            .context("HOMEWARD_APP_DATABASE_URL is not a valid PostgreSQL URL")?
            .log_statements(tracing::log::LevelFilter::Trace),
        // the owner's server and database; no password: trust, peer or certificate
        // authentication, or set HOMEWARD_APP_DATABASE_URL
        None => owner.clone().username(roles::DEFAULT_APP_ROLE).password(""),
    })
}

/// `homeward migrate`: prepares the database as its owner and returns, so that servers can
/// then run without the owner's credentials (`serve --no-migrate`).
pub async fn migrate(database_url: &str, db: &DbOptions) -> anyhow::Result<String> {
    let owner = owner_options(database_url)?;
    wait_for_server(&owner, db.wait).await?;
    let app = app_options(&owner, db.app_url.as_deref())?;
    prepare(&owner, app.get_username()).await?;
    Ok(app.get_username().to_string())
}

/// Refuses a database whose migrations are not all applied (read as the application role).
async fn check_prepared(conn: &mut sqlx::PgConnection) -> anyhow::Result<()> {
    let applied: Vec<i64> = sqlx::query_scalar(
        "SELECT version FROM _sqlx_migrations WHERE success",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| {
        anyhow!("reading the applied migrations ({e}): run `homeward migrate` as the owner first")
    })?;
    let missing: Vec<i64> = MIGRATOR
        .iter()
        .map(|m| m.version)
        .filter(|v| !applied.contains(v))
        .collect();
    if !missing.is_empty() {
        bail!(
            "the database lacks {} migration(s) (the first: {}): run `homeward migrate` as the owner first",
            missing.len(),
            missing[0]
        );
    }
    Ok(())
}

/// As the owner: the migrations, the session table, and the application role and its
/// privileges. Run at every start; several processes may run it at once.
pub async fn prepare(owner: &PgConnectOptions, app_role: &str) -> anyhow::Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(owner.clone())
        .await
        .map_err(|e| anyhow!("connecting to PostgreSQL at {}: {e}", describe(owner)))?;
    MIGRATOR.run(&pool).await.context("applying migrations")?;
    tower_sessions_sqlx_store::PostgresStore::new(pool.clone())
        .migrate()
        .await
        .context("creating the session table")?;
    let mut conn = pool.acquire().await?;
    roles::grant_app_role(&mut conn, app_role).await?;
    drop(conn);
    pool.close().await;
    Ok(())
}

/// `host:port (database name)`, for messages: never the password.
fn describe(options: &PgConnectOptions) -> String {
    format!(
        "{}:{} (database {})",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("postgres")
    )
}

/// Whether an error may go away if we wait: the server is starting, refusing connections
/// for now, or full.
fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        // cannot_connect_now (starting up), too_many_connections, admin/crash shutdown
        sqlx::Error::Database(d) => matches!(
            d.code().as_deref(),
            Some("57P03" | "53300" | "57P01" | "57P02")
        ),
        _ => false,
    }
}

fn is_missing_database(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("3D000"))
}

/// Opens (and closes) one connection, creating the database if it does not exist, retrying
/// transient failures with backoff until `wait` has passed.
async fn wait_for_server(options: &PgConnectOptions, wait: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(250);
    loop {
        let err = match sqlx::PgConnection::connect_with(options).await {
            Ok(conn) => {
                conn.close().await.ok();
                return Ok(());
            }
            Err(e) if is_missing_database(&e) => {
                create_database(options).await?;
                continue;
            }
            Err(e) => e,
        };
        if !is_transient(&err) {
            return Err(anyhow!(
                "cannot connect to PostgreSQL at {}: {err}",
                describe(options)
            ));
        }
        if Instant::now() + pause > deadline {
            return Err(anyhow!(
                "PostgreSQL at {} did not accept a connection within {} s: {err}",
                describe(options),
                wait.as_secs()
            ));
        }
        tracing::warn!(cause = %err, "PostgreSQL is not accepting connections yet; retrying");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

async fn create_database(options: &PgConnectOptions) -> anyhow::Result<()> {
    let name = options.get_database().unwrap_or("postgres").to_string();
    let admin = options.clone().database("postgres");
    let mut conn = sqlx::PgConnection::connect_with(&admin)
        .await
        .map_err(|e| anyhow!("connecting to PostgreSQL at {}: {e}", describe(&admin)))?;
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    match sqlx::query(&format!("CREATE DATABASE {quoted}"))
        .execute(&mut conn)
        .await
    {
        Ok(_) => tracing::info!(database = %name, "created database"),
        // another process created it first
        Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("42P04") => {}
        Err(e) => return Err(anyhow!("creating database {name}: {e}")),
    }
    conn.close().await.ok();
    Ok(())
}
