//! Lists that cost what they show: counts kept by counters are exact, keyset pages see every
//! case once, one access-log row per request, at most three statements a page, the header's
//! count capped, reference data cached and refreshed on change, and no connection left in
//! a transaction by a client that hangs up.

use crate::common::*;
use homeward::cases::queries::{self, Assignment, CaseFilter, ListOrder, PageRequest};
use homeward::domain::{Caller, CaseStatus, Pathway, Role};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A small deterministic generator: the same cases every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }
}

fn caller(role: Role, org: &str) -> Caller {
    Caller {
        user_id: 1,
        username: "t".into(),
        display_name: "T".into(),
        role,
        org_code: org.into(),
        org_name: org.into(),
        hub_code: "HUB".into(),
        hubs: "HUB".into(),
        notices: None,
        tasks_due: None,
    }
}

const WARDS: [(&str, &str); 3] = [("RHW", "RHW-AMU"), ("RHW", "RHW-W10"), ("RXX", "RXX-W01")];
const STATUSES: [&str; 7] = [
    "planning",
    "awaiting_triage",
    "awaiting_care",
    "care_arranged",
    "ready_to_go",
    "discharged",
    "cancelled",
];
const REASONS: [&str; 4] = ["", "p1_new_care", "transport", "medicines_tto"];

/// A case's state as the generator writes it: trust, ward, status, pathway, delay reason,
/// discharge ready time.
type CaseState = (
    String,
    String,
    String,
    Option<i16>,
    Option<String>,
    Option<chrono::DateTime<chrono::Utc>>,
);

fn random_state(rng: &mut Lcg, now: chrono::DateTime<chrono::Utc>) -> CaseState {
    let (trust, ward) = WARDS[rng.below(3) as usize];
    let status = rng.pick(&STATUSES);
    let pathway = match rng.below(5) {
        4 => None,
        p => Some(p as i16),
    };
    let reason = Some(rng.pick(&REASONS).to_string()).filter(|r| !r.is_empty());
    // ready at some time within the last three days (so some within 24 hours), or never
    let ready = (status != "planning" && rng.below(6) != 0)
        .then(|| now - chrono::Duration::minutes(rng.below(72 * 60) as i64));
    (
        trust.into(),
        ward.into(),
        status.into(),
        pathway,
        reason,
        ready,
    )
}

