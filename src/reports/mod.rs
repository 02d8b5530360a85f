//! Reports, each reconstructed from recorded history for any day, never from today's rows
//! alone: the daily discharge sitrep (Homeward's own shape), the national discharge returns
//! (NHS England's acute and community sitreps, for a day or a period) and the flow report.
//! What a day is ([`day`]) and who was not meeting the criteria on it ([`nctr_day`]) are
//! written once and shared, so the sitrep and the returns count the same patients.

pub mod chart;
pub mod counts;
pub mod csv_safe;
pub mod day;
pub mod flow;
pub mod national;
pub mod nctr_day;
pub mod pages;
pub mod sitrep;
pub mod table;
