//! The result of a form post, kept in memory under a random id and shown by the page the
//! post redirects to (`/?r=ID#result`): post/redirect/get without cookies.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;

use super::views::CheckView;

/// How a result reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Tone {
    Ok,
    Warn,
    Error,
}

/// The outcome of a form post.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Flash {
    pub tone: Tone,
    pub title: String,
    pub lines: Vec<String>,
    /// What to do, when the host has something to add to the connector's own words.
    pub advice: Option<String>,
    /// Field key → the connector's message about it.
    pub field_errors: BTreeMap<String, String>,
    /// The non-secret values the admin submitted, when they were not saved (refilled so
    /// they can be corrected; secrets never are).
    pub submitted: Option<BTreeMap<String, String>>,
    /// The result of a live check that is not the saved configuration's (a rejected new
    /// key): shown as this attempt's, never as the connection's status.
    pub attempt: Option<CheckView>,
    /// The connector's notes about this configuration.
    pub notes: Vec<String>,
}

impl Flash {
    pub fn new(tone: Tone, title: impl Into<String>) -> Flash {
        Flash {
            tone,
            title: title.into(),
            lines: Vec::new(),
            advice: None,
            field_errors: BTreeMap::new(),
            submitted: None,
            attempt: None,
            notes: Vec::new(),
        }
    }

    pub fn line(mut self, line: impl Into<String>) -> Flash {
        self.lines.push(line.into());
        self
    }
}

/// The most recent results, by id.
#[derive(Default)]
pub(crate) struct Flashes {
    kept: Mutex<VecDeque<(String, Flash)>>,
}

const KEPT: usize = 32;

impl Flashes {
    /// Keep `flash` and return its id (OS randomness; fails rather than guess).
    pub fn put(&self, flash: Flash) -> anyhow::Result<String> {
        let id = crate::random::hex(12)?;
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.push_back((id.clone(), flash));
        while kept.len() > KEPT {
            kept.pop_front();
        }
        Ok(id)
    }

    pub fn get(&self, id: &str) -> Option<Flash> {
        self.kept
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, f)| f.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flashes_are_found_by_id_and_bounded() {
        let f = Flashes::default();
        let first = f.put(Flash::new(Tone::Ok, "first")).unwrap();
        assert_eq!(first.len(), 24);
        assert_eq!(f.get(&first).unwrap().title, "first");
        assert!(f.get("nope").is_none());
        for i in 0..KEPT {
            f.put(Flash::new(Tone::Warn, format!("{i}"))).unwrap();
        }
        assert!(f.get(&first).is_none(), "the oldest is dropped");
    }
}
