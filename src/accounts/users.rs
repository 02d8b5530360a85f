//! SQL for users and organisations.

use crate::domain::Caller;
use crate::domain::Role;
use crate::error::{AppError, FieldErrors};
use sqlx::{FromRow, PgExecutor};

#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub org_code: String,
    pub org_name: String,
    /// The organisation's hub ('' for an organisation in no hub yet).
    pub hub_code: String,
    /// The hubs the user's connections may see (src/tenancy.rs).
    pub hubs: String,
    pub password_hash: String,
    pub disabled_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Sessions signed in under another epoch have ended (see `sessions`).
    pub session_epoch: i32,
}

impl UserRow {
    pub fn caller(&self) -> Caller {
        Caller {
            user_id: self.id,
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            role: self.role,
            org_code: self.org_code.clone(),
            org_name: self.org_name.clone(),
            hub_code: self.hub_code.clone(),
            hubs: self.hubs.clone(),
            notices: None,
            tasks_due: None,
        }
    }
}

/// The columns of [`UserRow`] over `users u JOIN organisations o`.
macro_rules! user_columns {
    () => {
        "u.id, u.username, u.display_name, u.role, u.org_code, o.name AS org_name, \
         COALESCE(o.hub_code, '') AS hub_code, \
         CASE WHEN o.kind = 'provider' THEN COALESCE((SELECT string_agg(hp.hub_code, ',' ORDER BY hp.hub_code) \
              FROM hub_providers hp WHERE hp.provider_code = o.code), '') \
              ELSE COALESCE(o.hub_code, '') END AS hubs, \
         u.password_hash, u.disabled_at, u.created_at, u.session_epoch"
    };
}

const USER_SELECT: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users u JOIN organisations o ON o.code = u.org_code"
);

pub async fn by_username(
    db: impl PgExecutor<'_>,
    username: &str,
) -> Result<Option<UserRow>, AppError> {
    Ok(
        sqlx::query_as::<_, UserRow>(&format!("{USER_SELECT} WHERE u.username = $1"))
            .bind(username)
            .fetch_optional(db)
            .await?,
    )
}

pub async fn by_id(db: impl PgExecutor<'_>, id: i64) -> Result<Option<UserRow>, AppError> {
    Ok(
        sqlx::query_as::<_, UserRow>(&format!("{USER_SELECT} WHERE u.id = $1"))
            .bind(id)
            .fetch_optional(db)
            .await?,
    )
}

/// A page session's caller with the header's count of new notifications, in one
/// statement; `None` when the user is disabled, gone, no longer has the role and
/// organisation the session was signed in with, or has had every session ended since.
pub async fn active_caller_with_notices(
    db: impl PgExecutor<'_>,
    who: &super::SessionUser,
    now: chrono::DateTime<chrono::Utc>,
    overdue_after: chrono::Duration,
) -> Result<Option<Caller>, AppError> {
    let expected = Caller {
        user_id: who.user_id,
        username: String::new(),
        display_name: String::new(),
        role: who.role,
        org_code: who.org_code.clone(),
        org_name: String::new(),
        // the header's count for a hub user is its hub's: the hub's own organisation
        hub_code: who.org_code.clone(),
        hubs: String::new(),
        notices: None,
        tasks_due: None,
    };
    let mut q = sqlx::QueryBuilder::new(concat!("SELECT ", user_columns!(), ", "));
    crate::news::push_count_sql(&mut q, &expected, now, overdue_after);
    q.push(" AS notices, ");
    crate::news::push_tasks_due_sql(&mut q, &expected, now);
    q.push(" AS tasks_due FROM users u JOIN organisations o ON o.code = u.org_code WHERE u.id = ")
        .push_bind(who.user_id)
        .push(" AND u.role = ")
        .push_bind(who.role)
        .push(" AND u.org_code = ")
        .push_bind(who.org_code.clone())
        .push(" AND u.session_epoch = ")
        .push_bind(who.epoch)
        .push(" AND u.disabled_at IS NULL");
    let row: Option<(UserRow, i64, i64)> = q
        .build()
        .fetch_optional(db)
        .await?
        .map(|r: sqlx::postgres::PgRow| {
            use sqlx::Row;
            Ok::<_, sqlx::Error>((
                UserRow::from_row(&r)?,
                r.try_get("notices")?,
                r.try_get("tasks_due")?,
            ))
        })
        .transpose()?;
    Ok(row.map(|(u, n, t)| Caller {
        notices: Some(n),
        tasks_due: Some(t),
        ..u.caller()
    }))
}

