//! The pages, as a browser without JavaScript uses them: sign in, the ward list, the flag
//! form, the case page and its actions, the hub worklist, admin, and every refusal.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_wrong_password_shows_the_error_summary_and_keeps_the_username() {
    let app = TestApp::spawn().await;
    let b = app.anonymous_browser();
    let page = b.page("/login").await;
    assert_eq!(page.count("form[action='/login'] input[name=password]"), 1);
    let res = b
        .post_form("/login", &[("username", "hub"), ("password", "nope")])
        .await;
    let page = expect_page(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(
        page.text(".nhsuk-error-summary")
            .contains("Enter a correct username and password")
    );
    assert_eq!(page.attr("#username", "value").as_deref(), Some("hub"));
    assert!(page.text("title").starts_with("Error:"));
    // still not signed in
    assert_eq!(location(&b.get("/hub").await), "/login");
}

#[tokio::test]
async fn each_role_signs_in_to_its_own_home_page() {
    let app = TestApp::spawn().await;
    for (user, home, heading) in [
        ("ward", "/ward", "My patients"),
        ("hub", "/hub", "Worklist"),
        ("provider", "/provider", "Referrals"),
        ("admin", "/admin/users", "Users"),
    ] {
        let b = app.anonymous_browser();
        let res = b
            .post_form("/login", &[("username", user), ("password", PASSWORD)])
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&res), home);
        let page = b.page(home).await;
        assert_eq!(page.text("h1"), heading, "{user}");
        assert_eq!(location(&b.get("/").await), home);
    }
}

#[tokio::test]
async fn pages_need_a_session() {
    let app = TestApp::spawn().await;
    let b = app.anonymous_browser();
    for path in [
        "/ward",
        "/hub",
        "/patients/new",
        "/patients/1",
        "/admin/users",
        "/provider",
    ] {
        let res = b.get(path).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&res), "/login");
    }
}

#[tokio::test]
async fn signing_out_ends_the_session_even_for_a_copied_cookie() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client
        .post(app.url("/login"))
        .form(&[("username", "hub"), ("password", PASSWORD)])
        .send()
        .await
        .expect("the server answers");
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|c| c.to_str().ok())
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no session cookie: {:?}", res.headers()))
        .to_string();
    let with_cookie = |path: &str| {
        client
            .get(app.url(path))
            .header("cookie", cookie.clone())
            .send()
    };
    assert_eq!(
        with_cookie("/hub")
            .await
            .expect("the server answers")
            .status(),
        StatusCode::OK
    );
    let res = client
        .post(app.url("/logout"))
        .header("cookie", cookie.clone())
        .send()
        .await
        .expect("the server answers");
    assert_eq!(location(&res), "/login");
    let res = with_cookie("/hub").await.expect("the server answers");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login");
}

