//! HTTP layer: authentication, routing, the usage report and the directory lists.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};

use crate::data::{Org, Owner, Usage, MODELS};
use crate::tenant::{KeyRoles, PlatformRole};
use crate::util::{mix64, Params, SplitMix64, DAY};
use crate::{PermissionErrorStyle, RequestRecord, Shared};

const SCOPE_USAGE: &str = "api.usage.read";
const SCOPE_MANAGEMENT: &str = "api.management.read";

/// An error response: status and body.
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
    /// An authentication or permission refusal.
    pub(crate) refused: bool,
}

fn std_error(
    status: StatusCode,
    message: String,
    ty: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> ApiError {
    ApiError {
        status,
        body: json!({"error": {"message": message, "type": ty, "param": param, "code": code}}),
        refused: false,
    }
}

fn refusal(mut e: ApiError) -> ApiError {
    e.refused = true;
    e
}

fn bad_request(message: String, param: &str) -> ApiError {
    std_error(
        StatusCode::BAD_REQUEST,
        message,
        "invalid_request_error",
        Some(param),
        None,
    )
}

enum Caller {
    Missing,
    Unknown(String),
    Admin { usage: bool, management: bool },
    Project,
}

/// The `Authorization` header.
pub(crate) enum Bearer {
    /// No header, or `Bearer` with nothing after it.
    Missing,
    /// Something other than `Bearer <token>`.
    Other(String),
    Token(String),
}

pub(crate) fn bearer(headers: &HeaderMap) -> Bearer {
    let Some(raw) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Bearer::Missing;
    };
    let raw = raw.trim();
    let token = if raw.len() >= 7 && raw[..7].eq_ignore_ascii_case("bearer ") {
        raw[7..].trim()
    } else {
        return Bearer::Other(raw.to_string());
    };
    if token.is_empty() {
        return Bearer::Missing;
    }
    Bearer::Token(token.to_string())
}

/// Who a request's `Authorization` header names.
pub(crate) enum Auth {
    /// No header, or `Bearer` with nothing after it.
    Missing,
    /// Something other than `Bearer <token>`.
    Other(String),
    /// A Bearer token, and what it is when the mock knows it.
    Token(String, Option<KeyRoles>),
}

impl Auth {
    /// The organization the key belongs to, if it is known.
    pub(crate) fn org(&self) -> Option<usize> {
        match self {
            Auth::Token(_, Some(r)) => Some(r.org as usize),
            _ => None,
        }
    }
}

pub(crate) fn authenticate(shared: &Shared, headers: &HeaderMap) -> Auth {
    match bearer(headers) {
        Bearer::Missing => Auth::Missing,
        Bearer::Other(raw) => Auth::Other(raw),
        Bearer::Token(t) => {
            let roles = shared.keys.get(t.as_str()).copied();
            Auth::Token(t, roles)
        }
    }
}

fn identify(auth: &Auth) -> Caller {
    match auth {
        Auth::Missing => Caller::Missing,
        Auth::Other(raw) => Caller::Unknown(raw.clone()),
        Auth::Token(t, roles) => match roles.and_then(|r| r.platform) {
            Some(PlatformRole::Admin { usage, management }) => Caller::Admin { usage, management },
            Some(PlatformRole::Project) => Caller::Project,
            None => Caller::Unknown(t.clone()),
        },
    }
}

/// "sk-admin****abcd": the redacted echo the real API puts into its 401 message.
fn redact(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    if chars.len() <= 12 {
        return "****".to_string()
            + &chars[chars.len().saturating_sub(2)..]
                .iter()
                .collect::<String>();
    }
    let head: String = chars[..8].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

enum Route {
    Usage,
    Users,
    Projects,
    ProjectKeys(String),
    AdminKeys,
}

fn route(method: &Method, path: &str) -> Option<(Route, &'static str)> {
    if method != Method::GET {
        return None;
    }
    let rest = path.strip_prefix("/v1/organization/")?;
    let segs: Vec<&str> = rest.split('/').collect();
    match segs.as_slice() {
        ["usage", "completions"] => Some((Route::Usage, SCOPE_USAGE)),
        ["users"] => Some((Route::Users, SCOPE_MANAGEMENT)),
        ["projects"] => Some((Route::Projects, SCOPE_MANAGEMENT)),
        ["projects", id, "api_keys"] if !id.is_empty() => Some((
            Route::ProjectKeys(crate::util::url_decode(id)),
            SCOPE_MANAGEMENT,
        )),
        ["admin_api_keys"] => Some((Route::AdminKeys, SCOPE_MANAGEMENT)),
        _ => None,
    }
}

/// The mock's real answer to one request, before any fault is applied.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Vec<u8>,
    /// Refused by the authentication or permission checks (401 / 403): faults never apply.
    pub(crate) refused: bool,
    pub(crate) request_id: String,
    /// The organization of the request's key, when the key is known.
    pub(crate) org: Option<usize>,
}

