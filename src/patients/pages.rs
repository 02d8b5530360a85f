//! The ward's and the hub's pages: the ward list, the hub worklist, the flag form and the
//! case page with its action forms. Handlers parse forms, call [`super::commands`], then
//! redirect with a flash message (POST-redirect-GET) or re-render with NHS-style errors.

use super::commands::{self, CriteriaChange, DetailsChange};
use super::model::{NewCaseDraft, optional_date};
use crate::accounts::PageCaller;
use crate::cases::queries::{self, CaseFilter, TrustRow, WardCounts, WardRow};
use crate::cases::{CaseLine, CaseRow, HistoryEntry, NctrPeriod};
use crate::domain::Caller;
use crate::domain::status::ALL_STATUSES;
use crate::domain::time::parse_local;
use crate::domain::time::{display_london, london_date};
use crate::domain::{CaseStatus, Pathway, PatientId, ReferralStatus, Role};
use crate::error::{AppError, FieldErrors};
use crate::reference::{self, CtrReason, DelayReason};
use crate::state::AppState;
use crate::web::{FormErrors, Layout, PageResult, done, invalid};
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tower_sessions::Session;

// ---------------------------------------------------------------- ward list

#[derive(Template, WebTemplate)]
#[template(path = "patients/ward_list.html")]
struct WardListPage {
    layout: Layout,
    wards: Vec<WardCounts>,
    /// The ward shown, if the trust has any.
    ward: Option<WardCounts>,
    lines: Vec<CaseLine>,
}

#[derive(Deserialize, Default)]
pub struct WardQuery {
    #[serde(default)]
    ward: String,
}

const SESSION_WARD_KEY: &str = "ward";

/// A ward user's trust: every ward with its counts, and one ward's open cases. The ward
/// chosen last is remembered for the session.
pub async fn ward_list(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Query(q): Query<WardQuery>,
) -> PageResult {
    caller.require(&[Role::Ward])?;
    let now = state.clock.now();
    let wards = queries::ward_counts(&state.pool, &caller, now).await?;
    let remembered: Option<String> = session.get(SESSION_WARD_KEY).await.ok().flatten();
    let find = |code: &str| wards.iter().find(|w| w.code == code).cloned();
    let ward = find(&q.ward)
        .or_else(|| remembered.as_deref().and_then(find))
        .or_else(|| wards.iter().find(|w| w.open > 0).cloned())
        .or_else(|| wards.first().cloned());
    let mut lines = vec![];
    if let Some(w) = &ward {
        session.insert(SESSION_WARD_KEY, &w.code).await?;
        let filter = CaseFilter {
            open_only: true,
            ward_code: Some(w.code.clone()),
            limit: 1000,
            ..CaseFilter::default()
        };
        let listed = queries::list(&state.pool, &caller, &filter, now).await?;
        let ids: Vec<PatientId> = listed.iter().map(|l| l.case.id).collect();
        crate::audit::record_views(&state.pool, &caller, &ids, "ward list").await?;
        lines = listed.iter().map(|l| CaseLine::new(&l.case, now)).collect();
    }
    Ok(WardListPage {
        layout: crate::notifications::layout(&state, &session, &caller, "ward").await,
        wards,
        ward,
        lines,
    }
    .into_response())
}

// ---------------------------------------------------------------- hub worklist

#[derive(Deserialize, Default, Clone)]
pub struct WorklistQuery {
    #[serde(default)]
    pub trust: String,
    #[serde(default)]
    pub ward: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub pathway: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub page: String,
    /// "1": only pathway 1-3 patients past 24 hours without care arranged.
    #[serde(default)]
    pub escalated: String,
}

