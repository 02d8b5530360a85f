//! Patient choice: the stages of a local choice policy (information, letter with a
//! deadline, preferences, escalation, outcome) recorded on a case. Each step is one
//! transaction with its history row and a version check on the case. The hub sees every
//! open case whose choice deadline has passed without an outcome.

pub mod api;
pub mod pages;

use crate::cases::queries as case_queries;
use crate::domain::time::{display_london, london_date};
use crate::domain::{Caller, CaseAction, CaseStatus, PatientId, Role};
use crate::error::{AppError, FieldErrors};
use crate::scope::CaseScope;
use crate::state::AppState;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgExecutor, QueryBuilder};

#[derive(Debug, Clone, Default, FromRow, Serialize, utoipa::ToSchema)]
pub struct ChoiceRecord {
    pub information_given_at: Option<DateTime<Utc>>,
    pub letter_sent_at: Option<DateTime<Utc>>,
    /// The date by which the patient should choose (letter date + the configured days).
    pub deadline: Option<NaiveDate>,
    pub options_offered: Vec<String>,
    /// Up to three, most preferred first.
    pub preferences: Vec<String>,
    pub escalated_at: Option<DateTime<Utc>>,
    pub escalation_note: Option<String>,
    /// accepted, interim or declined.
    pub outcome: Option<String>,
    pub outcome_at: Option<DateTime<Utc>>,
    pub outcome_note: Option<String>,
}

impl ChoiceRecord {
    pub fn overdue(&self, today: NaiveDate) -> bool {
        self.outcome.is_none() && self.deadline.is_some_and(|d| d < today)
    }
}

/// One step of the choice process.
#[derive(Debug, Clone)]
pub enum ChoiceStep {
    InformationGiven,
    Letter { options: Vec<String> },
    Preferences(Vec<String>),
    Escalated { note: String },
    Outcome { outcome: String, note: String },
}

pub const OUTCOMES: &[(&str, &str)] = &[
    ("accepted", "Accepted an available option"),
    (
        "interim",
        "Interim placement while waiting for the preferred option",
    ),
    ("declined", "Declined the options offered"),
];

pub async fn get(db: impl PgExecutor<'_>, patient_id: PatientId) -> Result<ChoiceRecord, AppError> {
    Ok(sqlx::query_as::<_, ChoiceRecord>(
        "SELECT information_given_at, letter_sent_at, deadline, options_offered, preferences, escalated_at, \
         escalation_note, outcome, outcome_at, outcome_note FROM patient_choices WHERE patient_id = $1",
    )
    .bind(patient_id)
    .fetch_optional(db)
    .await?
    .unwrap_or_default())
}

fn lines(values: Vec<String>, field: &str, max: usize, errors: &mut FieldErrors) -> Vec<String> {
    let v: Vec<String> = values
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if v.len() > max {
        errors.add(field, format!("Give at most {max}"));
    }
    if v.iter().any(|s| s.chars().count() > 200) {
        errors.add(field, "Each must be 200 characters or fewer");
    }
    v
}

