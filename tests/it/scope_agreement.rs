//! The scoping rules of `homeward::scope` agree in their two forms. Against a
//! database, it generates cases on two trusts in several statuses, with pending, accepted,
//! declined and withdrawn referrals to two providers (a third is never referred to), lets
//! the triggers announce every case, referral and offer as live events, and checks for the
//! hub, a ward user of each trust, each provider and an administrator that the SQL reads
//! (one by one, by ids, as lists) and the live filter select exactly the same rows.

use crate::common::TestDb;
use chrono::{DateTime, Duration, Utc};
use homeward::cases::queries::{self, CaseFilter, PageRequest};
use homeward::domain::{Caller, PatientId, Role};
use homeward::live::{CHANNEL, Change};
use homeward::market::offers::{self, OfferFilter};
use homeward::market::referrals;
use sqlx::PgPool;
use std::collections::BTreeSet;

fn caller(role: Role, org: &str) -> Caller {
    Caller {
        user_id: 1,
        username: format!("{}.{}", role.as_str(), org.to_lowercase()),
        display_name: "Test".into(),
        role,
        org_code: org.into(),
        org_name: org.into(),
        hub_code: "HUB".into(),
        hubs: "HUB".into(),
        notices: None,
        tasks_due: None,
    }
}

const AREA: &str = "
    INSERT INTO organisations (code, name, sector, kind) VALUES
      ('RHW', 'Royal Hartwell', 'nhs_acute', 'acute_trust'),
      ('RXX', 'Riverside', 'nhs_acute', 'acute_trust'),
      ('HUB', 'The Hub', 'local_authority', 'hub'),
      ('PRV1', 'Meadowbank', 'independent', 'provider'),
      ('PRV2', 'Homeward Bound', 'independent', 'provider'),
      ('PRV3', 'Never Referred', 'independent', 'provider');
    INSERT INTO sites (code, org_code, name) VALUES ('RHW01', 'RHW', 'Hartwell'), ('RXX01', 'RXX', 'Riverside');
    INSERT INTO wards (code, site_code, org_code, name) VALUES
      ('RHW-A', 'RHW01', 'RHW', 'Ward A'), ('RHW-B', 'RHW01', 'RHW', 'Ward B'),
      ('RXX-A', 'RXX01', 'RXX', 'Ward A');
";

/// A small deterministic generator (no seed from the clock: the same cases every run).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap()
}

/// Cases on both trusts in several statuses, two offers from each of PRV1 and PRV2, and
/// referrals (pending, accepted, declined, withdrawn) from some cases to some offers.
/// PRV3 is never referred to. Returns the case ids.
async fn generate(pool: &PgPool, seed: u64) -> Vec<PatientId> {
    sqlx::raw_sql(AREA).execute(pool).await.unwrap();
    let now = now();
    let service: String =
        sqlx::query_scalar("SELECT code FROM capacity_types WHERE pathway = 2 LIMIT 1")
            .fetch_one(pool)
            .await
            .unwrap();
    let mut offers = vec![];
    for (provider, places) in [("PRV1", 5), ("PRV1", 3), ("PRV2", 4), ("PRV2", 2)] {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO capacity_offers (org_code, service_type, pathway, places, places_left, \
             available_from, available_until, last_confirmed_at, created_at) \
             VALUES ($1, $2, 2, $3, $3, $4, $5, $4, $4) RETURNING id",
        )
        .bind(provider)
        .bind(&service)
        .bind(places)
        .bind(now - Duration::days(2))
        .bind(now + Duration::days(5))
        .fetch_one(pool)
        .await
        .unwrap();
        offers.push((id, provider));
    }
    let mut rng = Lcg(seed);
    let wards = [("RHW", "RHW-A"), ("RHW", "RHW-B"), ("RXX", "RXX-A")];
    let mut cases = vec![];
    for i in 0..30_i64 {
        let (trust, ward) = wards[rng.below(3) as usize];
        let admitted = now - Duration::days(10);
        let (status, ready, pathway, discharged) = match rng.below(4) {
            0 => ("planning", None, None, None),
            1 => ("awaiting_triage", Some(now - Duration::days(3)), None, None),
            2 => (
                "awaiting_care",
                Some(now - Duration::days(2)),
                Some(2_i16),
                None,
            ),
            _ => (
                "discharged",
                Some(now - Duration::days(4)),
                Some(2_i16),
                Some(now - Duration::days(1)),
            ),
        };
        let id: PatientId = sqlx::query_scalar(
            "INSERT INTO patients (nhs_number, given_name, family_name, date_of_birth, sex, postcode, \
             trust_code, ward_code, admitted_at, status, pathway, discharge_ready_at, discharged_at, \
             created_at, updated_at) \
             VALUES ($1, 'Test', 'Case', '1940-01-01', 'female', 'LS9 7TF', $2, $3, $4, $5, $6, $7, $8, $4, $4) \
             RETURNING id",
        )
        .bind(format!("{}", 9_000_000_000_i64 + i))
        .bind(trust)
        .bind(ward)
        .bind(admitted)
        .bind(status)
        .bind(pathway)
        .bind(ready)
        .bind(discharged)
        .fetch_one(pool)
        .await
        .unwrap();
        cases.push(id);
        // up to three referrals, each to a different offer; at most one accepted
        let mut accepted = false;
        let first = rng.below(4) as usize;
        for k in 0..rng.below(4) as usize {
            let (offer_id, provider) = offers[(first + k) % offers.len()];
            let status = match rng.below(4) {
                0 if !accepted => {
                    accepted = true;
                    "accepted"
                }
                1 => "declined",
                2 => "withdrawn",
                _ => "pending",
            };
            sqlx::query(
                "INSERT INTO referrals (patient_id, offer_id, org_code, status, decline_reason, \
                 decided_at, created_at) VALUES ($1, $2, $3, $4, \
                 CASE WHEN $4 = 'declined' THEN 'no_capacity' END, \
                 CASE WHEN $4 IN ('accepted', 'declined') THEN $5::timestamptz END, $5)",
            )
            .bind(id)
            .bind(offer_id)
            .bind(provider)
            .bind(status)
            .bind(now - Duration::hours(20))
            .execute(pool)
            .await
            .unwrap();
        }
    }
    cases
}

