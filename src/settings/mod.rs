//! The connector's settings: the keys and limits the form describes, and the local (no
//! network) validation `configure` runs. Every field is checked and all problems are
//! reported at once. Secrets arrive as their shape only (see [`token`]).
//!
//! Two sources, each optional, at least one configured: the OpenAI Platform organization
//! (API-key usage, `api_token` and its options) and the ChatGPT workspace's Codex Analytics
//! API (ChatGPT sign-in usage, `chatgpt_workspace_id` + `analytics_api_key` and options).

pub mod pattern;
pub mod token;
pub mod workspace;

pub use pattern::ModelPattern;

use crate::model::{Configured, ConnectorError, FieldError, SecretShape, SettingValue};
use crate::origin::{Origin, CHATGPT_API, OPENAI_API};

pub const API_TOKEN: &str = "api_token";
pub const BACKFILL_DAYS: &str = "backfill_days";
pub const BUCKET_WIDTH: &str = "bucket_width";
pub const LOOKBACK_BUCKETS: &str = "lookback_buckets";
pub const DIRECTORY_REFRESH_HOURS: &str = "directory_refresh_hours";
pub const CODEX_MODEL_PATTERN: &str = "codex_model_pattern";
pub const CODEX_PROJECT_IDS: &str = "codex_project_ids";
pub const CODEX_API_KEY_IDS: &str = "codex_api_key_ids";
pub const ORGANIZATION_ID: &str = "organization_id";
pub const CHATGPT_WORKSPACE_ID: &str = "chatgpt_workspace_id";
pub const ANALYTICS_API_KEY: &str = "analytics_api_key";
pub const WORKSPACE_PERIOD: &str = "workspace_period";
pub const WORKSPACE_REREAD_DAYS: &str = "workspace_reread_days";

/// The settings of the Platform source (section `platform`), in form order.
pub const PLATFORM_KEYS: &[&str] = &[
    API_TOKEN,
    BACKFILL_DAYS,
    BUCKET_WIDTH,
    LOOKBACK_BUCKETS,
    DIRECTORY_REFRESH_HOURS,
    CODEX_MODEL_PATTERN,
    CODEX_PROJECT_IDS,
    CODEX_API_KEY_IDS,
    ORGANIZATION_ID,
];
/// The settings of the ChatGPT workspace source (section `chatgpt`), in form order.
pub const CHATGPT_KEYS: &[&str] = &[
    CHATGPT_WORKSPACE_ID,
    ANALYTICS_API_KEY,
    WORKSPACE_PERIOD,
    WORKSPACE_REREAD_DAYS,
];
/// Every setting key, in form order.
pub const KNOWN_KEYS: &[&str] = &[
    API_TOKEN,
    BACKFILL_DAYS,
    BUCKET_WIDTH,
    LOOKBACK_BUCKETS,
    DIRECTORY_REFRESH_HOURS,
    CODEX_MODEL_PATTERN,
    CODEX_PROJECT_IDS,
    CODEX_API_KEY_IDS,
    ORGANIZATION_ID,
    CHATGPT_WORKSPACE_ID,
    ANALYTICS_API_KEY,
    WORKSPACE_PERIOD,
    WORKSPACE_REREAD_DAYS,
];
/// The settings of kind `secret`.
pub const SECRET_KEYS: &[&str] = &[API_TOKEN, ANALYTICS_API_KEY];

pub const DEFAULT_BACKFILL_DAYS: i64 = 30;
pub const MAX_BACKFILL_DAYS: i64 = 365;
pub const DEFAULT_LOOKBACK_BUCKETS: i64 = 2;
pub const MAX_LOOKBACK_BUCKETS: i64 = 48;
/// Users, projects and keys change slowly and their lists have no changed-since filter:
/// re-reading them every hourly pull would cost most of the provider requests.
pub const DEFAULT_DIRECTORY_REFRESH_HOURS: i64 = 12;
pub const MAX_DIRECTORY_REFRESH_HOURS: i64 = 168;
pub const DEFAULT_MODEL_PATTERN: &str = "*codex*";
pub const MAX_PATTERN_LEN: usize = 256;
pub const MAX_IDS: usize = 1000;
pub const MAX_ID_LEN: usize = 64;
pub const DEFAULT_REREAD_DAYS: i64 = 5;
pub const MAX_REREAD_DAYS: i64 = 30;
/// How far back the Codex Analytics API keeps history.
pub const ANALYTICS_HISTORY_DAYS: i64 = 90;

/// Where an organization Owner creates the only kind of key that can read usage.
pub const ADMIN_KEY_HELP: &str = "Create an Admin API key in the OpenAI Platform under Manage → Admin API Keys (only an organization Owner can) and paste it here.";
/// Where the workspace id is shown.
pub const WORKSPACE_ID_HELP: &str =
    "The workspace id is shown in ChatGPT Admin → Workspace details.";
