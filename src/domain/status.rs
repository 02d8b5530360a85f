//! The case status machine of CONTRACT.md. Every status change in Homeward goes through
//! [`CaseStatus::apply`]; nothing else decides whether a move is allowed.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// In hospital, still meets the criteria to reside.
    Planning,
    /// Not meeting the criteria, no pathway chosen yet.
    AwaitingTriage,
    /// Pathway 1-3 chosen, no accepted referral yet.
    AwaitingCare,
    /// A provider accepted; a place is reserved.
    CareArranged,
    /// Pathway 0, or care arranged and confirmed for a date.
    ReadyToGo,
    Discharged,
    Cancelled,
}

pub const ALL_STATUSES: [CaseStatus; 7] = [
    CaseStatus::Planning,
    CaseStatus::AwaitingTriage,
    CaseStatus::AwaitingCare,
    CaseStatus::CareArranged,
    CaseStatus::ReadyToGo,
    CaseStatus::Discharged,
    CaseStatus::Cancelled,
];

/// A discharge pathway, 0 to 3 (DOMAIN.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pathway(u8);

impl Pathway {
    pub fn new(n: i64) -> Option<Self> {
        (0..=3).contains(&n).then_some(Pathway(n as u8))
    }
    pub fn number(self) -> i16 {
        i16::from(self.0)
    }
    pub fn needs_care(self) -> bool {
        self.0 > 0
    }
}

impl FromStr for Pathway {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        s.trim()
            .parse::<i64>()
            .ok()
            .and_then(Pathway::new)
            .ok_or(())
    }
}

