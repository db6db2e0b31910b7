//! The connector's functions against the SDK's scripted host: requests, paging, errors.

use example_connector_rust::{InventoryConnector, PLUGIN_ID, VERSION};
use portcullis_plugin_sdk::http::{Method, Response};
use portcullis_plugin_sdk::testing::{ScriptedHost, secret};
use portcullis_plugin_sdk::{Connector, Error, ListRequest, LogLevel};
use serde_json::{Value, json};

const BASE: &str = "http://127.0.0.1:8080";
const TOKEN: &str = "inventory-demo-token";

fn fixture() -> Value {
    serde_json::from_str(include_str!("../../inventory/fixture.json")).expect("fixture JSON")
}

fn host() -> ScriptedHost {
    ScriptedHost::new()
        .with_config("endpoint", BASE)
        .with_secret("api_token", secret("api_token", TOKEN))
}

fn list(region: &str, page_token: Option<&str>) -> ListRequest {
    ListRequest {
        region: region.to_owned(),
        page_token: page_token.map(str::to_owned),
        page_size: 10,
    }
}

#[test]
fn describe_matches_the_manifest() {
    let info = InventoryConnector::describe();
    assert_eq!(
        (info.id.as_str(), info.version.as_str()),
        (PLUGIN_ID, VERSION)
    );
    assert_eq!(info.features, ["paging"]);
    let manifest = include_str!("../plugin.toml");
    assert!(manifest.contains(&format!("id = \"{PLUGIN_ID}\"")));
    assert!(manifest.contains(&format!("version = \"{VERSION}\"")));
}

#[test]
fn test_connection_sends_the_token_and_logs_the_url_only() {
    let host = host().http(
        Method::Get,
        &format!("{BASE}/api/ping"),
        Response::json_body(r#"{"ok": true}"#),
    );
    assert_eq!(InventoryConnector::test_connection(&host), Ok(()));
    let requests = host.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].headers,
        [
            ("authorization".to_owned(), format!("Bearer {TOKEN}")),
            ("accept".to_owned(), "application/json".to_owned()),
        ]
    );
    assert_eq!(host.reveals(), ["api_token"]);
    let logs = host.logs();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].level, LogLevel::Debug);
    assert_eq!(
        logs[0].fields,
        [
            ("method".to_owned(), "GET".to_owned()),
            ("url".to_owned(), format!("{BASE}/api/ping")),
        ]
    );
    assert!(!format!("{logs:?}").contains(TOKEN));
}

#[test]
fn list_regions_maps_the_answer() {
    let regions = fixture()["regions"].to_string();
    let host = host().http(
        Method::Get,
        &format!("{BASE}/api/regions"),
        Response::json_body(&regions),
    );
    let got = InventoryConnector::list_regions(&host).expect("regions");
    let names: Vec<&str> = got.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["Europe West (Paris)", "Asia Pacific East (Hong Kong)"]
    );
}

#[test]
fn list_instances_pages_with_the_returned_tokens() {
    let items = fixture()["instances"]["eu-west"]
        .as_array()
        .expect("items")
        .clone();
    let url = |query: &str| format!("{BASE}/api/regions/eu-west/instances?{query}");
    let page = |from: usize, to: usize, next: Value| {
        Response::json_body(&json!({"items": &items[from..to], "next": next}).to_string())
    };
    let host = host()
        .http(Method::Get, &url("page_size=10"), page(0, 10, json!("10")))
        .http(
            Method::Get,
            &url("page_token=10&page_size=10"),
            page(10, 15, Value::Null),
        );
    let first = InventoryConnector::list_instances(&host, list("eu-west", None)).expect("page 1");
    assert_eq!(first.instances.len(), 10);
    assert_eq!(first.next_page_token.as_deref(), Some("10"));
    let second =
        InventoryConnector::list_instances(&host, list("eu-west", Some("10"))).expect("page 2");
    assert_eq!(second.instances.len(), 5);
    assert_eq!(second.instances[4].external_id, "i-eu-west-015");
    assert_eq!(second.next_page_token, None);
}

#[test]
fn errors_keep_their_cases() {
    let path = "/api/regions/eu-central/instances?page_size=10";
    let host = host()
        .http(
            Method::Get,
            &format!("{BASE}/api/ping"),
            Response::new(401, b"{}"),
        )
        .http(
            Method::Get,
            &format!("{BASE}{path}"),
            Response::new(404, b"{}"),
        )
        .http_fails(Method::Get, &format!("{BASE}/api/regions"), Error::Timeout);
    assert_eq!(
        InventoryConnector::test_connection(&host),
        Err(Error::Unauthorized(
            "the inventory refused the token: HTTP 401 to GET /api/ping".into()
        ))
    );
    assert_eq!(
        InventoryConnector::list_instances(&host, list("eu-central", None)),
        Err(Error::NotFound(
            "the inventory has no region \"eu-central\"".into()
        ))
    );
    assert_eq!(InventoryConnector::list_regions(&host), Err(Error::Timeout));
}

#[test]
fn configuration_and_secret_problems_come_before_any_request() {
    let unset = ScriptedHost::new().with_secret("api_token", secret("api_token", TOKEN));
    assert_eq!(
        InventoryConnector::test_connection(&unset),
        Err(Error::InvalidInput(
            "config key `endpoint` is not set".into()
        ))
    );
    let denied = host().deny_reveal();
    assert!(matches!(
        InventoryConnector::test_connection(&denied),
        Err(Error::Denied(_))
    ));
    assert!(unset.requests().is_empty() && denied.requests().is_empty());
}
