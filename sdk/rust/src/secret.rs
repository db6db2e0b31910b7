//! Secrets as opaque handles ([`Secret`], [`SecretRef`]).
//!
//! A handle names a secret the host holds; passing it to
//! [`Session::send_secret`](crate::Session::send_secret) sends its bytes to the remote side
//! without the plugin ever holding them. Only [`SecretsHost::reveal`](crate::SecretsHost::reveal)
//! copies the bytes into the plugin, and the host audits every reveal.
//!
//! Inside the guest a handle is the WIT `secret` resource; natively (unit tests) it is a
//! value made by [`testing::secret`](crate::testing::secret) or
//! [`testing::key_secret`](crate::testing::key_secret).

use std::fmt;

#[cfg(target_arch = "wasm32")]
pub(crate) type Inner = crate::wasm::bindings::portcullis::plugin::secrets::Secret;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) type Inner = crate::testing::FakeSecret;

/// An owned handle from [`SecretsHost::secret`](crate::SecretsHost::secret); the host
/// forgets it when it is dropped or the invocation ends.
pub struct Secret(pub(crate) Inner);

/// A borrowed handle: what the host passes to `change-secret` and `push-account`, or
/// [`Secret::as_ref`]. Cheap to copy.
#[derive(Clone, Copy)]
pub struct SecretRef<'a>(pub(crate) &'a Inner);

impl Secret {
    /// The borrowed form, for [`Session::send_secret`](crate::Session::send_secret) and
    /// [`SecretsHost::reveal`](crate::SecretsHost::reveal).
    pub fn as_ref(&self) -> SecretRef<'_> {
        SecretRef(&self.0)
    }

    /// See [`SecretRef::name`].
    pub fn name(&self) -> String {
        self.as_ref().name()
    }

    /// See [`SecretRef::public_part`].
    pub fn public_part(&self) -> Option<String> {
        self.as_ref().public_part()
    }
}

impl SecretRef<'_> {
    /// The manifest name of the secret, or the host's name for an argument
    /// (`"new-secret"`, `"account"`). Safe to log.
    pub fn name(&self) -> String {
        self.0.name()
    }

    /// The public half of a key pair (an OpenSSH public key line for an SSH private key);
    /// `None` for passwords and tokens. Not audited: it is not secret.
    pub fn public_part(&self) -> Option<String> {
        self.0.public_part()
    }
}

/// Shows the name only, never the bytes.
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_ref().fmt(f)
    }
}

/// Shows the name only, never the bytes.
impl fmt::Debug for SecretRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Secret").field(&self.name()).finish()
    }
}
