//! Notes, the contact log and tasks on the case page, and the "Tasks" page of a hub or ward
//! user: forms that call [`crate::casework`] (the functions the API calls), then redirect back
//! with a flash message or show the case page again with the errors beside the fields.

use super::case::{ActionValues, Problem, TaskLine, render_case};
use crate::accounts::PageCaller;
use crate::casework::{self, TaskFilter};
use crate::domain::time::parse_local;
use crate::domain::{PatientId, Role};
use crate::error::{AppError, FieldErrors};
use crate::state::AppState;
use crate::web::{Id, Layout, PageResult, done};
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::response::IntoResponse;
use serde::Deserialize;
use tower_sessions::Session;

/// The case page again with a form's errors and what was typed.
async fn again(
    state: &AppState,
    session: &Session,
    caller: &crate::domain::Caller,
    id: PatientId,
    errors: FieldErrors,
    typed: ActionValues,
) -> PageResult {
    render_case(
        state,
        session,
        caller,
        id,
        Some(Problem {
            errors,
            stale: false,
            conflict: String::new(),
            typed: Some(typed),
        }),
    )
    .await
}

#[derive(Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    text: String,
}

/// POST /patients/{id}/notes: a note, phone call or email on the case.
pub async fn add_note(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<PatientId>,
    Form(f): Form<NoteForm>,
) -> PageResult {
    caller.require(&[Role::Hub, Role::Ward])?;
    let now = state.clock.now();
    match casework::add_note(&state.pool, &caller, id, &f.kind, &f.text, now).await {
        Ok(note) => Ok(done(
            &session,
            &format!("/patients/{id}#notes"),
            &format!("{} added", note.kind.label()),
        )
        .await),
        Err(AppError::Validation(errors)) => {
            let typed = ActionValues {
                note_kind: f.kind,
                note_text: f.text,
                ..Default::default()
            };
            again(&state, &session, &caller, id, errors, typed).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct TaskForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    due_date: String,
    #[serde(default)]
    due_time: String,
    #[serde(default)]
    assignee: String,
}

/// POST /patients/{id}/tasks: a task with a due time and an owner (the coordinator unless
/// someone else is chosen).
pub async fn add_task(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<PatientId>,
    Form(f): Form<TaskForm>,
) -> PageResult {
    caller.require(&[Role::Hub, Role::Ward])?;
    let now = state.clock.now();
    let time = if f.due_time.trim().is_empty() {
        "17:00"
    } else {
        f.due_time.trim()
    };
    let due = parse_local(f.due_date.trim(), time);
    let result = if due.is_none() && !f.due_date.trim().is_empty() {
        Err(AppError::Validation(FieldErrors::single(
            "due_at",
            "Enter a real date and time, like 2026-12-01 and 10:00",
        )))
    } else {
        casework::add_task(
            &state.pool,
            &caller,
            id,
            &f.title,
            due,
            Some(f.assignee.as_str()),
            now,
        )
        .await
    };
    match result {
        Ok(task) => Ok(done(
            &session,
            &format!("/patients/{id}#tasks"),
            &format!("Task added for {}", task.assignee),
        )
        .await),
        Err(AppError::Validation(errors)) => {
            let mut errors = errors;
            if errors.iter().any(|(k, _)| k == "due_at") {
                // the page's message: the API's names an ISO 8601 instant
                let mut renamed = FieldErrors::new();
                for (k, v) in errors.iter() {
                    if k == "due_at" {
                        renamed.add("due_at", "Enter the date the task is due");
                    } else {
                        renamed.add(k, v);
                    }
                }
                errors = renamed;
            }
            let typed = ActionValues {
                task_title: f.title,
                task_due_date: f.due_date,
                task_due_time: f.due_time,
                task_assignee: f.assignee,
                ..Default::default()
            };
            again(&state, &session, &caller, id, errors, typed).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct CompleteForm {
    /// Where to go back to: the case page or the tasks page.
    #[serde(default)]
    back: String,
}

/// POST /tasks/{id}/complete: done, with one click, from the case page or the tasks page.
pub async fn complete_task(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(task_id): Id<i64>,
    Form(f): Form<CompleteForm>,
) -> PageResult {
    caller.require(&[Role::Hub, Role::Ward])?;
    let task = casework::complete_task(&state.pool, &caller, task_id, state.clock.now()).await?;
    // only our own pages: never an address from elsewhere
    let back = if f.back == "/tasks" {
        "/tasks".to_string()
    } else {
        format!("/patients/{}#tasks", task.patient_id)
    };
    Ok(done(&session, &back, &format!("Done: {}", task.title)).await)
}

/// A task on the tasks page, with its patient.
pub struct MyTask {
    pub task: TaskLine,
    pub patient_id: PatientId,
    pub patient: String,
    pub due_today: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "patients/tasks.html")]
struct TasksPage {
    layout: Layout,
    /// ("Overdue" | "Due today" | "Later", the tasks), empty groups left out.
    groups: Vec<(&'static str, Vec<MyTask>)>,
    total: i64,
}

/// The most open tasks the page lists.
const TASKS_SHOWN: i64 = 200;

/// GET /tasks: my open tasks, overdue first, then due today, then later.
pub async fn my_tasks(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
) -> PageResult {
    caller.require(&[Role::Hub, Role::Ward])?;
    let now = state.clock.now();
    let filter = TaskFilter {
        assignee_id: Some(caller.user_id),
        open: Some(true),
        ..Default::default()
    };
    let (tasks, total) = casework::tasks(&state.pool, &caller, &filter, None, TASKS_SHOWN).await?;
    let ids: Vec<PatientId> = tasks.iter().map(|t| t.patient_id).collect();
    let cases = crate::cases::queries::by_ids(&state.pool, &caller, &ids).await?;
    crate::audit::record_views(&state.pool, &caller, &ids, "tasks page", now).await?;
    let end_of_today = crate::news::end_of_today(now);
    let (mut overdue, mut today, mut later) = (vec![], vec![], vec![]);
    for t in &tasks {
        let patient = cases
            .iter()
            .find(|c| c.id == t.patient_id)
            .map(|c| c.full_name())
            .unwrap_or_default();
        let mine = MyTask {
            task: TaskLine::new(t, now),
            patient_id: t.patient_id,
            patient,
            due_today: t.due_at >= now && t.due_at < end_of_today,
        };
        if t.due_at < now {
            overdue.push(mine);
        } else if mine.due_today {
            today.push(mine);
        } else {
            later.push(mine);
        }
    }
    Ok(TasksPage {
        layout: crate::notifications::layout(&state, &session, &caller, "tasks").await,
        groups: [("Overdue", overdue), ("Due today", today), ("Later", later)]
            .into_iter()
            .filter(|(_, list)| !list.is_empty())
            .collect(),
        total,
    }
    .into_response())
}
