//! The worklist at the speed of the stack.
//!
//! Loads OPEN open cases and DISCHARGED discharged ones (SQL bulk load, then ANALYZE), serves
//! Homeward in-process, and in the same run a minimal axum + sqlx + askama handler that
//! renders the same 100 open rows from PostgreSQL as an HTML table: the baseline. Then, at
//! 16 and 64 keep-alive connections for SECONDS each, it measures
//! - the hub worklist page (`GET /hub`, signed in with a session cookie),
//! - the JSON list (`GET /api/v1/patients?limit=100`, bearer token),
//! - the baseline,
//!
//! and prints `ratio` lines (Homeward's requests per second over the baseline's, so the
//! figure does not depend on the machine), p50/p99 latencies, SQL statements per request
//! (counted from sqlx's statement log), access-log and WAL bytes per request, and flagging
//! throughput (`POST /api/v1/patients`). A `ceiling` line at 16 and 64 tasks gives what the
//! database allows the page: the worklist's list call (its one statement, as `GET /hub` runs
//! it, the hubs' setting of its connection, and the decoding of its rows) and the minimal
//! handler's query, each called straight through sqlx with no HTTP, session, caller or HTML.
//! Then it adds OTHER_HUBS hubs beside the measured one (each a trust of 8 wards with
//! OTHER_HUB_OPEN open and OTHER_HUB_DISCHARGED discharged cases: by default 41 more hubs and
//! about 42,000 open cases in all, a national install's open list) and measures the same hub's page and list again, printing the slowdown as a
//! ratio. Then it grows the hub's own open list to LARGE_OPEN cases and measures again.
//!
//! Run: `cargo bench --bench worklist` (needs PostgreSQL as for the tests). Environment:
//! `BENCH_OPEN` (3000), `BENCH_DISCHARGED` (100000), `BENCH_LARGE_OPEN` (100000, 0 to skip),
//! `BENCH_OTHER_HUBS` (41, 0 to skip), `BENCH_OTHER_HUB_OPEN` (950), `BENCH_OTHER_HUB_DISCHARGED`
//! (10000), `BENCH_SECONDS` (5), `BENCH_DATABASE_SERVER`. It re-creates a database named
//! `homeward_bench_worklist`. Loopback only; bounded in time.

mod common;

use askama::Template;
use axum::extract::State;
use axum::response::Html;
use chrono::{DateTime, Utc};
use homeward::config::Config;
use homeward::domain::time::Clock;
use homeward::state::AppState;
use serde_json::json;
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------------------
// Counting SQL statements: sqlx logs every statement (Homeward sets the level to TRACE) under
// the target `sqlx::query`; this layer counts them while counting is switched on.

static COUNTING: AtomicBool = AtomicBool::new(false);
static STATEMENTS: AtomicU64 = AtomicU64::new(0);

struct StatementCounter;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for StatementCounter {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        COUNTING.load(Ordering::Relaxed) && metadata.target() == "sqlx::query"
    }
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            STATEMENTS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The baseline: the same 100 open rows of the hub, rendered with askama, read the cheapest
// way (an index in the worklist's order: before issue 10 it was `patients_open_worklist_idx`,
// now `patients_open_wait_idx`, which leads with the hub since several hubs share an install).

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    nhs_number: String,
    given_name: String,
    family_name: String,
    ward_code: String,
    status: String,
    discharge_ready_at: Option<DateTime<Utc>>,
}

#[derive(Template)]
#[template(
    ext = "html",
    source = "<!DOCTYPE html><html lang=\"en\"><head><title>Worklist</title></head><body><table>\
<thead><tr><th>Patient</th><th>NHS number</th><th>Ward</th><th>Status</th><th>Ready since</th></tr></thead><tbody>\
{% for r in rows %}<tr><td><a href=\"/patients/{{ r.id }}\">{{ r.family_name }}, {{ r.given_name }}</a></td>\
<td>{{ r.nhs_number }}</td><td>{{ r.ward_code }}</td><td>{{ r.status }}</td>\
<td>{% if let Some(t) = r.discharge_ready_at %}{{ t }}{% endif %}</td></tr>{% endfor %}</tbody></table></body></html>"
)]
struct MinimalPage {
    rows: Vec<Row>,
}

