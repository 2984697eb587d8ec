//! Instantiate: every run (every validate, every sync) starts in a fresh instance made
//! from the linked `InstancePre`, with its own WASI context, resource table, limiter and
//! outbound policy. Timed: `Sandbox::session` from start to a ready instance, with the
//! pooling allocator the host uses; the on-demand allocator beside it for comparison.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use host_harness::policy::secrets::SessionSecrets;
use host_harness::policy::Policy;
use host_harness::redact::Redactor;
use host_harness::sandbox::{Allocator, Sandbox, SessionSpec};

use super::report::{Row, Verdict};
use super::sizes::Sizes;
use super::stats::{median, us};

pub const MAX_MEDIAN: Duration = Duration::from_micros(50);

struct Times {
    /// Until the instance is ready.
    create: Duration,
    /// Including dropping it (the slot goes back to the pool).
    cycle: Duration,
}

async fn time(sandbox: &Sandbox, policy: &Arc<Policy>, sizes: &Sizes) -> anyhow::Result<Times> {
    let mut create = Vec::with_capacity(sizes.instantiate_reps);
    let mut cycle = Vec::with_capacity(sizes.instantiate_reps);
    for i in 0..sizes.instantiate_warmup + sizes.instantiate_reps {
        let t = Instant::now();
        let session = sandbox
            .session(SessionSpec {
                policy: policy.clone(),
                secrets: SessionSecrets::none(),
                redactor: Redactor::default(),
                context: "bench".into(),
            })
            .await?;
        let created = t.elapsed();
        drop(session);
        let cycled = t.elapsed();
        if i >= sizes.instantiate_warmup {
            create.push(created);
            cycle.push(cycled);
        }
    }
    Ok(Times {
        create: median(&create),
        cycle: median(&cycle),
    })
}

pub async fn measure(component: &Path, cache: &Path, sizes: &Sizes) -> anyhow::Result<Row> {
    let policy = Arc::new(Policy::default());
    let pooled = Sandbox::load_with(component, Some(cache), Allocator::Pooling)?;
    let pooling = time(&pooled, &policy, sizes).await?;
    drop(pooled);
    let on_demand = Sandbox::load_with(component, Some(cache), Allocator::OnDemand)?;
    let mmap = time(&on_demand, &policy, sizes).await?;
    drop(on_demand);
    Ok(Row {
        id: "instantiate",
        what: "instantiate",
        measured: format!(
            "{:.1} µs median, pooling (on-demand {:.1} µs; with drop {:.1} / {:.1} µs; n = {})",
            us(pooling.create),
            us(mmap.create),
            us(pooling.cycle),
            us(mmap.cycle),
            sizes.instantiate_reps
        ),
        target: "≤ 50 µs median",
        verdict: Verdict::judge_unless(
            sizes.timing_unjudged(),
            pooling.create <= MAX_MEDIAN,
            || {
                format!(
                    "a fresh instance takes {:.1} µs (median of {}) with the pooling allocator",
                    us(pooling.create),
                    sizes.instantiate_reps
                )
            },
        ),
        figures: json!({
            "median_us": us(pooling.create),
            "with_drop_us": us(pooling.cycle),
            "on_demand_median_us": us(mmap.create),
            "on_demand_with_drop_us": us(mmap.cycle),
            "reps": sizes.instantiate_reps,
            "warmup": sizes.instantiate_warmup,
        }),
    })
}
