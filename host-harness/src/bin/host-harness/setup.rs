//! What most commands start with: the component loaded under the host's policy, the store
//! opened (or refused, with what to do), and secrets read from where secrets may come from.

use std::collections::BTreeMap;
use std::io::Read;

use host_harness::policy::Redirect;
use host_harness::runner::{Harness, HarnessConfig, HostError};
use host_harness::secret::Secret;
use host_harness::store::{KeySource, Location, OpenError, Store, StoreOptions};

use crate::args::{ComponentArgs, StoreArgs};

/// The redirects the options ask for.
pub fn redirects(c: &ComponentArgs) -> Result<Vec<Redirect>, HostError> {
    let mut out = Vec::new();
    for spec in &c.redirects {
        out.push(Redirect::parse(spec).map_err(|e| {
            HostError::new("usage", format!("--redirect {spec:?}: {e:#}"))
                .with_hint("Write HOST=URL, e.g. --redirect api.openai.com=http://127.0.0.1:8787.")
        })?);
    }
    if let Some(base) = &c.openai_base {
        out.push(Redirect::to("api.openai.com", base).map_err(|e| {
            HostError::new("usage", format!("--openai-base {base:?}: {e:#}"))
                .with_hint("Give scheme://host:port, e.g. --openai-base http://127.0.0.1:8787.")
        })?);
    }
    Ok(out)
}

/// The component a command on `connection` runs: `--component`, else the connection's own,
/// else (a connection not created yet) this workspace's build.
pub async fn harness_for(
    c: &ComponentArgs,
    store: &Store,
    connection: &str,
) -> Result<Harness, HostError> {
    let mut c = c.clone();
    if c.component.is_none() {
        if let Some(conn) = store.connection(connection).await? {
            c.component = Some(std::path::PathBuf::from(conn.component));
        }
    }
    harness(&c).await
}

/// Load the component with the options' redirects.
pub async fn harness(c: &ComponentArgs) -> Result<Harness, HostError> {
    let path = c
        .component
        .clone()
        .unwrap_or_else(host_harness::default_component_path);
    if !path.exists() {
        return Err(HostError::new(
            "usage",
            format!("there is no component at {}", path.display()),
        )
        .with_hint(
            "Build it with `cargo build --release --target wasm32-wasip2 -p codex-connector`, or pass --component PATH.",
        ));
    }
    let mut config = HarnessConfig::new(path);
    config.policy.redirects = redirects(c)?;
    Harness::load(config).await.map_err(|e| {
        HostError::new(
            "sandbox",
            format!("the connector component could not be loaded: {e:#}"),
        )
        .with_hint("Rebuild the component for this host's contract, or pass another --component.")
    })
}

pub fn open_error(e: OpenError) -> HostError {
    match e {
        OpenError::Missing(p) => match p.parent().filter(|d| !d.as_os_str().is_empty() && !d.is_dir()) {
            Some(d) => HostError::new(
                "usage",
                format!("there is no store at {}: the directory {} does not exist", p.display(), d.display()),
            )
            .with_hint("Check --db: this command reads a store and never creates one; `configure` creates it."),
            None => HostError::new("usage", format!("there is no store at {}", p.display()))
                .with_hint("Check --db, or create the store with `configure` (or `sync`) first."),
        },
        OpenError::NoDirectory(d) => HostError::new(
            "usage",
            format!("the store's directory {} does not exist", d.display()),
        )
        .with_hint(format!("Create it (mkdir -p {}) or pass another --db.", d.display())),
        OpenError::Unreadable(p, why) => HostError::new(
            "usage",
            format!("{} is not a store this host can read: {why}", p.display()),
        )
        .with_hint("Pass the path of a store this host created with --db."),
        OpenError::Io(p, e) => HostError::new("usage", format!("cannot open {}: {e}", p.display()))
            .with_hint("Check the path and its permissions."),
        OpenError::Connect(url, why) => HostError::new("network", format!("cannot connect to the store {url}: {why}"))
            .with_hint("Check the PostgreSQL URL given to --db (postgres://USER@HOST:PORT/DB) and that the server is up."),
        OpenError::Key(why) => HostError::new("usage", why)
            .with_hint("Pass the store's secret key with --secret-key-file FILE or --secret-key-env VAR."),
    }
}

/// Where the options' store is, and how to open it.
pub fn location(s: &StoreArgs) -> (Location, StoreOptions) {
    let key = match (&s.secret_key_file, &s.secret_key_env) {
        (Some(f), _) => KeySource::File(f.clone()),
        (None, Some(v)) => KeySource::Env(v.clone()),
        (None, None) => KeySource::Auto,
    };
    let mut opts = StoreOptions {
        key,
        ..StoreOptions::default()
    };
    // (tests shorten the lease of a run, to watch expiry and takeover)
    if let Some(ttl) = std::env::var("HOST_HARNESS_LEASE_TTL")
        .ok()
        .and_then(|t| host_harness::scheduler::parse_duration(&t).ok())
    {
        opts.lease_ttl = ttl;
    }
    (Location::parse(&s.db), opts)
}

