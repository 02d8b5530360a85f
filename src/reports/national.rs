//! The national discharge returns (DOMAIN.md "National discharge returns"): NHS England's
//! acute and community discharge sitreps, for a day or a period, table by table, in the
//! returns' own categories. One row per provider organisation (acute trusts for the acute
//! return, community trusts for the community return) per day, and a total.
//!
//! - Scope: adults (18 or over on the day) with an overnight stay (a stay that began and
//!   ended on the same date is left out).
//! - Table 2, daily: `nctr` patients not meeting the criteria to reside at some point on
//!   the day (the same patients as the sitrep's, [`super::nctr_day`]) = `discharged` (left
//!   hospital that day: a discharge, or a case closed as died, transferred out,
//!   self-discharged or otherwise) + `remaining` (everyone else, including a patient who met
//!   the criteria again later that day: acute reason A9). The identity holds by
//!   construction, in every row of every day.
//! - Table 3, daily snapshot: additional bed days since the discharge ready date (calendar
//!   days from the start of the current period to the day) of the remaining patients still
//!   not meeting the criteria at the cut-off, for lengths of stay (days since admission) of
//!   7+, 14+ and 21+ days, nested (the community return has 14+ and 21+ only).
//! - Table 4: discharges by destination within pathway (the return's categories), then the
//!   endings that are discharges without a destination within a pathway (died, transferred
//!   out, self-discharged, case closed for another reason, destination not recorded), so the
//!   destinations add up to the discharges.
//! - Table 5: remaining patients with a length of stay of 14 days or more, by reason: the
//!   delay reason in force at the cut-off mapped to the return's list by the active,
//!   versioned mapping table (`national_reason_map`), A9 (acute) or `met_criteria_again`
//!   (community) for those who met the criteria again that day, `none` when no reason was
//!   recorded and `unmapped` when the reason has no counterpart in the return (CHC decisions
//!   in the acute return). For a period, the average per day.
//!
//! Each day is one fetch ([`super::nctr_day::fetch`]) and a fold with no I/O ([`fold_day`]);
//! a period is its days, summed ([`fold_period`]).

use super::counts::{Counts, Keyed};
use super::day::Day;
use super::nctr_day::{self, NctrOnDay};
use crate::domain::discharge::{ENDING_KEYS, destination_key};
use crate::domain::time::{age_on, london_date};
use crate::error::{AppError, FieldErrors};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgPool;
use std::collections::HashMap;

/// Which national return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnKind {
    Acute,
    Community,
}

/// Remaining patients with no delay reason recorded at the cut-off.
pub const NO_REASON: &str = "none";
/// Remaining patients whose reason has no counterpart in the return.
pub const UNMAPPED: &str = "unmapped";
/// The community return's key for a patient who met the criteria again that day (the acute
/// return has A9).
pub const MET_CRITERIA_AGAIN: &str = "met_criteria_again";
/// The acute return's reason for a patient who met the criteria again that day.
pub const A9: &str = "A9";

impl ReturnKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReturnKind::Acute => "acute",
            ReturnKind::Community => "community",
        }
    }

    pub fn parse(v: Option<&str>) -> Result<Self, AppError> {
        match v.map(str::trim).unwrap_or("acute") {
            "" | "acute" => Ok(ReturnKind::Acute),
            "community" => Ok(ReturnKind::Community),
            _ => Err(AppError::Validation(FieldErrors::single(
                "kind",
                "kind must be acute or community",
            ))),
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ReturnKind::Acute => "Acute discharge return",
            ReturnKind::Community => "Community discharge return",
        }
    }

    /// The organisations' sector the return covers.
    fn sector(self) -> &'static str {
        match self {
            ReturnKind::Acute => "nhs_acute",
            ReturnKind::Community => "nhs_community",
        }
    }

    /// Table 3's lengths of stay.
    pub fn bed_day_thresholds(self) -> &'static [i64] {
        match self {
            ReturnKind::Acute => &[7, 14, 21],
            ReturnKind::Community => &[14, 21],
        }
    }

    /// The key for a patient who met the criteria again that day.
    pub fn met_again_key(self) -> &'static str {
        match self {
            ReturnKind::Acute => A9,
            ReturnKind::Community => MET_CRITERIA_AGAIN,
        }
    }
}

