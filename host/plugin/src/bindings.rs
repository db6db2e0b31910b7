//! Host bindings of the WIT worlds, one module per world.
//!
//! The shared interfaces (`types`, `log`, `config`, `secrets`) are generated once, in
//! [`automation`], and reused by the other worlds through `with:`, so one host
//! implementation serves every world and values flow between them without conversion.
//! WASI and `wasi:http` come from wasmtime-wasi and wasmtime-wasi-http, whose linkers
//! provide them.

// The generated export wrappers use `TypedFunc::new_unchecked` after type-checking the
// component at instantiation: wasmtime's own code, not ours.
#![allow(unsafe_code)]

/// `platform-automation`: also the home of the shared interfaces.
pub mod automation {
    wasmtime::component::bindgen!({
        world: "platform-automation",
        path: "../../wit",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "wasi": wasmtime_wasi::p2::bindings,
            "portcullis:plugin/secrets.secret": crate::host::secrets::SecretHandle,
            "portcullis:plugin/remote.session": crate::host::remote::SessionHandle,
        },
    });
}

/// `auth-provider`.
pub mod auth {
    wasmtime::component::bindgen!({
        world: "auth-provider",
        path: "../../wit",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi": wasmtime_wasi::p2::bindings,
            "portcullis:plugin/types": super::automation::portcullis::plugin::types,
            "portcullis:plugin/log": super::automation::portcullis::plugin::log,
            "portcullis:plugin/config": super::automation::portcullis::plugin::config,
            "portcullis:plugin/secrets": super::automation::portcullis::plugin::secrets,
        },
    });
}

/// `cloud-connector`.
pub mod connector {
    wasmtime::component::bindgen!({
        world: "cloud-connector",
        path: "../../wit",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi": wasmtime_wasi::p2::bindings,
            "portcullis:plugin/types": super::automation::portcullis::plugin::types,
            "portcullis:plugin/log": super::automation::portcullis::plugin::log,
            "portcullis:plugin/config": super::automation::portcullis::plugin::config,
            "portcullis:plugin/secrets": super::automation::portcullis::plugin::secrets,
        },
    });
}

/// `autofill`.
pub mod autofill {
    wasmtime::component::bindgen!({
        world: "autofill",
        path: "../../wit",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "portcullis:plugin/types": super::automation::portcullis::plugin::types,
            "portcullis:plugin/log": super::automation::portcullis::plugin::log,
            "portcullis:plugin/config": super::automation::portcullis::plugin::config,
        },
    });
}
