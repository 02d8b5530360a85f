//! The case page's action forms: criteria to reside, pathway, delay reason, plan, planned
//! discharge, discharge, cancellation and ownership. Each handler reads its form, calls the
//! one command in [`crate::patients::commands`] that the API calls too, then redirects with
//! a flash message (POST-redirect-GET) or shows the case page again with the problem. No
//! rule about cases lives here: only how a form's fields map to a command's.

use super::case::{ActionValues, Problem, render_case};
use crate::accounts::PageCaller;
use crate::cases::CaseRow;
use crate::domain::Caller;
use crate::domain::CancelReason;
use crate::domain::Pathway;
use crate::domain::PatientId;
use crate::domain::Role;
use crate::domain::time::{display_london, parse_local};
use crate::error::{AppError, FieldErrors};
use crate::patients::commands::{
    self, CriteriaChange, CtrCodeRule, DestinationRule, DetailsChange, DischargeDetails,
};
use crate::patients::model::optional_date;
use crate::state::AppState;
use crate::web::Id;
use crate::web::{Layout, PageResult, done};
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::response::IntoResponse;
use serde::Deserialize;
use tower_sessions::Session;

/// What a form sent, to show again if the action fails, and how the command's field names
/// map to this form's inputs.
struct Retry {
    typed: ActionValues,
    rename: &'static [(&'static str, &'static str)],
}

/// Turns a command's result into a redirect with a flash message, or the case page again
/// with the problem explained. Field names from commands are mapped to this form's names.
async fn after_action(
    state: &AppState,
    session: &Session,
    caller: &Caller,
    id: PatientId,
    result: Result<CaseRow, AppError>,
    success: &str,
    retry: Retry,
) -> PageResult {
    let Retry { typed, rename } = retry;
    let problem = match result {
        Ok(_) => return Ok(done(session, &format!("/patients/{id}"), success).await),
        Err(AppError::Validation(errors)) => {
            let mut renamed = FieldErrors::new();
            for (f, m) in errors.iter() {
                let to = rename
                    .iter()
                    .find(|(from, _)| *from == f)
                    .map(|(_, to)| *to)
                    .unwrap_or(f);
                renamed.add(to, m);
            }
            Problem {
                errors: renamed,
                stale: false,
                conflict: String::new(),
                typed: Some(typed),
            }
        }
        Err(AppError::Stale) => Problem {
            errors: FieldErrors::new(),
            stale: true,
            conflict: String::new(),
            typed: None,
        },
        Err(AppError::Conflict { message, .. }) => Problem {
            errors: FieldErrors::new(),
            stale: false,
            conflict: message,
            typed: Some(typed),
        },
        Err(e) => return Err(e.into()),
    };
    render_case(state, session, caller, id, Some(problem)).await
}

#[derive(Deserialize)]
pub struct CriteriaForm {
    version: Option<i32>,
    #[serde(default)]
    meets: String,
    #[serde(default)]
    at_date: String,
    #[serde(default)]
    at_time: String,
    #[serde(default)]
    ctr_code: String,
}

pub async fn criteria(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<PatientId>,
    Form(f): Form<CriteriaForm>,
) -> PageResult {
    let meets = f.meets == "yes";
    let typed = ActionValues {
        at_date: f.at_date.clone(),
        at_time: f.at_time.clone(),
        ctr_code: f.ctr_code.clone(),
        ..Default::default()
    };
    let result = match parse_local(&f.at_date, &f.at_time) {
        None => Err(AppError::Validation(FieldErrors::single(
            "at",
            "Enter a real date and time",
        ))),
        Some(at) => {
            commands::record_criteria(
                &state,
                &caller,
                id,
                f.version,
                CriteriaChange {
                    meets_criteria: meets,
                    at: Some(at),
                    ctr_code: Some(f.ctr_code.trim().to_string()).filter(|s| !s.is_empty()),
                    // a person recording the review on the page says why
                    ctr_code_rule: CtrCodeRule::Required,
                },
            )
            .await
        }
    };
    let success = if meets {
        "Recorded: meets the criteria to reside"
    } else {
        "Recorded: does not meet the criteria to reside"
    };
    after_action(
        &state,
        &session,
        &caller,
        id,
        result,
        success,
        Retry {
            typed,
            rename: &[("at", "at_date")],
        },
    )
    .await
}

#[derive(Deserialize)]
pub struct PathwayForm {
    version: Option<i32>,
    #[serde(default)]
    pathway: String,
}

