//! `secrets`: opaque handles to secrets the host holds.
//!
//! A handle is an entry of the store's resource table holding a [`SecretValue`]; the bytes
//! enter guest memory only through `reveal`, which needs the grant and is audited
//! ([`Event::SecretRevealed`]). Handles die with the store.

use crate::bindings::automation::portcullis::plugin::secrets;
use crate::bindings::automation::portcullis::plugin::types::PluginError as WitError;
use crate::caps::{Event, SecretValue};
use crate::host::state::HostState;
use wasmtime::component::Resource;

/// What a `secret` resource stands for in the table.
pub struct SecretHandle {
    pub(crate) value: SecretValue,
}

impl HostState {
    /// Puts a secret passed as a call argument (`change-secret`'s new secret) into the table,
    /// for the guest to use as a handle.
    pub(crate) fn push_secret(
        &mut self,
        value: SecretValue,
    ) -> wasmtime::Result<Resource<SecretHandle>> {
        Ok(self.table.push(SecretHandle { value })?)
    }
}

impl secrets::HostSecret for HostState {
    async fn name(&mut self, s: Resource<SecretHandle>) -> wasmtime::Result<String> {
        Ok(self.table.get(&s)?.value.name.clone())
    }

    async fn public_part(&mut self, s: Resource<SecretHandle>) -> wasmtime::Result<Option<String>> {
        Ok(self.table.get(&s)?.value.public_part.clone())
    }

    async fn drop(&mut self, s: Resource<SecretHandle>) -> wasmtime::Result<()> {
        self.table.delete(s)?;
        Ok(())
    }
}

impl secrets::Host for HostState {
    async fn get(
        &mut self,
        name: String,
    ) -> wasmtime::Result<Result<Resource<SecretHandle>, WitError>> {
        // The embedder puts only declared, granted and bound secrets in the invocation, so
        // an unknown name is refused without telling which of those steps left it out.
        let Some(value) = self.secrets.get(&name).cloned() else {
            return Ok(Err(WitError::Denied(format!(
                "the secret {name:?} is not granted to this plugin (or has no value)"
            ))));
        };
        Ok(Ok(self.table.push(SecretHandle { value })?))
    }

    async fn reveal(
        &mut self,
        s: Resource<SecretHandle>,
    ) -> wasmtime::Result<Result<Vec<u8>, WitError>> {
        let value = &self.table.get(&s)?.value;
        if !self.reveal_allowed {
            return Ok(Err(WitError::Denied(format!(
                "revealing secrets is not granted to this plugin (secret {:?}); use send-secret",
                value.name
            ))));
        }
        let name = value.name.clone();
        let bytes = value.bytes.to_vec();
        self.events
            .record(&self.invocation_id, Event::SecretRevealed { name });
        Ok(Ok(bytes))
    }
}
