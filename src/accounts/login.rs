//! Sign in and sign out of the pages.
//!
//! `/login` checks the username and password (throttled, see `signin`). A user with an
//! authenticator app is then asked for its code at `/login/code`; a user whose role must
//! have one but has none sets it up at `/login/enrol` before going anywhere else (and is
//! shown recovery codes once). Between the steps the session holds only a pending sign-in
//! (who, which step, the attempt's throttle ticket), which lapses after ten minutes and
//! lets no page open. Completing sign-in cycles the session id (no fixation); signing out
//! deletes the session from the store. Single sign-on is `sso`.

use super::signin::{self, Refusal, SecondFactor};
use super::throttle::{ClientAddress, RetryAfter, Ticket};
use super::{PageCaller, mfa, sessions, users};
use crate::domain::Role;
use crate::error::{AppError, FieldErrors};
use crate::state::AppState;
use crate::web::{FormErrors, Layout, PageResult, invalid};
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

#[derive(Template, WebTemplate)]
#[template(path = "accounts/login.html")]
struct LoginPage {
    layout: Layout,
    username: String,
    errors: FormErrors,
    /// The single sign-on button's label, when single sign-on is configured.
    sso_label: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "accounts/login_code.html")]
struct CodePage {
    layout: Layout,
    errors: FormErrors,
}

/// The enrolment page, used at sign-in (`/login/enrol`) and from the account page.
#[derive(Template, WebTemplate)]
#[template(path = "accounts/enrol.html")]
pub struct EnrolPage {
    pub layout: Layout,
    pub action: &'static str,
    pub required: bool,
    pub qr_svg: String,
    pub secret: String,
    pub errors: FormErrors,
}

#[derive(Deserialize, Default)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize, Default)]
pub struct CodeForm {
    #[serde(default)]
    pub code: String,
}

/// A sign-in between its password and its second step.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    user_id: i64,
    step: Step,
    /// The password attempt, counted as failed until the sign-in completes.
    ticket: Option<Ticket>,
    started_at: DateTime<Utc>,
    /// The secret being enrolled (the enrol step).
    secret: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Step {
    Code,
    Enrol,
}

const PENDING_KEY: &str = "pending_sign_in";
/// Recovery codes waiting to be shown once, after an enrolment.
pub const RECOVERY_CODES_KEY: &str = "recovery_codes";

/// How long a pending sign-in waits for its second step.
fn pending_for() -> Duration {
    Duration::minutes(10)
}

/// Each role's first page.
pub fn home_for(role: Role) -> &'static str {
    match role {
        Role::Ward => "/ward",
        Role::Hub => "/hub",
        Role::Provider => "/provider",
        Role::Admin => "/admin/users",
    }
}

pub async fn home(caller: Result<PageCaller, Response>) -> Response {
    match caller {
        Ok(PageCaller(c)) => Redirect::to(home_for(c.role)).into_response(),
        Err(_) => Redirect::to("/login").into_response(),
    }
}

fn sso_label(state: &AppState) -> Option<String> {
    state.config.oidc.as_ref().map(|o| o.label.clone())
}

pub async fn login_page(State(state): State<AppState>, session: Session) -> PageResult {
    let flash = crate::web::take_flash(&session).await;
    Ok(LoginPage {
        layout: Layout {
            flash,
            ..Layout::anonymous()
        },
        username: String::new(),
        errors: FormErrors::default(),
        sso_label: sso_label(&state),
    }
    .into_response())
}

/// The answer to a throttled or overloaded sign-in page: the status, `Retry-After` and the
/// form with the reason.
fn refused_page(page: impl IntoResponse, refusal: &Refusal) -> Response {
    let (status, retry) = match refusal {
        Refusal::Throttled(RetryAfter(s)) => (StatusCode::TOO_MANY_REQUESTS, *s),
        _ => (StatusCode::SERVICE_UNAVAILABLE, 5),
    };
    (status, [(header::RETRY_AFTER, retry.to_string())], page).into_response()
}