impl WorklistQuery {
    /// This list's address on another page, keeping the filters.
    fn href(&self, page: i64) -> String {
        let mut params: Vec<(&str, String)> = vec![];
        for (k, v) in [
            ("trust", &self.trust),
            ("ward", &self.ward),
            ("status", &self.status),
            ("pathway", &self.pathway),
            ("reason", &self.reason),
            ("escalated", &self.escalated),
        ] {
            if !v.is_empty() {
                params.push((k, v.clone()));
            }
        }
        if page > 1 {
            params.push(("page", page.to_string()));
        }
        let query: Vec<String> = params
            .into_iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.replace(
                        |c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-',
                        ""
                    )
                )
            })
            .collect();
        if query.is_empty() {
            "/hub".to_string()
        } else {
            format!("/hub?{}", query.join("&"))
        }
    }
}

/// Cases on one page of the worklist.
pub const WORKLIST_PAGE_SIZE: i64 = 100;

#[derive(Template, WebTemplate)]
#[template(path = "patients/worklist.html")]
struct WorklistPage {
    layout: Layout,
    q: WorklistQuery,
    lines: Vec<CaseLine>,
    total: i64,
    over_24h: i64,
    first: i64,
    last: i64,
    prev_href: Option<String>,
    next_href: Option<String>,
    trusts: Vec<TrustRow>,
    wards: Vec<WardRow>,
    statuses: Vec<CaseStatus>,
    reasons: Vec<DelayReason>,
    filtered: bool,
}

/// The hub's worklist: every open case across trusts, longest wait first, a page at a time.
pub async fn worklist(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Query(q): Query<WorklistQuery>,
) -> PageResult {
    caller.require(&[Role::Hub])?;
    let now = state.clock.now();
    // Unknown filter values are ignored rather than failing the page.
    let status = q.status.parse::<CaseStatus>().ok();
    let no_reason = q.reason == "none";
    let page = q.page.parse::<i64>().unwrap_or(1).clamp(1, 10_000);
    let filter = CaseFilter {
        status,
        open_only: true,
        pathway: q.pathway.parse::<Pathway>().ok(),
        ward_code: Some(q.ward.clone()).filter(|s| !s.is_empty()),
        trust_code: Some(q.trust.clone()).filter(|s| !s.is_empty()),
        delay_reason: Some(q.reason.clone()).filter(|s| !s.is_empty() && !no_reason),
        no_delay_reason: no_reason,
        escalated_before: (q.escalated == "1").then(|| now - chrono::Duration::hours(24)),
        limit: WORKLIST_PAGE_SIZE,
        offset: (page - 1) * WORKLIST_PAGE_SIZE,
    };
    let listed = queries::list(&state.pool, &caller, &filter, now).await?;
    let ids: Vec<PatientId> = listed.iter().map(|l| l.case.id).collect();
    crate::audit::record_views(&state.pool, &caller, &ids, "hub worklist").await?;
    let (total, over_24h) = listed
        .first()
        .map(|l| (l.total, l.over_24h))
        .unwrap_or((0, 0));
    let lines: Vec<CaseLine> = listed.iter().map(|l| CaseLine::new(&l.case, now)).collect();
    let first = filter.offset + 1;
    let last = filter.offset + lines.len() as i64;
    let filtered = !(q.trust.is_empty()
        && q.ward.is_empty()
        && q.status.is_empty()
        && q.pathway.is_empty()
        && q.reason.is_empty()
        && q.escalated.is_empty());
    Ok(WorklistPage {
        layout: crate::notifications::layout(&state, &session, &caller, "hub").await,
        prev_href: (page > 1).then(|| q.href(page - 1)),
        next_href: (last < total).then(|| q.href(page + 1)),
        lines,
        total,
        over_24h,
        first,
        last,
        trusts: queries::trusts(&state.pool).await?,
        wards: queries::wards_for(&state.pool, &caller).await?,
        statuses: ALL_STATUSES
            .into_iter()
            .filter(|s| !s.is_terminal())
            .collect(),
        reasons: reference::delay_reasons(&state.pool).await?,
        q,
        filtered,
    }
    .into_response())
}

// ---------------------------------------------------------------- flag a patient

