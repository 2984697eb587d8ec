//! Normalize: the connector's own usage pages (pulled through the component from the mock)
//! turned into records inside the component, as every sync does, and by the same crate
//! compiled natively, beside it. Both outputs must be identical. Beside them, where the
//! time goes: serde_json only scanning the same bodies (into `IgnoredAny`), and the copy of
//! the records that lifting the component's result must make at least, both natively.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use codex_connector::settings::Settings;
use host_harness::bindings::v0_2::types as wit;
use host_harness::human::thousands;
use host_harness::runner::{connector_error, Harness};
use host_harness::sandbox::Session;

use super::fixture::{self, Mock};
use super::report::{Row, Verdict};
use super::sizes::Sizes;
use super::stats::{k_per_s, mb, median, median_f64, ms, plural, rate};

/// Usage rows per second inside the component.
pub const MIN_RATE: f64 = 300_000.0;

pub struct Normalize {
    pub row: Row,
    /// Where the time goes: serde_json's own scan, copying the records out, the rest.
    pub breakdown: Value,
    pub note: String,
}

/// A page both ways: as the component gets it, and as the native crate does; its records.
struct Both {
    wit: wit::RawPage,
    native: codex_connector::model::RawPage,
    rows: u64,
    records: Vec<codex_connector::model::NormalizedRecord>,
}

/// What lifting `normalize`'s result has to do at least, done natively: every string
/// allocated in host memory, copied and UTF-8 checked, into the host's record type.
fn copy_out(records: &[codex_connector::model::NormalizedRecord]) -> Vec<wit::NormalizedRecord> {
    fn copy(s: &str) -> String {
        let bytes = std::hint::black_box(s.as_bytes()).to_vec();
        String::from_utf8(bytes).unwrap_or_default()
    }
    records
        .iter()
        .map(|r| wit::NormalizedRecord {
            stream: copy(&r.stream),
            key: r.key.iter().map(|k| k.as_deref().map(copy)).collect(),
            schema_version: r.schema_version,
            payload: copy(&r.payload),
        })
        .collect()
}

fn native(p: &wit::RawPage) -> codex_connector::model::RawPage {
    codex_connector::model::RawPage {
        stream: p.stream.clone(),
        scope: p.scope.clone(),
        fetched_at: p.fetched_at,
        body: p.body.clone(),
    }
}

async fn in_component(
    session: &mut Session,
    p: &wit::RawPage,
) -> anyhow::Result<Vec<wit::NormalizedRecord>> {
    match session.normalize(p).await? {
        Ok(r) => Ok(r),
        Err(e) => {
            let (class, message) = connector_error(&e);
            bail!("normalize in the component failed: {class}: {message}")
        }
    }
}

/// Every usage page of the backfill window, through the component.
async fn pull_usage(session: &mut Session) -> anyhow::Result<Vec<wit::RawPage>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = match session.pull_page("usage", None, cursor.as_deref()).await? {
            Ok(p) => p,
            Err(e) => {
                let (class, message) = connector_error(&e);
                bail!("pull-page failed: {class}: {message}")
            }
        };
        pages.push(page.raw);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(pages),
        }
    }
}

/// The same records both ways, field by field.
fn same(
    native: &[codex_connector::model::NormalizedRecord],
    inside: &[wit::NormalizedRecord],
) -> bool {
    native.len() == inside.len()
        && native.iter().zip(inside).all(|(a, b)| {
            a.stream == b.stream
                && a.key == b.key
                && a.schema_version == b.schema_version
                && a.payload == b.payload
        })
}

