//! The seeded organisation: users, projects, keys and usage rows.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::util::{day_string, SplitMix64, DAY};
use crate::{GroundTruth, MockConfig, TruthRow, UsageTotals};

pub(crate) const MODELS: [&str; 6] = [
    "gpt-5-codex",
    "gpt-5.1-codex-mini",
    "gpt-5.3-codex",
    "codex-mini-latest",
    "gpt-5.4",
    "gpt-4.1-mini",
];
/// Model weights for keys in the Codex project and elsewhere.
const CODEX_WEIGHTS: [u32; 6] = [25, 20, 20, 10, 15, 10];
const OTHER_WEIGHTS: [u32; 6] = [5, 5, 5, 3, 40, 42];

pub(crate) const FIRST: [&str; 40] = [
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger",
    "Radia", "Donald", "Hedy", "Niklaus", "Karen", "Bjarne", "Sophie", "Guido", "Anita", "James",
    "Mary", "John", "Lynn", "Tim", "Joan", "Vint", "Adele", "Brian", "Jean", "Rob", "Shafi",
    "Leslie", "Fran", "Butler", "Carla", "Yukihiro", "Ivan", "Maria", "Omar", "Priya",
];
pub(crate) const LAST: [&str; 40] = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Ritchie",
    "Liskov",
    "Thompson",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Knuth",
    "Lamarr",
    "Wirth",
    "Jones",
    "Stroustrup",
    "Wilson",
    "Rossum",
    "Borg",
    "Gosling",
    "Keller",
    "McCarthy",
    "Conway",
    "Berners",
    "Clarke",
    "Cerf",
    "Goldberg",
    "Kernighan",
    "Bartik",
    "Pike",
    "Goldwasser",
    "Lamport",
    "Bilas",
    "Lampson",
    "Meyer",
    "Matsumoto",
    "Sutherland",
    "Klawe",
    "Haddad",
    "Raman",
];
const PROJECT_NAMES: [&str; 6] = [
    "Codex CLI",
    "Default project",
    "Data Platform",
    "Support Assistant",
    "Internal Tools",
    "Legacy Prototype",
];
const KEY_NAMES: [&str; 8] = [
    "codex-cli",
    "laptop",
    "codex-ide",
    "ci-runner",
    "dev",
    "notebook",
    "staging",
    "scratch",
];
const SVC_NAMES: [&str; 6] = [
    "codex-ci",
    "nightly-review-bot",
    "pr-autofix",
    "batch-summarizer",
    "support-triage",
    "eval-runner",
];

pub(crate) struct User {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: &'static str,
    pub added_at: i64,
}

pub(crate) struct Project {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub archived_at: Option<i64>,
}

pub(crate) enum Owner {
    User(u32),
    Service {
        id: String,
        name: String,
        created_at: i64,
    },
}

pub(crate) struct ApiKey {
    pub id: String,
    pub name: String,
    pub redacted: String,
    pub created_at: i64,
    pub project: u32,
    pub owner: Owner,
}

pub(crate) struct AdminKey {
    pub id: String,
    pub name: String,
    pub redacted: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub owner_user: u32,
}

/// One usage row: a key's use of a model within one hour of one day.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Row {
    pub hour: u8,
    pub model: u8,
    pub key: u32,
    pub input: u64,
    pub cached: u64,
    pub output: u64,
    pub requests: u64,
}

/// The static part of the dataset (directory).
pub(crate) struct Org {
    pub seed: u64,
    pub users: Vec<User>,
    pub projects: Vec<Project>,
    pub keys: Vec<ApiKey>,
    pub admin_keys: Vec<AdminKey>,
    /// user index of each key (None = service account).
    pub key_user: Vec<Option<u32>>,
    pub user_keys: Vec<Vec<u32>>,
    pub svc_keys: Vec<u32>,
    /// Day number (days since epoch) of the first and last ("today") day of usage.
    pub first_day: i64,
    pub today: i64,
    /// Rows of today's bucket only use hours `0..=hour_limit` (all before "now").
    pub hour_limit: u8,
    pub project_index: HashMap<String, u32>,
    pub user_index: HashMap<String, u32>,
    pub key_index: HashMap<String, u32>,
}

/// The mutable part: usage rows by day.
pub(crate) struct Usage {
    /// `days[i]` holds rows of day `first_day + i`.
    pub days: Vec<Vec<Row>>,
    pub last_used: Vec<Option<i64>>,
    pub advances: u64,
}

