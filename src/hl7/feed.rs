//! Applying a message from the hospital: each in one transaction with the case change, its
//! history row (through the same commands the pages use, `patients::commands`) and the
//! message-log row, or not at all.
//!
//! The rules, in order:
//! 1. Anything that is not `MSH...` ADT of version 2.4 or later, or an event other than
//!    A01/A04/A02/A03/A08/A11/A13/A40, is rejected (AR) and logged.
//! 2. A message whose sending facility (MSH-4) and control id (MSH-10) were already applied
//!    is answered AA and changes nothing (a unique index makes this hold under races too).
//! 3. A malformed segment or field, a location (MSH-4 + PV1-3.1) not in the mapping table,
//!    a patient with no case to change, or a change the case's rules refuse is refused
//!    (AE, with the reason and the field in MSA-3 and ERR) and kept for an administrator to
//!    see and replay.
//! 4. One patient's messages are applied one at a time (a transaction-scoped advisory lock
//!    on each identifier), in the order they arrive. A message that would set what the case
//!    shows (A01/A04 on an open case, A02, A08) and is older (EVN-2, else MSH-7) than the
//!    newest message already applied to the case is acknowledged AA and logged as
//!    `ignored`: the case already shows something newer. An A02 for a patient not admitted
//!    yet is refused (AE) and kept: replay it once the admission has arrived.
//!
//! The feed acts as one user per trust (`hl7-feed-<trust>`, role ward, disabled so it can
//! never sign in), so the history says the hospital did it and an A13 can tell a discharge
//! the feed made from one a person made.

use super::ack::{AckCode, ack};
use super::message::{self, Adt, Event, Header, Identity, Problem, ProblemKind, codes};
use crate::cases::CaseRow;
use crate::domain::{Caller, CancelReason, CaseAction, NhsNumber, PatientId, Postcode, Role, Sex};
use crate::error::{AppError, FieldErrors};
use crate::patients::commands::{self, Demographics, DestinationRule, DischargeDetails};
use crate::patients::model::NewCaseDraft;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// Already applied (same facility and control id): nothing changed.
    Duplicate,
    /// Taken, nothing to change (older than what the case shows; a merge of records
    /// Homeward does not hold).
    Ignored,
    /// AE, kept to be replayed.
    Refused,
    /// AR.
    Rejected,
    /// AE, not kept: the database could not be reached; the sender should send it again.
    Unavailable,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Ignored => "ignored",
            Outcome::Refused => "refused",
            Outcome::Rejected => "rejected",
            Outcome::Unavailable => "unavailable",
        }
    }
}

/// A message handled: its ACK and what became of it.
#[derive(Debug, Clone)]
pub struct Handled {
    pub ack: String,
    pub outcome: Outcome,
    pub control_id: String,
    pub event: String,
    /// Words for people: what was done, or why not.
    pub reason: String,
    pub patient_id: Option<PatientId>,
}

/// A message received over MLLP.
/// How a case merged away by the hospital (A40) is closed: its reason starts with this, then
/// the case it was merged into (FHIR says such an Encounter was entered in error).
pub const MERGED_PREFIX: &str = "Merged by the hospital into case";

pub async fn receive(state: &AppState, raw: &str) -> Handled {
    handle(state, raw, None).await
}

/// Handles one message. `replay_of`: the refused message (its log row) this is a replay of;
/// its row is marked resolved when the message applies, or given the new reason when not.
pub async fn handle(state: &AppState, raw: &str, replay_of: Option<i64>) -> Handled {
    let now = state.clock.now();
    // A NUL byte cannot be stored as text (nor is it HL7): keep the message with the byte
    // written as HL7's hex escape, and refuse it with a reason the sender can act on,
    // rather than "send it again" for ever.
    let has_nul = raw.contains('\0');
    let text = message::normalise(&raw.replace('\0', "\\X00\\"));
    let header = message::header_of(&text).unwrap_or_default();
    if has_nul {
        let p = Problem {
            kind: ProblemKind::Refused,
            location: None,
            code: 102,
            text: "The message contains a NUL byte (0x00), which HL7 text may not carry: \
                   correct it at the sender and send it again (kept with the byte as \\X00\\)"
                .into(),
        };
        return refuse(state, &header, &text, p, replay_of, now).await;
    }
    if let Err(p) = check_header(&text, &header) {
        return refuse(state, &header, &text, p, replay_of, now).await;
    }
    // one connection for the check and the transaction (one acquire: each sets the hubs)
    let Ok(mut conn) = state.pool.acquire().await else {
        return unavailable(&header, now);
    };
    let adt = {
        match already_applied(&mut conn, &header).await {
            Ok(Some(applied)) => {
                if let Some(refused) = replay_of {
                    let _ = resolve(&state.pool, refused, applied, now).await;
                }
                return answer(
                    &header,
                    Outcome::Duplicate,
                    "Already received: nothing changed".into(),
                    None,
                    now,
                );
            }
            Ok(None) => match message::parse(&text, header.clone()) {
                Ok(adt) => adt,
                Err(p) => {
                    drop(conn);
                    return refuse(state, &header, &text, p, replay_of, now).await;
                }
            },
            Err(_) => return unavailable(&header, now),
        }
    };
    let applied = apply(state, &mut conn, &adt, &text, replay_of, now).await;
    drop(conn);
    match applied {
        Ok(done) => answer(&header, done.outcome, done.words, done.patient, now),
        Err(Failure::Problem(p)) => refuse(state, &header, &text, p, replay_of, now).await,
        Err(Failure::Duplicate) => answer(
            &header,
            Outcome::Duplicate,
            "Already received: nothing changed".into(),
            None,
            now,
        ),
        Err(Failure::Unavailable) => unavailable(&header, now),
    }
}

