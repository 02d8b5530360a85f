//! Admin pages: list users, create a user, reset a password, disable or enable a user, and
//! a user's sign-in settings (reset their authenticator app, link them to a single sign-on
//! identity). Admin only. A password reset, disabling, enabling, a two-factor reset and a
//! change of single sign-on link each end the user's sessions and tokens at once.

use super::PageCaller;
use super::users::{self, NewUser, OrgRow, UserRow};
use crate::domain::{Caller, Role};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::Id;
use crate::web::{FormErrors, Layout, PageResult, done, invalid};
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::response::IntoResponse;
use serde::Deserialize;
use tower_sessions::Session;

#[derive(Template, WebTemplate)]
#[template(path = "accounts/users.html")]
struct UsersPage {
    layout: Layout,
    users: Vec<UserRow>,
}

#[derive(Template, WebTemplate)]
#[template(path = "accounts/user_new.html")]
struct NewUserPage {
    layout: Layout,
    form: NewUserForm,
    orgs: Vec<OrgRow>,
    roles: Vec<Role>,
    errors: FormErrors,
}

#[derive(Template, WebTemplate)]
#[template(path = "accounts/user_password.html")]
struct PasswordPage {
    layout: Layout,
    user: UserRow,
    errors: FormErrors,
}

#[derive(Template, WebTemplate)]
#[template(path = "accounts/user_sign_in.html")]
struct SignInSettingsPage {
    layout: Layout,
    user: UserRow,
    mfa_enrolled_at: Option<chrono::DateTime<chrono::Utc>>,
    mfa_required: bool,
    /// The single sign-on provider's name, when one is configured.
    sso_label: Option<String>,
    sso_subject: String,
    errors: FormErrors,
}

