//! The precompiled-component cache: artifacts the host itself wrote, keyed by the
//! component's SHA-256 and the engine's compatibility hash, in a directory only this user
//! may write (whatever lands there is later mapped as executable code).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{bail, Context};
use wasmtime::Engine;

use super::engine::{engine_with, Allocator};

/// Where [`super::Sandbox::load_default`] keeps precompiled components:
/// `$HOST_HARNESS_CACHE_DIR` (empty or `off` = no cache), else
/// `$XDG_CACHE_HOME/host-harness/components`, else `$HOME/.cache/host-harness/components`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("HOST_HARNESS_CACHE_DIR") {
        if dir.is_empty() || dir == "off" {
            return None;
        }
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty() && Path::new(d).is_absolute())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|d| !d.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })?;
    Some(base.join("host-harness").join("components"))
}

/// Feeds `Hash` output into SHA-256, so the engine's compatibility hash is keyed at full
/// strength (and independently of std's hasher).
struct ShaHasher(sha2::Sha256);

impl std::hash::Hasher for ShaHasher {
    fn write(&mut self, bytes: &[u8]) {
        sha2::Digest::update(&mut self.0, bytes);
    }
    fn finish(&self) -> u64 {
        0
    }
}

/// The cache key of `bytes` compiled by `engine`: hex SHA-256 over the component's bytes
/// and the engine's precompile compatibility hash (wasmtime version, target, settings).
pub fn cache_key(engine_allocator: Allocator, bytes: &[u8]) -> anyhow::Result<String> {
    let engine = engine_with(engine_allocator)?;
    Ok(cache_key_for(&engine, bytes))
}

fn cache_key_for(engine: &Engine, bytes: &[u8]) -> String {
    use sha2::Digest;
    use std::hash::Hash;
    let mut h = ShaHasher(sha2::Sha256::new());
    h.0.update(b"host-harness component cache v1\0");
    h.0.update((bytes.len() as u64).to_le_bytes());
    h.0.update(bytes);
    engine.precompile_compatibility_hash().hash(&mut h);
    h.0.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Make (or check) the cache directory: it must be ours and writable by nobody else,
/// because whatever lands in it is later mapped as executable code.
#[cfg(unix)]
fn private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let meta = std::fs::symlink_metadata(dir)?;
    let me = rustix::process::geteuid().as_raw();
    if !meta.is_dir() || meta.uid() != me {
        bail!("{} is not a directory owned by this user", dir.display());
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    Ok(())
}

/// A cached artifact we may map: a regular file owned by this user, not writable by others.
#[cfg(unix)]
fn trusted_artifact(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    match std::fs::symlink_metadata(path) {
        Ok(m) => m.is_file() && m.uid() == me && m.mode() & 0o022 == 0,
        Err(_) => false,
    }
}

#[cfg(not(unix))]
fn trusted_artifact(path: &Path) -> bool {
    path.is_file()
}

/// Write `bytes` to `path` atomically (a private temp file renamed into place), so a
/// concurrent reader sees either nothing or the whole artifact.
fn write_artifact(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let tmp = path.with_extension(format!(
        "tmp.{}.{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let result = (|| -> anyhow::Result<()> {
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Keep the `keep` most recently used artifacts; remove older ones and stale temp files.
fn prune_cache(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut artifacts = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        let Ok(meta) = e.metadata() else { continue };
        let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".cwasm") {
            artifacts.push((modified, path));
        } else if name.contains(".tmp.")
            && modified.elapsed().unwrap_or_default() > Duration::from_secs(3600)
        {
            let _ = std::fs::remove_file(&path);
        }
    }
    if artifacts.len() > keep {
        artifacts.sort();
        let excess = artifacts.len() - keep;
        for (_, p) in artifacts.into_iter().take(excess) {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Where a loaded component's compiled code came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadOrigin {
    /// Compiled from the .wasm in this process, no cache involved.
    Compiled,
    /// Compiled from the .wasm, and the artifact written to the cache for next time.
    CompiledAndCached,
    /// Loaded from a precompiled artifact in the cache.
    Cached,
}

/// Compile `bytes`, or on a cache hit map the artifact the host wrote earlier. A cache that
/// cannot be used (unwritable, foreign-owned, a stale or corrupt artifact) only costs a
/// compilation, never the load.
pub fn load(
    engine: &Engine,
    path: &Path,
    bytes: &[u8],
    cache_dir: Option<&Path>,
) -> anyhow::Result<(wasmtime::component::Component, LoadOrigin)> {
    use wasmtime::component::Component;
    let compile = || {
        Component::new(engine, bytes)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("{} is not a valid component", path.display()))
    };
    let Some(dir) = cache_dir else {
        return Ok((compile()?, LoadOrigin::Compiled));
    };
    let usable = private_dir(dir)
        .map_err(|e| tracing::debug!("component cache {} not used: {e:#}", dir.display()))
        .is_ok();
    let artifact = dir.join(format!("{}.cwasm", cache_key_for(engine, bytes)));
    if usable && trusted_artifact(&artifact) {
        // SAFETY: the artifact is a file this host wrote (into a directory only this
        // user may write) with `Component::serialize` of a component compiled by an
        // engine with the same compatibility hash, as the file name says; wasmtime
        // checks the version and settings in its header again and refuses a mismatch.
        match unsafe { Component::deserialize_file(engine, &artifact) } {
            Ok(component) => return Ok((component, LoadOrigin::Cached)),
            Err(e) => {
                tracing::debug!("cached artifact {} unusable: {e:#}", artifact.display());
                let _ = std::fs::remove_file(&artifact);
            }
        }
    }
    let component = compile()?;
    let mut origin = LoadOrigin::Compiled;
    if usable {
        match component
            .serialize()
            .map_err(anyhow::Error::from)
            .and_then(|art| write_artifact(&artifact, &art))
        {
            Ok(()) => {
                origin = LoadOrigin::CompiledAndCached;
                prune_cache(dir, 16);
            }
            Err(e) => tracing::debug!(
                "cannot write the component cache {}: {e:#}",
                artifact.display()
            ),
        }
    }
    Ok((component, origin))
}
