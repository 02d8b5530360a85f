//! Reading an ADT message: the header (enough to acknowledge anything that starts with
//! `MSH`), then the segments the feed uses (EVN, PID, PV1, MRG) into plain values. The
//! structure (segments, fields, repeats, components, escapes) is parsed by `hl7-parser`;
//! this module only says which field means what, and names the field of every problem
//! (`PID-7`, `PV1-3`) so the ACK and the admin page can point at it. Nothing here touches
//! the database, and nothing here panics on any input.

use crate::domain::time::london_to_utc;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use hl7_parser::Message;
use hl7_parser::message::{Field, Segment, Separators};

/// What the feed will never take (AR) or cannot take as sent (AE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    /// Where: `PID-3`, `PV1-3`, ... (ERR-2), when it is one field.
    pub location: Option<String>,
    /// HL7 table 0357 error code (ERR-3).
    pub code: u16,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// AE: this message cannot be applied as it is (kept to be seen and replayed).
    Refused,
    /// AR: a message Homeward never takes (an event, message type or version it does not
    /// support).
    Rejected,
}

impl Problem {
    pub fn refused(location: &str, code: u16, text: impl Into<String>) -> Self {
        Problem {
            kind: ProblemKind::Refused,
            location: (!location.is_empty()).then(|| location.to_string()),
            code,
            text: text.into(),
        }
    }
    pub fn rejected(location: &str, code: u16, text: impl Into<String>) -> Self {
        Problem {
            kind: ProblemKind::Rejected,
            ..Problem::refused(location, code, text)
        }
    }
}

/// HL7 table 0357 codes the feed answers with.
pub mod codes {
    pub const SEGMENT_SEQUENCE: u16 = 100;
    pub const REQUIRED_FIELD_MISSING: u16 = 101;
    pub const DATA_TYPE: u16 = 102;
    pub const TABLE_VALUE_NOT_FOUND: u16 = 103;
    pub const UNSUPPORTED_MESSAGE_TYPE: u16 = 200;
    pub const UNSUPPORTED_EVENT: u16 = 201;
    pub const UNSUPPORTED_VERSION: u16 = 203;
    pub const UNKNOWN_KEY: u16 = 204;
    pub const APPLICATION_ERROR: u16 = 207;
}

/// The events the feed takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A01 admit, A04 register: create or update the inpatient case.
    Admit,
    /// A02: another ward or bed.
    Transfer,
    /// A03: discharged.
    Discharge,
    /// A08: demographics (and location) changed.
    Update,
    /// A11: the admission was cancelled.
    CancelAdmit,
    /// A13: the discharge was cancelled.
    CancelDischarge,
    /// A40: two patient records merged.
    Merge,
}

impl Event {
    pub fn parse(code: &str) -> Option<Event> {
        Some(match code {
            "A01" | "A04" => Event::Admit,
            "A02" => Event::Transfer,
            "A03" => Event::Discharge,
            "A08" => Event::Update,
            "A11" => Event::CancelAdmit,
            "A13" => Event::CancelDischarge,
            "A40" => Event::Merge,
            _ => return None,
        })
    }
}

/// MSH: who sent it, what it is, and the id to acknowledge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    pub sending_application: String,
    pub sending_facility: String,
    /// MSH-7.
    pub sent_at: Option<DateTime<Utc>>,
    /// MSH-9.1 (`ADT`).
    pub message_type: String,
    /// MSH-9.2 (`A01`).
    pub event_code: String,
    /// MSH-10: the message control id.
    pub control_id: String,
    /// MSH-12.
    pub version: String,
}

/// A patient as PID (or MRG) identifies them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// PID-3 with identifier type `NH`, ten digits (checked by the feed).
    pub nhs_number: Option<String>,
    /// The first other PID-3 identifier: the hospital number.
    pub local_id: Option<String>,
}

impl Identity {
    pub fn is_empty(&self) -> bool {
        self.nhs_number.is_none() && self.local_id.is_none()
    }
}

