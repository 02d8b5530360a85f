//! The daily sitrep, checked against a hand count of a small fixed history: a patient who
//! deteriorates and becomes ready again, discharges just before and just after midnight,
//! other exits, and a day with a clock change.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Story<'a> {
    app: &'a TestApp,
}

impl Story<'_> {
    /// At time `t`, `user` flags a patient on `ward`, admitted at `admitted` and ready at
    /// `ready` (or meeting the criteria); returns the case's id.
    async fn flag(
        &self,
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
        self.app.clock.set(utc(t));
        self.app.flag_id(user, body).await
    }

    /// At time `t`, `user` posts `body` to case `id`'s `action`, which must succeed.
    async fn post(&self, t: &str, user: &str, id: i64, action: &str, body: Value) {
        self.app
            .api_at(t, user)
            .await
            .post_expect(
                &format!("/api/v1/patients/{id}/{action}"),
                body,
                StatusCode::OK,
            )
            .await;
    }
}

fn row<'a>(sitrep: &'a Value, org: &str) -> &'a Value {
    sitrep["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["org_code"] == org))
        .unwrap_or_else(|| panic!("no row for {org} in {sitrep}"))
}

#[tokio::test]
async fn the_sitrep_for_a_past_day_matches_a_hand_count() {
    let app = TestApp::spawn().await;
    let s = Story { app: &app };
    // P1 (RHW): ready 18 Nov, reason p2_bed, still waiting on the 20th
    let p1 = s
        .flag(
            "2026-11-18T10:05:00Z",
            "ward",
            NHS[0],
            "RHW-AMU",
            "2026-11-10T08:00:00Z",
            Some("2026-11-18T10:00:00Z"),
        )
        .await;
    s.post(
        "2026-11-18T11:00:00Z",
        "ward",
        p1,
        "delay-reason",
        json!({"code": "p2_bed"}),
    )
    .await;
    // P2 (RHW): ready 20 Nov 08:00, pathway 1, discharged 23:30 on the 20th (just before midnight)
    let p2 = s
        .flag(
            "2026-11-20T08:05:00Z",
            "ward",
            NHS[1],
            "RHW-W10",
            "2026-11-17T08:00:00Z",
            Some("2026-11-20T08:00:00Z"),
        )
        .await;
    s.post(
        "2026-11-20T09:00:00Z",
        "hub",
        p2,
        "pathway",
        json!({"pathway": 1}),
    )
    .await;
    s.post(
        "2026-11-20T23:31:00Z",
        "ward",
        p2,
        "discharge",
        json!({"discharged_at": "2026-11-20T23:30:00Z"}),
    )
    .await;
    // P3 (RHW): ready 19 Nov, no reason, discharged 00:10 on the 21st (just after midnight)
    let p3 = s
        .flag(
            "2026-11-19T09:05:00Z",
            "ward",
            NHS[2],
            "RHW-AMU",
            "2026-11-15T08:00:00Z",
            Some("2026-11-19T09:00:00Z"),
        )
        .await;
    s.post(
        "2026-11-21T00:11:00Z",
        "ward",
        p3,
        "discharge",
        json!({"discharged_at": "2026-11-21T00:10:00Z"}),
    )
    .await;
    // P4 (RHW): ready 19 Nov with a reason, deteriorates 20 Nov 11:00, ready again 18:00
    let p4 = s
        .flag(
            "2026-11-19T12:05:00Z",
            "ward",
            NHS[3],
            "RHW-W10",
            "2026-11-01T08:00:00Z",
            Some("2026-11-19T12:00:00Z"),
        )
        .await;
    s.post(
        "2026-11-19T13:00:00Z",
        "ward",
        p4,
        "delay-reason",
        json!({"code": "medical_decision"}),
    )
    .await;
    s.post(
        "2026-11-20T11:05:00Z",
        "ward",
        p4,
        "criteria",
        json!({"meets_criteria": true, "at": "2026-11-20T11:00:00Z", "ctr_code": "04"}),
    )
    .await;
    s.post(
        "2026-11-20T18:05:00Z",
        "ward",
        p4,
        "criteria",
        json!({"meets_criteria": false, "at": "2026-11-20T18:00:00Z"}),
    )
    .await;
    // P5 (RXX): ready 20 Nov 09:00, meets the criteria again at 15:00 and stays
    let p5 = s
        .flag(
            "2026-11-20T09:05:00Z",
            "ward2",
            NHS[4],
            "RXX-W01",
            "2026-11-18T08:00:00Z",
            Some("2026-11-20T09:00:00Z"),
        )
        .await;
    s.post(
        "2026-11-20T15:05:00Z",
        "ward2",
        p5,
        "criteria",
        json!({"meets_criteria": true, "at": "2026-11-20T15:00:00Z"}),
    )
    .await;
    // P6 (RXX): ready 17 Nov, case cancelled at noon on the 20th
    let p6 = s
        .flag(
            "2026-11-17T10:05:00Z",
            "ward2",
            NHS[5],
            "RXX-W01",
            "2026-11-12T08:00:00Z",
            Some("2026-11-17T10:00:00Z"),
        )
        .await;
    s.post(
        "2026-11-20T12:00:00Z",
        "hub",
        p6,
        "cancel",
        json!({"reason": "Transferred to another trust"}),
    )
    .await;
    // P7 (RHW): meets the criteria throughout; P8 (RHW): ready only on the 21st
    let nhs7 = homeward::domain::NhsNumber::from_prefix([9, 9, 9, 0, 0, 0, 0, 0, 7]).unwrap();
    let nhs8 = homeward::domain::NhsNumber::from_prefix([9, 9, 9, 0, 0, 0, 0, 0, 8]).unwrap();
    s.flag(
        "2026-11-19T08:00:00Z",
        "ward",
        nhs7.as_str(),
        "RHW-AMU",
        "2026-11-18T08:00:00Z",
        None,
    )
    .await;
    s.flag(
        "2026-11-21T09:05:00Z",
        "ward",
        nhs8.as_str(),
        "RHW-AMU",
        "2026-11-18T08:00:00Z",
        Some("2026-11-21T09:00:00Z"),
    )
    .await;

    // now, on the 22nd, ask about the 20th
    let hub = app.api_at("2026-11-22T10:00:00Z", "hub").await;
    let rep = hub.get_json("/api/v1/reports/sitrep?date=2026-11-20").await;
    assert_eq!(rep["date"], "2026-11-20");
    let rhw = row(&rep, "RHW");
    assert_eq!(rhw["nctr"], 4, "{rhw}");
    assert_eq!(rhw["discharged"], 1);
    assert_eq!(
        rhw["discharged_by_pathway"],
        json!({"0": 0, "1": 1, "2": 0, "3": 0})
    );
    assert_eq!(rhw["remaining"], 3);
    assert_eq!(rhw["other_exits"], 0);
    assert_eq!(rhw["remaining_by_reason"]["p2_bed"], 1);
    assert_eq!(rhw["remaining_by_reason"]["none"], 2);
    assert_eq!(
        rhw["remaining_by_reason"]["medical_decision"], 0,
        "P4's reason was cleared when it deteriorated"
    );
    assert_eq!(
        rhw["remaining_by_reason"].as_object().map(|r| r.len()),
        Some(21),
        "every code, zeros included"
    );
    assert_eq!(
        rhw["remaining_by_delay_band"],
        json!({"0": 1, "1": 1, "2-3": 1, "4-6": 0, "7-13": 0, "14-20": 0, "21+": 0})
    );
    assert_eq!(
        rhw["remaining_by_los_band"],
        json!({"0-6": 1, "7-13": 1, "14-20": 1, "21+": 0})
    );
    let rxx = row(&rep, "RXX");
    assert_eq!(
        (
            rxx["nctr"].as_i64(),
            rxx["other_exits"].as_i64(),
            rxx["remaining"].as_i64()
        ),
        (Some(2), Some(2), Some(0))
    );
    let total = &rep["total"];
    assert!(total.get("org_code").is_none());
    assert_eq!(
        (
            total["nctr"].as_i64(),
            total["discharged"].as_i64(),
            total["remaining"].as_i64(),
            total["other_exits"].as_i64()
        ),
        (Some(6), Some(1), Some(3), Some(2))
    );

    // the 21st: P3 leaves just after midnight, P8 becomes ready
    let rep = hub.get_json("/api/v1/reports/sitrep?date=2026-11-21").await;
    let rhw = row(&rep, "RHW");
    assert_eq!(rhw["discharged"], 1);
    assert_eq!(
        rhw["discharged_by_pathway"]["0"], 1,
        "a discharge with no pathway counts as pathway 0"
    );
    assert_eq!(rhw["nctr"], 4);
    assert_eq!(rhw["remaining"], 3);

    // CSV: a header, one line per trust, a total line
    let res = hub
        .get("/api/v1/reports/sitrep?date=2026-11-20&format=csv")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(content_type(&res).starts_with("text/csv"));
    let text = text_of(res).await;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("date,org_code,nctr,discharged,other_exits,discharged_pathway_0"));
    assert!(
        lines[1].starts_with("2026-11-20,RHW,4,1,0,0,1,0,0,3,"),
        "{}",
        lines[1]
    );
    assert!(
        lines[3].starts_with("2026-11-20,TOTAL,6,1,2,"),
        "{}",
        lines[3]
    );

    // the page shows the same numbers
    let page = app
        .browser("hub")
        .await
        .page("/reports/sitrep?date=2026-11-20")
        .await;
    let rows = page.texts(".hw-sitrep tbody tr");
    assert_eq!(rows[0], "RHW 4 1 0 1 0 0 0 3");
    assert_eq!(rows[2], "Total 6 1 0 1 0 0 2 3");
}

