//! `/api/v1/directory`: search the service directory; providers add and update their own.

use super::{Search, Service, ServiceDraft};
use crate::accounts::ApiCaller;
use crate::error::{ApiResult, ErrorBody};
use crate::state::AppState;
use crate::web::Id;
use crate::web::api::{ApiJson, ApiQuery};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search_directory, create_service))
        .routes(routes!(update_service))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ServiceList {
    pub items: Vec<Service>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next: Option<String>,
    /// Entries matching the search, on every page.
    pub total: i64,
}

/// The tag of the directory's cursors.
const CURSORS: &str = "directory";

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DirectoryQuery {
    /// Words to find in the name, criteria, area or provider.
    q: Option<String>,
    /// A capacity type code.
    service_type: Option<String>,
    /// A postcode district, e.g. `LS9`.
    district: Option<String>,
    /// Entries on a page (1-500, default 100).
    #[param(schema_with = crate::web::openapi::limit)]
    limit: Option<String>,
    /// Where the page starts: the `next` of the page before.
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/directory", tag = "directory", params(DirectoryQuery),
    responses((status = 200, body = ServiceList), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn search_directory(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<DirectoryQuery>,
) -> ApiResult<Json<ServiceList>> {
    use crate::web::paging;
    let mut errors = crate::error::FieldErrors::new();
    let limit = paging::limit(q.limit.as_deref(), &mut errors);
    let after = paging::cursor(q.cursor.as_deref(), CURSORS, &mut errors);
    errors.into_result(|| ())?;
    let keep = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let search = Search {
        words: q.q.unwrap_or_default(),
        service_type: keep(q.service_type),
        district: keep(q.district),
        hubs: Some(caller.hubs.clone()),
    };
    let (mut items, total) = super::page(&state.pool, &search, after, limit).await?;
    let next = paging::split_page(&mut items, limit, CURSORS, |s| paging::Position {
        at: s.updated_at,
        id: s.id,
    });
    Ok(Json(ServiceList { items, next, total }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ServiceRequest {
    pub name: String,
    pub service_types: Vec<String>,
    #[serde(default)]
    pub area: String,
    #[serde(default)]
    pub criteria: String,
    pub contact: String,
    #[serde(default)]
    pub hours: String,
}

impl From<ServiceRequest> for ServiceDraft {
    fn from(r: ServiceRequest) -> Self {
        ServiceDraft {
            name: r.name,
            service_types: r.service_types,
            area: r.area,
            criteria: r.criteria,
            contact: r.contact,
            hours: r.hours,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Saved {
    pub id: i64,
}

#[utoipa::path(post, path = "/api/v1/directory", tag = "directory", request_body = ServiceRequest,
    responses((status = 201, body = Saved), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_service(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(body): ApiJson<ServiceRequest>,
) -> ApiResult<(StatusCode, Json<Saved>)> {
    let id = super::save(&state, &caller, None, body.into()).await?;
    Ok((StatusCode::CREATED, Json(Saved { id })))
}

#[utoipa::path(post, path = "/api/v1/directory/{id}", tag = "directory", params(("id" = i64, Path)), request_body = ServiceRequest,
    responses((status = 200, body = Saved), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_service(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Id(id): Id<i64>,
    ApiJson(body): ApiJson<ServiceRequest>,
) -> ApiResult<Json<Saved>> {
    let id = super::save(&state, &caller, Some(id), body.into()).await?;
    Ok(Json(Saved { id }))
}