#[tokio::test]
async fn counts_kept_by_the_counters_match_a_plain_count_after_many_changes() {
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    let mut rng = Lcg(0x10_5eed);
    // 300 cases, then 900 changes to any of them, folding the counters now and then
    for i in 0..300 {
        let (trust, ward, status, pathway, reason, ready) = random_state(&mut rng, now);
        sqlx::query(
            "INSERT INTO patients (nhs_number, given_name, family_name, date_of_birth, sex, postcode, \
             trust_code, ward_code, admitted_at, status, pathway, delay_reason, discharge_ready_at, \
             created_at, updated_at, cancelled_at) VALUES ($1, 'T', 'Case', '1940-01-01', 'female', \
             'LS9 7TF', $2, $3, $4 - interval '5 days', $5, $6, $7, $8, $4, $4, \
             CASE WHEN $5 = 'cancelled' THEN $4 END)",
        )
        .bind(format!("{:010}", 1_000_000 + i))
        .bind(trust)
        .bind(ward)
        .bind(now)
        .bind(status)
        .bind(pathway)
        .bind(reason)
        .bind(ready)
        .execute(&app.pool)
        .await
        .expect("insert a case");
    }
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM patients ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .expect("ids");
    // two users coordinate some of the cases ("My cases", "Unassigned")
    let coordinators: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM users WHERE role IN ('hub', 'admin') ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .expect("hub users");
    assert_eq!(
        coordinators.len(),
        2,
        "the test area has a hub user and an admin"
    );
    for n in 0..900 {
        let id = ids[rng.below(ids.len() as u64) as usize];
        let (trust, ward, status, pathway, reason, ready) = random_state(&mut rng, now);
        let coordinator = match rng.below(3) {
            2 => None,
            i => Some(coordinators[i as usize]),
        };
        sqlx::query(
            "UPDATE patients SET trust_code = $2, ward_code = $3, status = $4, pathway = $5, \
             delay_reason = $6, discharge_ready_at = $7, coordinator_id = $8, \
             cancelled_at = CASE WHEN $4 = 'cancelled' THEN updated_at END WHERE id = $1",
        )
        .bind(id)
        .bind(trust)
        .bind(ward)
        .bind(status)
        .bind(pathway)
        .bind(reason)
        .bind(ready)
        .bind(coordinator)
        .execute(&app.pool)
        .await
        .expect("change a case");
        if n % 250 == 0 {
            homeward::cases::counts::compact(&app.pool, now)
                .await
                .expect("fold the counters");
        }
    }
    // a change that leaves the counted key alone adds no counter row (counted in one snapshot:
    // the server's folding task may fold the counters at any moment)
    let mut tx = app.pool.begin().await.expect("a transaction");
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *tx)
        .await
        .expect("repeatable read");
    let counters =
        "SELECT (SELECT count(*) FROM case_counts) + (SELECT count(*) FROM case_counts_hub)";
    let before: i64 = sqlx::query_scalar(counters)
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    sqlx::query("UPDATE patients SET bed = 'Z9'")
        .execute(&mut *tx)
        .await
        .expect("touch");
    let after: i64 = sqlx::query_scalar(counters)
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    tx.commit().await.expect("commit");
    assert_eq!(after, before);

    let day_ago = now - chrono::Duration::hours(24);
    let filters: Vec<(&str, CaseFilter, String)> = vec![
        ("open", CaseFilter { open_only: true, ..Default::default() }, "status NOT IN ('discharged','cancelled')".into()),
        ("all", CaseFilter::default(), "true".into()),
        // the hub worklist's first page (the hub's counters by status and hour answer it)
        ("waiting", CaseFilter { open_only: true, waiting_only: true, ..Default::default() }, "status NOT IN ('discharged','cancelled','planning')".into()),
        ("waiting, escalated", CaseFilter { open_only: true, waiting_only: true, escalated_before: Some(day_ago), ..Default::default() }, format!("status = 'awaiting_care' AND discharge_ready_at <= '{}'", day_ago.to_rfc3339())),
        ("discharged", CaseFilter { status: Some(CaseStatus::Discharged), ..Default::default() }, "status = 'discharged'".into()),
        ("awaiting care", CaseFilter { status: Some(CaseStatus::AwaitingCare), ..Default::default() }, "status = 'awaiting_care'".into()),
        ("pathway 2", CaseFilter { open_only: true, pathway: Pathway::new(2), ..Default::default() }, "status NOT IN ('discharged','cancelled') AND pathway = 2".into()),
        ("ward 10", CaseFilter { open_only: true, ward_code: Some("RHW-W10".into()), ..Default::default() }, "status NOT IN ('discharged','cancelled') AND ward_code = 'RHW-W10'".into()),
        ("trust RXX", CaseFilter { open_only: true, trust_code: Some("RXX".into()), ..Default::default() }, "status NOT IN ('discharged','cancelled') AND trust_code = 'RXX'".into()),
        ("transport", CaseFilter { open_only: true, delay_reason: Some("transport".into()), ..Default::default() }, "status NOT IN ('discharged','cancelled') AND delay_reason = 'transport'".into()),
        ("no reason", CaseFilter { open_only: true, no_delay_reason: true, ..Default::default() }, "status NOT IN ('discharged','cancelled') AND delay_reason IS NULL AND discharge_ready_at IS NOT NULL".into()),
        ("escalated", CaseFilter { open_only: true, escalated_before: Some(day_ago), ..Default::default() }, format!("status = 'awaiting_care' AND discharge_ready_at <= '{}'", day_ago.to_rfc3339())),
        ("escalated, 48 hours", CaseFilter { open_only: true, escalated_before: Some(now - chrono::Duration::hours(48)), ..Default::default() }, format!("status = 'awaiting_care' AND discharge_ready_at <= '{}'", (now - chrono::Duration::hours(48)).to_rfc3339())),
        // a line before the hours the counters have folded together: counted row by row
        ("escalated, 60 hours", CaseFilter { open_only: true, escalated_before: Some(now - chrono::Duration::hours(60)), ..Default::default() }, format!("status = 'awaiting_care' AND discharge_ready_at <= '{}'", (now - chrono::Duration::hours(60)).to_rfc3339())),
        ("changed since", CaseFilter { updated_since: Some(now - chrono::Duration::hours(1)), ..Default::default() }, format!("updated_at >= '{}'", (now - chrono::Duration::hours(1)).to_rfc3339())),
        ("my cases", CaseFilter { open_only: true, assignment: Some(Assignment::CoordinatedBy(coordinators[0])), ..Default::default() }, format!("status NOT IN ('discharged','cancelled') AND coordinator_id = {}", coordinators[0])),
        ("unassigned", CaseFilter { open_only: true, assignment: Some(Assignment::Unassigned), ..Default::default() }, "status NOT IN ('discharged','cancelled') AND coordinator_id IS NULL".into()),
        ("my escalated", CaseFilter { open_only: true, assignment: Some(Assignment::CoordinatedBy(coordinators[1])), escalated_before: Some(day_ago), ..Default::default() }, format!("coordinator_id = {} AND status = 'awaiting_care' AND discharge_ready_at <= '{}'", coordinators[1], day_ago.to_rfc3339())),
        ("unassigned pathway 3", CaseFilter { open_only: true, assignment: Some(Assignment::Unassigned), pathway: Pathway::new(3), ..Default::default() }, "status NOT IN ('discharged','cancelled') AND coordinator_id IS NULL AND pathway = 3".into()),
    ];
    let callers = [
        (caller(Role::Hub, "HUB"), "true".to_string()),
        (caller(Role::Ward, "RHW"), "trust_code = 'RHW'".into()),
        (caller(Role::Ward, "RXX"), "trust_code = 'RXX'".into()),
        (caller(Role::Admin, "HUB"), "false".into()),
    ];
    // both before and after folding the counters
    for fold in [false, true] {
        if fold {
            homeward::cases::counts::compact(&app.pool, now)
                .await
                .expect("fold the counters");
            let loose = app
                .count("SELECT count(*) - count(DISTINCT (trust_code, ward_code, status, pathway, delay_reason, coordinator_id, ready_hour)) FROM case_counts")
                .await;
            assert_eq!(loose, 0, "one row per key once folded");
            let loose = app
                .count("SELECT count(*) - count(DISTINCT (hub_code, status, ready_hour)) FROM case_counts_hub")
                .await;
            assert_eq!(loose, 0, "one row per hub, status and hour once folded");
        }
        for (c, scope) in &callers {
            for (name, filter, sql) in &filters {
                let page = PageRequest {
                    limit: 5,
                    ..PageRequest::default()
                };
                let got = queries::list(&app.pool, c, filter, page, now, None)
                    .await
                    .expect("list");
                let total = app
                    .count(&format!(
                        "SELECT count(*) FROM patients WHERE ({scope}) AND {sql}"
                    ))
                    .await;
                let over = app
                    .count(&format!(
                        "SELECT count(*) FROM patients WHERE ({scope}) AND {sql} \
                         AND status NOT IN ('discharged','cancelled') AND discharge_ready_at <= '{}'",
                        day_ago.to_rfc3339()
                    ))
                    .await;
                let who = &c.org_code;
                assert_eq!(got.total, total, "{who} {name}: total (folded: {fold})");
                assert_eq!(
                    got.over_24h, over,
                    "{who} {name}: over 24 hours (folded: {fold})"
                );
                assert_eq!(got.cases.len() as i64, total.min(5), "{who} {name}: rows");
            }
        }
    }
    // the ward list's and the board's counts per ward, the same way
    for (trust, _) in [("RHW", 0), ("RXX", 1)] {
        let ward = caller(Role::Ward, trust);
        for w in queries::ward_counts(&app.pool, &ward, now)
            .await
            .expect("ward counts")
        {
            let open = format!(
                "ward_code = '{}' AND status NOT IN ('discharged','cancelled')",
                w.code
            );
            assert_eq!(
                w.open,
                app.count(&format!("SELECT count(*) FROM patients WHERE {open}"))
                    .await,
                "{} open",
                w.code
            );
            assert_eq!(
                w.nctr,
                app.count(&format!(
                    "SELECT count(*) FROM patients WHERE {open} AND discharge_ready_at IS NOT NULL"
                ))
                .await,
                "{} nctr",
                w.code
            );
            assert_eq!(
                w.over_24h,
                app.count(&format!(
                    "SELECT count(*) FROM patients WHERE {open} AND discharge_ready_at <= '{}'",
                    day_ago.to_rfc3339()
                ))
                .await,
                "{} over 24h",
                w.code
            );
        }
    }
    let hub = caller(Role::Hub, "HUB");
    let rows = homeward::board::queries::ward_rows(&app.pool, &hub, None, day_ago)
        .await
        .expect("board rows");
    assert_eq!(rows.len(), 3);
    for r in rows {
        let open = format!(
            "ward_code = '{}' AND status NOT IN ('discharged','cancelled')",
            r.ward_code
        );
        assert_eq!(
            r.awaiting_care,
            app.count(&format!(
                "SELECT count(*) FROM patients WHERE {open} AND status = 'awaiting_care'"
            ))
            .await
        );
        assert_eq!(
            r.p2,
            app.count(&format!(
                "SELECT count(*) FROM patients WHERE {open} AND pathway = 2"
            ))
            .await
        );
        assert_eq!(
            r.over_24h,
            app.count(&format!(
                "SELECT count(*) FROM patients WHERE {open} AND discharge_ready_at <= '{}'",
                day_ago.to_rfc3339()
            ))
            .await
        );
    }

    // and the generated data makes the comparison mean something
    assert!(
        app.count("SELECT count(DISTINCT status) FROM patients")
            .await
            == 7
    );
    let recent = format!(
        "SELECT count(*) FROM patients WHERE status NOT IN ('discharged','cancelled') AND discharge_ready_at > '{}'",
        day_ago.to_rfc3339()
    );
    assert!(app.count(&recent).await > 10, "cases within 24 hours");
    assert!(
        app.count("SELECT count(*) FROM case_counts WHERE ready_hour = '-infinity'")
            .await
            > 0,
        "hours folded together"
    );
    assert!(
        app.count("SELECT count(*) FROM case_counts_hub WHERE ready_hour = '-infinity'")
            .await
            > 0,
        "the hub's hours folded together"
    );
}

