//! The capacity market's supply side: providers' offers of beds and care packages, as read
//! and as validated. An offer's status is derived, never stored: withdrawn, expired (past
//! `available_until`), full (no places left) or open; so offers expire by themselves.
//! Places are counted by [`super::places`]; changes to offers are in [`super::commands`].

use crate::domain::Caller;
use crate::domain::OfferStatus;
use crate::domain::time::london_date;
use crate::error::{AppError, FieldErrors};
use crate::scope::OfferScope;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgExecutor, Postgres, QueryBuilder};

/// An offer as read, with its derived status.
#[derive(Debug, Clone, FromRow)]
pub struct OfferRow {
    pub id: i64,
    pub org_code: String,
    pub org_name: String,
    pub service_type: String,
    pub service_label: String,
    pub unit: String,
    pub pathway: i16,
    pub places: i32,
    pub places_left: i32,
    pub available_from: DateTime<Utc>,
    pub available_until: DateTime<Utc>,
    pub area: String,
    pub districts: Vec<String>,
    pub gender: String,
    pub specialisms: Vec<String>,
    pub funding: Vec<String>,
    pub earliest_start: Option<DateTime<Utc>>,
    pub notes: String,
    pub status: OfferStatus,
    pub last_confirmed_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// Changes with every edit; an edit sent with an older one is refused.
    pub version: i32,
    /// The last change: posted, edited, confirmed, withdrawn, or a place taken or given back.
    pub updated_at: DateTime<Utc>,
}

impl OfferRow {
    pub fn is_stale(&self, now: DateTime<Utc>, stale_after: Duration) -> bool {
        self.status == OfferStatus::Open && now - self.last_confirmed_at >= stale_after
    }
    /// Covers a patient's postcode district (an offer naming no districts covers anywhere).
    pub fn covers(&self, district: &str) -> bool {
        self.districts.is_empty()
            || self
                .districts
                .iter()
                .any(|d| d.eq_ignore_ascii_case(district))
    }
}

/// CONTRACT.md's offer, plus the fields a hub needs to judge fit.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OfferJson {
    pub id: i64,
    pub org_code: String,
    pub service_type: String,
    pub pathway: i16,
    pub places: i32,
    pub places_left: i32,
    pub available_from: DateTime<Utc>,
    pub available_until: DateTime<Utc>,
    /// The area as the provider described it.
    pub area: String,
    /// Postcode districts read from `area`; empty means anywhere.
    pub postcode_districts: Vec<String>,
    pub notes: String,
    /// open, full, withdrawn or expired.
    pub status: OfferStatus,
    pub gender: String,
    pub specialisms: Vec<String>,
    pub funding: Vec<String>,
    pub earliest_start: Option<DateTime<Utc>>,
    pub last_confirmed_at: DateTime<Utc>,
    /// Not confirmed as still available within the configured time (default 24 hours).
    pub stale: bool,
    pub created_at: DateTime<Utc>,
    /// Send it back with an edit (`PATCH`).
    pub version: i32,
    /// The last change: posted, edited, confirmed, withdrawn, or a place taken or given back
    /// (lists are newest change first).
    pub updated_at: DateTime<Utc>,
}

impl OfferJson {
    pub fn new(o: OfferRow, now: DateTime<Utc>, stale_after: Duration) -> Self {
        OfferJson {
            stale: o.is_stale(now, stale_after),
            id: o.id,
            org_code: o.org_code,
            service_type: o.service_type,
            pathway: o.pathway,
            places: o.places,
            places_left: o.places_left,
            available_from: o.available_from,
            available_until: o.available_until,
            area: o.area,
            postcode_districts: o.districts,
            notes: o.notes,
            status: o.status,
            gender: o.gender,
            specialisms: o.specialisms,
            funding: o.funding,
            earliest_start: o.earliest_start,
            last_confirmed_at: o.last_confirmed_at,
            created_at: o.created_at,
            version: o.version,
            updated_at: o.updated_at,
        }
    }
}

