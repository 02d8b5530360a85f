//! The server under stress: slow clients are cut off at the header-read and idle timeouts, a
//! request past its timeout is answered 503 without being cut off halfway, overload is shed
//! with 503 + `Retry-After`, a database that goes away is a 503 (never a 500), and SIGTERM
//! ends event streams with a `reconnect` event, lets requests in flight finish and exits 0
//! within the grace period. Figures the issue asks for are written to stderr (`FIGURE ...`).

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::Write;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A figure for the report: straight to stderr, which libtest does not capture.
fn figure(line: String) {
    let _ = writeln!(std::io::stderr(), "FIGURE {line}");
}

/// Connections the process listening on `port` holds open on that port: established (or
/// closed by the client but not yet by the server), from /proc/net/tcp.
fn connections_held(port: u16) -> usize {
    let mut held = 0;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 10 {
                continue;
            }
            let local_port = cols[1]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            // 01 established, 08 close-wait; inode 0: no process holds it (time-wait)
            if local_port == Some(port) && matches!(cols[3], "01" | "08") && cols[9] != "0" {
                held += 1;
            }
        }
    }
    held
}

fn port_of(base: &str) -> u16 {
    base.rsplit(':').next().unwrap().parse().unwrap()
}

/// Waits until `done` holds, checking every 50 ms, at most `within`.
async fn eventually(within: Duration, mut done: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done().await
}

#[tokio::test]
async fn a_thousand_slow_clients_are_cut_off_at_the_header_timeout_and_health_stays_reachable() {
    homeward::server::raise_open_files_limit();
    let db = TestDb::bare().await;
    let server = Server::start(
        &db.url(),
        Some(default_now()),
        &["--header-timeout-seconds", "4"],
    )
    .await;
    let port = port_of(&server.base);
    let addr = format!("127.0.0.1:{port}");
    const CLIENTS: usize = 1000;
    let started = Instant::now();
    let mut slow = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        // half a request: the head never ends
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: homeward\r\n")
            .await
            .expect("half a request");
        slow.push(s);
    }
    let opened = started.elapsed();
    // (on a busy machine opening them all may take a while: only then may the first ones
    // already be gone)
    let all_held = eventually(Duration::from_secs(1), async || {
        connections_held(port) >= CLIENTS
    })
    .await;
    assert!(
        all_held || started.elapsed() > Duration::from_secs(3),
        "the server holds the slow connections ({} held)",
        connections_held(port)
    );
    let held_during = connections_held(port);
    // meanwhile everyone else is served
    let asked = Instant::now();
    let health = reqwest::Client::new()
        .get(format!("{}/healthz", server.base))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .expect("/healthz answers while 1,000 slow clients are connected");
    assert_eq!(health.status(), StatusCode::OK);
    let health_ms = asked.elapsed().as_millis();
    // then each slow client is cut off
    let mut closing = tokio::task::JoinSet::new();
    for mut s in slow {
        closing.spawn(async move {
            let mut buf = [0u8; 64];
            match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => Some(started.elapsed()),
                _ => None,
            }
        });
    }
    let mut closed = 0;
    let mut last = Duration::ZERO;
    while let Some(res) = closing.join_next().await {
        if let Some(at) = res.unwrap() {
            closed += 1;
            last = last.max(at);
        }
    }
    assert_eq!(closed, CLIENTS, "every slow client was cut off");
    assert!(
        eventually(Duration::from_secs(2), async || connections_held(port) == 0).await,
        "the server still holds {} connections",
        connections_held(port)
    );
    let held_after = connections_held(port);
    figure(format!(
        "slow clients: {CLIENTS} opened in {:.2} s; server held {held_during}; /healthz answered in {health_ms} ms meanwhile; all cut off {:.2} s after the first opened (header timeout 4 s); connections held after the timeout: {held_after}",
        opened.as_secs_f64(),
        last.as_secs_f64()
    ));
}

/// A raw HTTP/1.1 exchange on an open connection: sends `GET path`, reads one answer.
async fn get_on(s: &mut TcpStream, path: &str) -> String {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: homeward\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "the connection closed before the answer");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length: usize = text[..head_end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if got.len() >= head_end + 4 + length {
                return text;
            }
        }
    }
}