#[tokio::test]
async fn keyset_pages_of_the_worklist_order_see_every_case_once_both_ways() {
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    // 95 cases: many share a ready time, some never ready, so ties need the id
    sqlx::query(
        "INSERT INTO patients (nhs_number, given_name, family_name, date_of_birth, sex, postcode, trust_code, ward_code, \
         admitted_at, status, discharge_ready_at, created_at, updated_at) \
         SELECT lpad(g::text, 10, '0'), 'T', 'Case' || g, '1940-01-01', 'female', 'LS9 7TF', 'RHW', 'RHW-AMU', \
         $1 - interval '9 days', CASE WHEN g % 7 = 0 THEN 'planning' ELSE 'awaiting_triage' END, \
         CASE WHEN g % 7 = 0 THEN NULL ELSE $1 - ((g % 5) || ' hours')::interval END, $1, $1 \
         FROM generate_series(1, 95) g",
    )
    .bind(now)
    .execute(&app.pool)
    .await
    .expect("cases");
    let hub = caller(Role::Hub, "HUB");
    let filter = CaseFilter {
        open_only: true,
        ..CaseFilter::default()
    };
    let read = |after, before| {
        let (pool, hub, filter) = (app.pool.clone(), hub.clone(), filter.clone());
        async move {
            let page = PageRequest {
                order: ListOrder::Wait,
                after,
                before,
                limit: 10,
                news_for: None,
            };
            queries::list(&pool, &hub, &filter, page, now, None)
                .await
                .expect("a page")
        }
    };
    // forwards to the end
    let mut seen = vec![];
    let mut pages = vec![];
    let mut page = read(None, None).await;
    loop {
        seen.extend(page.cases.iter().map(|c| c.case.id.0));
        pages.push(page.cases.iter().map(|c| c.case.id.0).collect::<Vec<_>>());
        assert_eq!(page.total, 95);
        match page.next {
            Some(next) => page = read(Some(next), None).await,
            None => break,
        }
    }
    let plain: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM patients WHERE status NOT IN ('discharged','cancelled') \
         ORDER BY discharge_ready_at ASC NULLS LAST, id DESC",
    )
    .fetch_all(&app.pool)
    .await
    .expect("plain order");
    assert_eq!(seen, plain, "every case once, in the worklist's order");
    assert_eq!(pages.len(), 10);
    // and backwards from the last page to the first, the same pages
    let mut back = vec![page.cases.iter().map(|c| c.case.id.0).collect::<Vec<_>>()];
    while let Some(prev) = page.prev {
        page = read(None, Some(prev)).await;
        back.push(page.cases.iter().map(|c| c.case.id.0).collect());
    }
    back.reverse();
    assert_eq!(back, pages);
}

