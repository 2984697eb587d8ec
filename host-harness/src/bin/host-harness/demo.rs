//! `demo`: the mock on a free loopback port, a key configured and checked, a full sync, the
//! history and the usage report, reconciled with the mock's ground truth; then Codex use
//! beside delivery, from a sample git repository written with gitoxide whose authors are
//! some of the mock's people ([`crate::demo_delivery`]). It works in a
//! store of its own, in a temporary directory removed at the end (or at `--keep PATH`, a
//! new file), so it never touches a store it did not create.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use host_harness::human::thousands;
use host_harness::report::aligned::aligned_report;
use host_harness::report::alignment::{AlignPeriod, By, Options};
use host_harness::report::codex_usage;
use host_harness::report::people::{people, Period};
use host_harness::runner::{HostError, SyncOptions};
use host_harness::secret::Secret;
use host_harness::store::{Location, Store, StoreOptions, DEFAULT_CONNECTION};
use openai_mock::{MockConfig, MockServer};

use crate::args::ComponentArgs;
use crate::output;

/// How the closing hint runs the harness: from the repository root, built if needed.
const RUN: &str = "cargo run --release -q -p host-harness --";

/// `--keep PATH` checked before anything starts: a new file in an existing directory, made
/// absolute.
fn kept_path(p: &Path) -> Result<PathBuf, HostError> {
    if p.exists() {
        return Err(HostError::new(
            "usage",
            format!(
                "{} exists; the demo only writes a store it creates",
                p.display()
            ),
        )
        .with_hint("Pass --keep with a path that does not exist yet."));
    }
    let absolute = std::path::absolute(p)
        .map_err(|e| HostError::new("usage", format!("--keep {}: {e}", p.display())))?;
    if let Some(dir) = absolute.parent() {
        if !dir.is_dir() {
            return Err(crate::setup::open_error(
                host_harness::store::OpenError::NoDirectory(dir.to_path_buf()),
            ));
        }
    }
    Ok(absolute)
}

/// `s` as one word for a POSIX shell: as is when it is plain, else single-quoted.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@%=".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

