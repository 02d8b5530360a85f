//! Need to know, written once. Who may see which cases, referrals and offers is decided
//! here and nowhere else, in two forms that must agree:
//!
//! - as a SQL predicate pushed into a [`QueryBuilder`] over a table alias, for every read
//!   (each variant renders its own plain predicate, such as `p.trust_code = $n`, so the
//!   planner sees it and can use the indexes; no opaque function hides it);
//! - in memory, for the live events (`live::Change::visible_to`), which are filtered
//!   without a query.
//!
//! The rules (CONTRACT.md): the hub sees every case and referral of its own hub (its
//! trusts'); a ward user its own trust's cases and their referrals; a provider the referrals
//! to its organisation and the cases referred to it (from any hub it serves); an
//! administrator no case and no referral. Every user may list the offers of the providers
//! serving their hub, except that a provider sees only its own. Row-level security keeps
//! the same hub boundary a second time, in the database (src/tenancy.rs). `scope_agreement` (a test
//! module beside this one) checks against a database that the SQL and the in-memory forms
//! agree for every role.

use crate::domain::{Caller, Role};
use sqlx::{Postgres, QueryBuilder};

/// Which cases a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseScope {
    /// The hub: every case of its hub (by the hub's organisation code).
    Hub(String),
    /// A ward user: the cases of its trust (by organisation code).
    Trust(String),
    /// A provider: the cases with a referral (of any status) to it.
    ReferredTo(String),
    /// An administrator: none.
    Nothing,
}

/// What the case rule looks at, for a case held in memory (a live event).
#[derive(Debug, Clone, Copy)]
pub struct CaseFacts<'a> {
    pub trust_code: Option<&'a str>,
    /// The case's hub.
    pub hub_code: Option<&'a str>,
    /// The organisations the case has been referred to (any status).
    pub referred_to: &'a [String],
}

impl CaseScope {
    pub fn of(caller: &Caller) -> Self {
        let org = caller.org_code.clone();
        match caller.role {
            Role::Hub => CaseScope::Hub(caller.hub_code.clone()),
            Role::Ward => CaseScope::Trust(org),
            Role::Provider => CaseScope::ReferredTo(org),
            Role::Admin => CaseScope::Nothing,
        }
    }

    /// Who may see a case's notes, contact log and tasks: the hub and the case's trust, never
    /// a provider (which sees a referred case, not the hub's working of it).
    pub fn for_casework(caller: &Caller) -> Self {
        match Self::of(caller) {
            CaseScope::ReferredTo(_) => CaseScope::Nothing,
            scope => scope,
        }
    }

    /// Pushes the predicate "the caller may see this case" over the patients table aliased
    /// `patients`.
    pub fn push_sql(&self, q: &mut QueryBuilder<'_, Postgres>, patients: &str) {
        match self {
            CaseScope::Hub(hub) => q
                .push(format!("{patients}.hub_code = "))
                .push_bind(hub.clone()),
            CaseScope::Trust(org) => q
                .push(format!("{patients}.trust_code = "))
                .push_bind(org.clone()),
            CaseScope::ReferredTo(org) => q
                .push(format!(
                    "EXISTS (SELECT 1 FROM referrals scope_r WHERE scope_r.patient_id = {patients}.id \
                     AND scope_r.org_code = "
                ))
                .push_bind(org.clone())
                .push(")"),
            CaseScope::Nothing => q.push("false"),
        };
    }

    /// The same rule for a case held in memory.
    pub fn allows(&self, case: CaseFacts<'_>) -> bool {
        match self {
            CaseScope::Hub(hub) => case.hub_code == Some(hub.as_str()),
            CaseScope::Trust(org) => case.trust_code == Some(org.as_str()),
            CaseScope::ReferredTo(org) => case.referred_to.iter().any(|p| p == org),
            CaseScope::Nothing => false,
        }
    }

    /// Whether the caller sees every case of a trust (and so may file cases on its wards):
    /// the hub any trust of its hub (`trust_hub`: the trust's hub), a ward user its own.
    pub fn covers_trust(&self, trust_code: &str, trust_hub: Option<&str>) -> bool {
        match self {
            CaseScope::Hub(hub) => trust_hub == Some(hub.as_str()),
            CaseScope::Trust(org) => org == trust_code,
            CaseScope::ReferredTo(_) | CaseScope::Nothing => false,
        }
    }

    /// Pushes the predicate "the caller sees this ward's cases wholesale" over the wards
    /// table aliased `wards`: every ward of its hub's trusts for the hub, its trust's for a
    /// ward user, none for a provider (which sees single referred cases, never a ward) or an
    /// administrator.
    pub fn push_wards_sql(&self, q: &mut QueryBuilder<'_, Postgres>, wards: &str) {
        match self {
            CaseScope::Hub(hub) => q
                .push(format!(
                    "{wards}.org_code IN (SELECT scope_o.code FROM organisations scope_o WHERE scope_o.hub_code = "
                ))
                .push_bind(hub.clone())
                .push(")"),
            CaseScope::Trust(org) => q
                .push(format!("{wards}.org_code = "))
                .push_bind(org.clone()),
            CaseScope::ReferredTo(_) | CaseScope::Nothing => q.push("false"),
        };
    }