/// The two kinds of key that can read the Codex Analytics API, and where each comes from.
pub const ANALYTICS_KEY_HELP: &str = "Use a workspace Admin key created in the ChatGPT Admin Console under Credentials → Admin keys with the permission \"Codex analytics API: Read\", or a Platform organization key that OpenAI support scoped to codex.enterprise.analytics.read.";
/// What API-key usage shows and does not (in `describe`'s notes).
pub const PLATFORM_NOTE: &str = "API-key usage (OpenAI Platform) shows Codex used with API keys: tokens and requests per person, API key, project and model, plus the organization's users, projects and keys. It does not show Codex used through a ChatGPT sign-in, lines of code or acceptance rates.";
/// How to import Codex used through a ChatGPT sign-in, and what it shows (in `describe`'s
/// notes).
pub const CHATGPT_NOTE: &str = "Codex used through a ChatGPT sign-in (Business, Enterprise and Edu workspaces) is not reported to the Platform organization. To import it, fill in ChatGPT sign-in usage (Codex Analytics) with the workspace id (ChatGPT Admin → Workspace details) and an analytics key: a workspace Admin key from the ChatGPT Admin Console (Credentials → Admin keys) with the permission \"Codex analytics API: Read\", or a Platform organization key that OpenAI support scoped to codex.enterprise.analytics.read. It shows, per person and day or week, threads, turns and credits by client and by model, tokens by model, Codex code reviews and the responses to them, for the last 90 days at most. It shows no lines of code and no acceptance rates. Personal Plus and Pro plans have no workspace and cannot be imported.";

/// The human label of a setting key, for messages that name another field.
pub fn label_of(key: &str) -> &'static str {
    match key {
        API_TOKEN => "API Token",
        BACKFILL_DAYS => "Backfill days",
        BUCKET_WIDTH => "Bucket width",
        LOOKBACK_BUCKETS => "Lookback buckets",
        DIRECTORY_REFRESH_HOURS => "Directory refresh (hours)",
        CODEX_MODEL_PATTERN => "Codex model pattern",
        CODEX_PROJECT_IDS => "Codex projects",
        CODEX_API_KEY_IDS => "Codex API keys",
        ORGANIZATION_ID => "Organization id",
        CHATGPT_WORKSPACE_ID => "Workspace id",
        ANALYTICS_API_KEY => "Analytics API key",
        WORKSPACE_PERIOD => "Workspace period",
        WORKSPACE_REREAD_DAYS => "Re-read days",
        _ => "another setting",
    }
}

/// What to do when the host holds no value for secret setting `key`.
pub fn missing_secret_message(key: &str) -> String {
    match key {
        API_TOKEN => format!("No API token is saved for this connection. {ADMIN_KEY_HELP}"),
        ANALYTICS_API_KEY => {
            format!("No analytics API key is saved for this connection. {ANALYTICS_KEY_HELP}")
        }
        other => format!("No value is saved for the secret setting {other}."),
    }
}

/// The period of the workspace's rows (`group_by`): a UTC day, or a UTC week starting on
/// Monday.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    Day,
    Week,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
        }
    }
    pub fn seconds(self) -> i64 {
        match self {
            Period::Day => 86_400,
            Period::Week => 7 * 86_400,
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "day" => Some(Period::Day),
            "week" => Some(Period::Week),
            _ => None,
        }
    }
}

/// The ChatGPT workspace source, when configured. The analytics key is not here: the
/// host keeps it and attaches it to requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatgptSettings {
    /// As the admin typed it, trimmed.
    pub workspace_id: String,
    pub period: Period,
    /// Days before the last read that every run reads again.
    pub reread_days: u32,
}

/// Width of one usage bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BucketWidth {
    Day,
    Hour,
}

impl BucketWidth {
    pub fn as_str(self) -> &'static str {
        match self {
            BucketWidth::Day => "1d",
            BucketWidth::Hour => "1h",
        }
    }
    pub fn seconds(self) -> i64 {
        match self {
            BucketWidth::Day => 86_400,
            BucketWidth::Hour => 3_600,
        }
    }
    /// The most buckets the usage endpoint returns per page for this width.
    pub fn max_page_buckets(self) -> u32 {
        match self {
            BucketWidth::Day => 31,
            BucketWidth::Hour => 168,
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "1d" => Some(BucketWidth::Day),
            "1h" => Some(BucketWidth::Hour),
            _ => None,
        }
    }
}

/// Validated settings, kept by the component instance after `configure`. The API Token is
/// not among them: the host keeps it and attaches it to requests.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub backfill_days: u32,
    pub bucket_width: BucketWidth,
    pub lookback_buckets: u32,
    /// Hours between full re-reads of users, projects and keys; 0 = every run.
    pub directory_refresh_hours: u32,
    pub codex_model_pattern: ModelPattern,
    /// Sorted and deduplicated.
    pub codex_project_ids: Vec<String>,
    /// Sorted and deduplicated.
    pub codex_api_key_ids: Vec<String>,
    pub organization_id: Option<String>,
    /// Whether the Platform source is configured (an API Token is saved). Its options
    /// above are validated and kept either way.
    pub platform: bool,
    /// The ChatGPT workspace source, when configured.
    pub chatgpt: Option<ChatgptSettings>,
}

