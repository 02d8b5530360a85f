//! Referral pages. Providers: incoming referrals with the anonymised summary, accept or
//! decline with a coded reason, and the identifiable details once accepted. The hub:
//! "find care" for a patient awaiting care (ranked by [`super::find_care`], as the API is),
//! and referral to several offers.

use super::commands::{self, Decision};
use super::find_care::{self, RankedOffer};
use super::offers::SPECIALISMS;
use super::referrals::{self, ReferralRow};
use crate::accounts::PageCaller;
use crate::cases::queries as case_queries;
use crate::cases::{CaseLine, CaseRow};
use crate::domain::Caller;
use crate::domain::time::display_london;
use crate::domain::{PatientId, ReferralStatus, Role, postcode_district};
use crate::error::{AppError, FieldErrors};
use crate::state::AppState;
use crate::web::Id;
use crate::web::{FormErrors, Layout, PageResult, done};
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{RawForm, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::HashMap;
use tower_sessions::Session;

/// A referral as a provider sees it: the anonymised summary, and more once accepted.
pub struct IncomingReferral {
    pub id: i64,
    pub status: ReferralStatus,
    pub service: String,
    pub referred: String,
    pub decided: String,
    pub decline: String,
    pub age: i32,
    pub sex: String,
    pub district: String,
    pub pathway: String,
    pub waiting_since: String,
    pub needs: String,
    /// Name, NHS number, date of birth, postcode and ward: only after acceptance.
    pub identified: Option<Identified>,
}

pub struct Identified {
    pub name: String,
    pub nhs_number: String,
    pub date_of_birth: String,
    pub postcode: String,
    pub ward: String,
    pub planned: String,
    /// What the provider said when it accepted.
    pub admission: String,
    pub contact: String,
}

/// A refused answer, shown on the card it belongs to, with what was typed.
#[derive(Default)]
pub struct CardProblem {
    pub referral_id: i64,
    pub errors: FormErrors,
    pub admission_date: String,
    pub contact: String,
    pub reason: String,
    pub detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "referrals/incoming.html")]
struct IncomingPage {
    layout: Layout,
    /// The older page of answered referrals (`?before=`), when there is one.
    older_href: Option<String>,
    /// Whether this is an older page (then a link back to the newest).
    paged: bool,
    /// Accepted patients still to admit: on top, with what admitting needs.
    accepted: Vec<IncomingReferral>,
    pending: Vec<IncomingReferral>,
    decided: Vec<IncomingReferral>,
    reasons: Vec<(String, String)>,
    problem: CardProblem,
}

impl IncomingPage {
    /// The message for a field of this card, or "".
    fn err(&self, id: &i64, field: &str) -> &str {
        if self.problem.referral_id == *id {
            self.problem.errors.of(field)
        } else {
            ""
        }
    }
    /// What was typed into a field of this card, when its answer was refused.
    fn typed(&self, id: &i64, field: &str) -> &str {
        if self.problem.referral_id != *id {
            return "";
        }
        match field {
            "admission_date" => &self.problem.admission_date,
            "contact" => &self.problem.contact,
            "reason" => &self.problem.reason,
            "detail" => &self.problem.detail,
            _ => "",
        }
    }
}

pub async fn decline_reasons(db: &sqlx::PgPool) -> Result<Vec<(String, String)>, AppError> {
    Ok(
        sqlx::query_as("SELECT code, label FROM decline_reasons ORDER BY sort_order")
            .fetch_all(db)
            .await?,
    )
}

/// Answered referrals shown a page at a time.
const ANSWERED_PAGE: i64 = 50;
/// The cursor's list tag (a cursor of another list is not read as this one's).
const ANSWERED_LIST: &str = "provider-answered";

#[derive(Deserialize, Default)]
pub struct IncomingQuery {
    #[serde(default)]
    before: Option<String>,
}

/// The provider's home: referrals to its organisation still to act on (all of them), then
/// those answered, newest first, 50 a page.
pub async fn incoming(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    axum::extract::Query(q): axum::extract::Query<IncomingQuery>,
) -> PageResult {
    // a cursor this page did not give out shows the newest page
    let before = q
        .before
        .as_deref()
        .and_then(|c| crate::web::paging::Position::decode(c, ANSWERED_LIST));
    render_page(&state, &session, &caller, CardProblem::default(), before).await
}

async fn render_incoming(
    state: &AppState,
    session: &Session,
    caller: &Caller,
    problem: CardProblem,
) -> PageResult {
    render_page(state, session, caller, problem, None).await
}

