//! The four streams: which request to make next, how to read its envelope for paging, and
//! what cursor and checkpoint to hand back. Pure except for `Transport` calls.
//!
//! Cursors and checkpoints are opaque JSON to the host. A cursor lives only within one run;
//! a checkpoint is committed with the page it came with and starts the next run.

use crate::client::{classify, encode, Capability, HttpResponse, Transport};
use crate::json::{self, Object, Parser};
use crate::model::{ConnectorError, Page, RawPage};
use crate::normalize::{parse_body, read_envelope, API_KEYS, PROJECTS, USAGE, USERS};
use crate::settings::Settings;
use crate::time::align_down;

/// Largest page the directory endpoints allow.
pub const DIRECTORY_PAGE_LIMIT: u32 = 100;
/// Upper bound on the cursor a host hands back; ours are far smaller.
const MAX_CURSOR_LEN: usize = 64 * 1024;

pub const STREAMS: [&str; 4] = [USERS, PROJECTS, API_KEYS, USAGE];

/// Pull the next page of `stream`.
pub fn pull_page(
    t: &mut dyn Transport,
    settings: &Settings,
    stream: &str,
    checkpoint: Option<&str>,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    if cursor.is_some_and(|c| c.len() > MAX_CURSOR_LEN)
        || checkpoint.is_some_and(|c| c.len() > MAX_CURSOR_LEN)
    {
        return Err(ConnectorError::Internal(
            "cursor or checkpoint is implausibly large".into(),
        ));
    }
    match stream {
        USAGE => usage_page(t, settings, checkpoint, cursor),
        USERS | PROJECTS | API_KEYS => {
            let now = t.now();
            if cursor.is_none() && !refresh_due(settings, checkpoint, now) {
                return Ok(Page {
                    raw: RawPage {
                        stream: stream.into(),
                        scope: None,
                        fetched_at: now,
                        body: EMPTY_LIST.into(),
                    },
                    next_cursor: None,
                    checkpoint: None,
                    window: None,
                    requests: 0,
                });
            }
            let mut page = match stream {
                USERS => directory_page(t, USERS, "/v1/organization/users", "", cursor)?,
                PROJECTS => directory_page(
                    t,
                    PROJECTS,
                    "/v1/organization/projects",
                    "&include_archived=true",
                    cursor,
                )?,
                _ => api_keys_page(t, cursor)?,
            };
            if page.next_cursor.is_none() {
                page.checkpoint = Some(to_json(&RefreshCheckpoint {
                    v: 1,
                    refreshed_at: page.raw.fetched_at,
                }));
            }
            Ok(page)
        }
        other => Err(ConnectorError::Internal(format!(
            "unknown stream {}; this connector offers {}",
            json::quoted(&crate::normalize::truncate(other, 40)),
            crate::settings::list(&STREAMS)
        ))),
    }
}

/// Cursors and checkpoints: JSON objects read and written field by field, with the rules
/// of a serde-derived struct (unknown fields ignored, `Option` fields may be absent).
trait Json: Sized {
    fn read(p: &mut Parser) -> Result<Self, json::Error>;
    fn write(&self, o: &mut Object);
}

fn parse_cursor<T: Json>(stream: &str, cursor: &str) -> Result<T, ConnectorError> {
    json::parse(cursor, T::read).map_err(|_| {
        ConnectorError::Internal(format!(
            "the {stream} cursor handed back by the host is not one this connector made"
        ))
    })
}

fn to_json<T: Json>(v: &T) -> String {
    let mut o = Object::with_capacity(128);
    v.write(&mut o);
    o.finish()
}

fn get(
    t: &mut dyn Transport,
    path: &str,
    capability: Capability,
) -> Result<HttpResponse, ConnectorError> {
    let resp = t.get(path)?;
    classify(&resp, capability)?;
    Ok(resp)
}

// ---------------------------------------------------------------------------------------
// usage: incremental by bucket time with a lookback window

#[derive(Debug, PartialEq)]
struct UsageCursor {
    start: i64,
    end: i64,
    page: Option<String>,
}