pub async fn measure(component: &Path, mock: &Mock, sizes: &Sizes) -> anyhow::Result<Normalize> {
    let harness = Harness::load(fixture::config(component, &mock.server.base_url())?).await?;
    let settings =
        host_harness::runner::settings::typed(harness.info(), &fixture::settings(sizes.days))?;
    let (mut session, _) = harness
        .configured_session((settings, fixture::secrets(&mock.key)), "bench normalize")
        .await?;
    let pulled = pull_usage(&mut session).await?;

    // The connector's normalize with its default settings, natively.
    let native_settings = Settings::for_normalize("*codex*", &[], &[]);
    let normalize_native = |p: &codex_connector::model::RawPage| {
        codex_connector::normalize::normalize(p, &native_settings)
            .map_err(|e| anyhow::anyhow!("native normalize failed: {e:?}"))
    };

    // Each distinct page once: both outputs identical (this also warms both paths).
    let mut distinct = Vec::new();
    let mut payload_bytes = 0u64;
    for p in pulled {
        let n = native(&p);
        let expected = normalize_native(&n)?;
        let got = in_component(&mut session, &p).await?;
        if !same(&expected, &got) {
            bail!(
                "native and in-component normalize disagree on a usage page ({} vs {} records)",
                expected.len(),
                got.len()
            );
        }
        payload_bytes += expected.iter().map(|r| r.payload.len() as u64).sum::<u64>();
        if !expected.is_empty() {
            distinct.push(Both {
                wit: p,
                native: n,
                rows: expected.len() as u64,
                records: expected,
            });
        }
    }
    if distinct.is_empty() {
        bail!("the mock's usage pages hold no rows");
    }
    // Whole pages until the rows asked for (the pages once when none were asked for).
    let mut chosen: Vec<&Both> = Vec::new();
    let mut rows = 0u64;
    while rows == 0 || rows < sizes.normalize_rows {
        for b in &distinct {
            chosen.push(b);
            rows += b.rows;
            if sizes.normalize_rows > 0 && rows >= sizes.normalize_rows {
                break;
            }
        }
    }
    let body_bytes: u64 = chosen.iter().map(|b| b.wit.body.len() as u64).sum();
    let out_bytes: u64 = chosen
        .iter()
        .flat_map(|b| &b.records)
        .map(|r| {
            (r.payload.len()
                + r.stream.len()
                + r.key.iter().flatten().map(String::len).sum::<usize>()) as u64
        })
        .sum();

    // Interleaved repetitions, so each ratio compares passes seconds apart under the same
    // load: native, in the component, and the two floors of the breakdown.
    let (mut native_t, mut inside_t, mut scan_t, mut copy_t, mut ratios) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..sizes.normalize_reps {
        let t = Instant::now();
        let mut n = 0;
        for b in &chosen {
            n += normalize_native(&b.native)?.len() as u64;
        }
        native_t.push(t.elapsed());
        let t = Instant::now();
        let mut m = 0;
        for b in &chosen {
            m += in_component(&mut session, &b.wit).await?.len() as u64;
        }
        inside_t.push(t.elapsed());
        if n != rows || m != rows {
            bail!("normalize returned {n} records natively and {m} in the component, not {rows}");
        }
        ratios.push(
            inside_t[inside_t.len() - 1].as_secs_f64() / native_t[native_t.len() - 1].as_secs_f64(),
        );
        let t = Instant::now();
        for b in &chosen {
            serde_json::from_str::<serde::de::IgnoredAny>(&b.native.body)
                .context("a usage page is not JSON")?;
        }
        scan_t.push(t.elapsed());
        let t = Instant::now();
        for b in &chosen {
            drop(copy_out(&b.records));
        }
        copy_t.push(t.elapsed());
    }
    drop(session);
    let (native_med, inside_med, scan_med, copy_med): (Duration, Duration, Duration, Duration) = (
        median(&native_t),
        median(&inside_t),
        median(&scan_t),
        median(&copy_t),
    );
    let (native_rate, inside_rate, scan_rate) = (
        rate(rows, native_med),
        rate(rows, inside_med),
        rate(rows, scan_med),
    );
    let ratio = median_f64(&ratios);
    let scan_share = scan_med.as_secs_f64() / native_med.as_secs_f64();
    // The component's time less what copying the records out costs at least: the guest's
    // own work, against the same work natively.
    let guest = inside_med.saturating_sub(copy_med);
    let guest_ratio = guest.as_secs_f64() / native_med.as_secs_f64();
    let copy_share = copy_med.as_secs_f64() / inside_med.as_secs_f64();

    let why = || {
        let native_part = if native_rate < MIN_RATE {
            format!(
                "Even natively the connector normalizes only {} on these pages; serde_json merely scanning the same bodies (into IgnoredAny, no output) takes {:.0}% of that time, the rest is the records: typed fields, the payload JSON written per record, times rendered.",
                k_per_s(native_rate),
                scan_share * 100.0
            )
        } else {
            format!(
                "Natively the same code normalizes {}, above the target (serde_json merely scanning the bodies takes {:.0}% of that time).",
                k_per_s(native_rate),
                scan_share * 100.0
            )
        };
        format!(
            "the component parses with plain serde_json (no hand-rolled parser, by decision). {native_part} Inside the component it takes {ratio:.2}× native's time: the records are {} of strings for {} of input, and copying them out through the canonical ABI (every string allocated, copied and UTF-8 checked by the host) costs about {:.0} ms of its {:.0} ms ({:.0}%, timed by making the same copies natively); the guest's own work, Cranelift-compiled WebAssembly with the guest's allocator, runs about {guest_ratio:.1}× native.",
            mb(out_bytes),
            mb(body_bytes),
            ms(copy_med),
            ms(inside_med),
            copy_share * 100.0
        )
    };
    let row = Row {
        id: "normalize",
        what: "normalize in the component",
        measured: format!(
            "{} (native {}: the component takes {ratio:.2}× native's time); {} usage rows in {}, {} of JSON, median of {}",
            k_per_s(inside_rate),
            k_per_s(native_rate),
            thousands(rows),
            plural(chosen.len() as u64, "page", "pages"),
            mb(body_bytes),
            sizes.normalize_reps
        ),
        target: "≥ 300k usage rows/s",
        verdict: Verdict::judge_unless(sizes.timing_unjudged(), inside_rate >= MIN_RATE, why),
        figures: json!({
            "rows_per_s": inside_rate,
            "native_rows_per_s": native_rate,
            "ratio_to_native": ratio,
            "component_ms": ms(inside_med),
            "native_ms": ms(native_med),
            "rows": rows,
            "pages": chosen.len(),
            "distinct_pages": distinct.len(),
            "body_bytes": body_bytes,
            "record_bytes": out_bytes,
            "reps": sizes.normalize_reps,
        }),
    };
    Ok(Normalize {
        row,
        breakdown: json!({
            "json_scan_ms": ms(scan_med),
            "json_scan_rows_per_s": scan_rate,
            "json_scan_share_of_native": scan_share,
            "copy_out_ms": ms(copy_med),
            "copy_out_share_of_component": copy_share,
            "guest_ms": ms(guest),
            "guest_ratio_to_native": guest_ratio,
        }),
        note: format!(
            "normalize: {} of usage ({} of records' payloads) identical natively and in the component (stream, key, schema version, payload). Breakdown, natively: serde_json scanning the bodies alone {:.0} ms ({:.0}% of native normalize); the same copies of the records that lifting makes (allocate, copy, UTF-8 check every string) {:.0} ms ({:.0}% of the component's time); the rest of the component's time is {guest_ratio:.1}× native normalize",
            plural(distinct.len() as u64, "distinct page", "distinct pages"),
            mb(payload_bytes),
            ms(scan_med),
            scan_share * 100.0,
            ms(copy_med),
            copy_share * 100.0
        ),
    })
}