#[derive(Deserialize, Default, Clone)]
pub struct FlagForm {
    #[serde(default)]
    pub nhs_number: String,
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
        wards: queries::wards_for(&state.pool, &caller).await?,
        errors: FormErrors::default(),
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
        Err(AppError::Conflict { message, .. }) => FieldErrors::single("nhs_number", message),
        Err(e) => return Err(e.into()),
    };
    Ok(invalid(FlagPage {
        layout: crate::notifications::layout(&state, &session, &caller, "flag").await,
        form,
        wards: queries::wards_for(&state.pool, &caller).await?,
        errors: FormErrors(errors),
    }))
}

// ---------------------------------------------------------------- the case page

/// A case formatted for its page.
pub struct CaseView {
    pub id: PatientId,
    pub version: i32,
    pub name: String,
    pub nhs_number: String,
    pub date_of_birth: String,
    pub age: i32,
    pub sex: String,
    pub postcode: String,
    pub ward: String,
    pub bed: String,
    pub admitted: String,
    pub status: CaseStatus,
    pub pathway: String,
    pub ready: String,
    pub waiting: String,
    pub over_24h: bool,
    pub delay_reason: String,
    pub delay_reason_code: String,
    pub coordinator: String,
    pub is_mine: bool,
    pub edd: String,
    pub edd_value: String,
    pub needs_summary: String,
    pub planned: String,
    pub discharged: String,
    pub closed_reason: String,
}

impl CaseView {
    fn new(c: &CaseRow, caller: &Caller, now: DateTime<Utc>) -> Self {
        let line = CaseLine::new(c, now);
        CaseView {
            id: c.id,
            version: c.version,
            name: line.name,
            nhs_number: line.nhs_number,
            date_of_birth: c.date_of_birth.format("%-d %b %Y").to_string(),
            age: line.age,
            sex: c.sex.label().to_string(),
            postcode: c.postcode.clone(),
            ward: format!("{} ({})", c.ward_name, c.ward_code),
            bed: c.bed.clone(),
            admitted: display_london(c.admitted_at),
            status: c.status,
            pathway: line.pathway,
            ready: line.ready,
            waiting: line.waiting,
            over_24h: line.over_24h,
            delay_reason: line.delay_reason,
            delay_reason_code: c.delay_reason.clone().unwrap_or_default(),
            coordinator: line.coordinator,
            is_mine: c.coordinator_id == Some(caller.user_id),
            edd: line.edd,
            edd_value: c
                .expected_discharge_date
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
            needs_summary: c.needs_summary.clone(),
            planned: c
                .planned_discharge_at
                .map(display_london)
                .unwrap_or_default(),
            discharged: c.discharged_at.map(display_london).unwrap_or_default(),
            closed_reason: c.closed_reason.clone().unwrap_or_default(),
        }
    }
}

pub struct PeriodView {
    pub started: String,
    pub ended: String,
    pub how: String,
}

impl PeriodView {
    fn new(p: &NctrPeriod) -> Self {
        PeriodView {
            started: display_london(p.started_at),
            ended: p
                .ended_at
                .map(display_london)
                .unwrap_or_else(|| "Still not meeting".into()),
            how: match (p.ended_by.as_deref(), &p.ctr_code, &p.ctr_label) {
                (Some("met_criteria"), Some(code), Some(label)) => {
                    format!("Met the criteria again: {code} {label}")
                }
                (Some("met_criteria"), _, _) => "Met the criteria again".into(),
                (Some("discharged"), _, _) => "Discharged".into(),
                (Some("cancelled"), _, _) => "Case cancelled".into(),
                _ => String::new(),
            },
        }
    }
}

pub struct HistoryView {
    pub at: String,
    pub actor: String,
    pub detail: String,
}

/// A referral as the case page lists it.
pub struct ReferralLine {
    pub provider: String,
    pub service: String,
    pub status: ReferralStatus,
    pub referred: String,
    pub decided: String,
    pub note: String,
}

