//! Provider pages for offers: my offers (places left, last confirmed, stale), post an offer,
//! "still available" in one click, withdraw.

use super::commands;
use super::offers::{self, FUNDING, OfferDraft, OfferRow, SPECIALISMS};
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
                crate::domain::time::display_london_end(o.available_until)
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
    /// The older page of offers no longer open (`?before=`), when there is one.
    older_href: Option<String>,
    /// Whether this is an older page (then a link back to the newest).
    paged: bool,
    offers: Vec<OfferLine>,
    stale_hours: i64,
}

impl OffersPage {
    fn any_live(&self) -> bool {
        self.offers.iter().any(|o| o.live)
    }
}

/// Offers no longer open shown a page at a time.
const CLOSED_PAGE: i64 = 50;
const CLOSED_LIST: &str = "provider-offers";

#[derive(serde::Deserialize, Default)]
pub struct OffersQuery {
    #[serde(default)]
    before: Option<String>,
}

/// The provider's offers: every open one, then the rest 50 at a time, newest first.
pub async fn my_offers(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    axum::extract::Query(q): axum::extract::Query<OffersQuery>,
) -> PageResult {
    caller.require(&[Role::Provider])?;
    let now = state.clock.now();
    // a cursor this page did not give out shows the newest page
    let before = q
        .before
        .as_deref()
        .and_then(|c| crate::web::paging::Position::decode(c, CLOSED_LIST));
    let mut closed = offers::closed_page(&state.pool, &caller, before, CLOSED_PAGE, now).await?;
    let older = crate::web::paging::split_page(&mut closed, CLOSED_PAGE, CLOSED_LIST, |o| {
        crate::web::paging::Position {
            at: o.created_at,
            id: o.id,
        }
    });
    let mut offers = if before.is_none() {
        offers::open_ones(&state.pool, &caller, now).await?
    } else {
        vec![]
    };
    offers.extend(closed);
    Ok(OffersPage {
        older_href: older.map(|c| format!("/provider/offers?before={c}")),
        paged: before.is_some(),
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

/// "All still available": every open offer confirmed in one click.
pub async fn confirm_all_offers(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
) -> PageResult {
    let n = commands::confirm_all_offers(&state, &caller).await?;
    let message = match n {
        0 => "No open offers to confirm".to_string(),
        1 => "Confirmed: 1 offer still available".to_string(),
        n => format!("Confirmed: {n} offers still available"),
    };
    Ok(done(&session, "/provider/offers", message).await)
}

/// The change form's fields, as typed.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct EditForm {
    #[serde(default)]
    pub places: String,
    /// YYYY-MM-DD: the offer ends at the end of that day.
    #[serde(default)]
    pub available_until: String,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub version: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "capacity/offer_edit.html")]
struct EditPage {
    layout: Layout,
    offer: OfferLine,
    taken: i32,
    form: EditForm,
    errors: FormErrors,
}

async fn own_offer(state: &AppState, caller: &Caller, id: i64) -> Result<OfferRow, AppError> {
    caller.require(&[Role::Provider])?;
    offers::get(&state.pool, caller, id, state.clock.now()).await
}

/// GET /provider/offers/{id}/edit: change places, end date and notes.
pub async fn edit_offer_form(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<i64>,
) -> PageResult {
    let o = own_offer(&state, &caller, id).await?;
    let form = EditForm {
        places: o.places.to_string(),
        available_until: crate::domain::time::last_day(o.available_until)
            .format("%Y-%m-%d")
            .to_string(),
        notes: o.notes.clone(),
        version: o.version.to_string(),
    };
    Ok(EditPage {
        layout: crate::notifications::layout(&state, &session, &caller, "offers").await,
        taken: o.places - o.places_left,
        offer: OfferLine::new(&o, &state),
        form,
        errors: FormErrors::default(),
    }
    .into_response())
}

/// POST /provider/offers/{id}/edit.
pub async fn edit_offer(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<i64>,
    axum::Form(form): axum::Form<EditForm>,
) -> PageResult {
    let o = own_offer(&state, &caller, id).await?;
    let mut errors = FieldErrors::new();
    let places = match form.places.trim().parse::<i32>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.add("places", "Enter how many places, as a whole number");
            None
        }
    };
    let until = match crate::domain::time::parse_date(&form.available_until) {
        Some(d) => Some(crate::domain::time::london_to_utc(
            (d + chrono::Duration::days(1))
                .and_hms_opt(0, 0, 0)
                .unwrap_or_default(),
        )),
        None => {
            errors.add(
                "available_until",
                "Enter the last day the offer is available, like 2026-12-05",
            );
            None
        }
    };
    let result = if errors.is_empty() {
        commands::edit_offer(
            &state,
            &caller,
            id,
            commands::OfferEdit {
                places,
                available_until: until,
                notes: Some(form.notes.clone()),
                version: form.version.trim().parse().ok(),
            },
        )
        .await
    } else {
        Err(AppError::Validation(errors))
    };
    let errors = match result {
        Ok(o) => {
            return Ok(done(
                &session,
                "/provider/offers",
                format!("Changed: {}", o.service_label),
            )
            .await);
        }
        Err(AppError::Validation(e)) => e,
        // below what is already taken: say so beside the places
        Err(AppError::Conflict {
            code: "capacity_in_use",
            message,
        }) => FieldErrors::single("places", message),
        Err(AppError::Stale) => FieldErrors::single(
            "places",
            "The offer changed while you were editing it (a place may have been taken): check the figures and try again",
        ),
        Err(e) => return Err(e.into()),
    };
    // a stale form shows the latest values
    let o = own_offer(&state, &caller, o.id).await?;
    let form = EditForm {
        version: o.version.to_string(),
        ..form
    };
    Ok(invalid(EditPage {
        layout: crate::notifications::layout(&state, &session, &caller, "offers").await,
        taken: o.places - o.places_left,
        offer: OfferLine::new(&o, &state),
        form,
        errors: FormErrors(errors),
    }))
}

#[derive(Template, WebTemplate)]
#[template(path = "capacity/offer_withdraw.html")]
struct WithdrawPage {
    layout: Layout,
    offer: OfferLine,
    pending: i64,
}

/// GET /provider/offers/{id}/withdraw: "are you sure?", saying what withdrawing does.
pub async fn withdraw_offer_confirm(
    State(state): State<AppState>,
    session: Session,
    PageCaller(caller): PageCaller,
    Id(id): Id<i64>,
) -> PageResult {
    let o = own_offer(&state, &caller, id).await?;
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM referrals WHERE offer_id = $1 AND status = 'pending'",
    )
    .bind(id)
    .fetch_one(&state.pool)
    .await?;
    Ok(WithdrawPage {
        layout: crate::notifications::layout(&state, &session, &caller, "offers").await,
        offer: OfferLine::new(&o, &state),
        pending,
    }
    .into_response())
}