impl Org {
    pub(crate) fn key_usable_on(&self, key: u32, day: i64) -> bool {
        let p = &self.projects[self.keys[key as usize].project as usize];
        match p.archived_at {
            Some(a) => (day + 1) * DAY <= a,
            None => true,
        }
    }

    fn gen_row(&self, rng: &mut SplitMix64, key: u32, day: i64) -> Row {
        let codex = self.keys[key as usize].project == 0;
        let model = rng.weighted(if codex {
            &CODEX_WEIGHTS
        } else {
            &OTHER_WEIGHTS
        }) as u8;
        let mut hour = rng.below(24) as u8;
        if day == self.today {
            hour %= self.hour_limit + 1;
        }
        let f = rng.f64();
        let input = 500 + (f * f * 399_500.0) as u64;
        let cached = input * rng.below(91) / 100;
        let output = input * rng.range(2, 30) / 100 + rng.below(2_000);
        let requests = 1 + input / rng.range(2_000, 20_000);
        Row {
            hour,
            model,
            key,
            input,
            cached,
            output,
            requests,
        }
    }

    fn gen_day(&self, day: i64) -> Vec<Row> {
        let mut rng = SplitMix64::derive(self.seed, 0xDA7, day as u64);
        let mut rows = Vec::new();
        let mut usable = Vec::new();
        for keys in &self.user_keys {
            let active = rng.chance(0.6);
            let n = rng.range(1, 3);
            usable.clear();
            usable.extend(keys.iter().copied().filter(|&k| self.key_usable_on(k, day)));
            if !active || usable.is_empty() {
                continue;
            }
            for _ in 0..n {
                let k = usable[rng.below(usable.len() as u64) as usize];
                rows.push(self.gen_row(&mut rng, k, day));
            }
        }
        for &k in &self.svc_keys {
            let active = rng.chance(0.7);
            let n = rng.range(1, 2);
            if !active || !self.key_usable_on(k, day) {
                continue;
            }
            for _ in 0..n {
                rows.push(self.gen_row(&mut rng, k, day));
            }
        }
        rows.sort_by_key(|r| r.hour);
        rows
    }

    pub(crate) fn redacted_key(rng: &mut SplitMix64, prefix: &str) -> String {
        format!("{prefix}...{}", rng.alnum(4))
    }
}

pub(crate) fn default_admin_key(seed: u64) -> String {
    let mut rng = SplitMix64::derive(seed, 0xAD31, 0);
    format!("sk-admin-{}", rng.alnum(40))
}