#[tokio::test]
async fn every_sort_and_view_of_the_worklist_pages_each_case_once_both_ways() {
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    let users: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM users WHERE username IN ('hub', 'admin') ORDER BY username",
    )
    .fetch_all(&app.pool)
    .await
    .expect("users");
    // 130 cases over three wards, every status, pathway or none, two coordinators or none,
    // ready times shared by many (so the ties need the wait and the id)
    sqlx::query(
        "INSERT INTO patients (nhs_number, given_name, family_name, date_of_birth, sex, postcode, trust_code, ward_code, \
         admitted_at, status, pathway, coordinator_id, discharge_ready_at, created_at, updated_at, cancelled_at) \
         SELECT lpad(g::text, 10, '0'), 'T', 'Case' || g, '1940-01-01', 'female', 'LS9 7TF', \
         CASE WHEN g % 3 = 2 THEN 'RXX' ELSE 'RHW' END, \
         (ARRAY['RHW-AMU','RHW-W10','RXX-W01'])[g % 3 + 1], $1 - interval '9 days', \
         (ARRAY['planning','awaiting_triage','awaiting_care','care_arranged','ready_to_go','discharged','cancelled'])[g % 7 + 1], \
         CASE WHEN g % 5 = 4 THEN NULL ELSE (g % 4)::smallint END, \
         CASE g % 3 WHEN 0 THEN NULL WHEN 1 THEN $2 ELSE $3 END, \
         CASE WHEN g % 7 = 0 OR g % 11 = 0 THEN NULL ELSE $1 - ((g % 6) || ' hours')::interval END, $1, $1, \
         CASE WHEN g % 7 = 6 THEN $1 END \
         FROM generate_series(1, 130) g",
    )
    .bind(now)
    .bind(users[0])
    .bind(users[1])
    .execute(&app.pool)
    .await
    .expect("cases");
    let hub = caller(Role::Hub, "HUB");
    let orders = [
        (ListOrder::Wait, "trust_code = trust_code"),
        (ListOrder::Ward, "ward_code"),
        (ListOrder::Status, "case_status_rank(status)"),
        (ListOrder::Pathway, "COALESCE(pathway, -1)"),
        (ListOrder::Coordinator, "COALESCE(coordinator_username, '')"),
    ];
    let views = [
        ("all", None, "true".to_string()),
        (
            "mine",
            Some(Assignment::CoordinatedBy(users[1])),
            format!("coordinator_id = {}", users[1]),
        ),
        (
            "unassigned",
            Some(Assignment::Unassigned),
            "coordinator_id IS NULL".to_string(),
        ),
    ];
    for (view, assignment, view_sql) in &views {
        let filter = CaseFilter {
            open_only: true,
            assignment: *assignment,
            ..CaseFilter::default()
        };
        for (order, group) in orders {
            let read = |after, before| {
                let (pool, hub, filter) = (app.pool.clone(), hub.clone(), filter.clone());
                async move {
                    let page = PageRequest {
                        order,
                        after,
                        before,
                        limit: 7,
                        news_for: None,
                    };
                    queries::list(&pool, &hub, &filter, page, now, None)
                        .await
                        .expect("a page")
                }
            };
            // the same order told plainly
            let plain: Vec<i64> = sqlx::query_scalar(&format!(
                "SELECT id FROM patients WHERE status NOT IN ('discharged','cancelled') AND {view_sql} \
                 ORDER BY {group} ASC, discharge_ready_at ASC NULLS LAST, id DESC"
            ))
            .fetch_all(&app.pool)
            .await
            .expect("plain order");
            assert!(plain.len() > 14, "{view}: more than two pages");
            let mut pages: Vec<Vec<i64>> = vec![];
            let mut page = read(None, None).await;
            loop {
                assert_eq!(page.total, plain.len() as i64, "{view} by {order:?}: total");
                pages.push(page.cases.iter().map(|c| c.case.id.0).collect());
                match page.next.clone() {
                    Some(next) => page = read(Some(next), None).await,
                    None => break,
                }
            }
            let seen: Vec<i64> = pages.concat();
            assert_eq!(
                seen, plain,
                "{view} by {order:?}: every case once, in order"
            );
            let mut back = vec![pages.last().cloned().unwrap_or_default()];
            while let Some(prev) = page.prev.clone() {
                page = read(None, Some(prev)).await;
                back.push(page.cases.iter().map(|c| c.case.id.0).collect());
            }
            back.reverse();
            assert_eq!(back, pages, "{view} by {order:?}: the same pages backwards");
        }
    }
}