fn check_header(text: &str, header: &Header) -> Result<(), Problem> {
    if text.len() > message::MAX_MESSAGE_BYTES {
        return Err(Problem::rejected(
            "",
            codes::APPLICATION_ERROR,
            "The message is larger than 1 MB",
        ));
    }
    if !text.starts_with("MSH") || header.control_id.is_empty() {
        return Err(Problem::rejected(
            "MSH-10",
            codes::REQUIRED_FIELD_MISSING,
            "The message must start with an MSH segment with a message control id (MSH-10)",
        ));
    }
    if header.message_type != "ADT" {
        return Err(Problem::rejected(
            "MSH-9",
            codes::UNSUPPORTED_MESSAGE_TYPE,
            format!(
                "Homeward takes ADT messages only, not {}",
                header.message_type
            ),
        ));
    }
    if !message::version_supported(&header.version) {
        return Err(Problem::rejected(
            "MSH-12",
            codes::UNSUPPORTED_VERSION,
            format!(
                "Homeward takes HL7 v2.4 and later, not version {:?}",
                header.version
            ),
        ));
    }
    if Event::parse(&header.event_code).is_none() {
        return Err(Problem::rejected(
            "MSH-9",
            codes::UNSUPPORTED_EVENT,
            format!(
                "Homeward takes ADT A01, A02, A03, A04, A08, A11, A13 and A40, not {}",
                header.event_code
            ),
        ));
    }
    Ok(())
}

fn answer(
    header: &Header,
    outcome: Outcome,
    words: String,
    patient: Option<PatientId>,
    now: DateTime<Utc>,
) -> Handled {
    Handled {
        ack: ack(header, AckCode::Accept, &words, None, now),
        outcome,
        control_id: header.control_id.clone(),
        event: header.event_code.clone(),
        reason: words,
        patient_id: patient,
    }
}

fn unavailable(header: &Header, now: DateTime<Utc>) -> Handled {
    let p = Problem::refused(
        "",
        codes::APPLICATION_ERROR,
        "Homeward could not store the message just now: send it again",
    );
    Handled {
        ack: ack(header, AckCode::Error, &p.text, Some(&p), now),
        outcome: Outcome::Unavailable,
        control_id: header.control_id.clone(),
        event: header.event_code.clone(),
        reason: p.text,
        patient_id: None,
    }
}

/// Answers AE or AR and keeps the message (a replay's row gets the new reason instead).
async fn refuse(
    state: &AppState,
    header: &Header,
    text: &str,
    p: Problem,
    replay_of: Option<i64>,
    now: DateTime<Utc>,
) -> Handled {
    let outcome = match p.kind {
        ProblemKind::Refused => Outcome::Refused,
        ProblemKind::Rejected => Outcome::Rejected,
    };
    let reason = match &p.location {
        Some(l) if !p.text.starts_with(l.as_str()) => format!("{l}: {}", p.text),
        _ => p.text.clone(),
    };
    let stored = match replay_of {
        Some(id) => sqlx::query!(
            "UPDATE hl7_messages SET reason = $2 WHERE id = $1",
            id,
            reason
        )
        .execute(&state.pool)
        .await
        .map(|_| ()),
        None => {
            let body = if text.len() > message::MAX_MESSAGE_BYTES {
                "(larger than 1 MB: not kept)"
            } else {
                text
            };
            sqlx::query!(
                "INSERT INTO hl7_messages (control_id, sending_facility, event, message_at, \
                 received_at, outcome, reason, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                header.control_id,
                header.sending_facility,
                header.event_code,
                header.sent_at as _,
                now as _,
                outcome.as_str(),
                reason,
                body,
            )
            .execute(&state.pool)
            .await
            .map(|_| ())
        }
    };
    if stored.is_err() {
        return unavailable(header, now);
    }
    tracing::info!(
        outcome = outcome.as_str(),
        event = %header.event_code,
        "hospital feed: message not applied"
    );
    Handled {
        ack: ack(header, AckCode::from(p.kind), &reason, Some(&p), now),
        outcome,
        control_id: header.control_id.clone(),
        event: header.event_code.clone(),
        reason,
        patient_id: None,
    }
}

/// The log row that applied this message before, if one did.
async fn already_applied(
    conn: &mut PgConnection,
    header: &Header,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT id FROM hl7_messages WHERE sending_facility = $1 AND control_id = $2 \
         AND outcome IN ('applied','ignored')",
        header.sending_facility,
        header.control_id,
    )
    .fetch_optional(conn)
    .await
}

async fn resolve(
    conn: impl sqlx::PgExecutor<'_>,
    refused: i64,
    by: i64,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE hl7_messages SET resolved_at = $2, resolved_by = $3 \
         WHERE id = $1 AND resolved_at IS NULL",
        refused,
        now as _,
        by,
    )
    .execute(conn)
    .await?;
    Ok(())
}

enum Failure {
    Problem(Problem),
    /// Another connection applied the same message first.
    Duplicate,
    Unavailable,
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Failure::from(AppError::from(e))
    }
}

/// A case command's refusal, in HL7 terms: the field that caused it, named as in the
/// message.
impl From<AppError> for Failure {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Validation(fields) => {
                let first = fields.iter().next().map(|(f, _)| field_of(f)).unwrap_or("");
                let text = fields
                    .iter()
                    .map(|(f, m)| format!("{} ({f}): {m}", field_of(f)))
                    .collect::<Vec<_>>()
                    .join("; ");
                Failure::Problem(Problem::refused(first, codes::DATA_TYPE, text))
            }
            AppError::Conflict { message, .. } => {
                Failure::Problem(Problem::refused("", codes::APPLICATION_ERROR, message))
            }
            AppError::NotFound => Failure::Problem(Problem::refused(
                "PID-3",
                codes::UNKNOWN_KEY,
                "The patient's open case is in another trust's care, or there is none",
            )),
            AppError::Forbidden | AppError::Unauthorized => Failure::Problem(Problem::refused(
                "PV1-3",
                codes::APPLICATION_ERROR,
                "The location belongs to another trust than the patient's case",
            )),
            AppError::Internal(e) => {
                tracing::error!(error = %e, "hospital feed: applying a message failed");
                Failure::Unavailable
            }
            _ => Failure::Unavailable,
        }
    }
}

