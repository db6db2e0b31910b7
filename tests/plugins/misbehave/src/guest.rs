//! The component side: bindings for the selected world and the behaviours.

// wit-bindgen's generated bindings are unsafe FFI glue.
#![allow(unsafe_code)]

#[cfg(any(
    all(feature = "connector", feature = "autofill"),
    all(feature = "connector", feature = "automation-http"),
    all(feature = "autofill", feature = "automation-http"),
))]
compile_error!("build one variant at a time (--no-default-features --features <variant>)");

#[cfg(feature = "automation-http")]
wit_bindgen::generate!({
    path: "../../../wit",
    inline: "
        package test:misbehave;
        world automation-http {
            include portcullis:plugin/platform-automation@0.1.0;
            import wasi:http/outgoing-handler@0.2.12;
        }
    ",
    world: "test:misbehave/automation-http",
    generate_all,
});

#[cfg(all(
    feature = "automation",
    not(any(
        feature = "automation-http",
        feature = "connector",
        feature = "autofill"
    ))
))]
wit_bindgen::generate!({
    path: "../../../wit",
    world: "portcullis:plugin/platform-automation@0.1.0",
    generate_all,
});

#[cfg(feature = "connector")]
wit_bindgen::generate!({
    path: "../../../wit",
    world: "portcullis:plugin/cloud-connector@0.1.0",
    generate_all,
});

#[cfg(feature = "autofill")]
wit_bindgen::generate!({
    path: "../../../wit",
    world: "portcullis:plugin/autofill@0.1.0",
    generate_all,
});

use crate::Behaviour;
use portcullis::plugin::log::{self, Level};
use portcullis::plugin::types::{PluginError, PluginInfo};
use std::sync::atomic::{AtomicU32, Ordering};

static CALLS: AtomicU32 = AtomicU32::new(0);

fn info() -> PluginInfo {
    PluginInfo {
        id: "misbehave".into(),
        version: "0.1.0".into(),
        display_name: "Misbehaving test plugin".into(),
        features: vec!["misbehave".into()],
    }
}

#[cfg_attr(
    not(any(feature = "automation", feature = "automation-http")),
    allow(dead_code)
)]
fn say(msg: String) {
    log::emit(Level::Info, &msg, &[]);
}

/// The behaviours every world can do. `None` when the behaviour needs a capability of
/// another world.
fn common(b: &Behaviour) -> Option<Result<(), PluginError>> {
    Some(match b {
        Behaviour::Ok => Ok(()),
        Behaviour::Counter => {
            let n = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
            Err(PluginError::Internal(format!("count={n}")))
        }
        Behaviour::Loop => {
            let mut x = 0u64;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        Behaviour::Alloc => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                let mut chunk = vec![0u8; 1 << 20];
                chunk[0] = 1;
                chunk[(1 << 20) - 1] = 1;
                hoard.push(std::hint::black_box(chunk));
            }
        }
        Behaviour::Panic => panic!("misbehave: asked to panic"),
        Behaviour::Flood(n) => {
            for i in 0..*n {
                log::emit(Level::Debug, &format!("flood line {i}"), &[]);
            }
            Ok(())
        }
        Behaviour::Stdout(n) => {
            for i in 0..*n {
                println!("stdout line {i}");
            }
            eprint!("no newline at the end");
            Ok(())
        }
        // The autofill world has no clocks or randomness.
        #[cfg(not(feature = "autofill"))]
        Behaviour::Clock => {
            let now = wasi::clocks::wall_clock::now();
            let mono = wasi::clocks::monotonic_clock::now();
            let bytes = wasi::random::random::get_random_bytes(8);
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            log::emit(
                Level::Info,
                &format!("wall {} mono {mono} random {hex}", now.seconds),
                &[],
            );
            Ok(())
        }
        Behaviour::Unknown(s) => Err(PluginError::InvalidInput(format!(
            "unknown behaviour {s:?}"
        ))),
        _ => return None,
    })
}

