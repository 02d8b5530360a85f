//! Every read of case data. Each function takes the [`Caller`] and filters in SQL with
//! [`CaseScope`], so a caller can never read a case it may not see (the rule itself is in
//! [`crate::scope`]).

use super::{CaseRow, HistoryEntry, NctrPeriod};
use crate::domain::{Caller, CaseStatus, Pathway, PatientId};
use crate::error::AppError;
use crate::scope::CaseScope;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, Postgres, QueryBuilder};

/// The columns of [`CaseRow`]. `p` is the patients table.
pub const CASE_SELECT: &str = "SELECT p.id, p.nhs_number, p.nhs_number_status, p.local_id, p.given_name, p.family_name, p.date_of_birth, \
    p.sex, p.postcode, p.trust_code, p.ward_code, w.name AS ward_name, p.bed, p.admitted_at, \
    p.expected_discharge_date, p.needs_summary, p.status, p.pathway, p.discharge_ready_at, \
    p.delay_reason, dr.label AS delay_reason_label, p.coordinator_id, cu.username AS coordinator, \
    p.planned_discharge_at, p.discharged_at, p.closed_reason, p.discharge_destination, p.discharge_method, \
    p.cancel_reason_code, p.cancelled_at, p.version, p.created_at, p.updated_at \
    FROM patients p JOIN wards w ON w.code = p.ward_code \
    LEFT JOIN delay_reasons dr ON dr.code = p.delay_reason \
    LEFT JOIN users cu ON cu.id = p.coordinator_id";

const OPEN: &str = "p.status NOT IN ('discharged','cancelled')";

/// `CASE_SELECT WHERE <the caller's scope> AND `, ready for the rest of the condition.
fn scoped_select(caller: &Caller) -> QueryBuilder<'static, Postgres> {
    let mut q = QueryBuilder::new(CASE_SELECT);
    q.push(" WHERE ");
    CaseScope::of(caller).push_sql(&mut q, "p");
    q.push(" AND ");
    q
}

/// One case, if the caller may see it.
pub async fn get(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    id: PatientId,
) -> Result<CaseRow, AppError> {
    let mut q = scoped_select(caller);
    q.push("p.id = ").push_bind(id);
    q.build_query_as::<CaseRow>()
        .fetch_optional(db)
        .await?
        .ok_or(AppError::NotFound)
}

/// Several cases by id, those the caller may see, in one query.
pub async fn by_ids(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    ids: &[PatientId],
) -> Result<Vec<CaseRow>, AppError> {
    let mut q = scoped_select(caller);
    q.push("p.id = ANY(").push_bind(ids.to_vec()).push(")");
    Ok(q.build_query_as::<CaseRow>().fetch_all(db).await?)
}

/// Locks one case for a change, if the caller may see it, and checks the version the
/// caller last saw (when it sent one).
pub async fn lock(
    conn: &mut PgConnection,
    caller: &Caller,
    id: PatientId,
    expected_version: Option<i32>,
) -> Result<CaseRow, AppError> {
    let mut q = scoped_select(caller);
    q.push("p.id = ").push_bind(id).push(" FOR UPDATE OF p");
    let case = q
        .build_query_as::<CaseRow>()
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(AppError::NotFound)?;
    if let Some(v) = expected_version
        && v != case.version
    {
        return Err(AppError::Stale);
    }
    Ok(case)
}

/// Filters for case lists. All optional; combined with AND.
#[derive(Debug, Default, Clone)]
pub struct CaseFilter {
    pub status: Option<CaseStatus>,
    /// Only open (non-terminal) cases; ignored when `status` is given.
    pub open_only: bool,
    pub pathway: Option<Pathway>,
    pub ward_code: Option<String>,
    pub trust_code: Option<String>,
    pub delay_reason: Option<String>,
    /// Open cases with no delay reason recorded.
    pub no_delay_reason: bool,
    /// The 24-hour standard: awaiting care (pathway 1-3, nothing arranged) and ready for
    /// discharge at or before this time.
    pub escalated_before: Option<DateTime<Utc>>,
    pub limit: i64,
    pub offset: i64,
}

/// A case in a list, with counts over the whole filtered list (not just this page).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ListedCase {
    #[sqlx(flatten)]
    pub case: CaseRow,
    /// Cases matching the filter.
    pub total: i64,
    /// Of those, open cases ready for discharge 24 hours or more ago.
    pub over_24h: i64,
}

/// Cases the caller may see, longest wait first (never-ready cases last, newest first),
/// one page at a time, each row carrying the counts for the whole filtered list.
///
/// The WHERE clause holds only the filters in use, so the planner can use the partial
/// index on open cases; the joins run for the page's rows only.
pub async fn list(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    filter: &CaseFilter,
    now: DateTime<Utc>,
) -> Result<Vec<ListedCase>, AppError> {
    let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(
        "WITH matching AS (SELECT p.id, p.discharge_ready_at, p.status FROM patients p WHERE ",
    );
    CaseScope::of(caller).push_sql(&mut q, "p");
    if let Some(status) = filter.status {
        q.push(" AND p.status = ").push_bind(status);
    } else if filter.open_only {
        q.push(format!(" AND {OPEN}"));
    }
    if let Some(p) = filter.pathway {
        q.push(" AND p.pathway = ").push_bind(p.number());
    }
    if let Some(w) = &filter.ward_code {
        q.push(" AND p.ward_code = ").push_bind(w.clone());
    }
    if let Some(t) = &filter.trust_code {
        q.push(" AND p.trust_code = ").push_bind(t.clone());
    }
    if let Some(r) = &filter.delay_reason {
        q.push(" AND p.delay_reason = ").push_bind(r.clone());
    }
    if filter.no_delay_reason {
        q.push(" AND p.delay_reason IS NULL AND p.discharge_ready_at IS NOT NULL");
    }
    if let Some(before) = filter.escalated_before {
        q.push(" AND p.status = 'awaiting_care' AND p.discharge_ready_at <= ")
            .push_bind(before);
    }
    q.push("), counts AS (SELECT count(*) AS total, count(*) FILTER (WHERE m.discharge_ready_at <= ")
        .push_bind(now - chrono::Duration::hours(24))
        .push(" AND m.status NOT IN ('discharged','cancelled')) AS over_24h FROM matching m), ")
        .push("page AS (SELECT m.id FROM matching m ORDER BY m.discharge_ready_at ASC NULLS LAST, m.id DESC LIMIT ")
        .push_bind(if filter.limit > 0 { filter.limit } else { 1000 })
        .push(" OFFSET ")
        .push_bind(filter.offset.max(0))
        .push(") SELECT counts.total, counts.over_24h, ")
        .push(CASE_SELECT.trim_start_matches("SELECT "))
        .push(" JOIN page ON page.id = p.id CROSS JOIN counts \
               ORDER BY p.discharge_ready_at ASC NULLS LAST, p.id DESC");
    Ok(q.build_query_as::<ListedCase>().fetch_all(db).await?)
}

