//! The capacity market through the API: offers, referrals, decisions, places, and what
//! each provider may see.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A case on pathway 3 whose care PRV1 has accepted on its offer of `places`: the ids of
/// the case, the offer and the referral.
async fn care_arranged(app: &TestApp, places: i64) -> (i64, i64, i64) {
    let case = app.awaiting_care(NHS[0], 3).await;
    let bed = app.post_offer("provider", offer(places)).await;
    let referral = app.refer(case, id_of(&bed)).await;
    app.decide("provider", id_of(&referral), "accept").await;
    (case, id_of(&bed), id_of(&referral))
}

async fn places_left(app: &TestApp, offer_id: i64) -> i64 {
    app.count(&format!(
        "SELECT places_left::bigint FROM capacity_offers WHERE id = {offer_id}"
    ))
    .await
}

#[tokio::test]
async fn a_provider_posts_an_offer_and_the_type_fixes_the_pathway() {
    let app = TestApp::spawn().await;
    let o = app.post_offer("provider", offer(2)).await;
    for f in [
        "id",
        "org_code",
        "service_type",
        "pathway",
        "places",
        "places_left",
        "available_from",
        "available_until",
        "area",
        "notes",
        "status",
        "created_at",
    ] {
        assert!(o.get(f).is_some(), "missing {f}");
    }
    assert_eq!(o["org_code"], "PRV1");
    assert_eq!(o["pathway"], 3);
    assert_eq!(o["places"], 2);
    assert_eq!(o["places_left"], 2);
    assert_eq!(o["status"], "open");
    assert_eq!(o["stale"], false);
    assert_eq!(o["postcode_districts"], json!(["LS8", "LS9"]));
}

