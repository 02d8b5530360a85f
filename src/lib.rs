//! Homeward: a discharge coordination hub (transfer of care hub) for the NHS.
//!
//! [`app`] builds the whole HTTP application (pages, API, static files) from an
//! [`AppState`]; [`serve`] runs it ([`server`]) until SIGTERM or Ctrl-C and then shuts down
//! within a grace period. Tests start the same `app` on a random port with a fresh database.

pub mod accounts;
pub mod audit;
pub mod board;
pub mod cases;
pub mod casework;
pub mod choice;
pub mod config;
pub mod db;
pub mod demo;
pub mod directory;
pub mod domain;
pub mod error;
pub mod fhir;
pub mod hl7;
pub mod live;
pub mod market;
pub mod news;
pub mod notifications;
pub mod patients;
pub mod refdata;
pub mod reference;
pub mod reports;
pub mod scope;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod tenancy;
pub mod web;

/// Every program built on Homeward (the server, the tests, the benchmarks) allocates with
/// mimalloc: a page of the worklist builds a few thousand small strings, and glibc's
/// allocator spent a quarter of the server's CPU on them (`perf`, 1 Dec 2026); mimalloc
/// served 13-33% more worklist pages a second in the same benchmark runs (README, "Speed").
/// Declared here, in the library, so that no binary of this repository can run another; a
/// program outside it that links Homeward gets it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json};
use axum::routing::{get, post};
use error::{ApiError, AppError};
use state::AppState;
use std::sync::Arc;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A request answered more slowly than this is logged as a warning.
const SLOW_REQUEST: Duration = Duration::from_secs(1);

/// Request bodies over this are refused with 413 (CONTRACT.md).
pub const BODY_LIMIT: usize = 1024 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "Homeward API", version = "1", description = "Discharge coordination hub. Errors are `{\"error\":{\"code\",\"message\",\"fields\"}}`."),
    modifiers(&BearerAuth),
    paths(events),
    components(schemas(error::ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// The API router and its OpenAPI document, generated from the handlers' annotations.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(
            accounts::tokens::issue_token,
            accounts::tokens::revoke_token
        ))
        .merge(patients::api::router())
        .merge(reference::router())
        .merge(market::offers_api::router())
        .merge(market::referrals_api::router())
        .merge(choice::api::router())
        .merge(casework::api::router())
        .merge(directory::api::router())
        .merge(fhir::api::router())
        .merge(reports::pages::router())
        .split_for_parts();
    // after every route is in: each operation lists the error answers any call can give
    utoipa::Modify::modify(&web::openapi::ErrorResponses, &mut doc);
    (router, doc)
}

async fn api_not_found() -> ApiError {
    ApiError(AppError::NotFound)
}

async fn page_not_found() -> impl IntoResponse {
    web::error_page(AppError::NotFound)
}

/// `GET /healthz`: 200 when the database answers, 503 otherwise.
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let ping = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&state.pool),
    )
    .await;
    match ping {
        Ok(Ok(_)) => (StatusCode::OK, Json(serde_json::json!({"status": "ok"}))),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "unavailable"})),
        ),
    }
}