/// Touches every case, referral and offer, and returns the events the database's
/// triggers announce for them (what the live filter works on).
async fn announcements(pool: &PgPool) -> Vec<Change> {
    let mut listener = sqlx::postgres::PgListener::connect_with(pool)
        .await
        .unwrap();
    listener.listen(CHANNEL).await.unwrap();
    let mut expected = 0;
    for touch in [
        "UPDATE patients SET bed = bed",
        "UPDATE referrals SET decline_detail = decline_detail",
        "UPDATE capacity_offers SET notes = notes",
    ] {
        expected += sqlx::query(touch)
            .execute(pool)
            .await
            .unwrap()
            .rows_affected();
    }
    let mut changes = vec![];
    for _ in 0..expected {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), listener.recv())
            .await
            .expect("an announcement for every touched row")
            .unwrap();
        changes.push(serde_json::from_str::<Change>(n.payload()).unwrap());
    }
    changes
}

/// The ids of the announced `subject` rows the caller's live filter lets through.
fn heard(changes: &[Change], caller: &Caller, subject: &str) -> BTreeSet<i64> {
    changes
        .iter()
        .filter(|c| c.kind.starts_with(subject) && c.visible_to(caller))
        .filter_map(|c| match subject {
            "patient." => c.patient_id.map(|p| p.0),
            "referral." => c.referral_id,
            _ => c.offer_id,
        })
        .collect()
}

#[tokio::test]
async fn the_live_filter_and_the_sql_agree_for_every_role() {
    let db = TestDb::bare().await;
    let pool = db.pool.clone();
    let cases = generate(&pool, 0x5eed).await;
    let changes = announcements(&pool).await;
    let all_referrals: i64 = sqlx::query_scalar("SELECT count(*) FROM referrals")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(all_referrals > 20, "enough referrals to be a test");
    let callers = [
        caller(Role::Hub, "HUB"),
        caller(Role::Ward, "RHW"),
        caller(Role::Ward, "RXX"),
        caller(Role::Provider, "PRV1"),
        caller(Role::Provider, "PRV2"),
        caller(Role::Provider, "PRV3"),
        caller(Role::Admin, "HUB"),
    ];
    let filter = CaseFilter::default();
    let page = PageRequest {
        limit: 1000,
        ..PageRequest::default()
    };
    for c in &callers {
        let who = &c.username;
        // cases: one by one, several by id, and as a list
        let by_ids: BTreeSet<i64> = queries::by_ids(&pool, c, &cases)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id.0)
            .collect();
        let listed: BTreeSet<i64> = queries::list(&pool, c, &filter, page.clone(), now(), None)
            .await
            .unwrap()
            .cases
            .into_iter()
            .map(|l| l.case.id.0)
            .collect();
        let mut one_by_one = BTreeSet::new();
        for id in &cases {
            if queries::get(&pool, c, *id).await.is_ok() {
                one_by_one.insert(id.0);
            }
        }
        let live = heard(&changes, c, "patient.");
        assert_eq!(by_ids, live, "{who}: cases by SQL and by the live filter");
        assert_eq!(listed, live, "{who}: listed cases");
        assert_eq!(one_by_one, live, "{who}: cases one by one");

        // referrals: listed, and one by one
        let sql: BTreeSet<i64> = referrals::list(&pool, c, None)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        let live = heard(&changes, c, "referral.");
        assert_eq!(sql, live, "{who}: referrals by SQL and by the live filter");
        for id in &live {
            assert!(referrals::get(&pool, c, *id).await.is_ok(), "{who}: {id}");
        }

        // offers: the stream carries them to the hub and their provider only
        let sql: BTreeSet<i64> = offers::list(&pool, c, &OfferFilter::default(), now())
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.id)
            .collect();
        let live = heard(&changes, c, "offer.");
        match c.role {
            Role::Hub | Role::Provider => {
                assert_eq!(sql, live, "{who}: offers by SQL and by the live filter")
            }
            Role::Ward | Role::Admin => {
                assert!(live.is_empty(), "{who}: no offer events");
                assert_eq!(sql.len(), 4, "{who}: lists every offer");
            }
        }
    }

    // and the generated data makes the comparison mean something
    let count = |role, org, subject| heard(&changes, &caller(role, org), subject).len();
    assert_eq!(count(Role::Hub, "HUB", "patient."), cases.len());
    let rhw = count(Role::Ward, "RHW", "patient.");
    let rxx = count(Role::Ward, "RXX", "patient.");
    assert!(rhw > 0 && rxx > 0 && rhw + rxx == cases.len());
    assert!(count(Role::Provider, "PRV1", "patient.") > 0);
    assert!(count(Role::Provider, "PRV1", "patient.") < cases.len());
    assert!(count(Role::Provider, "PRV1", "referral.") > 0);
    assert_eq!(count(Role::Provider, "PRV3", "patient."), 0);
    assert_eq!(count(Role::Admin, "HUB", "patient."), 0);
    assert_eq!(count(Role::Admin, "HUB", "referral."), 0);
}
