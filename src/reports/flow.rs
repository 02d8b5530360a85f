//! The flow report for a date range (Europe/London days), filterable by trust and pathway:
//! discharges per day by pathway; delay days (mean with and without zero-day delays, share
//! discharged on their ready date, lost bed days); the 24-hour standard; median times from
//! flag to pathway decision, referral to decision and acceptance to discharge; delay reasons
//! over time; each provider's referrals, acceptance rate, decline reasons and response time;
//! places offered against used by type; and demand against capacity with a 7-day projection.
//! Discharge figures are over the patients discharged in the range.

use super::chart::{self, Series};
use super::table::{Table, one_decimal, percent};
use crate::domain::time::{london_date, london_to_utc};
use crate::domain::{CaseAction, ReferralStatus};
use crate::error::{AppError, FieldErrors};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct FlowQuery {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub trust: Option<String>,
    pub pathway: Option<i16>,
}

impl FlowQuery {
    /// Reads and checks the range: real dates, `from` not after `to`, `to` not in the future,
    /// at most 366 days. Defaults to the last 28 days.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        trust: Option<&str>,
        pathway: Option<&str>,
        today: NaiveDate,
    ) -> Result<Self, AppError> {
        let mut errors = FieldErrors::new();
        let mut date = |v: Option<&str>, field: &str, default: NaiveDate| match v
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => default,
            Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|_| {
                errors.add(
                    field,
                    format!("{field} must be a real date like 2026-11-01"),
                );
                default
            }),
        };
        let to = date(to, "to", today);
        let from = date(from, "from", to - Duration::days(27));
        if to > today {
            errors.add("to", "The range cannot end in the future");
        }
        if from > to {
            errors.add("from", "from must be on or before to");
        } else if (to - from).num_days() > 365 {
            errors.add("from", "The range can be at most 366 days");
        }
        let pathway = match pathway.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(p) => match p.parse::<i16>() {
                Ok(n) if (0..=3).contains(&n) => Some(n),
                _ => {
                    errors.add("pathway", "Pathway must be 0, 1, 2 or 3");
                    None
                }
            },
        };
        let trust = trust
            .map(|t| t.trim().to_uppercase())
            .filter(|t| !t.is_empty());
        errors.into_result(|| FlowQuery {
            from,
            to,
            trust,
            pathway,
        })
    }

    fn days(&self) -> Vec<NaiveDate> {
        let mut out = vec![];
        let mut d = self.from;
        while d <= self.to {
            out.push(d);
            d += Duration::days(1);
        }
        out
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FlowReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub tables: Vec<Table>,
    /// SVG charts, each drawn from one of the tables.
    #[serde(skip)]
    pub charts: Vec<(String, &'static str)>,
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    london_to_utc(d.and_hms_opt(0, 0, 0).unwrap_or_default())
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        (v[m - 1] + v[m]) / 2.0
    } else {
        v[m]
    })
}

fn hours(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_minutes() as f64 / 60.0
}

#[derive(FromRow)]
struct Discharge {
    discharged_at: DateTime<Utc>,
    discharge_ready_at: Option<DateTime<Utc>>,
    pathway: i16,
    created_at: DateTime<Utc>,
    pathway_at: Option<DateTime<Utc>>,
    accepted_at: Option<DateTime<Utc>>,
}

#[derive(FromRow)]
struct ReferralFact {
    org_code: String,
    org_name: String,
    status: ReferralStatus,
    decline_label: Option<String>,
    created_at: DateTime<Utc>,
    decided_at: Option<DateTime<Utc>>,
}

