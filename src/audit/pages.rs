//! Admin: "who looked at this patient". Find a patient's cases by NHS number, then see
//! every view of their identifiable details.

use crate::accounts::PageCaller;
use crate::domain::time::display_london;
use crate::domain::{CaseStatus, NhsNumber, PatientId, Role};
use crate::error::FieldErrors;
use crate::state::AppState;
use crate::web::{FormErrors, Layout, PageResult};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use tower_sessions::Session;

pub struct CaseAccess {
    pub id: PatientId,
    pub name: String,
    pub opened: String,
    pub status: CaseStatus,
    pub entries: Vec<(String, String, String, String, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "audit/access.html")]
struct AccessPage {
    layout: Layout,
    nhs_number: String,
    searched: bool,
    cases: Vec<CaseAccess>,
    errors: FormErrors,
}

#[derive(Deserialize, Default)]
pub struct AccessQuery {
    #[serde(default)]
    nhs_number: String,
}

pub async fn access(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Query(q): Query<AccessQuery>,
) -> PageResult {
    caller.require(&[Role::Admin])?;
    let mut errors = FieldErrors::new();
    let mut cases = vec![];
    let searched = !q.nhs_number.trim().is_empty();
    if searched {
        match NhsNumber::parse(&q.nhs_number) {
            Err(e) => errors.add("nhs_number", e.to_string()),
            Ok(n) => {
                let found: Vec<(PatientId, String, String, chrono::DateTime<chrono::Utc>, CaseStatus)> = sqlx::query_as(
                    "SELECT id, given_name, family_name, created_at, status FROM patients WHERE nhs_number = $1 ORDER BY created_at DESC",
                )
                .bind(n.as_str())
                .fetch_all(&state.pool)
                .await?;
                for (id, given, family, created, status) in found {
                    let entries = super::who_looked(&state.pool, id)
                        .await?
                        .into_iter()
                        .map(|e| {
                            (
                                display_london(e.at),
                                e.username,
                                e.role.to_string(),
                                e.org_code,
                                e.what,
                            )
                        })
                        .collect();
                    cases.push(CaseAccess {
                        id,
                        name: format!("{}, {given}", family.to_uppercase()),
                        opened: display_london(created),
                        status,
                        entries,
                    });
                }
            }
        }
    }
    Ok(AccessPage {
        layout: crate::notifications::layout(&state, &session, &caller, "access").await,
        nhs_number: q.nhs_number,
        searched,
        cases,
        errors: FormErrors(errors),
    }
    .into_response())
}
