//! The test harness: starts the real application on a random port, on a fresh PostgreSQL
//! database of its own, with a fixed clock and a small known area (two trusts, the hub, two
//! providers, one user of each role); clients that talk to it as a partner system (bearer
//! token) or a browser (cookies) do; and `homeward` processes started with the test's clock.
//!
//! Databases: the first test of a run builds two templates (migrated, and migrated with the
//! area and users, whose one password is hashed once per run with cheap Argon2 parameters);
//! every test then gets `CREATE DATABASE ... TEMPLATE`, dropped again when the test passes
//! (kept when it fails, to look at, and swept by the next run). Names carry a prefix of this
//! checkout and this process (`hwt_<checkout>_<pid>_`), so two checkouts, or two runs, can
//! share one PostgreSQL server. Sequences start 10,000 apart per table, so a join on the
//! wrong id can never pass by accident.

#![allow(dead_code)]

use chrono::{DateTime, Duration, Utc};
use homeward::config::Config;
use homeward::domain::time::Clock;
use homeward::state::AppState;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use std::process::Stdio;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

/// The `homeward` binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_homeward");

pub const PASSWORD: &str = "correct-horse-battery";

/// The role the application's connections use, as `homeward serve` uses by default.
pub const APP_ROLE: &str = homeward::db::roles::DEFAULT_APP_ROLE;

/// The test clock's default: Sunday 22 November 2026, 10:00 GMT. Every in-process test
/// server runs on a fixed clock, and so does every `homeward serve` a test starts, so no
/// test depends on the real date.
pub fn default_now() -> DateTime<Utc> {
    utc("2026-11-22T10:00:00Z")
}

pub fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

// ---------------------------------------------------------------------------------------
// Databases

/// The PostgreSQL server the tests use: `DATABASE_URL` (any database name in it is ignored),
/// else the local one.
fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn server_options() -> PgConnectOptions {
    PgConnectOptions::from_str(&server_url())
        .expect("DATABASE_URL is a PostgreSQL URL")
        .database("postgres")
        .log_statements(tracing::log::LevelFilter::Off)
}

/// This checkout's and this process's prefix for database names.
fn prefix() -> &'static str {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PREFIX.get_or_init(|| format!("{}{}_", checkout_prefix(), std::process::id()))
}

/// `hwt_<hash>_`: the hash of this checkout's path, this host's name and this process's PID
/// namespace, so neither two clones nor two containers (or namespaces) with the same path
/// on one PostgreSQL server share names, and the sweep's "is that process alive?" looks in
/// the namespace the PIDs belong to.
fn checkout_prefix() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let pid_namespace = std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    // FNV-1a: short and stable
    let mut h: u32 = 0x811c9dc5;
    for b in [env!("CARGO_MANIFEST_DIR"), host.trim(), &pid_namespace]
        .join("\n")
        .bytes()
    {
        h = (h ^ u32::from(b)).wrapping_mul(0x01000193);
    }
    format!("hwt_{h:08x}_")
}

async fn admin() -> PgConnection {
    PgConnection::connect_with(&server_options())
        .await
        .expect("PostgreSQL answers (bash .ci/postgres.sh starts it)")
}

async fn exec(conn: &mut PgConnection, sql: &str) {
    sqlx::raw_sql(sql)
        .execute(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The names of this run's two templates, built once per run.
struct Templates {
    bare: String,
    area: String,
}

static TEMPLATES: tokio::sync::OnceCell<Templates> = tokio::sync::OnceCell::const_new();

async fn templates() -> &'static Templates {
    TEMPLATES
        .get_or_init(|| async {
            let t = build_templates().await;
            // libtest has no "after all tests": drop the templates when the process exits
            // SAFETY: registers a plain `extern "C" fn` with no arguments.
            unsafe {
                libc::atexit(drop_templates_at_exit);
            }
            t
        })
        .await
}

extern "C" fn drop_templates_at_exit() {
    if let Some(t) = TEMPLATES.get() {
        for name in [&t.area, &t.bare] {
            drop_database(name.clone());
        }
    }
}

/// Drops a database, from a thread of its own: callers may be inside a runtime that cannot
/// be blocked on (FORCE ends the connections still open to it).
fn drop_database(name: String) {
    let shown = name.clone();
    let dropped = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(async {
                let mut conn = admin().await;
                exec(
                    &mut conn,
                    &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                )
                .await;
            })
    })
    .join();
    if dropped.is_err() {
        eprintln!("could not drop test database {shown}");
    }
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