impl Json for UsageCursor {
    fn read(p: &mut Parser) -> Result<Self, json::Error> {
        const FIELDS: [&str; 3] = ["start", "end", "page"];
        let mut c = UsageCursor {
            start: 0,
            end: 0,
            page: None,
        };
        let seen = p.fields(&FIELDS, &mut |p, i| {
            match i {
                0 => c.start = p.i64()?,
                1 => c.end = p.i64()?,
                _ => c.page = p.opt_string()?,
            }
            Ok(())
        })?;
        // `page` may only be absent from the object form
        p.require(
            seen,
            &FIELDS,
            if seen & json::SEQ != 0 { 0b111 } else { 0b011 },
        )?;
        Ok(c)
    }
    fn write(&self, o: &mut Object) {
        o.int("start", self.start);
        o.int("end", self.end);
        o.opt_str("page", &self.page);
    }
}

/// The checkpoint of a full-refresh stream: when its last complete read finished.
#[derive(Debug, PartialEq)]
pub struct RefreshCheckpoint {
    pub v: u32,
    pub refreshed_at: i64,
}

impl Json for RefreshCheckpoint {
    fn read(p: &mut Parser) -> Result<Self, json::Error> {
        const FIELDS: [&str; 2] = ["v", "refreshed_at"];
        let mut c = RefreshCheckpoint {
            v: 0,
            refreshed_at: 0,
        };
        let seen = p.fields(&FIELDS, &mut |p, i| {
            match i {
                0 => c.v = p.u32()?,
                _ => c.refreshed_at = p.i64()?,
            }
            Ok(())
        })?;
        p.require(seen, &FIELDS, 0b11)?;
        Ok(c)
    }
    fn write(&self, o: &mut Object) {
        o.int("v", self.v as i64);
        o.int("refreshed_at", self.refreshed_at);
    }
}

/// Whether a full-refresh stream is due: never read completely, or read longer ago than
/// `directory_refresh_hours` (0 = always). A checkpoint from the future (clock change) or
/// one we cannot read counts as due.
pub fn refresh_due(settings: &Settings, checkpoint: Option<&str>, now: i64) -> bool {
    let interval = settings.directory_refresh_hours as i64 * 3_600;
    match checkpoint.and_then(|c| json::parse(c, RefreshCheckpoint::read).ok()) {
        Some(c) if c.v == 1 && interval > 0 => {
            c.refreshed_at > now || now - c.refreshed_at >= interval
        }
        _ => true,
    }
}

/// The usage checkpoint: everything before `through` has been read at least once.
#[derive(Debug, PartialEq)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub struct UsageCheckpoint {
    pub v: u32,
    pub width: String,
    pub through: i64,
}

impl Json for UsageCheckpoint {
    fn read(p: &mut Parser) -> Result<Self, json::Error> {
        const FIELDS: [&str; 3] = ["v", "width", "through"];
        let mut c = UsageCheckpoint {
            v: 0,
            width: String::new(),
            through: 0,
        };
        let seen = p.fields(&FIELDS, &mut |p, i| {
            match i {
                0 => c.v = p.u32()?,
                1 => c.width = p.string()?,
                _ => c.through = p.i64()?,
            }
            Ok(())
        })?;
        p.require(seen, &FIELDS, 0b111)?;
        Ok(c)
    }
    fn write(&self, o: &mut Object) {
        o.int("v", self.v as i64);
        o.str("width", &self.width);
        o.int("through", self.through);
    }
}

/// The `[start, end)` window the next usage run reads: from the checkpoint minus the
/// lookback (so buckets that were still filling are re-read and replaced), never earlier
/// than the backfill horizon, up to now.
pub fn usage_window(settings: &Settings, checkpoint: Option<&str>, now: i64) -> (i64, i64) {
    let width = settings.bucket_width.seconds();
    let current = align_down(now, width);
    let horizon = current - settings.backfill_days as i64 * 86_400 + width;
    let resume = checkpoint
        .and_then(|c| json::parse(c, UsageCheckpoint::read).ok())
        .filter(|c| c.v == 1 && c.width == settings.bucket_width.as_str())
        .map(|c| {
            align_down(c.through.min(now), width) - (settings.lookback_buckets as i64 - 1) * width
        });
    let start = resume.map_or(horizon, |r| r.max(horizon)).min(current);
    (start, now.max(start + 1))
}

