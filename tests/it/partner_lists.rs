//! Lists partners can trust (issue 14, CONTRACT.md "Lists"), through HTTP as a partner
//! pages: every list answers `{"items","next","total"}`, pages with an opaque cursor in a
//! stable order, refuses a limit over 500 and a cursor it did not give out (422), filters by
//! `updated_since`, and scopes each role before it counts or pages. A partner paging through
//! 10,000 cases while cases are being added sees every case that was there exactly once.

use crate::common::*;
use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Every page of `path` (which has no query string of its own, or ends with `&`-ready
/// parameters), `limit` at a time: the items in order, and the totals each page gave.
async fn all_pages(api: &Api, path: &str, limit: usize) -> (Vec<Value>, Vec<i64>) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut url = format!("{path}{sep}limit={limit}");
    let mut seen = vec![];
    let mut totals = vec![];
    for _ in 0..10_000 {
        let page = api.get_json(&url).await;
        assert!(page["items"].is_array(), "{url}: {page}");
        assert!(page.get("next").is_some(), "{url}: next is always there");
        let items = items(&page);
        assert!(items.len() <= limit, "{url}: {} items", items.len());
        seen.extend(items.iter().cloned());
        totals.push(page["total"].as_i64().expect("total"));
        match page["next"].as_str() {
            Some(next) => {
                assert!(!items.is_empty(), "{url}: a next page after an empty one");
                url = format!("{path}{sep}limit={limit}&cursor={next}");
            }
            None => return (seen, totals),
        }
    }
    panic!("{path}: the pages never ended");
}

fn ids(items: &[Value]) -> Vec<i64> {
    items.iter().map(id_of).collect()
}

fn time_of(v: &Value, field: &str) -> DateTime<Utc> {
    utc(v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {v}")))
}

/// Newest first by `field`, ties by id (descending).
fn assert_newest_first(items: &[Value], field: &str, what: &str) {
    for pair in items.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let key = |v: &Value| (time_of(v, field), id_of(v));
        assert!(key(a) > key(b), "{what}: {a} before {b}");
    }
}

