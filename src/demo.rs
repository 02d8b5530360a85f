//! The demo area (`homeward serve --demo`): two acute trusts with eight wards each, a
//! community trust with two community hospital wards, the hub, six providers across the
//! sectors, a second hub with its own trust, users and patients (PRV1 serves both), the CONTRACT's demo users and about 150 patients in every status with
//! histories, coded as the national returns need (hospital numbers, a few patients whose
//! NHS number is not known, a few under 18, discharge destinations and methods, coded
//! cancellations). Cases are made through the same commands the pages use, on
//! a clock set back in time, so their histories are real. Loading is idempotent and guarded
//! by an advisory lock, so two servers starting together load it once.

use crate::accounts::users::{self, NewUser};
use crate::domain::Caller;
use crate::domain::time::Clock;
use crate::domain::{CancelReason, NhsNumber, Pathway, Role};
use crate::patients::commands::{self, CriteriaChange, CtrCodeRule, DetailsChange};
use crate::patients::model::NewCaseDraft;
use crate::state::AppState;
use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

pub const DEMO_PASSWORD: &str = "homeward-demo";
const LOCK_KEY: i64 = 0x686f_6d65_7761_7264; // "homeward"

const ORGS: &[(&str, &str, &str, &str)] = &[
    (
        "RHW",
        "Royal Hartwell Hospitals NHS Trust",
        "nhs_acute",
        "acute_trust",
    ),
    (
        "RXX",
        "Riverside and Exmoor Hospitals NHS Foundation Trust",
        "nhs_acute",
        "acute_trust",
    ),
    (
        "RYE",
        "Exmoor Community Hospitals NHS Trust",
        "nhs_community",
        "acute_trust",
    ),
    (
        "HUB",
        "Hartwell and Riverside Transfer of Care Hub",
        "local_authority",
        "hub",
    ),
    (
        "PRV1",
        "Meadowbank Care Homes Group",
        "independent",
        "provider",
    ),
    (
        "PRV2",
        "Homeward Bound Home Care Agency",
        "independent",
        "provider",
    ),
    (
        "PRV3",
        "Hartwell Community Health NHS Trust",
        "nhs_community",
        "provider",
    ),
    (
        "PRV4",
        "Hartwell City Council Reablement Service",
        "local_authority",
        "provider",
    ),
    ("PRV5", "St Columba's Hospice", "hospice", "provider"),
    (
        "PRV6",
        "Good Neighbours Home from Hospital",
        "voluntary",
        "provider",
    ),
];

const SITES: &[(&str, &str, &str)] = &[
    ("RHW01", "RHW", "Hartwell General Hospital"),
    ("RHW02", "RHW", "St Anne's Hospital"),
    ("RXX01", "RXX", "Riverside Infirmary"),
    ("RYE01", "RYE", "Exmoor Community Hospital"),
];

const WARDS: &[(&str, &str, &str)] = &[
    ("RHW-AMU", "RHW01", "Acute Medical Unit"),
    ("RHW-W10", "RHW01", "Ward 10 (Care of the Elderly)"),
    ("RHW-W12", "RHW01", "Ward 12 (Respiratory)"),
    ("RHW-W14", "RHW01", "Ward 14 (Orthopaedics)"),
    ("RHW-W16", "RHW01", "Ward 16 (Stroke)"),
    ("RHW-W18", "RHW02", "Ward 18 (General Medicine)"),
    ("RHW-W20", "RHW02", "Ward 20 (Frailty)"),
    ("RHW-W22", "RHW02", "Ward 22 (Surgery)"),
    ("RXX-W01", "RXX01", "Ward 1 (Admissions)"),
    ("RXX-W02", "RXX01", "Ward 2 (Elderly Care)"),
    ("RXX-W03", "RXX01", "Ward 3 (Cardiology)"),
    ("RXX-W04", "RXX01", "Ward 4 (Trauma)"),
    ("RXX-W05", "RXX01", "Ward 5 (Gastroenterology)"),
    ("RXX-W06", "RXX01", "Ward 6 (Respiratory)"),
    ("RXX-W07", "RXX01", "Ward 7 (Stroke Rehabilitation)"),
    ("RXX-W08", "RXX01", "Ward 8 (General Surgery)"),
    ("RYE-W01", "RYE01", "Exe Ward (Rehabilitation)"),
    ("RYE-W02", "RYE01", "Barle Ward (Frailty)"),
];

/// The hospital feed's location mapping (CONTRACT.md "Hospital feed"): sending facility
/// (MSH-4) and point of care (PV1-3.1) to a ward.
const HL7_LOCATIONS: &[(&str, &str, &str)] = &[
    ("RHW", "AMU", "RHW-AMU"),
    ("RHW", "W10", "RHW-W10"),
    ("RHW", "W12", "RHW-W12"),
];