#[tokio::test]
async fn a_partner_paging_with_a_cursor_sees_every_case_once_while_cases_are_added() {
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    // 250 cases changed at different times over the last week
    sqlx::query(
        "INSERT INTO patients (nhs_number, given_name, family_name, date_of_birth, sex, postcode, trust_code, ward_code, \
         admitted_at, status, created_at, updated_at) \
         SELECT lpad(g::text, 10, '0'), 'T', 'Case' || g, '1940-01-01', 'female', 'LS9 7TF', 'RHW', 'RHW-AMU', \
         $1 - interval '9 days', 'planning', $1 - interval '8 days', $1 - ((g * 37 % 10000) || ' minutes')::interval \
         FROM generate_series(1, 250) g",
    )
    .bind(now)
    .execute(&app.pool)
    .await
    .expect("cases");
    let before: BTreeSet<i64> = sqlx::query_scalar("SELECT id FROM patients")
        .fetch_all(&app.pool)
        .await
        .expect("ids")
        .into_iter()
        .collect();
    let hub = app.api("hub").await;
    let mut seen = vec![];
    let mut url = "/api/v1/patients?limit=37".to_string();
    let mut added = 0;
    loop {
        let page = hub.get_json(&url).await;
        assert!(page["total"].as_i64().unwrap_or_default() >= 250);
        seen.extend(items(&page).iter().map(id_of));
        // a ward flags a patient between every two pages
        app.flag("ward", patient_at(&valid_nhs(added), now)).await;
        app.api("hub")
            .await
            .post_expect(
                &format!("/api/v1/patients/{}/cancel", seen[seen.len() - 1].max(0)),
                json!({"reason": "noise"}),
                StatusCode::OK,
            )
            .await;
        added += 1;
        match page["next"].as_str() {
            Some(next) => url = format!("/api/v1/patients?limit=37&cursor={next}"),
            None => break,
        }
    }
    let once: BTreeSet<i64> = seen.iter().copied().collect();
    assert_eq!(once.len(), seen.len(), "no case twice");
    assert!(added > 5);
    // every case that was there before paging began was seen (cancelling one that was
    // already seen moves it to the front, behind the reader)
    let missing: Vec<_> = before.difference(&once).collect();
    assert!(missing.is_empty(), "missed {missing:?}");
    // a cursor that is not ours, a limit out of range, a bad time: 422
    for bad in [
        "cursor=zz",
        "cursor=abc",
        "limit=501",
        "limit=0",
        "updated_since=yesterday",
    ] {
        let res = hub.get(&format!("/api/v1/patients?{bad}")).await;
        let body = expect_json(res, StatusCode::UNPROCESSABLE_ENTITY, bad).await;
        assert_eq!(body["error"]["code"], "validation_failed", "{bad}");
    }
    // changed since: only what changed at or after the time (the flagged and cancelled
    // cases, changed "now" by the test clock)
    let since = now - chrono::Duration::minutes(1);
    let recent = hub
        .get_json(&format!(
            "/api/v1/patients?updated_since={}",
            since.format("%Y-%m-%dT%H:%M:%SZ")
        ))
        .await;
    let changed = app
        .count(&format!(
            "SELECT count(*) FROM patients WHERE updated_at >= '{}'",
            since.to_rfc3339()
        ))
        .await;
    assert_eq!(recent["total"].as_i64(), Some(changed));
    assert_eq!(items(&recent).len() as i64, changed);
    assert_eq!(changed, 2 * added as i64);
}

