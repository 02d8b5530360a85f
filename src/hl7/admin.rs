//! The hospital feed's page for administrators (`/admin/hl7`): is the feed alive (the last
//! message, the last hour's count, refusals waiting), the refused messages with their reason
//! and a replay button, and the table that maps the sending system's locations to wards,
//! with rows to add and remove. Forms post back here (cross-site posts are refused by the
//! CSRF layer, as everywhere) and redirect with a flash message. Admin only, and each
//! administrator sees its own hub's part of the feed: the mappings to its trusts' wards, and
//! the messages of the sending facilities mapped there (or mapped nowhere yet, so that a new
//! system's refusals can be seen and mapped).

use crate::accounts::PageCaller;
use crate::domain::{Caller, Role};
use crate::error::{AppError, FieldErrors};
use crate::state::AppState;
use crate::web::{FormErrors, Id, Layout, PageResult, done, invalid};
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tower_sessions::Session;

/// Refused messages shown at once (newest first).
const REFUSED_SHOWN: i64 = 100;

pub struct Health {
    pub last_at: Option<DateTime<Utc>>,
    pub last_hour: i64,
    /// Refused (AE), not yet applied: what an administrator may replay. Rejected
    /// messages (AR: events and versions the feed never takes) are logged, not waiting.
    pub waiting: i64,
}

pub struct RefusedRow {
    pub id: i64,
    pub received_at: DateTime<Utc>,
    pub event: String,
    pub control_id: String,
    pub outcome: String,
    pub reason: String,
    pub body: String,
}

impl RefusedRow {
    pub fn received(&self) -> String {
        crate::domain::time::display_london(self.received_at)
    }
    /// The message with one segment a line, without what could identify the patient: the
    /// header, event and visit segments in full (enough to see the location, event and
    /// times), any other segment by its name only. The reason names the field at fault.
    pub fn lines(&self) -> String {
        self.body
            .split(['\r', '\n'])
            .filter(|s| !s.is_empty())
            .map(|segment| {
                let name: String = segment.chars().take(3).collect();
                if matches!(name.as_str(), "MSH" | "EVN" | "PV1" | "PV2") {
                    segment.to_string()
                } else {
                    format!("{name}|... (not shown: it may identify the patient)")
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
    pub fn replayable(&self) -> bool {
        self.outcome == "refused"
    }
}

pub struct MappingRow {
    pub sending_facility: String,
    pub point_of_care: String,
    pub ward_code: String,
    pub ward_name: String,
}

pub struct WardChoice {
    pub code: String,
    pub name: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "hl7/feed.html")]
struct FeedPage {
    layout: Layout,
    health: Health,
    refused: Vec<RefusedRow>,
    mappings: Vec<MappingRow>,
    wards: Vec<WardChoice>,
    form: MappingForm,
    errors: FormErrors,
    keep_days: i64,
}

impl FeedPage {
    fn last_message(&self) -> String {
        self.health
            .last_at
            .map(crate::domain::time::display_london)
            .unwrap_or_else(|| "No message yet".to_string())
    }
}

#[derive(Deserialize, Default, Clone)]
pub struct MappingForm {
    #[serde(default)]
    pub sending_facility: String,
    #[serde(default)]
    pub point_of_care: String,
    #[serde(default)]
    pub ward_code: String,
}

fn admin(caller: &Caller) -> Result<(), AppError> {
    Ok(caller.require(&[Role::Admin])?)
}

async fn page(
    state: &AppState,
    session: &Session,
    caller: &Caller,
    form: MappingForm,
    errors: FormErrors,
) -> Result<FeedPage, AppError> {
    let now = state.clock.now();
    let health = sqlx::query!(
        r#"SELECT (SELECT max(received_at) FROM hl7_messages m WHERE (m.sending_facility IN (SELECT l.sending_facility FROM hl7_locations l
                     JOIN wards w ON w.code = l.ward_code JOIN organisations o ON o.code = w.org_code
                     WHERE o.hub_code = $2)
                  OR NOT EXISTS (SELECT 1 FROM hl7_locations l WHERE l.sending_facility = m.sending_facility))) AS "last_at: DateTime<Utc>",
                  (SELECT count(*) FROM hl7_messages m WHERE received_at > $1 AND (m.sending_facility IN (SELECT l.sending_facility FROM hl7_locations l
                     JOIN wards w ON w.code = l.ward_code JOIN organisations o ON o.code = w.org_code
                     WHERE o.hub_code = $2)
                  OR NOT EXISTS (SELECT 1 FROM hl7_locations l WHERE l.sending_facility = m.sending_facility))) AS "last_hour!",
                  (SELECT count(*) FROM hl7_messages m WHERE outcome = 'refused'
                     AND resolved_at IS NULL AND (m.sending_facility IN (SELECT l.sending_facility FROM hl7_locations l
                     JOIN wards w ON w.code = l.ward_code JOIN organisations o ON o.code = w.org_code
                     WHERE o.hub_code = $2)
                  OR NOT EXISTS (SELECT 1 FROM hl7_locations l WHERE l.sending_facility = m.sending_facility))) AS "waiting!""#,
        (now - chrono::Duration::hours(1)) as _,
        caller.hub_code,
    )
    .fetch_one(&state.pool)
    .await?;
    let refused = sqlx::query_as!(
        RefusedRow,
        r#"SELECT id, received_at AS "received_at: DateTime<Utc>", event, control_id, outcome,
                  reason, body
           FROM hl7_messages m WHERE outcome = 'refused' AND resolved_at IS NULL
             AND (m.sending_facility IN (SELECT l.sending_facility FROM hl7_locations l
                     JOIN wards w ON w.code = l.ward_code JOIN organisations o ON o.code = w.org_code
                     WHERE o.hub_code = $2)
                  OR NOT EXISTS (SELECT 1 FROM hl7_locations l WHERE l.sending_facility = m.sending_facility))
           ORDER BY received_at DESC, id DESC LIMIT $1"#,
        REFUSED_SHOWN,
        caller.hub_code,
    )
    .fetch_all(&state.pool)
    .await?;
    let mappings = sqlx::query_as!(
        MappingRow,
        "SELECT l.sending_facility, l.point_of_care, l.ward_code, w.name AS ward_name \
         FROM hl7_locations l JOIN wards w ON w.code = l.ward_code \
         JOIN organisations o ON o.code = w.org_code WHERE o.hub_code = $1 \
         ORDER BY l.sending_facility, l.point_of_care",
        caller.hub_code,
    )
    .fetch_all(&state.pool)
    .await?;
    let wards = sqlx::query_as!(
        WardChoice,
        "SELECT w.code, w.name FROM wards w JOIN organisations o ON o.code = w.org_code \
         WHERE o.hub_code = $1 ORDER BY w.code",
        caller.hub_code,
    )
    .fetch_all(&state.pool)
    .await?;
    Ok(FeedPage {
        layout: Layout::new(session, caller, "hl7", 0).await,
        health: Health {
            last_at: health.last_at,
            last_hour: health.last_hour,
            waiting: health.waiting,
        },
        refused,
        mappings,
        wards,
        form,
        errors,
        keep_days: state.config.hl7_keep.num_days(),
    })
}

