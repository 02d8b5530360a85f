//! The hospital feed, proved with an implementation that is not ours: ADT messages sent over
//! TCP to a real `homeward serve --hl7-addr` by the `hl7` package from PyPI (its MLLP client
//! frames them; `hl7.parse` reads our ACKs), including duplicates, out-of-order and malformed
//! messages; a ward's day through the MLLP port compared with typing the same day through
//! the API; the admin page (health, refused messages and replay, the location mapping); and
//! the replay CLI. Every message time is relative to the test clock.
//!
//! The Python tool lives in a virtual environment `.ci/test` makes
//! (`~/.cache/homeward/hl7-py-<version>`, `HOMEWARD_HL7_PYTHON`); without it these tests
//! are skipped, and fail under `HOMEWARD_REQUIRE_ALL_TESTS=1`.

use crate::common::*;
use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------
// Messages

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y%m%d%H%M%S+0000").to_string()
}

#[derive(Clone)]
struct Person {
    nhs: Option<String>,
    local: String,
    family: String,
    given: String,
    dob: String,
    sex: String,
    postcode: String,
}

fn person(nhs: Option<String>, local: &str, family: &str, given: &str) -> Person {
    Person {
        nhs,
        local: local.to_string(),
        family: family.to_string(),
        given: given.to_string(),
        dob: "19400512".to_string(),
        sex: "F".to_string(),
        postcode: "LS9 7TF".to_string(),
    }
}

fn pid(p: &Person) -> String {
    let mut ids = vec![];
    if let Some(n) = &p.nhs {
        ids.push(format!("{n}^^^NHS^NH"));
    }
    ids.push(format!("{}^^^RHW^MR", p.local));
    format!(
        "PID|1||{}||{}^{}||{}|{}|||1 Church Lane^^Hartwell^^{}",
        ids.join("~"),
        p.family,
        p.given,
        p.dob,
        p.sex,
        p.postcode
    )
}

#[derive(Default, Clone)]
struct Pv1 {
    poc: String,
    bed: String,
    admitted: Option<DateTime<Utc>>,
    discharged: Option<DateTime<Utc>>,
    disposition: String,
    to: String,
}

fn at(poc: &str, bed: &str) -> Pv1 {
    Pv1 {
        poc: poc.to_string(),
        bed: bed.to_string(),
        ..Pv1::default()
    }
}

fn pv1(v: &Pv1) -> String {
    let mut f = vec![String::new(); 46];
    f[0] = "PV1".into();
    f[1] = "1".into();
    f[2] = "I".into();
    f[3] = format!("{}^^{}^RHW", v.poc, v.bed);
    f[36] = v.disposition.clone();
    f[37] = v.to.clone();
    f[44] = v.admitted.map(ts).unwrap_or_default();
    f[45] = v.discharged.map(ts).unwrap_or_default();
    f.join("|")
}

/// An ADT message of `event` sent at `when`, with PID, an optional PV1 and more segments.
fn adt(
    event: &str,
    control: &str,
    when: DateTime<Utc>,
    p: &Person,
    visit: Option<&Pv1>,
    more: &[String],
) -> String {
    let mut segments = vec![
        format!(
            "MSH|^~\\&|PAS|RHW|HOMEWARD|HUB|{}||ADT^{event}^ADT_{event}|{control}|P|2.5.1",
            ts(when)
        ),
        format!("EVN|{event}|{}", ts(when)),
        pid(p),
    ];
    if let Some(v) = visit {
        segments.push(pv1(v));
    }
    segments.extend(more.iter().cloned());
    segments.join("\r")
}

fn mrg(local: &str) -> String {
    format!("MRG|{local}^^^RHW^MR")
}

// ---------------------------------------------------------------------------------------
// The independent sender

const HL7_PY_VERSION: &str = "0.4.5";

