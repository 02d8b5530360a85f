//! Configuration: command-line flags with environment fallbacks (see README).

use chrono::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    /// How long a signed-in page session may sit idle before it ends.
    pub session_idle: Duration,
    /// How long an API bearer token lives.
    pub token_lifetime: Duration,
    /// Send session cookies only over HTTPS (set when served behind TLS).
    pub secure_cookies: bool,
    /// Where the vendored NHS design system and our own JS live.
    pub static_dir: std::path::PathBuf,
    /// An offer not confirmed as still available for this long is marked stale.
    pub offer_stale_after: Duration,
    /// Days a patient is given to choose after the choice letter.
    pub choice_deadline: Duration,
    /// A referral unanswered for this long is overdue (shown to the hub).
    pub response_overdue_after: Duration,
    /// Longest a request may take, from its first byte to its answer (the event stream
    /// excepted); also the database's `statement_timeout` ([`crate::web::guard`]).
    pub request_timeout: std::time::Duration,
    /// Requests worked on at once; more are shed with 503 + `Retry-After`.
    pub max_concurrent_requests: u32,
    /// `Strict-Transport-Security: max-age=N; includeSubDomains` when set (behind TLS only).
    pub hsts_max_age: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            session_idle: Duration::minutes(30),
            token_lifetime: Duration::hours(12),
            secure_cookies: false,
            static_dir: std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/static")),
            offer_stale_after: Duration::hours(24),
            choice_deadline: Duration::days(7),
            response_overdue_after: Duration::hours(4),
            request_timeout: std::time::Duration::from_secs(30),
            max_concurrent_requests: 64,
            hsts_max_age: None,
        }
    }
}

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/homeward";