async fn render_page(
    state: &AppState,
    session: &Session,
    caller: &Caller,
    problem: CardProblem,
    before: Option<crate::web::paging::Position>,
) -> PageResult {
    let caller = caller.clone();
    caller.require(&[Role::Provider])?;
    let now = state.clock.now();
    let mut answered =
        referrals::answered_page(&state.pool, &caller, before, ANSWERED_PAGE).await?;
    let older = crate::web::paging::split_page(&mut answered, ANSWERED_PAGE, ANSWERED_LIST, |r| {
        crate::web::paging::Position {
            at: r.created_at,
            id: r.id,
        }
    });
    let mut referrals = if before.is_none() {
        referrals::still_open(&state.pool, &caller).await?
    } else {
        vec![]
    };
    referrals.extend(answered);
    let mut ids: Vec<PatientId> = referrals.iter().map(|r| r.patient_id).collect();
    ids.sort();
    ids.dedup();
    // one query for every patient on the page, scoped to this provider
    let cases: HashMap<PatientId, CaseRow> = case_queries::by_ids(&state.pool, &caller, &ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let identifiable = case_queries::identifiable(&state.pool, &caller, &ids).await?;
    crate::audit::record_views(
        &state.pool,
        &caller,
        &ids.iter()
            .copied()
            .filter(|i| identifiable.contains(i))
            .collect::<Vec<_>>(),
        "provider referrals",
        state.clock.now(),
    )
    .await?;
    let mut accepted = vec![];
    let mut pending = vec![];
    let mut decided = vec![];
    for r in referrals {
        let Some(c) = cases.get(&r.patient_id) else {
            continue;
        };
        let line = CaseLine::new(c, now);
        let shown = r.status == ReferralStatus::Accepted && identifiable.contains(&c.id);
        let item = IncomingReferral {
            id: r.id,
            status: r.status,
            service: r.service_label.clone(),
            referred: display_london(r.created_at),
            decided: r.decided_at.map(display_london).unwrap_or_default(),
            decline: r.decline_label.clone().unwrap_or_default(),
            age: line.age,
            sex: c.sex.label().to_string(),
            district: postcode_district(&c.postcode),
            pathway: line.pathway.clone(),
            waiting_since: line.ready.clone(),
            needs: c.needs_summary.clone(),
            identified: shown.then(|| Identified {
                name: line.name.clone(),
                nhs_number: line.nhs_number.clone(),
                date_of_birth: c.date_of_birth.format("%-d %b %Y").to_string(),
                postcode: c.postcode.clone(),
                ward: format!("{} ({}), {}", c.ward_name, c.ward_code, c.trust_code),
                planned: c
                    .planned_discharge_at
                    .map(display_london)
                    .unwrap_or_default(),
                admission: r
                    .admission_planned_for
                    .map(|d| d.format("%-d %b %Y").to_string())
                    .unwrap_or_default(),
                contact: r.accept_contact.clone().unwrap_or_default(),
            }),
        };
        match r.status {
            ReferralStatus::Pending => pending.push(item),
            // still to admit: the place is reserved and not yet used or given back
            ReferralStatus::Accepted
                if r.place_used_at.is_none() && r.place_released_at.is_none() =>
            {
                accepted.push(item)
            }
            _ => decided.push(item),
        }
    }
    let status = if problem.errors.any() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        IncomingPage {
            layout: crate::notifications::layout(state, session, &caller, "provider").await,
            older_href: older.map(|c| format!("/provider?before={c}")),
            paged: before.is_some(),
            accepted,
            pending,
            decided,
            reasons: decline_reasons(&state.pool).await?,
            problem,
        },
    )
        .into_response())
}

#[derive(Deserialize, Default)]
pub struct AcceptForm {
    #[serde(default)]
    admission_date: String,
    #[serde(default)]
    contact: String,
}

