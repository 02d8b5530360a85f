//! Which delay reasons fit a case (issue 12): the reasons of the chosen pathway come first in
//! the triage form, and a reason that no longer fits what has happened since it was recorded
//! ("awaiting a care home bed" once a care home has accepted) is pointed out, so the sitrep
//! does not count a patient under a delay that is over. The rule is about the national
//! reasons' codes (code set `nhse-2023`, DOMAIN.md): `p1_`, `p2_` and `p3_` reasons wait for a
//! pathway's care; a few others wait for the hub.

use super::{CaseStatus, Pathway};

/// The pathway a reason waits for care on, if it is one of a pathway's own reasons.
pub fn reason_pathway(code: &str) -> Option<u8> {
    ["p1_", "p2_", "p3_"]
        .iter()
        .position(|p| code.starts_with(p))
        .map(|i| i as u8 + 1)
}

/// Reasons that say the patient waits for the hub or for care to be found.
fn waits_for_care(code: &str) -> bool {
    reason_pathway(code).is_some() || matches!(code, "referral_to_hub" | "hub_confirmation")
}

/// Why a recorded reason no longer fits the case, in words for the page; `None` if it fits.
pub fn misfit(code: &str, pathway: Option<Pathway>, status: CaseStatus) -> Option<&'static str> {
    if !status.is_nctr() {
        return None;
    }
    if matches!(status, CaseStatus::CareArranged | CaseStatus::ReadyToGo) && waits_for_care(code) {
        return Some(if status == CaseStatus::ReadyToGo {
            "the patient is ready to go, so they are no longer waiting for care to be found"
        } else {
            "care has been arranged, so the patient is no longer waiting for it to be found"
        });
    }
    match (reason_pathway(code), pathway) {
        (Some(wanted), Some(p)) if i16::from(wanted) != p.number() => {
            Some("the reason is for another pathway than the one chosen")
        }
        _ => None,
    }
}

/// Orders reasons for a case on `pathway`: the pathway's own reasons first, then the
/// reasons of no pathway, then the other pathways' (each group in its given order). Returns
/// how many of the first fit the pathway.
pub fn order_for_pathway<T>(
    reasons: &mut [T],
    code: impl Fn(&T) -> &str,
    pathway: Option<Pathway>,
) -> usize {
    let rank = |r: &T| match (reason_pathway(code(r)), pathway) {
        (Some(p), Some(chosen)) if i16::from(p) == chosen.number() => 0,
        (None, _) => 1,
        _ => 2,
    };
    reasons.sort_by_key(|r| rank(r));
    reasons.iter().take_while(|r| rank(r) == 0).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: i64) -> Option<Pathway> {
        Pathway::new(n)
    }

    #[test]
    fn a_waiting_for_care_reason_no_longer_fits_once_care_is_arranged() {
        for code in ["p3_placement", "p2_bed", "p1_new_care", "hub_confirmation"] {
            assert!(
                misfit(code, p(3), CaseStatus::CareArranged).is_some(),
                "{code}"
            );
            assert!(
                misfit(code, p(3), CaseStatus::ReadyToGo).is_some(),
                "{code}"
            );
        }
        assert_eq!(misfit("p3_placement", p(3), CaseStatus::AwaitingCare), None);
        assert_eq!(misfit("transport", p(3), CaseStatus::ReadyToGo), None);
        assert_eq!(
            misfit("medicines_tto", p(1), CaseStatus::CareArranged),
            None
        );
    }

    #[test]
    fn a_pathway_reason_does_not_fit_another_pathway() {
        assert!(misfit("p3_placement", p(1), CaseStatus::AwaitingCare).is_some());
        assert_eq!(misfit("p1_new_care", p(1), CaseStatus::AwaitingCare), None);
        // no pathway chosen yet: any reason may fit
        assert_eq!(misfit("p2_bed", None, CaseStatus::AwaitingTriage), None);
        // closed or meeting the criteria: nothing to point out
        assert_eq!(misfit("p3_placement", p(1), CaseStatus::Planning), None);
        assert_eq!(misfit("p3_placement", p(1), CaseStatus::Discharged), None);
    }

    #[test]
    fn the_pathways_own_reasons_come_first() {
        let mut codes = vec![
            "medical_decision",
            "p1_new_care",
            "p2_bed",
            "p3_placement",
            "transport",
            "p3_end_of_life",
        ];
        let fitting = order_for_pathway(&mut codes, |c| c, p(3));
        assert_eq!(fitting, 2);
        assert_eq!(
            codes,
            [
                "p3_placement",
                "p3_end_of_life",
                "medical_decision",
                "transport",
                "p1_new_care",
                "p2_bed"
            ]
        );
        let mut codes = vec!["p2_bed", "transport"];
        assert_eq!(order_for_pathway(&mut codes, |c| c, None), 0);
        assert_eq!(codes, ["transport", "p2_bed"]);
    }
}
