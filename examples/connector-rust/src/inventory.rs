//! The inventory API (see `examples/inventory/README.md`): URLs, answers to WIT records,
//! errors. Pure functions over bytes, shared word for word with the Python and JavaScript
//! examples, so all three answer the same fixtures the same way.

use portcullis_plugin_sdk::{Error, Instance, InstancePage, Region};
use serde_json::{Map, Value};

/// The page size when the request asks for 0.
pub const DEFAULT_PAGE_SIZE: u32 = 10;
/// The largest page the inventory serves.
pub const MAX_PAGE_SIZE: u32 = 100;
const OS_FAMILIES: [&str; 3] = ["linux", "windows", "unix"];

/// Config `endpoint` split into a base URL (scheme and authority) and a path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `http://host:port` or `https://host`.
    pub origin: String,
    /// The path before `/api`, without a trailing `/` (often empty).
    pub prefix: String,
}

impl Endpoint {
    /// Parses config `endpoint`: `InvalidInput` when unset or not an http(s) URL.
    pub fn parse(value: Option<&str>) -> Result<Endpoint, Error> {
        let value =
            value.ok_or_else(|| Error::invalid_input("config key `endpoint` is not set"))?;
        for scheme in ["http", "https"] {
            let Some(rest) = value
                .strip_prefix(scheme)
                .and_then(|r| r.strip_prefix("://"))
            else {
                continue;
            };
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            if !authority.is_empty() {
                return Ok(Endpoint {
                    origin: format!("{scheme}://{authority}"),
                    prefix: path.trim_end_matches('/').to_owned(),
                });
            }
        }
        Err(Error::invalid_input(format!(
            "config key `endpoint` must be an http:// or https:// URL, got {}",
            Value::from(value)
        )))
    }

    /// The path and query of `path` under this endpoint (what error messages show).
    pub fn path(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }

