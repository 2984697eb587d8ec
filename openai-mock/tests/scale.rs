//! Start time and memory of a thousand organizations (5 users × 3 days each, the scale
//! benchmark's shape), counted by a global allocator of this test binary. One test only, so
//! nothing else allocates meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use openai_mock::{MockConfig, MockServer};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now =
                LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed) + layout.size() as isize;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            let now = LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            ) + new_size as isize
                - layout.size() as isize;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

const NOW: i64 = 1_767_225_600 + 10 * 3600 + 123;

#[tokio::test(flavor = "multi_thread")]
async fn thousand_organizations_start_fast_and_small() {
    const N: usize = 1_000;
    let config = MockConfig {
        now: Some(NOW),
        users: 5,
        days: 3,
        organizations: N,
        ..MockConfig::default()
    };
    let before = live();
    PEAK.store(before, Ordering::Relaxed);
    let t = Instant::now();
    let srv = MockServer::start(config).await.unwrap();
    let started = t.elapsed();
    let platform = live() - before;
    let peak = PEAK.load(Ordering::Relaxed) - before;

    let t = Instant::now();
    let truths = srv.ground_truths();
    let truth_time = t.elapsed();
    let rows: usize = truths.iter().map(|g| g.rows.len()).sum();
    drop(truths);

    let before_ws = live();
    let t = Instant::now();
    for i in 0..N {
        srv.workspace_truth_of(i);
    }
    let ws_time = t.elapsed();
    let workspaces = live() - before_ws;

    eprintln!(
        "{N} organizations × 5 users × 3 days: started in {started:?}; Platform data {} KiB in all, \
         {} B per organization (peak during start {} KiB); ground truths of all ({rows} rows) in \
         {truth_time:?}; every workspace generated (+ its truth) in {ws_time:?}, +{} B per organization",
        platform / 1024,
        platform / N as isize,
        peak / 1024,
        workspaces / N as isize,
    );
    assert!(started < Duration::from_secs(2), "{started:?}");
    assert!(platform / (N as isize) < 32 * 1024, "{platform} bytes");
    srv.shutdown().await;
}