/// How long until the server closes `s` (at most `within`).
async fn closed_after(s: &mut TcpStream, within: Duration) -> Option<Duration> {
    let t = Instant::now();
    let mut buf = [0u8; 64];
    match tokio::time::timeout(within, s.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => Some(t.elapsed()),
        _ => None,
    }
}

#[tokio::test]
async fn kept_alive_connections_get_the_idle_timeout_and_half_sent_heads_the_header_timeout() {
    let app = TestApp::spawn().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = homeward::server::ServerOptions {
        header_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(3),
        ..Default::default()
    };
    tokio::spawn(homeward::serve_on(
        listener,
        app.state.clone(),
        options,
        std::future::pending(),
    ));

    // a new connection that sends nothing, and one that sends half a head: the header timeout
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    let silent_closed = closed_after(&mut silent, Duration::from_secs(5)).await;
    assert!(
        silent_closed.is_some_and(|t| t < Duration::from_millis(2500)),
        "{silent_closed:?}"
    );
    assert!(
        closed_after(&mut half, Duration::from_secs(2))
            .await
            .is_some()
    );

    // after a complete exchange the connection is idle: kept past the header timeout, closed
    // at the idle timeout
    let mut kept = TcpStream::connect(addr).await.unwrap();
    assert!(
        get_on(&mut kept, "/healthz")
            .await
            .starts_with("HTTP/1.1 200")
    );
    let idle_closed = closed_after(&mut kept, Duration::from_secs(6)).await;
    assert!(
        idle_closed.is_some_and(|t| t > Duration::from_millis(2000) && t < Duration::from_secs(5)),
        "closed after {idle_closed:?}, not at the idle timeout (3 s)"
    );

    // and a kept-alive connection that starts a head and stalls: the header timeout again
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    assert!(
        get_on(&mut stalled, "/healthz")
            .await
            .starts_with("HTTP/1.1 200")
    );
    stalled
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    let stalled_closed = closed_after(&mut stalled, Duration::from_secs(5)).await;
    assert!(
        stalled_closed.is_some_and(|t| t < Duration::from_millis(2500)),
        "{stalled_closed:?}"
    );
}

