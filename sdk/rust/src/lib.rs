//! The Rust guest SDK for Portcullis plugins.
//!
//! A plugin is a `cdylib` crate built for `wasm32-wasip2` that implements one world of the
//! WIT package `portcullis:plugin` (`wit/` at the repository root):
//!
//! | World | Trait | Export macro | Host handed to functions |
//! |---|---|---|---|
//! | `platform-automation` | [`Automation`] | [`export_automation!`] | `&dyn` [`RemoteHost`] |
//! | `cloud-connector` | [`Connector`] | [`export_connector!`] | `&dyn` [`HttpHost`] |
//! | `auth-provider` | [`Auth`] | [`export_auth!`] | `&dyn` [`HttpHost`] |
//! | `autofill` | [`Autofill`] | [`export_autofill!`] | `&dyn` [`Host`] |
//!
//! Plugin code sees only plain Rust: the record types of [`types`], [`Error`] for
//! `plugin-error`, [`Secret`]/[`SecretRef`] handles, and the host's imports behind the traits
//! of [`host`]. The generated bindings exist only on wasm32, so the crate (and every plugin
//! built on it) also compiles natively, where [`testing::ScriptedHost`] stands in for the host
//! and plugin logic is unit-tested with `cargo test`.
//!
//! ```
//! use portcullis_plugin_sdk::{Automation, Error, PluginInfo, RemoteHost, Target};
//! use std::time::Duration;
//!
//! pub struct Hello;
//!
//! impl Automation for Hello {
//!     fn describe() -> PluginInfo {
//!         PluginInfo::new("hello", "0.1.0", "Hello")
//!     }
//!
//!     fn ping(host: &dyn RemoteHost, target: Target, _params: &str) -> Result<(), Error> {
//!         let mut session = host.open(&target, Duration::from_secs(10))?;
//!         let out = session.run("true", Duration::from_secs(10))?;
//!         if out.succeeded() { Ok(()) } else { Err(Error::unavailable("`true` failed")) }
//!     }
//! }
//!
//! portcullis_plugin_sdk::export_automation!(Hello);
//! ```
//!
//! See `sdk/docs/rust.md` for the whole workflow (crate, manifest, build, tests).

pub mod error;
pub mod host;
pub mod http;
mod secret;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod types;
mod worlds;

#[cfg(target_arch = "wasm32")]
pub(crate) mod wasm;

pub use error::{Error, ResultExt};
pub use host::{Host, HttpHost, RemoteHost, SecretsHost, Session};
pub use secret::{Secret, SecretRef};
pub use types::*;
pub use worlds::{Auth, Autofill, Automation, Connector};

/// Parses a method's `params` (a JSON object text) into `T`. An empty text or `null` is
/// `T::default()`, so declare optional fields with `#[serde(default)]`. A malformed text is
/// [`Error::InvalidInput`] (the host validates params against the manifest's schema, so
/// this mostly catches mismatches between schema and struct).
pub fn params<T: serde::de::DeserializeOwned + Default>(params: &str) -> Result<T, Error> {
    let text = params.trim();
    if text.is_empty() || text == "null" {
        return Ok(T::default());
    }
    serde_json::from_str(text).map_err(|e| Error::invalid_input(format!("params: {e}")))
}

/// What the export macros expand to; not part of the API.
#[doc(hidden)]
pub mod __private {
    #[cfg(target_arch = "wasm32")]
    pub use crate::wasm::bindings::{auth, autofill, automation, connector};
    #[cfg(target_arch = "wasm32")]
    pub use crate::wasm::exports::{AuthExport, AutofillExport, AutomationExport, ConnectorExport};

    /// Natively the macros only check that the type implements the world's trait.
    pub const fn assert_automation<P: crate::Automation>() {}
    /// See [`assert_automation`].
    pub const fn assert_connector<P: crate::Connector>() {}
    /// See [`assert_automation`].
    pub const fn assert_auth<P: crate::Auth>() {}
    /// See [`assert_automation`].
    pub const fn assert_autofill<P: crate::Autofill>() {}
}

/// Exports a type implementing [`Automation`] as the component's `automation` interface
/// (`platform-automation` world). Invoke once, at the crate root of a `cdylib`. Natively it
/// only checks the trait is implemented.
#[macro_export]
macro_rules! export_automation {
    ($plugin:ty) => {
        const _: () = $crate::__private::assert_automation::<$plugin>();
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __PortcullisExport = $crate::__private::AutomationExport<$plugin>;
            $crate::__private::automation::export!(
                __PortcullisExport with_types_in $crate::__private::automation
            );
        };
    };
}

/// Exports a type implementing [`Connector`] as the component's `connector` interface
/// (`cloud-connector` world). See [`export_automation!`].
#[macro_export]
macro_rules! export_connector {
    ($plugin:ty) => {
        const _: () = $crate::__private::assert_connector::<$plugin>();
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __PortcullisExport = $crate::__private::ConnectorExport<$plugin>;
            $crate::__private::connector::export!(
                __PortcullisExport with_types_in $crate::__private::connector
            );
        };
    };
}

/// Exports a type implementing [`Auth`] as the component's `auth` interface
/// (`auth-provider` world). See [`export_automation!`].
#[macro_export]
macro_rules! export_auth {
    ($plugin:ty) => {
        const _: () = $crate::__private::assert_auth::<$plugin>();
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __PortcullisExport = $crate::__private::AuthExport<$plugin>;
            $crate::__private::auth::export!(
                __PortcullisExport with_types_in $crate::__private::auth
            );
        };
    };
}

/// Exports a type implementing [`Autofill`] as the component's `autofill-planner`
/// interface (`autofill` world). See [`export_automation!`].
#[macro_export]
macro_rules! export_autofill {
    ($plugin:ty) => {
        const _: () = $crate::__private::assert_autofill::<$plugin>();
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __PortcullisExport = $crate::__private::AutofillExport<$plugin>;
            $crate::__private::autofill::export!(
                __PortcullisExport with_types_in $crate::__private::autofill
            );
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq, serde::Deserialize)]
    #[serde(default)]
    struct P {
        sudo: Option<bool>,
        delete_home: bool,
    }

    #[test]
    fn params_default_when_empty_and_reject_garbage() {
        assert_eq!(params::<P>(""), Ok(P::default()));
        assert_eq!(params::<P>(" null "), Ok(P::default()));
        assert_eq!(
            params::<P>(r#"{"delete_home": true, "other": 1}"#),
            Ok(P {
                sudo: None,
                delete_home: true
            })
        );
        assert!(matches!(params::<P>("{"), Err(Error::InvalidInput(_))));
        assert!(matches!(
            params::<P>(r#"{"delete_home": "yes"}"#),
            Err(Error::InvalidInput(_))
        ));
    }

    struct Nothing;
    impl Automation for Nothing {
        fn describe() -> PluginInfo {
            PluginInfo::new("nothing", "0.0.1", "Nothing").feature("none")
        }
    }
    export_automation!(Nothing);

    #[test]
    fn unimplemented_methods_say_so() {
        let host = testing::ScriptedHost::new();
        assert_eq!(
            Nothing::ping(&host, Target::ssh("a"), ""),
            Err(Error::Internal(
                "ping is not implemented by this plugin".into()
            ))
        );
        assert_eq!(Nothing::describe().features, ["none"]);
    }
}
