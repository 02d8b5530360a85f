//! The application role: what the server's own connections may do. Run as the owner at every
//! start (after the migrations), so a new table is covered the day it lands:
//!
//! - the role is created (`LOGIN`, no password) when it does not exist;
//! - it may read and write the rows of every table in `public` and of the session table, and
//!   use their sequences, and nothing else: no TRUNCATE, no REFERENCES, no TRIGGER, no
//!   ownership, so no ALTER TABLE and no DISABLE TRIGGER;
//! - on the append-only tables (every table guarded by the `refuse_change()` trigger: the
//!   access log, case history, ...) it may only SELECT and INSERT;
//! - it may only read the migrations' own table.
//!
//! Then the owner checks, and refuses to start if the role is a superuser, bypasses row
//! security, may act as the tables' owner, or could change an append-only table in any way.

use anyhow::{Context, anyhow, bail};
use sqlx::{Connection, PgConnection};

/// The application role's name when `HOMEWARD_APP_DATABASE_URL` does not give one.
pub const DEFAULT_APP_ROLE: &str = "homeward_app";

/// Tables that must exist and be append-only, whatever else the trigger guards.
pub const AUDIT_TABLES: &[&str] = &["access_log", "patient_history"];

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Creates the role if needed, grants it exactly what it needs, and checks the result.
pub async fn grant_app_role(conn: &mut PgConnection, role: &str) -> anyhow::Result<()> {
    let owner: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut *conn)
        .await?;
    if role.is_empty() || role == owner {
        bail!(
            "the application role must not be the owner ({owner}): set HOMEWARD_APP_DATABASE_URL to another user, or leave it unset for {DEFAULT_APP_ROLE}"
        );
    }
    create_role(conn, role).await?;
    let r = ident(role);
    let mut tx = conn.begin().await?;
    // one process at a time (concurrent GRANTs on one table can fail with "tuple
    // concurrently updated"); other sessions see the old privileges until this commits
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('homeward: grant the application role'))")
        .execute(&mut *tx)
        .await?;
    let append_only = append_only_tables(&mut tx).await?;
    for table in AUDIT_TABLES {
        if !append_only.iter().any(|t| t == table) {
            bail!("{table} is not guarded by the refuse_change() trigger: refusing to start");
        }
    }
    let database: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(&mut *tx)
        .await?;
    let mut statements = vec![
        format!(
            "GRANT CONNECT, TEMPORARY ON DATABASE {} TO {r}",
            ident(&database)
        ),
        format!("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {r}"),
        format!("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {r}"),
        format!("REVOKE CREATE ON SCHEMA public FROM {r}"),
        format!("GRANT USAGE ON SCHEMA public TO {r}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {r}"),
        format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {r}"),
        format!("REVOKE INSERT, UPDATE, DELETE ON _sqlx_migrations FROM {r}"),
    ];
    for table in &append_only {
        statements.push(format!(
            "REVOKE UPDATE, DELETE ON {} FROM {r}",
            ident(table)
        ));
    }
    // the session store's own schema (tower-sessions-sqlx-store)
    let sessions: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'tower_sessions')",
    )
    .fetch_one(&mut *tx)
    .await?;
    if sessions {
        statements.push(format!("GRANT USAGE ON SCHEMA tower_sessions TO {r}"));
        statements.push(format!(
            "REVOKE ALL ON ALL TABLES IN SCHEMA tower_sessions FROM {r}"
        ));
        statements.push(format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA tower_sessions TO {r}"
        ));
    }
    for sql in &statements {
        sqlx::query(sql)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("granting the application role: {sql}"))?;
    }
    check(&mut tx, role, &append_only).await?;
    tx.commit().await?;
    Ok(())
}

async fn create_role(conn: &mut PgConnection, role: &str) -> anyhow::Result<()> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(role)
            .fetch_one(&mut *conn)
            .await?;
    if exists {
        return Ok(());
    }
    match sqlx::query(&format!("CREATE ROLE {} LOGIN", ident(role)))
        .execute(&mut *conn)
        .await
    {
        Ok(_) => {
            tracing::info!(role, "created the application's database role");
            Ok(())
        }
        // another process (or another database's server) created it first
        Err(sqlx::Error::Database(d)) if matches!(d.code().as_deref(), Some("42710" | "23505")) => {
            Ok(())
        }
        Err(e) => Err(anyhow!(
            "creating the application's database role {role}: {e} (give the owner CREATEROLE, or create the role yourself: CREATE ROLE {role} LOGIN PASSWORD '...')"
        )),
    }
}

/// Tables in `public` with a row trigger calling `refuse_change()`.
async fn append_only_tables(conn: &mut PgConnection) -> anyhow::Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT c.relname::text FROM pg_trigger t \
         JOIN pg_class c ON c.oid = t.tgrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_proc p ON p.oid = t.tgfoid \
         WHERE n.nspname = 'public' AND p.proname = 'refuse_change' AND NOT t.tgisinternal \
         ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Run as the application role itself (`serve --no-migrate`): refuses to go on if this role
/// could rewrite the audit.
pub async fn check_self(conn: &mut PgConnection) -> anyhow::Result<()> {
    let role: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut *conn)
        .await?;
    let append_only = append_only_tables(conn).await?;
    for table in AUDIT_TABLES {
        if !append_only.iter().any(|t| t == table) {
            bail!("{table} is not guarded by the refuse_change() trigger: refusing to start");
        }
    }
    check(conn, &role, &append_only).await
}

/// Refuses an application role that could rewrite the audit.
async fn check(conn: &mut PgConnection, role: &str, append_only: &[String]) -> anyhow::Result<()> {
    let (superuser, bypass): (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1")
            .bind(role)
            .fetch_one(&mut *conn)
            .await?;
    if superuser || bypass {
        bail!(
            "the application role {role} is a superuser or bypasses row security: refusing to start"
        );
    }
    let risky: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relname = ANY($2) \
           AND (pg_has_role($1, c.relowner, 'MEMBER') \
             OR has_table_privilege($1, c.oid, 'UPDATE') \
             OR has_table_privilege($1, c.oid, 'DELETE') \
             OR has_table_privilege($1, c.oid, 'TRUNCATE') \
             OR has_table_privilege($1, c.oid, 'TRIGGER'))",
    )
    .bind(role)
    .bind(append_only)
    .fetch_all(&mut *conn)
    .await?;
    if !risky.is_empty() {
        bail!(
            "the application role {role} could change the append-only tables {} (it owns them, is a member of their owner, or holds UPDATE, DELETE, TRUNCATE or TRIGGER, perhaps through PUBLIC): refusing to start",
            risky.join(", ")
        );
    }
    Ok(())
}