fn usage_page(
    t: &mut dyn Transport,
    settings: &Settings,
    checkpoint: Option<&str>,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let now = t.now();
    let cur: UsageCursor = match cursor {
        Some(c) => parse_cursor(USAGE, c)?,
        None => {
            let (start, end) = usage_window(settings, checkpoint, now);
            UsageCursor {
                start,
                end,
                page: None,
            }
        }
    };
    let width = settings.bucket_width;
    let mut path = format!(
        "/v1/organization/usage/completions?start_time={}&end_time={}&bucket_width={}&group_by=user_id&group_by=api_key_id&group_by=project_id&group_by=model&limit={}",
        cur.start,
        cur.end,
        width.as_str(),
        width.max_page_buckets()
    );
    if let Some(p) = &cur.page {
        path.push_str("&page=");
        path.push_str(&encode(p));
    }
    let resp = get(t, &path, Capability::UsageRead)?;

    // Paging needs only each bucket's end
    let mut ends: Vec<i64> = Vec::new();
    let env = parse_body(USAGE, &resp.body, |p| {
        read_envelope(p, "next_page", &mut |p, _| {
            let mut end = 0;
            let seen = p.fields(&["end_time"], &mut |p, _| {
                end = p.i64()?;
                Ok(())
            })?;
            p.require(seen, &["end_time"], 1)?;
            ends.push(end);
            Ok(())
        })
    })?;
    let has_more = env.has_more.unwrap_or(false);
    let next_cursor = match (has_more, env.next) {
        (false, _) => None,
        (true, Some(p)) if !p.is_empty() && Some(&p) != cur.page.as_ref() => {
            Some(to_json(&UsageCursor {
                start: cur.start,
                end: cur.end,
                page: Some(p),
            }))
        }
        (true, _) => {
            return Err(ConnectorError::provider_changed(
                USAGE,
                "next_page",
                "has_more is true but next_page is missing or repeats the current page",
            ))
        }
    };
    let through = match ends.iter().copied().max() {
        Some(t_end) => Some(t_end.min(now)),
        None if !has_more => Some(cur.end.min(now)),
        None => None,
    };
    Ok(Page {
        raw: RawPage {
            stream: USAGE.into(),
            scope: None,
            fetched_at: now,
            body: resp.body,
        },
        next_cursor,
        checkpoint: through.map(|through| {
            to_json(&UsageCheckpoint {
                v: 1,
                width: width.as_str().into(),
                through,
            })
        }),
        window: Some((cur.start, cur.end)),
        requests: 1,
    })
}

// ---------------------------------------------------------------------------------------
// users, projects: full refresh, `after` paging

#[derive(Debug, PartialEq)]
struct AfterCursor {
    after: String,
}

impl Json for AfterCursor {
    fn read(p: &mut Parser) -> Result<Self, json::Error> {
        let mut after = String::new();
        let seen = p.fields(&["after"], &mut |p, _| {
            after = p.string()?;
            Ok(())
        })?;
        p.require(seen, &["after"], 1)?;
        Ok(AfterCursor { after })
    }
    fn write(&self, o: &mut Object) {
        o.str("after", &self.after);
    }
}

/// Read a list envelope for paging: returns the ids on the page and the `after` value for
/// the next page (`None` when done).
fn list_paging(stream: &str, body: &str) -> Result<(Vec<String>, Option<String>), ConnectorError> {
    let mut ids: Vec<String> = Vec::new();
    let env = parse_body(stream, body, |p| {
        read_envelope(p, "last_id", &mut |p, _| {
            let mut id = String::new();
            let seen = p.fields(&["id"], &mut |p, _| {
                id = p.string()?;
                Ok(())
            })?;
            p.require(seen, &["id"], 1)?;
            ids.push(id);
            Ok(())
        })
    })?;
    if !env.has_more.unwrap_or(false) {
        return Ok((ids, None));
    }
    match env.next.or_else(|| ids.last().cloned()) {
        Some(last) if !last.is_empty() => Ok((ids, Some(last))),
        _ => Err(ConnectorError::provider_changed(
            stream,
            "last_id",
            "has_more is true but the page names no last id",
        )),
    }
}