/// Compute the answer to a request (nothing is recorded).
pub(crate) fn answer(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
) -> Answer {
    let n = shared.request_counter.fetch_add(1, Ordering::Relaxed);
    let request_id = format!(
        "req_{}",
        SplitMix64::new(mix64(shared.config().seed ^ 0x5EED) ^ n).hex(32)
    );
    let auth = authenticate(shared, headers);
    let org = auth.org();
    let result = if crate::analytics::is_analytics(path) {
        crate::analytics::dispatch(shared, &auth, method, path, query)
    } else {
        dispatch(shared, &auth, method, path, query)
    };
    match result {
        Ok(body) => Answer {
            status: StatusCode::OK,
            body,
            refused: false,
            request_id,
            org,
        },
        Err(e) => Answer {
            status: e.status,
            body: serde_json::to_vec(&e.body).expect("serialize error"),
            refused: e.refused,
            request_id,
            org,
        },
    }
}

/// Append one served request to the log (built before the lock is taken, so the lock is
/// held only for the push).
pub(crate) fn record(
    shared: &Shared,
    org: Option<usize>,
    method: &Method,
    path: &str,
    query: &str,
    status: u16,
) {
    let rec = RequestRecord {
        method: method.as_str().to_string(),
        path: path.to_string(),
        query: query.to_string(),
        status,
        org,
    };
    shared.requests.lock().expect("requests lock").push(rec);
}

/// The headers every answer carries: `content-type`, `x-request-id` and, on success of a
/// Platform request (`ok`), the `openai-organization` of the key's organization `org`.
pub(crate) fn base_headers(
    shared: &Shared,
    org: Option<usize>,
    request_id: &str,
    ok: bool,
) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-request-id", v);
    }
    if let Some(org) = org.filter(|_| ok) {
        if let Ok(v) = HeaderValue::from_str(&shared.tenant(org).config.organization_id) {
            h.insert("openai-organization", v);
        }
    }
    h
}

/// The error body for a fault answering with `status` on `path`: the standard error object
/// on Platform paths, `{"detail": …}` on Codex Analytics paths.
pub(crate) fn fault_error_body(status: StatusCode, path: &str) -> Vec<u8> {
    if crate::analytics::is_analytics(path) {
        return serde_json::to_vec(&crate::analytics::fault_body(status)).expect("serialize error");
    }
    let (message, ty, code): (String, &str, Option<&str>) = match status.as_u16() {
        429 => (
            "Rate limit reached for requests on this organization. Please try again later."
                .to_string(),
            "rate_limit_exceeded",
            Some("rate_limit_exceeded"),
        ),
        503 => (
            "The server is overloaded or not ready yet.".to_string(),
            "server_error",
            None,
        ),
        s if s >= 500 => (
            "The server had an error while processing your request. Sorry about that!".to_string(),
            "server_error",
            None,
        ),
        _ => (
            format!(
                "The request failed: {}.",
                status.canonical_reason().unwrap_or("error")
            ),
            "invalid_request_error",
            None,
        ),
    };
    serde_json::to_vec(&std_error(status, message, ty, None, code).body).expect("serialize error")
}

