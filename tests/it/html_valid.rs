//! Every page, for every role, is valid HTML by the Nu Html Checker (npm `vnu-jar`, run with
//! Java). `.ci/test` fetches the checker and points `VNU_JAR` at it.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn every_page_is_valid_html() {
    let jar = std::env::var("VNU_JAR").unwrap_or_default();
    let mut missing: Vec<String> = missing_program("java").into_iter().collect();
    if jar.is_empty() || !std::path::Path::new(&jar).exists() {
        missing.push("the Nu Html Checker (VNU_JAR naming its vnu.jar)".into());
    }
    if !tools_present("every_page_is_valid_html", &missing) {
        return;
    }
    let app = TestApp::spawn().await;
    // a little of everything: a case awaiting care with a referral, an offer, a choice letter
    let id = app.awaiting_care(NHS[0], 3).await;
    let o = app.post_offer("provider", offer(2)).await;
    app.refer(id, id_of(&o)).await;
    let hub = app.api("hub").await;
    hub.post_expect(
        &format!("/api/v1/patients/{id}/choice"),
        json!({"stage": "letter", "options": ["Meadowbank"]}),
        StatusCode::OK,
    )
    .await;
    app.api("provider").await.post_expect("/api/v1/directory", json!({"name": "Meadowbank House", "service_types": ["residential"], "contact": "0113 496 0101"}), StatusCode::CREATED).await;
    let admin_id = app
        .count("SELECT id FROM users WHERE username = 'hub'")
        .await;

    let dir = std::env::temp_dir().join(format!("homeward-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = vec![];
    let mut save = |name: String, html: String| {
        let path = dir.join(format!("{}.html", name.replace(['/', '?', '=', '&'], "_")));
        std::fs::write(&path, html).unwrap();
        files.push(path);
    };

    let anon = app.anonymous_browser();
    save("login".into(), text_of(anon.get("/login").await).await);
    save(
        "login-error".into(),
        text_of(
            anon.post_form("/login", &[("username", "x"), ("password", "y")])
                .await,
        )
        .await,
    );
    let pages: &[(&str, &[&str])] = &[
        (
            "ward",
            &[
                "/ward",
                "/patients/new",
                "/board",
                "/notifications",
                "/directory",
                "/no-such-page",
                "/account/two-factor",
                "/tasks",
                "/ward?q=ada",
            ],
        ),
        (
            "hub",
            &[
                "/hub",
                "/hub?escalated=1",
                "/hub/choice",
                "/board",
                "/reports/sitrep",
                "/reports/flow",
                "/reports/sitrep?date=2099-01-01",
                "/reports/national",
                "/reports/national?kind=community&date=2099-01-01",
                "/notifications",
                "/directory?q=meadow",
                "/tasks",
                "/hub?view=mine&sort=ward&q=lovelace",
                "/hub?view=unassigned&sort=coordinator",
            ],
        ),
        (
            "provider",
            &[
                "/provider",
                "/provider/offers",
                "/provider/offers/new",
                "/directory/mine",
                "/notifications",
            ],
        ),
        (
            "admin",
            &[
                "/admin/users",
                "/admin/users/new",
                "/admin/access",
                "/admin/hl7",
            ],
        ),
    ];
    for (user, paths) in pages {
        let b = app.browser(user).await;
        for p in *paths {
            save(format!("{user}{p}"), text_of(b.get(p).await).await);
        }
    }
    // the access log with results, and with errors (its filters go by POST)
    let admin = app.browser("admin").await;
    for (name, form) in [
        ("found", [("nhs_number", "9434765919"), ("from", "")]),
        ("errors", [("nhs_number", "1"), ("from", "yesterday")]),
    ] {
        admin.post_form("/admin/access", &form).await;
        save(
            format!("admin-access-{name}"),
            text_of(admin.get("/admin/access").await).await,
        );
    }
    // the hospital feed's page with a mapping row and a refused message
    sqlx::query(
        "INSERT INTO hl7_locations (sending_facility, point_of_care, ward_code) \
         VALUES ('RHW', 'AMU', 'RHW-AMU')",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    homeward::hl7::feed::receive(
        &app.state,
        "MSH|^~\\&|PAS|RHW|||20261122||ADT^A02|V1|P|2.5\rPID|1||X1^^^^MR\rPV1|1|I|ZZZ",
    )
    .await;
    save(
        "admin-hl7-filled".into(),
        text_of(admin.get("/admin/hl7").await).await,
    );
    let hub_b = app.browser("hub").await;
    for p in [
        format!("/patients/{id}"),
        format!("/patients/{id}/find-care"),
        format!("/patients/{id}/choice"),
        format!("/admin/users/{admin_id}/password"),
    ] {
        save(format!("hub{p}"), text_of(hub_b.get(&p).await).await);
    }
    let ward_b = app.browser("ward").await;
    save(
        format!("ward-case-{id}"),
        text_of(ward_b.get(&format!("/patients/{id}")).await).await,
    );
    save(
        "ward-flag-errors".into(),
        text_of(
            ward_b
                .post_form("/patients", &[("nhs_number", "123")])
                .await,
        )
        .await,
    );
    // the questions before a discharge and before disabling a user
    let today = homeward::domain::time::london_date(app.clock.now()).to_string();
    let version = app.form_version(id).await;
    save(
        "ward-discharge-confirm".into(),
        text_of(
            ward_b
                .post_form(
                    &format!("/patients/{id}/discharge"),
                    &[
                        ("version", version.as_str()),
                        ("discharged_date", today.as_str()),
                        ("discharged_time", "09:45"),
                        ("destination", "p3_care_home"),
                        ("method", "1"),
                    ],
                )
                .await,
        )
        .await,
    );
    let admin_b = app.browser("admin").await;
    save(
        "admin-disable-confirm".into(),
        text_of(
            admin_b
                .post_form(&format!("/admin/users/{admin_id}/disable"), &[])
                .await,
        )
        .await,
    );
    save(
        "admin-sign-in".into(),
        text_of(
            admin_b
                .get(&format!("/admin/users/{admin_id}/sign-in"))
                .await,
        )
        .await,
    );
    save(
        "admin-password".into(),
        text_of(
            admin_b
                .get(&format!("/admin/users/{admin_id}/password"))
                .await,
        )
        .await,
    );
    save(
        "admin-new-errors".into(),
        text_of(
            admin_b
                .post_form("/admin/users", &[("username", "x")])
                .await,
        )
        .await,
    );

    let out = tokio::process::Command::new("java")
        .args(["-jar", &jar, "--errors-only", "--format", "gnu"])
        .args(&files)
        .output()
        .await
        .expect("java runs the Nu Html Checker");
    let report =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(files.len() >= 30, "{} pages checked", files.len());
    assert!(
        out.status.success() && report.trim().is_empty(),
        "HTML errors:\n{report}"
    );
    // the pages are kept to look at only when they fail the check
    std::fs::remove_dir_all(&dir).ok();
}
