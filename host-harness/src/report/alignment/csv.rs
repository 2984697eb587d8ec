//! `--csv`: the same rows as `--json`, one line each, under the same column names
//! ([`columns`]), with the quoting rules of `host-harness export`: RFC 4180, and a cell a
//! spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, a tab or a
//! carriage return) prefixed with `'`, unless it is a number. Null is an empty cell.

use std::io::{self, Write};

use serde_json::Value;

use super::options::By;
use super::report::AlignmentReport;
use super::row::{columns, Row};

/// One CSV cell.
pub fn csv_field(s: &str) -> String {
    let formula = s.starts_with(['=', '+', '-', '@', '\t', '\r']) && s.parse::<f64>().is_err();
    let s = if formula {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Write `rows` (all by person or all by team) as CSV: a header, then a line per row.
pub fn write_csv<W: Write>(rows: &[Row], by: By, mut w: W) -> io::Result<()> {
    let columns = columns(by);
    writeln!(
        w,
        "{}",
        columns
            .iter()
            .map(|c| csv_field(c))
            .collect::<Vec<_>>()
            .join(",")
    )?;
    for row in rows {
        let Value::Object(map) = serde_json::to_value(row).map_err(io::Error::other)? else {
            return Err(io::Error::other("a row did not serialize as an object"));
        };
        let cells: Vec<String> = columns
            .iter()
            .map(|c| match map.get(*c) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => csv_field(s),
                Some(v) => csv_field(&v.to_string()),
            })
            .collect();
        writeln!(w, "{}", cells.join(","))?;
    }
    Ok(())
}

impl AlignmentReport {
    /// The rows as CSV text.
    pub fn to_csv(&self) -> String {
        let mut out = Vec::new();
        write_csv(&self.rows, self.by, &mut out).expect("writing to memory does not fail");
        String::from_utf8(out).expect("the rows are UTF-8")
    }

    /// `{"rows": [...]}`: the rows alone.
    pub fn rows_json(&self) -> Value {
        serde_json::json!({ "rows": self.rows })
    }
}