/// `ISO 8601` as a partner writes it.
fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[tokio::test]
async fn a_partner_paging_through_10000_cases_while_cases_are_added_sees_each_once() {
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    // 10,000 cases, written with SQL; pairs share an updated_at, so ties by id are paged too
    sqlx::query(
        "INSERT INTO patients (nhs_number, given_name, family_name, date_of_birth, sex, postcode, trust_code, ward_code, \
         admitted_at, status, created_at, updated_at) \
         SELECT lpad(g::text, 10, '0'), 'T', 'Case' || g, '1940-01-01', 'female', 'LS9 7TF', \
         CASE WHEN g % 3 = 0 THEN 'RXX' ELSE 'RHW' END, CASE WHEN g % 3 = 0 THEN 'RXX-W01' ELSE 'RHW-AMU' END, \
         $1 - interval '30 days', 'planning', $1 - interval '20 days', $1 - ((g % 5000 + 1) || ' minutes')::interval \
         FROM generate_series(1, 10000) g",
    )
    .bind(now)
    .execute(&app.pool)
    .await
    .expect("10,000 cases");
    let before: BTreeSet<i64> = sqlx::query_scalar::<_, i64>("SELECT id FROM patients")
        .fetch_all(&app.pool)
        .await
        .expect("ids")
        .into_iter()
        .collect();
    assert_eq!(before.len(), 10_000);

    // a ward keeps flagging patients through the API for as long as the partner pages
    let stop = Arc::new(AtomicBool::new(false));
    let added = Arc::new(AtomicUsize::new(0));
    let ward = app.api("ward").await;
    let adder = {
        let (stop, added) = (stop.clone(), added.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let res = ward
                    .post("/api/v1/patients", patient_at(&valid_nhs(n), now))
                    .await;
                assert_eq!(res.status(), StatusCode::CREATED);
                n += 1;
                added.store(n, Ordering::SeqCst);
            }
        })
    };

    let hub = app.api("hub").await;
    let mut seen: Vec<i64> = vec![];
    let mut url = "/api/v1/patients?limit=500".to_string();
    let mut pages = 0;
    loop {
        let before_page = added.load(Ordering::SeqCst);
        let page = hub.get_json(&url).await;
        pages += 1;
        let total = page["total"].as_i64().expect("total");
        assert!(total >= 10_000 + before_page as i64, "total {total}");
        seen.extend(ids(items(&page)));
        // let the ward add a few between two pages, too
        while added.load(Ordering::SeqCst) < before_page + 2 {
            tokio::task::yield_now().await;
        }
        match page["next"].as_str() {
            Some(next) => url = format!("/api/v1/patients?limit=500&cursor={next}"),
            None => break,
        }
    }
    stop.store(true, Ordering::SeqCst);
    adder.await.expect("the ward's task");

    let once: BTreeSet<i64> = seen.iter().copied().collect();
    assert_eq!(once.len(), seen.len(), "no case twice");
    let missing: Vec<_> = before.difference(&once).take(10).collect();
    assert!(missing.is_empty(), "missed {missing:?}");
    let added_while_paging = added.load(Ordering::SeqCst);
    assert!(
        added_while_paging >= 2 * pages,
        "cases were added while paging ({added_while_paging} over {pages} pages)"
    );
    assert!(pages >= 20, "{pages} pages of 500");
    // the cases added while paging are newer than the cursor: they wait at the front for the
    // next sync, which finds them with updated_since
    let fresh = hub
        .get_json(&format!(
            "/api/v1/patients?limit=500&updated_since={}",
            iso(now)
        ))
        .await;
    assert_eq!(
        fresh["total"].as_i64(),
        Some(added.load(Ordering::SeqCst) as i64)
    );
}

/// A patient, a referral, an offer, a directory entry, a note and a task, so that every list
/// has something in it; returns the patient's id.
async fn one_of_everything(app: &TestApp) -> i64 {
    let now = app.clock.now();
    let patient = app.awaiting_care(NHS[0], 3).await;
    let offer = app.post_offer("provider", offer_at(3, now)).await;
    app.refer(patient, id_of(&offer)).await;
    app.api("provider")
        .await
        .post_expect(
            "/api/v1/directory",
            json!({"name": "Meadowbank House", "service_types": ["residential"], "contact": "0113 000 0000"}),
            StatusCode::CREATED,
        )
        .await;
    let ward = app.api("ward").await;
    ward.post_expect(
        &format!("/api/v1/patients/{patient}/notes"),
        json!({"text": "Rang the daughter"}),
        StatusCode::CREATED,
    )
    .await;
    ward.post_expect(
        &format!("/api/v1/patients/{patient}/tasks"),
        json!({"title": "Ring the home", "due_at": (now + Duration::hours(3)).to_rfc3339()}),
        StatusCode::CREATED,
    )
    .await;
    patient
}

fn every_list(patient: i64) -> Vec<String> {
    vec![
        "/api/v1/patients".into(),
        "/api/v1/referrals".into(),
        "/api/v1/capacity".into(),
        "/api/v1/directory".into(),
        format!("/api/v1/patients/{patient}/notes"),
        format!("/api/v1/patients/{patient}/tasks"),
        "/api/v1/tasks".into(),
    ]
}

