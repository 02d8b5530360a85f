//! `Idempotency-Key` on creates (CONTRACT.md "Lists"): a retry returns the first answer and
//! creates nothing; the same key with another body is a 422; keys are each user's own and
//! last 24 hours; requests racing with one key create once.

use crate::common::*;
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// POSTs `body` to `path` with `Idempotency-Key: key`: the status, whether the answer was a
/// replay, and the body.
async fn post_keyed(api: &Api, path: &str, key: &str, body: &Value) -> (StatusCode, bool, Value) {
    let res = api
        .client
        .post(format!("{}{}", api.base, path))
        .bearer_auth(&api.token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = res.status();
    let replayed = res
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    let text = res.text().await.unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("POST {path}: {e}: {text}"));
    (status, replayed, json)
}

/// `n` copies of one POST with one key, all at once.
async fn race(
    api: &Api,
    path: &str,
    key: &str,
    body: &Value,
    n: usize,
) -> Vec<(StatusCode, bool, Value)> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let api = Api {
            base: api.base.clone(),
            client: api.client.clone(),
            token: api.token.clone(),
        };
        let (path, key, body) = (path.to_string(), key.to_string(), body.clone());
        set.spawn(async move { post_keyed(&api, &path, &key, &body).await });
    }
    let mut out = vec![];
    while let Some(answer) = set.join_next().await {
        out.push(answer.expect("a request task"));
    }
    out
}

