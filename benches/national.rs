//! National scale (issue 15): many hubs on one install, served by three processes.
//!
//! First a single small hub: the demo area (its hub `HUB`, about 150 open cases) served by
//! three `homeward serve` processes, with `HUB`'s coordinators doing a board round as fast as
//! CONNECTIONS requests in flight allow: the worklist page (`GET /hub`, 45% of the requests),
//! an open case's page (`GET /patients/{id}`, 30%), a discharged case's page (a readmission
//! looked up, 10%: its history is among the millions) and a command (a note through
//! `POST /api/v1/patients/{id}/notes`, 15%), each coordinator signed in once (a session
//! cookie for pages, a token for the API) and its requests sent to one of the three
//! processes. Then the install grows to national size: HUBS hubs in all, each added hub with
//! one acute trust of 8 wards, OPEN_PER_HUB open cases and its share of DISCHARGED
//! discharged cases, each with four history entries (filed, not meeting the criteria,
//! pathway chosen, discharged), bulk-loaded with the indexes dropped and rebuilt, then
//! VACUUM ANALYZE. COORDINATORS coordinators, spread over every hub, do the same board round
//! against the same three processes.
//!
//! It prints answered requests per second (a failed request is counted as an error, not in
//! the rate or the times), p50 and p99 per kind of request, the database's size, and `ratio`
//! lines: the national run's requests per second over the small hub's (1.0: a page costs the
//! same whatever the install holds) and p99 over p99.
//!
//! Run: `cargo bench --bench national` (needs PostgreSQL as for the tests, about 6 GB of
//! disk and 8-10 minutes at the default size, most of it the load). Environment: `BENCH_HUBS` (42),
//! `BENCH_OPEN_PER_HUB` (1000), `BENCH_DISCHARGED` (5000000), `BENCH_COORDINATORS` (1000),
//! `BENCH_CONNECTIONS` (64), `BENCH_SECONDS` (20), `BENCH_DATABASE_SERVER`. It re-creates a
//! database named `homeward_bench_national`. Loopback only; bounded in time.

mod common;

use homeward::config::Config;
use homeward::domain::time::Clock;
use homeward::state::AppState;
use rand::Rng;
use serde_json::json;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

