//! `--json`: `{"rows": [...]}`, flat snake_case rows; `--csv`: the same rows and columns.

use serde_json::{json, Value};

use super::*;

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[test]
fn json_rows_are_flat_with_the_columns_in_order() {
    for (by, input) in [(By::Person, trend::input()), (By::Team, teams_input())] {
        let r = run(&input, by, AlignPeriod::Week);
        assert!(!r.rows.is_empty());
        let whole = serde_json::to_value(&r).unwrap();
        assert_eq!(keys(&whole)[0], "rows");
        assert_eq!(whole["rows"], r.rows_json()["rows"]);
        assert_eq!(keys(&r.rows_json()), ["rows"]);
        for row in whole["rows"].as_array().unwrap() {
            assert_eq!(keys(row), columns(by), "{row}");
            for (k, v) in row.as_object().unwrap() {
                assert!(!v.is_object() && !v.is_array(), "{k} is not flat: {v}");
                assert!(k.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{k}");
            }
        }
    }
}

/// One person's row, every field.
#[test]
fn a_person_row_in_full() {
    let input = AlignmentInput {
        codex_days: vec![
            api_day("Ada@X.io", "2026-01-06", 3, 1200),
            chat_day(
                "ada@x.io",
                "2026-01-07",
                &[("CODEX_IDE_VSCODE", 1), ("CODEX_CLI", 2)],
            ),
        ],
        commits: vec![
            commit("a", "ada@x.io", "2026-01-06T10:00:00Z", 30, 4),
            commit("b", "ada@x.io", "2026-01-09T10:00:00Z", 2, 2),
            merge("m", "ada@x.io", "2026-01-09T11:00:00Z"),
        ],
        ..AlignmentInput::default()
    };
    let r = run(&input, By::Person, AlignPeriod::Week);
    assert_eq!(
        r.rows_json(),
        json!({"rows": [{
            "period_start": "2026-01-05",
            "email": "ada@x.io",
            "cohort": "moderate",
            "codex_active_days": 2,
            "api_key_active_days": 1,
            "chatgpt_active_days": 1,
            "api_key_requests": 3,
            "api_key_tokens": 1200,
            "chatgpt_threads": 3,
            "chatgpt_turns": 6,
            "chatgpt_credits": 1.5,
            "surfaces": "CODEX_CLI;CODEX_IDE_VSCODE",
            "surfaces_used": 2,
            "surface_active_days": "CODEX_CLI:1;CODEX_IDE_VSCODE:1",
            "commits": 2,
            "merges": 1,
            "lines_added": 32,
            "lines_deleted": 6,
            "files_changed": 2,
            "delivery_active_days": 2,
            "delivery_days_with_codex": 1,
            "codex_share_of_delivery_days": 0.5
        }]})
    );
    assert_eq!(
        r.to_csv(),
        "period_start,email,cohort,codex_active_days,api_key_active_days,chatgpt_active_days,\
api_key_requests,api_key_tokens,chatgpt_threads,chatgpt_turns,chatgpt_credits,surfaces,\
surfaces_used,surface_active_days,commits,merges,lines_added,lines_deleted,files_changed,\
delivery_active_days,delivery_days_with_codex,codex_share_of_delivery_days\n\
2026-01-05,ada@x.io,moderate,2,1,1,3,1200,3,6,1.5,CODEX_CLI;CODEX_IDE_VSCODE,2,\
CODEX_CLI:1;CODEX_IDE_VSCODE:1,2,1,32,6,2,2,1,0.5\n"
    );
}

fn teams_input() -> AlignmentInput {
    let members = ["p1@x.io", "p2@x.io", "p3@x.io", "p4@x.io", "p5@x.io"]
        .map(String::from)
        .to_vec();
    AlignmentInput {
        teams: [
            ("=HYPERLINK(\"x\"), ops".to_string(), members.clone()),
            ("core".to_string(), members),
        ]
        .into(),
        ..trend::input()
    }
}

/// The CSV has the JSON's columns and cells, null as empty, formulas escaped.
#[test]
fn csv_has_the_same_rows_and_columns() {
    for (by, input) in [(By::Person, trend::input()), (By::Team, teams_input())] {
        let r = run(&input, by, AlignPeriod::Week);
        let csv = r.to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], columns(by).join(","));
        assert_eq!(lines.len(), r.rows.len() + 1);
        let json = r.rows_json();
        for (line, row) in lines[1..].iter().zip(json["rows"].as_array().unwrap()) {
            if line.starts_with("2026-01-12,core") {
                assert!(
                    line.ends_with(",0,0,"),
                    "null share is an empty cell: {line}"
                );
            }
            let want: Vec<String> = columns(by)
                .iter()
                .map(|c| match &row[*c] {
                    Value::Null => String::new(),
                    Value::String(s) => csv::csv_field(s),
                    v => v.to_string(),
                })
                .collect();
            assert_eq!(*line, want.join(","));
        }
    }
    let r = run(&teams_input(), By::Team, AlignPeriod::Week);
    let first = r.to_csv().lines().nth(1).unwrap().to_string();
    assert!(
        first.starts_with("2026-01-05,\"'=HYPERLINK(\"\"x\"\"), ops\",5,4,2,3,2,2,0,0,"),
        "{first}"
    );
}

#[test]
fn csv_fields_escape_formulas() {
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
        assert_eq!(csv::csv_field(cell), want, "{cell:?}");
    }
}
