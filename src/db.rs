//! Connecting to PostgreSQL: waits for the server (bounded), creates the database when it is
//! missing and applies the embedded migrations, so `homeward serve` works on a fresh machine
//! and in a container that starts before its database. When it cannot connect it says why
//! in one line ("too many clients", "password authentication failed", ...), never a bare
//! "pool timed out".

use anyhow::{Context, anyhow};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};
use std::str::FromStr;
use std::time::{Duration, Instant};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// How to connect: pool size and how long to wait for the server at start.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub pool_size: u32,
    pub wait: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            pool_size: 20,
            wait: Duration::from_secs(30),
        }
    }
}

pub async fn connect(database_url: &str, db: &DbOptions) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(database_url)
        .context("DATABASE_URL is not a valid PostgreSQL URL")?
        .log_statements(tracing::log::LevelFilter::Trace)
        .options([
            // Homeward's queries are short; JIT compiling them costs more than it saves (it
            // once tripled the flow report's time).
            ("jit", "off"),
            // A second guard against a connection left inside a transaction (a request
            // cancelled mid-BEGIN, sqlx#4393): the server ends such a session, and its
            // locks, after this long. No Homeward transaction waits on anything but
            // PostgreSQL between statements.
            ("idle_in_transaction_session_timeout", "30s"),
        ]);
    wait_for_server(&options, db.wait).await?;
    let pool = PgPoolOptions::new()
        .max_connections(db.pool_size)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options.clone())
        .await
        .map_err(|e| anyhow!("connecting to PostgreSQL at {}: {e}", describe(&options)))?;
    MIGRATOR.run(&pool).await.context("applying migrations")?;
    tower_sessions_sqlx_store::PostgresStore::new(pool.clone())
        .migrate()
        .await
        .context("creating the session table")?;
    Ok(pool)
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
