//! The national discharge returns against a hand count of a small fixed history (the
//! sitrep's week), their CSV layout and page, the community return, and the demo area's
//! returns adding up the way the national files do.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// At `t`, `user` flags a patient on `ward`, admitted at `admitted`, ready at `ready`.
async fn flag(
    app: &TestApp,
    t: &str,
    user: &str,
    nhs: &str,
    ward: &str,
    admitted: &str,
    ready: Option<&str>,
) -> i64 {
    let mut body = patient(nhs);
    body["ward_code"] = json!(ward);
    body["admitted_at"] = json!(admitted);
    match ready {
        Some(r) => body["discharge_ready_at"] = json!(r),
        None => {
            body.as_object_mut().unwrap().remove("discharge_ready_at");
        }
    }
    app.clock.set(utc(t));
    app.flag_id(user, body).await
}

async fn post(app: &TestApp, t: &str, user: &str, id: i64, action: &str, body: Value) {
    app.api_at(t, user)
        .await
        .post_expect(
            &format!("/api/v1/patients/{id}/{action}"),
            body,
            StatusCode::OK,
        )
        .await;
}

fn row<'a>(report: &'a Value, org: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["org_code"] == org))
        .unwrap_or_else(|| panic!("no row for {org} in {report}"))
}

/// The sitrep's week (tests/it/sitrep.rs): six patients not meeting the criteria on 20
/// November 2026, each ending the day differently.
async fn the_week(app: &TestApp) {
    // P1 (RHW): admitted 10 Nov, ready 18 Nov, reason p2_bed (A14), still waiting
    let p1 = flag(
        app,
        "2026-11-18T10:05:00Z",
        "ward",
        NHS[0],
        "RHW-AMU",
        "2026-11-10T08:00:00Z",
        Some("2026-11-18T10:00:00Z"),
    )
    .await;
    post(
        app,
        "2026-11-18T11:00:00Z",
        "ward",
        p1,
        "delay-reason",
        json!({"code": "p2_bed"}),
    )
    .await;
    // P2 (RHW): ready 20 Nov 08:00, discharged 23:30 without a destination
    let p2 = flag(
        app,
        "2026-11-20T08:05:00Z",
        "ward",
        NHS[1],
        "RHW-W10",
        "2026-11-17T08:00:00Z",
        Some("2026-11-20T08:00:00Z"),
    )
    .await;
    post(
        app,
        "2026-11-20T09:00:00Z",
        "hub",
        p2,
        "pathway",
        json!({"pathway": 1}),
    )
    .await;
    post(
        app,
        "2026-11-20T23:31:00Z",
        "ward",
        p2,
        "discharge",
        json!({"discharged_at": "2026-11-20T23:30:00Z"}),
    )
    .await;
    // P3 (RHW): ready 19 Nov, no reason, discharged just after midnight on the 21st
    let p3 = flag(
        app,
        "2026-11-19T09:05:00Z",
        "ward",
        NHS[2],
        "RHW-AMU",
        "2026-11-15T08:00:00Z",
        Some("2026-11-19T09:00:00Z"),
    )
    .await;
    post(
        app,
        "2026-11-21T00:11:00Z",
        "ward",
        p3,
        "discharge",
        json!({"discharged_at": "2026-11-21T00:10:00Z", "destination": "p0_home"}),
    )
    .await;
    // P4 (RHW): admitted 1 Nov, ready 19 Nov, reason cleared when it met the criteria at
    // 11:00 on the 20th, ready again at 18:00 with no reason
    let p4 = flag(
        app,
        "2026-11-19T12:05:00Z",
        "ward",
        NHS[3],
        "RHW-W10",
        "2026-11-01T08:00:00Z",
        Some("2026-11-19T12:00:00Z"),
    )
    .await;
    post(
        app,
        "2026-11-19T13:00:00Z",
        "ward",
        p4,
        "delay-reason",
        json!({"code": "medical_decision"}),
    )
    .await;
    post(
        app,
        "2026-11-20T11:05:00Z",
        "ward",
        p4,
        "criteria",
        json!({"meets_criteria": true, "at": "2026-11-20T11:00:00Z", "ctr_code": "04"}),
    )
    .await;
    post(
        app,
        "2026-11-20T18:05:00Z",
        "ward",
        p4,
        "criteria",
        json!({"meets_criteria": false, "at": "2026-11-20T18:00:00Z"}),
    )
    .await;
    // P5 (RXX): ready 20 Nov 09:00, meets the criteria again at 15:00 (A9)
    let p5 = flag(
        app,
        "2026-11-20T09:05:00Z",
        "ward2",
        NHS[4],
        "RXX-W01",
        "2026-11-18T08:00:00Z",
        Some("2026-11-20T09:00:00Z"),
    )
    .await;
    post(
        app,
        "2026-11-20T15:05:00Z",
        "ward2",
        p5,
        "criteria",
        json!({"meets_criteria": true, "at": "2026-11-20T15:00:00Z"}),
    )
    .await;
    // P6 (RXX): ready 17 Nov, transferred out at noon on the 20th (a v1 cancellation)
    let p6 = flag(
        app,
        "2026-11-17T10:05:00Z",
        "ward2",
        NHS[5],
        "RXX-W01",
        "2026-11-12T08:00:00Z",
        Some("2026-11-17T10:00:00Z"),
    )
    .await;
    post(
        app,
        "2026-11-20T12:00:00Z",
        "hub",
        p6,
        "cancel",
        json!({"reason_code": "transferred_out"}),
    )
    .await;
}

