//! The partner API's list rules (CONTRACT.md "Lists"), written once for every list but the
//! case list (whose keyset cursor is [`crate::cases::queries::Cursor`]):
//!
//! - `limit`: 1-500, default 100; anything else is a 422 naming `limit`.
//! - `cursor`: opaque to clients; it is the sort key and id of the last row of the page before
//!   (a [`Position`]), tagged with the list it came from so a cursor of one list is refused by
//!   another (422 naming `cursor`).
//! - `updated_since`: an ISO 8601 date and time (422 otherwise).
//!
//! **Keyset, never OFFSET.** A page is "the rows strictly after this position in the list's
//! order", read from an index that holds the order. So a row added while a client pages
//! (its sort key is now, the front of a newest-first list) never shifts the rows the client
//! has yet to read: every row that existed, unchanged, when paging began is seen exactly once.
//! A row *changed* during paging moves to the front of a newest-change-first list: if the
//! client had already read it, it is not repeated; if not, it is met again by the next sync
//! with `updated_since` (what a partner syncing incrementally does anyway).

use crate::error::FieldErrors;
use chrono::{DateTime, Utc};

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 500;

fn non_empty(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|s| !s.is_empty())
}

/// The page size asked for (default 100), or an error for `limit`.
pub fn limit(v: Option<&str>, errors: &mut FieldErrors) -> i64 {
    match non_empty(v) {
        None => DEFAULT_LIMIT,
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                errors.add(
                    "limit",
                    format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
                );
                DEFAULT_LIMIT
            }
        },
    }
}

/// `updated_since`, or an error for it.
pub fn updated_since(v: Option<&str>, errors: &mut FieldErrors) -> Option<DateTime<Utc>> {
    let s = non_empty(v)?;
    let parsed = crate::domain::time::parse_instant(s);
    if parsed.is_none() {
        errors.add(
            "updated_since",
            "updated_since must be a date and time, like 2026-11-30T09:00:00Z",
        );
    }
    parsed
}

/// A cursor's time, when it is one PostgreSQL can store and compare (cursors are not signed:
/// one edited by hand may hold any number). Years 1 to 9999; anything else is no position.
pub fn storable_instant(micros: i64) -> Option<DateTime<Utc>> {
    use chrono::Datelike;
    DateTime::<Utc>::from_timestamp_micros(micros).filter(|t| (1..=9999).contains(&t.year()))
}

/// Whether a cursor's text can be sent to PostgreSQL (text may not hold a NUL byte).
pub fn storable_text(text: &str) -> bool {
    !text.contains('\0')
}

/// A cursor's text as clients carry it: hex, opaque and safe in a URL.
pub fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The text of [`hex`], if it is hex of UTF-8.
pub fn unhex(text: &str) -> Option<String> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// A place in a list: the sort key (a time) and id of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub at: DateTime<Utc>,
    pub id: i64,
}

impl Position {
    /// The cursor clients carry: hex of `<list tag><micros>.<id>`.
    pub fn encode(&self, list: &str) -> String {
        hex(&format!(
            "{list}:{}.{}",
            self.at.timestamp_micros(),
            self.id
        ))
    }

    /// Reads a cursor made by [`Position::encode`] for the same list.
    pub fn decode(text: &str, list: &str) -> Option<Position> {
        if text.len() > 200 {
            return None;
        }
        let plain = unhex(text)?;
        let rest = plain.strip_prefix(list)?.strip_prefix(':')?;
        let (at, id) = rest.split_once('.')?;
        Some(Position {
            at: storable_instant(at.parse().ok()?)?,
            id: id.parse().ok()?,
        })
    }
}

/// A place in a list ordered by names (A to Z): the names of a row and its id, as a cursor
/// (each part hex-encoded, so a name may hold any character). For pages only: the API's
/// lists are ordered by time ([`Position`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePosition {
    pub names: Vec<String>,
    pub id: i64,
}

impl NamePosition {
    pub fn encode(&self, list: &str) -> String {
        let mut parts = vec![hex(list)];
        parts.extend(self.names.iter().map(|n| hex(n)));
        parts.push(self.id.to_string());
        parts.join(".")
    }

    /// Reads a cursor made by [`NamePosition::encode`] for the same list, with `names`
    /// names.
    pub fn decode(text: &str, list: &str, names: usize) -> Option<NamePosition> {
        if text.len() > 4_000 {
            return None;
        }
        let parts: Vec<&str> = text.split('.').collect();
        if parts.len() != names + 2 || unhex(parts[0])? != list {
            return None;
        }
        Some(NamePosition {
            id: parts[names + 1].parse().ok()?,
            names: parts[1..=names]
                .iter()
                .map(|p| unhex(p).filter(|n| storable_text(n)))
                .collect::<Option<_>>()?,
        })
    }
}