#[tokio::test]
async fn a_page_of_the_worklist_writes_one_access_log_row_naming_everyone_shown() {
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    sqlx::query(
        "INSERT INTO patients (nhs_number, given_name, family_name, date_of_birth, sex, postcode, trust_code, ward_code, \
         admitted_at, status, discharge_ready_at, created_at, updated_at) \
         SELECT lpad(g::text, 10, '0'), 'T', 'Case' || g, '1940-01-01', 'female', 'LS9 7TF', 'RHW', 'RHW-AMU', \
         $1 - interval '9 days', 'awaiting_triage', $1 - (g || ' hours')::interval, $1, $1 \
         FROM generate_series(1, 120) g",
    )
    .bind(now)
    .execute(&app.pool)
    .await
    .expect("cases");
    let hub = app.browser("hub").await;
    const ROWS: &str = "SELECT count(*) FROM access_log";
    let start = app.count(ROWS).await;
    hub.page("/hub").await;
    assert_eq!(app.count(ROWS).await, start + 1, "one row for the page");
    let (what, ids): (String, Vec<i64>) =
        sqlx::query_as("SELECT what, patient_ids FROM access_log ORDER BY id DESC LIMIT 1")
            .fetch_one(&app.pool)
            .await
            .expect("the row");
    assert_eq!(what, "hub worklist");
    assert_eq!(
        ids.len(),
        100,
        "the hundred shown, not the one read to find a next page"
    );
    // the longest waits were shown; the shortest were not
    let longest: i64 = app
        .count("SELECT id FROM patients WHERE family_name = 'Case120'")
        .await;
    let shortest: i64 = app
        .count("SELECT id FROM patients WHERE family_name = 'Case1'")
        .await;
    assert!(ids.contains(&longest) && !ids.contains(&shortest));
    // "who looked at this patient" finds the page view, through the index
    let who = homeward::audit::who_looked(&app.pool, homeward::domain::PatientId(longest))
        .await
        .expect("who looked");
    assert_eq!(who.len(), 1);
    assert_eq!(who[0].username, "hub");
    // (with the table this small PostgreSQL would rather scan it: forbid that to see the
    // index can answer)
    let mut tx = app.pool.begin().await.expect("a transaction");
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await
        .expect("set");
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT at FROM access_log WHERE patient_ids @> ARRAY[$1::bigint]",
    )
    .bind(longest)
    .fetch_all(&mut *tx)
    .await
    .expect("plan");
    assert!(
        plan.join(" ").contains("access_log_patients_idx"),
        "{plan:?}"
    );
    tx.rollback().await.ok();
    // the partner list: one row too
    let api = app.api("hub").await;
    api.get_json("/api/v1/patients?limit=50").await;
    assert_eq!(app.count(ROWS).await, start + 2);
    // a provider shown only anonymised summaries writes no row
    app.api("provider").await.get_json("/api/v1/patients").await;
    assert_eq!(app.count(ROWS).await, start + 2);
    // flagging a patient does not log a read of what was just written
    app.flag("ward", patient(NHS[0])).await;
    assert_eq!(app.count(ROWS).await, start + 2);
}

