//! {{display_name}}: a cloud connector (see the SDK's guide, sdk/docs/rust.md).

use portcullis_plugin_sdk::http::Request;
use portcullis_plugin_sdk::{Connector, Error, HttpHost, PluginInfo, Region};

/// The plugin. Stateless: the host makes a fresh instance for every call.
pub struct Plugin;

/// GETs `path` under config `endpoint`; the body of a 2xx answer.
fn get(host: &dyn HttpHost, path: &str) -> Result<Vec<u8>, Error> {
    let endpoint = host.require_config("endpoint")?;
    let url = format!("{}{path}", endpoint.trim_end_matches('/'));
    let response = host.send(&Request::get(&url).header("accept", "application/json"))?;
    match response.status {
        200..=299 => Ok(response.body),
        401 | 403 => Err(Error::unauthorized(format!("HTTP {} from {url}", response.status))),
        status => Err(Error::unavailable(format!("HTTP {status} from {url}"))),
    }
}

impl Connector for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo::new("{{id}}", "0.1.0", "{{display_name}}")
    }

    fn test_connection(host: &dyn HttpHost) -> Result<(), Error> {
        get(host, "/health").map(drop)
    }

    fn list_regions(host: &dyn HttpHost) -> Result<Vec<Region>, Error> {
        let body = get(host, "/regions")?;
        serde_json::from_slice(&body)
            .map_err(|e| Error::internal(format!("the regions answer is not a list of regions: {e}")))
    }

    // list_instances: page through the provider's API (see ListRequest and InstancePage).
}

portcullis_plugin_sdk::export_connector!(Plugin);