/// Records one step. Hub and ward staff may record choice; the case must be open.
pub async fn record(
    state: &AppState,
    caller: &Caller,
    id: PatientId,
    version: Option<i32>,
    step: ChoiceStep,
) -> Result<ChoiceRecord, AppError> {
    caller.require(&[Role::Hub, Role::Ward])?;
    let now = state.clock.now();
    let mut errors = FieldErrors::new();
    let step = match step {
        ChoiceStep::Letter { options } => {
            let options = lines(options, "options", 10, &mut errors);
            if options.is_empty() {
                errors.add("options", "Enter the options offered, one per line");
            }
            ChoiceStep::Letter { options }
        }
        ChoiceStep::Preferences(p) => {
            let p = lines(p, "preferences", 3, &mut errors);
            if p.is_empty() {
                errors.add("preferences", "Enter at least one preference");
            }
            ChoiceStep::Preferences(p)
        }
        ChoiceStep::Escalated { note } => {
            if note.trim().is_empty() {
                errors.add("note", "Describe the escalation (meeting or letter)");
            }
            ChoiceStep::Escalated {
                note: note.trim().to_string(),
            }
        }
        ChoiceStep::Outcome { outcome, note } => {
            if !OUTCOMES.iter().any(|(c, _)| *c == outcome) {
                errors.add("outcome", "Select the outcome");
            }
            ChoiceStep::Outcome {
                outcome,
                note: note.trim().to_string(),
            }
        }
        other => other,
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let mut tx = state.pool.begin().await?;
    let case = case_queries::lock(&mut tx, caller, id, version).await?;
    if case.status.is_terminal() {
        return Err(AppError::conflict(
            "invalid_transition",
            "The case is closed",
        ));
    }
    sqlx::query!(
        "INSERT INTO patient_choices (patient_id, updated_at) VALUES ($1, $2) ON CONFLICT (patient_id) DO NOTHING",
        id as _,
        now as _,
    )
        .execute(&mut *tx)
        .await?;
    let (action, detail) = match &step {
        ChoiceStep::InformationGiven => {
            sqlx::query!(
                "UPDATE patient_choices SET information_given_at = $2, updated_at = $2 WHERE patient_id = $1",
                id as _,
                now as _,
            )
                .execute(&mut *tx)
                .await?;
            (
                CaseAction::ChoiceInformation,
                "Choice information given to the patient".to_string(),
            )
        }
        ChoiceStep::Letter { options } => {
            let deadline = london_date(now) + state.config.choice_deadline;
            sqlx::query!(
                "UPDATE patient_choices SET letter_sent_at = $2, deadline = $3, options_offered = $4, updated_at = $2 WHERE patient_id = $1",
                id as _,
                now as _,
                deadline as _,
                options as _,
            )
            .execute(&mut *tx)
            .await?;
            (
                CaseAction::ChoiceLetter,
                format!(
                    "Choice letter sent ({} options); choose by {}",
                    options.len(),
                    deadline.format("%-d %b %Y")
                ),
            )
        }
        ChoiceStep::Preferences(p) => {
            sqlx::query!(
                "UPDATE patient_choices SET preferences = $2, updated_at = $3 WHERE patient_id = $1",
                id as _,
                p as _,
                now as _,
            )
                .execute(&mut *tx)
                .await?;
            (
                CaseAction::ChoicePreferences,
                format!("Preferences: {}", p.join("; ")),
            )
        }
        ChoiceStep::Escalated { note } => {
            sqlx::query!(
                "UPDATE patient_choices SET escalated_at = $2, escalation_note = $3, updated_at = $2 WHERE patient_id = $1",
                id as _,
                now as _,
                note as _,
            )
                .execute(&mut *tx)
                .await?;
            (
                CaseAction::ChoiceEscalated,
                format!("Choice escalated: {note}"),
            )
        }
        ChoiceStep::Outcome { outcome, note } => {
            sqlx::query!(
                "UPDATE patient_choices SET outcome = $2, outcome_at = $3, outcome_note = NULLIF($4, ''), updated_at = $3 WHERE patient_id = $1",
                id as _,
                outcome as _,
                now as _,
                note as _,
            )
            .execute(&mut *tx)
            .await?;
            let label = OUTCOMES
                .iter()
                .find(|(c, _)| c == outcome)
                .map(|(_, l)| *l)
                .unwrap_or("");
            (
                CaseAction::ChoiceOutcome,
                if note.is_empty() {
                    format!("Choice outcome: {label}")
                } else {
                    format!("Choice outcome: {label} ({note})")
                },
            )
        }
    };
    let note = crate::cases::history::Note {
        patient_id: id,
        action,
        detail,
        from_status: case.status,
        to_status: None,
    };
    crate::cases::history::write(&mut tx, caller, now, note).await?;
    tx.commit().await?;
    get(&state.pool, id).await
}

/// An open case whose choice deadline has passed without an outcome.
#[derive(Debug, Clone, FromRow)]
pub struct OverdueChoice {
    pub patient_id: PatientId,
    pub given_name: String,
    pub family_name: String,
    /// The NHS number, or the hospital number when it is not known.
    pub nhs_number: String,
    pub ward_code: String,
    pub status: CaseStatus,
    pub deadline: NaiveDate,
    pub letter_sent_at: Option<DateTime<Utc>>,
    pub escalated_at: Option<DateTime<Utc>>,
}

impl OverdueChoice {
    pub fn letter(&self) -> String {
        self.letter_sent_at.map(display_london).unwrap_or_default()
    }
}

/// The tag of the overdue list's cursors (page and API).
pub const OVERDUE_LIST: &str = "choice-overdue";

/// Where an overdue row sits in the list (most overdue first, ties by case): its deadline
/// (as that day's midnight) and case.
pub fn overdue_position(c: &OverdueChoice) -> crate::web::paging::Position {
    crate::web::paging::Position {
        at: c.deadline.and_time(chrono::NaiveTime::MIN).and_utc(),
        id: c.patient_id.0,
    }
}

/// Hub only: a page of the open cases (that the hub sees) whose choice deadline has passed,
/// most overdue first, after `after` (a position from [`overdue_position`]): at most
/// `limit` + 1 rows (the extra one says there is a next page), and how many there are in
/// all.
pub async fn overdue(
    db: &sqlx::PgPool,
    caller: &Caller,
    today: NaiveDate,
    after: Option<crate::web::paging::Position>,
    limit: i64,
) -> Result<(Vec<OverdueChoice>, i64), AppError> {
    caller.require(&[Role::Hub])?;
    let scoped = |select: &str| {
        let mut q = QueryBuilder::new(select);
        q.push(
            " FROM patient_choices c JOIN patients p ON p.id = c.patient_id \
             WHERE c.outcome IS NULL AND c.deadline < ",
        )
        .push_bind(today)
        .push(" AND p.status NOT IN ('discharged','cancelled') AND ");
        CaseScope::of(caller).push_sql(&mut q, "p");
        q
    };
    let mut q = scoped(
        "SELECT c.patient_id, p.given_name, p.family_name, COALESCE(p.nhs_number, 'hospital number ' || p.local_id, '') AS nhs_number, p.ward_code, p.status, c.deadline, \
         c.letter_sent_at, c.escalated_at",
    );
    if let Some(after) = after {
        q.push(" AND (c.deadline, c.patient_id) > (")
            .push_bind(after.at.date_naive())
            .push(", ")
            .push_bind(after.id)
            .push(")");
    }
    q.push(" ORDER BY c.deadline, c.patient_id LIMIT ")
        .push_bind(limit + 1);
    let rows = q.build_query_as::<OverdueChoice>().fetch_all(db).await?;
    let total = scoped("SELECT count(*)")
        .build_query_scalar::<i64>()
        .fetch_one(db)
        .await?;
    Ok((rows, total))
}
