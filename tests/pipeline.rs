//! The pipelined sync (issue 14): each stream's next page is pulled while the page before
//! it is normalized and committed, by two instances of the real component against the
//! mock. Proven by order of events, not by timings: page 2 is requested while nothing can
//! be committed (the test holds the store), and page 3 is not (one page ahead at most).
//! Commits stay in page order; a failed normalize stops the stream with the pages before it
//! committed and none after; retries stay on the same cursor; a pipelined backfill equals
//! the ground truth, every page fetched once.

mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use common::*;
use host_harness::runner::{Harness, HostError, Progress, SyncOptions};
use host_harness::store::{Run, Store};
use openai_mock::{Fault, FaultRule, MockServer, ShapeChange};

const USERS_PATH: &str = "/organization/users";
const USAGE_PATH: &str = "/usage/completions";

fn rule(path: &str, skip: usize, times: usize, fault: Fault) -> FaultRule {
    FaultRule {
        path_contains: Some(path.to_string()),
        skip,
        times,
        fault,
    }
}

/// The mock's logged requests whose path contains `path`, as `path?query`, in order.
fn logged(mock: &MockServer, path: &str) -> Vec<String> {
    mock.requests()
        .into_iter()
        .filter(|r| r.path.contains(path))
        .map(|r| format!("{}?{}", r.path, r.query))
        .collect()
}

/// Wait (polling) until `ok()` holds, at most `patience`; whether it did.
async fn until(patience: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while !ok() {
        if start.elapsed() > patience {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    true
}

fn only(streams: &[&str]) -> SyncOptions {
    SyncOptions {
        streams: Some(streams.iter().map(|s| s.to_string()).collect()),
        ..SyncOptions::new("test")
    }
}

/// Run `sync` to its end, collecting its progress events.
async fn with_events<F>(
    sync: impl FnOnce(SyncOptions) -> F,
    opts: SyncOptions,
) -> (Result<Run, HostError>, Vec<Progress>)
where
    F: Future<Output = Result<Run, HostError>>,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let r = sync(SyncOptions {
        progress: Some(tx),
        ..opts
    })
    .await;
    let mut events = Vec::new();
    while let Ok(p) = rx.try_recv() {
        events.push(p);
    }
    (r, events)
}

/// The pages `stream` committed, as the events announced them (1, 2, …).
fn committed_pages(events: &[Progress], stream: &str) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            Progress::PageCommitted {
                stream: s, pages, ..
            } if s == stream => Some(*pages),
            _ => None,
        })
        .collect()
}

/// The raw pages the store holds, in the order they were committed: (stream, seq).
fn raw_pages(store: &Store) -> Vec<(String, i64)> {
    let db = store.sqlite().unwrap();
    let mut q = db
        .prepare("SELECT stream, seq FROM raw_pages ORDER BY id")
        .unwrap();
    q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

async fn setup(users: usize, days: u32) -> (Keys, MockServer, Harness, tempfile::TempDir, Store) {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, users, days))
        .await
        .unwrap();
    let h = harness(&connector_wasm(), Some(&mock)).await;
    let (dir, store) = store().await;
    configure(
        &h,
        &store,
        &[("backfill_days", &days.to_string())],
        &keys.admin,
    )
    .await
    .unwrap();
    mock.reset_requests();
    (keys, mock, h, dir, store)
}

/// What the observer saw while it held the store.
#[derive(Debug)]
enum Seen {
    /// It took the store too late (a page was already committed): try again, slower.
    TooLate,
    /// Users requests logged once page 2's was (or the wait ran out), and after waiting
    /// three more answers' time, both while no page could be committed.
    Held { second: bool, after_wait: usize },
}

