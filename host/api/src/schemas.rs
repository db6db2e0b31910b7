//! The resource schemas of the OpenAPI document ([`crate::openapi`]), made from the same field
//! lists the handlers check request bodies against (`WRITABLE`, `READ_ONLY`, … in
//! `routes/`), so a field added to a resource shows up in the document.
//!
//! The lists name fields, not their types; a type is given where the name says it
//! (`id`, `is_*`, `date_*`, secrets), and other fields are left open.

use crate::routes::{accounts, assets, labels, orgs, platform_writes, terminal, users};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// One resource: its schema name and its fields.
pub(crate) struct Schema {
    /// The name under `components/schemas`.
    pub name: &'static str,
    /// Fields a client may send (and, except secrets, reads back).
    writable: &'static [&'static str],
    /// Fields the server fills in.
    read_only: &'static [&'static str],
}

const fn schema(
    name: &'static str,
    writable: &'static [&'static str],
    read_only: &'static [&'static str],
) -> Schema {
    Schema {
        name,
        writable,
        read_only,
    }
}

/// Fields that are never read back (reference §1.3).
const WRITE_ONLY: &[&str] = &[
    "password",
    "secret",
    "passphrase",
    "input_secret",
    "old_password",
    "new_password",
];

/// The resources by the collection path (axum syntax) they are listed and created at; their
/// detail paths (`…/{key}/`) share the schema.
pub(crate) fn all() -> BTreeMap<&'static str, Schema> {
    let token = || {
        schema(
            "ConnectionToken",
            terminal::TOKEN_WRITABLE,
            terminal::TOKEN_ECHOED,
        )
    };
    let label = || schema("Label", labels::LABEL_FIELDS, labels::LABEL_READ_ONLY);
    BTreeMap::from([
        (
            "/api/v1/users/users/",
            schema("User", users::WRITABLE, users::READ_ONLY),
        ),
        (
            "/api/v1/authentication/ssh-key/",
            schema("SSHKey", users::SSH_KEY_FIELDS, &[]),
        ),
        (
            "/api/v1/assets/{kind}/",
            schema("Asset", assets::ASSET_WRITABLE, assets::ASSET_READ_ONLY),
        ),
        (
            "/api/v1/assets/nodes/",
            schema("Node", &["value", "full_value"], assets::NODE_READ_ONLY),
        ),
        (
            "/api/v1/assets/zones/",
            schema("Zone", assets::ZONE_FIELDS, &[]),
        ),
        (
            "/api/v1/assets/domains/",
            schema("Zone", assets::ZONE_FIELDS, &[]),
        ),
        (
            "/api/v1/assets/platforms/",
            schema("Platform", platform_writes::FIELDS, &[]),
        ),
        ("/api/v1/labels/labels/", label()),
        ("/api/v1/assets/labels/", label()),
        (
            "/api/v1/orgs/orgs/",
            schema("Organization", orgs::FIELDS, orgs::READ_ONLY),
        ),
        (
            "/api/v1/accounts/accounts/",
            schema(
                "Account",
                accounts::ACCOUNT_WRITABLE,
                &[
                    "org_id",
                    "org_name",
                    "date_created",
                    "date_updated",
                    "created_by",
                ],
            ),
        ),
        (
            "/api/v1/accounts/account-templates/",
            schema(
                "AccountTemplate",
                accounts::TEMPLATE_WRITABLE,
                &[
                    "org_id",
                    "org_name",
                    "date_created",
                    "date_updated",
                    "created_by",
                ],
            ),
        ),
        (
            "/api/v1/perms/asset-permissions/",
            schema(
                "AssetPermission",
                accounts::PERMISSION_WRITABLE,
                &[
                    "org_id",
                    "org_name",
                    "date_created",
                    "created_by",
                    "is_valid",
                    "is_expired",
                ],
            ),
        ),
        ("/api/v1/authentication/connection-token/", token()),
        ("/api/v1/users/connection-token/", token()),
    ])
}

/// The type a field's name implies, or an open schema.
fn property(field: &str) -> Value {
    if field == "id" {
        json!({"type": "string", "format": "uuid"})
    } else if field.starts_with("is_") || field.starts_with("has_") || field.ends_with("_enabled") {
        json!({"type": "boolean"})
    } else if field.starts_with("date_") {
        json!({"type": "string", "nullable": true,
            "description": "`YYYY/MM/DD HH:MM:SS +ZZZZ` on output; ISO-8601 accepted on input."})
    } else if field == "labels" {
        json!({"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "string"}, "name": {"type": "string"},
            "value": {"type": "string"}, "color": {"type": "string"}}}})
    } else if WRITE_ONLY.contains(&field) {
        json!({"type": "string"})
    } else {
        json!({})
    }
}

/// `components/schemas`: every resource, plus `extra` (the error shapes).
pub(crate) fn components(all: &BTreeMap<&'static str, Schema>, extra: Map<String, Value>) -> Value {
    let mut out = extra;
    for s in all.values() {
        let mut props = Map::new();
        for f in s.writable {
            let mut p = property(f);
            if let Some(m) = p.as_object_mut() {
                if WRITE_ONLY.contains(f) {
                    m.insert("writeOnly".into(), json!(true));
                }
                if *f == "id" {
                    m.insert("readOnly".into(), json!(true));
                }
            }
            props.insert((*f).to_owned(), p);
        }
        for f in s.read_only {
            if props.contains_key(*f) {
                continue;
            }
            let mut p = property(f);
            if let Some(m) = p.as_object_mut() {
                m.insert("readOnly".into(), json!(true));
            }
            props.insert((*f).to_owned(), p);
        }
        // What a create or update sends: the writable fields only, so that generated SDKs
        // and the docs' "try it out" offer no server-filled field.
        let request: Map<String, Value> = props
            .iter()
            .filter(|(k, v)| {
                s.writable.contains(&k.as_str()) && v.get("readOnly") != Some(&json!(true))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.insert(
            format!("{}Request", s.name),
            json!({"type": "object", "properties": request}),
        );
        out.insert(
            s.name.to_owned(),
            json!({"type": "object", "properties": props}),
        );
    }
    Value::Object(out)
}
