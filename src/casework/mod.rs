//! The hub's and the ward's working of a case: notes and a contact log (a note, a phone call,
//! an email, each with who and when, newest first, never changed once written) and tasks
//! (a title, a due time, an owner; done with one click). Hub and ward information only:
//! [`CaseScope::for_casework`] keeps it from providers, who get 404 as if the case did not
//! exist for them. Every read and write goes through the case's scope first.

pub mod api;

use crate::cases::queries as case_queries;
use crate::domain::{Caller, PatientId, Role};
use crate::error::{AppError, FieldErrors};
use crate::scope::CaseScope;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgExecutor, PgPool, Postgres, QueryBuilder};

/// What a note records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    Note,
    Call,
    Email,
}

impl NoteKind {
    pub const ALL: [NoteKind; 3] = [NoteKind::Note, NoteKind::Call, NoteKind::Email];

    pub fn as_str(self) -> &'static str {
        match self {
            NoteKind::Note => "note",
            NoteKind::Call => "call",
            NoteKind::Email => "email",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            NoteKind::Note => "Note",
            NoteKind::Call => "Phone call",
            NoteKind::Email => "Email",
        }
    }
}

impl std::str::FromStr for NoteKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        NoteKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s.trim())
            .ok_or(())
    }
}

crate::domain::text_column!(NoteKind, "note kind");

/// A note on a case.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Note {
    pub id: i64,
    #[schema(value_type = i64)]
    pub patient_id: PatientId,
    pub at: DateTime<Utc>,
    /// The author's username.
    pub author: String,
    #[schema(value_type = String, example = "call")]
    pub kind: NoteKind,
    pub text: String,
}

/// A task on a case.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Task {
    pub id: i64,
    #[schema(value_type = i64)]
    pub patient_id: PatientId,
    pub title: String,
    pub due_at: DateTime<Utc>,
    /// The owner's username.
    pub assignee: String,
    /// `open` or `done`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

pub const NOTE_MAX: usize = 4000;
pub const TITLE_MAX: usize = 200;

/// The case, if the caller may see its casework (else 404, as if it did not exist).
async fn case_for_casework(
    db: impl PgExecutor<'_>,
    caller: &Caller,
    id: PatientId,
) -> Result<crate::cases::CaseRow, AppError> {
    if CaseScope::for_casework(caller) == CaseScope::Nothing {
        return Err(AppError::NotFound);
    }
    case_queries::get(db, caller, id).await
}

/// Writes a note on a case.
pub async fn add_note(
    pool: &PgPool,
    caller: &Caller,
    id: PatientId,
    kind: &str,
    text: &str,
    now: DateTime<Utc>,
) -> Result<Note, AppError> {
    let case = case_for_casework(pool, caller, id).await?;
    let mut errors = FieldErrors::new();
    let kind = kind
        .parse::<NoteKind>()
        .map_err(|_| errors.add("kind", "Select note, phone call or email"))
        .ok();
    let text = text.trim();
    if text.is_empty() {
        errors.add("text", "Enter the note");
    } else if text.chars().count() > NOTE_MAX {
        errors.add("text", "The note must be 4,000 characters or fewer");
    }
    let Some(kind) = kind.filter(|_| errors.is_empty()) else {
        return Err(AppError::Validation(errors));
    };
    let note_id = sqlx::query_scalar!(
        "INSERT INTO case_notes (patient_id, at, author_id, kind, text) VALUES ($1, $2, $3, $4, $5) \
         RETURNING id",
        case.id as _,
        now as _,
        caller.user_id,
        kind as _,
        text,
    )
    .fetch_one(pool)
    .await?;
    Ok(Note {
        id: note_id,
        patient_id: case.id,
        at: now,
        author: caller.username.clone(),
        kind,
        text: text.to_string(),
    })
}