#[tokio::test]
async fn a_deadline_that_moves_earlier_is_kept_an_idle_timeout_shorter_than_the_header_timeout() {
    // the watchdog first sleeps until the header deadline (10 s); the answer moves the
    // deadline to the idle timeout (1 s), which must be kept, not the 10 s
    let app = TestApp::spawn().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = homeward::server::ServerOptions {
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    tokio::spawn(homeward::serve_on(
        listener,
        app.state.clone(),
        options,
        std::future::pending(),
    ));
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert!(
        get_on(&mut s, "/static/css/homeward.css")
            .await
            .starts_with("HTTP/1.1 200")
    );
    let closed = closed_after(&mut s, Duration::from_secs(8)).await;
    assert!(
        closed.is_some_and(|t| t > Duration::from_millis(700) && t < Duration::from_secs(3)),
        "closed after {closed:?}, not at the idle timeout (1 s)"
    );
}

fn short_timeouts(request_timeout: Duration) -> homeward::config::Config {
    homeward::config::Config {
        request_timeout,
        ..Default::default()
    }
}

/// Holds case `id`'s row lock from the test's own connection until dropped or rolled back,
/// so a command on the case waits.
async fn lock_case(app: &TestApp, id: i64) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM patients WHERE id = $1 FOR UPDATE")
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

async fn idle_in_transaction(app: &TestApp) -> i64 {
    app.count(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND usename = 'homeward_app' AND state LIKE 'idle in transaction%'",
    )
    .await
}

fn retry_after(res: &reqwest::Response) -> String {
    res.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_command_past_the_request_timeout_is_answered_503_and_still_commits_whole() {
    // the request timeout (1 s) is shorter than the statement timeout (30 s): the command is
    // still waiting when the client is answered
    let app = TestApp::spawn_full(
        default_now(),
        short_timeouts(Duration::from_secs(1)),
        Duration::from_secs(30),
    )
    .await;
    let id = app.flag_id("ward", patient(NHS[0])).await;
    let before = app.history_actions(id).await.len();
    let hub = app.api("hub").await;
    let lock = lock_case(&app, id).await;
    let t = Instant::now();
    let res = hub
        .post(
            &format!("/api/v1/patients/{id}/pathway"),
            json!({"pathway": 2}),
        )
        .await;
    let waited = t.elapsed();
    assert_eq!(retry_after(&res), "1");
    let body = expect_json(res, StatusCode::SERVICE_UNAVAILABLE, "timed out").await;
    assert_eq!(body["error"]["code"], "timeout");
    assert!(waited < Duration::from_secs(3), "answered after {waited:?}");
    // the command was not cut off: released, it commits, change and history together
    tokio::time::sleep(Duration::from_millis(500)).await;
    lock.commit().await.unwrap();
    let pathway_set = eventually(Duration::from_secs(5), async || {
        app.count(&format!(
            "SELECT count(*) FROM patients WHERE id = {id} AND pathway = 2"
        ))
        .await
            == 1
    })
    .await;
    assert!(pathway_set, "the detached command finished");
    let actions = app.history_actions(id).await;
    assert_eq!(actions.len(), before + 1, "{actions:?}");
    assert_eq!(idle_in_transaction(&app).await, 0);
}

#[tokio::test]
async fn a_command_stuck_past_the_statement_timeout_rolls_back_whole_and_is_a_503() {
    let app = TestApp::spawn_with(default_now(), short_timeouts(Duration::from_secs(1))).await;
    let id = app.flag_id("ward", patient(NHS[0])).await;
    let version = app.form_version(id).await;
    let before = app.history_actions(id).await.len();
    let hub = app.api("hub").await;
    let lock = lock_case(&app, id).await;
    let res = hub
        .post(
            &format!("/api/v1/patients/{id}/pathway"),
            json!({"pathway": 2}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry_after(&res), "1");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    lock.rollback().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // nothing of it happened, and no connection was left inside its transaction
    assert_eq!(app.form_version(id).await, version);
    assert_eq!(app.history_actions(id).await.len(), before);
    assert_eq!(idle_in_transaction(&app).await, 0);
    // and the pool is fine: the same command now succeeds
    hub.post_expect(
        &format!("/api/v1/patients/{id}/pathway"),
        json!({"pathway": 2}),
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn requests_past_the_concurrency_cap_are_shed_at_once_with_retry_after() {
    let config = homeward::config::Config {
        max_concurrent_requests: 2,
        request_timeout: Duration::from_secs(20),
        ..Default::default()
    };
    let app = TestApp::spawn_with(default_now(), config).await;
    let id = app.flag_id("ward", patient(NHS[0])).await;
    let hub = app.api("hub").await;
    let ward = app.browser("ward").await;
    let lock = lock_case(&app, id).await;
    // two requests wait on the lock and fill both places
    let mut waiting = tokio::task::JoinSet::new();
    for pathway in [2, 3] {
        let (client, url, token) = (
            hub.client.clone(),
            app.url(&format!("/api/v1/patients/{id}/pathway")),
            hub.token.clone(),
        );
        waiting.spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"pathway": pathway}))
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    assert!(
        eventually(Duration::from_secs(5), async || app
            .state
            .requests
            .in_flight()
            == 2)
        .await
    );
    // a third is refused at once, on the API and on pages
    let t = Instant::now();
    let res = hub.get("/api/v1/patients").await;
    let shed_in = t.elapsed();
    assert_eq!(retry_after(&res), "1");
    let body = expect_json(res, StatusCode::SERVICE_UNAVAILABLE, "shed").await;
    assert_eq!(body["error"]["code"], "overloaded");
    assert!(shed_in < Duration::from_millis(500), "{shed_in:?}");
    let page = ward.get("/ward").await;
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry_after(&page), "1");
    assert!(content_type(&page).starts_with("text/html"));
    // health checks and static files are not counted
    assert_eq!(
        reqwest::get(app.url("/healthz")).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        reqwest::get(app.url("/static/css/homeward.css"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    lock.rollback().await.unwrap();
    let mut statuses = vec![];
    while let Some(s) = waiting.join_next().await {
        statuses.push(s.unwrap());
    }
    assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
    hub.get_json("/api/v1/patients").await;
    figure(format!(
        "shedding: with 2 places taken a third request got 503 overloaded (Retry-After: 1) in {} ms",
        shed_in.as_millis()
    ));
}

/// A TCP proxy to PostgreSQL that the test can stop (every connection cut, new ones refused,
/// as when the database restarts) and start again.
struct Proxy {
    port: u16,
    upstream: String,
    accepting: Option<tokio::task::JoinHandle<()>>,
    pipes: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start() -> Proxy {
        let options = server_options();
        let mut p = Proxy {
            port: free_port(),
            upstream: format!("{}:{}", options.get_host(), options.get_port()),
            accepting: None,
            pipes: Default::default(),
        };
        p.resume().await;
        p
    }

    async fn resume(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("the proxy's port");
        let upstream = self.upstream.clone();
        let pipes = self.pipes.clone();
        self.accepting = Some(tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                pipes.lock().unwrap().push(pipe);
            }
        }));
    }

    /// Cuts every connection and refuses new ones.
    fn stop(&mut self) {
        if let Some(a) = self.accepting.take() {
            a.abort();
        }
        for pipe in self.pipes.lock().unwrap().drain(..) {
            pipe.abort();
        }
    }

    fn options(&self) -> sqlx::postgres::PgConnectOptions {
        server_options().host("127.0.0.1").port(self.port)
    }
}

#[tokio::test]
async fn a_database_that_goes_away_is_a_503_with_retry_after_never_a_500() {
    let db = TestDb::with_area().await;
    let mut proxy = Proxy::start().await;
    let app_pool = db
        .app_pool_at(proxy.options(), Duration::from_secs(30))
        .await;
    let config = short_timeouts(Duration::from_secs(15));
    let app = TestApp::start(db, app_pool, default_now(), config).await;
    let id = app.flag_id("ward", patient(NHS[0])).await;
    let hub = app.api("hub").await;
    let ward = app.browser("ward").await;

    // 1. a fast shutdown ends the session running a command (57P01)
    let lock = lock_case(&app, id).await;
    let pending = {
        let (client, url, token) = (
            hub.client.clone(),
            app.url(&format!("/api/v1/patients/{id}/pathway")),
            hub.token.clone(),
        );
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"pathway": 2}))
                .send()
                .await
                .unwrap()
        })
    };
    let waiting_pid = || async {
        sqlx::query_scalar::<_, i32>(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
             AND usename = 'homeward_app' AND wait_event_type = 'Lock'",
        )
        .fetch_optional(&app.pool)
        .await
        .unwrap()
    };
    assert!(
        eventually(Duration::from_secs(5), async || waiting_pid()
            .await
            .is_some())
        .await
    );
    let pid = waiting_pid().await.unwrap();
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .execute(&app.pool)
        .await
        .unwrap();
    let res = pending.await.unwrap();
    assert_eq!(retry_after(&res), "1");
    let body = expect_json(res, StatusCode::SERVICE_UNAVAILABLE, "terminated").await;
    assert_eq!(body["error"]["code"], "unavailable");
    lock.rollback().await.unwrap();

    // 2. the database restarts: every connection cut, new ones refused
    proxy.stop();
    let t = Instant::now();
    let (command, criteria) = (
        format!("/api/v1/patients/{id}/pathway"),
        format!("/patients/{id}/criteria"),
    );
    let (api_get, api_post, page, form, token, health) = tokio::join!(
        hub.get("/api/v1/patients"),
        hub.post(&command, json!({"pathway": 2})),
        ward.get("/ward"),
        ward.post_form(&criteria, &[("meets_criteria", "yes")]),
        app.anonymous_browser()
            .client
            .post(app.url("/api/v1/auth/token"))
            .json(&json!({"username": "hub", "password": PASSWORD}))
            .send(),
        reqwest::get(app.url("/healthz")),
    );
    let outage_answered = t.elapsed();
    for (what, res) in [
        ("API read", api_get),
        ("API command", api_post),
        ("page", page),
        ("form post", form),
        ("token", token.unwrap()),
        ("health", health.unwrap()),
    ] {
        assert_eq!(
            res.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{what} during the outage"
        );
        if what != "health" {
            assert_eq!(retry_after(&res), "1", "{what}");
        }
        let html = content_type(&res).starts_with("text/html");
        assert_eq!(html, what == "page" || what == "form post", "{what}");
    }

    // 3. back again: served again without a restart of ours
    proxy.resume().await;
    let t = Instant::now();
    assert!(
        eventually(Duration::from_secs(10), async || hub
            .get("/api/v1/patients")
            .await
            .status()
            == StatusCode::OK)
        .await
    );
    figure(format!(
        "database outage: every request answered 503 (none 500) within {:.1} s; serving again {:.1} s after the database came back",
        outage_answered.as_secs_f64(),
        t.elapsed().as_secs_f64()
    ));
    proxy.stop();
}

