//! The flow report against figures worked out by hand on a small fixed week.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// At time `t`, `user` flags a patient on `ward`, admitted 10 November and ready at `ready`.
async fn flag(app: &TestApp, t: &str, user: &str, nhs: &str, ward: &str, ready: &str) -> i64 {
    let mut body = patient(nhs);
    body["ward_code"] = json!(ward);
    body["admitted_at"] = json!("2026-11-10T08:00:00Z");
    body["discharge_ready_at"] = json!(ready);
    app.clock.set(utc(t));
    app.flag_id(user, body).await
}

/// At time `t`, `user` posts `body` to `path`, which must succeed.
async fn act(app: &TestApp, t: &str, user: &str, path: &str, body: Value) -> Value {
    app.api_at(t, user)
        .await
        .post_expect(path, body, StatusCode::OK)
        .await
}

fn table<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["tables"]
        .as_array()
        .and_then(|tables| tables.iter().find(|t| t["name"] == name))
        .unwrap_or_else(|| panic!("no table {name} in {report}"))
}

fn cell(t: &Value, first: &str, col: &str) -> String {
    let c = t["columns"]
        .as_array()
        .and_then(|cols| cols.iter().position(|c| c == col))
        .unwrap_or_else(|| panic!("no column {col} in {}", t["columns"]));
    let row = t["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r[0] == first))
        .unwrap_or_else(|| panic!("no row {first}"));
    row[c]
        .as_str()
        .unwrap_or_else(|| panic!("{first}, {col}: {row}"))
        .to_string()
}

#[tokio::test]
async fn the_flow_report_matches_hand_worked_figures() {
    let app = TestApp::spawn().await;
    // C (RXX): ready 17 Nov 10:00, pathway 1 two hours after the flag, reason p1_new_care, discharged 21 Nov
    let c = flag(
        &app,
        "2026-11-17T10:05:00Z",
        "ward2",
        NHS[2],
        "RXX-W01",
        "2026-11-17T10:00:00Z",
    )
    .await;
    app.clock.set(utc("2026-11-17T12:05:00Z"));
    app.choose_pathway(c, 1).await;
    act(
        &app,
        "2026-11-17T13:00:00Z",
        "hub",
        &format!("/api/v1/patients/{c}/delay-reason"),
        json!({"code": "p1_new_care"}),
    )
    .await;
    // A (RHW): ready 18 Nov 09:00, pathway 2 at 11:00, referred 12:00, accepted 16:00, discharged 19 Nov 10:00
    let a = flag(
        &app,
        "2026-11-18T09:00:00Z",
        "ward",
        NHS[0],
        "RHW-AMU",
        "2026-11-18T09:00:00Z",
    )
    .await;
    app.clock.set(utc("2026-11-18T11:00:00Z"));
    app.choose_pathway(a, 2).await;
    let mut bed = offer(2);
    bed["service_type"] = json!("step_down_bed");
    bed["available_from"] = json!("2026-11-18T11:30:00Z");
    app.clock.set(utc("2026-11-18T11:30:00Z"));
    let bed = app.post_offer("provider", bed).await;
    app.clock.set(utc("2026-11-18T12:00:00Z"));
    let ra = app.refer(a, id_of(&bed)).await;
    app.clock.set(utc("2026-11-18T16:00:00Z"));
    app.decide("provider", id_of(&ra), "accept").await;
    act(
        &app,
        "2026-11-18T17:00:00Z",
        "hub",
        &format!("/api/v1/patients/{a}/plan-discharge"),
        json!({"planned_for": "2026-11-19"}),
    )
    .await;
    act(
        &app,
        "2026-11-19T10:05:00Z",
        "ward",
        &format!("/api/v1/patients/{a}/discharge"),
        json!({"discharged_at": "2026-11-19T10:00:00Z"}),
    )
    .await;
    // B (RHW): ready 20 Nov 08:00, flagged 08:05, pathway 0 at 09:00, discharged 15:00 the same day
    let b = flag(
        &app,
        "2026-11-20T08:05:00Z",
        "ward",
        NHS[1],
        "RHW-W10",
        "2026-11-20T08:00:00Z",
    )
    .await;
    app.clock.set(utc("2026-11-20T09:00:00Z"));
    app.choose_pathway(b, 0).await;
    act(
        &app,
        "2026-11-20T15:05:00Z",
        "ward",
        &format!("/api/v1/patients/{b}/discharge"),
        json!({"discharged_at": "2026-11-20T15:00:00Z"}),
    )
    .await;
    act(
        &app,
        "2026-11-21T11:05:00Z",
        "ward2",
        &format!("/api/v1/patients/{c}/discharge"),
        json!({"discharged_at": "2026-11-21T11:00:00Z"}),
    )
    .await;
    // D (RHW): ready 21 Nov 06:00, pathway 3, referred 08:00, declined 10:00 for no capacity
    let d = flag(
        &app,
        "2026-11-21T06:05:00Z",
        "ward",
        NHS[3],
        "RHW-AMU",
        "2026-11-21T06:00:00Z",
    )
    .await;
    app.clock.set(utc("2026-11-21T07:00:00Z"));
    app.choose_pathway(d, 3).await;
    let mut home = offer(1);
    home["available_from"] = json!("2026-11-21T07:30:00Z");
    app.clock.set(utc("2026-11-21T07:30:00Z"));
    let home = app.post_offer("provider2", home).await;
    app.clock.set(utc("2026-11-21T08:00:00Z"));
    let rd = app.refer(d, id_of(&home)).await;
    act(
        &app,
        "2026-11-21T10:00:00Z",
        "provider2",
        &format!("/api/v1/referrals/{}/decision", rd["id"]),
        json!({"decision": "decline", "reason": "no_capacity"}),
    )
    .await;

    let hub = app.api_at("2026-11-22T10:00:00Z", "hub").await;
    let r = hub
        .get_json("/api/v1/reports/flow?from=2026-11-16&to=2026-11-22")
        .await;
    let s = table(&r, "summary");
    let v = |k: &str| cell(s, k, "Value");
    assert_eq!(v("Discharges"), "3");
    // delays of 1 (A), 0 (B) and 4 (C) days
    assert_eq!(v("Mean delay days, including zero-day delays"), "1.7");
    assert_eq!(v("Mean delay days, excluding zero-day delays"), "2.5");
    assert_eq!(v("Share discharged on their discharge ready date"), "33%");
    assert_eq!(v("Lost bed days (sum of delay days)"), "5");
    // A left 25 hours after ready, C four days after: neither within 24 hours
    assert_eq!(
        v("Pathway 1-3 discharged within 24 hours of ready"),
        "0% (0 of 2)"
    );
    // flag to pathway: 2 h (A), 55 min (B), 2 h (C)
    assert_eq!(v("Median hours from flag to pathway decision"), "2.0");
    assert_eq!(v("Median hours from acceptance to discharge"), "18.0");
    // referral to decision: 4 h (A to PRV1) and 2 h (D to PRV2)
    assert_eq!(v("Median hours from referral to provider decision"), "3.0");

    let per_day = table(&r, "discharges_per_day");
    assert_eq!(cell(per_day, "2026-11-19", "Pathway 2"), "1");
    assert_eq!(cell(per_day, "2026-11-20", "Pathway 0"), "1");
    assert_eq!(cell(per_day, "2026-11-21", "Pathway 1"), "1");
    assert_eq!(cell(per_day, "2026-11-22", "Total"), "0");

    let providers = table(&r, "providers");
    assert_eq!(
        cell(providers, "Meadowbank (PRV1)", "Acceptance rate"),
        "100%"
    );
    assert_eq!(
        cell(providers, "Meadowbank (PRV1)", "Median hours to respond"),
        "4.0"
    );
    assert_eq!(
        cell(providers, "Homeward Bound (PRV2)", "Acceptance rate"),
        "0%"
    );
    assert_eq!(
        cell(providers, "Homeward Bound (PRV2)", "Decline reasons"),
        "No capacity: 1"
    );

    // places are a daily figure: the step-down offer (2 beds from 18 November 11:30) has one
    // bed taken from A's acceptance at 16:00 on (used at the discharge, so still taken);
    // the residential offer (1 bed from 21 November) is never taken
    let places = table(&r, "places");
    let step_down = "Step-down (discharge to assess) bed";
    assert_eq!(
        (
            cell(places, step_down, "Mean places available per day"),
            cell(
                places,
                step_down,
                "Places available at the end of the range"
            ),
            cell(places, step_down, "Places reserved"),
            cell(places, step_down, "Places used")
        ),
        ("0.7".into(), "1".into(), "1".into(), "1".into())
    );
    assert_eq!(
        cell(
            places,
            "Residential care home bed",
            "Places available at the end of the range"
        ),
        "1"
    );
    let available = table(&r, "places_available");
    assert_eq!(cell(available, "2026-11-17", "Total"), "0");
    assert_eq!(cell(available, "2026-11-18", step_down), "1");
    assert_eq!(cell(available, "2026-11-21", "Pathway 2"), "1");
    assert_eq!(cell(available, "2026-11-21", "Pathway 3"), "1");
    assert_eq!(cell(available, "2026-11-22", "Total"), "2");

    let demand = table(&r, "demand_capacity");
    assert_eq!(cell(demand, "2026-11-17", "Demand P1"), "1");
    assert_eq!(cell(demand, "2026-11-18", "Demand P2"), "1");
    assert_eq!(cell(demand, "2026-11-21", "Demand P3"), "1");
    assert_eq!(cell(demand, "2026-11-18", "Places available P2"), "1");
    assert_eq!(cell(demand, "2026-11-22", "Places available P3"), "1");
    // the projection: 7 more days at the mean of the last 7 (demand 3 patients, places
    // 0+0+1+1+1+2+2 = 7 place-days, over 7 days)
    assert_eq!(cell(demand, "2026-11-29", "Projected demand"), "0.4");
    assert_eq!(
        cell(demand, "2026-11-29", "Projected places available"),
        "1.0"
    );
    assert_eq!(cell(demand, "2026-11-22", "Projected demand"), "");

    let reasons = table(&r, "delay_reasons");
    // at the end of 18 November: A (no reason) and C (p1_new_care) were waiting; the
    // columns say the reasons' labels
    assert_eq!(
        cell(
            reasons,
            "2026-11-18",
            "Pathway 1: awaiting resource for assessment and start of care at home"
        ),
        "1"
    );
    assert_eq!(cell(reasons, "2026-11-18", "No reason recorded"), "1");

    // filters: one trust, one pathway
    let r = hub
        .get_json("/api/v1/reports/flow?from=2026-11-16&to=2026-11-22&trust=RXX")
        .await;
    assert_eq!(cell(table(&r, "summary"), "Discharges", "Value"), "1");
    let r = hub
        .get_json("/api/v1/reports/flow?from=2026-11-16&to=2026-11-22&pathway=0")
        .await;
    assert_eq!(cell(table(&r, "summary"), "Discharges", "Value"), "1");

    // every table exports as CSV
    for name in [
        "summary",
        "discharges_per_day",
        "providers",
        "places",
        "places_available",
        "demand_capacity",
        "delay_reasons",
    ] {
        let res = hub
            .get(&format!(
                "/api/v1/reports/flow?from=2026-11-16&to=2026-11-22&format=csv&table={name}"
            ))
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{name}");
        assert!(content_type(&res).starts_with("text/csv"), "{name}");
        assert!(text_of(res).await.lines().count() >= 2, "{name}");
    }
    assert_eq!(
        hub.get("/api/v1/reports/flow?format=csv&table=nope")
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        hub.get("/api/v1/reports/flow?from=2026-11-22&to=2026-11-01")
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.api("ward")
            .await
            .get("/api/v1/reports/flow")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );

    // the page: charts with titles and descriptions, each beside its table
    let page = app
        .browser("hub")
        .await
        .page("/reports/flow?from=2026-11-16&to=2026-11-22")
        .await;
    assert_eq!(page.count("svg.hw-chart[role=img]"), 4);
    assert_eq!(
        page.count("svg.hw-chart title"),
        page.count("svg.hw-chart title")
    );
    assert!(
        page.text("#chart-discharges-title")
            .contains("Discharges per day")
    );
    assert_eq!(page.count("table.hw-report-table"), 7);
    assert_eq!(page.count("a[href*='flow.csv']"), 7);
    // every chart names what its axis counts and each series in words
    assert!(page.text("#chart-reasons").contains("No reason recorded"));
    assert!(page.text("#chart-demand").contains("Places available"));
    // the previous and next periods of the same length (none after today)
    assert_eq!(
        page.attr("a[rel=prev]", "href").as_deref(),
        Some("/reports/flow?from=2026-11-09&to=2026-11-15")
    );
    assert_eq!(page.count("a[rel=next]"), 0);
}