#[tokio::test]
async fn the_sitrep_refuses_future_and_malformed_dates_and_other_roles() {
    let app = TestApp::spawn().await;
    let hub = app.api("hub").await;
    for bad in [
        "date=2026-11-23",
        "date=2026-13-01",
        "date=today",
        "format=pdf",
    ] {
        let res = hub.get(&format!("/api/v1/reports/sitrep?{bad}")).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    // today so far, with every trust present and zeros included
    let rep = hub.get_json("/api/v1/reports/sitrep").await;
    assert_eq!(rep["date"], "2026-11-22");
    assert_eq!(rep["rows"].as_array().map(Vec::len), Some(2), "{rep}");
    assert_eq!(rep["total"]["nctr"], 0);
    assert_eq!(
        app.api("admin")
            .await
            .get("/api/v1/reports/sitrep?date=2026-11-20")
            .await
            .status(),
        StatusCode::OK
    );
    for user in ["ward", "provider"] {
        assert_eq!(
            app.api(user)
                .await
                .get("/api/v1/reports/sitrep")
                .await
                .status(),
            StatusCode::FORBIDDEN,
            "{user}"
        );
    }
    let res = app
        .browser("hub")
        .await
        .get("/reports/sitrep?date=2027-01-01")
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        Html::from(res)
            .await
            .text(".nhsuk-error-summary")
            .contains("future")
    );
}

#[tokio::test]
async fn days_follow_the_clock_in_england_across_the_autumn_change() {
    let app = TestApp::spawn().await;
    let s = Story { app: &app };
    // 00:30 BST on Sunday 25 October is 23:30 UTC on the 24th: ready on the 25th in England
    s.flag(
        "2026-10-24T23:35:00Z",
        "ward",
        NHS[0],
        "RHW-AMU",
        "2026-10-20T08:00:00Z",
        Some("2026-10-24T23:30:00Z"),
    )
    .await;
    let hub = app.api_at("2026-11-22T10:00:00Z", "hub").await;
    assert_eq!(
        row(
            &hub.get_json("/api/v1/reports/sitrep?date=2026-10-24").await,
            "RHW"
        )["nctr"],
        0
    );
    let rep = hub.get_json("/api/v1/reports/sitrep?date=2026-10-25").await;
    assert_eq!(row(&rep, "RHW")["remaining_by_delay_band"]["0"], 1);
    let rep = hub.get_json("/api/v1/reports/sitrep?date=2026-10-26").await;
    assert_eq!(row(&rep, "RHW")["remaining_by_delay_band"]["1"], 1);
}
