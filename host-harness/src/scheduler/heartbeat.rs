//! A lease taken is a lease kept alive. Between the moment a run's lease is taken (claimed
//! by the dispatcher, or started by a trigger) and the moment the runner's own heartbeat
//! takes over ([`crate::runner::Harness::run`] renews it while the streams are pulled), the
//! run may wait: for a free worker (a triggered run, while every worker is busy) or for its
//! component to load (compiled the first time a process needs it). [`keep_alive`] renews
//! the lease through that wait, so another host does not take a live run over.

use std::future::Future;
use std::time::Duration;

use crate::store::{LeaseLost, RunLease, Store};

/// Run `work` while renewing `lease` every third of its time to live. `Err` when the lease
/// was lost meanwhile (taken over after a long outage of the store): the run must not
/// write anything more, and whoever took it over closed it.
pub(crate) async fn keep_alive<T>(
    store: &Store,
    lease: &RunLease,
    work: impl Future<Output = T>,
) -> Result<T, LeaseLost> {
    let mut beat = lease.clone();
    tokio::select! {
        r = work => Ok(r),
        lost = renew(store, &mut beat) => Err(lost),
    }
}

/// Renew until the lease is lost; a store that does not answer is retried (if it stays
/// away past the expiry, the lease is taken over and the next renewal says so).
async fn renew(store: &Store, lease: &mut RunLease) -> LeaseLost {
    let every = (store.lease_ttl() / 3).max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = store.renew(lease).await {
            if let Some(lost) = e.downcast_ref::<LeaseLost>() {
                return lost.clone();
            }
            tracing::warn!("cannot renew the run's lease: {e:#}");
        }
    }
}