pub async fn run(
    users: u32,
    days: u32,
    keep: Option<PathBuf>,
    component: &ComponentArgs,
) -> Result<(), HostError> {
    // The kept store's path as the closing hint prints it: absolute, so that the commands
    // work wherever they are pasted (the repository root, for `cargo run`).
    let keep = match keep {
        Some(p) => Some(kept_path(&p)?),
        None => None,
    };
    let scratch = tempfile::Builder::new()
        .prefix("codex-connector-demo-")
        .tempdir()
        .map_err(|e| {
            HostError::new(
                "internal",
                format!("cannot create a temporary directory: {e}"),
            )
        })?;
    let db = match &keep {
        Some(p) => p.clone(),
        None => scratch.path().join("demo.db"),
    };
    let admin_key = host_harness::random::key("sk-admin-");
    let analytics_key = host_harness::random::key("sk-cgpt-");
    let server = MockServer::start(MockConfig {
        users: users as usize,
        days,
        admin_key: admin_key.clone(),
        analytics_key: Some(analytics_key.clone()),
        ..MockConfig::default()
    })
    .await?;
    let step = |s: &str| println!("\n== {s}");
    println!(
        "Demo: OpenAI API mock on {} ({})",
        server.base_url(),
        server.dataset_summary()
    );
    println!("Store: {}", db.display());

    let mut component = component.clone();
    for host in ["api.openai.com", "api.chatgpt.com"] {
        component
            .redirects
            .push(format!("{host}={}", server.base_url()));
    }
    let harness = crate::setup::harness(&component).await?;
    let store = Store::open(&Location::Sqlite(db.clone()), StoreOptions::default())
        .await
        .map_err(crate::setup::open_error)?;
    let conn = DEFAULT_CONNECTION;

    step("configure both sources: the Platform admin key and the ChatGPT workspace's analytics key (from memory, never printed), checked live, then saved");
    let mut secrets = BTreeMap::new();
    secrets.insert("api_token".to_string(), Secret::from_input(&admin_key));
    secrets.insert(
        "analytics_api_key".to_string(),
        Secret::from_input(&analytics_key),
    );
    let values = [
        ("backfill_days".to_string(), days.to_string()),
        (
            "chatgpt_workspace_id".to_string(),
            server.workspace_id().to_string(),
        ),
    ];
    let (saved, report) = harness
        .configure_validated(&store, conn, &values, secrets)
        .await?;
    output::print_credential_report(&harness, &report);
    if saved.is_none() {
        return Err(HostError::new(
            "internal",
            "the demo key was refused by the demo mock",
        ));
    }

    step("delivery: a sample git repository whose authors are some of the mock's people, registered with the connection");
    let repo_dir = match &keep {
        Some(p) => p.with_extension("sample-repo"),
        None => scratch.path().join("sample-repo"),
    };
    if keep.is_some() && repo_dir.exists() {
        return Err(HostError::new(
            "usage",
            format!(
                "{} exists; the demo writes its sample repository there",
                repo_dir.display()
            ),
        ));
    }
    let (mut sample, repo_path) =
        crate::demo_delivery::prepare(&store, conn, &repo_dir, &server.workspace_truth()).await?;
    let more = crate::demo_delivery::write_rest(&mut sample)?;
    println!("Then {more} more commits were written: the sync imports them (only those).");

    step("sync");
    let started = std::time::Instant::now();
    let (progress, shown) = output::progress(false);
    let result = harness
        .sync(
            &store,
            conn,
            SyncOptions {
                progress,
                ..SyncOptions::new("demo")
            },
        )
        .await;
    let _ = shown.await;
    let run = result?;
    println!("sync took {:.2} s", started.elapsed().as_secs_f64());

    step("import history");
    output::print_history(&store.runs(conn, 10).await?);

    step("Codex use per person, across both sign-in paths");
    let usage = codex_usage(&store, conn).await?;
    let view = people(&store, conn, Period::All).await?;
    output::print_people(&view, &usage);

    let truth = server.ground_truth();
    let truth_tokens: u64 = truth
        .rows
        .iter()
        .map(|r| r.input_tokens + r.output_tokens)
        .sum();
    let truth_requests: u64 = truth.rows.iter().map(|r| r.requests).sum();
    let api_exact =
        usage.all_total.tokens() == truth_tokens && usage.all_total.requests == truth_requests;
    // The ChatGPT path over the days the import covered (its history reaches back 90 days).
    let ws = server.workspace_truth();
    let imported: rust_decimal::Decimal = view
        .people
        .iter()
        .chain(&view.unattributed)
        .map(|p| p.chatgpt.credits)
        .sum();
    let covered = |day: &str| {
        view.first_day.as_deref().is_some_and(|f| day >= f)
            && view.last_day.as_deref().is_some_and(|l| day <= l)
    };
    let expected: f64 = ws
        .daily
        .iter()
        .filter(|d| covered(&d.day))
        .map(|d| d.credits.as_f64())
        .sum();
    let chat_exact = rust_decimal::Decimal::try_from(expected).ok() == Some(imported);
    println!(
        "\nReconciliation with the mock's ground truth:\n  API keys: {} tokens / {} requests imported, {} / {} expected: {}\n  ChatGPT:  {} credits imported, {} expected: {}",
        thousands(usage.all_total.tokens()),
        thousands(usage.all_total.requests),
        thousands(truth_tokens),
        thousands(truth_requests),
        if api_exact { "exact match" } else { "MISMATCH" },
        output::decimal(imported),
        rust_decimal::Decimal::try_from(expected).map(output::decimal).unwrap_or_else(|_| expected.to_string()),
        if chat_exact { "exact match" } else { "MISMATCH" }
    );
    let exact = api_exact && chat_exact;
    println!(
        "Run {} imported {} records in {} provider requests.",
        run.id,
        thousands(run.inserted()),
        thousands(run.requests())
    );

    step("Codex use beside delivery: the sample repository's authors, per month (then the team per week)");
    let repositories = store.repositories(conn).await?;
    if let Some(r) = repositories
        .iter()
        .find(|r| r.path == repo_path.display().to_string())
    {
        println!(
            "{}: {} commits stored ({} imported by the sync).",
            r.path,
            thousands(r.commits),
            thousands(r.last_new_commits)
        );
    }
    let authors = crate::demo_delivery::author_emails(&sample);
    let first_commit = store
        .commits(conn)
        .await?
        .iter()
        .map(|c| c.author_time.date_naive())
        .min();
    let options = Options {
        by: By::Person,
        period: AlignPeriod::Month,
        since: first_commit,
        ..Options::default()
    };
    let mut report = aligned_report(&store, conn, &options).await?;
    report
        .rows
        .retain(|r| r.email.as_ref().is_some_and(|e| authors.contains(e)));
    crate::aligned::print_report(&report);
    let teams = aligned_report(
        &store,
        conn,
        &Options {
            by: By::Team,
            period: AlignPeriod::Week,
            ..options.clone()
        },
    )
    .await?;
    println!();
    crate::aligned::print_team_rows(&teams.rows);
    for note in &teams.notes {
        println!("note: {note}");
    }
    match &keep {
        Some(p) => {
            let db = shell_word(&p.to_string_lossy());
            println!("Explore the kept store (commands to paste at the repository root):");
            for args in [
                format!("history --db {db}"),
                format!("report --db {db}"),
                format!("report --db {db} --by person --period week --chart /tmp/charts.svg"),
                format!("delivery list --db {db}"),
                format!("export --db {db} --stream usage --format csv --out /tmp/usage.csv"),
            ] {
                println!("  {RUN} {args}");
            }
        }
        None => println!(
            "The demo's store was temporary and is removed now. To keep one and explore it (from the repository root):\n  {RUN} demo --users {users} --days {days} --keep /tmp/codex-connector-demo.db"
        ),
    }
    server.shutdown().await;
    drop(store);
    drop(scratch);
    if !exact {
        return Err(HostError::new(
            "internal",
            "the import does not match the mock's ground truth",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn shell_words() {
        assert_eq!(super::shell_word("/tmp/demo.db"), "/tmp/demo.db");
        assert_eq!(super::shell_word("/tmp/my demo.db"), "'/tmp/my demo.db'");
        assert_eq!(super::shell_word("/tmp/it's.db"), "'/tmp/it'\\''s.db'");
        assert_eq!(super::shell_word("/tmp/$HOME.db"), "'/tmp/$HOME.db'");
    }
}