#[tokio::test]
async fn sigterm_with_100_open_streams_ends_each_with_reconnect_and_exits_0_promptly() {
    let app = TestApp::spawn().await;
    let server = app.serve_process().await;
    let token = server.token("hub").await;
    let client = reqwest::Client::new();
    let mut streams = Vec::new();
    for _ in 0..100 {
        streams.push(EventStream::open_with(&client, &server.base, &token).await);
    }
    let mut server = server;
    let t = Instant::now();
    server.terminate();
    let status = tokio::time::timeout(Duration::from_secs(15), server.child.wait())
        .await
        .expect("the server exits within 15 s")
        .unwrap();
    let exited_in = t.elapsed();
    assert!(status.success(), "exit status {status}");
    assert!(exited_in < Duration::from_secs(10), "{exited_in:?}");
    let mut told = 0;
    for s in &mut streams {
        let events = s.drain(Duration::from_secs(2)).await;
        let last: Option<&(String, Value)> = events.last();
        if last.is_some_and(|(kind, data)| kind == "reconnect" && data["type"] == "reconnect")
            && s.ended()
        {
            told += 1;
        }
    }
    assert_eq!(told, 100, "every stream ended with a reconnect event");
    figure(format!(
        "SIGTERM with 100 open event streams: exit status 0 after {:.2} s; 100 of 100 streams got `reconnect` and ended",
        exited_in.as_secs_f64()
    ));
}