/// The baseline's one query: the hub's first 100 open cases in the worklist's order.
const MINIMAL_SQL: &str = "SELECT id, nhs_number, given_name, family_name, ward_code, status, discharge_ready_at \
     FROM patients WHERE hub_code = 'HUB' AND status NOT IN ('discharged','cancelled') \
     ORDER BY case_wait(discharge_ready_at), id DESC LIMIT 100";

async fn minimal(State(pool): State<PgPool>) -> Result<Html<String>, String> {
    let rows = sqlx::query_as::<_, Row>(MINIMAL_SQL)
        .fetch_all(&pool)
        .await
        .map_err(|e| e.to_string())?;
    MinimalPage { rows }
        .render()
        .map(Html)
        .map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------
// Load

#[derive(Clone)]
struct Target {
    name: &'static str,
    url: String,
    headers: Vec<(&'static str, String)>,
}

struct Measured {
    rps: f64,
    p50: Duration,
    p99: Duration,
    errors: u64,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

async fn get(client: &reqwest::Client, t: &Target) -> bool {
    let mut req = client.get(&t.url);
    for (k, v) in &t.headers {
        req = req.header(*k, v);
    }
    match req.send().await {
        Ok(res) => res.status().is_success() && res.bytes().await.is_ok(),
        Err(_) => false,
    }
}

/// `connections` clients, each sending one request after another for `seconds`.
async fn load(t: &Target, connections: usize, seconds: u64) -> Measured {
    // warm up every connection first
    let clients: Vec<reqwest::Client> = (0..connections).map(|_| client()).collect();
    for c in &clients {
        get(c, t).await;
    }
    let t = Arc::new(t.clone());
    let calls = clients
        .into_iter()
        .map(|c| {
            let t = t.clone();
            move || {
                let (c, t) = (c.clone(), t.clone());
                async move { get(&c, &t).await }
            }
        })
        .collect();
    run(calls, seconds).await
}

/// `tasks` tasks, each calling `call` one call after another for `seconds`: the load of
/// [`load`] without HTTP.
async fn load_calls<F, Fut>(tasks: usize, seconds: u64, call: F) -> Measured
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    run(vec![call; tasks], seconds).await
}

/// Runs every one of `calls` at once, each one call after another for `seconds` (a call
/// answers whether it succeeded), and measures the calls' rate and latencies.
async fn run<F, Fut>(calls: Vec<F>, seconds: u64) -> Measured
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = vec![];
    for call in calls {
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            let mut times = vec![];
            while Instant::now() < deadline {
                let s = Instant::now();
                if !call().await {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                times.push(s.elapsed());
            }
            times
        }));
    }
    let mut times = vec![];
    for task in tasks {
        times.extend(task.await.unwrap_or_default());
    }
    let elapsed = started.elapsed().as_secs_f64();
    times.sort();
    let pct = |p: f64| {
        times
            .get(((times.len().max(1) - 1) as f64 * p).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    Measured {
        rps: times.len() as f64 / elapsed,
        p50: pct(0.5),
        p99: pct(0.99),
        errors: errors.load(Ordering::Relaxed),
    }
}

/// Whether a call read `want` rows; says the first failure of a kind once (the load counts
/// the rest as errors).
fn read_rows<E: std::fmt::Display>(
    said: &'static AtomicBool,
    what: &str,
    rows: Result<usize, E>,
    want: usize,
) -> bool {
    let failure = match rows {
        Ok(n) if n == want => return true,
        Ok(n) => format!("{n} rows, not {want}"),
        Err(e) => e.to_string(),
    };
    if !said.swap(true, Ordering::Relaxed) {
        eprintln!("{what} failed: {failure}");
    }
    false
}

/// The ceiling the database puts on the page: the worklist's list call (its one statement
/// as `GET /hub` runs it, the hubs' setting of the connection it takes, and the decoding of
/// its rows) called straight through sqlx with no HTTP, session, caller or HTML, against the
/// minimal handler's query called the same way. The list call's rate, and so its ratio to the
/// minimal handler over HTTP ("at most"), are limits the page cannot pass; "call for call"
/// (the list call against the bare minimal query, which also skips the hubs' wall: it runs
/// as the database's owner, as the minimal handler does) is for information.
async fn ceiling(
    pool: &PgPool,
    min_pool: &PgPool,
    minimal_rps: &[(usize, f64)],
    seconds: u64,
) -> anyhow::Result<()> {
    use homeward::patients::pages::worklist::{WORKLIST_PAGE_SIZE, WORKLIST_SEEN, WorklistQuery};
    static LIST_FAILED: AtomicBool = AtomicBool::new(false);
    static QUERY_FAILED: AtomicBool = AtomicBool::new(false);
    let caller = homeward::accounts::users::by_username(pool, "hub.demo")
        .await?
        .ok_or_else(|| anyhow::anyhow!("no hub.demo"))?
        .caller();
    // the calls below run behind the hubs' wall as a request does: a connection taken in the
    // scope is set to the caller's hubs, not to every hub
    let hubs: String = homeward::tenancy::scope(async {
        homeward::tenancy::enter(&caller.hubs);
        sqlx::query_scalar("SELECT current_setting('homeward.hubs')")
            .fetch_one(pool)
            .await
    })
    .await?;
    anyhow::ensure!(
        hubs == caller.hubs,
        "the list call would see {hubs:?}, not {:?}",
        caller.hubs
    );
    for &(tasks, minimal) in minimal_rps {
        let statement = {
            let (pool, caller) = (pool.clone(), caller.clone());
            move || {
                let (pool, caller) = (pool.clone(), caller.clone());
                homeward::tenancy::scope(async move {
                    homeward::tenancy::enter(&caller.hubs);
                    let now = Utc::now();
                    // the worklist as a coordinator first opens it
                    let (filter, page) = WorklistQuery::default().list_request(&caller, now);
                    let listed = homeward::cases::queries::list(
                        &pool,
                        &caller,
                        &filter,
                        page,
                        now,
                        Some(WORKLIST_SEEN),
                    )
                    .await;
                    let rows = listed.map(|l| l.cases.len());
                    read_rows(&LIST_FAILED, "list call", rows, WORKLIST_PAGE_SIZE as usize)
                })
            }
        };
        let s = load_calls(tasks, seconds, statement).await;
        let query = {
            let pool = min_pool.clone();
            move || {
                let pool = pool.clone();
                async move {
                    let rows = sqlx::query_as::<_, Row>(MINIMAL_SQL).fetch_all(&pool).await;
                    read_rows(&QUERY_FAILED, "minimal query", rows.map(|r| r.len()), 100)
                }
            }
        };
        let q = load_calls(tasks, seconds, query).await;
        println!(
            "ceiling at {tasks} tasks: the list call alone (its statement, setting and rows) {:.0}/s (p99 {}, {} errors), \
             the minimal handler's query alone {:.0}/s ({} errors); the page can reach at most {:.3}x the minimal handler \
             ({:.0} requests/s in this run); call for call {:.3}x",
            s.rps,
            ms(s.p99),
            s.errors,
            q.rps,
            q.errors,
            s.rps / minimal,
            minimal,
            s.rps / q.rps,
        );
    }
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Statements, access-log bytes and WAL bytes per request, over `n` requests one at a time.
async fn costs(pool: &PgPool, t: &Target, n: u64) -> anyhow::Result<()> {
    let c = client();
    get(&c, t).await;
    let size = || async {
        sqlx::query_as::<_, (i64, String)>(
            "SELECT pg_total_relation_size('access_log'), pg_current_wal_lsn()::text",
        )
        .fetch_one(pool)
        .await
    };
    let (log_before, wal_before) = size().await?;
    let rows_before: i64 = sqlx::query_scalar("SELECT count(*) FROM access_log")
        .fetch_one(pool)
        .await?;
    STATEMENTS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    for _ in 0..n {
        get(&c, t).await;
    }
    COUNTING.store(false, Ordering::SeqCst);
    let statements = STATEMENTS.load(Ordering::SeqCst);
    let (log_after, _) = size().await?;
    let wal: i64 =
        sqlx::query_scalar("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint")
            .bind(&wal_before)
            .fetch_one(pool)
            .await?;
    let rows_after: i64 = sqlx::query_scalar("SELECT count(*) FROM access_log")
        .fetch_one(pool)
        .await?;
    println!(
        "costs {}: {:.1} SQL statements per request, {:.1} access-log rows and {:.0} access-log bytes per request, {:.0} WAL bytes per request ({n} requests)",
        t.name,
        statements as f64 / n as f64,
        (rows_after - rows_before) as f64 / n as f64,
        (log_after - log_before) as f64 / n as f64,
        wal as f64 / n as f64,
    );
    Ok(())
}

/// A valid NHS number (Modulus 11) from a serial number.
fn nhs_number(serial: u64) -> String {
    let mut n = 500_000_000 + serial;
    loop {
        let digits: Vec<u32> = format!("{n:09}")
            .bytes()
            .map(|b| u32::from(b - b'0'))
            .collect();
        let sum: u32 = digits
            .iter()
            .enumerate()
            .map(|(i, d)| d * (10 - i as u32))
            .sum();
        let check = 11 - sum % 11;
        let check = if check == 11 { 0 } else { check };
        if check != 10 {
            return format!("{n:09}{check}");
        }
        n += 1_000_000;
    }
}

/// Flags patients through the API as fast as `connections` clients can, for `seconds`.
async fn flagging(base: &str, token: &str, connections: usize, seconds: u64) -> Measured {
    let next = Arc::new(AtomicU64::new(1));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = vec![];
    for _ in 0..connections {
        let (next, errors) = (next.clone(), errors.clone());
        let url = format!("{base}/api/v1/patients");
        let token = token.to_string();
        tasks.push(tokio::spawn(async move {
            let c = client();
            let mut times = vec![];
            while Instant::now() < deadline {
                let serial = next.fetch_add(1, Ordering::Relaxed);
                let body = json!({
                    "nhs_number": nhs_number(serial), "given_name": "Flag", "family_name": "Bench",
                    "date_of_birth": "1950-01-01", "sex": "female", "postcode": "LS9 7TF",
                    "ward_code": "RHW-AMU", "bed": "B1", "admitted_at": "2026-01-01T10:00:00Z"
                });
                let s = Instant::now();
                let ok = c
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().as_u16() == 201);
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                times.push(s.elapsed());
            }
            times
        }));
    }
    let mut times = vec![];
    for t in tasks {
        times.extend(t.await.unwrap_or_default());
    }
    let elapsed = started.elapsed().as_secs_f64();
    times.sort();
    let pct = |p: f64| {
        times
            .get(((times.len().max(1) - 1) as f64 * p).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    Measured {
        rps: times.len() as f64 / elapsed,
        p50: pct(0.5),
        p99: pct(0.99),
        errors: errors.load(Ordering::Relaxed),
    }
}

/// Measures each target and the baseline again at 16 and 64 connections and prints, for each
/// target, its figures (`situation`: what changed since the first measurement), its ratio to
/// the baseline (`cases`: what the database holds now), and its ratio to its own first figure
/// in `first` (`versus`: what that was) as a slowdown.
async fn measure_again(
    targets: &[&Target],
    baseline: &Target,
    seconds: u64,
    situation: &str,
    cases: &str,
    first: &[(&str, usize, f64)],
    versus: &str,
) {
    for connections in [16, 64] {
        let b = load(baseline, connections, seconds).await;
        for t in targets {
            let m = load(t, connections, seconds).await;
            println!(
                "{} at {connections} connections {situation}: {:.0} requests/s, p50 {}, p99 {}, {} errors",
                t.name,
                m.rps,
                ms(m.p50),
                ms(m.p99),
                m.errors
            );
            println!(
                "ratio {:.3} {} / minimal handler at {connections} connections ({cases})",
                m.rps / b.rps,
                t.name
            );
            if let Some((_, _, then)) = first
                .iter()
                .find(|(n, c, _)| *n == t.name && *c == connections)
            {
                println!(
                    "ratio {:.3} {} {situation} / {versus}, {connections} connections (slowdown {:.2}x)",
                    m.rps / then,
                    t.name,
                    then / m.rps
                );
            }
        }
    }
}

/// Adds `open` open and `discharged` discharged cases, spread over both trusts' wards and
/// three years, with `offset` keeping ids and NHS numbers apart from earlier loads.
async fn bulk_load(pool: &PgPool, offset: u64, open: u64, discharged: u64) -> anyhow::Result<()> {
    let now = Utc::now();
    let total = open + discharged;
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(&format!(
        "CREATE TEMP TABLE gen ON COMMIT DROP AS
         SELECT g, g <= {open} AS is_open,
           (ARRAY['RHW','RXX'])[1 + g % 2] AS trust,
           (ARRAY['RHW-AMU','RHW-W10','RHW-W12','RHW-W14','RHW-W16','RHW-W18','RHW-W20','RHW-W22'])[1 + (g / 2) % 8] AS ward_rhw,
           (ARRAY['RXX-W01','RXX-W02','RXX-W03','RXX-W04','RXX-W05','RXX-W06','RXX-W07','RXX-W08'])[1 + (g / 2) % 8] AS ward_rxx,
           CASE WHEN g <= {open} THEN '{now}'::timestamptz - interval '30 days' * ((g * 7919) % 1000) / 1000.0
                ELSE '{now}'::timestamptz - interval '1096 days' * ((g * 104729) % 100000) / 100000.0 - interval '20 days' END AS admitted,
           (g * 7919) % 100 AS r1, (g * 104729) % 97 AS r2
         FROM generate_series(1::bigint, {total}::bigint) g;
         INSERT INTO patients (id, nhs_number, given_name, family_name, date_of_birth, sex, postcode, trust_code, ward_code, bed,
           admitted_at, status, pathway, discharge_ready_at, discharged_at, delay_reason, created_at, updated_at, hub_code,
           search_name)
         SELECT {base} + g, lpad(({base} + g)::text, 10, '0'), 'Bench', 'Patient ' || g, '1940-01-01', 'female', 'LS9 7TF',
           trust, CASE WHEN trust = 'RHW' THEN ward_rhw ELSE ward_rxx END, 'A1', admitted,
           CASE WHEN NOT is_open THEN 'discharged' WHEN r1 < 15 THEN 'planning' WHEN r1 < 30 THEN 'awaiting_triage'
                WHEN r1 < 80 THEN 'awaiting_care' WHEN r1 < 90 THEN 'care_arranged' ELSE 'ready_to_go' END,
           CASE WHEN is_open AND r1 < 30 THEN NULL ELSE 1 + r2 % 3 END,
           CASE WHEN is_open AND r1 < 15 THEN NULL ELSE admitted + interval '1 hour' * (2 + r1) END,
           CASE WHEN NOT is_open THEN admitted + interval '1 hour' * (30 + r1 * 3) END,
           CASE WHEN is_open AND r1 < 15 THEN NULL ELSE (ARRAY['p1_new_care','p2_bed','p3_placement','medicines_tto','transport'])[1 + r2 % 5] END,
           admitted, admitted, 'HUB', 'bench patient ' || g
         FROM gen;",
        base = 5_000_000 + offset,
    ))
    .execute(&mut *tx)
    .await?;
    recount(&mut tx).await?;
    tx.commit().await?;
    sqlx::query("ANALYZE").execute(pool).await?;
    Ok(())
}

/// Adds `hubs` other hubs, each with one acute trust of 8 wards, `open` open and `discharged`
/// discharged cases each (ids from 20,000,000): the benchmark's hub shares the install with
/// them, as a region's hubs would.
async fn other_hubs(pool: &PgPool, hubs: u64, open: u64, discharged: u64) -> anyhow::Result<()> {
    let now = Utc::now();
    let per_hub = open + discharged;
    let total = hubs * per_hub;
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(&common::hubs_sql("BH", "BT", hubs))
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(&format!(
        "CREATE TEMP TABLE gen ON COMMIT DROP AS
         SELECT g, (g / {hubs}) % {per_hub} < {open} AS is_open, lpad((1 + g % {hubs})::text, 3, '0') AS h,
           1 + (g / {hubs}) % 8 AS w,
           CASE WHEN (g / {hubs}) % {per_hub} < {open} THEN '{now}'::timestamptz - interval '30 days' * ((g * 7919) % 1000) / 1000.0
                ELSE '{now}'::timestamptz - interval '1096 days' * ((g * 104729) % 100000) / 100000.0 - interval '20 days' END AS admitted,
           (g * 7919) % 100 AS r1, (g * 104729) % 97 AS r2
         FROM generate_series(0::bigint, {last}::bigint) g;
         INSERT INTO patients (id, nhs_number, given_name, family_name, date_of_birth, sex, postcode, trust_code, ward_code, bed,
           admitted_at, status, pathway, discharge_ready_at, discharged_at, delay_reason, created_at, updated_at, hub_code,
           search_name)
         SELECT 20000000 + g, lpad((20000000 + g)::text, 10, '0'), 'Bench', 'Patient ' || g, '1940-01-01', 'female', 'LS9 7TF',
           'BT' || h, 'BT' || h || '-W' || w, 'A1', admitted,
           CASE WHEN NOT is_open THEN 'discharged' WHEN r1 < 15 THEN 'planning' WHEN r1 < 30 THEN 'awaiting_triage'
                WHEN r1 < 80 THEN 'awaiting_care' WHEN r1 < 90 THEN 'care_arranged' ELSE 'ready_to_go' END,
           CASE WHEN is_open AND r1 < 30 THEN NULL ELSE 1 + r2 % 3 END,
           CASE WHEN is_open AND r1 < 15 THEN NULL ELSE admitted + interval '1 hour' * (2 + r1) END,
           CASE WHEN NOT is_open THEN admitted + interval '1 hour' * (30 + r1 * 3) END,
           CASE WHEN is_open AND r1 < 15 THEN NULL ELSE (ARRAY['p1_new_care','p2_bed','p3_placement','medicines_tto','transport'])[1 + r2 % 5] END,
           admitted, admitted, 'BH' || h, 'bench patient ' || g
         FROM gen;",
        last = total.saturating_sub(1),
    ))
    .execute(&mut *tx)
    .await?;
    recount(&mut tx).await?;
    tx.commit().await?;
    sqlx::query("ANALYZE").execute(pool).await?;
    Ok(())
}

/// The triggers were off: counts the cases again as the worklist's counters hold them.
async fn recount(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>) -> anyhow::Result<()> {
    sqlx::raw_sql(common::RECOUNT_SQL)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::registry().with(StatementCounter).init();
    let open = env_num("BENCH_OPEN", 3_000);
    let discharged = env_num("BENCH_DISCHARGED", 100_000);
    let large_open = env_num("BENCH_LARGE_OPEN", 100_000);
    let seconds = env_num("BENCH_SECONDS", 5);
    let server = std::env::var("BENCH_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let admin = PgPool::connect(&format!("{server}/postgres")).await?;
    sqlx::query("DROP DATABASE IF EXISTS homeward_bench_worklist WITH (FORCE)")
        .execute(&admin)
        .await?;
    let pool = homeward::db::connect(
        &format!("{server}/homeward_bench_worklist"),
        &Default::default(),
    )
    .await?;
    // the demo coordinator signs in with a password alone (no second factor in a benchmark)
    let config = Config {
        mfa_roles: vec![],
        ..Config::default()
    };
    // sessions and callers on a pool of their own, as `homeward serve` has
    let system = homeward::db::connect_system(&pool, &Default::default());
    let state = AppState::new(pool.clone(), Clock::system(), config).with_system(system);
    homeward::demo::load(&state).await?;
    // the bulk load switches triggers off, which only the database's owner may do: the
    // server's own pool runs as the application role (see README "Two database roles")
    let owner = PgPool::connect(&format!("{server}/homeward_bench_worklist")).await?;
    let started = Instant::now();
    bulk_load(&owner, 0, open, discharged).await?;
    let (all, open_now): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE status NOT IN ('discharged','cancelled')) FROM patients",
    )
    .fetch_one(&pool)
    .await?;
    println!(
        "loaded {all} cases ({open_now} open, the demo area's included) in {:?}",
        started.elapsed()
    );

    // Homeward, and the baseline, each on a loopback port of its own
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = homeward::app(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let min_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(20)
        .connect(&format!("{server}/homeward_bench_worklist"))
        .await?;
    let min_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let min_base = format!("http://{}", min_listener.local_addr()?);
    let min_app = axum::Router::new()
        .route("/", axum::routing::get(minimal))
        .with_state(min_pool.clone());
    tokio::spawn(async move { axum::serve(min_listener, min_app).await });

    // a signed-in hub coordinator: a session cookie for the page, a token for the API
    let (cookie, token) = common::sign_in(&base, "hub.demo").await?;

    let page = Target {
        name: "worklist page",
        url: format!("{base}/hub"),
        headers: vec![("cookie", cookie)],
    };
    let list = Target {
        name: "JSON list",
        url: format!("{base}/api/v1/patients?limit=100"),
        headers: vec![("authorization", format!("Bearer {token}"))],
    };
    let baseline = Target {
        name: "minimal handler",
        url: min_base.clone(),
        headers: vec![],
    };
    for t in [&page, &list, &baseline] {
        let c = client();
        anyhow::ensure!(get(&c, t).await, "{} does not answer 200", t.name);
    }

    let mut small = vec![];
    let mut minimal_rps = vec![];
    for connections in [16, 64] {
        let b = load(&baseline, connections, seconds).await;
        minimal_rps.push((connections, b.rps));
        println!(
            "{} at {connections} connections: {:.0} requests/s, p50 {}, p99 {}, {} errors",
            baseline.name,
            b.rps,
            ms(b.p50),
            ms(b.p99),
            b.errors
        );
        for t in [&page, &list] {
            let m = load(t, connections, seconds).await;
            println!(
                "{} at {connections} connections: {:.0} requests/s, p50 {}, p99 {}, {} errors",
                t.name,
                m.rps,
                ms(m.p50),
                ms(m.p99),
                m.errors
            );
            println!(
                "ratio {:.3} {} / minimal handler at {connections} connections ({open_now} open cases)",
                m.rps / b.rps,
                t.name
            );
            small.push((t.name, connections, m.rps));
        }
    }
    ceiling(&pool, &min_pool, &minimal_rps, seconds).await?;
    for t in [&page, &list] {
        costs(&pool, t, 200).await?;
    }
    let f = flagging(&base, &token, 16, seconds).await;
    println!(
        "flagging at 16 connections: {:.0} patients/s, p50 {}, p99 {}, {} errors",
        f.rps,
        ms(f.p50),
        ms(f.p99),
        f.errors
    );

    // the same hub among many: other hubs' cases must not make its pages dearer
    let other = env_num("BENCH_OTHER_HUBS", 41);
    if other > 0 {
        let each_open = env_num("BENCH_OTHER_HUB_OPEN", 950);
        let each_discharged = env_num("BENCH_OTHER_HUB_DISCHARGED", 10_000);
        let started = Instant::now();
        other_hubs(&owner, other, each_open, each_discharged).await?;
        let (hubs, all_open, all): (i64, i64, i64) = sqlx::query_as(
            "SELECT count(DISTINCT hub_code), \
                    count(*) FILTER (WHERE status NOT IN ('discharged','cancelled')), count(*) \
             FROM patients",
        )
        .fetch_one(&owner)
        .await?;
        println!(
            "added {other} hubs ({each_open} open and {each_discharged} discharged cases each): \
             {hubs} hubs, {all_open} open cases of {all} in {:?}",
            started.elapsed()
        );
        let situation = format!("among {hubs} hubs");
        let cases = format!("{hubs} hubs, {all_open} open cases");
        measure_again(
            &[&page, &list],
            &baseline,
            seconds,
            &situation,
            &cases,
            &small,
            "alone",
        )
        .await;
        // every other order the worklist offers, against the default one, among the hubs
        let by_wait = load(&page, 16, seconds).await;
        for sort in ["ward", "status", "pathway", "coordinator"] {
            let sorted = Target {
                name: "worklist page sorted",
                url: format!("{base}/hub?sort={sort}"),
                headers: page.headers.clone(),
            };
            let m = load(&sorted, 16, seconds).await;
            println!(
                "worklist page sorted by {sort} at 16 connections among {hubs} hubs: {:.0} requests/s, p50 {}, p99 {}, {} errors",
                m.rps,
                ms(m.p50),
                ms(m.p99),
                m.errors
            );
            println!(
                "ratio {:.3} worklist page sorted by {sort} / by wait ({:.0} requests/s) among {hubs} hubs, 16 connections",
                m.rps / by_wait.rps,
                by_wait.rps
            );
        }
    }

    if large_open > 0 {
        let more = large_open.saturating_sub(open_now as u64);
        let started = Instant::now();
        bulk_load(&owner, 1_000_000, more, 0).await?;
        let open_large: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM patients WHERE hub_code = 'HUB' \
             AND status NOT IN ('discharged','cancelled')",
        )
        .fetch_one(&pool)
        .await?;
        println!(
            "grew the open list to {open_large} cases in {:?}",
            started.elapsed()
        );
        let situation = format!("with {open_large} open");
        let cases = format!("{open_large} open cases");
        let versus = format!("with {open_now} open");
        measure_again(
            &[&page, &list],
            &baseline,
            seconds,
            &situation,
            &cases,
            &small,
            &versus,
        )
        .await;
    }
    Ok(())
}
