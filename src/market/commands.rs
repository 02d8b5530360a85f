//! Every change in the capacity market, each in one transaction: providers post, confirm
//! and withdraw offers; the hub refers a patient to offers; a provider accepts (reserving a
//! place) or declines; a case that closes, or meets the criteria again, closes its
//! referrals. Every step that touches a case writes the case's history in the same
//! transaction. Locks are always taken in one order (patient, then referral, then offer) so
//! concurrent commands wait for each other instead of deadlocking.

use super::offers::{self, NewOffer, OfferRow, districts_in};
use super::places;
use super::referrals::{self, ReferralRow};
use crate::cases::history::{self, Note};
use crate::cases::queries as case_queries;
use crate::domain::{
    Caller, CaseAction, CaseEvent, CaseStatus, OfferStatus, PatientId, ReferralStatus, Role,
};
use crate::error::{AppError, FieldErrors};
use crate::scope::ReferralScope;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, QueryBuilder};

/// Posts an offer for the caller's own organisation.
pub async fn create_offer(
    state: &AppState,
    caller: &Caller,
    new: NewOffer,
) -> Result<OfferRow, AppError> {
    caller.require(&[Role::Provider])?;
    let now = state.clock.now();
    let id = sqlx::query_scalar!(
        "INSERT INTO capacity_offers (org_code, service_type, pathway, places, places_left, available_from, \
         available_until, area, districts, gender, specialisms, funding, earliest_start, notes, last_confirmed_at, \
         created_by, created_at, updated_at) \
         SELECT $1, $2, ct.pathway, $3, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $13, $13 \
         FROM capacity_types ct WHERE ct.code = $2 RETURNING id",
        caller.org_code,
        new.service_type,
        new.places as _,
        new.available_from as _,
        new.available_until as _,
        new.area,
        &districts_in(&new.area),
        new.gender as _,
        &new.specialisms,
        new.funding as _,
        new.earliest_start as _,
        new.notes,
        now as _,
        caller.user_id,
    )
    .fetch_one(&state.pool)
    .await?;
    sqlx::query!(
        "INSERT INTO capacity_offer_changes (offer_id, at, changed_by, places, available_until, notes) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        id,
        now as _,
        caller.user_id,
        new.places as _,
        new.available_until as _,
        new.notes,
    )
    .execute(&state.pool)
    .await?;
    tracing::info!(offer_id = id, "offer posted");
    offers::get(&state.pool, caller, id, now).await
}

