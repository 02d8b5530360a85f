//! Single sign-on against a real OpenID Connect provider: the certified `oidc-provider` npm
//! package, run by node from `tests/oidc/provider.mjs` (its development login and consent
//! pages stand in for the person at NHS CIS2). Homeward runs the authorisation code flow
//! with PKCE through it, checks the ID token, and signs in the account an administrator
//! linked to the provider's subject. Skipped with a message when node or npm is missing,
//! unless HOMEWARD_REQUIRE_ALL_TESTS=1.

use crate::common::*;
use reqwest::StatusCode;
use std::process::Stdio;
use tokio::io::AsyncBufReadExt;

const OIDC_PROVIDER_VERSION: &str = "9.13.3";
const CLIENT_ID: &str = "homeward-test";
const CLIENT_SECRET: &str = "homeward-test-client-secret";

/// Where `oidc-provider` is installed (once per machine, with npm).
async fn provider_dir() -> std::path::PathBuf {
    static DIR: tokio::sync::OnceCell<std::path::PathBuf> = tokio::sync::OnceCell::const_new();
    DIR.get_or_init(|| async {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        let dir = cache
            .join("homeward")
            .join(format!("oidc-provider-{OIDC_PROVIDER_VERSION}"));
        if !dir.join("node_modules/oidc-provider/package.json").exists() {
            std::fs::create_dir_all(&dir).expect("a cache folder");
            let out = tokio::process::Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
                .arg(&dir)
                .arg(format!("oidc-provider@{OIDC_PROVIDER_VERSION}"))
                .output()
                .await
                .expect("npm runs");
            assert!(
                out.status.success(),
                "npm install oidc-provider: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // the script sits beside node_modules so that `import 'oidc-provider'` finds it
        std::fs::write(
            dir.join("provider.mjs"),
            include_str!("../oidc/provider.mjs"),
        )
        .expect("the provider script");
        dir
    })
    .await
    .clone()
}

/// A running provider, killed when dropped (and when the test process dies).
struct Provider {
    _child: tokio::process::Child,
    issuer: String,
}

async fn start_provider(port: u16, redirect_uri: &str) -> Provider {
    let dir = provider_dir().await;
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(dir.join("provider.mjs"))
        .current_dir(&dir)
        .env("PORT", port.to_string())
        .env("CLIENT_ID", CLIENT_ID)
        .env("CLIENT_SECRET", CLIENT_SECRET)
        .env("REDIRECT_URI", redirect_uri)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    die_with_parent(&mut cmd);
    let mut child = cmd.spawn().expect("node starts");
    let stdout = child.stdout.take().expect("its output");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.trim() == "ready" {
                return true;
            }
        }
        false
    })
    .await;
    assert!(matches!(ready, Ok(true)), "oidc-provider did not start");
    // keep reading what it prints, or its next write would fail (EPIPE) and end it
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Provider {
        _child: child,
        issuer: format!("http://127.0.0.1:{port}"),
    }
}

/// Follows redirects by hand (the cookie jar is shared by both servers on 127.0.0.1) until
/// an answer is not a redirect or points back at Homeward; returns that answer's URL and
/// the response.
async fn follow(b: &Browser, mut url: String, until: &str) -> (String, reqwest::Response) {
    for _ in 0..10 {
        let res = b.client.get(&url).send().await.expect("an answer");
        if !res.status().is_redirection() {
            return (url, res);
        }
        let next = reqwest::Url::parse(&url)
            .and_then(|u| u.join(&location(&res)))
            .expect("a redirect URL")
            .to_string();
        if next.starts_with(until) {
            return (next, res);
        }
        url = next;
    }
    panic!("too many redirects from {url}");
}

/// Fills and posts the provider's form on `page` (its hidden fields, plus `fields`); returns
/// where it redirects.
async fn post_provider_form(b: &Browser, page: &Html, fields: &[(&str, &str)]) -> String {
    let action = page.attr("form", "action").expect("a form");
    let sel = scraper::Selector::parse("form input[type=hidden]").expect("selector");
    let mut form: Vec<(String, String)> = page
        .0
        .select(&sel)
        .filter_map(|i| {
            Some((
                i.value().attr("name")?.to_string(),
                i.value().attr("value").unwrap_or_default().to_string(),
            ))
        })
        .collect();
    form.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let res = b
        .client
        .post(&action)
        .form(&form)
        .send()
        .await
        .expect("the provider answers");
    assert!(res.status().is_redirection(), "{}", res.status());
    reqwest::Url::parse(&action)
        .and_then(|u| u.join(&location(&res)))
        .expect("a redirect URL")
        .to_string()
}