pub async fn build(
    pool: &PgPool,
    q: &FlowQuery,
    now: DateTime<Utc>,
) -> Result<FlowReport, AppError> {
    let start = midnight(q.from);
    let end = midnight(q.to + Duration::days(1)).min(now);
    let days = q.days();
    let day_labels: Vec<String> = days
        .iter()
        .map(|d| d.format("%-d %b").to_string())
        .collect();
    let index = |t: DateTime<Utc>| days.iter().position(|d| *d == london_date(t));
    let mut tables = vec![];
    let mut charts = vec![];

    // ------------------------------------------------ discharges and delays
    let discharges = sqlx::query_as::<_, Discharge>(
        "SELECT p.discharged_at, p.discharge_ready_at, COALESCE(p.pathway, 0)::smallint AS pathway, p.created_at, \
         (SELECT min(h.at) FROM patient_history h WHERE h.patient_id = p.id AND h.action = $5) AS pathway_at, \
         (SELECT max(r.decided_at) FROM referrals r WHERE r.patient_id = p.id AND r.status = 'accepted') AS accepted_at \
         FROM patients p WHERE p.status = 'discharged' AND p.discharged_at >= $1 AND p.discharged_at < $2 \
         AND ($3::text IS NULL OR p.trust_code = $3) AND ($4::smallint IS NULL OR COALESCE(p.pathway, 0) = $4)",
    )
    .bind(start)
    .bind(end)
    .bind(q.trust.as_deref())
    .bind(q.pathway)
    .bind(CaseAction::PathwayChosen)
    .fetch_all(pool)
    .await?;
    let mut per_day = vec![[0i64; 4]; days.len()];
    let mut delays: Vec<i64> = vec![];
    let (mut p13, mut p13_in_24h) = (0i64, 0i64);
    let mut to_pathway = vec![];
    let mut accept_to_discharge = vec![];
    for d in &discharges {
        if let Some(i) = index(d.discharged_at) {
            per_day[i][d.pathway.clamp(0, 3) as usize] += 1;
        }
        if let Some(ready) = d.discharge_ready_at {
            delays.push(crate::domain::time::delay_days(ready, d.discharged_at));
            if (1..=3).contains(&d.pathway) {
                p13 += 1;
                if d.discharged_at - ready <= Duration::hours(24) {
                    p13_in_24h += 1;
                }
            }
        }
        if let Some(t) = d.pathway_at {
            to_pathway.push(hours(d.created_at, t));
        }
        if let Some(t) = d.accepted_at {
            accept_to_discharge.push(hours(t, d.discharged_at));
        }
    }
    let mut t = Table::new(
        "discharges_per_day",
        "Discharges per day by pathway",
        &[
            "Day",
            "Pathway 0",
            "Pathway 1",
            "Pathway 2",
            "Pathway 3",
            "Total",
        ],
    );
    for (i, day) in days.iter().enumerate() {
        let c = per_day[i];
        t.push(vec![
            day.to_string(),
            c[0].to_string(),
            c[1].to_string(),
            c[2].to_string(),
            c[3].to_string(),
            c.iter().sum::<i64>().to_string(),
        ]);
    }
    charts.push((
        chart::render(
            "chart-discharges",
            "Discharges per day by pathway",
            &format!("Stacked bars of discharges each day from {} to {}, by pathway 0 to 3; the table below gives the numbers.", q.from, q.to),
            &day_labels,
            &(0..4).map(|p| Series { name: format!("Pathway {p}"), values: per_day.iter().map(|c| c[p] as f64).collect() }).collect::<Vec<_>>(),
            true,
        ),
        "discharges_per_day",
    ));
    tables.push(t);

    let with_delay: Vec<i64> = delays.iter().copied().filter(|d| *d > 0).collect();
    let mean = |v: &[i64]| (!v.is_empty()).then(|| v.iter().sum::<i64>() as f64 / v.len() as f64);
    let lost: i64 = delays.iter().sum();
    let on_drd = delays.iter().filter(|d| **d == 0).count() as i64;
    let mut t = Table::new("summary", "Headline figures", &["Measure", "Value"]);
    t.numeric = false;
    for (k, v) in [
        ("Discharges", discharges.len().to_string()),
        (
            "Discharges of patients who had a discharge ready date",
            delays.len().to_string(),
        ),
        (
            "Mean delay days, including zero-day delays",
            one_decimal(mean(&delays)),
        ),
        (
            "Mean delay days, excluding zero-day delays",
            one_decimal(mean(&with_delay)),
        ),
        (
            "Share discharged on their discharge ready date",
            percent(on_drd, delays.len() as i64),
        ),
        ("Lost bed days (sum of delay days)", lost.to_string()),
        (
            "Pathway 1-3 discharged within 24 hours of ready",
            format!("{} ({p13_in_24h} of {p13})", percent(p13_in_24h, p13)),
        ),
        (
            "Median hours from flag to pathway decision",
            one_decimal(median(to_pathway)),
        ),
        (
            "Median hours from acceptance to discharge",
            one_decimal(median(accept_to_discharge)),
        ),
    ] {
        t.push(vec![k.to_string(), v]);
    }
    let summary_index = tables.len();
    tables.push(t);

    // ------------------------------------------------ referrals and providers
    let referrals = sqlx::query_as::<_, ReferralFact>(
        "SELECT r.org_code, org.name AS org_name, r.status, dr.label AS decline_label, r.created_at, r.decided_at \
         FROM referrals r JOIN organisations org ON org.code = r.org_code JOIN capacity_offers o ON o.id = r.offer_id \
         JOIN patients p ON p.id = r.patient_id LEFT JOIN decline_reasons dr ON dr.code = r.decline_reason \
         WHERE r.created_at >= $1 AND r.created_at < $2 AND ($3::text IS NULL OR p.trust_code = $3) \
         AND ($4::smallint IS NULL OR o.pathway = $4)",
    )
    .bind(start)
    .bind(end)
    .bind(q.trust.as_deref())
    .bind(q.pathway)
    .fetch_all(pool)
    .await?;
    let response_all: Vec<f64> = referrals
        .iter()
        .filter_map(|r| r.decided_at.map(|d| hours(r.created_at, d)))
        .collect();
    tables[summary_index].push(vec![
        "Median hours from referral to provider decision".into(),
        one_decimal(median(response_all)),
    ]);
    let mut by_org: BTreeMap<(String, String), Vec<&ReferralFact>> = BTreeMap::new();
    for r in &referrals {
        by_org
            .entry((r.org_name.clone(), r.org_code.clone()))
            .or_default()
            .push(r);
    }
    let mut t = Table::new(
        "providers",
        "Referrals by provider",
        &[
            "Provider",
            "Referrals received",
            "Accepted",
            "Declined",
            "Withdrawn or waiting",
            "Acceptance rate",
            "Median hours to respond",
            "Decline reasons",
        ],
    );
    for ((name, code), rs) in &by_org {
        let accepted = rs
            .iter()
            .filter(|r| {
                r.status == ReferralStatus::Accepted
                    || (r.status == ReferralStatus::Withdrawn && r.decided_at.is_some())
            })
            .count() as i64;
        let declined = rs
            .iter()
            .filter(|r| r.status == ReferralStatus::Declined)
            .count() as i64;
        let decided = accepted + declined;
        let mut reasons: BTreeMap<&str, i64> = BTreeMap::new();
        for r in rs.iter().filter_map(|r| r.decline_label.as_deref()) {
            *reasons.entry(r).or_default() += 1;
        }
        t.push(vec![
            format!("{name} ({code})"),
            rs.len().to_string(),
            accepted.to_string(),
            declined.to_string(),
            (rs.len() as i64 - decided).to_string(),
            percent(accepted, decided),
            one_decimal(median(
                rs.iter()
                    .filter_map(|r| r.decided_at.map(|d| hours(r.created_at, d)))
                    .collect(),
            )),
            reasons
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("; "),
        ]);
    }
    tables.push(t);

    // ------------------------------------------------ places offered and used
    let places: Vec<(String, i16, i64, i64, i64)> = sqlx::query_as(
        "SELECT ct.label, ct.pathway, \
         COALESCE((SELECT sum(o.places) FROM capacity_offers o WHERE o.service_type = ct.code AND o.created_at >= $1 AND o.created_at < $2), 0)::bigint, \
         (SELECT count(*) FROM referrals r JOIN capacity_offers o ON o.id = r.offer_id WHERE o.service_type = ct.code \
            AND r.decided_at >= $1 AND r.decided_at < $2 AND (r.status = 'accepted' OR r.place_released_at IS NOT NULL)), \
         (SELECT count(*) FROM referrals r JOIN capacity_offers o ON o.id = r.offer_id WHERE o.service_type = ct.code \
            AND r.place_used_at >= $1 AND r.place_used_at < $2) \
         FROM capacity_types ct WHERE ($3::smallint IS NULL OR ct.pathway = $3) ORDER BY ct.sort_order",
    )
    .bind(start)
    .bind(end)
    .bind(q.pathway)
    .fetch_all(pool)
    .await?;
    let mut t = Table::new(
        "places",
        "Places offered against used, by type",
        &[
            "Type",
            "Pathway",
            "Places offered",
            "Places reserved",
            "Places used",
        ],
    );
    for (label, pathway, offered, reserved, used) in places {
        t.push(vec![
            label,
            pathway.to_string(),
            offered.to_string(),
            reserved.to_string(),
            used.to_string(),
        ]);
    }
    tables.push(t);

    // ------------------------------------------------ demand against capacity
    let demand: Vec<(NaiveDate, i16, i64)> = sqlx::query_as(
        "SELECT (n.started_at AT TIME ZONE 'Europe/London')::date AS day, COALESCE(p.pathway, -1)::smallint, count(*) \
         FROM nctr_periods n JOIN patients p ON p.id = n.patient_id \
         WHERE n.started_at >= $1 AND n.started_at < $2 AND ($3::text IS NULL OR p.trust_code = $3) \
         AND ($4::smallint IS NULL OR p.pathway = $4) GROUP BY 1, 2",
    )
    .bind(start)
    .bind(end)
    .bind(q.trust.as_deref())
    .bind(q.pathway)
    .fetch_all(pool)
    .await?;
    let offered: Vec<(NaiveDate, i16, i64)> = sqlx::query_as(
        "SELECT (o.created_at AT TIME ZONE 'Europe/London')::date, o.pathway, sum(o.places)::bigint FROM capacity_offers o \
         WHERE o.created_at >= $1 AND o.created_at < $2 AND ($3::smallint IS NULL OR o.pathway = $3) GROUP BY 1, 2",
    )
    .bind(start)
    .bind(end)
    .bind(q.pathway)
    .fetch_all(pool)
    .await?;
    let mut need = vec![[0i64; 5]; days.len()]; // pathways 0..3, and not yet triaged
    let mut supply = vec![[0i64; 4]; days.len()];
    for (d, p, n) in demand {
        if let Some(i) = days.iter().position(|x| *x == d) {
            need[i][if p < 0 { 4 } else { p.clamp(0, 3) as usize }] += n;
        }
    }
    for (d, p, n) in offered {
        if let Some(i) = days.iter().position(|x| *x == d) {
            supply[i][p.clamp(0, 3) as usize] += n;
        }
    }
    let mut t = Table::new(
        "demand_capacity",
        "New patients not meeting the criteria (demand) against places offered (capacity), pathways 1-3; the last 7 rows project the mean of the last 7 days",
        &[
            "Day",
            "Demand P1",
            "Demand P2",
            "Demand P3",
            "Demand not yet triaged",
            "Capacity P1",
            "Capacity P2",
            "Capacity P3",
            "Projected demand",
            "Projected capacity",
        ],
    );
    for (i, day) in days.iter().enumerate() {
        let (n, s) = (need[i], supply[i]);
        t.push(vec![
            day.to_string(),
            n[1].to_string(),
            n[2].to_string(),
            n[3].to_string(),
            n[4].to_string(),
            s[1].to_string(),
            s[2].to_string(),
            s[3].to_string(),
            String::new(),
            String::new(),
        ]);
    }
    // the projection: the mean of the last 7 days, carried forward 7 days
    let window = days.len().clamp(1, 7);
    let recent = |f: &dyn Fn(usize) -> i64| {
        (days.len().saturating_sub(window)..days.len())
            .map(f)
            .sum::<i64>() as f64
            / window as f64
    };
    let demand_1_3 = |i: usize| need[i][1] + need[i][2] + need[i][3] + need[i][4];
    let supply_1_3 = |i: usize| supply[i][1] + supply[i][2] + supply[i][3];
    let (proj_demand, proj_supply) = (recent(&demand_1_3), recent(&supply_1_3));
    let mut labels = day_labels.clone();
    let mut demand_line: Vec<f64> = (0..days.len()).map(|i| demand_1_3(i) as f64).collect();
    let mut supply_line: Vec<f64> = (0..days.len()).map(|i| supply_1_3(i) as f64).collect();
    for k in 1..=7 {
        let day = q.to + Duration::days(k);
        let mut row = vec![day.to_string()];
        row.extend(std::iter::repeat_n(String::new(), 7));
        row.push(format!("{proj_demand:.1}"));
        row.push(format!("{proj_supply:.1}"));
        t.push(row);
        labels.push(day.format("%-d %b").to_string());
        demand_line.push(proj_demand);
        supply_line.push(proj_supply);
    }
    charts.push((
        chart::render(
            "chart-demand",
            "Demand against capacity, pathways 1-3",
            "Lines of new patients not meeting the criteria each day and of places offered each day, continued for 7 days at the mean of the last 7; the table below gives the numbers.",
            &labels,
            &[Series { name: "Demand (last 7 days projected)".into(), values: demand_line }, Series { name: "Places offered (last 7 days projected)".into(), values: supply_line }],
            false,
        ),
        "demand_capacity",
    ));
    tables.push(t);

    // ------------------------------------------------ delay reasons over time
    // A period open at a day's cut-off means the patient was still waiting then: a discharge
    // or a cancellation closes the period at that moment, so no patient join is needed
    // unless a filter asks for one.
    let snapshots: Vec<(NaiveDate, String, i64)> = sqlx::query_as(
        "SELECT d.day::date, COALESCE(r.code, 'none'), count(*) \
         FROM generate_series($1::date, $2::date, interval '1 day') AS d(day) \
         CROSS JOIN LATERAL (SELECT LEAST((d.day + interval '1 day') AT TIME ZONE 'Europe/London', $5) AS cutoff) c \
         JOIN nctr_periods n ON tstzrange(n.started_at, COALESCE(n.ended_at, 'infinity'::timestamptz), '[)') @> c.cutoff \
         LEFT JOIN LATERAL (SELECT h.code FROM delay_reason_history h WHERE h.patient_id = n.patient_id AND h.set_at < c.cutoff \
            ORDER BY h.set_at DESC, h.id DESC LIMIT 1) r ON true \
         WHERE (($3::text IS NULL AND $4::smallint IS NULL) OR EXISTS (SELECT 1 FROM patients p WHERE p.id = n.patient_id \
            AND ($3::text IS NULL OR p.trust_code = $3) AND ($4::smallint IS NULL OR p.pathway = $4))) \
         GROUP BY 1, 2",
    )
    .bind(q.from)
    .bind(q.to)
    .bind(q.trust.as_deref())
    .bind(q.pathway)
    .bind(now)
    .fetch_all(pool)
    .await?;
    let mut totals: BTreeMap<String, i64> = BTreeMap::new();
    for (_, code, n) in &snapshots {
        *totals.entry(code.clone()).or_default() += n;
    }
    let mut top: Vec<(String, i64)> = totals.into_iter().collect();
    top.sort_by_key(|t| std::cmp::Reverse(t.1));
    let shown: Vec<String> = top.iter().take(6).map(|(c, _)| c.clone()).collect();
    let mut cols: Vec<&str> = vec!["Day"];
    cols.extend(shown.iter().map(String::as_str));
    cols.push("other");
    let mut t = Table::new(
        "delay_reasons",
        "Patients waiting at the end of each day, by delay reason (the six commonest; none = no reason recorded)",
        &cols,
    );
    for day in &days {
        let mut row = vec![day.to_string()];
        let of_day: Vec<&(NaiveDate, String, i64)> =
            snapshots.iter().filter(|(d, _, _)| d == day).collect();
        for code in &shown {
            row.push(
                of_day
                    .iter()
                    .filter(|(_, c, _)| c == code)
                    .map(|(_, _, n)| *n)
                    .sum::<i64>()
                    .to_string(),
            );
        }
        row.push(
            of_day
                .iter()
                .filter(|(_, c, _)| !shown.contains(c))
                .map(|(_, _, n)| *n)
                .sum::<i64>()
                .to_string(),
        );
        t.push(row);
    }
    charts.push((
        chart::render(
            "chart-reasons",
            "Patients waiting at the end of each day, by delay reason",
            "Stacked bars of patients not meeting the criteria at the end of each day, by their delay reason; the table below gives the numbers.",
            &day_labels,
            &shown
                .iter()
                .chain(std::iter::once(&"other".to_string()))
                .enumerate()
                .map(|(k, name)| Series { name: name.clone(), values: t.rows.iter().map(|r| r[k + 1].parse::<f64>().unwrap_or(0.0)).collect() })
                .collect::<Vec<_>>(),
            true,
        ),
        "delay_reasons",
    ));
    tables.push(t);

    // the headline figures first
    tables.sort_by_key(|t| t.name != "summary");
    Ok(FlowReport {
        from: q.from,
        to: q.to,
        tables,
        charts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let q = FlowQuery::parse(None, None, None, None, today).unwrap();
        assert_eq!(
            (q.from.to_string(), q.to.to_string()),
            ("2026-10-26".into(), "2026-11-22".into())
        );
        assert!(
            FlowQuery::parse(Some("2026-11-10"), Some("2026-11-01"), None, None, today).is_err()
        );
        assert!(FlowQuery::parse(None, Some("2026-11-23"), None, None, today).is_err());
        assert!(FlowQuery::parse(Some("2024-01-01"), None, None, None, today).is_err());
        assert!(FlowQuery::parse(None, None, None, Some("5"), today).is_err());
        assert_eq!(
            FlowQuery::parse(None, None, Some(" rhw "), Some("2"), today)
                .unwrap()
                .trust
                .as_deref(),
            Some("RHW")
        );
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }
}
