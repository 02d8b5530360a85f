//! The service directory: providers describe their services; hub and ward staff browse and
//! search them (by words, capacity type and postcode district). Providers edit only their
//! own organisation's entries.

pub mod api;
pub mod pages;

use crate::domain::Caller;
use crate::domain::Role;
use crate::error::{AppError, FieldErrors};
use crate::market::offers::districts_in;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgExecutor};

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct Service {
    pub id: i64,
    pub org_code: String,
    pub org_name: String,
    pub sector: String,
    pub name: String,
    pub service_types: Vec<String>,
    pub area: String,
    pub districts: Vec<String>,
    pub criteria: String,
    pub contact: String,
    pub hours: String,
    pub updated_at: DateTime<Utc>,
}

const SELECT: &str = "SELECT s.id, s.org_code, o.name AS org_name, o.sector, s.name, s.service_types, s.area, \
    s.districts, s.criteria, s.contact, s.hours, s.updated_at FROM directory_services s \
    JOIN organisations o ON o.code = s.org_code";

#[derive(Debug, Default, Clone)]
pub struct Search {
    pub words: String,
    pub service_type: Option<String>,
    pub district: Option<String>,
    /// The hubs whose providers' services are listed (a caller's `hubs`, comma-separated);
    /// every hub's when `None`.
    pub hubs: Option<String>,
}

/// `WHERE <the search>`, with binds $1-$5 (see [`search`]): a caller sees the services of
/// the providers serving its hubs.
const SEARCH_WHERE: &str = "WHERE ($1 = '' OR search_fold(s.name || ' ' || s.criteria || ' ' || s.area || ' ' || o.name) \
     LIKE '%' || search_fold($2) || '%') \
     AND ($3::text IS NULL OR $3 = ANY(s.service_types)) \
     AND ($4::text IS NULL OR s.districts = '{}' OR $4 = ANY(s.districts)) \
     AND ($5::text IS NULL OR s.org_code IN (SELECT hp.provider_code FROM hub_providers hp \
          WHERE hp.hub_code = ANY(string_to_array($5, ','))))";

/// The words, as typed and as a `LIKE` pattern (its wildcards taken literally). The words and
/// every searched field are folded the same way (`search_fold`: accents, case, apostrophes,
/// hyphens), so "St Columba’s" finds "St Columba's" and "Aldhelms" finds "Aldhelm's".
fn search_binds(s: &Search) -> (String, String, Option<String>, Option<String>) {
    let words = s.words.trim();
    let pattern = words
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    (
        words.to_string(),
        pattern,
        s.service_type.clone(),
        s.district.as_deref().map(str::to_uppercase),
    )
}

/// The tag of the directory page's cursors.
pub const PAGE_LIST: &str = "directory-page";

/// Where an entry sits in the page's order (provider, then service name, then id).
pub fn name_position(s: &Service) -> crate::web::paging::NamePosition {
    crate::web::paging::NamePosition {
        names: vec![s.org_name.clone(), s.name.clone()],
        id: s.id,
    }
}

/// Directory entries matching a search, by provider and name, after `after` (from
/// [`name_position`]): at most `limit` + 1 (the extra one says there is a next page), and
/// how many match in all. Everyone signed in may browse it: it holds no patient data.
pub async fn search(
    db: &sqlx::PgPool,
    s: &Search,
    after: Option<&crate::web::paging::NamePosition>,
    limit: i64,
) -> Result<(Vec<Service>, i64), AppError> {
    let (words, pattern, service_type, district) = search_binds(s);
    let (org, name, id) = after.map_or((None, None, None), |p| {
        (
            p.names.first().cloned(),
            p.names.get(1).cloned(),
            Some(p.id),
        )
    });
    let rows = sqlx::query_as::<_, Service>(&format!(
        "{SELECT} {SEARCH_WHERE} AND ($6::text IS NULL OR (o.name, s.name, s.id) > ($6, $7, $8)) \
         ORDER BY o.name, s.name, s.id LIMIT {}",
        limit + 1
    ))
    .bind(&words)
    .bind(&pattern)
    .bind(&service_type)
    .bind(&district)
    .bind(s.hubs.as_deref())
    .bind(org)
    .bind(name)
    .bind(id)
    .fetch_all(db)
    .await?;
    Ok((rows, count(db, s).await?))
}

/// How many entries match a search.
async fn count(db: &sqlx::PgPool, s: &Search) -> Result<i64, AppError> {
    let (words, pattern, service_type, district) = search_binds(s);
    Ok(sqlx::query_scalar(&format!(
        "SELECT count(*) FROM directory_services s JOIN organisations o ON o.code = s.org_code {SEARCH_WHERE}"
    ))
    .bind(&words)
    .bind(&pattern)
    .bind(&service_type)
    .bind(&district)
    .bind(s.hubs.as_deref())
    .fetch_one(db)
    .await?)
}

