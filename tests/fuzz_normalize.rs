//! Robustness: a million generated and mutated provider bodies through `normalize`, the
//! paging parsers of every stream (the Platform's and the Codex Analytics API's) and the
//! error classifiers of both sources. No panic, and no allocation out of proportion to the
//! input (a counting global allocator checks every case).
//!
//! `FUZZ_ITERATIONS` (default 1,000,000) and `FUZZ_SEED` (default 1) pick the run; a
//! failure prints the seed, iteration and body so it can be replayed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};

use codex_connector::capability::Capability;
use codex_connector::fuzzing::{case, seeds, Rng};
use codex_connector::model::{ConnectorError, RawPage};
use codex_connector::normalize::normalize;
use codex_connector::provider_error::classify;
use codex_connector::settings::{Period, Settings};
use codex_connector::streams::pull_page;
use codex_connector::transport::{HttpResponse, Request, Transport};

/// Tracks live and peak heap bytes, so each case can assert bounded allocation.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

struct Replay {
    replies: VecDeque<HttpResponse>,
}

impl Transport for Replay {
    fn get(&mut self, request: &Request<'_>) -> Result<HttpResponse, ConnectorError> {
        // The credential is the host's: named, never carried, and only to its own origin.
        let expected = match request.origin.host {
            "api.openai.com" => "api_token",
            "api.chatgpt.com" => "analytics_api_key",
            other => panic!("a request to {other}"),
        };
        assert_eq!(request.secret, expected);
        assert!(request
            .headers
            .iter()
            .all(|(name, _)| !name.eq_ignore_ascii_case("authorization")));
        self.replies
            .pop_front()
            .ok_or_else(|| ConnectorError::Transient("no reply".into()))
    }
    fn now(&self) -> i64 {
        1_730_600_000
    }
}

#[test]
fn a_million_mutated_bodies_never_panic_or_balloon() {
    let iterations: u64 = std::env::var("FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let settings = Settings::for_normalize("*codex*", &["proj_abc"], &["key_svc"])
        .with_chatgpt("123e4567-e89b-42d3-a456-426614174000", Period::Day);
    let seeds = seeds();
    let mut rng = Rng::new(seed);
    let (mut ok, mut rejected, mut worst_ratio) = (0u64, 0u64, 0f64);
    let started = std::time::Instant::now();
    for i in 0..iterations {
        let (stream, body) = case(&mut rng, &seeds);
        let status = if rng.below(6) == 0 {
            *rng.pick(&[400u16, 401, 403, 404, 422, 429, 500, 503])
        } else {
            200
        };
        let input = body.len();
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let outcome = std::panic::catch_unwind(|| {
            let raw = RawPage {
                stream: stream.to_string(),
                scope: Some("proj_abc".into()),
                fetched_at: 1_730_600_000,
                body: body.clone(),
            };
            let normalized = normalize(&raw, &settings);
            let resp = HttpResponse {
                status,
                body: body.clone(),
                retry_after: Some("3".into()),
                ..Default::default()
            };
            let _ = classify(&resp, Capability::PlatformUsage);
            let _ = classify(&resp, Capability::WorkspaceUsage);
            let mut t = Replay {
                replies: VecDeque::from([resp.clone(), resp]),
            };
            let paged = pull_page(&mut t, &settings, stream, None, None);
            (normalized.is_ok(), paged.is_ok())
        });
        let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
        match outcome {
            Ok((n, _)) => {
                if n {
                    ok += 1
                } else {
                    rejected += 1
                }
            }
            Err(_) => panic!("panic at seed {seed} iteration {i} on {stream} body {body:?}"),
        }
        // Output records are a few times the input; anything far beyond is unbounded growth.
        let bound = 64 * input + 256 * 1024;
        assert!(
            peak <= bound,
            "seed {seed} iteration {i}: {peak} bytes allocated for a {input}-byte body {body:?}"
        );
        worst_ratio = worst_ratio.max(peak as f64 / (input.max(1)) as f64);
    }
    println!(
        "fuzz: {iterations} bodies in {:.1}s (seed {seed}): {ok} normalized, {rejected} rejected as provider-changed/internal; worst allocation {worst_ratio:.1}× the input",
        started.elapsed().as_secs_f64()
    );
    assert!(
        ok > iterations / 20 && rejected > iterations / 20,
        "the mutations should give both outcomes"
    );
}
