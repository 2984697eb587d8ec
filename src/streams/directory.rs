//! `users`, `projects` (and the refresh rule `api_keys` shares): full refresh, paged with
//! `after=<last id>`, re-read only when `directory_refresh_hours` have passed since the last
//! complete read.

use serde::Deserialize;

use super::cursor::{self, AfterCursor, RefreshCheckpoint, CHECKPOINT_VERSION};
use super::{api_keys, empty_page, encode, platform_read, DIRECTORY_PAGE_LIMIT};
use crate::capability::Capability;
use crate::model::{ConnectorError, Page, RawPage};
use crate::normalize::envelope::{parse_body, ListEnvelope, Text};
use crate::normalize::{PROJECTS, USERS};
use crate::settings::Settings;
use crate::transport::Transport;

/// Whether a full-refresh stream is due: never read completely, or read at least
/// `directory_refresh_hours` ago (0 = always). A checkpoint from the future (the clock
/// went back), one so old that its age does not fit in an i64, or one that cannot be read
/// counts as due.
pub fn refresh_due(settings: &Settings, checkpoint: Option<&str>, now: i64) -> bool {
    let interval = i64::from(settings.directory_refresh_hours) * 3_600;
    match cursor::read_checkpoint::<RefreshCheckpoint>(checkpoint) {
        Some(c) if c.v == CHECKPOINT_VERSION && interval > 0 => {
            c.refreshed_at > now
                || now
                    .checked_sub(c.refreshed_at)
                    .is_none_or(|age| age >= interval)
        }
        _ => true,
    }
}

/// Pull one page of a directory stream (`users`, `projects` or `api_keys`).
pub(crate) fn page(
    t: &mut dyn Transport,
    settings: &Settings,
    stream: &str,
    checkpoint: Option<&str>,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let now = t.now();
    if cursor.is_none() && !refresh_due(settings, checkpoint, now) {
        return Ok(Page {
            raw: empty_page(stream, now),
            next_cursor: None,
            checkpoint: None,
            window: None,
        });
    }
    let mut page = match stream {
        USERS => list_page(t, settings, USERS, "/v1/organization/users", "", cursor)?,
        PROJECTS => list_page(
            t,
            settings,
            PROJECTS,
            "/v1/organization/projects",
            PROJECTS_QUERY,
            cursor,
        )?,
        _ => api_keys::page(t, settings, cursor)?,
    };
    if page.next_cursor.is_none() {
        page.checkpoint = Some(cursor::write(&RefreshCheckpoint {
            v: CHECKPOINT_VERSION,
            refreshed_at: page.raw.fetched_at,
        }));
    }
    Ok(page)
}

/// All paging needs of a list item.
#[derive(Deserialize)]
struct ItemId<'a> {
    #[serde(borrow)]
    id: Text<'a>,
}

/// Read a list envelope for paging: the ids on the page and the `after` value for the next
/// page (`None` when done).
pub(crate) fn list_paging(
    stream: &str,
    body: &str,
) -> Result<(Vec<String>, Option<String>), ConnectorError> {
    let env: ListEnvelope<ItemId> = parse_body(stream, body)?;
    let ids: Vec<String> = env.data.iter().map(|i| i.id.to_string()).collect();
    if !env.has_more.unwrap_or(false) {
        return Ok((ids, None));
    }
    match env
        .last_id
        .map(|l| l.0.into_owned())
        .or_else(|| ids.last().cloned())
    {
        Some(last) if !last.is_empty() => Ok((ids, Some(last))),
        _ => Err(ConnectorError::provider_changed(
            stream,
            "last_id",
            "has_more is true but the page names no last id",
        )),
    }
}

/// The error for a list whose next page would start where this one did (a loop).
pub(crate) fn repeats(stream: &str) -> ConnectorError {
    ConnectorError::provider_changed(stream, "last_id", "the next page starts where this one did")
}

/// What the projects list is asked for besides the page: archived projects too.
pub(crate) const PROJECTS_QUERY: &str = "&include_archived=true";

