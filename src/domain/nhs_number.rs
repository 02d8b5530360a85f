//! NHS numbers: 10 digits whose last is a Modulus 11 check digit.

use std::fmt;
use std::str::FromStr;

/// A valid NHS number, stored as its 10 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NhsNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NhsNumberError {
    #[error("Enter the NHS number")]
    Empty,
    #[error("NHS number must be 10 digits")]
    WrongLength,
    #[error("Enter a valid NHS number")]
    BadCheckDigit,
    /// One digit ten times (`0000000000`, `4444444444`, `9999999999`): each passes the check
    /// digit, but none is ever issued; they are typed for "unknown" and would block the next
    /// unknown patient as a duplicate.
    #[error(
        "That is a placeholder, not an NHS number: if the NHS number is not known, say so and give the hospital number"
    )]
    Placeholder,
}

impl NhsNumber {
    /// Parses user input: spaces and hyphens are ignored, then the 10 digits must pass the
    /// Modulus 11 check (DOMAIN.md) and must not be one digit repeated (never issued).
    pub fn parse(input: &str) -> Result<Self, NhsNumberError> {
        let digits: String = input
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if digits.is_empty() {
            return Err(NhsNumberError::Empty);
        }
        if digits.len() != 10 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(NhsNumberError::WrongLength);
        }
        let d: Vec<u32> = digits.bytes().map(|b| u32::from(b - b'0')).collect();
        if d.iter().all(|x| *x == d[0]) {
            return Err(NhsNumberError::Placeholder);
        }
        match check_digit(&d[..9]) {
            Some(check) if check == d[9] => Ok(NhsNumber(digits)),
            _ => Err(NhsNumberError::BadCheckDigit),
        }
    }

    /// Completes nine digits into a valid NHS number, if any check digit exists for them
    /// (about one in eleven prefixes has none, and a placeholder is no number). Used for demo data.
    pub fn from_prefix(prefix: [u32; 9]) -> Option<Self> {
        let check = check_digit(&prefix)?;
        if prefix.iter().all(|d| *d == check) {
            return None;
        }
        let mut s: String = prefix.iter().map(|d| char::from(b'0' + *d as u8)).collect();
        s.push(char::from(b'0' + check as u8));
        Some(NhsNumber(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 3-3-4 form people read: `943 476 5919`.
    pub fn formatted(&self) -> String {
        format!("{} {} {}", &self.0[..3], &self.0[3..6], &self.0[6..])
    }
}

/// Modulus 11: weights 10..2 over the first nine digits. `None` when the result is 10,
/// which means no valid NHS number starts with these digits.
fn check_digit(first_nine: &[u32]) -> Option<u32> {
    let sum: u32 = first_nine
        .iter()
        .zip((2..=10).rev())
        .map(|(d, w)| d * w)
        .sum();
    match 11 - (sum % 11) {
        11 => Some(0),
        10 => None,
        n => Some(n),
    }
}

impl FromStr for NhsNumber {
    type Err = NhsNumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for NhsNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Formats stored digits as 3-3-4 for display; leaves anything unexpected alone.
pub fn format_digits(digits: &str) -> String {
    if digits.len() == 10 && digits.bytes().all(|b| b.is_ascii_digit()) {
        format!("{} {} {}", &digits[..3], &digits[3..6], &digits[6..])
    } else {
        digits.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_valid_number() {
        assert_eq!(
            NhsNumber::parse("9434765919").unwrap().as_str(),
            "9434765919"
        );
    }

    #[test]
    fn rejects_a_wrong_check_digit() {
        assert_eq!(
            NhsNumber::parse("9434765918"),
            Err(NhsNumberError::BadCheckDigit)
        );
    }

    #[test]
    fn strips_spaces_and_hyphens() {
        assert_eq!(
            NhsNumber::parse(" 943 476 5919 ").unwrap().as_str(),
            "9434765919"
        );
        assert_eq!(
            NhsNumber::parse("943-476-5919").unwrap().as_str(),
            "9434765919"
        );
    }

    #[test]
    fn rejects_wrong_lengths_and_letters() {
        assert_eq!(NhsNumber::parse(""), Err(NhsNumberError::Empty));
        assert_eq!(
            NhsNumber::parse("943476591"),
            Err(NhsNumberError::WrongLength)
        );
        assert_eq!(
            NhsNumber::parse("94347659190"),
            Err(NhsNumberError::WrongLength)
        );
        assert_eq!(
            NhsNumber::parse("94347A5919"),
            Err(NhsNumberError::WrongLength)
        );
    }

    #[test]
    fn a_remainder_of_one_means_no_valid_number() {
        // 000000001: sum = 1*2 = 2 -> 11 - 2 = 9 -> check 9
        assert!(NhsNumber::parse("0000000019").is_ok());
        // 000000005: sum = 10 -> 11 - 10 = 1
        assert!(NhsNumber::parse("0000000051").is_ok());
        // 000000000 -> sum 0 -> 11 -> check 0: valid digits, but a placeholder (below)
        assert_eq!(
            NhsNumber::parse("0000000000"),
            Err(NhsNumberError::Placeholder)
        );
        // 0000000060: digits 0..0,6 at weight 2 -> sum 12 -> 12 % 11 = 1 -> 10: invalid for any check digit
        for last in 0..=9 {
            assert!(NhsNumber::parse(&format!("000000006{last}")).is_err());
        }
        assert!(NhsNumber::from_prefix([0, 0, 0, 0, 0, 0, 0, 0, 6]).is_none());
    }

    #[test]
    fn placeholders_pass_the_check_digit_but_are_refused() {
        // every digit repeated ten times has a valid check digit (sum 54d, check d)
        for d in 0..=9 {
            let number = d.to_string().repeat(10);
            let first_nine: Vec<u32> = vec![d; 9];
            assert_eq!(check_digit(&first_nine), Some(d), "{number}");
            assert_eq!(
                NhsNumber::parse(&number),
                Err(NhsNumberError::Placeholder),
                "{number}"
            );
        }
        assert_eq!(
            NhsNumber::parse("444 444 4444"),
            Err(NhsNumberError::Placeholder)
        );
        assert!(NhsNumber::parse("9999999999").is_err());
    }

    #[test]
    fn from_prefix_builds_valid_numbers() {
        let n = NhsNumber::from_prefix([9, 4, 3, 4, 7, 6, 5, 9, 1]).unwrap();
        assert_eq!(n.as_str(), "9434765919");
        assert_eq!(n.formatted(), "943 476 5919");
    }
}
