//! Three Homeward processes behind nginx (Debian's), configured by `deploy/nginx.conf`
//! (issue 15): live events reach every client whichever process it is connected to, and a
//! process killed under load costs only the requests it had in flight.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// nginx with `deploy/nginx.conf`, its upstream servers replaced by `upstreams`, on a port
/// of its own; stopped when dropped.
struct Nginx {
    child: tokio::process::Child,
    base: String,
    dir: PathBuf,
}

impl Nginx {
    async fn start(upstreams: &[String]) -> Nginx {
        let conf = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx.conf"),
        )
        .expect("deploy/nginx.conf");
        let (head, rest) = conf
            .split_once("        # BEGIN upstream servers\n")
            .expect("the upstream markers");
        let (_, tail) = rest
            .split_once("        # END upstream servers\n")
            .expect("the upstream markers");
        let servers: String = upstreams
            .iter()
            .map(|u| format!("        server {u} max_fails=1 fail_timeout=10s;\n"))
            .collect();
        let port = free_port();
        let conf = format!("{head}{servers}{tail}").replace(
            "        listen 8080;",
            &format!("        listen 127.0.0.1:{port};"),
        );
        let dir =
            std::env::temp_dir().join(format!("homeward-nginx-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a folder");
        std::fs::write(dir.join("nginx.conf"), conf).expect("nginx.conf");
        let mut cmd = tokio::process::Command::new(nginx_program());
        cmd.arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-g")
            .arg(format!(
                "daemon off; master_process on; pid {0}/nginx.pid; error_log {0}/error.log;",
                dir.display()
            ))
            .kill_on_drop(true)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        die_with_parent(&mut cmd);
        let child = cmd.spawn().expect("nginx starts");
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if reqwest::get(format!("{base}/healthz")).await.is_ok() {
                return Nginx { child, base, dir };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("nginx did not answer");
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers and exits (a SIGKILL would leave them running)
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            for _ in 0..50 {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Debian puts nginx in /usr/sbin, which a user's PATH may not hold.
fn nginx_program() -> &'static str {
    if missing_program("nginx").is_none() {
        "nginx"
    } else {
        "/usr/sbin/nginx"
    }
}

#[tokio::test]
async fn three_processes_behind_nginx_share_live_events_and_survive_losing_one() {
    if !tools_present(
        "balancer",
        &[missing_program(nginx_program())]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>(),
    ) {
        return;
    }
    let app = TestApp::spawn().await;
    let url = app.database_url();
    let mut processes = vec![];
    for _ in 0..3 {
        processes.push(Server::start(&url, Some(default_now()), &[]).await);
    }
    let upstreams: Vec<String> = processes
        .iter()
        .map(|p| p.base.trim_start_matches("http://").to_string())
        .collect();
    let nginx = Nginx::start(&upstreams).await;
    let through = |username: &str| {
        let base = nginx.base.clone();
        let username = username.to_string();
        async move {
            let client = reqwest::Client::new();
            let res = client
                .post(format!("{base}/api/v1/auth/token"))
                .json(&serde_json::json!({"username": username, "password": PASSWORD}))
                .send()
                .await
                .expect("nginx answers");
            let body = expect_json(res, StatusCode::OK, "a token through nginx").await;
            Api {
                base,
                client,
                token: body["token"].as_str().unwrap_or_default().to_string(),
            }
        }
    };

    // six event streams through nginx (spread over the three processes in turn): a case
    // filed through nginx reaches every one of them
    let hub = through("hub").await;
    let mut streams = vec![];
    for _ in 0..6 {
        streams.push(EventStream::open(&nginx.base, &hub.token).await);
    }
    let ward = through("ward").await;
    let created = ward
        .post_expect("/api/v1/patients", patient(NHS[0]), StatusCode::CREATED)
        .await;
    for (i, stream) in streams.iter_mut().enumerate() {
        let seen = stream.drain(Duration::from_millis(1500)).await;
        assert!(
            seen.iter()
                .any(|(k, d)| k == "patient.created" && d["patient_id"] == created["id"]),
            "stream {i}: {seen:?}"
        );
    }
    drop(streams);

    // eight clients read and write through nginx; one process is killed (-9) a second in
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = vec![];
    for c in 0..8usize {
        let api = Api {
            base: nginx.base.clone(),
            client: ward.client.clone(),
            token: ward.token.clone(),
        };
        let stop = stop.clone();
        clients.push(tokio::spawn(async move {
            let (mut ok, mut failed, mut written) = (0usize, vec![], vec![]);
            let mut serial = 200_000 * (c + 1);
            while !stop.load(Ordering::SeqCst) {
                serial += 1;
                let started = Instant::now();
                let res = if serial % 2 == 0 {
                    api.get("/api/v1/patients?limit=20").await
                } else {
                    api.post("/api/v1/patients", patient(&valid_nhs(serial)))
                        .await
                };
                let status = res.status();
                if status.is_success() {
                    ok += 1;
                    if status == StatusCode::CREATED {
                        let body: Value = serde_json::from_str(&text_of(res).await).expect("json");
                        written.push(id_of(&body));
                    }
                } else {
                    failed.push((started, status));
                }
            }
            (ok, failed, written)
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    // SIGKILL, then wait until the process is gone (its sockets closed): a request that
    // reached it before then was in flight on it and may fail; none started later may
    let mut victim = processes.remove(1);
    victim.child.kill().await.expect("kill -9 and wait");
    let killed_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    let (mut ok, mut failed, mut written) = (0, vec![], vec![]);
    for c in clients {
        let (o, f, w) = c.await.expect("a client");
        ok += o;
        failed.extend(f);
        written.extend(w);
    }
    println!(
        "FIGURE three processes behind nginx, one killed under eight clients: {ok} requests answered, {} failed ({:?})",
        failed.len(),
        failed.iter().map(|(_, s)| s.as_u16()).collect::<Vec<_>>()
    );
    // only what the killed process had in flight fails: at most one request a client, all
    // started before the kill
    assert!(failed.len() <= 8, "{failed:?}");
    assert!(
        failed.iter().all(|(started, _)| *started <= killed_at),
        "a request started after the kill failed: {failed:?}"
    );
    assert!(ok > 20, "{ok}");
    // every acknowledged write is there, once
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM patients WHERE id = ANY($1)")
        .bind(&written)
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(stored as usize, written.len());
    drop(victim);
}