/// One page of `endpoint` with `extra` query parameters (each starting with `&`).
fn list_page(
    t: &mut dyn Transport,
    settings: &Settings,
    stream: &str,
    endpoint: &str,
    extra: &str,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let after = cursor
        .map(|c| cursor::read_cursor::<AfterCursor>(stream, c))
        .transpose()?;
    let mut path = format!("{endpoint}?limit={DIRECTORY_PAGE_LIMIT}{extra}");
    if let Some(a) = &after {
        path.push_str("&after=");
        path.push_str(&encode(&a.after));
    }
    let now = t.now();
    let resp = platform_read(t, settings, &path, Capability::PlatformDirectory)?;
    let (_, next) = list_paging(stream, &resp.body)?;
    if next.is_some() && next.as_deref() == after.as_ref().map(|a| a.after.as_str()) {
        return Err(repeats(stream));
    }
    Ok(Page {
        raw: RawPage {
            stream: stream.into(),
            scope: None,
            fetched_at: now,
            body: resp.body,
        },
        next_cursor: next.map(|after| cursor::write(&AfterCursor { after })),
        checkpoint: None,
        window: None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fake::{ok, status, Fake};
    use super::super::pull_page;
    use super::*;
    use crate::normalize::normalize;

    const NOW: i64 = 1_700_043_200;

    fn settings() -> Settings {
        Settings::for_normalize("*codex*", &[], &[]) // directory_refresh_hours = 12
    }

    #[test]
    fn directory_streams_refresh_only_when_due() {
        let s = settings();
        let mut t = Fake::new(NOW, [ok(r#"{"data":[{"id":"user-1"}],"has_more":false}"#)]);
        // never read: due; the last page carries the refresh time
        let p = pull_page(&mut t, &s, USERS, None, None).unwrap();
        assert_eq!(t.seen.len(), 1);
        let cp = p.checkpoint.unwrap();
        assert_eq!(cp, format!(r#"{{"v":1,"refreshed_at":{NOW}}}"#));
        // an hour later: skipped, no request, checkpoint kept
        t.now = NOW + 3_600;
        let p = pull_page(&mut t, &s, USERS, Some(&cp), None).unwrap();
        assert_eq!((p.next_cursor, p.checkpoint), (None, None));
        assert_eq!(t.seen.len(), 1);
        assert!(normalize(&p.raw, &s).unwrap().is_empty());
        // due again after 12 hours, or at once with 0, or when the clock went backwards
        assert!(refresh_due(&s, Some(&cp), NOW + 12 * 3_600));
        assert!(!refresh_due(&s, Some(&cp), NOW + 12 * 3_600 - 1));
        assert!(refresh_due(&s, Some(&cp), NOW - 10));
        assert!(refresh_due(&s, Some("{garbage"), NOW));
        assert!(refresh_due(&s, Some(r#"{"v":2,"refreshed_at":0}"#), NOW));
        let mut every = settings();
        every.directory_refresh_hours = 0;
        assert!(refresh_due(&every, Some(&cp), NOW + 1));
    }

    /// `now - refreshed_at` overflowed here for a stored checkpoint far in the past.
    #[test]
    fn a_checkpoint_at_the_ends_of_i64_is_due() {
        let s = settings();
        for (refreshed_at, now) in [
            (i64::MIN, NOW),
            (i64::MIN, i64::MAX),
            (-1, i64::MAX),
            (i64::MAX, NOW),
        ] {
            let cp = cursor::write(&RefreshCheckpoint { v: 1, refreshed_at });
            assert!(refresh_due(&s, Some(&cp), now), "{refreshed_at} at {now}");
        }
        let cp = cursor::write(&RefreshCheckpoint {
            v: 1,
            refreshed_at: i64::MIN,
        });
        assert!(!refresh_due(&s, Some(&cp), i64::MIN + 1));
        assert!(!refresh_due(&s, Some(&cp), i64::MIN));
    }

    #[test]
    fn lists_follow_after_and_stop() {
        let s = settings();
        let mut t = Fake::new(
            NOW,
            [
                ok(
                    r#"{"data":[{"id":"proj_a"},{"id":"proj b"}],"has_more":true,"last_id":"proj b"}"#,
                ),
                ok(r#"{"data":[{"id":"proj_c"}],"has_more":true}"#),
                ok(r#"{"data":[],"has_more":false}"#),
            ],
        );
        let p1 = pull_page(&mut t, &s, PROJECTS, None, None).unwrap();
        assert_eq!(p1.checkpoint, None);
        let p2 = pull_page(&mut t, &s, PROJECTS, None, p1.next_cursor.as_deref()).unwrap();
        let p3 = pull_page(&mut t, &s, PROJECTS, None, p2.next_cursor.as_deref()).unwrap();
        assert_eq!(p3.next_cursor, None);
        assert!(p3.checkpoint.is_some());
        assert_eq!(
            t.paths(),
            [
                "/v1/organization/projects?limit=100&include_archived=true",
                "/v1/organization/projects?limit=100&include_archived=true&after=proj%20b",
                "/v1/organization/projects?limit=100&include_archived=true&after=proj_c",
            ]
        );
    }

    #[test]
    fn paging_errors() {
        let s = settings();
        // has_more without any id to continue from
        let mut t = Fake::new(NOW, [ok(r#"{"data":[],"has_more":true}"#)]);
        match pull_page(&mut t, &s, USERS, None, None).unwrap_err() {
            ConnectorError::ProviderChanged { field, .. } => assert_eq!(field, "last_id"),
            e => panic!("{e:?}"),
        }
        // a loop
        let cur = cursor::write(&AfterCursor { after: "u1".into() });
        let mut t = Fake::new(NOW, [ok(r#"{"data":[{"id":"u1"}],"has_more":true}"#)]);
        assert!(matches!(
            pull_page(&mut t, &s, USERS, None, Some(&cur)),
            Err(ConnectorError::ProviderChanged { .. })
        ));
        // an item without an id
        let mut t = Fake::new(NOW, [ok(r#"{"data":[{"name":"x"}],"has_more":false}"#)]);
        match pull_page(&mut t, &s, USERS, None, None).unwrap_err() {
            ConnectorError::ProviderChanged { field, .. } => assert_eq!(field, "data[0].id"),
            e => panic!("{e:?}"),
        }
        // the key cannot read the directory
        let mut t = Fake::new(
            NOW,
            [status(
                403,
                r#"{"error":"Missing scopes: api.management.read."}"#,
            )],
        );
        let e = pull_page(&mut t, &s, USERS, None, None).unwrap_err();
        assert!(
            matches!(&e, ConnectorError::Forbidden(m) if m.contains("api.management.read")),
            "{e:?}"
        );
    }
}
