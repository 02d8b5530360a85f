//! Every bad input is a clear 4xx in the caller's shape: control characters in any text field
//! (one rule, 422 naming the field), path ids that are not ids (404), bodies that are not
//! JSON objects or not sent as JSON, methods a path does not have. The API answers
//! CONTRACT.md's JSON error; pages answer the NHS error page. Never a 500, never plain text.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const NUL: &str = "Ada\u{0}Lovelace";

fn is_json_error(body: &Value, code: &str) -> bool {
    body["error"]["code"] == code && body["error"]["message"].is_string()
}

/// The JSON schema a `$ref` (or an inline schema) names.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => &doc["components"]["schemas"][r.rsplit('/').next().unwrap()],
        None => schema,
    }
}

fn admits_text(schema: &Value) -> bool {
    match &schema["type"] {
        Value::String(t) => t == "string",
        Value::Array(ts) => ts.iter().any(|t| t == "string"),
        _ => false,
    }
}

#[tokio::test]
async fn a_nul_byte_in_any_text_field_of_any_api_body_is_a_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let id = app.flag_id("ward", patient(NHS[0])).await;
    let hub = app.api("hub").await;
    let doc = hub.get_json("/api/v1/openapi.json").await;
    let mut tested = vec![];
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(schema) = op["requestBody"]["content"]["application/json"]["schema"]
                .as_object()
                .map(|_| &op["requestBody"]["content"]["application/json"]["schema"])
            else {
                continue;
            };
            let schema = resolve(&doc, schema);
            let url = path.replace("{id}", &id.to_string());
            for (field, field_schema) in schema["properties"].as_object().into_iter().flatten() {
                if !admits_text(resolve(&doc, field_schema)) {
                    continue;
                }
                let req = match method.as_str() {
                    "post" => hub.client.post(app.url(&url)),
                    "patch" => hub.client.patch(app.url(&url)),
                    "put" => hub.client.put(app.url(&url)),
                    _ => continue,
                };
                let res = req
                    .bearer_auth(&hub.token)
                    .json(&json!({ field: NUL }))
                    .send()
                    .await
                    .unwrap();
                let what = format!("{method} {path} {field}");
                let body = expect_json(res, StatusCode::UNPROCESSABLE_ENTITY, &what).await;
                assert!(is_json_error(&body, "validation_failed"), "{what}: {body}");
                assert!(body["error"]["fields"][field].is_string(), "{what}: {body}");
                tested.push(what);
            }
        }
    }
    // the patient, offer, referral, directory, choice and case-action bodies at least
    assert!(
        tested.len() > 40,
        "only {} text fields: {tested:?}",
        tested.len()
    );
}

