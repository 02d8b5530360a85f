//! The `homeward` command as an operator uses it: help, `user create`, `serve` with a clean
//! shutdown on SIGTERM, and the demo area loading once however often it is asked.

use crate::common::*;
use reqwest::StatusCode;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn help_lists_every_subcommand() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("serve"));
    assert!(text.contains("migrate"));
    assert!(text.contains("user"));
    assert!(text.contains("hl7"));
    let out = Command::new(BIN)
        .args(["user", "create", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in ["--username", "--role", "--org"] {
        assert!(text.contains(flag), "{flag}");
    }
}

fn user_create(url: &str, args: &[&str], password: &str) -> std::process::Output {
    let mut child = Command::new(BIN)
        .env("DATABASE_URL", url)
        .args(["user", "create"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(password.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn user_create_reads_the_password_from_stdin() {
    let app = TestApp::spawn().await;
    let url = app.database_url();
    let out = tokio::task::spawn_blocking({
        let url = url.clone();
        move || {
            user_create(
                &url,
                &["--username", "new.ward", "--role", "ward", "--org", "RXX"],
                "a-long-enough-password\n",
            )
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let res = app
        .anonymous_browser()
        .post_form(
            "/login",
            &[
                ("username", "new.ward"),
                ("password", "a-long-enough-password"),
            ],
        )
        .await;
    assert_eq!(location(&res), "/ward");

    // a role that does not fit the organisation, and a short password, are refused
    let out = tokio::task::spawn_blocking({
        let url = url.clone();
        move || {
            user_create(
                &url,
                &[
                    "--username",
                    "x.provider",
                    "--role",
                    "provider",
                    "--org",
                    "RHW",
                ],
                "short",
            )
        }
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("org_code") && err.contains("password"),
        "{err}"
    );
    let out = tokio::task::spawn_blocking(move || {
        user_create(
            &url,
            &["--username", "y", "--role", "chief", "--org", "HUB"],
            "whatever-password",
        )
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE username IN ('x.provider', 'y')")
            .await,
        0
    );
}

#[tokio::test]
async fn serve_answers_health_and_stops_cleanly_on_sigterm() {
    let db = TestDb::bare().await;
    let url = db.url();
    let port = free_port();
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.env("DATABASE_URL", &url)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    die_with_parent(&mut cmd);
    let mut child = cmd.spawn().expect("serve starts");
    let health = format!("http://127.0.0.1:{port}/healthz");
    let mut up = false;
    for _ in 0..100 {
        if let Ok(res) = reqwest::get(&health).await {
            assert_eq!(res.status(), StatusCode::OK);
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "server did not answer");
    let pid = child.id().unwrap().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn the_demo_area_loads_once_with_every_status() {
    use homeward::domain::time::Clock;
    let db = TestDb::bare().await;
    let pool = db.pool.clone();
    let state = homeward::state::AppState::new(pool.clone(), Clock::system(), Default::default());
    homeward::demo::load(&state).await.unwrap();
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let patients = count("SELECT count(*) FROM patients").await;
    // about 150 in the first hub, 18 in the second
    assert!((158..=178).contains(&patients), "{patients}");
    assert_eq!(
        count("SELECT count(*) FROM patients WHERE hub_code = 'HUB2'").await,
        18
    );
    assert_eq!(
        count("SELECT count(DISTINCT status) FROM patients").await,
        7
    );
    assert!(count("SELECT count(*) FROM wards WHERE org_code = 'RHW'").await >= 8);
    assert!(count("SELECT count(*) FROM wards WHERE org_code = 'RXX'").await >= 8);
    assert!(count("SELECT count(*) FROM organisations WHERE kind = 'provider'").await >= 6);
    assert!(
        count("SELECT count(DISTINCT sector) FROM organisations WHERE kind = 'provider'").await
            >= 4
    );
    let history = count("SELECT count(*) FROM patient_history").await;
    assert!(history > patients * 2);
    // a few long waits for a care home have had the choice letter, its deadline passed (by
    // the demo's clock, not the database server's)
    let today = homeward::domain::time::london_date(state.clock.now());
    let overdue: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM patient_choices c JOIN patients p ON p.id = c.patient_id \
         WHERE c.deadline < $1 AND c.outcome IS NULL AND p.status = 'awaiting_care'",
    )
    .bind(today)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(overdue >= 1, "{overdue}");
    // the capacity market is alive: offers, and referrals in every state
    assert!(count("SELECT count(*) FROM capacity_offers").await >= 10);
    assert_eq!(
        count("SELECT count(DISTINCT status) FROM referrals").await,
        4
    );
    // every arranged case has exactly the accepted referral that arranged it
    assert_eq!(
        count("SELECT count(*) FROM patients p WHERE p.status = 'care_arranged' AND NOT EXISTS (SELECT 1 FROM referrals r WHERE r.patient_id = p.id AND r.status = 'accepted')").await,
        0
    );
    // every demo user signs in with the demo password
    for user in [
        "ward.demo",
        "ward2.demo",
        "hub.demo",
        "provider.demo",
        "provider2.demo",
        "admin.demo",
        "hub2.demo",
        "ward3.demo",
        "admin2.demo",
    ] {
        let client = homeward::accounts::throttle::ClientAddress("cli-test".into());
        let signed_in = homeward::accounts::signin::check_password(
            &state,
            user,
            homeward::demo::DEMO_PASSWORD,
            &client,
        )
        .await;
        assert!(signed_in.is_ok(), "{user}: {:?}", signed_in.err());
    }
    // again: nothing changes
    homeward::demo::load(&state).await.unwrap();
    assert_eq!(count("SELECT count(*) FROM patients").await, patients);
    assert_eq!(count("SELECT count(*) FROM patient_history").await, history);
    // ten users of the first hub, three of the second
    assert_eq!(count("SELECT count(*) FROM users").await, 13);
}

#[test]
fn help_never_shows_the_database_password() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["user", "create", "--help"],
    ] {
        let out = Command::new(BIN)
            .env(
                "DATABASE_URL",
                "postgres://homeward:s3cret-pw@db.example:5432/homeward",
            )
            .args(args)
            .output()
            .expect("the binary runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("DATABASE_URL"), "{text}");
        assert!(
            !text.contains("s3cret-pw"),
            "{args:?} shows the password: {text}"
        );
    }
}

#[tokio::test]
async fn serve_gives_up_on_a_full_database_server_with_one_line_naming_the_cause() {
    let db = TestDb::bare().await;
    // a role PostgreSQL allows no connections at all: every attempt is "too many connections"
    let role = format!("{}limited", db.name);
    sqlx::query(&format!("CREATE ROLE \"{role}\" LOGIN CONNECTION LIMIT 0"))
        .execute(&db.pool)
        .await
        .expect("create role");
    let url = db.url().replacen("postgres@", &format!("{role}@"), 1);
    let started = std::time::Instant::now();
    let out = tokio::process::Command::new(BIN)
        .env("DATABASE_URL", &url)
        .env("RUST_BACKTRACE", "1")
        .args(["--db-wait-seconds", "2", "serve", "--addr", "127.0.0.1:0"])
        .output()
        .await
        .expect("the binary runs");
    sqlx::query(&format!("DROP ROLE \"{role}\""))
        .execute(&db.pool)
        .await
        .expect("drop role");
    assert!(!out.status.success());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "gave up in time"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("homeward: ") && last.contains("too many connections"),
        "{err}"
    );
    assert!(
        !err.contains("backtrace") && !err.contains("pool timed out"),
        "{err}"
    );
}

#[test]
fn the_pool_size_must_be_at_least_one() {
    let out = Command::new(BIN)
        .args(["--db-pool-size", "0", "serve"])
        .output()
        .expect("the binary runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("db-pool-size"));
}