#[tokio::test(flavor = "multi_thread")]
async fn the_next_page_is_pulled_while_the_page_before_cannot_be_committed() {
    // 600 users: 6 pages of 100. Every answer waits `stall`, logged as it arrives.
    let mut stall = Duration::from_millis(300);
    for attempt in 1..=4 {
        let (_keys, mock, h, _dir, store) = setup(600, 10).await;
        slow(&mock, stall);
        let sync = h.sync(&store, CONN, only(&["users"]));
        let observe = async {
            // Page 1 is asked for: every store call before its commit is done.
            assert!(
                until(Duration::from_secs(60), || logged(&mock, USERS_PATH).len()
                    >= 1)
                .await
            );
            // Hold the store's connection: no page can be committed until it is let go.
            let db = store.sqlite().unwrap();
            let committed: i64 = db
                .query_row("SELECT COUNT(*) FROM raw_pages", [], |r| r.get(0))
                .unwrap();
            if committed > 0 {
                return Seen::TooLate;
            }
            // A runner that commits page 1 before it asks for page 2 never gets here.
            let second = until(Duration::from_secs(30), || {
                logged(&mock, USERS_PATH).len() >= 2
            })
            .await;
            // One page ahead at most: page 3 waits for page 1's commit.
            tokio::time::sleep(stall * 3).await;
            let after_wait = logged(&mock, USERS_PATH).len();
            let still: i64 = db
                .query_row("SELECT COUNT(*) FROM raw_pages", [], |r| r.get(0))
                .unwrap();
            assert_eq!(
                still, 0,
                "a page was committed while the test held the store"
            );
            drop(db);
            Seen::Held { second, after_wait }
        };
        let (run, seen) = tokio::join!(sync, observe);
        let run = run.unwrap();
        match seen {
            Seen::TooLate => {
                eprintln!("attempt {attempt}: the store was taken after page 1's commit; again with a longer stall");
                stall *= 2;
                continue;
            }
            Seen::Held { second, after_wait } => {
                assert!(
                    second,
                    "page 2 was not requested while page 1 could not be committed"
                );
                assert_eq!(
                    after_wait, 2,
                    "more than one page was pulled ahead of the commits"
                );
            }
        }
        // Then everything, in order, once.
        assert_eq!(store.record_count(CONN, "users").await.unwrap(), 600);
        let pages = raw_pages(&store);
        assert_eq!(
            pages,
            (0..6).map(|i| ("users".to_string(), i)).collect::<Vec<_>>()
        );
        assert_eq!(run.streams["users"].requests, 6);
        assert_eq!(logged(&mock, USERS_PATH).len(), 6);
        return;
    }
    panic!("the test never took the store before page 1's commit, even with a stall of {stall:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pipelined_backfill_equals_the_ground_truth_commits_in_order_and_fetches_each_page_once()
{
    let (keys, mock, h, _dir, store) = setup(600, 90).await;
    // A little latency, so that pulls and commits overlap the way they do with a provider.
    slow(&mock, Duration::from_millis(20));
    let (run, events) = with_events(|o| h.sync(&store, CONN, o), SyncOptions::new("test")).await;
    let run = run.unwrap();

    // Exactly the ground truth: every line once, with the provider's numbers.
    let (stored, truth) = (stored_usage(&store).await, truth_usage(&mock));
    assert_eq!(stored.len(), truth.len());
    assert!(stored == truth, "the store differs from the ground truth");
    assert_eq!(store.record_count(CONN, "users").await.unwrap(), 600);

    // Each page asked for once (the api_keys stream lists the projects again, by design:
    // usage and users only), and counted by the host as the mock logged it.
    let log = mock.requests();
    assert!(log.iter().all(|r| r.status == 200), "{log:?}");
    for path in [USAGE_PATH, USERS_PATH] {
        let mut queries = logged(&mock, path);
        let n = queries.len();
        queries.sort();
        queries.dedup();
        assert_eq!(queries.len(), n, "a page of {path} was fetched twice");
    }
    assert_eq!(run.requests(), log.len() as u64);
    assert_eq!(run.streams["usage"].requests, 3);
    assert_eq!(run.streams["users"].requests, 6);

    // Commits in page order, stream after stream, each announced in order.
    for (stream, pages) in [("usage", 3), ("users", 6)] {
        assert_eq!(
            committed_pages(&events, stream),
            (1..=pages).collect::<Vec<u64>>(),
            "{stream}"
        );
        assert_eq!(run.streams[stream].pages, pages);
    }
    // In the store: one stream after another, each one's pages in order, none twice.
    let mut blocks: Vec<(String, Vec<i64>)> = Vec::new();
    for (stream, seq) in raw_pages(&store) {
        match blocks.last_mut() {
            Some((s, seqs)) if *s == stream => seqs.push(seq),
            _ => blocks.push((stream, vec![seq])),
        }
    }
    for (i, (stream, seqs)) in blocks.iter().enumerate() {
        assert_eq!(
            *seqs,
            (0..seqs.len() as i64).collect::<Vec<_>>(),
            "{stream}: {blocks:?}"
        );
        assert!(
            blocks[..i].iter().all(|(s, _)| s != stream),
            "{stream} twice: {blocks:?}"
        );
    }
    assert_eq!(
        blocks.iter().find(|(s, _)| s == "usage").unwrap().1.len(),
        3
    );
    assert_eq!(
        blocks.iter().find(|(s, _)| s == "users").unwrap().1.len(),
        6
    );
    // Every stream starts before its pages and is done after them.
    for stream in ["usage", "users"] {
        let at = |f: &dyn Fn(&Progress) -> bool| {
            events
                .iter()
                .position(|e| e.stream() == stream && f(e))
                .unwrap()
        };
        let started = at(&|e| matches!(e, Progress::StreamStarted { .. }));
        let first = at(&|e| matches!(e, Progress::PageCommitted { .. }));
        let done = at(&|e| matches!(e, Progress::StreamDone { .. }));
        let last = events
            .iter()
            .rposition(|e| e.stream() == stream && matches!(e, Progress::PageCommitted { .. }))
            .unwrap();
        assert!(started < first && last < done, "{stream}: {events:?}");
    }
    assert_no_secret(
        "store outside the secret slot",
        &dump_store_outside_secrets(&store).await,
        &keys.admin,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_normalize_failure_on_page_3_leaves_pages_1_and_2_committed_and_nothing_after() {
    let (_keys, mock, h, _dir, store) = setup(600, 10).await;
    // Page 3's answer has a field of the wrong type: pull-page reads only the ids, so
    // page 3 is pulled (and page 4 asked for beside it); normalize refuses it.
    mock.inject(rule(USERS_PATH, 2, 1, Fault::Shape(ShapeChange::WrongType)));
    let (run, events) = with_events(|o| h.sync(&store, CONN, o), only(&["users"])).await;
    let e = run.unwrap_err();
    assert_eq!(e.class, "provider-changed", "{e:?}");
    assert!(
        e.message.contains("stream users, field data[0].added_at"),
        "{}",
        e.message
    );

    assert_eq!(committed_pages(&events, "users"), vec![1, 2]);
    assert_eq!(store.record_count(CONN, "users").await.unwrap(), 200);
    assert_eq!(
        raw_pages(&store),
        vec![("users".to_string(), 0), ("users".to_string(), 1)]
    );
    // A full-refresh stream checkpoints on its last page only: none yet.
    assert_eq!(store.checkpoint(CONN, "users").await.unwrap(), None);
    assert!(!events
        .iter()
        .any(|e| matches!(e, Progress::StreamDone { .. })));

    // The history: failed, two pages, and the requests the host sent (the pull ahead of
    // page 4 included, when it had gone out before the run stopped).
    let failed = last_run(&store).await;
    assert_eq!(failed.status, "failed");
    assert_eq!(failed.error_class.as_deref(), Some("provider-changed"));
    let counts = &failed.streams["users"];
    assert_eq!((counts.pages, counts.inserted), (2, 200));
    let served = logged(&mock, USERS_PATH).len() as u64;
    // (page 3's request counts: the host sent it)
    assert!((3..=4).contains(&counts.requests), "{counts:?}");
    assert!(
        served <= counts.requests,
        "the mock served {served}, the host counted {}",
        counts.requests
    );

    // The next run reads the stream again and finishes it.
    mock.clear_faults();
    h.sync(&store, CONN, only(&["users"])).await.unwrap();
    assert_eq!(store.record_count(CONN, "users").await.unwrap(), 600);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limited_page_is_retried_on_its_own_cursor_while_the_page_before_commits() {
    let (_keys, mock, h, _dir, store) = setup(600, 10).await;
    mock.inject(rule(
        USERS_PATH,
        2,
        2,
        Fault::Status {
            status: 429,
            retry_after: Some("0".into()),
        },
    ));
    let (run, events) = with_events(|o| h.sync(&store, CONN, o), only(&["users"])).await;
    let run = run.unwrap();

    // Page 3 three times (429, 429, 200), on the same cursor; every other page once.
    let log = mock.requests();
    let statuses: Vec<u16> = log.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        vec![200, 200, 429, 429, 200, 200, 200, 200],
        "{log:?}"
    );
    let queries = logged(&mock, USERS_PATH);
    assert_eq!(queries[2], queries[3]);
    assert_eq!(queries[3], queries[4]);
    assert!(queries[4].contains("after="), "{}", queries[4]);
    let waits: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Progress::Waiting { class, .. } => Some(class.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(waits, vec!["rate-limited", "rate-limited"]);

    // Each retry is a request the host sent and counted.
    assert_eq!(run.streams["users"].requests, 8);
    assert_eq!(
        committed_pages(&events, "users"),
        (1..=6).collect::<Vec<u64>>()
    );
    assert_eq!(store.record_count(CONN, "users").await.unwrap(), 600);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_limit_stops_the_stream_without_pulling_past_it() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 600, 10))
        .await
        .unwrap();
    let mut c = config(&connector_wasm(), Some(&mock));
    c.max_pages_per_stream = 3;
    let h = Harness::load(c).await.unwrap();
    let (_dir, store) = store().await;
    configure(&h, &store, &[("backfill_days", "10")], &keys.admin)
        .await
        .unwrap();
    mock.reset_requests();
    let (run, events) = with_events(|o| h.sync(&store, CONN, o), only(&["users"])).await;
    let e = run.unwrap_err();
    assert_eq!(e.class, "sandbox");
    assert!(e.message.contains("more than 3 pages"), "{}", e.message);
    assert_eq!(committed_pages(&events, "users"), vec![1, 2, 3]);
    assert_eq!(store.record_count(CONN, "users").await.unwrap(), 300);
    // Page 4 was never asked for.
    assert_eq!(logged(&mock, USERS_PATH).len(), 3);
    assert_eq!(last_run(&store).await.streams["users"].requests, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_refresh_reads_every_page_again_and_duplicates_nothing() {
    let (_keys, mock, h, _dir, store) = setup(60, 90).await;
    h.sync(&store, CONN, only(&["usage"])).await.unwrap();
    // Incremental: the lookback only.
    let run = h.sync(&store, CONN, only(&["usage"])).await.unwrap();
    assert_eq!(run.streams["usage"].pages, 1);
    mock.reset_requests();
    let (run, events) = with_events(
        |o| h.sync(&store, CONN, o),
        SyncOptions {
            full_refresh: true,
            ..only(&["usage"])
        },
    )
    .await;
    let run = run.unwrap();
    assert_eq!(committed_pages(&events, "usage"), vec![1, 2, 3]);
    assert_eq!(run.streams["usage"].requests, 3);
    assert_eq!(logged(&mock, USAGE_PATH).len(), 3);
    let (stored, truth) = (stored_usage(&store).await, truth_usage(&mock));
    assert!(stored == truth, "the store differs from the ground truth");
    assert_eq!(run.streams["usage"].inserted, 0);
}