    /// Pushes "the caller may see this case's identifiers", for a case it may see, over the
    /// patients table aliased `patients`: everyone who sees a case sees who the patient is,
    /// except a provider, until it has accepted a referral of the patient.
    pub fn push_identifiable_sql(&self, q: &mut QueryBuilder<'_, Postgres>, patients: &str) {
        match self {
            CaseScope::ReferredTo(org) => q
                .push(format!(
                    "EXISTS (SELECT 1 FROM referrals scope_a WHERE scope_a.patient_id = {patients}.id \
                     AND scope_a.status = 'accepted' AND scope_a.org_code = "
                ))
                .push_bind(org.clone())
                .push(")"),
            CaseScope::Hub(_) | CaseScope::Trust(_) => q.push("true"),
            CaseScope::Nothing => q.push("false"),
        };
    }

    /// Pushes the same rule over the case counters (`case_counts`, aliased `counts`, one
    /// row per hub, trust, ward, status, pathway, reason and readiness), and returns `true`; or
    /// pushes nothing and returns `false` when the rule cannot be said in those terms (a
    /// provider's cases are the ones referred to it, which the counters do not record).
    pub fn push_counts_sql(&self, q: &mut QueryBuilder<'_, Postgres>, counts: &str) -> bool {
        match self {
            CaseScope::Hub(hub) => q
                .push(format!("{counts}.hub_code = "))
                .push_bind(hub.clone()),
            CaseScope::Trust(org) => q
                .push(format!("{counts}.trust_code = "))
                .push_bind(org.clone()),
            CaseScope::Nothing => q.push("false"),
            CaseScope::ReferredTo(_) => return false,
        };
        true
    }
}

/// Which referrals a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferralScope {
    /// The hub: every referral of its hub.
    Hub(String),
    /// A provider: the referrals to it.
    ToProvider(String),
    /// A ward user: the referrals of its trust's cases.
    OfTrust(String),
    /// An administrator: none.
    Nothing,
}

/// What the referral rule looks at, for a referral held in memory (a live event).
#[derive(Debug, Clone, Copy)]
pub struct ReferralFacts<'a> {
    /// The trust of the referred case.
    pub trust_code: Option<&'a str>,
    /// The hub of the referred case.
    pub hub_code: Option<&'a str>,
    /// The organisation referred to.
    pub provider: Option<&'a str>,
}

impl ReferralScope {
    pub fn of(caller: &Caller) -> Self {
        let org = caller.org_code.clone();
        match caller.role {
            Role::Hub => ReferralScope::Hub(caller.hub_code.clone()),
            Role::Provider => ReferralScope::ToProvider(org),
            Role::Ward => ReferralScope::OfTrust(org),
            Role::Admin => ReferralScope::Nothing,
        }
    }

    /// Pushes the predicate "the caller may see this referral" over the referrals table
    /// aliased `referrals`.
    pub fn push_sql(&self, q: &mut QueryBuilder<'_, Postgres>, referrals: &str) {
        match self {
            ReferralScope::Hub(hub) => q
                .push(format!("{referrals}.hub_code = "))
                .push_bind(hub.clone()),
            ReferralScope::ToProvider(org) => q
                .push(format!("{referrals}.org_code = "))
                .push_bind(org.clone()),
            ReferralScope::OfTrust(org) => q
                .push(format!(
                    "EXISTS (SELECT 1 FROM patients scope_p WHERE scope_p.id = {referrals}.patient_id \
                     AND scope_p.trust_code = "
                ))
                .push_bind(org.clone())
                .push(")"),
            ReferralScope::Nothing => q.push("false"),
        };
    }

    /// The same rule for a referral held in memory.
    pub fn allows(&self, referral: ReferralFacts<'_>) -> bool {
        match self {
            ReferralScope::Hub(hub) => referral.hub_code == Some(hub.as_str()),
            ReferralScope::ToProvider(org) => referral.provider == Some(org.as_str()),
            ReferralScope::OfTrust(org) => referral.trust_code == Some(org.as_str()),
            ReferralScope::Nothing => false,
        }
    }
}

/// Which offers a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfferScope {
    /// The offers of every provider serving the hub (by the hub's code).
    Market(String),
    /// A provider: its own offers.
    Own(String),
    Nothing,
}

impl OfferScope {
    /// Reads (lists, one offer): a provider its own offers, everyone else the offers of the
    /// providers serving their hub.
    pub fn of(caller: &Caller) -> Self {
        match caller.role {
            Role::Provider => OfferScope::Own(caller.org_code.clone()),
            Role::Hub | Role::Ward | Role::Admin => OfferScope::Market(caller.hub_code.clone()),
        }
    }