#[tokio::test]
async fn each_role_is_refused_pages_that_are_not_its_own() {
    let app = TestApp::spawn().await;
    let own = app.flag_id("ward", patient(NHS[0])).await;
    let mut other = patient(NHS[1]);
    other["ward_code"] = json!("RXX-W01");
    let other = app.flag_id("ward2", other).await;

    let ward = app.browser("ward").await;
    assert_eq!(ward.get("/hub").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        ward.get("/admin/users").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        ward.get(&format!("/patients/{own}")).await.status(),
        StatusCode::OK
    );
    // another trust's patient does not exist as far as this ward knows
    assert_eq!(
        ward.get(&format!("/patients/{other}")).await.status(),
        StatusCode::NOT_FOUND
    );
    let res = ward
        .post_form(
            &format!("/patients/{other}/discharge"),
            &[
                ("version", "1"),
                ("discharged_date", "2026-11-22"),
                ("discharged_time", "09:00"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let provider = app.browser("provider").await;
    for path in [
        format!("/patients/{own}"),
        format!("/patients/{other}"),
        "/hub".into(),
        "/ward".into(),
        "/patients/new".into(),
    ] {
        assert_eq!(
            provider.get(&path).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let page = provider.page("/provider").await;
    assert!(!page.text("main").contains("Lovelace"));

    let hub = app.browser("hub").await;
    assert_eq!(hub.get("/ward").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        hub.get("/admin/users").await.status(),
        StatusCode::FORBIDDEN
    );

    let admin = app.browser("admin").await;
    assert_eq!(
        admin.get(&format!("/patients/{own}")).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(admin.get("/hub").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.count("SELECT count(*) FROM patients WHERE status = 'discharged'")
            .await,
        0
    );
}

#[tokio::test]
async fn the_ward_list_shows_only_the_wards_own_trust() {
    let app = TestApp::spawn().await;
    app.flag("ward", patient(NHS[0])).await;
    let mut other = patient(NHS[1]);
    other["ward_code"] = json!("RXX-W01");
    other["family_name"] = json!("Babbage");
    app.flag("ward2", other).await;
    let page = app.browser("ward").await.page("/ward").await;
    let main = page.text("main");
    assert!(main.contains("LOVELACE, Ada"));
    assert!(!main.contains("BABBAGE"));
    assert!(page.text("h2").contains("Acute Medical Unit"));
    assert!(!page.text("main").contains("RXX-W01"));
    // ready 20 Nov 14:00, now 22 Nov 10:00: 44 hours, over the 24-hour standard: in bold,
    // without tinting the row (colour is kept for what needs action)
    assert_eq!(page.count(".hw-ward-cases tbody td:nth-child(4) strong"), 1);
    assert!(
        page.text(".hw-ward-cases tbody td:nth-child(4) strong")
            .contains("2 days (44 hours)")
    );
    assert_eq!(page.count("tr[class*='over']"), 0);
}

#[tokio::test]
async fn the_flag_form_shows_every_error_beside_its_field_and_keeps_what_was_typed() {
    let app = TestApp::spawn().await;
    let b = app.browser("ward").await;
    let form = b.page("/patients/new").await;
    // the ward sees only its own trust's wards
    assert!(form.count("#ward_code option[value='RHW-AMU']") == 1);
    assert!(form.count("#ward_code option[value='RXX-W01']") == 0);
    let res = b
        .post_form(
            "/patients",
            &[
                ("nhs_number", "943 476 5918"),
                ("given_name", "Ada"),
                ("family_name", ""),
                ("date_of_birth", "1941-03-02"),
                ("sex", "female"),
                ("postcode", "nowhere"),
                ("ward_code", "RHW-AMU"),
                ("admitted_at", "2026-11-18"),
                ("admitted_time", "09:30"),
                ("nctr", "yes"),
                ("discharge_ready_at", "2026-11-31"),
                ("discharge_ready_time", "10:00"),
            ],
        )
        .await;
    let page = expect_page(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let links: Vec<String> = {
        let sel = scraper::Selector::parse(".nhsuk-error-summary__list a").unwrap();
        page.0
            .select(&sel)
            .map(|a| a.value().attr("href").unwrap().to_string())
            .collect()
    };
    for field in [
        "nhs_number",
        "family_name",
        "postcode",
        "discharge_ready_at",
    ] {
        assert!(
            links.contains(&format!("#{field}")),
            "summary has no link to {field}: {links:?}"
        );
        assert_eq!(
            page.count(&format!("#{field}-error")),
            1,
            "no inline error for {field}"
        );
        assert_eq!(
            page.count(&format!("#{field}")),
            1,
            "no field with id {field}"
        );
    }
    assert!(
        page.text("#nhs_number-error")
            .contains("Enter a valid NHS number")
    );
    assert_eq!(
        page.attr("#nhs_number", "value").as_deref(),
        Some("943 476 5918")
    );
    assert_eq!(page.attr("#given_name", "value").as_deref(), Some("Ada"));
    assert_eq!(page.attr("#postcode", "value").as_deref(), Some("nowhere"));
    assert_eq!(app.count("SELECT count(*) FROM patients").await, 0);
}

#[tokio::test]
async fn flagging_through_the_form_opens_the_case() {
    let app = TestApp::spawn().await;
    let b = app.browser("ward").await;
    let fields = [
        ("nhs_number", "943 476 5919"),
        ("given_name", "Ada"),
        ("family_name", "Lovelace"),
        ("date_of_birth", "1941-03-02"),
        ("sex", "female"),
        ("postcode", "ls9 7tf"),
        ("ward_code", "RHW-AMU"),
        ("bed", "B4"),
        ("admitted_at", "2026-11-18"),
        ("admitted_time", "09:30"),
        ("nctr", "yes"),
        ("discharge_ready_at", "2026-11-22"),
        ("discharge_ready_time", "08:15"),
        ("needs_summary", "Needs a package of care"),
    ];
    let res = b.post_form("/patients", &fields).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = location(&res);
    assert!(to.starts_with("/patients/"));
    let page = b.page(&to).await;
    assert_eq!(page.text("h1"), "LOVELACE, Ada");
    assert!(page.text(".hw-flash").contains("flagged"));
    assert!(page.text("main").contains("943 476 5919"));
    assert!(page.text(".nhsuk-tag").contains("Awaiting triage"));
    // 08:15 in November is 08:15 UTC
    let ready: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT discharge_ready_at FROM patients")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(ready, utc("2026-11-22T08:15:00Z"));
    // the flash shows once
    assert_eq!(b.page(&to).await.count(".hw-flash"), 0);
    // the same patient again: the duplicate is explained on the NHS number, with a link to
    // the open case
    let res = b.post_form("/patients", &fields).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let again = Html::from(res).await;
    assert!(
        again
            .text("#nhs_number-error")
            .contains("already has an open case")
    );
    assert_eq!(
        again.attr(".hw-existing-case a", "href").as_deref(),
        Some(to.as_str())
    );
    // another trust's ward user gets the error but no link to a case they may not see
    let mut elsewhere = fields.to_vec();
    elsewhere[6] = ("ward_code", "RXX-W01");
    let res = app
        .browser("ward2")
        .await
        .post_form("/patients", &elsewhere)
        .await;
    let other = Html::from(res).await;
    assert!(other.text("main").contains("already has an open case"));
    assert_eq!(other.count(".hw-existing-case"), 0);
}

#[tokio::test]
async fn the_hub_works_a_case_from_its_page() {
    let app = TestApp::spawn().await;
    let id = app.flag_id("ward", patient(NHS[0])).await;
    let hub = app.browser("hub").await;
    let page = hub.page(&format!("/patients/{id}")).await;
    // one triage form: coordinator, pathway and delay reason together
    assert_eq!(
        page.count(&format!("form[action='/patients/{id}/triage']")),
        1
    );
    for separate in ["pathway", "coordinator", "delay-reason"] {
        assert_eq!(
            page.count(&format!("form[action='/patients/{id}/{separate}']")),
            0,
            "{separate}"
        );
    }
    let me: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'hub'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let me = me.to_string();
    assert!(page.text("#coordinator").contains("you"));

    // a bad part refuses the whole form: the coordinator is not taken either
    let res = hub
        .post_form(
            &format!("/patients/{id}/triage"),
            &[
                ("version", &app.form_version(id).await),
                ("coordinator", &me),
                ("pathway", "2"),
                ("code", "no_such_reason"),
            ],
        )
        .await;
    let page = expect_page(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(page.text("#code-error").contains("Select a delay reason"));
    assert_eq!(
        app.count(
            "SELECT count(*) FROM patients WHERE coordinator_id IS NOT NULL OR pathway IS NOT NULL"
        )
        .await,
        0
    );
    // what was chosen is still chosen on the form shown again
    assert_eq!(
        page.attr("input[name=pathway][checked]", "value")
            .as_deref(),
        Some("2")
    );

    let res = hub
        .post_form(
            &format!("/patients/{id}/triage"),
            &[
                ("version", &app.form_version(id).await),
                ("coordinator", &me),
                ("pathway", "2"),
                ("code", "p2_bed"),
            ],
        )
        .await;
    assert_eq!(location(&res), format!("/patients/{id}"));

    let page = hub.page(&format!("/patients/{id}")).await;
    assert!(page.text("main").contains("Pathway 2"));
    assert!(
        page.text(".nhsuk-summary-list")
            .contains("rehabilitation or recovery bed")
    );
    assert!(page.text(".nhsuk-summary-list").contains("hub"));
    let history = page.texts(".hw-history tbody tr");
    assert_eq!(history.len(), 4, "{history:?}");
    assert!(history[1].contains("hub is the coordinator"), "{history:?}");
    assert!(history[2].contains("Pathway 2 chosen"));
    assert!(history[3].contains("Delay reason"));
    // the pathway's own reasons come first in the form
    let first = page
        .attr("#code optgroup:first-of-type option", "value")
        .unwrap_or_default();
    assert_eq!(first, "p2_bed");
    assert_eq!(
        page.attr(&format!("#coordinator option[value='{me}']"), "selected")
            .as_deref(),
        Some("")
    );

    // saving the form unchanged writes nothing
    let before = app.history(id).await.len();
    let res = hub
        .post_form(
            &format!("/patients/{id}/triage"),
            &[
                ("version", &app.form_version(id).await),
                ("coordinator", &me),
                ("pathway", "2"),
                ("code", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.history(id).await.len(), before);

    // a bad choice explains itself and changes nothing
    let res = hub
        .post_form(
            &format!("/patients/{id}/triage"),
            &[
                ("version", &app.form_version(id).await),
                ("coordinator", &me),
                ("pathway", "9"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        Html::from(res)
            .await
            .text("#pathway-error")
            .contains("Select a pathway")
    );

    // cancelling needs a reason
    let res = hub
        .post_form(
            &format!("/patients/{id}/cancel"),
            &[("version", &app.form_version(id).await), ("reason", "")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = hub
        .post_form(
            &format!("/patients/{id}/cancel"),
            &[
                ("version", &app.form_version(id).await),
                ("reason_code", "died"),
                ("reason", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = hub.page(&format!("/patients/{id}")).await;
    assert!(page.text(".nhsuk-tag").contains("Cancelled"));
    // a closed case offers no actions, only a note for the record
    assert_eq!(
        page.count("main form:not(.hw-note-form)"),
        0,
        "a closed case offers no actions"
    );
    assert_eq!(page.count("main form.hw-note-form"), 1);
}

#[tokio::test]
async fn a_stale_form_says_the_case_changed_and_shows_the_latest_values() {
    let app = TestApp::spawn().await;
    let id = app.flag_id("ward", patient(NHS[0])).await;
    let hub = app.browser("hub").await;
    let page = hub.page(&format!("/patients/{id}")).await;
    let seen = page
        .attr(
            &format!("form[action='/patients/{id}/triage'] input[name=version]"),
            "value",
        )
        .expect("the triage form carries the version");
    // someone else chooses pathway 3 meanwhile
    app.choose_pathway(id, 3).await;
    let res = hub
        .post_form(
            &format!("/patients/{id}/triage"),
            &[("version", &seen), ("pathway", "1"), ("coordinator", "")],
        )
        .await;
    let page = expect_page(res, StatusCode::CONFLICT).await;
    assert!(
        page.text(".nhsuk-error-summary")
            .contains("This case changed since you opened it")
    );
    assert!(page.text("main").contains("Pathway 3"));
    assert_eq!(
        page.attr("input[name=pathway][checked]", "value")
            .as_deref(),
        Some("3")
    );
    let pathway: Option<i16> = sqlx::query_scalar("SELECT pathway FROM patients WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(pathway, Some(3));
}

#[tokio::test]
async fn the_ward_records_criteria_and_the_discharge() {
    let app = TestApp::spawn().await;
    let mut body = patient(NHS[0]);
    body.as_object_mut().unwrap().remove("discharge_ready_at");
    let id = app.flag_id("ward", body).await;
    let ward = app.browser("ward").await;
    let res = ward
        .post_form(
            &format!("/patients/{id}/criteria"),
            &[
                ("version", &app.form_version(id).await),
                ("meets", "no"),
                ("at_date", "2026-11-21"),
                ("at_time", "16:00"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // meeting the criteria again needs the CtR code
    let res = ward
        .post_form(
            &format!("/patients/{id}/criteria"),
            &[
                ("version", &app.form_version(id).await),
                ("meets", "yes"),
                ("at_date", "2026-11-21"),
                ("at_time", "20:00"),
                ("ctr_code", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        Html::from(res)
            .await
            .text("#ctr_code-error")
            .contains("Select why")
    );
    let res = ward
        .post_form(
            &format!("/patients/{id}/details"),
            &[
                ("version", &app.form_version(id).await),
                ("expected_discharge_date", "2026-11-24"),
                ("needs_summary", "Two carers"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = ward
        .post_form(
            &format!("/patients/{id}/delay-reason"),
            &[
                ("version", &app.form_version(id).await),
                ("code", "transport"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // a discharge before the patient was ready is refused
    let res = ward
        .post_form(
            &format!("/patients/{id}/discharge"),
            &[
                ("version", &app.form_version(id).await),
                ("discharged_date", "2026-11-20"),
                ("discharged_time", "10:00"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let version = app.form_version(id).await;
    let form = [
        ("version", version.as_str()),
        ("discharged_date", "2026-11-22"),
        ("discharged_time", "09:45"),
        ("destination", "p0_home"),
        ("method", "1"),
    ];
    // closing the case asks first: what will be recorded, nothing saved yet
    let res = ward
        .post_form(&format!("/patients/{id}/discharge"), &form)
        .await;
    let ask = expect_page(res, StatusCode::OK).await;
    assert!(
        ask.text("h1")
            .contains("Record the discharge of LOVELACE, Ada?")
    );
    let summary = ask.text(".hw-discharge-summary");
    assert!(summary.contains("22 Nov 2026 09:45"), "{summary}");
    assert!(summary.contains("None chosen"), "{summary}");
    assert_eq!(
        ask.attr("form[action$='/discharge'] input[name=confirmed]", "value")
            .as_deref(),
        Some("yes")
    );
    assert_eq!(
        app.count("SELECT count(*) FROM patients WHERE status = 'discharged'")
            .await,
        0
    );
    let mut confirmed = form.to_vec();
    confirmed.push(("confirmed", "yes"));
    let res = ward
        .post_form(&format!("/patients/{id}/discharge"), &confirmed)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = ward.page(&format!("/patients/{id}")).await;
    assert!(page.text(".nhsuk-tag").contains("Discharged"));
    assert!(page.text("main").contains("22 Nov 2026 09:45"));
    assert!(page.text("main").contains("24 Nov 2026"));
    let periods = page.texts("main table:not(.hw-history) tbody tr");
    assert_eq!(periods.len(), 1);
    assert!(periods[0].contains("Discharged"));
}

#[tokio::test]
async fn the_worklist_puts_the_longest_wait_first_and_filters() {
    let app = TestApp::spawn().await;
    let mut recent = patient(NHS[0]);
    recent["discharge_ready_at"] = json!("2026-11-22T08:00:00Z");
    recent["family_name"] = json!("Recent");
    app.flag("ward", recent).await;
    let mut long = patient(NHS[1]);
    long["family_name"] = json!("Longwait");
    long["ward_code"] = json!("RXX-W01");
    app.flag("ward2", long).await;
    let hub = app.browser("hub").await;
    let page = hub.page("/hub").await;
    let rows = page.texts(".hw-worklist tbody tr");
    assert_eq!(rows.len(), 2);
    assert!(rows[0].contains("LONGWAIT"), "{rows:?}");
    // over the 24-hour standard: in bold, without tinting the row
    assert!(rows[0].contains("44 hours"), "{rows:?}");
    assert_eq!(
        page.count(".hw-worklist tbody tr:first-child td:nth-child(6) strong"),
        1
    );
    assert_eq!(
        page.count(".hw-worklist tbody tr:last-child td:nth-child(6) strong"),
        0
    );
    assert!(rows[1].contains("2 hours"));

    let page = hub.page("/hub?trust=RHW").await;
    let rows = page.texts(".hw-worklist tbody tr");
    assert_eq!(rows.len(), 1);
    assert!(rows[0].contains("RECENT"));
    let page = hub
        .page("/hub?reason=none&pathway=&status=awaiting_triage&ward=RXX-W01")
        .await;
    assert_eq!(page.texts(".hw-worklist tbody tr").len(), 1);
    let page = hub.page("/hub?status=care_arranged").await;
    assert_eq!(page.texts(".hw-worklist tbody tr").len(), 0);
    // unknown filter values do not break the page
    assert_eq!(
        hub.get("/hub?status=bogus&pathway=9").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn patient_pages_are_never_cached() {
    let app = TestApp::spawn().await;
    let id = app.flag_id("ward", patient(NHS[0])).await;
    let hub = app.browser("hub").await;
    for path in [format!("/patients/{id}"), "/hub".to_string()] {
        let res = hub.get(&path).await;
        assert_eq!(res.headers()["cache-control"], "no-store", "{path}");
    }
    let api = app.api("hub").await;
    assert_eq!(
        api.get(&format!("/api/v1/patients/{id}")).await.headers()["cache-control"],
        "no-store"
    );
}

#[tokio::test]
async fn a_cross_site_form_post_is_refused() {
    let app = TestApp::spawn().await;
    let id = app.flag_id("ward", patient(NHS[0])).await;
    let hub = app.browser("hub").await;
    let res = hub
        .client
        .post(app.url(&format!("/patients/{id}/cancel")))
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .form(&[("reason", "forged")])
        .send()
        .await
        .expect("the server answers");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let status: String = sqlx::query_scalar("SELECT status FROM patients WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "awaiting_triage");
    // the same post from the same origin works
    let res = hub
        .client
        .post(app.url(&format!("/patients/{id}/cancel")))
        .header("sec-fetch-site", "same-origin")
        .form(&[("reason_code", "transferred_out"), ("reason", "")])
        .send()
        .await
        .expect("the server answers");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn an_admin_creates_resets_and_disables_users() {
    let app = TestApp::spawn().await;
    let admin = app.browser("admin").await;
    assert!(
        admin
            .page("/admin/users/new")
            .await
            .count("select#org_code option")
            > 3
    );
    // a provider role at the hub, and a short password, are both explained
    let res = admin
        .post_form(
            "/admin/users",
            &[
                ("username", "new.coordinator"),
                ("display_name", "New"),
                ("role", "provider"),
                ("org_code", "HUB"),
                ("password", "short"),
            ],
        )
        .await;
    let page = expect_page(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(page.count("#org_code-error") == 1 && page.count("#password-error") == 1);
    assert_eq!(
        page.attr("#username", "value").as_deref(),
        Some("new.coordinator")
    );
    let res = admin
        .post_form(
            "/admin/users",
            &[
                ("username", "new.coordinator"),
                ("display_name", "New"),
                ("role", "hub"),
                ("org_code", "HUB"),
                ("password", "a-long-enough-password"),
            ],
        )
        .await;
    assert_eq!(location(&res), "/admin/users");
    assert!(
        admin
            .page("/admin/users")
            .await
            .text("table")
            .contains("new.coordinator")
    );
    let fresh = app.anonymous_browser();
    let res = fresh
        .post_form(
            "/login",
            &[
                ("username", "new.coordinator"),
                ("password", "a-long-enough-password"),
            ],
        )
        .await;
    assert_eq!(location(&res), "/hub");

    // disabling ends the user's live session at once
    let hub = app.browser("hub").await;
    assert_eq!(hub.get("/hub").await.status(), StatusCode::OK);
    let hub_id = app
        .count("SELECT id FROM users WHERE username = 'hub'")
        .await;
    // the hub user coordinates a case: the page asking to confirm says so, and asking
    // changes nothing
    let case = app.flag_id("ward", patient(NHS[3])).await;
    let v = app.form_version(case).await;
    hub.post_form(
        &format!("/patients/{case}/coordinator"),
        &[("version", v.as_str())],
    )
    .await;
    let res = admin
        .post_form(&format!("/admin/users/{hub_id}/disable"), &[])
        .await;
    let ask = expect_page(res, StatusCode::OK).await;
    assert!(ask.text("h1").contains("Disable"), "{}", ask.text("h1"));
    assert!(ask.text("main").contains("coordinate 1 open case"));
    assert_eq!(hub.get("/hub").await.status(), StatusCode::OK);
    let res = admin
        .post_form(
            &format!("/admin/users/{hub_id}/disable"),
            &[("confirmed", "yes")],
        )
        .await;
    assert_eq!(location(&res), "/admin/users");
    assert_eq!(location(&hub.get("/hub").await), "/login");
    let res = app
        .anonymous_browser()
        .post_form("/login", &[("username", "hub"), ("password", PASSWORD)])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // a reset password works and the old one does not
    let res = admin
        .post_form(&format!("/admin/users/{hub_id}/enable"), &[])
        .await;
    assert_eq!(location(&res), "/admin/users");
    let res = admin
        .post_form(
            &format!("/admin/users/{hub_id}/password"),
            &[("password", "another-long-password")],
        )
        .await;
    assert_eq!(location(&res), "/admin/users");
    let res = app
        .anonymous_browser()
        .post_form("/login", &[("username", "hub"), ("password", PASSWORD)])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .anonymous_browser()
        .post_form(
            "/login",
            &[("username", "hub"), ("password", "another-long-password")],
        )
        .await;
    assert_eq!(location(&res), "/hub");
}

#[tokio::test]
async fn unknown_pages_are_a_friendly_404() {
    let app = TestApp::spawn().await;
    let hub = app.browser("hub").await;
    let res = hub.get("/no/such/page").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(Html::from(res).await.text("h1"), "Page not found");
    assert_eq!(
        hub.get("/patients/424242").await.status(),
        StatusCode::NOT_FOUND
    );
    // an id that cannot be one names no page either
    for path in ["/patients/not-a-number", "/patients/99999999999999999999"] {
        let res = hub.get(path).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(Html::from(res).await.text("h1"), "Page not found", "{path}");
    }
}

#[tokio::test]
async fn a_long_worklist_comes_a_page_at_a_time_with_counts_for_all() {
    let app = TestApp::spawn().await;
    // 130 open cases waiting 1..130 hours
    sqlx::query(
        "INSERT INTO patients (nhs_number, given_name, family_name, date_of_birth, sex, postcode, trust_code, ward_code, \
         admitted_at, status, discharge_ready_at, created_at, updated_at) \
         SELECT lpad(g::text, 10, '0'), 'Test', 'Patient' || g, '1940-01-01', 'female', 'LS9 7TF', 'RHW', 'RHW-AMU', \
         $1 - interval '20 days', 'awaiting_triage', $1 - (g || ' hours')::interval, $1, $1 FROM generate_series(1, 130) g",
    )
    .bind(default_now())
    .execute(&app.pool)
    .await
    .unwrap();
    let hub = app.browser("hub").await;
    let page = hub.page("/hub").await;
    assert_eq!(page.count(".hw-worklist tbody tr"), 100);
    // 130 in all; waits of 24..130 hours are over the standard: 107
    let intro = page.text(".hw-list-summary");
    assert!(intro.contains("130 open cases"), "{intro}");
    assert!(intro.contains("107 waiting more than 24 hours"), "{intro}");
    assert!(
        page.text(".hw-worklist tbody tr:first-child")
            .contains("PATIENT130, Test")
    );
    assert_eq!(page.count(".nhsuk-pagination-item--previous"), 0);
    let next = page
        .attr(".nhsuk-pagination-item--next a", "href")
        .expect("a link to the next page");
    assert!(next.starts_with("/hub?after="), "{next}");
    let page = hub.page(&next).await;
    assert_eq!(page.count(".hw-worklist tbody tr"), 30);
    assert!(
        page.text(".hw-worklist tbody tr:first-child")
            .contains("PATIENT30, Test")
    );
    assert!(
        page.text(".hw-worklist tbody tr:last-child")
            .contains("PATIENT1, Test")
    );
    assert_eq!(page.count(".nhsuk-pagination-item--next"), 0);
    // the counts are over the whole list on every page
    assert!(page.text(".hw-list-summary").contains("130 open cases"));
    // and back: the first page again
    let prev = page
        .attr(".nhsuk-pagination-item--previous a", "href")
        .expect("a link to the previous page");
    let page = hub.page(&prev).await;
    assert_eq!(page.count(".hw-worklist tbody tr"), 100);
    assert!(
        page.text(".hw-worklist tbody tr:first-child")
            .contains("PATIENT130, Test")
    );
    assert_eq!(page.count(".nhsuk-pagination-item--previous"), 0);
    // filters survive paging; a cursor that is not ours is ignored
    let page = hub.page("/hub?trust=RHW&status=awaiting_triage").await;
    let next = page
        .attr(".nhsuk-pagination-item--next a", "href")
        .unwrap_or_default();
    assert!(
        next.starts_with("/hub?trust=RHW&status=awaiting_triage&after="),
        "{next}"
    );
    let page = hub.page("/hub?after=not-a-cursor").await;
    assert_eq!(page.count(".hw-worklist tbody tr"), 100);
}

#[tokio::test]
async fn the_ward_list_remembers_the_chosen_ward() {
    let app = TestApp::spawn().await;
    app.flag("ward", patient(NHS[0])).await;
    let mut other = patient(NHS[1]);
    other["ward_code"] = json!("RHW-W10");
    other["family_name"] = json!("Tenward");
    app.flag("ward", other).await;
    let b = app.browser("ward").await;
    let page = b.page("/ward?ward=RHW-W10").await;
    assert!(page.text(".hw-ward-cases").contains("TENWARD"));
    assert!(!page.text(".hw-ward-cases").contains("LOVELACE"));
    let counts = page.texts(".hw-wards tbody tr");
    assert_eq!(counts.len(), 2);
    assert!(
        counts[0].contains("RHW-AMU") && counts[0].contains("1 1 1"),
        "{counts:?}"
    );
    // back to the list without choosing: the same ward
    assert!(
        b.page("/ward")
            .await
            .text(".hw-ward-cases")
            .contains("TENWARD")
    );
}

/// The worklist's one row marked as news (a provider's decision the reader has not seen).
async fn only_news_row(hub: &Browser) -> String {
    let news = hub
        .page("/hub")
        .await
        .texts(".hw-worklist tbody tr.hw-news");
    assert_eq!(news.len(), 1, "{news:?}");
    news[0].clone()
}

#[tokio::test]
async fn a_coordinator_finds_their_cases_sees_news_until_opened_and_counts_tasks_due_today() {
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    let named = |nhs: &str, family: &str| {
        let mut body = patient_at(nhs, now);
        body["family_name"] = json!(family);
        body
    };
    let mine = app.flag_id("ward", named(NHS[0], "Mine")).await;
    let other = app.flag_id("ward", named(NHS[1], "Nobodys")).await;
    let accepted = app.flag_id("ward", named(NHS[2], "O’Hara")).await;
    let hub = app.browser("hub").await;
    let me: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'hub'")
        .fetch_one(&app.pool)
        .await
        .expect("the hub user");
    let res = hub
        .post_form(
            &format!("/patients/{mine}/triage"),
            &[
                ("version", &app.form_version(mine).await),
                ("coordinator", &me.to_string()),
                ("pathway", ""),
                ("code", ""),
            ],
        )
        .await;
    assert_eq!(location(&res), format!("/patients/{mine}"));

    let names = |page: &Html| page.texts(".hw-worklist tbody tr td:first-child a");
    // views: mine and unassigned split the list exactly
    assert_eq!(names(&hub.page("/hub?view=mine").await), vec!["MINE, Ada"]);
    let unassigned = names(&hub.page("/hub?view=unassigned").await);
    assert_eq!(unassigned.len(), 2, "{unassigned:?}");
    assert!(!unassigned.iter().any(|n| n.starts_with("MINE")));
    // search on the worklist and the ward list, apostrophes folded
    assert_eq!(names(&hub.page("/hub?q=ohara").await), vec!["O’HARA, Ada"]);
    let ward = app.browser("ward").await;
    assert_eq!(
        ward.page("/ward?q=o%27hara")
            .await
            .texts(".hw-ward-cases tbody tr td:first-child a")
            .len(),
        1
    );
    // sorting by coordinator: unassigned first, then by username
    let by_coordinator = names(&hub.page("/hub?sort=coordinator").await);
    assert_eq!(by_coordinator.last().map(String::as_str), Some("MINE, Ada"));

    // a provider accepts: the row is marked as news on the board until the case is opened
    app.choose_pathway(accepted, 3).await;
    let bed = app.post_offer("provider", offer_at(1, now)).await;
    let referral = app.refer(accepted, id_of(&bed)).await;
    app.decide("provider", id_of(&referral), "accept").await;
    let board = hub.page("/hub").await;
    let news = board.texts(".hw-worklist tbody tr.hw-news");
    assert_eq!(news.len(), 1, "{news:?}");
    assert!(news[0].contains("O’HARA"), "{news:?}");
    assert!(news[0].contains("Accepted"), "{news:?}");
    let case = hub.page(&format!("/patients/{accepted}")).await;
    assert_eq!(case.count(".hw-news-banner"), 1);
    assert!(case.text(".hw-news-banner").contains("accepted"));
    // opened: no longer news, on the board or on the case
    assert_eq!(hub.page("/hub").await.count("tr.hw-news"), 0);
    assert_eq!(
        hub.page(&format!("/patients/{accepted}"))
            .await
            .count(".hw-news-banner"),
        0
    );
    // still news to another reader of the case
    let ward_case = ward.page(&format!("/patients/{accepted}")).await;
    assert_eq!(ward_case.count(".hw-news-banner"), 1);
    // two decisions on one case: the row says the latest; opened, then decided again: news
    // again (a decline, then an acceptance of another place, after the hub last looked)
    app.choose_pathway(other, 3).await;
    let first = app
        .refer(
            other,
            id_of(&app.post_offer("provider", offer_at(1, now)).await),
        )
        .await;
    let second = app
        .refer(
            other,
            id_of(&app.post_offer("provider", offer_at(1, now)).await),
        )
        .await;
    app.api("provider")
        .await
        .post_expect(
            &format!("/api/v1/referrals/{}/decision", id_of(&first)),
            json!({"decision": "decline", "reason": "no_capacity"}),
            StatusCode::OK,
        )
        .await;
    let news = only_news_row(&hub).await;
    assert!(
        news.contains("NOBODYS") && news.contains("Declined"),
        "{news}"
    );
    hub.page(&format!("/patients/{other}")).await;
    assert_eq!(hub.page("/hub").await.count("tr.hw-news"), 0);
    app.clock
        .set(app.clock.now() + chrono::Duration::seconds(1));
    app.decide("provider", id_of(&second), "accept").await;
    let news = only_news_row(&hub).await;
    assert!(
        news.contains("NOBODYS") && news.contains("Accepted"),
        "{news}"
    );

    // tasks: the header counts what is due by the end of today, overdue included
    let api = app.api("hub").await;
    let task = |title: &str, due: chrono::DateTime<chrono::Utc>| json!({"title": title, "due_at": due.to_rfc3339()});
    let mut ids = vec![];
    for (id, title, due) in [
        (mine, "Overdue call", now - chrono::Duration::hours(2)),
        (mine, "Due now", now),
        (other, "Due next week", now + chrono::Duration::days(7)),
    ] {
        let t = api
            .post_expect(
                &format!("/api/v1/patients/{id}/tasks"),
                task(title, due),
                StatusCode::CREATED,
            )
            .await;
        ids.push(id_of(&t));
    }
    let due = |page: Html| page.text(".hw-tasks-due");
    assert!(due(hub.page("/hub").await).starts_with('2'));
    let tasks = hub.page("/tasks").await;
    assert_eq!(tasks.count(".hw-task"), 3);
    let headings = tasks.texts("main h2");
    assert_eq!(headings.first().map(String::as_str), Some("Overdue"));
    // done with one click, back to the tasks page
    let res = hub
        .post_form(
            &format!("/tasks/{}/complete", ids[0]),
            &[("back", "/tasks")],
        )
        .await;
    assert_eq!(location(&res), "/tasks");
    assert!(due(hub.page("/hub").await).starts_with('1'));
    hub.post_form(
        &format!("/tasks/{}/complete", ids[1]),
        &[("back", "/tasks")],
    )
    .await;
    assert_eq!(hub.page("/hub").await.count(".hw-tasks-due"), 0);
    assert_eq!(hub.page("/tasks").await.count(".hw-task"), 1);
    // a provider has no tasks page
    let provider = app.browser("provider").await;
    assert_ne!(provider.get("/tasks").await.status(), StatusCode::OK);
}
