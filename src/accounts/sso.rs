//! Single sign-on by OpenID Connect (NHS Care Identity Service 2 is an OpenID Connect
//! provider): the authorisation code flow with PKCE, through the `openidconnect` crate.
//!
//! `GET /login/sso` keeps a random state, nonce and PKCE verifier in the session and sends
//! the browser to the provider (a link rather than a form: the CSP's `form-action 'self'`
//! would stop a form's redirect to another origin; the step changes nothing but the sign-in
//! in progress). `GET /login/sso/callback` takes them back (once, within ten minutes),
//! checks the state, exchanges the code with the verifier and the client secret, and checks
//! the ID token (signature against the provider's published keys, issuer, audience, expiry,
//! nonce). The token's subject must have been linked to a Homeward account by an
//! administrator (`sso_links`); nothing is created from a provider's say-so. The provider is
//! trusted for the second factor (CIS2 asks for a smartcard or an authenticator), so an
//! account signed in this way is not asked for a Homeward code.
//!
//! The provider's discovery document and keys are fetched when first needed and kept for
//! fifteen minutes (dropped early when a token fails its checks, so rotated keys are picked
//! up). ID token times are checked against the real clock: they are the provider's, not
//! Homeward's test clock.

use super::{sessions, users};
use crate::config::OidcConfig;
use crate::error::{AppError, FieldErrors};
use crate::state::AppState;
use crate::web::{Layout, PageResult};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, Utc};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AsyncHttpClient, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest,
    HttpResponse, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse,
};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use tower_sessions::Session;

/// The sign-in in progress with the provider, in the session.
pub const PENDING_KEY: &str = "sso_pending";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    started_at: DateTime<Utc>,
}

/// How long to keep the provider's discovery document and keys.
const METADATA_FOR: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The configured provider, with an HTTP client for it and its cached metadata.
pub struct Sso {
    pub config: OidcConfig,
    http: Http,
    metadata: tokio::sync::RwLock<Option<(std::time::Instant, CoreProviderMetadata)>>,
}

/// Checks the provider settings before the server starts.
pub fn check_config(config: &OidcConfig) -> anyhow::Result<()> {
    let issuer = IssuerUrl::new(config.issuer.clone())
        .map_err(|e| anyhow::anyhow!("the OpenID Connect issuer is not a URL: {e}"))?;
    let url = issuer.url();
    let loopback = matches!(
        url.host(),
        Some(openidconnect::url::Host::Ipv4(ip)) if ip.is_loopback()
    ) || matches!(url.host(), Some(openidconnect::url::Host::Ipv6(ip)) if ip.is_loopback())
        || url.host_str() == Some("localhost");
    if url.scheme() != "https" && !loopback {
        anyhow::bail!("the OpenID Connect issuer must be https (plain http only on this machine)");
    }
    RedirectUrl::new(config.redirect_url.clone())
        .map_err(|e| anyhow::anyhow!("the OpenID Connect redirect URL is not a URL: {e}"))?;
    if config.client_id.is_empty() || config.client_secret.0.is_empty() {
        anyhow::bail!("OpenID Connect needs a client id and a client secret");
    }
    Ok(())
}

impl Sso {
    pub fn new(config: OidcConfig) -> anyhow::Result<Sso> {
        check_config(&config)?;
        Ok(Sso {
            config,
            http: Http::new()?,
            metadata: tokio::sync::RwLock::new(None),
        })
    }

    async fn metadata(&self) -> Result<CoreProviderMetadata, AppError> {
        if let Some((at, metadata)) = self.metadata.read().await.as_ref()
            && at.elapsed() < METADATA_FOR
        {
            return Ok(metadata.clone());
        }
        let issuer =
            IssuerUrl::new(self.config.issuer.clone()).map_err(|e| AppError::Internal(e.into()))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "OpenID Connect discovery failed");
                AppError::Unavailable
            })?;
        *self.metadata.write().await = Some((std::time::Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    async fn forget_metadata(&self) {
        *self.metadata.write().await = None;
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        AppError,
    > {
        let redirect = RedirectUrl::new(self.config.redirect_url.clone())
            .map_err(|e| AppError::Internal(e.into()))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.0.clone())),
        )
        .set_redirect_uri(redirect))
    }

    /// The subject of the ID token the code is exchanged for; `Err` with what went wrong.
    async fn subject(&self, code: String, pending: &Pending) -> Result<String, String> {
        let metadata = self.metadata().await.map_err(|e| e.to_string())?;
        let client = self.client(metadata).map_err(|e| e.to_string())?;
        let token = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| format!("no token endpoint: {e}"))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| format!("code exchange: {e}"))?;
        let id_token = token
            .id_token()
            .ok_or_else(|| "the token response has no ID token".to_string())?;
        let claims = id_token
            .claims(
                &client.id_token_verifier(),
                &Nonce::new(pending.nonce.clone()),
            )
            .map_err(|e| format!("ID token: {e}"))?;
        Ok(claims.subject().as_str().to_string())
    }
}