impl fmt::Display for Pathway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Something that happens to a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseEvent {
    /// The patient no longer meets the criteria to reside.
    StopsMeetingCriteria,
    /// The patient meets the criteria again (deteriorated).
    MeetsCriteriaAgain,
    ChoosePathway(Pathway),
    /// A provider accepted a referral.
    CareAccepted,
    /// A discharge date is planned.
    PlanDischarge,
    Discharge,
    Cancel,
    /// The hospital cancelled the discharge (HL7 A13): the case returns to the open status
    /// it had before it.
    ReopenDischarge(CaseStatus),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TransitionError {
    pub message: String,
}

impl CaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Planning => "planning",
            CaseStatus::AwaitingTriage => "awaiting_triage",
            CaseStatus::AwaitingCare => "awaiting_care",
            CaseStatus::CareArranged => "care_arranged",
            CaseStatus::ReadyToGo => "ready_to_go",
            CaseStatus::Discharged => "discharged",
            CaseStatus::Cancelled => "cancelled",
        }
    }

    /// What people read on the pages.
    pub fn label(self) -> &'static str {
        match self {
            CaseStatus::Planning => "Meets criteria to reside",
            CaseStatus::AwaitingTriage => "Awaiting triage",
            CaseStatus::AwaitingCare => "Awaiting care",
            CaseStatus::CareArranged => "Care arranged",
            CaseStatus::ReadyToGo => "Ready to go",
            CaseStatus::Discharged => "Discharged",
            CaseStatus::Cancelled => "Cancelled",
        }
    }

    /// NHS tag colour class for the status.
    pub fn tag_class(self) -> &'static str {
        match self {
            CaseStatus::Planning => "nhsuk-tag--grey",
            CaseStatus::AwaitingTriage => "nhsuk-tag--orange",
            CaseStatus::AwaitingCare => "nhsuk-tag--yellow",
            CaseStatus::CareArranged => "nhsuk-tag--aqua-green",
            CaseStatus::ReadyToGo => "nhsuk-tag--green",
            CaseStatus::Discharged => "nhsuk-tag--blue",
            CaseStatus::Cancelled => "nhsuk-tag--white",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, CaseStatus::Discharged | CaseStatus::Cancelled)
    }

    /// Not meeting the criteria to reside: the discharge-ready clock is running.
    pub fn is_nctr(self) -> bool {
        matches!(
            self,
            CaseStatus::AwaitingTriage
                | CaseStatus::AwaitingCare
                | CaseStatus::CareArranged
                | CaseStatus::ReadyToGo
        )
    }

    /// The one place that says which moves are allowed.
    ///
    /// `pathway` is the case's current pathway (pathway 0 may plan a date without care).
    pub fn apply(
        self,
        event: CaseEvent,
        pathway: Option<Pathway>,
    ) -> Result<CaseStatus, TransitionError> {
        use CaseEvent as E;
        use CaseStatus as S;
        let next = match (self, event) {
            (S::Discharged, E::ReopenDischarge(before)) if !before.is_terminal() => before,
            (_, E::ReopenDischarge(_)) => {
                return Err(refuse(
                    "Only a discharge can be cancelled, back to an open status".into(),
                ));
            }
            (S::Discharged | S::Cancelled, _) => {
                return Err(refuse(format!(
                    "The case is {} and can no longer change",
                    self.as_str()
                )));
            }
            (S::Planning, E::StopsMeetingCriteria) => S::AwaitingTriage,
            (_, E::StopsMeetingCriteria) => {
                return Err(refuse(
                    "The patient is already recorded as not meeting the criteria to reside".into(),
                ));
            }
            (S::Planning, E::MeetsCriteriaAgain) => {
                return Err(refuse(
                    "The patient is already recorded as meeting the criteria to reside".into(),
                ));
            }
            (_, E::MeetsCriteriaAgain) => S::Planning,
            (S::Planning, E::ChoosePathway(_)) => {
                return Err(refuse(
                    "A pathway can only be chosen once the patient no longer meets the criteria to reside".into(),
                ));
            }
            (S::CareArranged, E::ChoosePathway(_)) => {
                return Err(refuse(
                    "Care is already arranged; the pathway cannot change now".into(),
                ));
            }
            (S::ReadyToGo, E::ChoosePathway(_)) if pathway.is_some_and(|p| p.needs_care()) => {
                return Err(refuse(
                    "Care is already arranged; the pathway cannot change now".into(),
                ));
            }
            (_, E::ChoosePathway(p)) if p.needs_care() => S::AwaitingCare,
            (_, E::ChoosePathway(_)) => S::ReadyToGo,
            (S::AwaitingCare, E::CareAccepted) => S::CareArranged,
            (_, E::CareAccepted) => {
                return Err(refuse("The patient is not awaiting care".into()));
            }
            (S::CareArranged, E::PlanDischarge) => S::ReadyToGo,
            (S::ReadyToGo, E::PlanDischarge) => S::ReadyToGo,
            (_, E::PlanDischarge) => {
                return Err(refuse(
                    "A discharge can be planned once care is arranged, or on pathway 0".into(),
                ));
            }
            (_, E::Discharge) => S::Discharged,
            (_, E::Cancel) => S::Cancelled,
        };
        Ok(next)
    }
}

fn refuse(message: String) -> TransitionError {
    TransitionError { message }
}

impl FromStr for CaseStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        ALL_STATUSES
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or(())
    }
}

impl fmt::Display for CaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

text_column!(CaseStatus, "case status");

#[cfg(test)]
mod tests {
    use super::*;
    use CaseEvent as E;
    use CaseStatus as S;

    fn p(n: i64) -> Pathway {
        Pathway::new(n).unwrap()
    }

    #[test]
    fn the_ward_to_discharge_journey_on_pathway_two() {
        let s = S::Planning.apply(E::StopsMeetingCriteria, None).unwrap();
        assert_eq!(s, S::AwaitingTriage);
        let s = s.apply(E::ChoosePathway(p(2)), None).unwrap();
        assert_eq!(s, S::AwaitingCare);
        let s = s.apply(E::CareAccepted, Some(p(2))).unwrap();
        assert_eq!(s, S::CareArranged);
        let s = s.apply(E::PlanDischarge, Some(p(2))).unwrap();
        assert_eq!(s, S::ReadyToGo);
        assert_eq!(s.apply(E::Discharge, Some(p(2))).unwrap(), S::Discharged);
    }