#[derive(Deserialize)]
pub struct SsoLinkForm {
    #[serde(default)]
    subject: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct NewUserForm {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub org_code: String,
    #[serde(default)]
    pub password: String,
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
}

/// The admin pages' layout. Administrators have no notifications (see
/// `notifications::count_new`), so there is nothing to count.
async fn admin_layout(session: &Session, caller: &Caller) -> Layout {
    Layout::new(session, caller, "admin", 0).await
}

fn admin(caller: &Caller) -> Result<(), AppError> {
    Ok(caller.require(&[Role::Admin])?)
}

/// A user an administrator may manage: one of an organisation of the administrator's hub.
/// Another hub's user is not found.
async fn managed_user(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<Option<UserRow>, AppError> {
    Ok(users::by_id(&state.pool, id)
        .await?
        .filter(|u| u.hub_code == caller.hub_code))
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
) -> PageResult {
    admin(&caller)?;
    Ok(UsersPage {
        layout: admin_layout(&session, &caller).await,
        users: users::list(&state.pool, Some(&caller.hub_code)).await?,
    }
    .into_response())
}

pub async fn new_form(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
) -> PageResult {
    admin(&caller)?;
    Ok(NewUserPage {
        layout: admin_layout(&session, &caller).await,
        form: NewUserForm::default(),
        orgs: users::organisations(&state.pool, Some(&caller.hub_code)).await?,
        roles: Role::ALL.to_vec(),
        errors: FormErrors::default(),
    }
    .into_response())
}

pub async fn create(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Form(form): Form<NewUserForm>,
) -> PageResult {
    admin(&caller)?;
    let role = form.role.parse::<Role>();
    let result = match role {
        Ok(role) => {
            users::create(
                &state.pool,
                Some(&caller.hub_code),
                NewUser {
                    username: form.username.clone(),
                    display_name: form.display_name.clone(),
                    role,
                    org_code: form.org_code.clone(),
                    password: form.password.clone(),
                },
            )
            .await
        }
        Err(()) => Err(AppError::Validation(crate::error::FieldErrors::single(
            "role",
            "Select a role",
        ))),
    };
    match result {
        Ok(_) => {
            tracing::info!(admin = caller.user_id, "created user");
            Ok(done(
                &session,
                "/admin/users",
                format!("User {} created", form.username.trim().to_lowercase()),
            )
            .await)
        }
        Err(AppError::Validation(errors)) => Ok(invalid(NewUserPage {
            layout: admin_layout(&session, &caller).await,
            form: NewUserForm {
                password: String::new(),
                ..form
            },
            orgs: users::organisations(&state.pool, Some(&caller.hub_code)).await?,
            roles: Role::ALL.to_vec(),
            errors: FormErrors(errors),
        })),
        Err(e) => Err(e.into()),
    }
}

pub async fn password_form(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<i64>,
) -> PageResult {
    admin(&caller)?;
    let user = managed_user(&state, &caller, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(PasswordPage {
        layout: admin_layout(&session, &caller).await,
        user,
        errors: FormErrors::default(),
    }
    .into_response())
}

pub async fn reset_password(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<i64>,
    Form(form): Form<PasswordForm>,
) -> PageResult {
    admin(&caller)?;
    let user = managed_user(&state, &caller, id)
        .await?
        .ok_or(AppError::NotFound)?;
    match users::set_password(&state.pool, id, form.password).await {
        Ok(()) => Ok(done(
            &session,
            "/admin/users",
            format!("Password reset for {}", user.username),
        )
        .await),
        Err(AppError::Validation(errors)) => Ok(invalid(PasswordPage {
            layout: admin_layout(&session, &caller).await,
            user,
            errors: FormErrors(errors),
        })),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
pub struct ConfirmForm {
    /// "yes" once the administrator has seen what disabling does and confirmed it.
    #[serde(default)]
    confirmed: String,
}

/// "Disable this user?": what it does, and what they leave behind.
#[derive(Template, WebTemplate)]
#[template(path = "accounts/user_disable.html")]
struct DisablePage {
    layout: Layout,
    user: UserRow,
    /// Open cases they coordinate, and open tasks they own: left to reassign.
    cases: i64,
    tasks: i64,
}

/// Disables a user, after a page that says what it does (signed out everywhere, tokens
/// revoked, their cases and tasks left with them to reassign) and asks to confirm.
pub async fn disable(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<i64>,
    Form(f): Form<ConfirmForm>,
) -> PageResult {
    admin(&caller)?;
    if id == caller.user_id {
        return Ok(done(
            &session,
            "/admin/users",
            "You cannot disable your own account",
        )
        .await);
    }
    let user = managed_user(&state, &caller, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if f.confirmed != "yes" {
        let (cases, tasks): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM patients WHERE coordinator_id = $1 \
                     AND status NOT IN ('discharged','cancelled')), \
                    (SELECT count(*) FROM case_tasks WHERE assignee_id = $1 AND done_at IS NULL)",
        )
        .bind(id)
        .fetch_one(&state.pool)
        .await?;
        return Ok(DisablePage {
            layout: admin_layout(&session, &caller).await,
            user,
            cases,
            tasks,
        }
        .into_response());
    }
    users::set_disabled(&state.pool, id, true, state.clock.now()).await?;
    tracing::info!(admin = caller.user_id, user_id = id, "disabled user");
    Ok(done(
        &session,
        "/admin/users",
        format!("{} is disabled and signed out", user.username),
    )
    .await)
}

pub async fn enable(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<i64>,
) -> PageResult {
    admin(&caller)?;
    let user = managed_user(&state, &caller, id)
        .await?
        .ok_or(AppError::NotFound)?;
    users::set_disabled(&state.pool, id, false, state.clock.now()).await?;
    Ok(done(
        &session,
        "/admin/users",
        format!("{} is enabled", user.username),
    )
    .await)
}

async fn sign_in_settings(
    state: &AppState,
    session: &Session,
    caller: &Caller,
    user: UserRow,
    subject: Option<String>,
    errors: FormErrors,
) -> Result<SignInSettingsPage, AppError> {
    let sso_subject = match subject {
        Some(s) => s,
        None => super::sso::link_of(&state.pool, user.id)
            .await?
            .unwrap_or_default(),
    };
    Ok(SignInSettingsPage {
        layout: admin_layout(session, caller).await,
        mfa_enrolled_at: super::mfa::enrolled_at(&state.pool, user.id).await?,
        mfa_required: state.config.mfa_roles.contains(&user.role),
        sso_label: state.sso.as_ref().map(|s| s.config.label.clone()),
        sso_subject,
        user,
        errors,
    })
}

pub async fn sign_in_form(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<i64>,
) -> PageResult {
    admin(&caller)?;
    let user = managed_user(&state, &caller, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(
        sign_in_settings(&state, &session, &caller, user, None, FormErrors::default())
            .await?
            .into_response(),
    )
}

pub async fn reset_two_factor(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<i64>,
) -> PageResult {
    admin(&caller)?;
    let user = managed_user(&state, &caller, id)
        .await?
        .ok_or(AppError::NotFound)?;
    super::mfa::reset(&state.pool, id).await?;
    tracing::info!(admin = caller.user_id, user_id = id, "reset two-factor");
    Ok(done(
        &session,
        &format!("/admin/users/{id}/sign-in"),
        format!(
            "Two-factor authentication is reset for {}: they set it up again when they next sign in",
            user.username
        ),
    )
    .await)
}

pub async fn link_sso(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<i64>,
    Form(form): Form<SsoLinkForm>,
) -> PageResult {
    admin(&caller)?;
    let Some(sso) = state.sso.clone() else {
        return Err(AppError::NotFound.into());
    };
    let user = managed_user(&state, &caller, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let result = super::sso::set_link(
        &state.pool,
        id,
        &sso.config.issuer,
        &form.subject,
        caller.user_id,
        state.clock.now(),
    )
    .await;
    match result {
        Ok(()) => {
            tracing::info!(
                admin = caller.user_id,
                user_id = id,
                "changed single sign-on link"
            );
            let message = if form.subject.trim().is_empty() {
                format!(
                    "{} is no longer linked to {}",
                    user.username, sso.config.label
                )
            } else {
                format!("{} is linked to {}", user.username, sso.config.label)
            };
            Ok(done(&session, &format!("/admin/users/{id}/sign-in"), message).await)
        }
        Err(AppError::Validation(errors)) => Ok(invalid(
            sign_in_settings(
                &state,
                &session,
                &caller,
                user,
                Some(form.subject),
                FormErrors(errors),
            )
            .await?,
        )),
        Err(e) => Err(e.into()),
    }
}
