//! The access log: every view of identifiable patient data, by anyone, is written here
//! (who, role, organisation, the patients shown, when, what), one row per request naming
//! every patient the request showed; a request for a patient the caller may not see is
//! written too, as `refused`. Lists write their row in the same statement that reads the
//! page ([`crate::cases::queries::list`]); other reads call [`record_views`]. The table is
//! append-only (triggers refuse UPDATE, DELETE and TRUNCATE). An administrator reads it by
//! patient, user, organisation and dates ([`entries`]), on a page and as CSV; repeated views
//! of the same thing by the same person minutes apart are shown as one line ([`grouped`]).

pub mod pages;

use crate::domain::{Caller, PatientId, Role};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor, Postgres, QueryBuilder};

/// Records that the caller saw these patients' identifiable details: one row.
pub async fn record_views(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    patient_ids: &[PatientId],
    what: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    if patient_ids.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "INSERT INTO access_log (at, user_id, username, role, org_code, patient_ids, what) \
         VALUES ($7, $1, $2, $3, $4, $5, $6)",
        caller.user_id,
        caller.username,
        caller.role as _,
        caller.org_code,
        patient_ids as _,
        what,
        now as _,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Records that the caller asked for a patient it may not see (only if that patient
/// exists: a made-up id names nobody).
pub async fn record_refusal(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    patient_id: PatientId,
    what: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    sqlx::query!(
        "INSERT INTO access_log (at, user_id, username, role, org_code, patient_ids, what, outcome) \
         SELECT $7, $1, $2, $3, $4, ARRAY[$5::bigint], $6, 'refused' WHERE case_exists($5)",
        caller.user_id,
        caller.username,
        caller.role as _,
        caller.org_code,
        patient_id as _,
        what,
        now as _,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// One row of the log.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct AccessEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub username: String,
    pub role: Role,
    pub org_code: String,
    pub what: String,
    pub outcome: String,
    pub patient_ids: Vec<i64>,
}

/// Which entries to read.
#[derive(Debug, Clone, Default)]
pub struct AccessFilter {
    /// Entries naming any of these cases.
    pub patient_ids: Option<Vec<PatientId>>,
    pub username: Option<String>,
    pub org_code: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only entries by the users of a hub's organisations and of the providers serving it
    /// (an administrator's hub).
    pub hub: Option<String>,
}

/// The most entries one read returns.
pub const ENTRIES_MAX: i64 = 5000;

/// Entries matching the filter, newest first (at most [`ENTRIES_MAX`]).
pub async fn entries(
    db: impl PgExecutor<'_>,
    f: &AccessFilter,
) -> Result<Vec<AccessEntry>, AppError> {
    // A hub's administrator reads the entries of its hub's users, and of the providers
    // serving it; a provider's entry (which may name cases of several hubs it serves) is
    // shown naming this hub's cases only, and not at all when it names none.
    let mut q = QueryBuilder::<Postgres>::new(
        "SELECT id, at, username, role, org_code, what, outcome, patient_ids FROM (\
         SELECT id, at, username, role, org_code, what, outcome, ",
    );
    match &f.hub {
        Some(hub) => q
            .push(
                "CASE WHEN role <> 'provider' THEN patient_ids ELSE ARRAY(SELECT x FROM unnest(patient_ids) x \
                 WHERE EXISTS (SELECT 1 FROM patients p WHERE p.id = x AND p.hub_code = ",
            )
            .push_bind(hub.clone())
            .push(")) END AS patient_ids"),
        None => q.push("patient_ids"),
    };
    q.push(" FROM access_log WHERE true");
    if let Some(ids) = &f.patient_ids {
        let ids: Vec<i64> = ids.iter().map(|p| p.0).collect();
        q.push(" AND patient_ids && ").push_bind(ids);
    }
    if let Some(u) = &f.username {
        q.push(" AND username = ").push_bind(u.clone());
    }
    if let Some(o) = &f.org_code {
        q.push(" AND org_code = ").push_bind(o.clone());
    }
    if let Some(from) = f.from {
        q.push(" AND at >= ").push_bind(from);
    }
    if let Some(to) = f.to {
        q.push(" AND at < ").push_bind(to);
    }
    if let Some(hub) = &f.hub {
        q.push(" AND (org_code IN (SELECT o.code FROM organisations o WHERE o.hub_code = ")
            .push_bind(hub.clone())
            .push(") OR org_code IN (SELECT hp.provider_code FROM hub_providers hp WHERE hp.hub_code = ")
            .push_bind(hub.clone())
            .push("))");
    }
    q.push(") e WHERE cardinality(patient_ids) > 0 ORDER BY at DESC, id DESC LIMIT ")
        .push(ENTRIES_MAX.to_string());
    Ok(q.build_query_as::<AccessEntry>().fetch_all(db).await?)
}

/// Everyone who saw (or tried to see) a patient's identifiable details, newest first.
pub async fn who_looked(
    db: impl PgExecutor<'_>,
    patient_id: PatientId,
) -> Result<Vec<AccessEntry>, AppError> {
    entries(
        db,
        &AccessFilter {
            patient_ids: Some(vec![patient_id]),
            ..AccessFilter::default()
        },
    )
    .await
}

/// Views of the same thing by the same person this close together count once.
pub const REPEAT_WINDOW: chrono::Duration = chrono::Duration::minutes(10);

/// Entries as people read them: a run of the same user seeing the same thing (same page,
/// same patients, same outcome), each within [`REPEAT_WINDOW`] of the next, is one line.
#[derive(Debug, Clone)]
pub struct AccessLine {
    /// The newest entry of the run.
    pub entry: AccessEntry,
    /// The oldest time in the run.
    pub first_at: DateTime<Utc>,
    /// How many requests the run holds.
    pub times: usize,
}

/// Groups entries (newest first) into lines (newest first), whatever other people did in
/// between.
pub fn grouped(entries: Vec<AccessEntry>) -> Vec<AccessLine> {
    use std::collections::HashMap;
    let mut lines: Vec<AccessLine> = vec![];
    // the line each (user, what, outcome, patients) last went to
    let mut open: HashMap<(String, String, String, Vec<i64>), usize> = HashMap::new();
    for e in entries {
        let key = (
            e.username.clone(),
            e.what.clone(),
            e.outcome.clone(),
            e.patient_ids.clone(),
        );
        if let Some(&i) = open.get(&key)
            && lines[i].first_at - e.at <= REPEAT_WINDOW
        {
            lines[i].first_at = e.at;
            lines[i].times += 1;
            continue;
        }
        open.insert(key, lines.len());
        lines.push(AccessLine {
            first_at: e.at,
            times: 1,
            entry: e,
        });
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(user: &str, what: &str, minute: i64, ids: &[i64]) -> AccessEntry {
        AccessEntry {
            id: minute,
            at: DateTime::<Utc>::from_timestamp(1_795_000_000 + minute * 60, 0).unwrap_or_default(),
            username: user.into(),
            role: Role::Hub,
            org_code: "HUB".into(),
            what: what.into(),
            outcome: "shown".into(),
            patient_ids: ids.to_vec(),
        }
    }

    #[test]
    fn repeated_views_minutes_apart_are_one_line_and_a_gap_or_a_change_starts_another() {
        // newest first
        let lines = grouped(vec![
            entry("hub", "hub worklist", 40, &[1, 2]),
            entry("hub", "hub worklist", 38, &[1, 2]),
            entry("hub", "hub worklist", 31, &[1, 2]),
            // a gap of 11 minutes
            entry("hub", "hub worklist", 20, &[1, 2]),
            // other patients shown
            entry("hub", "hub worklist", 19, &[1, 3]),
            entry("ward", "hub worklist", 18, &[1, 3]),
            // someone else in between does not split a run
            entry("hub", "hub worklist", 17, &[1, 3]),
        ]);
        let times: Vec<usize> = lines.iter().map(|l| l.times).collect();
        assert_eq!(times, vec![3, 1, 2, 1]);
        assert_eq!(lines[0].first_at, entry("", "", 31, &[]).at);
    }
}