/// The code sets a return was made with, so a reader knows which versions it used.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CodeSets {
    pub reasons: String,
    pub reason_map: String,
    pub destinations: String,
}

/// The return's lists, read from the active code sets.
#[derive(Debug, Clone)]
pub struct Lists {
    pub kind: ReturnKind,
    /// Table 5's keys, in order, with labels: the return's reasons, then the extra keys.
    pub reasons: Vec<(String, String)>,
    /// Homeward delay reason -> the return's reason.
    pub map: HashMap<String, String>,
    /// Table 4's keys, in order, with labels: destinations, then the other endings.
    pub destinations: Vec<(String, String)>,
    pub code_sets: CodeSets,
}

impl Lists {
    pub async fn load(pool: &PgPool, kind: ReturnKind) -> Result<Lists, AppError> {
        let (reason_kind, map_kind) = match kind {
            ReturnKind::Acute => ("national_reason_acute", "reason_map_acute"),
            ReturnKind::Community => ("national_reason_community", "reason_map_community"),
        };
        let reason_rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT r.code, r.label, r.code_set FROM national_reasons r JOIN code_sets s ON s.name = r.code_set \
             WHERE s.active AND s.kind = $1 ORDER BY r.sort_order",
        )
        .bind(reason_kind)
        .fetch_all(pool)
        .await?;
        let map_rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT m.delay_reason, m.national_code, m.map_set FROM national_reason_map m \
             JOIN code_sets s ON s.name = m.map_set WHERE s.active AND s.kind = $1",
        )
        .bind(map_kind)
        .fetch_all(pool)
        .await?;
        let destinations =
            crate::reference::discharge::destinations(pool, Some(kind.as_str())).await?;
        let code_sets = CodeSets {
            reasons: reason_rows.first().map(|r| r.2.clone()).unwrap_or_default(),
            reason_map: map_rows.first().map(|r| r.2.clone()).unwrap_or_default(),
            destinations: destinations
                .first()
                .map(|d| d.code_set.clone())
                .unwrap_or_default(),
        };
        Ok(Lists::new(
            kind,
            reason_rows.into_iter().map(|(c, l, _)| (c, l)).collect(),
            map_rows.into_iter().map(|(d, n, _)| (d, n)).collect(),
            destinations
                .into_iter()
                .map(|d| (d.code, d.label))
                .collect(),
            code_sets,
        ))
    }

    /// The lists from their parts, with the extra keys each table needs appended.
    pub fn new(
        kind: ReturnKind,
        national_reasons: Vec<(String, String)>,
        map: HashMap<String, String>,
        destinations: Vec<(String, String)>,
        code_sets: CodeSets,
    ) -> Lists {
        let mut reasons = national_reasons;
        if kind == ReturnKind::Community {
            reasons.push((
                MET_CRITERIA_AGAIN.into(),
                "Met the criteria to reside again that day (no community reason)".into(),
            ));
        }
        reasons.push((NO_REASON.into(), "No delay reason recorded".into()));
        reasons.push((
            UNMAPPED.into(),
            "A delay reason with no counterpart in this return".into(),
        ));
        let mut destinations = destinations;
        destinations.extend(
            ENDING_KEYS
                .iter()
                .map(|(k, l)| (k.to_string(), l.to_string())),
        );
        Lists {
            kind,
            reasons,
            map,
            destinations,
            code_sets,
        }
    }

    fn reason_keys(&self) -> impl Iterator<Item = &str> {
        self.reasons.iter().map(|(k, _)| k.as_str())
    }

    fn destination_keys(&self) -> impl Iterator<Item = &str> {
        self.destinations.iter().map(|(k, _)| k.as_str())
    }

    fn bed_day_keys(&self) -> Vec<String> {
        self.kind
            .bed_day_thresholds()
            .iter()
            .map(|t| format!("{t}+"))
            .collect()
    }
}

/// An organisation the return has a row for.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Org {
    pub code: String,
    pub name: String,
}