fn directory_page(
    t: &mut dyn Transport,
    stream: &str,
    endpoint: &str,
    extra: &str,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let after = cursor
        .map(|c| parse_cursor::<AfterCursor>(stream, c))
        .transpose()?;
    let mut path = format!("{endpoint}?limit={DIRECTORY_PAGE_LIMIT}{extra}");
    if let Some(a) = &after {
        path.push_str("&after=");
        path.push_str(&encode(&a.after));
    }
    let now = t.now();
    let resp = get(t, &path, Capability::DirectoryRead)?;
    let (_, next) = list_paging(stream, &resp.body)?;
    if next.is_some() && next.as_deref() == after.as_ref().map(|a| a.after.as_str()) {
        return Err(ConnectorError::provider_changed(
            stream,
            "last_id",
            "the next page starts where this one did",
        ));
    }
    Ok(Page {
        raw: RawPage {
            stream: stream.into(),
            scope: None,
            fetched_at: now,
            body: resp.body,
        },
        next_cursor: next.map(|after| to_json(&AfterCursor { after })),
        checkpoint: None,
        window: None,
        requests: 1,
    })
}

// ---------------------------------------------------------------------------------------
// api_keys: every project's keys. The cursor carries the projects still to visit (at most
// one projects page of them) and where the project list itself continues.

#[derive(Debug, Default, PartialEq)]
struct KeysCursor {
    /// Projects whose keys are still to be read; the first is in progress.
    pending: Vec<String>,
    /// `after` for the next projects page; `None` with `projects_done` = no more projects.
    projects_after: Option<String>,
    projects_done: bool,
    /// `after` within the first pending project's keys.
    keys_after: Option<String>,
}

impl Json for KeysCursor {
    fn read(p: &mut Parser) -> Result<Self, json::Error> {
        const FIELDS: [&str; 4] = ["pending", "projects_after", "projects_done", "keys_after"];
        let mut c = KeysCursor::default();
        let seen = p.fields(&FIELDS, &mut |p, i| {
            match i {
                0 => c.pending = p.strings()?,
                1 => c.projects_after = p.opt_string()?,
                2 => c.projects_done = p.bool()?,
                _ => c.keys_after = p.opt_string()?,
            }
            Ok(())
        })?;
        // the `Option`s may only be absent from the object form
        p.require(
            seen,
            &FIELDS,
            if seen & json::SEQ != 0 {
                0b1111
            } else {
                0b0101
            },
        )?;
        Ok(c)
    }
    fn write(&self, o: &mut Object) {
        let buf = o.key("pending");
        buf.push('[');
        for (i, id) in self.pending.iter().enumerate() {
            if i > 0 {
                buf.push(',');
            }
            json::escape_into(buf, id);
        }
        buf.push(']');
        o.opt_str("projects_after", &self.projects_after);
        o.bool("projects_done", self.projects_done);
        o.opt_str("keys_after", &self.keys_after);
    }
}

const EMPTY_LIST: &str = r#"{"object":"list","data":[],"has_more":false}"#;