pub async fn pathway(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<PatientId>,
    Form(f): Form<PathwayForm>,
) -> PageResult {
    let typed = ActionValues {
        pathway: f.pathway.clone(),
        ..Default::default()
    };
    let result = match f.pathway.parse::<Pathway>() {
        Ok(p) => commands::choose_pathway(&state, &caller, id, f.version, p).await,
        Err(()) => Err(AppError::Validation(FieldErrors::single(
            "pathway",
            "Select a pathway",
        ))),
    };
    let msg = format!("Pathway {} chosen", f.pathway);
    after_action(
        &state,
        &session,
        &caller,
        id,
        result,
        &msg,
        Retry { typed, rename: &[] },
    )
    .await
}

#[derive(Deserialize)]
pub struct DelayReasonForm {
    version: Option<i32>,
    #[serde(default)]
    code: String,
}

pub async fn delay_reason(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<PatientId>,
    Form(f): Form<DelayReasonForm>,
) -> PageResult {
    let typed = ActionValues {
        code: f.code.clone(),
        ..Default::default()
    };
    let result = commands::set_delay_reason(&state, &caller, id, f.version, f.code.trim()).await;
    after_action(
        &state,
        &session,
        &caller,
        id,
        result,
        "Delay reason recorded",
        Retry { typed, rename: &[] },
    )
    .await
}

#[derive(Deserialize)]
pub struct DetailsForm {
    version: Option<i32>,
    #[serde(default)]
    expected_discharge_date: String,
    #[serde(default)]
    needs_summary: String,
}

pub async fn details(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<PatientId>,
    Form(f): Form<DetailsForm>,
) -> PageResult {
    let typed = ActionValues {
        expected_discharge_date: f.expected_discharge_date.clone(),
        needs_summary: f.needs_summary.clone(),
        ..Default::default()
    };
    let mut errors = FieldErrors::new();
    let edd = optional_date(
        &f.expected_discharge_date,
        "expected_discharge_date",
        "Expected date of discharge must be a real date",
        &mut errors,
    );
    let result = if errors.is_empty() {
        commands::update_details(
            &state,
            &caller,
            id,
            f.version,
            DetailsChange {
                expected_discharge_date: Some(edd),
                needs_summary: Some(f.needs_summary),
            },
        )
        .await
    } else {
        Err(AppError::Validation(errors))
    };
    after_action(
        &state,
        &session,
        &caller,
        id,
        result,
        "Plan updated",
        Retry { typed, rename: &[] },
    )
    .await
}

#[derive(Deserialize)]
pub struct PlanForm {
    version: Option<i32>,
    #[serde(default)]
    planned_for: String,
}

pub async fn plan_discharge(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<PatientId>,
    Form(f): Form<PlanForm>,
) -> PageResult {
    let typed = ActionValues {
        planned_for: f.planned_for.clone(),
        ..Default::default()
    };
    let result = match parse_local(&f.planned_for, "12:00") {
        Some(t) => commands::plan_discharge(&state, &caller, id, f.version, t).await,
        None => Err(AppError::Validation(FieldErrors::single(
            "planned_for",
            "Enter a real date for the discharge",
        ))),
    };
    after_action(
        &state,
        &session,
        &caller,
        id,
        result,
        "Discharge planned",
        Retry { typed, rename: &[] },
    )
    .await
}

#[derive(Deserialize)]
pub struct DischargeForm {
    version: Option<i32>,
    #[serde(default)]
    discharged_date: String,
    #[serde(default)]
    discharged_time: String,
    #[serde(default)]
    destination: String,
    #[serde(default)]
    method: String,
    /// "yes" once the person has seen what will be recorded and confirmed it.
    #[serde(default)]
    confirmed: String,
}

/// "Record this discharge?": what will be recorded, with the form's values kept to post
/// again.
#[derive(Template, WebTemplate)]
#[template(path = "patients/discharge_confirm.html")]
struct DischargeConfirmPage {
    layout: Layout,
    id: PatientId,
    name: String,
    nhs_number: String,
    pathway: String,
    when: String,
    destination: String,
    method: String,
    detail: String,
    form: DischargeForm,
}

