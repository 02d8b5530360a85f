//! Sign in and sign out of the pages. Signing in cycles the session id (no fixation);
//! signing out deletes the session from the store.

use super::{PageCaller, SESSION_USER_KEY, SESSION_WHO_KEY, SessionUser};
use crate::domain::Role;
use crate::error::FieldErrors;
use crate::state::AppState;
use crate::web::{FormErrors, Layout, PageResult, invalid};
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

#[derive(Template, WebTemplate)]
#[template(path = "accounts/login.html")]
struct LoginPage {
    layout: Layout,
    username: String,
    errors: FormErrors,
}

#[derive(Deserialize, Default)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
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

pub async fn login_page(session: Session) -> PageResult {
    let flash = crate::web::take_flash(&session).await;
    Ok(LoginPage {
        layout: Layout {
            flash,
            ..Layout::anonymous()
        },
        username: String::new(),
        errors: FormErrors::default(),
    }
    .into_response())
}

pub async fn login(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<LoginForm>,
) -> PageResult {
    let mut errors = FieldErrors::new();
    if form.username.trim().is_empty() {
        errors.add("username", "Enter your username");
    }
    if form.password.is_empty() {
        errors.add("password", "Enter your password");
    }
    if errors.is_empty() {
        match super::tokens::authenticate(&state.pool, &form.username, &form.password).await? {
            Some(caller) => {
                session.cycle_id().await?;
                session.insert(SESSION_USER_KEY, caller.user_id).await?;
                session
                    .insert(
                        SESSION_WHO_KEY,
                        SessionUser {
                            user_id: caller.user_id,
                            role: caller.role,
                            org_code: caller.org_code.clone(),
                        },
                    )
                    .await?;
                tracing::info!(user_id = caller.user_id, "signed in");
                return Ok(Redirect::to(home_for(caller.role)).into_response());
            }
            None => errors.add("username", "Enter a correct username and password"),
        }
    }
    Ok(invalid(LoginPage {
        layout: Layout::anonymous(),
        username: form.username,
        errors: FormErrors(errors),
    }))
}

pub async fn logout(session: Session) -> PageResult {
    session.flush().await?;
    crate::web::flash(&session, "You have signed out").await;
    Ok(Redirect::to("/login").into_response())
}