impl ReferralLine {
    fn new(r: &crate::market::referrals::ReferralRow) -> Self {
        let note = match (
            &r.decline_label,
            &r.decline_detail,
            r.place_released_at,
            r.place_used_at,
        ) {
            (Some(label), Some(detail), _, _) => format!("{label}: {detail}"),
            (Some(label), None, _, _) => label.clone(),
            (_, _, Some(_), _) => "Place released".into(),
            (_, _, _, Some(_)) => "Place used".into(),
            _ => String::new(),
        };
        ReferralLine {
            provider: format!("{} ({})", r.org_name, r.org_code),
            service: r.service_label.clone(),
            status: r.status,
            referred: display_london(r.created_at),
            decided: r.decided_at.map(display_london).unwrap_or_default(),
            note,
        }
    }
}

/// Which actions the case page offers this caller now.
pub struct Actions {
    pub find_care: bool,
    pub criteria_not_met: bool,
    pub criteria_met: bool,
    pub pathway: bool,
    pub delay_reason: bool,
    pub details: bool,
    pub take_ownership: bool,
    pub plan_discharge: bool,
    pub discharge: bool,
    pub cancel: bool,
}

impl Actions {
    fn for_case(c: &CaseRow, caller: &Caller) -> Self {
        let s = c.status;
        let open = !s.is_terminal();
        let ward_or_hub = matches!(caller.role, Role::Ward | Role::Hub);
        let hub = caller.is(Role::Hub);
        let allowed = |e| s.apply(e, c.pathway()).is_ok();
        Actions {
            find_care: hub && s == CaseStatus::AwaitingCare,
            criteria_not_met: ward_or_hub
                && allowed(crate::domain::CaseEvent::StopsMeetingCriteria),
            criteria_met: ward_or_hub && allowed(crate::domain::CaseEvent::MeetsCriteriaAgain),
            pathway: hub
                && Pathway::new(1)
                    .is_some_and(|p| allowed(crate::domain::CaseEvent::ChoosePathway(p))),
            delay_reason: ward_or_hub && s.is_nctr(),
            details: ward_or_hub && open,
            take_ownership: hub && open && c.coordinator_id != Some(caller.user_id),
            plan_discharge: ward_or_hub && allowed(crate::domain::CaseEvent::PlanDischarge),
            discharge: ward_or_hub && open,
            cancel: hub && open,
        }
    }
}

/// What the action forms show: the values typed (after an error) or sensible defaults.
#[derive(Default, Clone)]
pub struct ActionValues {
    pub at_date: String,
    pub at_time: String,
    pub ctr_code: String,
    pub pathway: String,
    pub code: String,
    pub expected_discharge_date: String,
    pub needs_summary: String,
    pub planned_for: String,
    pub discharged_date: String,
    pub discharged_time: String,
    pub reason: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "patients/case.html")]
struct CasePage {
    layout: Layout,
    case: CaseView,
    periods: Vec<PeriodView>,
    history: Vec<HistoryView>,
    actions: Actions,
    referrals: Vec<ReferralLine>,
    reasons: Vec<DelayReason>,
    ctr_reasons: Vec<CtrReason>,
    values: ActionValues,
    errors: FormErrors,
    /// The case changed since the form was opened.
    stale: bool,
    /// A refused move (wrong state), shown in the summary.
    conflict: String,
}

struct Problem {
    errors: FieldErrors,
    stale: bool,
    conflict: String,
    typed: Option<ActionValues>,
}

