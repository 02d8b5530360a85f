//! Every change to a case. Each command runs in one transaction: it locks the case (scoped
//! to the caller, version-checked), asks the status machine whether the move is allowed,
//! writes the change and its history row, and commits them together or not at all.
//! Page and API handlers both call these; the rules live only here.

use super::model::NewCase;
use crate::cases::{CaseRow, history, queries};

use crate::domain::discharge::{METHOD_CLINICAL_ADVICE, METHOD_DIED};
use crate::domain::{Caller, CancelReason, NhsNumberStatus};
use crate::domain::{CaseAction, CaseEvent, CaseStatus, Pathway, PatientId, Role};
use crate::error::{AppError, FieldErrors};
use crate::market::commands::{CaseClosing, close_for_patient};
use crate::scope::CaseScope;
use crate::state::AppState;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

/// Who may do what, in one place.
const FLAG: &[Role] = &[Role::Ward, Role::Hub];
const CRITERIA: &[Role] = &[Role::Ward, Role::Hub];
const PATHWAY: &[Role] = &[Role::Hub];
const DELAY_REASON: &[Role] = &[Role::Ward, Role::Hub];
const DETAILS: &[Role] = &[Role::Ward, Role::Hub];
const PLAN_DISCHARGE: &[Role] = &[Role::Ward, Role::Hub];
const DISCHARGE: &[Role] = &[Role::Ward, Role::Hub];
const CANCEL: &[Role] = &[Role::Hub];
const COORDINATE: &[Role] = &[Role::Hub];

/// A little leeway for clocks that run a few minutes apart.
fn latest_allowed(now: DateTime<Utc>) -> DateTime<Utc> {
    now + chrono::Duration::minutes(5)
}

fn transition(case: &CaseRow, event: CaseEvent) -> Result<CaseStatus, AppError> {
    case.status
        .apply(event, case.pathway())
        .map_err(|e| AppError::conflict("invalid_transition", e.message))
}

/// The history row of a change to `case`.
fn note(
    case: &CaseRow,
    action: CaseAction,
    detail: String,
    new_status: Option<CaseStatus>,
) -> history::Note {
    history::Note {
        patient_id: case.id,
        action,
        detail,
        from_status: case.status,
        to_status: new_status,
    }
}

/// Writes the history row and bumps the version and timestamp (and sets the new status).
/// Every command ends here or in [`record_changed`].
async fn record(
    conn: &mut PgConnection,
    case: &CaseRow,
    caller: &Caller,
    now: DateTime<Utc>,
    action: CaseAction,
    detail: String,
    new_status: Option<CaseStatus>,
) -> Result<(), AppError> {
    history::write(conn, caller, now, note(case, action, detail, new_status)).await
}

/// The history row of a change whose `UPDATE` already set `version = version + 1`,
/// `updated_at` and the new status: as [`record`], without updating the row again (one
/// update of the case a change: each writes every index of `patients`).
async fn record_changed(
    conn: &mut PgConnection,
    case: &CaseRow,
    caller: &Caller,
    now: DateTime<Utc>,
    action: CaseAction,
    detail: String,
    new_status: Option<CaseStatus>,
) -> Result<(), AppError> {
    history::write_changed(conn, caller, now, note(case, action, detail, new_status)).await
}

/// Creates a case. A ward user may only use its own trust's wards; a second open case for
/// the same NHS number is a 409.
pub async fn flag(state: &AppState, caller: &Caller, new: NewCase) -> Result<CaseRow, AppError> {
    caller.require(FLAG)?;
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let id = flag_in(&mut tx, caller, now, new).await?;
    tx.commit().await?;
    tracing::info!(case_id = id.0, "case created");
    queries::get(&state.pool, caller, id).await
}

