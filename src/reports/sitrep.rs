//! The daily discharge sitrep for one day in Europe/London (cut-off the end of the day, or
//! now for today). For each acute trust: `nctr` patients not meeting the criteria to
//! reside at some point that day = `discharged` (that day, by pathway) + `remaining` (still
//! not meeting them at the cut-off, by delay reason, delay band and length-of-stay band) +
//! `other_exits` (met the criteria again or the case closed without a discharge).

use crate::domain::time::{london_date, london_to_utc};
use crate::error::{AppError, FieldErrors};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};
use std::collections::BTreeMap;

pub const DELAY_BANDS: [&str; 7] = ["0", "1", "2-3", "4-6", "7-13", "14-20", "21+"];
pub const LOS_BANDS: [&str; 4] = ["0-6", "7-13", "14-20", "21+"];
/// The key for remaining patients with no delay reason recorded at the cut-off.
pub const NO_REASON: &str = "none";

fn delay_band(days: i64) -> &'static str {
    match days {
        i64::MIN..=0 => "0",
        1 => "1",
        2..=3 => "2-3",
        4..=6 => "4-6",
        7..=13 => "7-13",
        14..=20 => "14-20",
        _ => "21+",
    }
}

fn los_band(days: i64) -> &'static str {
    match days {
        i64::MIN..=6 => "0-6",
        7..=13 => "7-13",
        14..=20 => "14-20",
        _ => "21+",
    }
}

/// One row of the sitrep (CONTRACT.md): every key present, zeros included.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Row {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_code: Option<String>,
    pub nctr: i64,
    pub discharged: i64,
    pub other_exits: i64,
    pub discharged_by_pathway: BTreeMap<String, i64>,
    pub remaining: i64,
    pub remaining_by_reason: BTreeMap<String, i64>,
    pub remaining_by_delay_band: BTreeMap<String, i64>,
    pub remaining_by_los_band: BTreeMap<String, i64>,
}

impl Row {
    fn empty(org_code: Option<String>, reasons: &[String]) -> Self {
        let zeros = |keys: &mut dyn Iterator<Item = String>| {
            keys.map(|k| (k, 0)).collect::<BTreeMap<_, _>>()
        };
        Row {
            org_code,
            nctr: 0,
            discharged: 0,
            other_exits: 0,
            discharged_by_pathway: zeros(&mut (0..=3).map(|p| p.to_string())),
            remaining: 0,
            remaining_by_reason: zeros(
                &mut reasons
                    .iter()
                    .cloned()
                    .chain(std::iter::once(NO_REASON.to_string())),
            ),
            remaining_by_delay_band: zeros(&mut DELAY_BANDS.iter().map(|b| b.to_string())),
            remaining_by_los_band: zeros(&mut LOS_BANDS.iter().map(|b| b.to_string())),
        }
    }

