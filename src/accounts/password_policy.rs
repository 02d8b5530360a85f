//! The rule for new passwords, after the NCSC's password guidance: length rather than
//! complexity (12 characters or more, any characters, no rules about digits or symbols, no
//! expiry), and a deny-list of the passwords attackers try first. The list is shipped in
//! the repository (`common-passwords.txt`, 49,233 passwords; source and licence in
//! `common-passwords.NOTICE`) and is also matched after the usual disguises: capitals,
//! digits or symbols added at either end ("Password2026!"), common letter swaps
//! ("p@ssw0rd"), and a word repeated ("monkeymonkey"). Words about this service and a
//! password containing the username are refused too. Shared by the CLI, the admin pages and
//! the demo loader.

use std::collections::HashSet;
use std::sync::LazyLock;

pub const MIN_CHARS: usize = 12;
pub const MAX_BYTES: usize = 1024;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .chain(SERVICE_WORDS.iter().copied())
        .collect()
});

/// Words anyone would guess for this service.
const SERVICE_WORDS: &[&str] = &[
    "homeward",
    "nhs",
    "nhsengland",
    "hospital",
    "discharge",
    "transferofcare",
    "carehome",
    "ward",
    "welcome",
    "changeme",
    "letmein",
];

pub const TOO_SHORT: &str = "Password must be 12 characters or more";
pub const TOO_LONG: &str = "Password must be 1024 characters or fewer";
pub const TOO_COMMON: &str = "Password is too easy to guess: it is a common password, or one with only numbers or symbols added. Try three random words";
pub const HAS_USERNAME: &str = "Password must not contain the username";

/// Checks a new password for `username`; the message says what to change.
pub fn check(password: &str, username: &str) -> Result<(), &'static str> {
    if password.chars().count() < MIN_CHARS {
        return Err(TOO_SHORT);
    }
    if password.len() > MAX_BYTES {
        return Err(TOO_LONG);
    }
    let lower = password.to_lowercase();
    let username = username.trim().to_lowercase();
    if username.chars().count() >= 3 && lower.contains(&username) {
        return Err(HAS_USERNAME);
    }
    if guessable(&lower) {
        return Err(TOO_COMMON);
    }
    Ok(())
}

/// Whether a (lower-case) password is on the list, or is a listed password disguised.
fn guessable(lower: &str) -> bool {
    let mut candidates = vec![lower.to_string(), unswap(lower)];
    // a listed word with only digits or symbols around it (a word long enough to matter)
    let core = lower.trim_matches(|c: char| !c.is_alphabetic());
    if core.chars().count() >= 4 && core != lower {
        candidates.extend([core.to_string(), unswap(core)]);
    }
    distinct_chars(lower) <= 3
        || candidates.iter().any(|c| {
            let unit = repeated_unit(c);
            COMMON.contains(c.as_str())
                // a word repeated, or a few characters repeated ("abcabcabcabc")
                || (unit.len() < c.len() && (unit.chars().count() <= 3 || COMMON.contains(unit)))
        })
}

/// Undoes the common letter-for-symbol swaps.
fn unswap(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '@' | '4' => 'a',
            '0' => 'o',
            '1' | '!' => 'i',
            '3' => 'e',
            '$' | '5' => 's',
            '7' => 't',
            other => other,
        })
        .collect()
}

/// The shortest string that `s` repeats ("ab" for "ababab"); `s` itself when none.
fn repeated_unit(s: &str) -> &str {
    let n = s.len();
    (1..n)
        .filter(|p| n.is_multiple_of(*p) && s.is_char_boundary(*p))
        .find(|&p| s.as_bytes().chunks(p).all(|c| c == &s.as_bytes()[..p]))
        .map_or(s, |p| &s[..p])
}

fn distinct_chars(s: &str) -> usize {
    s.chars().collect::<HashSet<_>>().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_passwords_of_any_characters_are_accepted() {
        for ok in [
            "correct-horse-battery",
            "homeward-demo",
            "purple tractor sandwich",
            "kettle orbit lantern",
            "ŻółwieJabłkoMorze",
        ] {
            assert_eq!(check(ok, "ward.demo"), Ok(()), "{ok}");
        }
    }

    #[test]
    fn short_passwords_are_refused_whatever_they_contain() {
        assert_eq!(check("Xk9#qLm2$vB", "someone"), Err(TOO_SHORT));
        assert_eq!(check(&"a".repeat(1025), "someone"), Err(TOO_LONG));
    }

    #[test]
    fn common_passwords_and_their_disguises_are_refused() {
        for bad in [
            "password1234",
            "123456789012",
            "qwertyuiop123",
            "Password2026!",
            "P@ssw0rd12345",
            "!!!sunshine!!!",
            "monkeymonkeymonkey",
            "aaaaaaaaaaaaaaa",
            "abcabcabcabc",
            "Homeward2026!",
            "NHSNHSNHSNHS",
            "Welcome123456",
        ] {
            assert_eq!(check(bad, "someone"), Err(TOO_COMMON), "{bad}");
        }
    }

    #[test]
    fn a_password_containing_the_username_is_refused() {
        assert_eq!(check("my-name-is-hub.demo", "hub.demo"), Err(HAS_USERNAME));
    }
}