/// The message field a case field comes from.
fn field_of(case_field: &str) -> &'static str {
    match case_field {
        "nhs_number" | "nhs_number_status" | "local_id" => "PID-3",
        "given_name" | "family_name" => "PID-5",
        "date_of_birth" => "PID-7",
        "sex" => "PID-8",
        "postcode" => "PID-11",
        "ward_code" | "bed" => "PV1-3",
        "admitted_at" => "PV1-44",
        "discharged_at" => "PV1-45",
        "method" => "PV1-36",
        "destination" => "PV1-37",
        _ => "",
    }
}

struct Done {
    outcome: Outcome,
    words: String,
    patient: Option<PatientId>,
}

fn done(patient: PatientId, words: impl Into<String>) -> Done {
    Done {
        outcome: Outcome::Applied,
        words: words.into(),
        patient: Some(patient),
    }
}

fn ignored(patient: Option<PatientId>, words: impl Into<String>) -> Done {
    Done {
        outcome: Outcome::Ignored,
        words: words.into(),
        patient,
    }
}

fn problem(location: &str, code: u16, text: impl Into<String>) -> Failure {
    Failure::Problem(Problem::refused(location, code, text))
}

/// A ward the sending system's location maps to, and its trust.
struct Place {
    ward_code: String,
    trust_code: String,
}

async fn apply(
    state: &AppState,
    conn: &mut PgConnection,
    adt: &Adt,
    text: &str,
    replay_of: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Done, Failure> {
    use sqlx::Connection;
    let mut tx = conn.begin().await?;
    // one message per patient at a time, whichever connection it came on
    let mut keys = identity_keys(&adt.header.sending_facility, &adt.person.identity);
    if let Some(prior) = &adt.prior {
        keys.extend(identity_keys(&adt.header.sending_facility, prior));
    }
    keys.sort();
    keys.dedup();
    // in the keys' order (unnest keeps the array's), so two messages never wait on each other
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest($1::text[]) AS k",
        &keys,
    )
    .fetch_all(&mut *tx)
    .await?;
    let place = place(&mut tx, adt).await?;
    let trust = match &place {
        Some(p) => p.trust_code.clone(),
        None => trust_of_facility(&mut tx, &adt.header.sending_facility).await?,
    };
    let caller = feed_caller_cached(state, &mut tx, &trust, now).await?;
    let result = match adt.event {
        Event::Admit => admit(&mut tx, &caller, adt, place, now).await?,
        Event::Transfer => transfer(&mut tx, &caller, adt, place, now).await?,
        Event::Discharge => discharge(&mut tx, state, &caller, adt).await?,
        Event::Update => update(&mut tx, &caller, adt, place, now).await?,
        Event::CancelAdmit => cancel_admission(&mut tx, &caller, adt, now).await?,
        Event::CancelDischarge => cancel_discharge(&mut tx, &caller, adt, now).await?,
        Event::Merge => merge(&mut tx, &caller, adt, now).await?,
    };
    // the log row, the case's newest message time (when applied) and, when the sender sent
    // again a message refused before, that refusal resolved by this row: one statement
    let applied = result.outcome == Outcome::Applied;
    let logged = sqlx::query_scalar!(
        "WITH logged AS (INSERT INTO hl7_messages (control_id, sending_facility, event, message_at, \
           received_at, outcome, reason, patient_id, body) \
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id), \
         fed AS (INSERT INTO hl7_case_feed (patient_id, last_message_at) \
           SELECT $8, $4 WHERE $10 AND $8::bigint IS NOT NULL AND $4::timestamptz IS NOT NULL \
           ON CONFLICT (patient_id) DO UPDATE \
           SET last_message_at = GREATEST(hl7_case_feed.last_message_at, EXCLUDED.last_message_at)), \
         resent AS (UPDATE hl7_messages SET resolved_at = $5, resolved_by = (SELECT id FROM logged) \
           WHERE sending_facility = $2 AND control_id = $1 AND outcome = 'refused' \
           AND resolved_at IS NULL) \
         SELECT id AS \"id!\" FROM logged",
        adt.header.control_id,
        adt.header.sending_facility,
        adt.header.event_code,
        adt.event_at as _,
        now as _,
        result.outcome.as_str(),
        result.words,
        result.patient as _,
        text,
        applied,
    )
    .fetch_one(&mut *tx)
    .await;
    let logged = match logged {
        Ok(id) => id,
        Err(sqlx::Error::Database(e)) if e.constraint() == Some("hl7_messages_once_idx") => {
            return Err(Failure::Duplicate);
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(refused) = replay_of {
        resolve(&mut *tx, refused, logged, now).await?;
    }
    tx.commit().await?;
    Ok(result)
}

fn identity_keys(facility: &str, id: &Identity) -> Vec<String> {
    let mut keys = vec![];
    if let Some(n) = &id.nhs_number {
        keys.push(format!("hl7:nhs:{n}"));
    }
    if let Some(l) = &id.local_id {
        keys.push(format!("hl7:local:{facility}:{l}"));
    }
    keys
}

/// The ward PV1-3 maps to; `None` when the message has no PV1-3. A location not in the
/// table is refused.
async fn place(tx: &mut PgConnection, adt: &Adt) -> Result<Option<Place>, Failure> {
    let Some(poc) = adt
        .visit
        .as_ref()
        .map(|v| v.point_of_care.trim().to_uppercase())
        .filter(|p| !p.is_empty())
    else {
        return Ok(None);
    };
    let facility = adt.header.sending_facility.trim().to_uppercase();
    let found = sqlx::query!(
        "SELECT l.ward_code, w.org_code FROM hl7_locations l JOIN wards w ON w.code = l.ward_code \
         WHERE l.sending_facility = $1 AND l.point_of_care = $2",
        facility,
        poc,
    )
    .fetch_optional(&mut *tx)
    .await?;
    match found {
        Some(r) => Ok(Some(Place {
            ward_code: r.ward_code,
            trust_code: r.org_code,
        })),
        None => Err(problem(
            "PV1-3",
            codes::TABLE_VALUE_NOT_FOUND,
            format!(
                "Location {poc} of sending facility {facility} is not mapped to a ward: an administrator adds it on the hospital feed page, then replays this message"
            ),
        )),
    }
}

/// A message with no location (an A03, A08, A11, A13 or A40 may have none) belongs to the
/// trust the sending facility's locations map to.
async fn trust_of_facility(tx: &mut PgConnection, facility: &str) -> Result<String, Failure> {
    let facility = facility.trim().to_uppercase();
    let trusts = sqlx::query_scalar!(
        "SELECT DISTINCT w.org_code FROM hl7_locations l JOIN wards w ON w.code = l.ward_code \
         WHERE l.sending_facility = $1",
        facility,
    )
    .fetch_all(&mut *tx)
    .await?;
    match trusts.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(problem(
            "MSH-4",
            codes::TABLE_VALUE_NOT_FOUND,
            format!("Sending facility {facility} has no locations mapped to wards"),
        )),
        _ => Err(problem(
            "PV1-3",
            codes::REQUIRED_FIELD_MISSING,
            format!(
                "Sending facility {facility} maps to several trusts: PV1-3 must name the location"
            ),
        )),
    }
}

/// The start of the feed's own usernames (`hl7-feed-<trust>`); people's accounts may not
/// start so ([`crate::accounts::users::create`]).
pub const FEED_USER_PREFIX: &str = "hl7-feed-";

/// The feed's users, once read, by database and trust (a user row is never deleted).
static FEED_USERS: std::sync::OnceLock<
    std::sync::Mutex<std::collections::HashMap<(String, String), Caller>>,
> = std::sync::OnceLock::new();

async fn feed_caller_cached(
    state: &AppState,
    tx: &mut PgConnection,
    trust: &str,
    now: DateTime<Utc>,
) -> Result<Caller, Failure> {
    let options = state.pool.connect_options();
    let key = (
        format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        ),
        trust.to_string(),
    );
    let users = FEED_USERS.get_or_init(Default::default);
    if let Some(c) = users.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return Ok(c);
    }
    let (caller, made_now) = feed_caller(tx, trust, now).await?;
    // a user made in this transaction is kept only once it is committed (the next message)
    if !made_now && let Ok(mut m) = users.lock() {
        m.insert(key, caller.clone());
    }
    Ok(caller)
}

