//! [`Registry`]: the enabled plugins of the process, by id.
//!
//! Enabling a new version swaps one `Arc`: calls already running hold the old
//! [`RegisteredPlugin`] and finish on the version they started with, new calls get the new
//! one, and the old version's compiled code is freed when its last call ends.

use crate::kind::Kind;
use crate::plugin::LoadedPlugin;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

/// One enabled plugin version.
#[derive(Clone)]
pub struct RegisteredPlugin {
    /// The manifest id.
    pub id: String,
    /// The manifest version.
    pub version: String,
    /// The world.
    pub kind: Kind,
    /// The loaded component.
    pub plugin: LoadedPlugin,
}

/// Enabled plugins by id. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Registry {
    plugins: Arc<RwLock<HashMap<String, Arc<RegisteredPlugin>>>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Enables `plugin`, replacing the version enabled under its id, which is returned.
    pub fn enable(&self, plugin: RegisteredPlugin) -> Option<Arc<RegisteredPlugin>> {
        let mut map = self.plugins.write().unwrap_or_else(PoisonError::into_inner);
        map.insert(plugin.id.clone(), Arc::new(plugin))
    }

    /// Same as [`Self::enable`]; the name says what the caller means (a new version or a
    /// rollback).
    pub fn replace(&self, plugin: RegisteredPlugin) -> Option<Arc<RegisteredPlugin>> {
        self.enable(plugin)
    }

    /// Disables `id` for new calls; running calls finish. Returns what was enabled.
    pub fn disable(&self, id: &str) -> Option<Arc<RegisteredPlugin>> {
        let mut map = self.plugins.write().unwrap_or_else(PoisonError::into_inner);
        map.remove(id)
    }

    /// The version enabled under `id`, to call; hold the `Arc` for the whole call.
    pub fn get(&self, id: &str) -> Option<Arc<RegisteredPlugin>> {
        let map = self.plugins.read().unwrap_or_else(PoisonError::into_inner);
        map.get(id).cloned()
    }

    /// Every enabled plugin, sorted by id.
    pub fn list(&self) -> Vec<Arc<RegisteredPlugin>> {
        let map = self.plugins.read().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<_> = map.values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }
}