#[tokio::test]
async fn sigterm_lets_a_request_in_flight_finish_and_refuses_new_connections() {
    let app = TestApp::spawn().await;
    let id = app.flag_id("ward", patient(NHS[0])).await;
    let mut server = app.serve_process().await;
    let token = server.token("hub").await;
    let lock = lock_case(&app, id).await;
    let url = format!("{}/api/v1/patients/{id}/pathway", server.base);
    let in_flight = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .json(&json!({"pathway": 2}))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.terminate();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    assert!(
        TcpStream::connect(&addr).await.is_err(),
        "no new connections once shutting down"
    );
    lock.commit().await.unwrap();
    let res = in_flight
        .await
        .unwrap()
        .expect("the request in flight is answered");
    assert_eq!(res.status(), StatusCode::OK);
    let status = tokio::time::timeout(Duration::from_secs(10), server.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status}");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM patients WHERE id = {id} AND pathway = 2"
        ))
        .await,
        1
    );
}

#[tokio::test]
async fn sigterm_stops_waiting_at_the_grace_period_and_still_exits_0() {
    let app = TestApp::spawn().await;
    let id = app.flag_id("ward", patient(NHS[0])).await;
    let version = app.form_version(id).await;
    let mut server = Server::start(
        &app.database_url(),
        Some(app.clock.now()),
        &["--shutdown-grace-seconds", "2"],
    )
    .await;
    let token = server.token("hub").await;
    let lock = lock_case(&app, id).await;
    let url = format!("{}/api/v1/patients/{id}/pathway", server.base);
    let in_flight = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .json(&json!({"pathway": 2}))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = Instant::now();
    server.terminate();
    let status = tokio::time::timeout(Duration::from_secs(10), server.child.wait())
        .await
        .expect("exits within 10 s")
        .unwrap();
    let exited_in = t.elapsed();
    assert!(status.success(), "exit status {status}");
    assert!(
        exited_in >= Duration::from_millis(1500) && exited_in < Duration::from_secs(5),
        "exited after {exited_in:?} with a 2 s grace period"
    );
    assert!(
        in_flight.await.unwrap().is_err(),
        "the stuck request was cut off"
    );
    // the stuck command's transaction never committed
    lock.rollback().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.form_version(id).await, version);
}

#[tokio::test]
async fn security_headers_include_base_uri_and_hsts_only_when_asked() {
    let plain = TestApp::spawn().await;
    let res = reqwest::get(plain.url("/login")).await.unwrap();
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("base-uri 'none'"), "{csp}");
    assert!(res.headers().get("strict-transport-security").is_none());
    let config = homeward::config::Config {
        hsts_max_age: Some(31_536_000),
        ..Default::default()
    };
    let tls = TestApp::spawn_with(default_now(), config).await;
    let res = reqwest::get(tls.url("/login")).await.unwrap();
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
}
