//! The workspace's ground truth ([`WorkspaceTruth`]) and exact credits ([`Credits`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An amount of Codex credits, held as an integer number of quarter credits so sums are
/// exact. Serialised as a JSON number (`12.25`); every value is a multiple of 0.25, so an
/// `f64` sum of served credits is exact too (below 2^51 quarters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Credits(u64);

impl Credits {
    pub const ZERO: Credits = Credits(0);

    pub const fn from_quarters(quarters: u64) -> Credits {
        Credits(quarters)
    }

    pub const fn quarters(self) -> u64 {
        self.0
    }

    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 4.0
    }

    /// `Some` when `x` is a non-negative multiple of 0.25.
    pub fn from_f64(x: f64) -> Option<Credits> {
        let q = x * 4.0;
        (x.is_finite() && x >= 0.0 && q.fract() == 0.0 && q < 9.0e15).then_some(Credits(q as u64))
    }
}

impl std::ops::Add for Credits {
    type Output = Credits;
    fn add(self, o: Credits) -> Credits {
        Credits(self.0 + o.0)
    }
}

impl std::ops::AddAssign for Credits {
    fn add_assign(&mut self, o: Credits) {
        self.0 += o.0;
    }
}

impl std::iter::Sum for Credits {
    fn sum<I: Iterator<Item = Credits>>(it: I) -> Credits {
        Credits(it.map(|c| c.0).sum())
    }
}

impl std::fmt::Display for Credits {
    /// `12.25`, `8`, `0.5`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let whole = self.0 / 4;
        match self.0 % 4 {
            0 => write!(f, "{whole}"),
            1 => write!(f, "{whole}.25"),
            2 => write!(f, "{whole}.5"),
            _ => write!(f, "{whole}.75"),
        }
    }
}

impl Serialize for Credits {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64())
    }
}

impl<'de> Deserialize<'de> for Credits {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Credits, D::Error> {
        let x = f64::deserialize(d)?;
        Credits::from_f64(x).ok_or_else(|| {
            serde::de::Error::custom(format!("credits {x} is not a multiple of 0.25"))
        })
    }
}

/// Which side(s) a person is on. Emails match case-insensitively; ids never match.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Membership {
    /// In the Platform organization and the ChatGPT workspace.
    #[serde(rename = "both")]
    Both,
    #[serde(rename = "chatgpt_only")]
    ChatgptOnly,
    #[serde(rename = "platform_only")]
    PlatformOnly,
}

/// One person of either side.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct WorkspacePerson {
    /// Lowercased: the identity shared by both sides.
    pub email: String,
    pub name: String,
    pub membership: Membership,
    /// `cgpt-user-…` (ChatGPT side).
    pub chatgpt_user_id: Option<String>,
    /// As the workspace spells it (may differ in case from `platform_email`).
    pub chatgpt_email: Option<String>,
    /// `user-…` (Platform side).
    pub platform_user_id: Option<String>,
    pub platform_email: Option<String>,
}

/// Codex usage of one person over the whole workspace history.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageTotalsTruth {
    /// Lowercased.
    pub email: String,
    pub chatgpt_user_id: String,
    /// Day rows (person × day) the person has.
    pub rows: u64,
    pub threads: u64,
    pub turns: u64,
    pub credits: Credits,
    pub text_input_tokens: u64,
    pub cached_text_input_tokens: u64,
    pub text_output_tokens: u64,
    /// The part of the totals in rows served with an empty `clients` list (so the
    /// [`ClientUsageTruth`] rows of this email add up to the totals minus this).
    pub unlisted_rows: u64,
    pub unlisted_threads: u64,
    pub unlisted_turns: u64,
    pub unlisted_credits: Credits,
}

/// Usage of one person through one client (only rows whose `clients` list is served).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientUsageTruth {
    pub email: String,
    pub client_id: String,
    pub threads: u64,
    pub turns: u64,
    pub credits: Credits,
}

/// Usage of one person on one (model, speed).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelUsageTruth {
    pub email: String,
    pub model: String,
    pub speed: String,
    pub credits: Credits,
    pub text_input_tokens: u64,
    pub cached_text_input_tokens: u64,
    pub text_output_tokens: u64,
}