const USERS: &[(&str, &str, Role, &str)] = &[
    ("ward.demo", "Sam Patel (Ward Sister)", Role::Ward, "RHW"),
    (
        "ward2.demo",
        "Morgan Hughes (Discharge Nurse)",
        Role::Ward,
        "RXX",
    ),
    (
        "hub.demo",
        "Alex Carter (Hub Coordinator)",
        Role::Hub,
        "HUB",
    ),
    (
        "provider.demo",
        "Jo Okafor (Meadowbank Admissions)",
        Role::Provider,
        "PRV1",
    ),
    (
        "provider2.demo",
        "Chris Nowak (Homeward Bound Care)",
        Role::Provider,
        "PRV2",
    ),
    (
        "admin.demo",
        "Pat Lee (Hub Administrator)",
        Role::Admin,
        "HUB",
    ),
    (
        "provider3.demo",
        "Dev Sharma (Community Beds)",
        Role::Provider,
        "PRV3",
    ),
    (
        "provider4.demo",
        "Lou Evans (Reablement Lead)",
        Role::Provider,
        "PRV4",
    ),
    (
        "provider5.demo",
        "Ruth Adeyemi (Hospice)",
        Role::Provider,
        "PRV5",
    ),
    (
        "provider6.demo",
        "Ben Walsh (Home from Hospital)",
        Role::Provider,
        "PRV6",
    ),
];

/// The demo area's offers: (organisation, capacity type, places, area, specialisms, gender).
type DemoOffer = (
    &'static str,
    &'static str,
    i32,
    &'static str,
    &'static [&'static str],
    &'static str,
);
const OFFERS: &[DemoOffer] = &[
    (
        "PRV1",
        "residential",
        8,
        "LS6, LS7, LS8, LS9, LS10, LS11",
        &["dementia"],
        "any",
    ),
    (
        "PRV1",
        "nursing",
        6,
        "LS8, LS9, LS12, LS13, LS14, LS15",
        &["oxygen", "end_of_life"],
        "any",
    ),
    (
        "PRV1",
        "nursing_dementia",
        4,
        "LS9, LS14, LS15, LS25, LS26",
        &["dementia", "behaviour"],
        "female",
    ),
    (
        "PRV1",
        "step_down_bed",
        10,
        "LS6, LS7, LS8, LS9, LS10, LS11, LS12, LS13",
        &["double_handed"],
        "any",
    ),
    (
        "PRV2",
        "home_care",
        14,
        "LS6, LS7, LS8, LS9, LS10, LS11, LS12, LS13, LS14, LS15, LS17",
        &["double_handed"],
        "any",
    ),
    ("PRV2", "live_in_care", 3, "", &["dementia"], "any"),
    (
        "PRV3",
        "community_bed",
        10,
        "",
        &["oxygen", "bariatric"],
        "any",
    ),
    (
        "PRV3",
        "rehab_at_home",
        10,
        "LS6, LS7, LS8, LS9, LS10, LS11, LS12, LS13, LS14, LS15",
        &[],
        "any",
    ),
    ("PRV3", "virtual_ward", 12, "", &["oxygen"], "any"),
    (
        "PRV4",
        "reablement",
        14,
        "LS6, LS7, LS8, LS9, LS10, LS11, LS12, LS13, LS14, LS15, LS17, LS25, LS26, WF1, WF3, BD3",
        &[],
        "any",
    ),
    ("PRV5", "hospice_bed", 4, "", &["end_of_life"], "any"),
    ("PRV6", "home_care", 4, "LS9, LS14, LS15", &[], "any"),
];

/// The demo area's directory: (organisation, name, types, area, criteria, contact, hours).
type DemoService = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);
const SERVICES: &[DemoService] = &[
    (
        "PRV1",
        "Meadowbank House",
        &["residential", "residential_dementia", "step_down_bed"],
        "LS6, LS7, LS8, LS9, LS10, LS11",
        "Adults over 65. Residential and dementia care; step-down beds for discharge to assess. No nursing needs.",
        "0113 496 0101, admissions@meadowbank.example",
        "Admissions 8am to 8pm, 7 days",
    ),
    (
        "PRV1",
        "Oak House Nursing",
        &["nursing", "nursing_dementia"],
        "LS9, LS12, LS13, LS14, LS15",
        "Nursing and EMI nursing, oxygen, end of life care. Assessment within 24 hours of referral.",
        "0113 496 0102",
        "24 hours",
    ),
    (
        "PRV2",
        "Homeward Bound Home Care",
        &["home_care", "live_in_care"],
        "LS6 to LS17",
        "Packages from 1 to 4 calls a day, double-handed calls, live-in care. CQC rated Good.",
        "0113 496 0200, referrals@homewardbound.example",
        "Office 8am to 6pm; care 7am to 10pm",
    ),
    (
        "PRV3",
        "Hartwell Community Hospital",
        &["community_bed", "rehab_at_home", "virtual_ward"],
        "",
        "Adults needing therapy-led rehabilitation. Bariatric equipment available. Virtual ward for frailty and respiratory.",
        "0113 496 0300",
        "24 hours",
    ),
    (
        "PRV4",
        "Hartwell Reablement Service",
        &["reablement"],
        "All Hartwell districts",
        "Up to six weeks of free reablement at home for people who can regain independence.",
        "0113 496 0400, reablement@hartwell.example",
        "7am to 10pm, 7 days",
    ),
    (
        "PRV5",
        "St Columba's Hospice",
        &["hospice_bed"],
        "",
        "Specialist palliative care for adults with a life-limiting illness.",
        "0113 496 0500",
        "24 hours",
    ),
    (
        "PRV6",
        "Good Neighbours Home from Hospital",
        &["home_care"],
        "LS9, LS14, LS15",
        "Volunteers who settle people home: shopping, prescriptions, a warm house, check-in calls for six weeks.",
        "0113 496 0600",
        "9am to 5pm, Monday to Saturday",
    ),
];

const DECLINES: &[&str] = &[
    "no_capacity",
    "needs_too_high",
    "outside_area",
    "funding",
    "staffing",
];