    #[test]
    fn pathway_zero_is_ready_to_go_at_once_and_may_plan_a_date() {
        let s = S::AwaitingTriage
            .apply(E::ChoosePathway(p(0)), None)
            .unwrap();
        assert_eq!(s, S::ReadyToGo);
        assert_eq!(s.apply(E::PlanDischarge, Some(p(0))).unwrap(), S::ReadyToGo);
        // and may still be moved to a pathway that needs care
        assert_eq!(
            s.apply(E::ChoosePathway(p(1)), Some(p(0))).unwrap(),
            S::AwaitingCare
        );
    }

    #[test]
    fn meeting_criteria_again_returns_any_open_nctr_case_to_planning() {
        for s in [
            S::AwaitingTriage,
            S::AwaitingCare,
            S::CareArranged,
            S::ReadyToGo,
        ] {
            assert_eq!(
                s.apply(E::MeetsCriteriaAgain, Some(p(1))).unwrap(),
                S::Planning
            );
        }
        assert!(S::Planning.apply(E::MeetsCriteriaAgain, None).is_err());
    }

    #[test]
    fn terminal_statuses_never_move() {
        let events = [
            E::StopsMeetingCriteria,
            E::MeetsCriteriaAgain,
            E::ChoosePathway(p(1)),
            E::CareAccepted,
            E::PlanDischarge,
            E::Discharge,
            E::Cancel,
        ];
        for s in [S::Discharged, S::Cancelled] {
            for e in events {
                assert!(s.apply(e, Some(p(1))).is_err(), "{s:?} accepted {e:?}");
            }
        }
    }

    #[test]
    fn refused_moves() {
        assert!(S::Planning.apply(E::ChoosePathway(p(1)), None).is_err());
        assert!(S::AwaitingTriage.apply(E::CareAccepted, None).is_err());
        assert!(S::AwaitingTriage.apply(E::PlanDischarge, None).is_err());
        assert!(S::AwaitingCare.apply(E::PlanDischarge, Some(p(3))).is_err());
        assert!(
            S::CareArranged
                .apply(E::ChoosePathway(p(3)), Some(p(2)))
                .is_err()
        );
        assert!(
            S::ReadyToGo
                .apply(E::ChoosePathway(p(3)), Some(p(2)))
                .is_err()
        );
        assert!(
            S::AwaitingCare
                .apply(E::StopsMeetingCriteria, Some(p(1)))
                .is_err()
        );
    }

    #[test]
    fn any_open_case_can_be_discharged_or_cancelled() {
        for s in [
            S::Planning,
            S::AwaitingTriage,
            S::AwaitingCare,
            S::CareArranged,
            S::ReadyToGo,
        ] {
            assert_eq!(s.apply(E::Discharge, None).unwrap(), S::Discharged);
            assert_eq!(s.apply(E::Cancel, None).unwrap(), S::Cancelled);
        }
    }

    #[test]
    fn only_a_discharge_reopens_and_only_to_an_open_status() {
        assert_eq!(
            S::Discharged
                .apply(E::ReopenDischarge(S::AwaitingCare), Some(p(1)))
                .unwrap(),
            S::AwaitingCare
        );
        assert!(
            S::Discharged
                .apply(E::ReopenDischarge(S::Cancelled), None)
                .is_err()
        );
        for s in [S::Planning, S::Cancelled, S::ReadyToGo] {
            assert!(s.apply(E::ReopenDischarge(S::Planning), None).is_err());
        }
    }

    #[test]
    fn status_names_round_trip() {
        for s in ALL_STATUSES {
            assert_eq!(s.as_str().parse::<S>(), Ok(s));
        }
        assert!("waiting".parse::<S>().is_err());
    }

    #[test]
    fn pathway_bounds() {
        assert!(Pathway::new(-1).is_none());
        assert!(Pathway::new(4).is_none());
        assert_eq!("3".parse::<Pathway>().unwrap().number(), 3);
        assert!("x".parse::<Pathway>().is_err());
    }
}
