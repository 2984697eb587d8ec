//! Human output: the connection check, the import history, the usage report, and progress
//! bars on a terminal (plain lines otherwise).

use std::collections::BTreeMap;
use std::io::IsTerminal;

use host_harness::bindings::v0_2::types as wit;
use host_harness::human::{first_day, last_day, seconds, thousands};
use host_harness::report::people::{PeopleReport, Period, PersonRow};
use host_harness::report::UsageReport;
use host_harness::runner::{class_name, Harness, Progress, ProgressTx};
use host_harness::store::Run;
use serde_json::json;

/// The connection check as JSON.
pub fn report_json(h: &Harness, r: &wit::CredentialReport) -> serde_json::Value {
    json!({
        "ok": r.ok,
        "organization": r.organization,
        "notes": r.notes,
        "capabilities": r.capabilities.iter().map(|c| json!({
            "name": c.name,
            "label": h.capability_label(&c.name),
            "status": status_name(c.status),
            "problem": c.problem.map(class_name),
            "message": c.message,
        })).collect::<Vec<_>>(),
    })
}

pub fn status_name(s: wit::CheckStatus) -> &'static str {
    match s {
        wit::CheckStatus::Granted => "granted",
        wit::CheckStatus::Denied => "denied",
        wit::CheckStatus::NotConfigured => "not-configured",
    }
}

pub fn print_credential_report(h: &Harness, r: &wit::CredentialReport) {
    println!(
        "Connection: {}{}",
        if r.ok {
            "connected"
        } else {
            "NOT fully connected"
        },
        r.organization
            .as_ref()
            .map(|o| format!(" (organization {o})"))
            .unwrap_or_default()
    );
    for c in &r.capabilities {
        let mark = match c.status {
            wit::CheckStatus::Granted => "ok  ",
            wit::CheckStatus::Denied => "FAIL",
            wit::CheckStatus::NotConfigured => "--  ",
        };
        println!(
            "  [{mark}] {:<34} {}",
            h.capability_label(&c.name),
            c.message
        );
    }
    for n in &r.notes {
        println!("  note: {n}");
    }
}

/// A run's duration, from its RFC 3339 timestamps.
pub fn duration(r: &Run) -> Option<f64> {
    let start = chrono::DateTime::parse_from_rfc3339(&r.started_at).ok()?;
    let end = chrono::DateTime::parse_from_rfc3339(r.finished_at.as_deref()?).ok()?;
    Some((end - start).num_milliseconds() as f64 / 1000.0)
}

pub fn print_history(runs: &[Run]) {
    if runs.is_empty() {
        println!("No imports yet; run `host-harness sync`.");
        return;
    }
    println!(
        "{:>4}  {:<20} {:>10}  {:<11} {:>9} {:>8}  {:<23} error",
        "run", "started (UTC)", "duration", "status", "added", "updated", "window (UTC days)"
    );
    for r in runs {
        let window = match (&r.window_start, &r.window_end) {
            (Some(s), Some(e)) => format!("{} → {}", first_day(s), last_day(e)),
            _ => "-".into(),
        };
        let error = match (&r.error_class, &r.error_message) {
            (Some(c), Some(m)) => format!("{c}: {}", m.lines().next().unwrap_or("")),
            _ => String::new(),
        };
        println!(
            "{:>4}  {:<20} {:>10}  {:<11} {:>9} {:>8}  {:<23} {}",
            r.id,
            r.started_at
                .get(..19)
                .unwrap_or(&r.started_at)
                .replace('T', " "),
            duration(r).map(seconds).unwrap_or_else(|| "-".into()),
            r.status,
            thousands(r.inserted()),
            thousands(r.updated()),
            window,
            error
        );
        let streams: Vec<String> = r
            .streams
            .iter()
            .map(|(s, c)| {
                format!(
                    "{s}: {} pages, {} requests, +{} ~{}",
                    thousands(c.pages),
                    thousands(c.requests),
                    thousands(c.inserted),
                    thousands(c.updated)
                )
            })
            .collect();
        if !streams.is_empty() {
            println!("      {}", streams.join(" · "));
        }
    }
}

