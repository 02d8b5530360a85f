//! The choice page of a case, and the hub's list of passed choice deadlines.

use super::{ChoiceRecord, ChoiceStep, OUTCOMES, OverdueChoice};
use crate::accounts::PageCaller;
use crate::cases::CaseLine;
use crate::domain::time::{display_london, london_date};
use crate::domain::{Caller, PatientId};
use crate::error::{AppError, FieldErrors};
use crate::state::AppState;
use crate::web::Id;
use crate::web::{FormErrors, Layout, PageResult, done};
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use tower_sessions::Session;

#[derive(Template, WebTemplate)]
#[template(path = "choice/choice.html")]
struct ChoicePage {
    layout: Layout,
    case: CaseLine,
    version: i32,
    choice: ChoiceRecord,
    overdue: bool,
    deadline_days: i64,
    outcomes: &'static [(&'static str, &'static str)],
    form: ChoiceForm,
    errors: FormErrors,
    stale: bool,
}

impl ChoicePage {
    fn when(&self, t: &Option<chrono::DateTime<chrono::Utc>>) -> String {
        t.map(display_london).unwrap_or_default()
    }
}

#[derive(Deserialize, Default, Clone)]
pub struct ChoiceForm {
    version: Option<i32>,
    #[serde(default)]
    stage: String,
    #[serde(default)]
    options: String,
    #[serde(default)]
    preference_1: String,
    #[serde(default)]
    preference_2: String,
    #[serde(default)]
    preference_3: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    note: String,
}

async fn render(
    state: &AppState,
    session: &Session,
    caller: &Caller,
    id: PatientId,
    form: ChoiceForm,
    errors: FieldErrors,
    stale: bool,
) -> PageResult {
    caller.require(&[crate::domain::Role::Hub, crate::domain::Role::Ward])?;
    let now = state.clock.now();
    let case = crate::cases::queries::get(&state.pool, caller, id).await?;
    crate::audit::record_views(&state.pool, caller, &[id], "choice page").await?;
    let choice = super::get(&state.pool, id).await?;
    let status = if stale {
        StatusCode::CONFLICT
    } else if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = ChoicePage {
        layout: crate::notifications::layout(
            state,
            session,
            caller,
            if caller.is(crate::domain::Role::Hub) {
                "hub"
            } else {
                "ward"
            },
        )
        .await,
        version: case.version,
        overdue: choice.overdue(london_date(now)),
        case: CaseLine::new(&case, now),
        choice,
        deadline_days: state.config.choice_deadline.num_days(),
        outcomes: OUTCOMES,
        form,
        errors: FormErrors(errors),
        stale,
    };
    Ok((status, page).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<PatientId>,
) -> PageResult {
    render(
        &state,
        &session,
        &caller,
        id,
        ChoiceForm::default(),
        FieldErrors::new(),
        false,
    )
    .await
}

pub async fn record(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<PatientId>,
    Form(f): Form<ChoiceForm>,
) -> PageResult {
    let step = match f.stage.as_str() {
        "information" => ChoiceStep::InformationGiven,
        "letter" => ChoiceStep::Letter {
            options: f.options.lines().map(str::to_string).collect(),
        },
        "preferences" => ChoiceStep::Preferences(vec![
            f.preference_1.clone(),
            f.preference_2.clone(),
            f.preference_3.clone(),
        ]),
        "escalation" => ChoiceStep::Escalated {
            note: f.note.clone(),
        },
        "outcome" => ChoiceStep::Outcome {
            outcome: f.outcome.clone(),
            note: f.note.clone(),
        },
        _ => return Err(AppError::BadRequest("Unknown choice stage".into()).into()),
    };
    match super::record(&state, &caller, id, f.version, step).await {
        Ok(_) => Ok(done(
            &session,
            &format!("/patients/{id}/choice"),
            "Choice recorded",
        )
        .await),
        Err(AppError::Validation(errors)) => {
            // preference errors point at the first preference box
            let mut renamed = FieldErrors::new();
            for (k, m) in errors.iter() {
                renamed.add(
                    if k == "preferences" {
                        "preference_1"
                    } else {
                        k
                    },
                    m,
                );
            }
            render(&state, &session, &caller, id, f, renamed, false).await
        }
        Err(AppError::Stale) => {
            render(
                &state,
                &session,
                &caller,
                id,
                ChoiceForm::default(),
                FieldErrors::new(),
                true,
            )
            .await
        }
        Err(AppError::Conflict { message, .. }) => {
            Ok(done(&session, &format!("/patients/{id}"), message).await)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "choice/overdue.html")]
struct OverduePage {
    layout: Layout,
    items: Vec<OverdueChoice>,
}

pub async fn overdue(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
) -> PageResult {
    let today = london_date(state.clock.now());
    let items = super::overdue(&state.pool, &caller, today).await?;
    let ids: Vec<PatientId> = items.iter().map(|i| i.patient_id).collect();
    crate::audit::record_views(&state.pool, &caller, &ids, "choice overdue list").await?;
    Ok(OverduePage {
        layout: crate::notifications::layout(&state, &session, &caller, "choice").await,
        items,
    }
    .into_response())
}
