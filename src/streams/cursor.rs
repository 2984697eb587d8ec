//! Cursors and checkpoints: opaque JSON to the host. A cursor lives only within one run; a
//! checkpoint is committed with the page it came with and starts the next run, so its
//! shape must stay readable across versions of the connector.

use serde::{Deserialize, Serialize};

use crate::model::ConnectorError;

/// Upper bound on a cursor or checkpoint the host hands back; ours are far smaller.
pub const MAX_CURSOR_LEN: usize = 64 * 1024;

/// `usage` within one run: the window being read and the provider's page cursor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageCursor {
    pub start: i64,
    pub end: i64,
    #[serde(default)]
    pub page: Option<String>,
}

/// `users` and `projects` within one run: where the list continues.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AfterCursor {
    pub after: String,
}

/// `api_keys` within one run: the projects still to visit (at most one projects page of
/// them) and where the project list itself continues.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysCursor {
    /// Projects whose keys are still to be read; the first is in progress.
    pub pending: Vec<String>,
    /// `after` for the next projects page; `None` with `projects_done` = no more projects.
    #[serde(default)]
    pub projects_after: Option<String>,
    pub projects_done: bool,
    /// `after` within the first pending project's keys.
    #[serde(default)]
    pub keys_after: Option<String>,
}

/// The checkpoint of a full-refresh stream: when its last complete read finished.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshCheckpoint {
    pub v: u32,
    pub refreshed_at: i64,
}

/// The usage checkpoint: everything before `through` has been read at least once, in
/// buckets of `width`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageCheckpoint {
    pub v: u32,
    pub width: String,
    pub through: i64,
}

/// A Codex Analytics stream within one run: the window being read, the provider's page
/// cursor, and whether the rows so far came in period order (then `seen`, the latest period
/// start read, is how far the run has got).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalyticsCursor {
    pub start: i64,
    pub end: i64,
    #[serde(default)]
    pub page: Option<String>,
    #[serde(default)]
    pub seen: Option<i64>,
    #[serde(default)]
    pub ordered: bool,
}

/// The checkpoint of a Codex Analytics stream: everything before `through` has been read
/// at least once, for this workspace and period (`day` or `week`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalyticsCheckpoint {
    pub v: u32,
    pub workspace: String,
    pub period: String,
    pub through: i64,
}

/// Version of every checkpoint shape.
pub const CHECKPOINT_VERSION: u32 = 1;

/// Read a cursor handed back by the host; one this connector did not make is `internal`.
pub fn read_cursor<T: serde::de::DeserializeOwned>(
    stream: &str,
    cursor: &str,
) -> Result<T, ConnectorError> {
    serde_json::from_str(cursor).map_err(|_| {
        ConnectorError::Internal(format!(
            "the {stream} cursor handed back by the host is not one this connector made"
        ))
    })
}

/// Read a stored checkpoint; `None` when it is not one this connector can use (the stream
/// then starts afresh rather than stopping).
pub fn read_checkpoint<T: serde::de::DeserializeOwned>(checkpoint: Option<&str>) -> Option<T> {
    checkpoint.and_then(|c| serde_json::from_str(c).ok())
}

/// A cursor or checkpoint as JSON.
pub fn write<T: Serialize>(value: &T) -> String {
    // Plain structs of strings, integers and booleans always serialize.
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shapes stored by earlier versions stay readable, and are written the same way.
    #[test]
    fn shapes_are_stable() {
        let u = UsageCheckpoint {
            v: 1,
            width: "1d".into(),
            through: 1_700_000_000,
        };
        assert_eq!(write(&u), r#"{"v":1,"width":"1d","through":1700000000}"#);
        let r = RefreshCheckpoint {
            v: 1,
            refreshed_at: -5,
        };
        assert_eq!(write(&r), r#"{"v":1,"refreshed_at":-5}"#);
        let c = UsageCursor {
            start: 1,
            end: 2,
            page: None,
        };
        assert_eq!(write(&c), r#"{"start":1,"end":2,"page":null}"#);
        assert_eq!(
            read_cursor::<UsageCursor>("usage", r#"{"start":1,"end":2}"#).unwrap(),
            c
        );
        let k = KeysCursor {
            pending: vec!["proj_a".into()],
            projects_after: Some("proj_a".into()),
            projects_done: false,
            keys_after: None,
        };
        assert_eq!(
            write(&k),
            r#"{"pending":["proj_a"],"projects_after":"proj_a","projects_done":false,"keys_after":null}"#
        );
        assert_eq!(
            read_cursor::<KeysCursor>(
                "api_keys",
                r#"{"pending":["proj_a"],"projects_after":"proj_a","projects_done":false}"#
            )
            .unwrap(),
            k
        );
        let a = AnalyticsCheckpoint {
            v: 1,
            workspace: "ws-1".into(),
            period: "week".into(),
            through: 5,
        };
        assert_eq!(
            write(&a),
            r#"{"v":1,"workspace":"ws-1","period":"week","through":5}"#
        );
        let c = AnalyticsCursor {
            start: 1,
            end: 2,
            page: Some("p".into()),
            seen: None,
            ordered: true,
        };
        assert_eq!(
            write(&c),
            r#"{"start":1,"end":2,"page":"p","seen":null,"ordered":true}"#
        );
        assert_eq!(
            read_cursor::<AnalyticsCursor>(
                "code_reviews",
                r#"{"start":1,"end":2,"page":"p","ordered":true}"#
            )
            .unwrap(),
            c
        );
        assert_eq!(
            write(&AfterCursor {
                after: "u\"1".into()
            }),
            r#"{"after":"u\"1"}"#
        );
        // unknown fields are ignored
        assert_eq!(
            read_checkpoint::<RefreshCheckpoint>(Some(r#"{"v":1,"refreshed_at":-5,"new":1}"#)),
            Some(r)
        );
    }

    #[test]
    fn foreign_values_are_refused() {
        assert!(matches!(
            read_cursor::<AfterCursor>("users", "{}"),
            Err(ConnectorError::Internal(_))
        ));
        assert!(matches!(
            read_cursor::<KeysCursor>("api_keys", r#"{"pending":[]}"#),
            Err(ConnectorError::Internal(_))
        ));
        assert_eq!(read_checkpoint::<UsageCheckpoint>(Some("{oops")), None);
        assert_eq!(
            read_checkpoint::<UsageCheckpoint>(Some(r#"{"v":-1,"width":"1d","through":0}"#)),
            None
        );
        assert_eq!(read_checkpoint::<UsageCheckpoint>(None), None);
    }
}