pub async fn accept(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<i64>,
    Form(f): Form<AcceptForm>,
) -> PageResult {
    caller.require(&[Role::Provider])?;
    let mut problem = CardProblem {
        referral_id: id,
        admission_date: f.admission_date.clone(),
        contact: f.contact.clone(),
        ..CardProblem::default()
    };
    let admission_date = match f.admission_date.trim() {
        "" => None,
        d => match crate::domain::time::parse_date(d) {
            Some(d) => Some(d),
            None => {
                problem.errors = FormErrors(FieldErrors::single(
                    "admission_date",
                    "Enter a real date, like 2026-12-01, or leave it blank",
                ));
                return render_incoming(&state, &session, &caller, problem).await;
            }
        },
    };
    let decision = Decision::Accept {
        admission_date,
        contact: f.contact,
    };
    match commands::decide(&state, &caller, id, decision).await {
        Ok(_) => Ok(done(
            &session,
            "/provider",
            "Referral accepted: a place is reserved and the patient's details are shown below",
        )
        .await),
        Err(AppError::Validation(errors)) => {
            problem.errors = FormErrors(errors);
            render_incoming(&state, &session, &caller, problem).await
        }
        Err(AppError::Conflict { message, .. }) => Ok(done(
            &session,
            "/provider",
            format!("Could not accept: {message}"),
        )
        .await),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct DeclineForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    detail: String,
}

pub async fn decline(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<i64>,
    Form(f): Form<DeclineForm>,
) -> PageResult {
    caller.require(&[Role::Provider])?;
    let problem = CardProblem {
        referral_id: id,
        reason: f.reason.clone(),
        detail: f.detail.clone(),
        ..CardProblem::default()
    };
    let decision = Decision::Decline {
        reason: f.reason,
        detail: f.detail,
    };
    match commands::decide(&state, &caller, id, decision).await {
        Ok(_) => Ok(done(&session, "/provider", "Referral declined").await),
        // the message goes beside the card's reason, with what was typed kept
        Err(AppError::Validation(errors)) => {
            let problem = CardProblem {
                errors: FormErrors(errors),
                ..problem
            };
            render_incoming(&state, &session, &caller, problem).await
        }
        Err(AppError::Conflict { message, .. }) => Ok(done(
            &session,
            "/provider",
            format!("Could not decline: {message}"),
        )
        .await),
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------- find care (hub)

/// An open offer ranked for one patient.
pub struct Candidate {
    pub id: i64,
    pub provider: String,
    pub service: String,
    pub places_left: i32,
    pub unit: String,
    pub area: String,
    pub covers: bool,
    pub matched: Vec<&'static str>,
    pub starts: String,
    pub confirmed: String,
    pub stale: bool,
    pub referred: bool,
    pub notes: String,
}

impl Candidate {
    /// An offer ranked by [`find_care::rank`], worded for the page.
    fn new(r: RankedOffer, now: DateTime<Utc>) -> Self {
        let o = r.offer;
        Candidate {
            matched: r
                .matched
                .iter()
                .map(|c| find_care::specialism_label(c))
                .collect(),
            stale: r.stale,
            referred: r.referred,
            id: o.id,
            provider: format!("{} ({})", o.org_name, o.org_code),
            service: o.service_label,
            places_left: o.places_left,
            unit: o.unit,
            area: if o.area.is_empty() {
                "Anywhere".into()
            } else {
                o.area
            },
            covers: r.covers,
            starts: if r.starts <= now {
                "Now".into()
            } else {
                display_london(r.starts)
            },
            confirmed: display_london(o.last_confirmed_at),
            notes: o.notes,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "referrals/find_care.html")]
struct FindCarePage {
    layout: Layout,
    case: CaseLine,
    district: String,
    needs: String,
    wanted: Vec<&'static str>,
    candidates: Vec<Candidate>,
    errors: FormErrors,
}

async fn find_care_page(
    state: &AppState,
    session: &Session,
    caller: &Caller,
    id: PatientId,
    errors: FieldErrors,
) -> PageResult {
    caller.require(&[Role::Hub])?;
    let now = state.clock.now();
    let mut conn = state.pool.acquire().await.map_err(AppError::from)?;
    let found =
        match find_care::for_patient(&mut conn, caller, id, now, state.config.offer_stale_after)
            .await
        {
            Ok(found) => found,
            Err(AppError::Conflict { message, .. }) => {
                return Ok(done(session, &format!("/patients/{id}"), message).await);
            }
            Err(e) => return Err(e.into()),
        };
    drop(conn);
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = FindCarePage {
        layout: crate::notifications::layout(state, session, caller, "hub").await,
        district: found.district,
        needs: found.case.needs_summary.clone(),
        wanted: SPECIALISMS
            .iter()
            .filter(|(c, _)| found.wanted.contains(c))
            .map(|(_, l)| *l)
            .collect(),
        candidates: found
            .offers
            .into_iter()
            .map(|r| Candidate::new(r, now))
            .collect(),
        case: CaseLine::new(&found.case, now),
        errors: FormErrors(errors),
    };
    Ok((status, page).into_response())
}

pub async fn find_care(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<PatientId>,
) -> PageResult {
    find_care_page(&state, &session, &caller, id, FieldErrors::new()).await
}

/// Refers the patient to every offer ticked on the find-care page.
pub async fn refer(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<PatientId>,
    RawForm(body): RawForm,
) -> PageResult {
    caller.require(&[Role::Hub])?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| AppError::BadRequest("The form could not be read".into()))?;
    let offer_ids: Vec<i64> = pairs
        .iter()
        .filter(|(k, _)| k == "offer_id")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    if offer_ids.is_empty() {
        return find_care_page(
            &state,
            &session,
            &caller,
            id,
            FieldErrors::single("offer_id", "Select at least one offer to refer to"),
        )
        .await;
    }
    match commands::refer(&state, &caller, id, &offer_ids).await {
        Ok(made) => {
            let names: Vec<String> = made
                .iter()
                .map(|r: &ReferralRow| r.org_name.clone())
                .collect();
            Ok(done(
                &session,
                &format!("/patients/{id}"),
                format!("Referred to {}", names.join(", ")),
            )
            .await)
        }
        Err(AppError::Conflict { message, .. }) => {
            find_care_page(
                &state,
                &session,
                &caller,
                id,
                FieldErrors::single("offer_id", message),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