/// One `homeward serve` (the release binary), killed when dropped.
struct Process {
    child: tokio::process::Child,
    base: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn start_process(database_url: &str) -> anyhow::Result<Process> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_homeward"))
        .env("DATABASE_URL", database_url)
        .env("HOMEWARD_DB_POOL_SIZE", "16")
        .env("HOMEWARD_LOG", "warn")
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .args(["--mfa-roles", "none", "--max-concurrent-requests", "256"])
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..300 {
        if reqwest::get(format!("{base}/healthz")).await.is_ok() {
            return Ok(Process { child, base });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("homeward serve did not answer within 30 s")
}

/// Case ids shared by a hub's coordinators.
type Cases = Arc<Vec<i64>>;

/// A signed-in coordinator: the process it uses, a session cookie and an API token, and
/// the open cases of its hub.
struct Coordinator {
    base: String,
    cookie: String,
    token: String,
    cases: Arc<Vec<i64>>,
    past: Arc<Vec<i64>>,
}

/// Creates `per_hub` coordinators in each of `hubs` (with the demo coordinator's password)
/// and signs them in, spread over `processes`.
async fn coordinators(
    owner: &PgPool,
    processes: &[Process],
    hubs: &[String],
    per_hub: u64,
) -> anyhow::Result<Vec<Coordinator>> {
    sqlx::query(
        "INSERT INTO users (username, display_name, role, org_code, password_hash)
         SELECT 'coord-' || lower(h) || '-' || n, 'Coordinator ' || n, 'hub', h, u.password_hash
         FROM unnest($1::text[]) h, generate_series(1, $2::int) n,
              (SELECT password_hash FROM users WHERE username = 'hub.demo') u
         ON CONFLICT (username) DO NOTHING",
    )
    .bind(hubs)
    .bind(per_hub as i32)
    .execute(owner)
    .await?;
    // each hub's open cases, and up to 2,000 of its discharged ones spread over its years
    let rows: Vec<(String, Vec<i64>, Vec<i64>)> = sqlx::query_as(
        "SELECT h,
                ARRAY(SELECT id FROM patients
                      WHERE hub_code = h AND status NOT IN ('discharged', 'cancelled')),
                ARRAY(SELECT id FROM patients
                      WHERE hub_code = h AND status = 'discharged'
                      ORDER BY (id * 7919) % 100003 LIMIT 2000)
         FROM unnest($1::text[]) h",
    )
    .bind(hubs)
    .fetch_all(owner)
    .await?;
    let ids: HashMap<String, (Cases, Cases)> = rows
        .into_iter()
        .map(|(h, open, past)| (h, (Arc::new(open), Arc::new(past))))
        .collect();
    let mut wanted = vec![];
    for h in hubs {
        for n in 1..=per_hub {
            wanted.push((format!("coord-{}-{n}", h.to_lowercase()), h.clone()));
        }
    }
    // a few sign-ins at a time: more than 20 in flight from one address would be throttled
    let mut out = vec![];
    for chunk in wanted.chunks(8) {
        let mut tasks = vec![];
        for (i, (username, hub)) in chunk.iter().enumerate() {
            let base = processes[(out.len() + i) % processes.len()].base.clone();
            let username = username.clone();
            let (cases, past) = ids.get(hub).cloned().unwrap_or_default();
            tasks.push(tokio::spawn(async move {
                let (cookie, token) = common::sign_in(&base, &username).await?;
                anyhow::Ok(Coordinator {
                    base,
                    cookie,
                    token,
                    cases,
                    past,
                })
            }));
        }
        for t in tasks {
            out.push(t.await??);
        }
    }
    Ok(out)
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Kind {
    Worklist,
    CasePage,
    PastCase,
    Note,
}

struct Round {
    rps: f64,
    per_kind: Vec<(Kind, usize, Duration, Duration)>,
    p99: Duration,
    errors: usize,
}

fn pct(times: &[Duration], p: f64) -> Duration {
    times
        .get(((times.len().max(1) - 1) as f64 * p).round() as usize)
        .copied()
        .unwrap_or_default()
}

/// `in_flight` workers, each taking the next coordinator in turn and sending one request of
/// a board round, for `seconds`.
async fn board_round(coords: Arc<Vec<Coordinator>>, in_flight: usize, seconds: u64) -> Round {
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = vec![];
    for _ in 0..in_flight {
        let coords = coords.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let http = client();
            let mut times: Vec<(Kind, Duration, bool)> = vec![];
            while Instant::now() < deadline {
                let c = &coords[next.fetch_add(1, Ordering::Relaxed) % coords.len()];
                let (roll, pick, pick_past) = {
                    let mut rng = rand::rng();
                    (
                        rng.random_range(0..100),
                        rng.random_range(0..c.cases.len().max(1)),
                        rng.random_range(0..c.past.len().max(1)),
                    )
                };
                let mut kind = match roll {
                    0..45 => Kind::Worklist,
                    45..75 => Kind::CasePage,
                    75..85 => Kind::PastCase,
                    _ => Kind::Note,
                };
                if kind == Kind::PastCase && c.past.is_empty() {
                    kind = Kind::CasePage;
                }
                let case = match kind {
                    Kind::PastCase => c.past[pick_past],
                    _ => c.cases.get(pick).copied().unwrap_or(0),
                };
                let req = match kind {
                    Kind::Worklist => http
                        .get(format!("{}/hub", c.base))
                        .header("cookie", &c.cookie),
                    Kind::CasePage | Kind::PastCase => http
                        .get(format!("{}/patients/{case}", c.base))
                        .header("cookie", &c.cookie),
                    Kind::Note => http
                        .post(format!("{}/api/v1/patients/{case}/notes", c.base))
                        .bearer_auth(&c.token)
                        .json(
                            &json!({"text": "Board round: chased the care home.", "kind": "call"}),
                        ),
                };
                let s = Instant::now();
                let ok = match req.send().await {
                    Ok(res) => res.status().is_success() && res.bytes().await.is_ok(),
                    Err(_) => false,
                };
                times.push((kind, s.elapsed(), ok));
            }
            times
        }));
    }
    let mut all = vec![];
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let errors = all.iter().filter(|(_, _, ok)| !ok).count();
    all.retain(|(_, _, ok)| *ok);
    let mut per_kind = vec![];
    for kind in [Kind::Worklist, Kind::CasePage, Kind::PastCase, Kind::Note] {
        let mut times: Vec<Duration> = all
            .iter()
            .filter(|(k, _, _)| *k == kind)
            .map(|(_, d, _)| *d)
            .collect();
        times.sort();
        per_kind.push((kind, times.len(), pct(&times, 0.5), pct(&times, 0.99)));
    }
    let mut times: Vec<Duration> = all.iter().map(|(_, d, _)| *d).collect();
    times.sort();
    Round {
        rps: all.len() as f64 / elapsed,
        p99: pct(&times, 0.99),
        per_kind,
        errors,
    }
}

