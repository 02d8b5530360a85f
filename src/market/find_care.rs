//! "Find care": the open offers a patient awaiting care could go to, ranked by fit. The hub's
//! find-care page and `GET /api/v1/patients/{id}/find-care` both call [`for_patient`], so
//! the page and the API can never rank differently. The ranking itself ([`rank`]) is pure:
//! covers the patient's postcode district first, then the most specialisms the needs
//! summary mentions, then the soonest start, then the freshest confirmation; offers that
//! cannot take the patient's sex are left out. Reads only; referring is
//! [`super::commands::refer`].

use super::offers::{self, OfferRow};
use super::referrals;
use crate::cases::CaseRow;
use crate::cases::queries as case_queries;
use crate::domain::PatientId;
use crate::domain::{Caller, CaseStatus, Pathway, Role, postcode_district};
use crate::error::AppError;
use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;

/// Who may look for care for a patient.
const FIND_CARE: &[Role] = &[Role::Hub];

/// What the page shows (and the API says) when the patient is not awaiting care.
pub const NOT_AWAITING_CARE: &str =
    "Find care once the patient is awaiting care on pathway 1, 2 or 3";

/// An open offer as ranked for one patient.
#[derive(Debug, Clone)]
pub struct RankedOffer {
    pub offer: OfferRow,
    /// The offer covers the patient's postcode district.
    pub covers: bool,
    /// Specialism codes the needs mention and the offer has, in [`super::offers::SPECIALISMS`]
    /// order.
    pub matched: Vec<&'static str>,
    /// When the place could start: the offer's earliest start (or its start), never before now.
    pub starts: DateTime<Utc>,
    /// Not confirmed as still available within the configured time.
    pub stale: bool,
    /// The patient already has a live (pending or accepted) referral to this offer.
    pub referred: bool,
}

/// A patient awaiting care, and the offers ranked for them, best first.
#[derive(Debug, Clone)]
pub struct FindCare {
    pub case: CaseRow,
    pub pathway: Pathway,
    /// The patient's postcode district (outward code).
    pub district: String,
    /// Specialism codes the needs summary mentions.
    pub wanted: Vec<&'static str>,
    pub offers: Vec<RankedOffer>,
}

/// The ranked offers for one patient. Hub only (403 otherwise); a case the caller may not
/// see is a 404; a patient not awaiting care on pathway 1-3 is a 409.
pub async fn for_patient(
    conn: &mut PgConnection,
    caller: &Caller,
    patient_id: PatientId,
    now: DateTime<Utc>,
    stale_after: Duration,
) -> Result<FindCare, AppError> {
    caller.require(FIND_CARE)?;
    let case = case_queries::get(&mut *conn, caller, patient_id).await?;
    let Some(pathway) = case
        .pathway()
        .filter(|_| case.status == CaseStatus::AwaitingCare)
    else {
        return Err(AppError::conflict("not_awaiting_care", NOT_AWAITING_CARE));
    };
    let open = offers::open_on_pathway(&mut *conn, &caller.hub_code, pathway.number(), now).await?;
    let referred: Vec<i64> = referrals::for_patient(&mut *conn, caller, patient_id)
        .await?
        .into_iter()
        .filter(|r| r.status.is_live())
        .map(|r| r.offer_id)
        .collect();
    Ok(FindCare {
        district: postcode_district(&case.postcode),
        wanted: needs_specialisms(&case.needs_summary),
        offers: rank(open, &case, now, stale_after, &referred),
        pathway,
        case,
    })
}

/// Specialisms the needs summary mentions, as codes.
pub fn needs_specialisms(needs: &str) -> Vec<&'static str> {
    let needs = needs.to_lowercase();
    let words: &[(&str, &[&str])] = &[
        ("bariatric", &["bariatric"]),
        ("dementia", &["dementia", "wanders", "confus"]),
        ("behaviour", &["behaviour", "agitat", "aggress"]),
        ("oxygen", &["oxygen", "copd"]),
        (
            "end_of_life",
            &["end of life", "end-of-life", "palliative", "hospice"],
        ),
        (
            "double_handed",
            &["double-handed", "double handed", "two carers", "hoist"],
        ),
    ];
    words
        .iter()
        .filter(|(_, keys)| keys.iter().any(|k| needs.contains(k)))
        .map(|(code, _)| *code)
        .collect()
}

/// Ranks offers for a patient: covers the postcode district, matches the specialisms the
/// needs mention, starts soonest, confirmed most recently; ties keep the offers' order.
/// Offers that cannot take the patient's sex are left out. No I/O.
pub fn rank(
    offers: Vec<OfferRow>,
    case: &CaseRow,
    now: DateTime<Utc>,
    stale_after: Duration,
    referred: &[i64],
) -> Vec<RankedOffer> {
    let district = postcode_district(&case.postcode);
    let wanted = needs_specialisms(&case.needs_summary);
    // (covers the district, specialisms matched, starts, last confirmed, offer)
    type Scored = (bool, usize, DateTime<Utc>, DateTime<Utc>, OfferRow);
    let mut scored: Vec<Scored> = offers
        .into_iter()
        .filter(|o| o.gender == "any" || o.gender == case.sex.as_str())
        .map(|o| {
            let covers = o.covers(&district);
            let matched = wanted
                .iter()
                .filter(|w| o.specialisms.iter().any(|s| s == *w))
                .count();
            let starts = o.earliest_start.unwrap_or(o.available_from).max(now);
            (covers, matched, starts, o.last_confirmed_at, o)
        })
        .collect();
    scored.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(b.1.cmp(&a.1))
            .then(a.2.cmp(&b.2))
            .then(b.3.cmp(&a.3))
    });
    scored
        .into_iter()
        .map(|(covers, _, starts, _, o)| RankedOffer {
            matched: super::offers::SPECIALISMS
                .iter()
                .map(|(c, _)| *c)
                .filter(|c| wanted.contains(c) && o.specialisms.iter().any(|s| s == c))
                .collect(),
            stale: o.is_stale(now, stale_after),
            referred: referred.contains(&o.id),
            covers,
            starts,
            offer: o,
        })
        .collect()
}