impl Settings {
    /// Default settings with the given Codex rules, for tests and benchmarks of normalize:
    /// the Platform source only. Panics on an invalid pattern (callers pass literals).
    pub fn for_normalize(pattern: &str, projects: &[&str], keys: &[&str]) -> Settings {
        Settings {
            backfill_days: DEFAULT_BACKFILL_DAYS as u32,
            bucket_width: BucketWidth::Day,
            lookback_buckets: DEFAULT_LOOKBACK_BUCKETS as u32,
            directory_refresh_hours: DEFAULT_DIRECTORY_REFRESH_HOURS as u32,
            codex_model_pattern: ModelPattern::parse(pattern).expect("valid pattern"),
            codex_project_ids: sorted_unique(projects.iter().map(|s| s.to_string()).collect()),
            codex_api_key_ids: sorted_unique(keys.iter().map(|s| s.to_string()).collect()),
            organization_id: None,
            platform: true,
            chatgpt: None,
        }
    }

    /// The same settings with the ChatGPT workspace source configured too (tests, fuzzing).
    pub fn with_chatgpt(mut self, workspace_id: &str, period: Period) -> Settings {
        self.chatgpt = Some(ChatgptSettings {
            workspace_id: workspace_id.to_string(),
            period,
            reread_days: DEFAULT_REREAD_DAYS as u32,
        });
        self
    }

    /// The origins these settings call: the host's allow-list for the instance.
    pub fn origins(&self) -> Vec<Origin> {
        let mut out = Vec::new();
        if self.platform {
            out.push(OPENAI_API);
        }
        if self.chatgpt.is_some() {
            out.push(CHATGPT_API);
        }
        out
    }
}

/// `configure`: the settings to keep, and what to tell the host; every problem at once.
pub fn configure(
    input: &[(String, SettingValue)],
) -> Result<(Settings, Configured), ConnectorError> {
    let accepted = parse(input).map_err(ConnectorError::InvalidSettings)?;
    let configured = Configured {
        notes: accepted.notes,
        origins: accepted.settings.origins(),
    };
    Ok((accepted.settings, configured))
}

/// What `configure` accepted, plus notes for the admin.
#[derive(Debug)]
pub struct Accepted {
    pub settings: Settings,
    pub notes: Vec<String>,
}