/// The feed's user for a trust, made the first time the trust's feed is used.
async fn feed_caller(
    tx: &mut PgConnection,
    trust: &str,
    now: DateTime<Utc>,
) -> Result<(Caller, bool), Failure> {
    for attempt in 0..2 {
        let found = sqlx::query!(
            "SELECT u.id, u.username, u.display_name, o.name AS org_name, o.hub_code FROM hl7_feed_users f \
             JOIN users u ON u.id = f.user_id JOIN organisations o ON o.code = u.org_code \
             WHERE f.trust_code = $1",
            trust,
        )
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(u) = found {
            let caller = Caller {
                user_id: u.id,
                username: u.username,
                display_name: u.display_name,
                role: Role::Ward,
                org_code: trust.to_string(),
                org_name: u.org_name,
                hub_code: u.hub_code.unwrap_or_default(),
                hubs: crate::tenancy::SYSTEM.to_string(),
                notices: None,
                tasks_due: None,
            };
            return Ok((caller, attempt > 0));
        }
        // disabled, with no usable password: it can never sign in. Linked only when it is the
        // feed's own: never a person's account of that name, made before such names were
        // kept for the feed (it could sign in, and would vanish from the users' list); then
        // the feed takes the next name
        let base = format!("{FEED_USER_PREFIX}{}", trust.to_lowercase());
        for username in [base.clone(), format!("{base}-2")] {
            sqlx::query!(
                "INSERT INTO users (username, display_name, role, org_code, password_hash, disabled_at) \
                 VALUES ($1, $2, 'ward', $3, '!', $4) ON CONFLICT (username) DO NOTHING",
                username,
                format!("Hospital feed ({trust})"),
                trust,
                now as _,
            )
            .execute(&mut *tx)
            .await?;
            let linked = sqlx::query!(
                "INSERT INTO hl7_feed_users (trust_code, user_id) \
                 SELECT $1, id FROM users WHERE username = $2 AND role = 'ward' AND org_code = $1 \
                 AND password_hash = '!' AND disabled_at IS NOT NULL ON CONFLICT DO NOTHING",
                trust,
                username,
            )
            .execute(&mut *tx)
            .await?;
            if linked.rows_affected() > 0 {
                break;
            }
        }
        // linked now, or by another message's transaction meanwhile: the next round reads it
    }
    Err(problem(
        "MSH-4",
        codes::APPLICATION_ERROR,
        format!(
            "The feed's account for trust {trust} cannot be made: accounts named {FEED_USER_PREFIX}{} and {FEED_USER_PREFIX}{}-2 exist and are not the feed's (made before such names were kept for the feed); a database administrator renames one, then this message is replayed",
            trust.to_lowercase(),
            trust.to_lowercase()
        ),
    ))
}

/// An open case the feed found, with the time of the newest message applied to it.
#[derive(Debug, Clone, Copy)]
struct Found {
    id: PatientId,
    last_message_at: Option<DateTime<Utc>>,
}

impl Found {
    /// Whether the case already shows a newer message than one of `at`.
    fn is_newer_than(&self, at: Option<DateTime<Utc>>) -> bool {
        matches!((self.last_message_at, at), (Some(last), Some(at)) if at < last)
    }
}

/// The patient's case discharged at or after `at` (by NHS number, else by hospital number
/// in the trust), if any.
async fn discharged_since(
    tx: &mut PgConnection,
    trust: &str,
    id: &Identity,
    at: DateTime<Utc>,
) -> Result<Option<PatientId>, Failure> {
    let found: Option<i64> = match (&id.nhs_number, &id.local_id) {
        (Some(nhs), _) => {
            sqlx::query_scalar(
                "SELECT id FROM patients WHERE nhs_number = $1 AND status = 'discharged' \
                 AND discharged_at >= $2 ORDER BY discharged_at DESC LIMIT 1",
            )
            .bind(nhs)
            .bind(at)
            .fetch_optional(&mut *tx)
            .await?
        }
        (None, Some(local)) => {
            sqlx::query_scalar(
                "SELECT id FROM patients WHERE trust_code = $1 AND local_id = $2 \
                 AND status = 'discharged' AND discharged_at >= $3 \
                 ORDER BY discharged_at DESC LIMIT 1",
            )
            .bind(trust)
            .bind(local)
            .bind(at)
            .fetch_optional(&mut *tx)
            .await?
        }
        (None, None) => None,
    };
    Ok(found.map(PatientId))
}