/// Signs in at the provider as `login` starting from Homeward's sign-in page, and returns
/// Homeward's answer to the callback.
async fn sign_in_through_provider(app: &TestApp, b: &Browser, login: &str) -> reqwest::Response {
    let page = b.page("/login").await;
    let href = page
        .attr("a[href='/login/sso']", "href")
        .expect("a single sign-on button");
    assert!(page.text("main").contains("Sign in with Test CIS2"));
    let (url, res) = follow(b, app.url(&href), &app.base).await;
    assert_eq!(res.status(), StatusCode::OK, "the provider's login page");
    let login_page = Html::from(res).await;
    let next = post_provider_form(b, &login_page, &[("login", login), ("password", "any")]).await;
    let _ = url;
    let (_, res) = follow(b, next, &app.base).await;
    let consent = Html::from(res).await;
    let next = post_provider_form(b, &consent, &[]).await;
    let (callback, _) = follow(b, next, &app.base).await;
    assert!(
        callback.starts_with(&app.url("/login/sso/callback?")),
        "{callback}"
    );
    b.client.get(&callback).send().await.expect("an answer")
}

#[tokio::test]
async fn single_sign_on_through_a_real_openid_connect_provider() {
    let missing: Vec<String> = ["node", "npm"]
        .into_iter()
        .filter_map(missing_program)
        .collect();
    if !tools_present(
        "single_sign_on_through_a_real_openid_connect_provider",
        &missing,
    ) {
        return;
    }
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let app = TestApp::spawn_configured(default_now(), |base| homeward::config::Config {
        oidc: Some(homeward::config::OidcConfig {
            issuer: issuer.clone(),
            client_id: CLIENT_ID.into(),
            client_secret: homeward::config::Secret(CLIENT_SECRET.into()),
            redirect_url: format!("{base}/login/sso/callback"),
            label: "Test CIS2".into(),
            scopes: vec![],
        }),
        ..test_config()
    })
    .await;
    let provider = start_provider(port, &app.url("/login/sso/callback")).await;
    assert_eq!(provider.issuer, issuer);

    // nobody is linked yet: the provider signs the person in, Homeward does not
    let b = app.anonymous_browser();
    let res = sign_in_through_provider(&app, &b, "555000111222").await;
    let page = expect_page(res, StatusCode::FORBIDDEN).await;
    assert_eq!(page.text(".hw-sso-subject"), "555000111222");
    assert_eq!(location(&b.get("/ward").await), "/login");

    // an administrator links that identity to the ward user
    let ward_id = app
        .count("SELECT id FROM users WHERE username = 'ward'")
        .await;
    let admin = app.browser("admin").await;
    let res = admin
        .post_form(
            &format!("/admin/users/{ward_id}/sso"),
            &[("subject", "555000111222")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // the same identity cannot be linked to someone else
    let hub_id = app
        .count("SELECT id FROM users WHERE username = 'hub'")
        .await;
    let res = admin
        .post_form(
            &format!("/admin/users/{hub_id}/sso"),
            &[("subject", "555000111222")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // now the round trip signs the ward user in
    let b = app.anonymous_browser();
    let res = sign_in_through_provider(&app, &b, "555000111222").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/ward");
    let callback = res.url().to_string();
    let page = b.page("/ward").await;
    assert!(page.text("header").contains("ward"));

    // a callback cannot be replayed, even by the browser it was for: its state was used up
    let res = b.client.get(&callback).send().await.expect("an answer");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // nor forged by another
    let b2 = app.anonymous_browser();
    let res = b2
        .get("/login/sso/callback?code=made-up&state=made-up")
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // a disabled user cannot sign in this way either
    admin
        .post_form(
            &format!("/admin/users/{ward_id}/disable"),
            &[("confirmed", "yes")],
        )
        .await;
    let b3 = app.anonymous_browser();
    let res = sign_in_through_provider(&app, &b3, "555000111222").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // and the linked user's earlier session ended with the disable
    assert_eq!(location(&b.get("/ward").await), "/login");
}