/// A case's notes, newest first (ties by id), a page at a time (`before`: the last note of
/// the page before), at most `limit` (1-501: the API reads one more than it shows, to know
/// whether there is a next page).
pub async fn notes(
    pool: &PgPool,
    caller: &Caller,
    id: PatientId,
    before: Option<crate::web::paging::Position>,
    limit: i64,
) -> Result<(Vec<Note>, i64), AppError> {
    let case = case_for_casework(pool, caller, id).await?;
    // newest first, ties by id (`case_notes_patient_idx` holds the order)
    let mut q = QueryBuilder::<Postgres>::new(
        "SELECT n.id, n.patient_id, n.at, u.username AS author, n.kind, n.text \
         FROM case_notes n JOIN users u ON u.id = n.author_id WHERE n.patient_id = ",
    );
    q.push_bind(case.id);
    if let Some(b) = before {
        q.push(" AND (n.at, n.id) < (")
            .push_bind(b.at)
            .push(", ")
            .push_bind(b.id)
            .push(")");
    }
    q.push(" ORDER BY n.at DESC, n.id DESC LIMIT ")
        .push(limit.clamp(1, 501).to_string());
    let rows = q.build().fetch_all(pool).await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM case_notes WHERE patient_id = $1")
        .bind(case.id)
        .fetch_one(pool)
        .await?;
    let notes = rows
        .iter()
        .map(Note::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((notes, total))
}

/// The user a task goes to: the named one (a hub user, or a ward user of the case's trust),
/// else the case's coordinator, else the caller.
async fn assignee_for(
    pool: &PgPool,
    case: &crate::cases::CaseRow,
    caller: &Caller,
    named: Option<&str>,
) -> Result<(i64, String), AppError> {
    let Some(name) = named.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(match (&case.coordinator_id, &case.coordinator) {
            (Some(id), Some(name)) => (*id, name.clone()),
            _ => (caller.user_id, caller.username.clone()),
        });
    };
    let row: Option<(i64, Role, String)> = sqlx::query_as(
        "SELECT id, role, org_code FROM users WHERE username = $1 AND disabled_at IS NULL",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?;
    match row {
        Some((id, Role::Hub, org)) if org == caller.hub_code => Ok((id, name.to_string())),
        Some((id, Role::Ward, org)) if org == case.trust_code => Ok((id, name.to_string())),
        _ => Err(AppError::Validation(FieldErrors::single(
            "assignee",
            "Choose someone at the hub or on the patient's trust's wards",
        ))),
    }
}

const TASK_SELECT: &str = "SELECT t.id, t.patient_id, t.title, t.due_at, u.username AS assignee, \
    CASE WHEN t.done_at IS NULL THEN 'open' ELSE 'done' END AS status, t.created_at, t.done_at, \
    t.updated_at FROM case_tasks t JOIN users u ON u.id = t.assignee_id";

/// Sets a task on a case.
pub async fn add_task(
    pool: &PgPool,
    caller: &Caller,
    id: PatientId,
    title: &str,
    due_at: Option<DateTime<Utc>>,
    assignee: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Task, AppError> {
    let case = case_for_casework(pool, caller, id).await?;
    let mut errors = FieldErrors::new();
    let title = title.trim();
    if title.is_empty() {
        errors.add("title", "Enter what needs doing");
    } else if title.chars().count() > TITLE_MAX {
        errors.add("title", "The task must be 200 characters or fewer");
    }
    if due_at.is_none() {
        errors.add("due_at", "Enter when it is due, like 2026-12-01T10:00:00Z");
    }
    let owner = match assignee_for(pool, &case, caller, assignee).await {
        Ok(o) => Some(o),
        Err(AppError::Validation(f)) => {
            for (k, v) in f.iter() {
                errors.add(k, v);
            }
            None
        }
        Err(e) => return Err(e),
    };
    let (Some(due_at), Some((owner_id, _))) = (due_at, owner.filter(|_| errors.is_empty())) else {
        return Err(AppError::Validation(errors));
    };
    let task_id = sqlx::query_scalar!(
        "INSERT INTO case_tasks (patient_id, title, due_at, assignee_id, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        case.id as _,
        title,
        due_at as _,
        owner_id,
        caller.user_id,
        now as _,
    )
    .fetch_one(pool)
    .await?;
    task(pool, caller, task_id).await
}

/// One task, if the caller may see its case's casework.
pub async fn task(pool: &PgPool, caller: &Caller, task_id: i64) -> Result<Task, AppError> {
    let mut q = QueryBuilder::<Postgres>::new(TASK_SELECT);
    q.push(" JOIN patients p ON p.id = t.patient_id WHERE t.id = ")
        .push_bind(task_id)
        .push(" AND ");
    CaseScope::for_casework(caller).push_sql(&mut q, "p");
    q.build_query_as::<Task>()
        .fetch_optional(pool)
        .await?
        .ok_or(AppError::NotFound)
}

/// Marks a task done (again is no change).
pub async fn complete_task(
    pool: &PgPool,
    caller: &Caller,
    task_id: i64,
    now: DateTime<Utc>,
) -> Result<Task, AppError> {
    // the task must be one the caller may see
    task(pool, caller, task_id).await?;
    sqlx::query!(
        "UPDATE case_tasks SET done_at = $2, done_by = $3, updated_at = $2 \
         WHERE id = $1 AND done_at IS NULL",
        task_id,
        now as _,
        caller.user_id,
    )
    .execute(pool)
    .await?;
    task(pool, caller, task_id).await
}

/// Which tasks to list.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub patient_id: Option<PatientId>,
    /// The owner's user id.
    pub assignee_id: Option<i64>,
    /// `Some(true)`: open only; `Some(false)`: done only.
    pub open: Option<bool>,
    pub due_before: Option<DateTime<Utc>>,
}

/// Tasks the caller may see, soonest due first (ties by id), a page at a time (`after`:
/// the last task of the page before, as (due, id)), at most `limit` (1-501: the API reads
/// one more than it shows), with the total. The scope is in both statements.
pub async fn tasks(
    pool: &PgPool,
    caller: &Caller,
    f: &TaskFilter,
    after: Option<(DateTime<Utc>, i64)>,
    limit: i64,
) -> Result<(Vec<Task>, i64), AppError> {
    let filter = |q: &mut QueryBuilder<'_, Postgres>| {
        q.push(" JOIN patients p ON p.id = t.patient_id WHERE ");
        CaseScope::for_casework(caller).push_sql(q, "p");
        if let Some(id) = f.patient_id {
            q.push(" AND t.patient_id = ").push_bind(id);
        }
        if let Some(a) = f.assignee_id {
            q.push(" AND t.assignee_id = ").push_bind(a);
        }
        match f.open {
            Some(true) => {
                q.push(" AND t.done_at IS NULL");
            }
            Some(false) => {
                q.push(" AND t.done_at IS NOT NULL");
            }
            None => {}
        }
        if let Some(d) = f.due_before {
            q.push(" AND t.due_at < ").push_bind(d);
        }
    };
    let mut q = QueryBuilder::<Postgres>::new(TASK_SELECT);
    filter(&mut q);
    if let Some((due, id)) = after {
        q.push(" AND (t.due_at, t.id) > (")
            .push_bind(due)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    q.push(" ORDER BY t.due_at, t.id LIMIT ")
        .push(limit.clamp(1, 501).to_string());
    let rows = q.build_query_as::<Task>().fetch_all(pool).await?;
    let mut c = QueryBuilder::<Postgres>::new("SELECT count(*) FROM case_tasks t");
    filter(&mut c);
    let total: i64 = c.build_query_scalar().fetch_one(pool).await?;
    Ok((rows, total))
}

/// Someone a task can go to (and, for the hub, a coordinator).
#[derive(Debug, Clone, FromRow)]
pub struct Person {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
}

/// The people who work a trust's cases: every enabled user of the trust's hub, then the
/// trust's ward users, each by name.
pub async fn people_for(pool: &PgPool, trust_code: &str) -> Result<Vec<Person>, AppError> {
    Ok(sqlx::query_as::<_, Person>(
        "SELECT id, username, display_name, role FROM users \
         WHERE disabled_at IS NULL AND ((role = 'hub' AND org_code = \
             (SELECT t.hub_code FROM organisations t WHERE t.code = $1)) \
           OR (role = 'ward' AND org_code = $1)) \
         ORDER BY role = 'ward', display_name, username",
    )
    .bind(trust_code)
    .fetch_all(pool)
    .await?)
}