/// `GET /admin/hl7`.
pub async fn show(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
) -> PageResult {
    admin(&caller)?;
    Ok(page(
        &state,
        &session,
        &caller,
        MappingForm::default(),
        FormErrors::default(),
    )
    .await?
    .into_response())
}

/// `POST /admin/hl7/messages/{id}/replay`: applies a refused message again.
pub async fn replay(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<i64>,
) -> PageResult {
    admin(&caller)?;
    // another hub's message is not found
    let visible = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM hl7_messages m WHERE m.id = $1 AND (m.sending_facility IN (SELECT l.sending_facility FROM hl7_locations l
                     JOIN wards w ON w.code = l.ward_code JOIN organisations o ON o.code = w.org_code
                     WHERE o.hub_code = $2)
                  OR NOT EXISTS (SELECT 1 FROM hl7_locations l WHERE l.sending_facility = m.sending_facility))) AS "visible!""#,
        id,
        caller.hub_code,
    )
    .fetch_one(&state.pool)
    .await?;
    if !visible {
        return Err(AppError::NotFound.into());
    }
    let handled = super::feed::replay_stored(&state, id).await?;
    tracing::info!(
        admin = caller.user_id,
        outcome = handled.outcome.as_str(),
        "replayed an HL7 message"
    );
    let message = match handled.outcome {
        super::feed::Outcome::Applied => format!("Message {} applied", handled.control_id),
        super::feed::Outcome::Duplicate | super::feed::Outcome::Ignored => {
            format!("Message {}: {}", handled.control_id, handled.reason)
        }
        _ => format!(
            "Message {} is still refused: {}",
            handled.control_id, handled.reason
        ),
    };
    Ok(done(&session, "/admin/hl7", message).await)
}

/// Checks a mapping row as typed.
fn check(form: &MappingForm) -> Result<(String, String, String), FieldErrors> {
    let mut errors = FieldErrors::new();
    let facility = form.sending_facility.trim().to_uppercase();
    let poc = form.point_of_care.trim().to_uppercase();
    let ok = |s: &str, extra: &[char]| {
        (1..=40).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c) || extra.contains(&c))
    };
    if !ok(&facility, &[]) {
        errors.add(
            "sending_facility",
            "Enter the sending facility (MSH-4): up to 40 letters, digits, dots, hyphens or underscores",
        );
    }
    if !ok(&poc, &[' ']) {
        errors.add(
            "point_of_care",
            "Enter the point of care (PV1-3.1): up to 40 letters, digits, spaces, dots, hyphens or underscores",
        );
    }
    if form.ward_code.trim().is_empty() {
        errors.add("ward_code", "Select the ward");
    }
    if errors.is_empty() {
        Ok((facility, poc, form.ward_code.trim().to_string()))
    } else {
        Err(errors)
    }
}

