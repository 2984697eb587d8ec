//! Everything the host decides about what a component may do, in one place: which origins
//! it may reach and how (allow-list by scheme, host and port; https only; private networks
//! refused; the host's own test redirect), where its secrets may go, how many requests one
//! call may make, HTTP timeouts and body caps, and the memory, CPU and wall-clock limits of
//! an instance.

pub mod address;
pub mod connect;
pub mod outbound;
pub mod redirect;
pub mod secrets;

use std::time::Duration;

pub use connect::Resolver;
pub use redirect::{Redirect, Target};

/// The limits and routing the host applies to every instance of a component.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The host's own redirects of declared origins to test servers.
    pub redirects: Vec<Redirect>,
    /// How names are resolved (the system, or a table in tests).
    pub resolver: Resolver,
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub between_bytes_timeout: Duration,
    /// Largest response body handed to the component.
    pub max_body_bytes: u64,
    /// Requests one export call may make in all, and at once. A call that tries more is
    /// stopped with a `sandbox` failure.
    pub max_requests_per_call: u32,
    pub max_requests_in_flight: u32,
    /// Linear-memory cap of one instance.
    pub max_memory_bytes: usize,
    /// Host-side resources (wasi:http requests, fields, streams …) one instance may hold at
    /// once, and the bytes one `fields` resource may hold. Together they bound the host
    /// memory a component can pin outside its own linear memory: about
    /// `max_resources × max_field_bytes`.
    pub max_resources: usize,
    pub max_field_bytes: usize,
    /// Largest write the component may buffer into a request body at once (it stays in
    /// host memory until sent); also bounded per resource.
    pub max_body_chunk_bytes: usize,
    /// Bytes one call may copy out of the component (its results, its strings handed to
    /// the host): wasmtime's hostcall fuel.
    pub max_lifted_bytes: usize,
    /// Wall-clock limit of one export call (a `pull-page` includes its HTTP requests).
    pub call_timeout: Duration,
    /// CPU time one export call may spend executing WebAssembly (counted in epoch ticks
    /// of [`EPOCH_TICK`]; time spent waiting on the network does not count).
    pub cpu_budget: Duration,
    /// Largest raw page body the host accepts from `pull-page`.
    pub max_page_bytes: usize,
    /// Most records, and largest record (key and payload), the host accepts from one
    /// `normalize`.
    pub max_records_per_page: usize,
    pub max_record_bytes: usize,
}

/// How often the engine's epoch advances; the CPU budget is counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

impl Default for Policy {
    fn default() -> Self {
        Policy {
            redirects: Vec::new(),
            resolver: Resolver::System,
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(60),
            between_bytes_timeout: Duration::from_secs(30),
            max_body_bytes: 192 * 1024 * 1024,
            max_requests_per_call: 200,
            max_requests_in_flight: 8,
            max_memory_bytes: 1024 * 1024 * 1024,
            max_resources: 1_024,
            max_field_bytes: 32 * 1024,
            max_body_chunk_bytes: 64 * 1024,
            max_lifted_bytes: 256 * 1024 * 1024,
            call_timeout: Duration::from_secs(180),
            cpu_budget: Duration::from_secs(60),
            max_page_bytes: 192 * 1024 * 1024,
            max_records_per_page: 1_000_000,
            max_record_bytes: 1024 * 1024,
        }
    }
}

impl Policy {
    /// The redirect for a (normalized) host name, if the host set one.
    pub fn redirect_for(&self, host: &str) -> Option<&Target> {
        self.redirects
            .iter()
            .find(|r| r.host == host)
            .map(|r| &r.target)
    }
}