/// "Still available": the owning provider confirms an offer.
pub async fn confirm_offer(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<OfferRow, AppError> {
    caller.require(&[Role::Provider])?;
    let now = state.clock.now();
    let offer = offers::get(&state.pool, caller, id, now).await?;
    if offer.status.is_closed() {
        return Err(AppError::conflict(
            "offer_closed",
            format!("The offer is {}", offer.status),
        ));
    }
    sqlx::query!(
        "UPDATE capacity_offers SET last_confirmed_at = $2, updated_at = $2 WHERE id = $1",
        id,
        now as _,
    )
    .execute(&state.pool)
    .await?;
    offers::get(&state.pool, caller, id, now).await
}

/// What a provider may change on an offer it posted. `None` leaves a value as it is.
#[derive(Debug, Clone, Default)]
pub struct OfferEdit {
    pub places: Option<i32>,
    pub available_until: Option<DateTime<Utc>>,
    pub notes: Option<String>,
    /// The version the provider last saw; a stale one is refused.
    pub version: Option<i32>,
}

/// Changes an offer's places, end or notes. Places can never go below those already
/// reserved or used (a 409); the offer is locked for the change, so an accept racing with
/// it either takes its place first (and the edit then counts it) or after.
pub async fn edit_offer(
    state: &AppState,
    caller: &Caller,
    id: i64,
    edit: OfferEdit,
) -> Result<OfferRow, AppError> {
    caller.require(&[Role::Provider])?;
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    // the caller's own offer, locked
    let current = sqlx::query!(
        r#"SELECT places, places_left, available_from AS "available_from: DateTime<Utc>",
           available_until AS "available_until: DateTime<Utc>", notes, version,
           withdrawn_at AS "withdrawn_at: DateTime<Utc>"
           FROM capacity_offers WHERE id = $1 AND org_code = $2 FOR UPDATE"#,
        id,
        caller.org_code,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    if edit.version.is_some_and(|v| v != current.version) {
        return Err(AppError::Stale);
    }
    if current.withdrawn_at.is_some() {
        return Err(AppError::conflict(
            "offer_closed",
            "The offer is withdrawn: post a new one",
        ));
    }
    let mut errors = FieldErrors::new();
    let taken = current.places - current.places_left;
    let places = edit.places.unwrap_or(current.places);
    if !(1..=500).contains(&places) {
        errors.add("places", "Places must be a whole number from 1 to 500");
    }
    let until = edit.available_until.unwrap_or(current.available_until);
    if until <= current.available_from {
        errors.add(
            "available_until",
            "The offer must end after it becomes available",
        );
    }
    let notes = edit.notes.unwrap_or(current.notes).trim().to_string();
    if notes.chars().count() > 2000 {
        errors.add("notes", "Notes must be 2000 characters or fewer");
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    if places < taken {
        return Err(AppError::conflict(
            "capacity_in_use",
            format!(
                "{taken} {} already reserved or used: places cannot go below that",
                if taken == 1 { "place is" } else { "places are" }
            ),
        ));
    }
    sqlx::query!(
        "UPDATE capacity_offers SET places = $2::int, places_left = $2::int - $3::int, \
         available_until = $4, notes = $5, version = version + 1, updated_at = $6 WHERE id = $1",
        id,
        places,
        taken,
        until as _,
        notes,
        now as _,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO capacity_offer_changes (offer_id, at, changed_by, places, available_until, notes) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        id,
        now as _,
        caller.user_id,
        places,
        until as _,
        notes,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    offers::get(&state.pool, caller, id, now).await
}

/// "All still available": the provider confirms every open offer of its own at once.
/// Returns how many it confirmed.
pub async fn confirm_all_offers(state: &AppState, caller: &Caller) -> Result<u64, AppError> {
    caller.require(&[Role::Provider])?;
    let now = state.clock.now();
    let done = sqlx::query!(
        "UPDATE capacity_offers SET last_confirmed_at = $2, updated_at = $2 \
         WHERE org_code = $1 AND withdrawn_at IS NULL AND available_until > $2 AND places_left > 0",
        caller.org_code,
        now as _,
    )
    .execute(&state.pool)
    .await?;
    Ok(done.rows_affected())
}

/// Withdraws an offer. Referrals still waiting for an answer on it are withdrawn too;
/// places already reserved stay reserved.
pub async fn withdraw_offer(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<OfferRow, AppError> {
    caller.require(&[Role::Provider])?;
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let offer = offers::get(&mut *tx, caller, id, now).await?;
    if offer.status == OfferStatus::Withdrawn {
        return Err(AppError::conflict(
            "offer_closed",
            "The offer is already withdrawn",
        ));
    }
    // patients first, then referrals, then the offer: the lock order every command keeps
    sqlx::query!(
        "SELECT p.id FROM patients p WHERE p.id IN \
         (SELECT r.patient_id FROM referrals r WHERE r.offer_id = $1 AND r.status = 'pending') \
         ORDER BY p.id FOR UPDATE",
        id,
    )
    .fetch_all(&mut *tx)
    .await?;
    withdraw_pending_for_offer(&mut tx, id, caller, now).await?;
    sqlx::query!(
        "UPDATE capacity_offers SET withdrawn_at = $2, updated_at = $2 WHERE id = $1",
        id,
        now as _,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    offers::get(&state.pool, caller, id, now).await
}

/// The hub refers a patient to one or more offers at once. The patient must be awaiting
/// care on each offer's pathway, and each offer open.
pub async fn refer(
    state: &AppState,
    caller: &Caller,
    patient_id: PatientId,
    offer_ids: &[i64],
) -> Result<Vec<ReferralRow>, AppError> {
    caller.require(&[Role::Hub])?;
    if offer_ids.is_empty() {
        return Err(AppError::Validation(FieldErrors::single(
            "offer_id",
            "Select at least one offer",
        )));
    }
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let case = case_queries::lock(&mut tx, caller, patient_id, None).await?;
    if case.status != CaseStatus::AwaitingCare {
        return Err(AppError::conflict(
            "invalid_transition",
            "Only a patient awaiting care can be referred: choose pathway 1, 2 or 3 first",
        ));
    }
    let mut ids = vec![];
    for offer_id in offer_ids {
        // any offer of the hub's market (a provider serving the hub) may be referred to
        let mut q = offers::select_offers(now);
        q.push(" WHERE o.id = ").push_bind(*offer_id).push(" AND ");
        crate::scope::OfferScope::of(caller).push_sql(&mut q, "o");
        q.push(" FOR UPDATE OF o");
        let offer = q
            .build_query_as::<OfferRow>()
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| {
                AppError::Validation(FieldErrors::single("offer_id", "There is no such offer"))
            })?;
        if offer.status != OfferStatus::Open {
            return Err(AppError::conflict(
                "capacity_gone",
                format!(
                    "{}'s offer is {}: choose another",
                    offer.org_name, offer.status
                ),
            ));
        }
        if Some(offer.pathway) != case.pathway {
            return Err(AppError::conflict(
                "wrong_pathway",
                format!(
                    "{}'s offer is for pathway {}, the patient is on pathway {}",
                    offer.org_name,
                    offer.pathway,
                    case.pathway.unwrap_or_default()
                ),
            ));
        }
        let inserted = sqlx::query_scalar!(
            "INSERT INTO referrals (patient_id, offer_id, org_code, status, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
            patient_id as _,
            offer_id,
            offer.org_code,
            ReferralStatus::Pending as _,
            caller.user_id,
            now as _,
        )
        .fetch_one(&mut *tx)
        .await;
        match inserted {
            Ok(id) => ids.push(id),
            Err(sqlx::Error::Database(e))
                if e.constraint() == Some("referrals_one_live_per_offer_idx") =>
            {
                return Err(AppError::conflict(
                    "duplicate_referral",
                    format!(
                        "The patient is already referred to {}'s offer",
                        offer.org_name
                    ),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        history::write(
            &mut tx,
            caller,
            now,
            Note {
                patient_id,
                action: CaseAction::Referred,
                detail: format!(
                    "Referred to {} ({}) for {}",
                    offer.org_name,
                    offer.org_code,
                    offer.service_label.to_lowercase()
                ),
                from_status: case.status,
                to_status: None,
            },
        )
        .await?;
    }
    tx.commit().await?;
    let mut out = vec![];
    for id in ids {
        out.push(referrals::get(&state.pool, caller, id).await?);
    }
    Ok(out)
}

/// A provider's answer to a referral.
#[derive(Debug, Clone)]
pub enum Decision {
    /// With when the provider plans to admit and whom to contact, if it says.
    Accept {
        admission_date: Option<chrono::NaiveDate>,
        contact: String,
    },
    Decline {
        reason: String,
        detail: String,
    },
}

/// The owning provider accepts or declines. Accepting reserves one place (exactly one of
/// any number of racing accepts gets the last place) and moves the patient to
/// `care_arranged`; the patient's other pending referrals are withdrawn.
pub async fn decide(
    state: &AppState,
    caller: &Caller,
    id: i64,
    decision: Decision,
) -> Result<ReferralRow, AppError> {
    caller.require(&[Role::Provider])?;
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    // Locks are always taken in one order across Homeward (patient, then referral, then
    // offer) so concurrent commands wait for each other instead of deadlocking: find the
    // referral's patient, lock the patient, then lock and re-read the referral.
    let scope = ReferralScope::of(caller);
    let mut q = QueryBuilder::new("SELECT r.patient_id FROM referrals r WHERE r.id = ");
    q.push_bind(id).push(" AND ");
    scope.push_sql(&mut q, "r");
    let patient_of: Option<(PatientId,)> = q.build_query_as().fetch_optional(&mut *tx).await?;
    let (patient_id,) = patient_of.ok_or(AppError::NotFound)?;
    let patient_status = sqlx::query_scalar!(
        r#"SELECT status AS "status: CaseStatus" FROM patients WHERE id = $1 FOR UPDATE"#,
        patient_id as _,
    )
    .fetch_one(&mut *tx)
    .await?;
    // the referral must be this provider's; lock it so two answers cannot cross
    let mut q = QueryBuilder::new(
        "SELECT r.patient_id, r.offer_id, r.status, org.name FROM referrals r \
         JOIN organisations org ON org.code = r.org_code WHERE r.id = ",
    );
    q.push_bind(id).push(" AND ");
    scope.push_sql(&mut q, "r");
    q.push(" FOR UPDATE OF r");
    let referral: (PatientId, i64, ReferralStatus, String) = q
        .build_query_as()
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AppError::NotFound)?;
    let (_, offer_id, status, org_name) = referral;
    if status != ReferralStatus::Pending {
        return Err(AppError::conflict(
            "invalid_transition",
            format!("The referral is already {status}"),
        ));
    }
    match decision {
        Decision::Decline { reason, detail } => {
            let label =
                sqlx::query_scalar!("SELECT label FROM decline_reasons WHERE code = $1", reason)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(label) = label else {
                return Err(AppError::Validation(FieldErrors::single(
                    "reason",
                    "Select why the referral is declined",
                )));
            };
            sqlx::query!(
                "UPDATE referrals SET status = $6, decline_reason = $2, decline_detail = NULLIF($3, ''), \
                 decided_at = $4, decided_by = $5, updated_at = $4 WHERE id = $1",
                id,
                reason,
                detail.trim(),
                now as _,
                caller.user_id,
                ReferralStatus::Declined as _,
            )
            .execute(&mut *tx)
            .await?;
            history::write(
                &mut tx,
                caller,
                now,
                Note {
                    patient_id,
                    action: CaseAction::ReferralDeclined,
                    detail: format!("Declined by {org_name}: {label}"),
                    from_status: patient_status,
                    to_status: None,
                },
            )
            .await?;
        }
        Decision::Accept {
            admission_date,
            contact,
        } => {
            let contact = contact.trim().to_string();
            if contact.chars().count() > 300 {
                return Err(AppError::Validation(FieldErrors::single(
                    "contact",
                    "The contact must be 300 characters or fewer",
                )));
            }
            let next = patient_status
                .apply(CaseEvent::CareAccepted, None)
                .map_err(|_| {
                    AppError::conflict(
                        "invalid_transition",
                        "The patient is no longer awaiting care (care may be arranged elsewhere)",
                    )
                })?;
            if !places::reserve(&mut tx, offer_id, now).await? {
                return Err(AppError::conflict(
                    "capacity_gone",
                    "No places are left on this offer (or it is withdrawn or expired)",
                ));
            }
            // choice: the acceptance holds the place for the patient to choose; the patient
            // goes on awaiting care and other providers may still accept
            let hold = state.config.acceptance_hold;
            if hold > chrono::Duration::zero() {
                let held_until = now + hold;
                sqlx::query!(
                    "UPDATE referrals SET status = $4, decided_at = $2, decided_by = $3, updated_at = $2, \
                     admission_planned_for = $5, accept_contact = NULLIF($6, ''), held_until = $7 \
                     WHERE id = $1",
                    id,
                    now as _,
                    caller.user_id,
                    ReferralStatus::Accepted as _,
                    admission_date as _,
                    contact,
                    held_until as _,
                )
                .execute(&mut *tx)
                .await?;
                history::write(
                    &mut tx,
                    caller,
                    now,
                    Note {
                        patient_id,
                        action: CaseAction::PlaceHeld,
                        detail: format!(
                            "Accepted by {org_name}: place held until {} for the patient to choose",
                            crate::domain::time::display_london(held_until)
                        ),
                        from_status: patient_status,
                        to_status: None,
                    },
                )
                .await?;
                tx.commit().await?;
                return referrals::get(&state.pool, caller, id).await;
            }
            let accepted = sqlx::query!(
                "UPDATE referrals SET status = $4, decided_at = $2, decided_by = $3, updated_at = $2, \
                 admission_planned_for = $5, accept_contact = NULLIF($6, '') WHERE id = $1",
                id,
                now as _,
                caller.user_id,
                ReferralStatus::Accepted as _,
                admission_date as _,
                contact,
            )
            .execute(&mut *tx)
            .await;
            if let Err(sqlx::Error::Database(e)) = &accepted
                && e.constraint() == Some("referrals_one_accepted_idx")
            {
                return Err(AppError::conflict(
                    "invalid_transition",
                    "Care is already arranged for this patient",
                ));
            }
            accepted?;
            history::write(
                &mut tx,
                caller,
                now,
                Note {
                    patient_id,
                    action: CaseAction::ReferralAccepted,
                    detail: match admission_date {
                        Some(d) => format!(
                            "Accepted by {org_name}: place reserved, admission planned for {}",
                            d.format("%-d %b %Y")
                        ),
                        None => format!("Accepted by {org_name}: place reserved"),
                    },
                    from_status: patient_status,
                    to_status: Some(next),
                },
            )
            .await?;
            let names = sqlx::query_scalar!(
                "UPDATE referrals r SET status = $4, withdrawn_at = $3, updated_at = $3 FROM organisations org \
                 WHERE org.code = r.org_code AND r.patient_id = $1 AND r.id <> $2 AND r.status = 'pending' RETURNING org.name",
                patient_id as _,
                id,
                now as _,
                ReferralStatus::Withdrawn as _,
            )
            .fetch_all(&mut *tx)
            .await?;
            if !names.is_empty() {
                history::write(
                    &mut tx,
                    caller,
                    now,
                    Note {
                        patient_id,
                        action: CaseAction::ReferralsWithdrawn,
                        detail: format!(
                            "Referrals to {} withdrawn: care accepted elsewhere",
                            names.join(", ")
                        ),
                        from_status: next,
                        to_status: None,
                    },
                )
                .await?;
            }
        }
    }
    tx.commit().await?;
    referrals::get(&state.pool, caller, id).await
}

/// The hub books one of the places held for a patient to choose between: the patient's care
/// is arranged with it; the other held places are given back and pending referrals
/// withdrawn. Of any number of racing bookings for one patient exactly one wins (the patient
/// is locked first, as every command does); a hold that has lapsed cannot be booked.
pub async fn book_held(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<ReferralRow, AppError> {
    caller.require(&[Role::Hub])?;
    let now = state.clock.now();
    let mut tx = state.pool.begin().await?;
    let patient_id = sqlx::query_scalar!(
        r#"SELECT patient_id AS "patient_id: PatientId" FROM referrals WHERE id = $1"#,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    let case = case_queries::lock(&mut tx, caller, patient_id, None).await?;
    let held = sqlx::query!(
        r#"SELECT r.held_until AS "held_until: DateTime<Utc>", r.status AS "status: ReferralStatus",
           org.name FROM referrals r JOIN organisations org ON org.code = r.org_code
           WHERE r.id = $1 FOR UPDATE OF r"#,
        id
    )
    .fetch_one(&mut *tx)
    .await?;
    let Some(held_until) = held
        .held_until
        .filter(|_| held.status == ReferralStatus::Accepted)
    else {
        return Err(AppError::conflict(
            "invalid_transition",
            "This place is not held for the patient (it may already be booked or given back)",
        ));
    };
    if held_until <= now {
        return Err(AppError::conflict(
            "hold_lapsed",
            "The hold on this place has lapsed: the place was given back",
        ));
    }
    let next = case
        .status
        .apply(CaseEvent::CareAccepted, None)
        .map_err(|_| {
            AppError::conflict(
                "invalid_transition",
                "The patient is no longer awaiting care (a place may already be booked)",
            )
        })?;
    sqlx::query!(
        "UPDATE referrals SET held_until = NULL, updated_at = $2 WHERE id = $1",
        id,
        now as _
    )
    .execute(&mut *tx)
    .await?;
    history::write(
        &mut tx,
        caller,
        now,
        Note {
            patient_id,
            action: CaseAction::PlaceBooked,
            detail: format!("Place with {} booked: the patient's choice", held.name),
            from_status: case.status,
            to_status: Some(next),
        },
    )
    .await?;
    // the other held places go back, and pending referrals are withdrawn
    let released = places::release_holds(&mut tx, patient_id, now).await?;
    let pending = withdraw_pending(&mut tx, patient_id, now).await?;
    let mut said = vec![];
    if !released.is_empty() {
        said.push(format!(
            "places held with {} given back",
            released.join(", ")
        ));
    }
    if !pending.is_empty() {
        said.push(format!("referrals to {} withdrawn", pending.join(", ")));
    }
    if !said.is_empty() {
        history::write(
            &mut tx,
            caller,
            now,
            Note {
                patient_id,
                action: CaseAction::ReferralsWithdrawn,
                detail: format!("Care booked elsewhere: {}", said.join("; ")),
                from_status: next,
                to_status: None,
            },
        )
        .await?;
    }
    tx.commit().await?;
    referrals::get(&state.pool, caller, id).await
}

/// Gives back the places whose holds have lapsed (at most `limit` cases at a time), each in
/// a transaction of its own with its history row. Returns how many holds lapsed.
pub async fn lapse_holds(
    pool: &sqlx::PgPool,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<usize, AppError> {
    let due = sqlx::query_scalar!(
        r#"SELECT DISTINCT patient_id AS "patient_id: PatientId" FROM referrals
           WHERE status = 'accepted' AND held_until IS NOT NULL AND held_until <= $1 LIMIT $2"#,
        now as _,
        limit,
    )
    .fetch_all(pool)
    .await?;
    let mut lapsed = 0;
    for patient_id in due {
        let mut tx = pool.begin().await?;
        // the patient first, as every command locks
        let status = sqlx::query_scalar!(
            r#"SELECT status AS "status: CaseStatus" FROM patients WHERE id = $1 FOR UPDATE"#,
            patient_id as _,
        )
        .fetch_one(&mut *tx)
        .await?;
        let names = places::release_lapsed_holds(&mut tx, patient_id, now).await?;
        if !names.is_empty() {
            lapsed += names.len();
            history::write_by_system(
                &mut tx,
                now,
                Note {
                    patient_id,
                    action: CaseAction::HoldLapsed,
                    detail: format!(
                        "Nobody booked in time: the place held with {} was given back",
                        names.join(", ")
                    ),
                    from_status: status,
                    to_status: None,
                },
            )
            .await?;
        }
        tx.commit().await?;
    }
    Ok(lapsed)
}

/// Lapses holds every `every` for as long as the pool is open.
pub fn start_lapsing(
    pool: sqlx::PgPool,
    clock: crate::domain::time::Clock,
    every: std::time::Duration,
) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            if pool.is_closed() {
                return;
            }
            if let Err(e) = lapse_holds(&pool, clock.now(), 100).await {
                tracing::warn!(error = %e, "giving back lapsed holds failed");
            }
        }
    });
}

/// Withdraws a patient's pending referrals in the caller's transaction; the names of the
/// providers they were sent to.
async fn withdraw_pending(
    conn: &mut PgConnection,
    patient_id: PatientId,
    now: DateTime<Utc>,
) -> Result<Vec<String>, AppError> {
    Ok(sqlx::query_scalar!(
        "UPDATE referrals r SET status = $3, withdrawn_at = $2, updated_at = $2 FROM organisations org \
         WHERE org.code = r.org_code AND r.patient_id = $1 AND r.status = 'pending' RETURNING org.name",
        patient_id as _,
        now as _,
        ReferralStatus::Withdrawn as _,
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Why a patient's referrals are being closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseClosing {
    /// Meets the criteria again, or the case is cancelled: give any reserved place back.
    Release,
    /// Discharged: the reserved place is used.
    Discharge,
    /// The pathway changed: pending referrals no longer fit.
    PathwayChanged,
}

/// Closes a patient's live referrals inside the caller's transaction. Pending ones are
/// withdrawn; an accepted one gives its place back (Release) or uses it (Discharge).
/// Returns a sentence for the history, if anything changed.
pub async fn close_for_patient(
    conn: &mut PgConnection,
    patient_id: PatientId,
    now: DateTime<Utc>,
    closing: CaseClosing,
) -> Result<Option<String>, AppError> {
    let names = withdraw_pending(conn, patient_id, now).await?;
    let mut said = vec![];
    if !names.is_empty() {
        said.push(format!(
            "pending referrals to {} withdrawn",
            names.join(", ")
        ));
    }
    match closing {
        CaseClosing::Release => {
            if let Some(name) = places::release_for_patient(conn, patient_id, now).await? {
                said.push(format!("the place reserved with {name} is released"));
            }
        }
        CaseClosing::Discharge => {
            places::use_for_patient(conn, patient_id, now).await?;
            // places held for a choice nobody made go back
            let names = places::release_holds(conn, patient_id, now).await?;
            if !names.is_empty() {
                said.push(format!("places held with {} given back", names.join(", ")));
            }
        }
        CaseClosing::PathwayChanged => {}
    }
    Ok((!said.is_empty()).then(|| said.join("; ")))
}

/// Pending referrals on a withdrawn offer are withdrawn, each noted on its case.
async fn withdraw_pending_for_offer(
    conn: &mut PgConnection,
    offer_id: i64,
    caller: &Caller,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let rows = sqlx::query!(
        r#"UPDATE referrals r SET status = $3, withdrawn_at = $2, updated_at = $2 FROM patients p
         WHERE p.id = r.patient_id AND r.offer_id = $1 AND r.status = 'pending'
         RETURNING r.patient_id AS "patient_id: PatientId", p.status AS "status: CaseStatus""#,
        offer_id,
        now as _,
        ReferralStatus::Withdrawn as _,
    )
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let (patient_id, status) = (row.patient_id, row.status);
        history::write(
            conn,
            caller,
            now,
            Note {
                patient_id,
                action: CaseAction::ReferralWithdrawn,
                detail: format!("Referral withdrawn: {} withdrew the offer", caller.org_name),
                from_status: status,
                to_status: None,
            },
        )
        .await?;
    }
    Ok(())
}
