//! The run's normalize instances. A wasm instance's memory grows to hold the largest page
//! it was given and that page's records, and never shrinks; on a backfill (pages of
//! several MB) an instance kept for the whole run holds tens of MB it no longer needs
//! while the host checks and commits the records. So an instance whose memory grew past
//! [`KEEP_UP_TO`] is dropped as soon as its records are lifted (its memory goes back to the
//! pool, decommitted) and the next page gets a fresh one; a smaller one is kept, so the
//! many small pages of an incremental run do not pay a `configure` each.

use super::{call_error, Harness, HostError, Stored};
use crate::bindings::v0_2::types as wit;
use crate::redact::Redactor;
use crate::sandbox::Session;

/// An instance whose memory stays at or below this is kept for the next page.
const KEEP_UP_TO: usize = 8 << 20;

/// What normalizing a page gives: the page's raw part back, and the connector's answer.
type Normalized = (
    wit::RawPage,
    Result<Vec<wit::NormalizedRecord>, wit::ConnectorError>,
);

/// Where the run's normalize instances come from (configured like the pull instance, with
/// an empty allow-list: normalize is pure).
pub(super) struct Normalizers {
    stored: Stored,
    context: String,
    /// The last page's instance, kept while its memory is small.
    idle: Option<Session>,
    /// What the policy refused the instances already dropped.
    denied: Vec<String>,
}

impl Normalizers {
    pub fn new(stored: Stored, context: String) -> Normalizers {
        Normalizers {
            stored,
            context,
            idle: None,
            denied: Vec::new(),
        }
    }

    /// What the policy refused the run's normalize instances.
    pub fn denied(&self) -> Vec<String> {
        let mut all = self.denied.clone();
        all.extend(self.idle.iter().flat_map(Session::denied));
        all
    }

    /// Keep `session` for the next page, or drop it now if its memory grew large.
    fn put_back(&mut self, session: Session) {
        let memory = session.memory_bytes();
        tracing::debug!(memory, kept = memory <= KEEP_UP_TO, "normalize instance");
        if memory <= KEEP_UP_TO {
            self.idle = Some(session);
        } else {
            self.denied.extend(session.denied());
        }
    }
}

impl Harness {
    /// Normalize `raw` with an instance from `normalizers`: the page goes into the call
    /// and comes back (one copy of its body, not two).
    pub(super) async fn normalize_page(
        &self,
        normalizers: &mut Normalizers,
        raw: wit::RawPage,
        redactor: &Redactor,
    ) -> Result<Normalized, HostError> {
        let mut session = match normalizers.idle.take() {
            Some(s) => s,
            None => {
                let (s, _) = self
                    .configured_session(normalizers.stored.clone(), &normalizers.context)
                    .await?;
                s.allow(Vec::new());
                s
            }
        };
        match session.normalize_owned(raw).await {
            Ok(normalized) => {
                normalizers.put_back(session);
                Ok(normalized)
            }
            Err(e) => {
                normalizers.denied.extend(session.denied());
                Err(call_error(&e, redactor))
            }
        }
    }
}
