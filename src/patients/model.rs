//! What a case looks like over the wire and as validated input. (As read from the database,
//! it is a [`CaseRow`].)

use crate::cases::CaseRow;
use crate::domain::time::{age_on, london_date, parse_date, parse_instant, parse_instant_or_date};
use crate::domain::{
    CancelReason, CaseStatus, NhsNumber, NhsNumberStatus, PatientId, Postcode, Sex,
    postcode_district,
};
use crate::error::FieldErrors;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// A case over the wire (CONTRACT.md "Patients"). Identifiable fields are `None`, and so
/// absent from the JSON, for callers who may only see the anonymised summary.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PatientJson {
    #[schema(value_type = i64)]
    pub id: PatientId,
    /// Absent for a caller who may not see it; null when the NHS number is not known.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub nhs_number: Option<Option<String>>,
    /// `known`, or `unknown` when the patient is identified by `local_id` only.
    #[schema(value_type = String, example = "known")]
    pub nhs_number_status: NhsNumberStatus,
    /// The hospital number (absent for a caller who may not see it).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub local_id: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<NaiveDate>,
    /// Age in whole years today.
    pub age: i32,
    pub sex: Sex,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    /// The outward code of the postcode, e.g. `LS9`.
    pub postcode_district: String,
    pub trust_code: String,
    pub ward_code: String,
    pub bed: String,
    pub admitted_at: DateTime<Utc>,
    pub expected_discharge_date: Option<NaiveDate>,
    pub needs_summary: String,
    pub status: CaseStatus,
    #[schema(minimum = 0, maximum = 3)]
    pub pathway: Option<i16>,
    pub discharge_ready_at: Option<DateTime<Utc>>,
    pub delay_reason: Option<String>,
    pub delay_days: Option<i64>,
    pub planned_discharge_at: Option<DateTime<Utc>>,
    pub discharged_at: Option<DateTime<Utc>>,
    /// Where the patient went: a code of `GET /api/v1/reference/discharge-destinations`.
    pub discharge_destination: Option<String>,
    /// How the patient left: an NHS Data Dictionary discharge method code.
    pub discharge_method: Option<String>,
    /// Why the case closed without a discharge: died, transferred_out, self_discharged, other.
    #[schema(value_type = Option<String>)]
    pub cancel_reason_code: Option<CancelReason>,
    pub coordinator: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl PatientJson {
    /// `identifiable` is false for a provider that has not accepted the patient: it gets the
    /// anonymised summary (age, sex, postcode district, needs, pathway, waiting since).
    pub fn from_case(c: CaseRow, identifiable: bool, now: DateTime<Utc>) -> Self {
        let show = |v: String| identifiable.then_some(v);
        PatientJson {
            id: c.id,
            age: c.age(now),
            delay_days: c.delay_days(now),
            postcode_district: postcode_district(&c.postcode),
            nhs_number: identifiable.then_some(c.nhs_number),
            nhs_number_status: c.nhs_number_status,
            local_id: identifiable.then_some(c.local_id),
            given_name: show(c.given_name),
            family_name: show(c.family_name),
            date_of_birth: identifiable.then_some(c.date_of_birth),
            postcode: show(c.postcode),
            sex: c.sex,
            trust_code: c.trust_code,
            ward_code: c.ward_code,
            bed: c.bed,
            admitted_at: c.admitted_at,
            expected_discharge_date: c.expected_discharge_date,
            needs_summary: c.needs_summary,
            status: c.status,
            pathway: c.pathway,
            discharge_ready_at: c.discharge_ready_at,
            delay_reason: c.delay_reason,
            planned_discharge_at: c.planned_discharge_at,
            discharged_at: c.discharged_at,
            discharge_destination: c.discharge_destination,
            discharge_method: c.discharge_method,
            cancel_reason_code: c.cancel_reason_code,
            coordinator: c.coordinator,
            version: c.version,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A validated new case, ready to insert.
#[derive(Debug, Clone)]
pub struct NewCase {
    /// `None` when the NHS number is not known; then `local_id` is set.
    pub nhs_number: Option<NhsNumber>,
    pub local_id: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    pub sex: Sex,
    pub postcode: Postcode,
    pub ward_code: String,
    pub bed: String,
    pub admitted_at: DateTime<Utc>,
    pub discharge_ready_at: Option<DateTime<Utc>>,
    pub expected_discharge_date: Option<NaiveDate>,
    pub needs_summary: String,
}

pub const NEEDS_SUMMARY_MAX: usize = 2000;

/// The text fields of a new case as typed, shared by the API body and the page form.
/// Instants arrive already parsed, because the API sends ISO 8601 and the form sends a
/// date and a time; each entry point reports its own parse errors first.
#[derive(Debug, Default, Clone)]
pub struct NewCaseDraft {
    pub nhs_number: String,
    /// `unknown` when the NHS number is not known; empty or `known` otherwise.
    pub nhs_number_status: String,
    /// The hospital number: required when the NHS number is not known.
    pub local_id: String,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: String,
    pub sex: String,
    pub postcode: String,
    pub ward_code: String,
    pub bed: String,
    pub admitted_at: Option<DateTime<Utc>>,
    pub discharge_ready_at: Option<DateTime<Utc>>,
    pub expected_discharge_date: String,
    pub needs_summary: String,
}

impl NewCaseDraft {
    /// Checks every field, adding a message for each problem to `errors` (which may already
    /// hold parse errors), and returns the case when there are none.
    pub fn validate(
        &self,
        now: DateTime<Utc>,
        mut errors: FieldErrors,
    ) -> Result<NewCase, FieldErrors> {
        let today = london_date(now);
        let unknown = match self.nhs_number_status.trim() {
            "" | "known" => false,
            "unknown" => true,
            _ => {
                errors.add(
                    "nhs_number_status",
                    "nhs_number_status must be known or unknown",
                );
                false
            }
        };
        let local_id = match self.local_id.trim() {
            "" => None,
            id if id.len() <= 20
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '/' || c == '-') =>
            {
                Some(id.to_string())
            }
            _ => {
                errors.add(
                    "local_id",
                    "Hospital number must be up to 20 letters, digits, hyphens or slashes",
                );
                None
            }
        };
        // Some(None): not known, so nothing to check; None: a problem already recorded
        let nhs_number: Option<Option<NhsNumber>> = if unknown {
            if !self.nhs_number.trim().is_empty() {
                errors.add(
                    "nhs_number",
                    "Leave the NHS number empty when it is not known",
                );
            }
            if local_id.is_none() && self.local_id.trim().is_empty() {
                errors.add(
                    "local_id",
                    "Enter the hospital number when the NHS number is not known",
                );
            }
            Some(None)
        } else {
            NhsNumber::parse(&self.nhs_number)
                .map_err(|e| errors.add("nhs_number", e.to_string()))
                .ok()
                .map(Some)
        };
        let given_name = name(
            &self.given_name,
            "given_name",
            "Enter the patient's first name",
            &mut errors,
        );
        let family_name = name(
            &self.family_name,
            "family_name",
            "Enter the patient's last name",
            &mut errors,
        );
        let date_of_birth = match parse_date(&self.date_of_birth) {
            None if self.date_of_birth.trim().is_empty() => {
                errors.add("date_of_birth", "Enter the patient's date of birth");
                None
            }
            None => {
                errors.add("date_of_birth", "Date of birth must be a real date");
                None
            }
            Some(d) if d > today => {
                errors.add("date_of_birth", "Date of birth must be in the past");
                None
            }
            Some(d) if age_on(d, today) > 125 => {
                errors.add(
                    "date_of_birth",
                    "Date of birth must be within the last 125 years",
                );
                None
            }
            Some(d) if self.admitted_at.is_some_and(|a| d > london_date(a)) => {
                errors.add(
                    "date_of_birth",
                    "Date of birth must be on or before the day of admission",
                );
                None
            }
            Some(d) => Some(d),
        };
        let sex = self
            .sex
            .trim()
            .parse::<Sex>()
            .map_err(|_| {
                errors.add(
                    "sex",
                    "Select the patient's sex: female, male, other or unknown",
                )
            })
            .ok();
        let postcode = match Postcode::parse(&self.postcode) {
            Some(p) => Some(p),
            None if self.postcode.trim().is_empty() => {
                errors.add("postcode", "Enter the patient's postcode");
                None
            }
            None => {
                errors.add("postcode", "Enter a real postcode, like LS9 7TF");
                None
            }
        };
        let ward_code = self.ward_code.trim().to_uppercase();
        if ward_code.is_empty() {
            errors.add("ward_code", "Select the ward");
        }
        let bed = self.bed.trim().to_string();
        if bed.chars().count() > 20 {
            errors.add("bed", "Bed must be 20 characters or fewer");
        }
        let skew = chrono::Duration::minutes(5);
        match self.admitted_at {
            None => errors.add("admitted_at", "Enter the date and time of admission"),
            Some(t) if t > now + skew => errors.add("admitted_at", "Admission must be in the past"),
            Some(_) => {}
        }
        if let Some(ready) = self.discharge_ready_at {
            if ready > now + skew {
                errors.add(
                    "discharge_ready_at",
                    "The discharge ready time must be in the past",
                );
            } else if self.admitted_at.is_some_and(|a| ready < a) {
                errors.add(
                    "discharge_ready_at",
                    "The discharge ready time must be after admission",
                );
            }
        }
        let expected_discharge_date = optional_date(
            &self.expected_discharge_date,
            "expected_discharge_date",
            "Expected date of discharge must be a real date",
            &mut errors,
        );
        if let (Some(edd), Some(adm)) = (expected_discharge_date, self.admitted_at)
            && edd < london_date(adm)
        {
            errors.add(
                "expected_discharge_date",
                "Expected date of discharge must be on or after admission",
            );
        }
        let needs_summary = self.needs_summary.trim().to_string();
        if needs_summary.chars().count() > NEEDS_SUMMARY_MAX {
            errors.add(
                "needs_summary",
                "Needs summary must be 2000 characters or fewer",
            );
        }
        match (
            nhs_number,
            given_name,
            family_name,
            date_of_birth,
            sex,
            postcode,
            self.admitted_at,
        ) {
            (
                Some(nhs_number),
                Some(given_name),
                Some(family_name),
                Some(date_of_birth),
                Some(sex),
                Some(postcode),
                Some(admitted_at),
            ) if errors.is_empty() => Ok(NewCase {
                nhs_number,
                local_id,
                given_name,
                family_name,
                date_of_birth,
                sex,
                postcode,
                ward_code,
                bed,
                admitted_at,
                discharge_ready_at: self.discharge_ready_at,
                expected_discharge_date,
                needs_summary,
            }),
            _ => Err(errors),
        }
    }
}

fn name(v: &str, field: &str, missing: &str, errors: &mut FieldErrors) -> Option<String> {
    let v = v.trim();
    if v.is_empty() {
        errors.add(field, missing);
        None
    } else if v.chars().count() > 100 {
        errors.add(field, "Name must be 100 characters or fewer");
        None
    } else {
        Some(v.to_string())
    }
}

/// An optional date field: empty is `None`, anything else must be a real date.
pub fn optional_date(
    v: &str,
    field: &str,
    message: &str,
    errors: &mut FieldErrors,
) -> Option<NaiveDate> {
    if v.trim().is_empty() {
        return None;
    }
    let d = parse_date(v);
    if d.is_none() {
        errors.add(field, message);
    }
    d
}

/// The API body of `POST /api/v1/patients`. Fields are optional here so that each missing
/// one gets its own message rather than a single deserialisation error.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct NewPatientRequest {
    /// Required unless `nhs_number_status` is `unknown`.
    #[schema(example = "9434765919")]
    pub nhs_number: Option<String>,
    /// `known` (the default) or `unknown`.
    pub nhs_number_status: Option<String>,
    /// The hospital number; required when the NHS number is not known.
    pub local_id: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    #[schema(example = "1941-03-02")]
    pub date_of_birth: Option<String>,
    #[schema(example = "female")]
    pub sex: Option<String>,
    #[schema(example = "LS9 7TF")]
    pub postcode: Option<String>,
    #[schema(example = "RHW-AMU")]
    pub ward_code: Option<String>,
    pub bed: Option<String>,
    #[schema(example = "2026-11-20T09:30:00Z")]
    pub admitted_at: Option<String>,
    /// An ISO 8601 date and time, or a date `YYYY-MM-DD` (00:00 in England that day).
    pub discharge_ready_at: Option<String>,
    pub expected_discharge_date: Option<String>,
    pub needs_summary: Option<String>,
}

impl NewPatientRequest {
    pub fn into_draft(self) -> (NewCaseDraft, FieldErrors) {
        let mut errors = FieldErrors::new();
        let admitted_at = match self.admitted_at.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) => {
                let t = parse_instant(v);
                if t.is_none() {
                    errors.add(
                        "admitted_at",
                        "admitted_at must be an ISO 8601 date and time, like 2026-11-20T09:30:00Z",
                    );
                }
                t
            }
        };
        // the discharge ready date is a date in the national data set: a date alone is the
        // start of that day in England
        let discharge_ready_at = match self.discharge_ready_at.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) => {
                let t = parse_instant_or_date(v);
                if t.is_none() {
                    errors.add(
                        "discharge_ready_at",
                        "discharge_ready_at must be a date like 2026-11-20 or an ISO 8601 date and time",
                    );
                }
                t
            }
        };
        let s = |v: Option<String>| v.unwrap_or_default();
        (
            NewCaseDraft {
                nhs_number: s(self.nhs_number),
                nhs_number_status: s(self.nhs_number_status),
                local_id: s(self.local_id),
                given_name: s(self.given_name),
                family_name: s(self.family_name),
                date_of_birth: s(self.date_of_birth),
                sex: s(self.sex),
                postcode: s(self.postcode),
                ward_code: s(self.ward_code),
                bed: s(self.bed),
                admitted_at,
                discharge_ready_at,
                expected_discharge_date: s(self.expected_discharge_date),
                needs_summary: s(self.needs_summary),
            },
            errors,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        parse_instant(s).unwrap()
    }

    fn good() -> NewCaseDraft {
        NewCaseDraft {
            nhs_number: "943 476 5919".into(),
            given_name: "Ada".into(),
            nhs_number_status: String::new(),
            local_id: String::new(),
            family_name: "Lovelace".into(),
            date_of_birth: "1941-03-02".into(),
            sex: "female".into(),
            postcode: "ls9 7tf".into(),
            ward_code: "rhw-amu".into(),
            bed: "B4".into(),
            admitted_at: Some(utc("2026-11-18T10:00:00Z")),
            discharge_ready_at: None,
            expected_discharge_date: "".into(),
            needs_summary: "Needs help with washing".into(),
        }
    }

    #[test]
    fn a_complete_draft_is_valid_and_normalised() {
        let c = good()
            .validate(utc("2026-11-22T09:00:00Z"), FieldErrors::new())
            .unwrap();
        assert_eq!(
            c.nhs_number.as_ref().map(NhsNumber::as_str),
            Some("9434765919")
        );
        assert_eq!(c.postcode.as_str(), "LS9 7TF");
        assert_eq!(c.ward_code, "RHW-AMU");
    }

    #[test]
    fn every_bad_field_gets_its_own_message() {
        let mut d = good();
        d.nhs_number = "9434765918".into();
        d.given_name = " ".into();
        d.date_of_birth = "2030-01-01".into();
        d.sex = "f".into();
        d.postcode = "nowhere".into();
        d.needs_summary = "x".repeat(2001);
        d.discharge_ready_at = Some(utc("2026-11-17T10:00:00Z"));
        let e = d
            .validate(utc("2026-11-22T09:00:00Z"), FieldErrors::new())
            .unwrap_err();
        for f in [
            "nhs_number",
            "given_name",
            "date_of_birth",
            "sex",
            "postcode",
            "needs_summary",
            "discharge_ready_at",
        ] {
            assert!(e.get(f).is_some(), "no error for {f}");
        }
        assert!(e.get("family_name").is_none());
    }
}

