//! The hospital feed, sustained: ADT messages per second through the MLLP port into
//! PostgreSQL, each applied with its case change, history row and message-log row in one
//! transaction and acknowledged before the sender sends the next on that connection.
//!
//! Starts the feed in-process on a fresh database (`homeward_bench_hl7`, re-created each
//! run) with the demo area (RHW's locations AMU, W10, W12 mapped), then CONNECTIONS senders
//! each send PATIENTS patients' days (A01 admit, A02 transfer, A08 update, A03 discharge:
//! four messages a patient, in order) and wait for every ACK. Then, for scale, the floor of
//! any design that stores each message durably: the same number of transactions, from the
//! same number of connections, that each insert only the message-log row and commit.
//!
//! Run: `cargo bench --bench hl7_feed` (needs PostgreSQL as for the tests;
//! `BENCH_CONNECTIONS`, `BENCH_PATIENTS` override 8 and 250). Loopback only; bounded.

use chrono::{Duration as Span, Utc};
use homeward::config::Config;
use homeward::domain::NhsNumber;
use homeward::domain::time::Clock;
use homeward::hl7::mllp;
use homeward::state::AppState;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A patient's day: four messages, times before now and in order.
fn day(conn: usize, n: usize) -> Vec<String> {
    let serial = (conn * 100_000 + n) as u32;
    let mut prefix = [0u32; 9];
    let mut nhs = None;
    for bump in 0..20 {
        let mut v = 100_000_000 + serial * 20 + bump;
        for d in prefix.iter_mut().rev() {
            *d = v % 10;
            v /= 10;
        }
        if let Some(n) = NhsNumber::from_prefix(prefix) {
            nhs = Some(n);
            break;
        }
    }
    let nhs = nhs.map(|n| n.as_str().to_string()).unwrap_or_default();
    let start = Utc::now() - Span::hours(4);
    let ts = |minutes: i64| {
        (start + Span::minutes(minutes))
            .format("%Y%m%d%H%M%S+0000")
            .to_string()
    };
    let pid = |postcode: &str| {
        format!(
            "PID|1||{nhs}^^^NHS^NH~B{serial}^^^RHW^MR||Bench^Patient{serial}||19450101|F|||1 Road^^Town^^{postcode}"
        )
    };
    let pv1 = |poc: &str, bed: &str, admitted: &str, discharged: &str| {
        let mut f = vec![String::new(); 46];
        f[0] = "PV1".into();
        f[1] = "1".into();
        f[2] = "I".into();
        f[3] = format!("{poc}^^{bed}");
        f[36] = if discharged.is_empty() { "" } else { "1" }.into();
        f[37] = if discharged.is_empty() { "" } else { "19" }.into();
        f[44] = admitted.into();
        f[45] = discharged.into();
        f.join("|")
    };
    let msg = |event: &str, id: &str, at: &str, segments: Vec<String>| {
        let mut all = vec![
            format!("MSH|^~\\&|PAS|RHW|HOMEWARD|HUB|{at}||ADT^{event}|{id}|P|2.5.1"),
            format!("EVN|{event}|{at}"),
        ];
        all.extend(segments);
        all.join("\r")
    };
    vec![
        msg(
            "A01",
            &format!("B{serial}-1"),
            &ts(0),
            vec![pid("LS9 7TF"), pv1("AMU", "A1", &ts(0), "")],
        ),
        msg(
            "A02",
            &format!("B{serial}-2"),
            &ts(60),
            vec![pid("LS9 7TF"), pv1("W10", "B2", "", "")],
        ),
        msg(
            "A08",
            &format!("B{serial}-3"),
            &ts(120),
            vec![pid("LS8 2AB"), pv1("W10", "B2", "", "")],
        ),
        msg(
            "A03",
            &format!("B{serial}-4"),
            &ts(180),
            vec![pid("LS8 2AB"), pv1("W10", "B2", "", &ts(180))],
        ),
    ]
}