/// What a refused step says on the page.
fn refusal_message(refusal: &Refusal) -> String {
    match refusal {
        Refusal::Throttled(RetryAfter(s)) => format!(
            "Too many failed attempts. Wait {} before you try again",
            minutes(*s)
        ),
        Refusal::Busy => {
            "Too many people are signing in at once. Try again in a few seconds".into()
        }
        _ => "Enter a correct username and password".into(),
    }
}

fn minutes(seconds: i64) -> String {
    match (seconds + 59) / 60 {
        1 => "1 minute".into(),
        n => format!("{n} minutes"),
    }
}

pub async fn login(
    State(state): State<AppState>,
    session: Session,
    client: ClientAddress,
    Form(form): Form<LoginForm>,
) -> PageResult {
    let mut errors = FieldErrors::new();
    if form.username.trim().is_empty() {
        errors.add("username", "Enter your username");
    }
    if form.password.is_empty() {
        errors.add("password", "Enter your password");
    }
    let page = |errors: FieldErrors| LoginPage {
        layout: Layout::anonymous(),
        username: form.username.clone(),
        errors: FormErrors(errors),
        sso_label: sso_label(&state),
    };
    if !errors.is_empty() {
        return Ok(invalid(page(errors)));
    }
    let ok = match signin::check_password(&state, &form.username, &form.password, &client).await {
        Ok(ok) => ok,
        Err(Refusal::Error(e)) => return Err(e.into()),
        Err(refusal @ (Refusal::Throttled(_) | Refusal::Busy)) => {
            let errors = FieldErrors::single("username", refusal_message(&refusal));
            return Ok(refused_page(page(errors), &refusal));
        }
        Err(refusal) => {
            return Ok(invalid(page(FieldErrors::single(
                "username",
                refusal_message(&refusal),
            ))));
        }
    };
    let now = state.clock.now();
    match ok.second_factor {
        SecondFactor::NotNeeded => {
            super::throttle::completed(&state.pool, &[ok.ticket]).await?;
            sessions::start(&session, &ok.user, now).await?;
            tracing::info!(user_id = ok.user.id, client = %client.0, "signed in");
            Ok(Redirect::to(home_for(ok.user.role)).into_response())
        }
        SecondFactor::Enrolled => {
            let pending = Pending {
                user_id: ok.user.id,
                step: Step::Code,
                ticket: Some(ok.ticket),
                started_at: now,
                secret: None,
            };
            session.insert(PENDING_KEY, pending).await?;
            Ok(Redirect::to("/login/code").into_response())
        }
        SecondFactor::MustEnrol => {
            // the password was right and there is no code to guess yet
            super::throttle::completed(&state.pool, &[ok.ticket]).await?;
            let pending = Pending {
                user_id: ok.user.id,
                step: Step::Enrol,
                ticket: None,
                started_at: now,
                secret: Some(mfa::new_secret()),
            };
            session.insert(PENDING_KEY, pending).await?;
            Ok(Redirect::to("/login/enrol").into_response())
        }
    }
}

/// The pending sign-in at `step`, if there is one still current.
async fn pending(session: &Session, step: Step, now: DateTime<Utc>) -> Option<Pending> {
    let pending: Pending = session.get(PENDING_KEY).await.ok().flatten()?;
    (pending.step == step && now - pending.started_at < pending_for()).then_some(pending)
}

/// Forgets any sign-in in progress (password or single sign-on) on this session.
pub async fn forget_pending(session: &Session) {
    let _ = session.remove_value(PENDING_KEY).await;
    let _ = session.remove_value(super::sso::PENDING_KEY).await;
}

fn start_again() -> Response {
    Redirect::to("/login").into_response()
}

pub async fn code_page(State(state): State<AppState>, session: Session) -> PageResult {
    if pending(&session, Step::Code, state.clock.now())
        .await
        .is_none()
    {
        return Ok(start_again());
    }
    Ok(CodePage {
        layout: Layout::anonymous(),
        errors: FormErrors::default(),
    }
    .into_response())
}