/// Validate every field; on failure return every field error at once.
pub fn parse(input: &[(String, SettingValue)]) -> Result<Accepted, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut err = |field: &str, message: String| {
        errors.push(FieldError {
            field: field.to_string(),
            message,
        })
    };

    let mut seen: Vec<&str> = Vec::new();
    for (key, _) in input {
        if !KNOWN_KEYS.contains(&key.as_str()) {
            let shown: String = key.chars().filter(|c| !c.is_control()).take(64).collect();
            err(
                &shown,
                format!(
                    "Unknown setting {}. Known settings: {}.",
                    quoted(&shown),
                    KNOWN_KEYS.join(", ")
                ),
            );
        } else if seen.contains(&key.as_str()) {
            err(key, "This setting was given more than once.".into());
        } else {
            seen.push(key.as_str());
        }
    }
    let get = |key: &str| input.iter().find(|(k, _)| k == key).map(|(_, v)| v);

    // A secret the admin left empty is absent: the host passes no value, or an empty one.
    let unset = |v: Option<&SettingValue>| match v {
        None => true,
        Some(SettingValue::Secret(SecretShape { length, prefix, .. })) => {
            *length == 0 && prefix.is_empty()
        }
        Some(_) => false,
    };
    let platform = !unset(get(API_TOKEN));
    match get(API_TOKEN) {
        _ if !platform => {}
        None => {}
        Some(SettingValue::Secret(shape)) => {
            if let Err(m) = token::check_admin_key(shape) {
                err(API_TOKEN, m);
            } else if let Some(m) = token::same_as_problem(API_TOKEN, shape, SECRET_KEYS) {
                err(API_TOKEN, m);
            }
        }
        // Never echo the value: it is a secret the host should not have handed over.
        Some(SettingValue::Text(_)) => err(
            API_TOKEN,
            "The API Token reached the connector as text: the host must pass secrets as secret-shape and keep the value itself.".into(),
        ),
        Some(_) => err(
            API_TOKEN,
            "The API Token is a secret setting: the host must pass it as secret-shape.".into(),
        ),
    }

    let backfill_days = number(
        get(BACKFILL_DAYS),
        BACKFILL_DAYS,
        DEFAULT_BACKFILL_DAYS,
        1,
        MAX_BACKFILL_DAYS,
        &mut err,
    );
    let lookback_buckets = number(
        get(LOOKBACK_BUCKETS),
        LOOKBACK_BUCKETS,
        DEFAULT_LOOKBACK_BUCKETS,
        1,
        MAX_LOOKBACK_BUCKETS,
        &mut err,
    );
    let directory_refresh_hours = number(
        get(DIRECTORY_REFRESH_HOURS),
        DIRECTORY_REFRESH_HOURS,
        DEFAULT_DIRECTORY_REFRESH_HOURS,
        0,
        MAX_DIRECTORY_REFRESH_HOURS,
        &mut err,
    );

    let bucket_width = match get(BUCKET_WIDTH) {
        None => BucketWidth::Day,
        Some(SettingValue::Text(s)) => BucketWidth::parse(s.trim()).unwrap_or_else(|| {
            err(
                BUCKET_WIDTH,
                format!("Bucket width must be 1d or 1h, not {}.", quoted(&clip(s))),
            );
            BucketWidth::Day
        }),
        Some(_) => {
            err(
                BUCKET_WIDTH,
                "Bucket width must be the text 1d or 1h.".into(),
            );
            BucketWidth::Day
        }
    };

    let codex_model_pattern = match get(CODEX_MODEL_PATTERN) {
        None => ModelPattern::default_codex(),
        Some(SettingValue::Text(s)) if s.len() > MAX_PATTERN_LEN => {
            err(
                CODEX_MODEL_PATTERN,
                format!("The model pattern is longer than {MAX_PATTERN_LEN} characters."),
            );
            ModelPattern::default_codex()
        }
        Some(SettingValue::Text(s)) => ModelPattern::parse(s).unwrap_or_else(|m| {
            err(CODEX_MODEL_PATTERN, m);
            ModelPattern::default_codex()
        }),
        Some(_) => {
            err(
                CODEX_MODEL_PATTERN,
                "The model pattern must be text, e.g. *codex*.".into(),
            );
            ModelPattern::default_codex()
        }
    };

    let codex_project_ids = id_list(get(CODEX_PROJECT_IDS), CODEX_PROJECT_IDS, "proj_", &mut err);
    let codex_api_key_ids = id_list(get(CODEX_API_KEY_IDS), CODEX_API_KEY_IDS, "key_", &mut err);

    let organization_id = match get(ORGANIZATION_ID) {
        None => None,
        Some(SettingValue::Text(s)) if s.trim().is_empty() => None,
        Some(SettingValue::Text(s)) => {
            let s = s.trim();
            if s.len() > MAX_ID_LEN || !s.starts_with("org-") || !s.bytes().all(is_id_byte) {
                err(
                    ORGANIZATION_ID,
                    "The organization id looks like org-… (letters, digits, - and _ only); leave it empty to use the key's own organization.".into(),
                );
                None
            } else {
                Some(s.to_string())
            }
        }
        Some(_) => {
            err(
                ORGANIZATION_ID,
                "The organization id must be text like org-….".into(),
            );
            None
        }
    };

    let workspace_id = match get(CHATGPT_WORKSPACE_ID) {
        None => None,
        Some(SettingValue::Text(s)) if s.trim().is_empty() => None,
        Some(SettingValue::Text(s)) => match workspace::check_workspace_id(s) {
            Ok(id) => Some(Some(id)),
            Err(m) => {
                err(CHATGPT_WORKSPACE_ID, m);
                Some(None)
            }
        },
        Some(_) => {
            err(
                CHATGPT_WORKSPACE_ID,
                format!("The workspace id must be text. {WORKSPACE_ID_HELP}"),
            );
            Some(None)
        }
    };
    let analytics_key = !unset(get(ANALYTICS_API_KEY));
    match get(ANALYTICS_API_KEY) {
        _ if !analytics_key => {}
        None => {}
        Some(SettingValue::Secret(shape)) => {
            // The same key in both fields is said first: it is the mistake to fix.
            if let Some(m) = token::same_as_problem(ANALYTICS_API_KEY, shape, SECRET_KEYS) {
                err(ANALYTICS_API_KEY, m);
            } else if let Err(m) = workspace::check_analytics_key(shape) {
                err(ANALYTICS_API_KEY, m);
            }
        }
        // Never echo the value: it is a secret the host should not have handed over.
        Some(SettingValue::Text(_)) => err(
            ANALYTICS_API_KEY,
            "The analytics API key reached the connector as text: the host must pass secrets as secret-shape and keep the value itself.".into(),
        ),
        Some(_) => err(
            ANALYTICS_API_KEY,
            "The analytics API key is a secret setting: the host must pass it as secret-shape.".into(),
        ),
    }
    let period = match get(WORKSPACE_PERIOD) {
        None => Period::Day,
        Some(SettingValue::Text(s)) => Period::parse(s.trim()).unwrap_or_else(|| {
            err(
                WORKSPACE_PERIOD,
                format!("The period must be day or week, not {}.", quoted(&clip(s))),
            );
            Period::Day
        }),
        Some(_) => {
            err(
                WORKSPACE_PERIOD,
                "The period must be the text day or week.".into(),
            );
            Period::Day
        }
    };
    let reread_days = number(
        get(WORKSPACE_REREAD_DAYS),
        WORKSPACE_REREAD_DAYS,
        DEFAULT_REREAD_DAYS,
        1,
        MAX_REREAD_DAYS,
        &mut err,
    );

    // The sources: each complete or absent, at least one of them.
    let workspace_given = workspace_id.is_some();
    match (workspace_given, analytics_key) {
        (true, false) => err(
            ANALYTICS_API_KEY,
            format!("Add the analytics API key that reads this workspace, or clear the workspace id. {ANALYTICS_KEY_HELP}"),
        ),
        (false, true) => err(
            CHATGPT_WORKSPACE_ID,
            format!("Add the id of the workspace this analytics key reads, or clear the key. {WORKSPACE_ID_HELP}"),
        ),
        (false, false) if !platform => {
            err(
                API_TOKEN,
                format!("Configure at least one source: an Admin API key here to import API-key usage, or a ChatGPT workspace id and analytics key under ChatGPT sign-in usage. {ADMIN_KEY_HELP}"),
            );
            err(
                CHATGPT_WORKSPACE_ID,
                format!("Configure at least one source: this workspace id and an analytics API key to import ChatGPT sign-in usage, or an API Token under API-key usage. {WORKSPACE_ID_HELP}"),
            );
        }
        _ => {}
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    let chatgpt = match workspace_id {
        Some(Some(workspace_id)) if analytics_key => Some(ChatgptSettings {
            workspace_id,
            period,
            // checked against a small range above
            reread_days: reread_days as u32,
        }),
        _ => None,
    };
    let mut notes = Vec::new();
    if chatgpt.is_some() && backfill_days > ANALYTICS_HISTORY_DAYS {
        notes.push(format!(
            "Backfill days is {backfill_days}, but the Codex Analytics API keeps only the last {ANALYTICS_HISTORY_DAYS} days: the first import of ChatGPT sign-in usage reads those 90 days; API-key usage reads all {backfill_days}."
        ));
    }
    Ok(Accepted {
        settings: Settings {
            // all three were checked against small ranges above
            backfill_days: backfill_days as u32,
            bucket_width,
            lookback_buckets: lookback_buckets as u32,
            directory_refresh_hours: directory_refresh_hours as u32,
            codex_model_pattern,
            codex_project_ids,
            codex_api_key_ids,
            organization_id,
            platform,
            chatgpt,
        },
        notes,
    })
}