fn api_keys_page(t: &mut dyn Transport, cursor: Option<&str>) -> Result<Page, ConnectorError> {
    let mut cur: KeysCursor = match cursor {
        Some(c) => parse_cursor(API_KEYS, c)?,
        None => KeysCursor::default(),
    };
    let mut requests = 0;
    if cur.pending.is_empty() && !cur.projects_done {
        let mut path =
            format!("/v1/organization/projects?limit={DIRECTORY_PAGE_LIMIT}&include_archived=true");
        if let Some(a) = &cur.projects_after {
            path.push_str("&after=");
            path.push_str(&encode(a));
        }
        let resp = get(t, &path, Capability::DirectoryRead)?;
        requests += 1;
        let (ids, next) = list_paging(PROJECTS, &resp.body)?;
        if next.is_some() && next == cur.projects_after {
            return Err(ConnectorError::provider_changed(
                PROJECTS,
                "last_id",
                "the next page starts where this one did",
            ));
        }
        cur.pending = ids;
        cur.projects_done = next.is_none();
        cur.projects_after = next;
    }
    let now = t.now();
    let Some(project) = cur.pending.first().cloned() else {
        // A projects page with no projects on it: nothing to read, and nothing left.
        let next = (!cur.projects_done).then(|| to_json(&cur));
        return Ok(Page {
            raw: RawPage {
                stream: API_KEYS.into(),
                scope: None,
                fetched_at: now,
                body: EMPTY_LIST.into(),
            },
            next_cursor: next,
            checkpoint: None,
            window: None,
            requests,
        });
    };
    let mut path = format!(
        "/v1/organization/projects/{}/api_keys?limit={DIRECTORY_PAGE_LIMIT}",
        encode(&project)
    );
    if let Some(a) = &cur.keys_after {
        path.push_str("&after=");
        path.push_str(&encode(a));
    }
    let resp = t.get(&path)?;
    requests += 1;
    // A project deleted between listing and reading its keys has no keys to import.
    let body = if resp.status == 404 {
        EMPTY_LIST.to_string()
    } else {
        classify(&resp, Capability::DirectoryRead)?;
        resp.body
    };
    let (_, next_keys) = list_paging(API_KEYS, &body)?;
    if next_keys.is_some() && next_keys == cur.keys_after {
        return Err(ConnectorError::provider_changed(
            API_KEYS,
            "last_id",
            "the next page starts where this one did",
        ));
    }
    match next_keys {
        Some(after) => cur.keys_after = Some(after),
        None => {
            cur.pending.remove(0);
            cur.keys_after = None;
        }
    }
    let done = cur.pending.is_empty() && cur.projects_done;
    Ok(Page {
        raw: RawPage {
            stream: API_KEYS.into(),
            scope: Some(project),
            fetched_at: now,
            body,
        },
        next_cursor: (!done).then(|| to_json(&cur)),
        checkpoint: None,
        window: None,
        requests,
    })
}

// ---------------------------------------------------------------------------------------
// validate-credentials

