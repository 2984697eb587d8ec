//! Generated and mutated provider bodies for robustness tests (native builds only): valid
//! seed pages of every stream, structural mutations that keep them almost-valid, and raw
//! byte mutations that do not. Deterministic from a seed, so a failure can be replayed.

/// splitmix64: small, fast, good enough to drive mutations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A valid page of each stream, as the provider sends it.
pub fn seeds() -> Vec<(&'static str, String)> {
    let result = |user: &str, key: &str, model: &str, n: u64| {
        format!(
            r#"{{"object":"organization.usage.completions.result","input_tokens":{},"output_tokens":{},"num_model_requests":{},"input_cached_tokens":{},"input_audio_tokens":0,"output_audio_tokens":0,"project_id":"proj_abc","user_id":{},"api_key_id":"{key}","model":"{model}","batch":null,"service_tier":null}}"#,
            n * 1000,
            n * 100,
            n,
            n * 10,
            if user.is_empty() {
                "null".to_string()
            } else {
                format!("\"{user}\"")
            }
        )
    };
    let bucket = |start: i64, results: &[String], field: &str| {
        format!(
            r#"{{"object":"bucket","start_time":{start},"end_time":{},"{field}":[{}]}}"#,
            start + 86_400,
            results.join(",")
        )
    };
    let usage = format!(
        r#"{{"object":"page","data":[{},{},{}],"has_more":true,"next_page":"page_AAEC"}}"#,
        bucket(
            1_730_419_200,
            &[
                result("user-1", "key_a", "gpt-5-codex", 3),
                result("", "key_svc", "gpt-5.4", 7)
            ],
            "results"
        ),
        bucket(
            1_730_505_600,
            &[result("user-2", "key_b", "codex-mini-latest", 1)],
            "result"
        ),
        bucket(1_730_592_000, &[], "results"),
    );
    let users = r#"{"object":"list","data":[{"object":"organization.user","id":"user-1","name":"Ada Lovelace","email":"ada@example.com","role":"owner","added_at":1711471533},{"object":"organization.user","id":"user-2","name":"Alan","email":"alan@example.com","role":"reader","added_at":1711471534}],"first_id":"user-1","last_id":"user-2","has_more":false}"#;
    let projects = r#"{"object":"list","data":[{"id":"proj_abc","object":"organization.project","name":"Codex CLI","created_at":1711471533,"archived_at":null,"status":"active"}],"first_id":"proj_abc","last_id":"proj_abc","has_more":true}"#;
    let keys = r#"{"object":"list","data":[{"object":"organization.project.api_key","redacted_value":"sk-abc...def","name":"ci","created_at":1711471533,"last_used_at":1711471534,"id":"key_a","owner":{"type":"user","user":{"object":"organization.user","id":"user-1","name":"Ada","email":"ada@example.com","role":"owner","added_at":1711471533}}},{"object":"organization.project.api_key","id":"key_svc","name":"bot","owner":{"type":"service_account","service_account":{"id":"svc_1","name":"bot","role":"member","created_at":1}}}],"first_id":"key_a","last_id":"key_svc","has_more":false}"#;
    // The Codex Analytics API, as the mock serves it: `user_email` on some rows, an empty
    // `clients` list, a client id outside the documented set, unknown fields (never
    // numbers) on rows and entries, and the cursor under either name.
    let workspace_usage = r#"{"data":[{"user_id":"cgpt-user-AbCdEfGhIjKlMnOpQrSt","email":"Ada.Lovelace@Example.com","threads":3,"turns":17,"credits":12.5,"clients":[{"client_id":"CODEX_CLI","threads":2,"turns":10,"credits":8.0},{"client_id":"CODEX_FUTURE_SURFACE","threads":1,"turns":7,"credits":4.5,"display_name":"Something new"}],"models":[{"model":"gpt-5.3-codex","speed":"standard","credits":12.25,"text_input_tokens":1200,"cached_text_input_tokens":300,"text_output_tokens":450},{"model":"gpt-5.4","speed":"fast","credits":0.25,"text_input_tokens":10,"cached_text_input_tokens":0,"text_output_tokens":4,"reasoning_effort":"low"}],"seat_type":"enterprise","x_rollup":{"source":"codex-analytics","partial":false,"tags":["beta"]},"start_time":1730419200,"end_time":1730505600},{"user_id":"cgpt-user-2","user_email":"GRACE.HOPPER@example.com","threads":2,"turns":5,"credits":3,"clients":[],"models":[{"model":"gpt-5-codex","speed":"standard","credits":3,"text_input_tokens":900,"cached_text_input_tokens":100,"text_output_tokens":90}],"start_time":1730419200,"end_time":1730505600},{"user_id":"cgpt-user-3","email":"c@example.com","threads":1,"turns":2,"credits":1.75,"clients":[{"client_id":"CODEX_WORK_MOBILE","threads":1,"turns":2,"credits":1.75}],"models":[{"model":"gpt-5.5","speed":"standard","credits":1.75,"text_input_tokens":4000,"cached_text_input_tokens":1000,"text_output_tokens":800}],"start_time":1729987200,"end_time":1730592000}],"has_more":true,"next_page":"0123456789abcdef01234567"}"#;
    let code_reviews = r#"{"data":[{"user_id":"cgpt-user-1","email":"Ada.Lovelace@Example.com","prs_reviewed":3,"comments_generated":5,"comments_by_priority":{"P0":1,"P1":1,"P2":3},"start_time":1730419200,"end_time":1730505600},{"user_id":"cgpt-user-2","email":"b@example.com","prs_reviewed":1,"comments_generated":0,"comments_by_priority":{"P0":0,"P1":0,"P2":0},"review_surface":"github","start_time":1730419200,"end_time":1730505600}],"has_more":false,"next_cursor":null}"#;
    let code_review_responses = r#"{"data":[{"user_id":"cgpt-user-1","email":"Ada.Lovelace@Example.com","replies":2,"reactions":{"positive":3,"negative":1,"other":0},"comments_with_reply":2,"comments_with_reaction":3,"channel":"github","start_time":1730419200,"end_time":1730505600}],"has_more":true,"next_cursor":"fedcba9876543210fedcba98"}"#;
    vec![
        ("usage", usage),
        ("users", users.to_string()),
        ("projects", projects.to_string()),
        ("api_keys", keys.to_string()),
        ("workspace_usage", workspace_usage.to_string()),
        ("code_reviews", code_reviews.to_string()),
        ("code_review_responses", code_review_responses.to_string()),
        (
            "workspace_usage",
            r#"{"detail":[{"loc":["query","start_time"],"msg":"start_time must be within the last 90 days","type":"value_error"}]}"#.to_string(),
        ),
        (
            "code_reviews",
            r#"{"detail":"Missing scope: codex.enterprise.analytics.read"}"#.to_string(),
        ),
        (
            "usage",
            r#"{"error":{"message":"boom","type":"server_error"}}"#.to_string(),
        ),
        (
            "users",
            r#"{"error":"You have insufficient permissions for this operation."}"#.to_string(),
        ),
    ]
}

