//! The capacity market: providers' offers of beds and care packages ([`offers`]), the hub's
//! referrals of patients to them ([`referrals`]), the count of places left on each offer
//! ([`places`]), and the ranking of open offers for a patient awaiting care ([`find_care`]).
//! Every change is a command in [`commands`]; the API and the pages are thin handlers over
//! them and over the reads.
//!
//! Inside the market, dependencies run one way: `offers`, `referrals` and `places` know
//! nothing of each other; `commands` uses all three, `find_care` reads offers and
//! referrals. The market builds on [`crate::cases`]
//! (a referral decision moves a case and writes its history); patients' commands call
//! [`commands::close_for_patient`] when a case closes. The market never calls them back.

pub mod commands;
pub mod find_care;
pub mod offers;
pub mod offers_api;
pub mod offers_pages;
pub mod places;
pub mod referrals;
pub mod referrals_api;
pub mod referrals_pages;