async fn render_case(
    state: &AppState,
    session: &Session,
    caller: &Caller,
    id: PatientId,
    problem: Option<Problem>,
) -> PageResult {
    let now = state.clock.now();
    let case = queries::get(&state.pool, caller, id).await?;
    let periods = queries::nctr_periods(&state.pool, id).await?;
    let history = queries::history(&state.pool, id).await?;
    let view = CaseView::new(&case, caller, now);
    let referrals = crate::market::referrals::for_patient(&state.pool, caller, id).await?;
    crate::audit::record_views(&state.pool, caller, &[id], "case page").await?;
    let local_now = now.with_timezone(&chrono_tz::Europe::London);
    let defaults = ActionValues {
        at_date: local_now.format("%Y-%m-%d").to_string(),
        at_time: local_now.format("%H:%M").to_string(),
        pathway: view.pathway.clone(),
        code: view.delay_reason_code.clone(),
        expected_discharge_date: view.edd_value.clone(),
        needs_summary: view.needs_summary.clone(),
        planned_for: case
            .planned_discharge_at
            .map(|t| london_date(t).format("%Y-%m-%d").to_string())
            .unwrap_or_else(|| local_now.format("%Y-%m-%d").to_string()),
        discharged_date: local_now.format("%Y-%m-%d").to_string(),
        discharged_time: local_now.format("%H:%M").to_string(),
        ..ActionValues::default()
    };
    let (errors, stale, conflict, values) = match problem {
        // A stale form shows the latest values, not what was typed over old ones.
        Some(p) if p.stale => (p.errors, true, p.conflict, defaults),
        Some(p) => (p.errors, false, p.conflict, p.typed.unwrap_or(defaults)),
        None => (FieldErrors::new(), false, String::new(), defaults),
    };
    let status = if stale || !conflict.is_empty() {
        StatusCode::CONFLICT
    } else if !errors.is_empty() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = CasePage {
        layout: crate::notifications::layout(
            state,
            session,
            caller,
            if caller.is(Role::Hub) { "hub" } else { "ward" },
        )
        .await,
        actions: Actions::for_case(&case, caller),
        case: view,
        periods: periods.iter().map(PeriodView::new).collect(),
        history: history
            .into_iter()
            .map(|h: HistoryEntry| HistoryView {
                at: display_london(h.at),
                actor: h.actor.unwrap_or_default(),
                detail: h.detail,
            })
            .collect(),
        referrals: referrals.iter().map(ReferralLine::new).collect(),
        reasons: reference::delay_reasons(&state.pool).await?,
        ctr_reasons: reference::ctr_reasons(&state.pool).await?,
        values,
        errors: FormErrors(errors),
        stale,
        conflict,
    };
    Ok((status, page).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Path(id): Path<PatientId>,
) -> PageResult {
    caller.require(&[Role::Ward, Role::Hub])?;
    render_case(&state, &session, &caller, id, None).await
}

/// Turns a command's result into a redirect with a flash message, or the case page again
/// with the problem explained. Field names from commands are mapped to this form's names.
/// What a form sent, to show again if the action fails, and how the command's field names
/// map to this form's inputs.
struct Retry {
    typed: ActionValues,
    rename: &'static [(&'static str, &'static str)],
}

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
    Path(id): Path<PatientId>,
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
        Some(_) if meets && f.ctr_code.trim().is_empty() => {
            Err(AppError::Validation(FieldErrors::single(
                "ctr_code",
                "Select why the patient meets the criteria to reside again",
            )))
        }
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
    Path(id): Path<PatientId>,
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
    Path(id): Path<PatientId>,
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
    Path(id): Path<PatientId>,
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
    Path(id): Path<PatientId>,
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
}

pub async fn discharge(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Path(id): Path<PatientId>,
    Form(f): Form<DischargeForm>,
) -> PageResult {
    let typed = ActionValues {
        discharged_date: f.discharged_date.clone(),
        discharged_time: f.discharged_time.clone(),
        ..Default::default()
    };
    let result = match parse_local(&f.discharged_date, &f.discharged_time) {
        Some(t) => commands::discharge(&state, &caller, id, f.version, Some(t)).await,
        None => Err(AppError::Validation(FieldErrors::single(
            "discharged_at",
            "Enter a real date and time of discharge",
        ))),
    };
    after_action(
        &state,
        &session,
        &caller,
        id,
        result,
        "Discharge recorded",
        Retry {
            typed,
            rename: &[("discharged_at", "discharged_date")],
        },
    )
    .await
}

#[derive(Deserialize)]
pub struct CancelForm {
    version: Option<i32>,
    #[serde(default)]
    reason: String,
}

pub async fn cancel(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Path(id): Path<PatientId>,
    Form(f): Form<CancelForm>,
) -> PageResult {
    let typed = ActionValues {
        reason: f.reason.clone(),
        ..Default::default()
    };
    let result = commands::cancel(&state, &caller, id, f.version, &f.reason).await;
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
    Path(id): Path<PatientId>,
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