#[tokio::test]
async fn a_bad_offer_names_each_problem_and_only_providers_post_their_own() {
    let app = TestApp::spawn().await;
    let provider = app.api("provider").await;
    let err = provider
        .post_expect(
            "/api/v1/capacity",
            json!({"service_type": "castle", "places": 0, "available_from": "2026-11-25T00:00:00Z", "available_until": "2026-11-24T00:00:00Z", "specialisms": ["juggling"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    for f in ["service_type", "places", "available_until", "specialisms"] {
        assert!(err["error"]["fields"][f].is_string(), "{f}: {err}");
    }
    let mut other_org = offer(1);
    other_org["org_code"] = json!("PRV2");
    provider
        .post_expect("/api/v1/capacity", other_org, StatusCode::FORBIDDEN)
        .await;
    app.api("hub")
        .await
        .post_expect("/api/v1/capacity", offer(1), StatusCode::FORBIDDEN)
        .await;
    assert_eq!(app.count("SELECT count(*) FROM capacity_offers").await, 0);
}

#[tokio::test]
async fn providers_see_only_their_own_offers_and_the_hub_sees_all() {
    let app = TestApp::spawn().await;
    let mine = app.post_offer("provider", offer(1)).await;
    let theirs = app.post_offer("provider2", offer(1)).await;
    let count = |v: Value| items(&v).len();
    let provider = app.api("provider").await;
    assert_eq!(count(provider.get_json("/api/v1/capacity").await), 1);
    assert_eq!(
        provider
            .get(&format!("/api/v1/capacity/{}", theirs["id"]))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // nor withdraw it
    let res = provider
        .post(
            &format!("/api/v1/capacity/{}/withdraw", theirs["id"]),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let hub = app.api("hub").await;
    assert_eq!(count(hub.get_json("/api/v1/capacity").await), 2);
    assert_eq!(
        count(
            hub.get_json("/api/v1/capacity?pathway=3&status=open&available_on=2026-11-28")
                .await
        ),
        2
    );
    assert_eq!(
        count(
            hub.get_json("/api/v1/capacity?available_on=2026-12-25")
                .await
        ),
        0
    );
    assert_eq!(
        count(hub.get_json("/api/v1/capacity?service_type=nursing").await),
        0
    );
    for bad in ["status=closed", "pathway=0", "available_on=tomorrow"] {
        assert_eq!(
            hub.get(&format!("/api/v1/capacity?{bad}")).await.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}"
        );
    }
    // withdrawing is the owner's alone
    hub.post_expect(
        &format!("/api/v1/capacity/{}/withdraw", mine["id"]),
        json!({}),
        StatusCode::FORBIDDEN,
    )
    .await;
    let w = provider
        .post_expect(
            &format!("/api/v1/capacity/{}/withdraw", mine["id"]),
            json!({}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(w["status"], "withdrawn");
    provider
        .post_expect(
            &format!("/api/v1/capacity/{}/withdraw", mine["id"]),
            json!({}),
            StatusCode::CONFLICT,
        )
        .await;
}

#[tokio::test]
async fn offers_go_stale_without_confirmation_and_expire_by_themselves() {
    let app = TestApp::spawn().await;
    let o = app.post_offer("provider", offer(1)).await;
    let path = format!("/api/v1/capacity/{}", o["id"]);
    app.clock.set(utc("2026-11-23T10:30:00Z"));
    let provider = app.api("provider").await;
    assert_eq!(provider.get_json(&path).await["stale"], true);
    let c = provider
        .post_expect(&format!("{path}/confirm"), json!({}), StatusCode::OK)
        .await;
    assert_eq!(c["stale"], false);
    assert_eq!(c["last_confirmed_at"], "2026-11-23T10:30:00Z");
    app.clock.set(utc("2026-11-29T08:00:00Z"));
    let provider = app.api("provider").await;
    assert_eq!(provider.get_json(&path).await["status"], "expired");
    let expired = app
        .api("hub")
        .await
        .get_json("/api/v1/capacity?status=expired")
        .await;
    assert_eq!(items(&expired).len(), 1);
}

#[tokio::test]
async fn the_whole_referral_journey_through_the_api() {
    let app = TestApp::spawn().await;
    let a = app.awaiting_care(NHS[0], 3).await;
    let b = app.awaiting_care(NHS[1], 3).await;
    let bed = app.post_offer("provider", offer(1)).await;
    let other = app.post_offer("provider2", offer(3)).await;
    let hub = app.api("hub").await;
    let provider = app.api("provider").await;
    let provider2 = app.api("provider2").await;

    // refer patient A to both providers, and patient B to the first
    let ra = app.refer(a, id_of(&bed)).await;
    for f in [
        "id",
        "patient_id",
        "offer_id",
        "org_code",
        "status",
        "decided_at",
        "decline_reason",
        "created_at",
    ] {
        assert!(ra.get(f).is_some(), "missing {f}");
    }
    assert_eq!(ra["status"], "pending");
    assert_eq!(ra["org_code"], "PRV1");
    let ra2 = app.refer(a, id_of(&other)).await;
    let rb = app.refer(b, id_of(&bed)).await;
    // twice to the same offer is refused
    let err = hub
        .post_expect(
            "/api/v1/referrals",
            json!({"patient_id": a, "offer_id": bed["id"]}),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(err["error"]["code"], "duplicate_referral");

    // before accepting, the provider sees the anonymised summary only
    let seen = provider.get_json(&format!("/api/v1/patients/{a}")).await;
    for hidden in [
        "nhs_number",
        "given_name",
        "family_name",
        "date_of_birth",
        "postcode",
    ] {
        assert!(
            seen.get(hidden).is_none(),
            "{hidden} shown before acceptance: {seen}"
        );
    }
    assert_eq!(seen["postcode_district"], "LS9");
    assert_eq!(seen["sex"], "female");
    assert_eq!(seen["age"], 85);
    assert_eq!(seen["pathway"], 3);
    assert!(seen["needs_summary"].is_string());
    assert!(seen["discharge_ready_at"].is_string());
    let listed = provider.get_json("/api/v1/patients").await;
    assert_eq!(items(&listed).len(), 2);
    assert!(listed["items"][0].get("nhs_number").is_none());
    assert_eq!(
        items(&provider.get_json("/api/v1/referrals").await).len(),
        2
    );
    assert_eq!(
        items(&provider2.get_json("/api/v1/referrals").await).len(),
        1
    );
    // the other provider knows nothing of patient B or of PRV1's referrals
    assert_eq!(
        provider2
            .get(&format!("/api/v1/patients/{b}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        provider2
            .get(&format!("/api/v1/referrals/{}", rb["id"]))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let res = provider2
        .post(
            &format!("/api/v1/referrals/{}/decision", rb["id"]),
            json!({"decision": "accept"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // B is declined, with a coded reason
    let err = provider
        .post_expect(
            &format!("/api/v1/referrals/{}/decision", rb["id"]),
            json!({"decision": "decline"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(err["error"]["fields"]["reason"].is_string());
    provider
        .post_expect(
            &format!("/api/v1/referrals/{}/decision", rb["id"]),
            json!({"decision": "maybe"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    let d = provider
        .post_expect(
            &format!("/api/v1/referrals/{}/decision", rb["id"]),
            json!({"decision": "decline", "reason": "needs_too_high"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(d["status"], "declined");
    assert_eq!(d["decline_reason"], "needs_too_high");
    assert!(d["decided_at"].is_string());

    // A is accepted: one place reserved, care arranged, the other referral withdrawn
    let d = app.decide("provider", id_of(&ra), "accept").await;
    assert_eq!(d["status"], "accepted");
    assert_eq!(places_left(&app, id_of(&bed)).await, 0);
    let case = hub.get_json(&format!("/api/v1/patients/{a}")).await;
    assert_eq!(case["status"], "care_arranged");
    assert_eq!(
        hub.get_json(&format!("/api/v1/referrals/{}", ra2["id"]))
            .await["status"],
        "withdrawn"
    );
    assert_eq!(
        provider
            .get_json(&format!("/api/v1/capacity/{}", bed["id"]))
            .await["status"],
        "full"
    );
    // and now the provider may see who the patient is
    let seen = provider.get_json(&format!("/api/v1/patients/{a}")).await;
    assert_eq!(seen["nhs_number"], NHS[0]);
    assert_eq!(seen["family_name"], "Lovelace");
    // deciding again is refused
    provider
        .post_expect(
            &format!("/api/v1/referrals/{}/decision", ra["id"]),
            json!({"decision": "accept"}),
            StatusCode::CONFLICT,
        )
        .await;

    // the hub plans the date and the ward records the discharge: the place is used
    let c = hub
        .post_expect(
            &format!("/api/v1/patients/{a}/plan-discharge"),
            json!({"planned_for": "2026-11-23"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(c["status"], "ready_to_go");
    app.api("ward")
        .await
        .post_expect(
            &format!("/api/v1/patients/{a}/discharge"),
            json!({}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(places_left(&app, id_of(&bed)).await, 0);
    let used: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT place_used_at FROM referrals WHERE id = $1")
            .bind(id_of(&ra))
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(used.is_some());

    let history = app.history(a).await;
    assert_eq!(
        column(&history, "action"),
        vec![
            "created",
            "pathway_chosen",
            "referred",
            "referred",
            "referral_accepted",
            "referrals_withdrawn",
            "discharge_planned",
            "discharged"
        ]
    );
    let accepted = &history[4];
    assert_eq!(accepted["actor"], "provider");
}

#[tokio::test]
async fn referrals_need_a_patient_awaiting_care_on_the_offers_pathway() {
    let app = TestApp::spawn().await;
    let bed = app.post_offer("provider", offer(1)).await;
    let hub = app.api("hub").await;
    let triage = app.flag_id("ward", patient(NHS[0])).await;
    hub.post_expect(
        "/api/v1/referrals",
        json!({"patient_id": triage, "offer_id": bed["id"]}),
        StatusCode::CONFLICT,
    )
    .await;
    app.choose_pathway(triage, 1).await;
    let err = hub
        .post_expect(
            "/api/v1/referrals",
            json!({"patient_id": triage, "offer_id": bed["id"]}),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(err["error"]["code"], "wrong_pathway");
    hub.post_expect(
        "/api/v1/referrals",
        json!({"patient_id": 999999, "offer_id": bed["id"]}),
        StatusCode::NOT_FOUND,
    )
    .await;
    hub.post_expect(
        "/api/v1/referrals",
        json!({"patient_id": triage, "offer_id": 999999}),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let id = app.awaiting_care(NHS[1], 3).await;
    app.api("provider")
        .await
        .post_expect(
            "/api/v1/referrals",
            json!({"patient_id": id, "offer_id": bed["id"]}),
            StatusCode::FORBIDDEN,
        )
        .await;
    app.api("ward")
        .await
        .post_expect(
            "/api/v1/referrals",
            json!({"patient_id": id, "offer_id": bed["id"]}),
            StatusCode::FORBIDDEN,
        )
        .await;
    // a withdrawn offer takes no referrals
    app.api("provider")
        .await
        .post_expect(
            &format!("/api/v1/capacity/{}/withdraw", bed["id"]),
            json!({}),
            StatusCode::OK,
        )
        .await;
    let err = hub
        .post_expect(
            "/api/v1/referrals",
            json!({"patient_id": id, "offer_id": bed["id"]}),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(err["error"]["code"], "capacity_gone");
    assert_eq!(app.count("SELECT count(*) FROM referrals").await, 0);
}

#[tokio::test]
async fn a_full_offer_refuses_another_accept() {
    let app = TestApp::spawn().await;
    let a = app.awaiting_care(NHS[0], 3).await;
    let b = app.awaiting_care(NHS[1], 3).await;
    let bed = app.post_offer("provider", offer(1)).await;
    let hub = app.api("hub").await;
    let provider = app.api("provider").await;
    let ra = app.refer(a, id_of(&bed)).await;
    let rb = app.refer(b, id_of(&bed)).await;
    app.decide("provider", id_of(&ra), "accept").await;
    let err = provider
        .post_expect(
            &format!("/api/v1/referrals/{}/decision", rb["id"]),
            json!({"decision": "accept"}),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(err["error"]["code"], "capacity_gone");
    assert_eq!(
        hub.get_json(&format!("/api/v1/patients/{b}")).await["status"],
        "awaiting_care"
    );
}

#[tokio::test]
async fn a_patient_who_meets_the_criteria_again_gives_the_place_back() {
    let app = TestApp::spawn().await;
    let (a, bed_id, r) = care_arranged(&app, 2).await;
    let hub = app.api("hub").await;
    assert_eq!(places_left(&app, bed_id).await, 1);
    app.api("ward")
        .await
        .post_expect(
            &format!("/api/v1/patients/{a}/criteria"),
            json!({"meets_criteria": true, "ctr_code": "04"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(places_left(&app, bed_id).await, 2);
    assert_eq!(
        hub.get_json(&format!("/api/v1/referrals/{r}")).await["status"],
        "withdrawn"
    );
    let history = app.history(a).await;
    let last = history.last().expect("a history entry");
    assert!(
        last["detail"]
            .as_str()
            .is_some_and(|d| d.contains("released")),
        "{last}"
    );
}

#[tokio::test]
async fn a_cancelled_case_gives_the_place_back() {
    let app = TestApp::spawn().await;
    let (a, bed_id, _) = care_arranged(&app, 1).await;
    let hub = app.api("hub").await;
    assert_eq!(places_left(&app, bed_id).await, 0);
    hub.post_expect(
        &format!("/api/v1/patients/{a}/cancel"),
        json!({"reason": "Died in hospital"}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(places_left(&app, bed_id).await, 1);
}

#[tokio::test]
async fn the_database_refuses_places_below_zero() {
    let app = TestApp::spawn().await;
    let bed = app.post_offer("provider", offer(1)).await;
    let err = sqlx::query("UPDATE capacity_offers SET places_left = places_left - 2 WHERE id = $1")
        .bind(id_of(&bed))
        .execute(&app.pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("places_left_in_range"), "{err}");
}

/// Many providers' staff accept different patients for the last place at the same moment:
/// exactly one wins, every time. Twenty rounds, each with eight racers.
#[tokio::test]
async fn racing_accepts_for_the_last_place_have_exactly_one_winner() {
    let app = TestApp::spawn().await;
    let provider = std::sync::Arc::new(app.api("provider").await);
    // eight patients awaiting care on pathway 3
    let mut patients = vec![];
    let numbers = (0..10u32)
        .filter_map(|i| homeward::domain::NhsNumber::from_prefix([9, 9, 8, 0, 0, 0, 0, 1, i]));
    for nhs in numbers.take(8) {
        patients.push(app.awaiting_care(nhs.as_str(), 3).await);
    }
    assert_eq!(patients.len(), 8);
    for round in 0..20 {
        let bed = app.post_offer("provider", offer(1)).await;
        let mut referrals = vec![];
        for p in &patients {
            // patients whose care was arranged in an earlier round go back to awaiting care
            sqlx::query("UPDATE referrals SET status = 'withdrawn' WHERE patient_id = $1 AND status IN ('pending','accepted')")
                .bind(p)
                .execute(&app.pool)
                .await
                .unwrap();
            sqlx::query("UPDATE patients SET status = 'awaiting_care' WHERE id = $1")
                .bind(p)
                .execute(&app.pool)
                .await
                .unwrap();
            referrals.push(id_of(&app.refer(*p, id_of(&bed)).await));
        }
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(referrals.len()));
        let mut tasks = vec![];
        for r in referrals {
            let provider = provider.clone();
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                provider
                    .post(
                        &format!("/api/v1/referrals/{r}/decision"),
                        json!({"decision": "accept"}),
                    )
                    .await
                    .status()
            }));
        }
        let mut won = 0;
        for t in tasks {
            match t.await.unwrap() {
                StatusCode::OK => won += 1,
                StatusCode::CONFLICT => {}
                other => panic!("round {round}: unexpected {other}"),
            }
        }
        assert_eq!(won, 1, "round {round}");
        assert_eq!(places_left(&app, id_of(&bed)).await, 0, "round {round}");
        let accepted = app
            .count(&format!(
                "SELECT count(*) FROM referrals WHERE offer_id = {} AND status = 'accepted'",
                bed["id"]
            ))
            .await;
        assert_eq!(accepted, 1, "round {round}");
    }
}

/// A provider withdrawing an offer while accepting a referral on it, many times over: every
/// request ends in an answer (never a deadlock or a 500), and the place count stays right.
#[tokio::test]
async fn withdrawing_while_accepting_never_deadlocks() {
    let app = TestApp::spawn().await;
    let provider = std::sync::Arc::new(app.api("provider").await);
    let numbers: Vec<_> = (0..10u32)
        .filter_map(|i| homeward::domain::NhsNumber::from_prefix([9, 9, 8, 0, 0, 0, 0, 2, i]))
        .take(5)
        .collect();
    for nhs in numbers {
        let id = app.awaiting_care(nhs.as_str(), 3).await;
        let bed = app.post_offer("provider", offer(1)).await;
        let r = app.refer(id, id_of(&bed)).await;
        let (p1, p2) = (provider.clone(), provider.clone());
        let (offer_id, referral_id) = (bed["id"].clone(), r["id"].clone());
        let withdraw = tokio::spawn(async move {
            p1.post(&format!("/api/v1/capacity/{offer_id}/withdraw"), json!({}))
                .await
                .status()
        });
        let accept = tokio::spawn(async move {
            p2.post(
                &format!("/api/v1/referrals/{referral_id}/decision"),
                json!({"decision": "accept"}),
            )
            .await
            .status()
        });
        let (w, a) = (withdraw.await.unwrap(), accept.await.unwrap());
        assert_eq!(w, StatusCode::OK);
        assert!(
            a == StatusCode::OK || a == StatusCode::CONFLICT,
            "accept answered {a}"
        );
        let left = places_left(&app, id_of(&bed)).await;
        assert_eq!(left, if a == StatusCode::OK { 0 } else { 1 });
    }
}

#[tokio::test]
async fn the_hub_finds_care_for_a_patient_ranked_as_the_page_ranks_it() {
    let app = TestApp::spawn().await;
    let mut body = patient(NHS[0]);
    body["needs_summary"] = json!("Mild dementia, wanders at night");
    let a = app.flag_id("ward", body).await;
    let hub = app.api("hub").await;
    let path = format!("/api/v1/patients/{a}/find-care");

    // not awaiting care yet: nothing to find
    let err = hub.get_expect(&path, StatusCode::CONFLICT).await;
    assert_eq!(err["error"]["code"], "not_awaiting_care");
    app.choose_pathway(a, 3).await;

    // PRV2 covers LS9 and takes dementia; PRV1 covers LS9; another PRV1 offer does not
    // cover LS9; one is for men only; one is on another pathway; one is withdrawn
    let mut dementia = offer(1);
    dementia["specialisms"] = json!(["dementia"]);
    let dementia = app.post_offer("provider2", dementia).await;
    let near = app.post_offer("provider", offer(2)).await;
    let provider = app.api("provider").await;
    let mut far = offer(1);
    far["area"] = json!("LS1");
    let far = provider
        .post_expect("/api/v1/capacity", far, StatusCode::CREATED)
        .await;
    let mut men = offer(1);
    men["gender"] = json!("male");
    provider
        .post_expect("/api/v1/capacity", men, StatusCode::CREATED)
        .await;
    let mut community = offer(1);
    community["service_type"] = json!("community_bed");
    provider
        .post_expect("/api/v1/capacity", community, StatusCode::CREATED)
        .await;
    let gone = app.post_offer("provider", offer(1)).await;
    provider
        .post_expect(
            &format!("/api/v1/capacity/{}/withdraw", gone["id"]),
            json!({}),
            StatusCode::OK,
        )
        .await;
    app.refer(a, id_of(&near)).await;

    let found = hub.get_json(&path).await;
    assert_eq!(found["patient_id"], a);
    assert_eq!(found["pathway"], 3);
    assert_eq!(found["postcode_district"], "LS9");
    assert_eq!(found["needs_specialisms"], json!(["dementia"]));
    let items = items(&found);
    let ids: Vec<&Value> = items.iter().map(|i| &i["offer"]["id"]).collect();
    assert_eq!(ids, vec![&dementia["id"], &near["id"], &far["id"]]);
    let ranks: Vec<&Value> = items.iter().map(|i| &i["rank"]).collect();
    assert_eq!(ranks, vec![1, 2, 3]);
    let best = &items[0];
    assert_eq!(best["offer"]["org_code"], "PRV2");
    assert_eq!(best["org_name"], "Homeward Bound");
    assert_eq!(best["service_label"], "Residential care home bed");
    assert_eq!(best["unit"], "bed");
    assert_eq!(best["covers_district"], true);
    assert_eq!(best["matched_specialisms"], json!(["dementia"]));
    assert_eq!(best["offer"]["places_left"], 1);
    assert_eq!(best["offer"]["stale"], false);
    assert_eq!(best["already_referred"], false);
    // open since before now: it starts now
    assert_eq!(best["starts_at"], "2026-11-22T10:00:00Z");
    assert_eq!(items[1]["already_referred"], true);
    assert_eq!(items[1]["matched_specialisms"], json!([]));
    assert_eq!(items[2]["covers_district"], false);

    // the page lists the same offers in the same order
    let page = app
        .browser("hub")
        .await
        .page(&format!("/patients/{a}/find-care"))
        .await;
    let candidates = page.texts(".hw-candidate");
    assert_eq!(candidates.len(), 3, "{candidates:?}");
    assert!(candidates[0].contains("Homeward Bound"), "{candidates:?}");
    assert!(candidates[1].contains("Already referred"), "{candidates:?}");
    assert!(
        candidates[2].contains("Does not list LS9"),
        "{candidates:?}"
    );

    // hub only; a case that does not exist is a 404
    for user in ["ward", "provider", "admin"] {
        assert_eq!(
            app.api(user).await.get(&path).await.status(),
            StatusCode::FORBIDDEN,
            "{user}"
        );
    }
    assert_eq!(
        hub.get("/api/v1/patients/999999/find-care").await.status(),
        StatusCode::NOT_FOUND
    );
    let doc = hub.get_json("/api/v1/openapi.json").await;
    assert!(doc["paths"]["/api/v1/patients/{id}/find-care"]["get"].is_object());
}

#[tokio::test]
async fn offers_take_plain_dates_and_can_be_changed_but_never_below_what_is_taken() {
    let app = TestApp::spawn().await;
    let p = app.api("provider").await;
    // plain dates: from the start of the first day to the end of the last, in England
    let mut o = offer(3);
    o["available_from"] = json!("2026-11-22");
    o["available_until"] = json!("2026-11-28");
    let o = app.post_offer("provider", o).await;
    assert_eq!(o["available_from"], "2026-11-22T00:00:00Z");
    assert_eq!(o["available_until"], "2026-11-29T00:00:00Z");
    assert_eq!(o["version"], 1);
    let id = id_of(&o);
    // two places taken
    for nhs in [NHS[0], NHS[1]] {
        let patient = app.awaiting_care(nhs, 3).await;
        let r = app.refer(patient, id).await;
        app.decide("provider", id_of(&r), "accept").await;
    }
    let path = format!("/api/v1/capacity/{id}");
    // below the two taken: 409, nothing changes
    let err = p
        .patch_expect(
            &path,
            json!({"places": 1, "version": 1}),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(err["error"]["code"], "capacity_in_use");
    // a stale version: 409
    let err = p
        .patch_expect(
            &path,
            json!({"places": 5, "version": 0}),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(err["error"]["code"], "stale_version");
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("offer")),
        "{err}"
    );
    // no version: 422, as the version check cannot be skipped
    let err = p
        .patch_expect(
            &path,
            json!({"places": 5}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(err["error"]["fields"]["version"].is_string(), "{err}");
    // up to five, a day longer, new notes: places left follow
    let changed = p
        .patch_expect(
            &path,
            json!({"places": 5, "available_until": "2026-11-29", "notes": "Two rooms with hoists", "version": 1}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(changed["places"], 5);
    assert_eq!(changed["places_left"], 3);
    assert_eq!(changed["available_until"], "2026-11-30T00:00:00Z");
    assert_eq!(changed["notes"], "Two rooms with hoists");
    assert_eq!(changed["version"], 2);
    // down to exactly what is taken: full
    let full = p
        .patch_expect(&path, json!({"places": 2, "version": 2}), StatusCode::OK)
        .await;
    assert_eq!(full["places_left"], 0);
    assert_eq!(full["status"], "full");
    // bad values are 422; another provider's offer is 404; the hub may not change it
    let err = p
        .patch_expect(
            &path,
            json!({"places": "many", "available_until": "soon"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(err["error"]["fields"]["places"].is_string());
    assert!(err["error"]["fields"]["available_until"].is_string());
    app.api("provider2")
        .await
        .patch_expect(
            &path,
            json!({"places": 9, "version": 3}),
            StatusCode::NOT_FOUND,
        )
        .await;
    app.api("hub")
        .await
        .patch_expect(
            &path,
            json!({"places": 9, "version": 3}),
            StatusCode::FORBIDDEN,
        )
        .await;
    // every value the offer had is kept, with when it took effect
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM capacity_offer_changes WHERE offer_id = {id}"
        ))
        .await,
        3
    );
}

#[tokio::test]
async fn shrinking_an_offer_while_providers_accept_never_oversells() {
    let app = TestApp::spawn().await;
    let o = app.post_offer("provider", offer(4)).await;
    let id = id_of(&o);
    let mut referrals = vec![];
    for nhs in NHS.iter().take(4) {
        let patient = app.awaiting_care(nhs, 3).await;
        referrals.push(id_of(&app.refer(patient, id).await));
    }
    // four accepts race with the provider cutting the offer to two places
    let p = app.api("provider").await;
    let mut tasks = vec![];
    for r in referrals {
        let (client, token, base) = (p.client.clone(), p.token.clone(), app.base.clone());
        tasks.push(tokio::spawn(async move {
            client
                .post(format!("{base}/api/v1/referrals/{r}/decision"))
                .bearer_auth(token)
                .json(&json!({"decision": "accept"}))
                .send()
                .await
                .map(|r| r.status())
        }));
    }
    let cut = p
        .client
        .patch(format!("{}/api/v1/capacity/{id}", app.base))
        .bearer_auth(&p.token)
        .json(&json!({"places": 2, "version": 1}))
        .send()
        .await
        .expect("the server answers")
        .status();
    let mut accepted = 0;
    for t in tasks {
        if t.await.ok().and_then(Result::ok) == Some(StatusCode::OK) {
            accepted += 1;
        }
    }
    let (places, left, taken): (i32, i32, i64) = sqlx::query_as(
        "SELECT places, places_left, (SELECT count(*) FROM referrals WHERE offer_id = $1 AND status = 'accepted') \
         FROM capacity_offers WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .expect("the offer");
    assert_eq!(
        i64::from(places - left),
        taken,
        "the counter matches the accepts"
    );
    assert_eq!(taken, accepted);
    if cut == StatusCode::OK {
        assert_eq!(places, 2);
        assert!(
            accepted <= 2 || left == 0,
            "{accepted} accepted on 2 places"
        );
        assert!(taken <= 4);
    } else {
        assert_eq!(
            cut,
            StatusCode::CONFLICT,
            "more than two were already taken"
        );
        assert!(accepted > 2);
    }
}

#[tokio::test]
async fn all_still_available_confirms_every_open_offer_in_one_call() {
    let app = TestApp::spawn().await;
    for n in [1, 2] {
        app.post_offer("provider", offer(n)).await;
    }
    app.post_offer("provider2", offer(1)).await;
    // a day later every offer is stale
    app.clock.set(default_now() + chrono::Duration::hours(25));
    let p = app.api("provider").await;
    let listed = p.get_json("/api/v1/capacity").await;
    assert!(items(&listed).iter().all(|o| o["stale"] == true));
    let done = p
        .post_expect("/api/v1/capacity/confirm", json!({}), StatusCode::OK)
        .await;
    assert_eq!(done["confirmed"], 2);
    let listed = p.get_json("/api/v1/capacity").await;
    assert!(items(&listed).iter().all(|o| o["stale"] == false));
    // the other provider's offer is untouched
    let other = app
        .api("provider2")
        .await
        .get_json("/api/v1/capacity")
        .await;
    assert_eq!(items(&other)[0]["stale"], true);
}

#[tokio::test]
async fn accepting_records_the_admission_date_and_a_contact() {
    let app = TestApp::spawn().await;
    let patient = app.awaiting_care(NHS[0], 3).await;
    let o = app.post_offer("provider", offer(1)).await;
    let r = app.refer(patient, id_of(&o)).await;
    let path = format!("/api/v1/referrals/{}/decision", id_of(&r));
    let p = app.api("provider").await;
    let err = p
        .post_expect(
            &path,
            json!({"decision": "accept", "admission_date": "next week"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(err["error"]["fields"]["admission_date"].is_string());
    let done = p
        .post_expect(
            &path,
            json!({"decision": "accept", "admission_date": "2026-11-24", "contact": "Jo Bloggs, 0113 496 0000"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(done["admission_date"], "2026-11-24");
    assert_eq!(done["contact"], "Jo Bloggs, 0113 496 0000");
    let history = app.history(patient).await;
    assert!(
        history.iter().any(|h| h["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("admission planned for 24 Nov 2026")),
        "{history:?}"
    );
}

/// A hub that holds acceptances for two days so the patient can choose.
async fn choosing_hub() -> TestApp {
    let config = homeward::config::Config {
        acceptance_hold: chrono::Duration::hours(48),
        ..test_config()
    };
    TestApp::spawn_with(default_now(), config).await
}

#[tokio::test]
async fn with_a_hold_several_homes_accept_and_the_family_chooses_one() {
    let app = choosing_hub().await;
    let patient = app.awaiting_care(NHS[0], 3).await;
    let a = app.post_offer("provider", offer(1)).await;
    let b = app.post_offer("provider2", offer(1)).await;
    let ra = app.refer(patient, id_of(&a)).await;
    let rb = app.refer(patient, id_of(&b)).await;
    let held_a = app.decide("provider", id_of(&ra), "accept").await;
    let held_b = app.decide("provider2", id_of(&rb), "accept").await;
    // both hold a place; the patient still awaits care, for the family to choose
    assert_eq!(held_a["status"], "accepted");
    assert_eq!(held_a["held_until"], "2026-11-24T10:00:00Z");
    assert!(held_b["held_until"].is_string());
    let hub = app.api("hub").await;
    assert_eq!(
        hub.get_json(&format!("/api/v1/patients/{patient}")).await["status"],
        "awaiting_care"
    );
    for o in [&a, &b] {
        assert_eq!(
            hub.get_json(&format!("/api/v1/capacity/{}", id_of(o)))
                .await["places_left"],
            0
        );
    }
    // the family chose B: booked; A's place goes back
    let booked = hub
        .post_expect(
            &format!("/api/v1/referrals/{}/book", id_of(&rb)),
            json!({}),
            StatusCode::OK,
        )
        .await;
    assert!(booked["held_until"].is_null());
    assert_eq!(
        hub.get_json(&format!("/api/v1/patients/{patient}")).await["status"],
        "care_arranged"
    );
    assert_eq!(
        hub.get_json(&format!("/api/v1/referrals/{}", id_of(&ra)))
            .await["status"],
        "withdrawn"
    );
    assert_eq!(
        hub.get_json(&format!("/api/v1/capacity/{}", id_of(&a)))
            .await["places_left"],
        1
    );
    // booking again, or the given-back one, is refused
    let err = hub
        .post_expect(
            &format!("/api/v1/referrals/{}/book", id_of(&ra)),
            json!({}),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(err["error"]["code"], "invalid_transition");
    // only the hub books
    app.api("provider2")
        .await
        .post_expect(
            &format!("/api/v1/referrals/{}/book", id_of(&rb)),
            json!({}),
            StatusCode::FORBIDDEN,
        )
        .await;
    let actions = app.history_actions(patient).await;
    assert!(actions.contains(&"place_held".to_string()));
    assert!(actions.contains(&"place_booked".to_string()));
}

#[tokio::test]
async fn racing_bookings_of_held_places_have_exactly_one_winner() {
    let app = choosing_hub().await;
    let patient = app.awaiting_care(NHS[0], 3).await;
    let mut held = vec![];
    for (provider, places) in [("provider", 1), ("provider2", 1), ("provider", 1)] {
        let o = app.post_offer(provider, offer(places)).await;
        let r = app.refer(patient, id_of(&o)).await;
        app.decide(provider, id_of(&r), "accept").await;
        held.push(id_of(&r));
    }
    let hub = app.api("hub").await;
    let mut tasks = vec![];
    for r in held.iter().copied().chain(held.iter().copied()) {
        let (client, token, base) = (hub.client.clone(), hub.token.clone(), app.base.clone());
        tasks.push(tokio::spawn(async move {
            client
                .post(format!("{base}/api/v1/referrals/{r}/book"))
                .bearer_auth(token)
                .json(&json!({}))
                .send()
                .await
                .map(|r| r.status())
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.ok().and_then(Result::ok) {
            Some(StatusCode::OK) => won += 1,
            Some(StatusCode::CONFLICT) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(won, 1, "exactly one booking wins");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM referrals WHERE patient_id = {patient} AND status = 'accepted'"
        ))
        .await,
        1
    );
    // every place but the booked one is back
    assert_eq!(
        app.count("SELECT sum(places - places_left) FROM capacity_offers")
            .await,
        1
    );
}

#[tokio::test]
async fn a_hold_nobody_books_in_time_gives_its_place_back() {
    let app = choosing_hub().await;
    let patient = app.awaiting_care(NHS[0], 3).await;
    let o = app.post_offer("provider", offer(1)).await;
    let r = app.refer(patient, id_of(&o)).await;
    app.decide("provider", id_of(&r), "accept").await;
    // not yet
    assert_eq!(
        homeward::market::commands::lapse_holds(
            &app.pool,
            default_now() + chrono::Duration::hours(47),
            100
        )
        .await
        .expect("lapse"),
        0
    );
    // two days on
    app.clock.set(default_now() + chrono::Duration::hours(49));
    let lapsed = homeward::market::commands::lapse_holds(&app.pool, app.clock.now(), 100)
        .await
        .expect("lapse");
    assert_eq!(lapsed, 1);
    let hub = app.api("hub").await;
    assert_eq!(
        hub.get_json(&format!("/api/v1/referrals/{}", id_of(&r)))
            .await["status"],
        "withdrawn"
    );
    assert_eq!(
        hub.get_json(&format!("/api/v1/capacity/{}", id_of(&o)))
            .await["places_left"],
        1
    );
    let err = hub
        .post_expect(
            &format!("/api/v1/referrals/{}/book", id_of(&r)),
            json!({}),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(err["error"]["code"], "invalid_transition");
    let history = app.history(patient).await;
    let last = history.last().cloned().unwrap_or_default();
    assert_eq!(last["action"], "hold_lapsed");
    assert!(last["actor"].is_null(), "{last}");
}
