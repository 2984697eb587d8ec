//! The store's contract, run on both backends: every case below runs once on an embedded
//! SQLite file and once on a PostgreSQL database of a throw-away server
//! (`common::postgres`): connections isolated from each other, a page committed whole or
//! not at all, upserts by natural key, leases (busy, expiry and takeover, fencing),
//! claiming due connections from two owners at once, secrets sealed at rest (wrong key,
//! rotation, a copy without the key), and the default connection. Then the CLI on
//! PostgreSQL, and the connection commands.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use host_harness::bindings::v0_2::types as wit;
use host_harness::records::CheckedRecord;
use host_harness::secret::Secret;
use host_harness::store::{
    crypto, lease, KeyMismatch, KeySource, LeaseLost, Location, NewConnection, NoKey, SecretKey,
    Store, StoreOptions, DEFAULT_CONNECTION,
};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Backend {
    Sqlite,
    Postgres,
}

struct Fixture {
    dir: tempfile::TempDir,
    location: Location,
    key_file: PathBuf,
    store: Store,
}

impl Fixture {
    fn opts(&self, ttl: Duration) -> StoreOptions {
        StoreOptions {
            key: KeySource::File(self.key_file.clone()),
            lease_ttl: ttl,
        }
    }

    /// Another handle on the same store (another host process, as far as the store knows).
    async fn another(&self, ttl: Duration) -> Store {
        Store::open(&self.location, self.opts(ttl)).await.unwrap()
    }
}

async fn fixture(backend: Backend, ttl: Duration) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("secret.key");
    crypto::write_key_file(&key_file, &SecretKey::generate().unwrap()).unwrap();
    let location = match backend {
        Backend::Sqlite => Location::Sqlite(dir.path().join("store.db")),
        Backend::Postgres => Location::Postgres(postgres::database().await),
    };
    let opts = StoreOptions {
        key: KeySource::File(key_file.clone()),
        lease_ttl: ttl,
    };
    let store = Store::open(&location, opts).await.unwrap();
    Fixture {
        dir,
        location,
        key_file,
        store,
    }
}

/// Each case on both backends.
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread")]
            async fn sqlite() {
                super::$name(super::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn postgres() {
                super::$name(super::Backend::Postgres).await
            }
        }
    )*};
}

both!(
    connections_are_isolated,
    a_failing_page_leaves_nothing,
    records_upsert_by_natural_key,
    leases_refuse_expire_and_fence,
    two_owners_never_claim_one_connection,
    secrets_are_sealed_and_a_wrong_key_destroys_nothing,
    the_default_connection,
    delivery_and_people_are_kept_per_connection,
);

const LONG: Duration = Duration::from_secs(30);

async fn add(store: &Store, id: &str) {
    store
        .add_connection(&NewConnection {
            id: id.into(),
            name: format!("Connection {id}"),
            component: "/nowhere/c.wasm".into(),
            connector: Some("c".into()),
        })
        .await
        .unwrap();
}

fn text(key: &str, v: &str) -> wit::Setting {
    wit::Setting {
        key: key.into(),
        value: wit::SettingValue::Text(v.into()),
    }
}

fn secrets(token: &str) -> BTreeMap<String, Secret> {
    [("api_token".to_string(), Secret::from_input(token))].into()
}

fn page(stream: &str, body: &str, checkpoint: Option<&str>) -> wit::Page {
    wit::Page {
        raw: wit::RawPage {
            stream: stream.into(),
            scope: None,
            fetched_at: 1,
            body: body.into(),
        },
        next_cursor: None,
        checkpoint: checkpoint.map(str::to_string),
        window: None,
    }
}

fn rec(stream: &str, key: &str, payload: &str) -> CheckedRecord {
    let k = vec![Some(key.to_string())];
    CheckedRecord {
        stream: stream.into(),
        key_text: serde_json::to_string(&k).unwrap(),
        key: k,
        schema_version: 1,
        payload: payload.into(),
    }
}

async fn connections_are_isolated(b: Backend) {
    let f = fixture(b, LONG).await;
    let s = &f.store;
    let (ta, tb) = (
        host_harness::random::key("sk-admin-"),
        host_harness::random::key("sk-admin-"),
    );
    for (id, token) in [("acme", &ta), ("globex", &tb)] {
        add(s, id).await;
        s.save_configuration(id, &[text("org", id)], &secrets(token))
            .await
            .unwrap();
        let run = s.start_run(id, "o", "test", "c").await.unwrap().unwrap();
        let body = format!("{{\"page_of\":\"{id}\"}}");
        s.commit_page(
            &run,
            0,
            page("users", &body, Some(&format!("cp-{id}"))),
            1,
            vec![rec(
                "users",
                &format!("u-{id}"),
                &format!("{{\"who\":\"{id}\"}}"),
            )],
        )
        .await
        .unwrap();
        s.finish_run(&run, "succeeded", &BTreeMap::new(), None)
            .await
            .unwrap();
    }
    for (id, other, token) in [("acme", "globex", &ta), ("globex", "acme", &tb)] {
        let seen = format!(
            "{:?}{:?}{:?}{:?}{:?}",
            s.settings(id).await.unwrap(),
            s.secrets(id)
                .await
                .unwrap()
                .values()
                .map(|v| v.expose().to_string())
                .collect::<Vec<_>>(),
            s.records(id, "users").await.unwrap(),
            s.checkpoint(id, "users").await.unwrap(),
            s.runs(id, 10).await.unwrap(),
        );
        assert!(seen.contains(id), "{seen}");
        assert!(!seen.contains(other), "{id} sees {other}: {seen}");
        assert_eq!(
            s.secrets(id).await.unwrap()["api_token"].expose(),
            token.as_str()
        );
        assert_eq!(s.raw_page_count(id).await.unwrap(), 1);
        assert_eq!(s.record_count(id, "users").await.unwrap(), 1);
        assert_eq!(s.streams(id).await.unwrap(), vec!["users".to_string()]);
        let runs = s.runs(id, 10).await.unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].connection, id);
    }
    // Removing one removes all of its data, and nothing of the other's.
    assert_eq!(s.remove_connection("acme").await.unwrap(), Ok(true));
    assert!(s.connection("acme").await.unwrap().is_none());
    assert!(s.runs("acme", 10).await.unwrap().is_empty());
    assert_eq!(s.record_count("acme", "users").await.unwrap(), 0);
    assert_eq!(s.raw_page_count("acme").await.unwrap(), 0);
    assert!(!s.is_configured("acme").await.unwrap());
    let dump = format!("{:?}", s.dump().await.unwrap());
    assert!(!dump.contains("acme"), "{dump}");
    assert_eq!(s.record_count("globex", "users").await.unwrap(), 1);
    assert_eq!(
        s.secrets("globex").await.unwrap()["api_token"].expose(),
        tb.as_str()
    );
    assert_eq!(s.remove_connection("acme").await.unwrap(), Ok(false));
}

