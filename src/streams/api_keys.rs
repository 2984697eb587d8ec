//! `api_keys`: every project's keys. The cursor carries the projects still to visit (at
//! most one projects page of them) and where the project list itself continues; each page
//! is one project's keys (or the next part of them), scoped to that project.

use super::cursor::{self, KeysCursor};
use super::directory::{list_paging, repeats, PROJECTS_QUERY};
use super::{empty_page, encode, platform_get, platform_read, DIRECTORY_PAGE_LIMIT, EMPTY_LIST};
use crate::capability::Capability;
use crate::model::{ConnectorError, Page, RawPage};
use crate::normalize::{API_KEYS, PROJECTS};
use crate::provider_error::classify;
use crate::settings::Settings;
use crate::transport::Transport;

pub(crate) fn page(
    t: &mut dyn Transport,
    settings: &Settings,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let mut cur: KeysCursor = match cursor {
        Some(c) => cursor::read_cursor(API_KEYS, c)?,
        None => KeysCursor::default(),
    };
    if cur.pending.is_empty() && !cur.projects_done {
        let mut path =
            format!("/v1/organization/projects?limit={DIRECTORY_PAGE_LIMIT}{PROJECTS_QUERY}");
        if let Some(a) = &cur.projects_after {
            path.push_str("&after=");
            path.push_str(&encode(a));
        }
        let resp = platform_read(t, settings, &path, Capability::PlatformDirectory)?;
        let (ids, next) = list_paging(PROJECTS, &resp.body)?;
        if next.is_some() && next == cur.projects_after {
            return Err(repeats(PROJECTS));
        }
        cur.pending = ids;
        cur.projects_done = next.is_none();
        cur.projects_after = next;
    }
    let now = t.now();
    let Some(project) = cur.pending.first().cloned() else {
        // A projects page with no projects on it: nothing to read here.
        return Ok(Page {
            raw: empty_page(API_KEYS, now),
            next_cursor: (!cur.projects_done).then(|| cursor::write(&cur)),
            checkpoint: None,
            window: None,
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
    let resp = platform_get(t, settings, &path)?;
    // A project deleted between listing and reading its keys has no keys to import.
    let body = if resp.status == 404 {
        EMPTY_LIST.to_string()
    } else {
        classify(&resp, Capability::PlatformDirectory)?;
        resp.body
    };
    let (_, next_keys) = list_paging(API_KEYS, &body)?;
    if next_keys.is_some() && next_keys == cur.keys_after {
        return Err(repeats(API_KEYS));
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
        next_cursor: (!done).then(|| cursor::write(&cur)),
        checkpoint: None,
        window: None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fake::{ok, status, Fake};
    use super::super::pull_page;
    use super::*;

    const NOW: i64 = 1_700_043_200;

    fn settings() -> Settings {
        Settings::for_normalize("*codex*", &[], &[])
    }

    #[test]
    fn api_keys_walk_every_project() {
        let mut t = Fake::new(
            NOW,
            [
                ok(
                    r#"{"data":[{"id":"proj_a"},{"id":"proj/b"}],"has_more":true,"last_id":"proj/b"}"#,
                ),
                ok(r#"{"data":[{"id":"key_1"}],"has_more":true,"last_id":"key_1"}"#),
                ok(r#"{"data":[{"id":"key_2"}],"has_more":false}"#),
                status(404, "{}"),
                ok(r#"{"data":[{"id":"proj_c"}],"has_more":false}"#),
                ok(r#"{"data":[],"has_more":false}"#),
            ],
        );
        let mut cursor: Option<String> = None;
        let mut scopes = vec![];
        let mut checkpoints = vec![];
        loop {
            let p = pull_page(&mut t, &settings(), API_KEYS, None, cursor.as_deref()).unwrap();
            scopes.push(p.raw.scope.clone().unwrap());
            checkpoints.push(p.checkpoint.is_some());
            cursor = p.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(scopes, ["proj_a", "proj_a", "proj/b", "proj_c"]);
        // only the last page completes the refresh
        assert_eq!(checkpoints, [false, false, false, true]);
        assert_eq!(
            t.paths(),
            [
                "/v1/organization/projects?limit=100&include_archived=true",
                "/v1/organization/projects/proj_a/api_keys?limit=100",
                "/v1/organization/projects/proj_a/api_keys?limit=100&after=key_1",
                "/v1/organization/projects/proj%2Fb/api_keys?limit=100",
                "/v1/organization/projects?limit=100&include_archived=true&after=proj%2Fb",
                "/v1/organization/projects/proj_c/api_keys?limit=100",
            ]
        );
    }

    #[test]
    fn no_projects_means_one_empty_page() {
        let mut t = Fake::new(NOW, [ok(r#"{"data":[],"has_more":false}"#)]);
        let p = pull_page(&mut t, &settings(), API_KEYS, None, None).unwrap();
        assert_eq!((p.raw.scope, p.next_cursor), (None, None));
        assert!(p.checkpoint.is_some());
        assert_eq!(p.raw.body, EMPTY_LIST);
    }

    #[test]
    fn errors_other_than_404_on_a_projects_keys_are_typed() {
        let mut t = Fake::new(
            NOW,
            [
                ok(r#"{"data":[{"id":"proj_a"}],"has_more":false}"#),
                status(500, "oops"),
            ],
        );
        let e = pull_page(&mut t, &settings(), API_KEYS, None, None).unwrap_err();
        assert!(matches!(e, ConnectorError::Transient(_)), "{e:?}");
    }
}
