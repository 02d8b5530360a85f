//! Two-factor sign-in (TOTP, RFC 6238): roles that must enrol do so at their first sign-in,
//! with a QR code drawn by the server and recovery codes shown once; then every sign-in,
//! page or API, asks for a code, and no code works twice. These tests run with the real
//! default configuration (admins and hubs must enrol).

use crate::common::*;
use chrono::Duration;
use homeward::accounts::mfa;
use reqwest::{Response, StatusCode};
use serde_json::json;

async fn token_call(app: &TestApp, username: &str, otp: Option<&str>) -> Response {
    let mut body = json!({"username": username, "password": PASSWORD});
    if let Some(otp) = otp {
        body["otp"] = json!(otp);
    }
    reqwest::Client::new()
        .post(app.url("/api/v1/auth/token"))
        .json(&body)
        .send()
        .await
        .expect("the server answers")
}

async fn error_code(res: Response) -> String {
    let body: serde_json::Value = res.json().await.expect("the error JSON");
    body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Signs in to the pages as `username` (whose role must enrol), enrols an authenticator app
/// as a person would (reading the key under the QR code) and returns the browser, the
/// secret and the recovery codes shown.
async fn enrol(app: &TestApp, username: &str) -> (Browser, Vec<u8>, Vec<String>) {
    let b = app.anonymous_browser();
    let res = b
        .post_form("/login", &[("username", username), ("password", PASSWORD)])
        .await;
    assert_eq!(location(&res), "/login/enrol", "{username}");
    // nothing else opens until the app is set up
    assert_eq!(location(&b.get("/admin/users").await), "/login");
    let page = b.page("/login/enrol").await;
    assert_eq!(
        page.count(".hw-qr svg path"),
        1,
        "the QR code is drawn inline"
    );
    let key = page.text(".hw-secret").replace(' ', "");
    let secret = totp_rs::Secret::Encoded(key)
        .to_bytes()
        .expect("the key is base32");
    // a wrong code is refused and the same key shown again
    let res = b.post_form("/login/enrol", &[("code", "000000")]).await;
    let again = expect_page(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        again.text(".hw-secret").replace(' ', ""),
        page.text(".hw-secret").replace(' ', "")
    );
    let code = mfa::code_at(&secret, app.clock.now()).expect("a code");
    let res = b.post_form("/login/enrol", &[("code", &code)]).await;
    assert_eq!(location(&res), "/account/recovery-codes");
    let codes = b
        .page("/account/recovery-codes")
        .await
        .texts(".hw-recovery-codes code");
    assert_eq!(codes.len(), 10);
    // shown once
    assert_eq!(
        location(&b.get("/account/recovery-codes").await),
        "/account/two-factor"
    );
    (b, secret, codes)
}

#[tokio::test]
async fn an_admin_enrols_at_first_sign_in_and_then_every_sign_in_needs_a_fresh_code() {
    let app = TestApp::spawn_with(default_now(), homeward::config::Config::default()).await;
    let (b, secret, _codes) = enrol(&app, "admin").await;
    assert_eq!(b.get("/admin/users").await.status(), StatusCode::OK);

    // the next sign-in asks for a code
    let b2 = app.anonymous_browser();
    let res = b2
        .post_form("/login", &[("username", "admin"), ("password", PASSWORD)])
        .await;
    assert_eq!(location(&res), "/login/code");
    assert_eq!(location(&b2.get("/admin/users").await), "/login");
    // the code used to enrol, in the same 30 seconds: spent
    let spent = mfa::code_at(&secret, app.clock.now()).expect("a code");
    let res = b2.post_form("/login/code", &[("code", &spent)]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // 30 seconds on, the app shows a new one
    app.clock.set(default_now() + Duration::seconds(30));
    let fresh = mfa::code_at(&secret, app.clock.now()).expect("a code");
    let res = b2.post_form("/login/code", &[("code", &fresh)]).await;
    assert_eq!(location(&res), "/admin/users");
    assert_eq!(b2.get("/admin/users").await.status(), StatusCode::OK);
    // and an earlier one is refused from then on, even within the allowed drift
    let b3 = app.anonymous_browser();
    b3.post_form("/login", &[("username", "admin"), ("password", PASSWORD)])
        .await;
    let res = b3.post_form("/login/code", &[("code", &spent)]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_token_call_asks_an_enrolled_user_for_a_code_and_takes_each_code_once() {
    let app = TestApp::spawn_with(default_now(), homeward::config::Config::default()).await;
    let (_b, secret, codes) = enrol(&app, "hub").await;
    // no code
    let res = token_call(&app, "hub", None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "mfa_required");
    // a wrong password still says only "unauthorized", code or not
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({"username": "hub", "password": "not-the-password"}))
        .send()
        .await
        .expect("answer");
    assert_eq!(error_code(res).await, "unauthorized");
    // the code spent on enrolment
    let spent = mfa::code_at(&secret, app.clock.now()).expect("a code");
    let res = token_call(&app, "hub", Some(&spent)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "unauthorized");
    // a fresh code works once
    app.clock.set(default_now() + Duration::seconds(30));
    let fresh = mfa::code_at(&secret, app.clock.now()).expect("a code");
    assert_eq!(
        token_call(&app, "hub", Some(&fresh)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        token_call(&app, "hub", Some(&fresh)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // a recovery code works once, typed any way
    let recovery = codes[3].to_uppercase().replace('-', " ");
    assert_eq!(
        token_call(&app, "hub", Some(&recovery)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        token_call(&app, "hub", Some(&codes[3])).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn two_requests_racing_with_one_code_get_one_token() {
    let app = TestApp::spawn_with(default_now(), homeward::config::Config::default()).await;
    let (_b, secret, _) = enrol(&app, "hub").await;
    app.clock.set(default_now() + Duration::seconds(60));
    let code = mfa::code_at(&secret, app.clock.now()).expect("a code");
    let (a, b) = tokio::join!(
        token_call(&app, "hub", Some(&code)),
        token_call(&app, "hub", Some(&code))
    );
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::UNAUTHORIZED]);
}

#[tokio::test]
async fn wrong_codes_are_throttled_like_wrong_passwords() {
    let app = TestApp::spawn_with(default_now(), homeward::config::Config::default()).await;
    let (_b, _secret, _) = enrol(&app, "hub").await;
    let b = app.anonymous_browser();
    b.post_form("/login", &[("username", "hub"), ("password", PASSWORD)])
        .await;
    // the password step counts until the sign-in completes: four guesses, then 429
    for _ in 0..4 {
        let res = b.post_form("/login/code", &[("code", "123456")]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let res = b.post_form("/login/code", &[("code", "123456")]).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_ward_user_signs_in_with_a_password_alone_and_may_enrol_from_the_account_page() {
    let app = TestApp::spawn_with(default_now(), homeward::config::Config::default()).await;
    let b = app.browser("ward").await;
    let page = b.page("/account/two-factor").await;
    let key = page.text(".hw-secret").replace(' ', "");
    let secret = totp_rs::Secret::Encoded(key).to_bytes().expect("base32");
    let code = mfa::code_at(&secret, app.clock.now()).expect("a code");
    let res = b.post_form("/account/two-factor", &[("code", &code)]).await;
    assert_eq!(location(&res), "/account/recovery-codes");
    assert_eq!(
        b.page("/account/recovery-codes")
            .await
            .count(".hw-recovery-codes code"),
        10
    );
    assert!(
        b.page("/account/two-factor")
            .await
            .text("main")
            .contains("set up on 22 November 2026")
    );
    let res = token_call(&app, "ward", None).await;
    assert_eq!(error_code(res).await, "mfa_required");
}

#[tokio::test]
async fn an_admin_resets_a_lost_authenticator_and_the_user_enrols_again() {
    let app = TestApp::spawn_with(default_now(), homeward::config::Config::default()).await;
    let (hub, _secret, _) = enrol(&app, "hub").await;
    app.clock.set(default_now() + Duration::minutes(1));
    let (admin, admin_secret, _) = enrol(&app, "admin").await;
    let _ = admin_secret;
    let hub_id = app
        .count("SELECT id FROM users WHERE username = 'hub'")
        .await;
    let page = admin.page(&format!("/admin/users/{hub_id}/sign-in")).await;
    assert!(
        page.text("main")
            .contains("An authenticator app was set up")
    );
    let res = admin
        .post_form(&format!("/admin/users/{hub_id}/two-factor/reset"), &[])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // the hub's session has ended, and its next sign-in enrols again
    assert_eq!(location(&hub.get("/hub").await), "/login");
    app.clock.set(default_now() + Duration::minutes(2));
    let (again, _, _) = enrol(&app, "hub").await;
    assert_eq!(again.get("/hub").await.status(), StatusCode::OK);
}
