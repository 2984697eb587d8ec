//! HTTP layer of the Codex Analytics API of the ChatGPT workspace
//! (`/v1/analytics/codex/workspaces/{workspace_id}/…`): authentication, parameters,
//! day / week buckets, row pagination and the rows' shapes and quirks.

use axum::http::{Method, StatusCode};
use serde_json::{json, Map, Value};

use crate::api::{ApiError, Auth};
use crate::tenant::AnalyticsRole;
use crate::truth::Credits;
use crate::util::{mix64, url_decode, Params, DAY};
use crate::workspace::{client_label, quirk_hash, UsageAgg, Workspace, CLIENTS, SPEEDS, WS_MODELS};
use crate::Shared;

pub(crate) const PREFIX: &str = "/v1/analytics/codex";
pub(crate) const SCOPE: &str = "codex.enterprise.analytics.read";
/// How far back `start_time` may reach.
pub(crate) const HORIZON_DAYS: i64 = 90;

/// Is this a Codex Analytics API path (as opposed to the Platform's `/v1/organization/…`)?
pub(crate) fn is_analytics(path: &str) -> bool {
    path.strip_prefix(PREFIX)
        .is_some_and(|r| r.is_empty() || r.starts_with('/'))
}

fn detail(status: StatusCode, msg: &str) -> ApiError {
    ApiError {
        status,
        body: json!({ "detail": msg }),
        refused: false,
    }
}

fn refused(mut e: ApiError) -> ApiError {
    e.refused = true;
    e
}

/// The `{"detail": …}` body a fault status gets on an analytics path.
pub(crate) fn fault_body(status: StatusCode) -> Value {
    let msg = match status.as_u16() {
        429 => "Rate limit exceeded. Please retry later.".to_string(),
        503 => "Service temporarily unavailable.".to_string(),
        s if s >= 500 => "Internal server error.".to_string(),
        _ => status.canonical_reason().unwrap_or("Error").to_string(),
    };
    json!({ "detail": msg })
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Endpoint {
    Usage = 0,
    CodeReviews = 1,
    Responses = 2,
}

pub(crate) fn dispatch(
    shared: &Shared,
    auth: &Auth,
    method: &Method,
    path: &str,
    query: &str,
) -> Result<Vec<u8>, ApiError> {
    // Only an analytics key opens these endpoints, and only its organization's workspace.
    let org = match auth {
        Auth::Missing => {
            return Err(refused(detail(
                StatusCode::UNAUTHORIZED,
                "Not authenticated",
            )))
        }
        Auth::Other(_) => return Err(refused(detail(StatusCode::UNAUTHORIZED, "Invalid API key"))),
        Auth::Token(_, roles) => match roles.and_then(|r| r.analytics.map(|a| (r.org, a))) {
            Some((org, AnalyticsRole::Read)) => org as usize,
            Some((_, AnalyticsRole::NoScope)) => {
                return Err(refused(detail(
                    StatusCode::FORBIDDEN,
                    &format!("Missing scope: {SCOPE}"),
                )))
            }
            None => return Err(refused(detail(StatusCode::UNAUTHORIZED, "Invalid API key"))),
        },
    };
    let tenant = shared.tenant(org);
    let cfg = &tenant.config;
    let rest = path
        .strip_prefix(PREFIX)
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or("");
    let segs: Vec<&str> = rest.split('/').collect();
    let (ws_id, ep) = match segs.as_slice() {
        ["workspaces", id, "usage"] => (*id, Endpoint::Usage),
        ["workspaces", id, "code_reviews"] => (*id, Endpoint::CodeReviews),
        ["workspaces", id, "code_review_responses"] => (*id, Endpoint::Responses),
        _ => return Err(detail(StatusCode::NOT_FOUND, "Not Found")),
    };
    if method != Method::GET {
        return Err(detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"));
    }
    if ws_id.is_empty() || !url_decode(ws_id).eq_ignore_ascii_case(&cfg.workspace_id) {
        return Err(detail(StatusCode::NOT_FOUND, "Workspace not found"));
    }
    let params = Params::parse(query);
    let q = validate(&params, shared.now(), cfg.seed, ep)?;
    let ws = tenant.workspace().read().expect("workspace lock");
    page(&ws, cfg.seed, ep, &q, cfg.cursor_field_next_cursor)
}

struct Query {
    start: i64,
    end: i64,
    week: bool,
    limit: usize,
    /// (bucket start day, person index) of the first row to serve.
    cursor: Option<(i64, u32)>,
}

fn loc_err(loc: &str, msg: &str, ty: &str) -> Value {
    json!({"loc": ["query", loc], "msg": msg, "type": ty})
}

fn unprocessable(errors: Vec<Value>) -> ApiError {
    ApiError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        body: json!({ "detail": errors }),
        refused: false,
    }
}

fn int_param(params: &Params, name: &str, errs: &mut Vec<Value>) -> Option<Option<i64>> {
    match params.get(name) {
        None => Some(None),
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) => Some(Some(n)),
            Err(_) => {
                errs.push(loc_err(
                    name,
                    "Input should be a valid integer, unable to parse string as an integer",
                    "int_parsing",
                ));
                None
            }
        },
    }
}