#[cfg(any(feature = "connector", feature = "automation-http"))]
mod http {
    use super::wasi::http::outgoing_handler;
    use super::wasi::http::types::{Fields, Method, OutgoingRequest, Scheme};
    use super::wasi::io::streams::StreamError;

    /// GETs `url`; the status and the body length, or the error code as text.
    pub fn get(url: &str) -> Result<(u16, usize), String> {
        let (scheme, rest) = url.split_once("://").ok_or("no scheme")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let req = OutgoingRequest::new(Fields::new());
        let scheme = match scheme {
            "https" => Scheme::Https,
            "http" => Scheme::Http,
            other => Scheme::Other(other.into()),
        };
        req.set_scheme(Some(&scheme)).map_err(|()| "scheme")?;
        req.set_authority(Some(authority))
            .map_err(|()| "authority")?;
        req.set_path_with_query(Some(path)).map_err(|()| "path")?;
        req.set_method(&Method::Get).map_err(|()| "method")?;
        let fut = outgoing_handler::handle(req, None).map_err(|e| format!("{e:?}"))?;
        let resp = loop {
            match fut.get() {
                Some(r) => break r,
                None => fut.subscribe().block(),
            }
        };
        let resp = resp
            .map_err(|()| "response taken".to_string())?
            .map_err(|e| format!("{e:?}"))?;
        let status = resp.status();
        let body = resp.consume().map_err(|()| "body taken")?;
        let stream = body.stream().map_err(|()| "stream taken")?;
        let mut n = 0;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => n += chunk.len(),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => return Err(e.to_debug_string()),
            }
        }
        Ok((status, n))
    }
}

#[cfg(any(feature = "automation", feature = "automation-http"))]
mod automation {
    use super::*;
    use exports::portcullis::plugin::automation::{Account, DiscoveredAccount, Guest, PushOptions};
    use portcullis::plugin::remote::{self, Target};
    use portcullis::plugin::secrets::{self, Secret};

    struct Misbehave;

    fn run(target: &Target, params: &str, secret: Option<&Secret>) -> Result<(), PluginError> {
        let b = Behaviour::parse(params);
        if let Some(r) = common(&b) {
            return r;
        }
        match b {
            Behaviour::Open => {
                remote::open(target, 1_000)?;
                Ok(())
            }
            Behaviour::BigOut => {
                let s = remote::open(target, 1_000)?;
                let out = s.run("cat /dev/big", 1_000)?;
                say(format!(
                    "stdout bytes: {}, stderr bytes: {}",
                    out.stdout.len(),
                    out.stderr.len()
                ));
                Ok(())
            }
            Behaviour::Reveal => {
                let s = secrets::get("token")?;
                let bytes = secrets::reveal(&s)?;
                say(format!("revealed {} bytes of {}", bytes.len(), s.name()));
                Ok(())
            }
            Behaviour::Expect(pattern) => {
                let s = remote::open(target, 1_000)?;
                s.expect(&[pattern], 100)?;
                Ok(())
            }
            Behaviour::SendSecret => {
                let secret = secret.ok_or(PluginError::InvalidInput("no secret".into()))?;
                let s = remote::open(target, 1_000)?;
                s.send(b"passwd\n")?;
                s.send_secret(secret, true)?;
                Ok(())
            }
            Behaviour::RevealSend => {
                let secret = secret.ok_or(PluginError::InvalidInput("no secret".into()))?;
                let mut bytes = secrets::reveal(secret)?;
                let s = remote::open(target, 1_000)?;
                s.send(b"passwd\n")?;
                bytes.push(b'\n');
                s.send(&bytes)?;
                Ok(())
            }
            #[cfg(feature = "automation-http")]
            Behaviour::Http(url) => match http::get(&url) {
                Ok((status, len)) => {
                    say(format!("status {status}, {len} bytes"));
                    Ok(())
                }
                Err(e) => Err(PluginError::Unavailable(e)),
            },
            other => Err(PluginError::InvalidInput(format!(
                "{other:?} is not for this world"
            ))),
        }
    }

