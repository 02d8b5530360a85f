//! The daily discharge sitrep for one day in Europe/London (cut-off the end of the day, or
//! now for today; see [`super::day`]). For each acute trust: `nctr` patients not meeting the
//! criteria to reside at some point that day = `discharged` (that day, by pathway) +
//! `remaining` (still not meeting them at the cut-off, by delay reason, delay band and
//! length-of-stay band) + `other_exits` (met the criteria again, or the case closed without
//! a discharge, that day). Every category map lists its keys in their natural order (bands
//! from the shortest, reasons in the code set's order). Children are counted here: the
//! sitrep is Homeward's own; the national returns ([`super::national`]) cover adults.

use super::counts::Counts;
use super::day::Day;
use super::nctr_day::{self, NctrOnDay};
use crate::domain::time::london_date;
use crate::error::{AppError, FieldErrors};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgPool;

pub const DELAY_BANDS: [&str; 7] = ["0", "1", "2-3", "4-6", "7-13", "14-20", "21+"];
pub const LOS_BANDS: [&str; 4] = ["0-6", "7-13", "14-20", "21+"];
/// The key for remaining patients with no delay reason recorded at the cut-off.
pub const NO_REASON: &str = "none";

pub fn delay_band(days: i64) -> &'static str {
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

pub fn los_band(days: i64) -> &'static str {
    match days {
        i64::MIN..=6 => "0-6",
        7..=13 => "7-13",
        14..=20 => "14-20",
        _ => "21+",
    }
}

/// One row of the sitrep (CONTRACT.md): every key present, zeros included.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Row {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_code: Option<String>,
    pub nctr: i64,
    pub discharged: i64,
    pub other_exits: i64,
    /// Pathways 0 to 3.
    #[schema(value_type = std::collections::BTreeMap<String, i64>)]
    pub discharged_by_pathway: Counts,
    pub remaining: i64,
    /// Every delay reason of the active code set in its order, then `none`.
    #[schema(value_type = std::collections::BTreeMap<String, i64>)]
    pub remaining_by_reason: Counts,
    /// `0`, `1`, `2-3`, `4-6`, `7-13`, `14-20`, `21+` days since the discharge ready date.
    #[schema(value_type = std::collections::BTreeMap<String, i64>)]
    pub remaining_by_delay_band: Counts,
    /// `0-6`, `7-13`, `14-20`, `21+` days since admission.
    #[schema(value_type = std::collections::BTreeMap<String, i64>)]
    pub remaining_by_los_band: Counts,
}

impl Row {
    fn empty(org_code: Option<String>, reasons: &[String]) -> Self {
        Row {
            org_code,
            nctr: 0,
            discharged: 0,
            other_exits: 0,
            discharged_by_pathway: Counts::zeros((0..=3).map(|p| p.to_string())),
            remaining: 0,
            remaining_by_reason: Counts::zeros(
                reasons
                    .iter()
                    .cloned()
                    .chain(std::iter::once(NO_REASON.to_string())),
            ),
            remaining_by_delay_band: Counts::zeros(DELAY_BANDS),
            remaining_by_los_band: Counts::zeros(LOS_BANDS),
        }
    }

    fn add(&mut self, p: &Classified) {
        self.nctr += 1;
        match p {
            Classified::Discharged { pathway } => {
                self.discharged += 1;
                self.discharged_by_pathway.add(&pathway.to_string(), 1);
            }
            Classified::Remaining {
                reason,
                delay_band,
                los_band,
            } => {
                self.remaining += 1;
                self.remaining_by_reason.add(reason, 1);
                self.remaining_by_delay_band.add(delay_band, 1);
                self.remaining_by_los_band.add(los_band, 1);
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

/// How the sitrep counts one patient of the day.
fn classify(p: &NctrOnDay, day: &Day, reasons: &[String]) -> Classified {
    if p.discharged_on(day) {
        Classified::Discharged {
            pathway: p.pathway.unwrap_or(0).clamp(0, 3),
        }
    } else if let Some(since) = p.open_since {
        Classified::Remaining {
            reason: p
                .reason
                .clone()
                .filter(|r| reasons.contains(r))
                .unwrap_or_else(|| NO_REASON.to_string()),
            delay_band: delay_band((day.date - london_date(since)).num_days()),
            los_band: los_band((day.date - london_date(p.admitted_at)).num_days()),
        }
    } else {
        Classified::OtherExit
    }
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

/// The acute trusts the sitrep has a row for: a hub's (every hub's when `None`).
pub async fn acute_trusts(pool: &PgPool, hub: Option<&str>) -> Result<Vec<String>, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT code FROM organisations WHERE kind = 'acute_trust' AND sector = 'nhs_acute' \
         AND ($1::text IS NULL OR hub_code = $1) ORDER BY code",
    )
    .bind(hub)
    .fetch_all(pool)
    .await?)
}

/// Builds a hub's sitrep (every hub's when `hub` is `None`) for `date` as the records stood
/// at its cut-off.
pub async fn build(
    pool: &PgPool,
    hub: Option<&str>,
    date: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Sitrep, AppError> {
    let day = Day::new(date, now);
    let reasons: Vec<String> = crate::reference::delay_reasons(pool)
        .await?
        .into_iter()
        .map(|r| r.code)
        .collect();
    let trusts = acute_trusts(pool, hub).await?;
    let patients = nctr_day::fetch(pool, &day, &trusts).await?;
    Ok(fold(&day, &trusts, &reasons, &patients))
}

/// The sitrep from the day's patients: one row per trust and a total.
pub fn fold(day: &Day, trusts: &[String], reasons: &[String], patients: &[NctrOnDay]) -> Sitrep {
    let mut rows: Vec<Row> = trusts
        .iter()
        .map(|code| Row::empty(Some(code.clone()), reasons))
        .collect();
    let mut total = Row::empty(None, reasons);
    for p in patients {
        let classified = classify(p, day, reasons);
        if let Some(row) = rows
            .iter_mut()
            .find(|r| r.org_code.as_deref() == Some(p.trust_code.as_str()))
        {
            row.add(&classified);
        }
        total.add(&classified);
    }
    Sitrep {
        date: day.date,
        rows,
        total,
    }
}

/// The sitrep as CSV: a header, one line per trust, and a total line. Columns follow the
/// categories' natural order (`remaining_delay_0`, `_1`, `_2-3`, ... `_21+`).
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
        v.extend(r.discharged_by_pathway.values().map(|n| n.to_string()));
        v.push(r.remaining.to_string());
        v.extend(r.remaining_by_reason.values().map(|n| n.to_string()));
        v.extend(r.remaining_by_delay_band.values().map(|n| n.to_string()));
        v.extend(r.remaining_by_los_band.values().map(|n| n.to_string()));
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
    fn csv_columns_keep_the_bands_in_their_natural_order() {
        let day = Day::new(
            NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
            DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        );
        let s = fold(&day, &["RHW".into()], &["transport".into()], &[]);
        let csv = to_csv(&s).unwrap();
        let header = csv.lines().next().unwrap();
        assert!(
            header.ends_with(
                "remaining_reason_transport,remaining_reason_none,remaining_delay_0,remaining_delay_1,\
                 remaining_delay_2-3,remaining_delay_4-6,remaining_delay_7-13,remaining_delay_14-20,\
                 remaining_delay_21+,remaining_los_0-6,remaining_los_7-13,remaining_los_14-20,remaining_los_21+"
            ),
            "{header}"
        );
        assert!(header.contains(
            "discharged_pathway_0,discharged_pathway_1,discharged_pathway_2,discharged_pathway_3"
        ));
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
