//! The connector's settings: the form it describes, and the local (no network) validation
//! `configure` runs. Every field is checked and all problems are reported at once.

use crate::json::quoted;
use crate::model::{FieldError, SettingValue};

pub const API_TOKEN: &str = "api_token";
pub const BACKFILL_DAYS: &str = "backfill_days";
pub const BUCKET_WIDTH: &str = "bucket_width";
pub const LOOKBACK_BUCKETS: &str = "lookback_buckets";
pub const DIRECTORY_REFRESH_HOURS: &str = "directory_refresh_hours";
pub const CODEX_MODEL_PATTERN: &str = "codex_model_pattern";
pub const CODEX_PROJECT_IDS: &str = "codex_project_ids";
pub const CODEX_API_KEY_IDS: &str = "codex_api_key_ids";
pub const ORGANIZATION_ID: &str = "organization_id";

pub const DEFAULT_BACKFILL_DAYS: i64 = 30;
pub const MAX_BACKFILL_DAYS: i64 = 365;
pub const DEFAULT_LOOKBACK_BUCKETS: i64 = 2;
pub const MAX_LOOKBACK_BUCKETS: i64 = 48;
/// Users, projects and keys change slowly and their lists have no changed-since filter:
/// re-reading them every hourly pull would cost most of the provider requests.
pub const DEFAULT_DIRECTORY_REFRESH_HOURS: i64 = 12;
pub const MAX_DIRECTORY_REFRESH_HOURS: i64 = 168;
pub const DEFAULT_MODEL_PATTERN: &str = "*codex*";
/// Longest token we accept; real admin keys are far shorter, this only bounds bad input.
pub const MAX_TOKEN_LEN: usize = 512;
pub const MAX_PATTERN_LEN: usize = 256;
pub const MAX_IDS: usize = 1000;
pub const MAX_ID_LEN: usize = 64;

/// Where an organization Owner creates the only kind of key that can read usage.
pub const ADMIN_KEY_HELP: &str = "Create an Admin API key in the OpenAI Platform under Manage → Admin API Keys (only an organization Owner can) and paste it here.";
/// Said wherever an admin could wonder why some Codex usage is missing.
pub const CHATGPT_NOTE: &str = "Codex used through a ChatGPT sign-in (Plus, Pro, Business, Enterprise) is not reported to the API organization and cannot be imported with any API key; only Codex used with API keys is.";

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

/// Validated settings, kept by the component instance after `configure`.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub api_token: String,
    pub backfill_days: u32,
    pub bucket_width: BucketWidth,
    pub lookback_buckets: u32,
    /// Hours between full re-reads of users, projects and keys; 0 = every run.
    pub directory_refresh_hours: u32,
    pub codex_model_pattern: ModelPattern,
    pub codex_project_ids: Vec<String>,
    pub codex_api_key_ids: Vec<String>,
    pub organization_id: Option<String>,
}

impl Settings {
    /// Settings for tests and benchmarks that only exercise normalize.
    pub fn for_normalize(pattern: &str, projects: &[&str], keys: &[&str]) -> Settings {
        Settings {
            api_token: String::new(),
            backfill_days: DEFAULT_BACKFILL_DAYS as u32,
            bucket_width: BucketWidth::Day,
            lookback_buckets: DEFAULT_LOOKBACK_BUCKETS as u32,
            directory_refresh_hours: DEFAULT_DIRECTORY_REFRESH_HOURS as u32,
            codex_model_pattern: ModelPattern::parse(pattern).expect("valid pattern"),
            codex_project_ids: projects.iter().map(|s| s.to_string()).collect(),
            codex_api_key_ids: keys.iter().map(|s| s.to_string()).collect(),
            organization_id: None,
        }
    }
}

/// Case-insensitive globs (`*` = any run of characters, `?` = one character), separated
/// by commas; a model matches when any glob matches its whole name.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelPattern {
    source: String,
    globs: Vec<Vec<u8>>,
}

impl ModelPattern {
    pub fn parse(source: &str) -> Result<ModelPattern, String> {
        let globs: Vec<Vec<u8>> = source
            .split(',')
            .map(|g| g.trim().to_ascii_lowercase().into_bytes())
            .filter(|g| !g.is_empty())
            .collect();
        if globs.is_empty() {
            return Err("Give at least one model name pattern, e.g. *codex*.".into());
        }
        if let Some(bad) = globs
            .iter()
            .find(|g| !g.iter().all(|b| b.is_ascii_graphic() && *b != b'|'))
        {
            return Err(format!(
                "Pattern {} may only use printable ASCII letters, digits, punctuation, * and ?.",
                // globs are lowercased `str` pieces: always UTF-8
                quoted(std::str::from_utf8(bad).unwrap_or_default())
            ));
        }
        Ok(ModelPattern {
            source: source.trim().to_string(),
            globs,
        })
    }