/// [`PASSWORD`] hashed with Argon2id at the smallest cost: verification reads the cost from
/// the hash, so signing in takes microseconds in tests. Real accounts use the defaults.
fn cheap_hash() -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(8, 1, 1, None).expect("valid Argon2 parameters");
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"homeward-tests").expect("a salt");
    argon
        .hash_password(PASSWORD.as_bytes(), &salt)
        .expect("hashing")
        .to_string()
}

async fn build_templates() -> Templates {
    let mut conn = admin().await;
    sweep_stale_databases(&mut conn).await;
    let bare = format!("{}bare", prefix());
    let area = format!("{}area", prefix());
    exec(&mut conn, &format!("CREATE DATABASE \"{bare}\"")).await;
    {
        let mut db = PgConnection::connect_with(&server_options().database(&bare))
            .await
            .expect("connect to the template");
        homeward::db::MIGRATOR
            .run(&mut db)
            .await
            .expect("migrations apply");
        db.close().await.ok();
        // the session table, made by the store's own migration
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(server_options().database(&bare))
            .await
            .expect("connect to the template");
        tower_sessions_sqlx_store::PostgresStore::new(pool.clone())
            .migrate()
            .await
            .expect("session table");
        // the application role and its privileges, copied with the template into every test
        // database (the role is cluster-wide: created when missing, never dropped, as other
        // checkouts' runs may be using it)
        let mut owner = pool.acquire().await.expect("a connection");
        homeward::db::roles::grant_app_role(&mut owner, APP_ROLE)
            .await
            .expect("grant the application role");
        drop(owner);
        // every table's ids start in a range of their own
        let sequences: Vec<String> = sqlx::query_scalar(
            "SELECT quote_ident(sequencename) FROM pg_sequences WHERE schemaname = 'public' ORDER BY sequencename",
        )
        .fetch_all(&pool)
        .await
        .expect("sequences");
        for (i, seq) in sequences.iter().enumerate() {
            sqlx::query(&format!(
                "SELECT setval('{seq}', {})",
                (i as i64 + 1) * 10_000
            ))
            .execute(&pool)
            .await
            .expect("setval");
        }
        pool.close().await;
    }
    exec(
        &mut conn,
        &format!("CREATE DATABASE \"{area}\" TEMPLATE \"{bare}\""),
    )
    .await;
    {
        let mut db = PgConnection::connect_with(&server_options().database(&area))
            .await
            .expect("connect to the template");
        exec(&mut db, AREA).await;
        let hash = cheap_hash();
        for (username, role, org) in USERS {
            sqlx::query("INSERT INTO users (username, display_name, role, org_code, password_hash) VALUES ($1, $1, $2, $3, $4)")
                .bind(username)
                .bind(role)
                .bind(org)
                .bind(&hash)
                .execute(&mut db)
                .await
                .expect("a test user");
        }
        db.close().await.ok();
    }
    conn.close().await.ok();
    Templates { bare, area }
}

/// Drops this checkout's databases left by runs whose process has gone (a failed test keeps
/// its database to be looked at until then).
async fn sweep_stale_databases(conn: &mut PgConnection) {
    let mine = checkout_prefix();
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
            .bind(&mine)
            .fetch_all(&mut *conn)
            .await
            .expect("list databases");
    for name in names {
        let pid = name[mine.len()..]
            .split('_')
            .next()
            .and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive || pid == Some(std::process::id()) {
            exec(
                conn,
                &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            )
            .await;
        }
    }
}

/// A database of a test's own, dropped when the test passes.
pub struct TestDb {
    pub name: String,
    pub pool: PgPool,
}

impl TestDb {
    /// A migrated database with the test area and users.
    pub async fn with_area() -> TestDb {
        Self::from_template(&templates().await.area).await
    }

    /// A migrated database with nothing in it.
    pub async fn bare() -> TestDb {
        Self::from_template(&templates().await.bare).await
    }

    /// A database with no tables at all (not migrated).
    pub async fn empty() -> TestDb {
        templates().await;
        Self::from_template("template0").await
    }

