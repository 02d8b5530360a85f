//! The reports over HTTP, hub and admin only: the sitrep (`GET /api/v1/reports/sitrep`,
//! `/reports/sitrep`), the national returns (`GET /api/v1/reports/national-return`,
//! `/reports/national`) and the flow report (`GET /api/v1/reports/flow`, `/reports/flow`),
//! each as JSON, CSV and a page with links to the previous and next day or period.

use super::counts::Counts;
use super::national::{self, ReturnKind};
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
        .routes(routes!(national_return_api))
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
    sitrep::build(state.read_pool().await, Some(&caller.hub_code), date, now).await
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
    /// The day before, and the day after (none after today).
    previous: String,
    next: Option<String>,
}

impl SitrepPage {
    fn n(&self, map: &Counts, key: &str) -> i64 {
        map.get(key)
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
    let today = london_date(state.clock.now());
    let (previous, next) = s
        .as_ref()
        .map(|s| national::neighbours(s.date, today))
        .map(|(p, n)| (p.to_string(), n.map(|d| d.to_string())))
        .unwrap_or_default();
    let page = SitrepPage {
        previous,
        next,
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

// ---------------------------------------------------------------- the national returns

#[derive(Deserialize, utoipa::IntoParams, Default, Clone)]
#[into_params(parameter_in = Query)]
pub struct NationalQuery {
    /// `acute` (the default) or `community`.
    kind: Option<String>,
    /// One day, `YYYY-MM-DD`: today (so far) when neither `date` nor `from`/`to` is given.
    date: Option<String>,
    /// With `to`, instead of `date`: the period tables from this day.
    from: Option<String>,
    /// With `from`: the last day of the period.
    to: Option<String>,
    /// `csv` for the national files' layout; JSON otherwise.
    format: Option<String>,
}

/// A day's return or a period's.
enum NationalReturn {
    Day(national::DayReturn),
    Period(national::PeriodReturn),
}

async fn national_return(
    state: &AppState,
    caller: &Caller,
    q: &NationalQuery,
) -> Result<(NationalReturn, national::Lists), AppError> {
    caller.require(&[Role::Hub, Role::Admin])?;
    let kind = ReturnKind::parse(q.kind.as_deref())?;
    let now = state.clock.now();
    let today = london_date(now);
    let lists = national::Lists::load(&state.pool, kind).await?;
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let r = match (given(&q.from), given(&q.to)) {
        (None, None) => {
            let date = sitrep::parse_date(q.date.as_deref(), today)?;
            NationalReturn::Day(
                national::build_day(
                    state.read_pool().await,
                    Some(&caller.hub_code),
                    kind,
                    date,
                    now,
                )
                .await?,
            )
        }
        (from, to) => {
            if given(&q.date).is_some() {
                return Err(AppError::Validation(crate::error::FieldErrors::single(
                    "date",
                    "Give either date, or from and to",
                )));
            }
            let (from, to) = national::parse_period(
                from.as_deref().unwrap_or(""),
                to.as_deref().unwrap_or(""),
                today,
            )?;
            NationalReturn::Period(
                national::build_period(
                    state.read_pool().await,
                    Some(&caller.hub_code),
                    kind,
                    from,
                    to,
                    now,
                )
                .await?,
            )
        }
    };
    Ok((r, lists))
}

fn national_csv(r: &NationalReturn, lists: &national::Lists) -> Result<Response, AppError> {
    let (body, name) = match r {
        NationalReturn::Day(d) => (
            national::day_csv(d, lists)?,
            format!("{}-return-{}.csv", d.kind.as_str(), d.date),
        ),
        NationalReturn::Period(p) => (
            national::period_csv(p, lists)?,
            format!("{}-return-{}-to-{}.csv", p.kind.as_str(), p.from, p.to),
        ),
    };
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/reports/national-return", tag = "reports", params(NationalQuery),
    responses((status = 200, body = national::DayReturn, description = "A day's return (`date`), or a period's (`from`, `to`: `national::PeriodReturn`); CSV with `format=csv`"),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn national_return_api(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<NationalQuery>,
) -> Result<Response, ApiError> {
    let format = q.format.as_deref().map(str::trim).unwrap_or("json");
    if !["json", "csv", ""].contains(&format) {
        return Err(AppError::Validation(crate::error::FieldErrors::single(
            "format",
            "format must be json or csv",
        ))
        .into());
    }
    let (r, lists) = national_return(&state, &caller, &q).await?;
    if format == "csv" {
        return Ok(national_csv(&r, &lists)?);
    }
    Ok(match r {
        NationalReturn::Day(d) => Json(d).into_response(),
        NationalReturn::Period(p) => Json(p).into_response(),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "reports/national.html")]
struct NationalPage {
    layout: Layout,
    kind: ReturnKind,
    date: String,
    error: String,
    r: Option<national::DayReturn>,
    lists: Option<national::Lists>,
    previous: String,
    next: Option<String>,
    /// The first and last day of the day's month so far, for the period download.
    month_from: String,
    month_to: String,
}

impl NationalPage {
    fn n(&self, map: &Counts, key: &str) -> i64 {
        map.get(key)
    }

    /// Every row and then the total, with the name each is shown under.
    fn rows(&self) -> Vec<(String, &national::ReturnRow)> {
        let Some(r) = &self.r else {
            return vec![];
        };
        r.rows
            .iter()
            .map(|row| {
                (
                    format!(
                        "{} ({})",
                        row.org_name.clone().unwrap_or_default(),
                        row.org_code.clone().unwrap_or_default()
                    ),
                    row,
                )
            })
            .chain(std::iter::once(("Total".to_string(), &r.total)))
            .collect()
    }

    fn bed_day_keys(&self) -> Vec<String> {
        self.kind
            .bed_day_thresholds()
            .iter()
            .map(|t| format!("{t}+"))
            .collect()
    }
}

pub async fn national_page(
    State(state): State<AppState>,
    session: tower_sessions::Session,
    PageCaller(caller): PageCaller,
    Query(q): Query<NationalQuery>,
) -> PageResult {
    caller.require(&[Role::Hub, Role::Admin])?;
    let kind = ReturnKind::parse(q.kind.as_deref()).unwrap_or(ReturnKind::Acute);
    let now = state.clock.now();
    let today = london_date(now);
    let (r, error) = match sitrep::parse_date(q.date.as_deref(), today) {
        Ok(date) => (
            Some(
                national::build_day(
                    state.read_pool().await,
                    Some(&caller.hub_code),
                    kind,
                    date,
                    now,
                )
                .await?,
            ),
            String::new(),
        ),
        Err(AppError::Validation(f)) => (None, f.get("date").unwrap_or("Enter a date").to_string()),
        Err(e) => return Err(e.into()),
    };
    let date = r.as_ref().map(|r| r.date);
    let (previous, next) = date
        .map(|d| national::neighbours(d, today))
        .map(|(p, n)| (p.to_string(), n.map(|d| d.to_string())))
        .unwrap_or_default();
    let (month_from, month_to) = date
        .map(|d| {
            use chrono::Datelike;
            let first = d.with_day(1).unwrap_or(d);
            let last = (first + chrono::Months::new(1) - chrono::Duration::days(1)).min(today);
            (first.to_string(), last.to_string())
        })
        .unwrap_or_default();
    let status = if error.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = NationalPage {
        layout: crate::notifications::layout(&state, &session, &caller, "national").await,
        kind,
        date: date
            .map(|d| d.to_string())
            .unwrap_or_else(|| q.date.clone().unwrap_or_default()),
        error,
        lists: Some(national::Lists::load(&state.pool, kind).await?),
        r,
        previous,
        next,
        month_from,
        month_to,
    };
    Ok((status, page).into_response())
}

pub async fn national_csv_download(
    State(state): State<AppState>,
    PageCaller(caller): PageCaller,
    Query(q): Query<NationalQuery>,
) -> PageResult {
    let (r, lists) = national_return(&state, &caller, &q).await?;
    Ok(national_csv(&r, &lists)?)
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
    /// The table to export: summary, discharges_per_day, providers, places, places_available, demand_capacity, delay_reasons.
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
    let q = super::flow::FlowQuery {
        hub: Some(caller.hub_code.clone()),
        ..q
    };
    super::flow::build(state.read_pool().await, &q, now).await
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
    /// The same length of range before and after this one (none past today), as queries.
    previous: String,
    next: Option<String>,
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
    let today = london_date(state.clock.now());
    let filters = query
        .split('&')
        .filter(|kv| kv.starts_with("trust=") || kv.starts_with("pathway="))
        .map(|kv| format!("&{kv}"))
        .collect::<String>();
    let (previous, next) = report
        .as_ref()
        .map(|r| {
            let ((pf, pt), next) = super::flow::neighbouring_ranges(r.from, r.to, today);
            (
                format!("from={pf}&to={pt}{filters}"),
                next.map(|(nf, nt)| format!("from={nf}&to={nt}{filters}")),
            )
        })
        .unwrap_or_default();
    let page = FlowPage {
        previous,
        next,
        layout: crate::notifications::layout(&state, &session, &caller, "flow").await,
        report,
        errors: crate::web::FormErrors(errors),
        trusts: state
            .reference
            .get(&state.pool)
            .await?
            .trusts_of_hub(&caller.hub_code),
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