/// The organisations of a hub (every hub's when `hub` is `None`) a return has a row for.
pub async fn organisations(
    pool: &PgPool,
    hub: Option<&str>,
    kind: ReturnKind,
) -> Result<Vec<Org>, AppError> {
    Ok(sqlx::query_as::<_, Org>(
        "SELECT code, name FROM organisations WHERE kind = 'acute_trust' AND sector = $1 \
         AND ($2::text IS NULL OR hub_code = $2) ORDER BY code",
    )
    .bind(kind.sector())
    .bind(hub)
    .fetch_all(pool)
    .await?)
}

/// One organisation's (or the total's) figures for a day.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ReturnRow {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_name: Option<String>,
    /// Table 2: not meeting the criteria to reside at some point on the day.
    pub nctr: i64,
    /// Table 2: of those, left hospital on the day.
    pub discharged: i64,
    /// Table 2: of those, still in hospital at the cut-off (`nctr - discharged`).
    pub remaining: i64,
    /// Table 3: additional bed days since the discharge ready date, by length of stay.
    #[schema(value_type = std::collections::BTreeMap<String, i64>)]
    pub extra_bed_days: Counts,
    /// Table 4: discharges by destination within pathway, then the other endings.
    #[schema(value_type = std::collections::BTreeMap<String, i64>)]
    pub discharged_by_destination: Counts,
    /// Every remaining patient by the return's reason.
    #[schema(value_type = std::collections::BTreeMap<String, i64>)]
    pub remaining_by_reason: Counts,
    /// Table 5: remaining patients with a length of stay of 14 days or more, by reason.
    #[schema(value_type = std::collections::BTreeMap<String, i64>)]
    pub remaining_los14_by_reason: Counts,
}

impl ReturnRow {
    fn empty(org: Option<&Org>, lists: &Lists) -> Self {
        ReturnRow {
            org_code: org.map(|o| o.code.clone()),
            org_name: org.map(|o| o.name.clone()),
            nctr: 0,
            discharged: 0,
            remaining: 0,
            extra_bed_days: Counts::zeros(lists.bed_day_keys()),
            discharged_by_destination: Counts::zeros(lists.destination_keys()),
            remaining_by_reason: Counts::zeros(lists.reason_keys()),
            remaining_los14_by_reason: Counts::zeros(lists.reason_keys()),
        }
    }

    fn add(&mut self, c: &Counted) {
        self.nctr += 1;
        match c {
            Counted::Discharged { destination } => {
                self.discharged += 1;
                self.discharged_by_destination.add(destination, 1);
            }
            Counted::Remaining {
                reason,
                length_of_stay,
                extra_bed_days,
            } => {
                self.remaining += 1;
                self.remaining_by_reason.add(reason, 1);
                if *length_of_stay >= 14 {
                    self.remaining_los14_by_reason.add(reason, 1);
                }
                if let Some(extra) = extra_bed_days {
                    for key in self.extra_bed_days.clone().keys() {
                        let threshold: i64 = key.trim_end_matches('+').parse().unwrap_or(0);
                        if *length_of_stay >= threshold {
                            self.extra_bed_days.add(key, *extra);
                        }
                    }
                }
            }
        }
    }

    fn add_row(&mut self, other: &ReturnRow) {
        self.nctr += other.nctr;
        self.discharged += other.discharged;
        self.remaining += other.remaining;
        self.extra_bed_days.add_all(&other.extra_bed_days);
        self.discharged_by_destination
            .add_all(&other.discharged_by_destination);
        self.remaining_by_reason.add_all(&other.remaining_by_reason);
        self.remaining_los14_by_reason
            .add_all(&other.remaining_los14_by_reason);
    }
}

/// The return for one day.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DayReturn {
    pub kind: ReturnKind,
    pub date: NaiveDate,
    pub code_sets: CodeSets,
    pub rows: Vec<ReturnRow>,
    pub total: ReturnRow,
}

/// How the return counts one patient of the day.
enum Counted {
    Discharged {
        destination: String,
    },
    Remaining {
        reason: String,
        /// Days since admission, on the day.
        length_of_stay: i64,
        /// Days since the discharge ready date, for a patient still not meeting the
        /// criteria at the cut-off.
        extra_bed_days: Option<i64>,
    },
}

/// Adults (18 or over on the day) with an overnight stay.
pub fn in_scope(p: &NctrOnDay, day: &Day) -> bool {
    let adult = age_on(p.date_of_birth, day.date) >= 18;
    let same_day_stay = p
        .discharged_at
        .or(p.cancelled_at)
        .is_some_and(|left| london_date(left) == london_date(p.admitted_at));
    adult && !same_day_stay
}