/// Pushes `SELECT <the columns of OfferRow> FROM capacity_offers o ...`, with the derived
/// status (see [`OfferStatus`]) worked out in SQL at `now`, so lists can filter and sort
/// on it.
pub fn push_offer_select(q: &mut QueryBuilder<'_, Postgres>, now: DateTime<Utc>) {
    q.push(format!(
        "SELECT o.id, o.org_code, org.name AS org_name, o.service_type, ct.label AS service_label, ct.unit, \
         o.pathway, o.places, o.places_left, o.available_from, o.available_until, o.area, o.districts, \
         o.gender, o.specialisms, o.funding, o.earliest_start, o.notes, \
         (CASE WHEN o.withdrawn_at IS NOT NULL THEN '{withdrawn}' WHEN o.available_until <= ",
        withdrawn = OfferStatus::Withdrawn,
    ))
    .push_bind(now)
    .push(format!(
        " THEN '{expired}' WHEN o.places_left = 0 THEN '{full}' ELSE '{open}' END) AS status, \
         o.last_confirmed_at, o.created_at, o.version, o.updated_at \
         FROM capacity_offers o JOIN organisations org ON org.code = o.org_code \
         JOIN capacity_types ct ON ct.code = o.service_type",
        expired = OfferStatus::Expired,
        full = OfferStatus::Full,
        open = OfferStatus::Open,
    ));
}

/// A query that starts with [`push_offer_select`].
pub fn select_offers(now: DateTime<Utc>) -> QueryBuilder<'static, Postgres> {
    let mut q = QueryBuilder::new("");
    push_offer_select(&mut q, now);
    q
}

pub const SPECIALISMS: &[(&str, &str)] = &[
    ("bariatric", "Bariatric"),
    ("dementia", "Dementia"),
    ("behaviour", "Behaviour that challenges"),
    ("oxygen", "Oxygen"),
    ("end_of_life", "End of life care"),
    ("double_handed", "Double-handed care"),
];

pub const FUNDING: &[(&str, &str)] = &[
    ("nhs_d2a", "NHS discharge to assess"),
    ("council", "Council funded"),
    ("self_funder", "Self-funder"),
    ("chc", "NHS Continuing Healthcare"),
];

/// Filters for offer lists.
#[derive(Debug, Default, Clone)]
pub struct OfferFilter {
    pub pathway: Option<i16>,
    pub service_type: Option<String>,
    pub available_on: Option<NaiveDate>,
    pub status: Option<OfferStatus>,
    /// Offers changed at or after this time (partners syncing).
    pub updated_since: Option<DateTime<Utc>>,
}

/// Pushes `SELECT * FROM (<offers at now>) o WHERE <scope> <filters>`.
fn push_scoped_filtered(
    q: &mut QueryBuilder<'_, Postgres>,
    caller: &Caller,
    filter: &OfferFilter,
    now: DateTime<Utc>,
) {
    push_offer_select(q, now);
    q.push(") o WHERE ");
    OfferScope::of(caller).push_sql(q, "o");
    if let Some(pathway) = filter.pathway {
        q.push(" AND o.pathway = ").push_bind(pathway);
    }
    if let Some(service_type) = &filter.service_type {
        q.push(" AND o.service_type = ")
            .push_bind(service_type.clone());
    }
    if let Some(day) = filter.available_on {
        let start =
            crate::domain::time::london_to_utc(day.and_hms_opt(0, 0, 0).unwrap_or_default());
        q.push(" AND o.available_from < ")
            .push_bind(start + Duration::hours(24))
            .push(" AND o.available_until > ")
            .push_bind(start);
    }
    if let Some(status) = filter.status {
        q.push(" AND o.status = ").push_bind(status);
    }
    if let Some(since) = filter.updated_since {
        q.push(" AND o.updated_at >= ").push_bind(since);
    }
}