const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1e999",
    "-0",
    "1.5",
    "18446744073709551616",
    "9223372036854775807",
    "-9223372036854775809",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"result\"",
    "\"results\"",
    "\"data\"",
    "\"has_more\"",
    "\"next_page\"",
    "\"end_time\"",
    "\"input_tokens\"",
    "\"clients\"",
    "\"models\"",
    "\"credits\"",
    "\"next_cursor\"",
    "\"user_email\"",
    "\"detail\"",
    "\"start_time\"",
    "\"comments_by_priority\"",
    "{\"P0\":1}",
    "12.25",
    "{\"a\":{\"b\":{\"c\":[]}}}",
    "\"é漢🙂\"",
    "\u{feff}",
    "\\",
    "\n",
    "NaN",
    "Infinity",
];

/// One mutation of `body`; always returns valid UTF-8.
pub fn mutate(rng: &mut Rng, body: &str) -> String {
    let b = body.as_bytes();
    let at = |rng: &mut Rng| {
        let mut i = rng.below(b.len() + 1);
        while i < b.len() && !body.is_char_boundary(i) {
            i += 1;
        }
        i
    };
    match rng.below(12) {
        // truncate
        0 => body[..at(rng)].to_string(),
        // insert a JSON-ish token
        1 | 2 => {
            let i = at(rng);
            format!("{}{}{}", &body[..i], rng.pick(TOKENS), &body[i..])
        }
        // delete a span
        3 => {
            let i = at(rng);
            let mut j = (i + rng.below(40)).min(b.len());
            while j < b.len() && !body.is_char_boundary(j) {
                j += 1;
            }
            format!("{}{}", &body[..i], &body[j..])
        }
        // duplicate a span (grows arrays and objects)
        4 => {
            let i = at(rng);
            let mut j = (i + rng.below(400)).min(b.len());
            while j < b.len() && !body.is_char_boundary(j) {
                j += 1;
            }
            format!("{}{}{}", &body[..j], &body[i..j], &body[j..])
        }
        // flip one ASCII byte to another printable one
        5 => {
            let mut v = b.to_vec();
            if !v.is_empty() {
                let i = rng.below(v.len());
                if v[i].is_ascii() {
                    v[i] = 0x20 + (rng.next_u64() % 95) as u8;
                }
            }
            String::from_utf8(v).unwrap_or_else(|_| body.to_string())
        }
        // numbers become strings, floats, negatives or huge
        6 => {
            let repl = *rng.pick(&[
                "\"12\"",
                "1.5",
                "-3",
                "1e30",
                "null",
                "18446744073709551616",
                "{}",
                "[]",
            ]);
            replace_nth_number(rng, body, repl)
        }
        // field renames the provider might do
        7 => {
            let (from, to) = *rng.pick(&[
                ("\"results\"", "\"result\""),
                ("\"data\"", "\"items\""),
                ("\"start_time\"", "\"start\""),
                ("\"id\"", "\"ID\""),
                ("\"has_more\"", "\"hasMore\""),
                ("\"owner\"", "\"owner_info\""),
                ("\"next_page\"", "\"next_cursor\""),
                ("\"email\"", "\"user_email\""),
                ("\"client_id\"", "\"clientId\""),
                ("\"end_time\"", "\"date\""),
                ("\"reactions\"", "\"reaction\""),
            ]);
            body.replacen(from, to, 1 + rng.below(2))
        }
        // wrap in an extra envelope
        8 => format!("{{\"object\":\"wrapper\",\"response\":{body}}}"),
        // deep nesting, past any parser's recursion limit
        9 => {
            let depth = 1 + rng.below(600);
            let i = at(rng);
            format!(
                "{}{}{}{}",
                &body[..i],
                "[".repeat(depth),
                "]".repeat(depth),
                &body[i..]
            )
        }
        // a field of the wrong type everywhere it occurs
        10 => {
            let with: &&str = rng.pick(&["\"\"", "0", "[]", "{}", "true"]);
            body.replace("null", with)
        }
        // garbage
        _ => (0..rng.below(64)).map(|_| *rng.pick(TOKENS)).collect(),
    }
}