fn count(p: &NctrOnDay, day: &Day, lists: &Lists) -> Counted {
    let cancelled = p.cancelled_on(day);
    if p.discharged_on(day) || cancelled {
        return Counted::Discharged {
            destination: destination_key(
                p.discharge_destination.as_deref(),
                p.discharge_method.as_deref(),
                p.cancel_reason_code,
                cancelled,
            ),
        };
    }
    let reason = match (&p.open_since, &p.reason) {
        (None, _) => lists.kind.met_again_key().to_string(),
        (Some(_), None) => NO_REASON.to_string(),
        (Some(_), Some(code)) => lists
            .map
            .get(code)
            .cloned()
            .unwrap_or_else(|| UNMAPPED.to_string()),
    };
    Counted::Remaining {
        reason,
        length_of_stay: (day.date - london_date(p.admitted_at)).num_days(),
        extra_bed_days: p
            .open_since
            .map(|since| (day.date - london_date(since)).num_days().max(0)),
    }
}

/// The return for a day from the day's patients: one row per organisation and a total.
pub fn fold_day(lists: &Lists, orgs: &[Org], day: &Day, patients: &[NctrOnDay]) -> DayReturn {
    let mut rows: Vec<ReturnRow> = orgs
        .iter()
        .map(|o| ReturnRow::empty(Some(o), lists))
        .collect();
    let mut total = ReturnRow::empty(None, lists);
    for p in patients.iter().filter(|p| in_scope(p, day)) {
        let counted = count(p, day, lists);
        if let Some(row) = rows
            .iter_mut()
            .find(|r| r.org_code.as_deref() == Some(p.trust_code.as_str()))
        {
            row.add(&counted);
            total.add(&counted);
        }
    }
    DayReturn {
        kind: lists.kind,
        date: day.date,
        code_sets: lists.code_sets.clone(),
        rows,
        total,
    }
}

/// One organisation's (or the total's) figures over a period.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PeriodRow {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_name: Option<String>,
    /// Sums over the days (patient-days): still `nctr == discharged + remaining`.
    pub nctr: i64,
    pub discharged: i64,
    pub remaining: i64,
    /// Table 3, summed over the days.
    #[schema(value_type = std::collections::BTreeMap<String, i64>)]
    pub extra_bed_days: Counts,
    /// Table 4: discharges in the period by destination.
    #[schema(value_type = std::collections::BTreeMap<String, i64>)]
    pub discharged_by_destination: Counts,
    /// Table 5: the average per day of remaining patients with a stay of 14+ days, by
    /// reason (two decimals).
    #[schema(value_type = std::collections::BTreeMap<String, f64>)]
    pub remaining_los14_by_reason: Keyed<f64>,
    /// Table 5's patient-days (the sums the averages divide by the number of days).
    #[schema(value_type = std::collections::BTreeMap<String, i64>)]
    pub remaining_los14_patient_days_by_reason: Counts,
}

/// The return for a period: each day's, and the period tables.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PeriodReturn {
    pub kind: ReturnKind,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub days: i64,
    pub code_sets: CodeSets,
    pub rows: Vec<PeriodRow>,
    pub total: PeriodRow,
    /// Tables 2 and 3 (and the day's 4 and 5) for each day.
    pub daily: Vec<DayReturn>,
}

fn period_row(days: &[&ReturnRow], first: &ReturnRow, n_days: i64) -> PeriodRow {
    let mut sum = first.clone();
    for r in days.iter().skip(1) {
        sum.add_row(r);
    }
    let mut average = Keyed::<f64>::zeros(sum.remaining_los14_by_reason.keys());
    for (k, v) in sum.remaining_los14_by_reason.iter() {
        let mean = v as f64 / n_days.max(1) as f64;
        average.add(k, (mean * 100.0).round() / 100.0);
    }
    PeriodRow {
        org_code: sum.org_code,
        org_name: sum.org_name,
        nctr: sum.nctr,
        discharged: sum.discharged,
        remaining: sum.remaining,
        extra_bed_days: sum.extra_bed_days,
        discharged_by_destination: sum.discharged_by_destination,
        remaining_los14_by_reason: average,
        remaining_los14_patient_days_by_reason: sum.remaining_los14_by_reason,
    }
}