/// Cursor: the row key (kind, bucket day, person) packed into 64 bits, scrambled with a
/// seeded checksum of itself: `hex(v ^ mix(check)) ++ hex(check)`.
fn encode_cursor(seed: u64, kind: u64, bucket_day: i64, person: u32) -> String {
    let v = (kind << 56) | ((bucket_day as u32 as u64) << 24) | (person as u64 & 0xFF_FFFF);
    let check = mix64(v ^ seed ^ 0xC0D3) as u32;
    let scrambled = v ^ mix64(check as u64 ^ seed ^ 0xBB67_AE85_84CA_A73B);
    format!("{scrambled:016x}{check:08x}")
}

fn decode_cursor(seed: u64, s: &str) -> Option<(u64, i64, u32)> {
    if s.len() != 24 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let scrambled = u64::from_str_radix(&s[..16], 16).ok()?;
    let check = u32::from_str_radix(&s[16..], 16).ok()?;
    let v = scrambled ^ mix64(check as u64 ^ seed ^ 0xBB67_AE85_84CA_A73B);
    (mix64(v ^ seed ^ 0xC0D3) as u32 == check).then_some((
        v >> 56,
        ((v >> 24) & 0xFFFF_FFFF) as u32 as i64,
        (v & 0xFF_FFFF) as u32,
    ))
}

fn kind(ep: Endpoint, week: bool) -> u64 {
    ep as u64 * 2 + u64::from(week)
}

/// Monday (day number) of the UTC week holding `day` (1970-01-01 was a Thursday).
fn monday(day: i64) -> i64 {
    day - (day + 3).rem_euclid(7)
}

fn validate(params: &Params, now: i64, seed: u64, ep: Endpoint) -> Result<Query, ApiError> {
    let mut errs = Vec::new();
    let start = match params.get("start_time") {
        None => {
            errs.push(loc_err("start_time", "Field required", "missing"));
            None
        }
        Some(_) => int_param(params, "start_time", &mut errs).flatten(),
    };
    let end = int_param(params, "end_time", &mut errs).map(|e| e.unwrap_or(now));
    let week = match params.get("group_by") {
        None | Some("day") => Some(false),
        Some("week") => Some(true),
        Some(_) => {
            errs.push(loc_err(
                "group_by",
                "Input should be 'day' or 'week'",
                "enum",
            ));
            None
        }
    };
    let limit = match int_param(params, "limit", &mut errs) {
        Some(None) => Some(30),
        Some(Some(n)) if n < 1 => {
            errs.push(loc_err(
                "limit",
                "Input should be greater than or equal to 1",
                "greater_than_equal",
            ));
            None
        }
        Some(Some(n)) if n > 100 => {
            errs.push(loc_err(
                "limit",
                "Input should be less than or equal to 100",
                "less_than_equal",
            ));
            None
        }
        Some(Some(n)) => Some(n as usize),
        None => None,
    };
    if let Some(s) = start {
        if s < now - HORIZON_DAYS * DAY {
            errs.push(loc_err(
                "start_time",
                "start_time must be within the last 90 days",
                "value_error",
            ));
        }
    }
    if let (Some(s), Some(e)) = (start, end) {
        if e <= s {
            errs.push(loc_err(
                "end_time",
                "end_time must be greater than start_time",
                "value_error",
            ));
        }
    }
    let mut cursor = None;
    let page = params
        .get("page")
        .filter(|p| !p.is_empty())
        .or_else(|| params.get("cursor").filter(|p| !p.is_empty()));
    if let Some(p) = page {
        let bad = || loc_err("page", "Invalid page cursor", "value_error");
        match (decode_cursor(seed, p), start, end, week) {
            (Some((k, b, person)), Some(s), Some(e), Some(w)) => {
                let first = if w {
                    monday(s.div_euclid(DAY))
                } else {
                    s.div_euclid(DAY)
                };
                let width = if w { 7 } else { 1 };
                if k == kind(ep, w) && b >= first && (b - first) % width == 0 && b * DAY < e {
                    cursor = Some((b, person));
                } else {
                    errs.push(bad());
                }
            }
            (None, ..) => errs.push(bad()),
            _ => {}
        }
    }
    if !errs.is_empty() {
        return Err(unprocessable(errs));
    }
    Ok(Query {
        start: start.expect("validated"),
        end: end.expect("validated"),
        week: week.expect("validated"),
        limit: limit.expect("validated"),
        cursor,
    })
}

