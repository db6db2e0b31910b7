//! `wit_bindgen::generate!` output: one shared set of import bindings and one module per
//! world for its export. Compiled only for wasm32 (see `lib.rs`).
//!
//! The imports of all four worlds are generated once, from a world of the SDK's own that
//! imports them all, so `secret`, `target` and the WASI HTTP types are the same Rust types
//! whichever world a plugin exports; the per-world modules map their imports onto it with
//! `with`. Unused imports are dropped when the component is made (`wit-component` keeps
//! only what the core module really imports), so a plugin imports only what it calls.
//! `pub_export_macro` puts each world's export metadata in the plugin crate that invokes
//! the export macro, not here: a plugin exports exactly one world.

wit_bindgen::generate!({
    inline: "
        package portcullis:sdk;
        world imports {
            import portcullis:plugin/log@0.1.0;
            import portcullis:plugin/config@0.1.0;
            import portcullis:plugin/secrets@0.1.0;
            import portcullis:plugin/remote@0.1.0;
            import wasi:http/outgoing-handler@0.2.12;
            import wasi:clocks/wall-clock@0.2.12;
            import wasi:random/random@0.2.12;
        }
    ",
    path: "../../wit",
    world: "portcullis:sdk/imports",
    generate_all,
});

/// The `platform-automation` world's export.
pub mod automation {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "portcullis:plugin/platform-automation",
        with: {
            "portcullis:plugin/types@0.1.0": crate::wasm::bindings::portcullis::plugin::types,
            "portcullis:plugin/log@0.1.0": crate::wasm::bindings::portcullis::plugin::log,
            "portcullis:plugin/config@0.1.0": crate::wasm::bindings::portcullis::plugin::config,
            "portcullis:plugin/secrets@0.1.0": crate::wasm::bindings::portcullis::plugin::secrets,
            "portcullis:plugin/remote@0.1.0": crate::wasm::bindings::portcullis::plugin::remote,
            "wasi:clocks/wall-clock@0.2.12": crate::wasm::bindings::wasi::clocks::wall_clock,
            "wasi:clocks/monotonic-clock@0.2.12": crate::wasm::bindings::wasi::clocks::monotonic_clock,
            "wasi:io/poll@0.2.12": crate::wasm::bindings::wasi::io::poll,
            "wasi:random/random@0.2.12": crate::wasm::bindings::wasi::random::random,
        },
        pub_export_macro: true,
        default_bindings_module: "portcullis_plugin_sdk::__private::automation",
    });
}

/// The `cloud-connector` world's export.
pub mod connector {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "portcullis:plugin/cloud-connector",
        with: {
            "portcullis:plugin/types@0.1.0": crate::wasm::bindings::portcullis::plugin::types,
            "portcullis:plugin/log@0.1.0": crate::wasm::bindings::portcullis::plugin::log,
            "portcullis:plugin/config@0.1.0": crate::wasm::bindings::portcullis::plugin::config,
            "portcullis:plugin/secrets@0.1.0": crate::wasm::bindings::portcullis::plugin::secrets,
            "wasi:clocks/wall-clock@0.2.12": crate::wasm::bindings::wasi::clocks::wall_clock,
            "wasi:clocks/monotonic-clock@0.2.12": crate::wasm::bindings::wasi::clocks::monotonic_clock,
            "wasi:io/poll@0.2.12": crate::wasm::bindings::wasi::io::poll,
            "wasi:io/error@0.2.12": crate::wasm::bindings::wasi::io::error,
            "wasi:io/streams@0.2.12": crate::wasm::bindings::wasi::io::streams,
            "wasi:http/types@0.2.12": crate::wasm::bindings::wasi::http::types,
            "wasi:http/outgoing-handler@0.2.12": crate::wasm::bindings::wasi::http::outgoing_handler,
            "wasi:random/random@0.2.12": crate::wasm::bindings::wasi::random::random,
        },
        pub_export_macro: true,
        default_bindings_module: "portcullis_plugin_sdk::__private::connector",
    });
}

/// The `auth-provider` world's export.
pub mod auth {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "portcullis:plugin/auth-provider",
        with: {
            "portcullis:plugin/types@0.1.0": crate::wasm::bindings::portcullis::plugin::types,
            "portcullis:plugin/log@0.1.0": crate::wasm::bindings::portcullis::plugin::log,
            "portcullis:plugin/config@0.1.0": crate::wasm::bindings::portcullis::plugin::config,
            "portcullis:plugin/secrets@0.1.0": crate::wasm::bindings::portcullis::plugin::secrets,
            "wasi:clocks/wall-clock@0.2.12": crate::wasm::bindings::wasi::clocks::wall_clock,
            "wasi:clocks/monotonic-clock@0.2.12": crate::wasm::bindings::wasi::clocks::monotonic_clock,
            "wasi:io/poll@0.2.12": crate::wasm::bindings::wasi::io::poll,
            "wasi:io/error@0.2.12": crate::wasm::bindings::wasi::io::error,
            "wasi:io/streams@0.2.12": crate::wasm::bindings::wasi::io::streams,
            "wasi:http/types@0.2.12": crate::wasm::bindings::wasi::http::types,
            "wasi:http/outgoing-handler@0.2.12": crate::wasm::bindings::wasi::http::outgoing_handler,
            "wasi:random/random@0.2.12": crate::wasm::bindings::wasi::random::random,
        },
        pub_export_macro: true,
        default_bindings_module: "portcullis_plugin_sdk::__private::auth",
    });
}

/// The `autofill` world's export.
pub mod autofill {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "portcullis:plugin/autofill",
        with: {
            "portcullis:plugin/types@0.1.0": crate::wasm::bindings::portcullis::plugin::types,
            "portcullis:plugin/log@0.1.0": crate::wasm::bindings::portcullis::plugin::log,
            "portcullis:plugin/config@0.1.0": crate::wasm::bindings::portcullis::plugin::config,
        },
        pub_export_macro: true,
        default_bindings_module: "portcullis_plugin_sdk::__private::autofill",
    });
}