const FEMALE: &[&str] = &[
    "Margaret", "Joan", "Dorothy", "Patricia", "Sheila", "Irene", "Jean", "Barbara", "Eileen",
    "Doreen", "Brenda", "Maureen", "Pauline", "Valerie", "Elsie", "Gwen", "Nora", "Priya", "Amina",
    "Grace",
];
const MALE: &[&str] = &[
    "John", "Peter", "David", "Michael", "Brian", "Kenneth", "Roy", "Derek", "Alan", "Keith",
    "Raymond", "Frank", "Stanley", "Trevor", "Harold", "Arthur", "Bernard", "Tariq", "Winston",
    "Colin",
];
const FAMILY: &[&str] = &[
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson",
    "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood",
    "Jackson", "Clarke", "Patel", "Khan", "Lewis", "Harrison", "Cooper", "Ward", "Turner", "Hill",
    "Moore", "Hussain", "Kelly", "Baker", "Morris", "Bennett", "Shaw", "Atkinson", "Holmes",
    "Fletcher", "Pearson", "Begum",
];
const DISTRICTS: &[&str] = &[
    "LS6", "LS7", "LS8", "LS9", "LS10", "LS11", "LS12", "LS13", "LS14", "LS15", "LS17", "LS25",
    "LS26", "WF1", "WF3", "BD3",
];
const NEEDS: &[&str] = &[
    "Lives alone. Needs help with washing and dressing twice a day after a fall; mobile with a frame.",
    "Post hip fracture. Needs a double-handed package of care four times a day for the first fortnight.",
    "Mild dementia, wanders at night. Family no longer able to cope; needs a residential dementia placement.",
    "COPD on home oxygen. Needs reablement to regain confidence on stairs; key safe already fitted.",
    "Stroke with left-sided weakness. Needs a rehabilitation bed with daily physiotherapy.",
    "Frail, recurrent falls. Needs a short-term step-down bed while a home assessment is arranged.",
    "Advanced heart failure, end of life care likely in weeks. Family wish for a hospice or nursing bed.",
    "Independent before admission. Needs medicines to take home and transport only.",
    "Diabetic, needs insulin given by district nurses twice daily and a meals check at lunch.",
    "Bariatric: needs a profiling bed and hoist. Existing carers can restart from Monday.",
    "Delirium resolving. Needs a period of 24-hour care; husband is main carer and unwell himself.",
    "Parkinson's disease. Time-critical medicines; needs a care home able to give them on time.",
];
const BEDS: &[&str] = &[
    "A1", "A2", "A3", "A4", "B1", "B2", "B3", "B4", "C1", "C2", "C3", "SR1", "SR2",
];

/// Loads the demo area unless it is already there.
pub async fn load(state: &AppState) -> anyhow::Result<()> {
    // a session lock: on a direct connection when the pool goes through a transaction pooler
    let mut lock = state.direct.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *lock)
        .await?;
    let mut result = load_locked(state).await;
    if result.is_ok() {
        // also on a demo area loaded before the hospital feed existed
        result = hl7_locations(state).await;
    }
    if result.is_ok() {
        // also on a demo area loaded before Homeward held several hubs
        result = second_hub(state).await;
    }
    // the demo area adds trusts and wards: read them again now rather than when the
    // database's announcement arrives
    state.reference.invalidate();
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *lock)
        .await?;
    result
}

async fn load_locked(state: &AppState) -> anyhow::Result<()> {
    let loaded: Option<(String,)> =
        sqlx::query_as("SELECT value FROM installation WHERE key = 'demo_loaded_at'")
            .fetch_optional(&state.pool)
            .await?;
    if loaded.is_some() {
        tracing::warn!(
            "demo data is present (loaded earlier); demo users have the password {DEMO_PASSWORD}"
        );
        return Ok(());
    }
    tracing::warn!(
        "loading DEMO DATA: fictional patients, and demo users whose password is {DEMO_PASSWORD}"
    );
    for (code, name, sector, kind) in ORGS {
        sqlx::query("INSERT INTO organisations (code, name, sector, kind) VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING")
            .bind(code).bind(name).bind(sector).bind(kind)
            .execute(&state.pool).await?;
    }
    for (code, org, name) in SITES {
        sqlx::query(
            "INSERT INTO sites (code, org_code, name) VALUES ($1,$2,$3) ON CONFLICT DO NOTHING",
        )
        .bind(code)
        .bind(org)
        .bind(name)
        .execute(&state.pool)
        .await?;
    }
    for (code, site, name) in WARDS {
        sqlx::query("INSERT INTO wards (code, site_code, org_code, name) SELECT $1, $2, s.org_code, $3 FROM sites s WHERE s.code = $2 ON CONFLICT DO NOTHING")
            .bind(code).bind(site).bind(name)
            .execute(&state.pool).await?;
    }
    for (username, display, role, org) in USERS {
        if users::by_username(&state.pool, username)
            .await
            .map_err(anyhow_app)?
            .is_some()
        {
            continue;
        }
        users::create(
            &state.pool,
            None,
            NewUser {
                username: username.to_string(),
                display_name: display.to_string(),
                role: *role,
                org_code: org.to_string(),
                password: DEMO_PASSWORD.to_string(),
            },
        )
        .await
        .map_err(anyhow_app)?;
    }
    let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM patients")
        .fetch_one(&state.pool)
        .await?;
    if existing == 0 {
        patients(state).await?;
        // the demo's hub and ward users have opened every case once: what providers decided
        // before today is not news, what they decide from now on is
        sqlx::query(
            "INSERT INTO case_reads (user_id, patient_id, seen_at) \
             SELECT u.id, p.id, $1 - interval '12 hours' FROM users u JOIN patients p \
               ON (u.role = 'hub' AND u.org_code = p.hub_code) \
                  OR (u.role = 'ward' AND u.org_code = p.trust_code) \
             ON CONFLICT DO NOTHING",
        )
        .bind(state.clock.now())
        .execute(&state.pool)
        .await?;
    }
    sqlx::query("INSERT INTO installation (key, value) VALUES ('demo_loaded_at', now()::text) ON CONFLICT DO NOTHING")
        .execute(&state.pool)
        .await?;
    Ok(())
}

