//! The answer to every message: an HL7 ACK whose MSA-1 is `AA` (applied, or nothing to do),
//! `AE` (refused as sent: the reason in MSA-3 and ERR) or `AR` (never taken), and MSA-2 the
//! message's MSH-10. The ACK speaks the version the message came in.

use super::message::{Header, Problem, ProblemKind};
use chrono::{DateTime, Utc};

/// MSA-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCode {
    Accept,
    Error,
    Reject,
}

impl AckCode {
    pub fn as_str(self) -> &'static str {
        match self {
            AckCode::Accept => "AA",
            AckCode::Error => "AE",
            AckCode::Reject => "AR",
        }
    }
}

impl From<ProblemKind> for AckCode {
    fn from(kind: ProblemKind) -> Self {
        match kind {
            ProblemKind::Refused => AckCode::Error,
            ProblemKind::Rejected => AckCode::Reject,
        }
    }
}

/// HL7's escapes, so a reason can never break the ACK's structure.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\E\\"),
            '|' => out.push_str("\\F\\"),
            '^' => out.push_str("\\S\\"),
            '&' => out.push_str("\\T\\"),
            '~' => out.push_str("\\R\\"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The ACK for a message (`header` as far as it could be read; defaults when not at all).
pub fn ack(
    header: &Header,
    code: AckCode,
    text: &str,
    problem: Option<&Problem>,
    now: DateTime<Utc>,
) -> String {
    let version = if header.version.is_empty() {
        "2.4"
    } else {
        header.version.as_str()
    };
    let control = format!("HW{:016x}", rand::random::<u64>());
    let mut out = format!(
        "MSH|^~\\&|HOMEWARD|HOMEWARD|{}|{}|{}||ACK^{}^ACK|{}|P|{}\rMSA|{}|{}|{}\r",
        escape(&header.sending_application),
        escape(&header.sending_facility),
        now.format("%Y%m%d%H%M%S+0000"),
        escape(&header.event_code),
        control,
        escape(version),
        code.as_str(),
        escape(&header.control_id),
        escape(text),
    );
    if let Some(p) = problem {
        // ERR-2 location, ERR-3 the table 0357 code, ERR-4 severity, ERR-8 the words
        let location = p
            .location
            .as_deref()
            .map(|l| {
                let (segment, field) = l.split_once('-').unwrap_or((l, ""));
                format!("{}^1^{}", escape(segment), escape(field))
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "ERR||{location}|{}^{}^HL70357|E||||{}\r",
            p.code,
            label(p.code),
            escape(&p.text)
        ));
    }
    out
}

fn label(code: u16) -> &'static str {
    use super::message::codes::*;
    match code {
        SEGMENT_SEQUENCE => "Segment sequence error",
        REQUIRED_FIELD_MISSING => "Required field missing",
        DATA_TYPE => "Data type error",
        TABLE_VALUE_NOT_FOUND => "Table value not found",
        UNSUPPORTED_MESSAGE_TYPE => "Unsupported message type",
        UNSUPPORTED_EVENT => "Unsupported event code",
        UNSUPPORTED_VERSION => "Unsupported version id",
        UNKNOWN_KEY => "Unknown key identifier",
        _ => "Application internal error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_ack_names_the_message_and_the_reason() {
        let h = Header {
            sending_application: "PAS".into(),
            sending_facility: "RHW".into(),
            event_code: "A02".into(),
            control_id: "M|1".into(),
            version: "2.5".into(),
            ..Header::default()
        };
        let p = Problem::refused("PV1-3", 103, "Location X^Y is not mapped");
        let text = ack(&h, AckCode::Error, &p.text, Some(&p), Utc::now());
        let segments: Vec<&str> = text.split('\r').collect();
        assert!(segments[0].starts_with("MSH|^~\\&|HOMEWARD|HOMEWARD|PAS|RHW|"));
        assert!(segments[0].ends_with("|P|2.5"));
        assert_eq!(segments[1], "MSA|AE|M\\F\\1|Location X\\S\\Y is not mapped");
        assert!(segments[2].starts_with("ERR||PV1^1^3|103^Table value not found^HL70357|E|"));
    }
}