/// A page of the offers the caller may see (CONTRACT.md "Lists"): newest change first, ties
/// by id, after `after`; at most `limit` + 1 rows (the extra one says there is a next page),
/// and how many match. The scope is applied before both the count and the cursor.
pub async fn page(
    db: &sqlx::PgPool,
    caller: &Caller,
    filter: &OfferFilter,
    after: Option<crate::web::paging::Position>,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<(Vec<OfferRow>, i64), AppError> {
    let mut q = QueryBuilder::new("SELECT * FROM (");
    push_scoped_filtered(&mut q, caller, filter, now);
    if let Some(p) = after {
        q.push(" AND (o.updated_at, o.id) < (")
            .push_bind(p.at)
            .push(", ")
            .push_bind(p.id)
            .push(")");
    }
    q.push(" ORDER BY o.updated_at DESC, o.id DESC LIMIT ")
        .push((limit + 1).to_string());
    let rows = q.build_query_as::<OfferRow>().fetch_all(db).await?;
    let mut count = QueryBuilder::new("SELECT count(*) FROM (");
    push_scoped_filtered(&mut count, caller, filter, now);
    let total: i64 = count.build_query_scalar().fetch_one(db).await?;
    Ok((rows, total))
}

/// Offers the caller may see (a provider its own; everyone else all of them), open ones
/// first, then newest first.
pub async fn list(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    filter: &OfferFilter,
    now: DateTime<Utc>,
) -> Result<Vec<OfferRow>, AppError> {
    let mut q = QueryBuilder::new("SELECT * FROM (");
    push_scoped_filtered(&mut q, caller, filter, now);
    q.push(" ORDER BY o.status = ")
        .push_bind(OfferStatus::Open)
        .push(" DESC, o.created_at DESC, o.id DESC LIMIT 1000");
    Ok(q.build_query_as::<OfferRow>().fetch_all(db).await?)
}

/// A provider's page, first part: its open offers, every one, newest first.
pub async fn open_ones(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    now: DateTime<Utc>,
) -> Result<Vec<OfferRow>, AppError> {
    let filter = OfferFilter {
        status: Some(OfferStatus::Open),
        ..OfferFilter::default()
    };
    let mut q = QueryBuilder::new("SELECT * FROM (");
    push_scoped_filtered(&mut q, caller, &filter, now);
    q.push(" ORDER BY o.created_at DESC, o.id DESC");
    Ok(q.build_query_as::<OfferRow>().fetch_all(db).await?)
}

/// A provider's page, the rest: offers no longer open (full, expired, withdrawn), newest
/// first, those posted before `before` (a keyset on posting time and id), at most `limit`
/// + 1 (the extra one says there is an older page).
pub async fn closed_page(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    before: Option<crate::web::paging::Position>,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<Vec<OfferRow>, AppError> {
    let mut q = QueryBuilder::new("SELECT * FROM (");
    push_scoped_filtered(&mut q, caller, &OfferFilter::default(), now);
    q.push(" AND o.status <> ").push_bind(OfferStatus::Open);
    if let Some(p) = before {
        q.push(" AND (o.created_at, o.id) < (")
            .push_bind(p.at)
            .push(", ")
            .push_bind(p.id)
            .push(")");
    }
    q.push(" ORDER BY o.created_at DESC, o.id DESC LIMIT ")
        .push((limit + 1).to_string());
    Ok(q.build_query_as::<OfferRow>().fetch_all(db).await?)
}

/// One offer, if the caller may see it.
pub async fn get(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    id: i64,
    now: DateTime<Utc>,
) -> Result<OfferRow, AppError> {
    let mut q = select_offers(now);
    q.push(" WHERE o.id = ").push_bind(id).push(" AND ");
    OfferScope::of(caller).push_sql(&mut q, "o");
    q.build_query_as::<OfferRow>()
        .fetch_optional(db)
        .await?
        .ok_or(AppError::NotFound)
}

/// Open offers on a pathway: the candidates for "find care" (the hub's, which sees every
/// offer).
pub async fn open_on_pathway(
    db: impl PgExecutor<'_>,
    hub: &str,
    pathway: i16,
    now: DateTime<Utc>,
) -> Result<Vec<OfferRow>, AppError> {
    let mut q = select_offers(now);
    q.push(" WHERE ");
    OfferScope::Market(hub.to_string()).push_sql(&mut q, "o");
    q.push(" AND o.pathway = ")
        .push_bind(pathway)
        .push(" AND o.withdrawn_at IS NULL AND o.places_left > 0 AND o.available_until > ")
        .push_bind(now)
        .push(" ORDER BY o.id");
    Ok(q.build_query_as::<OfferRow>().fetch_all(db).await?)
}

/// A validated new offer.
#[derive(Debug, Clone)]
pub struct NewOffer {
    pub service_type: String,
    pub places: i32,
    pub available_from: DateTime<Utc>,
    pub available_until: DateTime<Utc>,
    pub area: String,
    pub gender: String,
    pub specialisms: Vec<String>,
    pub funding: Vec<String>,
    pub earliest_start: Option<DateTime<Utc>>,
    pub notes: String,
}

/// The text of a new offer as typed, shared by the API and the page form.
#[derive(Debug, Clone, Default)]
pub struct OfferDraft {
    pub service_type: String,
    pub places: String,
    pub available_from: Option<DateTime<Utc>>,
    pub available_until: Option<DateTime<Utc>>,
    pub area: String,
    pub gender: String,
    pub specialisms: Vec<String>,
    pub funding: Vec<String>,
    pub earliest_start: Option<DateTime<Utc>>,
    pub notes: String,
}

/// Postcode districts (outward codes) named in an area description: `LS6, LS7 and LS9`.
pub fn districts_in(area: &str) -> Vec<String> {
    let mut out: Vec<String> = area
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| {
            let b = t.as_bytes();
            (2..=4).contains(&b.len())
                && b[0].is_ascii_alphabetic()
                && b.iter().any(u8::is_ascii_digit)
                && b.iter().all(u8::is_ascii_alphanumeric)
        })
        .map(|t| t.to_ascii_uppercase())
        .collect();
    out.sort();
    out.dedup();
    out
}

impl OfferDraft {
    pub async fn validate(
        &self,
        db: impl PgExecutor<'_>,
        now: DateTime<Utc>,
        mut errors: FieldErrors,
    ) -> Result<NewOffer, AppError> {
        let known: Option<(String,)> = sqlx::query_as(
            "SELECT c.code FROM capacity_types c JOIN code_sets s ON s.name = c.code_set WHERE c.code = $1 AND s.active",
        )
        .bind(self.service_type.trim())
        .fetch_optional(db)
        .await?;
        if known.is_none() {
            errors.add("service_type", "Select the type of care or bed");
        }
        let places = match self.places.trim().parse::<i32>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ if self.places.trim().is_empty() => {
                errors.add("places", "Enter how many places are free");
                0
            }
            _ => {
                errors.add("places", "Places must be a whole number from 1 to 1000");
                0
            }
        };
        let from = self.available_from.unwrap_or(now);
        let until = match self.available_until {
            None => {
                errors.add(
                    "available_until",
                    "Enter until when the places are available",
                );
                now
            }
            Some(u) if u <= from => {
                errors.add(
                    "available_until",
                    "Available until must be after available from",
                );
                u
            }
            Some(u) if u <= now => {
                errors.add("available_until", "Available until must be in the future");
                u
            }
            Some(u) => u,
        };
        if london_date(from) > london_date(now) + Duration::days(90) {
            errors.add(
                "available_from",
                "Available from must be within the next 90 days",
            );
        }
        let gender = match self.gender.trim() {
            "" | "any" => "any",
            "female" => "female",
            "male" => "male",
            _ => {
                errors.add("gender", "Gender must be any, female or male");
                "any"
            }
        };
        let check =
            |values: &[String], allowed: &[(&str, &str)], field: &str, errors: &mut FieldErrors| {
                let bad: Vec<&String> = values
                    .iter()
                    .filter(|v| !allowed.iter().any(|(c, _)| c == v))
                    .collect();
                if !bad.is_empty() {
                    let codes: Vec<&str> = allowed.iter().map(|(c, _)| *c).collect();
                    errors.add(field, format!("Choose from: {}", codes.join(", ")));
                }
            };
        check(&self.specialisms, SPECIALISMS, "specialisms", &mut errors);
        check(&self.funding, FUNDING, "funding", &mut errors);
        if self.area.chars().count() > 500 {
            errors.add("area", "Area must be 500 characters or fewer");
        }
        if self.notes.chars().count() > 2000 {
            errors.add("notes", "Notes must be 2000 characters or fewer");
        }
        errors.into_result(|| NewOffer {
            service_type: self.service_type.trim().to_string(),
            places,
            available_from: from,
            available_until: until,
            area: self.area.trim().to_string(),
            gender: gender.to_string(),
            specialisms: self.specialisms.clone(),
            funding: self.funding.clone(),
            earliest_start: self.earliest_start,
            notes: self.notes.trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::districts_in;

    #[test]
    fn districts_are_read_from_an_area_description() {
        assert_eq!(districts_in("LS6, LS7 and ls9"), vec!["LS6", "LS7", "LS9"]);
        assert_eq!(
            districts_in("East Leeds: LS9 LS14 LS15"),
            vec!["LS14", "LS15", "LS9"]
        );
        assert_eq!(districts_in("SW1A"), vec!["SW1A"]);
        assert!(districts_in("anywhere in Leeds").is_empty());
        assert!(districts_in("").is_empty());
    }
}
