//! A case as read from the database (with the names the pages show), its history entries
//! and its periods of not meeting the criteria to reside.

use crate::domain::time::{age_on, delay_days, london_date};
use crate::domain::{
    CancelReason, CaseAction, CaseStatus, NhsNumberStatus, Pathway, PatientId, Sex,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::FromRow;

/// A case as read from the database, with the names the pages show.
#[derive(Debug, Clone, FromRow)]
pub struct CaseRow {
    pub id: PatientId,
    /// `None` when the NHS number is not known (`nhs_number_status` unknown).
    pub nhs_number: Option<String>,
    pub nhs_number_status: NhsNumberStatus,
    /// The hospital number.
    pub local_id: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    pub sex: Sex,
    pub postcode: String,
    pub trust_code: String,
    pub ward_code: String,
    pub ward_name: String,
    pub bed: String,
    pub admitted_at: DateTime<Utc>,
    pub expected_discharge_date: Option<NaiveDate>,
    pub needs_summary: String,
    pub status: CaseStatus,
    pub pathway: Option<i16>,
    pub discharge_ready_at: Option<DateTime<Utc>>,
    pub delay_reason: Option<String>,
    pub delay_reason_label: Option<String>,
    pub coordinator_id: Option<i64>,
    pub coordinator: Option<String>,
    pub planned_discharge_at: Option<DateTime<Utc>>,
    pub discharged_at: Option<DateTime<Utc>>,
    pub closed_reason: Option<String>,
    /// Where the patient went: a national destination-within-pathway code.
    pub discharge_destination: Option<String>,
    /// NHS Data Dictionary discharge method.
    pub discharge_method: Option<String>,
    pub cancel_reason_code: Option<CancelReason>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl CaseRow {
    pub fn pathway(&self) -> Option<Pathway> {
        self.pathway.and_then(|p| Pathway::new(i64::from(p)))
    }

    /// Calendar days from the discharge ready date to discharge, or to today.
    pub fn delay_days(&self, now: DateTime<Utc>) -> Option<i64> {
        let ready = self.discharge_ready_at?;
        Some(delay_days(ready, self.discharged_at.unwrap_or(now)))
    }

    /// Hours since the discharge ready time, for the 24-hour standard.
    pub fn hours_waiting(&self, now: DateTime<Utc>) -> Option<i64> {
        let ready = self.discharge_ready_at?;
        Some(
            (self.discharged_at.unwrap_or(now) - ready)
                .num_hours()
                .max(0),
        )
    }

    pub fn age(&self, now: DateTime<Utc>) -> i32 {
        age_on(self.date_of_birth, london_date(now))
    }

    /// The NHS number as people read it (`943 476 5919`), or the hospital number when the
    /// NHS number is not known.
    pub fn nhs_number_formatted(&self) -> String {
        match (&self.nhs_number, &self.local_id) {
            (Some(n), _) => crate::domain::nhs_number::format_digits(n),
            (None, Some(local)) => format!("NHS number not known, hospital number {local}"),
            (None, None) => "NHS number not known".to_string(),
        }
    }

    pub fn full_name(&self) -> String {
        format!("{}, {}", self.family_name.to_uppercase(), self.given_name)
    }
}

/// One row of a case's history, oldest first.
#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    /// Username of whoever made the change.
    pub actor: Option<String>,
    #[schema(value_type = String)]
    pub action: CaseAction,
    pub detail: String,
    #[serde(skip)]
    pub to_status: Option<CaseStatus>,
}

/// A period of not meeting the criteria to reside.
#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct NctrPeriod {
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub ended_by: Option<String>,
    pub ctr_code: Option<String>,
    pub ctr_label: Option<String>,
}