/// Sends the same create twice with one key: both answers are the first one, the second a
/// replay, and `table` has one row more, not two.
async fn retried_once(app: &TestApp, api: &Api, path: &str, body: Value, table: &str) -> Value {
    let sql = format!("SELECT count(*) FROM {table}");
    let before = app.count(&sql).await;
    let key = format!("retry-{table}");
    let (status, replayed, first) = post_keyed(api, path, &key, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{path}: {first}");
    assert!(!replayed);
    let (again, replayed, second) = post_keyed(api, path, &key, &body).await;
    assert_eq!(again, status, "{path}");
    assert!(replayed, "{path}: the second answer is the stored one");
    assert_eq!(second, first, "{path}: the same body");
    assert_eq!(
        app.count(&sql).await,
        before + 1,
        "{path}: one {table} row, not two"
    );
    first
}

#[tokio::test]
async fn a_retried_create_returns_the_first_answer_and_creates_nothing_new() {
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    let ward = app.api("ward").await;
    let hub = app.api("hub").await;
    let provider = app.api("provider").await;
    let case = retried_once(
        &app,
        &ward,
        "/api/v1/patients",
        patient_at(NHS[0], now),
        "patients",
    )
    .await;
    let case = id_of(&case);
    hub.post_expect(
        &format!("/api/v1/patients/{case}/pathway"),
        json!({"pathway": 3}),
        StatusCode::OK,
    )
    .await;
    let offer = retried_once(
        &app,
        &provider,
        "/api/v1/capacity",
        offer_at(2, now),
        "capacity_offers",
    )
    .await;
    retried_once(
        &app,
        &hub,
        "/api/v1/referrals",
        json!({"patient_id": case, "offer_id": id_of(&offer)}),
        "referrals",
    )
    .await;
    retried_once(
        &app,
        &ward,
        &format!("/api/v1/patients/{case}/notes"),
        json!({"text": "Rang the daughter", "kind": "call"}),
        "case_notes",
    )
    .await;
    retried_once(
        &app,
        &ward,
        &format!("/api/v1/patients/{case}/tasks"),
        json!({"title": "Ring the home", "due_at": (now + Duration::hours(2)).to_rfc3339()}),
        "case_tasks",
    )
    .await;
    // one history entry for the case's creation, not two
    assert_eq!(
        app.history_actions(case)
            .await
            .iter()
            .filter(|a| *a == "created")
            .count(),
        1,
        "{:?}",
        app.history_actions(case).await
    );
    // a refusal is an answer too: the same request with the key gets the same 422
    let bad = json!({"text": ""});
    let path = format!("/api/v1/patients/{case}/notes");
    let (s1, _, b1) = post_keyed(&ward, &path, "empty-note", &bad).await;
    let (s2, replayed, b2) = post_keyed(&ward, &path, "empty-note", &bad).await;
    assert_eq!((s1, s2), (StatusCode::UNPROCESSABLE_ENTITY, s1));
    assert!(replayed);
    assert_eq!(b1, b2);
}

#[tokio::test]
async fn the_same_key_with_a_different_body_is_refused() {
    let app = TestApp::spawn().await;
    let ward = app.api("ward").await;
    let case = app
        .flag_id("ward", patient_at(NHS[0], app.clock.now()))
        .await;
    let path = format!("/api/v1/patients/{case}/notes");
    let (status, _, first) =
        post_keyed(&ward, &path, "k1", &json!({"text": "One", "kind": "note"})).await;
    assert_eq!(status, StatusCode::CREATED);
    // the same JSON with its keys in another order is the same request
    let (status, replayed, same) =
        post_keyed(&ward, &path, "k1", &json!({"kind": "note", "text": "One"})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(replayed);
    assert_eq!(same, first);
    // another body, or the same body to another path, with the key: 422, nothing created
    let (status, _, body) = post_keyed(&ward, &path, "k1", &json!({"text": "Two"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "validation_failed");
    assert!(
        body["error"]["fields"]["Idempotency-Key"].is_string(),
        "{body}"
    );
    let other = app
        .flag_id("ward", patient_at(NHS[1], app.clock.now()))
        .await;
    let (status, _, _) = post_keyed(
        &ward,
        &format!("/api/v1/patients/{other}/notes"),
        "k1",
        &json!({"text": "One", "kind": "note"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("SELECT count(*) FROM case_notes").await, 1);
    // a key that is not printable text: 422
    let (status, _, _) =
        post_keyed(&ward, &path, &"x".repeat(256), &json!({"text": "Three"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("SELECT count(*) FROM case_notes").await, 1);
}

#[tokio::test]
async fn a_key_is_each_users_own_and_lasts_24_hours() {
    let app = TestApp::spawn().await;
    let case = app
        .flag_id("ward", patient_at(NHS[0], app.clock.now()))
        .await;
    let path = format!("/api/v1/patients/{case}/notes");
    let note = json!({"text": "Chased the home"});
    let (s1, _, by_ward) = post_keyed(&app.api("ward").await, &path, "same", &note).await;
    let (s2, replayed, by_hub) = post_keyed(&app.api("hub").await, &path, "same", &note).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert!(!replayed, "another user's key is another key");
    assert_ne!(id_of(&by_ward), id_of(&by_hub));
    // within 24 hours the key holds; after, it is forgotten and the request runs again
    app.clock.set(app.clock.now() + Duration::hours(23));
    let (_, replayed, again) = post_keyed(&app.api("ward").await, &path, "same", &note).await;
    assert!(replayed);
    assert_eq!(id_of(&again), id_of(&by_ward));
    app.clock.set(app.clock.now() + Duration::hours(2));
    let (status, replayed, fresh) = post_keyed(&app.api("ward").await, &path, "same", &note).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(!replayed);
    assert_ne!(id_of(&fresh), id_of(&by_ward));
    assert_eq!(app.count("SELECT count(*) FROM case_notes").await, 3);
}

#[tokio::test]
async fn requests_racing_with_one_key_create_once_and_all_get_the_first_answer() {
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    let ward = app.api("ward").await;
    // twelve copies of a new case at once, with one key
    let body = patient_at(NHS[0], now);
    let answers = race(&ward, "/api/v1/patients", "race-1", &body, 12).await;
    let created: Vec<&(StatusCode, bool, Value)> = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::CREATED)
        .collect();
    assert_eq!(
        created.len(),
        12,
        "every copy got the first answer: {answers:?}"
    );
    assert_eq!(answers.iter().filter(|(_, r, _)| !r).count(), 1, "one ran");
    assert!(answers.iter().all(|(_, _, b)| b == &answers[0].2));
    assert_eq!(app.count("SELECT count(*) FROM patients").await, 1);
    // and notes, where nothing else (such as one open case per NHS number) would stop a
    // second row
    let case = id_of(&answers[0].2);
    let path = format!("/api/v1/patients/{case}/notes");
    let note = json!({"text": "Once only"});
    let answers = race(&ward, &path, "race-2", &note, 12).await;
    assert!(
        answers
            .iter()
            .all(|(s, _, b)| *s == StatusCode::CREATED && b == &answers[0].2)
    );
    assert_eq!(app.count("SELECT count(*) FROM case_notes").await, 1);
}