/// `POST /admin/hl7/locations`: adds a row (or points an existing location at another ward).
pub async fn add_location(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Form(form): Form<MappingForm>,
) -> PageResult {
    admin(&caller)?;
    let checked = check(&form);
    let result = match checked {
        Err(e) => Err(e),
        Ok((facility, poc, ward)) => {
            // one sending facility is one trust's system: a location of another trust's ward
            // would make every message without a location ambiguous (refused)
            let other_trust: Option<(String, Option<String>)> = sqlx::query_as(
                "SELECT w.org_code, o.hub_code FROM hl7_locations l JOIN wards w ON w.code = l.ward_code \
                 JOIN organisations o ON o.code = w.org_code \
                 WHERE l.sending_facility = $1 AND l.point_of_care <> $2 \
                 AND w.org_code <> (SELECT org_code FROM wards WHERE code = $3) LIMIT 1",
            )
            .bind(&facility)
            .bind(&poc)
            .bind(&ward)
            .fetch_optional(&state.pool)
            .await?;
            if let Some((trust, hub)) = other_trust {
                // another hub's mapping is not named
                let message = if hub.as_deref() == Some(caller.hub_code.as_str()) {
                    format!(
                        "{facility} already maps to {trust}'s wards: a sending facility is one \
                         trust's system, so choose one of {trust}'s wards"
                    )
                } else {
                    format!(
                        "{facility} is another hub's sending facility: it cannot map to your wards"
                    )
                };
                let errors = FieldErrors::single("ward_code", message);
                return Ok(invalid(
                    page(&state, &session, &caller, form, FormErrors(errors)).await?,
                ));
            }
            let saved = sqlx::query!(
                "INSERT INTO hl7_locations (sending_facility, point_of_care, ward_code) \
                 SELECT $1, $2, w.code FROM wards w JOIN organisations o ON o.code = w.org_code \
                 WHERE w.code = $3 AND o.hub_code = $4 \
                 ON CONFLICT (sending_facility, point_of_care) DO UPDATE SET ward_code = EXCLUDED.ward_code \
                 WHERE hl7_locations.ward_code IN (SELECT w2.code FROM wards w2 \
                   JOIN organisations o2 ON o2.code = w2.org_code WHERE o2.hub_code = $4)",
                facility,
                poc,
                ward,
                caller.hub_code,
            )
            .execute(&state.pool)
            .await?;
            if saved.rows_affected() == 0 {
                // no such ward of this hub, or the location is another hub's
                Err(FieldErrors::single(
                    "ward_code",
                    "Select one of your hub's wards (this location may be another hub's)",
                ))
            } else {
                Ok(format!("{facility} {poc} now maps to {ward}"))
            }
        }
    };
    match result {
        Ok(message) => {
            tracing::info!(admin = caller.user_id, "changed the HL7 location mapping");
            Ok(done(&session, "/admin/hl7", message).await)
        }
        Err(errors) => Ok(invalid(
            page(&state, &session, &caller, form, FormErrors(errors)).await?,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_message_is_shown_without_patient_details() {
        let row = RefusedRow {
            id: 1,
            received_at: Utc::now(),
            event: "A01".into(),
            control_id: "M1".into(),
            outcome: "refused".into(),
            reason: "PV1-3: not mapped".into(),
            body:
                "MSH|^~\\&|PAS|RHW\rEVN|A01\rPID|1||9434765919^^^NHS^NH||Lovelace^Ada\rPV1|1|I|ITU"
                    .into(),
        };
        let shown = row.lines();
        assert!(shown.contains("PV1|1|I|ITU"));
        assert!(shown.contains("MSH|"));
        assert!(!shown.contains("Lovelace"));
        assert!(!shown.contains("9434765919"));
    }
}

#[derive(Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    sending_facility: String,
    #[serde(default)]
    point_of_care: String,
}

/// `POST /admin/hl7/locations/remove`.
pub async fn remove_location(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Form(form): Form<RemoveForm>,
) -> PageResult {
    admin(&caller)?;
    let removed = sqlx::query!(
        "DELETE FROM hl7_locations l WHERE l.sending_facility = $1 AND l.point_of_care = $2 \
         AND l.ward_code IN (SELECT w.code FROM wards w JOIN organisations o ON o.code = w.org_code \
                             WHERE o.hub_code = $3)",
        form.sending_facility,
        form.point_of_care,
        caller.hub_code,
    )
    .execute(&state.pool)
    .await?;
    if removed.rows_affected() == 0 {
        return Err(AppError::NotFound.into());
    }
    tracing::info!(admin = caller.user_id, "changed the HL7 location mapping");
    Ok(done(
        &session,
        "/admin/hl7",
        format!(
            "{} {} is no longer mapped",
            form.sending_facility, form.point_of_care
        ),
    )
    .await)
}