    impl Guest for Misbehave {
        fn describe() -> PluginInfo {
            info()
        }
        fn ping(target: Target, params: String) -> Result<(), PluginError> {
            run(&target, &params, None)
        }
        fn verify_account(target: Target, params: String) -> Result<(), PluginError> {
            run(&target, &params, None)
        }
        fn change_secret(
            target: Target,
            _account: Account,
            new_secret: &Secret,
            params: String,
        ) -> Result<(), PluginError> {
            run(&target, &params, Some(new_secret))
        }
        fn push_account(
            target: Target,
            _account: Account,
            secret: &Secret,
            _options: PushOptions,
            params: String,
        ) -> Result<(), PluginError> {
            run(&target, &params, Some(secret))
        }
        fn gather_accounts(
            target: Target,
            params: String,
        ) -> Result<Vec<DiscoveredAccount>, PluginError> {
            run(&target, &params, None)?;
            Ok(vec![DiscoveredAccount {
                username: "root".into(),
                uid: Some(0),
                home: Some("/root".into()),
                shell: Some("/bin/bash".into()),
                groups: vec!["root".into()],
                last_login: None,
                last_login_address: None,
                login_enabled: true,
                privileged: true,
            }])
        }
        fn remove_account(
            target: Target,
            _username: String,
            params: String,
        ) -> Result<(), PluginError> {
            run(&target, &params, None)
        }
    }

    export!(Misbehave with_types_in super);
}

#[cfg(feature = "connector")]
mod connector {
    use super::*;
    use exports::portcullis::plugin::connector::{
        Guest, Instance, InstancePage, ListRequest, Region,
    };

    struct Misbehave;

    impl Guest for Misbehave {
        fn describe() -> PluginInfo {
            info()
        }
        fn test_connection() -> Result<(), PluginError> {
            let b = portcullis::plugin::config::get("behaviour").unwrap_or_default();
            common(&Behaviour::parse(&b)).unwrap_or(Ok(()))
        }
        fn list_regions() -> Result<Vec<Region>, PluginError> {
            Ok(vec![Region {
                id: "r1".into(),
                name: "Region one".into(),
            }])
        }
        fn list_instances(request: ListRequest) -> Result<InstancePage, PluginError> {
            let b = Behaviour::parse(&request.region);
            if let Some(r) = common(&b) {
                r?;
                return Ok(InstancePage {
                    instances: vec![],
                    next_page_token: None,
                });
            }
            let Behaviour::Http(url) = b else {
                return Err(PluginError::InvalidInput(format!(
                    "{b:?} is not for this world"
                )));
            };
            let (status, len) = http::get(&url).map_err(PluginError::Unavailable)?;
            Ok(InstancePage {
                instances: vec![Instance {
                    external_id: "i-1".into(),
                    name: format!("status {status}"),
                    hostname: None,
                    private_ips: vec![],
                    public_ips: vec![],
                    os_family: "linux".into(),
                    os_name: None,
                    status: "running".into(),
                    zone: None,
                    network: None,
                    tags: vec![("body-len".into(), len.to_string())],
                }],
                next_page_token: None,
            })
        }
    }

    export!(Misbehave with_types_in super);
}

#[cfg(feature = "autofill")]
mod autofill {
    use super::*;
    use exports::portcullis::plugin::autofill_planner::{Guest, Page, Step};

    struct Misbehave;

    impl Guest for Misbehave {
        fn describe() -> PluginInfo {
            info()
        }
        fn plan(page: Page) -> Result<Vec<Step>, PluginError> {
            common(&Behaviour::parse(&page.url)).unwrap_or(Ok(()))?;
            Ok(vec![Step::Click("#login".into())])
        }
    }

    export!(Misbehave with_types_in super);
}