/// The label of a specialism code ([`super::offers::SPECIALISMS`]).
pub fn specialism_label(code: &str) -> &'static str {
    super::offers::SPECIALISMS
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, l)| *l)
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OfferStatus, Sex};

    #[test]
    fn needs_mention_specialisms() {
        assert_eq!(
            needs_specialisms("Mild dementia, wanders at night"),
            vec!["dementia"]
        );
        assert_eq!(
            needs_specialisms("COPD on home oxygen; needs a hoist"),
            vec!["oxygen", "double_handed"]
        );
        assert!(needs_specialisms("Independent, needs transport").is_empty());
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn offer(id: i64, area: &[&str], specialisms: &[&str]) -> OfferRow {
        OfferRow {
            id,
            org_code: format!("PRV{id}"),
            org_name: format!("Provider {id}"),
            service_type: "residential".into(),
            service_label: "Residential care bed".into(),
            unit: "bed".into(),
            pathway: 3,
            places: 1,
            places_left: 1,
            available_from: t("2026-11-22T08:00:00Z"),
            available_until: t("2026-11-29T08:00:00Z"),
            area: area.join(", "),
            districts: area.iter().map(|d| d.to_string()).collect(),
            gender: "any".into(),
            specialisms: specialisms.iter().map(|s| s.to_string()).collect(),
            funding: vec![],
            earliest_start: None,
            notes: String::new(),
            status: OfferStatus::Open,
            last_confirmed_at: t("2026-11-22T08:00:00Z"),
            created_at: t("2026-11-22T08:00:00Z"),
            version: 1,
            updated_at: t("2026-11-22T08:00:00Z"),
        }
    }

    fn case(postcode: &str, needs: &str, sex: Sex) -> CaseRow {
        CaseRow {
            id: PatientId(1),
            nhs_number: Some("9434765919".into()),
            nhs_number_status: crate::domain::NhsNumberStatus::Known,
            local_id: None,
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            date_of_birth: chrono::NaiveDate::from_ymd_opt(1941, 3, 2).unwrap_or_default(),
            sex,
            postcode: postcode.into(),
            trust_code: "RHW".into(),
            ward_code: "RHW-AMU".into(),
            ward_name: "Acute Medical Unit".into(),
            bed: "B4".into(),
            admitted_at: t("2026-11-18T09:30:00Z"),
            expected_discharge_date: None,
            needs_summary: needs.into(),
            status: CaseStatus::AwaitingCare,
            pathway: Some(3),
            discharge_ready_at: Some(t("2026-11-20T14:00:00Z")),
            delay_reason: None,
            delay_reason_label: None,
            coordinator_id: None,
            coordinator: None,
            planned_discharge_at: None,
            discharged_at: None,
            closed_reason: None,
            discharge_destination: None,
            discharge_method: None,
            cancel_reason_code: None,
            cancelled_at: None,
            version: 1,
            created_at: t("2026-11-18T09:30:00Z"),
            updated_at: t("2026-11-18T09:30:00Z"),
        }
    }

    #[test]
    fn offers_rank_by_area_then_specialisms_then_start_then_confirmation() {
        let now = t("2026-11-22T10:00:00Z");
        let patient = case("LS9 7TF", "Dementia; needs a hoist", Sex::Female);
        let elsewhere = offer(1, &["LS1"], &["dementia", "double_handed"]);
        let mut later = offer(2, &["LS9"], &[]);
        later.earliest_start = Some(t("2026-11-24T09:00:00Z"));
        let soon = offer(3, &["LS9"], &[]);
        let mut stale = offer(4, &["LS9"], &[]);
        stale.last_confirmed_at = t("2026-11-20T08:00:00Z");
        let one_match = offer(5, &[], &["dementia"]);
        let two_matches = offer(6, &["LS8", "LS9"], &["double_handed", "dementia"]);
        let mut men_only = offer(7, &["LS9"], &["dementia", "double_handed"]);
        men_only.gender = "male".into();
        let ranked = rank(
            vec![
                elsewhere,
                later,
                soon,
                stale,
                one_match,
                two_matches,
                men_only,
            ],
            &patient,
            now,
            Duration::hours(24),
            &[3],
        );
        let ids: Vec<i64> = ranked.iter().map(|r| r.offer.id).collect();
        assert_eq!(ids, vec![6, 5, 3, 4, 2, 1]);
        assert_eq!(ranked[0].matched, vec!["dementia", "double_handed"]);
        assert!(ranked[0].covers && ranked[1].covers && !ranked[5].covers);
        assert_eq!(ranked[2].starts, now, "an offer open now starts now");
        assert_eq!(ranked[4].starts, t("2026-11-24T09:00:00Z"));
        assert!(ranked[3].stale && !ranked[2].stale);
        assert!(ranked[2].referred && !ranked[0].referred);
    }

    #[test]
    fn specialism_labels() {
        assert_eq!(specialism_label("end_of_life"), "End of life care");
        assert_eq!(specialism_label("juggling"), "");
    }
}
