//! Example cloud connector in Rust: reads the example inventory API
//! (`examples/inventory/README.md`) over HTTP and pages through it.
//!
//! The same connector exists in Python (`examples/connector-python`) and JavaScript
//! (`examples/connector-js`); all three send the same requests and give the same answers.
//! The logic is plain Rust over the SDK's host traits, so `cargo test` runs it natively with
//! the SDK's scripted host; on wasm32 [`export_connector!`] turns it into the `connector`
//! export of the `cloud-connector` world.

pub mod inventory;

use portcullis_plugin_sdk::http::Request;
use portcullis_plugin_sdk::{
    Connector, Error, HttpHost, InstancePage, ListRequest, LogLevel, PluginInfo, Region, ResultExt,
};

use inventory::Endpoint;

/// The manifest's id; `describe` must answer it.
pub const PLUGIN_ID: &str = "example-inventory-rust";
/// The manifest's version.
pub const VERSION: &str = "0.1.0";

/// The connector. Stateless: the host makes a fresh instance for every call.
pub struct InventoryConnector;

/// GETs `path` under config `endpoint` with the bearer token of secret `api_token`; returns
/// the path as error messages show it and the body of a 200 answer.
fn get(host: &dyn HttpHost, path: &str, region: Option<&str>) -> Result<(String, Vec<u8>), Error> {
    let endpoint = Endpoint::parse(host.config("endpoint").as_deref())?;
    let secret = host.secret("api_token")?;
    let authorization = format!("Bearer {}", host.reveal_text(secret.as_ref())?);
    let url = endpoint.url(path);
    host.log(
        LogLevel::Debug,
        "inventory request",
        &[("method", "GET"), ("url", &url)],
    );
    let request = Request::get(&url)
        .header("authorization", &authorization)
        .header("accept", "application/json");
    // Transport errors keep the SDK's case (denied, timeout, unavailable) and name the URL.
    let response = host
        .send(&request)
        .context(format!("the request to {url} failed"))?;
    let full = endpoint.path(path);
    inventory::check_status(response.status, &full, region)?;
    Ok((full, response.body))
}

impl Connector for InventoryConnector {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: PLUGIN_ID.to_owned(),
            version: VERSION.to_owned(),
            display_name: "Example inventory (Rust)".to_owned(),
            features: vec!["paging".to_owned()],
        }
    }

    fn test_connection(host: &dyn HttpHost) -> Result<(), Error> {
        get(host, inventory::PING_PATH, None).map(drop)
    }

    fn list_regions(host: &dyn HttpHost) -> Result<Vec<Region>, Error> {
        let (path, body) = get(host, inventory::REGIONS_PATH, None)?;
        inventory::regions(&body, &path)
    }

    fn list_instances(host: &dyn HttpHost, request: ListRequest) -> Result<InstancePage, Error> {
        let path = inventory::instances_path(
            &request.region,
            request.page_token.as_deref(),
            request.page_size,
        );
        let (path, body) = get(host, &path, Some(&request.region))?;
        inventory::instance_page(&body, &path)
    }
}

// On wasm32 the `connector` export; natively only a check that the trait is implemented.
portcullis_plugin_sdk::export_connector!(InventoryConnector);
