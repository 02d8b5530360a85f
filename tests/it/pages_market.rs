//! The capacity market in the browser: a provider posts a bed, the hub finds care and
//! refers, providers answer, identities appear only after acceptance, and the access log
//! records who looked.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;

/// A case awaiting care on pathway 3 for a patient called `family`; returns its id.
async fn awaiting_care(app: &TestApp, nhs: &str, family: &str) -> i64 {
    let mut body = patient(nhs);
    body["family_name"] = json!(family);
    let id = app.flag_id("ward", body).await;
    app.choose_pathway(id, 3).await;
    id
}

#[tokio::test]
async fn a_provider_posts_confirms_and_withdraws_an_offer() {
    let app = TestApp::spawn().await;
    let b = app.browser("provider").await;
    let form = b.page("/provider/offers/new").await;
    assert!(form.count("#service_type option") > 10);
    let res = b
        .post_form(
            "/provider/offers",
            &[
                ("service_type", ""),
                ("places", "0"),
                ("available_until", "2026-11-29"),
            ],
        )
        .await;
    let page = expect_page(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(page.count("#service_type-error"), 1);
    assert_eq!(page.count("#places-error"), 1);
    assert_eq!(page.attr("#places", "value").as_deref(), Some("0"));
    let res = b
        .post_form(
            "/provider/offers",
            &[
                ("service_type", "nursing_dementia"),
                ("places", "2"),
                ("available_from", "2026-11-22"),
                ("available_until", "2026-11-29"),
                ("area", "LS9, LS14"),
                ("gender", "any"),
                ("specialisms", "dementia"),
                ("specialisms", "oxygen"),
                ("funding", "chc"),
            ],
        )
        .await;
    assert_eq!(location(&res), "/provider/offers");
    let page = b.page("/provider/offers").await;
    let rows = page.texts(".hw-offers tbody tr");
    assert_eq!(rows.len(), 1);
    assert!(rows[0].contains("2 of 2 beds"), "{rows:?}");
    // it ends at the end of the day given, and the edit form shows that day
    assert!(rows[0].contains("29 Nov 2026 23:59"), "{rows:?}");
    let offer_id = app.count("SELECT id FROM capacity_offers").await;
    let edit = b.page(&format!("/provider/offers/{offer_id}/edit")).await;
    assert_eq!(
        edit.attr("#available_until", "value").as_deref(),
        Some("2026-11-29")
    );
    let (specialisms, funding): (Vec<String>, Vec<String>) =
        sqlx::query_as("SELECT specialisms, funding FROM capacity_offers")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(specialisms, vec!["dementia", "oxygen"]);
    assert_eq!(funding, vec!["chc"]);
    // a day later it is stale until confirmed
    app.clock.set(utc("2026-11-23T11:00:00Z"));
    let b = app.browser("provider").await;
    assert!(
        b.page("/provider/offers")
            .await
            .text(".hw-offers")
            .contains("Stale")
    );
    let id = app.count("SELECT id FROM capacity_offers").await;
    let res = b
        .post_form(&format!("/provider/offers/{id}/confirm"), &[])
        .await;
    assert_eq!(location(&res), "/provider/offers");
    assert!(
        !b.page("/provider/offers")
            .await
            .text(".hw-offers")
            .contains("Stale")
    );
    // another provider cannot touch it
    let other = app.browser("provider2").await;
    assert_eq!(
        other
            .post_form(&format!("/provider/offers/{id}/withdraw"), &[])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert!(
        other
            .page("/provider/offers")
            .await
            .count(".hw-offers tbody tr")
            == 0
    );
    b.post_form(&format!("/provider/offers/{id}/withdraw"), &[])
        .await;
    assert!(
        b.page("/provider/offers")
            .await
            .text(".hw-offers")
            .contains("withdrawn")
    );
}

#[tokio::test]
async fn the_hub_finds_care_refers_and_providers_answer() {
    let app = TestApp::spawn().await;
    let a = awaiting_care(&app, NHS[0], "Lovelace").await;
    let b = awaiting_care(&app, NHS[1], "Babbage").await;
    // PRV2 covers elsewhere; PRV1 covers the patients' LS9
    let mut far = offer(3);
    far["area"] = json!("LS1");
    app.post_offer("provider2", far).await;
    app.post_offer("provider", offer(1)).await;

    let hub = app.browser("hub").await;
    let case = hub.page(&format!("/patients/{a}")).await;
    assert_eq!(
        case.attr(".nhsuk-button[href$='/find-care']", "href"),
        Some(format!("/patients/{a}/find-care"))
    );
    let page = hub.page(&format!("/patients/{a}/find-care")).await;
    let candidates = page.texts(".hw-candidate");
    assert_eq!(candidates.len(), 2);
    assert!(
        candidates[0].contains("Meadowbank") && candidates[0].contains("Covers LS9"),
        "{candidates:?}"
    );
    assert!(candidates[1].contains("Does not list LS9"));
    // nothing ticked
    let res = hub
        .post_form(&format!("/patients/{a}/referrals"), &[])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        Html::from(res)
            .await
            .text(".nhsuk-error-summary")
            .contains("Select at least one offer")
    );
    // refer A to both, B to PRV1
    let offers: Vec<(i64,)> = sqlx::query_as("SELECT id FROM capacity_offers ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    let (o2, o1) = (offers[0].0.to_string(), offers[1].0.to_string());
    let res = hub
        .post_form(
            &format!("/patients/{a}/referrals"),
            &[("offer_id", &o1), ("offer_id", &o2)],
        )
        .await;
    assert_eq!(location(&res), format!("/patients/{a}"));
    let res = hub
        .post_form(&format!("/patients/{b}/referrals"), &[("offer_id", &o1)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let case = hub.page(&format!("/patients/{a}")).await;
    assert_eq!(case.texts(".hw-referrals tbody tr").len(), 2);
    assert!(case.text(".hw-flash").contains("Referred to"));

    // PRV1 sees two anonymised referrals: no names, no NHS numbers
    let provider = app.browser("provider").await;
    let page = provider.page("/provider").await;
    assert_eq!(page.count(".hw-referral"), 2);
    let main = page.text("main");
    assert!(
        !main.contains("LOVELACE") && !main.contains("BABBAGE") && !main.contains("943 476 5919"),
        "{main}"
    );
    assert!(main.contains("85 year old female, LS9"));
    // PRV2 sees only its own one
    let provider2 = app.browser("provider2").await;
    assert_eq!(provider2.page("/provider").await.count(".hw-referral"), 1);
    let (ra, rb): (i64, i64) = (
        app.count(&format!(
            "SELECT id FROM referrals WHERE patient_id = {a} AND org_code = 'PRV1'"
        ))
        .await,
        app.count(&format!("SELECT id FROM referrals WHERE patient_id = {b}"))
            .await,
    );
    // PRV2 cannot answer PRV1's referral by typing the address
    assert_eq!(
        provider2
            .post_form(&format!("/provider/referrals/{ra}/accept"), &[])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // a decline without a reason: the message is beside that card's reason, what was typed
    // is kept, and nothing changed
    let res = provider
        .post_form(
            &format!("/provider/referrals/{rb}/decline"),
            &[("reason", ""), ("detail", "Needs nursing")],
        )
        .await;
    let page = expect_page(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(page.count(&format!("#reason-{rb}-error")), 1);
    assert_eq!(
        page.attr(".nhsuk-error-summary a", "href").as_deref(),
        Some(format!("#reason-{rb}").as_str())
    );
    assert_eq!(
        page.attr(&format!("#detail-{rb}"), "value").as_deref(),
        Some("Needs nursing")
    );
    assert_eq!(page.count(&format!("#referral-{rb} details[open]")), 1);
    assert_eq!(page.count(".hw-referral"), 2);

    // PRV1 accepts A, saying when it will admit and whom to call, and declines B with a
    // reason
    let res = provider
        .post_form(
            &format!("/provider/referrals/{ra}/accept"),
            &[("admission_date", "not a date"), ("contact", "")],
        )
        .await;
    let page = expect_page(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(page.count(&format!("#admission_date-{ra}-error")), 1);
    let res = provider
        .post_form(
            &format!("/provider/referrals/{ra}/accept"),
            &[
                ("admission_date", "2026-11-24"),
                ("contact", "Jo Bloggs, 0113 496 0000"),
            ],
        )
        .await;
    assert_eq!(location(&res), "/provider");
    let res = provider
        .post_form(
            &format!("/provider/referrals/{rb}/decline"),
            &[("reason", "needs_too_high"), ("detail", "Needs nursing")],
        )
        .await;
    assert_eq!(location(&res), "/provider");
    let page = provider.page("/provider").await;
    assert_eq!(page.count(".hw-referral"), 0);
    // the accepted patient is at the top with what admitting needs
    let accepted = page.text(".hw-accepted");
    assert!(
        accepted.contains("LOVELACE, Ada")
            && accepted.contains("943 476 5919")
            && accepted.contains("Planned for 24 Nov 2026")
            && accepted.contains("Jo Bloggs, 0113 496 0000")
            && accepted.contains("Acute Medical Unit"),
        "{accepted}"
    );
    let answered = page.texts(".hw-decided tbody tr");
    assert_eq!(answered.len(), 1);
    let declined = answered
        .iter()
        .find(|r| r.contains("declined"))
        .unwrap_or_else(|| panic!("none declined: {answered:?}"));
    assert!(!declined.contains("BABBAGE"));

    // the hub sees the answers; A's other referral was withdrawn
    let case = hub.page(&format!("/patients/{a}")).await;
    let rows = case.texts(".hw-referrals tbody tr");
    assert!(
        rows.iter()
            .any(|r| r.contains("Meadowbank") && r.contains("accepted")),
        "{rows:?}"
    );
    assert!(rows.iter().any(|r| r.contains("withdrawn")), "{rows:?}");
    assert!(case.text(".nhsuk-tag").contains("Care arranged"));
    let case_b = hub.page(&format!("/patients/{b}")).await;
    assert!(
        case_b
            .text(".hw-referrals")
            .contains("Needs too high for the service: Needs nursing")
    );

    // the hub plans the date, the ward records the discharge
    let v = app.form_version(a).await;
    let res = hub
        .post_form(
            &format!("/patients/{a}/plan-discharge"),
            &[("version", &v), ("planned_for", "2026-11-23")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let v = app.form_version(a).await;
    let ward = app.browser("ward").await;
    let res = ward
        .post_form(
            &format!("/patients/{a}/discharge"),
            &[
                ("version", &v),
                ("discharged_date", "2026-11-22"),
                ("discharged_time", "09:55"),
                ("destination", "p3_care_home"),
                ("confirmed", "yes"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        ward.page(&format!("/patients/{a}"))
            .await
            .text(".nhsuk-tag")
            .contains("Discharged")
    );
}

#[tokio::test]
async fn the_access_log_answers_who_looked_at_a_patient() {
    let app = TestApp::spawn().await;
    let a = awaiting_care(&app, NHS[0], "Lovelace").await;
    app.browser("hub")
        .await
        .page(&format!("/patients/{a}"))
        .await;
    app.browser("ward").await.page("/ward").await;
    // a provider with an unanswered referral has seen nothing identifiable
    let o = app.post_offer("provider", offer(1)).await;
    app.refer(a, id_of(&o)).await;
    app.browser("provider").await.page("/provider").await;
    assert_eq!(
        app.count("SELECT count(*) FROM access_log WHERE role = 'provider'")
            .await,
        0
    );

    let admin = app.browser("admin").await;
    // the NHS number goes by POST and is kept in the session, never in a URL
    let res = admin
        .post_form("/admin/access", &[("nhs_number", "123")])
        .await;
    assert_eq!(location(&res), "/admin/access");
    let res = admin.get("/admin/access").await;
    assert!(
        expect_page(res, StatusCode::UNPROCESSABLE_ENTITY)
            .await
            .count("#nhs_number-error")
            == 1
    );
    // repeated views minutes apart are one line with a count
    let hub = app.browser("hub").await;
    hub.page(&format!("/patients/{a}")).await;
    hub.page(&format!("/patients/{a}")).await;
    // a refused attempt is recorded: the other trust's ward asks for the case
    let res = app
        .browser("ward2")
        .await
        .get(&format!("/patients/{a}"))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    admin
        .post_form("/admin/access", &[("nhs_number", "943 476 5919")])
        .await;
    let page = admin.page("/admin/access").await;
    let rows = page.texts(".hw-access tbody tr");
    assert!(
        rows.iter()
            .any(|r| r.contains("hub") && r.contains("case page") && r.contains("(3 times)")),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.contains("ward") && r.contains("RHW") && r.contains("ward list")),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.contains("ward2") && r.contains("Refused") && r.contains("case page")),
        "{rows:?}"
    );
    assert!(!rows.iter().any(|r| r.contains("provider")), "{rows:?}");
    // the lookup itself is logged, and the URL never held the NHS number
    assert_eq!(
        app.count("SELECT count(*) FROM access_log WHERE what = 'access log lookup' AND username = 'admin'")
            .await,
        1
    );
    // filter by user and dates; export as CSV
    admin
        .post_form(
            "/admin/access",
            &[
                ("username", "ward2"),
                ("from", "2026-11-22"),
                ("to", "2026-11-22"),
            ],
        )
        .await;
    let page = admin.page("/admin/access").await;
    assert_eq!(page.count(".hw-access tbody tr"), 1);
    let csv = admin.get("/admin/access.csv").await;
    assert_eq!(content_type(&csv), "text/csv; charset=utf-8");
    let csv = text_of(csv).await;
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(
        csv.lines().nth(1).unwrap_or_default().contains("refused"),
        "{csv}"
    );
    admin
        .post_form(
            "/admin/access",
            &[("from", "2026-11-23"), ("to", "2026-11-22")],
        )
        .await;
    let res = admin.get("/admin/access").await;
    assert!(
        expect_page(res, StatusCode::UNPROCESSABLE_ENTITY)
            .await
            .count("#to-error")
            == 1
    );
    // nobody else may read the log, and nobody can rewrite it
    assert_eq!(
        app.browser("hub").await.get("/admin/access").await.status(),
        StatusCode::FORBIDDEN
    );
    let err = sqlx::query("DELETE FROM access_log")
        .execute(&app.pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"));
}

#[tokio::test]
async fn providers_describe_services_and_everyone_can_search_them() {
    let app = TestApp::spawn().await;
    let provider = app.browser("provider").await;
    let res = provider
        .post_form("/directory/mine", &[("name", ""), ("contact", "")])
        .await;
    let page = expect_page(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    for f in ["name", "service_types", "contact"] {
        assert_eq!(page.count(&format!("#{f}-error")), 1, "{f}");
    }
    let res = provider
        .post_form(
            "/directory/mine",
            &[
                ("name", "Meadowbank House"),
                ("service_types", "residential"),
                ("service_types", "residential_dementia"),
                ("area", "LS8, LS9"),
                ("criteria", "Adults over 65 with dementia"),
                ("contact", "0113 496 0101"),
                ("hours", "24 hours"),
            ],
        )
        .await;
    assert_eq!(location(&res), "/directory/mine");
    let id = app.count("SELECT id FROM directory_services").await;
    // another provider cannot edit it
    let other = app.browser("provider2").await;
    assert_eq!(
        other.get(&format!("/directory/mine/{id}")).await.status(),
        StatusCode::NOT_FOUND
    );
    let res = other
        .post_form(
            &format!("/directory/mine/{id}"),
            &[
                ("name", "Hijacked"),
                ("service_types", "home_care"),
                ("contact", "x"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    for user in ["hub", "ward"] {
        let b = app.browser(user).await;
        assert_eq!(
            b.page("/directory?q=dementia").await.count(".hw-service"),
            1,
            "{user}"
        );
        assert_eq!(
            b.page("/directory?service_type=residential_dementia&district=ls9")
                .await
                .count(".hw-service"),
            1
        );
        assert_eq!(
            b.page("/directory?district=LS1").await.count(".hw-service"),
            0
        );
        assert_eq!(
            b.page("/directory?service_type=nursing")
                .await
                .count(".hw-service"),
            0
        );
        // characters that mean something to LIKE are just characters
        assert_eq!(b.page("/directory?q=%25").await.count(".hw-service"), 0);
    }
    let api = app.api("hub").await;
    let found = api.get_json("/api/v1/directory?q=meadowbank").await;
    assert_eq!(found["items"][0]["name"], "Meadowbank House");
    api.post_expect(
        "/api/v1/directory",
        json!({"name": "x", "service_types": ["home_care"], "contact": "y"}),
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn directory_search_ignores_accents_apostrophes_and_hyphens() {
    let app = TestApp::spawn().await;
    let provider = app.api("provider").await;
    for (name, criteria) in [
        ("St Columba's Hospice", "End of life care"),
        ("Aldhelm’s House", "Residential, Zoë Wing for dementia"),
        ("Smith-Jones Home Care", "Packages of care at home"),
    ] {
        provider
            .post_expect(
                "/api/v1/directory",
                json!({"name": name, "criteria": criteria, "service_types": ["residential"], "contact": "0113 496 0000"}),
                StatusCode::CREATED,
            )
            .await;
    }
    let b = app.browser("hub").await;
    for (words, finds) in [
        ("Columba’s", "St Columba's Hospice"),
        ("columbas", "St Columba's Hospice"),
        ("ALDHELMS", "Aldhelm’s House"),
        ("aldhelm's", "Aldhelm’s House"),
        ("zoe wing", "Aldhelm’s House"),
        ("smith jones", "Smith-Jones Home Care"),
        ("smithjones", ""),
    ] {
        let page = b
            .page(&format!(
                "/directory?q={}",
                words
                    .replace(' ', "+")
                    .replace('’', "%E2%80%99")
                    .replace('\'', "%27")
            ))
            .await;
        let found = page.texts(".hw-service h2");
        if finds.is_empty() {
            assert!(found.is_empty(), "{words}: {found:?}");
        } else {
            assert_eq!(found.len(), 1, "{words}: {found:?}");
            assert!(found[0].contains(finds), "{words}: {found:?}");
        }
    }
}

#[tokio::test]
async fn an_offer_given_a_plain_end_date_through_the_api_reads_as_that_day_on_the_pages() {
    let app = TestApp::spawn().await;
    let mut api_offer = offer(1);
    api_offer["available_until"] = json!("2026-11-29");
    let o = app.post_offer("provider", api_offer).await;
    // the end of that day: midnight after it
    assert_eq!(o["available_until"], "2026-11-30T00:00:00Z");
    let b = app.browser("provider").await;
    let edit = b
        .page(&format!("/provider/offers/{}/edit", id_of(&o)))
        .await;
    assert_eq!(
        edit.attr("#available_until", "value").as_deref(),
        Some("2026-11-29")
    );
    let rows = b
        .page("/provider/offers")
        .await
        .texts(".hw-offers tbody tr");
    assert!(rows[0].contains("29 Nov 2026 23:59"), "{rows:?}");
}

#[tokio::test]
async fn the_providers_answered_referrals_come_a_page_at_a_time_each_once() {
    let app = TestApp::spawn().await;
    let id = app.awaiting_care(NHS[0], 3).await;
    let o = app.post_offer("provider", offer(1)).await;
    // 120 answered referrals, each answered a minute apart, and one still waiting
    sqlx::query(
        "INSERT INTO referrals (patient_id, offer_id, org_code, status, decline_reason, decided_at, created_at, updated_at) \
         SELECT $1, $2, 'PRV1', 'declined', 'no_capacity', $3 - interval '1 minute' * g, \
                $3 - interval '1 minute' * g - interval '5 minutes', $3 - interval '1 minute' * g \
         FROM generate_series(1, 120) g",
    )
    .bind(id)
    .bind(id_of(&o))
    .bind(default_now() - chrono::Duration::days(1))
    .execute(&app.pool)
    .await
    .expect("answered referrals");
    app.refer(id, id_of(&o)).await;

    let b = app.browser("provider").await;
    let answered_times = |page: &str| -> Vec<String> {
        page.split("Answered </span>")
            .skip(1)
            .map(|s| s.split("</td>").next().unwrap_or_default().to_string())
            .collect()
    };
    let older_link = |page: &str| -> Option<String> {
        page.split("href=\"/provider?before=").nth(1).map(|s| {
            format!(
                "/provider?before={}",
                s.split(['#', '"']).next().unwrap_or_default()
            )
        })
    };
    let mut seen = vec![];
    let mut path = "/provider".to_string();
    let mut pages = 0;
    loop {
        let res = b.get(&path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let page = text_of(res).await;
        pages += 1;
        // the waiting referral is on the first page only
        assert_eq!(
            page.contains("summary-text\">Decline<"),
            pages == 1,
            "page {pages}"
        );
        let times = answered_times(&page);
        assert!(times.len() <= 50, "{}", times.len());
        seen.extend(times);
        match older_link(&page) {
            Some(next) => path = next,
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 120);
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 120, "an answered referral shown twice");
    // a cursor this page did not give out shows the newest page, not an error
    assert_eq!(b.get("/provider?before=zz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_providers_past_offers_come_a_page_at_a_time_each_once() {
    let app = TestApp::spawn().await;
    let open = app.post_offer("provider", offer(2)).await;
    // 70 withdrawn offers, posted a day apart
    sqlx::query(
        "INSERT INTO capacity_offers (org_code, service_type, pathway, places, places_left, available_from, \
         available_until, last_confirmed_at, withdrawn_at, created_at, updated_at, notes) \
         SELECT 'PRV1', 'residential', 3, 1, 1, $1 - interval '1 day' * g, $1 - interval '1 day' * g + interval '2 days', \
                $1 - interval '1 day' * g, $1 - interval '1 day' * g + interval '1 hour', $1 - interval '1 day' * g, \
                $1 - interval '1 day' * g, 'past offer ' || g \
         FROM generate_series(1, 70) g",
    )
    .bind(default_now())
    .execute(&app.pool)
    .await
    .expect("past offers");
    let b = app.browser("provider").await;
    let first = text_of(b.get("/provider/offers").await).await;
    let rows = |page: &str| page.matches("<tr class=\"nhsuk-table__row\">").count();
    // the open offer and the 50 newest past ones
    assert_eq!(rows(&first), 51);
    assert!(first.contains(&format!("/provider/offers/{}/withdraw", open["id"])));
    let next = first
        .split("href=\"/provider/offers?before=")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a link to older offers");
    let second = text_of(b.get(&format!("/provider/offers?before={next}")).await).await;
    assert_eq!(rows(&second), 20);
    assert!(!second.contains("/provider/offers?before="));
    assert!(!second.contains(&format!("/provider/offers/{}/withdraw", open["id"])));
}