    /// Live events about offers: the hub hears the offers of its market, a provider its
    /// own. Ward users and administrators hear none, although they may list offers: the
    /// live stream carries offers only to those who act on them. (This narrower rule is the
    /// one Homeward had before scoping was written once; widening it would change what
    /// streams carry.)
    pub fn for_events(caller: &Caller) -> Self {
        match caller.role {
            Role::Hub => OfferScope::Market(caller.hub_code.clone()),
            Role::Provider => OfferScope::Own(caller.org_code.clone()),
            Role::Ward | Role::Admin => OfferScope::Nothing,
        }
    }

    /// Pushes the predicate "the caller may see this offer" over the offers table aliased
    /// `offers`.
    pub fn push_sql(&self, q: &mut QueryBuilder<'_, Postgres>, offers: &str) {
        match self {
            OfferScope::Market(hub) => q
                .push(format!(
                    "{offers}.org_code IN (SELECT scope_hp.provider_code FROM hub_providers scope_hp \
                     WHERE scope_hp.hub_code = "
                ))
                .push_bind(hub.clone())
                .push(")"),
            OfferScope::Own(org) => q
                .push(format!("{offers}.org_code = "))
                .push_bind(org.clone()),
            OfferScope::Nothing => q.push("false"),
        };
    }

    /// The same rule for an offer held in memory, by its provider and the hubs that
    /// provider serves.
    pub fn allows(&self, provider: Option<&str>, served: &[String]) -> bool {
        match self {
            OfferScope::Market(hub) => served.iter().any(|h| h == hub),
            OfferScope::Own(org) => provider == Some(org.as_str()),
            OfferScope::Nothing => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn each_role_has_its_scope() {
        assert_eq!(
            CaseScope::of(&caller(Role::Hub, "HUB")),
            CaseScope::Hub("HUB".into())
        );
        assert_eq!(
            CaseScope::of(&caller(Role::Ward, "RHW")),
            CaseScope::Trust("RHW".into())
        );
        assert_eq!(
            CaseScope::of(&caller(Role::Provider, "PRV1")),
            CaseScope::ReferredTo("PRV1".into())
        );
        assert_eq!(
            CaseScope::of(&caller(Role::Admin, "HUB")),
            CaseScope::Nothing
        );
        assert_eq!(
            ReferralScope::of(&caller(Role::Ward, "RHW")),
            ReferralScope::OfTrust("RHW".into())
        );
        assert_eq!(
            ReferralScope::of(&caller(Role::Provider, "PRV1")),
            ReferralScope::ToProvider("PRV1".into())
        );
        assert_eq!(
            OfferScope::of(&caller(Role::Ward, "RHW")),
            OfferScope::Market("HUB".into())
        );
        assert_eq!(
            OfferScope::for_events(&caller(Role::Ward, "RHW")),
            OfferScope::Nothing
        );
    }

    #[test]
    fn in_memory_rules() {
        let referred = vec!["PRV1".to_string()];
        let case = CaseFacts {
            trust_code: Some("RHW"),
            hub_code: Some("HUB"),
            referred_to: &referred,
        };
        assert!(CaseScope::Hub("HUB".into()).allows(case));
        assert!(!CaseScope::Hub("HUB2".into()).allows(case));
        assert!(CaseScope::Trust("RHW".into()).allows(case));
        assert!(!CaseScope::Trust("RXX".into()).allows(case));
        assert!(CaseScope::ReferredTo("PRV1".into()).allows(case));
        assert!(!CaseScope::ReferredTo("PRV2".into()).allows(case));
        assert!(!CaseScope::Nothing.allows(case));

        let referral = ReferralFacts {
            trust_code: Some("RHW"),
            hub_code: Some("HUB"),
            provider: Some("PRV2"),
        };
        assert!(ReferralScope::Hub("HUB".into()).allows(referral));
        assert!(!ReferralScope::Hub("HUB2".into()).allows(referral));
        assert!(ReferralScope::ToProvider("PRV2".into()).allows(referral));
        assert!(!ReferralScope::ToProvider("PRV1".into()).allows(referral));
        assert!(ReferralScope::OfTrust("RHW".into()).allows(referral));
        assert!(!ReferralScope::OfTrust("RXX".into()).allows(referral));
        assert!(!ReferralScope::Nothing.allows(referral));

        assert!(CaseScope::Hub("HUB".into()).covers_trust("RXX", Some("HUB")));
        assert!(!CaseScope::Hub("HUB".into()).covers_trust("RZZ", Some("HUB2")));
        assert!(CaseScope::Trust("RHW".into()).covers_trust("RHW", Some("HUB")));
        assert!(!CaseScope::Trust("RHW".into()).covers_trust("RXX", Some("HUB")));
        assert!(!CaseScope::ReferredTo("PRV1".into()).covers_trust("RHW", Some("HUB")));

        let served = vec!["HUB".to_string(), "HUB2".to_string()];
        assert!(OfferScope::Market("HUB2".into()).allows(Some("PRV1"), &served));
        assert!(!OfferScope::Market("HUB3".into()).allows(Some("PRV1"), &served));
        assert!(OfferScope::Own("PRV1".into()).allows(Some("PRV1"), &served));
    }
}