#[tokio::test]
async fn every_list_refuses_a_limit_over_500_and_a_cursor_it_did_not_give_out() {
    let app = TestApp::spawn().await;
    let patient = one_of_everything(&app).await;
    // a second of everything that pages, so each list gives out a cursor at limit=1
    let hub = app.api("hub").await;
    let ward = app.api("ward").await;
    let patient2 = app.awaiting_care(NHS[1], 3).await;
    let offer2 = app
        .post_offer("provider", offer_at(2, app.clock.now()))
        .await;
    app.refer(patient2, id_of(&offer2)).await;
    app.api("provider")
        .await
        .post_expect(
            "/api/v1/directory",
            json!({"name": "Meadowbank Lodge", "service_types": ["nursing"], "contact": "0113 000 0001"}),
            StatusCode::CREATED,
        )
        .await;
    ward.post_expect(
        &format!("/api/v1/patients/{patient}/notes"),
        json!({"text": "Second note"}),
        StatusCode::CREATED,
    )
    .await;
    ward.post_expect(
        &format!("/api/v1/patients/{patient}/tasks"),
        json!({"title": "Second task", "due_at": (app.clock.now() + Duration::hours(5)).to_rfc3339()}),
        StatusCode::CREATED,
    )
    .await;

    let mut cursors: HashMap<String, String> = HashMap::new();
    for list in every_list(patient) {
        // the default page: the contract's shape
        let page = hub.get_json(&list).await;
        assert!(page["items"].is_array(), "{list}: {page}");
        assert!(
            page["total"].as_i64().is_some_and(|t| t >= 1),
            "{list}: {page}"
        );
        assert!(
            page["next"].is_null(),
            "{list}: one page at the default limit"
        );
        // a cursor of its own, at limit=1
        let first = hub.get_json(&format!("{list}?limit=1")).await;
        let next = first["next"]
            .as_str()
            .unwrap_or_else(|| panic!("{list}: a next page at limit=1: {first}"))
            .to_string();
        hub.get_json(&format!("{list}?limit=1&cursor={next}")).await;
        cursors.insert(list.clone(), next);
        for bad in [
            "limit=501",
            "limit=0",
            "limit=-3",
            "limit=many",
            "cursor=zz",
            "cursor=abc",
        ] {
            let res = hub.get(&format!("{list}?{bad}")).await;
            let body = expect_json(
                res,
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("{list}?{bad}"),
            )
            .await;
            assert_eq!(body["error"]["code"], "validation_failed", "{list}?{bad}");
            let field = bad.split('=').next().unwrap_or_default();
            assert!(
                body["error"]["fields"][field].is_string(),
                "{list}?{bad}: {body}"
            );
        }
        let page = hub.get_json(&format!("{list}?limit=500")).await;
        assert!(page["total"].is_i64(), "{list}");
    }
    // a cursor from one list is not a cursor of another
    for (from, cursor) in &cursors {
        for list in every_list(patient) {
            // a case's tasks and everyone's tasks are one order (soonest due first): a
            // position in one is a position in the other
            if &list == from || (list.ends_with("tasks") && from.ends_with("tasks")) {
                continue;
            }
            let res = hub.get(&format!("{list}?cursor={cursor}")).await;
            let body = expect_json(
                res,
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("{list} with a cursor of {from}"),
            )
            .await;
            assert!(body["error"]["fields"]["cursor"].is_string(), "{body}");
        }
    }
}

