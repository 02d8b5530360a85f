//! Issue 11's wrong figures, one test each: the input that gave a wrong value, and the right
//! value it gives now. (The reference model in `model.rs` checks the same figures over
//! thousands of generated histories; these are the cases as they were reported.)

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn row<'a>(report: &'a Value, org: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["org_code"] == org))
        .unwrap_or_else(|| panic!("no row for {org} in {report}"))
}

fn table<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["tables"]
        .as_array()
        .and_then(|tables| tables.iter().find(|t| t["name"] == name))
        .unwrap_or_else(|| panic!("no table {name} in {report}"))
}

/// The cell of a flow table in the row whose first cell is `first`, column `col`.
fn cell(t: &Value, first: &str, col: &str) -> String {
    let c = t["columns"]
        .as_array()
        .and_then(|cols| cols.iter().position(|c| c == col))
        .unwrap_or_else(|| panic!("no column {col} in {}", t["columns"]));
    let row = t["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r[0] == first))
        .unwrap_or_else(|| panic!("no row {first}"));
    row[c].as_str().unwrap_or_default().to_string()
}

/// 1. Flagged "today" and discharged "today" on the ward pages with the times left blank:
/// both are 00:00, a period that starts and ends at the same instant. The patient was not
/// meeting the criteria at that instant and left: counted and discharged that day.
#[tokio::test]
async fn a_discharge_at_the_instant_the_patient_became_ready_is_counted_that_day() {
    let app = TestApp::spawn().await;
    let ward = app.browser("ward").await;
    let res = ward
        .post_form(
            "/patients",
            &[
                ("nhs_number", NHS[0]),
                ("given_name", "Ada"),
                ("family_name", "Lovelace"),
                ("date_of_birth", "1941-03-02"),
                ("sex", "female"),
                ("postcode", "LS9 7TF"),
                ("ward_code", "RHW-AMU"),
                ("admitted_at", "2026-11-20"),
                ("admitted_time", "09:30"),
                ("nctr", "yes"),
                ("discharge_ready_at", "2026-11-22"),
                ("discharge_ready_time", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let id: i64 = location(&res)
        .trim_start_matches("/patients/")
        .parse()
        .unwrap();
    let res = ward
        .post_form(
            &format!("/patients/{id}/discharge"),
            &[
                ("version", &app.form_version(id).await),
                ("discharged_date", "2026-11-22"),
                ("discharged_time", ""),
                ("destination", "p0_home"),
                ("method", "1"),
                ("confirmed", "yes"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.count("SELECT count(*) FROM nctr_periods WHERE started_at = ended_at AND started_at = '2026-11-22T00:00:00Z'")
            .await,
        1,
        "both times are 00:00"
    );
    let hub = app.api("hub").await;
    let sitrep = hub.get_json("/api/v1/reports/sitrep?date=2026-11-22").await;
    let rhw = row(&sitrep, "RHW");
    assert_eq!(
        (rhw["nctr"].as_i64(), rhw["discharged"].as_i64()),
        (Some(1), Some(1)),
        "{rhw}"
    );
    assert_eq!(rhw["discharged_by_pathway"]["0"], 1);
    let national = hub
        .get_json("/api/v1/reports/national-return?kind=acute&date=2026-11-22")
        .await;
    let rhw = row(&national, "RHW");
    assert_eq!(
        (rhw["nctr"].as_i64(), rhw["discharged"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(rhw["discharged_by_destination"]["p0_home"], 1);
    // and not on the day before
    let before = hub.get_json("/api/v1/reports/sitrep?date=2026-11-21").await;
    assert_eq!(row(&before, "RHW")["nctr"], 0);
}

/// 2. Not meeting the criteria for 10 days, reason `transport` recorded now, then the ward
/// records "met the criteria again 5 hours ago" and "not meeting them again" now: the
/// back-dated clearing was recorded after the reason, so the case has no reason, and no
/// report brings `transport` back.
#[tokio::test]
async fn a_back_dated_re_flag_does_not_bring_an_old_delay_reason_back() {
    let app = TestApp::spawn().await;
    let mut body = patient(NHS[0]);
    body["admitted_at"] = json!("2026-11-05T09:00:00Z");
    body["discharge_ready_at"] = json!("2026-11-12T10:00:00Z");
    let id = app.flag_id("ward", body).await;
    let ward = app.api("ward").await;
    let path = |a: &str| format!("/api/v1/patients/{id}/{a}");
    ward.post_expect(
        &path("delay-reason"),
        json!({"code": "transport"}),
        StatusCode::OK,
    )
    .await;
    app.clock.set(utc("2026-11-22T10:01:00Z"));
    ward.post_expect(
        &path("criteria"),
        json!({"meets_criteria": true, "at": "2026-11-22T05:00:00Z", "ctr_code": "04"}),
        StatusCode::OK,
    )
    .await;
    app.clock.set(utc("2026-11-22T10:02:00Z"));
    let case = ward
        .post_expect(
            &path("criteria"),
            json!({"meets_criteria": false}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(case["delay_reason"], Value::Null);
    let hub = app.api("hub").await;
    let sitrep = hub.get_json("/api/v1/reports/sitrep").await;
    let reasons = &row(&sitrep, "RHW")["remaining_by_reason"];
    assert_eq!(
        (reasons["transport"].as_i64(), reasons["none"].as_i64()),
        (Some(0), Some(1)),
        "{reasons}"
    );
    let national = hub
        .get_json("/api/v1/reports/national-return?date=2026-11-22")
        .await;
    let rhw = row(&national, "RHW");
    assert_eq!(rhw["remaining_by_reason"]["A8"], 0);
    assert_eq!(rhw["remaining_by_reason"]["none"], 1);
    let flow = hub
        .get_json("/api/v1/reports/flow?from=2026-11-20&to=2026-11-22")
        .await;
    let reasons = table(&flow, "delay_reasons");
    assert_eq!(cell(reasons, "2026-11-22", "No reason recorded"), "1");
    // on the 21st, before any of this was recorded, no reason was in force either
    assert_eq!(cell(reasons, "2026-11-21", "No reason recorded"), "1");
    // the 21st is unchanged: the patient was still waiting at its end
    let before = hub.get_json("/api/v1/reports/sitrep?date=2026-11-21").await;
    assert_eq!(row(&before, "RHW")["remaining_by_reason"]["none"], 1);
}

/// 3. The sitrep's band columns came out in text order (`0,1,14-20,2-3,...`).
#[tokio::test]
async fn sitrep_bands_are_in_their_natural_order_in_csv_and_json() {
    let app = TestApp::spawn().await;
    let hub = app.api("hub").await;
    let text = text_of(hub.get("/api/v1/reports/sitrep?date=2026-11-20").await).await;
    assert!(
        text.contains(
            r#""remaining_by_delay_band":{"0":0,"1":0,"2-3":0,"4-6":0,"7-13":0,"14-20":0,"21+":0}"#
        ),
        "{text}"
    );
    assert!(text.contains(r#""remaining_by_los_band":{"0-6":0,"7-13":0,"14-20":0,"21+":0}"#));
    assert!(text.contains(r#""remaining_by_reason":{"medical_decision":0,"therapy_decision":0,"#));
    let csv = text_of(
        hub.get("/api/v1/reports/sitrep?date=2026-11-20&format=csv")
            .await,
    )
    .await;
    let header: Vec<&str> = csv.lines().next().unwrap_or_default().split(',').collect();
    let delay: Vec<&str> = header
        .iter()
        .filter_map(|h| h.strip_prefix("remaining_delay_"))
        .collect();
    assert_eq!(delay, ["0", "1", "2-3", "4-6", "7-13", "14-20", "21+"]);
    let los: Vec<&str> = header
        .iter()
        .filter_map(|h| h.strip_prefix("remaining_los_"))
        .collect();
    assert_eq!(los, ["0-6", "7-13", "14-20", "21+"]);
}

/// 4. "Places offered" counted an offer only on the day it was posted. Capacity is a daily
/// figure: the places free on every day the offer is open.
#[tokio::test]
async fn places_are_counted_on_every_day_an_offer_is_open() {
    let app = TestApp::spawn().await;
    app.clock.set(utc("2026-11-12T10:00:00Z"));
    let mut beds = offer(5);
    beds["available_from"] = json!("2026-11-12T10:00:00Z");
    beds["available_until"] = json!("2026-12-12T10:00:00Z");
    let beds = app.post_offer("provider", beds).await;
    // one bed taken on the 21st
    app.clock.set(utc("2026-11-21T09:00:00Z"));
    let id = app.awaiting_care(NHS[0], 3).await;
    let referral = app.refer(id, id_of(&beds)).await;
    app.decide("provider", id_of(&referral), "accept").await;
    let hub = app.api_at("2026-11-22T10:00:00Z", "hub").await;
    let flow = hub
        .get_json("/api/v1/reports/flow?from=2026-11-11&to=2026-11-22")
        .await;
    let available = table(&flow, "places_available");
    assert_eq!(cell(available, "2026-11-11", "Total"), "0");
    assert_eq!(cell(available, "2026-11-12", "Total"), "5");
    assert_eq!(
        cell(available, "2026-11-20", "Residential care home bed"),
        "5"
    );
    assert_eq!(cell(available, "2026-11-21", "Pathway 3"), "4");
    assert_eq!(cell(available, "2026-11-22", "Total"), "4");
    let demand = table(&flow, "demand_capacity");
    assert_eq!(cell(demand, "2026-11-15", "Places available P3"), "5");
    assert_eq!(cell(demand, "2026-11-22", "Places available P3"), "4");
    let places = table(&flow, "places");
    assert_eq!(
        cell(
            places,
            "Residential care home bed",
            "Places available at the end of the range"
        ),
        "4"
    );
}

/// Places available follow an offer's edits (`PATCH /api/v1/capacity/{id}`): each day
/// counts the places and end date the offer had at that day's cut-off, not today's.
#[tokio::test]
async fn places_available_follow_an_offers_edits_day_by_day() {
    let app = TestApp::spawn().await;
    app.clock.set(utc("2026-11-12T10:00:00Z"));
    let mut beds = offer(5);
    beds["available_from"] = json!("2026-11-12T10:00:00Z");
    beds["available_until"] = json!("2026-12-12T10:00:00Z");
    let beds = app.post_offer("provider", beds).await;
    let path = format!("/api/v1/capacity/{}", id_of(&beds));
    // down to 2 places on the 16th at noon
    let provider = app.api_at("2026-11-16T12:00:00Z", "provider").await;
    let edited = provider
        .patch_expect(
            &path,
            json!({"places": 2, "version": beds["version"]}),
            StatusCode::OK,
        )
        .await;
    // and ending on the 19th at noon, changed on the 18th
    let provider = app.api_at("2026-11-18T08:00:00Z", "provider").await;
    provider
        .patch_expect(
            &path,
            json!({"available_until": "2026-11-19T12:00:00Z", "version": edited["version"]}),
            StatusCode::OK,
        )
        .await;
    let hub = app.api_at("2026-11-22T10:00:00Z", "hub").await;
    let flow = hub
        .get_json("/api/v1/reports/flow?from=2026-11-11&to=2026-11-22")
        .await;
    let available = table(&flow, "places_available");
    assert_eq!(cell(available, "2026-11-12", "Total"), "5");
    assert_eq!(cell(available, "2026-11-15", "Total"), "5");
    assert_eq!(cell(available, "2026-11-16", "Total"), "2");
    assert_eq!(cell(available, "2026-11-18", "Total"), "2");
    // the cut-off of the 19th is after the new end
    assert_eq!(cell(available, "2026-11-19", "Total"), "0");
    assert_eq!(cell(available, "2026-11-22", "Total"), "0");
}

/// 5. A date of birth after admission was accepted (201, age 0).
#[tokio::test]
async fn a_date_of_birth_after_admission_is_refused() {
    let app = TestApp::spawn().await;
    let ward = app.api("ward").await;
    let mut body = patient(NHS[0]);
    body["date_of_birth"] = json!("2026-11-19");
    let res = ward
        .post_expect("/api/v1/patients", body, StatusCode::UNPROCESSABLE_ENTITY)
        .await;
    assert!(
        res["error"]["fields"]["date_of_birth"]
            .as_str()
            .unwrap_or_default()
            .contains("admission"),
        "{res}"
    );
    assert_eq!(app.count("SELECT count(*) FROM patients").await, 0);
}

/// 5. Placeholder NHS numbers (valid check digit, never issued) were accepted, and blocked
/// the next "unknown" patient with a 409. They are refused, and a patient whose NHS number
/// is not known comes in with the hospital number.
#[tokio::test]
async fn placeholder_nhs_numbers_are_refused_and_unknown_patients_come_in_by_hospital_number() {
    let app = TestApp::spawn().await;
    let ward = app.api("ward").await;
    for placeholder in ["0000000000", "4444444444", "9999999999", "111 111 1111"] {
        let res = ward
            .post_expect(
                "/api/v1/patients",
                patient(placeholder),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        assert!(
            res["error"]["fields"]["nhs_number"]
                .as_str()
                .unwrap_or_default()
                .contains("placeholder"),
            "{placeholder}: {res}"
        );
    }
    let unknown = |local: &str| {
        let mut body = patient("");
        body.as_object_mut().unwrap().remove("nhs_number");
        body["nhs_number_status"] = json!("unknown");
        body["local_id"] = json!(local);
        body
    };
    let first = ward
        .post_expect("/api/v1/patients", unknown("H100001"), StatusCode::CREATED)
        .await;
    assert_eq!(first["nhs_number"], Value::Null);
    assert_eq!(first["nhs_number_status"], "unknown");
    assert_eq!(first["local_id"], "H100001");
    // the next unknown patient is not a duplicate
    ward.post_expect("/api/v1/patients", unknown("H100002"), StatusCode::CREATED)
        .await;
    // the same hospital number with an open case is
    let dup = ward
        .post_expect("/api/v1/patients", unknown("H100001"), StatusCode::CONFLICT)
        .await;
    assert_eq!(dup["error"]["code"], "duplicate_open_case");
    // "unknown" needs the hospital number
    let mut missing = unknown("X");
    missing.as_object_mut().unwrap().remove("local_id");
    let res = ward
        .post_expect(
            "/api/v1/patients",
            missing,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(res["error"]["fields"]["local_id"].is_string(), "{res}");
    // the flag page has the same way in, and the case page says what identifies the patient
    let b = app.browser("ward").await;
    let res = b
        .post_form(
            "/patients",
            &[
                ("nhs_number", ""),
                ("nhs_number_status", "unknown"),
                ("local_id", "H100003"),
                ("given_name", "Unnamed"),
                ("family_name", "Patient"),
                ("date_of_birth", "1950-01-01"),
                ("sex", "unknown"),
                ("postcode", "LS9 7TF"),
                ("ward_code", "RHW-AMU"),
                ("admitted_at", "2026-11-21"),
                ("admitted_time", "22:00"),
                ("nctr", "no"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = b.page(&location(&res)).await;
    assert!(
        page.text(".nhsuk-caption-l")
            .contains("NHS number not known, hospital number H100003")
    );
}

/// 6. The discharge ready date is a date in the national data set; the API refused a date
/// without a time (422). A date is the start of that day in England.
#[tokio::test]
async fn a_ready_date_without_a_time_is_the_start_of_that_day_in_england() {
    let app = TestApp::spawn().await;
    let ward = app.api("ward").await;
    let mut body = patient(NHS[0]);
    body["discharge_ready_at"] = json!("2026-11-20");
    let case = ward
        .post_expect("/api/v1/patients", body, StatusCode::CREATED)
        .await;
    assert_eq!(case["discharge_ready_at"], "2026-11-20T00:00:00Z");
    let id = id_of(&case);
    let path = format!("/api/v1/patients/{id}/criteria");
    ward.post_expect(
        &path,
        json!({"meets_criteria": true, "at": "2026-11-21"}),
        StatusCode::OK,
    )
    .await;
    let case = ward
        .post_expect(
            &path,
            json!({"meets_criteria": false, "at": "2026-11-22"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(case["discharge_ready_at"], "2026-11-22T00:00:00Z");
    // in summer, 00:00 in England is 23:00 UTC the day before
    let mut summer = patient(NHS[1]);
    summer["admitted_at"] = json!("2026-06-01T09:00:00Z");
    summer["discharge_ready_at"] = json!("2026-06-10");
    let case = ward
        .post_expect("/api/v1/patients", summer, StatusCode::CREATED)
        .await;
    assert_eq!(case["discharge_ready_at"], "2026-06-09T23:00:00Z");
    let mut bad = patient(NHS[2]);
    bad["discharge_ready_at"] = json!("2026-11-31");
    ward.post_expect("/api/v1/patients", bad, StatusCode::UNPROCESSABLE_ENTITY)
        .await;
}

/// 7. Children were counted in the acute return, which covers adults (18 and over on the
/// day). The sitrep, Homeward's own, still counts everyone.
#[tokio::test]
async fn children_are_not_counted_in_the_acute_return() {
    let app = TestApp::spawn().await;
    let mut child = patient(NHS[0]);
    child["date_of_birth"] = json!("2009-06-01");
    app.flag("ward", child).await;
    // 18 on the 22nd: a child on the 21st, an adult on the 22nd
    let mut birthday = patient(NHS[1]);
    birthday["date_of_birth"] = json!("2008-11-22");
    app.flag("ward", birthday).await;
    app.flag("ward", patient(NHS[2])).await;
    let hub = app.api("hub").await;
    let sitrep = hub.get_json("/api/v1/reports/sitrep?date=2026-11-21").await;
    assert_eq!(row(&sitrep, "RHW")["nctr"], 3);
    let on_21st = hub
        .get_json("/api/v1/reports/national-return?kind=acute&date=2026-11-21")
        .await;
    assert_eq!(row(&on_21st, "RHW")["nctr"], 1, "{on_21st}");
    let on_22nd = hub
        .get_json("/api/v1/reports/national-return?kind=acute&date=2026-11-22")
        .await;
    assert_eq!(row(&on_22nd, "RHW")["nctr"], 2);
    assert_eq!(on_22nd["total"]["remaining"], 2);
}

/// 8. The discharge destination and method were not recorded, and cancelling took free
/// text, so a death was not coded.
#[tokio::test]
async fn destination_method_and_cancellation_reason_are_recorded_and_counted() {
    let app = TestApp::spawn().await;
    let ward = app.api("ward").await;
    let hub = app.api("hub").await;
    let home = app.flag_id("ward", patient(NHS[0])).await;
    // the return's own destinations only, and no destination for a death
    for (body, field) in [
        (json!({"destination": "cp1_rehab"}), "destination"),
        (json!({"destination": "nowhere"}), "destination"),
        (
            json!({"destination": "p1_home", "method": "4"}),
            "destination",
        ),
        (json!({"destination": "p1_home", "method": "2"}), "method"),
    ] {
        let res = ward
            .post_expect(
                &format!("/api/v1/patients/{home}/discharge"),
                body.clone(),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        assert!(res["error"]["fields"][field].is_string(), "{body}: {res}");
    }
    let case = ward
        .post_expect(
            &format!("/api/v1/patients/{home}/discharge"),
            json!({"destination": "p1_home"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        (&case["discharge_destination"], &case["discharge_method"]),
        (&json!("p1_home"), &json!("1"))
    );
    assert!(app.history(home).await.iter().any(|h| {
        h["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("home, with new or restarted support")
    }));
    // a death, through the hub's cancellation
    let died = app.flag_id("ward", patient(NHS[1])).await;
    let res = hub
        .post_expect(
            &format!("/api/v1/patients/{died}/cancel"),
            json!({"reason_code": "dead"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(res["error"]["fields"]["reason_code"].is_string());
    let case = hub
        .post_expect(
            &format!("/api/v1/patients/{died}/cancel"),
            json!({"reason_code": "died"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(case["status"], "cancelled");
    assert_eq!(case["cancel_reason_code"], "died");
    assert_eq!(case["discharge_method"], "4");
    // a v1 partner's free text is still taken, as "other"
    let other = app.flag_id("ward", patient(NHS[2])).await;
    let case = hub
        .post_expect(
            &format!("/api/v1/patients/{other}/cancel"),
            json!({"reason": "Duplicate case"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(case["cancel_reason_code"], "other");
    // the return counts the death as a discharge, and the destinations add up
    let r = hub
        .get_json("/api/v1/reports/national-return?date=2026-11-22")
        .await;
    let rhw = row(&r, "RHW");
    assert_eq!(
        (rhw["nctr"].as_i64(), rhw["discharged"].as_i64()),
        (Some(3), Some(3))
    );
    assert_eq!(rhw["discharged_by_destination"]["p1_home"], 1);
    assert_eq!(rhw["discharged_by_destination"]["died"], 1);
    assert_eq!(rhw["discharged_by_destination"]["other_ending"], 1);
    // the reference lists say what each code means
    let dest = hub
        .get_json("/api/v1/reference/discharge-destinations")
        .await;
    let p3b = items(&dest)
        .iter()
        .find(|d| d["code"] == "p3b_care_home")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (&p3b["pathway"], &p3b["return"], &p3b["nhs_dd_code"]),
        (&json!(3), &json!("acute"), &json!("56"))
    );
    assert_eq!(
        items(&dest)
            .iter()
            .filter(|d| d["return"] == "acute")
            .count(),
        12
    );
    assert_eq!(
        items(&dest)
            .iter()
            .filter(|d| d["return"] == "community")
            .count(),
        14
    );
    let methods = hub.get_json("/api/v1/reference/discharge-methods").await;
    assert!(items(&methods).iter().any(|m| m["code"] == "4"));
}