/// The second hub (CONTRACT.md "Several hubs"): its own acute trust, wards, users and
/// patients; PRV1 serves both hubs.
const HUB2_ORGS: &[(&str, &str, &str, &str)] = &[
    (
        "HUB2",
        "Northfield Transfer of Care Hub",
        "local_authority",
        "hub",
    ),
    (
        "RZZ",
        "Northfield General Hospital NHS Trust",
        "nhs_acute",
        "acute_trust",
    ),
];
const HUB2_WARDS: &[(&str, &str)] = &[
    ("RZZ-W01", "Ward 1 (Acute Medicine)"),
    ("RZZ-W02", "Ward 2 (Care of the Elderly)"),
    ("RZZ-W03", "Ward 3 (Orthopaedics)"),
    ("RZZ-W04", "Ward 4 (Stroke)"),
];
const HUB2_USERS: &[(&str, &str, Role, &str)] = &[
    (
        "hub2.demo",
        "Robin Shah (Northfield Hub Coordinator)",
        Role::Hub,
        "HUB2",
    ),
    (
        "ward3.demo",
        "Casey Ford (Northfield Ward Manager)",
        Role::Ward,
        "RZZ",
    ),
    (
        "admin2.demo",
        "Jamie Price (Northfield Hub Administrator)",
        Role::Admin,
        "HUB2",
    ),
];