    /// The URL of this database as the application role.
    pub fn app_url(&self) -> String {
        let server = server_options();
        format!(
            "postgres://{APP_ROLE}@{}:{}/{}",
            server.get_host(),
            server.get_port(),
            self.name
        )
    }

    async fn from_template(template: &str) -> TestDb {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let name = format!("{}{}", prefix(), NEXT.fetch_add(1, Ordering::Relaxed));
        let mut conn = admin().await;
        exec(
            &mut conn,
            &format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""),
        )
        .await;
        conn.close().await.ok();
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(server_options().database(&name).options([("jit", "off")]))
            .await
            .expect("connect to the test database");
        TestDb { name, pool }
    }

    /// A pool on this database as the application role (what the server's own pool is).
    pub async fn app_pool(&self, statement_timeout: std::time::Duration) -> PgPool {
        self.app_pool_at(server_options(), statement_timeout).await
    }

    /// [`app_pool`](Self::app_pool) through another address (such as a proxy).
    pub async fn app_pool_at(
        &self,
        server: PgConnectOptions,
        statement_timeout: std::time::Duration,
    ) -> PgPool {
        let timeout = format!("{}ms", statement_timeout.as_millis());
        // as the server's own pool: set to each request's hubs (src/tenancy.rs)
        homeward::tenancy::pool_options(false)
            .max_connections(8)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect_with(
                server
                    .database(&self.name)
                    .username(APP_ROLE)
                    .password("")
                    // until the pool names the hubs (src/tenancy.rs)
                    .application_name("homeward-test")
                    .options([
                        ("jit", "off"),
                        ("idle_in_transaction_session_timeout", "30s"),
                        ("statement_timeout", timeout.as_str()),
                    ]),
            )
            .await
            .expect("connect to the test database as the application role")
    }

    /// The URL of this database, for a `homeward` process: the server's URL (user, password,
    /// host, options) with this database's name.
    pub fn url(&self) -> String {
        let server = server_url();
        let (base, query) = match server.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (server.as_str(), String::new()),
        };
        let authority = base.rsplit_once('/').map_or(base, |(a, _)| a);
        format!("{authority}/{}{query}", self.name)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test failed: its database {} is kept to look at", self.name);
            return;
        }
        drop_database(self.name.clone());
    }
}

// ---------------------------------------------------------------------------------------
// The application

/// The configuration tests run with: the defaults, except that no role has to enrol an
/// authenticator app, so `app.browser("hub")` signs in with a password alone. Tests of
/// two-factor sign-in start from `Config::default()`, where admins and hubs must.
pub fn test_config() -> Config {
    Config {
        mfa_roles: vec![],
        ..Config::default()
    }
}

pub struct TestApp {
    pub base: String,
    pub pool: PgPool,
    pub clock: Clock,
    pub state: AppState,
    pub db: TestDb,
}