/// The patient's open case in the trust: by NHS number, else by hospital number.
async fn open_case(
    tx: &mut PgConnection,
    trust: &str,
    id: &Identity,
) -> Result<Option<Found>, Failure> {
    if let Some(nhs) = &id.nhs_number {
        let found = sqlx::query!(
            r#"SELECT p.id AS "id: PatientId", f.last_message_at AS "last?: DateTime<Utc>"
               FROM patients p LEFT JOIN hl7_case_feed f ON f.patient_id = p.id
               WHERE p.nhs_number = $1 AND p.status NOT IN ('discharged','cancelled')"#,
            nhs,
        )
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(f) = found {
            return Ok(Some(Found {
                id: f.id,
                last_message_at: f.last,
            }));
        }
    }
    if let Some(local) = &id.local_id {
        let found = sqlx::query!(
            r#"SELECT p.id AS "id: PatientId", f.last_message_at AS "last?: DateTime<Utc>"
               FROM patients p LEFT JOIN hl7_case_feed f ON f.patient_id = p.id
               WHERE p.trust_code = $1 AND p.local_id = $2
                 AND p.status NOT IN ('discharged','cancelled')"#,
            trust,
            local,
        )
        .fetch_optional(&mut *tx)
        .await?;
        return Ok(found.map(|f| Found {
            id: f.id,
            last_message_at: f.last,
        }));
    }
    Ok(None)
}

fn no_case(what: &str) -> Failure {
    problem(
        "PID-3",
        codes::UNKNOWN_KEY,
        format!("No open admission for this patient in Homeward: {what}"),
    )
}

const OLDER: &str = "Older than the last message applied to this patient: nothing changed";

async fn case_row(
    tx: &mut PgConnection,
    caller: &Caller,
    id: PatientId,
) -> Result<CaseRow, Failure> {
    Ok(crate::cases::queries::get(&mut *tx, caller, id).await?)
}

