//! Pages with more than one page (issue 14, "the same rules on pages"): the hub's passed
//! choice deadlines (and their API list), the notifications and the service directory show
//! a page at a time with a link to the next, in a stable order, every row exactly once, and
//! say how many there are in all. A cursor a page did not give out shows the first page.

use crate::common::*;
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::json;

/// Follows a page's "Next"/"Older" link (`.nhsuk-pagination__link`) from `path` to the
/// end; the texts of `row` on each page.
async fn every_page(b: &Browser, path: &str, row: &str) -> Vec<Vec<String>> {
    let mut pages = vec![];
    let mut url = path.to_string();
    for _ in 0..100 {
        let page = b.page(&url).await;
        pages.push(page.texts(row));
        match page.attr(".nhsuk-pagination__link", "href") {
            Some(next) => url = next,
            None => return pages,
        }
    }
    panic!("{path}: the pages never ended");
}

#[tokio::test]
async fn passed_choice_deadlines_page_in_order_on_the_page_and_in_the_api() {
    let app = TestApp::spawn().await;
    let start = app.clock.now();
    // 103 letters over three days: three deadlines, many cases on each (ties by case)
    let mut cases = vec![];
    for day in 0..3 {
        app.clock.set(start + Duration::days(day));
        let hub = app.api("hub").await;
        for i in (0..103).filter(|i| i % 3 == day) {
            let id = app.flag_id("ward", patient(&valid_nhs(i as usize))).await;
            hub.post_expect(
                &format!("/api/v1/patients/{id}/choice"),
                json!({"stage": "letter", "options": ["Meadowbank residential, LS9"]}),
                StatusCode::OK,
            )
            .await;
            cases.push((day, id));
        }
    }
    // most overdue first: by deadline, then case
    cases.sort();
    let expected: Vec<i64> = cases.iter().map(|c| c.1).collect();
    app.clock.set(start + Duration::days(12));
    let hub = app.api("hub").await;

    // the API, 7 at a time
    let mut seen = vec![];
    let mut url = "/api/v1/choice/overdue?limit=7".to_string();
    loop {
        let page = hub.get_json(&url).await;
        assert_eq!(page["total"], 103, "{url}");
        let items = items(&page);
        assert!(items.len() <= 7);
        seen.extend(items.iter().map(|v| v["patient_id"].as_i64().unwrap()));
        match page["next"].as_str() {
            Some(next) => url = format!("/api/v1/choice/overdue?limit=7&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, expected, "pages of 7 are the list in order");
    for bad in [
        "limit=501",
        "limit=0",
        "cursor=zz",
        "cursor=6e6f7465733a312e32",
    ] {
        let res = hub.get(&format!("/api/v1/choice/overdue?{bad}")).await;
        let body = expect_json(res, StatusCode::UNPROCESSABLE_ENTITY, bad).await;
        let field = bad.split('=').next().unwrap();
        assert!(body["error"]["fields"][field].is_string(), "{bad}: {body}");
    }
    // the page, 100 at a time, then the rest
    let b = app.browser("hub").await;
    let first = b.page("/hub/choice").await;
    assert!(
        first.text("main").contains("103 in all"),
        "{}",
        first.text("main")
    );
    let pages = every_page(&b, "/hub/choice", ".hw-overdue tbody tr").await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [100, 3]);
    let later = first.attr(".nhsuk-pagination__link", "href").unwrap();
    let second = b.page(&later).await;
    assert!(second.text("main").contains("Back to the most overdue"));
    let links: Vec<i64> = [first, second]
        .iter()
        .flat_map(|p| p.attrs(".hw-overdue tbody a", "href"))
        .map(|h| {
            h.trim_start_matches("/patients/")
                .trim_end_matches("/choice")
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(
        links, expected,
        "the pages are the list in order, each once"
    );
    // a cursor edited by hand to a time PostgreSQL cannot hold: no cursor (422 in the API,
    // the first page on pages), never a 500
    let hex = |t: &str| t.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    let far = hex("choice-overdue:-1000000000000000000.5");
    let res = hub
        .get(&format!("/api/v1/choice/overdue?cursor={far}"))
        .await;
    let body = expect_json(res, StatusCode::UNPROCESSABLE_ENTITY, "far cursor").await;
    assert!(body["error"]["fields"]["cursor"].is_string(), "{body}");
    for path in [
        format!("/hub/choice?after={far}"),
        format!(
            "/notifications?before={}",
            hex("notices:-1000000000000000000.5")
        ),
        format!(
            "/notifications?overdue_after={}",
            hex("notices-overdue:253402300800000000.1")
        ),
        format!(
            "/directory?after={}.{}.{}.5",
            hex("directory-page"),
            hex("a\0"),
            hex("x")
        ),
        format!("/hub?after={}", hex("w-1000000000000000000.5")),
    ] {
        assert_eq!(b.get(&path).await.status(), StatusCode::OK, "{path}");
    }
    // a cursor the page did not give out: the first page
    assert_eq!(
        b.page("/hub/choice?after=nonsense")
            .await
            .count(".hw-overdue tbody tr"),
        100
    );
}

#[tokio::test]
async fn notifications_page_both_lists_and_each_role_sees_its_own() {
    let app = TestApp::spawn().await;
    let start = app.clock.now();
    let offer = id_of(&app.post_offer("provider", offer_at(60, start)).await);
    let mut referrals = vec![];
    for i in 0..104 {
        let case = app.awaiting_care(&valid_nhs(i), 3).await;
        referrals.push(id_of(&app.refer(case, offer).await));
    }
    // five hours on: every referral is unanswered beyond four hours; the provider then
    // declines 52 of them
    app.clock.set(start + Duration::hours(5));
    let provider = app.api("provider").await;
    for r in &referrals[..52] {
        provider
            .post_expect(
                &format!("/api/v1/referrals/{r}/decision"),
                json!({"decision": "decline", "reason": "no_capacity"}),
                StatusCode::OK,
            )
            .await;
    }
    let hub = app.browser("hub").await;
    let first = hub.page("/notifications").await;
    assert!(
        first.text("h2").contains("(52)"),
        "52 unanswered in all: {}",
        first.text("h2")
    );
    let overdue = every_page(&hub, "/notifications", ".hw-overdue-referrals li").await;
    assert_eq!(
        overdue.iter().map(Vec::len).collect::<Vec<_>>(),
        [50, 2],
        "the unanswered: 50, then the rest"
    );
    // the decisions, newest first, through their own "Older" link
    let older = first
        .attrs(".nhsuk-pagination__link", "href")
        .into_iter()
        .find(|h| h.contains("before="))
        .expect("an older page of decisions");
    assert_eq!(first.count(".hw-notices-list li"), 50);
    let second = hub.page(&older).await;
    assert_eq!(second.count(".hw-notices-list li"), 2);
    assert_eq!(
        second.count(".hw-overdue-referrals li"),
        0,
        "one list a page"
    );
    assert!(
        second
            .text("main")
            .contains("Back to the newest notifications")
    );
    // the provider's new referrals: 104 in the last week, 50 a page
    let provider = app.browser("provider").await;
    let pages = every_page(&provider, "/notifications", ".hw-notices-list li").await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [50, 50, 4]);
}

#[tokio::test]
async fn the_directory_pages_from_a_to_z_keeping_the_search() {
    let app = TestApp::spawn().await;
    let provider = app.api("provider").await;
    for i in 0..53 {
        provider
            .post_expect(
                "/api/v1/directory",
                json!({"name": format!("Home {i:02}"), "service_types": ["residential"], "contact": "0113 000 0000"}),
                StatusCode::CREATED,
            )
            .await;
    }
    provider
        .post_expect(
            "/api/v1/directory",
            json!({"name": "Night sitting", "service_types": ["home_care"], "contact": "0113 000 0001"}),
            StatusCode::CREATED,
        )
        .await;
    let ward = app.browser("ward").await;
    let path = "/directory?q=home&service_type=residential&district=";
    let first = ward.page(path).await;
    assert!(
        first.text(".hw-directory-total").starts_with("53 services"),
        "{}",
        first.text(".hw-directory-total")
    );
    let pages = every_page(&ward, path, ".hw-service h2").await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [50, 3]);
    let names: Vec<String> = pages.concat();
    let expected: Vec<String> = (0..53).map(|i| format!("Home {i:02}")).collect();
    assert_eq!(names, expected, "A to Z, each once, the search kept");
    let next = first.attr(".nhsuk-pagination__link", "href").unwrap();
    assert!(next.contains("q=home") && next.contains("service_type=residential"));
    assert!(
        ward.page(&next)
            .await
            .text("main")
            .contains("Back to the first page")
    );
}