async fn bind() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port")
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_at(default_now()).await
    }

    pub async fn spawn_at(now: DateTime<Utc>) -> TestApp {
        Self::spawn_with(now, test_config()).await
    }

    pub async fn spawn_with(now: DateTime<Utc>, config: Config) -> TestApp {
        Self::spawn_configured(now, |_| config).await
    }

    /// Starts the app with a configuration made knowing its own base URL (such as a single
    /// sign-on callback).
    pub async fn spawn_configured(
        now: DateTime<Utc>,
        config: impl FnOnce(&str) -> Config,
    ) -> TestApp {
        let db = TestDb::with_area().await;
        let listener = bind().await;
        let config = config(&format!(
            "http://{}",
            listener.local_addr().expect("an address")
        ));
        // the application runs as the application role, as `homeward serve` does; the test's
        // own pool (`pool`) is the owner's, for fixtures
        let app_pool = db.app_pool(config.request_timeout).await;
        Self::serve(db, app_pool, listener, now, config).await
    }

    /// [`spawn_with`](Self::spawn_with), with the database's statement timeout set apart
    /// from the request timeout.
    pub async fn spawn_full(
        now: DateTime<Utc>,
        config: Config,
        statement_timeout: std::time::Duration,
    ) -> TestApp {
        let db = TestDb::with_area().await;
        let app_pool = db.app_pool(statement_timeout).await;
        Self::start(db, app_pool, now, config).await
    }

    /// Serves the application on `db` with `app_pool` as its pool.
    pub async fn start(
        db: TestDb,
        app_pool: PgPool,
        now: DateTime<Utc>,
        config: Config,
    ) -> TestApp {
        let listener = bind().await;
        Self::serve(db, app_pool, listener, now, config).await
    }

    async fn serve(
        db: TestDb,
        app_pool: PgPool,
        listener: tokio::net::TcpListener,
        now: DateTime<Utc>,
        config: Config,
    ) -> TestApp {
        let pool = db.pool.clone();
        let clock = Clock::fixed(now);
        // sessions and callers looked up on a pool of their own, as `homeward serve` does
        let system = homeward::db::connect_system(
            &app_pool,
            &homeward::db::DbOptions {
                pool_size: 8,
                ..Default::default()
            },
        );
        let state = AppState::new(app_pool, clock.clone(), config).with_system(system);
        let addr = listener.local_addr().expect("an address");
        let served = state.clone();
        // as `homeward serve` does (handlers see the client's address)
        tokio::spawn(async move {
            homeward::serve_on(
                listener,
                served,
                homeward::server::ServerOptions::default(),
                std::future::pending(),
            )
            .await
        });
        TestApp {
            base: format!("http://{addr}"),
            pool,
            clock,
            state,
            db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The URL of this test's database, for a separate process.
    pub fn database_url(&self) -> String {
        self.db.url()
    }

    /// An API client signed in as `username` with a bearer token.
    pub async fn api(&self, username: &str) -> Api {
        let client = Client::new();
        let res = client
            .post(self.url("/api/v1/auth/token"))
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .expect("the server answers");
        let body = expect_json(res, StatusCode::OK, &format!("token for {username}")).await;
        Api {
            base: self.base.clone(),
            client,
            token: body["token"].as_str().unwrap_or_default().to_string(),
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
        api.post_expect("/api/v1/patients", body, StatusCode::CREATED)
            .await
    }

    /// Creates a case and returns its id.
    pub async fn flag_id(&self, username: &str, body: Value) -> i64 {
        id_of(&self.flag(username, body).await)
    }

    /// Flags [`patient`]`(nhs)` as the ward and has the hub choose `pathway`: a case awaiting
    /// care on that pathway (on pathway 0, ready to go). Returns its id.
    pub async fn awaiting_care(&self, nhs: &str, pathway: i64) -> i64 {
        let id = self.flag_id("ward", patient(nhs)).await;
        self.choose_pathway(id, pathway).await;
        id
    }

    /// The hub chooses `pathway` for case `id`, which must succeed; returns the case.
    pub async fn choose_pathway(&self, id: i64, pathway: i64) -> Value {
        self.api("hub")
            .await
            .post_expect(
                &format!("/api/v1/patients/{id}/pathway"),
                json!({"pathway": pathway}),
                StatusCode::OK,
            )
            .await
    }

    /// `provider` posts an offer (`body`, such as [`offer`]), which must be created; returns it.
    pub async fn post_offer(&self, provider: &str, body: Value) -> Value {
        self.api(provider)
            .await
            .post_expect("/api/v1/capacity", body, StatusCode::CREATED)
            .await
    }

    /// The hub refers case `patient_id` to offer `offer_id`, which must be created; returns the
    /// referral.
    pub async fn refer(&self, patient_id: i64, offer_id: i64) -> Value {
        self.api("hub")
            .await
            .post_expect(
                "/api/v1/referrals",
                json!({"patient_id": patient_id, "offer_id": offer_id}),
                StatusCode::CREATED,
            )
            .await
    }

    /// `provider` answers referral `referral_id` with `decision` (such as "accept"), which must
    /// succeed; returns the referral.
    pub async fn decide(&self, provider: &str, referral_id: i64, decision: &str) -> Value {
        self.api(provider)
            .await
            .post_expect(
                &format!("/api/v1/referrals/{referral_id}/decision"),
                json!({"decision": decision}),
                StatusCode::OK,
            )
            .await
    }

    /// Case `id`'s history entries, oldest first, as the hub reads them.
    pub async fn history(&self, id: i64) -> Vec<Value> {
        let history = self
            .api("hub")
            .await
            .get_json(&format!("/api/v1/patients/{id}/history"))
            .await;
        items(&history).to_vec()
    }

    /// The actions in case `id`'s history, oldest first.
    pub async fn history_actions(&self, id: i64) -> Vec<String> {
        column(&self.history(id).await, "action")
    }

    /// Case `id`'s current version, as a form carries it.
    pub async fn form_version(&self, id: i64) -> String {
        self.count(&format!(
            "SELECT version::bigint FROM patients WHERE id = {id}"
        ))
        .await
        .to_string()
    }

    /// Moves the test clock to `t` (RFC 3339) and signs in as `user` there.
    pub async fn api_at(&self, t: &str, user: &str) -> Api {
        self.clock.set(utc(t));
        self.api(user).await
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Starts `homeward serve` as a separate process on this test's database, with this
    /// test's clock (as it is now).
    pub async fn serve_process(&self) -> Server {
        Server::start(&self.database_url(), Some(self.clock.now()), &[]).await
    }
}

/// The `id` of a JSON object, which must have one.
pub fn id_of(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

/// The `items` of a JSON list answer, which must have them.
pub fn items(v: &Value) -> &[Value] {
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {v}"))
}

/// The text field `key` of each of `entries`, each of which must have it.
pub fn column(entries: &[Value], key: &str) -> Vec<String> {
    entries
        .iter()
        .map(|e| {
            e[key]
                .as_str()
                .unwrap_or_else(|| panic!("no {key} in {e}"))
                .to_string()
        })
        .collect()
}

/// The body of a response, whatever its status, as text.
pub async fn text_of(res: Response) -> String {
    let url = res.url().to_string();
    res.text()
        .await
        .unwrap_or_else(|e| panic!("reading {url}: {e}"))
}

/// Reads a response, which must have `status`, as JSON; the body is shown when it does not.
pub async fn expect_json(res: Response, status: StatusCode, what: &str) -> Value {
    let got = res.status();
    let text = res.text().await.unwrap_or_default();
    assert_eq!(got, status, "{what}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

// ---------------------------------------------------------------------------------------
// Other processes

/// A `homeward serve` process, killed when dropped.
pub struct Server {
    pub child: tokio::process::Child,
    pub base: String,
}

impl Server {
    /// Starts `homeward serve` on `database_url` with a fixed clock (or the system's) and
    /// waits until it answers.
    pub async fn start(database_url: &str, clock: Option<DateTime<Utc>>, args: &[&str]) -> Server {
        Self::start_with(database_url, clock, args, &[]).await
    }

    /// [`start`](Self::start) with more environment variables.
    pub async fn start_with(
        database_url: &str,
        clock: Option<DateTime<Utc>>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        Self::start_logging_to(database_url, clock, args, env, Stdio::null()).await
    }

    /// [`start_with`](Self::start_with), with the server's log (its standard output) sent to
    /// `log`.
    pub async fn start_logging_to(
        database_url: &str,
        clock: Option<DateTime<Utc>>,
        args: &[&str],
        env: &[(&str, &str)],
        log: Stdio,
    ) -> Server {
        let port = free_port();
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.env("DATABASE_URL", database_url)
            .envs(env.iter().copied())
            .env("HOMEWARD_DB_POOL_SIZE", "4")
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .args(args)
            .stdout(log)
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if let Some(at) = clock {
            cmd.env("HOMEWARD_TEST_CLOCK", at.to_rfc3339());
        }
        die_with_parent(&mut cmd);
        let child = cmd.spawn().expect("the homeward binary starts");
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..150 {
            if reqwest::get(format!("{base}/healthz")).await.is_ok() {
                return Server { child, base };
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("homeward serve did not answer within 15 s");
    }

    pub fn pid(&self) -> i32 {
        self.child.id().expect("the server is running") as i32
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        // SAFETY: kill() with a PID we started and a valid signal number.
        let sent = unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        assert_eq!(sent, 0, "SIGTERM sent");
    }

    /// A bearer token from this server.
    pub async fn token(&self, user: &str) -> String {
        let res = Client::new()
            .post(format!("{}/api/v1/auth/token", self.base))
            .json(&json!({"username": user, "password": PASSWORD}))
            .send()
            .await
            .expect("the server answers");
        let body = expect_json(res, StatusCode::OK, &format!("token for {user}")).await;
        body["token"].as_str().unwrap_or_default().to_string()
    }
}

/// The child gets SIGKILL when the test process dies, however it dies (`kill_on_drop` only
/// covers a clean drop).
pub fn die_with_parent(cmd: &mut tokio::process::Command) {
    // SAFETY: prctl is async-signal-safe and touches only the child's own settings.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Whether a test that needs tools outside Rust (Chromium, Java) should run. Without them it
/// is skipped with a message, unless `HOMEWARD_REQUIRE_ALL_TESTS=1` (set by `.ci/test`, which
/// installs them), where a missing tool is a failure.
pub fn tools_present(test: &str, missing: &[String]) -> bool {
    if missing.is_empty() {
        return true;
    }
    let list = missing.join(", ");
    if std::env::var("HOMEWARD_REQUIRE_ALL_TESTS").is_ok_and(|v| v == "1") {
        panic!("{test} needs {list} (HOMEWARD_REQUIRE_ALL_TESTS=1)");
    }
    // straight to the process's stderr: the test harness captures eprintln! output of
    // passing tests, and a skip must be seen
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: needs {list}; `bash .ci/test` installs it and runs this test"
    );
    false
}

/// `name` when no executable of that name is on the PATH (or at that path).
pub fn missing_program(name: &str) -> Option<String> {
    let found = if name.contains('/') {
        std::path::Path::new(name).exists()
    } else {
        std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
    };
    (!found).then(|| name.to_string())
}

// ---------------------------------------------------------------------------------------
// Fixtures

/// A valid new case on RHW-AMU, admitted on 18 and not meeting the criteria since 20
/// November 2026 (the test clock's week).
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

/// [`patient`], admitted four days and ready two days before `now`.
pub fn patient_at(nhs_number: &str, now: DateTime<Utc>) -> Value {
    let mut p = patient(nhs_number);
    p["admitted_at"] = json!((now - Duration::days(4)).to_rfc3339());
    p["discharge_ready_at"] = json!((now - Duration::days(2)).to_rfc3339());
    p
}

/// A provider's offer of `places` residential (pathway 3) beds covering LS9, open for the
/// test clock's week (22 to 29 November 2026).
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

/// [`offer`], open from `now` for a week.
pub fn offer_at(places: i64, now: DateTime<Utc>) -> Value {
    let mut o = offer(places);
    o["available_from"] = json!(now.to_rfc3339());
    o["available_until"] = json!((now + Duration::days(7)).to_rfc3339());
    o
}

/// A valid NHS number (Modulus 11) for a serial number, beyond the ones in [`NHS`].
pub fn valid_nhs(serial: usize) -> String {
    let mut n = 600_000_000 + serial as u64 * 7;
    loop {
        let digits: Vec<u64> = format!("{n:09}")
            .bytes()
            .map(|b| u64::from(b - b'0'))
            .collect();
        let sum: u64 = digits
            .iter()
            .enumerate()
            .map(|(i, d)| d * (10 - i as u64))
            .sum();
        let check = (11 - sum % 11) % 11;
        if check != 10 {
            return format!("{n:09}{check}");
        }
        n += 1;
    }
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

// ---------------------------------------------------------------------------------------
// Clients

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
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }
    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.client
            .post(format!("{}{}", self.base, path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }
    pub async fn patch(&self, path: &str, body: Value) -> Response {
        self.client
            .patch(format!("{}{}", self.base, path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("PATCH {path}: {e}"))
    }
    /// PATCHes and expects `status`; returns the body as JSON.
    pub async fn patch_expect(&self, path: &str, body: Value, status: StatusCode) -> Value {
        expect_json(
            self.patch(path, body).await,
            status,
            &format!("PATCH {path}"),
        )
        .await
    }
    /// GETs and expects 200; returns the body as JSON (shown when the status is not 200).
    pub async fn get_json(&self, path: &str) -> Value {
        expect_json(self.get(path).await, StatusCode::OK, &format!("GET {path}")).await
    }
    /// GETs and expects `status`; returns the body as JSON.
    pub async fn get_expect(&self, path: &str, status: StatusCode) -> Value {
        expect_json(self.get(path).await, status, &format!("GET {path}")).await
    }
    /// POSTs and expects `status`; returns the body as JSON.
    pub async fn post_expect(&self, path: &str, body: Value, status: StatusCode) -> Value {
        expect_json(self.post(path, body).await, status, &format!("POST {path}")).await
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
                .expect("an HTTP client"),
        }
    }
    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }
    /// GETs a page that must answer 200 and returns its parsed HTML.
    pub async fn page(&self, path: &str) -> Html {
        let res = self.get(path).await;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
        Html::parse(&text)
    }
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(format!("{}{}", self.base, path))
            .form(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }
}

/// Parsed HTML, checked by CSS selector.
pub struct Html(pub scraper::Html);

impl Html {
    pub fn parse(text: &str) -> Html {
        Html(scraper::Html::parse_document(text))
    }
    pub async fn from(res: Response) -> Html {
        Html::parse(&res.text().await.unwrap_or_default())
    }
    /// The text of every element matching `selector`, whitespace collapsed.
    pub fn texts(&self, selector: &str) -> Vec<String> {
        let sel = scraper::Selector::parse(selector)
            .unwrap_or_else(|e| panic!("selector {selector}: {e}"));
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
        let sel = scraper::Selector::parse(selector)
            .unwrap_or_else(|e| panic!("selector {selector}: {e}"));
        self.0
            .select(&sel)
            .next()
            .and_then(|e| e.value().attr(attr).map(str::to_string))
    }
    /// `attr` of every element `selector` finds, in document order.
    pub fn attrs(&self, selector: &str, attr: &str) -> Vec<String> {
        let sel = scraper::Selector::parse(selector)
            .unwrap_or_else(|e| panic!("selector {selector}: {e}"));
        self.0
            .select(&sel)
            .filter_map(|e| e.value().attr(attr).map(str::to_string))
            .collect()
    }
}

pub fn location(res: &Response) -> String {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// A response's content type (empty when it has none).
pub fn content_type(res: &Response) -> String {
    res.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Reads a page response, which must have `status`; the body is shown when it does not.
pub async fn expect_page(res: Response, status: StatusCode) -> Html {
    let got = res.status();
    let url = res.url().path().to_string();
    let text = res.text().await.unwrap_or_default();
    assert_eq!(got, status, "{url}: {text}");
    Html::parse(&text)
}

// ---------------------------------------------------------------------------------------
// Event streams

/// An open event stream (`GET /api/v1/events`), read event by event.
pub struct EventStream {
    res: Response,
    buf: String,
    ended: bool,
}

impl EventStream {
    /// Opens a stream with a bearer token and waits for its `ready` event.
    pub async fn open(base: &str, token: &str) -> EventStream {
        Self::open_with(&Client::new(), base, token).await
    }

    pub async fn open_with(client: &Client, base: &str, token: &str) -> EventStream {
        let res = client
            .get(format!("{base}/api/v1/events"))
            .bearer_auth(token)
            .send()
            .await
            .expect("the server answers");
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(content_type(&res), "text/event-stream");
        let mut s = EventStream {
            res,
            buf: String::new(),
            ended: false,
        };
        let (kind, _) = s
            .next(std::time::Duration::from_secs(5))
            .await
            .expect("a ready event");
        assert_eq!(kind, "ready");
        s
    }

    /// The next event (type, data), or None if none arrives in time or the stream ended.
    pub async fn next(&mut self, within: std::time::Duration) -> Option<(String, Value)> {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut kind = String::new();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        kind = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if kind.is_empty() {
                    continue; // keep-alive comment
                }
                return Some((kind, serde_json::from_str(&data).unwrap_or(Value::Null)));
            }
            if self.ended {
                return None;
            }
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            match tokio::time::timeout(left, self.res.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(Ok(None)) | Ok(Err(_)) => self.ended = true,
                Err(_) => return None,
            }
        }
    }

    /// Every event arriving within the time (stops early when the stream ends).
    pub async fn drain(&mut self, within: std::time::Duration) -> Vec<(String, Value)> {
        let deadline = std::time::Instant::now() + within;
        let mut out = vec![];
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match self.next(left).await {
                Some(e) => out.push(e),
                None => break,
            }
        }
        out
    }

    /// Whether the server has ended the stream (seen so far).
    pub fn ended(&self) -> bool {
        self.ended
    }
}