/// The period tables from the days' returns.
pub fn fold_period(
    lists: &Lists,
    from: NaiveDate,
    to: NaiveDate,
    daily: Vec<DayReturn>,
) -> PeriodReturn {
    let n = daily.len() as i64;
    let empty_total = ReturnRow::empty(None, lists);
    let rows = match daily.first() {
        None => vec![],
        Some(first) => first
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let all: Vec<&ReturnRow> = daily.iter().filter_map(|d| d.rows.get(i)).collect();
                period_row(&all, r, n)
            })
            .collect(),
    };
    let totals: Vec<&ReturnRow> = daily.iter().map(|d| &d.total).collect();
    let total = period_row(&totals, totals.first().copied().unwrap_or(&empty_total), n);
    PeriodReturn {
        kind: lists.kind,
        from,
        to,
        days: n,
        code_sets: lists.code_sets.clone(),
        rows,
        total,
        daily,
    }
}

/// Parses a period: real dates, `from` not after `to`, `to` not in the future, at most 366
/// days.
pub fn parse_period(
    from: &str,
    to: &str,
    today: NaiveDate,
) -> Result<(NaiveDate, NaiveDate), AppError> {
    let mut errors = FieldErrors::new();
    let mut date = |v: &str, field: &str| {
        NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
            .map_err(|_| {
                errors.add(
                    field,
                    format!("{field} must be a real date like 2026-11-01"),
                )
            })
            .ok()
    };
    let (from, to) = (date(from, "from"), date(to, "to"));
    if let (Some(f), Some(t)) = (from, to) {
        if t > today {
            errors.add("to", "The period cannot end in the future");
        }
        if f > t {
            errors.add("from", "from must be on or before to");
        } else if (t - f).num_days() > 365 {
            errors.add("from", "The period can be at most 366 days");
        }
    }
    match (from, to) {
        (Some(f), Some(t)) if errors.is_empty() => Ok((f, t)),
        _ => Err(AppError::Validation(errors)),
    }
}

/// The return for a day, as the records stood at its cut-off.
pub async fn build_day(
    pool: &PgPool,
    hub: Option<&str>,
    kind: ReturnKind,
    date: NaiveDate,
    now: DateTime<Utc>,
) -> Result<DayReturn, AppError> {
    let lists = Lists::load(pool, kind).await?;
    let orgs = organisations(pool, hub, kind).await?;
    let codes: Vec<String> = orgs.iter().map(|o| o.code.clone()).collect();
    let day = Day::new(date, now);
    let patients = nctr_day::fetch(pool, &day, &codes).await?;
    Ok(fold_day(&lists, &orgs, &day, &patients))
}

/// The return for a period: every day's, then the period tables.
pub async fn build_period(
    pool: &PgPool,
    hub: Option<&str>,
    kind: ReturnKind,
    from: NaiveDate,
    to: NaiveDate,
    now: DateTime<Utc>,
) -> Result<PeriodReturn, AppError> {
    let lists = Lists::load(pool, kind).await?;
    let orgs = organisations(pool, hub, kind).await?;
    let codes: Vec<String> = orgs.iter().map(|o| o.code.clone()).collect();
    let mut daily = vec![];
    for day in Day::range(from, to, now) {
        let patients = nctr_day::fetch(pool, &day, &codes).await?;
        daily.push(fold_day(&lists, &orgs, &day, &patients));
    }
    Ok(fold_period(&lists, from, to, daily))
}

// ================================================================ CSV