/// The Python with `hl7` installed: `HOMEWARD_HL7_PYTHON`, else the virtual environment
/// `.ci/test` makes.
fn python() -> Option<String> {
    if let Ok(p) = std::env::var("HOMEWARD_HL7_PYTHON") {
        return Some(p);
    }
    let home = std::env::var("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| std::path::Path::new(&h).join(".cache")))
        .ok()?;
    let p = home
        .join("homeward")
        .join(format!("hl7-py-{HL7_PY_VERSION}"))
        .join("bin")
        .join("python");
    p.exists().then(|| p.to_string_lossy().into_owned())
}

fn sender_present(test: &str) -> Option<String> {
    let py = python();
    let missing = match &py {
        Some(p) if std::path::Path::new(p).exists() => vec![],
        _ => vec![format!(
            "Python with the hl7 package (pip install hl7=={HL7_PY_VERSION}; .ci/test makes ~/.cache/homeward/hl7-py-{HL7_PY_VERSION})"
        )],
    };
    if tools_present(test, &missing) {
        py
    } else {
        None
    }
}

/// Sends the messages in order on one MLLP connection with the `hl7` package; its reading
/// of each ACK (MSA-1, MSA-2, MSA-3).
async fn send(py: &str, port: u16, messages: &[String]) -> Vec<Value> {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let file = std::env::temp_dir().join(format!(
        "homeward-hl7-{}-{}.json",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    std::fs::write(&file, serde_json::to_vec(messages).unwrap()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hl7/send.py");
    let out = tokio::process::Command::new(py)
        .args([script, "127.0.0.1", &port.to_string()])
        .arg(&file)
        .output()
        .await
        .expect("python runs");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "send.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let acks: Vec<Value> = serde_json::from_slice(&out.stdout).expect("send.py prints JSON");
    assert_eq!(acks.len(), messages.len(), "one ACK per message");
    acks
}

fn codes(acks: &[Value]) -> Vec<String> {
    acks.iter()
        .map(|a| a["msa1"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Maps RHW's locations AMU, W10 to the test area's wards (as the demo area does).
async fn map_locations(app: &TestApp) {
    sqlx::query(
        "INSERT INTO hl7_locations (sending_facility, point_of_care, ward_code) VALUES \
         ('RHW', 'AMU', 'RHW-AMU'), ('RHW', 'W10', 'RHW-W10')",
    )
    .execute(&app.pool)
    .await
    .unwrap();
}

/// `homeward serve` on the test's database and clock, with the feed on a port of its own.
async fn serve_with_feed(app: &TestApp) -> (Server, u16) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let server = Server::start(
        &app.database_url(),
        Some(app.clock.now()),
        &["--hl7-addr", &addr],
    )
    .await;
    (server, port)
}

/// Every case as a partner reads it (a hub token), keyed by NHS number or hospital number.
async fn cases(app: &TestApp) -> BTreeMap<String, Value> {
    let hub = app.api("hub").await;
    let mut all = BTreeMap::new();
    for status in ["planning", "awaiting_triage", "discharged", "cancelled"] {
        let list = hub
            .get_json(&format!("/api/v1/patients?status={status}"))
            .await;
        for p in items(&list) {
            let key = p["nhs_number"]
                .as_str()
                .map(str::to_string)
                .or_else(|| p["local_id"].as_str().map(str::to_string))
                .unwrap_or_default();
            all.insert(format!("{key} {status}"), p.clone());
        }
    }
    all
}

/// What a ward list shows of a case (and how a discharge was coded).
fn shown(p: &Value) -> Value {
    let keys = [
        "nhs_number",
        "nhs_number_status",
        "local_id",
        "given_name",
        "family_name",
        "date_of_birth",
        "sex",
        "postcode",
        "ward_code",
        "bed",
        "admitted_at",
        "status",
        "discharged_at",
        "discharge_destination",
        "discharge_method",
    ];
    let mut out = serde_json::Map::new();
    for k in keys {
        let v = match &p[k] {
            // instants compared as instants, whatever their spelling
            Value::String(s) if k.ends_with("_at") => {
                json!(utc(s).to_rfc3339())
            }
            v => v.clone(),
        };
        out.insert(k.to_string(), v);
    }
    Value::Object(out)
}

// ---------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn admissions_duplicates_order_and_bad_messages_over_mllp() {
    let Some(py) = sender_present("admissions_duplicates_order_and_bad_messages_over_mllp") else {
        return;
    };
    let app = TestApp::spawn().await;
    map_locations(&app).await;
    let (_server, port) = serve_with_feed(&app).await;
    let now = app.clock.now();
    let ada = person(Some(valid_nhs(1)), "RHW1001", "Lovelace", "Ada");
    let bob = person(Some(valid_nhs(2)), "RHW1002", "Babbage", "Charles");
    let admit_ada = adt(
        "A01",
        "M1",
        now - Duration::hours(5),
        &ada,
        Some(&Pv1 {
            admitted: Some(now - Duration::hours(5)),
            ..at("AMU", "B4")
        }),
        &[],
    );
    let mut newer_ada = ada.clone();
    newer_ada.postcode = "LS8 1AA".into();
    let mut older_ada = ada.clone();
    older_ada.family = "Byron".into();
    let mut bad_dob = bob.clone();
    bad_dob.dob = "19401350".into();
    let messages = vec![
        // 0: admitted
        admit_ada.clone(),
        // 1: the same message again: AA, nothing changes
        admit_ada,
        // 2: a transfer for a patient not admitted yet: refused and kept
        adt(
            "A02",
            "M2",
            now - Duration::hours(4),
            &bob,
            Some(&at("W10", "C1")),
            &[],
        ),
        // 3: the admission it was waiting for
        adt(
            "A01",
            "M3",
            now - Duration::hours(4),
            &bob,
            Some(&at("AMU", "A1")),
            &[],
        ),
        // 4: an update, then 5: an older one arriving late: taken, nothing changes
        adt("A08", "M4", now - Duration::hours(2), &newer_ada, None, &[]),
        adt("A08", "M5", now - Duration::hours(3), &older_ada, None, &[]),
        // 6: a malformed date of birth
        adt(
            "A01",
            "M6",
            now - Duration::hours(1),
            &bad_dob,
            Some(&at("AMU", "A2")),
            &[],
        ),
        // 7: a location nobody mapped
        adt(
            "A02",
            "M7",
            now - Duration::hours(1),
            &ada,
            Some(&at("ITU", "1")),
            &[],
        ),
        // 8: an event Homeward never takes, 9: a version before 2.4
        adt("A05", "M8", now, &ada, Some(&at("AMU", "1")), &[]),
        adt("A01", "M9", now, &ada, Some(&at("AMU", "1")), &[]).replace("|P|2.5.1", "|P|2.3"),
        // 10: garbage after a good header
        format!(
            "MSH|^~\\&|PAS|RHW|HOMEWARD|HUB|{}||ADT^A08|M10|P|2.5\rPID|1||\u{7}^^^^XX||",
            ts(now)
        ),
        // 11: the transfer of 2 again as a new message, now that Bob is admitted
        adt(
            "A02",
            "M11",
            now - Duration::hours(4),
            &bob,
            Some(&at("W10", "C1")),
            &[],
        ),
    ];
    let acks = send(&py, port, &messages).await;
    assert_eq!(
        codes(&acks),
        [
            "AA", "AA", "AE", "AA", "AA", "AA", "AE", "AE", "AR", "AR", "AE", "AA"
        ],
        "{acks:#?}"
    );
    // MSA-2 is the message's control id, every time
    let controls: Vec<&str> = acks.iter().map(|a| a["msa2"].as_str().unwrap()).collect();
    assert_eq!(
        controls,
        [
            "M1", "M1", "M2", "M3", "M4", "M5", "M6", "M7", "M8", "M9", "M10", "M11"
        ]
    );
    assert!(
        acks[2]["text"]
            .as_str()
            .unwrap()
            .contains("No open admission")
    );
    assert!(
        acks[6]["text"].as_str().unwrap().contains("PID-7"),
        "{}",
        acks[6]
    );
    assert!(
        acks[7]["text"].as_str().unwrap().contains("ITU"),
        "{}",
        acks[7]
    );
    assert!(acks[6]["ack"].as_str().unwrap().contains("\rERR|"));

    let all = cases(&app).await;
    let ada_case = &all[&format!("{} planning", valid_nhs(1))];
    assert_eq!(ada_case["ward_code"], "RHW-AMU");
    assert_eq!(ada_case["bed"], "B4");
    assert_eq!(
        ada_case["family_name"], "Lovelace",
        "the older update changed nothing"
    );
    assert_eq!(ada_case["postcode"], "LS8 1AA", "the newer update applied");
    assert_eq!(ada_case["local_id"], "RHW1001");
    let bob_case = &all[&format!("{} planning", valid_nhs(2))];
    assert_eq!(
        (bob_case["ward_code"].as_str(), bob_case["bed"].as_str()),
        (Some("RHW-W10"), Some("C1"))
    );
    assert_eq!(all.len(), 2, "{all:#?}");
    // the duplicate wrote nothing: one case, two history rows (opened, postcode)
    let ada_id = id_of(ada_case);
    assert_eq!(
        app.history_actions(ada_id).await,
        ["created", "demographics_updated"]
    );
    assert_eq!(app.history(ada_id).await[0]["actor"], "hl7-feed-rhw");
    // every message is in the log once; the refused and rejected wait for an administrator
    assert_eq!(
        app.count("SELECT count(*) FROM hl7_messages WHERE control_id = 'M1'")
            .await,
        1
    );
    assert_eq!(
        app.count(
            "SELECT count(*) FROM hl7_messages WHERE outcome = 'refused' AND resolved_at IS NULL"
        )
        .await,
        4
    );
    assert_eq!(
        app.count("SELECT count(*) FROM hl7_messages WHERE outcome = 'rejected'")
            .await,
        2
    );
    assert_eq!(
        app.count("SELECT count(*) FROM hl7_messages WHERE outcome = 'ignored'")
            .await,
        1
    );
}

/// The issue's "done": a ward's day (admissions, transfers, two discharges, a cancelled
/// admission, a merge) through the MLLP port gives the same ward list as typing the day
/// into the API.
#[tokio::test]
async fn a_wards_day_through_the_feed_matches_typing_it() {
    let Some(py) = sender_present("a_wards_day_through_the_feed_matches_typing_it") else {
        return;
    };
    let fed = TestApp::spawn().await;
    map_locations(&fed).await;
    let (_server, port) = serve_with_feed(&fed).await;
    let now = fed.clock.now();
    let h = |hours: i64| now - Duration::hours(hours);
    let ada = person(Some(valid_nhs(11)), "RHW2001", "Lovelace", "Ada");
    let bob = person(Some(valid_nhs(12)), "RHW2002", "Babbage", "Charles");
    let mut cy = person(None, "RHW2003", "Hopper", "Grce");
    cy.sex = "F".into();
    let dee = person(Some(valid_nhs(14)), "RHW2004", "Noether", "Emmy");
    let eve = person(Some(valid_nhs(15)), "RHW2005", "Franklin", "Rosalind");
    // Dee's second record, made at the front desk without her NHS number
    let dee_again = person(None, "RHW2006", "Noether", "Emmy");
    let admit = |p: &Person, control: &str, when: DateTime<Utc>, poc: &str, bed: &str| {
        adt(
            "A01",
            control,
            when,
            p,
            Some(&Pv1 {
                admitted: Some(when),
                ..at(poc, bed)
            }),
            &[],
        )
    };
    let mut cy_fixed = cy.clone();
    cy_fixed.given = "Grace".into();
    cy_fixed.postcode = "LS6 2BB".into();
    let day = vec![
        admit(&ada, "D01", h(10), "AMU", "1"),
        admit(&bob, "D02", h(10) + Duration::minutes(10), "AMU", "2"),
        admit(&cy, "D03", h(9) - Duration::minutes(30), "AMU", "3"),
        admit(&dee, "D04", h(9), "AMU", "4"),
        adt("A02", "D05", h(8), &ada, Some(&at("W10", "5")), &[]),
        adt("A02", "D06", h(7), &bob, Some(&at("W10", "6")), &[]),
        admit(&eve, "D07", h(6), "AMU", "7"),
        adt(
            "A11",
            "D08",
            h(6) + Duration::minutes(30),
            &eve,
            Some(&at("AMU", "7")),
            &[],
        ),
        adt("A08", "D09", h(5), &cy_fixed, None, &[]),
        admit(&dee_again, "D10", h(4), "W10", "8"),
        adt(
            "A40",
            "D11",
            h(4) + Duration::minutes(20),
            &dee,
            None,
            &[mrg("RHW2006")],
        ),
        adt(
            "A03",
            "D12",
            h(3),
            &ada,
            Some(&Pv1 {
                discharged: Some(h(3)),
                disposition: "1".into(),
                to: "19".into(),
                ..at("W10", "5")
            }),
            &[],
        ),
        adt(
            "A03",
            "D13",
            h(2),
            &bob,
            Some(&Pv1 {
                discharged: Some(h(2)),
                disposition: "4".into(),
                to: "79".into(),
                ..at("W10", "6")
            }),
            &[],
        ),
        adt("A02", "D14", h(1), &cy_fixed, Some(&at("W10", "9")), &[]),
    ];
    let acks = send(&py, port, &day).await;
    assert!(codes(&acks).iter().all(|c| c == "AA"), "{acks:#?}");

    // the same day typed by the ward (and the hub, who cancels) through the API
    let typed = TestApp::spawn_at(now).await;
    let ward = typed.api("ward").await;
    let hub = typed.api("hub").await;
    let body = |p: &Person, ward_code: &str, bed: &str, admitted: DateTime<Utc>| {
        let mut b = json!({
            "given_name": p.given, "family_name": p.family, "date_of_birth": "1940-05-12",
            "sex": "female", "postcode": p.postcode, "ward_code": ward_code, "bed": bed,
            "admitted_at": admitted.to_rfc3339(), "local_id": p.local,
        });
        match &p.nhs {
            Some(n) => b["nhs_number"] = json!(n),
            None => b["nhs_number_status"] = json!("unknown"),
        }
        b
    };
    let a = ward
        .post_expect(
            "/api/v1/patients",
            body(&ada, "RHW-W10", "5", h(10)),
            StatusCode::CREATED,
        )
        .await;
    ward.post_expect(
        &format!("/api/v1/patients/{}/discharge", id_of(&a)),
        json!({"discharged_at": h(3).to_rfc3339(), "destination": "p0_home", "method": "1"}),
        StatusCode::OK,
    )
    .await;
    let b = ward
        .post_expect(
            "/api/v1/patients",
            body(&bob, "RHW-W10", "6", h(10) + Duration::minutes(10)),
            StatusCode::CREATED,
        )
        .await;
    ward.post_expect(
        &format!("/api/v1/patients/{}/discharge", id_of(&b)),
        json!({"discharged_at": h(2).to_rfc3339(), "method": "4"}),
        StatusCode::OK,
    )
    .await;
    ward.post_expect(
        "/api/v1/patients",
        body(&cy_fixed, "RHW-W10", "9", h(9) - Duration::minutes(30)),
        StatusCode::CREATED,
    )
    .await;
    ward.post_expect(
        "/api/v1/patients",
        body(&dee, "RHW-AMU", "4", h(9)),
        StatusCode::CREATED,
    )
    .await;
    let e = ward
        .post_expect(
            "/api/v1/patients",
            body(&eve, "RHW-AMU", "7", h(6)),
            StatusCode::CREATED,
        )
        .await;
    hub.post_expect(
        &format!("/api/v1/patients/{}/cancel", id_of(&e)),
        json!({"reason_code": "other", "reason": "Admission cancelled by the hospital"}),
        StatusCode::OK,
    )
    .await;

    let fed_cases = cases(&fed).await;
    let typed_cases = cases(&typed).await;
    let open_and_discharged = |all: &BTreeMap<String, Value>| -> BTreeMap<String, Value> {
        all.iter()
            .filter(|(_, p)| p["status"] != "cancelled")
            .map(|(k, p)| (k.clone(), shown(p)))
            .collect()
    };
    assert_eq!(
        open_and_discharged(&fed_cases),
        open_and_discharged(&typed_cases),
        "the feed's ward list against the typed one"
    );
    assert_eq!(open_and_discharged(&fed_cases).len(), 4);
    // cancelled: Eve's admission (both), and Dee's duplicate record (the feed's merge)
    let cancelled: Vec<&String> = fed_cases
        .iter()
        .filter(|(_, p)| p["status"] == "cancelled")
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        cancelled,
        [
            &format!("{} cancelled", valid_nhs(15)),
            &"RHW2006 cancelled".to_string()
        ]
    );
    // the ward list page shows the same two patients in each
    for app in [&fed, &typed] {
        let page = app.browser("ward").await.page("/ward?ward=RHW-W10").await;
        assert_eq!(page.count("table.hw-ward-cases tbody tr"), 1, "W10: Grace");
    }
}

#[tokio::test]
async fn feed_inpatients_stay_on_the_ward_list_until_flagged() {
    let app = TestApp::spawn().await;
    map_locations(&app).await;
    let now = app.clock.now();
    let ada = person(Some(valid_nhs(21)), "RHW3001", "Lovelace", "Ada");
    let msg = adt(
        "A01",
        "W1",
        now - Duration::hours(3),
        &ada,
        Some(&Pv1 {
            admitted: Some(now - Duration::hours(3)),
            ..at("AMU", "B2")
        }),
        &[],
    );
    let handled = homeward::hl7::feed::receive(&app.state, &msg).await;
    assert_eq!(handled.outcome.as_str(), "applied", "{}", handled.reason);
    let id = handled.patient_id.expect("a case").0;
    let hub = app.browser("hub").await;
    let ward = app.browser("ward").await;
    assert_eq!(
        hub.page("/hub").await.count("table.hw-worklist tbody tr"),
        0
    );
    assert_eq!(
        hub.page("/hub?status=planning")
            .await
            .count("table.hw-worklist tbody tr"),
        1
    );
    assert_eq!(
        ward.page("/ward?ward=RHW-AMU")
            .await
            .count("table.hw-ward-cases tbody tr"),
        1
    );
    // the ward flags the patient in one step from the ward list; now the hub sees them
    let list = ward.page("/ward?ward=RHW-AMU").await;
    let action = list
        .attr("form.hw-flag-now", "action")
        .expect("a flag button");
    assert_eq!(action, format!("/patients/{id}/criteria"));
    let field = |name: &str| {
        list.attr(&format!("form.hw-flag-now input[name={name}]"), "value")
            .unwrap_or_default()
    };
    let res = ward
        .post_form(
            &action,
            &[
                ("meets", &field("meets")),
                ("at_date", &field("at_date")),
                ("at_time", &field("at_time")),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let case = app
        .api("ward")
        .await
        .get_json(&format!("/api/v1/patients/{id}"))
        .await;
    assert_eq!(case["status"], "awaiting_triage");
    assert_eq!(
        hub.page("/hub").await.count("table.hw-worklist tbody tr"),
        1
    );
}

#[tokio::test]
async fn an_administrator_sees_refusals_maps_a_location_and_replays() {
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    let ada = person(Some(valid_nhs(31)), "RHW4001", "Lovelace", "Ada");
    let msg = adt(
        "A01",
        "R1",
        now - Duration::hours(1),
        &ada,
        Some(&at("AMU", "B1")),
        &[],
    );
    let handled = homeward::hl7::feed::receive(&app.state, &msg).await;
    assert_eq!(handled.outcome.as_str(), "refused");
    assert!(handled.ack.contains("MSA|AE|R1|"), "{}", handled.ack);

    let admin = app.browser("admin").await;
    let page = admin.page("/admin/hl7").await;
    assert_eq!(page.text(".hw-feed-hour"), "1");
    assert!(page.text(".hw-feed-errors").contains('1'));
    assert!(
        page.text(".hw-feed-reason").contains("AMU"),
        "{}",
        page.text(".hw-feed-reason")
    );
    let replay = page
        .attr(".hw-feed-refused form", "action")
        .expect("a replay button");
    // replaying before the cause is fixed: still refused, still listed once
    let res = admin.post_form(&replay, &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        admin
            .page("/admin/hl7")
            .await
            .count(".hw-feed-refused tbody tr"),
        1
    );
    // a bad mapping row is refused with the NHS error summary
    let res = admin
        .post_form(
            "/admin/hl7/locations",
            &[
                ("sending_facility", "RHW"),
                ("point_of_care", "AMU"),
                ("ward_code", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        Html::from(res)
            .await
            .text(".nhsuk-error-summary")
            .contains("Select the ward")
    );
    let res = admin
        .post_form(
            "/admin/hl7/locations",
            &[
                ("sending_facility", "rhw"),
                ("point_of_care", "amu"),
                ("ward_code", "RHW-AMU"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        admin
            .page("/admin/hl7")
            .await
            .text(".hw-feed-mapping")
            .contains("RHW-AMU")
    );
    let res = admin.post_form(&replay, &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = admin.page("/admin/hl7").await;
    assert!(
        page.text(".hw-flash").contains("applied"),
        "{}",
        page.text(".hw-flash")
    );
    assert_eq!(page.count(".hw-feed-refused tbody tr"), 0);
    assert_eq!(
        app.count("SELECT count(*) FROM patients WHERE local_id = 'RHW4001'")
            .await,
        1
    );
    // replaying it again finds nothing to replay
    assert_eq!(
        admin.post_form(&replay, &[]).await.status(),
        StatusCode::NOT_FOUND
    );
    // a location of another trust's ward under the same sending facility is refused
    let res = admin
        .post_form(
            "/admin/hl7/locations",
            &[
                ("sending_facility", "RHW"),
                ("point_of_care", "RX1"),
                ("ward_code", "RXX-W01"),
            ],
        )
        .await;
    let page = expect_page(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(
        page.text("#ward_code-error").contains("RHW"),
        "{}",
        page.text("#ward_code-error")
    );
    assert_eq!(
        app.count("SELECT count(*) FROM hl7_locations WHERE point_of_care = 'RX1'")
            .await,
        0
    );
    // removing the row
    let res = admin
        .post_form(
            "/admin/hl7/locations/remove",
            &[("sending_facility", "RHW"), ("point_of_care", "AMU")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT count(*) FROM hl7_locations").await, 0);
    // other roles never see the page
    let hub = app.browser("hub").await;
    assert_eq!(hub.get("/admin/hl7").await.status(), StatusCode::FORBIDDEN);
}

/// Runs `homeward hl7 replay FILE` against the test's database at the test clock's now: its
/// exit code and what it printed.
async fn replay_cli(
    app: &TestApp,
    file: &std::path::Path,
    now: chrono::DateTime<chrono::Utc>,
) -> (Option<i32>, String) {
    let out = tokio::process::Command::new(BIN)
        .env("DATABASE_URL", app.database_url())
        .env("HOMEWARD_TEST_CLOCK", now.to_rfc3339())
        .arg("hl7")
        .arg("replay")
        .arg(file)
        .output()
        .await
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn the_replay_cli_applies_a_days_log_and_says_what_it_did() {
    let app = TestApp::spawn().await;
    map_locations(&app).await;
    let now = app.clock.now();
    let ada = person(Some(valid_nhs(41)), "RHW5001", "Lovelace", "Ada");
    let log = [
        adt(
            "A01",
            "L1",
            now - Duration::hours(6),
            &ada,
            Some(&at("AMU", "1")),
            &[],
        ),
        adt(
            "A02",
            "L2",
            now - Duration::hours(5),
            &ada,
            Some(&at("W10", "2")),
            &[],
        ),
        adt(
            "A02",
            "L3",
            now - Duration::hours(4),
            &ada,
            Some(&at("XXX", "2")),
            &[],
        ),
        adt(
            "A03",
            "L4",
            now - Duration::hours(3),
            &ada,
            Some(&Pv1 {
                discharged: Some(now - Duration::hours(3)),
                to: "p1_home".into(),
                ..at("W10", "2")
            }),
            &[],
        ),
        adt("A13", "L5", now - Duration::hours(2), &ada, None, &[]),
    ]
    // one segment a line, a blank line between messages
    .map(|m| m.replace('\r', "\n"))
    .join("\n\n");
    let file = std::env::temp_dir().join(format!("homeward-hl7-log-{}.txt", std::process::id()));
    std::fs::write(&file, log).unwrap();
    let (code, text) = replay_cli(&app, &file, now).await;
    assert_eq!(code, Some(1), "one refused: exit 1\n{text}");
    assert!(
        text.contains("5 messages: 4 applied, 0 already applied, 0 ignored, 1 refused, 0 rejected"),
        "{text}"
    );
    assert!(text.contains("L3\tA02\trefused"), "{text}");
    let p = app
        .api("hub")
        .await
        .get_json("/api/v1/patients?status=planning")
        .await;
    let p = &items(&p)[0];
    // discharged to p1_home, then the discharge cancelled: open again, on W10
    assert_eq!(p["ward_code"], "RHW-W10");
    assert_eq!(p["discharge_destination"], Value::Null);
    assert_eq!(
        app.history_actions(id_of(p)).await,
        [
            "created",
            "transferred",
            "discharged",
            "discharge_cancelled"
        ]
    );
    // a log cut off in the middle of its last frame: the whole frames are applied, the cut
    // one is reported, and the exit status says not everything was read
    let mut cut =
        homeward::hl7::mllp::frame(&adt("A08", "L6", now - Duration::hours(1), &ada, None, &[]));
    cut.extend(b"\x0bMSH|^~\\&|PAS|RHW|HOMEWARD|HUB|20261130");
    std::fs::write(&file, cut).unwrap();
    let (code, text) = replay_cli(&app, &file, now).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("1 messages: 1 applied"), "{text}");
    assert!(text.contains("not read: an unfinished frame"), "{text}");
    // nothing but junk: no messages, exit 1
    std::fs::write(&file, b"\x0b\x00\x01garbage").unwrap();
    let (code, text) = replay_cli(&app, &file, now).await;
    let _ = std::fs::remove_file(&file);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("no messages found"), "{text}");
}

#[tokio::test]
async fn a_sender_of_an_oversized_message_is_cut_off_and_others_go_on() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(homeward::hl7::mllp::serve(listener, app.state.clone()));
    // over 1 MB in one frame: the connection closes without an answer
    let mut big = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut bytes = vec![0x0B];
    bytes.extend(std::iter::repeat_n(b'x', 1_100_000));
    let _ = big.write_all(&bytes).await;
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), big.read(&mut buf))
        .await
        .expect("closed within 10 s");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    // another sender is answered, frame by frame, on one connection (stray bytes between
    // frames are skipped)
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let now = app.clock.now();
    let mut sent = b"\r\n".to_vec();
    for id in ["X1", "X2"] {
        sent.extend(homeward::hl7::mllp::frame(&format!(
            "MSH|^~\\&|PAS|RHW|||{}||ADT^A05|{id}|P|2.5\rPID|1||X^^^^MR",
            ts(now)
        )));
    }
    s.write_all(&sent).await.unwrap();
    let mut deframer = homeward::hl7::mllp::Deframer::default();
    let mut acks = vec![];
    while acks.len() < 2 {
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "the feed answered");
        for f in deframer.push(&buf[..n]) {
            if let homeward::hl7::mllp::Found::Frame(b) = f {
                acks.push(String::from_utf8(b).unwrap());
            }
        }
    }
    assert!(acks[0].contains("\rMSA|AR|X1|"), "{}", acks[0]);
    assert!(acks[1].contains("\rMSA|AR|X2|"), "{}", acks[1]);
}

#[tokio::test]
async fn slow_idle_and_surplus_peers_are_closed() {
    use homeward::hl7::mllp::{Limits, serve_with};
    use std::time::{Duration as Wait, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = Limits {
        frame_timeout: Wait::from_millis(500),
        idle_timeout: Wait::from_millis(1500),
        max_connections: 2,
    };
    tokio::spawn(serve_with(listener, app.state.clone(), limits));
    async fn closed_within(s: &mut tokio::net::TcpStream, limit: Wait) -> Wait {
        let started = Instant::now();
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(limit, s.read(&mut buf))
            .await
            .expect("the feed closed the connection in time");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        started.elapsed()
    }
    // a frame started and never finished: cut off at the frame timeout, not the idle one
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"\x0bMSH|^~\\&|PAS").await.unwrap();
    let took = closed_within(&mut slow, Wait::from_secs(5)).await;
    assert!(took < Wait::from_millis(1400), "{took:?}");
    // a frame trickled a byte at a time, each within the frame timeout: the whole frame
    // must still arrive within it
    let mut trickle = tokio::net::TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    trickle.write_all(b"\x0bMSH|").await.unwrap();
    let mut closed = false;
    for b in b"^~\\&|PAS|RHW|||" {
        tokio::time::sleep(Wait::from_millis(200)).await;
        if trickle.write_all(&[*b]).await.is_err() {
            closed = true;
            break;
        }
        let mut probe = [0u8; 16];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Wait::from_millis(1), trickle.read(&mut probe)).await
        {
            closed = true;
            break;
        }
    }
    assert!(closed, "a trickled frame was cut off");
    assert!(
        started.elapsed() < Wait::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    // a connection that sends nothing: closed at the idle timeout
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    let took = closed_within(&mut idle, Wait::from_secs(5)).await;
    assert!(took >= Wait::from_millis(1000), "{took:?}");
    // two held open: a third is closed at once
    let _a = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _b = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Wait::from_millis(100)).await;
    let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
    let took = closed_within(&mut third, Wait::from_secs(1)).await;
    assert!(took < Wait::from_millis(900), "{took:?}");
}

#[tokio::test]
async fn merges_reopened_discharges_and_a_transfer_replayed_after_its_admission() {
    let app = TestApp::spawn().await;
    map_locations(&app).await;
    let now = app.clock.now();
    let receive = |m: String| {
        let state = app.state.clone();
        async move { homeward::hl7::feed::receive(&state, &m).await }
    };
    // a transfer that overtook its admission: refused and kept, then replayed once the
    // admission has arrived
    let ada = person(Some(valid_nhs(51)), "RHW6001", "Lovelace", "Ada");
    let early = receive(adt(
        "A02",
        "E2",
        now - Duration::hours(5),
        &ada,
        Some(&at("W10", "3")),
        &[],
    ))
    .await;
    assert_eq!(early.outcome.as_str(), "refused");
    let admitted = receive(adt(
        "A01",
        "E1",
        now - Duration::hours(6),
        &ada,
        Some(&at("AMU", "1")),
        &[],
    ))
    .await;
    assert_eq!(admitted.outcome.as_str(), "applied");
    let refused: i64 = app
        .count("SELECT id FROM hl7_messages WHERE control_id = 'E2' AND outcome = 'refused'")
        .await;
    let admin = app.browser("admin").await;
    let res = admin
        .post_form(&format!("/admin/hl7/messages/{refused}/replay"), &[])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let ada_id = admitted.patient_id.unwrap().0;
    let case = app
        .api("hub")
        .await
        .get_json(&format!("/api/v1/patients/{ada_id}"))
        .await;
    assert_eq!(
        (case["ward_code"].as_str(), case["bed"].as_str()),
        (Some("RHW-W10"), Some("3"))
    );

    // a record made without the NHS number, merged into the patient's real record
    // (which has no open case): the case takes the real record's identifiers
    let real = person(Some(valid_nhs(52)), "RHW6002", "Babbage", "Charles");
    let desk = person(None, "RHW6099", "Babbage", "Charles");
    let opened = receive(adt(
        "A01",
        "E3",
        now - Duration::hours(4),
        &desk,
        Some(&at("AMU", "2")),
        &[],
    ))
    .await;
    let desk_id = opened.patient_id.unwrap().0;
    let merged = receive(adt(
        "A40",
        "E4",
        now - Duration::hours(3),
        &real,
        None,
        &[mrg("RHW6099")],
    ))
    .await;
    assert_eq!(merged.outcome.as_str(), "applied", "{}", merged.reason);
    let case = app
        .api("hub")
        .await
        .get_json(&format!("/api/v1/patients/{desk_id}"))
        .await;
    assert_eq!(case["nhs_number"].as_str(), Some(valid_nhs(52).as_str()));
    assert_eq!(case["nhs_number_status"], "known");
    assert_eq!(case["local_id"], "RHW6002");
    assert_eq!(app.history_actions(desk_id).await, ["created", "merged"]);
    // a merge of records Homeward never held: nothing to do
    let nobody = person(Some(valid_nhs(53)), "RHW6003", "Nobody", "Known");
    let none = receive(adt(
        "A40",
        "E5",
        now - Duration::hours(3),
        &nobody,
        None,
        &[mrg("RHW6098")],
    ))
    .await;
    assert_eq!(none.outcome.as_str(), "ignored");
    assert!(none.ack.contains("MSA|AA|E5|"));

    // a discharge a person recorded cannot be cancelled from the feed
    let ward = app.api("ward").await;
    let typed = ward
        .post_expect(
            "/api/v1/patients",
            patient_at(&valid_nhs(54), now),
            StatusCode::CREATED,
        )
        .await;
    ward.post_expect(
        &format!("/api/v1/patients/{}/discharge", id_of(&typed)),
        json!({"discharged_at": (now - Duration::hours(1)).to_rfc3339(), "destination": "p0_home"}),
        StatusCode::OK,
    )
    .await;
    let them = person(Some(valid_nhs(54)), "RHW6004", "Lovelace", "Ada");
    let cancel = receive(adt("A13", "E6", now, &them, None, &[])).await;
    assert_eq!(cancel.outcome.as_str(), "refused");
    assert!(
        cancel.reason.contains("not by the hospital feed"),
        "{}",
        cancel.reason
    );
    let case = ward
        .get_json(&format!("/api/v1/patients/{}", id_of(&typed)))
        .await;
    assert_eq!(case["status"], "discharged");
}

#[tokio::test]
async fn a_nul_byte_is_refused_and_kept_rejections_never_wait_and_a_resent_message_resolves_its_refusal()
 {
    let app = TestApp::spawn().await;
    map_locations(&app).await;
    let now = app.clock.now();
    let ada = person(Some(valid_nhs(41)), "RHW4101", "Lovelace", "Ada");
    // a NUL byte: refused with a reason the sender can act on, and kept (escaped) to be seen
    let nul = adt(
        "A01",
        "N1",
        now - Duration::hours(3),
        &ada,
        Some(&at("AMU", "B1")),
        &["NTE|1||a comment with \u{0} inside".to_string()],
    );
    let handled = homeward::hl7::feed::receive(&app.state, &nul).await;
    assert_eq!(handled.outcome.as_str(), "refused", "{}", handled.ack);
    assert!(handled.ack.contains("MSA|AE|N1|"), "{}", handled.ack);
    assert!(handled.reason.contains("NUL"), "{}", handled.reason);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM hl7_messages WHERE control_id = 'N1' AND outcome = 'refused' \
             AND strpos(body, 'inside') > 0 AND strpos(body, chr(92) || 'X00' || chr(92)) > 0"
        )
        .await,
        1
    );
    // events the feed never takes are rejected and logged, but never wait for an admin
    for i in 0..3 {
        let other = adt(
            "A05",
            &format!("X{i}"),
            now - Duration::hours(2),
            &ada,
            None,
            &[],
        );
        let handled = homeward::hl7::feed::receive(&app.state, &other).await;
        assert_eq!(handled.outcome.as_str(), "rejected", "{}", handled.ack);
    }
    // a transfer before its admission: refused; once the admission has come and the
    // sender sends the transfer again, it applies and its refusal is no longer waiting
    let transfer = adt(
        "A02",
        "T1",
        now - Duration::minutes(30),
        &ada,
        Some(&at("W10", "C4")),
        &[],
    );
    let first = homeward::hl7::feed::receive(&app.state, &transfer).await;
    assert_eq!(first.outcome.as_str(), "refused", "{}", first.ack);
    let admin = app.browser("admin").await;
    let page = admin.page("/admin/hl7").await;
    assert_eq!(page.count(".hw-feed-refused tbody tr"), 2, "N1 and T1 only");
    assert!(page.text(".hw-feed-errors").contains('2'));
    let admit = adt(
        "A01",
        "A1",
        now - Duration::hours(1),
        &ada,
        Some(&at("AMU", "B1")),
        &[],
    );
    let handled = homeward::hl7::feed::receive(&app.state, &admit).await;
    assert_eq!(handled.outcome.as_str(), "applied", "{}", handled.ack);
    let again = homeward::hl7::feed::receive(&app.state, &transfer).await;
    assert_eq!(again.outcome.as_str(), "applied", "{}", again.ack);
    let page = admin.page("/admin/hl7").await;
    assert_eq!(page.count(".hw-feed-refused tbody tr"), 1, "N1 only");
    assert!(page.text(".hw-feed-errors").contains('1'));

    // a death reported by the feed reads as deceased in FHIR
    let died = Pv1 {
        discharged: Some(now - Duration::minutes(10)),
        disposition: "4".into(),
        to: "79".into(),
        ..at("W10", "C4")
    };
    let handled = homeward::hl7::feed::receive(
        &app.state,
        &adt(
            "A03",
            "D1",
            now - Duration::minutes(10),
            &ada,
            Some(&died),
            &[],
        ),
    )
    .await;
    assert_eq!(handled.outcome.as_str(), "applied", "{}", handled.ack);
    let id = app
        .count("SELECT id FROM patients WHERE local_id = 'RHW4101'")
        .await;
    let hub = app.api("hub").await;
    let res = hub
        .client
        .get(app.url(&format!("/api/v1/fhir/Patient/{id}")))
        .bearer_auth(&hub.token)
        .header("accept", "application/fhir+json")
        .send()
        .await
        .expect("the server answers");
    let patient = expect_json(res, StatusCode::OK, "FHIR Patient").await;
    assert_eq!(patient["deceasedBoolean"], json!(true), "{patient}");
}

#[tokio::test]
async fn a_late_copy_of_an_admission_after_the_discharge_opens_no_second_stay() {
    let app = TestApp::spawn().await;
    map_locations(&app).await;
    let now = app.clock.now();
    for (who, nhs) in [("RHW4201", Some(valid_nhs(42))), ("RHW4202", None)] {
        let ada = person(nhs.clone(), who, "Lovelace", "Ada");
        let admitted = Pv1 {
            admitted: Some(now - Duration::hours(5)),
            ..at("AMU", "B1")
        };
        let admit = |control: &str| {
            adt(
                "A01",
                control,
                now - Duration::hours(5),
                &ada,
                Some(&admitted),
                &[],
            )
        };
        let left = Pv1 {
            discharged: Some(now - Duration::hours(3)),
            disposition: "1".into(),
            ..at("AMU", "B1")
        };
        let first = homeward::hl7::feed::receive(&app.state, &admit(&format!("{who}-1"))).await;
        assert_eq!(first.outcome.as_str(), "applied", "{}", first.ack);
        let discharge = adt(
            "A03",
            &format!("{who}-2"),
            now - Duration::hours(3),
            &ada,
            Some(&left),
            &[],
        );
        let out = homeward::hl7::feed::receive(&app.state, &discharge).await;
        assert_eq!(out.outcome.as_str(), "applied", "{}", out.ack);
        // the same admission sent again under a new control id, after the discharge
        let late = homeward::hl7::feed::receive(&app.state, &admit(&format!("{who}-3"))).await;
        assert_eq!(late.outcome.as_str(), "ignored", "{}", late.ack);
        assert!(late.ack.contains("MSA|AA|"), "{}", late.ack);
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) FROM patients WHERE local_id = '{who}'"
            ))
            .await,
            1,
            "{who}: one stay"
        );
        // a readmission after the discharge is a new stay
        let again = Pv1 {
            admitted: Some(now - Duration::hours(1)),
            ..at("AMU", "B2")
        };
        let readmit = adt(
            "A01",
            &format!("{who}-4"),
            now - Duration::hours(1),
            &ada,
            Some(&again),
            &[],
        );
        let out = homeward::hl7::feed::receive(&app.state, &readmit).await;
        assert_eq!(out.outcome.as_str(), "applied", "{}", out.ack);
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) FROM patients WHERE local_id = '{who}' AND status = 'planning'"
            ))
            .await,
            1
        );
    }
}