    /// `ModelPattern::parse(DEFAULT_MODEL_PATTERN)`, built directly: unwrapping the parse
    /// would link the `Debug` formatting of its error into the component.
    pub fn default_codex() -> ModelPattern {
        ModelPattern {
            source: DEFAULT_MODEL_PATTERN.into(),
            globs: vec![DEFAULT_MODEL_PATTERN.as_bytes().to_vec()],
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn matches(&self, model: &str) -> bool {
        let model = model.as_bytes();
        self.globs.iter().any(|g| glob_match(g, model))
    }
}

/// Iterative glob match with single-star backtracking: linear-ish, no recursion, so a
/// hostile pattern cannot blow the stack.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        let c = text[t].to_ascii_lowercase();
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == c) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while p < pattern.len() && pattern[p] == b'*' {
        p += 1;
    }
    p == pattern.len()
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
    let mut notes = Vec::new();
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
                key.chars()
                    .filter(|c| !c.is_control())
                    .take(64)
                    .collect::<String>()
                    .as_str(),
                format!(
                    "Unknown setting {}. Known settings: {}.",
                    quoted(&shown),
                    list(KNOWN_KEYS)
                ),
            );
        } else if seen.contains(&key.as_str()) {
            err(key, "This setting was given more than once.".into());
        } else {
            seen.push(key.as_str());
        }
    }
    let get = |key: &str| input.iter().find(|(k, _)| k == key).map(|(_, v)| v);

    // api_token
    let api_token = match get(API_TOKEN) {
        None => {
            err(
                API_TOKEN,
                format!("The API Token is required. {ADMIN_KEY_HELP}"),
            );
            String::new()
        }
        Some(SettingValue::Text(raw)) => match check_token(raw) {
            Ok((token, trimmed)) => {
                if trimmed {
                    notes.push(
                        "Spaces or line breaks around the pasted API Token were removed."
                            .to_string(),
                    );
                }
                token
            }
            Err(message) => {
                err(API_TOKEN, message);
                String::new()
            }
        },
        Some(_) => {
            err(API_TOKEN, "The API Token must be text.".into());
            String::new()
        }
    };

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
        Some(SettingValue::Text(s)) => match BucketWidth::parse(s.trim()) {
            Some(w) => w,
            None => {
                err(
                    BUCKET_WIDTH,
                    format!("Bucket width must be 1d or 1h, not {}.", quoted(&clip(s))),
                );
                BucketWidth::Day
            }
        },
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

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Accepted {
        settings: Settings {
            api_token,
            backfill_days: backfill_days as u32,
            bucket_width,
            lookback_buckets: lookback_buckets as u32,
            directory_refresh_hours: directory_refresh_hours as u32,
            codex_model_pattern,
            codex_project_ids,
            codex_api_key_ids,
            organization_id,
        },
        notes,
    })
}

const KNOWN_KEYS: &[&str] = &[
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

/// Check a pasted token: trim, refuse anything that could inject a header, refuse keys
/// that cannot read organization data. Messages never repeat the token.
/// Returns the token and whether surrounding whitespace was trimmed.
pub fn check_token(raw: &str) -> Result<(String, bool), String> {
    let token = raw.trim();
    let trimmed = token.len() != raw.len();
    if token.is_empty() {
        return Err(format!("The API Token is empty. {ADMIN_KEY_HELP}"));
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(format!(
            "The API Token is longer than {MAX_TOKEN_LEN} characters; paste only the key. {ADMIN_KEY_HELP}"
        ));
    }
    if token.chars().any(|c| c.is_control()) {
        return Err(
            "The API Token contains line breaks or control characters; paste the key on its own."
                .into(),
        );
    }
    if token.chars().any(|c| c.is_whitespace()) {
        return Err("The API Token contains spaces; paste the key on its own.".into());
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("The API Token contains characters that never occur in OpenAI keys; paste the key on its own.".into());
    }
    if token.starts_with("sk-proj-") {
        return Err(format!(
            "This is a project API key (sk-proj-…); it cannot read organization usage. {ADMIN_KEY_HELP} {CHATGPT_NOTE}"
        ));
    }
    if token.starts_with("sk-svcacct-") {
        return Err(format!(
            "This is a service-account key (sk-svcacct-…); it cannot read organization usage. {ADMIN_KEY_HELP} {CHATGPT_NOTE}"
        ));
    }
    if !token.starts_with("sk-admin-") {
        return Err(format!(
            "This is not an OpenAI Admin API key (those start with sk-admin-). {ADMIN_KEY_HELP} {CHATGPT_NOTE}"
        ));
    }
    if token.len() < "sk-admin-".len() + 16 {
        return Err(format!(
            "The API Token is too short to be a complete Admin API key. {ADMIN_KEY_HELP}"
        ));
    }
    Ok((token.to_string(), trimmed))
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
    if n < min || n > max {
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
            .map(|s| s.to_string())
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
    let mut bad = String::new();
    for s in items
        .iter()
        .filter(|s| s.len() > MAX_ID_LEN || !s.starts_with(prefix) || !s.bytes().all(is_id_byte))
        .take(3)
    {
        if !bad.is_empty() {
            bad.push_str(", ");
        }
        bad.push_str(&clip(s));
    }
    if !bad.is_empty() {
        err(
            field,
            format!(
                "Ids look like {prefix}… (letters, digits, - and _ only); these do not: {bad}."
            ),
        );
        return Vec::new();
    }
    // sorted and deduplicated; inserting in order links less code than `sort` + `dedup`,
    // and lists are short (at most MAX_IDS)
    let mut sorted: Vec<String> = Vec::with_capacity(items.len());
    for s in items {
        if let Err(i) = sorted.binary_search(&s) {
            sorted.insert(i, s);
        }
    }
    sorted
}

fn is_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// `items` separated by commas (for messages that list the accepted values).
pub(crate) fn list(items: &[&str]) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(item);
    }
    out
}

