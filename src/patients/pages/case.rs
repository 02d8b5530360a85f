//! The case page: one case with its periods, history and referrals, and the action forms
//! this caller may use now. Owns how a case is formatted for the page ([`CaseView`] and
//! friends) and which actions it offers ([`Actions`]); the forms post to
//! [`super::case_actions`], which re-renders this page when an action fails. Reads only
//! through scoped queries; never changes a case.

use crate::accounts::PageCaller;
use crate::cases::queries;
use crate::cases::{CaseLine, CaseRow, HistoryEntry, NctrPeriod};
use crate::domain::Caller;
use crate::domain::CancelReason;
use crate::domain::PatientId;
use crate::domain::time::{display_london, london_date};
use crate::domain::{CaseStatus, Pathway, ReferralStatus, Role};
use crate::error::{AppError, FieldErrors};
use crate::reference::discharge::{DischargeDestination, DischargeMethod};
use crate::reference::{CtrReason, DelayReason};
use crate::state::AppState;
use crate::web::Id;
use crate::web::{FormErrors, Layout, PageResult};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use tower_sessions::Session;

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
    /// The hospital number, if recorded.
    pub local_id: String,
    /// Where the patient went (the destination's code; its label is looked up by the page).
    pub destination_code: String,
    pub method_code: String,
    /// Why the recorded delay reason no longer fits the case, if it does not.
    pub reason_misfit: Option<&'static str>,
    pub coordinator_id: Option<i64>,
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
            local_id: c.local_id.clone().unwrap_or_default(),
            destination_code: c.discharge_destination.clone().unwrap_or_default(),
            method_code: c.discharge_method.clone().unwrap_or_default(),
            reason_misfit: c
                .delay_reason
                .as_deref()
                .and_then(|code| crate::domain::delay::misfit(code, c.pathway(), c.status)),
            coordinator_id: c.coordinator_id,
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
    /// The hub's one triage form (coordinator, pathway, delay reason).
    pub triage: bool,
    /// Notes (hub and the case's ward), also once the case is closed.
    pub casework: bool,
    /// New tasks, while the case is open.
    pub add_task: bool,
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
            triage: hub && open,
            casework: ward_or_hub,
            add_task: ward_or_hub && open,
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
    pub destination: String,
    pub method: String,
    pub reason_code: String,
    pub reason: String,
    /// The coordinator chosen in the triage form (a hub user's id, or empty).
    pub coordinator: String,
    pub note_kind: String,
    pub note_text: String,
    pub task_title: String,
    pub task_due_date: String,
    pub task_due_time: String,
    /// A username, or empty for the case's coordinator.
    pub task_assignee: String,
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
    /// The destinations of the trust's national return, for the discharge form.
    destinations: Vec<DischargeDestination>,
    methods: Vec<DischargeMethod>,
    cancel_reasons: [CancelReason; 4],
    values: ActionValues,
    errors: FormErrors,
    /// The case changed since the form was opened.
    stale: bool,
    /// A refused move (wrong state), shown in the summary.
    conflict: String,
    /// Delay reasons in the triage form's order: the pathway's own first.
    triage_reasons: Vec<DelayReason>,
    /// How many of `triage_reasons` are the pathway's own.
    fitting_reasons: usize,
    /// Hub users (coordinators) and the trust's ward users (task owners).
    people: Vec<crate::casework::Person>,
    notes: Vec<NoteLine>,
    notes_total: i64,
    tasks: Vec<TaskLine>,
    /// Referral decisions since the reader last opened the case.
    news: Vec<NewsLine>,
}

/// A note as the case page lists it.
pub struct NoteLine {
    pub at: String,
    pub author: String,
    pub kind: &'static str,
    pub text: String,
}

/// A task as the case page lists it.
pub struct TaskLine {
    pub id: i64,
    pub title: String,
    pub due: String,
    pub assignee: String,
    pub done: bool,
    pub done_at: String,
    pub overdue: bool,
}

impl TaskLine {
    pub fn new(t: &crate::casework::Task, now: DateTime<Utc>) -> Self {
        TaskLine {
            id: t.id,
            title: t.title.clone(),
            due: display_london(t.due_at),
            assignee: t.assignee.clone(),
            done: t.done_at.is_some(),
            done_at: t.done_at.map(display_london).unwrap_or_default(),
            overdue: t.done_at.is_none() && t.due_at < now,
        }
    }
}

/// News on the case: "Meadowbank accepted the referral at 30 Nov 2026 09:57".
pub struct NewsLine {
    pub text: String,
    pub good: bool,
}

impl CasePage {
    fn is_me(&self, id: &i64) -> bool {
        self.layout
            .caller
            .as_ref()
            .is_some_and(|c| c.user_id == *id)
    }

    fn is_coordinator_choice(&self, id: &i64) -> bool {
        if self.values.coordinator.is_empty() {
            self.case.coordinator_id == Some(*id)
        } else {
            self.values.coordinator == id.to_string()
        }
    }

    /// What the details list says about where the patient went.
    fn destination_label(&self) -> String {
        let code = &self.case.destination_code;
        let dest = self
            .destinations
            .iter()
            .find(|d| d.code == *code)
            .map(|d| d.label.clone())
            .unwrap_or_else(|| code.clone());
        let method = self
            .methods
            .iter()
            .find(|m| m.code == self.case.method_code)
            .map(|m| m.label.clone())
            .unwrap_or_default();
        match (dest.is_empty(), method.is_empty()) {
            (false, false) => format!("{dest} ({})", method.to_lowercase()),
            (false, true) => dest,
            (true, false) => method,
            (true, true) => String::new(),
        }
    }
}

