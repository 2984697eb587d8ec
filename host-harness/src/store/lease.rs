//! Leases: at most one run at a time per connection, across every host process that shares
//! the store.
//!
//! - Every connection has one row in `leases`. A run starts by taking it **in the same
//!   transaction** that inserts the run's history row: free (no owner) or expired, it is
//!   taken; held by a live owner, the start is refused ([`Busy`]) and nothing is recorded.
//! - The lease has a time to live and is renewed while the run goes (a heartbeat,
//!   [`crate::store::Store::renew`]); finishing the run releases it.
//! - A lease that expired was held by a process that stopped renewing it (killed, hung,
//!   cut off). Whoever takes it over marks the run it covered `interrupted`, keeping the
//!   counts that run had committed (every page updates them in its own transaction), in
//!   the same transaction. [`crate::store::Store::reap`] does the same for any expired
//!   lease without starting a run ("the store notices"), and also releases, at once, a
//!   lease whose owner is a process **of this machine** that no longer exists.
//! - Every write a run makes is fenced: a page commits only while the run is still
//!   `running`, i.e. while no one took its lease over; a run whose lease was taken over can
//!   no longer commit, renew or finish.
//!
//! Owners are `hostname:pid:random` strings ([`process_owner`]); the random part tells two
//! processes apart that reuse a pid.

use std::time::Duration;

/// How long a lease lives without a renewal.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);

/// A run in progress, and the lease that lets it write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunLease {
    pub connection: String,
    pub run_id: i64,
    pub owner: String,
    /// When the lease expires unless renewed (Unix milliseconds, the store's clock).
    pub expires_at_ms: i64,
}

/// Why a run could not start: the connection's lease is held by a live owner.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("run {run_id} of connection {connection} is in progress (held by {owner})")]
pub struct Busy {
    pub connection: String,
    pub owner: String,
    pub run_id: i64,
}

/// A run's lease was taken over (it expired) or released: the run may not write anymore.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("run {run_id} of connection {connection} lost its lease (it expired and was taken over); it stopped writing")]
pub struct LeaseLost {
    pub connection: String,
    pub run_id: i64,
}

/// The message of a run whose lease expired and was taken over.
pub const EXPIRED_MESSAGE: &str =
    "the host running it stopped renewing its lease (killed or cut off); the next run resumes from the last committed page";

/// This process's owner id: `hostname:pid:random` (the same for the life of the process).
pub fn process_owner() -> &'static str {
    static OWNER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    OWNER.get_or_init(|| new_owner())
}

/// A new owner id for this process (tests use several to play several hosts).
pub fn new_owner() -> String {
    let random = crate::random::hex(6).unwrap_or_else(|_| "0".repeat(12));
    format!("{}:{}:{random}", hostname(), std::process::id())
}

/// This machine's name, as owners carry it.
pub fn hostname() -> String {
    #[cfg(unix)]
    {
        let name = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        let name: String = name
            .chars()
            .filter(|c| *c != ':' && !c.is_control())
            .collect();
        if !name.is_empty() {
            return name;
        }
    }
    "localhost".to_string()
}

/// Whether `owner` is a process of this machine that no longer exists: its lease can be
/// released without waiting for it to expire. Only a definite "gone" counts; an owner of
/// another machine, or one this cannot tell, waits for the expiry.
pub fn owner_gone(owner: &str) -> bool {
    let mut parts = owner.rsplitn(3, ':');
    let (Some(_random), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if host != hostname() {
        return false;
    }
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    if pid == std::process::id() {
        // This process: its own leases are alive as long as it runs (a test's second
        // owner in the same process is alive too).
        return false;
    }
    process_gone(pid)
}

#[cfg(target_os = "linux")]
fn process_gone(pid: u32) -> bool {
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(not(target_os = "linux"))]
fn process_gone(_pid: u32) -> bool {
    false
}

/// Unix milliseconds now (the embedded store's clock; a shared store uses its server's).
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A lease's time to live in milliseconds (at least 1).
pub fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis())
        .unwrap_or(i64::MAX / 4)
        .max(1)
}

/// `every` × (1 ± `jitter`), drawn now (jitter clamped to 0..=0.5), in milliseconds.
pub fn jittered_ms(every_ms: i64, jitter: f64) -> i64 {
    let j = jitter.clamp(0.0, 0.5);
    let u = crate::random::unit().unwrap_or(0.5);
    ((every_ms as f64) * (1.0 + j * (2.0 * u - 1.0))).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_name_their_host_and_process() {
        let o = new_owner();
        assert!(
            o.starts_with(&format!("{}:{}:", hostname(), std::process::id())),
            "{o}"
        );
        assert_ne!(o, new_owner());
        assert!(!owner_gone(&o), "this process is alive");
        assert!(
            !owner_gone("elsewhere:1:abc"),
            "another machine: wait for the expiry"
        );
        assert!(!owner_gone("garbage"));
        assert!(owner_gone(&format!("{}:{}:abc", hostname(), u32::MAX - 7)));
        for _ in 0..50 {
            let d = jittered_ms(1000, 0.1);
            assert!((900..=1100).contains(&d), "{d}");
        }
    }
}