/// Counts the SQL statements sqlx sends while it is alive, on this thread only (each test
/// has a runtime of its own on a thread of its own, and the server runs on it too). The
/// background folding of the case counters (every two seconds, in a transaction of its own)
/// is not a page's cost and is left out.
struct StatementCounter(Arc<AtomicUsize>, Arc<AtomicUsize>);

#[derive(Default)]
struct StatementText(String);

impl tracing::field::Visit for StatementText {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        // sqlx logs a short statement whole in `summary`, a long one in `db.statement`
        if field.name() == "db.statement" || field.name() == "summary" {
            self.0.push_str(value);
            self.0.push('\n');
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "db.statement" || (self.0.is_empty() && field.name() == "message") {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for StatementCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut text = StatementText::default();
        event.record(&mut text);
        let background = ["advisory", "compact_case_counts", "BEGIN", "COMMIT"];
        if text.0.contains("set_config") && text.0.contains("homeward.hubs") {
            // the row-level wall's setting, once per connection taken (src/tenancy.rs):
            // counted apart
            self.1.fetch_add(1, Ordering::SeqCst);
        } else if !background.iter().any(|b| text.0.contains(b)) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[tokio::test]
async fn a_worklist_page_costs_three_statements_whatever_the_list_holds() {
    use tracing_subscriber::layer::SubscriberExt;
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    sqlx::query(
        "INSERT INTO patients (nhs_number, given_name, family_name, date_of_birth, sex, postcode, trust_code, ward_code, \
         admitted_at, status, discharge_ready_at, created_at, updated_at) \
         SELECT lpad(g::text, 10, '0'), 'T', 'Case' || g, '1940-01-01', 'female', 'LS9 7TF', 'RHW', 'RHW-AMU', \
         $1 - interval '9 days', 'awaiting_triage', $1 - (g || ' hours')::interval, $1, $1 \
         FROM generate_series(1, 150) g",
    )
    .bind(now)
    .execute(&app.pool)
    .await
    .expect("cases");
    // a server of its own whose pool logs every statement
    let options = app.db.pool.connect_options().as_ref().clone();
    let options = sqlx::ConnectOptions::log_statements(options, tracing::log::LevelFilter::Info);
    // with the server's pool hooks (the hubs' wall), as `homeward serve` has
    let pool = homeward::tenancy::pool_options(false)
        .max_connections(4)
        .connect_with(options)
        .await
        .expect("a logging pool");
    // and the pool for the session and caller look-ups, set to every hub once per connection
    let system = homeward::db::connect_system(&pool, &homeward::db::DbOptions::default());
    let state = homeward::state::AppState::new(
        pool,
        homeward::domain::time::Clock::fixed(now),
        crate::common::test_config(),
    )
    .with_system(system);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        axum::serve(listener, homeward::app(state)).await.ok();
    });
    let counted = Arc::new(AtomicUsize::new(0));
    let walls = Arc::new(AtomicUsize::new(0));
    let subscriber =
        tracing_subscriber::registry().with(StatementCounter(counted.clone(), walls.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);

    let hub = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let res = hub
        .post(format!("{base}/login"))
        .form(&[("username", "hub"), ("password", PASSWORD)])
        .send()
        .await
        .expect("sign in");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // the first page reads the reference data into the cache
    hub.get(format!("{base}/hub")).send().await.expect("warm");
    for path in [
        "/hub",
        "/hub?status=awaiting_triage",
        "/hub?escalated=1",
        "/hub?ward=RHW-AMU",
    ] {
        // the fewest of three loads: the server's background tasks run on this thread too
        // (lapsing holds, the reference cache catching up), and on a loaded machine one of
        // their ticks can land inside a page's window; a page that cost more every time
        // would still show it
        let (mut n, mut w) = (usize::MAX, usize::MAX);
        for _ in 0..3 {
            counted.store(0, Ordering::SeqCst);
            walls.store(0, Ordering::SeqCst);
            let res = hub.get(format!("{base}{path}")).send().await.expect("page");
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            n = n.min(counted.load(Ordering::SeqCst));
            w = w.min(walls.load(Ordering::SeqCst));
        }
        println!("FIGURE {path}: {n} statements, and {w} setting the hubs' wall");
        assert!(n <= 3, "{path}: {n} statements");
        // the session and the caller are read on connections that see every hub and are
        // never set again: only the list's connection is set to the caller's hub
        assert_eq!(w, 1, "{path}: {w} wall settings for {n} statements");
        assert!(n >= 2, "{path}: the counter counts ({n})");
    }
    // the partner list: the token with its user, then the page
    let token: Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"username": "hub", "password": PASSWORD}))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let (mut n, mut w) = (usize::MAX, usize::MAX);
    for _ in 0..3 {
        counted.store(0, Ordering::SeqCst);
        walls.store(0, Ordering::SeqCst);
        let res = reqwest::Client::new()
            .get(format!("{base}/api/v1/patients"))
            .bearer_auth(token["token"].as_str().unwrap_or_default())
            .send()
            .await
            .expect("list");
        assert_eq!(res.status(), StatusCode::OK);
        n = n.min(counted.load(Ordering::SeqCst));
        w = w.min(walls.load(Ordering::SeqCst));
    }
    assert_eq!(n, 2, "API list statements");
    assert_eq!(w, 1, "API list wall settings");
}

