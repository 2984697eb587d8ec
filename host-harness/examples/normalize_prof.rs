//! Profiling aid for `normalize`: pulls the 1,000-user mock's usage pages through the
//! component once, prints a checksum of the native output (to check that an optimisation
//! changed nothing), then normalizes the pages repeatedly natively, in the component, or
//! both, printing each repetition's time. With `HOST_HARNESS_PERF_MAP=1` wasmtime names the
//! guest's functions for `perf record` (build the component unstripped for useful names).
//!
//! `cargo run --release -p host-harness --example normalize_prof -- [native|wasm|both] [REPS] [COMPONENT]`
//!
//! `… -- ab REPS A.wasm B.wasm` compares two builds of the component instead: their
//! repetitions interleave in one process, so the ratio B/A holds up on a noisy machine
//! where absolute times do not.

use host_harness::runner::{Harness, HarnessConfig};
use host_harness::sandbox::{wit, Base, Session};
use openai_mock::{MockConfig, MockServer};
use std::hash::{Hash, Hasher};
use std::time::Instant;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("both", String::as_str).to_string();
    let reps: usize = args.get(2).map_or(Ok(5), |s| s.parse())?;
    let component = args
        .get(3)
        .map_or_else(host_harness::default_component_path, |p| p.into());
    let key = host_harness::random_admin_key();
    let mock = MockServer::start(MockConfig {
        users: 1000,
        days: 90,
        admin_key: key.clone(),
        ..MockConfig::default()
    })
    .await?;
    let mut session = configured_session(component, &mock, &key).await?;
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = session
            .pull_page("usage", None, cursor.as_deref())
            .await?
            .map_err(|e| anyhow::anyhow!("pull-page: {e:?}"))?;
        pages.push(page.raw);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    if mode == "ab" {
        let other = args
            .get(4)
            .ok_or_else(|| anyhow::anyhow!("ab needs two components"))?;
        let mut b = configured_session(other.into(), &mock, &key).await?;
        let mut ratios = Vec::new();
        for _ in 0..reps {
            let ta = time_in_component(&mut session, &pages).await?;
            let tb = time_in_component(&mut b, &pages).await?;
            eprintln!(
                "a {:.1} ms  b {:.1} ms  b/a {:.3}",
                ta * 1e3,
                tb * 1e3,
                tb / ta
            );
            ratios.push(tb / ta);
        }
        anyhow::ensure!(!ratios.is_empty(), "ab needs at least one repetition");
        ratios.sort_by(f64::total_cmp);
        eprintln!("median b/a {:.3} over {reps}", ratios[reps / 2]);
        return Ok(());
    }
    let native_settings = codex_connector::settings::Settings::for_normalize("*codex*", &[], &[]);
    let native: Vec<_> = pages
        .iter()
        .map(|p| codex_connector::model::RawPage {
            stream: p.stream.clone(),
            scope: p.scope.clone(),
            fetched_at: p.fetched_at,
            body: p.body.clone(),
        })
        .collect();
    let normalize_native = |p| {
        codex_connector::normalize::normalize(p, &native_settings)
            .map_err(|e| anyhow::anyhow!("native normalize: {e:?}"))
    };
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut native_rows = 0;
    for p in &native {
        for r in normalize_native(p)? {
            native_rows += 1;
            (&r.stream, &r.key, r.schema_version, &r.payload).hash(&mut h);
        }
    }
    eprintln!("checksum {:016x}", h.finish());
    for _ in 0..reps {
        if mode != "wasm" {
            let t = Instant::now();
            let mut n = 0;
            for p in &native {
                n += normalize_native(p)?.len();
            }
            eprintln!("native {n} rows {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
        }
        if mode != "native" {
            let t = time_in_component(&mut session, &pages).await?;
            eprintln!("wasm   {native_rows} rows {:.1} ms", t * 1e3);
        }
    }
    Ok(())
}

/// A session of `component` against `mock`, configured for a 90-day backfill.
async fn configured_session(
    component: std::path::PathBuf,
    mock: &MockServer,
    key: &str,
) -> anyhow::Result<Session> {
    let mut hc = HarnessConfig::new(component);
    hc.openai_base = Some(Base::parse(&mock.base_url())?);
    let harness = Harness::load(hc).await?;
    let mut session = harness
        .session(Some(key))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut settings = harness.typed_settings(&[("backfill_days".into(), "90".into())]);
    settings.push(wit::Setting {
        key: host_harness::store::TOKEN_SLOT.into(),
        value: wit::SettingValue::Text(key.into()),
    });
    session
        .configure(&settings)
        .await?
        .map_err(|e| anyhow::anyhow!("configure: {e:?}"))?;
    Ok(session)
}

/// Seconds to normalize all `pages` in the component.
async fn time_in_component(session: &mut Session, pages: &[wit::RawPage]) -> anyhow::Result<f64> {
    let t = Instant::now();
    for p in pages {
        session
            .normalize(p)
            .await?
            .map_err(|e| anyhow::anyhow!("normalize: {e:?}"))?;
    }
    Ok(t.elapsed().as_secs_f64())
}
