//! Notes, the contact log and tasks on a case (CONTRACT.md "Notes and tasks"): the hub and
//! the case's ward write and read them; providers, even one the patient is referred to, get
//! 404; another trust's ward too.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn the_hub_and_the_ward_keep_notes_newest_first_and_nobody_else_sees_them() {
    let app = TestApp::spawn().await;
    let id = app.awaiting_care(NHS[0], 3).await;
    let bed = app.post_offer("provider", offer(1)).await;
    app.refer(id, id_of(&bed)).await;
    let hub = app.api("hub").await;
    let path = format!("/api/v1/patients/{id}/notes");
    let first = hub
        .post_expect(
            &path,
            json!({"kind": "call", "text": "Rang daughter: prefers Meadowbank"}),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(first["kind"], "call");
    assert_eq!(first["author"], "hub");
    assert_eq!(first["patient_id"], id);
    assert!(first["at"].is_string() && first["id"].is_i64());
    app.clock.set(default_now() + chrono::Duration::minutes(5));
    app.api("ward")
        .await
        .post_expect(
            &path,
            json!({"text": "Family visiting at 2pm"}),
            StatusCode::CREATED,
        )
        .await;
    let list = hub.get_json(&path).await;
    assert_eq!(list["total"], 2);
    let texts = column(items(&list), "text");
    assert_eq!(
        texts,
        [
            "Family visiting at 2pm",
            "Rang daughter: prefers Meadowbank"
        ]
    );
    assert_eq!(items(&list)[0]["kind"], "note");

    // a bad note names each problem
    let err = hub
        .post_expect(
            &path,
            json!({"kind": "fax", "text": "  "}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(err["error"]["fields"]["kind"].is_string());
    assert!(err["error"]["fields"]["text"].is_string());

    // providers (even the one referred to) and the other trust's ward: 404, reading or writing
    for user in ["provider", "provider2", "ward2", "admin"] {
        let api = app.api(user).await;
        api.get_expect(&path, StatusCode::NOT_FOUND).await;
        api.post_expect(&path, json!({"text": "x"}), StatusCode::NOT_FOUND)
            .await;
    }
    assert_eq!(app.count("SELECT count(*) FROM case_notes").await, 2);
    // notes are never changed once written
    let err = sqlx::query("UPDATE case_notes SET text = 'rewritten'")
        .execute(&app.pool)
        .await;
    assert!(err.is_err());
}

#[tokio::test]
async fn tasks_go_to_the_coordinator_and_are_done_with_one_call() {
    let app = TestApp::spawn().await;
    let id = app.awaiting_care(NHS[0], 2).await;
    let hub = app.api("hub").await;
    let path = format!("/api/v1/patients/{id}/tasks");
    // no coordinator yet: the author owns it
    let t = hub
        .post_expect(
            &path,
            json!({"title": "Chase Meadowbank for an answer", "due_at": "2026-11-22T14:00:00Z"}),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(t["assignee"], "hub");
    assert_eq!(t["status"], "open");
    assert!(t["done_at"].is_null());
    // a named owner from the case's trust; a plain date is the start of that day
    let t2 = app
        .api("ward")
        .await
        .post_expect(
            &path,
            json!({"title": "Book transport", "due_at": "2026-11-24", "assignee": "ward"}),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(t2["assignee"], "ward");
    assert_eq!(t2["due_at"], "2026-11-24T00:00:00Z");
    // not someone of another trust, nor a provider; a title and a due time are needed
    for (body, field) in [
        (
            json!({"title": "x", "due_at": "2026-11-24", "assignee": "ward2"}),
            "assignee",
        ),
        (
            json!({"title": "x", "due_at": "2026-11-24", "assignee": "provider"}),
            "assignee",
        ),
        (json!({"title": "", "due_at": "2026-11-24"}), "title"),
        (json!({"title": "x", "due_at": "soon"}), "due_at"),
    ] {
        let err = hub
            .post_expect(&path, body, StatusCode::UNPROCESSABLE_ENTITY)
            .await;
        assert!(err["error"]["fields"][field].is_string(), "{err}");
    }
    // my open tasks due before a time
    let mine = hub
        .get_json("/api/v1/tasks?assignee=me&status=open&due_before=2026-11-23")
        .await;
    assert_eq!(mine["total"], 1);
    assert_eq!(items(&mine)[0]["title"], "Chase Meadowbank for an answer");
    // done with one call; done again changes nothing
    let done = hub
        .post_expect(
            &format!("/api/v1/tasks/{}/complete", id_of(&t)),
            json!({}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(done["status"], "done");
    assert!(done["done_at"].is_string());
    let again = hub
        .post_expect(
            &format!("/api/v1/tasks/{}/complete", id_of(&t)),
            json!({}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(again["done_at"], done["done_at"]);
    assert_eq!(
        hub.get_json("/api/v1/tasks?assignee=me&status=open").await["total"],
        0
    );
    // the case's tasks, soonest first
    let all = hub.get_json(&path).await;
    assert_eq!(
        column(items(&all), "title"),
        ["Chase Meadowbank for an answer", "Book transport"]
    );
    // a provider sees no tasks at all: 404 for the list and for a task
    let p = app.api("provider").await;
    p.get_expect("/api/v1/tasks", StatusCode::NOT_FOUND).await;
    p.post_expect(
        &format!("/api/v1/tasks/{}/complete", id_of(&t2)),
        json!({}),
        StatusCode::NOT_FOUND,
    )
    .await;
    // the other trust's ward neither
    app.api("ward2")
        .await
        .post_expect(
            &format!("/api/v1/tasks/{}/complete", id_of(&t2)),
            json!({}),
            StatusCode::NOT_FOUND,
        )
        .await;
    assert_eq!(
        app.api("ward2").await.get_json("/api/v1/tasks").await["total"],
        0
    );
}