/// PID over what the case already holds: a field the message leaves empty keeps its value.
fn demographics(person: &message::Person, case: &CaseRow) -> Result<Demographics, AppError> {
    let mut errors = FieldErrors::new();
    let nhs_number = match &person.identity.nhs_number {
        Some(n) => NhsNumber::parse(n)
            .map_err(|e| errors.add("nhs_number", e.to_string()))
            .ok(),
        None => case
            .nhs_number
            .as_deref()
            .and_then(|n| NhsNumber::parse(n).ok()),
    };
    let or = |given: &str, kept: &str| {
        if given.trim().is_empty() {
            kept.to_string()
        } else {
            given.trim().to_string()
        }
    };
    let date_of_birth = if person.date_of_birth.is_empty() {
        case.date_of_birth
    } else {
        crate::domain::time::parse_date(&person.date_of_birth).unwrap_or(case.date_of_birth)
    };
    let sex = person.sex.parse::<Sex>().unwrap_or(case.sex);
    let postcode = if person.postcode.trim().is_empty() {
        Postcode::parse(&case.postcode)
    } else {
        Postcode::parse(&person.postcode)
    };
    let Some(postcode) = postcode else {
        errors.add("postcode", "Enter a real postcode, like LS9 7TF");
        return Err(AppError::Validation(errors));
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    Ok(Demographics {
        nhs_number,
        local_id: person.identity.local_id.clone().or(case.local_id.clone()),
        given_name: or(&person.given_name, &case.given_name),
        family_name: or(&person.family_name, &case.family_name),
        date_of_birth,
        sex,
        postcode,
    })
}

async fn admit(
    tx: &mut PgConnection,
    caller: &Caller,
    adt: &Adt,
    place: Option<Place>,
    now: DateTime<Utc>,
) -> Result<Done, Failure> {
    let Some(place) = place else {
        return Err(problem(
            "PV1-3",
            codes::REQUIRED_FIELD_MISSING,
            "PV1-3 must name the location",
        ));
    };
    let visit = adt.visit.clone().unwrap_or_default();
    let p = &adt.person;
    match open_case(tx, &place.trust_code, &p.identity).await? {
        None => {
            // an admission older than the patient's last discharge is a late copy of the
            // stay that has ended, not a new stay: opening it would put a patient who went
            // home back on the ward list (rule 4, per patient, not only per open case)
            let admitted_at = visit.admitted_at.or(adt.event_at).unwrap_or(now);
            if let Some(ended) =
                discharged_since(tx, &place.trust_code, &p.identity, admitted_at).await?
            {
                return Ok(ignored(
                    Some(ended),
                    "Older than the patient's last discharge: that stay has ended, nothing changed",
                ));
            }
            let draft = NewCaseDraft {
                nhs_number: p.identity.nhs_number.clone().unwrap_or_default(),
                nhs_number_status: if p.identity.nhs_number.is_some() {
                    "known".into()
                } else {
                    "unknown".into()
                },
                local_id: p.identity.local_id.clone().unwrap_or_default(),
                given_name: p.given_name.clone(),
                family_name: p.family_name.clone(),
                date_of_birth: p.date_of_birth.clone(),
                sex: if p.sex.is_empty() {
                    "unknown".into()
                } else {
                    p.sex.clone()
                },
                postcode: p.postcode.clone(),
                ward_code: place.ward_code.clone(),
                bed: visit.bed.clone(),
                admitted_at: Some(visit.admitted_at.or(adt.event_at).unwrap_or(now)),
                ..NewCaseDraft::default()
            };
            let new = draft
                .validate(now, FieldErrors::new())
                .map_err(AppError::Validation)?;
            let id = commands::flag_in(tx, caller, now, new).await?;
            Ok(done(id, format!("Admitted to {}", place.ward_code)))
        }
        Some(found) => {
            let id = found.id;
            if found.is_newer_than(adt.event_at) {
                return Ok(ignored(Some(id), OLDER));
            }
            let updated = commands::update_demographics_in(
                tx,
                caller,
                now,
                id,
                |case| demographics(p, case),
                CaseAction::DemographicsUpdated,
                "Updated from the hospital's record",
            )
            .await?;
            let moved =
                commands::transfer_in(tx, caller, now, id, &place.ward_code, &visit.bed).await?;
            Ok(match (updated, moved) {
                (false, false) => done(id, "Already admitted: nothing changed"),
                _ => done(id, "Already admitted: the case is brought up to date"),
            })
        }
    }
}

async fn transfer(
    tx: &mut PgConnection,
    caller: &Caller,
    adt: &Adt,
    place: Option<Place>,
    now: DateTime<Utc>,
) -> Result<Done, Failure> {
    let Some(place) = place else {
        return Err(problem(
            "PV1-3",
            codes::REQUIRED_FIELD_MISSING,
            "PV1-3 must name the new location",
        ));
    };
    let Some(found) = open_case(tx, &place.trust_code, &adt.person.identity).await? else {
        return Err(no_case(
            "a transfer before its admission is kept; replay it once the admission has arrived",
        ));
    };
    let id = found.id;
    if found.is_newer_than(adt.event_at) {
        return Ok(ignored(Some(id), OLDER));
    }
    let bed = adt.visit.as_ref().map(|v| v.bed.as_str()).unwrap_or("");
    let moved = commands::transfer_in(tx, caller, now, id, &place.ward_code, bed).await?;
    Ok(done(
        id,
        if moved {
            format!("Moved to {}", place.ward_code)
        } else {
            "Already there: nothing changed".into()
        },
    ))
}

async fn discharge(
    tx: &mut PgConnection,
    state: &AppState,
    caller: &Caller,
    adt: &Adt,
) -> Result<Done, Failure> {
    let Some(id) = open_case(tx, &caller.org_code, &adt.person.identity)
        .await?
        .map(|f| f.id)
    else {
        return Err(no_case("nothing to discharge"));
    };
    let visit = adt.visit.clone().unwrap_or_default();
    let case = case_row(tx, caller, id).await?;
    let (destination, method) = how_they_left(tx, &case, &visit).await?;
    let details = DischargeDetails {
        at: visit.discharged_at.or(adt.event_at),
        destination,
        method,
        destination_rule: DestinationRule::Optional,
    };
    let preview = commands::discharge_in(tx, state, caller, id, None, details).await?;
    Ok(done(id, preview.detail))
}

/// Where and how the patient left, in Homeward's national codes. PV1-36 (discharge
/// disposition) carries the NHS Data Dictionary discharge method and PV1-37.1 (discharged
/// to location) the NHS Data Dictionary discharge destination, as HL7 UK's ADT profile
/// uses them; PV1-37 may also carry a destination-within-pathway code of Homeward's
/// return (`p1_home`). A two-digit destination becomes the return's category for the case's
/// pathway (none chosen: pathway 0) with that Data Dictionary code; 79 (died) is method 4
/// with no destination. A code that maps to nothing is recorded as "not recorded" (the
/// discharge still happens: the hospital's record is the truth) and a method code that is
/// not an NHS Data Dictionary method becomes 9 (not known).
async fn how_they_left(
    tx: &mut PgConnection,
    case: &CaseRow,
    visit: &message::Visit,
) -> Result<(Option<String>, Option<String>), Failure> {
    let mut method = match visit.discharge_disposition.trim() {
        "" => None,
        // the Data Dictionary's old "self-discharge or by a relative" is now 6 or 7
        "2" => Some("6".to_string()),
        code => {
            let known =
                sqlx::query_scalar!("SELECT code FROM discharge_methods WHERE code = $1", code)
                    .fetch_optional(&mut *tx)
                    .await?;
            Some(known.unwrap_or_else(|| "9".to_string()))
        }
    };
    let to = visit.discharged_to.trim();
    let kind = commands::return_kind_of_trust(tx, &case.trust_code).await?;
    let destination = if to.is_empty() {
        None
    } else if to == "79" {
        method = Some(crate::domain::discharge::METHOD_DIED.to_string());
        None
    } else {
        let pathway = case.pathway().map_or(0, |p| p.number());
        sqlx::query_scalar!(
            "SELECT d.code FROM discharge_destinations d JOIN code_sets s ON s.name = d.code_set \
             WHERE s.active AND d.return_kind = $1 AND (d.code = $2 OR d.nhs_dd_code = $2) \
             ORDER BY d.code = $2 DESC, d.pathway = $3 DESC, d.sort_order LIMIT 1",
            kind,
            to,
            pathway,
        )
        .fetch_optional(&mut *tx)
        .await?
    };
    if method.as_deref() == Some(crate::domain::discharge::METHOD_DIED) {
        return Ok((None, method));
    }
    Ok((destination, method))
}

async fn update(
    tx: &mut PgConnection,
    caller: &Caller,
    adt: &Adt,
    place: Option<Place>,
    now: DateTime<Utc>,
) -> Result<Done, Failure> {
    let Some(found) = open_case(tx, &caller.org_code, &adt.person.identity).await? else {
        return Err(no_case("nothing to update"));
    };
    let id = found.id;
    if found.is_newer_than(adt.event_at) {
        return Ok(ignored(Some(id), OLDER));
    }
    let updated = commands::update_demographics_in(
        tx,
        caller,
        now,
        id,
        |case| demographics(&adt.person, case),
        CaseAction::DemographicsUpdated,
        "Updated by the hospital",
    )
    .await?;
    let moved = match &place {
        Some(p) => {
            let bed = adt.visit.as_ref().map(|v| v.bed.as_str()).unwrap_or("");
            commands::transfer_in(tx, caller, now, id, &p.ward_code, bed).await?
        }
        None => false,
    };
    Ok(done(
        id,
        if updated || moved {
            "Updated"
        } else {
            "Nothing changed"
        },
    ))
}

async fn cancel_admission(
    tx: &mut PgConnection,
    caller: &Caller,
    adt: &Adt,
    now: DateTime<Utc>,
) -> Result<Done, Failure> {
    let Some(id) = open_case(tx, &caller.org_code, &adt.person.identity)
        .await?
        .map(|f| f.id)
    else {
        return Err(no_case("no admission to cancel"));
    };
    commands::cancel_in(
        tx,
        caller,
        now,
        id,
        None,
        CancelReason::Other,
        "Admission cancelled by the hospital",
        None,
    )
    .await?;
    Ok(done(id, "Admission cancelled"))
}

async fn cancel_discharge(
    tx: &mut PgConnection,
    caller: &Caller,
    adt: &Adt,
    now: DateTime<Utc>,
) -> Result<Done, Failure> {
    let id = &adt.person.identity;
    let found = sqlx::query_scalar!(
        r#"SELECT id AS "id: PatientId" FROM patients
           WHERE status = 'discharged' AND trust_code = $1
             AND (nhs_number = $2 OR (local_id IS NOT NULL AND local_id = $3))
           ORDER BY discharged_at DESC, id DESC LIMIT 1"#,
        caller.org_code,
        id.nhs_number,
        id.local_id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(case) = found else {
        return Err(problem(
            "PID-3",
            codes::UNKNOWN_KEY,
            "No discharge for this patient in Homeward to cancel",
        ));
    };
    commands::reopen_discharge_in(tx, caller, now, case).await?;
    Ok(done(case, "Discharge cancelled: the case is open again"))
}

/// A40: PID names the record that stays, MRG-1 the one merged into it. Both open: the
/// merged one's case closes (cancelled, reason other) and the staying one's history says
/// so. Only the merged one open: its case takes the staying record's identifiers. Neither:
/// nothing to do (AA).
async fn merge(
    tx: &mut PgConnection,
    caller: &Caller,
    adt: &Adt,
    now: DateTime<Utc>,
) -> Result<Done, Failure> {
    let prior = adt.prior.clone().unwrap_or_default();
    let trust = caller.org_code.clone();
    let survivor = open_case(tx, &trust, &adt.person.identity)
        .await?
        .map(|f| f.id);
    let merged = open_case(tx, &trust, &prior).await?.map(|f| f.id);
    match (survivor, merged) {
        (_, None) => Ok(ignored(
            survivor,
            "The record merged away has no open case in Homeward: nothing changed",
        )),
        (Some(stays), Some(goes)) if stays == goes => {
            commands::update_demographics_in(
                tx,
                caller,
                now,
                stays,
                |case| demographics(&adt.person, case),
                CaseAction::Merged,
                "Records merged by the hospital",
            )
            .await?;
            Ok(done(stays, "Records merged"))
        }
        (Some(stays), Some(goes)) => {
            commands::cancel_in(
                tx,
                caller,
                now,
                goes,
                None,
                CancelReason::Other,
                &format!("{MERGED_PREFIX} {}", stays.0),
                None,
            )
            .await?;
            commands::note_in(
                tx,
                caller,
                now,
                stays,
                CaseAction::Merged,
                format!(
                    "Records merged by the hospital: case {} is closed into this one",
                    goes.0
                ),
            )
            .await?;
            Ok(done(
                stays,
                format!("Case {} merged into this case", goes.0),
            ))
        }
        (None, Some(goes)) => {
            let staying = &adt.person.identity;
            commands::update_demographics_in(
                tx,
                caller,
                now,
                goes,
                |case| {
                    let mut d = demographics(&adt.person, case)?;
                    // the staying record's identifiers replace the merged one's
                    if let Some(n) = &staying.nhs_number {
                        d.nhs_number = NhsNumber::parse(n).ok();
                    }
                    if staying.local_id.is_some() {
                        d.local_id = staying.local_id.clone();
                    }
                    Ok(d)
                },
                CaseAction::Merged,
                "Records merged by the hospital: now identified by the surviving record",
            )
            .await?;
            Ok(done(goes, "The case now carries the surviving record"))
        }
    }
}

/// A stored message the admin page replays.
pub async fn replay_stored(state: &AppState, id: i64) -> Result<Handled, AppError> {
    let body = sqlx::query_scalar!(
        "SELECT body FROM hl7_messages WHERE id = $1 AND outcome = 'refused' AND resolved_at IS NULL",
        id,
    )
    .fetch_optional(&state.pool)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(handle(state, &body, Some(id)).await)
}

/// Splits a day's message log into messages: MLLP frames when the file has any (0x0B),
/// else text where each message starts at a line beginning `MSH` or after a blank line
/// (segments one per line, CR, LF or CRLF).
/// And what of the file could not be read as messages: a frame over 1 MB, an
/// unfinished frame (cut off by the next one, or at the end: a log cut off mid-write), bytes
/// outside any frame.
pub fn split_log_reporting(bytes: &[u8]) -> (Vec<String>, Vec<String>) {
    let mut unreadable = vec![];
    if bytes.contains(&super::mllp::START) {
        let mut d = super::mllp::Deframer::for_a_file();
        let mut messages = vec![];
        for f in d.push(bytes) {
            match f {
                super::mllp::Found::Frame(b) => messages.push(super::mllp::decode(&b)),
                super::mllp::Found::TooLarge => unreadable.push(format!(
                    "a frame larger than {} bytes, skipped (reading went on with the next)",
                    super::mllp::MAX_FRAME_BYTES
                )),
            }
        }
        if d.restarted > 0 {
            unreadable.push(format!(
                "{} unfinished frame(s) cut off by the start of another (a log cut off mid-write, then written on)",
                d.restarted
            ));
        }
        if d.in_frame() {
            unreadable.push(
                "an unfinished frame at the end of the file (no 0x1C 0x0D): the log may have been cut off"
                    .to_string(),
            );
        }
        if d.outside > 0 {
            unreadable.push(format!("{} bytes outside any frame, skipped", d.outside));
        }
        return (messages, unreadable);
    }
    let text = super::mllp::decode(bytes)
        .replace("\r\n", "\n")
        .replace('\r', "\n");
    let mut messages = vec![];
    let mut current: Vec<&str> = vec![];
    for line in text.split('\n') {
        if line.trim().is_empty() || line.starts_with("MSH") {
            if !current.is_empty() {
                messages.push(current.join("\r"));
                current.clear();
            }
            if line.trim().is_empty() {
                continue;
            }
        }
        current.push(line);
    }
    if !current.is_empty() {
        messages.push(current.join("\r"));
    }
    (messages, unreadable)
}

/// What a replay did, message by message.
#[derive(Debug, Default)]
pub struct ReplaySummary {
    pub handled: Vec<Handled>,
    /// Parts of the file that were not messages ([`split_log_reporting`]).
    pub unreadable: Vec<String>,
}

impl ReplaySummary {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.handled.iter().filter(|h| h.outcome == outcome).count()
    }
}

/// Applies a day's message log in file order, as the MLLP port would.
pub async fn replay_log(state: &AppState, bytes: &[u8]) -> ReplaySummary {
    let (messages, unreadable) = split_log_reporting(bytes);
    let mut summary = ReplaySummary {
        unreadable,
        ..ReplaySummary::default()
    };
    for message in messages {
        summary.handled.push(handle(state, &message, None).await);
    }
    summary
}

/// How many messages one pass of the retention deletes at most (a short transaction, so the
/// feed never waits long behind it).
const RETENTION_BATCH: i64 = 5_000;

/// Deletes, oldest first and at most `batch`, the logged messages received before `before`
/// that are dealt with: applied, ignored, rejected, or refused and since replayed. Refusals
/// still waiting for an administrator are kept however old. Returns how many went.
///
/// A message sent again after its row has gone is not recognised as a repeat by its control
/// id any more; it still cannot undo anything newer (rule 4: the case's newest message time
/// in `hl7_case_feed` is kept), and a change the case has already had is refused and kept.
pub async fn forget_old_messages(
    db: impl sqlx::PgExecutor<'_>,
    before: DateTime<Utc>,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    // a replayed refusal names the row that applied it (`resolved_by`): that row is never
    // older than the refusal, so both go in the same pass or the refusal goes first
    Ok(sqlx::query(
        "DELETE FROM hl7_messages WHERE id IN (SELECT m.id FROM hl7_messages m \
         WHERE m.received_at < $1 \
           AND (m.outcome IN ('applied','ignored','rejected') OR m.resolved_at IS NOT NULL) \
           AND NOT EXISTS (SELECT 1 FROM hl7_messages r WHERE r.resolved_by = m.id AND r.received_at >= $1) \
         ORDER BY m.received_at LIMIT $2)",
    )
    .bind(before)
    .bind(batch)
    .execute(db)
    .await?
    .rows_affected())
}

/// Forgets old messages ([`forget_old_messages`], those older than `keep`) every hour, for
/// as long as the pool is open; a backlog is worked off in batches a few seconds apart.
pub fn start_retention(
    pool: sqlx::PgPool,
    clock: crate::domain::time::Clock,
    keep: chrono::Duration,
) {
    tokio::spawn(async move {
        let mut wait = std::time::Duration::from_secs(60);
        loop {
            tokio::time::sleep(wait).await;
            if pool.is_closed() {
                return;
            }
            wait = match forget_old_messages(&pool, clock.now() - keep, RETENTION_BATCH).await {
                Ok(n) if n as i64 == RETENTION_BATCH => std::time::Duration::from_secs(5),
                Ok(n) => {
                    if n > 0 {
                        tracing::info!(deleted = n, "the hospital feed's old messages forgotten");
                    }
                    std::time::Duration::from_secs(3600)
                }
                Err(sqlx::Error::PoolClosed) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "forgetting the hospital feed's old messages failed");
                    std::time::Duration::from_secs(3600)
                }
            };
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_splits_on_msh_and_blank_lines() {
        let log = "MSH|^~\\&|A\nPID|1\n\n\nMSH|^~\\&|B\r\nPID|2\r\nMSH|^~\\&|C\rPID|3\r";
        let got = split_log_reporting(log.as_bytes()).0;
        assert_eq!(
            got,
            vec![
                "MSH|^~\\&|A\rPID|1",
                "MSH|^~\\&|B\rPID|2",
                "MSH|^~\\&|C\rPID|3"
            ]
        );
    }

    #[test]
    fn a_log_of_frames_splits_on_frames() {
        let mut bytes = super::super::mllp::frame("MSH|one\rPID|1");
        bytes.extend(b"\n");
        bytes.extend(super::super::mllp::frame("MSH|two"));
        assert_eq!(
            split_log_reporting(&bytes).0,
            vec!["MSH|one\rPID|1", "MSH|two"]
        );
        let (_, unreadable) = split_log_reporting(&bytes);
        assert!(unreadable.is_empty(), "{unreadable:?}");
    }

    #[test]
    fn a_log_cut_off_mid_frame_or_with_junk_before_its_frames_says_so() {
        let mut bytes = b"junk".to_vec();
        bytes.extend(super::super::mllp::frame("MSH|one"));
        bytes.extend(b"\x0bMSH|two\rPID|");
        let (messages, unreadable) = split_log_reporting(&bytes);
        assert_eq!(messages, vec!["MSH|one"]);
        assert_eq!(unreadable.len(), 2, "{unreadable:?}");
        assert!(unreadable.iter().any(|u| u.contains("unfinished frame")));
        assert!(unreadable.iter().any(|u| u.contains("outside any frame")));
        // a frame cut off by the next, and one too large: both said, and reading goes on
        let mut bytes = b"\x0bMSH|cut".to_vec();
        bytes.extend(super::super::mllp::frame("MSH|whole"));
        bytes.push(super::super::mllp::START);
        bytes.extend(vec![b'A'; super::super::mllp::MAX_FRAME_BYTES + 10]);
        bytes.extend([0x1c, 0x0d]);
        bytes.extend(super::super::mllp::frame("MSH|after"));
        let (messages, unreadable) = split_log_reporting(&bytes);
        assert_eq!(messages, vec!["MSH|whole", "MSH|after"]);
        assert!(
            unreadable
                .iter()
                .any(|u| u.contains("cut off by the start of another")),
            "{unreadable:?}"
        );
        assert!(
            unreadable.iter().any(|u| u.contains("larger than")),
            "{unreadable:?}"
        );
    }
}