fn number(
    value: Option<&SettingValue>,
    field: &str,
    default: i64,
    min: i64,
    max: i64,
    err: &mut impl FnMut(&str, String),
) -> i64 {
    let n = match value {
        None => return default,
        Some(SettingValue::Number(n)) => *n,
        Some(SettingValue::Text(s)) => match s.trim().parse::<i64>() {
            Ok(n) => n,
            Err(_) => {
                err(
                    field,
                    format!(
                        "Must be a whole number from {min} to {max}, not {}.",
                        quoted(&clip(s))
                    ),
                );
                return default;
            }
        },
        Some(_) => {
            err(
                field,
                format!("Must be a whole number from {min} to {max}."),
            );
            return default;
        }
    };
    if !(min..=max).contains(&n) {
        err(field, format!("Must be from {min} to {max}; got {n}."));
        return default;
    }
    n
}

fn id_list(
    value: Option<&SettingValue>,
    field: &str,
    prefix: &str,
    err: &mut impl FnMut(&str, String),
) -> Vec<String> {
    let items: Vec<String> = match value {
        None => return Vec::new(),
        Some(SettingValue::List(items)) => items.iter().map(|s| s.trim().to_string()).collect(),
        Some(SettingValue::Text(s)) => s
            .split([',', '\n', '\r', ' ', '\t'])
            .map(str::to_string)
            .collect(),
        Some(_) => {
            err(field, format!("Must be a list of ids like {prefix}…."));
            return Vec::new();
        }
    };
    let items: Vec<String> = items.into_iter().filter(|s| !s.is_empty()).collect();
    if items.len() > MAX_IDS {
        err(
            field,
            format!("At most {MAX_IDS} ids; got {}.", items.len()),
        );
        return Vec::new();
    }
    let bad: Vec<String> = items
        .iter()
        .filter(|s| s.len() > MAX_ID_LEN || !s.starts_with(prefix) || !s.bytes().all(is_id_byte))
        .take(3)
        .map(|s| clip(s))
        .collect();
    if !bad.is_empty() {
        err(
            field,
            format!(
                "Ids look like {prefix}… (letters, digits, - and _ only); these do not: {}.",
                bad.join(", ")
            ),
        );
        return Vec::new();
    }
    sorted_unique(items)
}

fn sorted_unique(mut items: Vec<String>) -> Vec<String> {
    items.sort_unstable();
    items.dedup();
    items
}

fn is_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// `s` in double quotes, with quotes and control characters escaped.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.escape_debug())
}

