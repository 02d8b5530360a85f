//! CSV that is safe to open in a spreadsheet: a cell starting with `=`, `+`, `-`, `@`, tab
//! or carriage return is prefixed with `'`, so it is shown as text and never run as a
//! formula (CSV injection).

/// Makes one text cell safe. Numbers are left alone (a negative number stays a number).
pub fn cell(value: &str) -> String {
    let numeric = !value.is_empty() && value.parse::<f64>().is_ok();
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') if !numeric => format!("'{value}"),
        _ => value.to_string(),
    }
}

/// Writes a header and rows as CSV, every cell made safe.
pub fn write(header: &[String], rows: &[Vec<String>]) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record(header.iter().map(|h| cell(h)))?;
    for row in rows {
        w.write_record(row.iter().map(|c| cell(c)))?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_numbers_kept() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("+1+2"), "'+1+2");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("-3"), "-3");
        assert_eq!(cell("RHW"), "RHW");
        assert_eq!(cell(""), "");
    }

    #[test]
    fn quotes_and_commas_are_escaped() {
        let out = write(
            &["a".into(), "b".into()],
            &[vec!["x, y".into(), "=1".into()]],
        )
        .unwrap();
        assert_eq!(out, "a,b\n\"x, y\",'=1\n");
    }
}
