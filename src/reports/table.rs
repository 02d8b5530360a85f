//! A report table: the one shape every flow figure takes, so each renders the same way as
//! an HTML table and exports the same way as CSV.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Table {
    /// Stable name, used for `?table=NAME&format=csv`.
    pub name: &'static str,
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Columns after the first are numbers (right-aligned).
    pub numeric: bool,
}

impl Table {
    pub fn new(name: &'static str, title: impl Into<String>, columns: &[&str]) -> Self {
        Table {
            name,
            title: title.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: vec![],
            numeric: true,
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    pub fn to_csv(&self) -> Result<String, csv::Error> {
        super::csv_safe::write(&self.columns, &self.rows)
    }
}

/// Formats a number of days or a share for a table cell.
pub fn one_decimal(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "-".into())
}

pub fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.0}%", part as f64 * 100.0 / whole as f64)
    }
}
