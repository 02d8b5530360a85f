//! Homeward through PgBouncer in transaction pooling mode (issue 15): many application
//! connections share two server connections, each transaction going to whichever is free,
//! and still every request sees exactly its own hub's rows (the wall travels in the
//! application name, which the pooler sets again on each server connection), sqlx's prepared
//! statements work (PgBouncer 1.21 or later tracks them), and live events arrive through the
//! direct listening connection.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The PgBouncer to run: `HOMEWARD_PGBOUNCER` (.ci/test builds 1.24 from Debian's source,
/// bookworm's own 1.18 cannot carry prepared statements in transaction mode), else
/// `pgbouncer` on the PATH.
fn pgbouncer_program() -> String {
    std::env::var("HOMEWARD_PGBOUNCER").unwrap_or_else(|_| "pgbouncer".into())
}

/// PgBouncer in front of the test server's database `database`, in transaction
/// pooling mode with `server_connections` server connections; stopped when dropped.
struct PgBouncer {
    child: tokio::process::Child,
    port: u16,
    dir: PathBuf,
}

/// `conf` with the line `key = ...` set to `value` (the key must be there).
fn set(conf: &str, key: &str, value: &str) -> String {
    let prefix = format!("{key} = ");
    assert!(
        conf.lines().any(|l| l.starts_with(&prefix)),
        "{key} in deploy/pgbouncer.ini"
    );
    conf.lines()
        .map(|l| {
            if l.starts_with(&prefix) {
                format!("{prefix}{value}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

impl PgBouncer {
    async fn start(
        host: &str,
        server_port: u16,
        database: &str,
        server_connections: u32,
    ) -> PgBouncer {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("homeward-pgbouncer-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a folder");
        // deploy/pgbouncer.ini, with this test's server, database, port and users
        let shipped = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/pgbouncer.ini"),
        )
        .expect("deploy/pgbouncer.ini");
        let server = "host=127.0.0.1 port=5432 dbname=homeward";
        assert!(
            shipped.contains(server),
            "the database line of deploy/pgbouncer.ini"
        );
        let mut conf = shipped.replace(
            server,
            &format!("host={host} port={server_port} dbname={database}"),
        );
        let auth = dir.join("users.txt");
        for (key, value) in [
            ("listen_addr", "127.0.0.1".to_string()),
            ("listen_port", port.to_string()),
            ("auth_type", "trust".to_string()),
            ("auth_file", auth.display().to_string()),
            ("default_pool_size", server_connections.to_string()),
        ] {
            conf = set(&conf, key, &value);
        }
        // [pgbouncer] is the file's last section: no Unix socket, and a console to count with
        conf.push_str("unix_socket_dir =\nadmin_users = postgres\n");
        std::fs::write(dir.join("pgbouncer.ini"), conf).expect("pgbouncer.ini");
        std::fs::write(
            dir.join("users.txt"),
            format!("\"{APP_ROLE}\" \"\"\n\"postgres\" \"\"\n"),
        )
        .expect("users");
        let mut cmd = tokio::process::Command::new(pgbouncer_program());
        // PgBouncer refuses to run as root; as root, it is told to become postgres
        if crate::replica::is_root() {
            cmd.args(["-u", "postgres"]);
            for f in ["", "pgbouncer.ini", "users.txt"] {
                let _ = std::process::Command::new("chmod")
                    .args(["a+rX", dir.join(f).to_str().unwrap()])
                    .status();
            }
        }
        cmd.arg(dir.join("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        die_with_parent(&mut cmd);
        let child = cmd.spawn().expect("pgbouncer starts");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return PgBouncer { child, port, dir };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("pgbouncer did not listen on {port}");
    }

    /// How many rows of the admin console's `SHOW what` are for `user`.
    fn show(&self, what: &str, user: &str) -> usize {
        let out = std::process::Command::new("psql")
            .args([
                "-At",
                "-F",
                "|",
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
            ])
            .args([
                "-U",
                "postgres",
                "-d",
                "pgbouncer",
                "-c",
                &format!("SHOW {what}"),
            ])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.split('|').nth(1) == Some(user))
            .count()
    }

    fn app_url(&self) -> String {
        format!("postgres://{APP_ROLE}@127.0.0.1:{}/homeward", self.port)
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// PgBouncer 1.21 or later (prepared statements in transaction mode), or what is missing.
fn missing_pgbouncer() -> Option<String> {
    let out = std::process::Command::new(pgbouncer_program())
        .arg("--version")
        .output();
    let Ok(out) = out else {
        return Some(format!("{} (PgBouncer 1.21 or later)", pgbouncer_program()));
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let version: Vec<u32> = text
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .split('.')
        .filter_map(|p| p.parse().ok())
        .collect();
    (version.as_slice() < [1, 21].as_slice())
        .then(|| format!("PgBouncer 1.21 or later (found: {})", text.trim()))
}

async fn api(base: &str, username: &str) -> Api {
    let client = reqwest::Client::new();
    let res = client
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .expect("the server answers");
    let body = expect_json(res, StatusCode::OK, "a token").await;
    Api {
        base: base.to_string(),
        client,
        token: body["token"].as_str().unwrap_or_default().to_string(),
    }
}

#[tokio::test]
async fn through_pgbouncer_in_transaction_mode_each_request_sees_only_its_own_hub() {
    if !tools_present(
        "pooler",
        &missing_pgbouncer()
            .into_iter()
            .chain(missing_program("psql"))
            .collect::<Vec<_>>(),
    ) {
        return;
    }
    let app = TestApp::spawn().await;
    crate::tenancy::second_hub(&app).await;
    let server_at: sqlx::postgres::PgConnectOptions =
        app.database_url().parse().expect("the test database's URL");
    let (host, port) = (server_at.get_host().to_string(), server_at.get_port());
    let bouncer = PgBouncer::start(&host, port, &app.db.name, 2).await;
    let direct = format!("postgres://{APP_ROLE}@{host}:{port}/{}", app.db.name);
    let server = Server::start_with(
        &app.database_url(),
        Some(app.clock.now()),
        // twelve application connections over the pooler's two server connections
        &["--db-pool-size", "12"],
        &[
            ("HOMEWARD_APP_DATABASE_URL", &bouncer.app_url()),
            ("HOMEWARD_TRANSACTION_POOLER", "true"),
            ("HOMEWARD_LISTEN_DATABASE_URL", &direct),
        ],
    )
    .await;
    let hub2_listener = api(&server.base, "hub2").await;
    let mut hub2_events = EventStream::open(&server.base, &hub2_listener.token).await;

    // the names PgBouncer's server connections run under while the traffic runs
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (owner, sampling) = (app.pool.clone(), sampling.clone());
        tokio::spawn(async move {
            let mut names = BTreeSet::new();
            while sampling.load(Ordering::Relaxed) {
                let seen: Vec<String> = sqlx::query_scalar(
                    "SELECT application_name FROM pg_stat_activity \
                     WHERE datname = current_database() AND usename = $1 \
                       AND application_name NOT IN ('homeward-listen', 'homeward-test') \
                       AND state = 'active'",
                )
                .bind(APP_ROLE)
                .fetch_all(&owner)
                .await
                .unwrap();
                names.extend(seen);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            names
        })
    };

    // two hubs' wards filing and two hubs' coordinators reading, all at once
    let rounds = 12;
    let mut tasks = Vec::new();
    for (lane, (ward, hub, ward_code, trust)) in [
        ("ward", "hub", "RHW-AMU", "RHW"),
        ("ward3", "hub2", "RZZ-W01", "RZZ"),
    ]
    .into_iter()
    .cycle()
    .take(8)
    .enumerate()
    {
        let base = server.base.clone();
        tasks.push(tokio::spawn(async move {
            let ward = api(&base, ward).await;
            let hub = api(&base, hub).await;
            let mut filed = Vec::new();
            for round in 0..rounds {
                let mut p = patient(&valid_nhs(lane * 1000 + round));
                p["ward_code"] = json!(ward_code);
                let res = ward.post("/api/v1/patients", p).await;
                let case = expect_json(res, StatusCode::CREATED, "a case filed").await;
                filed.push(id_of(&case));
                // read back at once, on whichever server connection is free
                let res = hub.get("/api/v1/patients?limit=500").await;
                let list = expect_json(res, StatusCode::OK, "the hub's list").await;
                let seen: Vec<i64> = items(&list).iter().map(id_of).collect();
                let foreign: Vec<&Value> = items(&list)
                    .iter()
                    .filter(|c| c["trust_code"] != json!(trust))
                    .collect();
                assert!(
                    foreign.is_empty(),
                    "{hub:?} saw another hub's cases: {foreign:?}",
                    hub = trust
                );
                for id in &filed {
                    assert!(seen.contains(id), "{trust}: its own case {id} missing");
                }
                let res = hub.get(&format!("/api/v1/patients/{}", filed[0])).await;
                assert_eq!(res.status(), StatusCode::OK, "{trust}: its own case");
            }
            (trust, filed)
        }));
    }
    let mut filed_by = std::collections::HashMap::<&str, Vec<i64>>::new();
    for t in tasks {
        let (trust, filed) = t.await.expect("a lane finished");
        filed_by.entry(trust).or_default().extend(filed);
    }
    sampling.store(false, Ordering::Relaxed);
    let names = sampler.await.unwrap();
    // each request's statements ran under its caller's hubs, not every hub's
    for hub in ["homeward:HUB", "homeward:HUB2"] {
        assert!(names.contains(hub), "{hub} among {names:?}");
    }
    let known = ["homeward:HUB", "homeward:HUB2", "homeward:*", "homeward:"];
    assert!(
        names.iter().all(|n| known.contains(&n.as_str())),
        "server connections named {names:?}"
    );

    // each hub's whole list is its own cases, every one of them
    for (user, trust) in [("hub", "RHW"), ("hub2", "RZZ")] {
        let hub = api(&server.base, user).await;
        let list = expect_json(
            hub.get("/api/v1/patients?limit=500").await,
            StatusCode::OK,
            "list",
        )
        .await;
        let mut seen: Vec<i64> = items(&list).iter().map(id_of).collect();
        seen.sort();
        let mut expected = filed_by[trust].clone();
        expected.sort();
        assert_eq!(seen, expected, "{user} lists exactly its own hub's cases");
        // and another hub's case is not found
        let other = if trust == "RHW" {
            &filed_by["RZZ"]
        } else {
            &filed_by["RHW"]
        };
        let res = hub.get(&format!("/api/v1/patients/{}", other[0])).await;
        assert_eq!(
            res.status(),
            StatusCode::NOT_FOUND,
            "{user}: another hub's case"
        );
    }

    // live events come through the direct connection, and only the hub's own
    let heard: Vec<i64> = hub2_events
        .drain(Duration::from_millis(1500))
        .await
        .iter()
        .filter_map(|(_, d)| d["patient_id"].as_i64())
        .collect();
    for id in &filed_by["RZZ"] {
        assert!(heard.contains(id), "hub2 heard of its case {id}: {heard:?}");
    }
    assert!(
        !filed_by["RHW"].iter().any(|id| heard.contains(id)),
        "hub2 heard of the first hub's cases"
    );

    // by hand through the pooler: a connection of another name sees no case, whichever
    // server connection Homeward used last (Homeward leaves no setting behind), one named
    // for a hub sees that hub's only; and the shipped connect_query's settings are there
    let through = |name: &'static str| {
        let url = bouncer.app_url();
        async move {
            let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
            sqlx::PgConnection::connect_with(&options.application_name(name))
                .await
                .expect("a connection through the pooler")
        }
    };
    let mut other = through("audit-script").await;
    for _ in 0..20 {
        let (setting, seen): (Option<String>, i64) = sqlx::query_as(
            "SELECT current_setting('homeward.hubs', true), (SELECT count(*) FROM patients)",
        )
        .fetch_one(&mut other)
        .await
        .unwrap();
        assert_eq!(
            seen, 0,
            "another program saw cases (homeward.hubs = {setting:?})"
        );
    }
    let mut named = through("homeward:HUB2").await;
    let (own, others): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE hub_code = 'HUB2'), count(*) FILTER (WHERE hub_code <> 'HUB2') FROM patients",
    )
    .fetch_one(&mut named)
    .await
    .unwrap();
    assert_eq!((own, others), (filed_by["RZZ"].len() as i64, 0));
    let settings: (String, String) =
        sqlx::query_as("SELECT current_setting('jit'), current_setting('statement_timeout')")
            .fetch_one(&mut named)
            .await
            .unwrap();
    assert_eq!(settings, ("off".to_string(), "30s".to_string()));

    // the pooler really shared its server connections among more application connections
    let clients = bouncer.show("CLIENTS", APP_ROLE);
    let servers = bouncer.show("SERVERS", APP_ROLE);
    assert!(
        (1..=2).contains(&servers) && clients > servers,
        "{clients} application connections over {servers} server connections"
    );
    drop(server);
}

#[tokio::test]
async fn a_transaction_pooler_without_a_direct_connection_for_live_events_is_refused() {
    let app = TestApp::spawn().await;
    let out = tokio::process::Command::new(BIN)
        .env("DATABASE_URL", app.database_url())
        .env("HOMEWARD_TRANSACTION_POOLER", "true")
        .env_remove("HOMEWARD_LISTEN_DATABASE_URL")
        .args(["serve", "--addr", "127.0.0.1:0"])
        .output()
        .await
        .expect("homeward runs");
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("--listen-database-url"), "{said}");
}
