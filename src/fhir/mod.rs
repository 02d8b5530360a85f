//! FHIR R4 out (CONTRACT.md "FHIR (R4, UK Core)"): a case as a UK Core `Patient` and
//! `Encounter`, the server's `CapabilityStatement`, search results as a `Bundle` and errors as
//! an `OperationOutcome`. Read-only; built from the same scoped reads as the JSON API
//! ([`crate::cases::queries`]), so FHIR can never show more than `/api/v1/patients` does.
//!
//! The resources are plain serde structs holding only the elements Homeward fills in, not a
//! FHIR crate: a full model of R4 (hundreds of resources, generated code) would more than
//! double the build for five shapes, and the output is checked against an independent FHIR
//! model library instead (`tests/it/fhir.rs` runs Python's `fhir.resources` over it).
//!
//! What goes where (also in the README, "FHIR"):
//! - `Patient/{id}` and `Encounter/{id}` share the case id: Homeward's unit is one hospital
//!   stay, so a Patient is the person as known to that case, and its Encounter is the stay.
//! - Patient: the NHS number (`https://fhir.nhs.uk/Id/nhs-number`, with UK Core's
//!   verification-status extension: "number present but not traced", as Homeward checks the
//!   check digit but does not trace), the hospital number, name, gender, birth date, postcode,
//!   the trust as managing organisation (ODS code, `https://fhir.nhs.uk/Id/ods-organization-code`).
//!   A provider that has not accepted a referral gets none of the identifying elements:
//!   gender and the postcode district only, as the JSON API does.
//! - Encounter: inpatient (`IMP`), in progress, finished, cancelled or entered in error (a
//!   record merged away), admitted to discharged, ward as
//!   location, trust as service provider, discharge destination, and Homeward's extensions:
//!   discharge ready date (`valueDateTime`), delay reason (`valueCodeableConcept`, code set
//!   `nhse-2023`), delay days (`valueInteger`) and pathway (`valueCodeableConcept`, 0-3).

pub mod api;

use crate::cases::CaseRow;
use crate::domain::{CancelReason, CaseStatus, NhsNumberStatus};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// FHIR's JSON media type.
pub const FHIR_JSON: &str = "application/fhir+json";
/// The FHIR version served.
pub const FHIR_VERSION: &str = "4.0.1";

pub const NHS_NUMBER_SYSTEM: &str = "https://fhir.nhs.uk/Id/nhs-number";
pub const ODS_SYSTEM: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
pub const UK_CORE_PATIENT: &str = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient";
pub const UK_CORE_ENCOUNTER: &str = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Encounter";
const NHS_NUMBER_VERIFICATION: &str =
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus";
const NHS_NUMBER_VERIFICATION_CODES: &str =
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland";
const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";

/// Homeward's own canonical base for what UK Core has no element for (its extensions, code
/// systems and identifier systems). A placeholder under a documentation domain until the
/// project publishes a FHIR package of its own.
pub const CANONICAL: &str = "https://homeward.example.org/fhir";

/// `{CANONICAL}/{path}`.
pub fn canonical(path: &str) -> String {
    format!("{CANONICAL}/{path}")
}

fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profile: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Coding {
    pub system: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CodeableConcept {
    pub coding: Vec<Coding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl CodeableConcept {
    fn code(system: &str, code: &str, display: Option<&str>) -> Self {
        CodeableConcept {
            coding: vec![Coding {
                system: system.to_string(),
                code: code.to_string(),
                display: display.map(str::to_string),
            }],
            text: None,
        }
    }
}

/// An extension with one of the value types Homeward uses.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Extension {
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_integer: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_codeable_concept: Option<CodeableConcept>,
}

impl Extension {
    fn new(url: String) -> Self {
        Extension {
            url,
            value_date_time: None,
            value_integer: None,
            value_codeable_concept: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Identifier {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    pub system: String,
    pub value: String,
}

impl Identifier {
    fn new(system: &str, value: &str) -> Self {
        Identifier {
            extension: vec![],
            system: system.to_string(),
            value: value.to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Reference {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<Identifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HumanName {
    #[serde(rename = "use")]
    pub use_: &'static str,
    pub family: String,
    pub given: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub postal_code: String,
}

/// A UK Core Patient.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    pub resource_type: &'static str,
    pub id: String,
    pub meta: Meta,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub name: Vec<HumanName>,
    pub gender: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deceased_boolean: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub address: Vec<Address>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managing_organization: Option<Reference>,
}

fn ods(code: &str) -> Reference {
    Reference {
        reference: None,
        identifier: Some(Identifier::new(ODS_SYSTEM, code)),
        display: None,
    }
}

impl Patient {
    /// The case's patient; without identifying elements unless `identifiable`.
    pub fn from_case(c: &CaseRow, identifiable: bool) -> Patient {
        let meta = Meta {
            last_updated: Some(instant(c.updated_at)),
            profile: vec![UK_CORE_PATIENT.to_string()],
        };
        let gender = c.sex.as_str();
        if !identifiable {
            return Patient {
                resource_type: "Patient",
                id: c.id.to_string(),
                meta,
                identifier: vec![],
                name: vec![],
                gender,
                birth_date: None,
                deceased_boolean: None,
                address: vec![Address {
                    postal_code: crate::domain::values::postcode_district(&c.postcode),
                }],
                managing_organization: None,
            };
        }
        let mut identifier = vec![];
        if let (NhsNumberStatus::Known, Some(nhs)) = (c.nhs_number_status, &c.nhs_number) {
            let mut id = Identifier::new(NHS_NUMBER_SYSTEM, nhs);
            let mut status = Extension::new(NHS_NUMBER_VERIFICATION.to_string());
            status.value_codeable_concept = Some(CodeableConcept::code(
                NHS_NUMBER_VERIFICATION_CODES,
                "02",
                Some("Number present but not traced"),
            ));
            id.extension.push(status);
            identifier.push(id);
        }
        if let Some(local) = &c.local_id {
            identifier.push(Identifier::new(
                &canonical(&format!("Id/hospital-number/{}", c.trust_code)),
                local,
            ));
        }
        Patient {
            resource_type: "Patient",
            id: c.id.to_string(),
            meta,
            identifier,
            name: vec![HumanName {
                use_: "official",
                family: c.family_name.clone(),
                given: vec![c.given_name.clone()],
            }],
            gender,
            birth_date: Some(c.date_of_birth.format("%Y-%m-%d").to_string()),
            // died: a case closed as died, or a discharge whose method is "died" (NHS Data
            // Dictionary discharge method 4, as the hospital feed records a death)
            deceased_boolean: (c.cancel_reason_code == Some(CancelReason::Died)
                || c.discharge_method.as_deref() == Some(crate::domain::discharge::METHOD_DIED))
            .then_some(true),
            address: vec![Address {
                postal_code: c.postcode.clone(),
            }],
            managing_organization: Some(ods(&c.trust_code)),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Period {
    pub start: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hospitalization {
    pub discharge_disposition: CodeableConcept,
}

#[derive(Debug, Clone, Serialize)]
pub struct EncounterLocation {
    pub location: Reference,
}

/// A UK Core Encounter: the hospital stay.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Encounter {
    pub resource_type: &'static str,
    pub id: String,
    pub meta: Meta,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    pub identifier: Vec<Identifier>,
    pub status: &'static str,
    pub class: Coding,
    pub subject: Reference,
    pub period: Period,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hospitalization: Option<Hospitalization>,
    pub location: Vec<EncounterLocation>,
    pub service_provider: Reference,
}

/// The extension URLs Homeward defines.
pub mod extensions {
    pub const DISCHARGE_READY_DATE: &str = "StructureDefinition/discharge-ready-date";
    pub const DELAY_REASON: &str = "StructureDefinition/delay-reason";
    pub const DELAY_DAYS: &str = "StructureDefinition/delay-days";
    pub const DISCHARGE_PATHWAY: &str = "StructureDefinition/discharge-pathway";
}

impl Encounter {
    pub fn from_case(c: &CaseRow, now: DateTime<Utc>) -> Encounter {
        let mut extension = vec![];
        if let Some(ready) = c.discharge_ready_at {
            let mut e = Extension::new(canonical(extensions::DISCHARGE_READY_DATE));
            e.value_date_time = Some(instant(ready));
            extension.push(e);
        }
        if let Some(reason) = &c.delay_reason {
            let mut e = Extension::new(canonical(extensions::DELAY_REASON));
            e.value_codeable_concept = Some(CodeableConcept::code(
                &canonical("CodeSystem/delay-reason"),
                reason,
                c.delay_reason_label.as_deref(),
            ));
            extension.push(e);
        }
        if let Some(days) = c.delay_days(now) {
            let mut e = Extension::new(canonical(extensions::DELAY_DAYS));
            e.value_integer = Some(days);
            extension.push(e);
        }
        if let Some(pathway) = c.pathway {
            let mut e = Extension::new(canonical(extensions::DISCHARGE_PATHWAY));
            e.value_codeable_concept = Some(CodeableConcept::code(
                &canonical("CodeSystem/discharge-pathway"),
                &pathway.to_string(),
                Some(&format!("Pathway {pathway}")),
            ));
            extension.push(e);
        }
        let ended = match c.status {
            CaseStatus::Discharged => c.discharged_at,
            CaseStatus::Cancelled => c.cancelled_at.or(c.discharged_at),
            _ => None,
        };
        Encounter {
            resource_type: "Encounter",
            id: c.id.to_string(),
            meta: Meta {
                last_updated: Some(instant(c.updated_at)),
                profile: vec![UK_CORE_ENCOUNTER.to_string()],
            },
            extension,
            identifier: vec![Identifier::new(&canonical("Id/case"), &c.id.to_string())],
            status: encounter_status(c),
            class: Coding {
                system: ACT_CODE.to_string(),
                code: "IMP".to_string(),
                display: Some("inpatient encounter".to_string()),
            },
            subject: Reference {
                reference: Some(format!("Patient/{}", c.id)),
                identifier: None,
                display: None,
            },
            period: Period {
                start: instant(c.admitted_at),
                end: ended.map(instant),
            },
            hospitalization: c.discharge_destination.as_ref().map(|d| Hospitalization {
                discharge_disposition: CodeableConcept::code(
                    &canonical("CodeSystem/discharge-destination"),
                    d,
                    None,
                ),
            }),
            location: vec![EncounterLocation {
                location: Reference {
                    reference: None,
                    identifier: Some(Identifier::new(&canonical("Id/ward"), &c.ward_code)),
                    display: Some(c.ward_name.clone()),
                },
            }],
            service_provider: ods(&c.trust_code),
        }
    }
}

/// A search result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleEntry<T> {
    pub full_url: String,
    pub resource: T,
    pub search: BundleSearch,
}

#[derive(Debug, Clone, Serialize)]
pub struct BundleSearch {
    pub mode: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct BundleLink {
    pub relation: &'static str,
    pub url: String,
}

/// A `searchset` Bundle.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle<T> {
    pub resource_type: &'static str,
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub total: usize,
    pub link: Vec<BundleLink>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entry: Vec<BundleEntry<T>>,
}

/// One problem, as FHIR says it.
#[derive(Debug, Clone, Serialize)]
pub struct Issue {
    pub severity: &'static str,
    pub code: &'static str,
    pub diagnostics: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationOutcome {
    pub resource_type: &'static str,
    pub issue: Vec<Issue>,
}

impl OperationOutcome {
    pub fn error(code: &'static str, diagnostics: impl Into<String>) -> Self {
        OperationOutcome {
            resource_type: "OperationOutcome",
            issue: vec![Issue {
                severity: "error",
                code,
                diagnostics: diagnostics.into(),
            }],
        }
    }
}

/// The server's CapabilityStatement.
pub fn capability_statement(now: DateTime<Utc>) -> serde_json::Value {
    serde_json::json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": now.format("%Y-%m-%d").to_string(),
        "publisher": "Homeward",
        "kind": "instance",
        "software": {"name": "Homeward", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "Homeward discharge coordination hub: FHIR R4 (UK Core), read-only"},
        "fhirVersion": FHIR_VERSION,
        "format": [FHIR_JSON, "json"],
        "rest": [{
            "mode": "server",
            "documentation": "Every call needs a bearer token from POST /api/v1/auth/token, and sees what /api/v1/patients shows the same caller. Patient and Encounter share the case id.",
            "security": {"description": "OAuth-style bearer token (Authorization: Bearer TOKEN) from POST /api/v1/auth/token"},
            "resource": [
                {
                    "type": "Patient",
                    "profile": UK_CORE_PATIENT,
                    "interaction": [{"code": "read"}, {"code": "search-type"}],
                    "searchParam": [{
                        "name": "identifier",
                        "type": "token",
                        "documentation": format!("{NHS_NUMBER_SYSTEM}|NHS number (or the 10 digits alone)")
                    }]
                },
                {
                    "type": "Encounter",
                    "profile": UK_CORE_ENCOUNTER,
                    "interaction": [{"code": "read"}]
                }
            ]
        }]
    })
}

/// FHIR's Encounter status for a case: in progress while open; finished when the stay
/// ended (a discharge, and a case closed because the patient died, was transferred or left);
/// entered in error for a record the hospital merged into another (A40); cancelled for an
/// admission cancelled (A11) or a case closed for any other reason.
fn encounter_status(c: &CaseRow) -> &'static str {
    match c.status {
        CaseStatus::Discharged => "finished",
        CaseStatus::Cancelled => match c.cancel_reason_code {
            Some(
                CancelReason::Died | CancelReason::TransferredOut | CancelReason::SelfDischarged,
            ) => "finished",
            _ if c
                .closed_reason
                .as_deref()
                .is_some_and(|r| r.starts_with(crate::hl7::feed::MERGED_PREFIX)) =>
            {
                "entered-in-error"
            }
            _ => "cancelled",
        },
        _ => "in-progress",
    }
}
