//! The flow report for a date range (Europe/London days, from the first instant of `from` to
//! the cut-off of `to`, see [`super::day`]), filterable by trust and pathway: discharges per
//! day by pathway; delay days (mean with and without zero-day delays, share discharged on
//! their ready date, lost bed days); the 24-hour standard; median times from flag to
//! pathway decision, referral to decision and acceptance to discharge; delay reasons over
//! time; each provider's referrals, acceptance rate, decline reasons and response time;
//! places available each day by type and pathway (from the offers' history: open, not
//! expired, not withdrawn, less the places reserved or used at the day's cut-off) with the
//! places reserved and used; and demand (new patients not meeting the criteria) against
//! capacity (places available) with a 7-day projection. Discharge figures are over the
//! patients discharged in the range.
//!
//! Each figure is a fetch (SQL returning plain rows, `fetch_*`) and a fold with no I/O that
//! turns the rows into the figure's table and chart; the folds are unit-tested below with
//! small hand-made rows, `tests/it/flow.rs` checks the whole report over HTTP against a
//! hand count, and `tests/it/model.rs` against a plain replay of thousands of generated
//! histories. [`build`] runs the fetches in turn, then the folds. Reads only, never writes.

use super::chart::{self, Chart, Kind, Series};
use super::day::Day;
use super::table::{Table, one_decimal, percent};
use crate::domain::time::london_date;
use crate::domain::{CaseAction, ReferralStatus};
use crate::error::{AppError, FieldErrors};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgExecutor, PgPool};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct FlowQuery {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub trust: Option<String>,
    pub pathway: Option<i16>,
    /// The caller's hub (every hub when `None`); set by the page from the caller, never
    /// from the query string.
    pub hub: Option<String>,
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
            hub: None,
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

/// The ranges of the same length just before and just after `from..=to`: the one after is
/// cut back to end today, and there is none when the range already ends today.
pub fn neighbouring_ranges(
    from: NaiveDate,
    to: NaiveDate,
    today: NaiveDate,
) -> ((NaiveDate, NaiveDate), Option<(NaiveDate, NaiveDate)>) {
    let len = (to - from).num_days() + 1;
    let previous = (from - Duration::days(len), to - Duration::days(len));
    let next = (to < today).then(|| {
        let end = (to + Duration::days(len)).min(today);
        (end - Duration::days(len - 1), end)
    });
    (previous, next)
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

// ================================================================ the report

/// The instants the report's days run between, both included: the first instant of `from`
/// to the cut-off of `to` (its last instant, or now).
#[derive(Debug, Clone, Copy)]
struct Window {
    start: DateTime<Utc>,
    cutoff: DateTime<Utc>,
}

/// One figure of the report: its table, and the SVG chart drawn from it if it has one.
struct Figure {
    table: Table,
    chart: Option<String>,
}

impl From<Table> for Figure {
    fn from(table: Table) -> Self {
        Figure { table, chart: None }
    }
}

/// Builds the report: each figure's rows are fetched (plain SQL, nothing computed in Rust),
/// then folded into the figure by a function with no I/O. The headline figures come first.
pub async fn build(
    pool: &PgPool,
    q: &FlowQuery,
    now: DateTime<Utc>,
) -> Result<FlowReport, AppError> {
    let cutoffs = Day::range(q.from, q.to, now);
    let window = Window {
        start: Day::new(q.from, now).start,
        cutoff: Day::new(q.to, now).cutoff,
    };
    let days = q.days();
    let discharges = fetch_discharges(pool, q, window).await?;
    let referrals = fetch_referrals(pool, q, window).await?;
    let types = fetch_capacity_types(pool, q).await?;
    let places = fetch_places(pool, q, window).await?;
    let available = fetch_places_available(pool, q, &cutoffs).await?;
    let new_waiting = fetch_new_waiting(pool, q, window).await?;
    let reasons: Vec<(String, String)> = crate::reference::delay_reasons(pool)
        .await?
        .into_iter()
        .map(|r| (r.code, r.label))
        .collect();
    let waiting = fetch_waiting_by_reason(pool, q, &cutoffs).await?;
    let figures: Vec<Figure> = vec![
        summary(&discharges, &referrals).into(),
        discharges_per_day(q, &days, &discharges),
        providers(&referrals).into(),
        places_by_type(&types, &places, &available, &days).into(),
        places_available_per_day(&types, &available, &days),
        demand_against_capacity(q.to, &days, &new_waiting, &available),
        delay_reasons_over_time(&days, &reasons, &waiting),
    ];
    let mut tables = vec![];
    let mut charts = vec![];
    for figure in figures {
        if let Some(svg) = figure.chart {
            charts.push((svg, figure.table.name));
        }
        tables.push(figure.table);
    }
    Ok(FlowReport {
        from: q.from,
        to: q.to,
        tables,
        charts,
    })
}

/// Each day as a chart labels it: `3 Nov`.
fn day_labels(days: &[NaiveDate]) -> Vec<String> {
    days.iter()
        .map(|d| d.format("%-d %b").to_string())
        .collect()
}

// ================================================================ discharges and delays

/// A patient discharged in the range, with the times the medians need.
#[derive(Debug, Clone, FromRow)]
struct Discharge {
    discharged_at: DateTime<Utc>,
    discharge_ready_at: Option<DateTime<Utc>>,
    /// 0 when no pathway was chosen.
    pathway: i16,
    created_at: DateTime<Utc>,
    /// When a pathway was first chosen.
    pathway_at: Option<DateTime<Utc>>,
    /// When a provider last accepted a referral for the patient.
    accepted_at: Option<DateTime<Utc>>,
}

/// Patients discharged in the window, within the trust and pathway filters.
async fn fetch_discharges(
    db: impl PgExecutor<'_>,
    q: &FlowQuery,
    w: Window,
) -> Result<Vec<Discharge>, AppError> {
    Ok(sqlx::query_as::<_, Discharge>(
        "SELECT p.discharged_at, p.discharge_ready_at, COALESCE(p.pathway, 0)::smallint AS pathway, p.created_at, \
         (SELECT min(h.at) FROM patient_history h WHERE h.patient_id = p.id AND h.action = $5) AS pathway_at, \
         (SELECT max(r.decided_at) FROM referrals r WHERE r.patient_id = p.id AND r.status = 'accepted') AS accepted_at \
         FROM patients p WHERE p.status = 'discharged' AND p.discharged_at >= $1 AND p.discharged_at <= $2 \
         AND ($3::text IS NULL OR p.trust_code = $3) AND ($4::smallint IS NULL OR COALESCE(p.pathway, 0) = $4) \
         AND ($6::text IS NULL OR p.hub_code = $6)",
    )
    .bind(w.start)
    .bind(w.cutoff)
    .bind(q.trust.as_deref())
    .bind(q.pathway)
    .bind(CaseAction::PathwayChosen)
    .bind(q.hub.as_deref())
    .fetch_all(db)
    .await?)
}

/// Discharges per day by pathway (a day outside the range is not counted), with a stacked
/// bar chart.
fn discharges_per_day(q: &FlowQuery, days: &[NaiveDate], discharges: &[Discharge]) -> Figure {
    let mut per_day = vec![[0i64; 4]; days.len()];
    for d in discharges {
        if let Some(i) = days.iter().position(|x| *x == london_date(d.discharged_at)) {
            per_day[i][d.pathway.clamp(0, 3) as usize] += 1;
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
    for (day, c) in days.iter().zip(&per_day) {
        t.push(vec![
            day.to_string(),
            c[0].to_string(),
            c[1].to_string(),
            c[2].to_string(),
            c[3].to_string(),
            c.iter().sum::<i64>().to_string(),
        ]);
    }
    let series: Vec<Series> = (0..4)
        .map(|p| Series {
            name: format!("Pathway {p}"),
            values: per_day.iter().map(|c| c[p] as f64).collect(),
        })
        .collect();
    let chart = chart::render(&Chart {
        id: "chart-discharges",
        title: "Discharges per day by pathway",
        description: &format!(
            "Stacked bars of discharges each day from {} to {}, by pathway 0 to 3, each pathway with its own colour and pattern; the table below gives the numbers.",
            q.from, q.to
        ),
        y_label: "Patients discharged",
        labels: &day_labels(days),
        series: &series,
        kind: Kind::StackedBars,
    });
    Figure {
        table: t,
        chart: Some(chart),
    }
}

/// The headline figures: discharges, delay days, the 24-hour standard and the medians
/// (flag to pathway decision, acceptance to discharge, referral to provider decision).
fn summary(discharges: &[Discharge], referrals: &[ReferralFact]) -> Table {
    let mut delays: Vec<i64> = vec![];
    let (mut p13, mut p13_in_24h) = (0i64, 0i64);
    let mut to_pathway = vec![];
    let mut accept_to_discharge = vec![];
    for d in discharges {
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
    let with_delay: Vec<i64> = delays.iter().copied().filter(|d| *d > 0).collect();
    let mean = |v: &[i64]| (!v.is_empty()).then(|| v.iter().sum::<i64>() as f64 / v.len() as f64);
    let lost: i64 = delays.iter().sum();
    let on_drd = delays.iter().filter(|d| **d == 0).count() as i64;
    let response_all: Vec<f64> = referrals
        .iter()
        .filter_map(|r| r.decided_at.map(|d| hours(r.created_at, d)))
        .collect();
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
        (
            "Median hours from referral to provider decision",
            one_decimal(median(response_all)),
        ),
    ] {
        t.push(vec![k.to_string(), v]);
    }
    t
}

// ================================================================ referrals and providers

/// A referral made in the range.
#[derive(Debug, Clone, FromRow)]
struct ReferralFact {
    org_code: String,
    org_name: String,
    status: ReferralStatus,
    decline_label: Option<String>,
    created_at: DateTime<Utc>,
    decided_at: Option<DateTime<Utc>>,
}

/// Referrals made in the window, for patients of the trust filter and offers on the pathway.
async fn fetch_referrals(
    db: impl PgExecutor<'_>,
    q: &FlowQuery,
    w: Window,
) -> Result<Vec<ReferralFact>, AppError> {
    Ok(sqlx::query_as::<_, ReferralFact>(
        "SELECT r.org_code, org.name AS org_name, r.status, dr.label AS decline_label, r.created_at, r.decided_at \
         FROM referrals r JOIN organisations org ON org.code = r.org_code JOIN capacity_offers o ON o.id = r.offer_id \
         JOIN patients p ON p.id = r.patient_id LEFT JOIN decline_reasons dr ON dr.code = r.decline_reason \
         WHERE r.created_at >= $1 AND r.created_at <= $2 AND ($3::text IS NULL OR p.trust_code = $3) \
         AND ($4::smallint IS NULL OR o.pathway = $4) AND ($5::text IS NULL OR r.hub_code = $5)",
    )
    .bind(w.start)
    .bind(w.cutoff)
    .bind(q.trust.as_deref())
    .bind(q.pathway)
    .bind(q.hub.as_deref())
    .fetch_all(db)
    .await?)
}

/// Each provider's referrals, by provider name: received, accepted (including those
/// accepted and later withdrawn), declined, the rest, acceptance rate, median response time
/// and decline reasons.
fn providers(referrals: &[ReferralFact]) -> Table {
    let mut by_org: BTreeMap<(String, String), Vec<&ReferralFact>> = BTreeMap::new();
    for r in referrals {
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
    t
}

// ================================================================ places available

/// A capacity type (of the pathway filter), in the types' order.
#[derive(Debug, Clone, FromRow)]
struct CapacityTypeRow {
    code: String,
    label: String,
    pathway: i16,
}

async fn fetch_capacity_types(
    db: impl PgExecutor<'_>,
    q: &FlowQuery,
) -> Result<Vec<CapacityTypeRow>, AppError> {
    Ok(sqlx::query_as::<_, CapacityTypeRow>(
        "SELECT ct.code, ct.label, ct.pathway FROM capacity_types ct \
         WHERE ($1::smallint IS NULL OR ct.pathway = $1) ORDER BY ct.sort_order",
    )
    .bind(q.pathway)
    .fetch_all(db)
    .await?)
}

/// Places of one capacity type reserved (accepted, whether or not given back later) and
/// used (the patient left for it) in the range.
#[derive(Debug, Clone, FromRow)]
struct PlacesRow {
    service_type: String,
    reserved: i64,
    used: i64,
}

async fn fetch_places(
    db: impl PgExecutor<'_>,
    q: &FlowQuery,
    w: Window,
) -> Result<Vec<PlacesRow>, AppError> {
    Ok(sqlx::query_as::<_, PlacesRow>(
        "SELECT o.service_type, \
         count(*) FILTER (WHERE r.decided_at >= $1 AND r.decided_at <= $2 \
            AND (r.status = 'accepted' OR r.place_released_at IS NOT NULL)) AS reserved, \
         count(*) FILTER (WHERE r.place_used_at >= $1 AND r.place_used_at <= $2) AS used \
         FROM referrals r JOIN capacity_offers o ON o.id = r.offer_id \
         WHERE ((r.decided_at >= $1 AND r.decided_at <= $2) OR (r.place_used_at >= $1 AND r.place_used_at <= $2)) \
         AND ($3::smallint IS NULL OR o.pathway = $3) AND ($4::text IS NULL OR r.hub_code = $4) GROUP BY 1",
    )
    .bind(w.start)
    .bind(w.cutoff)
    .bind(q.pathway)
    .bind(q.hub.as_deref())
    .fetch_all(db)
    .await?)
}

/// Places of one capacity type available at the cut-off of one day.
#[derive(Debug, Clone, FromRow)]
struct PlacesAvailable {
    day: NaiveDate,
    service_type: String,
    pathway: i16,
    places: i64,
}

/// For each day, the places free at its cut-off on every offer then posted, available
/// (from `available_from`), not expired and not withdrawn: the offer's places as they stood
/// then (an edit takes effect when it was made: `capacity_offer_changes`) less those
/// reserved or used then (an accepted referral takes a place from its decision until the
/// place is given back; a used place stays taken). Read from the offers' and referrals'
/// times, so a past day is answered as it stood.
async fn fetch_places_available(
    db: impl PgExecutor<'_>,
    q: &FlowQuery,
    days: &[Day],
) -> Result<Vec<PlacesAvailable>, AppError> {
    let dates: Vec<NaiveDate> = days.iter().map(|d| d.date).collect();
    let cutoffs: Vec<DateTime<Utc>> = days.iter().map(|d| d.cutoff).collect();
    Ok(sqlx::query_as::<_, PlacesAvailable>(
        "SELECT d.day, o.service_type, o.pathway, sum(v.places - ( \
            SELECT count(*) FROM referrals r WHERE r.offer_id = o.id AND r.decided_at <= d.cutoff \
            AND (r.status = 'accepted' OR r.place_released_at IS NOT NULL) \
            AND (r.place_released_at IS NULL OR r.place_released_at > d.cutoff)))::bigint AS places \
         FROM unnest($1::date[], $2::timestamptz[]) AS d(day, cutoff) \
         JOIN capacity_offers o ON o.created_at <= d.cutoff AND o.available_from <= d.cutoff \
            AND (o.withdrawn_at IS NULL OR o.withdrawn_at > d.cutoff) \
         CROSS JOIN LATERAL ( \
            SELECT COALESCE(ch.places, o.places) AS places, \
                   COALESCE(ch.available_until, o.available_until) AS available_until \
            FROM (SELECT 1) one LEFT JOIN LATERAL ( \
                SELECT c.places, c.available_until FROM capacity_offer_changes c \
                WHERE c.offer_id = o.id AND c.at <= d.cutoff ORDER BY c.at DESC, c.id DESC LIMIT 1 \
            ) ch ON true) v \
         WHERE v.available_until > d.cutoff AND ($3::smallint IS NULL OR o.pathway = $3) \
         AND ($4::text IS NULL OR o.org_code IN (SELECT hp.provider_code FROM hub_providers hp WHERE hp.hub_code = $4)) \
         GROUP BY 1, 2, 3",
    )
    .bind(dates)
    .bind(cutoffs)
    .bind(q.pathway)
    .bind(q.hub.as_deref())
    .fetch_all(db)
    .await?)
}

/// Places by type: the mean available per day, those available at the end of the range, and
/// those reserved and used in it.
fn places_by_type(
    types: &[CapacityTypeRow],
    places: &[PlacesRow],
    available: &[PlacesAvailable],
    days: &[NaiveDate],
) -> Table {
    let mut t = Table::new(
        "places",
        "Places by type: available each day (mean, and at the end of the range), reserved and used",
        &[
            "Type",
            "Pathway",
            "Mean places available per day",
            "Places available at the end of the range",
            "Places reserved",
            "Places used",
        ],
    );
    let last = days.last().copied();
    for ty in types {
        let of_type = || available.iter().filter(|a| a.service_type == ty.code);
        let total: i64 = of_type().map(|a| a.places).sum();
        let at_end: i64 = of_type()
            .filter(|a| Some(a.day) == last)
            .map(|a| a.places)
            .sum();
        let row = places.iter().find(|p| p.service_type == ty.code);
        t.push(vec![
            ty.label.clone(),
            ty.pathway.to_string(),
            one_decimal((!days.is_empty()).then(|| total as f64 / days.len() as f64)),
            at_end.to_string(),
            row.map_or(0, |r| r.reserved).to_string(),
            row.map_or(0, |r| r.used).to_string(),
        ]);
    }
    t
}

/// Places available at the end of each day, by type and by pathway, with a stacked bar
/// chart by pathway.
fn places_available_per_day(
    types: &[CapacityTypeRow],
    available: &[PlacesAvailable],
    days: &[NaiveDate],
) -> Figure {
    let mut cols: Vec<&str> = vec!["Day"];
    cols.extend(types.iter().map(|t| t.label.as_str()));
    cols.extend(["Pathway 1", "Pathway 2", "Pathway 3", "Total"]);
    let mut t = Table::new(
        "places_available",
        "Places available at the end of each day, by type and pathway",
        &cols,
    );
    let mut by_pathway = vec![[0i64; 4]; days.len()];
    for (i, day) in days.iter().enumerate() {
        let of_day: Vec<&PlacesAvailable> = available.iter().filter(|a| a.day == *day).collect();
        let mut row = vec![day.to_string()];
        for ty in types {
            row.push(
                of_day
                    .iter()
                    .filter(|a| a.service_type == ty.code)
                    .map(|a| a.places)
                    .sum::<i64>()
                    .to_string(),
            );
        }
        for a in &of_day {
            by_pathway[i][a.pathway.clamp(0, 3) as usize] += a.places;
        }
        let p = by_pathway[i];
        row.extend([p[1], p[2], p[3], p[1] + p[2] + p[3]].map(|n| n.to_string()));
        t.push(row);
    }
    let series: Vec<Series> = (1..=3)
        .map(|p| Series {
            name: format!("Pathway {p}"),
            values: by_pathway.iter().map(|c| c[p] as f64).collect(),
        })
        .collect();
    let chart = chart::render(&Chart {
        id: "chart-places",
        title: "Places available at the end of each day, by pathway",
        description: "Stacked bars of the places (beds and care packages) free at the end of each day on open offers, by pathway 1 to 3, each with its own colour and pattern; the table below gives the numbers by type.",
        y_label: "Places available",
        labels: &day_labels(days),
        series: &series,
        kind: Kind::StackedBars,
    });
    Figure {
        table: t,
        chart: Some(chart),
    }
}

// ================================================================ demand against capacity

/// Periods of not meeting the criteria that began on one day (England), by the patient's
/// pathway now.
#[derive(Debug, Clone)]
struct NewWaiting {
    day: NaiveDate,
    /// `None`: not yet triaged.
    pathway: Option<i16>,
    patients: i64,
}

async fn fetch_new_waiting(
    db: impl PgExecutor<'_>,
    q: &FlowQuery,
    w: Window,
) -> Result<Vec<NewWaiting>, AppError> {
    let rows: Vec<(NaiveDate, i16, i64)> = sqlx::query_as(
        "SELECT (n.started_at AT TIME ZONE 'Europe/London')::date AS day, COALESCE(p.pathway, -1)::smallint, count(*) \
         FROM nctr_periods n JOIN patients p ON p.id = n.patient_id \
         WHERE n.started_at >= $1 AND n.started_at <= $2 AND ($3::text IS NULL OR p.trust_code = $3) \
         AND ($4::smallint IS NULL OR p.pathway = $4) AND ($5::text IS NULL OR p.hub_code = $5) GROUP BY 1, 2",
    )
    .bind(w.start)
    .bind(w.cutoff)
    .bind(q.trust.as_deref())
    .bind(q.pathway)
    .bind(q.hub.as_deref())
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(day, pathway, patients)| NewWaiting {
            day,
            pathway: (pathway >= 0).then_some(pathway),
            patients,
        })
        .collect())
}

/// New patients not meeting the criteria (demand) against places available at the end of
/// each day (capacity), pathways 1-3 (demand also counts those not yet triaged), then 7
/// more rows that project the mean of the last 7 days (or of every day, in a shorter
/// range); with a line chart.
fn demand_against_capacity(
    to: NaiveDate,
    days: &[NaiveDate],
    new_waiting: &[NewWaiting],
    available: &[PlacesAvailable],
) -> Figure {
    let mut need = vec![[0i64; 5]; days.len()]; // pathways 0..3, and not yet triaged
    let mut supply = vec![[0i64; 4]; days.len()];
    for n in new_waiting {
        if let Some(i) = days.iter().position(|x| *x == n.day) {
            need[i][n.pathway.map_or(4, |p| p.clamp(0, 3) as usize)] += n.patients;
        }
    }
    for a in available {
        if let Some(i) = days.iter().position(|x| *x == a.day) {
            supply[i][a.pathway.clamp(0, 3) as usize] += a.places;
        }
    }
    let mut t = Table::new(
        "demand_capacity",
        "New patients not meeting the criteria (demand) against places available at the end of each day (capacity), pathways 1-3; the last 7 rows project the mean of the last 7 days",
        &[
            "Day",
            "Demand P1",
            "Demand P2",
            "Demand P3",
            "Demand not yet triaged",
            "Places available P1",
            "Places available P2",
            "Places available P3",
            "Projected demand",
            "Projected places available",
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
    let mut labels = day_labels(days);
    let mut demand_line: Vec<f64> = (0..days.len()).map(|i| demand_1_3(i) as f64).collect();
    let mut supply_line: Vec<f64> = (0..days.len()).map(|i| supply_1_3(i) as f64).collect();
    for k in 1..=7 {
        let day = to + Duration::days(k);
        let mut row = vec![day.to_string()];
        row.extend(std::iter::repeat_n(String::new(), 7));
        row.push(format!("{proj_demand:.1}"));
        row.push(format!("{proj_supply:.1}"));
        t.push(row);
        labels.push(day.format("%-d %b").to_string());
        demand_line.push(proj_demand);
        supply_line.push(proj_supply);
    }
    let series = [
        Series {
            name: "New patients (demand)".into(),
            values: demand_line,
        },
        Series {
            name: "Places available".into(),
            values: supply_line,
        },
    ];
    let chart = chart::render(&Chart {
        id: "chart-demand",
        title: "Demand against capacity, pathways 1-3",
        description: "Two labelled lines: new patients not meeting the criteria each day (solid, round markers) and places available at the end of each day (dashed, square markers), continued for 7 days at the mean of the last 7; the table below gives the numbers.",
        y_label: "Patients or places",
        labels: &labels,
        series: &series,
        kind: Kind::Lines,
    });
    Figure {
        table: t,
        chart: Some(chart),
    }
}

// ================================================================ delay reasons over time

/// Patients still not meeting the criteria at the end of one day, with one delay reason
/// (`none`: no reason recorded by then).
#[derive(Debug, Clone)]
struct WaitingCount {
    day: NaiveDate,
    reason: String,
    patients: i64,
}

/// For each day of the range, the patients waiting at its cut-off (a period of not meeting
/// the criteria open then), by the delay reason in force then: of the reasons (and
/// clearings) that had taken effect by the cut-off, the one recorded last.
async fn fetch_waiting_by_reason(
    db: impl PgExecutor<'_>,
    q: &FlowQuery,
    days: &[Day],
) -> Result<Vec<WaitingCount>, AppError> {
    // A period open at a day's cut-off means the patient was still waiting then: a discharge
    // or a cancellation closes the period at that moment, so no patient join is needed
    // unless a filter asks for one. The periods come through homeward_periods_open_at() (a
    // migration), which can use the range index behind the hubs' wall.
    let dates: Vec<NaiveDate> = days.iter().map(|d| d.date).collect();
    let cutoffs: Vec<DateTime<Utc>> = days.iter().map(|d| d.cutoff).collect();
    let rows: Vec<(NaiveDate, String, i64)> = sqlx::query_as(
        "SELECT d.day, COALESCE(r.code, 'none'), count(*) \
         FROM unnest($1::date[], $2::timestamptz[]) AS d(day, cutoff) \
         JOIN homeward_periods_open_at($2::timestamptz[]) n ON n.cutoff = d.cutoff \
         LEFT JOIN LATERAL (SELECT h.code FROM delay_reason_history h WHERE h.patient_id = n.patient_id AND h.set_at <= d.cutoff \
            ORDER BY h.id DESC LIMIT 1) r ON true \
         WHERE (($3::text IS NULL AND $4::smallint IS NULL) OR EXISTS (SELECT 1 FROM patients p WHERE p.id = n.patient_id \
            AND ($3::text IS NULL OR p.trust_code = $3) AND ($4::smallint IS NULL OR p.pathway = $4))) \
         AND ($5::text IS NULL OR n.hub_code = $5) \
         GROUP BY 1, 2",
    )
    .bind(dates)
    .bind(cutoffs)
    .bind(q.trust.as_deref())
    .bind(q.pathway)
    .bind(q.hub.as_deref())
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(day, reason, patients)| WaitingCount {
            day,
            reason,
            patients,
        })
        .collect())
}

/// Patients waiting at the end of each day by delay reason: the six reasons with the most
/// patient-days over the range get a column each (ties in code order), the rest share
/// "Other reasons"; columns and chart say the reasons' labels, not their codes; with a
/// stacked bar chart.
fn delay_reasons_over_time(
    days: &[NaiveDate],
    reasons: &[(String, String)],
    waiting: &[WaitingCount],
) -> Figure {
    let mut totals: BTreeMap<&str, i64> = BTreeMap::new();
    for w in waiting {
        *totals.entry(w.reason.as_str()).or_default() += w.patients;
    }
    let mut top: Vec<(&str, i64)> = totals.into_iter().collect();
    top.sort_by_key(|t| std::cmp::Reverse(t.1));
    let shown: Vec<String> = top.iter().take(6).map(|(c, _)| c.to_string()).collect();
    let label = |code: &str| -> String {
        if code == super::sitrep::NO_REASON {
            return "No reason recorded".into();
        }
        reasons
            .iter()
            .find(|(c, _)| c == code)
            .map(|(_, l)| l.clone())
            .unwrap_or_else(|| code.to_string())
    };
    let names: Vec<String> = shown
        .iter()
        .map(|c| label(c))
        .chain(std::iter::once("Other reasons".to_string()))
        .collect();
    let mut cols: Vec<&str> = vec!["Day"];
    cols.extend(names.iter().map(String::as_str));
    let mut t = Table::new(
        "delay_reasons",
        "Patients waiting at the end of each day, by delay reason (the six commonest)",
        &cols,
    );
    for day in days {
        let mut row = vec![day.to_string()];
        let of_day: Vec<&WaitingCount> = waiting.iter().filter(|w| w.day == *day).collect();
        for code in &shown {
            row.push(
                of_day
                    .iter()
                    .filter(|w| w.reason == *code)
                    .map(|w| w.patients)
                    .sum::<i64>()
                    .to_string(),
            );
        }
        row.push(
            of_day
                .iter()
                .filter(|w| !shown.contains(&w.reason))
                .map(|w| w.patients)
                .sum::<i64>()
                .to_string(),
        );
        t.push(row);
    }
    let series: Vec<Series> = names
        .iter()
        .enumerate()
        .map(|(k, name)| Series {
            name: name.clone(),
            values: t
                .rows
                .iter()
                .map(|r| r[k + 1].parse::<f64>().unwrap_or(0.0))
                .collect(),
        })
        .collect();
    let chart = chart::render(&Chart {
        id: "chart-reasons",
        title: "Patients waiting at the end of each day, by delay reason",
        description: "Stacked bars of patients not meeting the criteria at the end of each day, by their delay reason, each reason with its own colour and pattern; the table below gives the numbers.",
        y_label: "Patients waiting",
        labels: &day_labels(days),
        series: &series,
        kind: Kind::StackedBars,
    });
    Figure {
        table: t,
        chart: Some(chart),
    }
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

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    /// 20 to 22 November 2026.
    fn three_days() -> (FlowQuery, Vec<NaiveDate>) {
        let q = FlowQuery {
            from: day("2026-11-20"),
            to: day("2026-11-22"),
            ..FlowQuery::default()
        };
        let days = q.days();
        (q, days)
    }

    fn discharge(at: &str, ready: Option<&str>, pathway: i16) -> Discharge {
        Discharge {
            discharged_at: t(at),
            discharge_ready_at: ready.map(t),
            pathway,
            created_at: t("2026-11-18T09:00:00Z"),
            pathway_at: None,
            accepted_at: None,
        }
    }

    fn referral(
        org: &str,
        status: ReferralStatus,
        decided_after_hours: Option<i64>,
        decline: Option<&str>,
    ) -> ReferralFact {
        let created_at = t("2026-11-20T09:00:00Z");
        ReferralFact {
            org_code: org.into(),
            org_name: format!("Name of {org}"),
            status,
            decline_label: decline.map(str::to_string),
            created_at,
            decided_at: decided_after_hours.map(|h| created_at + Duration::hours(h)),
        }
    }

    fn cells(t: &Table) -> Vec<Vec<&str>> {
        t.rows
            .iter()
            .map(|r| r.iter().map(String::as_str).collect())
            .collect()
    }

    fn value<'a>(t: &'a Table, measure: &str) -> &'a str {
        t.rows
            .iter()
            .find(|r| r[0] == measure)
            .map(|r| r[1].as_str())
            .unwrap_or("missing")
    }

    #[test]
    fn discharges_are_counted_on_their_day_by_pathway() {
        let (q, days) = three_days();
        let f = discharges_per_day(
            &q,
            &days,
            &[
                discharge("2026-11-20T10:00:00Z", None, 0),
                discharge("2026-11-20T15:00:00Z", None, 3),
                discharge("2026-11-22T23:30:00Z", None, 2),
                // outside the range: counted nowhere
                discharge("2026-11-23T00:30:00Z", None, 1),
            ],
        );
        assert_eq!(
            cells(&f.table),
            vec![
                vec!["2026-11-20", "1", "0", "0", "1", "2"],
                vec!["2026-11-21", "0", "0", "0", "0", "0"],
                vec!["2026-11-22", "0", "0", "1", "0", "1"],
            ]
        );
        assert!(
            f.chart
                .is_some_and(|svg| svg.contains("chart-discharges") && svg.contains("Pathway 3"))
        );
    }

    #[test]
    fn headline_figures_count_delays_the_standard_and_medians() {
        let mut on_the_day = discharge("2026-11-20T18:00:00Z", Some("2026-11-20T09:00:00Z"), 1);
        on_the_day.pathway_at = Some(t("2026-11-18T13:00:00Z")); // 4 hours after the flag
        on_the_day.accepted_at = Some(t("2026-11-20T12:00:00Z")); // 6 hours before leaving
        let mut two_days_late = discharge("2026-11-22T10:00:00Z", Some("2026-11-20T09:00:00Z"), 3);
        two_days_late.pathway_at = Some(t("2026-11-18T19:00:00Z")); // 10 hours
        let never_ready = discharge("2026-11-21T10:00:00Z", None, 0);
        let table = summary(
            &[on_the_day, two_days_late, never_ready],
            &[
                referral("PRV1", ReferralStatus::Accepted, Some(2), None),
                referral(
                    "PRV2",
                    ReferralStatus::Declined,
                    Some(5),
                    Some("No capacity"),
                ),
                referral("PRV2", ReferralStatus::Pending, None, None),
            ],
        );
        assert_eq!(table.name, "summary");
        assert_eq!(value(&table, "Discharges"), "3");
        assert_eq!(
            value(
                &table,
                "Discharges of patients who had a discharge ready date"
            ),
            "2"
        );
        assert_eq!(
            value(&table, "Mean delay days, including zero-day delays"),
            "1.0"
        );
        assert_eq!(
            value(&table, "Mean delay days, excluding zero-day delays"),
            "2.0"
        );
        assert_eq!(
            value(&table, "Share discharged on their discharge ready date"),
            "50%"
        );
        assert_eq!(value(&table, "Lost bed days (sum of delay days)"), "2");
        assert_eq!(
            value(&table, "Pathway 1-3 discharged within 24 hours of ready"),
            "50% (1 of 2)"
        );
        assert_eq!(
            value(&table, "Median hours from flag to pathway decision"),
            "7.0"
        );
        assert_eq!(
            value(&table, "Median hours from acceptance to discharge"),
            "6.0"
        );
        assert_eq!(
            value(&table, "Median hours from referral to provider decision"),
            "3.5"
        );
        assert_eq!(
            table.rows.last().map(|r| r[0].as_str()),
            Some("Median hours from referral to provider decision")
        );
    }

    #[test]
    fn headline_figures_of_an_empty_range_are_dashes() {
        let table = summary(&[], &[]);
        assert_eq!(value(&table, "Discharges"), "0");
        assert_eq!(
            value(&table, "Mean delay days, including zero-day delays"),
            "-"
        );
        assert_eq!(
            value(&table, "Pathway 1-3 discharged within 24 hours of ready"),
            "- (0 of 0)"
        );
    }

    #[test]
    fn providers_count_an_accepted_then_withdrawn_referral_as_accepted() {
        let table = providers(&[
            referral(
                "PRV2",
                ReferralStatus::Declined,
                Some(4),
                Some("No capacity"),
            ),
            referral("PRV1", ReferralStatus::Accepted, Some(1), None),
            // accepted, then withdrawn when the patient met the criteria again
            referral("PRV1", ReferralStatus::Withdrawn, Some(3), None),
            // withdrawn before any decision
            referral("PRV1", ReferralStatus::Withdrawn, None, None),
            referral(
                "PRV2",
                ReferralStatus::Declined,
                Some(2),
                Some("No capacity"),
            ),
            referral(
                "PRV2",
                ReferralStatus::Declined,
                Some(6),
                Some("Outside area"),
            ),
            referral("PRV2", ReferralStatus::Pending, None, None),
        ]);
        assert_eq!(
            cells(&table),
            vec![
                vec!["Name of PRV1 (PRV1)", "3", "2", "0", "1", "100%", "2.0", ""],
                vec![
                    "Name of PRV2 (PRV2)",
                    "4",
                    "0",
                    "3",
                    "1",
                    "0%",
                    "4.0",
                    "No capacity: 2; Outside area: 1"
                ],
            ]
        );
    }

    fn types() -> Vec<CapacityTypeRow> {
        vec![
            CapacityTypeRow {
                code: "home_care".into(),
                label: "Home care package".into(),
                pathway: 1,
            },
            CapacityTypeRow {
                code: "residential".into(),
                label: "Residential care bed".into(),
                pathway: 3,
            },
        ]
    }

    fn available(d: &str, service_type: &str, pathway: i16, places: i64) -> PlacesAvailable {
        PlacesAvailable {
            day: day(d),
            service_type: service_type.into(),
            pathway,
            places,
        }
    }

    #[test]
    fn places_are_listed_per_type_as_a_daily_figure() {
        let (_, days) = three_days();
        let table = places_by_type(
            &types(),
            &[PlacesRow {
                service_type: "residential".into(),
                reserved: 2,
                used: 1,
            }],
            &[
                available("2026-11-20", "residential", 3, 5),
                available("2026-11-21", "residential", 3, 4),
                available("2026-11-22", "residential", 3, 3),
                available("2026-11-22", "home_care", 1, 2),
            ],
            &days,
        );
        assert_eq!(
            cells(&table),
            vec![
                vec!["Home care package", "1", "0.7", "2", "0", "0"],
                vec!["Residential care bed", "3", "4.0", "3", "2", "1"]
            ]
        );
    }

    #[test]
    fn places_available_each_day_by_type_and_pathway() {
        let (_, days) = three_days();
        let f = places_available_per_day(
            &types(),
            &[
                available("2026-11-20", "residential", 3, 5),
                available("2026-11-22", "home_care", 1, 2),
                available("2026-11-22", "residential", 3, 3),
            ],
            &days,
        );
        assert_eq!(
            f.table.columns,
            vec![
                "Day",
                "Home care package",
                "Residential care bed",
                "Pathway 1",
                "Pathway 2",
                "Pathway 3",
                "Total"
            ]
        );
        assert_eq!(
            cells(&f.table),
            vec![
                vec!["2026-11-20", "0", "5", "0", "0", "5", "5"],
                vec!["2026-11-21", "0", "0", "0", "0", "0", "0"],
                vec!["2026-11-22", "2", "3", "2", "0", "3", "5"],
            ]
        );
        assert!(f.chart.is_some_and(|svg| svg.contains("chart-places")));
    }

    #[test]
    fn demand_and_capacity_are_projected_from_the_mean_of_the_last_days() {
        let (_, days) = three_days();
        let new = |d: &str, pathway: Option<i16>, patients: i64| NewWaiting {
            day: day(d),
            pathway,
            patients,
        };
        let offer = |d: &str, pathway: i16, places: i64| PlacesAvailable {
            day: day(d),
            service_type: "any".into(),
            pathway,
            places,
        };
        let f = demand_against_capacity(
            day("2026-11-22"),
            &days,
            &[
                new("2026-11-20", Some(1), 2),
                new("2026-11-20", None, 1),
                // pathway 0 needs no care: not demand
                new("2026-11-21", Some(0), 4),
                new("2026-11-22", Some(3), 3),
                new("2026-11-25", Some(3), 9),
            ],
            &[offer("2026-11-21", 2, 5), offer("2026-11-22", 3, 1)],
        );
        let rows = cells(&f.table);
        assert_eq!(rows.len(), 3 + 7);
        assert_eq!(
            rows[0],
            vec!["2026-11-20", "2", "0", "0", "1", "0", "0", "0", "", ""]
        );
        assert_eq!(
            rows[1],
            vec!["2026-11-21", "0", "0", "0", "0", "0", "5", "0", "", ""]
        );
        assert_eq!(
            rows[2],
            vec!["2026-11-22", "0", "0", "3", "0", "0", "0", "1", "", ""]
        );
        // (3 + 0 + 3) / 3 days and (0 + 5 + 1) / 3 days
        assert_eq!(
            rows[3],
            vec!["2026-11-23", "", "", "", "", "", "", "", "2.0", "2.0"]
        );
        assert_eq!(rows[9][0], "2026-11-29");
        assert!(f.chart.is_some_and(|svg| svg.contains("chart-demand")));
    }

    #[test]
    fn the_six_commonest_delay_reasons_get_columns_and_the_rest_are_other() {
        let (_, days) = three_days();
        let w = |d: &str, reason: &str, patients: i64| WaitingCount {
            day: day(d),
            reason: reason.into(),
            patients,
        };
        let mut waiting = vec![
            w("2026-11-20", "none", 5),
            w("2026-11-21", "transport", 4),
            w("2026-11-22", "transport", 3),
        ];
        // seven more reasons, one patient-day each except "awaiting_p3" (2)
        for reason in ["a1", "a2", "a3", "a4", "a5", "a6"] {
            waiting.push(w("2026-11-21", reason, 1));
        }
        waiting.push(w("2026-11-22", "awaiting_p3", 2));
        let labels = vec![("transport".to_string(), "Awaiting transport".to_string())];
        let f = delay_reasons_over_time(&days, &labels, &waiting);
        assert_eq!(
            f.table.columns,
            vec![
                "Day",
                "Awaiting transport",
                "No reason recorded",
                "awaiting_p3",
                "a1",
                "a2",
                "a3",
                "Other reasons"
            ]
        );
        assert_eq!(
            cells(&f.table),
            vec![
                vec!["2026-11-20", "0", "5", "0", "0", "0", "0", "0"],
                vec!["2026-11-21", "4", "0", "0", "1", "1", "1", "3"],
                vec!["2026-11-22", "3", "0", "2", "0", "0", "0", "0"],
            ]
        );
        assert!(f.chart.is_some_and(|svg| svg.contains("chart-reasons")));
    }

    #[test]
    fn the_previous_and_next_ranges_have_the_same_length() {
        let today = day("2026-11-22");
        let (prev, next) = neighbouring_ranges(day("2026-11-01"), day("2026-11-07"), today);
        assert_eq!(prev, (day("2026-10-25"), day("2026-10-31")));
        assert_eq!(next, Some((day("2026-11-08"), day("2026-11-14"))));
        // the next range stops at today, keeping its length
        let (_, next) = neighbouring_ranges(day("2026-11-10"), day("2026-11-19"), today);
        assert_eq!(next, Some((day("2026-11-13"), day("2026-11-22"))));
        let (_, next) = neighbouring_ranges(day("2026-11-16"), today, today);
        assert_eq!(next, None);
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }
}
