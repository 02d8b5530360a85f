//! A discharge case as stored: the row ([`CaseRow`]), every read of case data (each scoped
//! to the caller, in [`queries`]), and the one writer of a case's history ([`history`]).
//! Patients (the commands people run on a case, their pages and API), the capacity market
//! (referrals move cases too) and patient choice all build on this module; it depends on
//! none of them.

pub mod counts;
pub mod history;
pub mod line;
pub mod list;
pub mod queries;
pub mod reads;
pub mod row;

pub use line::CaseLine;
pub use row::{CaseRow, HistoryEntry, NctrPeriod};
