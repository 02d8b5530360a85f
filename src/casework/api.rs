//! `/api/v1/patients/{id}/notes`, `/api/v1/patients/{id}/tasks`, `/api/v1/tasks` and
//! `/api/v1/tasks/{id}/complete` (CONTRACT.md "Notes and tasks"). A provider gets 404.

use super::{Note, Task, TaskFilter};
use crate::accounts::ApiCaller;
use crate::domain::PatientId;
use crate::domain::time::{parse_date, parse_instant};
use crate::error::{ApiResult, AppError, ErrorBody, FieldErrors};
use crate::state::AppState;
use crate::web::Id;
use crate::web::api::{ApiJson, ApiQuery};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_notes, add_note))
        .routes(routes!(list_case_tasks, add_task))
        .routes(routes!(list_tasks))
        .routes(routes!(complete_task))
}

/// A page of a list (CONTRACT.md "Lists").
#[derive(Serialize, utoipa::ToSchema)]
pub struct NoteList {
    pub items: Vec<Note>,
    pub next: Option<String>,
    pub total: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TaskList {
    pub items: Vec<Task>,
    pub next: Option<String>,
    pub total: i64,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-500, default 100.
    limit: Option<String>,
    /// The `next` of the page before.
    cursor: Option<String>,
}

fn limit_of(v: &Option<String>, errors: &mut FieldErrors) -> i64 {
    crate::web::paging::limit(v.as_deref(), errors)
}

/// The tags of the notes' and the tasks' cursors.
const NOTE_CURSORS: &str = "notes";
const TASK_CURSORS: &str = "tasks";

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewNote {
    pub text: String,
    /// `note`, `call` or `email`; default `note`.
    pub kind: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/notes", tag = "casework", params(("id" = i64, Path)),
    request_body = NewNote,
    responses((status = 201, body = Note), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add_note(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<PatientId>,
    ApiJson(body): ApiJson<NewNote>,
) -> ApiResult<(StatusCode, Json<Note>)> {
    let kind = body.kind.as_deref().unwrap_or("note");
    let note = super::add_note(
        &state.pool,
        &caller,
        id,
        kind,
        &body.text,
        state.clock.now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(note)))
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/notes", tag = "casework",
    params(("id" = i64, Path), PageQuery),
    responses((status = 200, body = NoteList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_notes(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<PatientId>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<NoteList>> {
    let mut errors = FieldErrors::new();
    let limit = limit_of(&q.limit, &mut errors);
    let before = crate::web::paging::cursor(q.cursor.as_deref(), NOTE_CURSORS, &mut errors);
    errors.into_result(|| ())?;
    let (mut items, total) = super::notes(&state.pool, &caller, id, before, limit + 1).await?;
    let next = crate::web::paging::split_page(&mut items, limit, NOTE_CURSORS, |n| {
        crate::web::paging::Position { at: n.at, id: n.id }
    });
    Ok(Json(NoteList { items, next, total }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewTask {
    pub title: String,
    /// When it is due: a date and time (ISO 8601), or a date (the start of that day in
    /// England).
    pub due_at: String,
    /// A username (a hub user, or a ward user of the case's trust); default the case's
    /// coordinator, else the author.
    pub assignee: Option<String>,
}

/// A due time: an instant, or a date meaning the start of that day in England.
fn due_time(v: &str) -> Option<DateTime<Utc>> {
    parse_instant(v).or_else(|| {
        parse_date(v)
            .map(|d| crate::domain::time::london_to_utc(d.and_hms_opt(0, 0, 0).unwrap_or_default()))
    })
}

#[utoipa::path(post, path = "/api/v1/patients/{id}/tasks", tag = "casework", params(("id" = i64, Path)),
    request_body = NewTask,
    responses((status = 201, body = Task), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add_task(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<PatientId>,
    ApiJson(body): ApiJson<NewTask>,
) -> ApiResult<(StatusCode, Json<Task>)> {
    let task = super::add_task(
        &state.pool,
        &caller,
        id,
        &body.title,
        due_time(&body.due_at),
        body.assignee.as_deref(),
        state.clock.now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(task)))
}

#[utoipa::path(get, path = "/api/v1/patients/{id}/tasks", tag = "casework",
    params(("id" = i64, Path), PageQuery),
    responses((status = 200, body = TaskList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_case_tasks(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<PatientId>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<TaskList>> {
    // the case must be one the caller may see the casework of (404 otherwise)
    super::case_for_casework(&state.pool, &caller, id).await?;
    let f = TaskFilter {
        patient_id: Some(id),
        ..TaskFilter::default()
    };
    task_page(&state, &caller, &f, &q).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    /// `me` for the caller's own tasks, or a username.
    assignee: Option<String>,
    /// `open` or `done`.
    status: Option<String>,
    /// Due before this time (ISO 8601) or date.
    due_before: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/tasks", tag = "casework", params(TaskQuery),
    responses((status = 200, body = TaskList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_tasks(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<TaskQuery>,
) -> ApiResult<Json<TaskList>> {
    if crate::scope::CaseScope::for_casework(&caller) == crate::scope::CaseScope::Nothing {
        return Err(AppError::NotFound.into());
    }
    let mut errors = FieldErrors::new();
    let assignee_id = match q
        .assignee
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some("me") => Some(caller.user_id),
        Some(name) => {
            let id: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
                .bind(name)
                .fetch_optional(&state.pool)
                .await
                .map_err(AppError::from)?;
            // an unknown name matches nobody
            Some(id.unwrap_or(-1))
        }
    };
    let open = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some("open") => Some(true),
        Some("done") => Some(false),
        Some(_) => {
            errors.add("status", "status must be open or done");
            None
        }
    };
    let due_before = match q
        .due_before
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(v) => {
            let t = due_time(v);
            if t.is_none() {
                errors.add("due_before", "due_before must be a date or a date and time");
            }
            t
        }
    };
    errors.into_result(|| ())?;
    let f = TaskFilter {
        patient_id: None,
        assignee_id,
        open,
        due_before,
    };
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    };
    task_page(&state, &caller, &f, &page).await
}

/// A page of tasks, soonest due first (ties by id): tasks are a to-do list, so the order a
/// partner works through them is by due time (CONTRACT.md: "unless a `sort` says otherwise").
async fn task_page(
    state: &AppState,
    caller: &crate::domain::Caller,
    f: &TaskFilter,
    q: &PageQuery,
) -> ApiResult<Json<TaskList>> {
    let mut errors = FieldErrors::new();
    let limit = limit_of(&q.limit, &mut errors);
    let after = crate::web::paging::cursor(q.cursor.as_deref(), TASK_CURSORS, &mut errors);
    errors.into_result(|| ())?;
    let after = after.map(|p| (p.at, p.id));
    let (mut items, total) = super::tasks(&state.pool, caller, f, after, limit + 1).await?;
    let next = crate::web::paging::split_page(&mut items, limit, TASK_CURSORS, |t| {
        crate::web::paging::Position {
            at: t.due_at,
            id: t.id,
        }
    });
    Ok(Json(TaskList { items, next, total }))
}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/complete", tag = "casework", params(("id" = i64, Path)),
    responses((status = 200, body = Task), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn complete_task(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<i64>,
) -> ApiResult<Json<Task>> {
    Ok(Json(
        super::complete_task(&state.pool, &caller, id, state.clock.now()).await?,
    ))
}