/// Build the organisation and its usage. `now` decides which UTC day is "today".
pub(crate) fn generate(cfg: &MockConfig, now: i64) -> (Org, Usage) {
    let seed = cfg.seed;
    // The newest row must lie strictly before `now` so `end_time=now` (exclusive) sees it.
    let last_instant = now - 1;
    let today = last_instant.div_euclid(DAY);
    let hour_limit = (last_instant.rem_euclid(DAY) / 3600) as u8;
    let days = cfg.days.max(1) as i64;
    let first_day = today - days + 1;
    let window_start = first_day * DAY;

    // Users.
    let mut rng = SplitMix64::derive(seed, 0x05E5, 0);
    let mut users = Vec::with_capacity(cfg.users);
    let mut seen_ids = HashSet::new();
    let mut seen_emails = HashSet::new();
    for i in 0..cfg.users {
        let id = loop {
            let id = format!("user-{}", rng.alnum(16));
            if seen_ids.insert(id.clone()) {
                break id;
            }
        };
        let mut pick = None;
        for _ in 0..20 {
            let f = FIRST[rng.below(FIRST.len() as u64) as usize];
            let l = LAST[rng.below(LAST.len() as u64) as usize];
            let email = format!("{}.{}@example.com", f.to_lowercase(), l.to_lowercase());
            if !seen_emails.contains(&email) {
                pick = Some((f, l, email));
                break;
            }
        }
        let (f, l, email) = match pick {
            Some(p) => p,
            None => {
                let f = FIRST[i % FIRST.len()];
                let l = LAST[(i / FIRST.len()) % LAST.len()];
                let mut n = 2;
                loop {
                    let e = format!("{}.{}{n}@example.com", f.to_lowercase(), l.to_lowercase());
                    if !seen_emails.contains(&e) {
                        break (f, l, e);
                    }
                    n += 1;
                }
            }
        };
        seen_emails.insert(email.clone());
        let role = if i == 0 || rng.chance(0.08) {
            "owner"
        } else {
            "reader"
        };
        let added_at = window_start - rng.range(DAY as u64, 800 * DAY as u64) as i64;
        users.push(User {
            id,
            name: format!("{f} {l}"),
            email,
            role,
            added_at,
        });
    }

    // Projects: index 0 is the Codex project; the last one (if more than one) is archived.
    let n_projects = cfg.projects.max(1);
    let mut rng = SplitMix64::derive(seed, 0x960, 0);
    let mut projects = Vec::with_capacity(n_projects);
    for i in 0..n_projects {
        let name = PROJECT_NAMES
            .get(i)
            .map(|s| s.to_string())
            .unwrap_or_else(|| format!("Project {}", i + 1));
        let created_at = window_start - rng.range(100 * DAY as u64, 600 * DAY as u64) as i64;
        let archived_at = if n_projects >= 2 && i == n_projects - 1 {
            // Archived a dozen days before today (partway through the usage window).
            Some(today * DAY - 12 * DAY + rng.below(DAY as u64) as i64)
        } else {
            None
        };
        projects.push(Project {
            id: format!("proj_{}", rng.alnum(24)),
            name,
            created_at,
            archived_at,
        });
    }

    // API keys.
    let mut rng = SplitMix64::derive(seed, 0x6E75, 0);
    let mut keys = Vec::new();
    let mut key_user = Vec::new();
    let mut user_keys = vec![Vec::new(); users.len()];
    let mut svc_keys = Vec::new();
    for (ui, u) in users.iter().enumerate() {
        let n = if rng.chance(0.08) { 0 } else { rng.range(1, 3) };
        for _ in 0..n {
            let project = if rng.chance(0.55) {
                0
            } else {
                rng.below(n_projects as u64) as u32
            };
            let created_at = u.added_at.max(projects[project as usize].created_at)
                + rng.below((window_start - u.added_at).max(1) as u64 / 2) as i64;
            let idx = keys.len() as u32;
            keys.push(ApiKey {
                id: format!("key_{}", rng.alnum(16)),
                name: KEY_NAMES[rng.below(KEY_NAMES.len() as u64) as usize].to_string(),
                redacted: Org::redacted_key(&mut rng, "sk-proj-"),
                created_at: created_at.min(window_start - DAY),
                project,
                owner: Owner::User(ui as u32),
            });
            key_user.push(Some(ui as u32));
            user_keys[ui].push(idx);
        }
    }
    let n_svc = 2 + cfg.users / 50;
    for i in 0..n_svc {
        let project = if i == 0 {
            0
        } else {
            rng.below(n_projects as u64) as u32
        };
        let created_at =
            projects[project as usize].created_at + rng.range(DAY as u64, 60 * DAY as u64) as i64;
        let base = SVC_NAMES[i % SVC_NAMES.len()];
        let name = if i < SVC_NAMES.len() {
            base.to_string()
        } else {
            format!("{base}-{}", i / SVC_NAMES.len() + 1)
        };
        let idx = keys.len() as u32;
        keys.push(ApiKey {
            id: format!("key_{}", rng.alnum(16)),
            name: format!("{name} key"),
            redacted: Org::redacted_key(&mut rng, "sk-svcacct-"),
            created_at,
            project,
            owner: Owner::Service {
                id: format!("svc_acct_{}", rng.alnum(16)),
                name,
                created_at,
            },
        });
        key_user.push(None);
        svc_keys.push(idx);
    }

    // Admin keys (their secrets are never derived into anything served).
    let mut rng = SplitMix64::derive(seed, 0xAD, 1);
    let admin_keys = ["Usage importer", "Directory sync", "Finance export"]
        .iter()
        .enumerate()
        .map(|(i, name)| AdminKey {
            id: format!("key_{}", rng.alnum(16)),
            name: name.to_string(),
            redacted: Org::redacted_key(&mut rng, "sk-admin-"),
            created_at: window_start - (50 - 10 * i as i64) * DAY,
            last_used_at: today * DAY,
            owner_user: 0,
        })
        .collect();

    let project_index = projects
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.clone(), i as u32))
        .collect();
    let user_index = users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.id.clone(), i as u32))
        .collect();
    let key_index = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.id.clone(), i as u32))
        .collect();

    let org = Org {
        seed,
        users,
        projects,
        keys,
        admin_keys,
        key_user,
        user_keys,
        svc_keys,
        first_day,
        today,
        hour_limit,
        project_index,
        user_index,
        key_index,
    };

    let days_rows: Vec<Vec<Row>> = (first_day..=today).map(|d| org.gen_day(d)).collect();
    let mut usage = Usage {
        days: days_rows,
        last_used: vec![None; org.keys.len()],
        advances: 0,
    };
    for (i, rows) in usage.days.iter().enumerate() {
        let day = first_day + i as i64;
        for r in rows {
            let t = day * DAY + r.hour as i64 * 3600 + 1800;
            let lu = &mut usage.last_used[r.key as usize];
            *lu = Some(lu.map_or(t, |x| x.max(t)));
        }
    }
    (org, usage)
}

