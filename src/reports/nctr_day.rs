//! The patients a day's reports count: everyone who did not meet the criteria to reside at
//! some point on the day, with the facts the sitrep and the national returns classify them
//! by. One fetch, shared by both, so the two reports can never disagree about who was there.
//!
//! A period of not meeting the criteria runs from its start to its end, both included: the
//! patient was not meeting them at the instant they left (a discharge at 00:00 ends a period
//! that touches that day), and a period that ends the instant it starts still happened. So
//! a patient counts on a day when a period started on or before the day's cut-off and had
//! not ended before the day began: they were still not meeting the criteria as the day
//! began, or stopped meeting them during it.

use super::day::Day;
use crate::domain::CancelReason;
use crate::error::AppError;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgExecutor};

/// A patient not meeting the criteria at some point on a day, as the records stand.
#[derive(Debug, Clone, FromRow)]
pub struct NctrOnDay {
    pub trust_code: String,
    pub pathway: Option<i16>,
    pub admitted_at: DateTime<Utc>,
    pub date_of_birth: NaiveDate,
    pub discharged_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub discharge_destination: Option<String>,
    pub discharge_method: Option<String>,
    pub cancel_reason_code: Option<CancelReason>,
    /// The start of the period still open at the cut-off, if any: the discharge ready
    /// date and time then.
    pub open_since: Option<DateTime<Utc>>,
    /// The delay reason in force at the cut-off: of the reasons (and clearings) that had
    /// taken effect by then, the one recorded last. A clearing back-dated to when the
    /// patient met the criteria again is recorded after the reason it clears, so it wins
    /// even though it took effect earlier.
    pub reason: Option<String>,
}

impl NctrOnDay {
    /// Discharged (left hospital through a discharge) on the day.
    pub fn discharged_on(&self, day: &Day) -> bool {
        self.discharged_at.is_some_and(|t| day.contains(t))
    }

    /// The case was closed without a discharge on the day.
    pub fn cancelled_on(&self, day: &Day) -> bool {
        self.cancelled_at.is_some_and(|t| day.contains(t))
    }
}

/// Everyone not meeting the criteria at some point on `day`, in the trusts given.
///
/// The patients are read one by one by id (the `LATERAL ... LIMIT 1`): the planner
/// over-estimates how many periods touch today and would otherwise scan every patient
/// (measured: today's sitrep 157 ms with the scan, 9 ms without, at 500,000 cases).
pub async fn fetch(
    db: impl PgExecutor<'_>,
    day: &Day,
    trusts: &[String],
) -> Result<Vec<NctrOnDay>, AppError> {
    Ok(sqlx::query_as::<_, NctrOnDay>(
        // the periods come through homeward_periods_touching() (a migration): behind the
        // hubs' wall a range test cannot use the range index (range operators are not
        // "leakproof"), so the function runs it as the owner among the connection's hubs
        "WITH touching AS ( \
           SELECT t.patient_id, t.started_at, t.ended_at FROM homeward_periods_touching($1, $2) t \
         ), per_patient AS ( \
           SELECT t.patient_id, max(t.started_at) FILTER (WHERE t.ended_at IS NULL OR t.ended_at > $2) AS open_since \
           FROM touching t GROUP BY t.patient_id \
         ) \
         SELECT p.trust_code, p.pathway, p.admitted_at, p.date_of_birth, p.discharged_at, p.cancelled_at, \
           p.discharge_destination, p.discharge_method, p.cancel_reason_code, pp.open_since, \
           (SELECT h.code FROM delay_reason_history h WHERE h.patient_id = p.id AND h.set_at <= $2 \
              ORDER BY h.id DESC LIMIT 1) AS reason \
         FROM per_patient pp \
         CROSS JOIN LATERAL (SELECT * FROM patients p WHERE p.id = pp.patient_id LIMIT 1) p \
         WHERE p.trust_code = ANY($3)",
    )
    .bind(day.start)
    .bind(day.cutoff)
    .bind(trusts)
    .fetch_all(db)
    .await?)
}
