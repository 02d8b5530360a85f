//! Patient choice: the stages, the deadline, and the hub's list of passed deadlines.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn choice_runs_through_its_stages_and_the_hub_sees_passed_deadlines() {
    let app = TestApp::spawn().await;
    let id = app.flag_id("ward", patient(NHS[0])).await;
    let hub = app.api("hub").await;
    let path = format!("/api/v1/patients/{id}/choice");
    let c = hub
        .post_expect(&path, json!({"stage": "information"}), StatusCode::OK)
        .await;
    assert_eq!(c["information_given_at"], "2026-11-22T10:00:00Z");
    let err = hub
        .post_expect(
            &path,
            json!({"stage": "letter", "options": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(err["error"]["fields"]["options"].is_string());
    let c = hub
        .post_expect(&path, json!({"stage": "letter", "options": ["Meadowbank residential, LS9", "Oak House nursing, LS14"]}), StatusCode::OK)
        .await;
    // 22 November + 7 days
    assert_eq!(c["deadline"], "2026-11-29");
    assert_eq!(
        c["options_offered"].as_array().map(Vec::len),
        Some(2),
        "{c}"
    );
    let err = hub
        .post_expect(
            &path,
            json!({"stage": "preferences", "preferences": ["a", "b", "c", "d"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(err["error"]["fields"]["preferences"].is_string());
    hub.post_expect(
        &path,
        json!({"stage": "preferences", "preferences": ["Oak House nursing, LS14"]}),
        StatusCode::OK,
    )
    .await;
    hub.post_expect(
        &path,
        json!({"stage": "someday"}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    // a stale version is refused
    hub.post_expect(
        &path,
        json!({"stage": "escalation", "note": "Family meeting", "version": 1}),
        StatusCode::CONFLICT,
    )
    .await;

    // on 29 November the deadline has not passed; on 30 November it has
    app.clock.set(utc("2026-11-29T18:00:00Z"));
    let hub = app.api("hub").await;
    assert!(items(&hub.get_json("/api/v1/choice/overdue").await).is_empty());
    app.clock.set(utc("2026-11-30T09:00:00Z"));
    let hub = app.api("hub").await;
    let overdue = hub.get_json("/api/v1/choice/overdue").await;
    assert_eq!(overdue["items"][0]["patient_id"], id);
    assert_eq!(overdue["items"][0]["deadline"], "2026-11-29");
    let page = app.browser("hub").await.page("/hub/choice").await;
    assert!(page.text(".hw-overdue").contains("LOVELACE, Ada"));
    // only the hub sees the list
    assert_eq!(
        app.api("ward")
            .await
            .get("/api/v1/choice/overdue")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );

    // an outcome takes the case off the list, and every step is in the history
    hub.post_expect(&path, json!({"stage": "outcome", "outcome": "interim", "note": "Meadowbank while waiting for Oak House"}), StatusCode::OK).await;
    assert!(items(&hub.get_json("/api/v1/choice/overdue").await).is_empty());
    assert_eq!(
        app.history_actions(id).await,
        vec![
            "created",
            "choice_information",
            "choice_letter",
            "choice_preferences",
            "choice_outcome"
        ]
    );
    // providers never see choice
    assert_eq!(
        app.api("provider").await.get(&path).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn the_choice_page_records_steps_with_errors_beside_fields() {
    let app = TestApp::spawn().await;
    let id = app.flag_id("ward", patient(NHS[0])).await;
    let hub = app.browser("hub").await;
    let page = hub.page(&format!("/patients/{id}/choice")).await;
    let version = page
        .attr("input[name=version]", "value")
        .expect("the form carries the version");
    let res = hub
        .post_form(
            &format!("/patients/{id}/choice"),
            &[
                ("version", &version),
                ("stage", "letter"),
                ("options", "  "),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(Html::from(res).await.count("#options-error"), 1);
    let res = hub
        .post_form(
            &format!("/patients/{id}/choice"),
            &[
                ("version", &version),
                ("stage", "letter"),
                ("options", "Meadowbank residential\nOak House nursing"),
            ],
        )
        .await;
    assert_eq!(location(&res), format!("/patients/{id}/choice"));
    let page = hub.page(&format!("/patients/{id}/choice")).await;
    assert!(page.text(".hw-choice").contains("choose by 29 Nov 2026"));
    assert_eq!(page.count(".hw-choice ul li"), 2);
    // the old version is now stale
    let res = hub
        .post_form(
            &format!("/patients/{id}/choice"),
            &[("version", &version), ("stage", "information")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(
        Html::from(res)
            .await
            .text(".nhsuk-error-summary")
            .contains("changed since you opened it")
    );
}

#[tokio::test]
async fn the_family_chooses_between_held_places_picked_not_retyped() {
    let config = homeward::config::Config {
        acceptance_hold: chrono::Duration::hours(48),
        ..test_config()
    };
    let app = TestApp::spawn_with(default_now(), config).await;
    let id = app.awaiting_care(NHS[0], 3).await;
    let a = app.post_offer("provider", offer(1)).await;
    let b = app.post_offer("provider2", offer(1)).await;
    let ra = app.refer(id, id_of(&a)).await;
    let rb = app.refer(id, id_of(&b)).await;
    app.decide("provider", id_of(&ra), "accept").await;
    app.decide("provider2", id_of(&rb), "accept").await;
    let hub = app.browser("hub").await;
    let path = format!("/patients/{id}/choice");
    let page = hub.page(&path).await;
    // both held places, each with its button
    let held = page.texts(".hw-held");
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(
        held.iter().any(|h| h.contains("Meadowbank"))
            && held.iter().any(|h| h.contains("Homeward Bound"))
    );
    // the letter's options are the referrals, ticked, not typed
    let options = page.texts(".nhsuk-checkboxes__label");
    assert_eq!(options.len(), 2, "{options:?}");
    let version = page
        .attr("input[name=version]", "value")
        .unwrap_or_default();
    let res = hub
        .post_form(
            &path,
            &[
                ("version", version.as_str()),
                ("stage", "letter"),
                ("option", options[0].as_str()),
                ("option", options[1].as_str()),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let choice = app
        .api("hub")
        .await
        .get_json(&format!("/api/v1/patients/{id}/choice"))
        .await;
    assert_eq!(choice["options_offered"], json!(options));
    // the family chose Homeward Bound: the hub books it from the page
    let res = hub
        .post_form(&format!("/patients/{id}/choice/book/{}", id_of(&rb)), &[])
        .await;
    assert_eq!(location(&res), format!("/patients/{id}"));
    let hub_api = app.api("hub").await;
    assert_eq!(
        hub_api.get_json(&format!("/api/v1/patients/{id}")).await["status"],
        "care_arranged"
    );
    assert_eq!(
        hub_api
            .get_json(&format!("/api/v1/referrals/{}", id_of(&ra)))
            .await["status"],
        "withdrawn"
    );
    // the outcome reads in words
    let page = hub.page(&path).await;
    let version = page
        .attr("input[name=version]", "value")
        .unwrap_or_default();
    hub.post_form(
        &path,
        &[
            ("version", version.as_str()),
            ("stage", "outcome"),
            ("outcome", "accepted"),
        ],
    )
    .await;
    let page = hub.page(&path).await;
    assert!(
        page.text(".hw-choice")
            .contains("Accepted an available option")
    );
    assert_eq!(page.count(".hw-held"), 0);
}
