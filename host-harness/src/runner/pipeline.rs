//! One stream's pages, pipelined over instances of the component: while the pull instance
//! fetches page N+1 (its cursor is page N's `next-cursor`, known as soon as page N is
//! pulled), a normalize instance ([`super::normalizers`]) turns page N into records, the host checks them and
//! commits page N with its records and checkpoint.
//!
//! - **In order.** Page N+1 is committed only after page N's commit returned; if page N's
//!   normalize, check or commit fails, the pull ahead is dropped where it stands (whatever
//!   it fetched is never used) and the run stops: nothing after page N is committed.
//! - **Bounded.** At most one page is pulled ahead: page N+2 is not asked for before page
//!   N is committed and page N+1 taken up.
//! - **Crash-safe as before.** Each commit is one transaction (page, records, checkpoint);
//!   a crash loses the pages not yet committed, at most the one being committed and the
//!   one pulled ahead, and the next run resumes from the last committed checkpoint.
//! - **One task.** Both stages are futures of the run's own task (normalize yields to the
//!   executor every epoch tick, the checks and the commit run on blocking threads), so the
//!   run stays one `Send` future that stops wherever it is dropped.

use std::future::Future;
use std::pin::pin;

use super::normalizers::Normalizers;
use super::progress::{emit, Progress, ProgressTx};
use super::pull::At;
use super::{connector_error, rfc3339, Harness, HostError};
use crate::bindings::v0_2::types as wit;
use crate::redact::Redactor;
use crate::sandbox::Session;
use crate::store::{RunLease, Store, StreamCounts};

/// The run's instances of the component, configured identically: `pull` is the only one
/// that makes requests; the pages are normalized by [`Normalizers`].
pub(super) struct Instances {
    pub pull: Session,
    pub normalize: Normalizers,
    pub redactor: Redactor,
}

/// What committing one page needs besides the page.
struct Target<'a> {
    store: &'a Store,
    lease: &'a RunLease,
    stream: &'a str,
    /// Fields of the stream's primary key.
    key_len: usize,
    progress: Option<&'a ProgressTx>,
}

