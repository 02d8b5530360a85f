//! Sessions and tokens: a real idle timeout that activity extends (written only when worth
//! a write), an absolute lifetime, and every session and token of a user ended by a password
//! reset, by disabling and by enabling; an API token revoked by `DELETE /api/v1/auth/token`.

use crate::common::*;
use chrono::Duration;
use reqwest::StatusCode;

fn config() -> homeward::config::Config {
    homeward::config::Config {
        session_idle: Duration::minutes(30),
        session_absolute: Duration::hours(12),
        ..test_config()
    }
}

fn sets_cookie(res: &reqwest::Response) -> bool {
    res.headers().contains_key("set-cookie")
}

#[tokio::test]
async fn activity_extends_the_idle_timeout_and_idleness_ends_the_session() {
    let app = TestApp::spawn_with(default_now(), config()).await;
    let b = app.browser("hub").await;
    // busy for two hours, never more than 25 minutes apart
    for minutes in [25, 50, 75, 100, 125] {
        app.clock.set(default_now() + Duration::minutes(minutes));
        let res = b.get("/hub").await;
        assert_eq!(res.status(), StatusCode::OK, "after {minutes} minutes");
    }
    // then 30 minutes without a request
    app.clock.set(default_now() + Duration::minutes(155));
    let res = b.get("/hub").await;
    assert_eq!(location(&res), "/login");
    let page = b.page("/login").await;
    assert!(
        page.text(".hw-flash").contains("had not used Homeward"),
        "{}",
        page.text("main")
    );
    // and it stays ended
    assert_eq!(location(&b.get("/hub").await), "/login");
}

#[tokio::test]
async fn the_session_is_written_only_when_an_extension_is_worth_it() {
    let app = TestApp::spawn_with(default_now(), config()).await;
    let b = app.browser("hub").await;
    // within a tenth of the idle time of the last write: nothing written
    app.clock.set(default_now() + Duration::minutes(2));
    let res = b.get("/hub").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!sets_cookie(&res), "{:?}", res.headers());
    // past it: the extension is saved (and the cookie renewed)
    app.clock.set(default_now() + Duration::minutes(4));
    let res = b.get("/hub").await;
    assert!(sets_cookie(&res));
    app.clock.set(default_now() + Duration::minutes(5));
    assert!(!sets_cookie(&b.get("/hub").await));
    // the idle time now runs from minute 4
    app.clock.set(default_now() + Duration::minutes(33));
    assert_eq!(b.get("/hub").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime_however_busy() {
    let app = TestApp::spawn_with(default_now(), config()).await;
    let b = app.browser("ward").await;
    let mut minutes = 0;
    while minutes < 12 * 60 - 20 {
        minutes += 20;
        app.clock.set(default_now() + Duration::minutes(minutes));
        assert_eq!(b.get("/ward").await.status(), StatusCode::OK, "{minutes}");
    }
    app.clock.set(default_now() + Duration::hours(12));
    assert_eq!(location(&b.get("/ward").await), "/login");
    assert!(
        b.page("/login")
            .await
            .text(".hw-flash")
            .contains("time limit")
    );
}

#[tokio::test]
async fn a_password_reset_ends_every_session_and_token_of_that_user() {
    let app = TestApp::spawn().await;
    let hub_page = app.browser("hub").await;
    let hub_page_2 = app.browser("hub").await;
    let hub_api = app.api("hub").await;
    let ward_page = app.browser("ward").await;
    assert_eq!(
        hub_api.get("/api/v1/patients").await.status(),
        StatusCode::OK
    );
    let hub_id = app
        .count("SELECT id FROM users WHERE username = 'hub'")
        .await;
    let res = app
        .browser("admin")
        .await
        .post_form(
            &format!("/admin/users/{hub_id}/password"),
            &[("password", "lantern meadow biscuit")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&hub_page.get("/hub").await), "/login");
    assert_eq!(location(&hub_page_2.get("/hub").await), "/login");
    assert_eq!(
        hub_api.get("/api/v1/patients").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // someone else's session is untouched
    assert_eq!(ward_page.get("/ward").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_session_from_before_a_disable_never_works_again_after_the_enable() {
    let app = TestApp::spawn().await;
    let ward_page = app.browser("ward").await;
    let ward_api = app.api("ward").await;
    let ward_id = app
        .count("SELECT id FROM users WHERE username = 'ward'")
        .await;
    let admin = app.browser("admin").await;
    for action in ["disable", "enable"] {
        let res = admin
            .post_form(
                &format!("/admin/users/{ward_id}/{action}"),
                &[("confirmed", "yes")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{action}");
    }
    assert_eq!(location(&ward_page.get("/ward").await), "/login");
    assert_eq!(
        ward_api.get("/api/v1/patients").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // a new sign-in works
    assert_eq!(
        app.browser("ward").await.get("/ward").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_revoked_token_stops_working_at_once() {
    let app = TestApp::spawn().await;
    let api = app.api("provider").await;
    let other = app.api("provider").await;
    assert_eq!(api.get("/api/v1/referrals").await.status(), StatusCode::OK);
    let revoke = || async {
        api.client
            .delete(app.url("/api/v1/auth/token"))
            .bearer_auth(&api.token)
            .send()
            .await
            .expect("the server answers")
    };
    assert_eq!(revoke().await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("/api/v1/referrals").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let again = revoke().await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = again.json().await.expect("the error JSON");
    assert_eq!(body["error"]["code"], "unauthorized");
    // only that token
    assert_eq!(
        other.get("/api/v1/referrals").await.status(),
        StatusCode::OK
    );
    // without a token at all
    let res = reqwest::Client::new()
        .delete(app.url("/api/v1/auth/token"))
        .send()
        .await
        .expect("answer");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn connections_the_database_ended_while_idle_are_replaced_not_failed() {
    let app = TestApp::spawn_with(default_now(), config()).await;
    let hub = app.browser("hub").await;
    let api = app.api("hub").await;
    // both pools hold idle connections: the application's, and the one that reads sessions
    // and callers
    for _ in 0..3 {
        assert_eq!(hub.get("/hub").await.status(), StatusCode::OK);
        assert_eq!(api.get("/api/v1/patients").await.status(), StatusCode::OK);
    }
    // the database ends every connection of the application role while they sit idle (a
    // restart, a pooler or firewall reaping idle connections)
    let role_connections =
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND usename = $1";
    let before: i64 = sqlx::query_scalar(role_connections)
        .bind(APP_ROLE)
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert!(before >= 2, "connections of both pools: {before}");
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND usename = $1",
    )
    .bind(APP_ROLE)
    .execute(&app.pool)
    .await
    .expect("end them");
    for _ in 0..50 {
        let left: i64 = sqlx::query_scalar(role_connections)
            .bind(APP_ROLE)
            .fetch_one(&app.pool)
            .await
            .expect("count");
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // every request is answered as before: the dead connections are replaced, none fails a
    // request (each is found dead before it is handed out)
    for _ in 0..4 {
        assert_eq!(hub.get("/hub").await.status(), StatusCode::OK);
        assert_eq!(api.get("/api/v1/patients").await.status(), StatusCode::OK);
    }
    let again = app.browser("hub").await;
    assert_eq!(again.get("/hub").await.status(), StatusCode::OK);
}
