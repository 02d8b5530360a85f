//! Several hubs on one install (issue 15): a second hub sees nothing of the first through
//! the API, pages, reports, live events, administration and a hand-written SQL query as the
//! application role; a provider serving both hubs sees each hub's referrals to it.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// Adds the second hub of CONTRACT.md "Several hubs": HUB2 with its trust RZZ (ward
/// RZZ-W01), users `hub2`, `ward3` and `admin2`; PRV1 serves both hubs, PRV2 only the first.
pub(crate) async fn second_hub(app: &TestApp) {
    sqlx::raw_sql(
        "INSERT INTO organisations (code, name, sector, kind, hub_code) VALUES
           ('HUB2', 'Northfield Hub', 'local_authority', 'hub', 'HUB2'),
           ('RZZ', 'Northfield General', 'nhs_acute', 'acute_trust', 'HUB2');
         INSERT INTO hub_providers (hub_code, provider_code) VALUES ('HUB2', 'PRV1');
         INSERT INTO sites (code, org_code, name) VALUES ('RZZ01', 'RZZ', 'Northfield General');
         INSERT INTO wards (code, site_code, org_code, name) VALUES ('RZZ-W01', 'RZZ01', 'RZZ', 'Ward 1');
         INSERT INTO users (username, display_name, role, org_code, password_hash)
           SELECT v.username, v.username, v.role, v.org, u.password_hash
           FROM (VALUES ('hub2', 'hub', 'HUB2'), ('ward3', 'ward', 'RZZ'), ('admin2', 'admin', 'HUB2'))
                AS v(username, role, org)
           CROSS JOIN (SELECT password_hash FROM users WHERE username = 'hub') u;",
    )
    .execute(&app.pool)
    .await
    .expect("the second hub");
    app.state.reference.invalidate();
}

fn on_rzz(nhs: &str) -> Value {
    let mut p = patient(nhs);
    p["ward_code"] = json!("RZZ-W01");
    p["given_name"] = json!("Northfield");
    p
}

fn ids(list: &Value) -> Vec<i64> {
    items(list).iter().map(id_of).collect()
}