/// A short, printable excerpt of bad input for an error message (never used on tokens).
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

    const GOOD: &str = "sk-admin-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";

    fn text(k: &str, v: &str) -> (String, SettingValue) {
        (k.to_string(), SettingValue::Text(v.to_string()))
    }

    #[test]
    fn defaults_apply() {
        let a = parse(&[text(API_TOKEN, GOOD)]).unwrap();
        assert_eq!(a.settings.backfill_days, 30);
        assert_eq!(a.settings.bucket_width, BucketWidth::Day);
        assert_eq!(a.settings.lookback_buckets, 2);
        assert!(a.settings.codex_model_pattern.matches("gpt-5.1-codex-max"));
        assert!(!a.settings.codex_model_pattern.matches("gpt-5.4"));
        assert!(a.notes.is_empty());
    }

    #[test]
    fn whitespace_is_trimmed_and_said() {
        let a = parse(&[text(API_TOKEN, &format!("  {GOOD}\n"))]).unwrap();
        assert_eq!(a.settings.api_token, GOOD);
        assert_eq!(a.notes.len(), 1);
    }

    #[test]
    fn all_errors_at_once_and_no_token_echo() {
        let bad_token = "sk-proj-SECRETSECRETSECRET0123456789";
        let e = parse(&[
            text(API_TOKEN, bad_token),
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
        for f in &e {
            assert!(!f.message.contains("SECRETSECRET"), "{f:?}");
        }
        assert!(e[1].message.contains("Manage → Admin API Keys"));
        assert!(e[1].message.contains("ChatGPT"));
    }

    #[test]
    fn header_injection_is_refused() {
        for t in [
            &format!("{GOOD}\r\nX-Evil: 1"),
            &format!("sk-admin-abc def{GOOD}"),
            &format!("{GOOD}\u{0}"),
        ] {
            assert!(check_token(t).is_err(), "{t:?}");
        }
    }

    #[test]
    fn non_admin_prefixes_are_refused() {
        for t in [
            "sk-proj-abcdefghijklmnopqrstuvwxyz",
            "sk-abcdefghijklmnopqrstuvwxyz",
            "sk-svcacct-abcdefghijklmnopqrstuv",
            "hello",
        ] {
            let m = check_token(t).unwrap_err();
            assert!(m.contains("Admin API"), "{m}");
        }
    }

    #[test]
    fn numbers_accept_text_and_check_range() {
        let a = parse(&[text(API_TOKEN, GOOD), text(BACKFILL_DAYS, " 90 ")]).unwrap();
        assert_eq!(a.settings.backfill_days, 90);
        assert!(parse(&[text(API_TOKEN, GOOD), text(BACKFILL_DAYS, "366")]).is_err());
        assert!(parse(&[text(API_TOKEN, GOOD), text(BACKFILL_DAYS, "ten")]).is_err());
        assert!(parse(&[
            text(API_TOKEN, GOOD),
            (BACKFILL_DAYS.into(), SettingValue::Boolean(true))
        ])
        .is_err());
    }

    #[test]
    fn glob_matching() {
        let p = ModelPattern::parse("*codex*, gpt-5.4").unwrap();
        assert!(p.matches("GPT-5-Codex"));
        assert!(p.matches("gpt-5.4"));
        assert!(!p.matches("gpt-5.4-mini"));
        let q = ModelPattern::parse("gpt-?-codex").unwrap();
        assert!(q.matches("gpt-5-codex") && !q.matches("gpt-55-codex"));
        // pathological pattern stays fast
        let r = ModelPattern::parse("*a*a*a*a*a*a*a*b").unwrap();
        assert!(!r.matches(&"a".repeat(10_000)));
    }

    #[test]
    fn id_lists_are_sorted_and_deduplicated() {
        let a = parse(&[
            text(API_TOKEN, GOOD),
            text(CODEX_API_KEY_IDS, "key_b\nkey_a, key_b"),
        ])
        .unwrap();
        assert_eq!(a.settings.codex_api_key_ids, ["key_a", "key_b"]);
    }
}
