//! An audit the application cannot rewrite: the server's connections use a role that owns
//! nothing and may only read and append to the access log and case history; the owner role
//! (migrations) is another. The server refuses to start with an application role that could
//! change them.

use crate::common::*;
use std::process::Stdio;
use std::time::Duration;

const AUDIT: [&str; 2] = ["access_log", "patient_history"];

fn sqlstate(e: &sqlx::Error) -> String {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_application_role_cannot_truncate_update_delete_or_unguard_the_audit() {
    let app = TestApp::spawn().await;
    let id = app.flag_id("ward", patient(NHS[0])).await;
    app.api("hub")
        .await
        .get_json(&format!("/api/v1/patients/{id}"))
        .await;
    let counts = async || {
        (
            app.count("SELECT count(*) FROM access_log").await,
            app.count("SELECT count(*) FROM patient_history").await,
        )
    };
    let before = counts().await;
    assert!(before.0 > 0 && before.1 > 0, "{before:?}");
    let as_app = app.db.app_pool(Duration::from_secs(5)).await;
    for table in AUDIT {
        for sql in [
            format!("TRUNCATE {table}"),
            format!("TRUNCATE {table} CASCADE"),
            format!("UPDATE {table} SET at = at"),
            format!("DELETE FROM {table}"),
            format!("ALTER TABLE {table} DISABLE TRIGGER USER"),
            format!("ALTER TABLE {table} DISABLE TRIGGER ALL"),
            format!("DROP TABLE {table} CASCADE"),
        ] {
            let err = sqlx::query(&sql)
                .execute(&as_app)
                .await
                .expect_err(&format!("{sql} must be refused"));
            // insufficient_privilege, or "must be owner of table"
            assert_eq!(sqlstate(&err), "42501", "{sql}: {err}");
        }
    }
    // granting itself more is a no-op (PostgreSQL warns "no privileges were granted")
    for table in AUDIT {
        sqlx::query(&format!("GRANT ALL ON {table} TO PUBLIC, {APP_ROLE}"))
            .execute(&as_app)
            .await
            .unwrap();
        let truncate: bool = sqlx::query_scalar("SELECT has_table_privilege($1, $2, 'TRUNCATE')")
            .bind(APP_ROLE)
            .bind(table)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        assert!(!truncate, "{table}");
    }
    // nor may it switch triggers off for its own session
    let err = sqlx::query("SET session_replication_role = replica")
        .execute(&as_app)
        .await
        .expect_err("session_replication_role needs a superuser");
    assert_eq!(sqlstate(&err), "42501", "{err}");
    // what it may do: read them and append to them (rolled back here)
    let mut tx = as_app.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO access_log (at, user_id, username, role, org_code, patient_ids, what) \
         VALUES (now(), NULL, 'x', 'hub', 'HUB', ARRAY[$1::bigint], 'test')",
    )
    .bind(id)
    .execute(&mut *tx)
    .await
    .expect("the application appends to the access log");
    tx.rollback().await.unwrap();
    assert_eq!(counts().await, before, "nothing changed");
}

#[tokio::test]
async fn the_server_connects_as_the_application_role_which_owns_nothing() {
    let app = TestApp::spawn().await;
    let server = app.serve_process().await;
    server.token("hub").await;
    let users: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT usename::text FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name LIKE 'homeward%'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(users, [APP_ROLE]);
    let owned = app
        .count(&format!(
            "SELECT (SELECT count(*) FROM pg_class WHERE relowner = '{APP_ROLE}'::regrole) \
                  + (SELECT count(*) FROM pg_namespace WHERE nspowner = '{APP_ROLE}'::regrole) \
                  + (SELECT count(*) FROM pg_proc WHERE proowner = '{APP_ROLE}'::regrole)"
        ))
        .await;
    assert_eq!(owned, 0, "the application role owns nothing");
    let superuser: bool = sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = $1")
        .bind(APP_ROLE)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(!superuser);
}

/// Runs `homeward serve` until it gives up; its exit status and standard error.
async fn serve_and_fail(database_url: &str, app_url: Option<&str>) -> (bool, String) {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.env("DATABASE_URL", database_url)
        .env("HOMEWARD_DB_WAIT_SECONDS", "5")
        .env_remove("HOMEWARD_APP_DATABASE_URL")
        .args(["serve", "--addr", &format!("127.0.0.1:{}", free_port())])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(url) = app_url {
        cmd.env("HOMEWARD_APP_DATABASE_URL", url);
    }
    die_with_parent(&mut cmd);
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("serve gives up within 30 s")
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test]
async fn serve_refuses_an_application_role_that_could_rewrite_the_audit() {
    let db = TestDb::bare().await;
    // the owner as its own application role
    let (ok, err) = serve_and_fail(&db.url(), Some(&db.url())).await;
    assert!(!ok);
    assert!(err.contains("must not be the owner"), "{err}");
    // an application role that everyone's grant lets empty the access log
    sqlx::query("GRANT TRUNCATE ON access_log TO PUBLIC")
        .execute(&db.pool)
        .await
        .unwrap();
    let (ok, err) = serve_and_fail(&db.url(), None).await;
    assert!(!ok);
    assert!(
        err.contains("could change the append-only tables access_log"),
        "{err}"
    );
}

#[tokio::test]
async fn a_server_without_the_owners_credentials_needs_a_migrated_database() {
    // the owner's URL points nowhere: this process never has the owner's credentials
    let nowhere = "postgres://nobody@127.0.0.1:9/nothing";
    let migrated = TestDb::bare().await;
    let server = Server::start_with(
        nowhere,
        Some(default_now()),
        &["--no-migrate"],
        &[("HOMEWARD_APP_DATABASE_URL", &migrated.app_url())],
    )
    .await;
    let health = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::OK);
    drop(server);

    // an empty database: refused until the owner has migrated it
    let empty = TestDb::empty().await;
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.env("DATABASE_URL", nowhere)
        .env("HOMEWARD_APP_DATABASE_URL", empty.app_url())
        .env("HOMEWARD_DB_WAIT_SECONDS", "5")
        .args([
            "serve",
            "--no-migrate",
            "--addr",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    die_with_parent(&mut cmd);
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .unwrap()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("homeward migrate"), "{err}");
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.env("DATABASE_URL", empty.url())
        .env_remove("HOMEWARD_APP_DATABASE_URL")
        .arg("migrate")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    die_with_parent(&mut cmd);
    let out = cmd.output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = Server::start_with(
        nowhere,
        Some(default_now()),
        &["--no-migrate"],
        &[("HOMEWARD_APP_DATABASE_URL", &empty.app_url())],
    )
    .await;
    let health = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::OK);
}