fn dispatch(
    shared: &Shared,
    auth: &Auth,
    method: &Method,
    path: &str,
    query: &str,
) -> Result<Vec<u8>, ApiError> {
    let caller = identify(auth);
    let (usage_scope, management_scope) = match caller {
        Caller::Missing => {
            return Err(refusal(std_error(
                StatusCode::UNAUTHORIZED,
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys.".to_string(),
                "invalid_request_error",
                None,
                None,
            )))
        }
        Caller::Unknown(token) => {
            return Err(refusal(std_error(
                StatusCode::UNAUTHORIZED,
                format!(
                    "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
                    redact(&token)
                ),
                "invalid_request_error",
                None,
                Some("invalid_api_key"),
            )))
        }
        Caller::Admin { usage, management } => (usage, management),
        Caller::Project => (false, false),
    };
    // A Platform role implies a known key.
    let tenant = shared.tenant(auth.org().expect("a known key"));
    let Some((route, scope)) = route(method, path) else {
        return Err(std_error(
            StatusCode::NOT_FOUND,
            format!("Invalid URL ({method} {path})"),
            "invalid_request_error",
            None,
            None,
        ));
    };
    let granted = if scope == SCOPE_USAGE {
        usage_scope
    } else {
        management_scope
    };
    if !granted {
        let message = format!(
            "You have insufficient permissions for this operation. Missing scopes: {scope}."
        );
        return Err(refusal(match tenant.config.permission_error_style {
            PermissionErrorStyle::Bare403 => ApiError {
                status: StatusCode::FORBIDDEN,
                body: json!({ "error": message }),
                refused: true,
            },
            PermissionErrorStyle::Object401 => std_error(
                StatusCode::UNAUTHORIZED,
                message,
                "insufficient_permissions",
                None,
                None,
            ),
        }));
    }
    let params = Params::parse(query);
    let org = &tenant.org;
    match route {
        Route::Usage => {
            let usage = tenant.usage.read().expect("usage lock");
            usage_completions(org, &usage, &params, shared.now())
        }
        Route::Users => list_users(org, &params),
        Route::Projects => list_projects(org, &params),
        Route::ProjectKeys(id) => {
            let usage = tenant.usage.read().expect("usage lock");
            list_project_keys(org, &usage, &id, &params)
        }
        Route::AdminKeys => list_admin_keys(org, &params),
    }
}

// ---------------------------------------------------------------------------------------
// Usage report

#[derive(Serialize)]
struct PageOut<'a> {
    object: &'static str,
    data: Vec<BucketOut<'a>>,
    has_more: bool,
    next_page: Option<String>,
}

#[derive(Serialize)]
struct BucketOut<'a> {
    object: &'static str,
    start_time: i64,
    end_time: i64,
    results: Vec<ResultOut<'a>>,
}

#[derive(Serialize)]
struct ResultOut<'a> {
    object: &'static str,
    input_tokens: u64,
    output_tokens: u64,
    input_cached_tokens: u64,
    input_audio_tokens: u64,
    output_audio_tokens: u64,
    num_model_requests: u64,
    project_id: Option<&'a str>,
    user_id: Option<&'a str>,
    api_key_id: Option<&'a str>,
    model: Option<&'a str>,
    batch: Option<bool>,
    service_tier: Option<&'a str>,
}

const CURSOR_MASK: u64 = 0x6A09_E667_F3BC_C908;

fn encode_cursor(seed: u64, bucket_start: i64) -> String {
    let v = bucket_start as u64 ^ CURSOR_MASK;
    let check = mix64(v ^ seed) as u32;
    format!("page_{v:016x}{check:08x}")
}

fn decode_cursor(seed: u64, s: &str) -> Option<i64> {
    let hex = s.strip_prefix("page_")?;
    if hex.len() != 24 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let v = u64::from_str_radix(&hex[..16], 16).ok()?;
    let check = u32::from_str_radix(&hex[16..], 16).ok()?;
    (mix64(v ^ seed) as u32 == check).then_some((v ^ CURSOR_MASK) as i64)
}

fn parse_int(params: &Params, name: &str) -> Result<Option<i64>, ApiError> {
    match params.get(name) {
        None => Ok(None),
        Some(v) => v.trim().parse::<i64>().map(Some).map_err(|_| {
            bad_request(
                format!("Invalid value for '{name}': expected an integer, got '{v}'."),
                name,
            )
        }),
    }
}

/// A filter over entity indices built from ids (unknown ids simply match nothing).
fn index_filter(values: &[&str], index: &HashMap<String, u32>, len: usize) -> Option<Vec<bool>> {
    if values.is_empty() {
        return None;
    }
    let mut f = vec![false; len];
    for v in values {
        if let Some(&i) = index.get(*v) {
            f[i as usize] = true;
        }
    }
    Some(f)
}

const NOT_GROUPED: u32 = u32::MAX;
const NO_USER: u32 = u32::MAX - 1;

