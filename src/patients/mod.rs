//! Discharge cases ("patients" in the contract): one per hospital stay, from the ward's flag
//! to discharge. `commands` holds every change (each in one transaction with its history
//! row); `api` and `pages` are thin handlers over the commands and over the scoped reads of
//! [`crate::cases`]; `model` holds the case as the API sends it and as forms validate it.

pub mod api;
pub mod commands;
pub mod model;
pub mod pages;

pub use model::PatientJson;