#[tokio::test]
async fn old_messages_are_forgotten_refusals_waiting_are_kept_and_feed_accounts_are_not_listed() {
    let app = TestApp::spawn().await;
    map_locations(&app).await;
    let start = app.clock.now();
    let ada = person(Some(valid_nhs(43)), "RHW4301", "Lovelace", "Ada");
    let bob = person(Some(valid_nhs(44)), "RHW4302", "Babbage", "Bob");
    let receive = |msg: String| {
        let state = app.state.clone();
        async move { homeward::hl7::feed::receive(&state, &msg).await }
    };
    // day 1: an admission applied, an event never taken (rejected), a transfer refused and
    // later resolved by its resend, and a refusal nobody has dealt with
    let admit = adt(
        "A01",
        "K1",
        start - Duration::hours(2),
        &ada,
        Some(&at("AMU", "B1")),
        &[],
    );
    assert_eq!(receive(admit.clone()).await.outcome.as_str(), "applied");
    let other = adt("A05", "K2", start - Duration::hours(2), &ada, None, &[]);
    assert_eq!(receive(other).await.outcome.as_str(), "rejected");
    let early = adt(
        "A02",
        "K3",
        start - Duration::hours(1),
        &bob,
        Some(&at("W10", "C1")),
        &[],
    );
    assert_eq!(receive(early.clone()).await.outcome.as_str(), "refused");
    let unmapped = adt(
        "A01",
        "K4",
        start - Duration::hours(1),
        &bob,
        Some(&at("NOWHERE", "C1")),
        &[],
    );
    assert_eq!(receive(unmapped).await.outcome.as_str(), "refused");
    // day 2: Bob's admission arrives and the transfer is sent again
    app.clock.set(start + Duration::days(1));
    let bob_in = adt(
        "A01",
        "K5",
        start + Duration::days(1) - Duration::hours(1),
        &bob,
        Some(&at("AMU", "B2")),
        &[],
    );
    assert_eq!(receive(bob_in).await.outcome.as_str(), "applied");
    let transfer = adt(
        "A02",
        "K3",
        start + Duration::days(1) - Duration::minutes(30),
        &bob,
        Some(&at("W10", "C1")),
        &[],
    );
    assert_eq!(receive(transfer).await.outcome.as_str(), "applied");
    let logged = "SELECT count(*) FROM hl7_messages";
    assert_eq!(app.count(logged).await, 6);

    // keeping a day and a half: nothing is old enough yet
    let forget = |before| {
        let pool = app.state.pool.clone();
        async move {
            homeward::hl7::feed::forget_old_messages(&pool, before, 2)
                .await
                .unwrap()
        }
    };
    assert_eq!(forget(start - Duration::hours(12)).await, 0);
    let forget_all = |before| async move {
        let mut gone = vec![];
        loop {
            match forget(before).await {
                0 => return gone,
                n => gone.push(n),
            }
        }
    };
    // keeping less than a day: day 1's dealt-with messages go, two at a time: the
    // admission, the rejection and the refusal the resend resolved (the resend stays); the
    // unmapped admission stays however old, waiting for an admin
    let gone = forget_all(start + Duration::hours(12)).await;
    assert_eq!(gone, [2, 1], "in batches of two");
    assert_eq!(
        app.count("SELECT count(*) FROM hl7_messages WHERE received_at < (SELECT max(received_at) FROM hl7_messages)")
            .await,
        1,
        "of day 1, only the waiting refusal"
    );
    assert_eq!(app.count(logged).await, 3);
    // past day 2 too: everything dealt with goes
    assert_eq!(forget_all(start + Duration::days(3)).await, [2]);
    assert_eq!(
        app.count("SELECT count(*) FROM hl7_messages WHERE control_id = 'K4' AND outcome = 'refused' AND resolved_at IS NULL")
            .await,
        1,
        "the waiting refusal is kept"
    );
    assert_eq!(app.count(logged).await, 1);
    // Ada's admission sent again after its row went: no second case (an admission for an
    // open case updates it)
    let again = receive(admit).await;
    assert!(again.ack.contains("MSA|AA|K1|"), "{}", again.ack);
    assert_eq!(
        app.count("SELECT count(*) FROM patients WHERE local_id = 'RHW4301'")
            .await,
        1
    );
    // the admin page still shows the waiting refusal; the feed's account is no user of
    // the list
    let admin = app.browser("admin").await;
    let page = admin.page("/admin/hl7").await;
    assert_eq!(page.count(".hw-feed-refused tbody tr"), 1);
    assert!(
        page.text("main").contains("kept for 90 days"),
        "{}",
        page.text("main")
    );
    assert!(app.count("SELECT count(*) FROM hl7_feed_users").await >= 1);
    let users = admin.page("/admin/users").await;
    assert!(
        users.text("main").contains("ward2"),
        "{}",
        users.text("main")
    );
    assert!(
        !users.text("main").contains("hl7-feed"),
        "{}",
        users.text("main")
    );
}