/// One live call per capability; a rejected key and a key without admin rights are told
/// apart per capability.
pub fn validate(t: &mut dyn Transport) -> Result<crate::model::CredentialReport, ConnectorError> {
    use crate::model::{CapabilityCheck, CredentialReport};
    let now = t.now();
    let day = 86_400;
    let checks = [
        (
            Capability::UsageRead,
            format!(
                "/v1/organization/usage/completions?start_time={}&bucket_width=1d&limit=1",
                align_down(now, day)
            ),
        ),
        (
            Capability::DirectoryRead,
            "/v1/organization/users?limit=1".to_string(),
        ),
    ];
    let mut capabilities = Vec::new();
    let mut organization = None;
    for (cap, path) in checks {
        let resp = t.get(&path)?;
        if organization.is_none() {
            organization = resp
                .organization
                .clone()
                .filter(|o| o.len() <= 128 && !o.chars().any(char::is_control));
        }
        match classify(&resp, cap) {
            Ok(()) => capabilities.push(CapabilityCheck {
                name: cap.name().into(),
                granted: true,
                error_class: String::new(),
                message: match cap {
                    Capability::UsageRead => "Can read organization usage.".into(),
                    Capability::DirectoryRead => {
                        "Can read the organization's users, projects and API keys.".into()
                    }
                },
            }),
            Err(e @ (ConnectorError::RateLimited { .. } | ConnectorError::Transient(_))) => {
                return Err(e)
            }
            Err(e) => capabilities.push(CapabilityCheck {
                name: cap.name().into(),
                granted: false,
                error_class: e.class().into(),
                message: match e {
                    ConnectorError::Unauthorized(m)
                    | ConnectorError::NotAdmin(m)
                    | ConnectorError::Internal(m) => m,
                    // classify gives no other kind here
                    other => other.class().into(),
                },
            }),
        }
    }
    Ok(CredentialReport {
        ok: capabilities.iter().all(|c| c.granted),
        capabilities,
        organization,
        notes: vec![crate::settings::CHATGPT_NOTE.to_string()],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    struct Fake {
        now: i64,
        replies: VecDeque<HttpResponse>,
        paths: Vec<String>,
    }
    impl Transport for Fake {
        fn get(&mut self, path: &str) -> Result<HttpResponse, ConnectorError> {
            self.paths.push(path.to_string());
            self.replies
                .pop_front()
                .ok_or_else(|| ConnectorError::Transient("no reply".into()))
        }
        fn now(&self) -> i64 {
            self.now
        }
    }
    fn ok(body: &str) -> HttpResponse {
        HttpResponse {
            status: 200,
            body: body.into(),
            ..Default::default()
        }
    }
    fn settings(days: u32) -> Settings {
        let mut s = Settings::for_normalize("*codex*", &[], &[]);
        s.backfill_days = days;
        s
    }
    const NOW: i64 = 1_700_000_000 + 43_200; // mid-day

    #[test]
    fn first_run_covers_the_backfill_and_later_runs_look_back() {
        let s = settings(90);
        let today = align_down(NOW, 86_400);
        assert_eq!(usage_window(&s, None, NOW), (today - 89 * 86_400, NOW));
        let cp = to_json(&UsageCheckpoint {
            v: 1,
            width: "1d".into(),
            through: NOW - 3_600,
        });
        assert_eq!(usage_window(&s, Some(&cp), NOW), (today - 86_400, NOW));
        // a checkpoint older than the horizon restarts at the horizon
        let old = to_json(&UsageCheckpoint {
            v: 1,
            width: "1d".into(),
            through: NOW - 400 * 86_400,
        });
        assert_eq!(usage_window(&s, Some(&old), NOW).0, today - 89 * 86_400);
        // a checkpoint of another bucket width is ignored
        let hourly = to_json(&UsageCheckpoint {
            v: 1,
            width: "1h".into(),
            through: NOW,
        });
        assert_eq!(usage_window(&s, Some(&hourly), NOW).0, today - 89 * 86_400);
        // garbage checkpoints fall back to a full backfill rather than stopping the stream
        assert_eq!(usage_window(&s, Some("{oops"), NOW).0, today - 89 * 86_400);
    }

    #[test]
    fn usage_follows_next_page_and_checkpoints_each_page() {
        let s = settings(90);
        let mut t = Fake {
            now: NOW,
            replies: VecDeque::from([
                ok(
                    r#"{"object":"page","data":[{"start_time":10,"end_time":86410,"results":[]}],"has_more":true,"next_page":"p 2"}"#,
                ),
                ok(r#"{"object":"page","data":[],"has_more":false,"next_page":null}"#),
            ]),
            paths: vec![],
        };
        let p1 = pull_page(&mut t, &s, USAGE, None, None).unwrap();
        assert!(
            t.paths[0].contains("limit=31")
                && t.paths[0].contains(
                    "group_by=user_id&group_by=api_key_id&group_by=project_id&group_by=model"
                )
        );
        let cp: UsageCheckpoint = serde_json::from_str(p1.checkpoint.as_deref().unwrap()).unwrap();
        assert_eq!(cp.through, 86_410);
        let p2 = pull_page(&mut t, &s, USAGE, None, p1.next_cursor.as_deref()).unwrap();
        assert!(t.paths[1].ends_with("&page=p%202"), "{}", t.paths[1]);
        assert_eq!(p2.next_cursor, None);
        let cp: UsageCheckpoint = serde_json::from_str(p2.checkpoint.as_deref().unwrap()).unwrap();
        assert_eq!(cp.through, NOW);
    }

    #[test]
    fn has_more_without_next_page_is_provider_changed() {
        let mut t = Fake {
            now: NOW,
            replies: VecDeque::from([ok(r#"{"data":[],"has_more":true}"#)]),
            paths: vec![],
        };
        let e = pull_page(&mut t, &settings(30), USAGE, None, None).unwrap_err();
        assert!(
            matches!(e, ConnectorError::ProviderChanged { ref field, .. } if field == "next_page"),
            "{e:?}"
        );
    }

    #[test]
    fn directory_streams_refresh_only_when_due() {
        let s = settings(30); // directory_refresh_hours = 12
        let mut t = Fake {
            now: NOW,
            replies: VecDeque::from([ok(r#"{"data":[{"id":"user-1"}],"has_more":false}"#)]),
            paths: vec![],
        };
        // never read: due; the last page carries the refresh time
        let p = pull_page(&mut t, &s, USERS, None, None).unwrap();
        assert_eq!(p.requests, 1);
        let cp = p.checkpoint.unwrap();
        assert_eq!(cp, format!(r#"{{"v":1,"refreshed_at":{NOW}}}"#));
        // an hour later: skipped, no request, checkpoint kept
        t.now = NOW + 3_600;
        let p = pull_page(&mut t, &s, USERS, Some(&cp), None).unwrap();
        assert_eq!((p.requests, p.next_cursor, p.checkpoint), (0, None, None));
        assert_eq!(t.paths.len(), 1);
        assert!(crate::normalize::normalize(&p.raw, &s).unwrap().is_empty());
        // due again after 12 hours, or at once with 0, or when the clock went backwards
        assert!(refresh_due(&s, Some(&cp), NOW + 12 * 3_600));
        assert!(!refresh_due(&s, Some(&cp), NOW + 12 * 3_600 - 1));
        assert!(refresh_due(&s, Some(&cp), NOW - 10));
        assert!(refresh_due(&s, Some("{garbage"), NOW));
        let mut every = settings(30);
        every.directory_refresh_hours = 0;
        assert!(refresh_due(&every, Some(&cp), NOW + 1));
    }

    #[test]
    fn api_keys_walk_every_project() {
        let mut t = Fake {
            now: NOW,
            replies: VecDeque::from([
                ok(
                    r#"{"data":[{"id":"proj_a"},{"id":"proj_b"}],"has_more":true,"last_id":"proj_b"}"#,
                ),
                ok(r#"{"data":[{"id":"key_1"}],"has_more":true,"last_id":"key_1"}"#),
                ok(r#"{"data":[{"id":"key_2"}],"has_more":false}"#),
                HttpResponse {
                    status: 404,
                    body: "{}".into(),
                    ..Default::default()
                },
                ok(r#"{"data":[{"id":"proj_c"}],"has_more":false}"#),
                ok(r#"{"data":[],"has_more":false}"#),
            ]),
            paths: vec![],
        };
        let mut cursor: Option<String> = None;
        let mut scopes = vec![];
        let mut requests = 0;
        loop {
            let p = pull_page(&mut t, &settings(30), API_KEYS, None, cursor.as_deref()).unwrap();
            scopes.push(p.raw.scope.clone().unwrap());
            requests += p.requests;
            cursor = p.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(scopes, ["proj_a", "proj_a", "proj_b", "proj_c"]);
        assert_eq!(requests, 6);
        assert!(t.paths[2].ends_with("/projects/proj_a/api_keys?limit=100&after=key_1"));
        assert!(t.paths[4].contains("projects?limit=100&include_archived=true&after=proj_b"));
    }

    #[test]
    fn validate_reports_each_capability() {
        let mut t = Fake {
            now: NOW,
            replies: VecDeque::from([
                ok(r#"{"object":"page","data":[],"has_more":false}"#),
                HttpResponse {
                    status: 403,
                    body: r#"{"error":"You have insufficient permissions for this operation. Missing scopes: api.management.read."}"#.into(),
                    ..Default::default()
                },
            ]),
            paths: vec![],
        };
        let r = validate(&mut t).unwrap();
        assert!(!r.ok);
        assert!(r.capabilities[0].granted);
        assert_eq!(r.capabilities[1].error_class, "not-admin");
    }
}
