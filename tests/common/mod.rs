//! Starts Homeward for a test: the real application on a random port, on the fresh
//! database `#[sqlx::test]` made for this test, with a fixed clock and a small known area
//! (two trusts, the hub, two providers, one user of each role).

#![allow(dead_code)]

use chrono::{DateTime, Utc};
use homeward::config::Config;
use homeward::domain::time::Clock;
use homeward::state::AppState;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

pub const PASSWORD: &str = "correct-horse-battery";

/// Sunday 22 November 2026, 10:00 GMT.
pub fn default_now() -> DateTime<Utc> {
    utc("2026-11-22T10:00:00Z")
}

pub fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub struct TestApp {
    pub base: String,
    pub pool: PgPool,
    pub clock: Clock,
    pub state: AppState,
}

const AREA: &str = "
INSERT INTO organisations (code, name, sector, kind) VALUES
  ('RHW', 'Royal Hartwell', 'nhs_acute', 'acute_trust'),
  ('RXX', 'Riverside', 'nhs_acute', 'acute_trust'),
  ('HUB', 'The Hub', 'local_authority', 'hub'),
  ('PRV1', 'Meadowbank', 'independent', 'provider'),
  ('PRV2', 'Homeward Bound', 'independent', 'provider');
INSERT INTO sites (code, org_code, name) VALUES ('RHW01', 'RHW', 'Hartwell General'), ('RXX01', 'RXX', 'Riverside Infirmary');
INSERT INTO wards (code, site_code, org_code, name) VALUES
  ('RHW-AMU', 'RHW01', 'RHW', 'Acute Medical Unit'),
  ('RHW-W10', 'RHW01', 'RHW', 'Ward 10'),
  ('RXX-W01', 'RXX01', 'RXX', 'Ward 1');
";

pub const USERS: &[(&str, &str, &str)] = &[
    ("ward", "ward", "RHW"),
    ("ward2", "ward", "RXX"),
    ("hub", "hub", "HUB"),
    ("provider", "provider", "PRV1"),
    ("provider2", "provider", "PRV2"),
    ("admin", "admin", "HUB"),
];

impl TestApp {
    pub async fn spawn(pool: PgPool) -> TestApp {
        Self::spawn_at(pool, default_now()).await
    }

    pub async fn spawn_at(pool: PgPool, now: DateTime<Utc>) -> TestApp {
        Self::spawn_with(pool, now, Config::default()).await
    }