fn credits(q: u64) -> Value {
    json!(Credits::from_quarters(q).as_f64())
}

fn person_fields(ws: &Workspace, m: &mut Map<String, Value>, person: u32, email_key: &str) {
    let p = &ws.people[person as usize];
    m.insert("user_id".into(), json!(p.user_id));
    m.insert(email_key.into(), json!(p.email));
}

fn usage_row(ws: &Workspace, h: u64, person: u32, a: &UsageAgg) -> Map<String, Value> {
    let mut m = Map::new();
    // Some rows name the email `user_email`.
    person_fields(
        ws,
        &mut m,
        person,
        if h % 100 < 15 { "user_email" } else { "email" },
    );
    // Some rows carry fields this project does not know (never numbers: they must not
    // count as tokens or credits).
    let extra = (h >> 8) % 100 < 12;
    m.insert("threads".into(), json!(a.threads));
    m.insert("turns".into(), json!(a.turns));
    m.insert("credits".into(), credits(a.credits));
    let clients: Vec<Value> = a
        .clients
        .iter()
        .map(|(&c, s)| {
            let mut cm = json!({
                "client_id": CLIENTS[c as usize],
                "threads": s[0],
                "turns": s[1],
                "credits": credits(s[2]),
            });
            if extra {
                cm["display_name"] = json!(client_label(c));
            }
            cm
        })
        .collect();
    m.insert("clients".into(), Value::Array(clients));
    let models: Vec<Value> = a
        .models
        .iter()
        .map(|(&(model, speed), s)| {
            let mut mm = json!({
                "model": WS_MODELS[model as usize],
                "speed": SPEEDS[speed as usize],
                "credits": credits(s[0]),
                "text_input_tokens": s[1],
                "cached_text_input_tokens": s[2],
                "text_output_tokens": s[3],
            });
            if extra {
                mm["reasoning_effort"] = json!(if speed == 1 { "low" } else { "medium" });
            }
            mm
        })
        .collect();
    m.insert("models".into(), Value::Array(models));
    if extra {
        m.insert("seat_type".into(), json!("enterprise"));
        m.insert(
            "x_rollup".into(),
            json!({"source": "codex-analytics", "partial": false, "tags": ["beta"]}),
        );
    }
    m
}

