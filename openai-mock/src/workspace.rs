//! The seeded ChatGPT workspace behind the Codex Analytics API: its people (some of them
//! also in the Platform organization, matched by email only), their Codex usage by day,
//! Codex code reviews and the responses to them, and the ground truth of all of it.
//!
//! Everything here comes from its own random streams, so the Platform organization and its
//! usage are exactly what they were before the workspace existed (same seed, same config).

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::data::{Org, FIRST, LAST};
use crate::truth::{
    ClientUsageTruth, CodeReviewResponseTruth, CodeReviewTruth, Credits, DailyUsageTruth,
    Membership, ModelUsageTruth, PlatformUsageTruth, PriorityCounts, ReactionCounts,
    UsageTotalsTruth, WorkspacePerson, WorkspaceTruth,
};
use crate::util::{day_string, SplitMix64};
use crate::MockConfig;

/// Client ids. The last two are special: `CODEX_FUTURE_SURFACE` is not in the documented
/// set (a client must keep it), `CODEX_WORK_MOBILE` only appears through late changes.
pub(crate) const CLIENTS: [&str; 11] = [
    "CODEX_CLI",
    "CODEX_IDE_VSCODE",
    "CODEX_WEB",
    "CODEX_DESKTOP_APP",
    "CODEX_GITHUB",
    "CODEX_WORK_DESKTOP",
    "CODEX_WORK_WEB",
    "CODEX_EXEC",
    "CODEX_SLACK",
    "CODEX_FUTURE_SURFACE",
    "CODEX_WORK_MOBILE",
];
const CLIENT_WEIGHTS: [u32; 11] = [25, 22, 12, 10, 8, 5, 4, 6, 4, 4, 0];
pub(crate) const UNKNOWN_CLIENT: u8 = 9;
pub(crate) const LATE_CLIENT: u8 = 10;
/// How the clients look to a person (only served as an unknown extra field).
const CLIENT_LABELS: [&str; 11] = [
    "Codex CLI",
    "Codex for VS Code",
    "Codex web",
    "Codex app",
    "Codex in GitHub",
    "Codex desktop (work)",
    "Codex web (work)",
    "codex exec",
    "Codex in Slack",
    "Something new",
    "Codex mobile (work)",
];

pub(crate) const WS_MODELS: [&str; 7] = [
    "gpt-5-codex",
    "gpt-5.1-codex-max",
    "gpt-5.2-codex",
    "gpt-5.3-codex",
    "gpt-5.3-codex-spark",
    "gpt-5.4",
    "gpt-5.5",
];
const WS_MODEL_WEIGHTS: [u32; 7] = [10, 12, 14, 25, 8, 18, 13];
pub(crate) const SPEEDS: [&str; 2] = ["standard", "fast"];

/// Share of usage rows whose `clients` list is served empty (totals unchanged).
const HIDDEN_CLIENTS: f64 = 0.06;

