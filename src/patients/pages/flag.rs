//! The flag form: a ward or hub user opens a case for a patient. Owns the form as typed and
//! its reading into a [`NewCaseDraft`]; the validation of the draft and the rules of
//! opening a case are in [`crate::patients::model`] and [`commands::flag`], shared with the API.

use crate::accounts::PageCaller;
use crate::domain::Role;
use crate::domain::time::{london_date, parse_local};
use crate::error::{AppError, FieldErrors};
use crate::patients::commands;
use crate::patients::model::NewCaseDraft;
use crate::reference::WardRow;
use crate::state::AppState;
use crate::web::{FormErrors, Layout, PageResult, done, invalid};
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::response::IntoResponse;
use serde::Deserialize;
use tower_sessions::Session;

#[derive(Deserialize, Default, Clone)]
pub struct FlagForm {
    #[serde(default)]
    pub nhs_number: String,
    /// "unknown" when the box "NHS number not known" is ticked.
    #[serde(default)]
    pub nhs_number_status: String,
    /// The hospital number.
    #[serde(default)]
    pub local_id: String,
    #[serde(default)]
    pub given_name: String,
    #[serde(default)]
    pub family_name: String,
    #[serde(default)]
    pub date_of_birth: String,
    #[serde(default)]
    pub sex: String,
    #[serde(default)]
    pub postcode: String,
    #[serde(default)]
    pub ward_code: String,
    #[serde(default)]
    pub bed: String,
    #[serde(default)]
    pub admitted_at: String,
    #[serde(default)]
    pub admitted_time: String,
    /// "yes" when the patient no longer meets the criteria to reside.
    #[serde(default)]
    pub nctr: String,
    #[serde(default)]
    pub discharge_ready_at: String,
    #[serde(default)]
    pub discharge_ready_time: String,
    #[serde(default)]
    pub expected_discharge_date: String,
    #[serde(default)]
    pub needs_summary: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "patients/flag.html")]
struct FlagPage {
    layout: Layout,
    form: FlagForm,
    wards: Vec<WardRow>,
    errors: FormErrors,
    /// The open case a duplicate would repeat, if the caller may see it: (id, name).
    existing: Option<(crate::domain::PatientId, String)>,
}

pub async fn flag_form(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
) -> PageResult {
    caller.require(&[Role::Ward, Role::Hub])?;
    let now = state.clock.now();
    let today = london_date(now).format("%Y-%m-%d").to_string();
    Ok(FlagPage {
        layout: crate::notifications::layout(&state, &session, &caller, "flag").await,
        form: FlagForm {
            admitted_at: today.clone(),
            nctr: "yes".into(),
            discharge_ready_at: today,
            discharge_ready_time: now
                .with_timezone(&chrono_tz::Europe::London)
                .format("%H:%M")
                .to_string(),
            ..FlagForm::default()
        },
        wards: state.reference.get(&state.pool).await?.wards_for(&caller),
        errors: FormErrors::default(),
        existing: None,
    }
    .into_response())
}

impl FlagForm {
    fn draft(&self) -> (NewCaseDraft, FieldErrors) {
        let mut errors = FieldErrors::new();
        let admitted_at = if self.admitted_at.trim().is_empty() {
            None
        } else {
            let t = parse_local(&self.admitted_at, &self.admitted_time);
            if t.is_none() {
                errors.add(
                    "admitted_at",
                    "Admission date and time must be real, like 2026-11-20 and 09:30",
                );
            }
            t
        };
        let discharge_ready_at = if self.nctr == "yes" {
            if self.discharge_ready_at.trim().is_empty() {
                errors.add(
                    "discharge_ready_at",
                    "Enter when the patient stopped meeting the criteria to reside",
                );
                None
            } else {
                let t = parse_local(&self.discharge_ready_at, &self.discharge_ready_time);
                if t.is_none() {
                    errors.add(
                        "discharge_ready_at",
                        "The discharge ready date and time must be real",
                    );
                }
                t
            }
        } else {
            None
        };
        (
            NewCaseDraft {
                nhs_number: self.nhs_number.clone(),
                nhs_number_status: self.nhs_number_status.clone(),
                local_id: self.local_id.clone(),
                given_name: self.given_name.clone(),
                family_name: self.family_name.clone(),
                date_of_birth: self.date_of_birth.clone(),
                sex: self.sex.clone(),
                postcode: self.postcode.clone(),
                ward_code: self.ward_code.clone(),
                bed: self.bed.clone(),
                admitted_at,
                discharge_ready_at,
                expected_discharge_date: self.expected_discharge_date.clone(),
                needs_summary: self.needs_summary.clone(),
            },
            errors,
        )
    }
}

pub async fn flag(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Form(form): Form<FlagForm>,
) -> PageResult {
    caller.require(&[Role::Ward, Role::Hub])?;
    let (draft, errors) = form.draft();
    let result = match draft.validate(state.clock.now(), errors) {
        Ok(new) => commands::flag(&state, &caller, new).await,
        Err(errors) => Err(AppError::Validation(errors)),
    };
    let errors = match result {
        Ok(case) => {
            return Ok(done(
                &session,
                &format!("/patients/{}", case.id),
                format!("{} flagged", case.full_name()),
            )
            .await);
        }
        Err(AppError::Validation(errors)) => errors,
        Err(AppError::Conflict { message, .. }) => {
            let field = if form.nhs_number_status == "unknown" {
                "local_id"
            } else {
                "nhs_number"
            };
            FieldErrors::single(field, message)
        }
        Err(e) => return Err(e.into()),
    };
    // a duplicate says where the open case is, when the caller may open it
    let existing = if errors
        .iter()
        .any(|(_, m)| m.contains("already has an open case"))
    {
        existing_case(&state, &caller, &form).await?
    } else {
        None
    };
    Ok(invalid(FlagPage {
        layout: crate::notifications::layout(&state, &session, &caller, "flag").await,
        form,
        wards: state.reference.get(&state.pool).await?.wards_for(&caller),
        errors: FormErrors(errors),
        existing,
    }))
}

/// The open case with the form's NHS number (or hospital number on the form's ward's trust),
/// if the caller may see it.
async fn existing_case(
    state: &AppState,
    caller: &crate::domain::Caller,
    form: &FlagForm,
) -> Result<Option<(crate::domain::PatientId, String)>, AppError> {
    let digits: String = form
        .nhs_number
        .chars()
        .filter(|c| c.is_ascii_digit())
        .collect();
    let id: Option<crate::domain::PatientId> = sqlx::query_scalar(
        "SELECT p.id FROM patients p WHERE p.status NOT IN ('discharged','cancelled') AND \
         (($1 <> '' AND p.nhs_number = $1) OR ($2 <> '' AND upper(p.local_id) = upper($2) \
          AND p.trust_code = (SELECT org_code FROM wards WHERE code = $3))) LIMIT 1",
    )
    .bind(if form.nhs_number_status == "unknown" {
        String::new()
    } else {
        digits
    })
    .bind(form.local_id.trim())
    .bind(form.ward_code.trim())
    .fetch_optional(&state.pool)
    .await?;
    let Some(id) = id else { return Ok(None) };
    match crate::cases::queries::get(&state.pool, caller, id).await {
        Ok(case) => Ok(Some((case.id, case.full_name()))),
        Err(AppError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}