// `GET /api/v1/events`: the caller's live event stream, for API clients (bearer token) and
// for the pages' live-update script (session cookie). (A plain comment: a doc comment would
// become the operation's summary in the OpenAPI document.)
#[utoipa::path(get, path = "/api/v1/events", tag = "live",
    responses((status = 200, description = "text/event-stream: `event:` is the type (patient.created, patient.updated, patient.discharged, referral.created, referral.decided, referral.updated, offer.created, offer.updated, resync, ready, and reconnect: the last event when the server shuts down, after which the stream ends; connect again, then re-read); `data:` JSON with `type`, `at` and the ids concerned", content_type = "text/event-stream"),
        (status = 401, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn events(
    State(state): State<AppState>,
    accounts::AnyCaller(caller): accounts::AnyCaller,
) -> axum::response::Response {
    live::stream_for(&state.live, caller).into_response()
}

/// Page routes, and the event stream, which pages reach with their session cookie.
fn pages(state: &AppState) -> Router<AppState> {
    use accounts::{admin, login, sso, two_factor};
    use patients::pages as p;
    let store = PostgresStore::new(state.system.clone());
    let idle = time::Duration::seconds(state.config.session_idle.num_seconds());
    let sessions = SessionManagerLayer::new(store)
        .with_name("homeward_session")
        .with_same_site(SameSite::Lax)
        .with_http_only(true)
        .with_secure(state.config.secure_cookies)
        .with_expiry(Expiry::OnInactivity(idle));
    Router::new()
        .route("/", get(login::home))
        .route("/login", get(login::login_page).post(login::login))
        .route("/login/code", get(login::code_page).post(login::code))
        .route("/login/enrol", get(login::enrol_page).post(login::enrol))
        .route("/login/sso", get(sso::start))
        .route("/login/sso/callback", get(sso::callback))
        .route("/logout", post(login::logout))
        .route(
            "/account/two-factor",
            get(two_factor::show).post(two_factor::enrol),
        )
        .route("/account/recovery-codes", get(two_factor::recovery_codes))
        .route("/ward", get(p::ward_list))
        .route("/hub", get(p::worklist))
        .route("/provider", get(market::referrals_pages::incoming))
        .route(
            "/provider/referrals/{id}/accept",
            post(market::referrals_pages::accept),
        )
        .route(
            "/provider/referrals/{id}/decline",
            post(market::referrals_pages::decline),
        )
        .route(
            "/provider/offers",
            get(market::offers_pages::my_offers).post(market::offers_pages::create_offer),
        )
        .route(
            "/provider/offers/new",
            get(market::offers_pages::new_offer_form),
        )
        .route(
            "/provider/offers/{id}/confirm",
            post(market::offers_pages::confirm_offer),
        )
        .route(
            "/provider/offers/{id}/withdraw",
            get(market::offers_pages::withdraw_offer_confirm)
                .post(market::offers_pages::withdraw_offer),
        )
        .route(
            "/provider/offers/{id}/edit",
            get(market::offers_pages::edit_offer_form).post(market::offers_pages::edit_offer),
        )
        .route(
            "/provider/offers/confirm-all",
            post(market::offers_pages::confirm_all_offers),
        )
        .route(
            "/patients/{id}/find-care",
            get(market::referrals_pages::find_care),
        )
        .route(
            "/patients/{id}/referrals",
            post(market::referrals_pages::refer),
        )
        .route(
            "/admin/access",
            get(audit::pages::access).post(audit::pages::search),
        )
        .route("/admin/access.csv", get(audit::pages::access_csv))
        .route(
            "/patients/{id}/choice",
            get(choice::pages::show).post(choice::pages::record),
        )
        .route(
            "/patients/{id}/choice/book/{referral}",
            post(choice::pages::book),
        )
        .route("/hub/choice", get(choice::pages::overdue))
        .route("/directory", get(directory::pages::search))
        .route("/notifications", get(notifications::page))
        .route("/board", get(board::board))
        .route("/reports/sitrep", get(reports::pages::sitrep_page))
        .route("/reports/sitrep.csv", get(reports::pages::sitrep_csv))
        .route("/reports/national", get(reports::pages::national_page))
        .route(
            "/reports/national.csv",
            get(reports::pages::national_csv_download),
        )
        .route("/reports/flow", get(reports::pages::flow_page))
        .route("/reports/flow.csv", get(reports::pages::flow_csv))
        .route(
            "/directory/mine",
            get(directory::pages::new_form).post(directory::pages::create),
        )
        .route(
            "/directory/mine/{id}",
            get(directory::pages::edit_form).post(directory::pages::update),
        )
        .route("/patients/new", get(p::flag_form))
        .route("/patients", post(p::flag))
        .route("/patients/{id}", get(p::show))
        .route("/patients/{id}/criteria", post(p::criteria))
        .route("/patients/{id}/pathway", post(p::pathway))
        .route("/patients/{id}/delay-reason", post(p::delay_reason))
        .route("/patients/{id}/details", post(p::details))
        .route("/patients/{id}/plan-discharge", post(p::plan_discharge))
        .route("/patients/{id}/discharge", post(p::discharge))
        .route("/patients/{id}/cancel", post(p::cancel))
        .route("/patients/{id}/coordinator", post(p::take_ownership))
        .route("/patients/{id}/triage", post(p::triage))
        .route("/patients/{id}/notes", post(p::add_note))
        .route("/patients/{id}/tasks", post(p::add_task))
        .route("/tasks", get(p::my_tasks))
        .route("/tasks/{id}/complete", post(p::complete_task))
        .route("/admin/users", get(admin::list).post(admin::create))
        .route("/admin/users/new", get(admin::new_form))
        .route(
            "/admin/users/{id}/password",
            get(admin::password_form).post(admin::reset_password),
        )
        .route("/admin/users/{id}/disable", post(admin::disable))
        .route("/admin/users/{id}/enable", post(admin::enable))
        .route("/admin/users/{id}/sign-in", get(admin::sign_in_form))
        .route(
            "/admin/users/{id}/two-factor/reset",
            post(admin::reset_two_factor),
        )
        .route("/admin/users/{id}/sso", post(admin::link_sso))
        .route("/admin/hl7", get(hl7::admin::show))
        .route("/admin/hl7/messages/{id}/replay", post(hl7::admin::replay))
        .route("/admin/hl7/locations", post(hl7::admin::add_location))
        .route(
            "/admin/hl7/locations/remove",
            post(hl7::admin::remove_location),
        )
        .route(web::guard::EVENTS_PATH, get(events))
        .fallback(page_not_found)
        // Cross-site form posts are refused (Origin / Sec-Fetch-Site), and the session
        // cookie is SameSite=Lax: no state changes on GET anywhere.
        .layer(tower_http::csrf::CsrfLayer::new())
        .layer(sessions)
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

/// The whole application.
pub fn app(state: AppState) -> Router {
    let (api_router, openapi) = api();
    let openapi = Arc::new(openapi);
    let api_router = api_router
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = openapi.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .route("/api/{*rest}", axum::routing::any(api_not_found))
        // Idempotency-Key on every POST (web/idempotency.rs); inside the guard, so a request
        // that times out still stores its answer when it finishes
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            web::idempotency::idempotent,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    let static_files = Router::new()
        .nest_service("/static", ServeDir::new(&state.config.static_dir))
        .nest_service(
            "/assets",
            ServeDir::new(state.config.static_dir.join("assets")),
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        ));
    let request_id = HeaderName::from_static("x-request-id");
    // HSTS only when asked for (the server must be reached over TLS, or browsers will refuse
    // it for max-age seconds); no header at all otherwise
    let hsts = state
        .config
        .hsts_max_age
        .and_then(|age| HeaderValue::from_str(&format!("max-age={age}; includeSubDomains")).ok());
    Router::new()
        .route("/healthz", get(healthz))
        .merge(api_router)
        .merge(pages(&state))
        .merge(static_files)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // worklists are large tables: gzip takes a 500 kB page to about 40 kB
        .layer(CompressionLayer::new())
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                // the route template, never the URI: no identifiers in logs
                let route = req
                    .extensions()
                    .get::<MatchedPath>()
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_else(|| "unmatched".into());
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-")
                    .to_string();
                tracing::info_span!("request", method = %req.method(), route = %route, request_id = %id)
            })
            // One short line per request, at DEBUG: at a thousand requests a second INFO
            // lines would cost more than the requests. Slow answers and server errors are
            // WARN and ERROR. `HOMEWARD_LOG=info,homeward::request=debug` shows them all.
            .on_response(
                |res: &axum::http::Response<_>, latency: Duration, _: &tracing::Span| {
                    let status = res.status().as_u16();
                    let ms = latency.as_millis() as u64;
                    if status == 503 {
                        // busy, too slow or the database away: said once where it was decided
                        tracing::warn!(target: "homeward::request", status, ms, "unavailable");
                    } else if status >= 500 {
                        tracing::error!(target: "homeward::request", status, ms, "answered");
                    } else if latency > SLOW_REQUEST {
                        tracing::warn!(target: "homeward::request", status, ms, "slow answer");
                    } else {
                        tracing::debug!(target: "homeward::request", status, ms, "answered");
                    }
                },
            )
            .on_failure(()),
        )
        // shedding, the whole body in time, the text rule, and the handler detached with a
        // deadline (web/guard.rs): a client that hangs up, or a timeout, cannot cancel a
        // request halfway (sqlx#4393: a cancelled BEGIN could leave a pooled connection
        // inside a transaction)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            web::guard::guard,
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(CatchPanicLayer::new())
        // whatever answered an error in plain text (an extractor, a panic, the session layer)
        // is answered in the caller's shape instead
        .layer(axum::middleware::from_fn(web::guard::shape_plain_errors))
        // and under /api/v1/fhir, every error is a FHIR OperationOutcome
        .layer(axum::middleware::from_fn(fhir::api::shape_errors))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            hsts,
        ))
        .with_state(state)
}

/// Serves the application on `addr` until SIGTERM or Ctrl-C (see [`serve_on`]).
pub async fn serve(
    state: AppState,
    addr: std::net::SocketAddr,
    options: server::ServerOptions,
) -> anyhow::Result<server::Stopped> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "Homeward is listening");
    let stopped = serve_on(listener, state, options, shutdown_signal()).await;
    tracing::info!(
        connections_left = stopped.connections_left,
        drained = stopped.drained,
        "Homeward stopped"
    );
    Ok(stopped)
}

/// Serves the application on `listener` until `shutdown` resolves; then event streams end
/// with a `reconnect` event, requests in flight finish, and it returns within the grace
/// period whatever is still open.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    state: AppState,
    options: server::ServerOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> server::Stopped {
    let live = state.live.clone();
    let requests = state.requests.clone();
    let shutdown = async move {
        shutdown.await;
        live.shut_down();
    };
    server::run(listener, app(state), options, shutdown, async move {
        requests.drained().await
    })
    .await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