async fn send_all(
    addr: std::net::SocketAddr,
    messages: Vec<String>,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut deframer = mllp::Deframer::default();
    let mut buf = vec![0u8; 16 * 1024];
    let mut latencies = Vec::with_capacity(messages.len());
    let mut not_accepted = 0;
    for m in messages {
        let sent = Instant::now();
        stream.write_all(&mllp::frame(&m)).await?;
        let ack = loop {
            let n = stream.read(&mut buf).await?;
            anyhow::ensure!(n > 0, "the feed closed the connection");
            if let Some(mllp::Found::Frame(f)) = deframer.push(&buf[..n]).into_iter().next() {
                break mllp::decode(&f);
            }
        };
        latencies.push(sent.elapsed());
        if !ack.contains("\rMSA|AA|") {
            not_accepted += 1;
            if not_accepted <= 3 {
                eprintln!("not accepted: {}", ack.replace('\r', "\n"));
            }
        }
    }
    Ok((latencies, not_accepted))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let connections = env_num("BENCH_CONNECTIONS", 8);
    let patients = env_num("BENCH_PATIENTS", 250);
    let server = std::env::var("BENCH_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let admin = sqlx::PgPool::connect(&format!("{server}/postgres")).await?;
    sqlx::query("DROP DATABASE IF EXISTS homeward_bench_hl7 WITH (FORCE)")
        .execute(&admin)
        .await?;
    let pool =
        homeward::db::connect(&format!("{server}/homeward_bench_hl7"), &Default::default()).await?;
    let state = AppState::new(pool.clone(), Clock::system(), Config::default());
    homeward::demo::load(&state).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(mllp::serve(listener, state.clone()));

    let work: Vec<Vec<String>> = (0..connections)
        .map(|c| (0..patients).flat_map(|n| day(c, n)).collect())
        .collect();
    let total: usize = work.iter().map(Vec::len).sum();
    let history_before: i64 = sqlx::query_scalar("SELECT count(*) FROM patient_history")
        .fetch_one(&pool)
        .await?;
    let started = Instant::now();
    let mut tasks = vec![];
    for messages in work {
        tasks.push(tokio::spawn(send_all(addr, messages)));
    }
    let mut latencies = vec![];
    let mut not_accepted = 0;
    for t in tasks {
        let (l, bad) = t.await??;
        latencies.extend(l);
        not_accepted += bad;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let history_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM patient_history")
        .fetch_one(&pool)
        .await?;
    let logged: i64 =
        sqlx::query_scalar("SELECT count(*) FROM hl7_messages WHERE outcome = 'applied'")
            .fetch_one(&pool)
            .await?;
    let rate = total as f64 / elapsed.as_secs_f64();
    println!(
        "feed: {total} messages ({patients} patients x 4 on each of {connections} connections) in {:.2} s: {rate:.0} messages/s; ACK latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} not AA; {} history rows, {logged} log rows written",
        elapsed.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        percentile(&latencies, 1.0).as_secs_f64() * 1000.0,
        not_accepted,
        history_rows - history_before,
    );

    // the floor: one durable commit per message, nothing else
    let floor_started = Instant::now();
    let mut tasks = vec![];
    for c in 0..connections {
        let pool = pool.clone();
        let per = total / connections;
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "INSERT INTO hl7_messages (control_id, sending_facility, event, received_at, outcome, body) \
                     VALUES ($1, 'FLOOR', 'A01', now(), 'rejected', 'MSH|')",
                )
                .bind(format!("F{c}-{i}"))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let floor_rate = total as f64 / floor_started.elapsed().as_secs_f64();
    println!(
        "floor (one INSERT + COMMIT per message, same connections): {floor_rate:.0} transactions/s; the feed runs at {:.2}x the floor",
        rate / floor_rate
    );
    anyhow::ensure!(
        not_accepted == 0,
        "{not_accepted} messages were not accepted"
    );
    Ok(())
}