/// The enabled user an unexpired API token (given by its SHA-256) belongs to.
pub async fn by_token(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<UserRow>, AppError> {
    Ok(sqlx::query_as::<_, UserRow>(concat!(
        "SELECT ",
        user_columns!(),
        " FROM api_tokens t JOIN users u ON u.id = t.user_id \
         JOIN organisations o ON o.code = u.org_code \
         WHERE t.token_hash = $1 AND t.expires_at > $2 AND u.disabled_at IS NULL"
    ))
    .bind(token_hash)
    .bind(now)
    .fetch_optional(db)
    .await?)
}

/// The user an administrator linked to a single sign-on subject of `issuer`.
pub async fn by_sso_subject(
    db: impl PgExecutor<'_>,
    issuer: &str,
    subject: &str,
) -> Result<Option<UserRow>, AppError> {
    Ok(sqlx::query_as::<_, UserRow>(concat!(
        "SELECT ",
        user_columns!(),
        " FROM sso_links l JOIN users u ON u.id = l.user_id \
         JOIN organisations o ON o.code = u.org_code \
         WHERE l.issuer = $1 AND l.subject = $2"
    ))
    .bind(issuer)
    .bind(subject)
    .fetch_optional(db)
    .await?)
}

/// The people who use a hub's organisations (every hub's when `hub` is `None`): not the
/// hospital feed's own accounts (`hl7-feed-<trust>`, which can never sign in; the feed's
/// page says how its changes are named)).
pub async fn list(db: impl PgExecutor<'_>, hub: Option<&str>) -> Result<Vec<UserRow>, AppError> {
    Ok(sqlx::query_as::<_, UserRow>(&format!(
        "{USER_SELECT} WHERE ($1::text IS NULL OR o.hub_code = $1) \
         AND NOT EXISTS (SELECT 1 FROM hl7_feed_users f WHERE f.user_id = u.id) \
         ORDER BY u.org_code, u.username"
    ))
    .bind(hub)
    .fetch_all(db)
    .await?)
}

#[derive(Debug, Clone, FromRow)]
pub struct OrgRow {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub sector: String,
}

/// A hub's organisations (every organisation when `hub` is `None`).
pub async fn organisations(
    db: impl PgExecutor<'_>,
    hub: Option<&str>,
) -> Result<Vec<OrgRow>, AppError> {
    Ok(sqlx::query_as::<_, OrgRow>(
        "SELECT code, name, kind, sector FROM organisations \
         WHERE ($1::text IS NULL OR hub_code = $1) ORDER BY kind, code",
    )
    .bind(hub)
    .fetch_all(db)
    .await?)
}

pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub org_code: String,
    pub password: String,
}

/// Creates a user after checking the role fits the organisation, and that the organisation
/// is of `hub` (an administrator's; `None` for the command line and the demo loader).
/// Shared by the CLI, the admin pages and the demo loader.
pub async fn create(pool: &sqlx::PgPool, hub: Option<&str>, new: NewUser) -> Result<i64, AppError> {
    let mut errors = FieldErrors::new();
    let username = new.username.trim().to_lowercase();
    let valid_name = (3..=64).contains(&username.len())
        && username
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if !valid_name {
        errors.add(
            "username",
            "Username must be 3 to 64 characters: letters, numbers, dots, hyphens or underscores",
        );
    } else if username.starts_with(crate::hl7::feed::FEED_USER_PREFIX) {
        errors.add(
            "username",
            format!(
                "Usernames starting {} are kept for the hospital feed: choose another",
                crate::hl7::feed::FEED_USER_PREFIX
            ),
        );
    }
    let org: Option<(String,)> = sqlx::query_as(
        "SELECT kind FROM organisations WHERE code = $1 AND ($2::text IS NULL OR hub_code = $2)",
    )
    .bind(&new.org_code)
    .bind(hub)
    .fetch_optional(pool)
    .await?;
    match org {
        None => errors.add("org_code", "Select an organisation that exists"),
        Some((kind,)) if !new.role.org_kinds().contains(&kind.as_str()) => errors.add(
            "org_code",
            format!(
                "A {} user must belong to {}",
                new.role.as_str(),
                new.role.org_kinds().join(" or ").replace('_', " ")
            ),
        ),
        Some(_) => {}
    }
    if let Err(m) = super::password_policy::check(&new.password, &username) {
        errors.add("password", m);
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let hash = super::hash_password(new.password).await?;
    let display = if new.display_name.trim().is_empty() {
        username.clone()
    } else {
        new.display_name.trim().to_string()
    };
    let id: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO users (username, display_name, role, org_code, password_hash) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username) DO NOTHING RETURNING id",
    )
    .bind(&username)
    .bind(&display)
    .bind(new.role)
    .bind(&new.org_code)
    .bind(&hash)
    .fetch_optional(pool)
    .await?;
    match id {
        Some((id,)) => Ok(id),
        None => Err(AppError::Validation(FieldErrors::single(
            "username",
            "That username is already taken",
        ))),
    }
}

/// Sets a new password (after the password rule) and ends every session and API token the
/// user has.
pub async fn set_password(pool: &sqlx::PgPool, id: i64, password: String) -> Result<(), AppError> {
    let user = by_id(pool, id).await?.ok_or(AppError::NotFound)?;
    if let Err(m) = super::password_policy::check(&password, &user.username) {
        return Err(AppError::Validation(FieldErrors::single("password", m)));
    }
    let hash = super::hash_password(password).await?;
    let mut tx = pool.begin().await?;
    let done = sqlx::query!(
        "UPDATE users SET password_hash = $2 WHERE id = $1",
        id,
        hash
    )
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    super::sessions::end_all(&mut tx, id).await?;
    tx.commit().await?;
    Ok(())
}

/// Disables or re-enables a user. Either way every session and API token they had ends at
/// once, so a session from before a disable never works again after the enable.
pub async fn set_disabled(
    pool: &sqlx::PgPool,
    id: i64,
    disabled: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), AppError> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query!(
        "UPDATE users SET disabled_at = CASE WHEN $2 THEN COALESCE(disabled_at, $3) END WHERE id = $1",
        id,
        disabled,
        now as _
    )
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    super::sessions::end_all(&mut tx, id).await?;
    tx.commit().await?;
    Ok(())
}