#[tokio::test]
async fn the_acute_return_for_a_past_day_matches_a_hand_count() {
    let app = TestApp::spawn().await;
    the_week(&app).await;
    let hub = app.api_at("2026-11-22T10:00:00Z", "hub").await;
    let r = hub
        .get_json("/api/v1/reports/national-return?kind=acute&date=2026-11-20")
        .await;
    assert_eq!(
        (r["kind"].as_str(), r["date"].as_str()),
        (Some("acute"), Some("2026-11-20"))
    );
    assert_eq!(r["code_sets"]["reason_map"], "nhse-acute-map-2024");
    let rhw = row(&r, "RHW");
    // P1, P2, P3, P4 not meeting the criteria; P2 discharged; P1, P3, P4 remaining
    assert_eq!(
        (
            rhw["nctr"].as_i64(),
            rhw["discharged"].as_i64(),
            rhw["remaining"].as_i64()
        ),
        (Some(4), Some(1), Some(3)),
        "{rhw}"
    );
    assert_eq!(rhw["discharged_by_destination"]["not_recorded"], 1);
    assert_eq!(rhw["remaining_by_reason"]["A14"], 1);
    assert_eq!(rhw["remaining_by_reason"]["none"], 2);
    // stays of 14+ days: P4 only (19 days), with no reason since it met the criteria again
    assert_eq!(rhw["remaining_los14_by_reason"]["none"], 1);
    assert_eq!(
        rhw["remaining_los14_by_reason"]
            .as_object()
            .map(|m| m.values().filter_map(Value::as_i64).sum::<i64>()),
        Some(1)
    );
    // extra bed days: P1 (stay 10 days, ready 2 days) and P4 (19 days, ready today: 0)
    assert_eq!(rhw["extra_bed_days"], json!({"7+": 2, "14+": 0, "21+": 0}));
    let rxx = row(&r, "RXX");
    // P5 met the criteria again that day: remaining, under A9; P6 transferred out: a discharge
    assert_eq!(
        (
            rxx["nctr"].as_i64(),
            rxx["discharged"].as_i64(),
            rxx["remaining"].as_i64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(rxx["remaining_by_reason"]["A9"], 1);
    assert_eq!(rxx["discharged_by_destination"]["transferred_out"], 1);
    let total = &r["total"];
    assert_eq!(
        (
            total["nctr"].as_i64(),
            total["discharged"].as_i64(),
            total["remaining"].as_i64()
        ),
        (Some(6), Some(2), Some(4))
    );
    // every key of the return's lists, zeros included, in the return's order
    let reasons: Vec<&String> = rhw["remaining_los14_by_reason"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert_eq!(reasons.len(), 18 + 2, "A1-A18, none, unmapped");
    let text = text_of(
        hub.get("/api/v1/reports/national-return?kind=acute&date=2026-11-20")
            .await,
    )
    .await;
    assert!(text.contains(r#""remaining_los14_by_reason":{"A1":0,"A2":0,"A3":0,"A4":0,"A5":0,"A6":0,"A7":0,"A8":0,"A9":0,"A10":0"#));
    assert!(text.contains(r#""discharged_by_destination":{"p0_home":0,"p0_other":0,"p1_home":0"#));

    // the 21st: P3 discharged home just after midnight, P1 and P4 remaining
    let r = hub
        .get_json("/api/v1/reports/national-return?date=2026-11-21")
        .await;
    let rhw = row(&r, "RHW");
    assert_eq!(
        (
            rhw["nctr"].as_i64(),
            rhw["discharged"].as_i64(),
            rhw["remaining"].as_i64()
        ),
        (Some(3), Some(1), Some(2))
    );
    assert_eq!(rhw["discharged_by_destination"]["p0_home"], 1);
    assert_eq!(row(&r, "RXX")["nctr"], 0, "P5 meets the criteria all day");

    // CSV: the national layout, one line per trust and a total
    let res = hub
        .get("/api/v1/reports/national-return?date=2026-11-20&format=csv")
        .await;
    assert!(content_type(&res).starts_with("text/csv"));
    let csv = text_of(res).await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[0].starts_with("period,figures,org_code,org_name,nctr,discharged,remaining,extra_bed_days_los_7+,extra_bed_days_los_14+,extra_bed_days_los_21+,discharged_p0_home,"), "{}", lines[0]);
    assert!(
        lines[1].starts_with("2026-11-20,day,RHW,Royal Hartwell,4,1,3,2,0,0,"),
        "{}",
        lines[1]
    );
    assert!(
        lines[3].starts_with("2026-11-20,day,TOTAL,Total,6,2,4,"),
        "{}",
        lines[3]
    );

    // the period: every day, and tables 4 and 5 over the period
    let p = hub
        .get_json("/api/v1/reports/national-return?from=2026-11-19&to=2026-11-21")
        .await;
    assert_eq!(p["days"], 3);
    assert_eq!(p["daily"].as_array().map(Vec::len), Some(3));
    let rhw = row(&p, "RHW");
    // discharges in the period: P2 (not recorded) and P3 (home)
    assert_eq!(rhw["discharged"], 2);
    assert_eq!(rhw["discharged_by_destination"]["p0_home"], 1);
    // P4 (stay 18, 19 and 20 days) with a reason on the 19th and none on the 20th and 21st
    assert_eq!(rhw["remaining_los14_patient_days_by_reason"]["A1"], 1);
    assert_eq!(rhw["remaining_los14_patient_days_by_reason"]["none"], 2);
    assert_eq!(rhw["remaining_los14_by_reason"]["none"], 0.67);
    for r in p["rows"].as_array().unwrap() {
        assert_eq!(
            r["nctr"].as_i64().unwrap(),
            r["discharged"].as_i64().unwrap() + r["remaining"].as_i64().unwrap()
        );
    }
    let csv = text_of(
        hub.get("/api/v1/reports/national-return?from=2026-11-19&to=2026-11-21&format=csv")
            .await,
    )
    .await;
    assert_eq!(csv.lines().count(), 1 + 3 * 3 + 3, "{csv}");
    assert!(
        csv.lines()
            .any(|l| l.starts_with("2026-11-19/2026-11-21,period,RHW,"))
    );

    // bad requests
    for bad in [
        "kind=mental_health",
        "date=2026-11-23",
        "from=2026-11-10",
        "from=2026-11-20&to=2026-11-10",
        "date=2026-11-20&from=2026-11-19&to=2026-11-20",
        "format=xml",
    ] {
        assert_eq!(
            hub.get(&format!("/api/v1/reports/national-return?{bad}"))
                .await
                .status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}"
        );
    }
    for user in ["ward", "provider"] {
        assert_eq!(
            app.api(user)
                .await
                .get("/api/v1/reports/national-return")
                .await
                .status(),
            StatusCode::FORBIDDEN
        );
    }
}

#[tokio::test]
async fn the_return_page_shows_the_tables_with_links_to_the_days_around() {
    let app = TestApp::spawn().await;
    the_week(&app).await;
    app.clock.set(default_now());
    let b = app.browser("hub").await;
    let page = b.page("/reports/national?kind=acute&date=2026-11-20").await;
    assert_eq!(page.text("h1"), "Acute discharge return");
    let rows = page.texts(".hw-national-table2 tbody tr");
    assert_eq!(rows[0], "Royal Hartwell (RHW) 4 1 3");
    assert_eq!(rows[2], "Total 6 2 4");
    assert!(
        page.text(".hw-national-table5")
            .contains("A14: Pathway 2: awaiting a rehabilitation bed")
    );
    assert_eq!(
        page.attr("a[rel=prev]", "href").as_deref(),
        Some("/reports/national?kind=acute&date=2026-11-19")
    );
    assert_eq!(
        page.attr("a[rel=next]", "href").as_deref(),
        Some("/reports/national?kind=acute&date=2026-11-21")
    );
    assert_eq!(
        b.page("/reports/national").await.count("a[rel=next]"),
        0,
        "no day after today"
    );
    let res = b
        .get("/reports/national.csv?kind=acute&from=2026-11-01&to=2026-11-22")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(content_type(&res).starts_with("text/csv"));
    // the sitrep page links to the return and to its neighbouring days
    let sitrep = b.page("/reports/sitrep?date=2026-11-20").await;
    assert!(
        sitrep
            .attr("a[href^='/reports/national']", "href")
            .is_some()
    );
    assert_eq!(
        sitrep.attr("a[rel=next]", "href").as_deref(),
        Some("/reports/sitrep?date=2026-11-21")
    );
    let res = b.get("/reports/national?date=2026-13-01").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_community_return_covers_community_trusts_with_its_own_lists() {
    let app = TestApp::spawn().await;
    sqlx::raw_sql(
        "INSERT INTO organisations (code, name, sector, kind) VALUES ('RYE', 'Exmoor Community', 'nhs_community', 'acute_trust');
         INSERT INTO sites (code, org_code, name) VALUES ('RYE01', 'RYE', 'Exmoor Community Hospital');
         INSERT INTO wards (code, site_code, org_code, name) VALUES ('RYE-W01', 'RYE01', 'RYE', 'Exe Ward');",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    // a community patient: admitted 1 Nov, ready 5 Nov, reason chc_decision (a community
    // reason with no acute counterpart)
    let c = flag(
        &app,
        "2026-11-05T10:00:00Z",
        "hub",
        NHS[0],
        "RYE-W01",
        "2026-11-01T08:00:00Z",
        Some("2026-11-05T09:00:00Z"),
    )
    .await;
    post(
        &app,
        "2026-11-05T11:00:00Z",
        "hub",
        c,
        "delay-reason",
        json!({"code": "chc_decision"}),
    )
    .await;
    // an acute patient discharged to a community rehab bed
    let a = flag(
        &app,
        "2026-11-20T10:00:00Z",
        "ward",
        NHS[1],
        "RHW-AMU",
        "2026-11-18T08:00:00Z",
        Some("2026-11-20T09:00:00Z"),
    )
    .await;
    // the community list is not the acute trust's
    app.api("ward")
        .await
        .post_expect(
            &format!("/api/v1/patients/{a}/discharge"),
            json!({"destination": "cp2_rehab"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    post(
        &app,
        "2026-11-21T10:00:00Z",
        "ward",
        a,
        "discharge",
        json!({"destination": "p2_community_rehab"}),
    )
    .await;
    let hub = app.api_at("2026-11-22T10:00:00Z", "hub").await;
    let r = hub
        .get_json("/api/v1/reports/national-return?kind=community&date=2026-11-21")
        .await;
    assert_eq!(r["rows"].as_array().map(Vec::len), Some(1), "{r}");
    let rye = row(&r, "RYE");
    assert_eq!(
        (rye["nctr"].as_i64(), rye["remaining"].as_i64()),
        (Some(1), Some(1))
    );
    // stay of 20 days, ready since the 5th: 16 extra bed days at 14+, none at 21+
    assert_eq!(rye["extra_bed_days"], json!({"14+": 16, "21+": 0}));
    assert_eq!(rye["remaining_los14_by_reason"]["chc_decision"], 1);
    assert!(
        rye["discharged_by_destination"]
            .get("cp3b_care_home")
            .is_some()
    );
    let acute = hub
        .get_json("/api/v1/reports/national-return?kind=acute&date=2026-11-21")
        .await;
    assert!(
        acute["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["org_code"] != "RYE")
    );
    assert_eq!(
        row(&acute, "RHW")["discharged_by_destination"]["p2_community_rehab"],
        1
    );
    // the sitrep is per acute trust
    let sitrep = hub.get_json("/api/v1/reports/sitrep?date=2026-11-21").await;
    assert_eq!(sitrep["rows"].as_array().map(Vec::len), Some(2));
    // in the acute return the same reason would have no counterpart
    sqlx::query("UPDATE organisations SET sector = 'nhs_acute' WHERE code = 'RYE'")
        .execute(&app.pool)
        .await
        .unwrap();
    let acute = hub
        .get_json("/api/v1/reports/national-return?kind=acute&date=2026-11-21")
        .await;
    assert_eq!(
        row(&acute, "RYE")["remaining_los14_by_reason"]["unmapped"],
        1
    );
}

/// The demo area's returns add up the way the national files do, every day of its last four
/// weeks: in every row `nctr = discharged + remaining`, the rows add up to the total, the
/// destinations to the discharges, the reasons to the remaining.
#[tokio::test]
async fn the_demo_areas_returns_add_up_like_the_national_files() {
    use homeward::domain::time::{Clock, london_date};
    use homeward::reports::national::{self, ReturnKind};
    let db = TestDb::bare().await;
    let state = homeward::state::AppState::new(
        db.pool.clone(),
        Clock::fixed(default_now()),
        Default::default(),
    );
    homeward::demo::load(&state).await.unwrap();
    let today = london_date(default_now());
    let from = today - chrono::Duration::days(27);
    let mut seen = (0, 0, 0);
    for kind in [ReturnKind::Acute, ReturnKind::Community] {
        let p = national::build_period(&db.pool, None, kind, from, today, default_now())
            .await
            .unwrap();
        for day in &p.daily {
            let mut sum = (0, 0, 0);
            for r in &day.rows {
                assert_eq!(
                    r.nctr,
                    r.discharged + r.remaining,
                    "{kind:?} {} {r:?}",
                    day.date
                );
                assert_eq!(r.discharged_by_destination.sum(), r.discharged);
                assert_eq!(r.remaining_by_reason.sum(), r.remaining);
                assert!(r.remaining_los14_by_reason.sum() <= r.remaining);
                sum = (sum.0 + r.nctr, sum.1 + r.discharged, sum.2 + r.remaining);
            }
            assert_eq!(
                sum,
                (day.total.nctr, day.total.discharged, day.total.remaining)
            );
            seen = (
                seen.0 + day.total.nctr,
                seen.1 + day.total.discharged,
                seen.2 + day.total.remaining,
            );
        }
        for r in p.rows.iter().chain(std::iter::once(&p.total)) {
            assert_eq!(r.nctr, r.discharged + r.remaining);
        }
        assert!(p.total.nctr > 0, "{kind:?} has patients");
    }
    assert!(seen.1 > 0 && seen.2 > 0, "{seen:?}");
    // the demo's coded fields are there: unknown NHS numbers, children, coded endings
    let count = |sql: &'static str| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert!(count("SELECT count(*) FROM patients WHERE nhs_number_status = 'unknown'").await >= 3);
    assert!(count("SELECT count(*) FROM patients WHERE date_of_birth > '2008-01-01'").await >= 2);
    assert_eq!(
        count("SELECT count(*) FROM patients WHERE status = 'discharged' AND discharge_destination IS NULL AND discharge_method <> '4'").await,
        0
    );
    assert_eq!(
        count("SELECT count(*) FROM patients WHERE status = 'cancelled' AND cancel_reason_code IS NULL").await,
        0
    );
    assert!(count("SELECT count(*) FROM patients WHERE trust_code = 'RYE'").await >= 8);
}
