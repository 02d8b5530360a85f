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
use axum::extract::{RawForm, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use tower_sessions::Session;

/// A place a provider has accepted and is holding for the patient to choose.
pub struct HeldPlace {
    pub referral_id: i64,
    pub provider: String,
    pub service: String,
    pub held_until: String,
    pub admission: String,
}

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
    /// What the patient can choose between: the providers it is referred to (picked, not
    /// retyped, for the letter and the preferences).
    options: Vec<String>,
    held: Vec<HeldPlace>,
    may_book: bool,
    form: ChoiceForm,
    errors: FormErrors,
    stale: bool,
}

impl ChoicePage {
    fn when(&self, t: &Option<chrono::DateTime<chrono::Utc>>) -> String {
        t.map(display_london).unwrap_or_default()
    }
    /// The outcome in words.
    fn outcome_label(&self, code: &str) -> &'static str {
        OUTCOMES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, l)| *l)
            .unwrap_or("Recorded")
    }
    /// The three preference boxes: number, field, label, what is chosen.
    fn preference_boxes(&self) -> Vec<(u8, &'static str, &'static str, &str)> {
        vec![
            (
                1,
                "preference_1",
                "First preference",
                &self.form.preference_1,
            ),
            (
                2,
                "preference_2",
                "Second preference",
                &self.form.preference_2,
            ),
            (
                3,
                "preference_3",
                "Third preference",
                &self.form.preference_3,
            ),
        ]
    }
    fn option_checked(&self, option: &str) -> bool {
        self.form.options.lines().any(|l| l.trim() == option)
    }
}

/// A referral as a choice option: "Provider: service".
fn option_name(r: &crate::market::referrals::ReferralRow) -> String {
    format!("{}: {}", r.org_name, r.service_label)
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
    crate::audit::record_views(&state.pool, caller, &[id], "choice page", state.clock.now())
        .await?;
    let choice = super::get(&state.pool, id).await?;
    let referrals = crate::market::referrals::for_patient(&state.pool, caller, id).await?;
    let mut options: Vec<String> = referrals
        .iter()
        .filter(|r| {
            matches!(
                r.status,
                crate::domain::ReferralStatus::Pending | crate::domain::ReferralStatus::Accepted
            )
        })
        .map(option_name)
        .collect();
    // and what the letter offered, if it named something no longer referred
    for o in &choice.options_offered {
        if !options.contains(o) {
            options.push(o.clone());
        }
    }
    let held = referrals
        .iter()
        .filter(|r| r.status == crate::domain::ReferralStatus::Accepted)
        .filter_map(|r| {
            r.held_until.map(|until| HeldPlace {
                referral_id: r.id,
                provider: r.org_name.clone(),
                service: r.service_label.clone(),
                held_until: display_london(until),
                admission: r
                    .admission_planned_for
                    .map(|d| d.format("%-d %b %Y").to_string())
                    .unwrap_or_default(),
            })
        })
        .collect();
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
        options,
        held,
        may_book: caller.is(crate::domain::Role::Hub),
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
    RawForm(raw): RawForm,
) -> PageResult {
    // the options offered are ticked boxes, one `option` field each
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&raw)
        .map_err(|_| AppError::BadRequest("The form could not be read".into()))?;
    let mut f = ChoiceForm::default();
    let mut picked = vec![];
    for (k, v) in pairs {
        match k.as_str() {
            "version" => f.version = v.trim().parse().ok(),
            "stage" => f.stage = v,
            "option" => picked.push(v),
            "options" => f.options = v,
            "preference_1" => f.preference_1 = v,
            "preference_2" => f.preference_2 = v,
            "preference_3" => f.preference_3 = v,
            "outcome" => f.outcome = v,
            "note" => f.note = v,
            _ => {}
        }
    }
    if !picked.is_empty() {
        f.options = picked.join("\n");
    }
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
    /// How many cases are past their deadline, on every page.
    total: i64,
    /// The next page (`?after=`), when there is one.
    next_href: Option<String>,
    /// Whether this is a later page (then a link back to the first).
    paged: bool,
}

/// Overdue choices shown a page at a time.
const OVERDUE_PAGE: i64 = 100;

#[derive(serde::Deserialize, Default)]
pub struct OverdueQuery {
    #[serde(default)]
    after: Option<String>,
}

pub async fn overdue(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    axum::extract::Query(q): axum::extract::Query<OverdueQuery>,
) -> PageResult {
    use crate::web::paging::{Position, split_page};
    let today = london_date(state.clock.now());
    // a cursor this page did not give out shows the first page
    let after = q
        .after
        .as_deref()
        .and_then(|c| Position::decode(c, super::OVERDUE_LIST));
    let (mut items, total) =
        super::overdue(&state.pool, &caller, today, after, OVERDUE_PAGE).await?;
    let next = split_page(
        &mut items,
        OVERDUE_PAGE,
        super::OVERDUE_LIST,
        super::overdue_position,
    );
    let ids: Vec<PatientId> = items.iter().map(|i| i.patient_id).collect();
    crate::audit::record_views(
        &state.pool,
        &caller,
        &ids,
        "choice overdue list",
        state.clock.now(),
    )
    .await?;
    Ok(OverduePage {
        layout: crate::notifications::layout(&state, &session, &caller, "choice").await,
        items,
        total,
        next_href: next.map(|c| format!("/hub/choice?after={c}")),
        paged: after.is_some(),
    }
    .into_response())
}

/// POST /patients/{id}/choice/book/{referral}: the hub books the place the patient chose.
pub async fn book(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id((id, referral)): Id<(PatientId, i64)>,
) -> PageResult {
    match crate::market::commands::book_held(&state, &caller, referral).await {
        Ok(r) => Ok(done(
            &session,
            &format!("/patients/{id}"),
            format!(
                "Booked with {}: care is arranged, and the other places held are given back",
                r.org_name
            ),
        )
        .await),
        Err(AppError::Conflict { message, .. }) => {
            Ok(done(&session, &format!("/patients/{id}/choice"), message).await)
        }
        Err(e) => Err(e.into()),
    }
}
