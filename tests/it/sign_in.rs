//! Throttled sign-in (CONTRACT.md "Sign-in"): 5 failures for one username within 15 minutes,
//! or 20 from one client address, and the next attempt gets 429 with `Retry-After` and the
//! error JSON, for a username that exists or not; the page and the API share the count, so
//! do several server processes; racing attempts cannot slip past it; failures are logged
//! without the password; new passwords follow the NCSC-style policy.

use crate::common::*;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

async fn token_call(base: &str, username: &str, password: &str) -> Response {
    reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .expect("the server answers")
}

fn retry_after(res: &Response) -> i64 {
    res.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After in {:?}", res.headers()))
}

#[tokio::test]
async fn the_sixth_failure_for_a_username_is_refused_with_429_whether_or_not_it_exists() {
    let app = TestApp::spawn().await;
    let mut refusals: Vec<Value> = vec![];
    for username in ["hub", "nobody.here"] {
        for attempt in 1..=5 {
            let res = token_call(&app.base, username, "wrong-password-guess").await;
            assert_eq!(
                res.status(),
                StatusCode::UNAUTHORIZED,
                "{username} #{attempt}"
            );
        }
        let res = token_call(&app.base, username, "wrong-password-guess").await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{username}");
        // every failure happened at the (fixed) test clock's now: 15 minutes to wait
        assert_eq!(retry_after(&res), 900, "{username}");
        refusals.push(res.json().await.expect("the error JSON"));
    }
    // the same answer for a username that exists and one that does not
    assert_eq!(refusals[0], refusals[1]);
    assert_eq!(refusals[0]["error"]["code"], "too_many_attempts");
    // the right password is refused too while the account is throttled
    let res = token_call(&app.base, "hub", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // other accounts are not affected
    assert_eq!(
        token_call(&app.base, "ward", PASSWORD).await.status(),
        StatusCode::OK
    );
    // a minute before the window passes, still refused, and told how long is left
    app.clock.set(default_now() + chrono::Duration::minutes(14));
    let res = token_call(&app.base, "hub", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&res), 60);
    app.clock.set(default_now() + chrono::Duration::minutes(15));
    assert_eq!(
        token_call(&app.base, "hub", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_completed_sign_in_is_not_counted_as_a_failure() {
    let app = TestApp::spawn().await;
    for _ in 0..4 {
        token_call(&app.base, "hub", "wrong-password-guess").await;
    }
    for _ in 0..10 {
        assert_eq!(
            token_call(&app.base, "hub", PASSWORD).await.status(),
            StatusCode::OK
        );
    }
    // the four failures still count: one more is allowed, then 429
    assert_eq!(
        token_call(&app.base, "hub", "wrong-password-guess")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        token_call(&app.base, "hub", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn twenty_failures_from_one_address_refuse_every_username_from_it() {
    let app = TestApp::spawn().await;
    // a password spray: four guesses at each of five usernames, all from 127.0.0.1
    for username in ["ward", "ward2", "hub", "provider", "someone.else"] {
        for _ in 0..4 {
            let res = token_call(&app.base, username, "Winter2026!").await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{username}");
        }
    }
    let res = token_call(&app.base, "admin", "Winter2026!").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&res), 900);
    // even a right password, from this address
    assert_eq!(
        token_call(&app.base, "provider2", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // the sign-in page says the same
    let res = app
        .anonymous_browser()
        .post_form(
            "/login",
            &[("username", "provider2"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_sign_in_page_and_the_api_share_one_count() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous_browser();
    for _ in 0..3 {
        let res = anon
            .post_form("/login", &[("username", "hub"), ("password", "nope-nope")])
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    for _ in 0..2 {
        token_call(&app.base, "hub", "nope-nope").await;
    }
    let res = anon
        .post_form("/login", &[("username", "hub"), ("password", PASSWORD)])
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after(&res), 900);
    let page = Html::from(res).await;
    assert!(
        page.text(".nhsuk-error-summary")
            .contains("Too many failed attempts. Wait 15 minutes"),
        "{}",
        page.text(".nhsuk-error-summary")
    );
}

#[tokio::test]
async fn racing_wrong_passwords_get_exactly_five_checks() {
    let app = TestApp::spawn().await;
    let attempts = (0..30).map(|_| token_call(&app.base, "hub", "racing-guess-123"));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, refused), (5, 25), "{statuses:?}");
}

#[tokio::test]
async fn every_server_process_on_the_database_counts_the_same_failures() {
    let app = TestApp::spawn().await;
    let a = app.serve_process().await;
    let b = app.serve_process().await;
    for (i, base) in [&a.base, &b.base, &a.base, &b.base, &a.base]
        .into_iter()
        .enumerate()
    {
        let res = token_call(base, "ward", "wrong-password-guess").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {}", i + 1);
    }
    for base in [&a.base, &b.base, &app.base] {
        let res = token_call(base, "ward", PASSWORD).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{base}");
    }
}

#[tokio::test]
async fn every_failure_is_logged_without_the_password() {
    let app = TestApp::spawn().await;
    // a real server process, logging as in production, to a file of this test's own
    let log = std::env::temp_dir().join(format!("homeward-sign-in-log-{}", app.db.name));
    let file = std::fs::File::create(&log).expect("a log file");
    let mut server = Server::start_logging_to(
        &app.database_url(),
        Some(app.clock.now()),
        &[],
        &[],
        file.into(),
    )
    .await;
    token_call(&server.base, "hub", "Secret-Guess-One").await;
    token_call(&server.base, "no.such.user", "Secret-Guess-Two").await;
    reqwest::Client::new()
        .post(format!("{}/login", server.base))
        .form(&[("username", "ward"), ("password", "Secret-Guess-Three")])
        .send()
        .await
        .expect("the page answers");
    server.child.kill().await.expect("the server stops");
    let text = std::fs::read_to_string(&log).expect("the log");
    std::fs::remove_file(&log).ok();
    let refused: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("sign-in refused"))
        .collect();
    assert_eq!(refused.len(), 3, "{text}");
    assert!(
        refused[0].contains("reason=\"wrong_password\"") && refused[0].contains("username=hub")
    );
    assert!(refused[1].contains("reason=\"unknown_username\""));
    assert!(refused[2].contains("username=ward") && refused[2].contains("client=127.0.0.1"));
    assert!(!text.contains("Secret-Guess"), "{text}");
    // an unknown username is not logged: it is often a password typed in the wrong box
    assert!(!text.contains("no.such.user"), "{text}");
}

#[tokio::test]
async fn usernames_are_not_case_sensitive_at_sign_in() {
    let app = TestApp::spawn().await;
    assert_eq!(
        token_call(&app.base, " Hub ", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn common_and_short_passwords_are_refused_and_long_ones_of_any_kind_accepted() {
    let app = TestApp::spawn().await;
    let admin = app.browser("admin").await;
    let ward_id = app
        .count("SELECT id FROM users WHERE username = 'ward'")
        .await;
    let reset = |password: &'static str| {
        let admin = &admin;
        async move {
            admin
                .post_form(
                    &format!("/admin/users/{ward_id}/password"),
                    &[("password", password)],
                )
                .await
        }
    };
    for (password, message) in [
        ("Password1234!", "too easy to guess"),
        ("qwertyuiop123", "too easy to guess"),
        ("short-one", "12 characters or more"),
        ("ward-is-my-name", "must not contain the username"),
    ] {
        let page = expect_page(reset(password).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(
            page.text(".nhsuk-error-summary").contains(message),
            "{password}: {}",
            page.text(".nhsuk-error-summary")
        );
    }
    // no rules about digits, capitals or symbols: length is what counts
    let res = reset("marmalade kettle horizon").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        token_call(&app.base, "ward", "marmalade kettle horizon")
            .await
            .status(),
        StatusCode::OK
    );
}