/// PID, as given (checked by the case's own rules when used).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Person {
    pub identity: Identity,
    pub family_name: String,
    pub given_name: String,
    /// PID-7 as `YYYY-MM-DD`, or empty.
    pub date_of_birth: String,
    /// PID-8 in Homeward's words (`female`, `male`, `other`, `unknown`), or empty.
    pub sex: String,
    /// PID-11.5.
    pub postcode: String,
}

/// PV1, as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Visit {
    /// PV1-3.1.
    pub point_of_care: String,
    /// PV1-3.3 (or PV1-3.2, the room, when no bed is given).
    pub bed: String,
    /// PV1-36: discharge disposition (NHS Data Dictionary discharge method in HL7 UK).
    pub discharge_disposition: String,
    /// PV1-37.1: discharged to location (NHS Data Dictionary discharge destination).
    pub discharged_to: String,
    /// PV1-44.
    pub admitted_at: Option<DateTime<Utc>>,
    /// PV1-45.
    pub discharged_at: Option<DateTime<Utc>>,
}

/// An ADT message the feed takes.
#[derive(Debug, Clone)]
pub struct Adt {
    pub header: Header,
    pub event: Event,
    /// When it happened in the hospital's system: EVN-2, else MSH-7. Orders a patient's
    /// messages.
    pub event_at: Option<DateTime<Utc>>,
    pub person: Person,
    pub visit: Option<Visit>,
    /// A40: MRG-1, the record merged away.
    pub prior: Option<Identity>,
}

