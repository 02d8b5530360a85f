//! Event latency with many connected Server-Sent Events clients.
//!
//! Starts Homeward in-process on a fresh database (`homeward_bench`, re-created each run),
//! loads the demo area, connects CLIENTS hub subscribers to `/api/v1/events`, then makes
//! CHANGES changes to a case through the API, one at a time, and measures for each the time
//! from sending the request until every client has received its event.
//!
//! Run: `cargo bench --bench live_events` (needs PostgreSQL as for the tests;
//! `BENCH_CLIENTS` and `BENCH_CHANGES` override 500 and 30). Loopback only; bounded.

use homeward::config::Config;
use homeward::domain::time::Clock;
use homeward::state::AppState;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let clients = env_num("BENCH_CLIENTS", 500);
    let changes = env_num("BENCH_CHANGES", 30);
    let server = std::env::var("BENCH_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let admin = sqlx::PgPool::connect(&format!("{server}/postgres")).await?;
    sqlx::query("DROP DATABASE IF EXISTS homeward_bench WITH (FORCE)")
        .execute(&admin)
        .await?;
    let pool =
        homeward::db::connect(&format!("{server}/homeward_bench"), &Default::default()).await?;
    // the demo coordinator signs in with a password alone (no second factor in a benchmark)
    let config = Config {
        mfa_roles: vec![],
        ..Config::default()
    };
    let state = AppState::new(pool.clone(), Clock::system(), config);
    homeward::demo::load(&state).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = homeward::app(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let http = reqwest::Client::new();
    let token = |user: &'static str| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let v: Value = http
                .post(format!("{base}/api/v1/auth/token"))
                .json(&json!({"username": user, "password": homeward::demo::DEMO_PASSWORD}))
                .send()
                .await?
                .json()
                .await?;
            anyhow::Ok(v["token"].as_str().unwrap_or_default().to_string())
        }
    };
    let hub = token("hub.demo").await?;
    let ward = token("ward.demo").await?;
    let case_id: i64 = sqlx::query_scalar("SELECT id FROM patients WHERE trust_code = 'RHW' AND status = 'awaiting_care' ORDER BY id LIMIT 1")
        .fetch_one(&pool)
        .await?;

    // connect the subscribers; each reports (client, change number, when) for our case
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, i64, Instant)>();
    let marker = Arc::new(std::sync::atomic::AtomicI64::new(-1));
    for c in 0..clients {
        let http = reqwest::Client::new();
        let url = format!("{base}/api/v1/events");
        let hub = hub.clone();
        let tx = tx.clone();
        let marker = marker.clone();
        tokio::spawn(async move {
            let Ok(mut res) = http.get(url).bearer_auth(hub).send().await else {
                return;
            };
            let mut buf = String::new();
            while let Ok(Some(chunk)) = res.chunk().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let block: String = buf.drain(..end + 2).collect();
                    if block.contains(&format!("\"patient_id\":{case_id}"))
                        && block.contains("patient.updated")
                    {
                        let n = marker.load(std::sync::atomic::Ordering::SeqCst);
                        let _ = tx.send((c, n, Instant::now()));
                    }
                }
            }
        });
    }
    // wait until every subscriber is connected to this process
    let connect_started = Instant::now();
    while state.live.subscribers() < clients {
        if connect_started.elapsed() > Duration::from_secs(60) {
            anyhow::bail!(
                "only {} of {clients} subscribers connected",
                state.live.subscribers()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "{clients} subscribers connected in {:?}",
        connect_started.elapsed()
    );

    let mut all_received = vec![];
    let mut per_client = vec![];
    for n in 0..changes as i64 {
        marker.store(n, std::sync::atomic::Ordering::SeqCst);
        let sent = Instant::now();
        let res = http
            .post(format!("{base}/api/v1/patients/{case_id}/details"))
            .bearer_auth(&ward)
            .json(&json!({"needs_summary": format!("Benchmark change {n}")}))
            .send()
            .await?;
        anyhow::ensure!(res.status().is_success(), "change failed: {}", res.status());
        let mut got = 0;
        let deadline = sent + Duration::from_secs(10);
        while got < clients {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, rx.recv()).await {
                Ok(Some((_, m, at))) if m == n => {
                    got += 1;
                    per_client.push(at - sent);
                    if got == clients {
                        all_received.push(at - sent);
                    }
                }
                Ok(Some(_)) => {}
                _ => anyhow::bail!(
                    "change {n}: only {got} of {clients} clients heard it within 10 s"
                ),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    all_received.sort();
    per_client.sort();
    println!("changes: {changes}; each delivered to all {clients} clients");
    println!(
        "time until every client had the event: p50 {:?}  p95 {:?}  max {:?}",
        percentile(&all_received, 0.5),
        percentile(&all_received, 0.95),
        all_received.last().copied().unwrap_or_default()
    );
    println!(
        "per-client latency (request sent -> event read): p50 {:?}  p99 {:?}",
        percentile(&per_client, 0.5),
        percentile(&per_client, 0.99)
    );
    pool.close().await;
    Ok(())
}