/// Open the store, creating it if needed (commands that write).
pub async fn store(s: &StoreArgs) -> Result<Store, HostError> {
    let (location, opts) = location(s);
    Store::open(&location, opts).await.map_err(open_error)
}

/// Open a store that must exist (commands that only read). A file that is not an SQLite
/// database (an empty one included, which SQLite would take as a new database and write
/// its tables into) is refused untouched.
pub async fn existing_store(s: &StoreArgs) -> Result<Store, HostError> {
    let (location, opts) = location(s);
    if let Location::Sqlite(db) = &location {
        if db.is_file() {
            let mut head = Vec::with_capacity(16);
            std::fs::File::open(db)
                .and_then(|f| f.take(16).read_to_end(&mut head))
                .map_err(|e| open_error(OpenError::Io(db.clone(), e)))?;
            if head != b"SQLite format 3\0" {
                return Err(open_error(OpenError::Unreadable(
                    db.clone(),
                    "it is not an SQLite database".into(),
                )));
            }
        }
    }
    Store::open_existing(&location, opts)
        .await
        .map_err(open_error)
}

/// A secret from the environment variable `var`. The name is checked first, so that a
/// key pasted where a name belongs is refused without being echoed.
pub fn secret_from_env(option: &str, var: &str) -> Result<Secret, HostError> {
    secret_from_env_as(option, "MY_KEY", var)
}

/// [`secret_from_env`], whose advice shows the option's argument as `example` (e.g.
/// `api_token=MY_KEY` for `--secret-env`).
fn secret_from_env_as(option: &str, example: &str, var: &str) -> Result<Secret, HostError> {
    let looks_like_name = !var.is_empty()
        && var.len() <= 128
        && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !var.as_bytes()[0].is_ascii_digit();
    if !looks_like_name {
        return Err(HostError::new(
            "usage",
            format!("{option} takes the name of an environment variable, and what was given is not a variable name"),
        )
        .with_hint(format!(
            "Put the secret in a variable and pass its name: export MY_KEY=…, then {option} {example}. Never pass a secret itself as an argument."
        )));
    }
    let value = std::env::var(var).map_err(|_| {
        HostError::new(
            "usage",
            format!("the environment variable {var} is not set"),
        )
        .with_hint(format!(
            "Set it (export {var}=…) in the shell that runs this command."
        ))
    })?;
    let secret = Secret::from_input(&value);
    if secret.is_empty() {
        return Err(HostError::new(
            "usage",
            format!("the environment variable {var} is empty"),
        ));
    }
    Ok(secret)
}

/// A secret from standard input (at most 64 KiB, trimmed).
pub fn secret_from_stdin() -> Result<Secret, HostError> {
    let mut s = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut s)
        .map_err(|e| {
            HostError::new(
                "usage",
                format!("cannot read the secret from standard input: {e}"),
            )
        })?;
    let secret = Secret::from_input(&s);
    if secret.is_empty() {
        return Err(HostError::new("usage", "standard input held no secret"));
    }
    Ok(secret)
}

/// The secrets `configure` was given: `--token-stdin` / `--token-env VAR` for `api_token`,
/// and `--secret-env KEY=VAR` for any secret field.
pub fn secrets(
    token_stdin: bool,
    token_env: Option<&str>,
    secret_env: &[String],
) -> Result<BTreeMap<String, Secret>, HostError> {
    let mut out = BTreeMap::new();
    if let Some(var) = token_env {
        out.insert(
            "api_token".to_string(),
            secret_from_env("--token-env", var)?,
        );
    }
    if token_stdin {
        out.insert("api_token".to_string(), secret_from_stdin()?);
    }
    for spec in secret_env {
        let Some((key, var)) = spec.split_once('=') else {
            return Err(HostError::new("usage", "--secret-env takes KEY=VAR")
                .with_hint("e.g. --secret-env analytics_api_key=ANALYTICS_KEY (the variable's name, not its value)."));
        };
        let key = key.trim();
        if out.contains_key(key) {
            return Err(HostError::new(
                "usage",
                format!("the secret {key} was given twice"),
            ));
        }
        let example = format!("{key}=MY_KEY");
        out.insert(
            key.to_string(),
            secret_from_env_as("--secret-env", &example, var.trim())?,
        );
    }
    Ok(out)
}

/// `KEY=VALUE` settings.
pub fn settings(pairs: &[String]) -> Result<Vec<(String, String)>, HostError> {
    pairs
        .iter()
        .map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| {
                    HostError::new("usage", "--set takes KEY=VALUE").with_hint(
                        "e.g. --set backfill_days=90; `host-harness describe` lists the settings.",
                    )
                })
        })
        .collect()
}
