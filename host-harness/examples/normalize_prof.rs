//! Dev tool: normalize the backfill's usage pages repeatedly, natively or in the component,
//! for `perf record`. `cargo run --release -p host-harness --example normalize_prof -- (native|wasm) REPS [COMPONENT]`
use host_harness::runner::{Harness, HarnessConfig};
use host_harness::sandbox::{wit, Base};
use openai_mock::{MockConfig, MockServer};
use std::time::Instant;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).cloned().unwrap_or("both".into());
    let reps: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(5);
    let comp = args
        .get(3)
        .cloned()
        .unwrap_or("target/wasm32-wasip2/release/codex_connector.wasm".into());
    let key = host_harness::random_admin_key();
    let mock = MockServer::start(MockConfig {
        users: 1000,
        days: 90,
        admin_key: key.clone(),
        ..MockConfig::default()
    })
    .await?;
    let mut hc = HarnessConfig::new(comp.into());
    hc.openai_base = Some(Base::parse(&mock.base_url())?);
    let harness = Harness::load(hc).await?;
    let mut session = harness
        .session(Some(&key))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut settings = harness.typed_settings(&[("backfill_days".into(), "90".into())]);
    settings.push(wit::Setting {
        key: host_harness::store::TOKEN_SLOT.into(),
        value: wit::SettingValue::Text(key.clone()),
    });
    session
        .configure(&settings)
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = session
            .pull_page("usage", None, cursor.as_deref())
            .await?
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        pages.push(page.raw);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let ns = codex_connector::settings::Settings::for_normalize("*codex*", &[], &[]);
    let native: Vec<_> = pages
        .iter()
        .map(|p| codex_connector::model::RawPage {
            stream: p.stream.clone(),
            scope: p.scope.clone(),
            fetched_at: p.fetched_at,
            body: p.body.clone(),
        })
        .collect();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in &native {
        for r in codex_connector::normalize::normalize(p, &ns).unwrap() {
            std::hash::Hash::hash(&(&r.stream, &r.key, r.schema_version, &r.payload), &mut h);
        }
    }
    eprintln!("checksum {:016x}", std::hash::Hasher::finish(&h));
    for _ in 0..reps {
        if mode != "wasm" {
            let t = Instant::now();
            let n: usize = native
                .iter()
                .map(|p| codex_connector::normalize::normalize(p, &ns).unwrap().len())
                .sum();
            eprintln!("native {n} rows {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
        }
        if mode != "native" {
            let t = Instant::now();
            let mut n = 0;
            for p in &pages {
                n += session.normalize(p).await?.unwrap().len();
            }
            eprintln!("wasm   {n} rows {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(())
}
