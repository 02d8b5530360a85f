//! Admin: the access log, read as an auditor after an incident would. Filters (a patient by
//! NHS number, a user, an organisation, a date range) are sent by POST and kept in the
//! session, so no NHS number ever sits in a URL; the page and its CSV export read them from
//! there. Every lookup is itself logged (it shows who saw a patient, which is about that
//! patient). Repeated views minutes apart show as one line with a count.

use super::{AccessFilter, AccessLine};
use crate::accounts::PageCaller;
use crate::domain::time::{display_london, london_to_utc, parse_date};
use crate::domain::{Caller, CaseStatus, NhsNumber, PatientId, Role};
use crate::error::{AppError, FieldErrors};
use crate::state::AppState;
use crate::web::{FormErrors, Layout, PageResult};
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

const SESSION_FILTER_KEY: &str = "access_filter";

/// The filter form, as typed.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct AccessForm {
    #[serde(default)]
    pub nhs_number: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub org_code: String,
    /// YYYY-MM-DD, England's calendar.
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
}

/// A case the NHS number belongs to.
pub struct CaseFound {
    pub id: PatientId,
    pub name: String,
    pub opened: String,
    pub status: CaseStatus,
}

/// One line of the table, formatted.
pub struct Line {
    pub when: String,
    pub who: String,
    pub role: String,
    pub org: String,
    pub what: String,
    pub refused: bool,
    pub patients: usize,
}

