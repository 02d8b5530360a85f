//! The patients API as CONTRACT.md describes it, driven over HTTP like a partner system.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn health_answers_ok_when_the_database_does() {
    let app = TestApp::spawn().await;
    let res = reqwest::get(app.url("/healthz"))
        .await
        .expect("the server answers");
    assert_eq!(
        expect_json(res, StatusCode::OK, "healthz").await,
        json!({"status": "ok"})
    );
}

#[tokio::test]
async fn a_token_needs_the_right_password_and_an_enabled_user() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::new();
    let res = client
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({"username": "hub", "password": "wrong-password"}))
        .send()
        .await
        .expect("the server answers");
    let body = expect_json(res, StatusCode::UNAUTHORIZED, "").await;
    assert_eq!(body["error"]["code"], "unauthorized");

    let res = client
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({"username": "hub", "password": PASSWORD}))
        .send()
        .await
        .expect("the server answers");
    let body = expect_json(res, StatusCode::OK, "token").await;
    assert_eq!(body["user"]["username"], "hub");
    assert_eq!(body["user"]["role"], "hub");
    assert_eq!(body["user"]["org_code"], "HUB");
    assert!(body["expires_at"].is_string());
    assert!(
        body["token"].as_str().is_some_and(|t| t.len() >= 32),
        "{body}"
    );
}

#[tokio::test]
async fn every_api_call_needs_a_valid_token() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::new();
    for path in [
        "/api/v1/patients",
        "/api/v1/reference/delay-reasons",
        "/api/v1/patients/1",
    ] {
        let res = client
            .get(app.url(path))
            .send()
            .await
            .expect("the server answers");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
        let res = client
            .get(app.url(path))
            .bearer_auth("not-a-token")
            .send()
            .await
            .expect("the server answers");
        let body = expect_json(res, StatusCode::UNAUTHORIZED, "{path}").await;
        assert_eq!(body["error"]["code"], "unauthorized");
    }
}

#[tokio::test]
async fn a_ward_flags_a_patient_and_gets_the_whole_case_back() {
    let app = TestApp::spawn().await;
    let ward = app.api("ward").await;
    let mut body = patient("943 476 5919");
    body["postcode"] = json!("ls9 7tf");
    let case = ward
        .post_expect("/api/v1/patients", body, StatusCode::CREATED)
        .await;
    for field in [
        "id",
        "nhs_number",
        "given_name",
        "family_name",
        "date_of_birth",
        "sex",
        "postcode",
        "ward_code",
        "bed",
        "admitted_at",
        "expected_discharge_date",
        "needs_summary",
        "status",
        "pathway",
        "discharge_ready_at",
        "delay_reason",
        "delay_days",
        "planned_discharge_at",
        "coordinator",
        "version",
        "created_at",
        "updated_at",
    ] {
        assert!(case.get(field).is_some(), "missing {field}");
    }
    assert_eq!(case["nhs_number"], "9434765919");
    assert_eq!(case["postcode"], "LS9 7TF");
    assert_eq!(case["status"], "awaiting_triage");
    assert_eq!(case["discharge_ready_at"], "2026-11-20T14:00:00Z");
    // 20 Nov to 22 Nov (the test clock) in Europe/London
    assert_eq!(case["delay_days"], 2);
    assert_eq!(case["pathway"], Value::Null);

    let history = ward
        .get_json(&format!("/api/v1/patients/{}/history", case["id"]))
        .await;
    assert_eq!(history["items"][0]["action"], "created");
    assert_eq!(history["items"][0]["actor"], "ward");
}

#[tokio::test]
async fn a_case_without_a_ready_time_is_planning() {
    let app = TestApp::spawn().await;
    let mut body = patient(NHS[0]);
    body.as_object_mut().unwrap().remove("discharge_ready_at");
    let case = app.flag("ward", body).await;
    assert_eq!(case["status"], "planning");
    assert_eq!(case["discharge_ready_at"], Value::Null);
    assert_eq!(case["delay_days"], Value::Null);
}