#[tokio::test]
async fn every_list_pages_newest_change_first_with_next_and_total() {
    let app = TestApp::spawn().await;
    let start = app.clock.now();
    let provider = app.api("provider").await;
    let ward = app.api("ward").await;
    let patient = app.flag_id("ward", patient_at(NHS[0], start)).await;
    // seven of each, a minute apart, and two at the same minute (ties by id)
    for i in 0..7 {
        app.clock.set(start + Duration::minutes(i.min(5)));
        let now = app.clock.now();
        let case = app.awaiting_care(&valid_nhs(i as usize), 3).await;
        let offer = app.post_offer("provider", offer_at(2, now)).await;
        app.refer(case, id_of(&offer)).await;
        provider
            .post_expect(
                "/api/v1/directory",
                json!({"name": format!("Home {i}"), "service_types": ["residential"], "contact": "0113"}),
                StatusCode::CREATED,
            )
            .await;
        ward.post_expect(
            &format!("/api/v1/patients/{patient}/notes"),
            json!({"text": format!("Note {i}")}),
            StatusCode::CREATED,
        )
        .await;
        ward.post_expect(
            &format!("/api/v1/patients/{patient}/tasks"),
            json!({"title": format!("Task {i}"), "due_at": (start + Duration::hours(10 - i.min(5))).to_rfc3339()}),
            StatusCode::CREATED,
        )
        .await;
    }
    let hub = app.api("hub").await;
    for (list, order_by) in [
        ("/api/v1/patients".to_string(), Some("updated_at")),
        ("/api/v1/referrals".to_string(), Some("updated_at")),
        ("/api/v1/capacity".to_string(), Some("updated_at")),
        ("/api/v1/directory".to_string(), Some("updated_at")),
        (format!("/api/v1/patients/{patient}/notes"), Some("at")),
        (format!("/api/v1/patients/{patient}/tasks"), None),
        ("/api/v1/tasks".to_string(), None),
    ] {
        let (paged, totals) = all_pages(&hub, &list, 2).await;
        let (whole, _) = all_pages(&hub, &list, 500).await;
        assert_eq!(
            ids(&paged),
            ids(&whole),
            "{list}: pages of 2 are the list in order"
        );
        let unique: BTreeSet<i64> = ids(&paged).into_iter().collect();
        assert_eq!(unique.len(), paged.len(), "{list}: no item twice");
        assert!(
            totals.iter().all(|t| *t == paged.len() as i64),
            "{list}: total {totals:?} on every page, {} items",
            paged.len()
        );
        assert!(paged.len() >= 7, "{list}");
        match order_by {
            Some(field) => assert_newest_first(&paged, field, &list),
            None => {
                // tasks: soonest due first, ties by id
                for pair in paged.windows(2) {
                    let key = |v: &Value| (time_of(v, "due_at"), id_of(v));
                    assert!(key(&pair[0]) < key(&pair[1]), "{list}");
                }
            }
        }
    }
}

#[tokio::test]
async fn updated_since_finds_what_changed_on_patients_referrals_and_capacity() {
    let app = TestApp::spawn().await;
    let start = app.clock.now();
    let mut referrals = vec![];
    for nhs in &NHS[0..3] {
        let case = app.awaiting_care(nhs, 3).await;
        let offer = app.post_offer("provider", offer_at(2, start)).await;
        referrals.push((
            case,
            id_of(&offer),
            id_of(&app.refer(case, id_of(&offer)).await),
        ));
    }
    // an hour later the provider accepts one referral: the referral, its offer (a place
    // taken) and the patient (care arranged) change
    let later = start + Duration::hours(1);
    app.clock.set(later);
    let (case, offer, referral) = referrals[1];
    app.decide("provider", referral, "accept").await;
    let hub = app.api("hub").await;
    let since = iso(later - Duration::seconds(1));
    for (list, want) in [
        ("/api/v1/referrals", referral),
        ("/api/v1/capacity", offer),
        ("/api/v1/patients", case),
    ] {
        let page = hub.get_json(&format!("{list}?updated_since={since}")).await;
        assert_eq!(ids(items(&page)), vec![want], "{list}: {page}");
        assert_eq!(page["total"], 1, "{list}");
        assert!(time_of(&items(&page)[0], "updated_at") >= later, "{list}");
        // and everything since the start
        let all = hub
            .get_json(&format!("{list}?updated_since={}", iso(start)))
            .await;
        assert_eq!(all["total"], 3, "{list}: {all}");
        let res = hub.get(&format!("{list}?updated_since=yesterday")).await;
        expect_json(res, StatusCode::UNPROCESSABLE_ENTITY, list).await;
    }
    // the referral says when it changed, and lists newest change first
    let all = hub.get_json("/api/v1/referrals").await;
    assert_eq!(id_of(&items(&all)[0]), referral);
    assert_newest_first(items(&all), "updated_at", "referrals");
}