fn report(label: &str, r: &Round) {
    println!(
        "{label}: {:.0} requests/s, p99 {:.1} ms, {} errors",
        r.rps,
        r.p99.as_secs_f64() * 1e3,
        r.errors
    );
    for (kind, n, p50, p99) in &r.per_kind {
        println!(
            "  {kind:?}: {n} requests, p50 {:.1} ms, p99 {:.1} ms",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
}

async fn database_size(owner: &PgPool) -> anyhow::Result<String> {
    Ok(
        sqlx::query_scalar("SELECT pg_size_pretty(pg_database_size(current_database()))")
            .fetch_one(owner)
            .await?,
    )
}

/// Adds `hubs` hubs (BN001...), each with one acute trust of 8 wards, `open` open cases and
/// `discharged` discharged ones with four history entries each. The indexes of the two big
/// tables (except those behind constraints) are dropped for the load and built again.
async fn national_load(
    owner: &PgPool,
    hubs: u64,
    open: u64,
    discharged: u64,
) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let saved: Vec<(String, String)> = sqlx::query_as(
        "SELECT indexname::text, indexdef FROM pg_indexes
         WHERE schemaname = 'public' AND tablename IN ('patients', 'patient_history')
           AND indexname NOT IN (SELECT conname FROM pg_constraint)",
    )
    .fetch_all(owner)
    .await?;
    for (name, _) in &saved {
        sqlx::query(&format!("DROP INDEX \"{name}\""))
            .execute(owner)
            .await?;
    }
    sqlx::raw_sql(&common::hubs_sql("BN", "BM", hubs))
        .execute(owner)
        .await?;
    let per_hub = open + discharged / hubs.max(1);
    for h in 1..=hubs {
        let started = Instant::now();
        let first = 30_000_000 + (h - 1) * per_hub;
        let mut tx = owner.begin().await?;
        sqlx::query("SET LOCAL session_replication_role = replica")
            .execute(&mut *tx)
            .await?;
        sqlx::raw_sql(&format!(
            "INSERT INTO patients (id, nhs_number, given_name, family_name, date_of_birth, sex, postcode, trust_code, ward_code, bed,
               admitted_at, status, pathway, discharge_ready_at, discharged_at, delay_reason, created_at, updated_at, hub_code,
               search_name)
             SELECT {first} + g, lpad(({first} + g)::text, 10, '0'), 'Bench', 'Patient ' || g, '1940-01-01', 'female', 'LS9 7TF',
               'BM{h:03}', 'BM{h:03}-W' || (1 + g % 8), 'A1', admitted,
               CASE WHEN NOT is_open THEN 'discharged' WHEN r1 < 15 THEN 'planning' WHEN r1 < 30 THEN 'awaiting_triage'
                    WHEN r1 < 80 THEN 'awaiting_care' WHEN r1 < 90 THEN 'care_arranged' ELSE 'ready_to_go' END,
               CASE WHEN is_open AND r1 < 30 THEN NULL ELSE 1 + r2 % 3 END,
               CASE WHEN is_open AND r1 < 15 THEN NULL ELSE admitted + interval '1 hour' * (2 + r1) END,
               CASE WHEN NOT is_open THEN admitted + interval '1 hour' * (30 + r1 * 3) END,
               CASE WHEN is_open AND r1 < 15 THEN NULL ELSE (ARRAY['p1_new_care','p2_bed','p3_placement','medicines_tto','transport'])[1 + r2 % 5] END,
               admitted, admitted, 'BN{h:03}', 'bench patient ' || g
             FROM (SELECT g, g < {open} AS is_open,
                          CASE WHEN g < {open} THEN '{now}'::timestamptz - interval '30 days' * ((g * 7919) % 1000) / 1000.0
                               ELSE '{now}'::timestamptz - interval '1096 days' * ((g * 104729) % 100000) / 100000.0 - interval '20 days' END AS admitted,
                          (g * 7919) % 100 AS r1, (g * 104729) % 97 AS r2
                   FROM generate_series(0::bigint, {last}::bigint) g) s;
             INSERT INTO patient_history (patient_id, at, action, detail, from_status, to_status, hub_code)
             SELECT p.id, p.created_at + k.after, k.action, '', k.from_status, k.to_status, p.hub_code
             FROM patients p
             CROSS JOIN (VALUES (interval '0 hours', 'created', NULL, 'planning'),
                                (interval '2 hours', 'not_meeting_criteria', 'planning', 'awaiting_triage'),
                                (interval '5 hours', 'pathway_chosen', 'awaiting_triage', 'awaiting_care'),
                                (interval '30 hours', 'discharged', 'awaiting_care', 'discharged'))
                  AS k(after, action, from_status, to_status)
             WHERE p.id BETWEEN {first} AND {first} + {last}
               AND (p.status = 'discharged' OR k.action = 'created');",
            last = per_hub - 1,
        ))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if h == 1 || h % 10 == 0 || h == hubs {
            println!(
                "  hub {h} of {hubs} loaded ({per_hub} cases) in {:?}",
                started.elapsed()
            );
        }
    }
    let started = Instant::now();
    sqlx::raw_sql("SET maintenance_work_mem = '1GB'; SET max_parallel_maintenance_workers = 2;")
        .execute(owner)
        .await?;
    for (_, def) in &saved {
        sqlx::query(def).execute(owner).await?;
    }
    println!(
        "  {} indexes built again in {:?}",
        saved.len(),
        started.elapsed()
    );
    // the counters, as the triggers (off for the load) would have kept them
    sqlx::raw_sql(&format!(
        "BEGIN; {} SELECT setval('patient_history_id_seq', (SELECT max(id) FROM patient_history)); COMMIT;",
        common::RECOUNT_SQL
    ))
    .execute(owner)
    .await?;
    let started = Instant::now();
    sqlx::query("VACUUM (ANALYZE)").execute(owner).await?;
    // the load's gigabytes are written out now, not while the traffic is measured
    sqlx::query("CHECKPOINT").execute(owner).await?;
    println!("  VACUUM ANALYZE and CHECKPOINT in {:?}", started.elapsed());
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let hubs = env_num("BENCH_HUBS", 42).max(3);
    let open_per_hub = env_num("BENCH_OPEN_PER_HUB", 1000);
    let discharged = env_num("BENCH_DISCHARGED", 5_000_000);
    let coordinator_count = env_num("BENCH_COORDINATORS", 1000);
    let in_flight = env_num("BENCH_CONNECTIONS", 64) as usize;
    let seconds = env_num("BENCH_SECONDS", 20);
    let server = std::env::var("BENCH_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let url = format!("{server}/homeward_bench_national");
    let admin = PgPool::connect(&format!("{server}/postgres")).await?;
    sqlx::query("DROP DATABASE IF EXISTS homeward_bench_national WITH (FORCE)")
        .execute(&admin)
        .await?;
    // the demo area (two hubs: HUB, the small one measured first, and HUB2), loaded once
    let pool = homeward::db::connect(&url, &Default::default()).await?;
    let state = AppState::new(pool.clone(), Clock::system(), Config::default());
    homeward::demo::load(&state).await?;
    let owner = PgPool::connect(&url).await?;
    sqlx::query("ANALYZE").execute(&owner).await?;

    let mut processes = vec![];
    for _ in 0..3 {
        processes.push(start_process(&url).await?);
    }
    let per_hub = coordinator_count.div_ceil(hubs).max(1);

    // one small hub
    let small = Arc::new(coordinators(&owner, &processes, &["HUB".to_string()], per_hub).await?);
    println!(
        "small: hub HUB, {} coordinators, database {}",
        small.len(),
        database_size(&owner).await?
    );
    board_round(small.clone(), in_flight, 2).await; // warm up
    let small_round = board_round(small, in_flight, seconds).await;
    report(
        &format!("small hub, 3 processes, {in_flight} in flight"),
        &small_round,
    );

    // national size
    let started = Instant::now();
    let added = hubs - 2;
    national_load(&owner, added, open_per_hub, discharged).await?;
    let (cases, open, history): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE status NOT IN ('discharged','cancelled')),
                (SELECT count(*) FROM patient_history)
         FROM patients",
    )
    .fetch_one(&owner)
    .await?;
    println!(
        "national: {hubs} hubs, {cases} cases ({open} open), {history} history entries, database {}, loaded in {:?}",
        database_size(&owner).await?,
        started.elapsed()
    );
    let all_hubs: Vec<String> =
        sqlx::query_scalar("SELECT code FROM organisations WHERE kind = 'hub' ORDER BY code")
            .fetch_all(&owner)
            .await?;
    let started = Instant::now();
    let national = Arc::new(coordinators(&owner, &processes, &all_hubs, per_hub).await?);
    println!(
        "{} coordinators over {} hubs signed in in {:?}",
        national.len(),
        all_hubs.len(),
        started.elapsed()
    );
    board_round(national.clone(), in_flight, 2).await; // warm up
    let national_round = board_round(national, in_flight, seconds).await;
    report(
        &format!("national, 3 processes, {in_flight} in flight"),
        &national_round,
    );
    println!(
        "ratio national/small requests per second: {:.3}",
        national_round.rps / small_round.rps
    );
    println!(
        "ratio national/small p99: {:.3}",
        national_round.p99.as_secs_f64() / small_round.p99.as_secs_f64().max(1e-9)
    );
    drop(processes);
    Ok(())
}
