//! Every read of case data. Each function takes the [`Caller`] and filters in SQL with
//! [`CaseScope`], so a caller can never read a case it may not see (the rule itself is in
//! [`crate::scope`]).

use super::{CaseRow, HistoryEntry, NctrPeriod};
use crate::domain::{Caller, PatientId};
use crate::error::AppError;
use crate::scope::CaseScope;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, Postgres, QueryBuilder};

/// A case's columns as [`CASE_SELECT`] reads them, from a row source aliased `p` that holds
/// `patients`' columns, joined to [`CASE_JOINS`].
macro_rules! case_columns {
    () => {
        "p.id, p.nhs_number, p.nhs_number_status, p.local_id, p.given_name, p.family_name, p.date_of_birth, \
    p.sex, p.postcode, p.trust_code, p.ward_code, w.name AS ward_name, p.bed, p.admitted_at, \
    p.expected_discharge_date, p.needs_summary, p.status, p.pathway, p.discharge_ready_at, \
    p.delay_reason, dr.label AS delay_reason_label, p.coordinator_id, cu.username AS coordinator, \
    p.planned_discharge_at, p.discharged_at, p.closed_reason, p.discharge_destination, p.discharge_method, \
    p.cancel_reason_code, p.cancelled_at, p.version, p.created_at, p.updated_at"
    };
}
/// The look-ups a case row names (ward, delay reason, coordinator), joined to `p`.
macro_rules! case_joins {
    () => {
        " JOIN wards w ON w.code = p.ward_code \
    LEFT JOIN delay_reasons dr ON dr.code = p.delay_reason \
    LEFT JOIN users cu ON cu.id = p.coordinator_id"
    };
}
/// The columns of a case row ([`crate::cases::CaseRow`]), without `SELECT` and `FROM`.
pub const CASE_COLUMNS: &str = case_columns!();
/// The joins of a case row, after its row source `p`.
pub const CASE_JOINS: &str = case_joins!();
/// The columns of [`CaseRow`]. `p` is the patients table.
pub const CASE_SELECT: &str = concat!(
    "SELECT ",
    case_columns!(),
    " FROM patients p",
    case_joins!()
);

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

pub use super::list::{
    Assignment, CaseFilter, CaseList, Cursor, ListOrder, ListedCase, News, NewsFor, PageRequest,
    Seen, list,
};

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
    // from the case counters: open and not meeting the criteria are sums; waiting 24 hours
    // or more is the sum over the hours wholly before the line plus the cases of the hour
    // the line falls in (row by row if the counters have folded that hour away)
    let line = now - chrono::Duration::hours(24);
    let open_ward = "FROM case_counts c WHERE c.ward_code = w.code AND c.status NOT IN ('discharged','cancelled')";
    let mut q = QueryBuilder::new(format!(
        "SELECT w.code, w.name, \
         COALESCE((SELECT sum(c.n) {open_ward}), 0)::bigint AS open, \
         COALESCE((SELECT sum(c.n) {open_ward} AND c.ready_hour IS NOT NULL), 0)::bigint AS nctr, \
         (CASE WHEN (SELECT before FROM case_counts_folded) <= "
    ));
    q.push_bind(super::list::hour_of(line))
        .push(format!(
            " THEN COALESCE((SELECT sum(c.n) {open_ward} AND c.ready_hour + interval '1 hour' <= "
        ))
        .push_bind(line)
        .push("), 0) + (SELECT count(*) FROM patients p WHERE p.ward_code = w.code AND ")
        .push(OPEN)
        .push(" AND p.discharge_ready_at >= ")
        .push_bind(super::list::hour_of(line))
        .push(" AND p.discharge_ready_at <= ")
        .push_bind(line)
        .push(") ELSE (SELECT count(*) FROM patients p WHERE p.ward_code = w.code AND ")
        .push(OPEN)
        .push(" AND p.discharge_ready_at <= ")
        .push_bind(line)
        .push(") END)::bigint AS over_24h FROM wards w WHERE ");
    CaseScope::of(caller).push_wards_sql(&mut q, "w");
    q.push(" ORDER BY w.code");
    Ok(q.build_query_as::<WardCounts>().fetch_all(db).await?)
}

/// Of these cases, those whose identifiable details the caller may see (the rule is
/// [`CaseScope::push_identifiable_sql`]'s: everyone who may see a case sees who the patient
/// is, except a provider until it has accepted a referral). Needs no query when the answer
/// is "all of them".
pub async fn identifiable(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    ids: &[PatientId],
) -> Result<std::collections::HashSet<PatientId>, AppError> {
    let scope = CaseScope::of(caller);
    if matches!(scope, CaseScope::Hub(_) | CaseScope::Trust(_)) {
        return Ok(ids.iter().copied().collect());
    }
    let mut q = QueryBuilder::new("SELECT p.id FROM patients p WHERE p.id = ANY(");
    q.push_bind(ids.to_vec()).push(") AND ");
    scope.push_identifiable_sql(&mut q, "p");
    let rows: Vec<PatientId> = q.build_query_scalar().fetch_all(db).await?;
    Ok(rows.into_iter().collect())
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