#[tokio::test]
async fn each_role_pages_only_what_it_may_see_and_counts_only_that() {
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    // two cases referred to PRV1, one to PRV2; a case of RXX with no referral
    let mut to_prv1 = vec![];
    for nhs in &NHS[0..2] {
        let case = app.awaiting_care(nhs, 3).await;
        let offer = app.post_offer("provider", offer_at(2, now)).await;
        to_prv1.push(id_of(&app.refer(case, id_of(&offer)).await));
    }
    let case3 = app.awaiting_care(NHS[2], 3).await;
    let offer3 = app.post_offer("provider2", offer_at(2, now)).await;
    let to_prv2 = id_of(&app.refer(case3, id_of(&offer3)).await);
    let mut rxx = patient_at(NHS[3], now);
    rxx["ward_code"] = json!("RXX-W01");
    app.flag("ward2", rxx).await;

    let provider = app.api("provider").await;
    let (seen, totals) = all_pages(&provider, "/api/v1/referrals", 1).await;
    let mut want = to_prv1.clone();
    want.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(ids(&seen), want, "the provider's referrals, one a page");
    assert!(totals.iter().all(|t| *t == 2), "{totals:?}");
    assert!(seen.iter().all(|r| r["org_code"] == "PRV1"));
    let (seen, _) = all_pages(&app.api("provider2").await, "/api/v1/referrals", 1).await;
    assert_eq!(ids(&seen), vec![to_prv2]);
    // offers: a provider its own
    let (offers, totals) = all_pages(&provider, "/api/v1/capacity", 1).await;
    assert_eq!(offers.len(), 2);
    assert!(totals.iter().all(|t| *t == 2));
    assert!(offers.iter().all(|o| o["org_code"] == "PRV1"));
    // patients: a provider the ones referred to it, without identifiers before it accepts
    let (cases, totals) = all_pages(&provider, "/api/v1/patients", 1).await;
    assert_eq!(cases.len(), 2);
    assert!(totals.iter().all(|t| *t == 2));
    assert!(cases.iter().all(|c| c.get("nhs_number").is_none()));
    // a ward user its trust's cases and their referrals
    let ward2 = app.api("ward2").await;
    let (cases, totals) = all_pages(&ward2, "/api/v1/patients", 1).await;
    assert_eq!(cases.len(), 1);
    assert!(totals.iter().all(|t| *t == 1));
    let (refs, totals) = all_pages(&ward2, "/api/v1/referrals", 1).await;
    assert!(refs.is_empty() && totals == vec![0]);
    let (refs, _) = all_pages(&app.api("ward").await, "/api/v1/referrals", 2).await;
    assert_eq!(refs.len(), 3);
    // the hub all of them; an administrator no case and no referral
    let (refs, _) = all_pages(&app.api("hub").await, "/api/v1/referrals", 2).await;
    assert_eq!(refs.len(), 3);
    let admin = app.api("admin").await;
    assert_eq!(admin.get_json("/api/v1/referrals").await["total"], 0);
    assert_eq!(admin.get_json("/api/v1/patients").await["total"], 0);
    // a provider's cursor carries nothing it could not see: the hub's cursor, used by the
    // provider, still shows only the provider's rows
    let hub_page = app
        .api("hub")
        .await
        .get_json("/api/v1/referrals?limit=1")
        .await;
    let cursor = hub_page["next"].as_str().expect("a next page");
    let page = provider
        .get_json(&format!("/api/v1/referrals?cursor={cursor}"))
        .await;
    assert!(items(&page).iter().all(|r| r["org_code"] == "PRV1"));
    assert_eq!(page["total"], 2);
    // notes and tasks are never a provider's
    for list in [
        "/api/v1/tasks".to_string(),
        format!("/api/v1/patients/{case3}/notes"),
    ] {
        provider.get_expect(&list, StatusCode::NOT_FOUND).await;
    }
}
