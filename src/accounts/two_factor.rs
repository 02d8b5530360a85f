//! A signed-in user's two-factor page (`/account/two-factor`): whether an authenticator app
//! is set up, and setting one up for users whose role does not require it (those whose role
//! does were made to at sign-in). Recovery codes are shown once, right after an enrolment
//! (`/account/recovery-codes`). An administrator resets a lost app from the user's sign-in
//! page (see `admin`).

use super::login::{CodeForm, EnrolPage, RECOVERY_CODES_KEY, home_for};
use super::{PageCaller, mfa};
use crate::domain::Caller;
use crate::error::{AppError, FieldErrors};
use crate::state::AppState;
use crate::web::{FormErrors, Layout, PageResult, invalid};
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use chrono::{DateTime, Utc};
use tower_sessions::Session;

#[derive(Template, WebTemplate)]
#[template(path = "accounts/two_factor.html")]
struct TwoFactorPage {
    layout: Layout,
    enrolled_at: DateTime<Utc>,
}

#[derive(Template, WebTemplate)]
#[template(path = "accounts/recovery_codes.html")]
struct RecoveryCodesPage {
    layout: Layout,
    codes: Vec<String>,
    next: &'static str,
}

/// The secret being set up from the account page, kept in the session between the form
/// and its answer.
const ENROL_SECRET_KEY: &str = "enrol_secret";

async fn layout(state: &AppState, session: &Session, caller: &Caller) -> Layout {
    crate::notifications::layout(state, session, caller, "account").await
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
) -> PageResult {
    if let Some(enrolled_at) = mfa::enrolled_at(&state.pool, caller.user_id).await? {
        return Ok(TwoFactorPage {
            layout: layout(&state, &session, &caller).await,
            enrolled_at,
        }
        .into_response());
    }
    let secret = match session.get::<Vec<u8>>(ENROL_SECRET_KEY).await? {
        Some(secret) => secret,
        None => {
            let secret = mfa::new_secret();
            session.insert(ENROL_SECRET_KEY, secret.clone()).await?;
            secret
        }
    };
    Ok(
        enrol_page(&state, &session, &caller, &secret, FieldErrors::new())
            .await?
            .into_response(),
    )
}

async fn enrol_page(
    state: &AppState,
    session: &Session,
    caller: &Caller,
    secret: &[u8],
    errors: FieldErrors,
) -> Result<EnrolPage, AppError> {
    let enrolment = mfa::enrolment(secret, &caller.username)?;
    Ok(EnrolPage {
        layout: layout(state, session, caller).await,
        action: "/account/two-factor",
        required: state.config.mfa_roles.contains(&caller.role),
        qr_svg: enrolment.qr_svg,
        secret: enrolment.secret_base32,
        errors: FormErrors(errors),
    })
}

pub async fn enrol(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Form(form): Form<CodeForm>,
) -> PageResult {
    let Some(secret) = session.get::<Vec<u8>>(ENROL_SECRET_KEY).await? else {
        return Ok(Redirect::to("/account/two-factor").into_response());
    };
    match mfa::enrol(
        &state.pool,
        caller.user_id,
        &secret,
        &form.code,
        state.clock.now(),
    )
    .await?
    {
        Some(codes) => {
            let _ = session.remove_value(ENROL_SECRET_KEY).await;
            session.insert(RECOVERY_CODES_KEY, codes).await?;
            tracing::info!(user_id = caller.user_id, "enrolled an authenticator app");
            Ok(Redirect::to("/account/recovery-codes").into_response())
        }
        None => Ok(invalid(
            enrol_page(
                &state,
                &session,
                &caller,
                &secret,
                FieldErrors::single("code", "Enter the 6-digit code your app shows now"),
            )
            .await?,
        )),
    }
}

/// Shows the recovery codes of an enrolment just made, once.
pub async fn recovery_codes(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
) -> PageResult {
    let Some(codes) = session.remove::<Vec<String>>(RECOVERY_CODES_KEY).await? else {
        return Ok(Redirect::to("/account/two-factor").into_response());
    };
    Ok(RecoveryCodesPage {
        layout: layout(&state, &session, &caller).await,
        codes,
        next: home_for(caller.role),
    }
    .into_response())
}
