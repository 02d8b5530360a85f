//! One rule for every piece of text a client sends, in any field of any form, JSON body or
//! query string: **control characters are refused** (422, naming the field), except tab, line
//! feed and carriage return, which multi-line text (needs, notes) may hold. A NUL byte cannot
//! be stored in PostgreSQL text at all, and the others (escape, backspace, bell, C1 codes)
//! only ever arrive by mistake or malice: they garble pages, CSV exports and the logs of the
//! systems we send data to. Refusing rather than stripping means nothing a user typed is
//! silently changed.
//!
//! [`crate::web::guard`] applies the rule to every request before any handler runs, so no
//! handler needs to remember it.

use crate::error::FieldErrors;
use axum::http::{HeaderMap, header};
use serde_json::Value;

pub const MESSAGE: &str =
    "must not contain control characters (such as a NUL byte); tabs and new lines are allowed";

/// Whether a character may appear in text a client sends.
pub fn allowed(c: char) -> bool {
    !c.is_control() || matches!(c, '\t' | '\n' | '\r')
}

pub fn is_clean(text: &str) -> bool {
    text.chars().all(allowed)
}

/// Checks the query string and the body (JSON or a form) of a request; the fields holding
/// control characters, by name, when there are any.
pub fn check_request(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> FieldErrors {
    let mut errors = FieldErrors::new();
    if let Some(query) = query {
        check_pairs(query.as_bytes(), &mut errors);
    }
    if !body.is_empty() {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        if essence == "application/x-www-form-urlencoded" {
            check_pairs(body, &mut errors);
        } else if essence == "application/json" || essence.ends_with("+json") {
            // a body that is not JSON is the JSON extractor's to refuse (400)
            if let Ok(value) = serde_json::from_slice::<Value>(body) {
                check_json(&value, "", &mut errors);
            }
        }
    }
    errors
}

fn check_pairs(encoded: &[u8], errors: &mut FieldErrors) {
    // decoding is lossy (invalid UTF-8 becomes U+FFFD), as the form and query extractors'
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(encoded).unwrap_or_default();
    for (name, value) in pairs {
        if !is_clean(&name) {
            errors.add("query", MESSAGE);
        } else if !is_clean(&value) {
            errors.add(&name, MESSAGE);
        }
    }
}

/// Every string and key in a JSON document; fields are named by their path (`needs_summary`,
/// `items[2].note`).
fn check_json(value: &Value, path: &str, errors: &mut FieldErrors) {
    match value {
        Value::String(s) if !is_clean(s) => {
            errors.add(if path.is_empty() { "body" } else { path }, MESSAGE)
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_json(item, &format!("{path}[{i}]"), errors);
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                if !is_clean(key) {
                    errors.add("body", MESSAGE);
                    continue;
                }
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                check_json(item, &path, errors);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        h
    }

    #[test]
    fn tabs_and_new_lines_are_text_other_controls_are_not() {
        assert!(is_clean("Needs help\twith\r\nwashing"));
        assert!(is_clean("Zoë O’Brien-Smith 🙂"));
        for bad in ["a\0b", "\u{1b}[31m", "bell\u{7}", "del\u{7f}", "c1\u{85}"] {
            assert!(!is_clean(bad), "{bad:?}");
        }
    }

    #[test]
    fn json_fields_are_named_by_their_path() {
        let body = br#"{"given_name":"A\u0000da","ok":"fine","nested":{"list":["x","\u0007"]}}"#;
        let errors = check_request(None, &json_headers(), body);
        let names: Vec<&str> = errors.iter().map(|(f, _)| f).collect();
        assert_eq!(names, ["given_name", "nested.list[1]"]);
    }

    #[test]
    fn form_and_query_fields_are_named() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        let errors = check_request(Some("q=ok&ward=A%00"), &h, b"bed=B%004&x=y");
        let names: Vec<&str> = errors.iter().map(|(f, _)| f).collect();
        assert_eq!(names, ["ward", "bed"]);
    }

    #[test]
    fn a_body_that_is_not_json_is_left_to_the_extractor() {
        assert!(check_request(None, &json_headers(), b"{not json\0").is_empty());
    }
}