#[tokio::test]
async fn a_second_hub_sees_nothing_of_the_first_through_the_api_and_reports() {
    let app = TestApp::spawn().await;
    second_hub(&app).await;
    let first = app.flag_id("ward", patient(NHS[0])).await;
    let second = app.flag_id("ward3", on_rzz(NHS[1])).await;
    let hub = app.api("hub").await;
    let hub2 = app.api("hub2").await;

    // lists: each hub its own case only
    assert_eq!(ids(&hub2.get_json("/api/v1/patients").await), vec![second]);
    assert_eq!(ids(&hub.get_json("/api/v1/patients").await), vec![first]);
    // a search for the name both patients share, by name, by bed and by NHS number
    for q in ["Lovelace", "love", "b4"] {
        let path = format!("/api/v1/patients?q={q}");
        assert_eq!(ids(&hub2.get_json(&path).await), vec![second], "{q}");
        assert_eq!(ids(&hub.get_json(&path).await), vec![first], "{q}");
    }
    for (api, own, other) in [(&hub, NHS[0], NHS[1]), (&hub2, NHS[1], NHS[0])] {
        let found = |nhs: &str| format!("/api/v1/patients?q={nhs}");
        assert_eq!(items(&api.get_json(&found(own)).await).len(), 1);
        assert_eq!(items(&api.get_json(&found(other)).await).len(), 0);
    }
    // one case, its history, its notes, FHIR, commands: another hub's is not found
    for path in [
        format!("/api/v1/patients/{first}"),
        format!("/api/v1/patients/{first}/history"),
        format!("/api/v1/patients/{first}/notes"),
        format!("/api/v1/fhir/Patient/{first}"),
        format!("/api/v1/fhir/Encounter/{first}"),
    ] {
        let res = hub2.get(&path).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "hub2 GET {path}");
        let res = hub
            .get(&path.replace(&first.to_string(), &second.to_string()))
            .await;
        assert_eq!(
            res.status(),
            StatusCode::NOT_FOUND,
            "hub GET {path} of hub2"
        );
    }
    // each refused look is in the access log, as refused, naming the case
    let refused: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM access_log WHERE username = 'hub2' AND outcome = 'refused' \
         AND patient_ids = ARRAY[$1::bigint]",
    )
    .bind(first)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(refused >= 1, "{refused}");
    let res = hub2
        .post(
            &format!("/api/v1/patients/{first}/pathway"),
            json!({"pathway": 1, "version": 1}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = hub2
        .get(&format!("/api/v1/fhir/Patient?identifier={}", NHS[0]))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let fhir: Value = serde_json::from_str(&text_of(res).await).expect("a FHIR bundle");
    assert_eq!(fhir["total"], 0, "{fhir}");

    // a ward of another hub is no ward to file a case on
    let mut stray = patient(NHS[2]);
    stray["ward_code"] = json!("RHW-AMU");
    let err = hub2
        .post_expect("/api/v1/patients", stray, StatusCode::UNPROCESSABLE_ENTITY)
        .await;
    assert!(err["error"]["fields"]["ward_code"].is_string(), "{err}");

    // reports: each hub's sitrep has its own trusts' rows and counts its own patients
    let sitrep = hub2.get_json("/api/v1/reports/sitrep").await;
    let orgs: Vec<&str> = sitrep["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["org_code"].as_str())
        .collect();
    assert_eq!(orgs, vec!["RZZ"], "{sitrep}");
    let sitrep1 = hub.get_json("/api/v1/reports/sitrep").await;
    let orgs1: Vec<&str> = sitrep1["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["org_code"].as_str())
        .collect();
    assert!(!orgs1.contains(&"RZZ"), "{sitrep1}");
    assert_eq!(
        sitrep["total"], sitrep1["total"],
        "one waiting patient in each hub"
    );

    // a ward user of the first hub cannot see the second's case either
    let ward = app.api("ward").await;
    assert_eq!(
        ward.get(&format!("/api/v1/patients/{second}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_provider_serving_both_hubs_sees_each_hubs_referrals_and_a_hub_only_its_market() {
    let app = TestApp::spawn().await;
    second_hub(&app).await;
    let first = app.awaiting_care(NHS[0], 3).await;
    let second = app.flag_id("ward3", on_rzz(NHS[1])).await;
    let hub2 = app.api("hub2").await;
    hub2.post_expect(
        &format!("/api/v1/patients/{second}/pathway"),
        json!({"pathway": 3}),
        StatusCode::OK,
    )
    .await;
    let shared = app.post_offer("provider", offer(2)).await;
    let only_first = app.post_offer("provider2", offer(1)).await;

    // the second hub's market: PRV1's offer, not PRV2's (PRV2 does not serve it)
    let market = hub2.get_json("/api/v1/capacity").await;
    assert_eq!(ids(&market), vec![id_of(&shared)], "{market}");
    let res = hub2
        .post(
            "/api/v1/referrals",
            json!({"patient_id": second, "offer_id": only_first["id"]}),
        )
        .await;
    assert!(
        res.status().is_client_error(),
        "referring to a provider that does not serve the hub: {}",
        res.status()
    );

    // both hubs refer to the shared offer; the provider sees both referrals, each hub one
    let r1 = app.refer(first, id_of(&shared)).await;
    let r2 = hub2
        .post_expect(
            "/api/v1/referrals",
            json!({"patient_id": second, "offer_id": shared["id"]}),
            StatusCode::CREATED,
        )
        .await;
    let provider = app.api("provider").await;
    let mut seen = ids(&provider.get_json("/api/v1/referrals").await);
    seen.sort();
    let mut both = vec![id_of(&r1), id_of(&r2)];
    both.sort();
    assert_eq!(seen, both);
    assert_eq!(
        ids(&hub2.get_json("/api/v1/referrals").await),
        vec![id_of(&r2)]
    );
    assert_eq!(
        ids(&app.api("hub").await.get_json("/api/v1/referrals").await),
        vec![id_of(&r1)]
    );
    assert_eq!(
        hub2.get(&format!("/api/v1/referrals/{}", r1["id"]))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // the provider may open both patients it was referred
    for id in [first, second] {
        assert_eq!(
            provider
                .get(&format!("/api/v1/patients/{id}"))
                .await
                .status(),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn pages_and_live_events_of_one_hub_say_nothing_of_the_other() {
    let app = TestApp::spawn().await;
    second_hub(&app).await;
    let hub2_token = app.api("hub2").await.token;
    let mut hub2_stream = EventStream::open(&app.base, &hub2_token).await;
    let hub_token = app.api("hub").await.token;
    let mut hub_stream = EventStream::open(&app.base, &hub_token).await;

    let first = app.flag_id("ward", patient(NHS[0])).await;
    let mut p = on_rzz(NHS[1]);
    p["family_name"] = json!("Zedwardine");
    let second = app.flag_id("ward3", p).await;

    let heard = |seen: &[(String, Value)]| -> Vec<i64> {
        seen.iter()
            .filter_map(|(_, d)| d["patient_id"].as_i64())
            .collect()
    };
    let seen2 = hub2_stream.drain(Duration::from_millis(800)).await;
    assert!(heard(&seen2).contains(&second), "{seen2:?}");
    assert!(!heard(&seen2).contains(&first), "{seen2:?}");
    let seen1 = hub_stream.drain(Duration::from_millis(300)).await;
    assert!(heard(&seen1).contains(&first), "{seen1:?}");
    assert!(!heard(&seen1).contains(&second), "{seen1:?}");

    // the worklist, the board and the case page
    let b2 = app.browser("hub2").await;
    let list = text_of(b2.get("/hub").await).await;
    assert!(
        list.contains("ZEDWARDINE") || list.contains("Zedwardine"),
        "own case listed"
    );
    assert!(!list.contains("LOVELACE") && !list.contains("Lovelace"));
    assert!(
        !list.contains("Royal Hartwell"),
        "another hub's trust in the filters"
    );
    assert_eq!(
        b2.get(&format!("/patients/{first}")).await.status(),
        StatusCode::NOT_FOUND
    );
    let board = text_of(b2.get("/board").await).await;
    assert!(!board.contains("RHW-AMU") && !board.contains("Acute Medical Unit"));
    let b1 = app.browser("hub").await;
    let list1 = text_of(b1.get("/hub").await).await;
    assert!(!list1.contains("ZEDWARDINE") && !list1.contains("Zedwardine"));
}

#[tokio::test]
async fn an_administrator_sees_only_its_own_hubs_users_and_audit() {
    let app = TestApp::spawn().await;
    second_hub(&app).await;
    let first = app.flag_id("ward", patient(NHS[0])).await;
    let second = app.flag_id("ward3", on_rzz(NHS[1])).await;
    // each hub's coordinator opens its own case (an access-log row each)
    app.api("hub")
        .await
        .get_json(&format!("/api/v1/patients/{first}"))
        .await;
    app.api("hub2")
        .await
        .get_json(&format!("/api/v1/patients/{second}"))
        .await;

    let admin2 = app.browser("admin2").await;
    let users = text_of(admin2.get("/admin/users").await).await;
    assert!(users.contains("ward3") && users.contains("hub2"));
    assert!(
        !users.contains("ward2") && !users.contains("provider2"),
        "{users}"
    );
    let hub_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'hub'")
        .fetch_one(&app.pool)
        .await
        .expect("hub user");
    assert_eq!(
        admin2
            .get(&format!("/admin/users/{hub_id}/password"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let csv = text_of(admin2.get("/admin/access.csv").await).await;
    assert!(csv.contains("hub2"), "{csv}");
    let usernames: Vec<&str> = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(1))
        .collect();
    assert_eq!(usernames, vec!["hub2"], "{csv}");
    let admin = app.browser("admin").await;
    let csv1 = text_of(admin.get("/admin/access.csv").await).await;
    assert!(!csv1.contains("hub2"), "{csv1}");
}

#[tokio::test]
async fn the_application_role_cannot_read_or_write_another_hubs_rows_even_by_hand() {
    let app = TestApp::spawn().await;
    second_hub(&app).await;
    app.flag_id("ward", patient(NHS[0])).await;
    let second = app.flag_id("ward3", on_rzz(NHS[1])).await;
    // a plain connection as the application role, without the server's pool and its settings
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&app.db.app_url())
        .await
        .expect("a connection as the application role");

    let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
    // the search that finds cases with the indexes as the tables' owner (both patients are
    // called Lovelace): only the connection's hubs' cases
    let search = "SELECT homeward_search(ARRAY['Lovelace'], NULL, 'Lovelace')";
    // a connection that names no hub sees no case, nor finds one
    assert_eq!(
        count("SELECT count(*) FROM patients")
            .fetch_one(&mut conn)
            .await
            .unwrap(),
        0
    );
    let found: Vec<i64> = sqlx::query_scalar(search)
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert!(found.is_empty(), "{found:?}");
    sqlx::query("SELECT set_config('homeward.hubs', 'HUB2', false)")
        .execute(&mut conn)
        .await
        .unwrap();
    let seen: Vec<i64> = sqlx::query_scalar("SELECT id FROM patients")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(seen, vec![second]);
    let found: Vec<i64> = sqlx::query_scalar(search)
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(found, vec![second]);
    // the reports' period look-ups (run as the owner for the range index) find exactly the
    // periods the wall lets this connection see
    let periods = "SELECT (SELECT count(*) FROM homeward_periods_touching('-infinity', 'infinity')) \
         - (SELECT count(*) FROM nctr_periods), \
         (SELECT count(*) FROM homeward_periods_open_at(ARRAY[now()])) \
         - (SELECT count(*) FROM nctr_periods WHERE ended_at IS NULL)";
    let (touching, open): (i64, i64) = sqlx::query_as(periods).fetch_one(&mut conn).await.unwrap();
    assert_eq!((touching, open), (0, 0));
    let hidden: i64 = count("SELECT count(*) FROM nctr_periods WHERE hub_code <> 'HUB2'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(hidden > 0, "the other hub has periods to hide");
    for table in [
        "referrals",
        "nctr_periods",
        "patient_history",
        "delay_reason_history",
        "case_notes",
        "case_tasks",
        "patient_choices",
    ] {
        let other: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} WHERE hub_code <> 'HUB2'"
        ))
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(other, 0, "{table}");
    }
    let counts: i64 = count("SELECT count(*) FROM case_counts WHERE trust_code = 'RHW'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(counts, 0);
    // writes: another hub's case cannot be changed, nor a case filed in another hub
    let changed = sqlx::query("UPDATE patients SET bed = 'X' WHERE trust_code = 'RHW'")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 0);
    let filed = sqlx::query(
        "INSERT INTO patients (nhs_number, given_name, family_name, date_of_birth, sex, postcode, \
         trust_code, ward_code, admitted_at, status, created_at, updated_at) \
         VALUES ('9990000026', 'A', 'B', '1940-01-01', 'female', 'LS9 7TF', 'RHW', 'RHW-AMU', now(), \
         'planning', now(), now())",
    )
    .execute(&mut conn)
    .await;
    let err = filed.expect_err("a case in another hub").to_string();
    assert!(err.contains("row-level security"), "{err}");
    // the owner (migrations, bulk loads) sees both
    assert_eq!(
        count("SELECT count(*) FROM patients")
            .fetch_one(&app.pool)
            .await
            .unwrap(),
        2
    );
}

#[tokio::test]
async fn the_directory_the_feed_mapping_and_a_shared_providers_log_stay_within_each_hub() {
    let app = TestApp::spawn().await;
    second_hub(&app).await;
    // the directory: a hub sees the services of the providers serving it
    for (provider, name) in [
        ("provider", "Meadowbank House"),
        ("provider2", "Homeward Bound"),
    ] {
        app.api(provider)
            .await
            .post_expect(
                "/api/v1/directory",
                json!({"name": name, "service_types": ["residential"], "contact": "0113 496 0101"}),
                StatusCode::CREATED,
            )
            .await;
    }
    let names = |v: &Value| -> Vec<String> {
        items(v)
            .iter()
            .map(|s| s["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let hub2 = app.api("hub2").await;
    assert_eq!(
        names(&hub2.get_json("/api/v1/directory").await),
        vec!["Meadowbank House"]
    );
    assert_eq!(
        app.api("hub").await.get_json("/api/v1/directory").await["total"],
        2
    );
    let page = text_of(app.browser("ward3").await.get("/directory").await).await;
    assert!(page.contains("Meadowbank House") && !page.contains("Homeward Bound"));

    // a shared provider's view of both hubs' referrals: each hub's administrator sees the
    // entry naming its own hub's case only
    let first = app.awaiting_care(NHS[0], 3).await;
    let second = app.flag_id("ward3", on_rzz(NHS[1])).await;
    hub2.post_expect(
        &format!("/api/v1/patients/{second}/pathway"),
        json!({"pathway": 3}),
        StatusCode::OK,
    )
    .await;
    let shared = app.post_offer("provider", offer(2)).await;
    let r1 = app.refer(first, id_of(&shared)).await;
    let r2 = hub2
        .post_expect(
            "/api/v1/referrals",
            json!({"patient_id": second, "offer_id": shared["id"]}),
            StatusCode::CREATED,
        )
        .await;
    // accepted: the provider now sees who each patient is, and each look is logged
    app.decide("provider", id_of(&r1), "accept").await;
    app.decide("provider", id_of(&r2), "accept").await;
    let provider = app.api("provider").await;
    for id in [first, second] {
        provider.get_json(&format!("/api/v1/patients/{id}")).await;
    }
    let csv = text_of(app.browser("admin2").await.get("/admin/access.csv").await).await;
    let provider_rows: Vec<&str> = csv.lines().filter(|l| l.contains(",provider,")).collect();
    assert!(!provider_rows.is_empty(), "{csv}");
    for row in &provider_rows {
        assert!(!row.contains(&first.to_string()), "{row}");
    }
    assert!(
        provider_rows
            .iter()
            .any(|r| r.contains(&second.to_string())),
        "{csv}"
    );

    // the feed mapping: another hub's location cannot be taken over
    sqlx::query(
        "INSERT INTO hl7_locations (sending_facility, point_of_care, ward_code) VALUES ('RHW', 'AMU', 'RHW-AMU')",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let admin2 = app.browser("admin2").await;
    let res = admin2
        .post_form(
            "/admin/hl7/locations",
            &[
                ("sending_facility", "RHW"),
                ("point_of_care", "AMU"),
                ("ward_code", "RZZ-W01"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = text_of(res).await;
    assert!(
        !page.contains("RHW-AMU"),
        "another hub's mapping is not shown"
    );
    let ward: String = sqlx::query_scalar(
        "SELECT ward_code FROM hl7_locations WHERE sending_facility = 'RHW' AND point_of_care = 'AMU'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(ward, "RHW-AMU");
}
