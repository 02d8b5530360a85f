//! FHIR R4 out (UK Core), CONTRACT.md "FHIR": Patient and Encounter by id, Patient by NHS
//! number (a searchset Bundle), the CapabilityStatement, `application/fhir+json`, the same
//! scoping as `/api/v1/patients` (not found or not yours: 404 OperationOutcome), and every
//! shape checked by an independent FHIR model library (Python's `fhir.resources`, R4B
//! models) run by `tests/fhir/validate.py`.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const NHS_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhs-number";
const ODS_SYSTEM: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
const FHIR_RESOURCES: &str = "7.1.0";

/// GETs a FHIR path: the status and the resource, checking the media type.
async fn fhir(api: &Api, path: &str) -> (StatusCode, Value) {
    let res = api
        .client
        .get(format!("{}{}", api.base, path))
        .bearer_auth(&api.token)
        .header("Accept", "application/fhir+json")
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = res.status();
    assert_eq!(
        content_type(&res),
        "application/fhir+json",
        "GET {path} ({status})"
    );
    let text = res.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: {e}: {text}")),
    )
}

fn extension<'a>(resource: &'a Value, suffix: &str) -> Option<&'a Value> {
    resource["extension"].as_array().and_then(|exts| {
        exts.iter()
            .find(|e| e["url"].as_str().is_some_and(|u| u.ends_with(suffix)))
    })
}

fn assert_not_found(status: StatusCode, body: &Value, what: &str) {
    assert_eq!(status, StatusCode::NOT_FOUND, "{what}: {body}");
    assert_eq!(body["resourceType"], "OperationOutcome", "{what}");
    assert_eq!(body["issue"][0]["code"], "not-found", "{what}");
    assert_eq!(body["issue"][0]["severity"], "error", "{what}");
}

/// A case on pathway 3 awaiting care with a delay reason, referred to PRV1; its id and the
/// referral's.
async fn referred_case(app: &TestApp) -> (i64, i64) {
    let case = app.awaiting_care(NHS[0], 3).await;
    app.api("hub")
        .await
        .post_expect(
            &format!("/api/v1/patients/{case}/delay-reason"),
            json!({"code": "p3_placement"}),
            StatusCode::OK,
        )
        .await;
    let offer = app
        .post_offer("provider", offer_at(2, app.clock.now()))
        .await;
    let referral = app.refer(case, id_of(&offer)).await;
    (case, id_of(&referral))
}