impl Usage {
    /// Grow today's bucket: `extra_rows` new rows plus more tokens on some existing rows.
    pub(crate) fn advance(&mut self, org: &Org, extra_rows: usize) {
        self.advances += 1;
        let mut rng = SplitMix64::derive(org.seed, 0xADF, self.advances);
        let day = org.today;
        let usable: Vec<u32> = (0..org.keys.len() as u32)
            .filter(|&k| org.key_usable_on(k, day))
            .collect();
        let rows = self.days.last_mut().expect("at least one day");
        let grow = if rows.is_empty() {
            0
        } else {
            (rows.len() / 4).max(1)
        };
        for _ in 0..grow {
            let i = rng.below(rows.len() as u64) as usize;
            let r = &mut rows[i];
            let add = rng.range(1_000, 50_000);
            r.input += add;
            r.cached += add * rng.below(91) / 100;
            r.output += add * rng.range(2, 30) / 100;
            r.requests += rng.range(1, 10);
        }
        if !usable.is_empty() {
            for _ in 0..extra_rows {
                let k = usable[rng.below(usable.len() as u64) as usize];
                rows.push(org.gen_row(&mut rng, k, day));
            }
        }
        rows.sort_by_key(|r| r.hour);
        for r in rows.iter() {
            let t = day * DAY + r.hour as i64 * 3600 + 1800;
            let lu = &mut self.last_used[r.key as usize];
            *lu = Some(lu.map_or(t, |x| x.max(t)));
        }
    }

    pub(crate) fn row_count(&self) -> usize {
        self.days.iter().map(Vec::len).sum()
    }

    pub(crate) fn totals(&self) -> UsageTotals {
        let mut t = UsageTotals::default();
        for r in self.days.iter().flatten() {
            t.input_tokens += r.input;
            t.cached_input_tokens += r.cached;
            t.output_tokens += r.output;
            t.requests += r.requests;
        }
        t
    }

    pub(crate) fn ground_truth(&self, org: &Org) -> GroundTruth {
        let mut agg: BTreeMap<(i64, u32, u8), [u64; 4]> = BTreeMap::new();
        for (i, rows) in self.days.iter().enumerate() {
            let day = org.first_day + i as i64;
            for r in rows {
                let e = agg.entry((day, r.key, r.model)).or_default();
                e[0] += r.input;
                e[1] += r.cached;
                e[2] += r.output;
                e[3] += r.requests;
            }
        }
        let mut out: Vec<TruthRow> = agg
            .into_iter()
            .map(|((day, key, model), s)| {
                let k = &org.keys[key as usize];
                let user = org.key_user[key as usize].map(|u| &org.users[u as usize]);
                TruthRow {
                    day: day_string(day),
                    user_id: user.map(|u| u.id.clone()),
                    user_email: user.map(|u| u.email.clone()),
                    api_key_id: k.id.clone(),
                    project_id: org.projects[k.project as usize].id.clone(),
                    model: MODELS[model as usize].to_string(),
                    input_tokens: s[0],
                    cached_input_tokens: s[1],
                    output_tokens: s[2],
                    requests: s[3],
                }
            })
            .collect();
        out.sort_by(|a, b| {
            (&a.day, &a.user_id, &a.model, &a.api_key_id, &a.project_id).cmp(&(
                &b.day,
                &b.user_id,
                &b.model,
                &b.api_key_id,
                &b.project_id,
            ))
        });
        GroundTruth { rows: out }
    }
}
