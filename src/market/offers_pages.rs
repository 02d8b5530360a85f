//! Provider pages for offers: my offers (places left, last confirmed, stale), post an offer,
//! "still available" in one click, withdraw.

use super::commands;
use super::offers::{self, FUNDING, OfferDraft, OfferFilter, OfferRow, SPECIALISMS};
use crate::accounts::PageCaller;
use crate::domain::Caller;
use crate::domain::time::parse_local;
use crate::domain::time::{display_london, london_date};
use crate::domain::{OfferStatus, Role};
use crate::error::{AppError, FieldErrors};
use crate::reference::CapacityType;
use crate::state::AppState;
use crate::web::Id;
use crate::web::{FormErrors, Layout, PageResult, done, invalid};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawForm, State};
use axum::response::IntoResponse;
use tower_sessions::Session;

/// An offer formatted for the provider's list.
pub struct OfferLine {
    pub id: i64,
    pub service: String,
    pub places: i32,
    pub places_left: i32,
    pub unit: String,
    pub available: String,
    pub area: String,
    pub status: OfferStatus,
    pub stale: bool,
    pub confirmed: String,
    pub live: bool,
}

impl OfferLine {
    pub fn new(o: &OfferRow, state: &AppState) -> Self {
        let now = state.clock.now();
        OfferLine {
            id: o.id,
            service: o.service_label.clone(),
            places: o.places,
            places_left: o.places_left,
            unit: o.unit.clone(),
            available: format!(
                "{} to {}",
                display_london(o.available_from),
                display_london(o.available_until)
            ),
            area: if o.area.is_empty() {
                "Anywhere".into()
            } else {
                o.area.clone()
            },
            stale: o.is_stale(now, state.config.offer_stale_after),
            confirmed: display_london(o.last_confirmed_at),
            live: !o.status.is_closed(),
            status: o.status,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "capacity/offers.html")]
struct OffersPage {
    layout: Layout,
    offers: Vec<OfferLine>,
    stale_hours: i64,
}

pub async fn my_offers(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
) -> PageResult {
    caller.require(&[Role::Provider])?;
    let now = state.clock.now();
    let offers = offers::list(&state.pool, &caller, &OfferFilter::default(), now).await?;
    Ok(OffersPage {
        layout: crate::notifications::layout(&state, &session, &caller, "offers").await,
        offers: offers.iter().map(|o| OfferLine::new(o, &state)).collect(),
        stale_hours: state.config.offer_stale_after.num_hours(),
    }
    .into_response())
}

/// The new-offer form's fields as typed.
#[derive(Default, Clone)]
pub struct OfferForm {
    pub service_type: String,
    pub places: String,
    pub available_from: String,
    pub available_until: String,
    pub area: String,
    pub gender: String,
    pub specialisms: Vec<String>,
    pub funding: Vec<String>,
    pub earliest_start: String,
    pub notes: String,
}

impl OfferForm {
    fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut f = OfferForm::default();
        for (k, v) in pairs {
            match k.as_str() {
                "service_type" => f.service_type = v,
                "places" => f.places = v,
                "available_from" => f.available_from = v,
                "available_until" => f.available_until = v,
                "area" => f.area = v,
                "gender" => f.gender = v,
                "specialisms" => f.specialisms.push(v),
                "funding" => f.funding.push(v),
                "earliest_start" => f.earliest_start = v,
                "notes" => f.notes = v,
                _ => {}
            }
        }
        f
    }
    pub fn has_specialism(&self, code: &&str) -> bool {
        self.specialisms.iter().any(|s| s == code)
    }
    pub fn has_funding(&self, code: &&str) -> bool {
        self.funding.iter().any(|s| s == code)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "capacity/offer_new.html")]
struct NewOfferPage {
    layout: Layout,
    form: OfferForm,
    types: Vec<CapacityType>,
    specialisms: &'static [(&'static str, &'static str)],
    funding: &'static [(&'static str, &'static str)],
    errors: FormErrors,
}

async fn new_offer_page(
    state: &AppState,
    session: &Session,
    caller: &Caller,
    form: OfferForm,
    errors: FieldErrors,
) -> Result<NewOfferPage, AppError> {
    Ok(NewOfferPage {
        layout: crate::notifications::layout(state, session, caller, "offers").await,
        form,
        types: state
            .reference
            .get(&state.pool)
            .await?
            .capacity_types
            .clone(),
        specialisms: SPECIALISMS,
        funding: FUNDING,
        errors: FormErrors(errors),
    })
}

pub async fn new_offer_form(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
) -> PageResult {
    caller.require(&[Role::Provider])?;
    let today = london_date(state.clock.now());
    let form = OfferForm {
        available_from: today.format("%Y-%m-%d").to_string(),
        available_until: (today + chrono::Duration::days(7))
            .format("%Y-%m-%d")
            .to_string(),
        gender: "any".into(),
        ..OfferForm::default()
    };
    Ok(
        new_offer_page(&state, &session, &caller, form, FieldErrors::new())
            .await?
            .into_response(),
    )
}

pub async fn create_offer(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    RawForm(body): RawForm,
) -> PageResult {
    caller.require(&[Role::Provider])?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| AppError::BadRequest("The form could not be read".into()))?;
    let form = OfferForm::from_pairs(pairs);
    let mut errors = FieldErrors::new();
    let mut date = |v: &str, time: &str, field: &str, required: bool| {
        if v.trim().is_empty() {
            if required {
                errors.add(field, "Enter a date");
            }
            return None;
        }
        let t = parse_local(v, time);
        if t.is_none() {
            errors.add(field, "Enter a real date");
        }
        t
    };
    let now = state.clock.now();
    // from today means from now; other days from the start of the day
    let available_from =
        date(&form.available_from, "00:00", "available_from", false).map(|t| t.max(now));
    let available_until = date(&form.available_until, "23:59", "available_until", true);
    let earliest_start = date(&form.earliest_start, "00:00", "earliest_start", false);
    let draft = OfferDraft {
        service_type: form.service_type.clone(),
        places: form.places.clone(),
        available_from,
        available_until,
        area: form.area.clone(),
        gender: form.gender.clone(),
        specialisms: form.specialisms.clone(),
        funding: form.funding.clone(),
        earliest_start,
        notes: form.notes.clone(),
    };
    let result = match draft.validate(&state.pool, now, errors).await {
        Ok(new) => commands::create_offer(&state, &caller, new).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(o) => Ok(done(
            &session,
            "/provider/offers",
            format!("{} places posted: {}", o.places, o.service_label),
        )
        .await),
        Err(AppError::Validation(errors)) => Ok(invalid(
            new_offer_page(&state, &session, &caller, form, errors).await?,
        )),
        Err(e) => Err(e.into()),
    }
}

pub async fn confirm_offer(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<i64>,
) -> PageResult {
    match commands::confirm_offer(&state, &caller, id).await {
        Ok(o) => Ok(done(
            &session,
            "/provider/offers",
            format!("Confirmed: {} still available", o.service_label),
        )
        .await),
        Err(AppError::Conflict { message, .. }) => {
            Ok(done(&session, "/provider/offers", message).await)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn withdraw_offer(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<i64>,
) -> PageResult {
    match commands::withdraw_offer(&state, &caller, id).await {
        Ok(o) => Ok(done(
            &session,
            "/provider/offers",
            format!("Withdrawn: {}", o.service_label),
        )
        .await),
        Err(AppError::Conflict { message, .. }) => {
            Ok(done(&session, "/provider/offers", message).await)
        }
        Err(e) => Err(e.into()),
    }
}
