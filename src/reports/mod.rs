//! Reports. The daily discharge situation report (sitrep, DOMAIN.md) per acute trust and in
//! total, for any day, reconstructed from recorded history: the not-meeting-criteria
//! periods, discharge times and the delay reason history, never from today's row alone.

pub mod chart;
pub mod csv_safe;
pub mod flow;
pub mod pages;
pub mod sitrep;
pub mod table;