/// An HTTP client for the `openidconnect` crate: hyper over rustls (ring, the system's CA
/// certificates), plain HTTP only for a provider on this machine (see [`check_config`]).
/// It never follows redirects (the specification says not to), gives up after 10 s and
/// reads at most 1 MB of an answer.
struct Http(
    hyper_util::client::legacy::Client<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
        http_body_util::Full<axum::body::Bytes>,
    >,
);

const HTTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const HTTP_MAX_BODY: usize = 1024 * 1024;

impl Http {
    fn new() -> anyhow::Result<Http> {
        use hyper_rustls::ConfigBuilderExt;
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_native_roots()?
        .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        Ok(Http(client))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            use http_body_util::BodyExt;
            let (parts, body) = request.into_parts();
            let request = openidconnect::http::Request::from_parts(
                parts,
                http_body_util::Full::new(axum::body::Bytes::from(body)),
            );
            let exchange = async {
                let response = self
                    .0
                    .request(request)
                    .await
                    .map_err(|e| HttpError(e.to_string()))?;
                let (parts, body) = response.into_parts();
                let body = http_body_util::Limited::new(body, HTTP_MAX_BODY)
                    .collect()
                    .await
                    .map_err(|e| HttpError(e.to_string()))?
                    .to_bytes();
                Ok(openidconnect::http::Response::from_parts(
                    parts,
                    body.to_vec(),
                ))
            };
            tokio::time::timeout(HTTP_TIMEOUT, exchange)
                .await
                .map_err(|_| HttpError("no answer within 10 s".into()))?
        })
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "accounts/sso_problem.html")]
struct ProblemPage {
    layout: Layout,
    title: String,
    message: String,
    /// The provider's identifier for the person, for their administrator to link.
    subject: Option<String>,
}

fn problem(status: StatusCode, title: &str, message: String, subject: Option<String>) -> Response {
    (
        status,
        ProblemPage {
            layout: Layout::anonymous(),
            title: title.into(),
            message,
            subject,
        },
    )
        .into_response()
}

fn sso(state: &AppState) -> Result<&Sso, AppError> {
    state.sso.as_deref().ok_or(AppError::NotFound)
}

/// `GET /login/sso`: off to the provider.
pub async fn start(State(state): State<AppState>, session: Session) -> PageResult {
    let sso = sso(&state)?;
    let metadata = match sso.metadata().await {
        Ok(m) => m,
        Err(_) => {
            return Ok(problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Single sign-on is not available",
                format!(
                    "{} did not answer. Try again later, or sign in with your Homeward username and password.",
                    sso.config.label
                ),
                None,
            ));
        }
    };
    let client = sso.client(metadata)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in &sso.config.scopes {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, csrf, nonce) = request.url();
    session
        .insert(
            PENDING_KEY,
            Pending {
                state: csrf.secret().clone(),
                nonce: nonce.secret().clone(),
                verifier: verifier.secret().clone(),
                started_at: state.clock.now(),
            },
        )
        .await?;
    Ok(Redirect::to(url.as_str()).into_response())
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