    pub async fn spawn_with(pool: PgPool, now: DateTime<Utc>, config: Config) -> TestApp {
        tower_sessions_sqlx_store::PostgresStore::new(pool.clone())
            .migrate()
            .await
            .unwrap();
        sqlx::raw_sql(AREA).execute(&pool).await.unwrap();
        let hash = password_auth::generate_hash(PASSWORD);
        for (username, role, org) in USERS {
            sqlx::query("INSERT INTO users (username, display_name, role, org_code, password_hash) VALUES ($1, $1, $2, $3, $4)")
                .bind(username)
                .bind(role)
                .bind(org)
                .bind(&hash)
                .execute(&pool)
                .await
                .unwrap();
        }
        let clock = Clock::fixed(now);
        let state = AppState::new(pool.clone(), clock.clone(), config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = homeward::app(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        TestApp {
            base: format!("http://{addr}"),
            pool,
            clock,
            state,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// An API client signed in as `username` with a bearer token.
    pub async fn api(&self, username: &str) -> Api {
        let client = Client::new();
        let res = client
            .post(self.url("/api/v1/auth/token"))
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "token for {username}");
        let body: Value = res.json().await.unwrap();
        Api {
            base: self.base.clone(),
            client,
            token: body["token"].as_str().unwrap().to_string(),
        }
    }

    /// A browser-like client (cookies, no redirects followed) signed in as `username`.
    pub async fn browser(&self, username: &str) -> Browser {
        let b = Browser::new(&self.base);
        let res = b
            .post_form("/login", &[("username", username), ("password", PASSWORD)])
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "sign in as {username}");
        b
    }

    pub fn anonymous_browser(&self) -> Browser {
        Browser::new(&self.base)
    }

    /// Creates a case through the API as `username`; returns the JSON.
    pub async fn flag(&self, username: &str, body: Value) -> Value {
        let api = self.api(username).await;
        let res = api.post("/api/v1/patients", body).await;
        assert_eq!(res.status(), StatusCode::CREATED, "flag");
        res.json().await.unwrap()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.unwrap()
    }
}

/// A valid new case on RHW-AMU, not meeting the criteria since 20 November.
pub fn patient(nhs_number: &str) -> Value {
    json!({
        "nhs_number": nhs_number,
        "given_name": "Ada",
        "family_name": "Lovelace",
        "date_of_birth": "1941-03-02",
        "sex": "female",
        "postcode": "LS9 7TF",
        "ward_code": "RHW-AMU",
        "bed": "B4",
        "admitted_at": "2026-11-18T09:30:00Z",
        "discharge_ready_at": "2026-11-20T14:00:00Z",
        "needs_summary": "Needs help with washing and dressing"
    })
}

/// A provider's offer of `places` residential (pathway 3) beds covering LS9, open for a week.
pub fn offer(places: i64) -> Value {
    json!({
        "service_type": "residential",
        "places": places,
        "available_from": "2026-11-22T08:00:00Z",
        "available_until": "2026-11-29T08:00:00Z",
        "area": "LS8, LS9",
        "notes": "Ground floor room"
    })
}

/// Valid NHS numbers for tests (Modulus 11 checked).
pub const NHS: [&str; 6] = [
    "9434765919",
    "9990000018",
    "9990000026",
    "9990000034",
    "9990000042",
    "9990000050",
];

pub struct Api {
    pub base: String,
    pub client: Client,
    pub token: String,
}

impl Api {
    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{}", self.base, path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }
    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.client
            .post(format!("{}{}", self.base, path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
    pub async fn get_json(&self, path: &str) -> Value {
        let res = self.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.json().await.unwrap()
    }
    /// POSTs and expects `status`; returns the body as JSON.
    pub async fn post_expect(&self, path: &str, body: Value, status: StatusCode) -> Value {
        let res = self.post(path, body).await;
        let got = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(got, status, "POST {path}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

pub struct Browser {
    pub base: String,
    pub client: Client,
}

impl Browser {
    fn new(base: &str) -> Browser {
        Browser {
            base: base.to_string(),
            client: Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }
    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .unwrap()
    }
    /// GETs a page that must answer 200 and returns its parsed HTML.
    pub async fn page(&self, path: &str) -> Html {
        let res = self.get(path).await;
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
        Html::parse(&text)
    }
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(format!("{}{}", self.base, path))
            .form(form)
            .send()
            .await
            .unwrap()
    }
}

/// Parsed HTML, checked by CSS selector.
pub struct Html(pub scraper::Html);

impl Html {
    pub fn parse(text: &str) -> Html {
        Html(scraper::Html::parse_document(text))
    }
    pub async fn from(res: Response) -> Html {
        Html::parse(&res.text().await.unwrap())
    }
    /// The text of every element matching `selector`, whitespace collapsed.
    pub fn texts(&self, selector: &str) -> Vec<String> {
        let sel = scraper::Selector::parse(selector).unwrap();
        self.0
            .select(&sel)
            .map(|e| {
                e.text()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }
    pub fn text(&self, selector: &str) -> String {
        self.texts(selector).join(" | ")
    }
    pub fn count(&self, selector: &str) -> usize {
        self.texts(selector).len()
    }
    pub fn attr(&self, selector: &str, attr: &str) -> Option<String> {
        let sel = scraper::Selector::parse(selector).unwrap();
        self.0
            .select(&sel)
            .next()
            .and_then(|e| e.value().attr(attr).map(str::to_string))
    }
}

/// The URL of the database `#[sqlx::test]` made for this test, for a separate process.
pub fn database_url(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL").unwrap();
    let (server, _) = base.rsplit_once('/').unwrap();
    format!(
        "{server}/{}",
        pool.connect_options().get_database().unwrap()
    )
}

pub fn location(res: &Response) -> String {
    res.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}