/// Show a sync's progress until the sender is dropped: a bar per stream on a terminal,
/// plain lines otherwise, nothing when `quiet`.
pub fn progress(quiet: bool) -> (Option<ProgressTx>, tokio::task::JoinHandle<()>) {
    if quiet {
        return (None, tokio::spawn(async {}));
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
    let task = tokio::spawn(async move {
        let multi = std::io::stderr()
            .is_terminal()
            .then(indicatif::MultiProgress::new);
        let mut bars: BTreeMap<String, indicatif::ProgressBar> = BTreeMap::new();
        let running = indicatif::ProgressStyle::with_template(
            "{spinner:.cyan} {prefix:<22} {msg} {elapsed:.dim}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
        let done = indicatif::ProgressStyle::with_template("{prefix:.green:<24} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
        while let Some(p) = rx.recv().await {
            let Some(multi) = &multi else {
                eprintln!("{}: {}", p.stream(), p.message());
                continue;
            };
            match &p {
                Progress::StreamStarted { stream } => {
                    let bar = multi.add(
                        indicatif::ProgressBar::new_spinner()
                            .with_style(running.clone())
                            .with_prefix(stream.clone())
                            .with_message("starting"),
                    );
                    bar.enable_steady_tick(std::time::Duration::from_millis(100));
                    bars.insert(stream.clone(), bar);
                }
                Progress::PageCommitted { .. } | Progress::Waiting { .. } => {
                    if let Some(bar) = bars.get(p.stream()) {
                        bar.set_message(p.message());
                    }
                }
                Progress::StreamDone { stream, .. } => {
                    if let Some(bar) = bars.get(stream) {
                        bar.set_style(done.clone());
                        bar.set_prefix(format!("✓ {stream}"));
                        bar.finish_with_message(p.message());
                    }
                }
            }
        }
        for bar in bars.values() {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    });
    (Some(tx), task)
}

/// The per-person view as JSON: one object per person (and period), and the unattributed
/// rest beside them (one object for the whole window, one per period otherwise).
pub fn people_json(r: &PeopleReport) -> serde_json::Value {
    let unattributed = if r.period == Period::All {
        serde_json::to_value(
            r.unattributed
                .first()
                .cloned()
                .unwrap_or_else(|| PersonRow {
                    email: host_harness::report::UNATTRIBUTED.into(),
                    ..Default::default()
                }),
        )
    } else {
        serde_json::to_value(&r.unattributed)
    }
    .unwrap_or_default();
    json!({
        "period": r.period,
        "first_day": r.first_day,
        "last_day": r.last_day,
        "people": r.people,
        "unattributed": unattributed,
        "attributed_share": r.attributed_share,
    })
}

/// A person's ChatGPT-path tokens counted as the API-key path counts them: input plus
/// output. The provider's names vary (`text_input_tokens`, `text_output_tokens`, …); cached
/// and uncached input are parts of the input, counted only when a row gives no input total.
pub fn chatgpt_tokens(tokens: &BTreeMap<String, u64>) -> u64 {
    let part = |k: &str| k.contains("cached");
    let input: u64 = tokens
        .iter()
        .filter(|(k, _)| k.ends_with("input_tokens") && !part(k))
        .map(|(_, n)| n)
        .sum();
    let input = if input > 0 {
        input
    } else {
        tokens
            .iter()
            .filter(|(k, _)| k.ends_with("input_tokens") && part(k))
            .map(|(_, n)| n)
            .sum()
    };
    // (reasoning tokens are part of the output, as on the Platform)
    let output: u64 = tokens
        .iter()
        .filter(|(k, _)| k.ends_with("output_tokens") && !k.contains("reasoning"))
        .map(|(_, n)| n)
        .sum();
    input + output
}

/// A decimal (credits) with thousands separators: `12345.25` → `12,345.25`.
pub fn decimal(d: rust_decimal::Decimal) -> String {
    let text = d.normalize().to_string();
    let (sign, text) = match text.strip_prefix('-') {
        Some(t) => ("-", t),
        None => ("", text.as_str()),
    };
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (text, None),
    };
    let whole = whole
        .parse::<u64>()
        .map(thousands)
        .unwrap_or_else(|_| whole.to_string());
    match fraction {
        Some(f) => format!("{sign}{whole}.{f}"),
        None => format!("{sign}{whole}"),
    }
}

/// The per-person view for people: both paths side by side, then surfaces and models.
pub fn print_people(r: &PeopleReport, api: &UsageReport) {
    let (Some(first), Some(last)) = (&r.first_day, &r.last_day) else {
        println!("Nothing imported yet; run `host-harness sync`.");
        return;
    };
    println!("Codex use per person, {first} → {last} (UTC days); trend signals for teams, not performance reviews.");
    let per_period = r.period != Period::All;
    println!(
        "{}{:<46} │ {:>9} {:>13} │ {:>8} {:>8} {:>10} {:>13} │ {:>13} │ {:>8}",
        if per_period {
            format!("{:<11}", "period")
        } else {
            String::new()
        },
        "person",
        "API reqs",
        "API tokens",
        "threads",
        "turns",
        "credits",
        "chat tokens",
        "total tokens",
        "reviews"
    );
    let line = |row: &PersonRow| {
        let who = match &row.name {
            Some(n) => format!("{n} <{}>", row.email),
            None => row.email.clone(),
        };
        let chat_tokens = chatgpt_tokens(&row.chatgpt.tokens);
        let reviews = row.code_reviews.get("prs_reviewed").copied().unwrap_or(0);
        println!(
            "{}{:<46} │ {:>9} {:>13} │ {:>8} {:>8} {:>10} {:>13} │ {:>13} │ {:>8}",
            row.period_start
                .as_deref()
                .map(|p| format!("{p:<11}"))
                .unwrap_or_default(),
            who,
            thousands(row.api_key.requests),
            thousands(row.api_key.tokens),
            thousands(row.chatgpt.threads),
            thousands(row.chatgpt.turns),
            decimal(row.chatgpt.credits),
            thousands(chat_tokens),
            thousands(row.api_key.tokens + chat_tokens),
            thousands(reviews)
        );
    };
    for row in r.people.iter().chain(&r.unattributed) {
        line(row);
    }
    // Surfaces and models of the ChatGPT path, over the whole view.
    let mut surfaces: BTreeMap<&str, (u64, u64, rust_decimal::Decimal)> = BTreeMap::new();
    let mut models: BTreeMap<&str, rust_decimal::Decimal> = BTreeMap::new();
    for row in r.people.iter().chain(&r.unattributed) {
        for (id, a) in &row.chatgpt.by_client {
            let e = surfaces.entry(id).or_default();
            e.0 += a.threads;
            e.1 += a.turns;
            e.2 += a.credits;
        }
        for (m, u) in &row.chatgpt.by_model {
            *models.entry(m).or_default() += u.credits;
        }
    }
    if !surfaces.is_empty() {
        println!(
            "
ChatGPT path by surface:"
        );
        for (id, (threads, turns, credits)) in surfaces {
            println!(
                "  {id:<28} {:>8} threads {:>9} turns {:>10} credits",
                thousands(threads),
                thousands(turns),
                decimal(credits)
            );
        }
        println!("ChatGPT path by model:");
        for (m, credits) in models {
            println!("  {m:<28} {:>10} credits", decimal(credits));
        }
    }
    if !api.per_model.is_empty() {
        println!("API-key path by model:");
        for (model, t) in &api.per_model {
            println!(
                "  {model:<28} {:>8} requests {:>14} tokens",
                thousands(t.requests),
                thousands(t.tokens())
            );
        }
    }
    println!(
        "
Attributed to a person: {:.1}% of API-key Codex tokens, {:.1}% of ChatGPT credits.",
        r.attributed_share.api_key * 100.0,
        r.attributed_share.chatgpt * 100.0
    );
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::str::FromStr;

    #[test]
    fn chatgpt_tokens_are_input_plus_output() {
        let t = |pairs: &[(&str, u64)]| -> BTreeMap<String, u64> {
            pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect()
        };
        // cached input is part of the input: not counted twice
        let row = t(&[
            ("text_input_tokens", 1200),
            ("cached_text_input_tokens", 300),
            ("text_output_tokens", 450),
        ]);
        assert_eq!(super::chatgpt_tokens(&row), 1650);
        let row = t(&[
            ("text_input_tokens", 1200),
            ("uncached_text_input_tokens", 900),
            ("cached_text_input_tokens", 300),
            ("text_output_tokens", 450),
        ]);
        assert_eq!(super::chatgpt_tokens(&row), 1650);
        // only the parts of the input given: their sum is the input
        let row = t(&[
            ("uncached_text_input_tokens", 900),
            ("cached_text_input_tokens", 300),
            ("text_output_tokens", 50),
        ]);
        assert_eq!(super::chatgpt_tokens(&row), 1250);
        assert_eq!(super::chatgpt_tokens(&BTreeMap::new()), 0);
    }

    #[test]
    fn decimals_have_thousands_separators() {
        let d = |s: &str| super::decimal(rust_decimal::Decimal::from_str(s).unwrap());
        assert_eq!(d("0"), "0");
        assert_eq!(d("4.50"), "4.5");
        assert_eq!(d("999.75"), "999.75");
        assert_eq!(d("12345.25"), "12,345.25");
        assert_eq!(d("1234567"), "1,234,567");
        assert_eq!(d("-1234.5"), "-1,234.5");
    }
}