/// `GET /login/sso/callback`: back from the provider.
pub async fn callback(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<CallbackQuery>,
) -> PageResult {
    let sso = sso(&state)?;
    let now = state.clock.now();
    let try_again = |message: &str| {
        problem(
            StatusCode::BAD_REQUEST,
            "Sign-in did not complete",
            format!("{message} Go back to the sign-in page and try again."),
            None,
        )
    };
    // one use only, and only from the browser that started it
    let pending: Option<Pending> = session.remove(PENDING_KEY).await?;
    let Some(pending) = pending.filter(|p| now - p.started_at < Duration::minutes(10)) else {
        tracing::warn!(target: "homeward::sign_in", reason = "no_sso_in_progress", "sign-in refused");
        return Ok(try_again(
            "This sign-in was not started here, or took too long.",
        ));
    };
    if let Some(error) = query.error {
        tracing::warn!(target: "homeward::sign_in", reason = "provider_error", error = %error, "sign-in refused");
        return Ok(try_again(&format!(
            "{} did not sign you in.",
            sso.config.label
        )));
    }
    let (Some(code), Some(returned_state)) = (query.code, query.state) else {
        return Ok(try_again("The answer from the provider was incomplete."));
    };
    let same_state = returned_state.len() == pending.state.len()
        && returned_state
            .bytes()
            .zip(pending.state.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    let issuer_ok = query
        .iss
        .as_deref()
        .is_none_or(|iss| iss.trim_end_matches('/') == sso.config.issuer.trim_end_matches('/'));
    if !same_state || !issuer_ok {
        tracing::warn!(target: "homeward::sign_in", reason = "sso_state_mismatch", "sign-in refused");
        return Ok(try_again("The answer did not belong to this sign-in."));
    }
    let subject = match sso.subject(code, &pending).await {
        Ok(subject) => subject,
        Err(why) => {
            sso.forget_metadata().await;
            tracing::warn!(target: "homeward::sign_in", reason = "sso_token_refused", error = %why, "sign-in refused");
            return Ok(try_again(&format!(
                "The answer from {} could not be checked.",
                sso.config.label
            )));
        }
    };
    let user = users::by_sso_subject(&state.pool, &sso.config.issuer, &subject).await?;
    match user {
        Some(user) if user.disabled_at.is_none() => {
            sessions::start(&session, &user, now).await?;
            tracing::info!(user_id = user.id, "signed in with single sign-on");
            Ok(Redirect::to(super::login::home_for(user.role)).into_response())
        }
        Some(user) => {
            tracing::warn!(target: "homeward::sign_in", user_id = user.id, reason = "disabled", "sign-in refused");
            Ok(problem(
                StatusCode::FORBIDDEN,
                "You cannot sign in",
                "Your Homeward account is disabled. Ask your administrator.".into(),
                None,
            ))
        }
        None => {
            tracing::warn!(target: "homeward::sign_in", reason = "sso_not_linked", "sign-in refused");
            Ok(problem(
                StatusCode::FORBIDDEN,
                "Your account is not linked to Homeward",
                format!(
                    "{} signed you in, but no Homeward account is linked to you yet. Ask your Homeward administrator to link this identifier to your account:",
                    sso.config.label
                ),
                Some(subject),
            ))
        }
    }
}

/// The subject linked to a user, if any.
pub async fn link_of(pool: &sqlx::PgPool, user_id: i64) -> Result<Option<String>, AppError> {
    Ok(
        sqlx::query_scalar!("SELECT subject FROM sso_links WHERE user_id = $1", user_id)
            .fetch_optional(pool)
            .await?,
    )
}

/// Links (or, with an empty subject, unlinks) a user to the provider's `subject`, and ends
/// the user's sessions. A subject linked to someone else is refused.
pub async fn set_link(
    pool: &sqlx::PgPool,
    user_id: i64,
    issuer: &str,
    subject: &str,
    admin_id: i64,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let subject = subject.trim();
    if subject.chars().count() > 255 {
        return Err(AppError::Validation(FieldErrors::single(
            "subject",
            "The identifier must be 255 characters or fewer",
        )));
    }
    let mut tx = pool.begin().await?;
    sqlx::query!("DELETE FROM sso_links WHERE user_id = $1", user_id)
        .execute(&mut *tx)
        .await?;
    if !subject.is_empty() {
        let added = sqlx::query!(
            "INSERT INTO sso_links (user_id, issuer, subject, linked_at, linked_by) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (issuer, subject) DO NOTHING",
            user_id,
            issuer,
            subject,
            now as _,
            admin_id
        )
        .execute(&mut *tx)
        .await?;
        if added.rows_affected() == 0 {
            return Err(AppError::Validation(FieldErrors::single(
                "subject",
                "That identifier is already linked to another user",
            )));
        }
    }
    sessions::end_all(&mut tx, user_id).await?;
    tx.commit().await?;
    Ok(())
}
