//! How a hospital stay ends, coded (CONTRACT.md "Patients (additions)"): why a case closed
//! without a discharge, whether the NHS number is known, and how the national returns count
//! each ending. The national lists themselves (destinations within pathway, discharge
//! methods, the returns' reasons) are reference data in tables; what is here are Homeward's
//! own closed sets, fixed by the contract.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Why a case was closed without a discharge through the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// The patient died in hospital: a discharge (method 4) for the national returns.
    Died,
    /// Transferred to another hospital.
    TransferredOut,
    /// The patient discharged themselves.
    SelfDischarged,
    /// Anything else, said in words (`reason`).
    Other,
}

impl CancelReason {
    pub const ALL: [CancelReason; 4] = [
        CancelReason::Died,
        CancelReason::TransferredOut,
        CancelReason::SelfDischarged,
        CancelReason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CancelReason::Died => "died",
            CancelReason::TransferredOut => "transferred_out",
            CancelReason::SelfDischarged => "self_discharged",
            CancelReason::Other => "other",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            CancelReason::Died => "Died in hospital",
            CancelReason::TransferredOut => "Transferred to another hospital",
            CancelReason::SelfDischarged => "Self-discharged",
            CancelReason::Other => "Other reason",
        }
    }
}

impl FromStr for CancelReason {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|r| r.as_str() == s).ok_or(())
    }
}

impl fmt::Display for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

text_column!(CancelReason, "cancellation reason");

/// Whether the case carries the patient's NHS number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NhsNumberStatus {
    Known,
    /// Not known (yet): the hospital number (`local_id`) identifies the patient.
    Unknown,
}

impl NhsNumberStatus {
    pub const ALL: [NhsNumberStatus; 2] = [NhsNumberStatus::Known, NhsNumberStatus::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            NhsNumberStatus::Known => "known",
            NhsNumberStatus::Unknown => "unknown",
        }
    }
}

impl FromStr for NhsNumberStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|r| r.as_str() == s).ok_or(())
    }
}

impl fmt::Display for NhsNumberStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

text_column!(NhsNumberStatus, "NHS number status");

/// NHS Data Dictionary discharge method "patient died".
pub const METHOD_DIED: &str = "4";
/// The default discharge method: on clinical advice or with clinical consent.
pub const METHOD_CLINICAL_ADVICE: &str = "1";

/// How a national return counts the end of a stay in its destination table (table 4). The
/// categories are the return's destinations within pathway; the other keys are endings
/// the return counts as discharges but that have no destination within a pathway, kept so
/// that the destinations add up to the discharges.
pub fn destination_key(
    destination: Option<&str>,
    method: Option<&str>,
    cancel_reason: Option<CancelReason>,
    cancelled: bool,
) -> String {
    if cancelled {
        return match cancel_reason {
            Some(CancelReason::Died) => DIED,
            Some(CancelReason::TransferredOut) => TRANSFERRED_OUT,
            Some(CancelReason::SelfDischarged) => SELF_DISCHARGED,
            Some(CancelReason::Other) | None => OTHER_ENDING,
        }
        .to_string();
    }
    match (destination, method) {
        (Some(d), _) => d.to_string(),
        (None, Some(METHOD_DIED)) => DIED.to_string(),
        (None, _) => NOT_RECORDED.to_string(),
    }
}

/// Died in hospital (discharge method 4, or a case cancelled as `died`).
pub const DIED: &str = "died";
/// A case cancelled as transferred to another hospital.
pub const TRANSFERRED_OUT: &str = "transferred_out";
/// A case cancelled as self-discharged.
pub const SELF_DISCHARGED: &str = "self_discharged";
/// A case cancelled for another reason (or before reasons were coded).
pub const OTHER_ENDING: &str = "other_ending";
/// A discharge recorded without a destination.
pub const NOT_RECORDED: &str = "not_recorded";

/// The keys after the destination categories, in the order the returns list them.
pub const ENDING_KEYS: [(&str, &str); 5] = [
    (DIED, "Died"),
    (TRANSFERRED_OUT, "Transferred to another hospital"),
    (SELF_DISCHARGED, "Self-discharged"),
    (OTHER_ENDING, "Case closed for another reason"),
    (NOT_RECORDED, "Destination not recorded"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in CancelReason::ALL {
            assert_eq!(r.as_str().parse::<CancelReason>(), Ok(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        for s in NhsNumberStatus::ALL {
            assert_eq!(s.as_str().parse::<NhsNumberStatus>(), Ok(s));
        }
        assert!("dead".parse::<CancelReason>().is_err());
    }

    #[test]
    fn every_ending_has_one_destination_key() {
        assert_eq!(
            destination_key(Some("p1_home"), Some("1"), None, false),
            "p1_home"
        );
        assert_eq!(destination_key(None, Some("4"), None, false), DIED);
        assert_eq!(destination_key(None, Some("1"), None, false), NOT_RECORDED);
        assert_eq!(destination_key(None, None, None, false), NOT_RECORDED);
        assert_eq!(
            destination_key(None, None, Some(CancelReason::Died), true),
            DIED
        );
        assert_eq!(
            destination_key(None, None, Some(CancelReason::TransferredOut), true),
            TRANSFERRED_OUT
        );
        assert_eq!(
            destination_key(None, None, Some(CancelReason::SelfDischarged), true),
            SELF_DISCHARGED
        );
        assert_eq!(destination_key(None, None, None, true), OTHER_ENDING);
    }
}