/// `cursor` for the list tagged `list`, or an error for it.
pub fn cursor(v: Option<&str>, list: &str, errors: &mut FieldErrors) -> Option<Position> {
    let s = non_empty(v)?;
    let parsed = Position::decode(s, list);
    if parsed.is_none() {
        errors.add("cursor", "The cursor is not one this list gave out");
    }
    parsed
}

/// Keeps the first `limit` of `rows` (read with `LIMIT limit + 1`) and returns the cursor of
/// the next page: the last row kept, when there was one more.
pub fn split_page<T>(
    rows: &mut Vec<T>,
    limit: i64,
    list: &str,
    position: impl Fn(&T) -> Position,
) -> Option<String> {
    split_page_with(rows, limit, |row| position(row).encode(list))
}

/// [`split_page`] for any cursor: `cursor` makes the next page's from the last row kept.
pub fn split_page_with<T>(
    rows: &mut Vec<T>,
    limit: i64,
    cursor: impl Fn(&T) -> String,
) -> Option<String> {
    let limit = limit.max(0) as usize;
    if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(cursor)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_name_cursor_reads_back_and_refuses_another_list_or_shape() {
        let at = super::NamePosition {
            names: vec![
                "St Columba\u{2019}s. Care".into(),
                "Rehab \u{1f} beds".into(),
            ],
            id: 42,
        };
        let text = at.encode("a");
        assert_eq!(super::NamePosition::decode(&text, "a", 2), Some(at.clone()));
        assert_eq!(super::NamePosition::decode(&text, "b", 2), None);
        assert_eq!(super::NamePosition::decode(&text, "a", 1), None);
        assert_eq!(super::NamePosition::decode("zz.00.1", "a", 1), None);
        assert_eq!(super::NamePosition::decode("", "a", 0), None);
        // a NUL byte cannot reach PostgreSQL
        let nul = super::NamePosition {
            names: vec!["a\0b".into()],
            id: 1,
        };
        assert_eq!(super::NamePosition::decode(&nul.encode("a"), "a", 1), None);
    }

    use super::*;

    #[test]
    fn a_cursor_holding_a_time_postgresql_cannot_store_is_no_cursor() {
        let hex = |t: &str| t.bytes().map(|b| format!("{b:02x}")).collect::<String>();
        for at in [
            "-1000000000000000000",
            "253402300800000000",
            "-62135596800000001",
        ] {
            assert_eq!(
                super::Position::decode(&hex(&format!("l:{at}.5")), "l"),
                None,
                "{at}"
            );
        }
        // the first and last microseconds of years 1 and 9999 are positions
        for at in ["-62135596800000000", "253402300799999999", "0"] {
            assert!(
                super::Position::decode(&hex(&format!("l:{at}.5")), "l").is_some(),
                "{at}"
            );
        }
    }

    #[test]
    fn a_cursor_reads_back_only_in_its_own_list() {
        let p = Position {
            at: DateTime::<Utc>::from_timestamp_micros(1_764_000_000_123_456).unwrap(),
            id: 42,
        };
        let c = p.encode("referrals");
        assert_eq!(Position::decode(&c, "referrals"), Some(p));
        assert_eq!(Position::decode(&c, "capacity"), None);
        assert_eq!(Position::decode("zz", "referrals"), None);
        assert_eq!(Position::decode("abc", "referrals"), None);
        assert_eq!(Position::decode("", "referrals"), None);
    }

    #[test]
    fn limits_outside_one_to_five_hundred_are_refused() {
        for bad in ["0", "501", "-1", "ten", "1.5"] {
            let mut e = FieldErrors::new();
            limit(Some(bad), &mut e);
            assert!(e.get("limit").is_some(), "{bad}");
        }
        let mut e = FieldErrors::new();
        assert_eq!(limit(None, &mut e), 100);
        assert_eq!(limit(Some("500"), &mut e), 500);
        assert!(e.is_empty());
    }

    #[test]
    fn a_page_says_next_only_when_there_is_more() {
        let pos = |n: &i64| Position {
            at: DateTime::<Utc>::from_timestamp_micros(*n).unwrap(),
            id: *n,
        };
        let mut rows = vec![1, 2, 3];
        assert!(split_page(&mut rows, 3, "x", pos).is_none());
        let mut rows = vec![1, 2, 3, 4];
        let next = split_page(&mut rows, 3, "x", pos).unwrap();
        assert_eq!(rows, vec![1, 2, 3]);
        assert_eq!(Position::decode(&next, "x").map(|p| p.id), Some(3));
    }
}
