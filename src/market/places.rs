//! The place counter: how many of an offer's places are still free. `places_left` starts at
//! `places`; accepting a referral reserves one, a case that closes without using its place
//! gives it back, and a discharge uses it (the place stays taken). The table checks
//! `0 <= places_left <= places`, and a reservation is one conditional UPDATE, so two
//! accepts racing for the last place cannot both win. A place held for a patient's choice
//! (an acceptance with `held_until`) is reserved the same way and given back when another is
//! booked or the hold lapses. Nothing else writes `places_left` (an offer's edit keeps
//! `places - places_left`, the places taken, as it was).

use crate::domain::{PatientId, ReferralStatus};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// Takes one place on an offer that is open at `now`. `false` when none is left (or the
/// offer is withdrawn or expired); then nothing changed.
pub async fn reserve(
    conn: &mut PgConnection,
    offer_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let reserved = sqlx::query_scalar!(
        "UPDATE capacity_offers SET places_left = places_left - 1, updated_at = $2 \
         WHERE id = $1 AND places_left > 0 AND withdrawn_at IS NULL AND available_until > $2 \
         RETURNING places_left",
        offer_id,
        now as _,
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(reserved.is_some())
}

/// Gives back the place a patient's accepted referral holds: the referral is withdrawn
/// with its place released, and the offer gets the place back. Returns the provider's name
/// if there was such a place.
pub async fn release_for_patient(
    conn: &mut PgConnection,
    patient_id: PatientId,
    now: DateTime<Utc>,
) -> Result<Option<String>, sqlx::Error> {
    // every accepted referral: the booked one, and any held for a choice
    let released = sqlx::query_scalar!(
        "WITH r AS (UPDATE referrals SET status = $3, withdrawn_at = $2, place_released_at = $2, updated_at = $2 \
         WHERE patient_id = $1 AND status = 'accepted' RETURNING offer_id, org_code), \
         o AS (UPDATE capacity_offers c SET places_left = LEAST(c.places, c.places_left + r.n), updated_at = $2 \
         FROM (SELECT offer_id, count(*)::int AS n FROM r GROUP BY offer_id) r WHERE c.id = r.offer_id RETURNING c.id) \
         SELECT org.name FROM r JOIN organisations org ON org.code = r.org_code",
        patient_id as _,
        now as _,
        ReferralStatus::Withdrawn as _,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok((!released.is_empty()).then(|| released.join(", ")))
}

/// The patient left hospital: the place its accepted referral reserved is used (it is not
/// given back).
pub async fn use_for_patient(
    conn: &mut PgConnection,
    patient_id: PatientId,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE referrals SET place_used_at = $2, updated_at = $2 WHERE patient_id = $1 AND status = 'accepted' \
         AND held_until IS NULL",
        patient_id as _,
        now as _,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Gives back every place held for a patient's choice (all, or only those whose hold lapsed
/// by `lapsed_by`): the referrals are withdrawn with their places released, and the offers
/// get the places back. Returns the providers' names.
async fn release_held(
    conn: &mut PgConnection,
    patient_id: PatientId,
    now: DateTime<Utc>,
    lapsed_by: Option<DateTime<Utc>>,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "WITH r AS (UPDATE referrals SET status = $3, withdrawn_at = $2, place_released_at = $2, updated_at = $2 \
         WHERE patient_id = $1 AND status = 'accepted' AND held_until IS NOT NULL \
         AND ($4::timestamptz IS NULL OR held_until <= $4) RETURNING offer_id, org_code), \
         o AS (UPDATE capacity_offers c SET places_left = LEAST(c.places, c.places_left + r.n), updated_at = $2 \
         FROM (SELECT offer_id, count(*)::int AS n FROM r GROUP BY offer_id) r WHERE c.id = r.offer_id RETURNING c.id) \
         SELECT org.name FROM r JOIN organisations org ON org.code = r.org_code",
        patient_id as _,
        now as _,
        ReferralStatus::Withdrawn as _,
        lapsed_by as _,
    )
    .fetch_all(&mut *conn)
    .await
}

/// Gives back every place still held for a patient's choice (one was booked, or the
/// patient left).
pub async fn release_holds(
    conn: &mut PgConnection,
    patient_id: PatientId,
    now: DateTime<Utc>,
) -> Result<Vec<String>, sqlx::Error> {
    release_held(conn, patient_id, now, None).await
}

/// Gives back the places whose hold lapsed by `now`.
pub async fn release_lapsed_holds(
    conn: &mut PgConnection,
    patient_id: PatientId,
    now: DateTime<Utc>,
) -> Result<Vec<String>, sqlx::Error> {
    release_held(conn, patient_id, now, Some(now)).await
}
