//! Load: what every command waits for before it can instantiate the component. Compiling
//! (the first run, or without a cache) vs. the precompiled artifact the host wrote then.
//! Both sides are the whole `Sandbox::load_with`: read the file, compile or (hash and map
//! the artifact), check the contract, link, and prepare the `InstancePre`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::json;

use host_harness::sandbox::{Allocator, LoadOrigin, Sandbox};

use super::report::{Row, Verdict};
use super::sizes::Sizes;
use super::stats::{median, median_f64, ms};

pub const MIN_RATIO: f64 = 20.0;

fn timed(component: &Path, cache: Option<&Path>) -> anyhow::Result<(Duration, LoadOrigin)> {
    let t = Instant::now();
    let sandbox = Sandbox::load_with(component, cache, Allocator::Pooling)?;
    let took = t.elapsed();
    Ok((took, sandbox.origin()))
}

/// Compilations interleaved with precompiled loads; the ratio is the median of each
/// compilation over the median of the precompiled loads right after it.
pub fn measure(component: &Path, cache: &Path, sizes: &Sizes) -> anyhow::Result<Row> {
    // The first load through the (empty) cache compiles and writes the artifact.
    let (_, origin) = timed(component, Some(cache))?;
    if origin != LoadOrigin::CompiledAndCached {
        bail!("the first load did not write the precompiled artifact ({origin:?})");
    }
    let artifact_bytes: u64 = std::fs::read_dir(cache)?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".cwasm"))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    let mut compiles = Vec::new();
    let mut loads = Vec::new();
    let mut ratios = Vec::new();
    for _ in 0..sizes.compile_reps {
        let (compile, origin) = timed(component, None)?;
        if origin != LoadOrigin::Compiled {
            bail!("a load without cache did not compile ({origin:?})");
        }
        let mut these = Vec::new();
        for _ in 0..sizes.precompiled_reps {
            let (took, origin) = timed(component, Some(cache))?;
            if origin != LoadOrigin::Cached {
                bail!("a load with a warm cache did not use the artifact ({origin:?})");
            }
            these.push(took);
        }
        ratios.push(compile.as_secs_f64() / median(&these).as_secs_f64());
        compiles.push(compile);
        loads.extend(these);
    }
    let (compile, load, ratio) = (median(&compiles), median(&loads), median_f64(&ratios));
    Ok(Row {
        id: "precompiled_load",
        what: "precompiled load",
        measured: format!(
            "{:.2} ms vs compiling {:.0} ms: {:.0}× faster (medians of {} / {})",
            ms(load),
            ms(compile),
            ratio,
            loads.len(),
            compiles.len()
        ),
        target: "≥ 20× faster than compiling",
        verdict: Verdict::judge_unless(sizes.timing_unjudged(), ratio >= MIN_RATIO, || {
            format!(
                "the precompiled load takes {:.2} ms, only {ratio:.1}× less than compiling",
                ms(load)
            )
        }),
        figures: json!({
            "precompiled_ms": ms(load),
            "compile_ms": ms(compile),
            "ratio": ratio,
            "artifact_bytes": artifact_bytes,
            "compilations": compiles.len(),
            "precompiled_loads": loads.len(),
        }),
    })
}
