//! Report speed on a large ICS's three years: at least 500,000 cases with their history
//! (periods, delay reasons, pathway decisions, referrals), about a thousand still open.
//! Times the sitrep for one day, the national acute return for one day and for a month, and
//! the flow report for one month.
//!
//! Run: `cargo bench --bench reports` (needs PostgreSQL as for the tests; `BENCH_CASES`
//! overrides 500000). It re-creates a database named `homeward_bench_reports`;
//! `BENCH_REUSE=1` times again on the database a previous run left (when it has the cases).

use chrono::{Duration, NaiveDate, Utc};
use homeward::domain::time::london_date;
use homeward::reports::national::{self, ReturnKind};
use homeward::reports::{flow, sitrep};
use std::time::{Duration as StdDuration, Instant};

fn env_num(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn time<F, Fut, T>(runs: usize, mut f: F) -> anyhow::Result<(StdDuration, StdDuration)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut times = vec![];
    for _ in 0..runs {
        let t = Instant::now();
        f().await?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok((
        times[times.len() / 2],
        *times.last().unwrap_or(&StdDuration::ZERO),
    ))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cases = env_num("BENCH_CASES", 500_000);
    let server = std::env::var("BENCH_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let admin = sqlx::PgPool::connect(&format!("{server}/postgres")).await?;
    let reuse = std::env::var("BENCH_REUSE").is_ok_and(|v| v == "1");
    if !reuse {
        sqlx::query("DROP DATABASE IF EXISTS homeward_bench_reports WITH (FORCE)")
            .execute(&admin)
            .await?;
    }
    let pool = homeward::db::connect(
        &format!("{server}/homeward_bench_reports"),
        &Default::default(),
    )
    .await?;
    let now = Utc::now();
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM patients")
        .fetch_one(&pool)
        .await?;
    if !(reuse && have >= cases) {
        // the bulk load switches triggers off, which only the database's owner may do: the
        // server's own pool runs as the application role (README "Two database roles")
        let owner = sqlx::PgPool::connect(&format!("{server}/homeward_bench_reports")).await?;
        generate(&pool, &owner, cases, now).await?;
    }
    time_reports(&pool, now).await
}

/// Loads the demo area, then `cases` cases over three years with their history.
async fn generate(
    app: &sqlx::PgPool,
    owner: &sqlx::PgPool,
    cases: i64,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<()> {
    let state = homeward::state::AppState::new(
        app.clone(),
        homeward::domain::time::Clock::system(),
        Default::default(),
    );
    homeward::demo::load(&state).await?;
    let pool = owner.clone();

    let started = Instant::now();
    let mut tx = pool.begin().await?;
    // a bulk load: no live-event triggers
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(&format!(
        "CREATE TEMP TABLE gen ON COMMIT DROP AS
         SELECT g,
           (ARRAY['RHW','RXX'])[1 + g % 2] AS trust,
           (ARRAY['RHW-AMU','RHW-W10','RHW-W12','RHW-W14','RHW-W16','RHW-W18','RHW-W20','RHW-W22'])[1 + (g / 2) % 8] AS ward_rhw,
           (ARRAY['RXX-W01','RXX-W02','RXX-W03','RXX-W04','RXX-W05','RXX-W06','RXX-W07','RXX-W08'])[1 + (g / 2) % 8] AS ward_rxx,
           '{now}'::timestamptz - (interval '1096 days') * (g::float8 / {cases}) - interval '12 hours' AS admitted,
           (g * 7919) % 100 AS r1, (g * 104729) % 97 AS r2, g % 4 AS r3
         FROM generate_series(1::bigint, {cases}::bigint) g;
         CREATE TEMP TABLE gen2 ON COMMIT DROP AS
         SELECT *, admitted + interval '1 hour' * (2 + r1 * 0.5) AS ready,
           admitted + interval '1 hour' * (2 + r1 * 0.5) + interval '1 hour' * (r2 * r3 * 0.4) AS discharged,
           CASE WHEN r1 < 50 THEN 0 WHEN r1 < 90 THEN 1 WHEN r1 < 97 THEN 2 ELSE 3 END AS pathway
         FROM gen;
         INSERT INTO patients (id, nhs_number, given_name, family_name, date_of_birth, sex, postcode, trust_code, ward_code, bed,
           admitted_at, status, pathway, discharge_ready_at, discharged_at, delay_reason, created_at, updated_at, hub_code,
           search_name)
         SELECT 1000000 + g, lpad((1000000000 + g)::text, 10, '0'), 'Bench', 'Patient', '1940-01-01', 'female', 'LS9 7TF',
           trust, CASE WHEN trust = 'RHW' THEN ward_rhw ELSE ward_rxx END, 'A1', admitted,
           CASE WHEN discharged <= '{now}' THEN 'discharged' WHEN pathway = 0 THEN 'ready_to_go' ELSE 'awaiting_care' END,
           pathway, ready, CASE WHEN discharged <= '{now}' THEN discharged END,
           (ARRAY['p1_new_care','p2_bed','p3_placement','medicines_tto','transport','medical_decision','therapy_decision','chc_decision'])[1 + r2 % 8],
           admitted, admitted, 'HUB', 'bench patient'
         FROM gen2;
         INSERT INTO nctr_periods (patient_id, started_at, ended_at, ended_by, hub_code)
         SELECT 1000000 + g, ready, CASE WHEN discharged <= '{now}' THEN discharged END,
           CASE WHEN discharged <= '{now}' THEN 'discharged' END, 'HUB' FROM gen2;
         INSERT INTO delay_reason_history (patient_id, code, set_at, hub_code)
         SELECT 1000000 + g, (ARRAY['p1_new_care','p2_bed','p3_placement','medicines_tto','transport','medical_decision','therapy_decision','chc_decision'])[1 + r2 % 8],
           ready + interval '1 hour', 'HUB' FROM gen2;
         INSERT INTO patient_history (patient_id, at, action, detail, to_status, hub_code)
         SELECT 1000000 + g, admitted, 'created', 'bench', 'planning', 'HUB' FROM gen2
         UNION ALL SELECT 1000000 + g, ready + interval '2 hours', 'pathway_chosen', 'bench', NULL, 'HUB' FROM gen2
         UNION ALL SELECT 1000000 + g, discharged, 'discharged', 'bench', 'discharged', 'HUB' FROM gen2 WHERE discharged <= '{now}';
         -- one offer per provider type per week over the three years, and a referral for every case needing care
         INSERT INTO capacity_offers (org_code, service_type, pathway, places, places_left, available_from, available_until, last_confirmed_at, created_at, updated_at)
         SELECT 'PRV1', t.code, t.pathway, 1000, 1000, '{now}'::timestamptz - interval '1 week' * w, '{now}'::timestamptz - interval '1 week' * w + interval '8 days',
           '{now}'::timestamptz - interval '1 week' * w, '{now}'::timestamptz - interval '1 week' * w, '{now}'::timestamptz - interval '1 week' * w
         FROM generate_series(0, 157) w CROSS JOIN capacity_types t;
         INSERT INTO referrals (patient_id, offer_id, org_code, status, decline_reason, decided_at, place_used_at, created_at, updated_at, hub_code)
         SELECT 1000000 + g.g,
           (SELECT o.id FROM capacity_offers o WHERE o.pathway = g.pathway AND o.created_at <= g.ready ORDER BY o.created_at DESC LIMIT 1),
           'PRV1', CASE WHEN g.r2 % 5 = 0 THEN 'declined' ELSE 'accepted' END,
           CASE WHEN g.r2 % 5 = 0 THEN 'no_capacity' END, g.ready + interval '3 hours',
           CASE WHEN g.r2 % 5 <> 0 AND g.discharged <= '{now}' THEN g.discharged END, g.ready + interval '1 hour',
           GREATEST(g.ready + interval '3 hours', CASE WHEN g.r2 % 5 <> 0 AND g.discharged <= '{now}' THEN g.discharged END), 'HUB'
         FROM gen2 g WHERE g.pathway > 0 AND g.r2 % 5 <> 1 AND g.ready > '{now}'::timestamptz - interval '1090 days';"
    ))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    sqlx::query("ANALYZE").execute(&pool).await?;
    let (total, open): (i64, i64) = sqlx::query_as("SELECT count(*), count(*) FILTER (WHERE status NOT IN ('discharged','cancelled')) FROM patients")
        .fetch_one(&pool)
        .await?;
    let (periods, history, referrals): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM nctr_periods), (SELECT count(*) FROM patient_history), (SELECT count(*) FROM referrals)",
    )
    .fetch_one(&pool)
    .await?;
    println!(
        "generated {total} cases ({open} open), {periods} periods, {history} history rows, {referrals} referrals in {:?}",
        started.elapsed()
    );
    Ok(())
}

/// Times each report, in turn.
async fn time_reports(pool: &sqlx::PgPool, now: chrono::DateTime<Utc>) -> anyhow::Result<()> {
    let pool = pool.clone();

    let today = london_date(now);
    let past = today - Duration::days(400);
    let (p50, max) = time(5, || {
        let pool = pool.clone();
        async move {
            sitrep::build(&pool, None, past, now)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))
        }
    })
    .await?;
    println!("sitrep for one past day ({past}): median {p50:?}, slowest {max:?} (5 runs)");
    let (p50, max) = time(5, || {
        let pool = pool.clone();
        async move {
            sitrep::build(&pool, None, today, now)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))
        }
    })
    .await?;
    println!("sitrep for today: median {p50:?}, slowest {max:?} (5 runs)");
    let (p50, max) = time(5, || {
        let pool = pool.clone();
        async move {
            national::build_day(&pool, None, ReturnKind::Acute, past, now)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))
        }
    })
    .await?;
    println!(
        "national acute return for one past day ({past}): median {p50:?}, slowest {max:?} (5 runs)"
    );
    let (p50, max) = time(5, || {
        let pool = pool.clone();
        async move {
            national::build_day(&pool, None, ReturnKind::Acute, today, now)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))
        }
    })
    .await?;
    println!("national acute return for today: median {p50:?}, slowest {max:?} (5 runs)");
    let (p50, max) = time(3, || {
        let pool = pool.clone();
        async move {
            national::build_period(
                &pool,
                None,
                ReturnKind::Acute,
                past - Duration::days(30),
                past,
                now,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
        }
    })
    .await?;
    println!(
        "national acute return for a month (31 days to {past}): median {p50:?}, slowest {max:?} (3 runs)"
    );
    let month = flow::FlowQuery {
        from: NaiveDate::from_ymd_opt(2026, 10, 1)
            .unwrap_or(today - Duration::days(52))
            .min(today - Duration::days(30)),
        to: NaiveDate::from_ymd_opt(2026, 10, 31)
            .unwrap_or(today - Duration::days(22))
            .min(today),
        trust: None,
        pathway: None,
        hub: None,
    };
    let (p50, max) = time(5, || {
        let pool = pool.clone();
        let month = month.clone();
        async move {
            flow::build(&pool, &month, now)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))
        }
    })
    .await?;
    println!(
        "flow report for one month ({} to {}): median {p50:?}, slowest {max:?} (5 runs)",
        month.from, month.to
    );
    pool.close().await;
    Ok(())
}