pub(crate) struct Person {
    pub user_id: String,
    /// As the workspace spells it (case may differ from the Platform's).
    pub email: String,
    pub email_lower: String,
    pub name: String,
    pub platform_user: Option<u32>,
    activity: f64,
    clients: Vec<u8>,
    models: Vec<u8>,
    fast: f64,
    reviews: f64,
    responds: f64,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct ClientUse {
    pub client: u8,
    pub threads: u64,
    pub turns: u64,
    /// Quarter credits.
    pub credits: u64,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct ModelUse {
    pub model: u8,
    pub speed: u8,
    pub credits: u64,
    pub input: u64,
    pub cached: u64,
    pub output: u64,
}

/// One person's Codex use on one day. Totals always equal the sum of `clients` and the
/// credits the sum of `models`; when `clients_listed` is false the API serves `clients: []`.
#[derive(Clone, Debug)]
pub(crate) struct UsageRow {
    pub person: u32,
    pub threads: u64,
    pub turns: u64,
    pub credits: u64,
    pub clients_listed: bool,
    pub clients: Vec<ClientUse>,
    pub models: Vec<ModelUse>,
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ReviewRow {
    pub person: u32,
    pub prs_reviewed: u64,
    pub comments: u64,
    /// P0, P1, P2 (they sum to `comments`).
    pub priority: [u64; 3],
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ResponseRow {
    pub person: u32,
    pub replies: u64,
    /// positive, negative, other.
    pub reactions: [u64; 3],
    pub comments_with_reply: u64,
    pub comments_with_reaction: u64,
}

pub(crate) struct Workspace {
    pub id: String,
    pub people: Vec<Person>,
    /// Day numbers of the first and the last ("today") day the workspace holds.
    pub first_day: i64,
    pub today: i64,
    /// By day (`first_day + i`), each sorted by person.
    pub usage: Vec<Vec<UsageRow>>,
    pub reviews: Vec<Vec<ReviewRow>>,
    pub responses: Vec<Vec<ResponseRow>>,
    pub changes: u64,
    seed: u64,
    shared_count: usize,
}

pub(crate) fn default_workspace_id(seed: u64) -> String {
    let mut rng = SplitMix64::derive(seed, 0xC0D3_0000, 0);
    let variant = ["8", "9", "a", "b"][rng.below(4) as usize];
    format!(
        "{}-{}-4{}-{variant}{}-{}",
        rng.hex(8),
        rng.hex(4),
        rng.hex(3),
        rng.hex(3),
        rng.hex(12)
    )
}

pub(crate) fn default_analytics_key(seed: u64) -> String {
    let mut rng = SplitMix64::derive(seed, 0xC0D3_00AA, 0);
    format!("sk-cgpt-{}", rng.alnum(40))
}

/// Spell a lowercase email the way workspace `i` shows it: some in Title case
/// (`Ada.Lovelace@Example.com`), some with an upper-case local part, the rest unchanged.
fn spell(lower: &str, i: usize) -> String {
    let (local, domain) = lower.split_once('@').unwrap_or((lower, ""));
    let title = |s: &str| {
        s.split('.')
            .map(|w| {
                let mut c = w.chars();
                match c.next() {
                    Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                    None => String::new(),
                }
            })
            .collect::<Vec<_>>()
            .join(".")
    };
    match i % 4 {
        0 => {
            let mut d = domain.chars();
            let domain = match d.next() {
                Some(f) => f.to_uppercase().collect::<String>() + d.as_str(),
                None => String::new(),
            };
            format!("{}@{domain}", title(local))
        }
        2 => format!("{}@{domain}", local.to_uppercase()),
        _ => lower.to_string(),
    }
}

fn pick_distinct(rng: &mut SplitMix64, weights: &[u32], n: usize) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(n);
    for _ in 0..n * 20 {
        if out.len() == n {
            break;
        }
        let i = rng.weighted(weights) as u8;
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out.sort_unstable();
    out
}

fn new_person(
    rng: &mut SplitMix64,
    ids: &mut HashSet<String>,
    email: String,
    name: String,
    platform_user: Option<u32>,
) -> Person {
    let user_id = loop {
        let id = format!("cgpt-user-{}", rng.alnum(20));
        if ids.insert(id.clone()) {
            break id;
        }
    };
    let n_clients = rng.range(1, 4) as usize;
    let n_models = rng.range(1, 3) as usize;
    let activity = 0.25 + 0.6 * rng.f64();
    let clients = pick_distinct(rng, &CLIENT_WEIGHTS, n_clients);
    let models = pick_distinct(rng, &WS_MODEL_WEIGHTS, n_models);
    let fast = if rng.chance(0.35) {
        0.1 + 0.5 * rng.f64()
    } else {
        0.0
    };
    let reviews = if rng.chance(0.5) {
        0.1 + 0.4 * rng.f64()
    } else {
        0.0
    };
    let responds = if rng.chance(0.5) {
        0.1 + 0.4 * rng.f64()
    } else {
        0.0
    };
    Person {
        user_id,
        email_lower: email.to_lowercase(),
        email,
        name,
        platform_user,
        activity,
        clients,
        models,
        fast,
        reviews,
        responds,
    }
}

fn gen_usage_row(rng: &mut SplitMix64, p: &Person, person: u32) -> UsageRow {
    let n = rng.range(1, p.clients.len().min(3) as u64) as usize;
    let mut prefs = p.clients.clone();
    for i in 0..n {
        let j = i + rng.below((prefs.len() - i) as u64) as usize;
        prefs.swap(i, j);
    }
    let mut chosen: Vec<u8> = prefs[..n].to_vec();
    chosen.sort_unstable();
    let clients: Vec<ClientUse> = chosen
        .into_iter()
        .map(|client| {
            let threads = 1 + rng.below(3) + rng.below(3) * rng.below(3);
            let turns = threads * rng.range(1, 6) + rng.below(4);
            let credits = turns * rng.range(1, 6) + rng.below(8);
            ClientUse {
                client,
                threads,
                turns,
                credits,
            }
        })
        .collect();
    let threads = clients.iter().map(|c| c.threads).sum();
    let turns = clients.iter().map(|c| c.turns).sum();
    let credits: u64 = clients.iter().map(|c| c.credits).sum();
    let clients_listed = !rng.chance(HIDDEN_CLIENTS);
    let k = if p.models.len() > 1 && credits >= 2 && rng.chance(0.35) {
        2
    } else {
        1
    };
    let mut ms = p.models.clone();
    if k == 1 {
        ms = vec![ms[rng.below(ms.len() as u64) as usize]];
    } else {
        let i = rng.below(ms.len() as u64) as usize;
        let mut j = rng.below(ms.len() as u64 - 1) as usize;
        if j >= i {
            j += 1;
        }
        ms = vec![ms[i.min(j)], ms[i.max(j)]];
    }
    let first = if k == 2 {
        1 + rng.below(credits - 1)
    } else {
        credits
    };
    let models = ms
        .into_iter()
        .enumerate()
        .map(|(i, model)| {
            let credits = if i == 0 { first } else { credits - first };
            let speed = u8::from(rng.chance(p.fast));
            let input = credits * rng.range(2_000, 9_000) + rng.below(1_000);
            let cached = input * rng.below(80) / 100;
            let output = input * rng.range(5, 35) / 100;
            ModelUse {
                model,
                speed,
                credits,
                input,
                cached,
                output,
            }
        })
        .collect();
    UsageRow {
        person,
        threads,
        turns,
        credits,
        clients_listed,
        clients,
        models,
    }
}

fn gen_review(rng: &mut SplitMix64, person: u32) -> ReviewRow {
    let prs_reviewed = rng.range(1, 6);
    let mut priority = [0u64; 3];
    for _ in 0..prs_reviewed {
        for _ in 0..rng.below(5) {
            let w = rng.below(10);
            priority[if w == 0 {
                0
            } else if w < 4 {
                1
            } else {
                2
            }] += 1;
        }
    }
    ReviewRow {
        person,
        prs_reviewed,
        comments: priority.iter().sum(),
        priority,
    }
}

fn gen_response(rng: &mut SplitMix64, person: u32) -> ResponseRow {
    let comments_with_reply = rng.below(4);
    let replies = comments_with_reply + rng.below(3) * u64::from(comments_with_reply > 0);
    let reactions = [rng.below(5), rng.below(3), rng.below(2)];
    let total: u64 = reactions.iter().sum();
    let comments_with_reaction = if total == 0 { 0 } else { 1 + rng.below(total) };
    let mut r = ResponseRow {
        person,
        replies,
        reactions,
        comments_with_reply,
        comments_with_reaction,
    };
    if r.replies == 0 && total == 0 {
        r.reactions[0] = 1;
        r.comments_with_reaction = 1;
    }
    r
}

/// Build the workspace. The Platform organization `org` is only read (for the shared
/// people's emails and the calendar).
pub(crate) fn generate(cfg: &MockConfig, org: &Org) -> Workspace {
    let seed = cfg.seed;
    let mut rng = SplitMix64::derive(seed, 0xC0D3_0001, 0);
    let n_users = org.users.len();
    let shared = cfg.shared_users.min(cfg.chatgpt_users).min(n_users);

    // Shared people: a seeded choice of Platform users.
    let mut idx: Vec<u32> = (0..n_users as u32).collect();
    for i in 0..shared {
        let j = i + rng.below((n_users - i) as u64) as usize;
        idx.swap(i, j);
    }
    let mut taken: HashSet<String> = org.users.iter().map(|u| u.email.to_lowercase()).collect();
    let mut ids = HashSet::new();
    let mut people = Vec::with_capacity(cfg.chatgpt_users);
    for (i, &u) in idx[..shared].iter().enumerate() {
        let pu = &org.users[u as usize];
        let email = spell(&pu.email.to_lowercase(), i);
        people.push(new_person(
            &mut rng,
            &mut ids,
            email,
            pu.name.clone(),
            Some(u),
        ));
    }
    // ChatGPT-only people: names no Platform user has (case-insensitively).
    for i in 0..cfg.chatgpt_users - shared {
        let mut pick = None;
        for _ in 0..30 {
            let f = FIRST[rng.below(FIRST.len() as u64) as usize];
            let l = LAST[rng.below(LAST.len() as u64) as usize];
            let e = format!("{}.{}@example.com", f.to_lowercase(), l.to_lowercase());
            if !taken.contains(&e) {
                pick = Some((f, l, e));
                break;
            }
        }
        let (f, l, lower) = match pick {
            Some(p) => p,
            None => {
                let f = FIRST[i % FIRST.len()];
                let l = LAST[(i / FIRST.len()) % LAST.len()];
                let mut n = 2;
                loop {
                    let e = format!("{}.{}{n}@example.com", f.to_lowercase(), l.to_lowercase());
                    if !taken.contains(&e) {
                        break (f, l, e);
                    }
                    n += 1;
                }
            }
        };
        taken.insert(lower.clone());
        let email = spell(&lower, i + 1);
        people.push(new_person(
            &mut rng,
            &mut ids,
            email,
            format!("{f} {l}"),
            None,
        ));
    }
    for i in (1..people.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        people.swap(i, j);
    }
    // The unknown client is always somebody's habit.
    if !people.iter().any(|p| p.clients.contains(&UNKNOWN_CLIENT)) {
        if let Some(p) = people
            .iter_mut()
            .max_by(|a, b| a.activity.total_cmp(&b.activity))
        {
            p.clients.push(UNKNOWN_CLIENT);
            p.clients.sort_unstable();
        }
    }

    // History reaches back 90 days at most.
    let today = org.today;
    let first_day = org.first_day.max(today - 89);
    let mut usage = Vec::new();
    let mut reviews = Vec::new();
    let mut responses = Vec::new();
    for day in first_day..=today {
        let mut rng = SplitMix64::derive(seed, 0xC0D3_0002, day as u64);
        let mut rows = Vec::new();
        for (pi, p) in people.iter().enumerate() {
            if rng.chance(p.activity) {
                rows.push(gen_usage_row(&mut rng, p, pi as u32));
            }
        }
        usage.push(rows);
        let mut rng = SplitMix64::derive(seed, 0xC0D3_0003, day as u64);
        let mut rv = Vec::new();
        let mut rs = Vec::new();
        for (pi, p) in people.iter().enumerate() {
            if rng.chance(p.reviews) {
                rv.push(gen_review(&mut rng, pi as u32));
            }
            if rng.chance(p.responds) {
                rs.push(gen_response(&mut rng, pi as u32));
            }
        }
        reviews.push(rv);
        responses.push(rs);
    }
    Workspace {
        id: cfg.workspace_id.clone(),
        people,
        first_day,
        today,
        usage,
        reviews,
        responses,
        changes: 0,
        seed,
        shared_count: shared,
    }
}

/// Usage of one person over one period (one or more days).
#[derive(Default, Debug, Clone)]
pub(crate) struct UsageAgg {
    pub threads: u64,
    pub turns: u64,
    pub credits: u64,
    /// Client breakdown of the days whose clients are listed: client → [threads, turns, credits].
    pub clients: BTreeMap<u8, [u64; 3]>,
    /// (model, speed) → [credits, input, cached, output].
    pub models: BTreeMap<(u8, u8), [u64; 4]>,
}

impl UsageAgg {
    pub(crate) fn add(&mut self, r: &UsageRow) {
        self.threads += r.threads;
        self.turns += r.turns;
        self.credits += r.credits;
        if r.clients_listed {
            for c in &r.clients {
                let e = self.clients.entry(c.client).or_default();
                e[0] += c.threads;
                e[1] += c.turns;
                e[2] += c.credits;
            }
        }
        for m in &r.models {
            let e = self.models.entry((m.model, m.speed)).or_default();
            e[0] += m.credits;
            e[1] += m.input;
            e[2] += m.cached;
            e[3] += m.output;
        }
    }
}

impl Workspace {
    /// Per person usage over days `d0..=d1` (clipped to the data).
    pub(crate) fn usage_between(&self, d0: i64, d1: i64) -> BTreeMap<u32, UsageAgg> {
        let mut out: BTreeMap<u32, UsageAgg> = BTreeMap::new();
        for d in d0.max(self.first_day)..=d1.min(self.today) {
            for r in &self.usage[(d - self.first_day) as usize] {
                out.entry(r.person).or_default().add(r);
            }
        }
        out
    }

    pub(crate) fn reviews_between(&self, d0: i64, d1: i64) -> BTreeMap<u32, ReviewRow> {
        let mut out: BTreeMap<u32, ReviewRow> = BTreeMap::new();
        for d in d0.max(self.first_day)..=d1.min(self.today) {
            for r in &self.reviews[(d - self.first_day) as usize] {
                let e = out.entry(r.person).or_insert(ReviewRow {
                    person: r.person,
                    ..ReviewRow::default()
                });
                e.prs_reviewed += r.prs_reviewed;
                e.comments += r.comments;
                for i in 0..3 {
                    e.priority[i] += r.priority[i];
                }
            }
        }
        out
    }

    pub(crate) fn responses_between(&self, d0: i64, d1: i64) -> BTreeMap<u32, ResponseRow> {
        let mut out: BTreeMap<u32, ResponseRow> = BTreeMap::new();
        for d in d0.max(self.first_day)..=d1.min(self.today) {
            for r in &self.responses[(d - self.first_day) as usize] {
                let e = out.entry(r.person).or_insert(ResponseRow {
                    person: r.person,
                    ..ResponseRow::default()
                });
                e.replies += r.replies;
                for i in 0..3 {
                    e.reactions[i] += r.reactions[i];
                }
                e.comments_with_reply += r.comments_with_reply;
                e.comments_with_reaction += r.comments_with_reaction;
            }
        }
        out
    }

    pub(crate) fn usage_row_count(&self) -> usize {
        self.usage.iter().map(Vec::len).sum()
    }

    pub(crate) fn review_row_count(&self) -> usize {
        self.reviews.iter().map(Vec::len).sum()
    }

    pub(crate) fn response_row_count(&self) -> usize {
        self.responses.iter().map(Vec::len).sum()
    }

    pub(crate) fn shared_count(&self) -> usize {
        self.shared_count
    }

    /// Late changes: the last `days` days' rows grow (more threads, turns, credits and
    /// tokens on every usage row, more counts on every code-review and response row), one
    /// person who had no usage on each of those days gets a row, and one person gets a client
    /// they never used before (`CODEX_WORK_MOBILE`) on the newest day that allows it.
    pub(crate) fn change_recent(&mut self, days: u32) {
        self.changes += 1;
        let mut rng = SplitMix64::derive(self.seed, 0xC0D3_0004, self.changes);
        let n = (days as usize).min(self.usage.len());
        let total = self.usage.len();
        for di in total - n..total {
            for r in self.usage[di].iter_mut() {
                let ci = rng.below(r.clients.len() as u64) as usize;
                let threads = rng.below(2);
                let turns = 1 + rng.below(4);
                let q = 1 + rng.below(12);
                let c = &mut r.clients[ci];
                c.threads += threads;
                c.turns += turns;
                c.credits += q;
                r.threads += threads;
                r.turns += turns;
                r.credits += q;
                let mi = rng.below(r.models.len() as u64) as usize;
                let m = &mut r.models[mi];
                let input = q * rng.range(2_000, 9_000);
                m.credits += q;
                m.input += input;
                m.cached += input * rng.below(80) / 100;
                m.output += input * rng.range(5, 35) / 100;
            }
            // Someone who had no usage that day now has some.
            if !self.people.is_empty() {
                let active: HashSet<u32> = self.usage[di].iter().map(|r| r.person).collect();
                let start = rng.below(self.people.len() as u64) as usize;
                let idle = (0..self.people.len())
                    .map(|k| ((start + k) % self.people.len()) as u32)
                    .find(|p| !active.contains(p));
                if let Some(p) = idle {
                    let mut row = gen_usage_row(&mut rng, &self.people[p as usize], p);
                    row.clients_listed = true;
                    let rows = &mut self.usage[di];
                    let at = rows.partition_point(|r| r.person < p);
                    rows.insert(at, row);
                }
            }
            for r in self.reviews[di].iter_mut() {
                let extra = 1 + rng.below(3);
                r.prs_reviewed += 1;
                r.comments += extra;
                r.priority[1 + rng.below(2) as usize] += extra;
            }
            for r in self.responses[di].iter_mut() {
                r.replies += 1;
                r.comments_with_reply += 1;
                r.reactions[0] += 1;
                r.comments_with_reaction += 1;
            }
        }
        // A new client for someone, on the newest changed day that has a listed row without it.
        'days: for di in (total - n..total).rev() {
            let len = self.usage[di].len();
            if len == 0 {
                continue;
            }
            let start = rng.below(len as u64) as usize;
            for k in 0..len {
                let r = &mut self.usage[di][(start + k) % len];
                if !r.clients_listed || r.clients.iter().any(|c| c.client == LATE_CLIENT) {
                    continue;
                }
                let c = ClientUse {
                    client: LATE_CLIENT,
                    threads: 1,
                    turns: 2 + rng.below(4),
                    credits: 2 + rng.below(10),
                };
                r.threads += c.threads;
                r.turns += c.turns;
                r.credits += c.credits;
                let m = &mut r.models[0];
                let input = c.credits * rng.range(2_000, 9_000);
                m.credits += c.credits;
                m.input += input;
                m.cached += input / 4;
                m.output += input / 10;
                r.clients.push(c);
                break 'days;
            }
        }
    }

    /// The ground truth: everything the workspace holds, by email, plus the Platform side.
    pub(crate) fn truth(&self, org: &Org, platform: &crate::data::Usage) -> WorkspaceTruth {
        // People: the workspace's, then the Platform-only users.
        let mut people: Vec<WorkspacePerson> = self
            .people
            .iter()
            .map(|p| {
                let pu = p.platform_user.map(|u| &org.users[u as usize]);
                WorkspacePerson {
                    email: p.email_lower.clone(),
                    name: p.name.clone(),
                    membership: if pu.is_some() {
                        Membership::Both
                    } else {
                        Membership::ChatgptOnly
                    },
                    chatgpt_user_id: Some(p.user_id.clone()),
                    chatgpt_email: Some(p.email.clone()),
                    platform_user_id: pu.map(|u| u.id.clone()),
                    platform_email: pu.map(|u| u.email.clone()),
                }
            })
            .collect();
        let shared: HashSet<u32> = self.people.iter().filter_map(|p| p.platform_user).collect();
        for (i, u) in org.users.iter().enumerate() {
            if !shared.contains(&(i as u32)) {
                people.push(WorkspacePerson {
                    email: u.email.to_lowercase(),
                    name: u.name.clone(),
                    membership: Membership::PlatformOnly,
                    chatgpt_user_id: None,
                    chatgpt_email: None,
                    platform_user_id: Some(u.id.clone()),
                    platform_email: Some(u.email.clone()),
                });
            }
        }
        people.sort_by(|a, b| a.email.cmp(&b.email));

        let email = |p: u32| self.people[p as usize].email_lower.clone();
        let uid = |p: u32| self.people[p as usize].user_id.clone();

        let mut totals: BTreeMap<u32, UsageTotalsTruth> = BTreeMap::new();
        let mut clients: BTreeMap<(String, &str), ClientUsageTruth> = BTreeMap::new();
        let mut models: BTreeMap<(String, &str, &str), ModelUsageTruth> = BTreeMap::new();
        let mut daily = Vec::new();
        for (di, rows) in self.usage.iter().enumerate() {
            let day = day_string(self.first_day + di as i64);
            for r in rows {
                let t = totals.entry(r.person).or_insert_with(|| UsageTotalsTruth {
                    email: email(r.person),
                    chatgpt_user_id: uid(r.person),
                    ..UsageTotalsTruth::default()
                });
                t.rows += 1;
                t.threads += r.threads;
                t.turns += r.turns;
                t.credits += Credits::from_quarters(r.credits);
                if r.clients_listed {
                    for c in &r.clients {
                        let e = clients
                            .entry((email(r.person), CLIENTS[c.client as usize]))
                            .or_insert_with(|| ClientUsageTruth {
                                email: email(r.person),
                                client_id: CLIENTS[c.client as usize].to_string(),
                                ..ClientUsageTruth::default()
                            });
                        e.threads += c.threads;
                        e.turns += c.turns;
                        e.credits += Credits::from_quarters(c.credits);
                    }
                } else {
                    t.unlisted_rows += 1;
                    t.unlisted_threads += r.threads;
                    t.unlisted_turns += r.turns;
                    t.unlisted_credits += Credits::from_quarters(r.credits);
                }
                for m in &r.models {
                    t.text_input_tokens += m.input;
                    t.cached_text_input_tokens += m.cached;
                    t.text_output_tokens += m.output;
                    let (model, speed) = (WS_MODELS[m.model as usize], SPEEDS[m.speed as usize]);
                    let e = models
                        .entry((email(r.person), model, speed))
                        .or_insert_with(|| ModelUsageTruth {
                            email: email(r.person),
                            model: model.to_string(),
                            speed: speed.to_string(),
                            ..ModelUsageTruth::default()
                        });
                    e.credits += Credits::from_quarters(m.credits);
                    e.text_input_tokens += m.input;
                    e.cached_text_input_tokens += m.cached;
                    e.text_output_tokens += m.output;
                }
                daily.push(DailyUsageTruth {
                    day: day.clone(),
                    email: email(r.person),
                    threads: r.threads,
                    turns: r.turns,
                    credits: Credits::from_quarters(r.credits),
                    clients_listed: r.clients_listed,
                });
            }
        }
        daily.sort_by(|a, b| (&a.day, &a.email).cmp(&(&b.day, &b.email)));
        let mut usage_totals: Vec<UsageTotalsTruth> = totals.into_values().collect();
        usage_totals.sort_by(|a, b| a.email.cmp(&b.email));

        let mut code_reviews: Vec<CodeReviewTruth> = self
            .reviews_between(self.first_day, self.today)
            .into_values()
            .map(|r| CodeReviewTruth {
                email: email(r.person),
                prs_reviewed: r.prs_reviewed,
                comments_generated: r.comments,
                comments_by_priority: PriorityCounts {
                    p0: r.priority[0],
                    p1: r.priority[1],
                    p2: r.priority[2],
                },
            })
            .collect();
        code_reviews.sort_by(|a, b| a.email.cmp(&b.email));
        let mut code_review_responses: Vec<CodeReviewResponseTruth> = self
            .responses_between(self.first_day, self.today)
            .into_values()
            .map(|r| CodeReviewResponseTruth {
                email: email(r.person),
                replies: r.replies,
                reactions: ReactionCounts {
                    positive: r.reactions[0],
                    negative: r.reactions[1],
                    other: r.reactions[2],
                },
                comments_with_reply: r.comments_with_reply,
                comments_with_reaction: r.comments_with_reaction,
            })
            .collect();
        code_review_responses.sort_by(|a, b| a.email.cmp(&b.email));

        // Platform side: user-owned keys' usage by the owner's email.
        let mut plat: HashMap<u32, [u64; 4]> = HashMap::new();
        for rows in &platform.days {
            for r in rows {
                if let Some(u) = org.key_user[r.key as usize] {
                    let e = plat.entry(u).or_default();
                    e[0] += r.input;
                    e[1] += r.cached;
                    e[2] += r.output;
                    e[3] += r.requests;
                }
            }
        }
        let mut platform: Vec<PlatformUsageTruth> = plat
            .into_iter()
            .map(|(u, s)| {
                let user = &org.users[u as usize];
                PlatformUsageTruth {
                    email: user.email.to_lowercase(),
                    platform_user_id: user.id.clone(),
                    input_tokens: s[0],
                    cached_input_tokens: s[1],
                    output_tokens: s[2],
                    requests: s[3],
                }
            })
            .collect();
        platform.sort_by(|a, b| a.email.cmp(&b.email));

        WorkspaceTruth {
            workspace_id: self.id.clone(),
            first_day: day_string(self.first_day),
            last_day: day_string(self.today),
            people,
            usage_totals,
            by_client: clients.into_values().collect(),
            by_model: models.into_values().collect(),
            daily,
            code_reviews,
            code_review_responses,
            platform,
        }
    }
}

/// A stable per-row hash for the serving quirks (which email key, unknown fields).
pub(crate) fn quirk_hash(seed: u64, kind: u64, bucket_day: i64, person: u32) -> u64 {
    crate::util::mix64(
        seed ^ crate::util::mix64(kind.wrapping_add(0xC0D3))
            ^ crate::util::mix64((bucket_day as u64) << 20 ^ person as u64),
    )
}

pub(crate) fn client_label(c: u8) -> &'static str {
    CLIENT_LABELS[c as usize]
}
