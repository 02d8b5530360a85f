//! Live events across processes: two `homeward serve` processes on one database; a change
//! made through one reaches an event-stream client of the other within a second, and each
//! client hears only what it may read.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_change_through_one_process_reaches_a_client_of_another_within_a_second() {
    // the area and users, then two real server processes on the same database
    let app = TestApp::spawn().await;
    let a = app.serve_process().await;
    let b = app.serve_process().await;
    let hub_b = b.token("hub").await;
    let mut hub_stream = EventStream::open(&b.base, &hub_b).await;
    let ward_b = b.token("ward2").await;
    let mut other_trust = EventStream::open(&b.base, &ward_b).await;

    // the ward flags a patient through process A
    let ward_a = a.token("ward").await;
    let started = Instant::now();
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/patients", a.base))
        .bearer_auth(&ward_a)
        .json(&patient(NHS[0]))
        .send()
        .await
        .expect("process A answers");
    let id = id_of(&expect_json(res, StatusCode::CREATED, "flag through process A").await);
    let (kind, data) = hub_stream
        .next(Duration::from_secs(1))
        .await
        .expect("the event within a second");
    let latency = started.elapsed();
    assert_eq!(kind, "patient.created");
    assert_eq!(data["type"], "patient.created");
    assert_eq!(data["patient_id"], id);
    assert!(data["at"].is_string());
    // no identifiers travel in events
    assert!(data.get("nhs_number").is_none() && data.get("trust_code").is_none());
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    // the other trust's ward hears nothing about it
    assert!(
        other_trust
            .drain(Duration::from_millis(300))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_providers_stream_carries_nothing_about_other_providers_referrals() {
    let app = TestApp::spawn().await;
    let a = app.serve_process().await;
    let b = app.serve_process().await;
    // a patient awaiting care, and an offer from each provider
    let id = app.awaiting_care(NHS[0], 3).await;
    let o1 = app.post_offer("provider", offer(1)).await;
    let o2 = app.post_offer("provider2", offer(1)).await;

    let mut p1 = EventStream::open(&b.base, &b.token("provider").await).await;
    let mut p2 = EventStream::open(&b.base, &b.token("provider2").await).await;
    let hub_a = a.token("hub").await;
    let client = reqwest::Client::new();
    let refer = |offer: &Value| {
        client
            .post(format!("{}/api/v1/referrals", a.base))
            .bearer_auth(&hub_a)
            .json(&json!({"patient_id": id, "offer_id": offer["id"]}))
            .send()
    };
    let r2 = expect_json(
        refer(&o2).await.expect("A answers"),
        StatusCode::CREATED,
        "refer to PRV2",
    )
    .await;
    let r1 = expect_json(
        refer(&o1).await.expect("A answers"),
        StatusCode::CREATED,
        "refer to PRV1",
    )
    .await;

    let seen1 = p1.drain(Duration::from_millis(800)).await;
    let seen2 = p2.drain(Duration::from_millis(300)).await;
    let referral_ids = |seen: &[(String, Value)]| -> Vec<i64> {
        seen.iter()
            .filter(|(k, _)| k.starts_with("referral."))
            .map(|(_, d)| {
                d["referral_id"]
                    .as_i64()
                    .unwrap_or_else(|| panic!("no referral_id in {d}"))
            })
            .collect()
    };
    assert_eq!(referral_ids(&seen1), vec![id_of(&r1)], "{seen1:?}");
    assert_eq!(referral_ids(&seen2), vec![id_of(&r2)], "{seen2:?}");
    // offers: each hears only about its own
    assert!(
        seen1
            .iter()
            .all(|(k, d)| !k.starts_with("offer.") || d["offer_id"] == o1["id"])
    );

    // PRV1 accepts through process B; the hub's stream on A hears the decision
    let mut hub_stream = EventStream::open(&a.base, &hub_a).await;
    let p1_token = b.token("provider").await;
    let res = client
        .post(format!("{}/api/v1/referrals/{}/decision", b.base, r1["id"]))
        .bearer_auth(&p1_token)
        .json(&json!({"decision": "accept"}))
        .send()
        .await
        .expect("B answers");
    expect_json(res, StatusCode::OK, "accept through process B").await;
    let seen = hub_stream.drain(Duration::from_millis(800)).await;
    assert!(
        seen.iter().any(|(k, d)| k == "referral.decided"
            && d["referral_id"] == r1["id"]
            && d["status"] == "accepted"),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(k, d)| k == "patient.updated" && d["patient_id"] == id)
    );
    // PRV2 learns its referral was withdrawn, and nothing about PRV1's acceptance
    let seen2 = p2.drain(Duration::from_millis(500)).await;
    assert!(
        seen2
            .iter()
            .all(|(k, d)| !k.starts_with("referral.") || d["referral_id"] == r2["id"]),
        "{seen2:?}"
    );
}

#[tokio::test]
async fn the_stream_needs_a_caller_and_pages_reach_it_with_their_session() {
    let app = TestApp::spawn().await;
    let res = reqwest::get(app.url("/api/v1/events"))
        .await
        .expect("the server answers");
    let body = expect_json(res, StatusCode::UNAUTHORIZED, "events without a caller").await;
    assert_eq!(body["error"]["code"], "unauthorized");
    let b = app.browser("hub").await;
    let res = b.get("/api/v1/events").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(content_type(&res), "text/event-stream");
}
