//! `config`: the administrator's values for this plugin, read-only.

use crate::bindings::automation::portcullis::plugin::config;
use crate::host::state::HostState;

impl config::Host for HostState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.config.get(&key).cloned())
    }

    async fn get_all(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        // A BTreeMap iterates in key order, which is what the WIT promises.
        Ok(self
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

// `types` declares only types; its (empty) host trait still needs an implementation.
impl crate::bindings::automation::portcullis::plugin::types::Host for HostState {}