fn replace_nth_number(rng: &mut Rng, body: &str, repl: &str) -> String {
    let starts: Vec<usize> = body
        .char_indices()
        .filter(|(i, c)| c.is_ascii_digit() && (*i == 0 || body.as_bytes()[i - 1] == b':'))
        .map(|(i, _)| i)
        .collect();
    if starts.is_empty() {
        return body.to_string();
    }
    let s = *rng.pick(&starts);
    let e = body[s..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(body.len(), |n| s + n);
    format!("{}{}{}", &body[..s], repl, &body[e..])
}

/// A body for the fuzzers: a mutated seed (1–4 mutations), now and then a pristine one.
pub fn case(rng: &mut Rng, seeds: &[(&'static str, String)]) -> (&'static str, String) {
    let (stream, seed) = rng.pick(seeds);
    let mut body = seed.clone();
    for _ in 0..rng.below(5) {
        body = mutate(rng, &body);
        if body.len() > 256 * 1024 {
            body.truncate(body.floor_char_boundary(256 * 1024));
        }
    }
    let stream = if rng.below(8) == 0 {
        *rng.pick(&[
            "usage",
            "users",
            "projects",
            "api_keys",
            "workspace_usage",
            "code_reviews",
            "code_review_responses",
        ])
    } else {
        stream
    };
    (stream, body)
}
