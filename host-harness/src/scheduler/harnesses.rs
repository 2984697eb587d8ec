//! One [`Harness`] per component path, loaded the first time a run needs it and kept for
//! the life of the process: a component is compiled once per process (through the
//! precompiled cache, [`crate::sandbox::cache`], so usually not even that), and every run
//! of every connection that uses it instantiates the same compiled component (a fresh
//! instance per run).
//!
//! Every harness gets the template's policy, retry policy and page cap (the host's rules
//! are the host's, whichever component runs); only the component differs. A harness loaded
//! elsewhere can be put in as it is ([`Harnesses::insert`]), e.g. the one `serve` shows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::runner::{Harness, HarnessConfig, HostError};

/// The harnesses of a pool, by component path.
pub struct Harnesses {
    template: HarnessConfig,
    loaded: Mutex<HashMap<PathBuf, Arc<OnceCell<Arc<Harness>>>>>,
}

/// The key of a component path: canonical when the file exists (so `a/../b.wasm` and
/// `b.wasm` are one component), else absolute.
fn key(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

impl Harnesses {
    /// Harnesses configured like `template` (its `component` is replaced per path).
    pub fn new(template: HarnessConfig) -> Harnesses {
        Harnesses {
            template,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// Harnesses configured like `harness`, which is the one for its own component.
    pub fn with(harness: Arc<Harness>) -> Harnesses {
        let h = Harnesses::new(harness.config().clone());
        h.insert(harness);
        h
    }

    /// Use `harness` for its component path from now on (runs already going keep theirs).
    pub fn insert(&self, harness: Arc<Harness>) {
        let cell = Arc::new(OnceCell::new_with(Some(harness.clone())));
        self.lock().insert(key(&harness.config().component), cell);
    }

    /// The harness of the component at `path`, loading it on first use (concurrent callers
    /// wait for the one load). A load that fails is not kept: the next run tries again.
    pub async fn get(&self, path: &Path) -> Result<Arc<Harness>, HostError> {
        let cell = self.lock().entry(key(path)).or_default().clone();
        cell.get_or_try_init(|| self.load(path)).await.cloned()
    }

    /// The harnesses loaded so far.
    pub fn loaded(&self) -> Vec<Arc<Harness>> {
        self.lock()
            .values()
            .filter_map(|c| c.get().cloned())
            .collect()
    }

    /// The configuration every harness gets (but its component).
    pub fn template(&self) -> &HarnessConfig {
        &self.template
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Arc<OnceCell<Arc<Harness>>>>> {
        self.loaded.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn load(&self, path: &Path) -> Result<Arc<Harness>, HostError> {
        let config = HarnessConfig {
            component: path.to_path_buf(),
            ..self.template.clone()
        };
        if !path.is_file() {
            return Err(HostError::new(
                "usage",
                format!("there is no component at {}", path.display()),
            )
            .with_hint(
                "Give the connection a component that exists (connections add … --component PATH).",
            ));
        }
        // Compiling (or mapping the precompiled artifact) is blocking work: off the runtime's
        // threads, so the runs already going keep their pace.
        let rt = tokio::runtime::Handle::current();
        let loaded = tokio::task::spawn_blocking(move || rt.block_on(Harness::load(config)))
            .await
            .map_err(|e| {
                HostError::new("internal", format!("loading the component stopped: {e}"))
            })?;
        let harness = loaded.map_err(|e| {
            HostError::new(
                "sandbox",
                format!(
                    "the connector component {} could not be loaded: {e:#}",
                    path.display()
                ),
            )
        })?;
        tracing::info!(component = %path.display(), connector = %harness.id(), origin = ?harness.sandbox().origin(), "component loaded");
        Ok(Arc::new(harness))
    }
}
