//! Reads from a streaming replica (issue 15): a real primary and a real hot standby, made
//! with initdb and pg_basebackup into temporary folders on ports of their own (never the
//! shared server). Reports read from the replica while it is current and from the primary
//! once it lags more than the bound; pages people work on always read the primary.

use crate::common::*;
use homeward::domain::time::Clock;
use homeward::state::AppState;
use reqwest::StatusCode;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The newest PostgreSQL server programs on this machine (Debian keeps them per version).
fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .filter(|p| p.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
        .pop()
        .expect("PostgreSQL's server programs under /usr/lib/postgresql/*/bin")
}

/// Runs a PostgreSQL program as the `postgres` user when this process is root (the server
/// refuses to run as root), else as ourselves.
fn pg(program: &str, args: &[&str]) -> std::process::Output {
    let path = bin_dir().join(program);
    let root = is_root();
    let out = if root {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(&path)
            .args(args)
            .output()
    } else {
        Command::new(&path).args(args).output()
    }
    .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// One PostgreSQL server of the test's own, stopped (immediately) when dropped.
pub struct PgServer {
    pub dir: PathBuf,
    pub port: u16,
}

impl PgServer {
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn start(&self) {
        let log = self.dir.with_extension("log");
        pg(
            "pg_ctl",
            &[
                "-D",
                self.dir.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    pub fn stop(&self) {
        let pg_ctl = bin_dir().join("pg_ctl");
        let args = ["-D", self.dir.to_str().unwrap(), "-m", "immediate", "stop"];
        let _ = if is_root() {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(pg_ctl)
                .args(args)
                .output()
        } else {
            Command::new(pg_ctl).args(args).output()
        };
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(self.dir.with_extension("log"));
    }
}

fn own_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "homeward-{name}-{}-{}",
        std::process::id(),
        free_port()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a folder");
    let _ = Command::new("chown")
        .args(["postgres:postgres", dir.to_str().unwrap()])
        .status();
    let _ = Command::new("chmod")
        .args(["700", dir.to_str().unwrap()])
        .status();
    dir
}

fn configure(dir: &Path, port: u16, extra: &str) {
    let conf = dir.join("postgresql.auto.conf");
    let mut text = std::fs::read_to_string(&conf).unwrap_or_default();
    text.push_str(&format!(
        "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
         wal_level = replica\nmax_wal_senders = 5\nhot_standby = on\nfsync = off\n{extra}\n",
        dir.display()
    ));
    std::fs::write(&conf, text).expect("postgresql.auto.conf");
}

/// A primary and a streaming hot standby of it.
pub fn primary_and_replica() -> (PgServer, PgServer) {
    let primary = PgServer {
        dir: own_dir("primary"),
        port: free_port(),
    };
    pg(
        "initdb",
        &[
            "-D",
            primary.dir.to_str().unwrap(),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
        ],
    );
    configure(&primary.dir, primary.port, "");
    primary.start();
    let replica = PgServer {
        dir: own_dir("replica"),
        port: free_port(),
    };
    std::fs::remove_dir_all(&replica.dir).ok();
    pg(
        "pg_basebackup",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &primary.port.to_string(),
            "-U",
            "postgres",
            "-D",
            replica.dir.to_str().unwrap(),
            "-R",
            "-X",
            "stream",
            "--no-sync",
        ],
    );
    configure(&replica.dir, replica.port, "");
    replica.start();
    (primary, replica)
}

async fn scalar(url: &str, sql: &str) -> i64 {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn waiting_in_sitrep(api: &Api) -> i64 {
    let s: Value = api.get_json("/api/v1/reports/sitrep").await;
    s["total"]["nctr"].as_i64().unwrap_or_else(|| panic!("{s}"))
}

#[tokio::test]
async fn reports_read_the_replica_while_it_is_current_and_the_primary_when_it_lags() {
    if !tools_present(
        "replica",
        &[missing_program("runuser"), missing_program("pg_basebackup")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>(),
    ) {
        return;
    }
    let (primary, replica) = primary_and_replica();
    let database = "homeward";
    // the server prepares the primary as its owner; the replica receives it all
    let options = homeward::db::DbOptions::default();
    let pool = homeward::db::connect(&primary.url(database), &options)
        .await
        .expect("the primary, prepared");
    let read = homeward::db::connect_replica(&replica.url(database), &options)
        .expect("the replica's pool");
    let state = AppState::new(pool.clone(), Clock::fixed(default_now()), test_config())
        .with_replica(read.clone(), Duration::from_secs(1));
    // a second server on the same databases that tolerates an hour's lag: what it reports
    // while the replica is behind shows where reports read
    let lenient = AppState::new(pool.clone(), Clock::fixed(default_now()), test_config())
        .with_replica(read, Duration::from_secs(3600));
    sqlx::raw_sql(
        "INSERT INTO organisations (code, name, sector, kind) VALUES
           ('RHW', 'Royal Hartwell', 'nhs_acute', 'acute_trust'), ('HUB', 'The Hub', 'local_authority', 'hub');
         INSERT INTO sites (code, org_code, name) VALUES ('RHW01', 'RHW', 'Hartwell General');
         INSERT INTO wards (code, site_code, org_code, name) VALUES ('RHW-AMU', 'RHW01', 'RHW', 'AMU');",
    )
    .execute(&mut owner(&primary, database).await)
    .await
    .expect("an area");
    for (username, role, org) in [("ward", "ward", "RHW"), ("hub", "hub", "HUB")] {
        homeward::accounts::users::create(
            &pool,
            None,
            homeward::accounts::users::NewUser {
                username: username.into(),
                display_name: username.into(),
                role: role.parse().unwrap(),
                org_code: org.into(),
                password: PASSWORD.into(),
            },
        )
        .await
        .expect("a user");
    }
    let app = serve_state(state).await;
    let ward = app.api("ward").await;
    let hub = app.api("hub").await;
    let hub_lenient = serve_state(lenient).await.api("hub").await;

    // one waiting patient: once the replica has it, the sitrep (read there) counts it
    ward.post_expect("/api/v1/patients", patient(NHS[0]), StatusCode::CREATED)
        .await;
    let replica_url = replica.url(database);
    let deadline = Instant::now() + Duration::from_secs(10);
    while scalar(&replica_url, "SELECT count(*) FROM patients").await < 1 {
        assert!(Instant::now() < deadline, "the replica never caught up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(waiting_in_sitrep(&hub).await, 1);
    assert_eq!(waiting_in_sitrep(&hub_lenient).await, 1);

    // the replica stops replaying: a second patient is on the primary only; within the
    // bound a report may still read the replica, beyond it the primary
    sqlx::query("SELECT pg_wal_replay_pause()")
        .execute(&mut owner(&replica, database).await)
        .await
        .expect("pause replay");
    ward.post_expect("/api/v1/patients", patient(NHS[1]), StatusCode::CREATED)
        .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        scalar(&replica_url, "SELECT count(*) FROM patients").await,
        1
    );
    assert_eq!(
        waiting_in_sitrep(&hub_lenient).await,
        1,
        "within its bound a report reads the replica (which has one patient)"
    );
    assert_eq!(
        waiting_in_sitrep(&hub).await,
        2,
        "a replica behind by more than the bound is not read"
    );
    // the worklist (a page people work on) reads the primary whatever the replica does
    let listed = hub.get_json("/api/v1/patients").await;
    assert_eq!(items(&listed).len(), 2);

    // replay again: the replica is used again once current
    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(&mut owner(&replica, database).await)
        .await
        .expect("resume replay");
    let deadline = Instant::now() + Duration::from_secs(10);
    while scalar(&replica_url, "SELECT count(*) FROM patients").await < 2 {
        assert!(Instant::now() < deadline, "the replica never caught up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(waiting_in_sitrep(&hub).await, 2);

    // the replica gone: reports still answer, from the primary
    replica.stop();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(waiting_in_sitrep(&hub).await, 2);
    drop(primary);
}

/// A server of the application's own on `state`.
struct Served {
    base: String,
}

async fn serve_state(state: AppState) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move {
        homeward::serve_on(
            listener,
            state,
            homeward::server::ServerOptions::default(),
            std::future::pending(),
        )
        .await
    });
    Served { base }
}

impl Served {
    async fn api(&self, username: &str) -> Api {
        let client = reqwest::Client::new();
        let res = client
            .post(format!("{}/api/v1/auth/token", self.base))
            .json(&serde_json::json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .expect("the server answers");
        let body = expect_json(res, StatusCode::OK, "a token").await;
        Api {
            base: self.base.clone(),
            client,
            token: body["token"].as_str().unwrap_or_default().to_string(),
        }
    }
}

async fn owner(server: &PgServer, database: &str) -> sqlx::PgConnection {
    <sqlx::PgConnection as sqlx::Connection>::connect(&server.url(database))
        .await
        .expect("connect as the owner")
}

/// What a failover cost: how long until writes were served again, and how many
/// acknowledged writes the new primary lacks.
struct FailoverFigures {
    recovered_after: Duration,
    acknowledged: usize,
    lost: usize,
}

/// Files a case; its id when the server acknowledged it (201).
async fn file_case(ward: &Api, serial: usize) -> Option<i64> {
    let res = ward
        .post("/api/v1/patients", patient(&valid_nhs(serial)))
        .await;
    if res.status() != StatusCode::CREATED {
        return None;
    }
    let body: Value = serde_json::from_str(&text_of(res).await).ok()?;
    Some(id_of(&body))
}

/// Cases are filed one after another through the API while the primary is stopped (as by
/// a power cut) and the standby promoted; returns what the clients saw.
async fn fail_over(synchronous: bool) -> FailoverFigures {
    let (primary, replica) = primary_and_replica();
    let database = "homeward";
    let options = homeward::db::DbOptions::default();
    let pool = homeward::db::connect(&primary.url(database), &options)
        .await
        .expect("the primary, prepared");
    let mut conn = owner(&primary, database).await;
    sqlx::raw_sql(
        "INSERT INTO organisations (code, name, sector, kind) VALUES
           ('RHW', 'Royal Hartwell', 'nhs_acute', 'acute_trust'), ('HUB', 'The Hub', 'local_authority', 'hub');
         INSERT INTO sites (code, org_code, name) VALUES ('RHW01', 'RHW', 'Hartwell General');
         INSERT INTO wards (code, site_code, org_code, name) VALUES ('RHW-AMU', 'RHW01', 'RHW', 'AMU');",
    )
    .execute(&mut conn)
    .await
    .expect("an area");
    if synchronous {
        // a commit is acknowledged once the standby has it too
        for sql in [
            "ALTER SYSTEM SET synchronous_standby_names = '*'",
            "SELECT pg_reload_conf()",
        ] {
            sqlx::query(sql)
                .execute(&mut conn)
                .await
                .expect("synchronous replication");
        }
    }
    homeward::accounts::users::create(
        &pool,
        None,
        homeward::accounts::users::NewUser {
            username: "ward".into(),
            display_name: "ward".into(),
            role: homeward::domain::Role::Ward,
            org_code: "RHW".into(),
            password: PASSWORD.into(),
        },
    )
    .await
    .expect("a user");
    // the callers are looked up on a pool of their own, as `homeward serve` does: it moves too
    let system = homeward::db::connect_system(&pool, &homeward::db::DbOptions::default());
    homeward::db::failover::watch(
        pool.clone(),
        vec![system.clone()],
        vec![
            ("127.0.0.1".into(), primary.port),
            ("127.0.0.1".into(), replica.port),
        ],
    );
    let state =
        AppState::new(pool.clone(), Clock::fixed(default_now()), test_config()).with_system(system);
    let app = serve_state(state).await;
    let ward = app.api("ward").await;

    // eight clients file cases one after another each, before, during and after the failure
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(i64, Instant)>::new()));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = vec![];
    for w in 0..8 {
        let api = Api {
            base: ward.base.clone(),
            client: ward.client.clone(),
            token: ward.token.clone(),
        };
        let (acknowledged, done) = (acknowledged.clone(), done.clone());
        writers.push(tokio::spawn(async move {
            let mut serial = w * 100_000;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                serial += 1;
                match file_case(&api, serial).await {
                    Some(id) => acknowledged.lock().unwrap().push((id, Instant::now())),
                    None => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        }));
    }
    // some writes acknowledged before the failure (however loaded the machine is)
    let warming = Instant::now();
    while acknowledged.lock().unwrap().len() < 16 {
        assert!(
            warming.elapsed() < Duration::from_secs(60),
            "no write before the failure"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stopped = Instant::now();
    primary.stop();
    pg(
        "pg_ctl",
        &["-D", replica.dir.to_str().unwrap(), "-w", "promote"],
    );
    let recovered_after = loop {
        let after = acknowledged
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, at)| *at > stopped + Duration::from_millis(50))
            .count();
        if after >= 8 {
            break stopped.elapsed();
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(30),
            "writes not served again within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in writers {
        w.await.expect("a writer");
    }
    // when the first of the writes after the failure was acknowledged
    let first_after = acknowledged
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, at)| *at > stopped + Duration::from_millis(50))
        .map(|(_, at)| at.duration_since(stopped))
        .min()
        .unwrap_or(recovered_after);
    let recovered_after = first_after;
    let acknowledged: Vec<i64> = acknowledged
        .lock()
        .unwrap()
        .iter()
        .map(|(id, _)| *id)
        .collect();
    // the acknowledged writes the new primary holds
    let ids: Vec<i64> = acknowledged.clone();
    let mut conn = owner(&replica, database).await;
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM patients WHERE id = ANY($1)")
        .bind(&ids)
        .fetch_one(&mut conn)
        .await
        .expect("count on the new primary");
    drop(primary);
    FailoverFigures {
        recovered_after,
        acknowledged: acknowledged.len(),
        lost: acknowledged.len() - held as usize,
    }
}

#[tokio::test]
async fn with_synchronous_replication_a_failover_loses_no_acknowledged_write() {
    if !tools_present(
        "failover",
        &[missing_program("runuser"), missing_program("pg_basebackup")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>(),
    ) {
        return;
    }
    let f = fail_over(true).await;
    println!(
        "FIGURE failover, synchronous replication: writes served again {:.1} s after the primary stopped; {} acknowledged writes, {} lost",
        f.recovered_after.as_secs_f64(),
        f.acknowledged,
        f.lost
    );
    assert!(
        f.recovered_after < Duration::from_secs(10),
        "{:?}",
        f.recovered_after
    );
    assert_eq!(f.lost, 0);

    let f = fail_over(false).await;
    println!(
        "FIGURE failover, asynchronous replication: writes served again {:.1} s after the primary stopped; {} acknowledged writes, {} lost",
        f.recovered_after.as_secs_f64(),
        f.acknowledged,
        f.lost
    );
    assert!(
        f.recovered_after < Duration::from_secs(10),
        "{:?}",
        f.recovered_after
    );
}
