//! Configuration: command-line flags with environment fallbacks (see README).

use crate::domain::Role;
use chrono::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    /// How long a signed-in page session may sit idle before it ends; activity extends it.
    pub session_idle: Duration,
    /// How long a page session may last from sign-in, however busy.
    pub session_absolute: Duration,
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
    /// Patient choice: how long a provider's acceptance holds a place for the patient or
    /// family to choose between several before the hub books one. Zero: the first
    /// acceptance books the place at once.
    pub acceptance_hold: Duration,
    /// Sign-in throttling (CONTRACT.md "Sign-in").
    pub sign_in: SignInLimits,
    /// Roles that must enrol an authenticator app before they can use the pages.
    pub mfa_roles: Vec<Role>,
    /// A header set by the reverse proxy in front of Homeward that names the client's address
    /// (the last address in it is used); without it, the connection's peer address.
    pub client_ip_header: Option<axum::http::HeaderName>,
    /// Single sign-on by OpenID Connect, when configured.
    pub oidc: Option<OidcConfig>,
    /// Longest a request may take, from its first byte to its answer (the event stream
    /// excepted); also the database's `statement_timeout` ([`crate::web::guard`]).
    pub request_timeout: std::time::Duration,
    /// Requests worked on at once; more are shed with 503 + `Retry-After`.
    pub max_concurrent_requests: u32,
    /// `Strict-Transport-Security: max-age=N; includeSubDomains` when set (behind TLS only).
    pub hsts_max_age: Option<u64>,
    /// How long the hospital feed's messages are kept once dealt with (applied, ignored,
    /// rejected, or refused and since replayed). Refusals still waiting for an admin are kept
    /// until they are replayed.
    pub hl7_keep: Duration,
}

/// How many failed sign-ins are allowed within `window` before the next is refused with 429.
#[derive(Debug, Clone)]
pub struct SignInLimits {
    pub per_account: i64,
    pub per_client: i64,
    pub window: Duration,
}

impl Default for SignInLimits {
    fn default() -> Self {
        SignInLimits {
            per_account: 5,
            per_client: 20,
            window: Duration::minutes(15),
        }
    }
}

/// An OpenID Connect provider (NHS Care Identity Service 2, or any certified provider) and
/// Homeward's registration with it.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The issuer URL; its discovery document is at `/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Homeward's callback as registered with the provider: `https://HOST/login/sso/callback`.
    pub redirect_url: String,
    /// The sign-in button's name for the provider.
    pub label: String,
    /// Scopes to ask for besides `openid`.
    pub scopes: Vec<String>,
}

/// A value that never prints (Debug shows `[redacted]`).
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            session_idle: Duration::minutes(30),
            session_absolute: Duration::hours(12),
            token_lifetime: Duration::hours(12),
            secure_cookies: false,
            static_dir: std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/static")),
            offer_stale_after: Duration::hours(24),
            choice_deadline: Duration::days(7),
            response_overdue_after: Duration::hours(4),
            acceptance_hold: Duration::zero(),
            sign_in: SignInLimits::default(),
            mfa_roles: vec![Role::Admin, Role::Hub],
            client_ip_header: None,
            oidc: None,
            request_timeout: std::time::Duration::from_secs(30),
            max_concurrent_requests: 64,
            hsts_max_age: None,
            hl7_keep: Duration::days(90),
        }
    }
}

/// Parses `--mfa-roles`: a comma-separated list of roles, or `none`.
pub fn parse_roles(text: &str) -> Result<Vec<Role>, String> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("none") {
        return Ok(vec![]);
    }
    text.split(',')
        .map(|r| {
            r.trim()
                .parse::<Role>()
                .map_err(|()| format!("{r:?} is not a role (ward, hub, provider, admin)"))
        })
        .collect()
}

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/homeward";