/// [`flag`] inside the caller's transaction (the hospital feed's admissions): the case and
/// its first history row. The caller has checked the role.
pub(crate) async fn flag_in(
    tx: &mut PgConnection,
    caller: &Caller,
    now: DateTime<Utc>,
    new: NewCase,
) -> Result<PatientId, AppError> {
    let ward = sqlx::query!(
        "SELECT w.org_code, o.hub_code FROM wards w JOIN organisations o ON o.code = w.org_code \
         WHERE w.code = $1",
        new.ward_code
    )
    .fetch_optional(&mut *tx)
    .await?
    .map(|w| (w.org_code, w.hub_code));
    let trust_code = match ward {
        // another hub's ward is no ward of this caller's
        None | Some((_, None)) => {
            return Err(AppError::Validation(FieldErrors::single(
                "ward_code",
                "Select a ward that exists",
            )));
        }
        Some((_, Some(hub))) if hub != caller.hub_code => {
            return Err(AppError::Validation(FieldErrors::single(
                "ward_code",
                "Select a ward that exists",
            )));
        }
        // a ward user files cases on its own trust's wards only, the hub on its own hub's
        Some((org, hub)) if !CaseScope::of(caller).covers_trust(&org, hub.as_deref()) => {
            return Err(AppError::Forbidden);
        }
        Some((org, _)) => org,
    };
    let status = if new.discharge_ready_at.is_some() {
        CaseStatus::AwaitingTriage
    } else {
        CaseStatus::Planning
    };
    let nhs_number_status = if new.nhs_number.is_some() {
        NhsNumberStatus::Known
    } else {
        NhsNumberStatus::Unknown
    };
    let inserted = sqlx::query_scalar!(
        r#"INSERT INTO patients (nhs_number, given_name, family_name, date_of_birth, sex, postcode,
         trust_code, ward_code, bed, admitted_at, expected_discharge_date, needs_summary, status,
         discharge_ready_at, created_at, updated_at, nhs_number_status, local_id)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$15,$16,$17)
         RETURNING id AS "id: PatientId""#,
        new.nhs_number.as_ref().map(|n| n.as_str()),
        new.given_name,
        new.family_name,
        new.date_of_birth as _,
        new.sex as _,
        new.postcode.as_str(),
        trust_code,
        new.ward_code,
        new.bed,
        new.admitted_at as _,
        new.expected_discharge_date as _,
        new.needs_summary,
        status as _,
        new.discharge_ready_at as _,
        now as _,
        nhs_number_status as _,
        new.local_id,
    )
    .fetch_one(&mut *tx)
    .await;
    let id = match inserted {
        Ok(id) => id,
        Err(sqlx::Error::Database(e)) if e.constraint() == Some("patients_one_open_case_idx") => {
            return Err(AppError::conflict(
                "duplicate_open_case",
                "This patient already has an open case",
            ));
        }
        Err(sqlx::Error::Database(e)) if e.constraint() == Some("patients_one_open_local_idx") => {
            return Err(AppError::conflict(
                "duplicate_open_case",
                "A patient with this hospital number already has an open case in this trust",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(ready) = new.discharge_ready_at {
        sqlx::query!(
            "INSERT INTO nctr_periods (patient_id, started_at) VALUES ($1, $2)",
            id as _,
            ready as _,
        )
        .execute(&mut *tx)
        .await?;
    }
    let detail = match new.discharge_ready_at {
        Some(_) => format!(
            "Case opened on {}; not meeting the criteria to reside",
            new.ward_code
        ),
        None => format!("Case opened on {}", new.ward_code),
    };
    history::opened(tx, caller, now, id, status, detail).await?;
    Ok(id)
}

/// A criteria-to-reside review outcome.
#[derive(Debug, Clone)]
pub struct CriteriaChange {
    pub meets_criteria: bool,
    /// When it happened; defaults to now.
    pub at: Option<DateTime<Utc>>,
    /// Why the patient meets the criteria again (NHS Data Dictionary code).
    pub ctr_code: Option<String>,
    /// Whether meeting the criteria again must come with `ctr_code`.
    pub ctr_code_rule: CtrCodeRule,
}

/// Whether a review finding that the patient meets the criteria to reside again must say
/// why (a CtR code). A code that is given is always checked against the code set.
///
/// The case page requires it: the person recording the review knows the reason. CONTRACT.md
/// makes `ctr_code` optional for partner systems (an EPR may record the review without the
/// coded reason), so the API does not: requiring it there would turn calls that succeed
/// today into 422s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtrCodeRule {
    /// Meeting the criteria again without a code is a validation error on `ctr_code`.
    Required,
    /// The code may be left out; the period then ends without one.
    Optional,
}

impl CriteriaChange {
    /// The checks that need nothing but the change itself.
    fn check(&self) -> Result<(), AppError> {
        if self.meets_criteria
            && self.ctr_code_rule == CtrCodeRule::Required
            && self.ctr_code.as_deref().is_none_or(|c| c.trim().is_empty())
        {
            return Err(AppError::Validation(FieldErrors::single(
                "ctr_code",
                "Select why the patient meets the criteria to reside again",
            )));
        }
        Ok(())
    }
}

/// Opens or closes a period of not meeting the criteria to reside. Meeting them again
/// clears the pathway, plan and delay reason: the patient will be triaged afresh.
pub async fn record_criteria(
    state: &AppState,
    caller: &Caller,
    id: PatientId,
    version: Option<i32>,
    change: CriteriaChange,
) -> Result<CaseRow, AppError> {
    // before anything is read: a missing code is the form's mistake, whatever the case
    change.check()?;
    caller.require(CRITERIA)?;
    let now = state.clock.now();
    let at = change.at.unwrap_or(now);
    let mut tx = state.pool.begin().await?;
    let case = queries::lock(&mut tx, caller, id, version).await?;
    if at > latest_allowed(now) {
        return Err(AppError::Validation(FieldErrors::single(
            "at",
            "The time must not be in the future",
        )));
    }
    if at < case.admitted_at {
        return Err(AppError::Validation(FieldErrors::single(
            "at",
            "The time must be after admission",
        )));
    }
    if change.meets_criteria {
        let next = transition(&case, CaseEvent::MeetsCriteriaAgain)?;
        if let Some(code) = &change.ctr_code {
            let known = sqlx::query_scalar!("SELECT label FROM ctr_reasons WHERE code = $1", code)
                .fetch_optional(&mut *tx)
                .await?;
            if known.is_none() {
                return Err(AppError::Validation(FieldErrors::single(
                    "ctr_code",
                    "Select a criteria to reside code from 01 to 12",
                )));
            }
        }
        if case.discharge_ready_at.is_some_and(|r| at < r) {
            return Err(AppError::Validation(FieldErrors::single(
                "at",
                "The time must be after the patient became ready for discharge",
            )));
        }
        sqlx::query!(
            "UPDATE nctr_periods SET ended_at = $2, ended_by = 'met_criteria', ctr_code = $3 \
             WHERE patient_id = $1 AND ended_at IS NULL",
            id as _,
            at as _,
            &change.ctr_code as _,
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "UPDATE patients SET discharge_ready_at = NULL, pathway = NULL, planned_discharge_at = NULL, \
             delay_reason = NULL WHERE id = $1",
            id as _,
        )
        .execute(&mut *tx)
        .await?;
        if case.delay_reason.is_some() {
            insert_delay_reason_history(&mut tx, id, None, at, caller).await?;
        }
        let released = close_for_patient(&mut tx, id, now, CaseClosing::Release).await?;
        let mut detail = match &change.ctr_code {
            Some(code) => format!("Meets the criteria to reside again (code {code})"),
            None => "Meets the criteria to reside again".to_string(),
        };
        if let Some(r) = released {
            detail = format!("{detail}; {r}");
        }
        record(
            &mut tx,
            &case,
            caller,
            now,
            CaseAction::MeetsCriteria,
            detail,
            Some(next),
        )
        .await?;
    } else {
        let next = transition(&case, CaseEvent::StopsMeetingCriteria)?;
        if let Some(last_end) = last_period_end(&mut tx, id).await?
            && at < last_end
        {
            return Err(AppError::Validation(FieldErrors::single(
                "at",
                "The time must be after the patient last met the criteria to reside again",
            )));
        }
        sqlx::query!(
            "INSERT INTO nctr_periods (patient_id, started_at) VALUES ($1, $2)",
            id as _,
            at as _,
        )
        .execute(&mut *tx)
        .await?;
        // status and ready time change together: the table refuses a planning case with a
        // ready time
        sqlx::query!(
            "UPDATE patients SET discharge_ready_at = $2, status = $3, \
             version = version + 1, updated_at = $4 WHERE id = $1",
            id as _,
            at as _,
            next as _,
            now as _,
        )
        .execute(&mut *tx)
        .await?;
        let detail = format!(
            "No longer meets the criteria to reside from {}",
            crate::domain::time::display_london(at)
        );
        record_changed(
            &mut tx,
            &case,
            caller,
            now,
            CaseAction::NotMeetingCriteria,
            detail,
            Some(next),
        )
        .await?;
    }
    tx.commit().await?;
    queries::get(&state.pool, caller, id).await
}

/// The hub chooses the discharge pathway: 0 is ready to go, 1-3 await care.
pub async fn choose_pathway(
    state: &AppState,
    caller: &Caller,
    id: PatientId,
    version: Option<i32>,
    pathway: Pathway,
) -> Result<CaseRow, AppError> {
    caller.require(PATHWAY)?;
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let case = queries::lock(&mut tx, caller, id, version).await?;
    apply_pathway(&mut tx, &case, caller, now, pathway).await?;
    tx.commit().await?;
    queries::get(&state.pool, caller, id).await
}

/// Sets the pathway of a locked case, with its history row.
async fn apply_pathway(
    tx: &mut PgConnection,
    case: &CaseRow,
    caller: &Caller,
    now: DateTime<Utc>,
    pathway: Pathway,
) -> Result<(), AppError> {
    let id = case.id;
    let next = transition(case, CaseEvent::ChoosePathway(pathway))?;
    sqlx::query!(
        "UPDATE patients SET pathway = $2, \
         planned_discharge_at = CASE WHEN $3 THEN planned_discharge_at END WHERE id = $1",
        id as _,
        pathway.number() as _,
        next == CaseStatus::ReadyToGo as _,
    )
    .execute(&mut *tx)
    .await?;
    let mut detail = match case.pathway() {
        Some(old) if old != pathway => format!("Pathway changed from {old} to {pathway}"),
        _ => format!("Pathway {pathway} chosen"),
    };
    if case.pathway().is_some_and(|old| old != pathway)
        && let Some(closed) = close_for_patient(tx, id, now, CaseClosing::PathwayChanged).await?
    {
        detail = format!("{detail}; {closed}");
    }
    record(
        tx,
        case,
        caller,
        now,
        CaseAction::PathwayChosen,
        detail,
        Some(next),
    )
    .await
}

/// When the case's last closed period of not meeting the criteria ended: a new period, or a
/// discharge, cannot come before it, so periods never overlap.
async fn last_period_end(
    conn: &mut PgConnection,
    id: PatientId,
) -> Result<Option<DateTime<Utc>>, AppError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT max(ended_at) AS "ended: DateTime<Utc>" FROM nctr_periods WHERE patient_id = $1"#,
        id as _,
    )
    .fetch_one(&mut *conn)
    .await?)
}