#[cfg(test)]
mod coded_field_tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        parse_instant(s).unwrap()
    }

    fn draft() -> NewCaseDraft {
        NewCaseDraft {
            nhs_number: "943 476 5919".into(),
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            date_of_birth: "1941-03-02".into(),
            sex: "female".into(),
            postcode: "LS9 7TF".into(),
            ward_code: "RHW-AMU".into(),
            admitted_at: Some(utc("2026-11-18T10:00:00Z")),
            ..NewCaseDraft::default()
        }
    }

    fn error_on(d: NewCaseDraft, field: &str) -> String {
        let e = d
            .validate(utc("2026-11-22T09:00:00Z"), FieldErrors::new())
            .unwrap_err();
        e.get(field)
            .unwrap_or_else(|| panic!("no error for {field}: {e:?}"))
            .to_string()
    }

    #[test]
    fn a_date_of_birth_after_admission_is_refused() {
        let mut d = draft();
        d.date_of_birth = "2026-11-19".into();
        assert!(error_on(d, "date_of_birth").contains("admission"));
        // born on the day of admission is possible
        let mut d = draft();
        d.date_of_birth = "2026-11-18".into();
        assert!(
            d.validate(utc("2026-11-22T09:00:00Z"), FieldErrors::new())
                .is_ok()
        );
    }

    #[test]
    fn placeholder_nhs_numbers_are_refused() {
        for n in ["0000000000", "4444444444", "999 999 9999"] {
            let mut d = draft();
            d.nhs_number = n.into();
            assert!(error_on(d, "nhs_number").contains("placeholder"), "{n}");
        }
    }

    #[test]
    fn a_patient_without_a_known_nhs_number_needs_the_hospital_number() {
        let mut d = draft();
        d.nhs_number = String::new();
        d.nhs_number_status = "unknown".into();
        assert!(error_on(d.clone(), "local_id").contains("hospital number"));
        d.local_id = "H123456".into();
        let c = d
            .validate(utc("2026-11-22T09:00:00Z"), FieldErrors::new())
            .unwrap();
        assert_eq!(c.nhs_number, None);
        assert_eq!(c.local_id.as_deref(), Some("H123456"));
        // a number and "unknown" contradict each other
        let mut d = draft();
        d.nhs_number_status = "unknown".into();
        d.local_id = "H1".into();
        assert!(error_on(d, "nhs_number").contains("empty"));
        let mut d = draft();
        d.nhs_number_status = "maybe".into();
        error_on(d, "nhs_number_status");
    }

    #[test]
    fn the_api_takes_a_ready_date_without_a_time() {
        let body = NewPatientRequest {
            discharge_ready_at: Some("2026-11-20".into()),
            admitted_at: Some("2026-11-18T10:00:00Z".into()),
            ..NewPatientRequest::default()
        };
        let (d, errors) = body.into_draft();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(d.discharge_ready_at, Some(utc("2026-11-20T00:00:00Z")));
    }
}
