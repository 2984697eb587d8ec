//! `export`: one stream's records as NDJSON (the stored payloads, one per line) or CSV (one
//! column per payload field, cells a spreadsheet would run as formulas escaped).

use std::io::Write;
use std::path::PathBuf;

use serde_json::Value;

use host_harness::runner::HostError;
use host_harness::store::Store;

use crate::args::{Format, StoreArgs};

/// The connection whose data a reading command shows: it must exist (the default one
/// exists once anything was configured).
pub async fn imported(store: &Store, id: &str) -> Result<String, HostError> {
    match crate::commands::existing_connection(store, id).await? {
        Some(id) => Ok(id),
        None => Err(HostError::new("usage", "nothing imported yet")
            .with_hint("Run `host-harness configure` and `host-harness sync` first.")),
    }
}

/// The per-person view, one row per person (and period): NDJSON objects, or CSV with one
/// column per figure (surfaces as `chatgpt_client_<ID>_<figure>`).
pub async fn people(
    store: &StoreArgs,
    connection: &str,
    period: host_harness::report::people::Period,
    format: Format,
    out: Option<PathBuf>,
) -> Result<(), HostError> {
    let store = crate::setup::existing_store(store).await?;
    let id = imported(&store, connection).await?;
    let report = host_harness::report::people::people(&store, &id, period).await?;
    let rows: Vec<&host_harness::report::people::PersonRow> =
        report.people.iter().chain(&report.unattributed).collect();
    let flat: Vec<serde_json::Map<String, Value>> = rows.iter().map(|r| flatten(r)).collect();
    let payloads: Vec<String> = match format {
        Format::Ndjson => rows
            .iter()
            .map(|r| serde_json::to_string(r).map_err(anyhow::Error::from))
            .collect::<Result<_, _>>()?,
        Format::Csv => flat
            .iter()
            .map(|m| Value::Object(m.clone()).to_string())
            .collect(),
    };
    write_rows(&payloads, format, out, "people")
}

/// A person row as one flat object: nested maps joined with `_`.
fn flatten(row: &host_harness::report::people::PersonRow) -> serde_json::Map<String, Value> {
    fn walk(prefix: &str, v: &Value, out: &mut serde_json::Map<String, Value>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}_{k}")
                    };
                    walk(&key, v, out);
                }
            }
            other => {
                out.insert(prefix.to_string(), other.clone());
            }
        }
    }
    let mut out = serde_json::Map::new();
    walk("", &serde_json::to_value(row).unwrap_or_default(), &mut out);
    out
}

pub async fn run(
    store: &StoreArgs,
    connection: &str,
    stream: &str,
    format: Format,
    out: Option<PathBuf>,
) -> Result<(), HostError> {
    let store = crate::setup::existing_store(store).await?;
    let id = imported(&store, connection).await?;
    let known = store.streams(&id).await?;
    if known.is_empty() {
        return Err(
            HostError::new("usage", "nothing imported yet: this store has no records")
                .with_hint("Run `host-harness sync` first."),
        );
    }
    if !known.iter().any(|s| s == stream) {
        return Err(HostError::new(
            "usage",
            format!(
                "no stream {stream:?} in this store; its streams are: {}",
                known.join(", ")
            ),
        ));
    }
    let records = store.records(&id, stream).await?;
    let payloads: Vec<String> = records.into_iter().map(|r| r.payload).collect();
    write_rows(&payloads, format, out, stream)
}

/// Write JSON-object `payloads` as NDJSON, or as CSV with one column per field.
fn write_rows(
    payloads: &[String],
    format: Format,
    out: Option<PathBuf>,
    what: &str,
) -> Result<(), HostError> {
    let mut w: Box<dyn Write> = match &out {
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p).map_err(
            |e| HostError::new("usage", format!("cannot write {}: {e}", p.display())),
        )?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let io = crate::stdout_error;
    match format {
        Format::Ndjson => {
            for p in payloads {
                writeln!(w, "{p}").map_err(io)?;
            }
        }
        Format::Csv => {
            // Columns: the union of payload fields, in first-seen order.
            let parsed: Vec<serde_json::Map<String, Value>> = payloads
                .iter()
                .filter_map(|p| serde_json::from_str(p).ok())
                .collect();
            let mut columns: Vec<String> = Vec::new();
            for p in &parsed {
                for k in p.keys() {
                    if !columns.contains(k) {
                        columns.push(k.clone());
                    }
                }
            }
            let line = |cells: Vec<String>| cells.join(",");
            writeln!(
                w,
                "{}",
                line(columns.iter().map(|c| csv_field(c)).collect())
            )
            .map_err(io)?;
            for p in &parsed {
                let row = columns
                    .iter()
                    .map(|c| match p.get(c) {
                        None | Some(Value::Null) => String::new(),
                        Some(Value::String(s)) => csv_field(s),
                        Some(v) => csv_field(&v.to_string()),
                    })
                    .collect();
                writeln!(w, "{}", line(row)).map_err(io)?;
            }
        }
    }
    w.flush().map_err(io)?;
    if let Some(p) = out {
        eprintln!(
            "wrote {} {what} rows to {}",
            host_harness::human::thousands(payloads.len() as u64),
            p.display()
        );
    }
    Ok(())
}

/// RFC 4180 quoting. A cell a spreadsheet would run as a formula (starting with `=`, `+`,
/// `-`, `@`, a tab or a carriage return) is prefixed with `'`, unless it is a number.
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

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn formula_prefixes_are_escaped() {
        for (cell, want) in [
            ("=1+1", "'=1+1"),
            ("\t=cmd", "'\t=cmd"),
            ("\r=x", "\"'\r=x\""),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("-2", "-2"),
            ("+3.5", "+3.5"),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
        ] {
            assert_eq!(csv_field(cell), want, "{cell:?}");
        }
    }
}