fn usage_completions(
    org: &Org,
    usage: &Usage,
    params: &Params,
    now: i64,
) -> Result<Vec<u8>, ApiError> {
    let start = parse_int(params, "start_time")?.ok_or_else(|| {
        bad_request(
            "Missing required parameter: 'start_time'.".to_string(),
            "start_time",
        )
    })?;
    let end = parse_int(params, "end_time")?.unwrap_or(now);
    let (width, default_limit, max_limit) = match params.get("bucket_width").unwrap_or("1d") {
        "1d" => (DAY, 7, 31),
        "1h" => (3600, 24, 168),
        "1m" => (60, 60, 1440),
        other => {
            return Err(bad_request(
                format!("Invalid value for 'bucket_width': '{other}'. Supported values are: '1m', '1h' and '1d'."),
                "bucket_width",
            ))
        }
    };
    let width_name = params.get("bucket_width").unwrap_or("1d");
    let limit = parse_int(params, "limit")?.unwrap_or(default_limit);
    if limit < 1 || limit > max_limit {
        return Err(bad_request(
            format!("Invalid value for 'limit': {limit}. For bucket_width '{width_name}' it must be between 1 and {max_limit}."),
            "limit",
        ));
    }
    for (name, v) in [("start_time", start), ("end_time", end)] {
        if !(0..=100_000_000_000).contains(&v) {
            return Err(bad_request(
                format!("Invalid value for '{name}': {v}. Expected a Unix timestamp in seconds."),
                name,
            ));
        }
    }
    if end <= start {
        return Err(bad_request(
            format!("Invalid value for 'end_time': {end}. It must be greater than 'start_time' ({start})."),
            "end_time",
        ));
    }
    let mut g_project = false;
    let mut g_user = false;
    let mut g_key = false;
    let mut g_model = false;
    let mut g_batch = false;
    let mut g_tier = false;
    for g in params.all("group_by") {
        match g {
            "project_id" => g_project = true,
            "user_id" => g_user = true,
            "api_key_id" => g_key = true,
            "model" => g_model = true,
            "batch" => g_batch = true,
            "service_tier" => g_tier = true,
            other => {
                return Err(bad_request(
                    format!("Invalid value for 'group_by': '{other}'. Supported values are: 'project_id', 'user_id', 'api_key_id', 'model', 'batch' and 'service_tier'."),
                    "group_by",
                ))
            }
        }
    }
    // All mock traffic is non-batch on the default tier.
    let batch_ok = match params.get("batch") {
        None | Some("") => true,
        Some("false") | Some("False") | Some("0") => true,
        Some("true") | Some("True") | Some("1") => false,
        Some(other) => {
            return Err(bad_request(
                format!("Invalid value for 'batch': '{other}'. Expected a boolean."),
                "batch",
            ))
        }
    };
    let f_project = index_filter(
        &params.all("project_ids"),
        &org.project_index,
        org.projects.len(),
    );
    let f_user = index_filter(&params.all("user_ids"), &org.user_index, org.users.len());
    let f_key = index_filter(&params.all("api_key_ids"), &org.key_index, org.keys.len());
    let models = params.all("models");
    let f_model: Option<Vec<bool>> =
        (!models.is_empty()).then(|| MODELS.iter().map(|m| models.contains(m)).collect());

    let aligned = start.div_euclid(width) * width;
    let total = (end - aligned + width - 1) / width;
    let first_index = match params.get("page") {
        None | Some("") => 0,
        Some(p) => {
            let bad = || {
                bad_request(
                    format!("Invalid value for 'page': '{p}'. Use the 'next_page' value from a previous response."),
                    "page",
                )
            };
            let b = decode_cursor(org.seed, p).ok_or_else(bad)?;
            if b < aligned || b >= end || (b - aligned) % width != 0 {
                return Err(bad());
            }
            (b - aligned) / width
        }
    };
    let last_index = (first_index + limit).min(total);
    let has_more = last_index < total;

    let mut data = Vec::with_capacity((last_index - first_index) as usize);
    let mut groups: HashMap<[u32; 4], [u64; 4]> = HashMap::new();
    for bi in first_index..last_index {
        let bs = aligned + bi * width;
        let be = bs + width;
        groups.clear();
        if batch_ok {
            let d_from = bs.div_euclid(DAY).max(org.first_day);
            let d_to = (be - 1).div_euclid(DAY).min(org.today);
            for day in d_from..=d_to {
                let rows = &usage.days[(day - org.first_day) as usize];
                let day_start = day * DAY;
                for r in rows {
                    let t = day_start + r.hour as i64 * 3600;
                    if t < bs || t >= be {
                        continue;
                    }
                    let k = r.key as usize;
                    let project = org.keys[k].project;
                    let user = org.key_user[k];
                    if f_key.as_ref().is_some_and(|f| !f[k])
                        || f_project.as_ref().is_some_and(|f| !f[project as usize])
                        || f_model.as_ref().is_some_and(|f| !f[r.model as usize])
                        || f_user
                            .as_ref()
                            .is_some_and(|f| user.is_none_or(|u| !f[u as usize]))
                    {
                        continue;
                    }
                    let gk = [
                        if g_project { project } else { NOT_GROUPED },
                        if g_user {
                            user.unwrap_or(NO_USER)
                        } else {
                            NOT_GROUPED
                        },
                        if g_key { r.key } else { NOT_GROUPED },
                        if g_model { r.model as u32 } else { NOT_GROUPED },
                    ];
                    let s = groups.entry(gk).or_default();
                    s[0] += r.input;
                    s[1] += r.cached;
                    s[2] += r.output;
                    s[3] += r.requests;
                }
            }
        }
        let mut results: Vec<ResultOut> = groups
            .iter()
            .map(|(gk, s)| ResultOut {
                object: "organization.usage.completions.result",
                input_tokens: s[0],
                output_tokens: s[2],
                input_cached_tokens: s[1],
                input_audio_tokens: 0,
                output_audio_tokens: 0,
                num_model_requests: s[3],
                project_id: (gk[0] != NOT_GROUPED)
                    .then(|| org.projects[gk[0] as usize].id.as_str()),
                user_id: (gk[1] != NOT_GROUPED && gk[1] != NO_USER)
                    .then(|| org.users[gk[1] as usize].id.as_str()),
                api_key_id: (gk[2] != NOT_GROUPED).then(|| org.keys[gk[2] as usize].id.as_str()),
                model: (gk[3] != NOT_GROUPED).then(|| MODELS[gk[3] as usize]),
                batch: g_batch.then_some(false),
                service_tier: g_tier.then_some("default"),
            })
            .collect();
        results.sort_unstable_by(|a, b| {
            (a.project_id, a.user_id, a.api_key_id, a.model).cmp(&(
                b.project_id,
                b.user_id,
                b.api_key_id,
                b.model,
            ))
        });
        data.push(BucketOut {
            object: "bucket",
            start_time: bs,
            end_time: be,
            results,
        });
    }
    let page = PageOut {
        object: "page",
        data,
        has_more,
        next_page: has_more.then(|| encode_cursor(org.seed, aligned + last_index * width)),
    };
    Ok(serde_json::to_vec(&page).expect("serialize page"))
}

