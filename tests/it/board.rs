//! The board round, the 24-hour standard and notifications.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;

/// Flags a case ready at `ready`, on `pathway` if given; returns its id.
async fn case(app: &TestApp, nhs: &str, family: &str, ready: &str, pathway: Option<i64>) -> i64 {
    let mut body = patient(nhs);
    body["family_name"] = json!(family);
    body["discharge_ready_at"] = json!(ready);
    let id = app.flag_id("ward", body).await;
    if let Some(p) = pathway {
        app.choose_pathway(id, p).await;
    }
    id
}

#[tokio::test]
async fn the_board_shows_escalations_missing_reasons_and_the_24_hour_standard() {
    let app = TestApp::spawn().await;
    // now: Sunday 22 November 10:00
    let escalated = case(&app, NHS[0], "Escalated", "2026-11-20T14:00:00Z", Some(2)).await;
    case(&app, NHS[1], "Noreason", "2026-11-20T15:00:00Z", None).await;
    let quick = case(&app, NHS[2], "Quick", "2026-11-22T02:00:00Z", Some(1)).await;
    let slow = case(&app, NHS[3], "Slow", "2026-11-19T09:00:00Z", Some(2)).await;
    let ward = app.api("ward").await;
    ward.post_expect(
        &format!("/api/v1/patients/{quick}/discharge"),
        json!({"discharged_at": "2026-11-22T09:00:00Z"}),
        StatusCode::OK,
    )
    .await;
    ward.post_expect(
        &format!("/api/v1/patients/{slow}/discharge"),
        json!({"discharged_at": "2026-11-22T08:00:00Z"}),
        StatusCode::OK,
    )
    .await;
    let mut other = patient(NHS[4]);
    other["ward_code"] = json!("RXX-W01");
    other["family_name"] = json!("Othertrust");
    app.flag("ward2", other).await;

    let hub = app.browser("hub").await;
    let page = hub.page("/board").await;
    // 1 of the 2 pathway 1-3 discharges today left within 24 hours of being ready
    assert_eq!(page.text(".hw-today"), "50% (1 of 2)");
    assert_eq!(page.text(".hw-week"), "50% (1 of 2)");
    let esc = page.texts(".hw-board-escalated tbody tr");
    assert_eq!(esc.len(), 1, "{esc:?}");
    assert!(esc[0].contains("ESCALATED"));
    let no_reason = page.text(".hw-board-no-reason");
    assert!(
        no_reason.contains("NOREASON")
            && no_reason.contains("ESCALATED")
            && no_reason.contains("OTHERTRUST")
    );
    assert!(page.text(".hw-board-wards .hw-total").contains("Total"));
    assert!(page.count(".hw-board-capacity tbody tr") == 12);
    // one trust only
    let page = hub.page("/board?trust=RXX").await;
    assert!(!page.text("main").contains("ESCALATED"));
    assert!(page.text(".hw-board-no-reason").contains("OTHERTRUST"));

    // a ward sees its own trust, without the capacity panel
    let page = app.browser("ward2").await.page("/board").await;
    assert!(page.text("main").contains("OTHERTRUST"));
    assert!(!page.text("main").contains("NOREASON"));
    assert_eq!(page.count(".hw-board-capacity"), 0);
    assert_eq!(
        app.browser("provider").await.get("/board").await.status(),
        StatusCode::FORBIDDEN
    );

    // the worklist lists the escalated on their own
    let page = hub.page("/hub?escalated=1").await;
    let rows = page.texts(".hw-worklist tbody tr");
    assert_eq!(rows.len(), 1);
    assert!(rows[0].contains("Escalated"));
    let _ = escalated;
}

#[tokio::test]
async fn notifications_tell_each_role_what_is_new() {
    let app = TestApp::spawn().await;
    let id = case(&app, NHS[0], "Lovelace", "2026-11-21T09:00:00Z", Some(3)).await;
    let o = app.post_offer("provider", offer(2)).await;
    let count = |page: &Html| {
        let shown = page.text(".hw-notice-count");
        let n = shown.split_whitespace().next().unwrap_or("0");
        n.parse::<i64>()
            .unwrap_or_else(|e| panic!("notice count {shown:?}: {e}"))
    };

    let provider = app.browser("provider").await;
    assert_eq!(count(&provider.page("/provider").await), 0);
    let r = app.refer(id, id_of(&o)).await;
    assert_eq!(count(&provider.page("/provider").await), 1);
    let page = provider.page("/notifications").await;
    assert!(
        page.text(".hw-notices-list")
            .contains("Residential care home bed")
    );
    // seen: the count is cleared
    assert_eq!(count(&provider.page("/provider").await), 0);

    // five hours later the referral is overdue for the hub
    app.clock.set(utc("2026-11-22T15:00:00Z"));
    let hub = app.browser("hub").await;
    assert_eq!(count(&hub.page("/hub").await), 1);
    let page = hub.page("/notifications").await;
    assert!(page.text(".hw-overdue-referrals").contains("Meadowbank"));

    // the provider accepts: the hub hears the decision, the ward hears care is arranged
    let ward = app.browser("ward").await;
    assert_eq!(count(&ward.page("/ward").await), 0);
    app.clock.set(utc("2026-11-22T15:01:00Z"));
    app.decide("provider", id_of(&r), "accept").await;
    assert_eq!(
        count(&hub.page("/hub").await),
        1,
        "the decision, and no longer overdue"
    );
    assert_eq!(count(&ward.page("/ward").await), 1);
    assert!(
        ward.page("/notifications")
            .await
            .text(".hw-notices-list")
            .contains("Meadowbank")
    );
    // another trust's ward hears nothing
    assert_eq!(count(&app.browser("ward2").await.page("/ward").await), 0);
}
