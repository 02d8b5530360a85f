//! The capacity market's statuses (CONTRACT.md "Capacity offers" and "Referrals").

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a referral stands. Only `pending` can be decided; `accepted` holds a place until
/// the case is discharged (the place is used) or closes otherwise (it is released and the
/// referral withdrawn).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReferralStatus {
    Pending,
    Accepted,
    Declined,
    Withdrawn,
}

impl ReferralStatus {
    pub const ALL: [ReferralStatus; 4] = [
        ReferralStatus::Pending,
        ReferralStatus::Accepted,
        ReferralStatus::Declined,
        ReferralStatus::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReferralStatus::Pending => "pending",
            ReferralStatus::Accepted => "accepted",
            ReferralStatus::Declined => "declined",
            ReferralStatus::Withdrawn => "withdrawn",
        }
    }

    /// Still in play: waiting for an answer, or holding a place.
    pub fn is_live(self) -> bool {
        matches!(self, ReferralStatus::Pending | ReferralStatus::Accepted)
    }
}

impl FromStr for ReferralStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or(())
    }
}

impl fmt::Display for ReferralStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

text_column!(ReferralStatus, "referral status");

/// An offer's status. It is derived, never stored: withdrawn, else expired (past
/// `available_until`), else full (no places left), else open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfferStatus {
    Open,
    Full,
    Withdrawn,
    Expired,
}

impl OfferStatus {
    pub const ALL: [OfferStatus; 4] = [
        OfferStatus::Open,
        OfferStatus::Full,
        OfferStatus::Withdrawn,
        OfferStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OfferStatus::Open => "open",
            OfferStatus::Full => "full",
            OfferStatus::Withdrawn => "withdrawn",
            OfferStatus::Expired => "expired",
        }
    }

    /// Withdrawn or expired: nothing more can happen on it.
    pub fn is_closed(self) -> bool {
        matches!(self, OfferStatus::Withdrawn | OfferStatus::Expired)
    }
}

impl FromStr for OfferStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or(())
    }
}

impl fmt::Display for OfferStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

text_column!(OfferStatus, "offer status");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in ReferralStatus::ALL {
            assert_eq!(s.as_str().parse::<ReferralStatus>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in OfferStatus::ALL {
            assert_eq!(s.as_str().parse::<OfferStatus>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert!("open".parse::<ReferralStatus>().is_err());
        assert!("pending".parse::<OfferStatus>().is_err());
    }
}