/// Records a discharge, after a page that shows what will be recorded (where to, on which
/// pathway) and asks to confirm: closing a case is not undone by a second click.
pub async fn discharge(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<PatientId>,
    Form(f): Form<DischargeForm>,
) -> PageResult {
    let typed = ActionValues {
        discharged_date: f.discharged_date.clone(),
        discharged_time: f.discharged_time.clone(),
        destination: f.destination.clone(),
        method: f.method.clone(),
        ..Default::default()
    };
    let details = parse_local(&f.discharged_date, &f.discharged_time).map(|t| DischargeDetails {
        at: Some(t),
        destination: Some(f.destination.clone()),
        method: Some(f.method.clone()),
        // a person recording the discharge on the page says where the patient went
        destination_rule: DestinationRule::Required,
    });
    let retry = Retry {
        typed,
        rename: &[("discharged_at", "discharged_date")],
    };
    let Some(details) = details else {
        let bad = Err(AppError::Validation(FieldErrors::single(
            "discharged_at",
            "Enter a real date and time of discharge",
        )));
        return after_action(&state, &session, &caller, id, bad, "", retry).await;
    };
    if f.confirmed != "yes" {
        return match commands::preview_discharge(&state, &caller, id, f.version, details).await {
            Ok(preview) => {
                let case = crate::cases::queries::get(&state.pool, &caller, id).await?;
                let line = crate::cases::CaseLine::new(&case, state.clock.now());
                Ok(DischargeConfirmPage {
                    layout: crate::notifications::layout(
                        &state,
                        &session,
                        &caller,
                        if caller.is(Role::Hub) { "hub" } else { "ward" },
                    )
                    .await,
                    id,
                    name: line.name,
                    nhs_number: line.nhs_number,
                    pathway: line.pathway,
                    when: display_london(preview.at),
                    destination: preview.destination.unwrap_or_default(),
                    method: preview.method.unwrap_or_default(),
                    detail: preview.detail,
                    form: f,
                }
                .into_response())
            }
            Err(e) => after_action(&state, &session, &caller, id, Err(e), "", retry).await,
        };
    }
    let result = commands::discharge(&state, &caller, id, f.version, details).await;
    after_action(
        &state,
        &session,
        &caller,
        id,
        result,
        "Discharge recorded",
        retry,
    )
    .await
}

#[derive(Deserialize)]
pub struct CancelForm {
    version: Option<i32>,
    #[serde(default)]
    reason_code: String,
    #[serde(default)]
    reason: String,
}

pub async fn cancel(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<PatientId>,
    Form(f): Form<CancelForm>,
) -> PageResult {
    let typed = ActionValues {
        reason_code: f.reason_code.clone(),
        reason: f.reason.clone(),
        ..Default::default()
    };
    // the page always codes the reason
    let result = match f.reason_code.trim().parse::<CancelReason>() {
        Ok(code) => commands::cancel(&state, &caller, id, f.version, Some(code), &f.reason).await,
        Err(()) => Err(AppError::Validation(FieldErrors::single(
            "reason_code",
            "Select why the case is closing",
        ))),
    };
    after_action(
        &state,
        &session,
        &caller,
        id,
        result,
        "Case cancelled",
        Retry { typed, rename: &[] },
    )
    .await
}

#[derive(Deserialize)]
pub struct VersionForm {
    version: Option<i32>,
}

pub async fn take_ownership(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<PatientId>,
    Form(f): Form<VersionForm>,
) -> PageResult {
    let result = commands::take_ownership(&state, &caller, id, f.version).await;
    after_action(
        &state,
        &session,
        &caller,
        id,
        result,
        "You are now the coordinator",
        Retry {
            typed: ActionValues::default(),
            rename: &[],
        },
    )
    .await
}

#[derive(Deserialize)]
pub struct TriageForm {
    version: Option<i32>,
    /// A hub user's id, or empty for nobody.
    #[serde(default)]
    coordinator: String,
    #[serde(default)]
    pathway: String,
    #[serde(default)]
    code: String,
}

/// The hub's one triage form: coordinator, pathway and delay reason saved together.
pub async fn triage(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<PatientId>,
    Form(f): Form<TriageForm>,
) -> PageResult {
    let typed = ActionValues {
        pathway: f.pathway.clone(),
        code: f.code.clone(),
        coordinator: f.coordinator.clone(),
        ..Default::default()
    };
    let mut errors = FieldErrors::new();
    let coordinator = match f.coordinator.trim() {
        "" => None,
        c => match c.parse::<i64>() {
            Ok(user) => Some(user),
            Err(_) => {
                errors.add("coordinator", "Choose a coordinator at the hub");
                None
            }
        },
    };
    let pathway = match f.pathway.trim() {
        "" => None,
        p => match p.parse::<Pathway>() {
            Ok(p) => Some(p),
            Err(()) => {
                errors.add("pathway", "Select a pathway");
                None
            }
        },
    };
    let result = if errors.is_empty() {
        commands::triage(
            &state,
            &caller,
            id,
            f.version,
            commands::Triage {
                coordinator: Some(coordinator),
                pathway,
                delay_reason: Some(f.code.trim().to_string()).filter(|c| !c.is_empty()),
            },
        )
        .await
    } else {
        Err(AppError::Validation(errors))
    };
    after_action(
        &state,
        &session,
        &caller,
        id,
        result,
        "Triage saved",
        Retry { typed, rename: &[] },
    )
    .await
}