#[tokio::test]
async fn bad_input_names_every_bad_field_and_saves_nothing() {
    let app = TestApp::spawn().await;
    let ward = app.api("ward").await;
    let body = json!({
        "nhs_number": "9434765918",
        "given_name": "",
        "date_of_birth": "1941-02-30",
        "sex": "f",
        "postcode": "nowhere",
        "ward_code": "RHW-AMU",
        "admitted_at": "yesterday",
        "needs_summary": "x".repeat(2001)
    });
    let err = ward
        .post_expect("/api/v1/patients", body, StatusCode::UNPROCESSABLE_ENTITY)
        .await;
    assert_eq!(err["error"]["code"], "validation_failed");
    let fields = err["error"]["fields"]
        .as_object()
        .unwrap_or_else(|| panic!("no fields in {err}"));
    for f in [
        "nhs_number",
        "given_name",
        "family_name",
        "date_of_birth",
        "sex",
        "postcode",
        "admitted_at",
        "needs_summary",
    ] {
        assert!(fields.contains_key(f), "no message for {f}: {err}");
    }
    assert_eq!(app.count("SELECT count(*) FROM patients").await, 0);
}

#[tokio::test]
async fn malformed_json_is_400_and_wrong_types_are_422() {
    let app = TestApp::spawn().await;
    let ward = app.api("ward").await;
    let res = ward
        .client
        .post(app.url("/api/v1/patients"))
        .bearer_auth(&ward.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("the server answers");
    let body = expect_json(res, StatusCode::BAD_REQUEST, "").await;
    assert_eq!(body["error"]["code"], "bad_request");

    let err = ward
        .post_expect(
            "/api/v1/patients",
            json!({"nhs_number": 12}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(err["error"]["code"], "validation_failed");
}

#[tokio::test]
async fn a_body_over_one_megabyte_is_413() {
    let app = TestApp::spawn().await;
    let ward = app.api("ward").await;
    let mut body = patient(NHS[0]);
    body["needs_summary"] = json!("x".repeat(1_100_000));
    let err = ward
        .post_expect("/api/v1/patients", body, StatusCode::PAYLOAD_TOO_LARGE)
        .await;
    assert_eq!(err["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn a_second_open_case_for_one_nhs_number_is_409() {
    let app = TestApp::spawn().await;
    let first = app.flag("ward", patient(NHS[0])).await;
    let hub = app.api("hub").await;
    let err = hub
        .post_expect("/api/v1/patients", patient(NHS[0]), StatusCode::CONFLICT)
        .await;
    assert_eq!(err["error"]["code"], "duplicate_open_case");
    // once discharged, a new stay may be opened
    hub.post_expect(
        &format!("/api/v1/patients/{}/discharge", first["id"]),
        json!({}),
        StatusCode::OK,
    )
    .await;
    hub.post_expect("/api/v1/patients", patient(NHS[0]), StatusCode::CREATED)
        .await;
}

#[tokio::test]
async fn a_ward_user_cannot_use_another_trusts_ward() {
    let app = TestApp::spawn().await;
    let ward = app.api("ward").await;
    let mut body = patient(NHS[0]);
    body["ward_code"] = json!("RXX-W01");
    let err = ward
        .post_expect("/api/v1/patients", body.clone(), StatusCode::FORBIDDEN)
        .await;
    assert_eq!(err["error"]["code"], "forbidden");
    body["ward_code"] = json!("NOWHERE");
    let err = ward
        .post_expect("/api/v1/patients", body, StatusCode::UNPROCESSABLE_ENTITY)
        .await;
    assert!(err["error"]["fields"]["ward_code"].is_string());
    assert_eq!(app.count("SELECT count(*) FROM patients").await, 0);
}

#[tokio::test]
async fn providers_and_admins_cannot_flag() {
    let app = TestApp::spawn().await;
    for user in ["provider", "admin"] {
        let api = app.api(user).await;
        api.post_expect("/api/v1/patients", patient(NHS[0]), StatusCode::FORBIDDEN)
            .await;
    }
}

#[tokio::test]
async fn each_role_sees_only_the_cases_it_may() {
    let app = TestApp::spawn().await;
    let own = app.flag("ward", patient(NHS[0])).await;
    let mut other = patient(NHS[1]);
    other["ward_code"] = json!("RXX-W01");
    let other = app.flag("ward2", other).await;

    let ids = |v: &Value| -> Vec<i64> { items(v).iter().map(id_of).collect() };

    let ward = app.api("ward").await;
    assert_eq!(
        ids(&ward.get_json("/api/v1/patients").await),
        vec![id_of(&own)]
    );
    let res = ward.get(&format!("/api/v1/patients/{}", other["id"])).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = ward
        .get(&format!("/api/v1/patients/{}/history", other["id"]))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // and cannot change it either
    let res = ward
        .post(
            &format!("/api/v1/patients/{}/discharge", other["id"]),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let hub = app.api("hub").await;
    let mut all = ids(&hub.get_json("/api/v1/patients").await);
    all.sort();
    assert_eq!(all.len(), 2);

    let provider = app.api("provider").await;
    assert!(ids(&provider.get_json("/api/v1/patients").await).is_empty());
    for id in [&own["id"], &other["id"]] {
        assert_eq!(
            provider
                .get(&format!("/api/v1/patients/{id}"))
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            provider
                .get(&format!("/api/v1/patients/{id}/history"))
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
    }

    let admin = app.api("admin").await;
    assert!(ids(&admin.get_json("/api/v1/patients").await).is_empty());
}

#[tokio::test]
async fn list_filters_work_and_unknown_values_are_422() {
    let app = TestApp::spawn().await;
    let a = app.flag_id("ward", patient(NHS[0])).await;
    let mut planning = patient(NHS[1]);
    planning
        .as_object_mut()
        .unwrap()
        .remove("discharge_ready_at");
    planning["ward_code"] = json!("RHW-W10");
    app.flag("ward", planning).await;
    let hub = app.api("hub").await;
    app.choose_pathway(a, 2).await;

    let count = |v: Value| items(&v).len();
    assert_eq!(
        count(hub.get_json("/api/v1/patients?status=awaiting_care").await),
        1
    );
    assert_eq!(
        count(hub.get_json("/api/v1/patients?status=planning").await),
        1
    );
    assert_eq!(count(hub.get_json("/api/v1/patients?pathway=2").await), 1);
    assert_eq!(count(hub.get_json("/api/v1/patients?pathway=3").await), 0);
    assert_eq!(
        count(hub.get_json("/api/v1/patients?ward_code=RHW-W10").await),
        1
    );
    assert_eq!(count(hub.get_json("/api/v1/patients?status=").await), 2);

    for bad in ["status=waiting", "pathway=7", "pathway=x", "limit=0"] {
        let res = hub.get(&format!("/api/v1/patients?{bad}")).await;
        let body = expect_json(res, StatusCode::UNPROCESSABLE_ENTITY, "{bad}").await;
        assert_eq!(body["error"]["code"], "validation_failed");
    }
}

#[tokio::test]
async fn the_whole_pathway_two_journey_through_the_api() {
    let app = TestApp::spawn().await;
    let ward = app.api("ward").await;
    let hub = app.api("hub").await;
    let id = app.flag_id("ward", patient(NHS[0])).await;
    let p = |action: &str| format!("/api/v1/patients/{id}/{action}");

    let c = app.choose_pathway(id, 2).await;
    assert_eq!(c["status"], "awaiting_care");
    assert_eq!(c["pathway"], 2);
    let c = hub
        .post_expect(
            &p("delay-reason"),
            json!({"code": "p2_bed"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(c["delay_reason"], "p2_bed");
    let c = hub
        .post_expect(&p("coordinator"), json!({}), StatusCode::OK)
        .await;
    assert_eq!(c["coordinator"], "hub");
    // no care arranged yet: planning a date is refused
    let err = hub
        .post_expect(
            &p("plan-discharge"),
            json!({"planned_for": "2026-11-24"}),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(err["error"]["code"], "invalid_transition");

    let c = ward
        .post_expect(
            &p("discharge"),
            json!({"discharged_at": "2026-11-22T09:00:00Z"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(c["status"], "discharged");
    assert_eq!(c["delay_days"], 2);
    // terminal: nothing moves any more
    let err = hub
        .post_expect(
            &p("cancel"),
            json!({"reason": "test"}),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(err["error"]["code"], "invalid_transition");

    let history = app.history(id).await;
    assert_eq!(
        column(&history, "action"),
        vec![
            "created",
            "pathway_chosen",
            "delay_reason_set",
            "coordinator_assigned",
            "discharged"
        ]
    );
    assert_eq!(
        column(&history, "actor"),
        vec!["ward", "hub", "hub", "hub", "ward"]
    );
}

#[tokio::test]
async fn pathway_zero_is_ready_to_go_and_can_be_planned() {
    let app = TestApp::spawn().await;
    let hub = app.api("hub").await;
    let id = app.flag_id("ward", patient(NHS[0])).await;
    let c = app.choose_pathway(id, 0).await;
    assert_eq!(c["status"], "ready_to_go");
    let c = hub
        .post_expect(
            &format!("/api/v1/patients/{id}/plan-discharge"),
            json!({"planned_for": "2026-11-23T11:00:00Z"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(c["planned_discharge_at"], "2026-11-23T11:00:00Z");
    assert_eq!(c["status"], "ready_to_go");
    // a date in the past is refused
    let err = hub
        .post_expect(
            &format!("/api/v1/patients/{id}/plan-discharge"),
            json!({"planned_for": "2026-11-01"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(err["error"]["fields"]["planned_for"].is_string());
}

#[tokio::test]
async fn only_the_hub_chooses_a_pathway_and_only_zero_to_three() {
    let app = TestApp::spawn().await;
    let id = app.flag_id("ward", patient(NHS[0])).await;
    let path = format!("/api/v1/patients/{id}/pathway");
    let ward = app.api("ward").await;
    ward.post_expect(&path, json!({"pathway": 1}), StatusCode::FORBIDDEN)
        .await;
    let hub = app.api("hub").await;
    for bad in [
        json!({"pathway": 4}),
        json!({"pathway": "one"}),
        json!({"pathway": -1}),
    ] {
        let err = hub
            .post_expect(&path, bad, StatusCode::UNPROCESSABLE_ENTITY)
            .await;
        assert!(err["error"]["fields"]["pathway"].is_string());
    }
    let c = hub.get_json(&format!("/api/v1/patients/{id}")).await;
    assert_eq!(c["status"], "awaiting_triage");
    assert_eq!(c["version"], 1);
}

#[tokio::test]
async fn an_unknown_delay_reason_is_422() {
    let app = TestApp::spawn().await;
    let id = app.flag_id("ward", patient(NHS[0])).await;
    let ward = app.api("ward").await;
    let err = ward
        .post_expect(
            &format!("/api/v1/patients/{id}/delay-reason"),
            json!({"code": "lost_the_paperwork"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(err["error"]["fields"]["code"].is_string());
    let c = ward
        .post_expect(
            &format!("/api/v1/patients/{id}/delay-reason"),
            json!({"code": "medicines_tto"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(c["delay_reason"], "medicines_tto");
}

#[tokio::test]
async fn a_stale_version_is_409_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let id = app.flag_id("ward", patient(NHS[0])).await;
    let hub = app.api("hub").await;
    let c = hub
        .post_expect(
            &format!("/api/v1/patients/{id}/pathway"),
            json!({"pathway": 1, "version": 1}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(c["version"], 2);
    let err = hub
        .post_expect(
            &format!("/api/v1/patients/{id}/pathway"),
            json!({"pathway": 3, "version": 1}),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(err["error"]["code"], "stale_version");
    let c = hub.get_json(&format!("/api/v1/patients/{id}")).await;
    assert_eq!(c["pathway"], 1);
    assert_eq!(c["version"], 2);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM patient_history WHERE patient_id = {id}"
        ))
        .await,
        2
    );
}

#[tokio::test]
async fn meeting_the_criteria_again_closes_the_period_and_a_new_flag_opens_another() {
    let app = TestApp::spawn().await;
    let id = app.flag_id("ward", patient(NHS[0])).await;
    let ward = app.api("ward").await;
    let path = format!("/api/v1/patients/{id}/criteria");
    app.choose_pathway(id, 1).await;

    let err = ward
        .post_expect(
            &path,
            json!({"meets_criteria": true, "ctr_code": "99"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(err["error"]["fields"]["ctr_code"].is_string());

    let c = ward
        .post_expect(
            &path,
            json!({"meets_criteria": true, "at": "2026-11-21T08:00:00Z", "ctr_code": "04"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(c["status"], "planning");
    assert_eq!(c["discharge_ready_at"], Value::Null);
    assert_eq!(c["pathway"], Value::Null);
    // already meets: refused
    ward.post_expect(&path, json!({"meets_criteria": true}), StatusCode::CONFLICT)
        .await;

    let c = ward
        .post_expect(
            &path,
            json!({"meets_criteria": false, "at": "2026-11-22T07:30:00Z"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(c["status"], "awaiting_triage");
    assert_eq!(c["discharge_ready_at"], "2026-11-22T07:30:00Z");
    assert_eq!(c["delay_days"], 0);
    let periods: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT ended_by, ctr_code FROM nctr_periods WHERE patient_id = $1 ORDER BY started_at",
    )
    .bind(id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        periods,
        vec![
            (Some("met_criteria".into()), Some("04".into())),
            (None, None)
        ]
    );

    // a time in the future is refused
    ward.post_expect(
        &path,
        json!({"meets_criteria": true, "at": "2026-12-25T08:00:00Z"}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

#[tokio::test]
async fn cancelling_needs_a_reason_and_the_hub() {
    let app = TestApp::spawn().await;
    let id = app.flag_id("ward", patient(NHS[0])).await;
    let path = format!("/api/v1/patients/{id}/cancel");
    app.api("ward")
        .await
        .post_expect(&path, json!({"reason": "Died"}), StatusCode::FORBIDDEN)
        .await;
    let hub = app.api("hub").await;
    hub.post_expect(
        &path,
        json!({"reason": "  "}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let c = hub
        .post_expect(
            &path,
            json!({"reason": "Transferred to another trust"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(c["status"], "cancelled");
}

#[tokio::test]
async fn details_update_the_expected_date_and_needs() {
    let app = TestApp::spawn().await;
    let id = app.flag_id("ward", patient(NHS[0])).await;
    let ward = app.api("ward").await;
    let path = format!("/api/v1/patients/{id}/details");
    let c = ward
        .post_expect(&path, json!({"expected_discharge_date": "2026-11-25", "needs_summary": "Hoist and two carers"}), StatusCode::OK)
        .await;
    assert_eq!(c["expected_discharge_date"], "2026-11-25");
    assert_eq!(c["needs_summary"], "Hoist and two carers");
    ward.post_expect(
        &path,
        json!({"expected_discharge_date": "25/11/2026"}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let c = ward
        .post_expect(
            &path,
            json!({"expected_discharge_date": null}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(c["expected_discharge_date"], Value::Null);
    assert_eq!(c["needs_summary"], "Hoist and two carers");
}

#[tokio::test]
async fn reference_data_lists_the_active_code_sets() {
    let app = TestApp::spawn().await;
    let ward = app.api("ward").await;
    let reasons = ward.get_json("/api/v1/reference/delay-reasons").await;
    let list = items(&reasons);
    assert_eq!(list.len(), 20);
    let p2 = list
        .iter()
        .find(|r| r["code"] == "p2_bed")
        .unwrap_or_else(|| panic!("no p2_bed in {reasons}"));
    assert_eq!(p2["sector"], "community");
    assert!(
        p2["label"].as_str().is_some_and(|l| l.contains("bed")),
        "{p2}"
    );

    let types = ward.get_json("/api/v1/reference/capacity-types").await;
    let list = items(&types);
    assert_eq!(list.len(), 12);
    let nursing = list
        .iter()
        .find(|t| t["code"] == "nursing")
        .unwrap_or_else(|| panic!("no nursing in {types}"));
    assert_eq!(nursing["pathway"], 3);
    assert_eq!(nursing["unit"], "bed");
}

#[tokio::test]
async fn the_openapi_document_is_generated_and_covers_the_calls() {
    let app = TestApp::spawn().await;
    let res = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .expect("the server answers");
    let doc = expect_json(res, StatusCode::OK, "openapi.json").await;
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    for path in [
        "/api/v1/auth/token",
        "/api/v1/patients",
        "/api/v1/patients/{id}",
        "/api/v1/patients/{id}/history",
        "/api/v1/patients/{id}/criteria",
        "/api/v1/patients/{id}/pathway",
        "/api/v1/patients/{id}/delay-reason",
        "/api/v1/patients/{id}/plan-discharge",
        "/api/v1/patients/{id}/discharge",
        "/api/v1/patients/{id}/cancel",
        "/api/v1/reference/delay-reasons",
        "/api/v1/reference/capacity-types",
        "/api/v1/reference/discharge-destinations",
        "/api/v1/reference/discharge-methods",
        "/api/v1/reports/sitrep",
        "/api/v1/reports/national-return",
        "/api/v1/reports/flow",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from OpenAPI"
        );
    }
    assert!(doc["components"]["schemas"].get("PatientJson").is_some());
}

#[tokio::test]
async fn unknown_api_paths_are_json_404s() {
    let app = TestApp::spawn().await;
    let hub = app.api("hub").await;
    let res = hub.get("/api/v1/nothing-here").await;
    let body = expect_json(res, StatusCode::NOT_FOUND, "").await;
    assert_eq!(body["error"]["code"], "not_found");
    let res = hub.get("/api/v1/patients/999999").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_disabled_users_tokens_stop_working() {
    let app = TestApp::spawn().await;
    let hub = app.api("hub").await;
    let id: i64 = app
        .count("SELECT id FROM users WHERE username = 'hub'")
        .await;
    homeward::accounts::users::set_disabled(&app.pool, id, true, default_now())
        .await
        .unwrap();
    assert_eq!(
        hub.get("/api/v1/patients").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn concurrent_changes_to_one_case_never_lose_an_update() {
    let app = TestApp::spawn().await;
    let id = app.flag_id("ward", patient(NHS[0])).await;
    let hub = std::sync::Arc::new(app.api("hub").await);
    // eight coordinators choose a pathway at once, all from version 1: exactly one wins
    let mut tasks = vec![];
    for p in 0..8 {
        let hub = hub.clone();
        tasks.push(tokio::spawn(async move {
            hub.post(
                &format!("/api/v1/patients/{id}/pathway"),
                json!({"pathway": 1 + p % 3, "version": 1}),
            )
            .await
            .status()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM patient_history WHERE patient_id = {id}"
        ))
        .await,
        2
    );
}

#[tokio::test]
async fn partners_may_record_meeting_the_criteria_again_without_a_ctr_code() {
    // CONTRACT.md makes `ctr_code` optional on the API; the case page requires it
    // (tests/it/pages.rs). One rule in patients::commands decides both.
    let app = TestApp::spawn().await;
    let id = app.flag_id("ward", patient(NHS[0])).await;
    let ward = app.api("ward").await;
    let c = ward
        .post_expect(
            &format!("/api/v1/patients/{id}/criteria"),
            json!({"meets_criteria": true, "at": "2026-11-21T08:00:00Z"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(c["status"], "planning");
    let periods: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT ended_by, ctr_code FROM nctr_periods WHERE patient_id = $1 ORDER BY started_at",
    )
    .bind(id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(periods, vec![(Some("met_criteria".into()), None)]);
}

/// The ids a patients list answered with, in its order.
fn found(v: &Value) -> Vec<i64> {
    items(v).iter().map(id_of).collect()
}

/// The ids of the patients `api`'s caller finds with `text`, in id order.
async fn search(api: &Api, text: &str) -> Vec<i64> {
    let encoded: String = text
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let url = format!("/api/v1/patients?q={encoded}");
    let list = api.get_json(&url).await;
    assert_eq!(
        list["total"].as_i64(),
        Some(items(&list).len() as i64),
        "{text}: {list}"
    );
    let mut ids = found(&list);
    ids.sort();
    ids
}

#[tokio::test]
async fn search_finds_a_patient_by_folded_name_nhs_number_hospital_number_or_bed_within_scope() {
    let app = TestApp::spawn().await;
    let named = |nhs: &str, given: &str, family: &str, bed: &str| {
        let mut body = patient(nhs);
        body["given_name"] = json!(given);
        body["family_name"] = json!(family);
        body["bed"] = json!(bed);
        body
    };
    let siobhan = app
        .flag_id("ward", named(NHS[0], "Siobhán", "O'Brien-Smith", "B12"))
        .await;
    let zoe = app
        .flag_id("ward", named(NHS[1], "Zoë", "D’Arcy", "C3"))
        .await;
    let mut elsewhere = named(NHS[2], "Sean", "OBrien", "B12");
    elsewhere["ward_code"] = json!("RXX-W01");
    let other_trust = app.flag_id("ward2", elsewhere).await;
    let mut unknown = named("", "Unnamed", "Patient", "");
    unknown.as_object_mut().unwrap().remove("nhs_number");
    unknown["nhs_number_status"] = json!("unknown");
    unknown["local_id"] = json!("RHW123456");
    let no_number = app.flag_id("ward", unknown).await;

    let hub = app.api("hub").await;
    let sorted = |mut v: Vec<i64>| {
        v.sort();
        v
    };
    // names: case, accents, apostrophes (straight or curly) and hyphens do not matter
    assert_eq!(search(&hub, "siobhan").await, vec![siobhan]);
    assert_eq!(search(&hub, "SIOBHÁN").await, vec![siobhan]);
    assert_eq!(search(&hub, "o’brien smith").await, vec![siobhan]);
    assert_eq!(search(&hub, "obrien-smith").await, vec![siobhan]);
    assert_eq!(search(&hub, "zoe darcy").await, vec![zoe]);
    assert_eq!(search(&hub, "D'Arcy, Zoë").await, vec![zoe]);
    assert_eq!(
        search(&hub, "obrien").await,
        sorted(vec![siobhan, other_trust])
    );
    // a part of a name, and every word must match
    assert_eq!(search(&hub, "arc").await, vec![zoe]);
    assert_eq!(search(&hub, "zoe smith").await, Vec::<i64>::new());
    // NHS numbers with spaces, hospital numbers and beds in any case
    assert_eq!(search(&hub, "943 476 5919").await, vec![siobhan]);
    assert_eq!(search(&hub, NHS[1]).await, vec![zoe]);
    assert_eq!(search(&hub, "rhw123456").await, vec![no_number]);
    assert_eq!(
        search(&hub, "b12").await,
        sorted(vec![siobhan, other_trust])
    );
    assert_eq!(search(&hub, "nobody").await, Vec::<i64>::new());
    // LIKE's wildcards are only characters
    assert_eq!(search(&hub, "%").await, Vec::<i64>::new());
    assert_eq!(search(&hub, "_").await, Vec::<i64>::new());
    // punctuation alone finds no one (it folds to nothing)
    for punctuation in ["'", "-", "’ -", "."] {
        assert_eq!(
            search(&hub, punctuation).await,
            Vec::<i64>::new(),
            "{punctuation}"
        );
    }

    // a ward finds only its own trust's patients
    let ward = app.api("ward").await;
    assert_eq!(search(&ward, "obrien").await, vec![siobhan]);
    assert_eq!(search(&ward, "b12").await, vec![siobhan]);
    let ward2 = app.api("ward2").await;
    assert_eq!(search(&ward2, "obrien").await, vec![other_trust]);
    assert_eq!(search(&ward2, NHS[0]).await, Vec::<i64>::new());

    // a provider cannot find a patient referred to it by name or number until it accepts
    app.choose_pathway(zoe, 3).await;
    let bed = app
        .post_offer("provider", offer_at(1, app.clock.now()))
        .await;
    let referral = app.refer(zoe, id_of(&bed)).await;
    let provider = app.api("provider").await;
    assert_eq!(
        found(&provider.get_json("/api/v1/patients").await),
        vec![zoe],
        "the referral is listed"
    );
    assert_eq!(search(&provider, "darcy").await, Vec::<i64>::new());
    assert_eq!(search(&provider, NHS[1]).await, Vec::<i64>::new());
    assert_eq!(search(&provider, "C3").await, Vec::<i64>::new());
    app.decide("provider", id_of(&referral), "accept").await;
    assert_eq!(search(&provider, "darcy").await, vec![zoe]);
    assert_eq!(search(&provider, "siobhan").await, Vec::<i64>::new());
    let provider2 = app.api("provider2").await;
    assert_eq!(search(&provider2, "darcy").await, Vec::<i64>::new());

    // too long a search is refused with the contract's error
    let long = "a".repeat(101);
    let err = hub
        .get_expect(
            &format!("/api/v1/patients?q={long}"),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert_eq!(err["error"]["code"], "validation_failed", "{err}");
}