fn header(lists: &Lists) -> Vec<String> {
    let mut h: Vec<String> = [
        "period",
        "figures",
        "org_code",
        "org_name",
        "nctr",
        "discharged",
        "remaining",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    h.extend(
        lists
            .bed_day_keys()
            .iter()
            .map(|k| format!("extra_bed_days_los_{k}")),
    );
    h.extend(lists.destination_keys().map(|k| format!("discharged_{k}")));
    h.extend(lists.reason_keys().map(|k| format!("remaining_los14_{k}")));
    h
}

fn day_line(date: NaiveDate, r: &ReturnRow) -> Vec<String> {
    let mut v = vec![
        date.to_string(),
        "day".to_string(),
        r.org_code.clone().unwrap_or_else(|| "TOTAL".into()),
        r.org_name.clone().unwrap_or_else(|| "Total".into()),
        r.nctr.to_string(),
        r.discharged.to_string(),
        r.remaining.to_string(),
    ];
    v.extend(r.extra_bed_days.values().map(|n| n.to_string()));
    v.extend(r.discharged_by_destination.values().map(|n| n.to_string()));
    v.extend(r.remaining_los14_by_reason.values().map(|n| n.to_string()));
    v
}

/// A day's return as CSV in the national files' layout: one line per organisation (and a
/// total line), a column per data item, tables 2 to 5 left to right.
pub fn day_csv(r: &DayReturn, lists: &Lists) -> Result<String, AppError> {
    let mut rows: Vec<Vec<String>> = r.rows.iter().map(|row| day_line(r.date, row)).collect();
    rows.push(day_line(r.date, &r.total));
    super::csv_safe::write(&header(lists), &rows).map_err(|e| AppError::Internal(e.into()))
}

/// A period's return as CSV: every day's lines (`figures` = `day`), then one line per
/// organisation for the period (`figures` = `period`: tables 2-4 summed over the days,
/// table 5 the average per day).
pub fn period_csv(r: &PeriodReturn, lists: &Lists) -> Result<String, AppError> {
    let mut rows = vec![];
    for d in &r.daily {
        rows.extend(d.rows.iter().map(|row| day_line(d.date, row)));
        rows.push(day_line(d.date, &d.total));
    }
    let period = format!("{}/{}", r.from, r.to);
    for p in r.rows.iter().chain(std::iter::once(&r.total)) {
        let mut v = vec![
            period.clone(),
            "period".to_string(),
            p.org_code.clone().unwrap_or_else(|| "TOTAL".into()),
            p.org_name.clone().unwrap_or_else(|| "Total".into()),
            p.nctr.to_string(),
            p.discharged.to_string(),
            p.remaining.to_string(),
        ];
        v.extend(p.extra_bed_days.values().map(|n| n.to_string()));
        v.extend(p.discharged_by_destination.values().map(|n| n.to_string()));
        v.extend(
            p.remaining_los14_by_reason
                .values()
                .map(|n| format!("{n:.2}")),
        );
        rows.push(v);
    }
    super::csv_safe::write(&header(lists), &rows).map_err(|e| AppError::Internal(e.into()))
}

/// The day before and after, for the page's links (no link into the future).
pub fn neighbours(date: NaiveDate, today: NaiveDate) -> (NaiveDate, Option<NaiveDate>) {
    let next = date + Duration::days(1);
    (date - Duration::days(1), (next <= today).then_some(next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CancelReason;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn lists(kind: ReturnKind) -> Lists {
        let reasons = match kind {
            ReturnKind::Acute => (1..=18)
                .map(|n| (format!("A{n}"), format!("reason {n}")))
                .collect(),
            ReturnKind::Community => vec![("transport".into(), "Transport".into())],
        };
        let map = match kind {
            ReturnKind::Acute => [("transport", "A8"), ("p1_new_care", "A13")]
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            ReturnKind::Community => [("transport", "transport")]
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        };
        Lists::new(
            kind,
            reasons,
            map,
            vec![
                ("p0_home".into(), "Home".into()),
                ("p1_home".into(), "Home with care".into()),
            ],
            CodeSets {
                reasons: "r".into(),
                reason_map: "m".into(),
                destinations: "d".into(),
            },
        )
    }

    fn patient() -> NctrOnDay {
        NctrOnDay {
            trust_code: "RHW".into(),
            pathway: Some(1),
            admitted_at: t("2026-11-01T10:00:00Z"),
            date_of_birth: NaiveDate::from_ymd_opt(1940, 1, 1).unwrap(),
            discharged_at: None,
            cancelled_at: None,
            discharge_destination: None,
            discharge_method: None,
            cancel_reason_code: None,
            open_since: Some(t("2026-11-10T10:00:00Z")),
            reason: Some("transport".into()),
        }
    }

    fn day() -> Day {
        Day::new(
            NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
            t("2026-11-22T10:00:00Z"),
        )
    }

    fn orgs() -> Vec<Org> {
        vec![Org {
            code: "RHW".into(),
            name: "Royal Hartwell".into(),
        }]
    }

    #[test]
    fn every_patient_is_discharged_or_remaining_and_the_tables_add_up() {
        let mut died = patient();
        died.cancelled_at = Some(t("2026-11-20T15:00:00Z"));
        died.cancel_reason_code = Some(CancelReason::Died);
        died.open_since = None;
        let mut home = patient();
        home.discharged_at = Some(t("2026-11-20T12:00:00Z"));
        home.discharge_destination = Some("p1_home".into());
        home.open_since = None;
        let mut met_again = patient();
        met_again.open_since = None;
        let mut chc = patient();
        chc.reason = Some("chc_decision".into());
        let mut child = patient();
        child.date_of_birth = NaiveDate::from_ymd_opt(2010, 1, 1).unwrap();
        let r = fold_day(
            &lists(ReturnKind::Acute),
            &orgs(),
            &day(),
            &[patient(), died, home, met_again, chc, child],
        );
        let row = &r.rows[0];
        assert_eq!((row.nctr, row.discharged, row.remaining), (5, 2, 3));
        assert_eq!(row.discharged_by_destination.get("p1_home"), 1);
        assert_eq!(row.discharged_by_destination.get("died"), 1);
        assert_eq!(row.discharged_by_destination.sum(), row.discharged);
        // 19 days in on the 20th, all three remaining have stays of 14+
        assert_eq!(row.remaining_los14_by_reason.get("A8"), 1);
        assert_eq!(row.remaining_los14_by_reason.get("A9"), 1);
        assert_eq!(row.remaining_los14_by_reason.get("unmapped"), 1);
        // ready 10 November: 10 extra bed days each for the two still not meeting the criteria
        assert_eq!(row.extra_bed_days.get("7+"), 20);
        assert_eq!(row.extra_bed_days.get("21+"), 0);
        assert_eq!(
            (r.total.nctr, r.total.discharged, r.total.remaining),
            (row.nctr, row.discharged, row.remaining)
        );
        assert_eq!(
            r.total.remaining_los14_by_reason,
            row.remaining_los14_by_reason
        );
    }

    #[test]
    fn a_same_day_stay_is_out_of_scope() {
        let mut p = patient();
        p.admitted_at = t("2026-11-20T08:00:00Z");
        p.discharged_at = Some(t("2026-11-20T20:00:00Z"));
        assert!(!in_scope(&p, &day()));
        p.discharged_at = Some(t("2026-11-21T08:00:00Z"));
        assert!(in_scope(&p, &day()));
    }

    #[test]
    fn the_community_return_has_its_own_keys() {
        let mut met_again = patient();
        met_again.open_since = None;
        let r = fold_day(&lists(ReturnKind::Community), &orgs(), &day(), &[met_again]);
        assert_eq!(r.rows[0].remaining_by_reason.get(MET_CRITERIA_AGAIN), 1);
        assert_eq!(
            r.rows[0].extra_bed_days.keys().collect::<Vec<_>>(),
            vec!["14+", "21+"]
        );
    }

    #[test]
    fn a_period_sums_its_days_and_averages_table_5() {
        let l = lists(ReturnKind::Acute);
        let d1 = fold_day(&l, &orgs(), &day(), &[patient()]);
        let d2 = fold_day(&l, &orgs(), &day(), &[patient(), patient()]);
        let from = NaiveDate::from_ymd_opt(2026, 11, 19).unwrap();
        let to = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let p = fold_period(&l, from, to, vec![d1, d2]);
        assert_eq!(p.rows[0].nctr, 3);
        assert_eq!(
            p.rows[0].remaining_los14_patient_days_by_reason.get("A8"),
            3
        );
        assert_eq!(p.rows[0].remaining_los14_by_reason.get("A8"), 1.5);
        assert_eq!(p.total.remaining, 3);
        let csv = period_csv(&p, &l).unwrap();
        assert_eq!(csv.lines().count(), 1 + 2 * 2 + 2, "{csv}");
        assert!(
            csv.lines()
                .last()
                .unwrap()
                .starts_with("2026-11-19/2026-11-20,period,TOTAL")
        );
    }
}