async fn insert_delay_reason_history(
    conn: &mut PgConnection,
    id: PatientId,
    code: Option<&str>,
    at: DateTime<Utc>,
    caller: &Caller,
) -> Result<(), AppError> {
    sqlx::query!(
        "INSERT INTO delay_reason_history (patient_id, code, set_at, set_by) VALUES ($1, $2, $3, $4)",
        id as _,
        code as _,
        at as _,
        caller.user_id as _,
    )
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records why a patient who no longer meets the criteria is still in hospital.
pub async fn set_delay_reason(
    state: &AppState,
    caller: &Caller,
    id: PatientId,
    version: Option<i32>,
    code: &str,
) -> Result<CaseRow, AppError> {
    caller.require(DELAY_REASON)?;
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let case = queries::lock(&mut tx, caller, id, version).await?;
    if !apply_delay_reason(&mut tx, &case, caller, now, code).await? {
        tx.rollback().await?;
        return Ok(case);
    }
    tx.commit().await?;
    queries::get(&state.pool, caller, id).await
}

/// Sets the delay reason of a locked case, with its history; `false` when it was already
/// that reason (nothing written).
async fn apply_delay_reason(
    tx: &mut PgConnection,
    case: &CaseRow,
    caller: &Caller,
    now: DateTime<Utc>,
    code: &str,
) -> Result<bool, AppError> {
    let id = case.id;
    let label = sqlx::query_scalar!(
        "SELECT d.label FROM delay_reasons d JOIN code_sets s ON s.name = d.code_set \
         WHERE d.code = $1 AND s.active",
        code
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(label) = label else {
        return Err(AppError::Validation(FieldErrors::single(
            "code",
            "Select a delay reason from the list",
        )));
    };
    if !case.status.is_nctr() {
        return Err(AppError::conflict(
            "invalid_transition",
            "A delay reason can only be recorded while the patient does not meet the criteria to reside",
        ));
    }
    if case.delay_reason.as_deref() == Some(code) {
        return Ok(false);
    }
    sqlx::query!(
        "UPDATE patients SET delay_reason = $2, version = version + 1, updated_at = $3 WHERE id = $1",
        id as _,
        code as _,
        now as _,
    )
    .execute(&mut *tx)
    .await?;
    insert_delay_reason_history(tx, id, Some(code), now, caller).await?;
    record_changed(
        tx,
        case,
        caller,
        now,
        CaseAction::DelayReasonSet,
        format!("Delay reason: {label}"),
        None,
    )
    .await?;
    Ok(true)
}

/// The ward's plan: expected date of discharge and the needs summary.
#[derive(Debug, Clone)]
pub struct DetailsChange {
    pub expected_discharge_date: Option<Option<NaiveDate>>,
    pub needs_summary: Option<String>,
}

pub async fn update_details(
    state: &AppState,
    caller: &Caller,
    id: PatientId,
    version: Option<i32>,
    change: DetailsChange,
) -> Result<CaseRow, AppError> {
    caller.require(DETAILS)?;
    if let Some(n) = &change.needs_summary
        && n.chars().count() > super::model::NEEDS_SUMMARY_MAX
    {
        return Err(AppError::Validation(FieldErrors::single(
            "needs_summary",
            "Needs summary must be 2000 characters or fewer",
        )));
    }
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let case = queries::lock(&mut tx, caller, id, version).await?;
    if case.status.is_terminal() {
        return Err(AppError::conflict(
            "invalid_transition",
            "The case is closed and can no longer change",
        ));
    }
    let mut changed = vec![];
    let edd = match change.expected_discharge_date {
        Some(new) if new != case.expected_discharge_date => {
            if let Some(d) = new
                && d < crate::domain::time::london_date(case.admitted_at)
            {
                return Err(AppError::Validation(FieldErrors::single(
                    "expected_discharge_date",
                    "Expected date of discharge must be on or after admission",
                )));
            }
            changed.push(match new {
                Some(d) => format!(
                    "Expected date of discharge set to {}",
                    d.format("%-d %b %Y")
                ),
                None => "Expected date of discharge cleared".to_string(),
            });
            new
        }
        _ => case.expected_discharge_date,
    };
    let needs = match change.needs_summary.map(|n| n.trim().to_string()) {
        Some(n) if n != case.needs_summary => {
            changed.push("Needs summary updated".to_string());
            n
        }
        _ => case.needs_summary.clone(),
    };
    if changed.is_empty() {
        tx.rollback().await?;
        return Ok(case);
    }
    sqlx::query!(
        "UPDATE patients SET expected_discharge_date = $2, needs_summary = $3, \
         version = version + 1, updated_at = $4 WHERE id = $1",
        id as _,
        edd as _,
        &needs as _,
        now as _,
    )
    .execute(&mut *tx)
    .await?;
    record_changed(
        &mut tx,
        &case,
        caller,
        now,
        CaseAction::DetailsUpdated,
        changed.join("; "),
        None,
    )
    .await?;
    tx.commit().await?;
    queries::get(&state.pool, caller, id).await
}

/// Plans the discharge for a date: care arranged (or pathway 0) -> ready to go.
pub async fn plan_discharge(
    state: &AppState,
    caller: &Caller,
    id: PatientId,
    version: Option<i32>,
    planned_for: DateTime<Utc>,
) -> Result<CaseRow, AppError> {
    caller.require(PLAN_DISCHARGE)?;
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let case = queries::lock(&mut tx, caller, id, version).await?;
    let next = transition(&case, CaseEvent::PlanDischarge)?;
    if crate::domain::time::london_date(planned_for) < crate::domain::time::london_date(now) {
        return Err(AppError::Validation(FieldErrors::single(
            "planned_for",
            "The planned discharge date must be today or in the future",
        )));
    }
    sqlx::query!(
        "UPDATE patients SET planned_discharge_at = $2, status = $3, \
         version = version + 1, updated_at = $4 WHERE id = $1",
        id as _,
        planned_for as _,
        next as _,
        now as _,
    )
    .execute(&mut *tx)
    .await?;
    let detail = format!(
        "Discharge planned for {}",
        crate::domain::time::display_london(planned_for)
    );
    record_changed(
        &mut tx,
        &case,
        caller,
        now,
        CaseAction::DischargePlanned,
        detail,
        Some(next),
    )
    .await?;
    tx.commit().await?;
    queries::get(&state.pool, caller, id).await
}

/// How the patient left: when, where to and how (CONTRACT.md "Patients (additions)").
#[derive(Debug, Clone, Default)]
pub struct DischargeDetails {
    /// When the patient left; defaults to now.
    pub at: Option<DateTime<Utc>>,
    /// A national destination-within-pathway code of the trust's return.
    pub destination: Option<String>,
    /// NHS Data Dictionary discharge method; defaults to 1 (on clinical advice).
    pub method: Option<String>,
    pub destination_rule: DestinationRule,
}

/// Whether a discharge must say where the patient went. The page requires it (unless the
/// patient died); CONTRACT.md v1 partners discharged with `discharged_at` alone, so the API
/// takes it when given and counts a discharge without one as "not recorded".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DestinationRule {
    Required,
    #[default]
    Optional,
}

/// Which national return a trust's patients belong to: community trusts' to the community
/// return, every other trust's to the acute return.
pub(crate) async fn return_kind_of_trust(
    conn: &mut PgConnection,
    trust_code: &str,
) -> Result<&'static str, AppError> {
    let sector = sqlx::query_scalar!(
        "SELECT sector FROM organisations WHERE code = $1",
        trust_code
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(if sector == "nhs_community" {
        "community"
    } else {
        "acute"
    })
}

/// Records that the patient left hospital, where to and how. Closes any open
/// not-meeting-criteria period.
pub async fn discharge(
    state: &AppState,
    caller: &Caller,
    id: PatientId,
    version: Option<i32>,
    details: DischargeDetails,
) -> Result<CaseRow, AppError> {
    let mut tx = state.pool.begin().await?;
    discharge_in(&mut tx, state, caller, id, version, details).await?;
    tx.commit().await?;
    tracing::info!(case_id = id.0, "case discharged");
    queries::get(&state.pool, caller, id).await
}

/// What a discharge would record, for the page that asks "are you sure?": every rule of
/// [`discharge`] is checked (it runs, and is rolled back), so the question is only asked of
/// a discharge that would be saved.
#[derive(Debug, Clone)]
pub struct DischargePreview {
    pub at: DateTime<Utc>,
    pub destination: Option<String>,
    pub method: Option<String>,
    /// The history entry it would write ("Discharged at ... to ...; place ... used").
    pub detail: String,
}

pub async fn preview_discharge(
    state: &AppState,
    caller: &Caller,
    id: PatientId,
    version: Option<i32>,
    details: DischargeDetails,
) -> Result<DischargePreview, AppError> {
    let mut tx = state.pool.begin().await?;
    let preview = discharge_in(&mut tx, state, caller, id, version, details).await?;
    tx.rollback().await?;
    Ok(preview)
}

pub(crate) async fn discharge_in(
    tx: &mut PgConnection,
    state: &AppState,
    caller: &Caller,
    id: PatientId,
    version: Option<i32>,
    details: DischargeDetails,
) -> Result<DischargePreview, AppError> {
    caller.require(DISCHARGE)?;
    let now = state.clock.now();
    let at = details.at.unwrap_or(now);
    let method = details
        .method
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .unwrap_or(METHOD_CLINICAL_ADVICE)
        .to_string();
    let destination = details
        .destination
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    let case = queries::lock(&mut *tx, caller, id, version).await?;
    let next = transition(&case, CaseEvent::Discharge)?;
    if at > latest_allowed(now) {
        return Err(AppError::Validation(FieldErrors::single(
            "discharged_at",
            "The discharge time must not be in the future",
        )));
    }
    if at < case.admitted_at
        || case.discharge_ready_at.is_some_and(|r| at < r)
        || last_period_end(tx, id).await?.is_some_and(|e| at < e)
    {
        return Err(AppError::Validation(FieldErrors::single(
            "discharged_at",
            "The discharge time must be after admission and after the patient became ready to go",
        )));
    }
    let mut errors = FieldErrors::new();
    let method_label = sqlx::query_scalar!(
        "SELECT label FROM discharge_methods WHERE code = $1",
        method
    )
    .fetch_optional(&mut *tx)
    .await?;
    if method_label.is_none() {
        errors.add(
            "method",
            "Select how the patient left (an NHS Data Dictionary discharge method: 1, 3, 4, 6, 7 or 9)",
        );
    }
    let return_kind = return_kind_of_trust(tx, &case.trust_code).await?;
    let destination_label = match &destination {
        Some(_) if method == METHOD_DIED => {
            errors.add(
                "destination",
                "A patient who died has no discharge destination: leave it empty",
            );
            None
        }
        Some(code) => {
            let label = sqlx::query_scalar!(
                "SELECT d.label FROM discharge_destinations d JOIN code_sets s ON s.name = d.code_set                  WHERE d.code = $1 AND d.return_kind = $2 AND s.active",
                code,
                return_kind,
            )
            .fetch_optional(&mut *tx)
            .await?;
            if label.is_none() {
                errors.add(
                    "destination",
                    format!(
                        "Select where the patient went from the {return_kind} return's destinations"
                    ),
                );
            }
            label
        }
        None if method != METHOD_DIED && details.destination_rule == DestinationRule::Required => {
            errors.add("destination", "Select where the patient went");
            None
        }
        None => None,
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    sqlx::query!(
        "UPDATE nctr_periods SET ended_at = $2, ended_by = 'discharged' WHERE patient_id = $1 AND ended_at IS NULL",
        id as _,
        at as _,
    )
    .execute(&mut *tx)
    .await?;
    // the referrals first (they never read the case's own fields), then the case in one
    // update with its status and version
    let closed = close_for_patient(tx, id, now, CaseClosing::Discharge).await?;
    sqlx::query!(
        "UPDATE patients SET discharged_at = $2, discharge_destination = $3, discharge_method = $4, \
         status = $5, version = version + 1, updated_at = $6 WHERE id = $1",
        id as _,
        at as _,
        destination,
        method,
        next as _,
        now as _,
    )
    .execute(&mut *tx)
    .await?;
    let mut detail = format!("Discharged at {}", crate::domain::time::display_london(at));
    match (&destination_label, &method_label) {
        (Some(dest), _) => detail = format!("{detail} to {}", dest.to_lowercase()),
        (None, _) if method == METHOD_DIED => detail = format!("{detail}: died"),
        _ => {}
    }
    if method != METHOD_CLINICAL_ADVICE
        && method != METHOD_DIED
        && let Some(how) = &method_label
    {
        detail = format!("{detail} ({})", how.to_lowercase());
    }
    if let Some(closed) = closed {
        detail = format!("{detail}; {closed}");
    }
    record_changed(
        tx,
        &case,
        caller,
        now,
        CaseAction::Discharged,
        detail.clone(),
        Some(next),
    )
    .await?;
    Ok(DischargePreview {
        at,
        destination: destination_label,
        method: method_label,
        detail,
    })
}

/// Closes a case without a discharge through the hub, with a coded reason (died,
/// transferred out, self-discharged, other) and, for `other`, words. Without a code (v1
/// partners), the words are required and the reason is `other`. A death or a self-discharge
/// also records its NHS Data Dictionary discharge method (4 or 6).
pub async fn cancel(
    state: &AppState,
    caller: &Caller,
    id: PatientId,
    version: Option<i32>,
    reason_code: Option<CancelReason>,
    reason: &str,
) -> Result<CaseRow, AppError> {
    caller.require(CANCEL)?;
    let reason = reason.trim();
    let code = reason_code.unwrap_or(CancelReason::Other);
    if code == CancelReason::Other && reason.is_empty() {
        return Err(AppError::Validation(FieldErrors::single(
            "reason",
            "Enter why the case is being cancelled",
        )));
    }
    if reason.chars().count() > 500 {
        return Err(AppError::Validation(FieldErrors::single(
            "reason",
            "Reason must be 500 characters or fewer",
        )));
    }
    let method = match code {
        CancelReason::Died => Some(METHOD_DIED),
        CancelReason::SelfDischarged => Some("6"),
        CancelReason::TransferredOut | CancelReason::Other => None,
    };
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    cancel_in(&mut tx, caller, now, id, version, code, reason, method).await?;
    tx.commit().await?;
    queries::get(&state.pool, caller, id).await
}

/// The inside of [`cancel`], in the caller's transaction, once the reason is checked (the
/// hospital feed's cancelled admissions and merges close cases this way too).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn cancel_in(
    tx: &mut PgConnection,
    caller: &Caller,
    now: DateTime<Utc>,
    id: PatientId,
    version: Option<i32>,
    code: CancelReason,
    reason: &str,
    method: Option<&str>,
) -> Result<(), AppError> {
    let case = queries::lock(&mut *tx, caller, id, version).await?;
    let next = transition(&case, CaseEvent::Cancel)?;
    sqlx::query!(
        "UPDATE nctr_periods SET ended_at = $2, ended_by = 'cancelled' WHERE patient_id = $1 AND ended_at IS NULL",
        id as _,
        now as _,
    )
    .execute(&mut *tx)
    .await?;
    let words = if reason.is_empty() {
        code.label().to_string()
    } else {
        reason.to_string()
    };
    sqlx::query!(
        "UPDATE patients SET closed_reason = $2, cancel_reason_code = $3, cancelled_at = $4, discharge_method = $5          WHERE id = $1",
        id as _,
        words,
        code as _,
        now as _,
        method,
    )
    .execute(&mut *tx)
    .await?;
    let mut detail = if reason.is_empty() || code == CancelReason::Other {
        format!("Cancelled: {words}")
    } else {
        format!("Cancelled ({}): {words}", code.label().to_lowercase())
    };
    if let Some(closed) = close_for_patient(tx, id, now, CaseClosing::Release).await? {
        detail = format!("{detail}; {closed}");
    }
    record(
        tx,
        &case,
        caller,
        now,
        CaseAction::Cancelled,
        detail,
        Some(next),
    )
    .await
}

/// A hub coordinator takes ownership of a case.
pub async fn take_ownership(
    state: &AppState,
    caller: &Caller,
    id: PatientId,
    version: Option<i32>,
) -> Result<CaseRow, AppError> {
    caller.require(COORDINATE)?;
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let case = queries::lock(&mut tx, caller, id, version).await?;
    if !assign_coordinator(&mut tx, &case, caller, now, Some(caller.user_id)).await? {
        tx.rollback().await?;
        return Ok(case);
    }
    tx.commit().await?;
    queries::get(&state.pool, caller, id).await
}

/// Makes a hub user (or nobody) the coordinator of a locked open case, with its history;
/// `false` when nothing changed.
async fn assign_coordinator(
    tx: &mut PgConnection,
    case: &CaseRow,
    caller: &Caller,
    now: DateTime<Utc>,
    coordinator: Option<i64>,
) -> Result<bool, AppError> {
    if case.status.is_terminal() {
        return Err(AppError::conflict(
            "invalid_transition",
            "The case is closed and can no longer change",
        ));
    }
    if case.coordinator_id == coordinator {
        return Ok(false);
    }
    let name = match coordinator {
        None => None,
        Some(user) => {
            let name = sqlx::query_scalar!(
                "SELECT username FROM users WHERE id = $1 AND role = 'hub' AND org_code = $2 \
                 AND disabled_at IS NULL",
                user,
                caller.hub_code,
            )
            .fetch_optional(&mut *tx)
            .await?;
            match name {
                Some(n) => Some(n),
                None => {
                    return Err(AppError::Validation(FieldErrors::single(
                        "coordinator",
                        "Choose a coordinator at the hub",
                    )));
                }
            }
        }
    };
    sqlx::query!(
        "UPDATE patients SET coordinator_id = $2, version = version + 1, updated_at = $3 WHERE id = $1",
        case.id as _,
        coordinator,
        now as _,
    )
    .execute(&mut *tx)
    .await?;
    let detail = match (&case.coordinator, name) {
        (Some(prev), Some(next)) => format!("Coordinator changed from {prev} to {next}"),
        (None, Some(next)) => format!("{next} is the coordinator"),
        (Some(prev), None) => format!("{prev} is no longer the coordinator"),
        (None, None) => String::new(),
    };
    record_changed(
        tx,
        case,
        caller,
        now,
        CaseAction::CoordinatorAssigned,
        detail,
        None,
    )
    .await?;
    Ok(true)
}

/// The hub's triage of a case in one form: coordinator, pathway and delay reason. Each part
/// given is changed only if it differs, with its own history row, all in one transaction
/// behind one version check: the form is saved whole or not at all.
#[derive(Debug, Clone, Default)]
pub struct Triage {
    /// `Some(None)`: nobody; `Some(Some(user))`: that hub user.
    pub coordinator: Option<Option<i64>>,
    pub pathway: Option<Pathway>,
    pub delay_reason: Option<String>,
}

pub async fn triage(
    state: &AppState,
    caller: &Caller,
    id: PatientId,
    version: Option<i32>,
    t: Triage,
) -> Result<CaseRow, AppError> {
    caller.require(COORDINATE)?;
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let mut case = queries::lock(&mut tx, caller, id, version).await?;
    let mut changed = false;
    if let Some(coordinator) = t.coordinator
        && assign_coordinator(&mut tx, &case, caller, now, coordinator).await?
    {
        changed = true;
        case = queries::lock(&mut tx, caller, id, None).await?;
    }
    if let Some(pathway) = t.pathway
        && case.pathway() != Some(pathway)
    {
        apply_pathway(&mut tx, &case, caller, now, pathway).await?;
        changed = true;
        case = queries::lock(&mut tx, caller, id, None).await?;
    }
    if let Some(code) = t.delay_reason.as_deref().filter(|c| !c.is_empty())
        && apply_delay_reason(&mut tx, &case, caller, now, code).await?
    {
        changed = true;
    }
    if !changed {
        tx.rollback().await?;
        return Ok(case);
    }
    tx.commit().await?;
    queries::get(&state.pool, caller, id).await
}

// ---------------------------------------------------------------------------------------
// Changes only the hospital's record makes (the HL7 feed, `crate::hl7`). Each runs in the
// caller's transaction (the feed writes its message log in the same one), locks the case in
// the caller's scope, and writes its history row through [`record`]. The caller has
// checked that it may act for the hospital.

/// Moves a patient to another ward of the same trust, or another bed (HL7 A02, or an
/// admission message for a patient already admitted). `false` when nothing changed.
pub(crate) async fn transfer_in(
    tx: &mut PgConnection,
    caller: &Caller,
    now: DateTime<Utc>,
    id: PatientId,
    ward_code: &str,
    bed: &str,
) -> Result<bool, AppError> {
    let case = queries::lock(&mut *tx, caller, id, None).await?;
    if case.status.is_terminal() {
        return Err(AppError::conflict(
            "invalid_transition",
            "The case is closed and can no longer change",
        ));
    }
    let bed = bed.trim();
    if bed.chars().count() > 20 {
        return Err(AppError::Validation(FieldErrors::single(
            "bed",
            "Bed must be 20 characters or fewer",
        )));
    }
    if case.ward_code == ward_code && case.bed == bed {
        return Ok(false);
    }
    let ward = if ward_code == case.ward_code {
        Some(case.trust_code.clone())
    } else {
        sqlx::query_scalar!("SELECT org_code FROM wards WHERE code = $1", ward_code)
            .fetch_optional(&mut *tx)
            .await?
    };
    match ward {
        Some(org) if org == case.trust_code => {}
        Some(_) => {
            return Err(AppError::Validation(FieldErrors::single(
                "ward_code",
                "The ward belongs to another trust: a move between trusts is a discharge and a new admission",
            )));
        }
        None => {
            return Err(AppError::Validation(FieldErrors::single(
                "ward_code",
                "Select a ward that exists",
            )));
        }
    }
    sqlx::query!(
        "UPDATE patients SET ward_code = $2, bed = $3, version = version + 1, updated_at = $4 \
         WHERE id = $1",
        id as _,
        ward_code,
        bed,
        now as _,
    )
    .execute(&mut *tx)
    .await?;
    let place = |ward: &str, bed: &str| {
        if bed.is_empty() {
            ward.to_string()
        } else {
            format!("{ward} bed {bed}")
        }
    };
    let detail = format!(
        "Moved from {} to {}",
        place(&case.ward_code, &case.bed),
        place(ward_code, bed)
    );
    record_changed(
        tx,
        &case,
        caller,
        now,
        CaseAction::Transferred,
        detail,
        None,
    )
    .await?;
    Ok(true)
}

/// Who the patient is, as the hospital's record says (HL7 PID).
#[derive(Debug, Clone)]
pub struct Demographics {
    /// `None`: the NHS number is not known (the hospital number identifies the patient).
    pub nhs_number: Option<crate::domain::NhsNumber>,
    pub local_id: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    pub sex: crate::domain::Sex,
    pub postcode: crate::domain::Postcode,
}

/// Brings a case's demographics and identifiers into line with the hospital's record (HL7
/// A08, A01 for a patient already admitted, A40), with a history row naming what changed
/// (`action`: [`CaseAction::DemographicsUpdated`] or [`CaseAction::Merged`]). `false` when
/// nothing changed. A closed case may still be corrected.
///
/// `demographics` is given the locked case: what the hospital sent, over what the case holds.
pub(crate) async fn update_demographics_in(
    tx: &mut PgConnection,
    caller: &Caller,
    now: DateTime<Utc>,
    id: PatientId,
    demographics: impl FnOnce(&CaseRow) -> Result<Demographics, AppError>,
    action: CaseAction,
    why: &str,
) -> Result<bool, AppError> {
    let case = queries::lock(&mut *tx, caller, id, None).await?;
    let d = &demographics(&case)?;
    let nhs = d.nhs_number.as_ref().map(|n| n.as_str().to_string());
    let mut changed = vec![];
    if nhs != case.nhs_number {
        changed.push("NHS number");
    }
    if d.local_id.is_some() && d.local_id != case.local_id {
        changed.push("hospital number");
    }
    if d.given_name != case.given_name || d.family_name != case.family_name {
        changed.push("name");
    }
    if d.date_of_birth != case.date_of_birth {
        changed.push("date of birth");
    }
    if d.sex != case.sex {
        changed.push("sex");
    }
    if d.postcode.as_str() != case.postcode {
        changed.push("postcode");
    }
    if changed.is_empty() && action != CaseAction::Merged {
        return Ok(false);
    }
    if d.date_of_birth > crate::domain::time::london_date(case.admitted_at) {
        return Err(AppError::Validation(FieldErrors::single(
            "date_of_birth",
            "Date of birth must be on or before the day of admission",
        )));
    }
    let status = if nhs.is_some() {
        NhsNumberStatus::Known
    } else {
        NhsNumberStatus::Unknown
    };
    let local_id = d.local_id.clone().or(case.local_id.clone());
    let updated = sqlx::query!(
        "UPDATE patients SET nhs_number = $2, nhs_number_status = $3, local_id = $4, given_name = $5, \
         family_name = $6, date_of_birth = $7, sex = $8, postcode = $9, \
         version = version + 1, updated_at = $10 WHERE id = $1",
        id as _,
        nhs,
        status as _,
        local_id,
        d.given_name,
        d.family_name,
        d.date_of_birth as _,
        d.sex as _,
        d.postcode.as_str(),
        now as _,
    )
    .execute(&mut *tx)
    .await;
    updated.map_err(|e| {
        open_case_clash(
            e,
            "Another open case has this NHS number or hospital number",
        )
    })?;
    let detail = if changed.is_empty() {
        why.to_string()
    } else {
        format!("{why}: {}", changed.join(", "))
    };
    record_changed(tx, &case, caller, now, action, detail, None).await?;
    Ok(true)
}

/// Cancels a discharge this caller (the hospital feed) recorded (HL7 A13): the case returns
/// to the status it had before, its period of not meeting the criteria (if the discharge
/// ended one) runs on, and where and how the patient left are cleared. Refused when the
/// discharge was not the caller's, or when it used or gave back referrals (the hub must
/// sort those out by hand).
pub(crate) async fn reopen_discharge_in(
    tx: &mut PgConnection,
    caller: &Caller,
    now: DateTime<Utc>,
    id: PatientId,
) -> Result<(), AppError> {
    let case = queries::lock(&mut *tx, caller, id, None).await?;
    let last = sqlx::query!(
        r#"SELECT actor_id, from_status AS "from_status: CaseStatus" FROM patient_history
           WHERE patient_id = $1 AND action = 'discharged' ORDER BY at DESC, id DESC LIMIT 1"#,
        id as _,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(last) = last.filter(|_| case.status == CaseStatus::Discharged) else {
        return Err(AppError::conflict(
            "invalid_transition",
            "The patient is not discharged",
        ));
    };
    if last.actor_id != Some(caller.user_id) {
        return Err(AppError::conflict(
            "invalid_transition",
            "The discharge was recorded in Homeward, not by the hospital feed: it cannot be cancelled from the feed",
        ));
    }
    let before = last.from_status.unwrap_or(CaseStatus::Planning);
    let next = transition(&case, CaseEvent::ReopenDischarge(before))?;
    let referrals = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM referrals WHERE patient_id = $1"#,
        id as _,
    )
    .fetch_one(&mut *tx)
    .await?;
    if referrals > 0 {
        return Err(AppError::conflict(
            "invalid_transition",
            "The patient had referrals when discharged: ask the hub to reopen the case",
        ));
    }
    if let Some(at) = case.discharged_at {
        sqlx::query!(
            "UPDATE nctr_periods SET ended_at = NULL, ended_by = NULL \
             WHERE patient_id = $1 AND ended_by = 'discharged' AND ended_at = $2",
            id as _,
            at as _,
        )
        .execute(&mut *tx)
        .await?;
    }
    let reopened = sqlx::query!(
        "UPDATE patients SET discharged_at = NULL, discharge_destination = NULL, \
         discharge_method = NULL, status = $2, version = version + 1, updated_at = $3 WHERE id = $1",
        id as _,
        next as _,
        now as _,
    )
    .execute(&mut *tx)
    .await;
    reopened
        .map_err(|e| open_case_clash(e, "The patient has another open case since the discharge"))?;
    record_changed(
        tx,
        &case,
        caller,
        now,
        CaseAction::DischargeCancelled,
        "Discharge cancelled by the hospital".to_string(),
        Some(next),
    )
    .await
}

/// Writes a history row on a case without changing it otherwise (a merge's note on the
/// surviving case).
pub(crate) async fn note_in(
    tx: &mut PgConnection,
    caller: &Caller,
    now: DateTime<Utc>,
    id: PatientId,
    action: CaseAction,
    detail: String,
) -> Result<(), AppError> {
    let case = queries::lock(&mut *tx, caller, id, None).await?;
    record(tx, &case, caller, now, action, detail, None).await
}

/// A write refused by one of the "one open case" indexes (by NHS number, or by hospital
/// number in a trust) as the 409 `duplicate_open_case` saying `message`; any other error
/// as it is.
fn open_case_clash(e: sqlx::Error, message: &str) -> AppError {
    match &e {
        sqlx::Error::Database(d)
            if matches!(
                d.constraint(),
                Some("patients_one_open_case_idx" | "patients_one_open_local_idx")
            ) =>
        {
            AppError::conflict("duplicate_open_case", message)
        }
        _ => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(meets: bool, code: Option<&str>, rule: CtrCodeRule) -> CriteriaChange {
        CriteriaChange {
            meets_criteria: meets,
            at: None,
            ctr_code: code.map(str::to_string),
            ctr_code_rule: rule,
        }
    }

    #[test]
    fn the_page_must_say_why_a_patient_meets_the_criteria_again() {
        for code in [None, Some(""), Some("  ")] {
            match change(true, code, CtrCodeRule::Required).check() {
                Err(AppError::Validation(f)) => {
                    assert!(f.iter().any(|(name, _)| name == "ctr_code"), "{code:?}")
                }
                other => panic!("{code:?}: {other:?}"),
            }
        }
        assert!(
            change(true, Some("04"), CtrCodeRule::Required)
                .check()
                .is_ok()
        );
        // stopping meeting the criteria needs no code
        assert!(change(false, None, CtrCodeRule::Required).check().is_ok());
    }

    #[test]
    fn partners_may_leave_the_code_out() {
        assert!(change(true, None, CtrCodeRule::Optional).check().is_ok());
    }
}
