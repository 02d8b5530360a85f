//! A case as one line of a list, with everything already formatted: what the worklist, the
//! ward list, the board round and the provider's referrals show for each case.

use super::CaseRow;
use crate::domain::time::display_london;
use crate::domain::{CaseStatus, PatientId};
use chrono::{DateTime, Utc};

/// One case as a line in a list, with everything already formatted.
pub struct CaseLine {
    pub id: PatientId,
    pub name: String,
    pub nhs_number: String,
    /// The NHS number, or when it is not known the hospital number, in few characters.
    pub number_short: String,
    pub age: i32,
    pub ward_code: String,
    pub ward_name: String,
    pub trust_code: String,
    pub bed: String,
    pub status_label: &'static str,
    pub status_tag: &'static str,
    pub pathway: String,
    pub ready: String,
    pub waiting: String,
    /// The wait in few characters, for compact lists: hours for the first two days, then days.
    pub waiting_short: String,
    pub over_24h: bool,
    /// Pathway 1-3, nothing arranged, past 24 hours: the 24-hour standard is missed.
    pub escalated: bool,
    pub delay_reason: String,
    pub missing_reason: bool,
    /// The recorded delay reason no longer fits the case ([`crate::domain::delay::misfit`]).
    pub reason_misfit: bool,
    pub coordinator: String,
    pub edd: String,
    /// A referral decision the reader has not seen ("Accepted by Meadowbank").
    pub news: Option<String>,
    /// The same in a word ("Accepted", "Declined"), for a tag.
    pub news_word: &'static str,
    /// Whether the news is an acceptance (else a decline or withdrawal).
    pub news_good: bool,
    /// Awaiting triage: the hub must choose a pathway.
    pub needs_triage: bool,
    /// Still meets the criteria to reside (`planning`): the ward may flag the patient.
    pub meets_criteria: bool,
}

/// "3 days (76 hours)" style wait text.
fn waiting_text(hours: i64, days: i64) -> String {
    let h = if hours == 1 {
        "hour".to_string()
    } else {
        "hours".to_string()
    };
    match days {
        0 => format!("{hours} {h}"),
        1 => format!("1 day ({hours} {h})"),
        d => format!("{d} days ({hours} {h})"),
    }
}

impl CaseLine {
    pub fn new(c: &CaseRow, now: DateTime<Utc>) -> Self {
        let status = c.status;
        let hours = c.hours_waiting(now);
        let days = c.delay_days(now);
        CaseLine {
            id: c.id,
            name: c.full_name(),
            nhs_number: c.nhs_number_formatted(),
            number_short: match (&c.nhs_number, &c.local_id) {
                (Some(_), _) => c.nhs_number_formatted(),
                (None, Some(local)) => format!("Hosp. no. {local}"),
                (None, None) => "Not known".into(),
            },
            age: c.age(now),
            ward_code: c.ward_code.clone(),
            ward_name: c.ward_name.clone(),
            trust_code: c.trust_code.clone(),
            bed: c.bed.clone(),
            status_label: status.label(),
            status_tag: status.tag_class(),
            pathway: c.pathway.map(|p| p.to_string()).unwrap_or_default(),
            ready: c.discharge_ready_at.map(display_london).unwrap_or_default(),
            waiting: match (hours, days) {
                (Some(h), Some(d)) => waiting_text(h, d),
                _ => String::new(),
            },
            waiting_short: match (hours, days) {
                (Some(1), _) => "1 hour".into(),
                (Some(h), _) if h < 48 => format!("{h} hours"),
                (_, Some(d)) => format!("{d} days"),
                _ => String::new(),
            },
            over_24h: hours.is_some_and(|h| h >= 24) && !status.is_terminal(),
            escalated: hours.is_some_and(|h| h >= 24) && status == CaseStatus::AwaitingCare,
            delay_reason: c.delay_reason_label.clone().unwrap_or_default(),
            missing_reason: status.is_nctr()
                && c.delay_reason.is_none()
                && hours.is_some_and(|h| h >= 24),
            reason_misfit: c.delay_reason.as_deref().is_some_and(|code| {
                crate::domain::delay::misfit(code, c.pathway(), status).is_some()
            }),
            coordinator: c.coordinator.clone().unwrap_or_default(),
            edd: c
                .expected_discharge_date
                .map(|d| d.format("%-d %b %Y").to_string())
                .unwrap_or_default(),
            news: None,
            news_word: "",
            news_good: false,
            needs_triage: status == CaseStatus::AwaitingTriage,
            meets_criteria: status == CaseStatus::Planning,
        }
    }

    /// The line with the news a list found for it.
    pub fn with_news(mut self, news: Option<&crate::cases::list::News>) -> Self {
        self.news = news.map(|n| n.text());
        self.news_good = news.is_some_and(|n| n.status == "accepted");
        self.news_word = match news.map(|n| n.status.as_str()) {
            None => "",
            Some("accepted") => "Accepted",
            Some("declined") => "Declined",
            Some(_) => "Referral changed",
        };
        self
    }
}
