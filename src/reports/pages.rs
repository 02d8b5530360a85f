//! The sitrep: `GET /api/v1/reports/sitrep?date=&format=csv` and the page at
//! `/reports/sitrep` (tables, and the same CSV to download). Hub and admin only.

use super::sitrep::{self, Row, Sitrep};
use crate::accounts::{ApiCaller, Caller, PageCaller};
use crate::domain::Role;
use crate::domain::time::london_date;
use crate::error::{ApiError, AppError, ErrorBody};
use crate::state::AppState;
use crate::web::api::ApiQuery;
use crate::web::{Layout, PageResult};
use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(sitrep_api))
}

#[derive(Deserialize, utoipa::IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct SitrepQuery {
    /// `YYYY-MM-DD`; today (so far) when absent; a future date is a 422.
    date: Option<String>,
    /// `csv` for CSV; JSON otherwise.
    format: Option<String>,
}

async fn build(state: &AppState, caller: &Caller, q: &SitrepQuery) -> Result<Sitrep, AppError> {
    caller.require(&[Role::Hub, Role::Admin])?;
    let now = state.clock.now();
    let date = sitrep::parse_date(q.date.as_deref(), london_date(now))?;
    sitrep::build(&state.pool, date, now).await
}

fn csv_response(s: &Sitrep) -> Result<Response, AppError> {
    let body = sitrep::to_csv(s)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"sitrep-{}.csv\"", s.date),
            ),
        ],
        body,
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/reports/sitrep", tag = "reports", params(SitrepQuery),
    responses((status = 200, body = Sitrep, description = "JSON, or CSV with `format=csv`"), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn sitrep_api(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<SitrepQuery>,
) -> Result<Response, ApiError> {
    let format = q.format.as_deref().map(str::trim).unwrap_or("json");
    if !["json", "csv", ""].contains(&format) {
        return Err(AppError::Validation(crate::error::FieldErrors::single(
            "format",
            "format must be json or csv",
        ))
        .into());
    }
    let s = build(&state, &caller, &q).await?;
    if format == "csv" {
        Ok(csv_response(&s)?)
    } else {
        Ok(Json(s).into_response())
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "reports/sitrep.html")]
struct SitrepPage {
    layout: Layout,
    s: Option<Sitrep>,
    date: String,
    error: String,
    rows: Vec<Row>,
    reasons: Vec<(String, String)>,
}

impl SitrepPage {
    fn n(&self, map: &std::collections::BTreeMap<String, i64>, key: &str) -> i64 {
        map.get(key).copied().unwrap_or(0)
    }
}

pub async fn sitrep_page(
    State(state): State<AppState>,
    session: tower_sessions::Session,
    PageCaller(caller): PageCaller,
    Query(q): Query<SitrepQuery>,
) -> PageResult {
    caller.require(&[Role::Hub, Role::Admin])?;
    let mut reasons: Vec<(String, String)> = crate::reference::delay_reasons(&state.pool)
        .await?
        .into_iter()
        .map(|r| (r.code, r.label))
        .collect();
    reasons.push((sitrep::NO_REASON.into(), "No reason recorded".into()));
    let (s, error) = match build(&state, &caller, &q).await {
        Ok(s) => (Some(s), String::new()),
        Err(AppError::Validation(f)) => (None, f.get("date").unwrap_or("Enter a date").to_string()),
        Err(e) => return Err(e.into()),
    };
    let rows = s.as_ref().map(|s| {
        let mut r = s.rows.clone();
        r.push(s.total.clone());
        r
    });
    let status = if error.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = SitrepPage {
        layout: Layout::new(&state, &session, &caller, "reports").await,
        date: s
            .as_ref()
            .map(|s| s.date.to_string())
            .unwrap_or_else(|| q.date.clone().unwrap_or_default()),
        rows: rows.unwrap_or_default(),
        s,
        error,
        reasons,
    };
    Ok((status, page).into_response())
}

pub async fn sitrep_csv(
    State(state): State<AppState>,
    PageCaller(caller): PageCaller,
    Query(q): Query<SitrepQuery>,
) -> PageResult {
    let s = build(&state, &caller, &q).await?;
    Ok(csv_response(&s)?)
}
