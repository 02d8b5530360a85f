//! Directory pages: search (everyone signed in), and a provider's own entries.

use super::{Search, Service, ServiceDraft};
use crate::accounts::PageCaller;
use crate::domain::Caller;
use crate::domain::Role;
use crate::error::{AppError, FieldErrors};
use crate::reference::CapacityType;
use crate::state::AppState;
use crate::web::Id;
use crate::web::{FormErrors, Layout, PageResult, done, invalid};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, RawForm, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use std::collections::HashMap;
use tower_sessions::Session;

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    service_type: String,
    #[serde(default)]
    district: String,
    /// Where the page starts (a cursor from the page before).
    #[serde(default)]
    after: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "directory/search.html")]
struct SearchPage {
    layout: Layout,
    q: SearchQuery,
    types: Vec<CapacityType>,
    labels: HashMap<String, String>,
    services: Vec<Service>,
    /// Entries matching, on every page.
    total: i64,
    /// The next page, when there is one.
    next_href: Option<String>,
    /// The first page of the same search, when this is a later one.
    first_href: Option<String>,
    mine: bool,
}

/// Entries shown a page at a time.
const DIRECTORY_PAGE: i64 = 50;

/// `/directory?q=..&service_type=..&district=..` (and `&after=` when given).
fn search_href(q: &SearchQuery, after: Option<&str>) -> String {
    let mut pairs = vec![
        ("q", q.q.as_str()),
        ("service_type", q.service_type.as_str()),
        ("district", q.district.as_str()),
    ];
    if let Some(after) = after {
        pairs.push(("after", after));
    }
    format!(
        "/directory?{}",
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    )
}

impl SearchPage {
    fn label(&self, code: &str) -> String {
        self.labels
            .get(code)
            .cloned()
            .unwrap_or_else(|| code.to_string())
    }
}

pub async fn search(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Query(q): Query<SearchQuery>,
) -> PageResult {
    let types = state
        .reference
        .get(&state.pool)
        .await?
        .capacity_types
        .clone();
    // a cursor this page did not give out shows the first page
    let after = crate::web::paging::NamePosition::decode(q.after.trim(), super::PAGE_LIST, 2);
    let (mut services, total) = super::search(
        &state.pool,
        &Search {
            words: q.q.clone(),
            service_type: Some(q.service_type.clone()).filter(|s| !s.is_empty()),
            district: Some(q.district.trim().to_string()).filter(|s| !s.is_empty()),
            hubs: Some(caller.hubs.clone()),
        },
        after.as_ref(),
        DIRECTORY_PAGE,
    )
    .await?;
    let next = crate::web::paging::split_page_with(&mut services, DIRECTORY_PAGE, |s| {
        super::name_position(s).encode(super::PAGE_LIST)
    });
    Ok(SearchPage {
        layout: crate::notifications::layout(&state, &session, &caller, "directory").await,
        labels: types
            .iter()
            .map(|t| (t.code.clone(), t.label.clone()))
            .collect(),
        types,
        services,
        total,
        next_href: next.map(|c| search_href(&q, Some(&c))),
        first_href: after.map(|_| search_href(&q, None)),
        q,
        mine: caller.is(Role::Provider),
    }
    .into_response())
}

#[derive(Default, Clone)]
pub struct ServiceForm {
    pub name: String,
    pub service_types: Vec<String>,
    pub area: String,
    pub criteria: String,
    pub contact: String,
    pub hours: String,
}

impl ServiceForm {
    pub fn has_type(&self, code: &str) -> bool {
        self.service_types.iter().any(|t| t == code)
    }
    fn draft(&self) -> ServiceDraft {
        ServiceDraft {
            name: self.name.clone(),
            service_types: self.service_types.clone(),
            area: self.area.clone(),
            criteria: self.criteria.clone(),
            contact: self.contact.clone(),
            hours: self.hours.clone(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "directory/edit.html")]
struct EditPage {
    layout: Layout,
    id: Option<i64>,
    form: ServiceForm,
    types: Vec<CapacityType>,
    errors: FormErrors,
    mine: Vec<Service>,
}

async fn edit_page(
    state: &AppState,
    session: &Session,
    caller: &Caller,
    id: Option<i64>,
    form: ServiceForm,
    errors: FieldErrors,
) -> Result<EditPage, AppError> {
    Ok(EditPage {
        layout: crate::notifications::layout(state, session, caller, "directory").await,
        id,
        form,
        types: state
            .reference
            .get(&state.pool)
            .await?
            .capacity_types
            .clone(),
        errors: FormErrors(errors),
        mine: super::mine(&state.pool, caller).await?,
    })
}

pub async fn new_form(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
) -> PageResult {
    caller.require(&[Role::Provider])?;
    Ok(edit_page(
        &state,
        &session,
        &caller,
        None,
        ServiceForm::default(),
        FieldErrors::new(),
    )
    .await?
    .into_response())
}

pub async fn edit_form(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<i64>,
) -> PageResult {
    caller.require(&[Role::Provider])?;
    let s = super::get_own(&state.pool, &caller, id).await?;
    let form = ServiceForm {
        name: s.name,
        service_types: s.service_types,
        area: s.area,
        criteria: s.criteria,
        contact: s.contact,
        hours: s.hours,
    };
    Ok(edit_page(
        &state,
        &session,
        &caller,
        Some(id),
        form,
        FieldErrors::new(),
    )
    .await?
    .into_response())
}

fn parse(body: &[u8]) -> Result<ServiceForm, AppError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| AppError::BadRequest("The form could not be read".into()))?;
    let mut f = ServiceForm::default();
    for (k, v) in pairs {
        match k.as_str() {
            "name" => f.name = v,
            "service_types" => f.service_types.push(v),
            "area" => f.area = v,
            "criteria" => f.criteria = v,
            "contact" => f.contact = v,
            "hours" => f.hours = v,
            _ => {}
        }
    }
    Ok(f)
}

async fn save(
    state: &AppState,
    session: &Session,
    caller: &Caller,
    id: Option<i64>,
    body: &[u8],
) -> PageResult {
    caller.require(&[Role::Provider])?;
    let form = parse(body)?;
    match super::save(state, caller, id, form.draft()).await {
        Ok(_) => Ok(done(
            session,
            "/directory/mine",
            format!("Saved: {}", form.name.trim()),
        )
        .await),
        Err(AppError::Validation(errors)) => Ok(invalid(
            edit_page(state, session, caller, id, form, errors).await?,
        )),
        Err(e) => Err(e.into()),
    }
}

pub async fn create(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    RawForm(body): RawForm,
) -> PageResult {
    save(&state, &session, &caller, None, &body).await
}

pub async fn update(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<i64>,
    RawForm(body): RawForm,
) -> PageResult {
    save(&state, &session, &caller, Some(id), &body).await
}