/// One ward's open cases in numbers, for the ward list's chooser.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WardCounts {
    pub code: String,
    pub name: String,
    pub open: i64,
    pub nctr: i64,
    pub over_24h: i64,
}

/// Every ward whose cases the caller sees wholesale (for the ward list: a ward user's own
/// trust's wards) with its open, not-meeting-criteria and over-24-hour counts.
pub async fn ward_counts(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    now: DateTime<Utc>,
) -> Result<Vec<WardCounts>, AppError> {
    let scope = CaseScope::of(caller);
    let mut q = QueryBuilder::new(
        "SELECT w.code, w.name, count(p.id) AS open, \
         count(p.id) FILTER (WHERE p.discharge_ready_at IS NOT NULL) AS nctr, \
         count(p.id) FILTER (WHERE p.discharge_ready_at <= ",
    );
    q.push_bind(now - chrono::Duration::hours(24))
        .push(") AS over_24h FROM wards w LEFT JOIN patients p ON p.ward_code = w.code AND ")
        .push(OPEN)
        .push(" AND ");
    scope.push_sql(&mut q, "p");
    q.push(" WHERE ");
    scope.push_wards_sql(&mut q, "w");
    q.push(" GROUP BY w.code, w.name ORDER BY w.code");
    Ok(q.build_query_as::<WardCounts>().fetch_all(db).await?)
}

/// Of these cases, those whose identifiable details the caller may see. Everyone who may
/// see a case sees its identifiers, except a provider: only once it has accepted a referral.
pub async fn identifiable(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    ids: &[PatientId],
) -> Result<std::collections::HashSet<PatientId>, AppError> {
    let CaseScope::ReferredTo(provider) = CaseScope::of(caller) else {
        return Ok(ids.iter().copied().collect());
    };
    let rows: Vec<(PatientId,)> = sqlx::query_as(
        "SELECT DISTINCT patient_id FROM referrals WHERE org_code = $1 AND status = 'accepted' AND patient_id = ANY($2)",
    )
    .bind(provider)
    .bind(ids)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// A case's history, oldest first. The caller must already have been allowed the case.
pub async fn history(
    db: impl PgExecutor<'_>,
    case_id: PatientId,
) -> Result<Vec<HistoryEntry>, AppError> {
    Ok(sqlx::query_as::<_, HistoryEntry>(
        "SELECT h.at, u.username AS actor, h.action, h.detail, h.to_status \
         FROM patient_history h LEFT JOIN users u ON u.id = h.actor_id \
         WHERE h.patient_id = $1 ORDER BY h.at, h.id",
    )
    .bind(case_id)
    .fetch_all(db)
    .await?)
}

/// A case's periods of not meeting the criteria to reside, oldest first.
pub async fn nctr_periods(
    db: impl PgExecutor<'_>,
    case_id: PatientId,
) -> Result<Vec<NctrPeriod>, AppError> {
    Ok(sqlx::query_as::<_, NctrPeriod>(
        "SELECT n.started_at, n.ended_at, n.ended_by, n.ctr_code, c.label AS ctr_label \
         FROM nctr_periods n LEFT JOIN ctr_reasons c ON c.code = n.ctr_code \
         WHERE n.patient_id = $1 ORDER BY n.started_at, n.id",
    )
    .bind(case_id)
    .fetch_all(db)
    .await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WardRow {
    pub code: String,
    pub name: String,
    pub org_code: String,
    pub org_name: String,
}

/// Wards a caller may file cases on: a ward user's own trust's, or every ward for the hub.
pub async fn wards_for(db: impl PgExecutor<'_>, caller: &Caller) -> Result<Vec<WardRow>, AppError> {
    let mut q = QueryBuilder::new(
        "SELECT w.code, w.name, w.org_code, o.name AS org_name FROM wards w \
         JOIN organisations o ON o.code = w.org_code WHERE ",
    );
    CaseScope::of(caller).push_wards_sql(&mut q, "w");
    q.push(" ORDER BY w.org_code, w.code");
    Ok(q.build_query_as::<WardRow>().fetch_all(db).await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TrustRow {
    pub code: String,
    pub name: String,
}

pub async fn trusts(db: impl PgExecutor<'_>) -> Result<Vec<TrustRow>, AppError> {
    Ok(sqlx::query_as::<_, TrustRow>(
        "SELECT code, name FROM organisations WHERE kind = 'acute_trust' ORDER BY code",
    )
    .fetch_all(db)
    .await?)
}