/// One served day row's totals.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DailyUsageTruth {
    /// "YYYY-MM-DD" (UTC).
    pub day: String,
    pub email: String,
    pub threads: u64,
    pub turns: u64,
    pub credits: Credits,
    /// False when the row's `clients` list is served empty.
    pub clients_listed: bool,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PriorityCounts {
    #[serde(rename = "P0")]
    pub p0: u64,
    #[serde(rename = "P1")]
    pub p1: u64,
    #[serde(rename = "P2")]
    pub p2: u64,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReactionCounts {
    pub positive: u64,
    pub negative: u64,
    pub other: u64,
}

/// Code reviews of one person over the whole history.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct CodeReviewTruth {
    pub email: String,
    pub prs_reviewed: u64,
    pub comments_generated: u64,
    pub comments_by_priority: PriorityCounts,
}

impl CodeReviewTruth {
    /// Every count, nested ones flattened with `_` (`comments_by_priority_P0`).
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let p = &self.comments_by_priority;
        [
            ("prs_reviewed", self.prs_reviewed),
            ("comments_generated", self.comments_generated),
            ("comments_by_priority_P0", p.p0),
            ("comments_by_priority_P1", p.p1),
            ("comments_by_priority_P2", p.p2),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// Responses of one person to Codex review comments over the whole history.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct CodeReviewResponseTruth {
    pub email: String,
    pub replies: u64,
    pub reactions: ReactionCounts,
    pub comments_with_reply: u64,
    pub comments_with_reaction: u64,
}

impl CodeReviewResponseTruth {
    /// Every count, nested ones flattened with `_` (`reactions_positive`).
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let r = &self.reactions;
        [
            ("replies", self.replies),
            ("reactions_positive", r.positive),
            ("reactions_negative", r.negative),
            ("reactions_other", r.other),
            ("comments_with_reply", self.comments_with_reply),
            ("comments_with_reaction", self.comments_with_reaction),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// Platform usage (user-owned keys, every model, every day the mock holds) of one user.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PlatformUsageTruth {
    /// Lowercased.
    pub email: String,
    pub platform_user_id: String,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub requests: u64,
}

/// Everything the ChatGPT workspace holds (all of it within the API's 90-day reach), by
/// lowercased email, plus who is on which side and the Platform usage by email.
///
/// Every list is sorted by its key (email, then client / model+speed; `daily` by day then
/// email). Emails of usage, client, model, review and response entries are always workspace
/// people's.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct WorkspaceTruth {
    pub workspace_id: String,
    /// First and last day the workspace holds, "YYYY-MM-DD" (UTC).
    pub first_day: String,
    pub last_day: String,
    /// Every person of either side (workspace people and Platform users), by email.
    pub people: Vec<WorkspacePerson>,
    /// Per email: totals (only people with at least one usage row).
    pub usage_totals: Vec<UsageTotalsTruth>,
    /// Per (email, client_id).
    pub by_client: Vec<ClientUsageTruth>,
    /// Per (email, model, speed).
    pub by_model: Vec<ModelUsageTruth>,
    /// Per (day, email): the day rows.
    pub daily: Vec<DailyUsageTruth>,
    /// Per email.
    pub code_reviews: Vec<CodeReviewTruth>,
    /// Per email.
    pub code_review_responses: Vec<CodeReviewResponseTruth>,
    /// Platform side, per email of the key owner (service-account usage has no person and is
    /// left out; see `GroundTruth` for it).
    pub platform: Vec<PlatformUsageTruth>,
}

impl WorkspaceTruth {
    /// Lowercased emails of the people with this membership, sorted.
    pub fn emails(&self, membership: Membership) -> Vec<String> {
        self.people
            .iter()
            .filter(|p| p.membership == membership)
            .map(|p| p.email.clone())
            .collect()
    }

    /// Look a person up by email (any case).
    pub fn person(&self, email: &str) -> Option<&WorkspacePerson> {
        let e = email.to_lowercase();
        self.people.iter().find(|p| p.email == e)
    }

    /// Usage totals of one email (any case).
    pub fn totals(&self, email: &str) -> Option<&UsageTotalsTruth> {
        let e = email.to_lowercase();
        self.usage_totals.iter().find(|t| t.email == e)
    }

    /// Credits of the whole workspace.
    pub fn total_credits(&self) -> Credits {
        self.usage_totals.iter().map(|t| t.credits).sum()
    }

    pub fn write_json(&self, path: &std::path::Path) -> anyhow::Result<()> {
        let f = std::fs::File::create(path)?;
        let mut w = std::io::BufWriter::new(f);
        serde_json::to_writer_pretty(&mut w, self)?;
        std::io::Write::flush(&mut w)?;
        Ok(())
    }
}