/// Messages longer than this are refused before parsing (the MLLP reader caps frames too).
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// Segments separated by CR, as HL7 says; LF and CRLF are taken too (logs and editors).
pub fn normalise(text: &str) -> String {
    text.trim_matches(|c: char| c.is_whitespace() || c == '\u{b}' || c == '\u{1c}')
        .replace("\r\n", "\r")
        .replace('\n', "\r")
        .split('\r')
        .filter(|s| !s.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\r")
}

/// The header by hand, for a message `hl7-parser` cannot parse: enough to acknowledge it.
pub fn header_of(text: &str) -> Option<Header> {
    let first = text.split('\r').next()?;
    let rest = first.strip_prefix("MSH")?;
    let sep = rest.chars().next()?;
    if sep.is_alphanumeric() {
        return None;
    }
    let fields: Vec<&str> = rest[sep.len_utf8()..].split(sep).collect();
    // fields[0] is MSH-2 (the encoding characters); MSH-n is fields[n - 2]
    let f = |n: usize| fields.get(n - 2).copied().unwrap_or("").to_string();
    let component = sep_component(fields.first().copied().unwrap_or("^"));
    let part = |n: usize, c: usize| {
        f(n).split(component)
            .nth(c - 1)
            .unwrap_or("")
            .trim()
            .to_string()
    };
    Some(Header {
        sending_application: part(3, 1),
        sending_facility: part(4, 1),
        sent_at: parse_instant(&part(7, 1)).ok().flatten(),
        message_type: part(9, 1),
        event_code: part(9, 2),
        control_id: f(10).trim().to_string(),
        version: part(12, 1),
    })
}

fn sep_component(encoding: &str) -> char {
    encoding.chars().next().unwrap_or('^')
}

/// Whether MSH-12 is 2.4 or later (2.4, 2.5, 2.5.1, 2.6, 2.7, 2.7.1, 2.8, ...).
pub fn version_supported(version: &str) -> bool {
    let mut parts = version.split('.');
    let major = parts.next().and_then(|p| p.parse::<u32>().ok());
    let minor = parts.next().and_then(|p| p.parse::<u32>().ok());
    match (major, minor) {
        (Some(2), Some(m)) => m >= 4,
        _ => false,
    }
}

/// Reads an ADT message the feed takes, or says what is wrong with it. `header` is the
/// one [`header_of`] read (already checked: ADT, a version and event the feed takes).
pub fn parse(text: &str, header: Header) -> Result<Adt, Problem> {
    let Some(event) = Event::parse(&header.event_code) else {
        return Err(Problem::rejected(
            "MSH-9",
            codes::UNSUPPORTED_EVENT,
            format!("Homeward does not take ADT^{}", header.event_code),
        ));
    };
    // hl7-parser has no known panics, but a feed must never fall over on a message
    let parsed = std::panic::catch_unwind(|| Message::parse(text).map_err(|e| e.to_string()));
    let message = match parsed {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => {
            return Err(Problem::refused(
                "",
                codes::SEGMENT_SEQUENCE,
                format!("The message cannot be read as HL7 v2: {e}"),
            ));
        }
        Err(_) => {
            return Err(Problem::refused(
                "",
                codes::APPLICATION_ERROR,
                "The message cannot be read as HL7 v2",
            ));
        }
    };
    let seps = &message.separators;
    let event_at = match message.segment("EVN") {
        Some(evn) => instant(seps, evn, "EVN", 2)?,
        None => None,
    }
    .or(header.sent_at);
    let Some(pid) = message.segment("PID") else {
        return Err(Problem::refused(
            "PID",
            codes::SEGMENT_SEQUENCE,
            "The message has no PID segment",
        ));
    };
    let person = person(seps, pid)?;
    if person.identity.is_empty() {
        return Err(Problem::refused(
            "PID-3",
            codes::REQUIRED_FIELD_MISSING,
            "PID-3 names no NHS number (identifier type NH) and no hospital number",
        ));
    }
    let visit = match message.segment("PV1") {
        Some(pv1) => Some(visit(seps, pv1)?),
        None => None,
    };
    let prior = match message.segment("MRG") {
        Some(mrg) => Some(identity(seps, mrg.field(1), "MRG-1")?),
        None => None,
    };
    if event == Event::Merge && prior.as_ref().is_none_or(Identity::is_empty) {
        return Err(Problem::refused(
            "MRG-1",
            codes::REQUIRED_FIELD_MISSING,
            "An A40 needs MRG-1: the patient record merged away",
        ));
    }
    let needs_visit = matches!(event, Event::Admit | Event::Transfer);
    if needs_visit
        && visit
            .as_ref()
            .is_none_or(|v| v.point_of_care.trim().is_empty())
    {
        return Err(Problem::refused(
            "PV1-3",
            codes::REQUIRED_FIELD_MISSING,
            "PV1-3 must name the patient's location (point of care)",
        ));
    }
    Ok(Adt {
        header,
        event,
        event_at,
        person,
        visit,
        prior,
    })
}

/// A field's first repeat, component `c`, escapes decoded and trimmed.
fn text(seps: &Separators, field: Option<&Field<'_>>, c: usize) -> String {
    field
        .and_then(|f| f.component(c))
        .map(|v| v.display(seps).to_string().trim().to_string())
        .unwrap_or_default()
}

fn identity(seps: &Separators, field: Option<&Field<'_>>, at: &str) -> Result<Identity, Problem> {
    let mut id = Identity::default();
    let Some(field) = field else {
        return Ok(id);
    };
    for repeat in field.repeats() {
        let part = |c: usize| {
            repeat
                .component(c)
                .map(|v| v.display(seps).to_string().trim().to_string())
                .unwrap_or_default()
        };
        let value = part(1);
        if value.is_empty() {
            continue;
        }
        if part(5).eq_ignore_ascii_case("NH") {
            if id.nhs_number.is_none() {
                let digits: String = value.chars().filter(|c| !c.is_whitespace()).collect();
                if crate::domain::NhsNumber::parse(&digits).is_err() {
                    return Err(Problem::refused(
                        at,
                        codes::DATA_TYPE,
                        format!("{at}: the NHS number (type NH) is not a valid NHS number"),
                    ));
                }
                id.nhs_number = Some(digits);
            }
        } else if id.local_id.is_none() {
            id.local_id = Some(value);
        }
    }
    Ok(id)
}

fn person(seps: &Separators, pid: &Segment<'_>) -> Result<Person, Problem> {
    let identity = identity(seps, pid.field(3), "PID-3")?;
    let dob = text(seps, pid.field(7), 1);
    let date_of_birth = if dob.is_empty() {
        String::new()
    } else {
        match parse_date(&dob) {
            Some(d) => d.format("%Y-%m-%d").to_string(),
            None => {
                return Err(Problem::refused(
                    "PID-7",
                    codes::DATA_TYPE,
                    "PID-7: the date of birth is not a date (YYYYMMDD)",
                ));
            }
        }
    };
    let sex = match text(seps, pid.field(8), 1).to_ascii_uppercase().as_str() {
        "F" => "female",
        "M" => "male",
        "O" | "A" => "other",
        "U" | "N" => "unknown",
        "" => "",
        _ => {
            return Err(Problem::refused(
                "PID-8",
                codes::TABLE_VALUE_NOT_FOUND,
                "PID-8: sex must be F, M, O, A, U or N",
            ));
        }
    };
    Ok(Person {
        identity,
        family_name: text(seps, pid.field(5), 1),
        given_name: text(seps, pid.field(5), 2),
        date_of_birth,
        sex: sex.to_string(),
        postcode: text(seps, pid.field(11), 5),
    })
}

fn visit(seps: &Separators, pv1: &Segment<'_>) -> Result<Visit, Problem> {
    let room = text(seps, pv1.field(3), 2);
    let bed = text(seps, pv1.field(3), 3);
    Ok(Visit {
        point_of_care: text(seps, pv1.field(3), 1),
        bed: if bed.is_empty() { room } else { bed },
        discharge_disposition: text(seps, pv1.field(36), 1),
        discharged_to: text(seps, pv1.field(37), 1),
        admitted_at: instant(seps, pv1, "PV1", 44)?,
        discharged_at: instant(seps, pv1, "PV1", 45)?,
    })
}

fn instant(
    seps: &Separators,
    segment: &Segment<'_>,
    name: &str,
    n: usize,
) -> Result<Option<DateTime<Utc>>, Problem> {
    parse_instant(&text(seps, segment.field(n), 1)).map_err(|NotATime| {
        Problem::refused(
            &format!("{name}-{n}"),
            codes::DATA_TYPE,
            format!("{name}-{n}: not a time (YYYYMMDDHHMM[SS][+/-ZZZZ])"),
        )
    })
}

fn parse_date(v: &str) -> Option<NaiveDate> {
    let digits = v.get(..8)?;
    NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
}

/// A field that should hold a time and does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotATime;

/// An HL7 timestamp (`YYYYMMDDHHMM[SS[.S...]][+/-ZZZZ]`, or a bare date meaning its
/// midnight) as an instant; without an offset it is England's time. `Ok(None)`: empty.
pub fn parse_instant(v: &str) -> Result<Option<DateTime<Utc>>, NotATime> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let ts = hl7_parser::datetime::parse_timestamp(v, false).map_err(|_| NotATime)?;
    let date = NaiveDate::from_ymd_opt(
        i32::from(ts.year),
        u32::from(ts.month.ok_or(NotATime)?),
        u32::from(ts.day.ok_or(NotATime)?),
    )
    .ok_or(NotATime)?;
    let time = NaiveTime::from_hms_opt(
        u32::from(ts.hour.unwrap_or(0)),
        u32::from(ts.minute.unwrap_or(0)),
        u32::from(ts.second.unwrap_or(0)),
    )
    .ok_or(NotATime)?;
    let local = NaiveDateTime::new(date, time);
    Ok(Some(match ts.offset {
        Some(o) => {
            let minutes = i64::from(o.hours) * 60
                + if o.hours < 0 {
                    -i64::from(o.minutes)
                } else {
                    i64::from(o.minutes)
                };
            local.and_utc() - chrono::Duration::minutes(minutes)
        }
        None => london_to_utc(local),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A01: &str = "MSH|^~\\&|PAS|RHW|HOMEWARD|HUB|20261121093000||ADT^A01^ADT_A01|MSG0001|P|2.4\rEVN|A01|20261121093000\rPID|1||9434765919^^^NHS^NH~RHW123^^^RHW^MR||Lovelace^Ada||19410302|F|||1 High St^^Leeds^^LS9 7TF\rPV1|1|I|AMU^^B4^RHW|||||||||||||||||||||||||||||||||||||||||20261121090000";

    fn adt(text: &str) -> Result<Adt, Problem> {
        let text = normalise(text);
        parse(&text, header_of(&text).unwrap())
    }

    #[test]
    fn an_admission_reads_who_where_and_when() {
        let m = adt(A01).unwrap();
        assert_eq!(m.header.control_id, "MSG0001");
        assert_eq!(m.header.sending_facility, "RHW");
        assert_eq!(m.event, Event::Admit);
        assert_eq!(m.person.identity.nhs_number.as_deref(), Some("9434765919"));
        assert_eq!(m.person.identity.local_id.as_deref(), Some("RHW123"));
        assert_eq!(m.person.family_name, "Lovelace");
        assert_eq!(m.person.given_name, "Ada");
        assert_eq!(m.person.date_of_birth, "1941-03-02");
        assert_eq!(m.person.sex, "female");
        assert_eq!(m.person.postcode, "LS9 7TF");
        let v = m.visit.unwrap();
        assert_eq!((v.point_of_care.as_str(), v.bed.as_str()), ("AMU", "B4"));
        // November: GMT, so local time is UTC
        assert_eq!(
            v.admitted_at.unwrap().to_rfc3339(),
            "2026-11-21T09:00:00+00:00"
        );
    }

    #[test]
    fn times_without_an_offset_are_englands() {
        let summer = parse_instant("202607011200").unwrap().unwrap();
        assert_eq!(summer.to_rfc3339(), "2026-07-01T11:00:00+00:00");
        let offset = parse_instant("20260701120000+0200").unwrap().unwrap();
        assert_eq!(offset.to_rfc3339(), "2026-07-01T10:00:00+00:00");
        assert_eq!(parse_instant(""), Ok(None));
        assert!(parse_instant("yesterday").is_err());
        assert!(parse_instant("20261341").is_err());
    }

    #[test]
    fn versions_from_two_point_four() {
        for v in ["2.4", "2.5", "2.5.1", "2.7", "2.8.2"] {
            assert!(version_supported(v), "{v}");
        }
        for v in ["2.3", "2.3.1", "", "3.0", "two"] {
            assert!(!version_supported(v), "{v}");
        }
    }

    #[test]
    fn problems_name_the_field() {
        let bad_nhs = A01.replace("9434765919^^^NHS^NH", "9434765918^^^NHS^NH");
        assert_eq!(
            adt(&bad_nhs).unwrap_err().location.as_deref(),
            Some("PID-3")
        );
        let bad_dob = A01.replace("19410302", "19411302");
        assert_eq!(
            adt(&bad_dob).unwrap_err().location.as_deref(),
            Some("PID-7")
        );
        let no_place = A01.replace("AMU^^B4^RHW", "");
        assert_eq!(
            adt(&no_place).unwrap_err().location.as_deref(),
            Some("PV1-3")
        );
        let a99 = A01.replace("ADT^A01^ADT_A01", "ADT^A99");
        assert_eq!(adt(&a99).unwrap_err().kind, ProblemKind::Rejected);
    }

    #[test]
    fn odd_input_never_panics() {
        for text in [
            "MSH|",
            "MSH|^~\\&",
            "MSH|^~\\&|||||||ADT^A01|1|P|2.5\rPID|||",
            "MSH|^~\\&|||||||ADT^A01|1|P|2.5\rPID|1||^^^^NH\rPV1",
            "MSH|^~\\&|||||||ADT^A40|1|P|2.5\rPID|1||X1\rMRG|",
            "MSH|^~\\&|||||||ADT^A01|1|P|2.5\r\u{0}\u{1}|||",
        ] {
            let text = normalise(text);
            if let Some(h) = header_of(&text) {
                let _ = parse(&text, h);
            }
        }
        assert!(header_of("PID|1").is_none());
        assert!(header_of("MSHX").is_none());
    }
}