pub async fn code(
    State(state): State<AppState>,
    session: Session,
    client: ClientAddress,
    Form(form): Form<CodeForm>,
) -> PageResult {
    let now = state.clock.now();
    let Some(pending) = pending(&session, Step::Code, now).await else {
        return Ok(start_again());
    };
    let page = |message: String| CodePage {
        layout: Layout::anonymous(),
        errors: FormErrors(FieldErrors::single("code", message)),
    };
    if form.code.trim().is_empty() {
        return Ok(invalid(page(
            "Enter the 6-digit code from your authenticator app".into(),
        )));
    }
    let Some(user) = users::by_id(&state.pool, pending.user_id)
        .await?
        .filter(|u| u.disabled_at.is_none())
    else {
        forget_pending(&session).await;
        return Ok(start_again());
    };
    match signin::check_code(&state, &user, &form.code, &client).await {
        Ok(ticket) => {
            let tickets: Vec<Ticket> = pending.ticket.into_iter().chain([ticket]).collect();
            super::throttle::completed(&state.pool, &tickets).await?;
            sessions::start(&session, &user, now).await?;
            tracing::info!(user_id = user.id, client = %client.0, "signed in with a second factor");
            Ok(Redirect::to(home_for(user.role)).into_response())
        }
        Err(Refusal::Error(e)) => Err(e.into()),
        Err(refusal @ (Refusal::Throttled(_) | Refusal::Busy)) => {
            Ok(refused_page(page(refusal_message(&refusal)), &refusal))
        }
        Err(_) => Ok(invalid(page(
            "Enter the code your app shows now (each code works once), or a recovery code".into(),
        ))),
    }
}

pub async fn enrol_page(State(state): State<AppState>, session: Session) -> PageResult {
    let Some(pending) = pending(&session, Step::Enrol, state.clock.now()).await else {
        return Ok(start_again());
    };
    Ok(enrol_form(&state, &pending, FieldErrors::new())
        .await?
        .into_response())
}

async fn enrol_form(
    state: &AppState,
    pending: &Pending,
    errors: FieldErrors,
) -> Result<EnrolPage, AppError> {
    let user = users::by_id(&state.pool, pending.user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let secret = pending.secret.clone().unwrap_or_default();
    let enrolment = mfa::enrolment(&secret, &user.username)?;
    Ok(EnrolPage {
        layout: Layout::anonymous(),
        action: "/login/enrol",
        required: true,
        qr_svg: enrolment.qr_svg,
        secret: enrolment.secret_base32,
        errors: FormErrors(errors),
    })
}

pub async fn enrol(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<CodeForm>,
) -> PageResult {
    let now = state.clock.now();
    let Some(pending) = pending(&session, Step::Enrol, now).await else {
        return Ok(start_again());
    };
    let Some(user) = users::by_id(&state.pool, pending.user_id)
        .await?
        .filter(|u| u.disabled_at.is_none())
    else {
        forget_pending(&session).await;
        return Ok(start_again());
    };
    let secret = pending.secret.clone().unwrap_or_default();
    match mfa::enrol(&state.pool, user.id, &secret, &form.code, now).await? {
        Some(codes) => {
            sessions::start(&session, &user, now).await?;
            session.insert(RECOVERY_CODES_KEY, codes).await?;
            tracing::info!(
                user_id = user.id,
                "enrolled an authenticator app and signed in"
            );
            Ok(Redirect::to("/account/recovery-codes").into_response())
        }
        None => Ok(invalid(
            enrol_form(
                &state,
                &pending,
                FieldErrors::single("code", "Enter the 6-digit code your app shows now"),
            )
            .await?,
        )),
    }
}

pub async fn logout(session: Session) -> PageResult {
    session.flush().await?;
    crate::web::flash(&session, "You have signed out").await;
    Ok(Redirect::to("/login").into_response())
}