// ---------------------------------------------------------------------------------------
// Directory lists

/// Paginate `ids` (already filtered, in list order) with `limit` / `after`, rendering only
/// the page's items.
fn list_page(
    ids: &[(&str, usize)],
    params: &Params,
    render: impl Fn(usize) -> Value,
) -> Result<Vec<u8>, ApiError> {
    let limit = parse_int(params, "limit")?.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(bad_request(
            format!("Invalid value for 'limit': {limit}. It must be between 1 and 100."),
            "limit",
        ));
    }
    let start = match params.get("after") {
        None | Some("") => 0,
        Some(after) => match ids.iter().position(|(id, _)| *id == after) {
            Some(p) => p + 1,
            None => {
                return Err(bad_request(
                    format!("Invalid value for 'after': no object with id '{after}'."),
                    "after",
                ))
            }
        },
    };
    let end = (start + limit as usize).min(ids.len());
    let page = &ids[start..end];
    let body = json!({
        "object": "list",
        "data": page.iter().map(|&(_, i)| render(i)).collect::<Vec<_>>(),
        "first_id": page.first().map(|(id, _)| *id),
        "last_id": page.last().map(|(id, _)| *id),
        "has_more": end < ids.len(),
    });
    Ok(serde_json::to_vec(&body).expect("serialize list"))
}