impl Line {
    fn new(l: &AccessLine) -> Line {
        let e = &l.entry;
        Line {
            when: if l.times > 1 {
                format!(
                    "{} to {} ({} times)",
                    display_london(l.first_at),
                    display_london(e.at),
                    l.times
                )
            } else {
                display_london(e.at)
            },
            who: e.username.clone(),
            role: e.role.to_string(),
            org: e.org_code.clone(),
            what: e.what.clone(),
            refused: e.outcome == "refused",
            patients: e.patient_ids.len(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "audit/access.html")]
struct AccessPage {
    layout: Layout,
    form: AccessForm,
    searched: bool,
    cases: Vec<CaseFound>,
    lines: Vec<Line>,
    entries: usize,
    capped: bool,
    errors: FormErrors,
}

/// The form checked: the filter, and the cases of the NHS number if one was given.
async fn read_form(
    state: &AppState,
    caller: &Caller,
    form: &AccessForm,
) -> Result<(AccessFilter, Vec<CaseFound>), AppError> {
    let mut errors = FieldErrors::new();
    // an administrator reads its own hub's log, and finds its own hub's cases
    let mut filter = AccessFilter {
        hub: Some(caller.hub_code.clone()),
        ..AccessFilter::default()
    };
    let mut cases = vec![];
    if !form.nhs_number.trim().is_empty() {
        match NhsNumber::parse(&form.nhs_number) {
            Err(e) => errors.add("nhs_number", e.to_string()),
            Ok(n) => {
                let found: Vec<(
                    PatientId,
                    String,
                    String,
                    chrono::DateTime<chrono::Utc>,
                    CaseStatus,
                )> = sqlx::query_as(
                    "SELECT id, given_name, family_name, created_at, status FROM patients \
                         WHERE nhs_number = $1 AND hub_code = $2 ORDER BY created_at DESC",
                )
                .bind(n.as_str())
                .bind(&caller.hub_code)
                .fetch_all(&state.pool)
                .await?;
                filter.patient_ids = Some(found.iter().map(|f| f.0).collect());
                cases = found
                    .into_iter()
                    .map(|(id, given, family, created, status)| CaseFound {
                        id,
                        name: format!("{}, {given}", family.to_uppercase()),
                        opened: display_london(created),
                        status,
                    })
                    .collect();
            }
        }
    }
    let text = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
    filter.username = text(&form.username);
    filter.org_code = text(&form.org_code).map(|o| o.to_uppercase());
    let day = |v: &str, field: &str, errors: &mut FieldErrors| {
        if v.trim().is_empty() {
            return None;
        }
        match parse_date(v) {
            Some(d) => Some(d),
            None => {
                errors.add(field, "Enter a real date, like 2026-11-30");
                None
            }
        }
    };
    let from = day(&form.from, "from", &mut errors);
    let to = day(&form.to, "to", &mut errors);
    if let (Some(f), Some(t)) = (from, to)
        && t < f
    {
        errors.add("to", "The end date must be on or after the start date");
    }
    let midnight = |d: chrono::NaiveDate| london_to_utc(d.and_hms_opt(0, 0, 0).unwrap_or_default());
    filter.from = from.map(midnight);
    filter.to = to.map(|d| midnight(d + chrono::Duration::days(1)));
    errors.into_result(|| (filter, cases))
}

/// GET /admin/access: the form, and the entries for the filter kept in the session.
pub async fn access(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
) -> PageResult {
    caller.require(&[Role::Admin])?;
    let form: AccessForm = session
        .get(SESSION_FILTER_KEY)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let searched = session
        .get::<AccessForm>(SESSION_FILTER_KEY)
        .await
        .ok()
        .flatten()
        .is_some();
    let (mut cases, mut lines, mut entries, mut capped) = (vec![], vec![], 0, false);
    let mut errors = FieldErrors::new();
    if searched {
        match read_form(&state, &caller, &form).await {
            Ok((filter, found)) => {
                let rows = super::entries(&state.pool, &filter).await?;
                entries = rows.len();
                capped = entries as i64 == super::ENTRIES_MAX;
                // a lookup by patient is itself a look at that patient
                if let Some(ids) = &filter.patient_ids {
                    super::record_views(
                        &state.pool,
                        &caller,
                        ids,
                        "access log lookup",
                        state.clock.now(),
                    )
                    .await?;
                }
                lines = super::grouped(rows).iter().map(Line::new).collect();
                cases = found;
            }
            Err(AppError::Validation(e)) => errors = e,
            Err(e) => return Err(e.into()),
        }
    }
    let status = if errors.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((
        status,
        AccessPage {
            layout: crate::notifications::layout(&state, &session, &caller, "access").await,
            form,
            searched,
            cases,
            lines,
            entries,
            capped,
            errors: FormErrors(errors),
        },
    )
        .into_response())
}

/// POST /admin/access: keeps the filter in the session (never in the URL) and shows it.
pub async fn search(
    session: Session,
    PageCaller(caller): PageCaller,
    Form(form): Form<AccessForm>,
) -> PageResult {
    caller.require(&[Role::Admin])?;
    session.insert(SESSION_FILTER_KEY, &form).await?;
    Ok(Redirect::to("/admin/access").into_response())
}

/// GET /admin/access.csv: the same entries, one row each, as CSV.
pub async fn access_csv(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
) -> Result<Response, Response> {
    caller
        .require(&[Role::Admin])
        .map_err(|e| crate::web::error_page(e.into()))?;
    let form: AccessForm = session
        .get(SESSION_FILTER_KEY)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let (filter, _) = read_form(&state, &caller, &form)
        .await
        .map_err(crate::web::error_page)?;
    let rows = super::entries(&state.pool, &filter)
        .await
        .map_err(crate::web::error_page)?;
    if let Some(ids) = &filter.patient_ids {
        super::record_views(
            &state.pool,
            &caller,
            ids,
            "access log export",
            state.clock.now(),
        )
        .await
        .map_err(crate::web::error_page)?;
    }
    let header: Vec<String> = [
        "at",
        "username",
        "role",
        "org_code",
        "what",
        "outcome",
        "patient_ids",
    ]
    .map(str::to_string)
    .to_vec();
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|e| {
            vec![
                e.at.to_rfc3339(),
                e.username.clone(),
                e.role.to_string(),
                e.org_code.clone(),
                e.what.clone(),
                e.outcome.clone(),
                e.patient_ids
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
            ]
        })
        .collect();
    let body = crate::reports::csv_safe::write(&header, &lines)
        .map_err(|e| crate::web::error_page(AppError::Internal(e.into())))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"access-log.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}