#[tokio::test]
async fn text_fields_that_gave_500_give_422_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let cases = || app.count("SELECT count(*) FROM patients");
    let before = cases().await;
    let ward = app.api("ward").await;
    for field in [
        "given_name",
        "family_name",
        "bed",
        "needs_summary",
        "postcode",
        "ward_code",
    ] {
        let mut body = patient(NHS[1]);
        body[field] = json!(format!("x\u{0}{field}"));
        let got = ward
            .post_expect("/api/v1/patients", body, StatusCode::UNPROCESSABLE_ENTITY)
            .await;
        assert!(got["error"]["fields"][field].is_string(), "{field}: {got}");
    }
    // escape sequences and other control characters too; tabs and new lines are text
    let mut body = patient(NHS[1]);
    body["needs_summary"] = json!("Needs \u{1b}[31mhelp");
    ward.post_expect("/api/v1/patients", body, StatusCode::UNPROCESSABLE_ENTITY)
        .await;
    assert_eq!(cases().await, before);
    let mut body = patient(NHS[1]);
    body["needs_summary"] = json!("Needs help:\n\twashing\r\n\tdressing");
    ward.post_expect("/api/v1/patients", body, StatusCode::CREATED)
        .await;

    // an offer's notes and area, a directory entry's name
    let provider = app.api("provider").await;
    for field in ["notes", "area"] {
        let mut body = offer(2);
        body[field] = json!("Ground\u{0}floor");
        let got = provider
            .post_expect("/api/v1/capacity", body, StatusCode::UNPROCESSABLE_ENTITY)
            .await;
        assert!(got["error"]["fields"][field].is_string(), "{got}");
    }
    let got = provider
        .post_expect(
            "/api/v1/directory",
            json!({"name": "Good\u{0}Neighbours", "service_types": ["befriending"], "contact": "0113 496 0000"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(got["error"]["fields"]["name"].is_string(), "{got}");
    assert_eq!(app.count("SELECT count(*) FROM capacity_offers").await, 0);

    // query parameters
    let got = ward
        .get_expect(
            "/api/v1/patients?ward_code=RHW%00",
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    assert!(got["error"]["fields"]["ward_code"].is_string(), "{got}");

    // pages: the NHS error page, naming the field
    let browser = app.browser("ward").await;
    let res = browser
        .post_form(
            "/patients",
            &[
                ("nhs_number", NHS[2]),
                ("given_name", "Ada"),
                ("family_name", "Love\u{0}lace"),
                ("bed", "B\u{0}4"),
            ],
        )
        .await;
    assert!(content_type(&res).starts_with("text/html"));
    let page = expect_page(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let text = page.text("main");
    assert!(
        text.contains("family_name") && text.contains("bed"),
        "{text}"
    );
    let res = browser.get("/ward?q=%00").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(content_type(&res).starts_with("text/html"));
}

#[tokio::test]
async fn path_ids_that_are_not_ids_are_a_json_404_on_the_api_and_the_nhs_404_on_pages() {
    let app = TestApp::spawn().await;
    let hub = app.api("hub").await;
    let doc = hub.get_json("/api/v1/openapi.json").await;
    let mut tested = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.contains("{id}") {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            for bad in ["abc", "99999999999999999999", "1.5", "%00"] {
                let url = app.url(&path.replace("{id}", bad));
                let req = match method.as_str() {
                    "get" => hub.client.get(url),
                    "post" => hub.client.post(url).json(&json!({})),
                    "patch" => hub.client.patch(url).json(&json!({})),
                    _ => continue,
                };
                let res = req.bearer_auth(&hub.token).send().await.unwrap();
                let what = format!("{method} {path} with {bad}");
                let body = expect_json(res, StatusCode::NOT_FOUND, &what).await;
                if path.starts_with("/api/v1/fhir/") {
                    // FHIR answers its errors as OperationOutcomes (CONTRACT.md "FHIR")
                    assert_eq!(body["resourceType"], "OperationOutcome", "{what}");
                    assert_eq!(body["issue"][0]["code"], "not-found", "{what}");
                } else {
                    assert!(is_json_error(&body, "not_found"), "{what}: {body}");
                }
                tested += 1;
            }
        }
    }
    assert!(tested >= 60, "{tested}");
    let hub_pages = app.browser("hub").await;
    let admin_pages = app.browser("admin").await;
    let provider_pages = app.browser("provider").await;
    for (browser, path) in [
        (&hub_pages, "/patients/abc"),
        (&hub_pages, "/patients/99999999999999999999/find-care"),
        (&hub_pages, "/patients/abc/choice"),
        (&admin_pages, "/admin/users/abc/password"),
        (&provider_pages, "/directory/mine/1.5"),
    ] {
        let res = browser.get(path).await;
        assert!(content_type(&res).starts_with("text/html"), "{path}");
        let page = expect_page(res, StatusCode::NOT_FOUND).await;
        assert_eq!(page.text("h1"), "Page not found", "{path}");
    }
    let res = provider_pages
        .post_form("/provider/referrals/abc/accept", &[])
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(content_type(&res).starts_with("text/html"));
}

#[tokio::test]
async fn bodies_content_types_and_methods_the_api_does_not_take_are_contract_errors() {
    let app = TestApp::spawn().await;
    let ward = app.api("ward").await;
    let post = |content_type: Option<&'static str>, body: &'static str| {
        let mut req = ward
            .client
            .post(app.url("/api/v1/patients"))
            .bearer_auth(&ward.token)
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    for (ct, body, status, code) in [
        (
            Some("text/plain"),
            "{}",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (None, "{}", StatusCode::BAD_REQUEST, "bad_request"),
        (
            Some("application/x-www-form-urlencoded"),
            "a=b",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            Some("application/json"),
            "{not json",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            Some("application/json"),
            "[null, null]",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            Some("application/json"),
            r#"{"bed": 7}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
    ] {
        let res = post(ct, body).await.unwrap();
        let what = format!("{ct:?} {body}");
        assert!(content_type(&res).starts_with("application/json"), "{what}");
        let got = expect_json(res, status, &what).await;
        assert!(is_json_error(&got, code), "{what}: {got}");
    }
    // over 1 MB
    let big = format!(r#"{{"needs_summary": "{}"}}"#, "x".repeat(1_100_000));
    let res = ward
        .client
        .post(app.url("/api/v1/patients"))
        .bearer_auth(&ward.token)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let got = expect_json(res, StatusCode::PAYLOAD_TOO_LARGE, "1.1 MB").await;
    assert!(is_json_error(&got, "payload_too_large"), "{got}");
    // a method the path does not have: 405 with Allow, as JSON
    let res = ward
        .client
        .delete(app.url("/api/v1/patients"))
        .bearer_auth(&ward.token)
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key("allow"));
    let got = expect_json(res, StatusCode::METHOD_NOT_ALLOWED, "DELETE").await;
    assert!(is_json_error(&got, "method_not_allowed"), "{got}");
    // and on pages the NHS error page, never axum's plain text
    let anonymous = app.anonymous_browser();
    let res = anonymous
        .client
        .post(app.url("/login"))
        .header("content-type", "application/json")
        .body(r#"{"username":"ward"}"#)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
    assert!(content_type(&res).starts_with("text/html"));
    let res = anonymous
        .client
        .delete(app.url("/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(content_type(&res).starts_with("text/html"));
}