#[tokio::test]
async fn the_header_counts_news_cheaply_and_says_99_plus_beyond() {
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    let id = app.awaiting_care(NHS[0], 3).await;
    let bed = app.post_offer("provider", offer(1)).await;
    // 150 decisions the hub has not seen
    sqlx::query(
        "INSERT INTO referrals (patient_id, offer_id, org_code, status, decline_reason, decided_at, created_at) \
         SELECT $1, $2, 'PRV1', 'declined', 'no_capacity', $3 - (g || ' minutes')::interval, $3 - interval '1 day' \
         FROM generate_series(1, 150) g",
    )
    .bind(id)
    .bind(id_of(&bed))
    .bind(now)
    .execute(&app.pool)
    .await
    .expect("decisions");
    let hub = app.browser("hub").await;
    let page = hub.page("/hub").await;
    assert_eq!(page.text(".hw-notice-count"), "99+ new");
    // once seen, nothing is new
    hub.page("/notifications").await;
    let page = hub.page("/hub").await;
    assert_eq!(page.count(".hw-notice-count"), 0);
    // one more decision: 1
    sqlx::query(
        "INSERT INTO referrals (patient_id, offer_id, org_code, status, decline_reason, decided_at, created_at) \
         VALUES ($1, $2, 'PRV1', 'declined', 'no_capacity', $3 + interval '1 minute', $3)",
    )
    .bind(id)
    .bind(id_of(&bed))
    .bind(now)
    .execute(&app.pool)
    .await
    .expect("a decision");
    assert_eq!(hub.page("/hub").await.text(".hw-notice-count"), "1 new");
}

#[tokio::test]
async fn a_new_ward_reaches_the_pages_without_a_restart() {
    let app = TestApp::spawn().await;
    let hub = app.browser("hub").await;
    let form = hub.page("/patients/new").await;
    assert!(!form.text("#ward_code").contains("Ward 99"));
    sqlx::query("INSERT INTO wards (code, site_code, org_code, name) VALUES ('RHW-W99', 'RHW01', 'RHW', 'Ward 99')")
        .execute(&app.pool)
        .await
        .expect("a ward");
    let mut shown = false;
    for _ in 0..50 {
        if hub
            .page("/patients/new")
            .await
            .text("#ward_code")
            .contains("Ward 99")
        {
            shown = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        shown,
        "the cached wards were read again after the change was announced"
    );
}

#[tokio::test]
async fn requests_dropped_mid_command_leave_no_connection_in_a_transaction() {
    let app = TestApp::spawn().await;
    let mut ids = vec![];
    for nhs in NHS {
        ids.push(app.awaiting_care(nhs, 2).await);
    }
    let api = app.api("hub").await;
    // 120 commands whose clients hang up after 0 to 6 ms, wherever the server has got to
    let mut calls = vec![];
    for n in 0..120u64 {
        let client = api.client.clone();
        let url = format!(
            "{}/api/v1/patients/{}/delay-reason",
            app.base,
            ids[(n % 6) as usize]
        );
        let token = api.token.clone();
        let code = ["p2_bed", "transport", "medicines_tto"][(n % 3) as usize];
        calls.push(tokio::spawn(async move {
            let _ = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"code": code}))
                .timeout(std::time::Duration::from_micros(n * 50))
                .send()
                .await;
        }));
    }
    for c in calls {
        c.await.ok();
    }
    // the server finishes what it started; then nothing may be left inside a transaction
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let stuck = app
        .count(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND state LIKE 'idle in transaction%'",
            app.db.name
        ))
        .await;
    assert_eq!(stuck, 0, "connections left in a transaction");
    // every case's history agrees with its version: no change half made
    for id in &ids {
        let (version, changes): (i32, i64) = sqlx::query_as(
            "SELECT p.version, (SELECT count(*) FROM patient_history h WHERE h.patient_id = p.id AND h.action <> 'created') \
             FROM patients p WHERE p.id = $1",
        )
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .expect("a case");
        assert_eq!(i64::from(version) - 1, changes, "case {id}");
    }
    // and the page views after it are all in the access log
    let hub = app.browser("hub").await;
    let start = app.count("SELECT count(*) FROM access_log").await;
    for _ in 0..20 {
        hub.page("/hub").await;
    }
    assert_eq!(
        app.count("SELECT count(*) FROM access_log").await,
        start + 20
    );
}