/// Make inserting the record with natural key `["boom"]` fail inside the transaction.
async fn fail_on_boom(f: &Fixture) {
    match &f.location {
        Location::Sqlite(_) => {
            f.store
                .sqlite()
                .unwrap()
                .execute_batch(
                    r#"CREATE TRIGGER boom BEFORE INSERT ON records WHEN NEW.key = '["boom"]' BEGIN SELECT RAISE(ABORT, 'boom'); END;"#,
                )
                .unwrap();
        }
        Location::Postgres(url) => {
            let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .unwrap();
            let task = tokio::spawn(conn);
            client
                .batch_execute(
                    r#"CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN IF NEW.key = '["boom"]' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql;
                       CREATE TRIGGER boom BEFORE INSERT ON records FOR EACH ROW EXECUTE FUNCTION boom();"#,
                )
                .await
                .unwrap();
            drop(client);
            let _ = task.await;
        }
    }
}

async fn a_failing_page_leaves_nothing(b: Backend) {
    let f = fixture(b, LONG).await;
    let s = &f.store;
    add(s, "c1").await;
    fail_on_boom(&f).await;
    let run = s.start_run("c1", "o", "test", "c").await.unwrap().unwrap();
    let good = s
        .commit_page(
            &run,
            0,
            page("s", "{\"p\":1}", Some("cp1")),
            2,
            vec![rec("s", "a", "{}"), rec("s", "b", "{}")],
        )
        .await
        .unwrap();
    assert_eq!((good.pages, good.inserted, good.requests), (1, 2, 2));
    let bad = s
        .commit_page(
            &run,
            1,
            page("s", "{\"p\":2}", Some("cp2")),
            1,
            vec![rec("s", "c", "{}"), rec("s", "boom", "{}")],
        )
        .await;
    assert!(bad.is_err(), "the trigger refused the page");
    let keys: Vec<String> = s
        .records("c1", "s")
        .await
        .unwrap()
        .iter()
        .map(|r| r.key[0].clone().unwrap())
        .collect();
    assert_eq!(keys, ["a", "b"], "no record of the failed page");
    assert_eq!(s.raw_page_count("c1").await.unwrap(), 1, "nor its raw page");
    assert_eq!(
        s.checkpoint("c1", "s").await.unwrap().as_deref(),
        Some("cp1"),
        "nor its checkpoint"
    );
    let r = s.run(run.run_id).await.unwrap().unwrap();
    assert_eq!(r.streams["s"].pages, 1, "nor its counts: {r:?}");
    assert_eq!(r.status, "running");
}

async fn records_upsert_by_natural_key(b: Backend) {
    let f = fixture(b, LONG).await;
    let s = &f.store;
    add(s, "c1").await;
    let run1 = s.start_run("c1", "o", "test", "c").await.unwrap().unwrap();
    let c = s
        .commit_page(
            &run1,
            0,
            page("s", "{}", None),
            1,
            vec![rec("s", "a", "{\"v\":1}"), rec("s", "b", "{\"v\":1}")],
        )
        .await
        .unwrap();
    assert_eq!((c.inserted, c.updated, c.unchanged), (2, 0, 0));
    s.finish_run(&run1, "succeeded", &BTreeMap::new(), None)
        .await
        .unwrap();
    let run2 = s.start_run("c1", "o", "test", "c").await.unwrap().unwrap();
    let c = s
        .commit_page(
            &run2,
            0,
            page("s", "{}", None),
            1,
            vec![
                rec("s", "a", "{\"v\":1}"),
                rec("s", "b", "{\"v\":2}"),
                rec("s", "c", "{\"v\":1}"),
                // the same key twice in a page: the second is an update of the first
                rec("s", "c", "{\"v\":3}"),
            ],
        )
        .await
        .unwrap();
    assert_eq!((c.inserted, c.updated, c.unchanged), (1, 2, 1));
    let by_key: BTreeMap<String, (String, i64, i64, i64)> = s
        .records("c1", "s")
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.key[0].clone().unwrap(),
                (r.payload, r.first_run, r.changed_run, r.seen_run),
            )
        })
        .collect();
    let (r1, r2) = (run1.run_id, run2.run_id);
    assert_eq!(by_key["a"], ("{\"v\":1}".into(), r1, r1, r2));
    assert_eq!(by_key["b"], ("{\"v\":2}".into(), r1, r2, r2));
    assert_eq!(by_key["c"], ("{\"v\":3}".into(), r2, r2, r2));
    let run = s.run(r2).await.unwrap().unwrap();
    assert_eq!(
        run.streams["s"].inserted, 1,
        "the run's row counts what it committed"
    );
}