impl Harness {
    /// Sync `stream` from its checkpoint (none with `full_refresh`), page by page, adding
    /// what is committed to `total`.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn sync_stream(
        &self,
        instances: &mut Instances,
        store: &Store,
        lease: &RunLease,
        stream: &str,
        full_refresh: bool,
        progress: Option<&ProgressTx>,
        total: &mut StreamCounts,
    ) -> Result<(), HostError> {
        emit(
            progress,
            Progress::StreamStarted {
                stream: stream.to_string(),
            },
        );
        let key_len = self
            .info()
            .streams
            .iter()
            .find(|s| s.name == stream)
            .map_or(0, |s| s.primary_key.len());
        let checkpoint = if full_refresh {
            None
        } else {
            store.checkpoint(&lease.connection, stream).await?
        };
        let max = self.config().max_pages_per_stream;
        let too_many = || {
            HostError::new(
                "sandbox",
                format!("stream {stream} returned more than {max} pages in one run; stopped"),
            )
        };
        let Instances {
            pull,
            normalize,
            redactor,
        } = instances;
        let redactor: &Redactor = redactor;
        let first = At {
            stream,
            checkpoint: checkpoint.as_deref(),
            cursor: None,
        };
        let target = Target {
            store,
            lease,
            stream,
            key_len,
            progress,
        };
        if total.pages >= max {
            return Err(too_many());
        }
        // The first page: nothing to overlap it with.
        let mut pulled = self.pull(pull, redactor, first, progress).await;
        loop {
            let page = match pulled.page {
                Ok(p) => p,
                Err(e) => {
                    total.requests += pulled.requests;
                    return Err(e);
                }
            };
            let requests = pulled.requests;
            // The cursor the next pull gets is the one the host stores: redacted.
            let next = page.next_cursor.as_ref().map(|c| redactor.redact(c));
            let seq = total.pages;
            let work = self.commit_page(normalize, redactor, &target, seq, page, requests, total);
            let Some(cursor) = next.as_deref().filter(|_| seq + 1 < max) else {
                // The last page, or the last one this run may take.
                if let Err(e) = work.await {
                    total.requests += requests;
                    return Err(e);
                }
                if next.is_some() {
                    return Err(too_many());
                }
                break;
            };
            let before = pull.requests();
            let ahead = self.pull(
                pull,
                redactor,
                At {
                    cursor: Some(cursor),
                    ..first
                },
                progress,
            );
            let r = beside(work, ahead).await;
            match r {
                Ok(p) => pulled = p,
                Err(e) => {
                    // The page was not committed and the pull ahead is dropped; the
                    // requests of both still count for the run.
                    total.requests += requests + pull.requests() - before;
                    return Err(e);
                }
            }
        }
        emit(
            progress,
            Progress::StreamDone {
                stream: stream.to_string(),
                counts: total.clone(),
            },
        );
        Ok(())
    }

    /// Normalize `page` with the normalize instance, check its records, and commit page,
    /// records and checkpoint in one transaction as page `seq` of its stream; its counts
    /// are added to `total` and announced.
    #[allow(clippy::too_many_arguments)]
    async fn commit_page(
        &self,
        normalizers: &mut Normalizers,
        redactor: &Redactor,
        t: &Target<'_>,
        seq: u64,
        mut page: wit::Page,
        requests: u64,
        total: &mut StreamCounts,
    ) -> Result<(), HostError> {
        let (raw, normalized) = self.normalize_page(normalizers, page.raw, redactor).await?;
        page.raw = raw;
        let records = normalized.map_err(|e| {
            let (class, message) = connector_error(&e);
            HostError::new(&class, redactor.redact(&message))
        })?;
        let records = super::check::check(t.stream, t.key_len, records, redactor).await?;
        if let Some(w) = &page.window {
            t.store
                .set_window(t.lease.run_id, &rfc3339(w.start), &rfc3339(w.end))
                .await?;
        }
        let page = redact_page(page, redactor);
        let c = t
            .store
            .commit_page(t.lease, seq, page, requests, records)
            .await
            .map_err(|e| match e.downcast_ref::<crate::store::LeaseLost>() {
                Some(_) => HostError::from(e),
                None => HostError::new("store", redactor.redact(&format!("{e:#}"))),
            })?;
        total.add(&c);
        emit(
            t.progress,
            Progress::PageCommitted {
                stream: t.stream.to_string(),
                pages: total.pages,
                counts: total.clone(),
            },
        );
        Ok(())
    }
}

/// Run `work` to its end while `ahead` makes progress beside it, then let `ahead` finish.
/// If `work` fails, its error is returned at once and `ahead` dropped where it stands.
async fn beside<W, A>(work: W, ahead: A) -> Result<A::Output, HostError>
where
    W: Future<Output = Result<(), HostError>>,
    A: Future,
{
    let mut work = pin!(work);
    let mut ahead = pin!(ahead);
    let mut early = None;
    loop {
        tokio::select! {
            // The pull first: it only sends its request and waits, and that wait, not
            // the commit, is what the stream's time is made of.
            biased;
            pulled = &mut ahead, if early.is_none() => early = Some(pulled),
            done = &mut work => {
                done?;
                break;
            }
        }
    }
    Ok(match early {
        Some(p) => p,
        None => ahead.await,
    })
}

/// The strings of a page the host stores, redacted (the body, cursors and checkpoint).
fn redact_page(mut p: wit::Page, redactor: &Redactor) -> wit::Page {
    if redactor.finds(&p.raw.body) {
        p.raw.body = redactor.redact(&p.raw.body);
    }
    p.raw.scope = p.raw.scope.map(|s| redactor.redact(&s));
    p.checkpoint = p.checkpoint.map(|s| redactor.redact(&s));
    p.next_cursor = p.next_cursor.map(|s| redactor.redact(&s));
    p
}