/// Why an action failed, for the page shown again in its place.
pub(super) struct Problem {
    pub errors: FieldErrors,
    /// The case changed since the form was opened.
    pub stale: bool,
    /// A refused move (wrong state).
    pub conflict: String,
    /// What the form sent, shown again (unless stale).
    pub typed: Option<ActionValues>,
}

/// The case page, as first shown (`problem` is `None`) or again after a failed action.
pub(super) async fn render_case(
    state: &AppState,
    session: &Session,
    caller: &Caller,
    id: PatientId,
    problem: Option<Problem>,
) -> PageResult {
    render_case_marking(state, session, caller, id, problem, false).await
}

/// [`render_case`]; `mark_read` remembers this visit (a page opened by the reader, not a
/// live refresh or a form shown again), which ends the news it shows.
pub(super) async fn render_case_marking(
    state: &AppState,
    session: &Session,
    caller: &Caller,
    id: PatientId,
    problem: Option<Problem>,
    mark_read: bool,
) -> PageResult {
    let now = state.clock.now();
    // the case first: nothing else is read (or logged) for a case the caller may not see
    let case = queries::get(&state.pool, caller, id).await?;
    let pool = &state.pool;
    let casework = caller.is(Role::Hub) || caller.is(Role::Ward);
    let news_since = now - chrono::Duration::days(super::worklist::NEWS_DAYS);
    let shown = [id];
    let (periods, history, referrals, reference, notes, tasks, people, news, _) = tokio::try_join!(
        queries::nctr_periods(pool, id),
        queries::history(pool, id),
        crate::market::referrals::for_patient(pool, caller, id),
        state.reference.get(pool),
        async {
            if casework {
                crate::casework::notes(pool, caller, id, None, NOTES_SHOWN).await
            } else {
                Ok((vec![], 0))
            }
        },
        async {
            if casework {
                let filter = crate::casework::TaskFilter {
                    patient_id: Some(id),
                    ..Default::default()
                };
                crate::casework::tasks(pool, caller, &filter, None, 200).await
            } else {
                Ok((vec![], 0))
            }
        },
        async {
            if casework {
                crate::casework::people_for(pool, &case.trust_code).await
            } else {
                Ok(vec![])
            }
        },
        crate::cases::reads::news_on_case(pool, caller, id, now, news_since, mark_read),
        crate::audit::record_views(pool, caller, &shown, "case page", now),
    )?;
    let view = CaseView::new(&case, caller, now);
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
        method: crate::domain::discharge::METHOD_CLINICAL_ADVICE.to_string(),
        ..ActionValues::default()
    };
    let return_kind = {
        let mut conn = state.pool.acquire().await?;
        crate::patients::commands::return_kind_of_trust(&mut conn, &case.trust_code).await?
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
    let mut triage_reasons = reference.delay_reasons.clone();
    let fitting_reasons = crate::domain::delay::order_for_pathway(
        &mut triage_reasons,
        |r| r.code.as_str(),
        values
            .pathway
            .parse::<Pathway>()
            .ok()
            .or_else(|| case.pathway()),
    );
    // open tasks first, soonest due first; then the done ones, latest done first
    let mut tasks: Vec<TaskLine> = tasks.0.iter().map(|t| TaskLine::new(t, now)).collect();
    tasks.sort_by_key(|t| t.done);
    let page = CasePage {
        triage_reasons,
        fitting_reasons,
        people,
        notes_total: notes.1,
        notes: notes
            .0
            .iter()
            .map(|n| NoteLine {
                at: display_london(n.at),
                author: n.author.clone(),
                kind: n.kind.label(),
                text: n.text.clone(),
            })
            .collect(),
        tasks,
        news: news
            .iter()
            .map(|n| NewsLine {
                text: format!(
                    "{} {} the referral at {}",
                    n.provider,
                    n.status,
                    display_london(n.at)
                ),
                good: n.status == "accepted",
            })
            .collect(),
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
        reasons: reference.delay_reasons.clone(),
        ctr_reasons: reference.ctr_reasons.clone(),
        destinations: crate::reference::discharge::destinations(&state.pool, Some(return_kind))
            .await?,
        methods: crate::reference::discharge::methods(&state.pool).await?,
        cancel_reasons: CancelReason::ALL,
        values,
        errors: FormErrors(errors),
        stale,
        conflict,
    };
    Ok((status, page).into_response())
}

/// Notes the case page shows (the newest; the API pages through them all).
const NOTES_SHOWN: i64 = 50;

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<PatientId>,
    headers: axum::http::HeaderMap,
) -> PageResult {
    if caller.require(&[Role::Ward, Role::Hub]).is_err() {
        crate::audit::record_refusal(&state.pool, &caller, id, "case page", state.clock.now())
            .await?;
        return Err(AppError::Forbidden.into());
    }
    // a live refresh of an open page (live.js) does not count as reading the news
    let live = headers.contains_key("x-homeward-live");
    let shown = render_case_marking(&state, &session, &caller, id, None, !live).await;
    if let Err(crate::web::PageError(AppError::NotFound)) = &shown {
        // not a case this caller may see: the attempt is in the access log too
        crate::audit::record_refusal(&state.pool, &caller, id, "case page", state.clock.now())
            .await?;
    }
    shown
}
