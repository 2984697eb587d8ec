//! What the page keeps in memory for each connection, apart from every other connection's:
//! the last check of its saved configuration, the results of its form posts and the lock
//! that lets one save (or check) of it run at a time.
//!
//! Keyed by connection id so that one connection's check result or banner can never show on
//! another's page: a result id (`?r=…`) is looked up only among the results of the
//! connection whose page asks for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::connection::Connection;
use super::flash::Flashes;

/// One connection's page state.
#[derive(Default)]
pub(crate) struct PageState {
    /// The last check of the saved configuration.
    pub connection: Connection,
    /// The results of this connection's form posts.
    pub flashes: Flashes,
    /// One save (or check) of this connection at a time; other connections are not held.
    pub save_lock: tokio::sync::Mutex<()>,
}

/// Every connection's page state, created the first time a page of it is asked for (only
/// for connections the store holds, so a request cannot grow the map with made-up ids).
#[derive(Default)]
pub(crate) struct PerConnection {
    states: Mutex<HashMap<String, Arc<PageState>>>,
}

impl PerConnection {
    /// The state of connection `id` (which the caller found in the store).
    pub fn of(&self, id: &str) -> Arc<PageState> {
        self.states
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id.to_string())
            .or_default()
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::super::flash::{Flash, Tone};
    use super::*;

    #[test]
    fn each_connection_has_its_own_results() {
        let all = PerConnection::default();
        let a = all.of("a");
        let id = a.flashes.put(Flash::new(Tone::Ok, "a's result")).unwrap();
        assert!(
            all.of("a").flashes.get(&id).is_some(),
            "the same state on the next request"
        );
        assert!(
            all.of("b").flashes.get(&id).is_none(),
            "never on another connection's page"
        );
        assert!(!Arc::ptr_eq(&all.of("a"), &all.of("b")));
    }
}