    fn add(&mut self, p: &Classified) {
        self.nctr += 1;
        match p {
            Classified::Discharged { pathway } => {
                self.discharged += 1;
                *self
                    .discharged_by_pathway
                    .entry(pathway.to_string())
                    .or_default() += 1;
            }
            Classified::Remaining {
                reason,
                delay_band,
                los_band,
            } => {
                self.remaining += 1;
                *self.remaining_by_reason.entry(reason.clone()).or_default() += 1;
                *self
                    .remaining_by_delay_band
                    .entry(delay_band.to_string())
                    .or_default() += 1;
                *self
                    .remaining_by_los_band
                    .entry(los_band.to_string())
                    .or_default() += 1;
            }
            Classified::OtherExit => self.other_exits += 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Sitrep {
    pub date: NaiveDate,
    pub rows: Vec<Row>,
    pub total: Row,
}

/// A patient not meeting the criteria at some point in the day, as the database recalls it.
#[derive(Debug, FromRow)]
struct DayPatient {
    trust_code: String,
    pathway: Option<i16>,
    admitted_at: DateTime<Utc>,
    discharged_in_day: bool,
    /// The start of the period still open at the cut-off, if any.
    open_since: Option<DateTime<Utc>>,
    /// The delay reason in force at the cut-off.
    reason: Option<String>,
}

enum Classified {
    Discharged {
        pathway: i16,
    },
    Remaining {
        reason: String,
        delay_band: &'static str,
        los_band: &'static str,
    },
    OtherExit,
}

/// Parses `?date=`: a real date, not in the future.
pub fn parse_date(value: Option<&str>, today: NaiveDate) -> Result<NaiveDate, AppError> {
    let date = match value.map(str::trim).filter(|s| !s.is_empty()) {
        None => today,
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
            AppError::Validation(FieldErrors::single(
                "date",
                "date must be a real date like 2026-11-20",
            ))
        })?,
    };
    if date > today {
        return Err(AppError::Validation(FieldErrors::single(
            "date",
            "The sitrep cannot be for a future date",
        )));
    }
    Ok(date)
}

/// Builds the sitrep for `date` as the records stood at its cut-off.
pub async fn build(pool: &PgPool, date: NaiveDate, now: DateTime<Utc>) -> Result<Sitrep, AppError> {
    let midnight = |d: NaiveDate| london_to_utc(d.and_hms_opt(0, 0, 0).unwrap_or_default());
    let start = midnight(date);
    let cutoff = midnight(date + chrono::Duration::days(1)).min(now);
    let reasons: Vec<String> = crate::reference::delay_reasons(pool)
        .await?
        .into_iter()
        .map(|r| r.code)
        .collect();
    let trusts: Vec<(String,)> =
        sqlx::query_as("SELECT code FROM organisations WHERE kind = 'acute_trust' ORDER BY code")
            .fetch_all(pool)
            .await?;
    let patients = sqlx::query_as::<_, DayPatient>(
        "WITH day_periods AS ( \
           SELECT n.patient_id, n.started_at, n.ended_at FROM nctr_periods n \
           WHERE tstzrange(n.started_at, COALESCE(n.ended_at, 'infinity'::timestamptz), '[)') && tstzrange($1, $2, '[)') \
         ), per_patient AS ( \
           SELECT d.patient_id, max(d.started_at) FILTER (WHERE d.ended_at IS NULL OR d.ended_at >= $2) AS open_since \
           FROM day_periods d GROUP BY d.patient_id \
         ) \
         SELECT p.trust_code, p.pathway, p.admitted_at, \
           (p.discharged_at >= $1 AND p.discharged_at < $2) IS TRUE AS discharged_in_day, pp.open_since, \
           (SELECT h.code FROM delay_reason_history h WHERE h.patient_id = p.id AND h.set_at < $2 ORDER BY h.set_at DESC, h.id DESC LIMIT 1) AS reason \
         FROM per_patient pp JOIN patients p ON p.id = pp.patient_id",
    )
    .bind(start)
    .bind(cutoff)
    .fetch_all(pool)
    .await?;
    let mut rows: BTreeMap<String, Row> = trusts
        .into_iter()
        .map(|(code,)| (code.clone(), Row::empty(Some(code), &reasons)))
        .collect();
    let mut total = Row::empty(None, &reasons);
    let day = date;
    for p in &patients {
        let classified = if p.discharged_in_day {
            Classified::Discharged {
                pathway: p.pathway.unwrap_or(0),
            }
        } else if let Some(since) = p.open_since {
            Classified::Remaining {
                reason: p
                    .reason
                    .clone()
                    .filter(|r| reasons.contains(r))
                    .unwrap_or_else(|| NO_REASON.to_string()),
                delay_band: delay_band((day - london_date(since)).num_days()),
                los_band: los_band((day - london_date(p.admitted_at)).num_days()),
            }
        } else {
            Classified::OtherExit
        };
        if let Some(row) = rows.get_mut(&p.trust_code) {
            row.add(&classified);
        }
        total.add(&classified);
    }
    Ok(Sitrep {
        date,
        rows: rows.into_values().collect(),
        total,
    })
}

/// The sitrep as CSV: a header, one line per trust, and a total line.
pub fn to_csv(s: &Sitrep) -> Result<String, AppError> {
    let first = &s.total;
    let mut header: Vec<String> = ["date", "org_code", "nctr", "discharged", "other_exits"]
        .iter()
        .map(|h| h.to_string())
        .collect();
    header.extend(
        first
            .discharged_by_pathway
            .keys()
            .map(|k| format!("discharged_pathway_{k}")),
    );
    header.push("remaining".into());
    header.extend(
        first
            .remaining_by_reason
            .keys()
            .map(|k| format!("remaining_reason_{k}")),
    );
    header.extend(
        first
            .remaining_by_delay_band
            .keys()
            .map(|k| format!("remaining_delay_{k}")),
    );
    header.extend(
        first
            .remaining_by_los_band
            .keys()
            .map(|k| format!("remaining_los_{k}")),
    );
    let line = |r: &Row| {
        let mut v = vec![
            s.date.to_string(),
            r.org_code.clone().unwrap_or_else(|| "TOTAL".into()),
            r.nctr.to_string(),
            r.discharged.to_string(),
            r.other_exits.to_string(),
        ];
        v.extend(r.discharged_by_pathway.values().map(i64::to_string));
        v.push(r.remaining.to_string());
        v.extend(r.remaining_by_reason.values().map(i64::to_string));
        v.extend(r.remaining_by_delay_band.values().map(i64::to_string));
        v.extend(r.remaining_by_los_band.values().map(i64::to_string));
        v
    };
    let mut rows: Vec<Vec<String>> = s.rows.iter().map(line).collect();
    rows.push(line(&s.total));
    super::csv_safe::write(&header, &rows).map_err(|e| AppError::Internal(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_match_the_sitrep() {
        let d: Vec<&str> = [0, 1, 2, 3, 4, 6, 7, 13, 14, 20, 21, 400]
            .iter()
            .map(|n| delay_band(*n))
            .collect();
        assert_eq!(
            d,
            [
                "0", "1", "2-3", "2-3", "4-6", "4-6", "7-13", "7-13", "14-20", "14-20", "21+",
                "21+"
            ]
        );
        let l: Vec<&str> = [0, 6, 7, 13, 14, 20, 21]
            .iter()
            .map(|n| los_band(*n))
            .collect();
        assert_eq!(l, ["0-6", "0-6", "7-13", "7-13", "14-20", "14-20", "21+"]);
    }

    #[test]
    fn dates_must_be_real_and_not_in_the_future() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        assert_eq!(parse_date(None, today).unwrap(), today);
        assert!(parse_date(Some("2026-11-23"), today).is_err());
        assert!(parse_date(Some("2026-02-30"), today).is_err());
        assert!(parse_date(Some("yesterday"), today).is_err());
        assert_eq!(
            parse_date(Some("2026-10-25"), today).unwrap().to_string(),
            "2026-10-25"
        );
    }
}
