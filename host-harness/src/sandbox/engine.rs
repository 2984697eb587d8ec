//! The process-wide wasmtime engines. Epoch interruption lets the host preempt a spinning
//! guest: a ticker thread advances every engine's epoch each [`EPOCH_TICK`].

use std::sync::OnceLock;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::policy::EPOCH_TICK;

/// How instances get their memories, tables and stacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allocator {
    /// Preallocated slots reused across instances (the default: instantiating is a few
    /// microseconds instead of an mmap per memory and stack).
    Pooling,
    /// An mmap per instance (wasmtime's default), kept for comparison in `bench`.
    OnDemand,
}

/// The process-wide engines: epoch interruption lets the host preempt a spinning guest.
/// The pooling one is what `Sandbox::load*` use; the on-demand one exists for comparison.
pub fn engine_with(allocator: Allocator) -> anyhow::Result<Engine> {
    static POOLING: OnceLock<Engine> = OnceLock::new();
    static ON_DEMAND: OnceLock<Engine> = OnceLock::new();
    let cell = match allocator {
        Allocator::Pooling => &POOLING,
        Allocator::OnDemand => &ON_DEMAND,
    };
    if let Some(e) = cell.get() {
        return Ok(e.clone());
    }
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    // For `perf record`: name the guest's functions in /tmp/perf-PID.map.
    if std::env::var_os("HOST_HARNESS_PERF_MAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    if allocator == Allocator::Pooling {
        // Linear memories keep wasmtime's default 4 GiB reservation (bounds checks elided);
        // the per-instance cap stays the store limiter's (`Policy::max_memory_bytes`).
        // 200 concurrent instances per process is far more than the runner uses (one per
        // run) and bounds the address space reserved up front (~0.8 TiB, not resident).
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(200)
            .total_core_instances(1_000)
            .total_memories(200)
            .total_tables(1_000)
            .total_stacks(200)
            // Keep a little of each slot's memory resident across reuse: resetting a
            // slot then needs no page faults for the component's first pages.
            .linear_memory_keep_resident(1 << 20)
            .table_keep_resident(64 << 10);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    let engine = match Engine::new(&config) {
        Ok(e) => e,
        // The pool's address-space reservation can fail where virtual memory is limited
        // (ulimit -v): fall back to allocating per instance rather than not running.
        Err(e) if allocator == Allocator::Pooling => {
            tracing::warn!("pooling allocator unavailable ({e}); allocating per instance");
            config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
            Engine::new(&config)?
        }
        Err(e) => return Err(e.into()),
    };
    let engine = cell.get_or_init(|| engine).clone();
    static TICKER: OnceLock<()> = OnceLock::new();
    let mut spawn_err = None;
    TICKER.get_or_init(|| {
        if let Err(e) = std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(|| loop {
                std::thread::sleep(EPOCH_TICK);
                for e in [&POOLING, &ON_DEMAND].iter().filter_map(|c| c.get()) {
                    e.increment_epoch();
                }
            })
        {
            spawn_err = Some(e);
        }
    });
    if let Some(e) = spawn_err {
        return Err(e.into());
    }
    Ok(engine)
}
