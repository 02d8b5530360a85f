//! Discharge cases ("patients" in the contract): one per hospital stay, from the ward's flag
//! to discharge. `commands` holds every change (each in one transaction with its history
//! row); `queries` holds every read, always scoped to the caller; `api` and `pages` are thin
//! handlers over both.

pub mod api;
pub mod commands;
pub mod history;
pub mod model;
pub mod pages;
pub mod queries;

pub use model::{CaseRow, PatientJson};