async fn leases_refuse_expire_and_fence(b: Backend) {
    let ttl = Duration::from_millis(600);
    let f = fixture(b, ttl).await;
    let (one, two) = (lease::new_owner(), lease::new_owner());
    let s1 = &f.store;
    let s2 = f.another(ttl).await;
    add(s1, "c1").await;
    let mut l1 = s1
        .start_run("c1", &one, "test", "c")
        .await
        .unwrap()
        .unwrap();
    s1.commit_page(
        &l1,
        0,
        page("s", "{}", Some("cp1")),
        3,
        vec![rec("s", "a", "{}")],
    )
    .await
    .unwrap();
    // A second owner is refused while the first renews.
    for _ in 0..3 {
        let busy = s2
            .start_run("c1", &two, "test", "c")
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(
            (busy.owner.as_str(), busy.run_id),
            (one.as_str(), l1.run_id)
        );
        tokio::time::sleep(ttl / 3).await;
        s1.renew(&mut l1).await.unwrap();
    }
    assert_eq!(
        s1.runs("c1", 10).await.unwrap().len(),
        1,
        "a refused start records nothing"
    );
    // A connection with a run going is not removed.
    assert!(s2.remove_connection("c1").await.unwrap().is_err());
    // The first owner stops renewing: its lease expires and is taken over.
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    let l2 = s2
        .start_run("c1", &two, "test", "c")
        .await
        .unwrap()
        .unwrap();
    assert!(l2.run_id > l1.run_id);
    let old = s2.run(l1.run_id).await.unwrap().unwrap();
    assert_eq!(old.status, "interrupted");
    assert_eq!(old.error_class.as_deref(), Some("interrupted"));
    assert!(old.finished_at.is_some());
    assert_eq!(
        old.streams["s"].pages, 1,
        "with what it had committed: {old:?}"
    );
    assert_eq!(old.streams["s"].requests, 3);
    // The old holder is fenced off: it can neither renew, nor commit, nor finish.
    let e = s1.renew(&mut l1).await.unwrap_err();
    assert!(e.is::<LeaseLost>(), "{e:#}");
    let e = s1
        .commit_page(
            &l1,
            1,
            page("s", "{}", Some("stale")),
            1,
            vec![rec("s", "z", "{}")],
        )
        .await
        .unwrap_err();
    assert!(e.is::<LeaseLost>(), "{e:#}");
    assert_eq!(
        s1.checkpoint("c1", "s").await.unwrap().as_deref(),
        Some("cp1")
    );
    assert_eq!(s1.record_count("c1", "s").await.unwrap(), 1);
    let e = s1
        .finish_run(&l1, "succeeded", &BTreeMap::new(), None)
        .await
        .unwrap_err();
    assert!(e.is::<LeaseLost>(), "{e:#}");
    assert_eq!(
        s1.run(l1.run_id).await.unwrap().unwrap().status,
        "interrupted"
    );
    // The new holder finishes and releases: the first may start again.
    s2.finish_run(&l2, "succeeded", &BTreeMap::new(), None)
        .await
        .unwrap();
    let l3 = s1
        .start_run("c1", &one, "test", "c")
        .await
        .unwrap()
        .unwrap();
    // A run stopped by its own host is closed as interrupted and its lease released.
    s1.interrupt_run(&l3, "stopped").await.unwrap();
    assert_eq!(
        s1.run(l3.run_id).await.unwrap().unwrap().status,
        "interrupted"
    );
    let l4 = s2
        .start_run("c1", &two, "test", "c")
        .await
        .unwrap()
        .unwrap();
    // The store notices an expired lease without a new run (reap).
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    assert_eq!(s1.reap().await.unwrap(), 1);
    assert_eq!(
        s1.run(l4.run_id).await.unwrap().unwrap().status,
        "interrupted"
    );
    // A lease of a process of this machine that is gone is taken at once.
    let gone = format!("{}:{}:dead", lease::hostname(), u32::MAX - 3);
    let l5 = s1
        .start_run("c1", &gone, "test", "c")
        .await
        .unwrap()
        .unwrap();
    let l6 = s2
        .start_run("c1", &two, "test", "c")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s2.run(l5.run_id).await.unwrap().unwrap().status,
        "interrupted"
    );
    s2.finish_run(&l6, "failed", &BTreeMap::new(), Some(("transient", "x")))
        .await
        .unwrap();
    assert_eq!(s2.remove_connection("c1").await.unwrap(), Ok(true));
}

async fn two_owners_never_claim_one_connection(b: Backend) {
    let f = fixture(b, LONG).await;
    let s1 = Arc::new(f.another(LONG).await);
    let s2 = Arc::new(f.another(LONG).await);
    let past = chrono::Utc::now().timestamp_millis() - 1000;
    let ids: Vec<String> = (0..7).map(|i| format!("c{i}")).collect();
    for id in &ids {
        add(&f.store, id).await;
        f.store
            .save_configuration(id, &[text("k", "v")], &BTreeMap::new())
            .await
            .unwrap();
        f.store
            .set_schedule(id, Duration::from_secs(3600), 0.1, Some(past))
            .await
            .unwrap();
    }
    // One is not configured: never claimed. One is leased by a live owner: skipped.
    add(&f.store, "unconfigured").await;
    f.store
        .set_schedule("unconfigured", Duration::from_secs(3600), 0.1, Some(past))
        .await
        .unwrap();
    let held = f
        .store
        .start_run("c6", "someone-else:1:x", "cli", "c")
        .await
        .unwrap()
        .unwrap();
    let (one, two) = (lease::new_owner(), lease::new_owner());
    let (a, b2) = tokio::join!(
        {
            let s1 = s1.clone();
            let one = one.clone();
            async move {
                let mut all = Vec::new();
                for _ in 0..3 {
                    all.extend(s1.claim_due(&one, 2).await.unwrap());
                }
                all
            }
        },
        {
            let s2 = s2.clone();
            let two = two.clone();
            async move {
                let mut all = Vec::new();
                for _ in 0..3 {
                    all.extend(s2.claim_due(&two, 2).await.unwrap());
                }
                all
            }
        }
    );
    let claimed: Vec<String> = a.iter().chain(&b2).map(|l| l.connection.clone()).collect();
    let unique: BTreeSet<&String> = claimed.iter().collect();
    assert_eq!(
        unique.len(),
        claimed.len(),
        "a connection was claimed twice: {claimed:?}"
    );
    let want: BTreeSet<&String> = ids[..6].iter().collect();
    assert_eq!(unique, want, "every due, configured, free connection once");
    assert!(a.iter().all(|l| l.owner == one) && b2.iter().all(|l| l.owner == two));
    for l in a.iter().chain(&b2) {
        let run = f.store.run(l.run_id).await.unwrap().unwrap();
        assert_eq!(
            (run.status.as_str(), run.trigger.as_str()),
            ("running", "schedule")
        );
    }
    // Leased now: nothing more to claim.
    assert!(s1.claim_due(&one, 10).await.unwrap().is_empty());
    // After a run, the next one is due an interval (± jitter) later; not claimable now.
    let done = &a.first().or(b2.first()).unwrap();
    f.store
        .finish_run(done, "succeeded", &BTreeMap::new(), None)
        .await
        .unwrap();
    let sched = f.store.schedule(&done.connection).await.unwrap().unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    assert!(sched.next_due_ms > now + 3_000_000, "{sched:?}");
    assert!(s2.claim_due(&two, 10).await.unwrap().is_empty());
    // An interrupted run leaves the schedule as it was: due again.
    let other = b2.first().or(a.get(1)).unwrap();
    f.store.interrupt_run(other, "stopped").await.unwrap();
    let again = s2.claim_due(&two, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].connection, other.connection);
    f.store
        .finish_run(&held, "succeeded", &BTreeMap::new(), None)
        .await
        .unwrap();
}