/// A page of a search (CONTRACT.md "Lists"): newest change first, ties by id, after
/// `after`; at most `limit` + 1 rows (the extra one says there is a next page), and how many
/// entries match.
pub async fn page(
    db: &sqlx::PgPool,
    s: &Search,
    after: Option<crate::web::paging::Position>,
    limit: i64,
) -> Result<(Vec<Service>, i64), AppError> {
    let (words, pattern, service_type, district) = search_binds(s);
    let (at, id) = after.map_or((None, None), |p| (Some(p.at), Some(p.id)));
    let rows = sqlx::query_as::<_, Service>(&format!(
        "{SELECT} {SEARCH_WHERE} AND ($6::timestamptz IS NULL OR (s.updated_at, s.id) < ($6, $7)) \
         ORDER BY s.updated_at DESC, s.id DESC LIMIT {}",
        limit + 1
    ))
    .bind(&words)
    .bind(&pattern)
    .bind(&service_type)
    .bind(&district)
    .bind(s.hubs.as_deref())
    .bind(at)
    .bind(id)
    .fetch_all(db)
    .await?;
    let total = count(db, s).await?;
    Ok((rows, total))
}

pub async fn mine(db: impl PgExecutor<'_>, caller: &Caller) -> Result<Vec<Service>, AppError> {
    Ok(
        sqlx::query_as::<_, Service>(&format!("{SELECT} WHERE s.org_code = $1 ORDER BY s.name"))
            .bind(&caller.org_code)
            .fetch_all(db)
            .await?,
    )
}

pub async fn get_own(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    id: i64,
) -> Result<Service, AppError> {
    sqlx::query_as::<_, Service>(&format!("{SELECT} WHERE s.id = $1 AND s.org_code = $2"))
        .bind(id)
        .bind(&caller.org_code)
        .fetch_optional(db)
        .await?
        .ok_or(AppError::NotFound)
}

/// A directory entry as typed.
#[derive(Debug, Clone, Default)]
pub struct ServiceDraft {
    pub name: String,
    pub service_types: Vec<String>,
    pub area: String,
    pub criteria: String,
    pub contact: String,
    pub hours: String,
}

impl ServiceDraft {
    async fn check(&self, db: impl PgExecutor<'_>) -> Result<(), AppError> {
        let mut errors = FieldErrors::new();
        if self.name.trim().is_empty() {
            errors.add("name", "Enter the name of the service");
        } else if self.name.chars().count() > 200 {
            errors.add("name", "Name must be 200 characters or fewer");
        }
        let known: Vec<(String,)> =
            sqlx::query_as("SELECT code FROM capacity_types WHERE code = ANY($1)")
                .bind(&self.service_types)
                .fetch_all(db)
                .await?;
        if self.service_types.is_empty() {
            errors.add("service_types", "Select at least one type of care");
        } else if known.len() != self.service_types.len() {
            errors.add("service_types", "Select types of care from the list");
        }
        if self.area.chars().count() > 500 {
            errors.add("area", "Area must be 500 characters or fewer");
        }
        if self.criteria.chars().count() > 2000 {
            errors.add("criteria", "Criteria must be 2000 characters or fewer");
        }
        if self.contact.trim().is_empty() {
            errors.add("contact", "Enter how to contact the service");
        } else if self.contact.chars().count() > 300 {
            errors.add("contact", "Contact must be 300 characters or fewer");
        }
        if self.hours.chars().count() > 200 {
            errors.add("hours", "Hours must be 200 characters or fewer");
        }
        errors.into_result(|| ())
    }
}

/// Creates (`id` None) or updates one of the caller's own entries.
pub async fn save(
    state: &AppState,
    caller: &Caller,
    id: Option<i64>,
    d: ServiceDraft,
) -> Result<i64, AppError> {
    caller.require(&[Role::Provider])?;
    d.check(&state.pool).await?;
    let now = state.clock.now();
    let districts = districts_in(&d.area);
    let saved: Option<(i64,)> = match id {
        None => {
            sqlx::query_as(
                "INSERT INTO directory_services (org_code, name, service_types, area, districts, criteria, contact, hours, updated_at, updated_by) \
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING id",
            )
            .bind(&caller.org_code)
            .bind(d.name.trim())
            .bind(&d.service_types)
            .bind(d.area.trim())
            .bind(&districts)
            .bind(d.criteria.trim())
            .bind(d.contact.trim())
            .bind(d.hours.trim())
            .bind(now)
            .bind(caller.user_id)
            .fetch_optional(&state.pool)
            .await?
        }
        Some(id) => {
            sqlx::query_as(
                "UPDATE directory_services SET name = $3, service_types = $4, area = $5, districts = $6, criteria = $7, \
                 contact = $8, hours = $9, updated_at = $10, updated_by = $11 WHERE id = $1 AND org_code = $2 RETURNING id",
            )
            .bind(id)
            .bind(&caller.org_code)
            .bind(d.name.trim())
            .bind(&d.service_types)
            .bind(d.area.trim())
            .bind(&districts)
            .bind(d.criteria.trim())
            .bind(d.contact.trim())
            .bind(d.hours.trim())
            .bind(now)
            .bind(caller.user_id)
            .fetch_optional(&state.pool)
            .await?
        }
    };
    saved.map(|(id,)| id).ok_or(AppError::NotFound)
}