#[tokio::test]
async fn fhir_patient_and_encounter_carry_nhs_identifiers_and_the_discharge_extensions() {
    let app = TestApp::spawn().await;
    let (case, _) = referred_case(&app).await;
    let hub = app.api("hub").await;
    let (status, patient) = fhir(&hub, &format!("/api/v1/fhir/Patient/{case}")).await;
    assert_eq!(status, StatusCode::OK, "{patient}");
    assert_eq!(patient["resourceType"], "Patient");
    assert_eq!(patient["id"], case.to_string());
    assert_eq!(
        patient["meta"]["profile"][0],
        "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"
    );
    assert_eq!(patient["identifier"][0]["system"], NHS_SYSTEM);
    assert_eq!(patient["identifier"][0]["value"], NHS[0]);
    assert_eq!(patient["name"][0]["family"], "Lovelace");
    assert_eq!(patient["gender"], "female");
    assert_eq!(patient["birthDate"], "1941-03-02");
    assert_eq!(
        patient["managingOrganization"]["identifier"]["system"],
        ODS_SYSTEM
    );
    assert_eq!(
        patient["managingOrganization"]["identifier"]["value"],
        "RHW"
    );

    let (status, enc) = fhir(&hub, &format!("/api/v1/fhir/Encounter/{case}")).await;
    assert_eq!(status, StatusCode::OK, "{enc}");
    assert_eq!(enc["resourceType"], "Encounter");
    assert_eq!(
        enc["meta"]["profile"][0],
        "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Encounter"
    );
    assert_eq!(enc["status"], "in-progress");
    assert_eq!(enc["class"]["code"], "IMP");
    assert_eq!(enc["subject"]["reference"], format!("Patient/{case}"));
    assert_eq!(enc["serviceProvider"]["identifier"]["system"], ODS_SYSTEM);
    assert_eq!(enc["serviceProvider"]["identifier"]["value"], "RHW");
    let case_json = hub.get_json(&format!("/api/v1/patients/{case}")).await;
    let ready = extension(&enc, "/discharge-ready-date").expect("discharge ready date");
    assert_eq!(
        utc(ready["valueDateTime"].as_str().expect("a dateTime")),
        utc(case_json["discharge_ready_at"].as_str().expect("ready"))
    );
    let reason = extension(&enc, "/delay-reason").expect("delay reason");
    assert_eq!(
        reason["valueCodeableConcept"]["coding"][0]["code"],
        "p3_placement"
    );
    let days = extension(&enc, "/delay-days").expect("delay days");
    assert_eq!(days["valueInteger"], case_json["delay_days"]);
    let pathway = extension(&enc, "/discharge-pathway").expect("pathway");
    assert_eq!(pathway["valueCodeableConcept"]["coding"][0]["code"], "3");

    // the CapabilityStatement
    let (status, cap) = fhir(&hub, "/api/v1/fhir/metadata").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cap["resourceType"], "CapabilityStatement");
    assert_eq!(cap["fhirVersion"], "4.0.1");
    let types: Vec<&str> = cap["rest"][0]["resource"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["type"].as_str())
        .collect();
    assert_eq!(types, vec!["Patient", "Encounter"]);
}

