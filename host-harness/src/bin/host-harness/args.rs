//! The command line: each command takes the options that apply to it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "host-harness",
    version,
    about = "Runs connector components the way an analytics platform does: sandboxed, with a store, an import history and an OpenAI mock.",
    after_help = "Secrets are read from standard input or environment variables, never from arguments. Exit codes: 2 usage or invalid settings, 3 unauthorized, 4 forbidden, 5 rate-limited, 6 transient or network, 7 provider changed, 8 not configured, 9 busy, 10 sandbox, 1 other."
)]
pub struct Cli {
    /// Log more to stderr (-v: progress and decisions, -vv: debug, including library logs).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// The store a command works on.
#[derive(Args, Clone)]
pub struct StoreArgs {
    /// The store: a SQLite file (created with mode 0600 by commands that write), or a
    /// PostgreSQL database that several host processes share (postgres://USER@HOST:PORT/DB).
    #[arg(long, value_name = "PATH|URL", default_value = "codex-connector.db")]
    pub db: String,
    /// Read the key that encrypts the store's secrets from this file (64 hex characters).
    /// Default for a SQLite store: <db>.key beside it, created with the store.
    #[arg(long, value_name = "FILE", conflicts_with = "secret_key_env")]
    pub secret_key_file: Option<PathBuf>,
    /// Read the key that encrypts the store's secrets from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub secret_key_env: Option<String>,
}

/// The connection a command works on.
#[derive(Args, Clone)]
pub struct ConnectionArg {
    /// The connection (see `connections list`); `default` is created when first needed.
    #[arg(long = "connection", value_name = "ID", default_value = "default", value_parser = connection_id)]
    pub id: String,
}

/// A connection id: 1–64 of lowercase letters, digits, `-` and `_`.
pub fn connection_id(s: &str) -> Result<String, String> {
    host_harness::store::check_connection_id(s).map(|()| s.to_string())
}

/// Which component, and where its requests really go.
#[derive(Args, Clone, Default)]
pub struct ComponentArgs {
    /// The connector component (.wasm). Default: this workspace's release build.
    #[arg(long, value_name = "PATH")]
    pub component: Option<PathBuf>,
    /// Send the component's requests for HOST to URL instead (repeatable), e.g.
    /// api.openai.com=http://127.0.0.1:8787. Plain http only for a loopback URL.
    #[arg(long = "redirect", value_name = "HOST=URL")]
    pub redirects: Vec<String>,
    /// Shorthand for --redirect api.openai.com=URL.
    #[arg(long, value_name = "URL")]
    pub openai_base: Option<String>,
}

/// Machine-readable output.
#[derive(Args, Clone, Copy, Default)]
pub struct JsonArg {
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum Command {
    /// Print the connector's description: settings, streams, capabilities, origins, and the
    /// interface its component imports and exports.
    Describe {
        #[command(flatten)]
        component: ComponentArgs,
        #[command(flatten)]
        out: JsonArg,
    },
    /// Check the settings with the connector and live with the provider, then save them.
    Configure(ConfigureArgs),
    /// Check the saved credentials live, per capability.
    Validate {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        connection: ConnectionArg,
        #[command(flatten)]
        component: ComponentArgs,
        #[command(flatten)]
        out: JsonArg,
    },
    /// Import all streams (or the named ones) into the store.
    Sync {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        connection: ConnectionArg,
        #[command(flatten)]
        component: ComponentArgs,
        /// Only this stream (repeatable); `describe` lists the streams.
        #[arg(long = "stream", value_name = "STREAM")]
        streams: Vec<String>,
        /// Ignore the saved checkpoints: re-read every stream from scratch.
        #[arg(long)]
        full_refresh: bool,
        #[command(flatten)]
        out: JsonArg,
    },
    /// Show the import history, newest first.
    History {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        connection: ConnectionArg,
        /// How many runs to show (1–10000).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
        #[command(flatten)]
        out: JsonArg,
    },
    /// Write one stream's records, or the per-person view, as NDJSON or CSV.
    Export {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        connection: ConnectionArg,
        /// The stream to write; `describe` lists them (usage, users, projects, api_keys,
        /// workspace_usage, code_reviews, code_review_responses).
        #[arg(
            long,
            value_name = "STREAM",
            required_unless_present = "people",
            conflicts_with = "people"
        )]
        stream: Option<String>,
        /// Write the per-person view (as `report`) instead of a stream.
        #[arg(long)]
        people: bool,
        /// With --people: all, day or week.
        #[arg(long, value_enum, default_value_t = ReportPeriod::All, requires = "people")]
        period: ReportPeriod,
        /// ndjson (one JSON object per line) or csv (one column per payload field).
        #[arg(long, value_enum, default_value_t = Format::Ndjson)]
        format: Format,
        /// Output file (default: stdout).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Codex use per person across both paths (API keys and ChatGPT sign-in), with code
    /// reviews: for the whole imported window, or per day or week. With --by: Codex use
    /// beside delivery (commits of the registered repositories), per person or team and
    /// week or month, with cohorts, the adoption trend and charts (docs/alignment.md).
    Report {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        connection: ConnectionArg,
        /// Align Codex use with delivery, one row per person or per team and period.
        #[arg(long, value_enum)]
        by: Option<ReportBy>,
        /// Without --by: all (the whole window, default), day or week. With --by: week
        /// (default) or month. UTC; weeks start on Monday.
        #[arg(long, value_enum)]
        period: Option<ReportCut>,
        #[command(flatten)]
        out: JsonArg,
        /// With --by: the rows as CSV, the same columns as the rows of --json.
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        /// With --by team: teams of fewer people are hidden (default 5).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
        min_group: Option<u32>,
        /// With --by: write the three charts (use over time, adoption cohorts, use beside
        /// delivery) as one SVG document to FILE.
        #[arg(long, value_name = "FILE.svg")]
        chart: Option<PathBuf>,
        /// With --by: only UTC days from this one (YYYY-MM-DD).
        #[arg(long, value_name = "YYYY-MM-DD")]
        since: Option<chrono::NaiveDate>,
        /// With --by: only UTC days up to this one (YYYY-MM-DD).
        #[arg(long, value_name = "YYYY-MM-DD")]
        until: Option<chrono::NaiveDate>,
    },
    /// Local git repositories whose commits are the delivery Codex use is shown beside.
    #[command(subcommand)]
    Delivery(DeliveryCommand),
    /// Who is who: aliases (several emails of one person) and teams.
    #[command(subcommand)]
    People(PeopleCommand),
    /// Run the OpenAI API mock on loopback until interrupted.
    MockOpenai(MockArgs),
    /// Start the mock, configure a key, validate, sync, and show the results, in a store
    /// of its own that is removed afterwards.
    Demo {
        /// People in the mock organization (1–10000).
        #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        users: u32,
        /// Days of usage the mock holds and the demo imports (1–365).
        #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=365))]
        days: u32,
        /// Keep the demo's store at this new path instead of removing it (refused if the
        /// file exists).
        #[arg(long, value_name = "PATH")]
        keep: Option<PathBuf>,
        #[command(flatten)]
        component: ComponentArgs,
    },
    /// Measure what users wait for (see docs/performance.md) and print one table.
    Bench(crate::bench::BenchOpts),
    /// Serve the settings page and run scheduled imports.
    Serve(ServeArgs),
    /// Run the store's due connections on a pool of workers, without a page (several
    /// workers may share a PostgreSQL store: each connection runs in one of them at a time).
    Worker(WorkerArgs),
    /// The store's connections: add, list, remove.
    #[command(subcommand)]
    Connections(ConnectionsCommand),
    /// The store's secrets: rotate the key that encrypts them.
    #[command(subcommand)]
    Secrets(SecretsCommand),
}

#[derive(Subcommand)]
pub enum ConnectionsCommand {
    /// Add a connection: its own settings, secrets, records and history.
    Add {
        /// The connection's id: 1–64 lowercase letters, digits, '-' or '_'.
        #[arg(value_parser = connection_id)]
        id: String,
        /// What people call it (default: the connector's name).
        #[arg(long)]
        name: Option<String>,
        /// The connector component (.wasm) it runs. Default: this workspace's release build.
        #[arg(long, value_name = "PATH")]
        component: Option<PathBuf>,
        /// Its own interval between scheduled imports (e.g. 15m, 1h), with ±10% jitter; the
        /// first is due at once. Default: the --every of the `serve` or `worker` that runs it.
        #[arg(long, value_name = "DURATION", value_parser = host_harness::scheduler::parse_duration)]
        every: Option<std::time::Duration>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List the connections.
    List {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        out: JsonArg,
    },
    /// Remove a connection and all its data (refused while a run of it is in progress).
    Remove {
        #[arg(value_parser = connection_id)]
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
pub enum DeliveryCommand {
    /// Register a local git repository (the top of a working clone) and import its
    /// commits; each sync then imports its new commits. A path that is not a repository,
    /// a bare, shallow, partial or empty repository is refused, and nothing is stored.
    AddRepo {
        path: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        connection: ConnectionArg,
        #[command(flatten)]
        out: JsonArg,
    },
    /// List the registered repositories: commits imported, last import, and its error.
    List {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        connection: ConnectionArg,
        #[command(flatten)]
        out: JsonArg,
    },
    /// Unregister a repository and forget its commits (the repository is not touched).
    Remove {
        path: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        connection: ConnectionArg,
    },
}

#[derive(Subcommand)]
pub enum PeopleCommand {
    /// Join two emails of one person: ALIAS (a git author's personal email, say) counts as
    /// EMAIL (the one Codex knows). Case does not matter.
    Alias {
        alias: String,
        email: String,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        connection: ConnectionArg,
    },
    /// Forget an alias.
    Unalias {
        alias: String,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        connection: ConnectionArg,
    },
    /// Make team NAME these people (replacing its members).
    Team {
        name: String,
        #[arg(required = true, value_name = "EMAIL")]
        emails: Vec<String>,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        connection: ConnectionArg,
    },
    /// List the aliases and teams.
    List {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        connection: ConnectionArg,
        #[command(flatten)]
        out: JsonArg,
    },
}

#[derive(Subcommand)]
pub enum SecretsCommand {
    /// Re-encrypt every secret of the store under a new key, in one transaction.
    Rotate {
        #[command(flatten)]
        store: StoreArgs,
        /// The new key, from this file (64 hex characters).
        #[arg(long, value_name = "FILE", conflicts_with = "new_key_env")]
        new_key_file: Option<PathBuf>,
        /// The new key, from this environment variable.
        #[arg(long, value_name = "VAR")]
        new_key_env: Option<String>,
    },
}

#[derive(Args)]
pub struct ConfigureArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub connection: ConnectionArg,
    #[command(flatten)]
    pub component: ComponentArgs,
    /// Read the api_token secret from standard input.
    #[arg(long, conflicts_with = "token_env")]
    pub token_stdin: bool,
    /// Read the api_token secret from the environment variable with this NAME (not the
    /// key itself).
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,
    /// Read secret setting KEY from the environment variable VAR (repeatable).
    #[arg(long = "secret-env", value_name = "KEY=VAR")]
    pub secret_env: Vec<String>,
    /// A setting, e.g. --set backfill_days=90 (repeatable); `describe` lists them.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
    /// Save without the live check (for offline set-up): the settings are still checked
    /// locally by the connector, but the provider is not asked whether the key works.
    #[arg(long)]
    pub no_validate: bool,
    #[command(flatten)]
    pub out: JsonArg,
}

#[derive(Args)]
pub struct MockArgs {
    /// Loopback address to listen on.
    #[arg(long, default_value = "127.0.0.1:8787", value_name = "ADDR:PORT")]
    pub listen: std::net::SocketAddr,
    /// People in the mock organization (1–10000).
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub users: u32,
    /// Days of usage, ending today (1–365).
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub days: u32,
    /// Seed of the generated data (any whole number; the same seed gives the same data).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Take the admin key the mock accepts from this environment variable (default: random).
    #[arg(long, value_name = "VAR")]
    pub admin_key_env: Option<String>,
    /// Write the admin key the mock accepts to this file (mode 0600).
    #[arg(long, value_name = "FILE")]
    pub admin_key_file: Option<PathBuf>,
    /// Write the mock's ground truth (totals per day, user, key, project, model) here.
    #[arg(long, value_name = "FILE")]
    pub ground_truth: Option<PathBuf>,
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub component: ComponentArgs,
    /// Address to listen on. Loopback by default; any other address needs --admin-password-env.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    pub listen: std::net::SocketAddr,
    /// Interval between scheduled imports (e.g. 30s, 15m, 1h, 1h30m), with ±10% jitter: the
    /// page's connection's, and that of connections without their own.
    #[arg(long, default_value = "1h", value_parser = host_harness::scheduler::parse_duration)]
    pub every: std::time::Duration,
    /// Imports that run at once (1–128).
    #[arg(long, default_value_t = host_harness::scheduler::DEFAULT_WORKERS, value_parser = workers)]
    pub workers: usize,
    /// Read the admin password (HTTP Basic, any user name) from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub admin_password_env: Option<String>,
    /// Also run the OpenAI mock (demo data) on loopback and send the connector there; the
    /// keys it accepts are written to a file (mode 0600) beside the demo store.
    #[arg(long)]
    pub demo: bool,
}

#[derive(Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Imports that run at once (1–128). Imports mostly wait on the provider, so more than
    /// the cores: the default 8 keeps two cores busy.
    #[arg(long, default_value_t = host_harness::scheduler::DEFAULT_WORKERS, value_parser = workers)]
    pub workers: usize,
    /// Interval between scheduled imports of a connection without its own (`connections
    /// add --every`), with ±10% jitter; such a connection is first due at once.
    #[arg(long, default_value = "1h", value_parser = host_harness::scheduler::parse_duration)]
    pub every: std::time::Duration,
    /// Run each due connection once, then exit (connections another worker is running are
    /// waited for, and taken over if that worker dies).
    #[arg(long)]
    pub once: bool,
    /// Serve /metrics (Prometheus) and /healthz on this loopback address (port 0: a free
    /// one, printed at start).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Send the components' requests for HOST to URL instead (repeatable), e.g.
    /// api.openai.com=http://127.0.0.1:8787. Plain http only for a loopback URL.
    #[arg(long = "redirect", value_name = "HOST=URL")]
    pub redirects: Vec<String>,
    /// Shorthand for --redirect api.openai.com=URL.
    #[arg(long, value_name = "URL")]
    pub openai_base: Option<String>,
}

/// A pool size: 1 to [`host_harness::scheduler::MAX_WORKERS`].
pub fn workers(s: &str) -> Result<usize, String> {
    let max = host_harness::scheduler::MAX_WORKERS;
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("{s:?} is not a number of workers from 1 to {max}")),
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ReportPeriod {
    All,
    Day,
    Week,
}

impl From<ReportPeriod> for host_harness::report::people::Period {
    fn from(p: ReportPeriod) -> Self {
        match p {
            ReportPeriod::All => Self::All,
            ReportPeriod::Day => Self::Day,
            ReportPeriod::Week => Self::Week,
        }
    }
}

/// `report --period`: the per-person view takes all, day or week; the aligned report
/// (`--by`) week or month.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportCut {
    All,
    Day,
    Week,
    Month,
}

/// `report --by`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportBy {
    Person,
    Team,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Ndjson,
    Csv,
}
