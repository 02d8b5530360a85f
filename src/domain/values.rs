//! Small closed value sets that the contract fixes (roles and sex), and postcodes.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Ward,
    Hub,
    Provider,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Ward, Role::Hub, Role::Provider, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ward => "ward",
            Role::Hub => "hub",
            Role::Provider => "provider",
            Role::Admin => "admin",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Ward => "Ward staff",
            Role::Hub => "Hub coordinator",
            Role::Provider => "Care provider",
            Role::Admin => "Administrator",
        }
    }

    /// The kind of organisation a user of this role belongs to.
    pub fn org_kinds(self) -> &'static [&'static str] {
        match self {
            Role::Ward => &["acute_trust"],
            Role::Hub => &["hub"],
            Role::Provider => &["provider"],
            Role::Admin => &["hub", "acute_trust", "provider"],
        }
    }
}

impl FromStr for Role {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or(())
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

text_column!(Role, "role");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Female,
    Male,
    Other,
    Unknown,
}

impl Sex {
    pub const ALL: [Sex; 4] = [Sex::Female, Sex::Male, Sex::Other, Sex::Unknown];
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
            Sex::Other => "other",
            Sex::Unknown => "unknown",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Sex::Female => "Female",
            Sex::Male => "Male",
            Sex::Other => "Other",
            Sex::Unknown => "Not known",
        }
    }
}

impl FromStr for Sex {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Sex::ALL.into_iter().find(|r| r.as_str() == s).ok_or(())
    }
}

impl fmt::Display for Sex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

text_column!(Sex, "sex");

/// A UK postcode, normalised to upper case with one space before the inward code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Postcode(String);

impl Postcode {
    /// Accepts the shapes of UK postcodes (A9 9AA, A99 9AA, AA9 9AA, AA99 9AA, A9A 9AA,
    /// AA9A 9AA), any spacing and case.
    pub fn parse(input: &str) -> Option<Self> {
        let compact: String = input
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if !(5..=7).contains(&compact.len()) || !compact.is_ascii() {
            return None;
        }
        let (outward, inward) = compact.split_at(compact.len() - 3);
        let inward_ok = {
            let b = inward.as_bytes();
            b[0].is_ascii_digit() && b[1].is_ascii_alphabetic() && b[2].is_ascii_alphabetic()
        };
        let o = outward.as_bytes();
        let outward_ok = o[0].is_ascii_alphabetic()
            && o.iter().all(|c| c.is_ascii_alphanumeric())
            && o.iter().any(|c| c.is_ascii_digit())
            && (o.len() < 2 || o[1].is_ascii_alphanumeric());
        (inward_ok && outward_ok).then(|| Postcode(format!("{outward} {inward}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The outward code ("district") of a stored postcode: `LS9 7TF` -> `LS9`.
pub fn postcode_district(postcode: &str) -> String {
    postcode
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postcodes_are_normalised() {
        assert_eq!(Postcode::parse("ls97tf").unwrap().as_str(), "LS9 7TF");
        assert_eq!(Postcode::parse(" SW1A 1AA ").unwrap().as_str(), "SW1A 1AA");
        assert_eq!(Postcode::parse("M1 1AE").unwrap().as_str(), "M1 1AE");
        assert!(Postcode::parse("hello").is_none());
        assert!(Postcode::parse("12345").is_none());
        assert!(Postcode::parse("LS9 TTF").is_none());
    }

    #[test]
    fn district_is_the_outward_code() {
        assert_eq!(postcode_district("LS9 7TF"), "LS9");
    }

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
    }
}