#[tokio::test]
async fn fhir_patient_search_by_nhs_number_is_a_searchset_bundle() {
    let app = TestApp::spawn().await;
    let (case, _) = referred_case(&app).await;
    let hub = app.api("hub").await;
    for query in [
        format!("identifier={NHS_SYSTEM}|{}", NHS[0]),
        format!("identifier={NHS_SYSTEM}%7C{}", NHS[0]),
        format!("identifier={}", NHS[0]),
    ] {
        let (status, bundle) = fhir(&hub, &format!("/api/v1/fhir/Patient?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {bundle}");
        assert_eq!(bundle["resourceType"], "Bundle");
        assert_eq!(bundle["type"], "searchset");
        assert_eq!(bundle["total"], 1, "{query}");
        assert_eq!(bundle["entry"][0]["resource"]["id"], case.to_string());
        assert_eq!(bundle["entry"][0]["search"]["mode"], "match");
        assert!(
            bundle["entry"][0]["fullUrl"]
                .as_str()
                .is_some_and(|u| u.ends_with(&format!("/api/v1/fhir/Patient/{case}")))
        );
    }
    // someone else's number, or another identifier system: an empty searchset
    for query in [
        format!("identifier={NHS_SYSTEM}|{}", NHS[1]),
        format!("identifier=https://example.org/mrn|{}", NHS[0]),
    ] {
        let (status, bundle) = fhir(&hub, &format!("/api/v1/fhir/Patient?{query}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(bundle["total"], 0, "{query}");
        assert!(bundle.get("entry").is_none());
    }
    // a malformed number, no identifier, or a parameter we do not search by: 422
    for query in [
        format!("identifier={NHS_SYSTEM}|9434765918"),
        "identifier=".to_string(),
        String::new(),
        format!("family=Lovelace&identifier={}", NHS[0]),
    ] {
        let (status, outcome) = fhir(&hub, &format!("/api/v1/fhir/Patient?{query}")).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {outcome}"
        );
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert_eq!(outcome["issue"][0]["code"], "invalid");
    }
}

#[tokio::test]
async fn fhir_shows_each_caller_what_the_patient_list_shows_and_404s_the_rest() {
    let app = TestApp::spawn().await;
    let (case, referral) = referred_case(&app).await;
    let search = format!("/api/v1/fhir/Patient?identifier={NHS_SYSTEM}|{}", NHS[0]);
    // another trust's ward, an unrelated provider, an administrator: not found
    for user in ["ward2", "provider2", "admin"] {
        let api = app.api(user).await;
        for path in [
            format!("/api/v1/fhir/Patient/{case}"),
            format!("/api/v1/fhir/Encounter/{case}"),
        ] {
            let (status, body) = fhir(&api, &path).await;
            assert_not_found(status, &body, &format!("{user} {path}"));
        }
        let (status, bundle) = fhir(&api, &search).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(bundle["total"], 0, "{user}");
    }
    // a case that does not exist, and an id that is not a number
    let hub = app.api("hub").await;
    for path in [
        "/api/v1/fhir/Patient/999999999",
        "/api/v1/fhir/Encounter/abc",
    ] {
        let (status, body) = fhir(&hub, path).await;
        assert_not_found(status, &body, path);
    }
    // the provider it is referred to: before accepting, the patient without identifiers, and
    // a search by the NHS number finds nothing (it must not learn who is referred to it)
    let provider = app.api("provider").await;
    let (status, anonymous) = fhir(&provider, &format!("/api/v1/fhir/Patient/{case}")).await;
    assert_eq!(status, StatusCode::OK);
    for hidden in ["identifier", "name", "birthDate", "managingOrganization"] {
        assert!(anonymous.get(hidden).is_none(), "{hidden}: {anonymous}");
    }
    assert_eq!(anonymous["address"][0]["postalCode"], "LS9");
    let (status, _) = fhir(&provider, &format!("/api/v1/fhir/Encounter/{case}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fhir(&provider, &search).await.1["total"], 0);
    // after accepting, who the patient is
    app.decide("provider", referral, "accept").await;
    let (_, known) = fhir(&provider, &format!("/api/v1/fhir/Patient/{case}")).await;
    assert_eq!(known["identifier"][0]["value"], NHS[0]);
    assert_eq!(fhir(&provider, &search).await.1["total"], 1);
    // the ward of the case's trust sees it
    let (status, _) = fhir(
        &app.api("ward").await,
        &format!("/api/v1/fhir/Patient/{case}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // no token: 401, as an OperationOutcome
    let res = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/fhir/Patient/{case}")))
        .send()
        .await
        .expect("answer");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(content_type(&res), "application/fhir+json");
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["issue"][0]["code"], "login");
    // every view of who the patient is, and every refusal, is in the access log
    assert!(
        app.count(
            "SELECT count(*) FROM access_log WHERE what LIKE 'FHIR%' AND outcome = 'refused'"
        )
        .await
            >= 6
    );
}

/// The Python that has `fhir.resources`: `HOMEWARD_FHIR_PYTHON` (set by `.ci/test`), or a
/// virtual environment this test makes once in `~/.cache/homeward/` (pip, from PyPI).
fn fhir_python() -> Result<String, String> {
    if let Ok(python) = std::env::var("HOMEWARD_FHIR_PYTHON")
        && !python.is_empty()
    {
        return Ok(python);
    }
    let cache = std::env::var("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| std::path::Path::new(&h).join(".cache")))
        .map_err(|_| "a home directory for the fhir.resources cache".to_string())?;
    let venv = cache
        .join("homeward")
        .join(format!("fhir-resources-{FHIR_RESOURCES}"));
    let python = venv.join("bin").join("python");
    let works = |python: &std::path::Path| {
        std::process::Command::new(python)
            .args(["-c", "import fhir.resources.R4B"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !works(&python) {
        if missing_program("python3").is_some() {
            return Err("python3 (with venv and pip)".into());
        }
        let made = std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .output()
            .map_err(|e| format!("python3 -m venv: {e}"))?;
        if !made.status.success() {
            return Err(format!(
                "python3 -m venv (python3-venv): {}",
                String::from_utf8_lossy(&made.stderr)
            ));
        }
        let pip = std::process::Command::new(venv.join("bin").join("pip"))
            .args([
                "install",
                "--quiet",
                &format!("fhir.resources=={FHIR_RESOURCES}"),
            ])
            .output()
            .map_err(|e| format!("pip: {e}"))?;
        if !pip.status.success() || !works(&python) {
            return Err(format!(
                "fhir.resources {FHIR_RESOURCES} from PyPI: {}",
                String::from_utf8_lossy(&pip.stderr)
            ));
        }
    }
    Ok(python.to_string_lossy().into_owned())
}

#[tokio::test]
async fn fhir_output_is_valid_r4_for_an_independent_fhir_library() {
    let python = match tokio::task::spawn_blocking(fhir_python)
        .await
        .expect("the tool check")
    {
        Ok(p) => p,
        Err(missing) => {
            if !tools_present(
                "fhir_output_is_valid_r4_for_an_independent_fhir_library",
                &[missing],
            ) {
                return;
            }
            unreachable!("tools_present fails or skips when a tool is missing");
        }
    };
    let app = TestApp::spawn().await;
    let (case, referral) = referred_case(&app).await;
    // a second case, discharged with a destination, and one with no NHS number
    let gone = app.awaiting_care(NHS[1], 0).await;
    let hub = app.api("hub").await;
    hub.post_expect(
        &format!("/api/v1/patients/{gone}/discharge"),
        json!({"discharged_at": app.clock.now().to_rfc3339(), "destination": "p0_home"}),
        StatusCode::OK,
    )
    .await;
    let mut unknown = patient_at(NHS[2], app.clock.now());
    unknown.as_object_mut().map(|o| o.remove("nhs_number"));
    unknown["nhs_number_status"] = json!("unknown");
    unknown["local_id"] = json!("RHW1234567");
    let unknown = app.flag_id("ward", unknown).await;
    let provider = app.api("provider").await;
    let mut shapes: Vec<(String, Value)> = vec![];
    for (who, path) in [
        (&hub, "/api/v1/fhir/metadata".to_string()),
        (&hub, format!("/api/v1/fhir/Patient/{case}")),
        (&hub, format!("/api/v1/fhir/Encounter/{case}")),
        (&hub, format!("/api/v1/fhir/Patient/{gone}")),
        (&hub, format!("/api/v1/fhir/Encounter/{gone}")),
        (&hub, format!("/api/v1/fhir/Patient/{unknown}")),
        (&hub, format!("/api/v1/fhir/Encounter/{unknown}")),
        (
            &hub,
            format!("/api/v1/fhir/Patient?identifier={NHS_SYSTEM}|{}", NHS[0]),
        ),
        (
            &hub,
            format!("/api/v1/fhir/Patient?identifier={NHS_SYSTEM}|{}", NHS[5]),
        ),
        (&hub, "/api/v1/fhir/Patient?identifier=123".to_string()),
        (&hub, "/api/v1/fhir/Patient/0".to_string()),
        (&provider, format!("/api/v1/fhir/Patient/{case}")),
        (&provider, format!("/api/v1/fhir/Encounter/{case}")),
    ] {
        let (_, body) = fhir(who, &path).await;
        shapes.push((path, body));
    }
    app.decide("provider", referral, "accept").await;
    let (_, body) = fhir(&provider, &format!("/api/v1/fhir/Patient/{case}")).await;
    shapes.push(("provider after accepting".into(), body));
    let kinds: Vec<&str> = shapes
        .iter()
        .filter_map(|(_, b)| b["resourceType"].as_str())
        .collect();
    for kind in [
        "CapabilityStatement",
        "Patient",
        "Encounter",
        "Bundle",
        "OperationOutcome",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    assert!(
        shapes
            .iter()
            .any(|(_, b)| b["hospitalization"]["dischargeDisposition"].is_object())
    );

    let dir = std::env::temp_dir().join(format!("homeward-fhir-{}-{case}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a folder for the resources");
    let mut files = vec![];
    for (i, (_, body)) in shapes.iter().enumerate() {
        let file = dir.join(format!("{i:02}.json"));
        std::fs::write(&file, serde_json::to_vec_pretty(body).expect("json")).expect("write");
        files.push(file);
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fhir/validate.py");
    let out = tokio::process::Command::new(&python)
        .arg(script)
        .args(&files)
        .output()
        .await
        .expect("run the validator");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let named: Vec<&str> = shapes.iter().map(|(p, _)| p.as_str()).collect();
    assert!(
        out.status.success(),
        "fhir.resources refused one of {named:?}:\n{said}"
    );
    assert_eq!(said.matches("valid ").count(), shapes.len(), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn every_fhir_error_is_an_operation_outcome_whoever_answers_it() {
    let app = TestApp::spawn().await;
    let hub = app.api("hub").await;
    for (method, path, status) in [
        ("GET", "/api/v1/fhir/Observation/1", StatusCode::NOT_FOUND),
        ("GET", "/api/v1/fhir/Patient/abc", StatusCode::NOT_FOUND),
        (
            "POST",
            "/api/v1/fhir/Patient",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "GET",
            "/api/v1/fhir/Patient?identifier=%00",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let req = match method {
            "POST" => hub.client.post(app.url(path)).json(&serde_json::json!({})),
            _ => hub.client.get(app.url(path)),
        };
        let res = req
            .bearer_auth(&hub.token)
            .header("accept", "application/fhir+json")
            .send()
            .await
            .expect("the server answers");
        assert_eq!(res.status(), status, "{method} {path}");
        assert!(
            content_type(&res).starts_with("application/fhir+json"),
            "{method} {path}: {}",
            content_type(&res)
        );
        let body: Value = res.json().await.expect("JSON");
        assert_eq!(
            body["resourceType"], "OperationOutcome",
            "{method} {path}: {body}"
        );
        assert!(body["issue"][0]["diagnostics"].is_string(), "{body}");
    }
    // and without a token
    let res = reqwest::Client::new()
        .get(app.url("/api/v1/fhir/Patient/1"))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
}

#[tokio::test]
async fn an_encounter_says_whether_the_stay_finished_was_cancelled_or_entered_in_error() {
    let app = TestApp::spawn().await;
    let hub = app.api("hub").await;
    let status_of = |id: i64| {
        let hub = &hub;
        async move {
            let (status, enc) = fhir(hub, &format!("/api/v1/fhir/Encounter/{id}")).await;
            assert_eq!(status, StatusCode::OK, "{enc}");
            enc["status"].as_str().unwrap_or_default().to_string()
        }
    };
    // died in hospital: the stay finished
    let died = app.flag_id("ward", patient(NHS[0])).await;
    hub.post_expect(
        &format!("/api/v1/patients/{died}/cancel"),
        json!({"reason_code": "died"}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(status_of(died).await, "finished");
    // closed for another reason (an admission cancelled): cancelled
    let other = app.flag_id("ward", patient(NHS[1])).await;
    hub.post_expect(
        &format!("/api/v1/patients/{other}/cancel"),
        json!({"reason_code": "other", "reason": "Admission cancelled by the hospital"}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(status_of(other).await, "cancelled");
    // a record the hospital merged into another: entered in error
    let merged = app.flag_id("ward", patient(NHS[2])).await;
    sqlx::query(
        "UPDATE patients SET status = 'cancelled', cancel_reason_code = 'other', cancelled_at = now(), \
         closed_reason = $2 WHERE id = $1",
    )
    .bind(merged)
    .bind(format!("{} {died}", homeward::hl7::feed::MERGED_PREFIX))
    .execute(&app.pool)
    .await
    .expect("a merged case");
    assert_eq!(status_of(merged).await, "entered-in-error");
}