/// A short, printable excerpt of bad input for an error message (never used on secrets).
fn clip(s: &str) -> String {
    let printable: String = s.chars().filter(|c| !c.is_control()).take(40).collect();
    if s.chars().nth(40).is_some() {
        format!("{printable}…")
    } else {
        printable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SecretShape;

    fn token(prefix: &str, length: u32) -> (String, SettingValue) {
        (
            API_TOKEN.to_string(),
            SettingValue::Secret(SecretShape {
                length,
                prefix: prefix.into(),
                same_as: None,
            }),
        )
    }

    fn good() -> (String, SettingValue) {
        token("sk-admin", 164)
    }

    fn text(k: &str, v: &str) -> (String, SettingValue) {
        (k.to_string(), SettingValue::Text(v.to_string()))
    }

    #[test]
    fn defaults_apply() {
        let a = parse(&[good()]).unwrap();
        assert_eq!(a.settings.backfill_days, 30);
        assert_eq!(a.settings.bucket_width, BucketWidth::Day);
        assert_eq!(a.settings.lookback_buckets, 2);
        assert_eq!(a.settings.directory_refresh_hours, 12);
        assert!(a.settings.codex_model_pattern.matches("gpt-5.1-codex-max"));
        assert!(!a.settings.codex_model_pattern.matches("gpt-5.4"));
        assert_eq!(a.settings.organization_id, None);
        assert!(a.notes.is_empty());
        assert_eq!(a.settings, Settings::for_normalize("*codex*", &[], &[]));
    }

    #[test]
    fn configure_returns_the_platform_origin() {
        let (settings, configured) = configure(&[good()]).unwrap();
        assert_eq!(configured.origins, [OPENAI_API]);
        assert!(configured.notes.is_empty());
        assert_eq!(settings.bucket_width, BucketWidth::Day);
        match configure(&[]).unwrap_err() {
            ConnectorError::InvalidSettings(errors) => assert_eq!(errors[0].field, API_TOKEN),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn all_errors_at_once() {
        let e = parse(&[
            token("sk-proj-", 164),
            (BACKFILL_DAYS.into(), SettingValue::Number(0)),
            text(BUCKET_WIDTH, "1w"),
            text(CODEX_PROJECT_IDS, "proj_ok, nope"),
            text("colour", "blue"),
        ])
        .unwrap_err();
        let fields: Vec<&str> = e.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "colour",
                API_TOKEN,
                BACKFILL_DAYS,
                BUCKET_WIDTH,
                CODEX_PROJECT_IDS
            ]
        );
        assert!(e[1].message.contains("project API key"), "{}", e[1].message);
        assert!(e[1].message.contains("Manage → Admin API Keys"));
        assert!(!e[1].message.contains("ChatGPT"));
    }

    #[test]
    fn the_token_must_come_as_a_secret_shape() {
        let secret = "sk-admin-SECRETSECRETSECRET0123456789";
        let e = parse(&[text(API_TOKEN, secret)]).unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(e[0].message.contains("secret-shape"), "{}", e[0].message);
        assert!(!e[0].message.contains("SECRET"), "{}", e[0].message);
        let e = parse(&[(API_TOKEN.into(), SettingValue::Number(3))]).unwrap_err();
        assert!(e[0].message.contains("secret-shape"), "{}", e[0].message);
        let e = parse(&[]).unwrap_err();
        assert!(
            e[0].message.contains("at least one source"),
            "{}",
            e[0].message
        );
        // and a secret shape is no value for any other field
        let e = parse(&[
            good(),
            (
                BUCKET_WIDTH.into(),
                SettingValue::Secret(SecretShape {
                    length: 2,
                    prefix: "1d".into(),
                    same_as: None,
                }),
            ),
        ])
        .unwrap_err();
        assert_eq!(e[0].field, BUCKET_WIDTH);
    }

    #[test]
    fn repeated_and_unknown_keys() {
        let e = parse(&[good(), good(), text("bad\u{7}key", "x")]).unwrap_err();
        assert_eq!(e[0].field, API_TOKEN);
        assert!(e[0].message.contains("more than once"));
        assert_eq!(e[1].field, "badkey");
        assert!(e[1]
            .message
            .contains("Known settings: api_token, backfill_days"));
    }

    #[test]
    fn numbers_accept_text_and_check_range() {
        let a = parse(&[good(), text(BACKFILL_DAYS, " 90 ")]).unwrap();
        assert_eq!(a.settings.backfill_days, 90);
        assert!(parse(&[good(), text(BACKFILL_DAYS, "366")]).is_err());
        assert!(parse(&[good(), text(BACKFILL_DAYS, "ten")]).is_err());
        assert!(parse(&[
            good(),
            (BACKFILL_DAYS.into(), SettingValue::Number(i64::MIN))
        ])
        .is_err());
        assert!(parse(&[good(), (BACKFILL_DAYS.into(), SettingValue::Boolean(true))]).is_err());
        let a = parse(&[
            good(),
            (DIRECTORY_REFRESH_HOURS.into(), SettingValue::Number(0)),
        ])
        .unwrap();
        assert_eq!(a.settings.directory_refresh_hours, 0);
    }

    #[test]
    fn id_lists_are_sorted_and_deduplicated() {
        let a = parse(&[good(), text(CODEX_API_KEY_IDS, "key_b\nkey_a, key_b")]).unwrap();
        assert_eq!(a.settings.codex_api_key_ids, ["key_a", "key_b"]);
        let a = parse(&[
            good(),
            (
                CODEX_PROJECT_IDS.into(),
                SettingValue::List(vec![" proj_z ".into(), "".into(), "proj_a".into()]),
            ),
        ])
        .unwrap();
        assert_eq!(a.settings.codex_project_ids, ["proj_a", "proj_z"]);
        let many: Vec<String> = (0..=MAX_IDS).map(|i| format!("key_{i}")).collect();
        assert!(parse(&[good(), (CODEX_API_KEY_IDS.into(), SettingValue::List(many))]).is_err());
    }

    #[test]
    fn organization_and_pattern() {
        let a = parse(&[
            good(),
            text(ORGANIZATION_ID, " org-abc_1 "),
            text(CODEX_MODEL_PATTERN, "gpt-5.4, *codex*"),
        ])
        .unwrap();
        assert_eq!(a.settings.organization_id.as_deref(), Some("org-abc_1"));
        assert!(a.settings.codex_model_pattern.matches("gpt-5.4"));
        assert_eq!(
            parse(&[good(), text(ORGANIZATION_ID, " ")])
                .unwrap()
                .settings
                .organization_id,
            None
        );
        let e = parse(&[
            good(),
            text(ORGANIZATION_ID, "acme"),
            text(CODEX_MODEL_PATTERN, &"x".repeat(MAX_PATTERN_LEN + 1)),
        ])
        .unwrap_err();
        assert_eq!(e.len(), 2);
    }

    const WS: &str = "123e4567-e89b-42d3-a456-426614174000";

    fn secret(
        key: &str,
        prefix: &str,
        length: u32,
        same_as: Option<&str>,
    ) -> (String, SettingValue) {
        (
            key.to_string(),
            SettingValue::Secret(SecretShape {
                length,
                prefix: prefix.into(),
                same_as: same_as.map(str::to_string),
            }),
        )
    }

    fn analytics_key() -> (String, SettingValue) {
        secret(ANALYTICS_API_KEY, "sk-cgpt-", 48, None)
    }

    fn workspace() -> (String, SettingValue) {
        text(CHATGPT_WORKSPACE_ID, WS)
    }

    fn fields(e: &[FieldError]) -> Vec<&str> {
        e.iter().map(|f| f.field.as_str()).collect()
    }

    #[test]
    fn either_source_alone_or_both() {
        // the Platform alone: as before
        let (s, c) = configure(&[good()]).unwrap();
        assert!(s.platform && s.chatgpt.is_none());
        assert_eq!(c.origins, [OPENAI_API]);
        // ChatGPT sign-in alone, with its defaults
        let (s, c) = configure(&[workspace(), analytics_key()]).unwrap();
        assert!(!s.platform);
        assert_eq!(
            s.chatgpt,
            Some(ChatgptSettings {
                workspace_id: WS.into(),
                period: Period::Day,
                reread_days: 5
            })
        );
        assert_eq!(c.origins, [CHATGPT_API]);
        assert!(c.notes.is_empty());
        // both, with options
        let (s, c) = configure(&[
            good(),
            text(CHATGPT_WORKSPACE_ID, &format!("  {WS} ")),
            analytics_key(),
            text(WORKSPACE_PERIOD, "week"),
            (WORKSPACE_REREAD_DAYS.into(), SettingValue::Number(30)),
        ])
        .unwrap();
        assert!(s.platform);
        let chatgpt = s.chatgpt.unwrap();
        assert_eq!(
            (
                chatgpt.workspace_id.as_str(),
                chatgpt.period,
                chatgpt.reread_days
            ),
            (WS, Period::Week, 30)
        );
        assert_eq!(c.origins, [OPENAI_API, CHATGPT_API]);
        // an empty secret or workspace id is no source
        let e = configure(&[
            secret(API_TOKEN, "", 0, None),
            text(CHATGPT_WORKSPACE_ID, "  "),
            secret(ANALYTICS_API_KEY, "", 0, None),
            text(BUCKET_WIDTH, "1d"),
        ])
        .unwrap_err();
        assert!(e.message().contains("at least one source"), "{e:?}");
        // Platform options alone configure nothing either
        let e = parse(&[text(BUCKET_WIDTH, "1h")]).unwrap_err();
        assert_eq!(fields(&e), [API_TOKEN, CHATGPT_WORKSPACE_ID]);
    }

    #[test]
    fn neither_source_names_both_sections() {
        let e = parse(&[]).unwrap_err();
        assert_eq!(fields(&e), [API_TOKEN, CHATGPT_WORKSPACE_ID]);
        assert!(e[0].message.contains(ADMIN_KEY_HELP), "{}", e[0].message);
        assert!(e[1].message.contains(WORKSPACE_ID_HELP), "{}", e[1].message);
    }

    #[test]
    fn a_half_configured_workspace_says_what_is_missing() {
        let e = parse(&[good(), workspace()]).unwrap_err();
        assert_eq!(fields(&e), [ANALYTICS_API_KEY]);
        assert!(
            e[0].message.contains(ANALYTICS_KEY_HELP),
            "{}",
            e[0].message
        );
        let e = parse(&[good(), analytics_key()]).unwrap_err();
        assert_eq!(fields(&e), [CHATGPT_WORKSPACE_ID]);
        assert!(e[0].message.contains(WORKSPACE_ID_HELP), "{}", e[0].message);
        // and without the Platform source: only what is missing, not "configure a source"
        let e = parse(&[analytics_key()]).unwrap_err();
        assert_eq!(fields(&e), [CHATGPT_WORKSPACE_ID]);
        // a workspace id of the wrong shape still counts as given
        let e = parse(&[text(CHATGPT_WORKSPACE_ID, "ada@example.com")]).unwrap_err();
        assert_eq!(fields(&e), [CHATGPT_WORKSPACE_ID, ANALYTICS_API_KEY]);
    }

    #[test]
    fn keys_in_the_wrong_field_and_the_same_key_twice() {
        // a Platform Admin key pasted as the analytics key
        let e = parse(&[
            good(),
            workspace(),
            secret(ANALYTICS_API_KEY, "sk-admin", 164, None),
        ])
        .unwrap_err();
        assert_eq!(fields(&e), [ANALYTICS_API_KEY]);
        assert!(
            e[0].message.contains("Platform Admin API key"),
            "{}",
            e[0].message
        );
        // the same key in both fields: each field that the host marks says so
        let e = parse(&[
            secret(API_TOKEN, "sk-admin", 164, Some(ANALYTICS_API_KEY)),
            workspace(),
            secret(ANALYTICS_API_KEY, "sk-admin", 164, Some(API_TOKEN)),
        ])
        .unwrap_err();
        assert_eq!(fields(&e), [API_TOKEN, ANALYTICS_API_KEY]);
        for f in &e {
            assert!(f.message.contains("same key"), "{}", f.message);
        }
        assert!(
            e[0].message.contains("Analytics API key"),
            "{}",
            e[0].message
        );
        assert!(e[1].message.contains("API Token"), "{}", e[1].message);
        // marked on one side only
        let e = parse(&[
            good(),
            workspace(),
            secret(ANALYTICS_API_KEY, "sk-cgpt-", 48, Some(API_TOKEN)),
        ])
        .unwrap_err();
        assert_eq!(fields(&e), [ANALYTICS_API_KEY]);
        // a key pasted into the workspace id field is refused and never echoed
        let pasted = "sk-cgpt-SECRETSECRETSECRETSECRET0123";
        let e = parse(&[good(), text(CHATGPT_WORKSPACE_ID, pasted), analytics_key()]).unwrap_err();
        assert_eq!(fields(&e), [CHATGPT_WORKSPACE_ID]);
        assert!(!e[0].message.contains("SECRET"), "{}", e[0].message);
        // the analytics key must come as a secret shape, and is never echoed
        let e = parse(&[workspace(), text(ANALYTICS_API_KEY, pasted)]).unwrap_err();
        assert_eq!(fields(&e), [ANALYTICS_API_KEY]);
        assert!(e[0].message.contains("secret-shape") && !e[0].message.contains("SECRET"));
    }

    #[test]
    fn every_problem_of_both_sources_at_once() {
        let e = parse(&[
            token("sk-proj-", 164),
            (BACKFILL_DAYS.into(), SettingValue::Number(0)),
            text(CHATGPT_WORKSPACE_ID, "https://chatgpt.com/admin"),
            secret(ANALYTICS_API_KEY, "sk-admin", 164, None),
            text(WORKSPACE_PERIOD, "month"),
            (WORKSPACE_REREAD_DAYS.into(), SettingValue::Number(31)),
            text("colour", "blue"),
        ])
        .unwrap_err();
        assert_eq!(
            fields(&e),
            [
                "colour",
                API_TOKEN,
                BACKFILL_DAYS,
                CHATGPT_WORKSPACE_ID,
                ANALYTICS_API_KEY,
                WORKSPACE_PERIOD,
                WORKSPACE_REREAD_DAYS
            ]
        );
        assert!(e[3].message.contains("web address"), "{}", e[3].message);
        assert!(e[5].message.contains("day or week"), "{}", e[5].message);
        assert!(e[6].message.contains("from 1 to 30"), "{}", e[6].message);
        let e = parse(&[
            workspace(),
            analytics_key(),
            (WORKSPACE_PERIOD.into(), SettingValue::Number(7)),
            (CHATGPT_WORKSPACE_ID.into(), SettingValue::Number(7)),
        ])
        .unwrap_err();
        assert_eq!(fields(&e), [CHATGPT_WORKSPACE_ID, WORKSPACE_PERIOD]);
        assert!(e[0].message.contains("more than once"));
    }

    #[test]
    fn a_long_backfill_notes_the_apis_90_days() {
        let a = parse(&[
            good(),
            workspace(),
            analytics_key(),
            text(BACKFILL_DAYS, "120"),
        ])
        .unwrap();
        assert_eq!(a.notes.len(), 1);
        assert!(
            a.notes[0].contains("90 days") && a.notes[0].contains("120"),
            "{}",
            a.notes[0]
        );
        // no note at 90, nor without the ChatGPT source
        let a = parse(&[
            good(),
            workspace(),
            analytics_key(),
            text(BACKFILL_DAYS, "90"),
        ])
        .unwrap();
        assert!(a.notes.is_empty());
        let a = parse(&[good(), text(BACKFILL_DAYS, "365")]).unwrap();
        assert!(a.notes.is_empty());
        let (_, c) =
            configure(&[workspace(), analytics_key(), text(BACKFILL_DAYS, "365")]).unwrap();
        assert_eq!(c.notes.len(), 1);
    }

    #[test]
    fn missing_secrets_say_where_to_get_them() {
        assert!(missing_secret_message(ANALYTICS_API_KEY).contains(ANALYTICS_KEY_HELP));
        assert!(missing_secret_message(API_TOKEN).contains(ADMIN_KEY_HELP));
    }
}