async fn secrets_are_sealed_and_a_wrong_key_destroys_nothing(b: Backend) {
    let f = fixture(b, LONG).await;
    let s = &f.store;
    let token = host_harness::random::key("sk-admin-");
    add(s, "c1").await;
    s.save_configuration("c1", &[text("org", "x")], &secrets(&token))
        .await
        .unwrap();
    assert_eq!(s.secrets("c1").await.unwrap()["api_token"].expose(), token);

    // A copy without the key reveals nothing: no table holds the token or any 8 characters
    // of it, nor (embedded) the database's bytes.
    let dump = format!("{:?}", s.dump().await.unwrap());
    assert_no_secret("every table", &dump, &token);
    if let Location::Sqlite(db) = &f.location {
        for suffix in ["", "-wal"] {
            let mut p = db.as_os_str().to_os_string();
            p.push(suffix);
            if let Ok(bytes) = std::fs::read(&p) {
                assert_no_secret(
                    "the database file",
                    &String::from_utf8_lossy(&bytes),
                    &token,
                );
            }
        }
    }
    let keyless = Store::open(
        &f.location,
        StoreOptions {
            key: KeySource::Env("HOST_HARNESS_TEST_NO_SUCH_KEY_VARIABLE".into()),
            ..StoreOptions::default()
        },
    )
    .await;
    assert!(keyless.is_err(), "an unset key variable is refused");

    // A wrong key: a clear error naming both key ids; nothing is read or written.
    let wrong_file = f.dir.path().join("wrong.key");
    let wrong = SecretKey::generate().unwrap();
    crypto::write_key_file(&wrong_file, &wrong).unwrap();
    let w = Store::open(
        &f.location,
        StoreOptions {
            key: KeySource::File(wrong_file.clone()),
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap();
    let right_id = s.key_id().unwrap();
    let e = w.secrets("c1").await.unwrap_err();
    let m = e.downcast_ref::<KeyMismatch>().expect("a key mismatch");
    assert_eq!(
        (m.stored.as_str(), m.given.as_str()),
        (right_id.as_str(), wrong.id())
    );
    let text_e = e.to_string();
    assert!(
        text_e.contains("another key") && text_e.contains("--secret-key-file"),
        "{text_e}"
    );
    assert!(w.configuration("c1").await.is_err());
    let e = w
        .save_configuration(
            "c1",
            &[text("org", "y")],
            &secrets("sk-admin-other-0123456789abcdef"),
        )
        .await
        .unwrap_err();
    assert!(e.is::<KeyMismatch>(), "{e:#}");
    add(&w, "c2").await;
    assert!(w
        .save_configuration("c2", &[], &secrets("sk-admin-other-0123456789abcdef"))
        .await
        .is_err());
    assert!(w
        .rotate_secrets(&SecretKey::generate().unwrap())
        .await
        .is_err());
    assert_eq!(
        s.secrets("c1").await.unwrap()["api_token"].expose(),
        token,
        "the right key still opens it"
    );
    assert_eq!(
        format!("{:?}", s.settings("c1").await.unwrap()),
        format!("{:?}", [text("org", "x")])
    );

    // Rotation: every secret re-sealed under the new key, in one transaction.
    add(s, "c3").await;
    s.save_configuration("c3", &[], &secrets("sk-admin-third-0123456789abcdef"))
        .await
        .unwrap();
    let new_file = f.dir.path().join("new.key");
    let new = SecretKey::generate().unwrap();
    crypto::write_key_file(&new_file, &new).unwrap();
    assert_eq!(s.rotate_secrets(&new).await.unwrap(), 2);
    assert_eq!(
        s.secret_key_ids().await.unwrap(),
        vec![new.id().to_string()]
    );
    let old = f.another(LONG).await; // (the old key file)
    assert!(old.secrets("c1").await.unwrap_err().is::<KeyMismatch>());
    let n = Store::open(
        &f.location,
        StoreOptions {
            key: KeySource::File(new_file),
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(n.secrets("c1").await.unwrap()["api_token"].expose(), token);
    assert_eq!(
        n.secrets("c3").await.unwrap()["api_token"].expose(),
        "sk-admin-third-0123456789abcdef"
    );

    // No key at all: a clear error, not an empty configuration.
    if let Location::Postgres(_) = &f.location {
        let none = Store::open(&f.location, StoreOptions::default())
            .await
            .unwrap();
        assert!(none.secrets("c1").await.unwrap_err().is::<NoKey>());
        assert_eq!(
            none.record_count("c1", "s").await.unwrap(),
            0,
            "what needs no key still works"
        );
    }
}

async fn the_default_connection(b: Backend) {
    let f = fixture(b, LONG).await;
    let s = &f.store;
    let new = NewConnection {
        id: DEFAULT_CONNECTION.into(),
        name: "OpenAI Codex".into(),
        component: "/c.wasm".into(),
        connector: Some("openai-codex".into()),
    };
    let a = s.ensure_connection(&new).await.unwrap();
    let b2 = s
        .ensure_connection(&NewConnection {
            name: "other".into(),
            ..new.clone()
        })
        .await
        .unwrap();
    assert_eq!(a, b2, "created once, then found");
    assert_eq!(s.connections().await.unwrap(), vec![a.clone()]);
    assert!(s.add_connection(&new).await.is_err(), "an id in use");
    for bad in ["Default", "a b", "", "x/y"] {
        assert!(
            s.add_connection(&NewConnection {
                id: bad.into(),
                ..new.clone()
            })
            .await
            .is_err(),
            "{bad}"
        );
    }
    // Everything keyed by it, like any other.
    let run = s
        .start_run(DEFAULT_CONNECTION, "o", "cli", "openai-codex")
        .await
        .unwrap()
        .unwrap();
    s.finish_run(&run, "succeeded", &BTreeMap::new(), None)
        .await
        .unwrap();
    assert_eq!(
        s.runs(DEFAULT_CONNECTION, 5).await.unwrap()[0].connector,
        "openai-codex"
    );
}

// ------------------------------------------------------------------ embedded key file

/// An embedded store given no key makes its own `<db>.key` (0600); a crash in the middle of
/// a rotation leaves a readable store either way.
#[tokio::test(flavor = "multi_thread")]
async fn the_embedded_key_file_survives_a_crash_in_a_rotation() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let token = host_harness::random::key("sk-admin-");
    let s = open(&db).await;
    let key_path = crypto::auto_key_path(&db);
    assert_eq!(
        std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    add(&s, "c1").await;
    s.save_configuration("c1", &[], &secrets(&token))
        .await
        .unwrap();
    drop(s);

    // A copy of the database without its key file: nothing to read the secret with.
    let copy_dir = tempfile::tempdir().unwrap();
    let copy = copy_dir.path().join("s.db");
    std::fs::copy(&db, &copy).unwrap();
    let c = open_existing(&copy).await;
    assert!(c.secrets("c1").await.unwrap_err().is::<NoKey>());
    assert_no_secret(
        "the copied file",
        &String::from_utf8_lossy(&std::fs::read(&copy).unwrap()),
        &token,
    );

    // Crash after the next key was written, before the database changed: undone.
    let next = crypto::next_key_path(&db);
    crypto::write_key_file(&next, &SecretKey::generate().unwrap()).unwrap();
    let s = open(&db).await;
    assert_eq!(s.secrets("c1").await.unwrap()["api_token"].expose(), token);
    assert!(!next.exists());
    // Crash after the database was re-encrypted, before the file was moved: finished.
    let new = SecretKey::generate().unwrap();
    let explicit = Store::open(
        &Location::Sqlite(db.clone()),
        StoreOptions {
            key: KeySource::File(key_path.clone()),
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap();
    explicit.rotate_secrets(&new).await.unwrap();
    crypto::write_key_file(&next, &new).unwrap();
    drop((s, explicit));
    let s = open(&db).await;
    assert_eq!(s.key_id().as_deref(), Some(new.id()));
    assert_eq!(s.secrets("c1").await.unwrap()["api_token"].expose(), token);
    assert!(!next.exists());
    // A whole rotation of the embedded key swaps the file.
    let newer = SecretKey::generate().unwrap();
    s.rotate_secrets(&newer).await.unwrap();
    assert_eq!(SecretKey::from_file(&key_path).unwrap().id(), newer.id());
    drop(s);
    assert_eq!(
        open(&db).await.secrets("c1").await.unwrap()["api_token"].expose(),
        token
    );
}

/// The embedded store's WAL is checkpointed every 4,096 pages (16 MiB): pages of a MiB each
/// keep it bounded (it restarts once a checkpoint has copied it), and a closed store is one
/// complete file with no WAL left beside it.
#[tokio::test(flavor = "multi_thread")]
async fn the_wal_stays_bounded_and_a_closed_store_is_one_file() {
    const PAGES: usize = 40;
    let f = fixture(Backend::Sqlite, LONG).await;
    let Location::Sqlite(db) = &f.location else {
        unreachable!()
    };
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    let s = &f.store;
    add(s, "c1").await;
    let run = s.start_run("c1", "o", "test", "c").await.unwrap().unwrap();
    let body = format!("{{\"pad\":\"{}\"}}", "x".repeat(1 << 20));
    let mut largest = 0;
    for seq in 0..PAGES {
        s.commit_page(
            &run,
            seq as u64,
            page("s", &body, Some(&format!("cp-{seq}"))),
            1,
            vec![rec("s", &seq.to_string(), "{}")],
        )
        .await
        .unwrap();
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
    }
    // Never checkpointed, the WAL would hold every page (40 MiB and more).
    assert!(
        largest < 24 << 20,
        "the WAL grew to {largest} bytes over {PAGES} pages of 1 MiB"
    );
    s.finish_run(&run, "succeeded", &BTreeMap::new(), None)
        .await
        .unwrap();
    let Fixture {
        dir: _dir,
        location,
        store,
        ..
    } = f;
    drop(store);
    assert!(!wal.exists(), "a closed store leaves no WAL behind");
    let Location::Sqlite(db) = location else {
        unreachable!()
    };
    let copy_dir = tempfile::tempdir().unwrap();
    let copy = copy_dir.path().join("s.db");
    std::fs::copy(&db, &copy).unwrap();
    let c = Store::open_path(&copy).await.unwrap();
    assert_eq!(c.raw_page_count("c1").await.unwrap(), PAGES as u64);
}

/// A store of the first version (one configuration per connector id, secrets in plain
/// text) is upgraded: its data lands in the default connection, its secrets sealed.
#[tokio::test(flavor = "multi_thread")]
async fn a_version_1_store_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    let token = host_harness::random::key("sk-admin-");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(
            "CREATE TABLE settings (connector TEXT, key TEXT, value TEXT, PRIMARY KEY (connector, key));
             CREATE TABLE secrets (connector TEXT, key TEXT, value TEXT, PRIMARY KEY (connector, key));
             CREATE TABLE checkpoints (connector TEXT, stream TEXT, state TEXT, run_id INTEGER, updated_at TEXT, PRIMARY KEY (connector, stream));
             CREATE TABLE raw_pages (id INTEGER PRIMARY KEY, connector TEXT, run_id INTEGER, stream TEXT, scope TEXT, seq INTEGER, fetched_at INTEGER, body TEXT);
             CREATE INDEX raw_pages_run ON raw_pages(run_id);
             CREATE TABLE records (connector TEXT, stream TEXT, key TEXT, schema_version INTEGER, payload TEXT, first_run INTEGER, changed_run INTEGER, seen_run INTEGER, PRIMARY KEY (connector, stream, key)) WITHOUT ROWID;
             CREATE TABLE runs (id INTEGER PRIMARY KEY, connector TEXT, started_at TEXT, finished_at TEXT, status TEXT, trigger TEXT, pid INTEGER, streams TEXT, window_start TEXT, window_end TEXT, error_class TEXT, error_message TEXT);
             CREATE INDEX runs_connector ON runs(connector, id);
             INSERT INTO settings VALUES ('openai-codex', 'backfill_days', '{\"number\":9}');
             INSERT INTO records VALUES ('openai-codex', 'users', '[\"u1\"]', 1, '{}', 1, 1, 1);
             INSERT INTO checkpoints VALUES ('openai-codex', 'users', 'cp', 1, 'x');
             INSERT INTO runs VALUES (1, 'openai-codex', 'a', 'b', 'succeeded', 'cli', 1, '{}', NULL, NULL, NULL, NULL);
             INSERT INTO runs VALUES (2, 'openai-codex', 'a', NULL, 'running', 'cli', 1, '{}', NULL, NULL, NULL, NULL);",
        )
        .unwrap();
        c.execute(
            "INSERT INTO secrets VALUES ('openai-codex', 'api_token', ?1)",
            [&token],
        )
        .unwrap();
    }
    let s = open_existing(&db).await;
    assert_eq!(s.secrets(CONN).await.unwrap()["api_token"].expose(), token);
    assert_eq!(s.record_count(CONN, "users").await.unwrap(), 1);
    assert_eq!(
        s.checkpoint(CONN, "users").await.unwrap().as_deref(),
        Some("cp")
    );
    let runs = s.runs(CONN, 10).await.unwrap();
    assert_eq!(
        runs.iter().map(|r| r.status.as_str()).collect::<Vec<_>>(),
        ["interrupted", "succeeded"]
    );
    assert_eq!(
        s.connection(CONN)
            .await
            .unwrap()
            .unwrap()
            .connector
            .as_deref(),
        Some("openai-codex")
    );
    drop(s);
    assert_no_secret(
        "the upgraded file",
        &String::from_utf8_lossy(&std::fs::read(&db).unwrap()),
        &token,
    );
}

// ------------------------------------------------------------------ the CLI

const BIN: &str = env!("CARGO_BIN_EXE_host-harness");

fn cli(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn ok(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every command on a shared PostgreSQL store, with the key from a file; connections added,
/// listed, configured, synced and removed by id.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_on_postgresql() {
    let keys = keys();
    let mock = openai_mock::MockServer::start(mock_config(&keys, 6, 3))
        .await
        .unwrap();
    let url = postgres::database().await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("k");
    crypto::write_key_file(&key_file, &SecretKey::generate().unwrap()).unwrap();
    let kf = key_file.to_string_lossy().to_string();
    let wasm = connector_wasm().to_string_lossy().to_string();
    let redirect = format!("api.openai.com={}", mock.base_url());
    let store = ["--db", url.as_str(), "--secret-key-file", kf.as_str()];
    let run = |cmd: &[&str], conn: &str, extra: &[&str], component: bool| {
        let mut a: Vec<&str> = cmd.to_vec();
        a.extend(store);
        a.extend(["--connection", conn]);
        if component {
            a.extend([
                "--component",
                wasm.as_str(),
                "--redirect",
                redirect.as_str(),
            ]);
        }
        a.extend(extra);
        cli(&a, &[("PG_TEST_TOKEN", keys.admin.as_str())])
    };
    ok(&run(
        &["configure"],
        "default",
        &["--token-env", "PG_TEST_TOKEN", "--set", "backfill_days=3"],
        true,
    ));
    ok(&run(&["validate"], "default", &[], true));
    ok(&run(&["sync"], "default", &["--json"], true));
    let history: serde_json::Value =
        serde_json::from_str(&ok(&run(&["history"], "default", &["--json"], false))).unwrap();
    assert_eq!(history[0]["status"], "succeeded");
    assert_eq!(history[0]["connection"], "default");
    let report: serde_json::Value =
        serde_json::from_str(&ok(&run(&["report"], "default", &["--json"], false))).unwrap();
    assert!(report.is_object());
    let users = ok(&run(&["export"], "default", &["--stream", "users"], false));
    assert_eq!(users.lines().count(), 6);

    // A second connection, its own configuration and data.
    let mut add: Vec<&str> = vec![
        "connections",
        "add",
        "acme-prod",
        "--name",
        "Acme",
        "--component",
        wasm.as_str(),
    ];
    add.extend(store);
    ok(&cli(&add, &[]));
    let o = run(&["history"], "acme-prod", &["--json"], false);
    assert_eq!(ok(&o).trim(), "[]");
    ok(&run(
        &["configure"],
        "acme-prod",
        &["--token-env", "PG_TEST_TOKEN", "--no-validate"],
        true,
    ));
    let mut list: Vec<&str> = vec!["connections", "list", "--json"];
    list.extend(store);
    let listed: serde_json::Value = serde_json::from_str(&ok(&cli(&list, &[]))).unwrap();
    let ids: Vec<&str> = listed["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["acme-prod", "default"]);
    let o = run(&["export"], "acme-prod", &["--stream", "users"], false);
    assert_eq!(
        o.status.code(),
        Some(2),
        "nothing imported in acme-prod: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut remove: Vec<&str> = vec!["connections", "remove", "acme-prod"];
    remove.extend(store);
    ok(&cli(&remove, &[]));
    let listed: serde_json::Value = serde_json::from_str(&ok(&cli(&list, &[]))).unwrap();
    assert_eq!(listed["connections"].as_array().unwrap().len(), 1);

    // The wrong key: a usage error naming both key ids; the store is untouched.
    let wrong = dir.path().join("wrong");
    crypto::write_key_file(&wrong, &SecretKey::generate().unwrap()).unwrap();
    let o = cli(
        &[
            "validate",
            "--db",
            url.as_str(),
            "--secret-key-file",
            &wrong.to_string_lossy(),
            "--component",
            wasm.as_str(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("encrypted with another key") && err.contains("--secret-key-file"),
        "{err}"
    );
    // Rotation to a new key file, then only the new key opens the secrets.
    let new = dir.path().join("new");
    crypto::write_key_file(&new, &SecretKey::generate().unwrap()).unwrap();
    let mut rotate: Vec<&str> = vec!["secrets", "rotate", "--new-key-file"];
    let new_s = new.to_string_lossy().to_string();
    rotate.push(&new_s);
    rotate.extend(store);
    ok(&cli(&rotate, &[]));
    ok(&cli(
        &[
            "validate",
            "--db",
            url.as_str(),
            "--secret-key-file",
            &new_s,
            "--component",
            &wasm,
            "--redirect",
            &redirect,
        ],
        &[],
    ));
    // The token is in no table.
    let s = Store::open(&Location::Postgres(url.clone()), StoreOptions::default())
        .await
        .unwrap();
    assert_no_secret(
        "every table",
        &format!("{:?}", s.dump().await.unwrap()),
        &keys.admin,
    );
}

/// Connection ids are checked (a usage error), reading commands never create a store, and a
/// connection with a run in progress is not removed.
#[tokio::test(flavor = "multi_thread")]
async fn connection_commands_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let dbs = db.to_string_lossy().to_string();
    for bad in ["Acme", "a b", "x/y", ""] {
        let o = cli(&["history", "--db", &dbs, "--connection", bad], &[]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        let o = cli(&["connections", "add", bad, "--db", &dbs], &[]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
    }
    for cmd in ["history", "report", "export"] {
        let mut a = vec![cmd, "--db", &dbs];
        if cmd == "export" {
            a.extend(["--stream", "users"]);
        }
        let o = cli(&a, &[]);
        assert_eq!(o.status.code(), Some(2), "{cmd}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("there is no store"),
            "{cmd}"
        );
        assert!(!db.exists(), "{cmd} created the store");
    }
    let wasm = connector_wasm().to_string_lossy().to_string();
    ok(&cli(
        &[
            "connections",
            "add",
            "team-a",
            "--db",
            &dbs,
            "--component",
            &wasm,
        ],
        &[],
    ));
    let o = cli(
        &[
            "connections",
            "add",
            "team-a",
            "--db",
            &dbs,
            "--component",
            &wasm,
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    let o = cli(&["history", "--db", &dbs, "--connection", "nobody"], &[]);
    assert_eq!(o.status.code(), Some(2));
    // A run in progress (held by a live owner): remove is refused, and the data stays.
    let s = open(&db).await;
    let l = s
        .start_run("team-a", lease::process_owner(), "cli", "openai-codex")
        .await
        .unwrap()
        .unwrap();
    let o = cli(&["connections", "remove", "team-a", "--db", &dbs], &[]);
    assert_eq!(
        o.status.code(),
        Some(9),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    s.finish_run(&l, "succeeded", &BTreeMap::new(), None)
        .await
        .unwrap();
    ok(&cli(
        &["connections", "remove", "team-a", "--db", &dbs],
        &[],
    ));
    assert!(s.connection("team-a").await.unwrap().is_none());
}

// ---------------------------------------------------------------------------------------
// delivery and who is who

fn commit(
    id: &str,
    email: &str,
    time: &str,
    merge: bool,
    lines: (u64, u64, u64),
) -> host_harness::delivery::Commit {
    host_harness::delivery::Commit {
        id: id.into(),
        author_name: format!("Name of {email}"),
        author_email: email.into(),
        author_time: chrono::DateTime::parse_from_rfc3339(time)
            .unwrap()
            .with_timezone(&chrono::Utc),
        author_utc_offset_seconds: -18_000,
        merge,
        lines_added: lines.0,
        lines_deleted: lines.1,
        files_changed: lines.2,
    }
}

/// Repositories, their read positions and commits, aliases and teams: per connection, a
/// read committed whole (commits upserted by id: importing one again changes nothing), a
/// read of a repository not registered refused with nothing written, and everything gone
/// with its repository or its connection.
async fn delivery_and_people_are_kept_per_connection(b: Backend) {
    use host_harness::delivery::Cursor;
    use host_harness::store::{NotRegistered, RepositoryImport};
    let f = fixture(b, LONG).await;
    let s = &f.store;
    add(s, "acme").await;
    add(s, "globex").await;
    let c1 = commit(
        &"1".repeat(40),
        "Ada@Acme.example",
        "2025-03-09T23:30:00-05:00",
        false,
        (3, 1, 2),
    );
    let c2 = commit(
        &"2".repeat(40),
        "bob@acme.example",
        "2025-03-11T10:00:00Z",
        true,
        (0, 0, 0),
    );
    let mut cursor = Cursor::default();
    cursor.refs.insert("refs/heads/main".into(), "2".repeat(40));
    cursor
        .refs
        .insert("refs/remotes/origin/main".into(), "1".repeat(40));
    cursor.orphaned.insert("3".repeat(40));
    let import = |commits: Vec<host_harness::delivery::Commit>, cursor: &Cursor, register: bool| {
        RepositoryImport {
            repository: "/repos/acme".into(),
            commits,
            cursor: cursor.clone(),
            register,
        }
    };

    // Not registered: refused, nothing written.
    let before = s.dump().await.unwrap();
    let e = s
        .import_repository("acme", import(vec![c1.clone()], &cursor, false))
        .await
        .unwrap_err();
    assert!(e.is::<NotRegistered>(), "{e:#}");
    assert!(s
        .import_repository("nobody", import(vec![c1.clone()], &cursor, true))
        .await
        .is_err());
    assert_eq!(s.dump().await.unwrap(), before);
    assert_eq!(
        s.repository_cursor("acme", "/repos/acme").await.unwrap(),
        None
    );

    // Registered with its first read; read back as written.
    s.import_repository("acme", import(vec![c1.clone(), c2.clone()], &cursor, true))
        .await
        .unwrap();
    let repos = s.repositories("acme").await.unwrap();
    assert_eq!(repos.len(), 1);
    assert_eq!(
        (
            repos[0].path.as_str(),
            repos[0].commits,
            repos[0].last_new_commits
        ),
        ("/repos/acme", 2, 2)
    );
    assert_eq!(repos[0].last_error, None);
    assert_eq!(
        s.repository_cursor("acme", "/repos/acme").await.unwrap(),
        Some(cursor.clone())
    );
    assert_eq!(
        s.commits("acme").await.unwrap(),
        vec![c1.clone(), c2.clone()]
    );
    assert!(s.repositories("globex").await.unwrap().is_empty());
    assert!(s.commits("globex").await.unwrap().is_empty());

    // The same commits again, and a new position: upserted, not duplicated.
    let mut next = Cursor::default();
    next.refs.insert("refs/heads/main".into(), "4".repeat(40));
    let c4 = commit(
        &"4".repeat(40),
        "ada@acme.example",
        "2025-03-12T10:00:00Z",
        false,
        (1, 0, 1),
    );
    s.import_repository("acme", import(vec![c2.clone(), c4.clone()], &next, false))
        .await
        .unwrap();
    assert_eq!(
        s.commits("acme").await.unwrap(),
        vec![c1.clone(), c2.clone(), c4.clone()]
    );
    assert_eq!(
        s.repository_cursor("acme", "/repos/acme").await.unwrap(),
        Some(next.clone())
    );
    assert_eq!(s.repositories("acme").await.unwrap()[0].commits, 3);

    // A failed read is noted; the next good one clears it.
    s.repository_failed("acme", "/repos/acme", "gone")
        .await
        .unwrap();
    let r = &s.repositories("acme").await.unwrap()[0];
    assert_eq!((r.last_error.as_deref(), r.commits), (Some("gone"), 3));
    s.import_repository("acme", import(vec![], &next, false))
        .await
        .unwrap();
    let r = &s.repositories("acme").await.unwrap()[0];
    assert_eq!((r.last_error.as_deref(), r.last_new_commits), (None, 0));

    // Aliases and teams, normalized, replaced, removed; per connection.
    s.set_alias("acme", " Ada.Home@Example.com ", "ADA@acme.example")
        .await
        .unwrap();
    s.set_alias("acme", "bob@home.example", "bob@acme.example")
        .await
        .unwrap();
    s.set_alias("acme", "bob@home.example", "robert@acme.example")
        .await
        .unwrap();
    let want: BTreeMap<String, String> = [
        (
            "ada.home@example.com".to_string(),
            "ada@acme.example".to_string(),
        ),
        (
            "bob@home.example".to_string(),
            "robert@acme.example".to_string(),
        ),
    ]
    .into();
    assert_eq!(s.aliases("acme").await.unwrap(), want);
    assert!(s.remove_alias("acme", "BOB@home.example").await.unwrap());
    assert!(!s.remove_alias("acme", "bob@home.example").await.unwrap());
    assert_eq!(s.aliases("acme").await.unwrap().len(), 1);
    s.set_team(
        "acme",
        "core",
        &[
            "b@x.example".into(),
            "A@x.example".into(),
            "a@x.example".into(),
        ],
    )
    .await
    .unwrap();
    s.set_team("acme", "web", &["c@x.example".into()])
        .await
        .unwrap();
    s.set_team("acme", "web", &["d@x.example".into(), "e@x.example".into()])
        .await
        .unwrap();
    let teams = s.teams("acme").await.unwrap();
    assert_eq!(teams["core"], ["a@x.example", "b@x.example"]);
    assert_eq!(teams["web"], ["d@x.example", "e@x.example"]);
    s.set_team("acme", "web", &[]).await.unwrap();
    assert_eq!(
        s.teams("acme").await.unwrap().keys().collect::<Vec<_>>(),
        ["core"]
    );
    assert!(
        s.aliases("globex").await.unwrap().is_empty()
            && s.teams("globex").await.unwrap().is_empty()
    );
    s.set_team("globex", "core", &["g@globex.example".into()])
        .await
        .unwrap();

    // Removing the repository removes its position and commits.
    s.import_repository(
        "acme",
        RepositoryImport {
            repository: "/repos/two".into(),
            ..import(vec![c1.clone()], &cursor, true)
        },
    )
    .await
    .unwrap();
    assert!(s.remove_repository("acme", "/repos/acme").await.unwrap());
    assert!(!s.remove_repository("acme", "/repos/acme").await.unwrap());
    assert_eq!(
        s.repository_cursor("acme", "/repos/acme").await.unwrap(),
        None
    );
    assert_eq!(s.commits("acme").await.unwrap(), vec![c1.clone()]);

    // Removing the connection removes all of it, and nothing of the other's.
    assert_eq!(s.remove_connection("acme").await.unwrap(), Ok(true));
    let dump = format!("{:?}", s.dump().await.unwrap());
    for gone in ["/repos/", "acme.example", "@x.example", &"1".repeat(40)] {
        assert!(!dump.contains(gone), "{gone} left: {dump}");
    }
    assert_eq!(
        s.teams("globex").await.unwrap()["core"],
        ["g@globex.example"]
    );
}