    /// The whole URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}{path}", self.origin, self.prefix)
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `GET /api/ping`: the connection test.
pub const PING_PATH: &str = "/api/ping";
/// `GET /api/regions`.
pub const REGIONS_PATH: &str = "/api/regions";

/// The instances path: `page_token` (when given) before `page_size`, both encoded, so a
/// fixture keyed by exact URL matches every language.
pub fn instances_path(region: &str, page_token: Option<&str>, page_size: u32) -> String {
    let size = if page_size == 0 {
        DEFAULT_PAGE_SIZE
    } else {
        page_size.min(MAX_PAGE_SIZE)
    };
    let token = page_token
        .map(|t| format!("page_token={}&", encode(t)))
        .unwrap_or_default();
    format!(
        "/api/regions/{}/instances?{token}page_size={size}",
        encode(region)
    )
}

/// Maps a non-200 status to its error; `region` is set for the instances endpoint, whose
/// 404 means an unknown region.
pub fn check_status(status: u16, path: &str, region: Option<&str>) -> Result<(), Error> {
    match (status, region) {
        (200, _) => Ok(()),
        (401 | 403, _) => Err(Error::unauthorized(format!(
            "the inventory refused the token: HTTP {status} to GET {path}"
        ))),
        (404, Some(region)) => Err(Error::not_found(format!(
            "the inventory has no region {}",
            Value::from(region)
        ))),
        _ => Err(Error::unavailable(format!(
            "the inventory answered HTTP {status} to GET {path}"
        ))),
    }
}

/// The answer of `/api/regions`.
pub fn regions(body: &[u8], path: &str) -> Result<Vec<Region>, Error> {
    let value = parse_json(body, path)?;
    let map = || -> Result<Vec<Region>, String> {
        let list = value.as_array().ok_or("the answer must be a list")?;
        list.iter()
            .enumerate()
            .map(|(i, item)| {
                let where_ = format!("[{i}]");
                let obj = object(item, &where_)?;
                Ok(Region {
                    id: string(obj, "id", &where_, true)?,
                    name: string(obj, "name", &where_, false)?,
                })
            })
            .collect()
    };
    map().map_err(|e| malformed(path, &e))
}

/// The answer of the instances endpoint.
pub fn instance_page(body: &[u8], path: &str) -> Result<InstancePage, Error> {
    let value = parse_json(body, path)?;
    let map = || -> Result<InstancePage, String> {
        let obj = object(&value, "the answer")?;
        let items = obj
            .get("items")
            .and_then(Value::as_array)
            .ok_or("items must be a list")?;
        let instances = items
            .iter()
            .enumerate()
            .map(|(i, item)| instance(item, &format!("items[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let next = match obj.get("next") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()).filter(|s| !s.is_empty()),
            Some(_) => return Err("next must be a string or null".to_owned()),
        };
        Ok(InstancePage {
            instances,
            next_page_token: next,
        })
    };
    map().map_err(|e| malformed(path, &e))
}

/// One inventory item as a WIT instance (the mapping table of the inventory README); the
/// error names the offending field.
pub fn instance(item: &Value, where_: &str) -> Result<Instance, String> {
    let obj = object(item, where_)?;
    let family = optional_string(obj, "os_family", where_)?
        .map(|f| f.to_lowercase())
        .filter(|f| OS_FAMILIES.contains(&f.as_str()))
        .unwrap_or_else(|| "other".to_owned());
    Ok(Instance {
        external_id: string(obj, "id", where_, true)?,
        name: string(obj, "name", where_, false)?,
        hostname: optional_string(obj, "hostname", where_)?,
        private_ips: strings(obj, "private_ips", where_)?,
        public_ips: strings(obj, "public_ips", where_)?,
        os_family: family,
        os_name: optional_string(obj, "os_name", where_)?,
        status: string(obj, "status", where_, false)?.to_lowercase(),
        zone: optional_string(obj, "zone", where_)?,
        network: optional_string(obj, "network", where_)?,
        tags: tags(obj, where_)?,
    })
}

fn parse_json(body: &[u8], path: &str) -> Result<Value, Error> {
    serde_json::from_slice(body).map_err(|e| {
        Error::internal(format!(
            "the inventory's answer to GET {path} is not JSON: {e}"
        ))
    })
}

fn malformed(path: &str, what: &str) -> Error {
    Error::internal(format!(
        "the inventory's answer to GET {path} is malformed: {what}"
    ))
}

fn object<'a>(value: &'a Value, where_: &str) -> Result<&'a Map<String, Value>, String> {
    value
        .as_object()
        .ok_or_else(|| format!("{where_} must be an object"))
}

fn string(
    obj: &Map<String, Value>,
    key: &str,
    where_: &str,
    non_empty: bool,
) -> Result<String, String> {
    match obj.get(key) {
        Some(Value::String(s)) if !(non_empty && s.is_empty()) => Ok(s.clone()),
        _ if non_empty => Err(format!("{where_}.{key} must be a non-empty string")),
        _ => Err(format!("{where_}.{key} must be a string")),
    }
}

fn optional_string(
    obj: &Map<String, Value>,
    key: &str,
    where_: &str,
) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{where_}.{key} must be a string or null")),
    }
}

fn strings(obj: &Map<String, Value>, key: &str, where_: &str) -> Result<Vec<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{where_}.{key}[{i}] must be a string"))
            })
            .collect(),
        Some(_) => Err(format!("{where_}.{key} must be a list of strings")),
    }
}

