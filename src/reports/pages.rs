//! The sitrep: `GET /api/v1/reports/sitrep?date=&format=csv` and the page at
//! `/reports/sitrep` (tables, and the same CSV to download). Hub and admin only.

use super::sitrep::{self, Row, Sitrep};
use crate::accounts::{ApiCaller, PageCaller};
use crate::domain::Caller;
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
    OpenApiRouter::new()
        .routes(routes!(sitrep_api))
        .routes(routes!(flow_api))
}

#[derive(Deserialize, utoipa::IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct SitrepQuery {
    /// `YYYY-MM-DD`; today (so far) when absent; a future date is a 422.
    date: Option<String>,
    /// `csv` for CSV; JSON otherwise.
    #[param(schema_with = crate::web::openapi::json_or_csv)]
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
    responses((status = 200, content((Sitrep = "application/json"), (String = "text/csv")), description = "JSON, or CSV with `format=csv`"), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn sitrep_api(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<SitrepQuery>,
) -> Result<Response, ApiError> {
    let format = q.format.as_deref().unwrap_or("json");
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
        layout: crate::notifications::layout(&state, &session, &caller, "reports").await,
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

// ---------------------------------------------------------------- the flow report

#[derive(Deserialize, utoipa::IntoParams, Default, Clone)]
#[into_params(parameter_in = Query)]
pub struct FlowParams {
    /// First day, `YYYY-MM-DD` (default: 27 days before `to`).
    from: Option<String>,
    /// Last day, `YYYY-MM-DD` (default: today).
    to: Option<String>,
    /// An acute trust's code.
    trust: Option<String>,
    /// 0 to 3.
    #[param(schema_with = crate::web::openapi::pathway)]
    pathway: Option<String>,
    /// `csv` for one table as CSV (with `table`).
    #[param(schema_with = crate::web::openapi::json_or_csv)]
    format: Option<String>,
    /// The table to export: summary, discharges_per_day, providers, places, demand_capacity, delay_reasons.
    table: Option<String>,
}

async fn flow(
    state: &AppState,
    caller: &Caller,
    p: &FlowParams,
) -> Result<super::flow::FlowReport, AppError> {
    caller.require(&[Role::Hub, Role::Admin])?;
    let now = state.clock.now();
    let q = super::flow::FlowQuery::parse(
        p.from.as_deref(),
        p.to.as_deref(),
        p.trust.as_deref(),
        p.pathway.as_deref(),
        london_date(now),
    )?;
    super::flow::build(&state.pool, &q, now).await
}

fn table_csv(report: &super::flow::FlowReport, name: Option<&str>) -> Result<Response, AppError> {
    let name = name.unwrap_or("summary");
    let table = report
        .tables
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| {
            AppError::Validation(crate::error::FieldErrors::single("table", "Unknown table"))
        })?;
    let body = table.to_csv().map_err(|e| AppError::Internal(e.into()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}-{}-{}.csv\"",
                    table.name, report.from, report.to
                ),
            ),
        ],
        body,
    )
        .into_response())
}

/// The flow report's tables as JSON.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct FlowJson {
    pub from: chrono::NaiveDate,
    pub to: chrono::NaiveDate,
    /// Each table: name, title, columns, rows.
    #[schema(value_type = Vec<Object>)]
    pub tables: Vec<super::table::Table>,
}

#[utoipa::path(get, path = "/api/v1/reports/flow", tag = "reports", params(FlowParams),
    responses((status = 200, content((FlowJson = "application/json"), (String = "text/csv")), description = "JSON, or one table as CSV with `format=csv&table=NAME`"), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn flow_api(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(p): ApiQuery<FlowParams>,
) -> Result<Response, ApiError> {
    let format = p.format.as_deref().unwrap_or_default();
    if !["json", "csv", ""].contains(&format) {
        return Err(AppError::Validation(crate::error::FieldErrors::single(
            "format",
            "format must be json or csv",
        ))
        .into());
    }
    let report = flow(&state, &caller, &p).await?;
    if format == "csv" {
        return Ok(table_csv(&report, p.table.as_deref())?);
    }
    Ok(Json(FlowJson {
        from: report.from,
        to: report.to,
        tables: report.tables,
    })
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "reports/flow.html")]
struct FlowPage {
    layout: Layout,
    p: FlowParams,
    report: Option<super::flow::FlowReport>,
    errors: crate::web::FormErrors,
    trusts: Vec<crate::reference::TrustRow>,
    query: String,
}

impl FlowPage {
    fn chart_for(&self, table: &str) -> Option<&str> {
        self.report
            .as_ref()?
            .charts
            .iter()
            .find(|(_, t)| *t == table)
            .map(|(svg, _)| svg.as_str())
    }
}

pub async fn flow_page(
    State(state): State<AppState>,
    session: tower_sessions::Session,
    PageCaller(caller): PageCaller,
    Query(p): Query<FlowParams>,
) -> PageResult {
    caller.require(&[Role::Hub, Role::Admin])?;
    let (report, errors) = match flow(&state, &caller, &p).await {
        Ok(r) => (Some(r), crate::error::FieldErrors::new()),
        Err(AppError::Validation(f)) => (None, f),
        Err(e) => return Err(e.into()),
    };
    let query = report
        .as_ref()
        .map(|r| {
            let mut q = format!("from={}&to={}", r.from, r.to);
            if let Some(t) = p
                .trust
                .as_deref()
                .filter(|t| t.chars().all(|c| c.is_ascii_alphanumeric()) && !t.is_empty())
            {
                q.push_str(&format!("&trust={t}"));
            }
            if let Some(pw) = p
                .pathway
                .as_deref()
                .filter(|x| x.len() == 1 && x.chars().all(|c| c.is_ascii_digit()))
            {
                q.push_str(&format!("&pathway={pw}"));
            }
            q
        })
        .unwrap_or_default();
    let status = if errors.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = FlowPage {
        layout: crate::notifications::layout(&state, &session, &caller, "flow").await,
        report,
        errors: crate::web::FormErrors(errors),
        trusts: state.reference.get(&state.pool).await?.trusts.clone(),
        p,
        query,
    };
    Ok((status, page).into_response())
}

pub async fn flow_csv(
    State(state): State<AppState>,
    PageCaller(caller): PageCaller,
    Query(p): Query<FlowParams>,
) -> PageResult {
    let report = flow(&state, &caller, &p).await?;
    Ok(table_csv(&report, p.table.as_deref())?)
}