#[tokio::test]
async fn a_persons_account_named_like_the_feeds_is_never_taken_for_the_feed() {
    let app = TestApp::spawn().await;
    map_locations(&app).await;
    let now = app.clock.now();
    // such names are kept for the feed: an administrator cannot make one
    let admin = app.browser("admin").await;
    let res = admin
        .post_form(
            "/admin/users",
            &[
                ("username", "hl7-feed-rhw"),
                ("display_name", "Not the feed"),
                ("role", "admin"),
                ("org_code", "HUB"),
                ("password", "Correct-Horse-Battery-77"),
            ],
        )
        .await;
    let page = expect_page(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(
        page.text("#username-error")
            .contains("kept for the hospital feed"),
        "{}",
        page.text("main")
    );
    // one made before the rule (here straight into the table, enabled, with a password) is
    // not adopted: the feed makes its own under the next name, and the person's account
    // stays as it was, listed with the users
    app.count(
        "WITH u AS (INSERT INTO users (username, display_name, role, org_code, password_hash) \
         VALUES ('hl7-feed-rhw', 'Not the feed', 'admin', 'HUB', 'x') RETURNING id) SELECT count(*) FROM u",
    )
    .await;
    let ada = person(Some(valid_nhs(45)), "RHW4501", "Lovelace", "Ada");
    let admit = adt(
        "A01",
        "F1",
        now - Duration::hours(1),
        &ada,
        Some(&at("AMU", "B1")),
        &[],
    );
    let handled = homeward::hl7::feed::receive(&app.state, &admit).await;
    assert_eq!(handled.outcome.as_str(), "applied", "{}", handled.ack);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM hl7_feed_users f JOIN users u ON u.id = f.user_id \
             WHERE u.username = 'hl7-feed-rhw-2' AND u.password_hash = '!' AND u.disabled_at IS NOT NULL"
        )
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE username = 'hl7-feed-rhw' AND role = 'admin' AND disabled_at IS NULL")
            .await,
        1,
        "the person's account is untouched"
    );
    assert!(
        admin
            .page("/admin/users")
            .await
            .text("main")
            .contains("hl7-feed-rhw")
    );
    let id = app
        .count("SELECT id FROM patients WHERE local_id = 'RHW4501'")
        .await;
    assert_eq!(app.history(id).await[0]["actor"], "hl7-feed-rhw-2");
}
