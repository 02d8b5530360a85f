//! What a case's history says happened: one [`CaseAction`] for each kind of change. The
//! names are stored in `patient_history.action`, returned by the history API
//! (CONTRACT.md) and matched by the reports, so a name never changes once in use.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseAction {
    /// The ward (or hub) flagged the patient: the case's first row.
    Created,
    NotMeetingCriteria,
    MeetsCriteria,
    PathwayChosen,
    DelayReasonSet,
    DetailsUpdated,
    DischargePlanned,
    Discharged,
    Cancelled,
    CoordinatorAssigned,
    /// The hub referred the patient to an offer.
    Referred,
    ReferralAccepted,
    ReferralDeclined,
    /// One pending referral withdrawn because its offer was withdrawn.
    ReferralWithdrawn,
    /// The other pending referrals withdrawn because one was accepted.
    ReferralsWithdrawn,
    ChoiceInformation,
    ChoiceLetter,
    ChoicePreferences,
    ChoiceEscalated,
    ChoiceOutcome,
    /// A provider accepted while acceptances are held for the patient to choose.
    PlaceHeld,
    /// The hub booked one held place; the others gave theirs back.
    PlaceBooked,
    /// A held place was given back because nobody booked it in time.
    HoldLapsed,
    /// The hospital moved the patient to another ward or bed (the feed's A02).
    Transferred,
    /// The hospital changed the patient's name, date of birth, sex, postcode or identifiers
    /// (the feed's A01/A04 on an open case, A08).
    DemographicsUpdated,
    /// The hospital cancelled a discharge it had sent (the feed's A13): the case is open again.
    DischargeCancelled,
    /// The hospital merged two records of one patient (the feed's A40).
    Merged,
}

impl CaseAction {
    pub const ALL: [CaseAction; 27] = [
        CaseAction::Created,
        CaseAction::NotMeetingCriteria,
        CaseAction::MeetsCriteria,
        CaseAction::PathwayChosen,
        CaseAction::DelayReasonSet,
        CaseAction::DetailsUpdated,
        CaseAction::DischargePlanned,
        CaseAction::Discharged,
        CaseAction::Cancelled,
        CaseAction::CoordinatorAssigned,
        CaseAction::Referred,
        CaseAction::ReferralAccepted,
        CaseAction::ReferralDeclined,
        CaseAction::ReferralWithdrawn,
        CaseAction::ReferralsWithdrawn,
        CaseAction::ChoiceInformation,
        CaseAction::ChoiceLetter,
        CaseAction::ChoicePreferences,
        CaseAction::ChoiceEscalated,
        CaseAction::ChoiceOutcome,
        CaseAction::PlaceHeld,
        CaseAction::PlaceBooked,
        CaseAction::HoldLapsed,
        CaseAction::Transferred,
        CaseAction::DemographicsUpdated,
        CaseAction::DischargeCancelled,
        CaseAction::Merged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseAction::Created => "created",
            CaseAction::NotMeetingCriteria => "not_meeting_criteria",
            CaseAction::MeetsCriteria => "meets_criteria",
            CaseAction::PathwayChosen => "pathway_chosen",
            CaseAction::DelayReasonSet => "delay_reason_set",
            CaseAction::DetailsUpdated => "details_updated",
            CaseAction::DischargePlanned => "discharge_planned",
            CaseAction::Discharged => "discharged",
            CaseAction::Cancelled => "cancelled",
            CaseAction::CoordinatorAssigned => "coordinator_assigned",
            CaseAction::Referred => "referred",
            CaseAction::ReferralAccepted => "referral_accepted",
            CaseAction::ReferralDeclined => "referral_declined",
            CaseAction::ReferralWithdrawn => "referral_withdrawn",
            CaseAction::ReferralsWithdrawn => "referrals_withdrawn",
            CaseAction::ChoiceInformation => "choice_information",
            CaseAction::ChoiceLetter => "choice_letter",
            CaseAction::ChoicePreferences => "choice_preferences",
            CaseAction::ChoiceEscalated => "choice_escalated",
            CaseAction::ChoiceOutcome => "choice_outcome",
            CaseAction::PlaceHeld => "place_held",
            CaseAction::PlaceBooked => "place_booked",
            CaseAction::HoldLapsed => "hold_lapsed",
            CaseAction::Transferred => "transferred",
            CaseAction::DemographicsUpdated => "demographics_updated",
            CaseAction::DischargeCancelled => "discharge_cancelled",
            CaseAction::Merged => "merged",
        }
    }
}

impl FromStr for CaseAction {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|a| a.as_str() == s).ok_or(())
    }
}

impl fmt::Display for CaseAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

text_column!(CaseAction, "case history action");

#[cfg(test)]
mod tests {
    use super::CaseAction;

    #[test]
    fn names_round_trip_and_serialise_as_stored() {
        for a in CaseAction::ALL {
            assert_eq!(a.as_str().parse::<CaseAction>(), Ok(a));
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
        }
        let mut names: Vec<&str> = CaseAction::ALL.map(CaseAction::as_str).to_vec();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CaseAction::ALL.len(), "every name once");
    }
}