fn tags(obj: &Map<String, Value>, where_: &str) -> Result<Vec<(String, String)>, String> {
    match obj.get("tags") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(tags)) => {
            let mut pairs = tags
                .iter()
                .map(|(k, v)| {
                    v.as_str()
                        .map(|v| (k.clone(), v.to_owned()))
                        .ok_or_else(|| format!("{where_}.tags.{k} must be a string"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            pairs.sort();
            Ok(pairs)
        }
        Some(_) => Err(format!("{where_}.tags must be an object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../inventory/fixture.json");

    fn fixture() -> Value {
        serde_json::from_str(FIXTURE).expect("the fixture is JSON")
    }

    /// What serve.py answers for one page (offset tokens).
    fn page_body(items: &[Value], offset: usize, size: usize) -> Vec<u8> {
        let end = (offset + size).min(items.len());
        let next = (end < items.len()).then(|| end.to_string());
        serde_json::to_vec(&serde_json::json!({"items": &items[offset..end], "next": next}))
            .expect("serializes")
    }

    #[test]
    fn endpoints_split_into_origin_and_prefix() {
        let e = Endpoint::parse(Some("https://inventory.example.com/v1/")).expect("valid");
        assert_eq!(e.origin, "https://inventory.example.com");
        assert_eq!(e.path("/api/ping"), "/v1/api/ping");
        let e = Endpoint::parse(Some("http://127.0.0.1:8080")).expect("valid");
        assert_eq!(e.url("/api/ping"), "http://127.0.0.1:8080/api/ping");
    }

    #[test]
    fn an_unset_or_non_http_endpoint_is_invalid_input() {
        assert_eq!(
            Endpoint::parse(None),
            Err(Error::InvalidInput(
                "config key `endpoint` is not set".into()
            ))
        );
        for value in ["ftp://x", "http://"] {
            assert_eq!(
                Endpoint::parse(Some(value)),
                Err(Error::InvalidInput(format!(
                    "config key `endpoint` must be an http:// or https:// URL, got \"{value}\""
                )))
            );
        }
    }

    #[test]
    fn the_instances_path_orders_encodes_and_clamps_its_parameters() {
        assert_eq!(
            instances_path("eu-west", None, 10),
            "/api/regions/eu-west/instances?page_size=10"
        );
        assert_eq!(
            instances_path("a b/c", Some("x&y=z~!'"), 5),
            "/api/regions/a%20b%2Fc/instances?page_token=x%26y%3Dz~%21%27&page_size=5"
        );
        assert!(instances_path("r", None, 0).ends_with("page_size=10"));
        assert!(instances_path("r", None, 1000).ends_with("page_size=100"));
    }

    #[test]
    fn statuses_map_to_plugin_errors() {
        assert_eq!(check_status(200, "/api/ping", None), Ok(()));
        let cases = [
            (
                401,
                None,
                Error::Unauthorized(
                    "the inventory refused the token: HTTP 401 to GET /api/x".into(),
                ),
            ),
            (
                403,
                Some("r"),
                Error::Unauthorized(
                    "the inventory refused the token: HTTP 403 to GET /api/x".into(),
                ),
            ),
            (
                404,
                Some("eu-central"),
                Error::NotFound("the inventory has no region \"eu-central\"".into()),
            ),
            (
                404,
                None,
                Error::Unavailable("the inventory answered HTTP 404 to GET /api/x".into()),
            ),
            (
                503,
                Some("r"),
                Error::Unavailable("the inventory answered HTTP 503 to GET /api/x".into()),
            ),
        ];
        for (status, region, expected) in cases {
            assert_eq!(
                check_status(status, "/api/x", region),
                Err(expected),
                "{status}"
            );
        }
    }

    #[test]
    fn pages_through_every_fixture_region() {
        let fixture = fixture();
        let regions = fixture["instances"].as_object().expect("regions");
        assert_eq!(
            regions
                .values()
                .map(|r| r.as_array().map_or(0, Vec::len))
                .sum::<usize>(),
            25
        );
        for (region, items) in regions {
            let items = items.as_array().expect("a list");
            let (mut seen, mut token, mut pages) = (Vec::new(), None::<String>, 0);
            loop {
                let offset = token
                    .as_deref()
                    .map_or(Ok(0), str::parse)
                    .expect("offset token");
                let page = instance_page(&page_body(items, offset, 10), "/p").expect("a page");
                seen.extend(page.instances.into_iter().map(|i| i.external_id));
                pages += 1;
                token = page.next_page_token;
                if token.is_none() {
                    break;
                }
            }
            let ids: Vec<&str> = items.iter().filter_map(|i| i["id"].as_str()).collect();
            assert_eq!(seen, ids, "{region}");
            assert_eq!(pages, items.len().div_ceil(10), "{region}");
        }
    }

    #[test]
    fn maps_one_item() {
        let got = instance(&fixture()["instances"]["eu-west"][4], "items[0]").expect("valid");
        assert_eq!(
            got,
            Instance {
                external_id: "i-eu-west-005".into(),
                name: "db-05".into(),
                hostname: Some("db-05.eu-west.corp.example".into()),
                private_ips: vec!["10.10.0.15".into()],
                public_ips: vec![],
                os_family: "linux".into(),
                os_name: Some("Ubuntu 24.04 LTS".into()),
                status: "stopped".into(),
                zone: Some("eu-west-c".into()),
                network: Some("vpc-main".into()),
                tags: vec![
                    ("env".into(), "prod".into()),
                    ("team".into(), "platform".into())
                ],
            }
        );
    }

    #[test]
    fn normalises_the_os_family_and_fills_defaults() {
        let minimal = serde_json::json!({"id": "i-1", "name": "n", "status": "Running"});
        let got = instance(&minimal, "items[0]").expect("valid");
        assert_eq!(
            (
                got.os_family.as_str(),
                got.status.as_str(),
                got.tags.len(),
                got.private_ips.len(),
                got.hostname
            ),
            ("other", "running", 0, 0, None)
        );
        for (family, expected) in [
            (Value::from("Windows"), "windows"),
            (Value::from("UNIX"), "unix"),
            (Value::from("aix"), "other"),
            (Value::Null, "other"),
        ] {
            let mut item = minimal.clone();
            item["os_family"] = family;
            assert_eq!(instance(&item, "i").expect("valid").os_family, expected);
        }
    }

    #[test]
    fn maps_regions() {
        let body = serde_json::to_vec(&fixture()["regions"]).expect("serializes");
        let ids: Vec<String> = regions(&body, "/api/regions")
            .expect("valid")
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["eu-west", "ap-east"]);
    }

    #[test]
    fn a_body_that_is_not_json_is_internal() {
        match instance_page(b"<html>", "/api/p") {
            Err(Error::Internal(m)) => {
                assert!(
                    m.starts_with("the inventory's answer to GET /api/p is not JSON: "),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_shapes_are_internal_and_say_where() {
        let prefix = "the inventory's answer to GET /api/p is malformed: ";
        let cases = [
            ("[]", "the answer must be an object"),
            (r#"{"next": null}"#, "items must be a list"),
            (
                r#"{"items": [{"name": "x", "status": "up"}]}"#,
                "items[0].id must be a non-empty string",
            ),
            (
                r#"{"items": [{"id": "i", "name": "x", "status": "up", "tags": {"a": 1}}]}"#,
                "items[0].tags.a must be a string",
            ),
            (
                r#"{"items": [{"id": "i", "name": "x", "status": "up", "private_ips": [1]}]}"#,
                "items[0].private_ips[0] must be a string",
            ),
            (
                r#"{"items": [{"id": "i", "name": "x", "status": "up", "zone": 3}]}"#,
                "items[0].zone must be a string or null",
            ),
            (
                r#"{"items": [], "next": 3}"#,
                "next must be a string or null",
            ),
        ];
        for (body, text) in cases {
            assert_eq!(
                instance_page(body.as_bytes(), "/api/p"),
                Err(Error::Internal(format!("{prefix}{text}"))),
                "{body}"
            );
        }
        assert_eq!(
            regions(br#"{"a": 1}"#, "/api/p"),
            Err(Error::Internal(format!(
                "{prefix}the answer must be a list"
            )))
        );
        assert_eq!(
            regions(br#"[{"id": "r"}]"#, "/api/p"),
            Err(Error::Internal(format!(
                "{prefix}[0].name must be a string"
            )))
        );
    }
}