fn user_json(org: &Org, i: usize) -> Value {
    let u = &org.users[i];
    json!({
        "object": "organization.user",
        "id": u.id,
        "name": u.name,
        "email": u.email,
        "role": u.role,
        "added_at": u.added_at,
    })
}

fn list_users(org: &Org, params: &Params) -> Result<Vec<u8>, ApiError> {
    let emails = params.all("emails");
    let ids: Vec<(&str, usize)> = org
        .users
        .iter()
        .enumerate()
        .filter(|(_, u)| {
            emails.is_empty() || emails.iter().any(|e| e.eq_ignore_ascii_case(&u.email))
        })
        .map(|(i, u)| (u.id.as_str(), i))
        .collect();
    list_page(&ids, params, |i| user_json(org, i))
}

fn list_projects(org: &Org, params: &Params) -> Result<Vec<u8>, ApiError> {
    let include_archived = match params.get("include_archived") {
        None | Some("") | Some("false") | Some("False") | Some("0") => false,
        Some("true") | Some("True") | Some("1") => true,
        Some(other) => {
            return Err(bad_request(
                format!("Invalid value for 'include_archived': '{other}'. Expected a boolean."),
                "include_archived",
            ))
        }
    };
    let ids: Vec<(&str, usize)> = org
        .projects
        .iter()
        .enumerate()
        .filter(|(_, p)| include_archived || p.archived_at.is_none())
        .map(|(i, p)| (p.id.as_str(), i))
        .collect();
    list_page(&ids, params, |i| {
        let p = &org.projects[i];
        json!({
            "object": "organization.project",
            "id": p.id,
            "name": p.name,
            "created_at": p.created_at,
            "archived_at": p.archived_at,
            "status": if p.archived_at.is_some() { "archived" } else { "active" },
        })
    })
}

fn list_project_keys(
    org: &Org,
    usage: &Usage,
    project_id: &str,
    params: &Params,
) -> Result<Vec<u8>, ApiError> {
    let Some(&pi) = org.project_index.get(project_id) else {
        return Err(std_error(
            StatusCode::NOT_FOUND,
            format!("No such project: '{project_id}'."),
            "invalid_request_error",
            Some("project_id"),
            None,
        ));
    };
    let ids: Vec<(&str, usize)> = org
        .keys
        .iter()
        .enumerate()
        .filter(|(_, k)| k.project == pi)
        .map(|(i, k)| (k.id.as_str(), i))
        .collect();
    list_page(&ids, params, |i| {
        let k = &org.keys[i];
        let owner = match &k.owner {
            Owner::User(u) => {
                let mut user = user_json(org, *u as usize);
                user["created_at"] = user["added_at"].clone();
                json!({"type": "user", "user": user})
            }
            Owner::Service {
                id,
                name,
                created_at,
            } => json!({
                "type": "service_account",
                "service_account": {
                    "object": "organization.project.service_account",
                    "id": id,
                    "name": name,
                    "role": "member",
                    "created_at": created_at,
                }
            }),
        };
        json!({
            "object": "organization.project.api_key",
            "id": k.id,
            "name": k.name,
            "redacted_value": k.redacted,
            "created_at": k.created_at,
            "last_used_at": usage.last_used[i],
            "owner": owner,
        })
    })
}

fn list_admin_keys(org: &Org, params: &Params) -> Result<Vec<u8>, ApiError> {
    if let Some(o) = params.get("order") {
        if o != "asc" && o != "desc" {
            return Err(bad_request(
                format!(
                    "Invalid value for 'order': '{o}'. Supported values are: 'asc' and 'desc'."
                ),
                "order",
            ));
        }
    }
    let mut ids: Vec<(&str, usize)> = org
        .admin_keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.id.as_str(), i))
        .collect();
    if params.get("order") == Some("desc") {
        ids.reverse();
    }
    list_page(&ids, params, |i| {
        let k = &org.admin_keys[i];
        let u = &org.users[k.owner_user as usize];
        json!({
            "object": "organization.admin_api_key",
            "id": k.id,
            "name": k.name,
            "redacted_value": k.redacted,
            "created_at": k.created_at,
            "last_used_at": k.last_used_at,
            "owner": {
                "type": "user",
                "object": "organization.user",
                "id": u.id,
                "name": u.name,
                "created_at": u.added_at,
                "role": u.role,
            }
        })
    })
}