fn page(
    ws: &Workspace,
    seed: u64,
    ep: Endpoint,
    q: &Query,
    next_cursor_field: bool,
) -> Result<Vec<u8>, ApiError> {
    let width = if q.week { 7 } else { 1 };
    let align = |d: i64| if q.week { monday(d) } else { d };
    let mut b = align(q.start.div_euclid(DAY));
    // Jump over buckets that end before the data starts.
    if b + width - 1 < ws.first_day {
        b += (ws.first_day - (b + width - 1) + width - 1) / width * width;
    }
    if let Some((cb, _)) = q.cursor {
        b = b.max(cb);
    }
    let k = kind(ep, q.week);
    let mut data: Vec<Value> = Vec::with_capacity(q.limit);
    let mut next: Option<(i64, u32)> = None;
    'buckets: while b * DAY < q.end && b <= ws.today {
        let (d0, d1) = (b, b + width - 1);
        let skip_below = match q.cursor {
            Some((cb, cp)) if cb == b => cp,
            _ => 0,
        };
        let mut rows: Vec<(u32, Map<String, Value>)> = Vec::new();
        match ep {
            Endpoint::Usage => {
                for (person, a) in ws.usage_between(d0, d1).range(skip_below..) {
                    let h = quirk_hash(seed, k, b, *person);
                    rows.push((*person, usage_row(ws, h, *person, a)));
                    if rows.len() > q.limit {
                        break;
                    }
                }
            }
            Endpoint::CodeReviews => {
                for (person, r) in ws.reviews_between(d0, d1).range(skip_below..) {
                    let h = quirk_hash(seed, k, b, *person);
                    let mut m = Map::new();
                    person_fields(ws, &mut m, *person, "email");
                    m.insert("prs_reviewed".into(), json!(r.prs_reviewed));
                    m.insert("comments_generated".into(), json!(r.comments));
                    m.insert(
                        "comments_by_priority".into(),
                        json!({"P0": r.priority[0], "P1": r.priority[1], "P2": r.priority[2]}),
                    );
                    if (h >> 8) % 100 < 10 {
                        m.insert("review_surface".into(), json!("github"));
                    }
                    rows.push((*person, m));
                    if rows.len() > q.limit {
                        break;
                    }
                }
            }
            Endpoint::Responses => {
                for (person, r) in ws.responses_between(d0, d1).range(skip_below..) {
                    let h = quirk_hash(seed, k, b, *person);
                    let mut m = Map::new();
                    person_fields(ws, &mut m, *person, "email");
                    m.insert("replies".into(), json!(r.replies));
                    m.insert(
                        "reactions".into(),
                        json!({
                            "positive": r.reactions[0],
                            "negative": r.reactions[1],
                            "other": r.reactions[2],
                        }),
                    );
                    m.insert("comments_with_reply".into(), json!(r.comments_with_reply));
                    m.insert(
                        "comments_with_reaction".into(),
                        json!(r.comments_with_reaction),
                    );
                    if (h >> 8) % 100 < 10 {
                        m.insert("channel".into(), json!("github"));
                    }
                    rows.push((*person, m));
                    if rows.len() > q.limit {
                        break;
                    }
                }
            }
        }
        for (person, mut m) in rows {
            if data.len() == q.limit {
                next = Some((b, person));
                break 'buckets;
            }
            m.insert("start_time".into(), json!(b * DAY));
            m.insert("end_time".into(), json!((b + width) * DAY));
            data.push(Value::Object(m));
        }
        b += width;
    }
    let mut env = Map::new();
    env.insert("data".into(), Value::Array(data));
    env.insert("has_more".into(), json!(next.is_some()));
    env.insert(
        if next_cursor_field {
            "next_cursor"
        } else {
            "next_page"
        }
        .into(),
        next.map_or(Value::Null, |(b, p)| json!(encode_cursor(seed, k, b, p))),
    );
    Ok(serde_json::to_vec(&Value::Object(env)).expect("serialize analytics page"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_tamper() {
        let c = encode_cursor(7, 3, 20_454, 12);
        assert_eq!(decode_cursor(7, &c), Some((3, 20_454, 12)));
        assert_eq!(decode_cursor(8, &c), None);
        let mut t = c.clone().into_bytes();
        t[3] = if t[3] == b'0' { b'1' } else { b'0' };
        assert_eq!(decode_cursor(7, std::str::from_utf8(&t).unwrap()), None);
    }

    #[test]
    fn mondays() {
        // 2026-01-01 (day 20454) is a Thursday; its week starts on 2025-12-29 (20451).
        assert_eq!(monday(20_454), 20_451);
        assert_eq!(monday(20_451), 20_451);
        assert_eq!(monday(20_457), 20_451);
        assert_eq!(monday(20_458), 20_458);
        assert!(is_analytics("/v1/analytics/codex/workspaces/x/usage"));
        assert!(!is_analytics("/v1/analytics/codexx"));
        assert!(!is_analytics("/v1/organization/users"));
    }
}
