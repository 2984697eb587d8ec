//! Pulling one page through the pull instance: `pull-page`, retried on the same cursor
//! after a rate limit (waiting what the provider asked, within bounds), a transient failure
//! (backing off) or a request that never reached its origin (once), with the host's own
//! count of the requests it took.

use std::time::Duration;

use super::progress::{emit, Progress, ProgressTx};
use super::{body_over_cap, call_error, connector_error, Harness, HostError};
use crate::bindings::v0_2::types as wit;
use crate::redact::Redactor;
use crate::sandbox::Session;

/// A page pulled (or the failure that ended its retries), and the requests the host sent
/// for it, retries included.
pub(super) struct Pulled {
    pub page: Result<wit::Page, HostError>,
    pub requests: u64,
}

/// Where a pull reads from: a stream, from its checkpoint, at a cursor.
#[derive(Clone, Copy)]
pub(super) struct At<'a> {
    pub stream: &'a str,
    pub checkpoint: Option<&'a str>,
    pub cursor: Option<&'a str>,
}

impl Harness {
    /// Pull the page `at` with the pull instance `session`. A page of another stream is
    /// refused here, before anything else sees it.
    pub(super) async fn pull(
        &self,
        session: &mut Session,
        redactor: &Redactor,
        at: At<'_>,
        progress: Option<&ProgressTx>,
    ) -> Pulled {
        let before = session.requests();
        let page = self
            .pull_with_retries(session, redactor, at, progress)
            .await;
        let requests = session.requests() - before;
        let page = page.and_then(|p| {
            if p.raw.stream == at.stream {
                Ok(p)
            } else {
                Err(HostError::new(
                    "sandbox",
                    "the component returned a page of another stream",
                ))
            }
        });
        Pulled { page, requests }
    }

    /// `pull-page`, retried on the same cursor after a rate limit (waiting what the
    /// provider asked, within bounds) or a transient failure (backing off).
    async fn pull_with_retries(
        &self,
        session: &mut Session,
        redactor: &Redactor,
        at: At<'_>,
        progress: Option<&ProgressTx>,
    ) -> Result<wit::Page, HostError> {
        let At {
            stream,
            checkpoint,
            cursor,
        } = at;
        let retry = &self.config().retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let err = match session.pull_page(stream, checkpoint, cursor).await {
                Ok(Ok(page)) => return Ok(page),
                Ok(Err(e)) => e,
                Err(e) => return Err(call_error(&e, redactor)),
            };
            // Not retried: the same page would be as large again.
            if let Some(cap) = session.take_oversize() {
                return Err(body_over_cap(cap));
            }
            // A request that never reached its origin is not a provider outage: say which
            // origin and why, and retry once at most (a network or redirect problem does
            // not go away in seconds).
            if let (wit::ConnectorError::Transient(_), Some(u)) = (&err, session.take_unreachable())
            {
                let via = u
                    .via
                    .map(|v| format!(" (redirected to {v})"))
                    .unwrap_or_default();
                let e = HostError::new(
                    "network",
                    redactor.redact(&format!("could not reach {}{via}: {}", u.origin, u.what)),
                );
                if attempt >= 2 {
                    return Err(e);
                }
                emit(
                    progress,
                    Progress::Waiting {
                        stream: stream.to_string(),
                        class: "network".into(),
                        delay: retry.base_delay,
                        attempt,
                    },
                );
                tokio::time::sleep(retry.base_delay).await;
                continue;
            }
            let (class, message) = connector_error(&err);
            let retry_after = match &err {
                wit::ConnectorError::RateLimited(r) => {
                    Some(r.retry_after_ms.map(Duration::from_millis))
                }
                wit::ConnectorError::Transient(_) => Some(None),
                _ => None,
            };
            match retry_after {
                Some(ra) if attempt < retry.max_attempts => {
                    let delay = retry.delay(attempt, ra);
                    tracing::info!(stream = %stream, class = %class, attempt, ?delay, "retrying the same cursor");
                    emit(
                        progress,
                        Progress::Waiting {
                            stream: stream.to_string(),
                            class: class.clone(),
                            delay,
                            attempt,
                        },
                    );
                    tokio::time::sleep(delay).await;
                }
                Some(_) => {
                    return Err(HostError::new(
                        &class,
                        format!(
                            "{} (gave up after {attempt} attempts)",
                            redactor.redact(&message)
                        ),
                    ))
                }
                None => return Err(HostError::new(&class, redactor.redact(&message))),
            }
        }
    }
}
