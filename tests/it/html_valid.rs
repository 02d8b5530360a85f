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
    let id = app.flag("ward", patient(NHS[0])).await["id"]
        .as_i64()
        .unwrap();
    let hub = app.api("hub").await;
    hub.post_expect(
        &format!("/api/v1/patients/{id}/pathway"),
        json!({"pathway": 3}),
        StatusCode::OK,
    )
    .await;
    let o = app
        .api("provider")
        .await
        .post_expect("/api/v1/capacity", offer(2), StatusCode::CREATED)
        .await;
    hub.post_expect(
        "/api/v1/referrals",
        json!({"patient_id": id, "offer_id": o["id"]}),
        StatusCode::CREATED,
    )
    .await;
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
    save(
        "login".into(),
        anon.get("/login").await.text().await.unwrap(),
    );
    save(
        "login-error".into(),
        anon.post_form("/login", &[("username", "x"), ("password", "y")])
            .await
            .text()
            .await
            .unwrap(),
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
                "/notifications",
                "/directory?q=meadow",
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
                "/admin/access?nhs_number=9434765919",
                "/admin/access?nhs_number=1",
            ],
        ),
    ];
    for (user, paths) in pages {
        let b = app.browser(user).await;
        for p in *paths {
            let res = b.get(p).await;
            save(format!("{user}{p}"), res.text().await.unwrap());
        }
    }
    let hub_b = app.browser("hub").await;
    for p in [
        format!("/patients/{id}"),
        format!("/patients/{id}/find-care"),
        format!("/patients/{id}/choice"),
        format!("/admin/users/{admin_id}/password"),
    ] {
        save(format!("hub{p}"), hub_b.get(&p).await.text().await.unwrap());
    }
    let ward_b = app.browser("ward").await;
    save(
        format!("ward-case-{id}"),
        ward_b
            .get(&format!("/patients/{id}"))
            .await
            .text()
            .await
            .unwrap(),
    );
    save(
        "ward-flag-errors".into(),
        ward_b
            .post_form("/patients", &[("nhs_number", "123")])
            .await
            .text()
            .await
            .unwrap(),
    );
    let admin_b = app.browser("admin").await;
    save(
        "admin-password".into(),
        admin_b
            .get(&format!("/admin/users/{admin_id}/password"))
            .await
            .text()
            .await
            .unwrap(),
    );
    save(
        "admin-new-errors".into(),
        admin_b
            .post_form("/admin/users", &[("username", "x")])
            .await
            .text()
            .await
            .unwrap(),
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
}