/// Adds the second hub unless it is there.
async fn second_hub(state: &AppState) -> anyhow::Result<()> {
    let present: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM users WHERE username = 'hub2.demo'")
            .fetch_optional(&state.pool)
            .await?;
    if present.is_some() {
        return Ok(());
    }
    for (code, name, sector, kind) in HUB2_ORGS {
        sqlx::query(
            "INSERT INTO organisations (code, name, sector, kind, hub_code) \
             VALUES ($1, $2, $3, $4, 'HUB2') ON CONFLICT DO NOTHING",
        )
        .bind(code)
        .bind(name)
        .bind(sector)
        .bind(kind)
        .execute(&state.pool)
        .await?;
    }
    sqlx::query(
        "INSERT INTO hub_providers (hub_code, provider_code) \
         SELECT 'HUB2', code FROM organisations WHERE code = 'PRV1' ON CONFLICT DO NOTHING",
    )
    .execute(&state.pool)
    .await?;
    sqlx::query(
        "INSERT INTO sites (code, org_code, name) VALUES ('RZZ01', 'RZZ', 'Northfield General Hospital') \
         ON CONFLICT DO NOTHING",
    )
    .execute(&state.pool)
    .await?;
    for (code, name) in HUB2_WARDS {
        sqlx::query(
            "INSERT INTO wards (code, site_code, org_code, name) VALUES ($1, 'RZZ01', 'RZZ', $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(code)
        .bind(name)
        .execute(&state.pool)
        .await?;
    }
    for (username, display, role, org) in HUB2_USERS {
        users::create(
            &state.pool,
            None,
            NewUser {
                username: username.to_string(),
                display_name: display.to_string(),
                role: *role,
                org_code: org.to_string(),
                password: DEMO_PASSWORD.to_string(),
            },
        )
        .await
        .map_err(anyhow_app)?;
    }
    state.reference.invalidate();
    hub2_patients(state).await
}

/// A smaller board for the second hub: waiting patients on each pathway, a few referred to
/// PRV1 (which serves both hubs), one of them accepted.
async fn hub2_patients(state: &AppState) -> anyhow::Result<()> {
    let real_now = state.clock.now();
    let clock = Clock::fixed(real_now);
    let demo = AppState {
        clock: clock.clone(),
        ..state.clone()
    };
    let ward = caller(state, "ward3.demo").await?;
    let hub = caller(state, "hub2.demo").await?;
    let provider = caller(state, "provider.demo").await?;
    let mut rng = StdRng::seed_from_u64(20261130);
    for i in 0..18_i64 {
        let female = rng.random_bool(0.55);
        let given = if female { FEMALE } else { MALE }
            .choose(&mut rng)
            .copied()
            .unwrap_or("Sam");
        let ready_at = real_now - Duration::hours(rng.random_range(2..200));
        let admitted_at = ready_at - Duration::hours(rng.random_range(24..10 * 24));
        let ward_code = HUB2_WARDS
            .choose(&mut rng)
            .map(|w| w.0)
            .unwrap_or("RZZ-W01");
        let draft = NewCaseDraft {
            nhs_number: random_nhs_number(&mut rng).to_string(),
            nhs_number_status: "known".to_string(),
            local_id: format!("N{:06}", 500_000 + i * 41),
            given_name: given.to_string(),
            family_name: FAMILY
                .choose(&mut rng)
                .copied()
                .unwrap_or("Smith")
                .to_string(),
            date_of_birth: (real_now - Duration::days(rng.random_range(60..95) * 365))
                .date_naive()
                .format("%Y-%m-%d")
                .to_string(),
            sex: if female { "female" } else { "male" }.to_string(),
            postcode: random_postcode(&mut rng),
            ward_code: ward_code.to_string(),
            bed: BEDS.choose(&mut rng).copied().unwrap_or("A1").to_string(),
            admitted_at: Some(admitted_at),
            discharge_ready_at: None,
            expected_discharge_date: String::new(),
            needs_summary: NEEDS
                .choose(&mut rng)
                .copied()
                .unwrap_or_default()
                .to_string(),
        };
        clock.set(admitted_at + Duration::hours(2));
        let new = draft
            .validate(clock.now(), crate::error::FieldErrors::new())
            .map_err(|e| anyhow_app(crate::error::AppError::Validation(e)))?;
        let id = commands::flag(&demo, &ward, new)
            .await
            .map_err(anyhow_app)?
            .id;
        if i % 6 == 5 {
            continue; // still meets the criteria: on the ward list only
        }
        clock.set(ready_at + Duration::minutes(20));
        commands::record_criteria(
            &demo,
            &ward,
            id,
            None,
            CriteriaChange {
                meets_criteria: false,
                at: Some(ready_at),
                ctr_code: None,
                ctr_code_rule: CtrCodeRule::Optional,
            },
        )
        .await
        .map_err(anyhow_app)?;
        if i % 3 == 0 {
            continue; // awaiting triage
        }
        let waited = real_now - ready_at;
        clock.set(ready_at + waited / 4);
        let pathway = if i % 3 == 1 { 3 } else { 2 };
        commands::take_ownership(&demo, &hub, id, None)
            .await
            .map_err(anyhow_app)?;
        commands::choose_pathway(
            &demo,
            &hub,
            id,
            None,
            Pathway::new(pathway).context("pathway")?,
        )
        .await
        .map_err(anyhow_app)?;
        commands::set_delay_reason(
            &demo,
            &hub,
            id,
            None,
            if pathway == 3 {
                "p3_placement"
            } else {
                "p2_bed"
            },
        )
        .await
        .map_err(anyhow_app)?;
        if i % 4 != 1 {
            continue;
        }
        clock.set(ready_at + waited / 2);
        let open = crate::market::offers::open_on_pathway(
            &state.pool,
            "HUB2",
            pathway as i16,
            clock.now(),
        )
        .await
        .map_err(anyhow_app)?;
        let Some(offer) = open.first() else { continue };
        let made = crate::market::commands::refer(&demo, &hub, id, &[offer.id])
            .await
            .map_err(anyhow_app)?;
        if i == 13 {
            let first = made.first().context("a referral")?;
            clock.set(ready_at + waited * 3 / 4);
            crate::market::commands::decide(
                &demo,
                &provider,
                first.id,
                crate::market::commands::Decision::Accept {
                    admission_date: None,
                    contact: String::new(),
                },
            )
            .await
            .map_err(anyhow_app)?;
        }
    }
    Ok(())
}

/// The demo's hospital feed mapping, added whenever missing (its wards are the demo's own).
async fn hl7_locations(state: &AppState) -> anyhow::Result<()> {
    // the hospital feed: RHW's patient administration system names these locations
    for (facility, point_of_care, ward) in HL7_LOCATIONS {
        sqlx::query(
            "INSERT INTO hl7_locations (sending_facility, point_of_care, ward_code) \
             SELECT $1, $2, code FROM wards WHERE code = $3 ON CONFLICT DO NOTHING",
        )
        .bind(facility)
        .bind(point_of_care)
        .bind(ward)
        .execute(&state.pool)
        .await?;
    }
    Ok(())
}

fn anyhow_app(e: crate::error::AppError) -> anyhow::Error {
    match e {
        crate::error::AppError::Validation(f) => anyhow::anyhow!(
            "demo data invalid: {}",
            f.iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        crate::error::AppError::Internal(inner) => inner,
        other => anyhow::anyhow!("{other}"),
    }
}

async fn caller(state: &AppState, username: &str) -> anyhow::Result<Caller> {
    users::by_username(&state.pool, username)
        .await
        .map_err(anyhow_app)?
        .context("demo user missing")
        .map(|u| u.caller())
}

/// What happens to one demo patient.
#[derive(Clone, Copy, Debug)]
enum Fate {
    Planning,
    AwaitingTriage,
    AwaitingCare,
    CareArranged,
    ReadyToGo,
    Discharged,
    Cancelled,
    /// Not meeting, then deteriorated and met the criteria again (still in hospital).
    Deteriorated,
}

fn random_nhs_number(rng: &mut StdRng) -> NhsNumber {
    loop {
        // 999 numbers are the NHS's range for test patients
        let mut prefix = [9, 9, 9, 0, 0, 0, 0, 0, 0];
        for d in prefix.iter_mut().skip(3) {
            *d = rng.random_range(0..10);
        }
        if let Some(n) = NhsNumber::from_prefix(prefix) {
            return n;
        }
    }
}

fn random_postcode(rng: &mut StdRng) -> String {
    const LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";
    let district = DISTRICTS.choose(rng).copied().unwrap_or("LS9");
    let a = LETTERS[rng.random_range(0..LETTERS.len())] as char;
    let b = LETTERS[rng.random_range(0..LETTERS.len())] as char;
    format!("{district} {}{a}{b}", rng.random_range(1..10))
}

/// Where a demo patient on `pathway` went, and how they left: mostly the usual destination
/// of the pathway, sometimes another of its categories, and now and then a death (method
/// 4, no destination).
fn demo_destination(
    pathway: i64,
    community: bool,
    rng: &mut StdRng,
) -> (Option<&'static str>, &'static str) {
    if rng.random_bool(0.04) {
        return (None, crate::domain::discharge::METHOD_DIED);
    }
    let choices: &[&str] = match (community, pathway) {
        (false, 0) => &["p0_home", "p0_home", "p0_home", "p0_other"],
        (false, 1) => &["p1_home", "p1_home", "p1_home", "p1_other"],
        (false, 2) => &[
            "p2_care_home",
            "p2_community_rehab",
            "p2_community_rehab",
            "p2_hospice",
        ],
        (false, _) => &["p3_care_home", "p3_care_home", "p3b_care_home"],
        (true, 0) => &["cp0_home", "cp0_home", "cp0_extra_care"],
        (true, 1) => &["cp1_rehab", "cp1_rehab", "cp1_long_term_care"],
        (true, 2) => &["cp2_rehab", "cp2_end_of_life"],
        (true, _) => &["cp3_long_term_care", "cp3b_care_home"],
    };
    (
        choices.choose(rng).copied(),
        crate::domain::discharge::METHOD_CLINICAL_ADVICE,
    )
}

async fn patients(state: &AppState) -> anyhow::Result<()> {
    let real_now = state.clock.now();
    let clock = Clock::fixed(real_now);
    let demo = AppState {
        clock: clock.clone(),
        ..state.clone()
    };
    let ward = caller(state, "ward.demo").await?;
    let ward2 = caller(state, "ward2.demo").await?;
    let hub = caller(state, "hub.demo").await?;
    let reasons: Vec<String> = crate::reference::delay_reasons(&state.pool)
        .await
        .map_err(anyhow_app)?
        .into_iter()
        .map(|r| r.code)
        .collect();
    let ctr_codes = ["01", "02", "03", "04", "06", "08"];
    let mut providers = std::collections::HashMap::new();
    for (username, _, role, org) in USERS {
        if *role == Role::Provider {
            providers.insert(org.to_string(), caller(state, username).await?);
        }
    }
    for (org, name, types, area, criteria, contact, hours) in SERVICES {
        let provider = providers.get(*org).context("demo provider")?;
        crate::directory::save(
            &demo,
            provider,
            None,
            crate::directory::ServiceDraft {
                name: name.to_string(),
                service_types: types.iter().map(|t| t.to_string()).collect(),
                area: area.to_string(),
                criteria: criteria.to_string(),
                contact: contact.to_string(),
                hours: hours.to_string(),
            },
        )
        .await
        .map_err(anyhow_app)?;
    }
    // offers posted forty days ago, open for another fortnight, confirmed at various times
    let posted = real_now - Duration::days(40);
    clock.set(posted);
    for (i, (org, kind, places, area, specialisms, gender)) in OFFERS.iter().enumerate() {
        let provider = providers.get(*org).context("demo provider")?;
        let offer = crate::market::commands::create_offer(
            &demo,
            provider,
            crate::market::offers::NewOffer {
                service_type: kind.to_string(),
                places: *places,
                available_from: posted,
                available_until: real_now + Duration::days(14),
                area: area.to_string(),
                gender: gender.to_string(),
                specialisms: specialisms.iter().map(|s| s.to_string()).collect(),
                funding: vec!["nhs_d2a".into(), "council".into()],
                earliest_start: None,
                notes: String::new(),
            },
        )
        .await
        .map_err(anyhow_app)?;
        // most confirmed this morning; a few not for two days (stale)
        let confirmed = if i % 5 == 4 {
            real_now - Duration::hours(50)
        } else {
            real_now - Duration::hours(i as i64 % 6 + 1)
        };
        sqlx::query("UPDATE capacity_offers SET last_confirmed_at = $2 WHERE id = $1")
            .bind(offer.id)
            .bind(confirmed)
            .execute(&state.pool)
            .await?;
    }
    let mut rng = StdRng::seed_from_u64(20261122);
    let mut fates = vec![];
    for (fate, n) in [
        (Fate::Planning, 28),
        (Fate::AwaitingTriage, 22),
        (Fate::AwaitingCare, 38),
        (Fate::CareArranged, 12),
        (Fate::ReadyToGo, 16),
        (Fate::Discharged, 24),
        (Fate::Cancelled, 5),
        (Fate::Deteriorated, 5),
    ] {
        fates.extend(std::iter::repeat_n(fate, n));
    }
    for (i, fate) in fates.into_iter().enumerate() {
        let at = |t: DateTime<Utc>| {
            clock.set(t.min(real_now));
        };
        // one patient in twelve is in the community trust's beds, flagged by the hub
        let community = i % 12 == 11;
        let (flagger, wards, hospital_prefix): (&Caller, &[(&str, &str, &str)], &str) = if community
        {
            (&hub, &WARDS[16..], "E")
        } else if i % 3 == 2 {
            (&ward2, &WARDS[8..16], "R")
        } else {
            (&ward, &WARDS[..8], "H")
        };
        let ward_code = wards.choose(&mut rng).map(|w| w.0).unwrap_or("RHW-AMU");
        let female = rng.random_bool(0.55);
        let given = if female {
            FEMALE.choose(&mut rng)
        } else {
            MALE.choose(&mut rng)
        }
        .copied()
        .unwrap_or("Sam");
        // a few young people, whom the national returns (adults only) leave out
        let age_years = if i % 45 == 20 {
            rng.random_range(16..18)
        } else {
            rng.random_range(58..99)
        };
        let dob =
            (real_now - Duration::days(age_years * 365 + rng.random_range(0..365))).date_naive();
        let nctr = !matches!(fate, Fate::Planning);
        // Most patients have waited hours or a few days since they were ready; a long tail
        // has waited weeks, as on any real board.
        let waited_hours = match rng.random_range(0..100) {
            0..=44 => rng.random_range(1..48),
            45..=84 => rng.random_range(48..240),
            _ => rng.random_range(240..800),
        };
        let ready_at =
            real_now - Duration::hours(waited_hours) - Duration::minutes(rng.random_range(0..60));
        let admitted_at = if nctr {
            ready_at - Duration::hours(rng.random_range(24..14 * 24))
        } else {
            real_now - Duration::hours(rng.random_range(6..10 * 24))
        };
        let pathway = match rng.random_range(0..100) {
            0..=44 => 1,
            45..=79 => 2,
            _ => 3,
        };
        // a few patients arrive without a known NHS number: the hospital number identifies them
        let nhs_known = i % 37 != 5;
        let nhs_number = random_nhs_number(&mut rng).to_string();
        let draft = NewCaseDraft {
            nhs_number: if nhs_known { nhs_number } else { String::new() },
            nhs_number_status: if nhs_known { "known" } else { "unknown" }.to_string(),
            local_id: format!("{hospital_prefix}{:06}", 300_000 + i * 37),
            given_name: given.to_string(),
            family_name: FAMILY
                .choose(&mut rng)
                .copied()
                .unwrap_or("Smith")
                .to_string(),
            date_of_birth: dob.format("%Y-%m-%d").to_string(),
            sex: if female { "female" } else { "male" }.to_string(),
            postcode: random_postcode(&mut rng),
            ward_code: ward_code.to_string(),
            bed: BEDS.choose(&mut rng).copied().unwrap_or("A1").to_string(),
            admitted_at: Some(admitted_at),
            discharge_ready_at: None,
            expected_discharge_date: (admitted_at + Duration::days(rng.random_range(3..15)))
                .date_naive()
                .format("%Y-%m-%d")
                .to_string(),
            needs_summary: NEEDS
                .choose(&mut rng)
                .copied()
                .unwrap_or_default()
                .to_string(),
        };
        at(admitted_at + Duration::hours(2));
        let new = draft
            .validate(clock.now(), crate::error::FieldErrors::new())
            .map_err(|e| anyhow_app(crate::error::AppError::Validation(e)))?;
        let case = commands::flag(&demo, flagger, new)
            .await
            .map_err(anyhow_app)?;
        let id = case.id;
        if !nctr {
            continue;
        }
        at(ready_at + Duration::minutes(20));
        commands::record_criteria(
            &demo,
            flagger,
            id,
            None,
            CriteriaChange {
                meets_criteria: false,
                at: Some(ready_at),
                ctr_code: None,
                ctr_code_rule: CtrCodeRule::Optional,
            },
        )
        .await
        .map_err(anyhow_app)?;
        let waited = real_now - ready_at;
        let step = |k: i64| ready_at + waited * (k as i32) / 10;
        if matches!(fate, Fate::AwaitingTriage) {
            if rng.random_bool(0.6) {
                at(step(3));
                let code = if rng.random_bool(0.5) {
                    "referral_to_hub"
                } else {
                    "medical_decision"
                };
                commands::set_delay_reason(&demo, flagger, id, None, code)
                    .await
                    .map_err(anyhow_app)?;
            }
            continue;
        }
        if matches!(fate, Fate::Deteriorated) {
            at(step(4));
            commands::record_criteria(
                &demo,
                flagger,
                id,
                None,
                CriteriaChange {
                    meets_criteria: true,
                    at: Some(step(4)),
                    ctr_code: ctr_codes.choose(&mut rng).map(|c| c.to_string()),
                    ctr_code_rule: CtrCodeRule::Optional,
                },
            )
            .await
            .map_err(anyhow_app)?;
            continue;
        }
        at(step(2));
        commands::take_ownership(&demo, &hub, id, None)
            .await
            .map_err(anyhow_app)?;
        if matches!(fate, Fate::Cancelled) {
            at(step(5));
            let (code, reason) = [
                (CancelReason::Died, ""),
                (
                    CancelReason::TransferredOut,
                    "Transferred to the regional cardiac centre",
                ),
                (CancelReason::SelfDischarged, "Left against advice"),
                (CancelReason::Other, "Case opened twice in error"),
            ]
            .choose(&mut rng)
            .copied()
            .unwrap_or((CancelReason::Died, ""));
            commands::cancel(&demo, &hub, id, None, Some(code), reason)
                .await
                .map_err(anyhow_app)?;
            continue;
        }
        let chosen = if matches!(fate, Fate::ReadyToGo) && rng.random_bool(0.5) {
            0
        } else {
            pathway
        };
        let chosen = if matches!(fate, Fate::Discharged) && rng.random_bool(0.4) {
            0
        } else {
            chosen
        };
        at(step(3));
        let p = Pathway::new(chosen).context("pathway")?;
        commands::choose_pathway(&demo, &hub, id, None, p)
            .await
            .map_err(anyhow_app)?;
        if chosen > 0 {
            let reason = match chosen {
                1 => {
                    if rng.random_bool(0.7) {
                        "p1_new_care"
                    } else {
                        "p1_continued_rehab"
                    }
                }
                2 => "p2_bed",
                _ => {
                    if rng.random_bool(0.8) {
                        "p3_placement"
                    } else {
                        "p3_end_of_life"
                    }
                }
            };
            let reason = if rng.random_bool(0.15) {
                reasons
                    .choose(&mut rng)
                    .map(String::as_str)
                    .unwrap_or(reason)
            } else {
                reason
            };
            at(step(4));
            commands::set_delay_reason(&demo, &hub, id, None, reason)
                .await
                .map_err(anyhow_app)?;
            // a care home placement waiting for weeks: the patient had the choice letter and
            // its deadline has passed without an outcome (the hub's "Choice deadlines passed")
            if chosen == 3 && matches!(fate, Fate::AwaitingCare) && waited > Duration::days(16) {
                use crate::choice::{ChoiceStep, record};
                at(step(4) + Duration::minutes(30));
                record(&demo, &hub, id, None, ChoiceStep::InformationGiven)
                    .await
                    .map_err(anyhow_app)?;
                let options = vec![
                    "Meadowbank House, residential, LS9".to_string(),
                    "Oak Lodge, residential, LS14".to_string(),
                ];
                record(&demo, &hub, id, None, ChoiceStep::Letter { options })
                    .await
                    .map_err(anyhow_app)?;
            }
        } else if rng.random_bool(0.5) {
            at(step(4));
            let reason = ["medicines_tto", "transport", "medical_decision"]
                .choose(&mut rng)
                .copied()
                .unwrap_or("transport");
            commands::set_delay_reason(&demo, flagger, id, None, reason)
                .await
                .map_err(anyhow_app)?;
        }
        if rng.random_bool(0.5) {
            at(step(5));
            commands::update_details(
                &demo,
                flagger,
                id,
                None,
                DetailsChange {
                    expected_discharge_date: Some(Some(
                        (real_now + Duration::days(rng.random_range(0..5))).date_naive(),
                    )),
                    needs_summary: None,
                },
            )
            .await
            .map_err(anyhow_app)?;
        }
        let mut arranged = chosen > 0
            && !matches!(fate, Fate::AwaitingCare)
            && (!matches!(fate, Fate::Discharged) || rng.random_bool(0.9));
        let refer_now =
            arranged || (chosen > 0 && matches!(fate, Fate::AwaitingCare) && rng.random_bool(0.65));
        if refer_now {
            at(step(5));
            let open = crate::market::offers::open_on_pathway(
                &state.pool,
                &hub.hub_code,
                chosen as i16,
                clock.now(),
            )
            .await
            .map_err(anyhow_app)?;
            let how_many = if rng.random_bool(0.5) { 2 } else { 1 };
            let ids: Vec<i64> = open
                .choose_multiple(&mut rng, how_many)
                .map(|o| o.id)
                .collect();
            if ids.is_empty() {
                // no capacity on this pathway: the patient waits, as many do
                arranged = false;
            } else {
                let made = crate::market::commands::refer(&demo, &hub, id, &ids)
                    .await
                    .map_err(anyhow_app)?;
                let first = made.first().context("a referral")?;
                let answerer = providers.get(&first.org_code).context("provider")?;
                if arranged {
                    at(step(7));
                    crate::market::commands::decide(
                        &demo,
                        answerer,
                        first.id,
                        crate::market::commands::Decision::Accept {
                            admission_date: None,
                            contact: String::new(),
                        },
                    )
                    .await
                    .map_err(anyhow_app)?;
                } else if rng.random_bool(0.35) {
                    at(step(6));
                    let reason = DECLINES
                        .choose(&mut rng)
                        .copied()
                        .unwrap_or("no_capacity")
                        .to_string();
                    let decision = crate::market::commands::Decision::Decline {
                        reason,
                        detail: String::new(),
                    };
                    crate::market::commands::decide(&demo, answerer, first.id, decision)
                        .await
                        .map_err(anyhow_app)?;
                }
            }
        }
        if chosen > 0 && !arranged && !matches!(fate, Fate::Discharged) {
            continue;
        }
        if matches!(fate, Fate::AwaitingCare) {
            continue;
        }
        if matches!(fate, Fate::CareArranged) {
            continue;
        }
        if arranged {
            at(step(8));
            let planned = if matches!(fate, Fate::Discharged) {
                step(9)
            } else {
                real_now + Duration::days(rng.random_range(0..3))
            };
            commands::plan_discharge(&demo, &hub, id, None, planned)
                .await
                .map_err(anyhow_app)?;
        }
        if matches!(fate, Fate::Discharged) {
            at(step(9));
            let (destination, method) = demo_destination(chosen, community, &mut rng);
            let details = commands::DischargeDetails {
                at: Some(step(9)),
                destination: destination.map(str::to_string),
                method: Some(method.to_string()),
                destination_rule: commands::DestinationRule::Required,
            };
            commands::discharge(&demo, flagger, id, None, details)
                .await
                .map_err(anyhow_app)?;
        }
    }
    Ok(())
}
