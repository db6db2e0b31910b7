//! A platform's `automation` object on platform writes (reference §4.8) and the list of methods
//! it may name (`GET /api/v1/assets/platform-automation-methods/`).
//!
//! A method is named `<plugin>/<function>` (`portcullis-linux/ping`); the automation service
//! runs whatever plugin the part before `/` names, so a bare plugin id is accepted too. The
//! known methods are the ones the built-in platforms ship with, plus the `[[automation]]`
//! methods of every installed platform-automation plugin (any version, enabled or not: a
//! platform may be set up before its plugin is enabled). A method of another kind (`…/ping`
//! as `change_secret_method`) is refused.

use crate::AppState;
use crate::ctx::Caller;
use crate::error::ApiError;
use crate::plugins::manifest_of;
use axum::Json;
use axum::extract::State;
use portcullis_core::builtin::{AUTOMATION_KINDS, PLATFORMS};
use portcullis_plugin::kind::Kind;
use portcullis_store::assets::AutomationKind;
use portcullis_store::platforms::AutomationInput;
use portcullis_store::plugins::PluginFilter;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// One method a platform may name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MethodEntry {
    /// `<plugin>/<function>`.
    pub id: String,
    /// The plugin id.
    pub plugin: String,
    /// The automation kind (`ping`, `change_secret`, …).
    pub kind: String,
    /// Display name.
    pub name: String,
    /// Platform categories it is for.
    pub category: Vec<String>,
    /// Platform types it is for.
    pub types: Vec<String>,
    /// Shipped with a built-in platform.
    pub builtin: bool,
    /// Schema of its parameters (`{}` for built-in ones).
    pub params: Value,
}

/// The known methods (see the module documentation).
pub(crate) struct Catalogue(Vec<MethodEntry>);

fn title(kind: &str) -> String {
    let mut s = kind.replace('_', " ");
    if let Some(first) = s.get(0..1) {
        let upper = first.to_ascii_uppercase();
        s.replace_range(0..1, &upper);
    }
    s
}

impl Catalogue {
    /// The built-in methods and those of installed platform-automation plugins.
    pub(crate) async fn load(state: &AppState) -> Result<Catalogue, ApiError> {
        let mut by_id: BTreeMap<String, MethodEntry> = BTreeMap::new();
        for p in PLATFORMS {
            for (kind, m) in p.automation.kinds() {
                if m.method.is_empty() {
                    continue;
                }
                let e = by_id
                    .entry(m.method.to_owned())
                    .or_insert_with(|| MethodEntry {
                        id: m.method.to_owned(),
                        plugin: m.method.split('/').next().unwrap_or_default().to_owned(),
                        kind: kind.to_owned(),
                        name: format!("{} ({})", title(kind), m.method),
                        category: Vec::new(),
                        types: Vec::new(),
                        builtin: true,
                        params: json!({}),
                    });
                if !e.category.iter().any(|c| c == p.category) {
                    e.category.push(p.category.to_owned());
                }
                if !e.types.iter().any(|t| t == p.r#type) {
                    e.types.push(p.r#type.to_owned());
                }
            }
        }
        let (_, records) = state
            .store()
            .list_plugins(&PluginFilter {
                kind: Some(Kind::PlatformAutomation.to_string()),
                limit: 10_000,
                ..PluginFilter::default()
            })
            .await?;
        for record in &records {
            // A row whose manifest no longer parses offers no methods.
            let Ok(manifest) = manifest_of(record) else {
                continue;
            };
            for a in &manifest.automation {
                let id = format!("{}/{}", record.plugin_id, a.method.replace('_', "-"));
                by_id.entry(id.clone()).or_insert_with(|| MethodEntry {
                    id,
                    plugin: record.plugin_id.clone(),
                    kind: a.method.clone(),
                    name: a.name.clone(),
                    category: vec![a.category.clone().unwrap_or_else(|| "host".into())],
                    types: a.types.clone(),
                    builtin: false,
                    params: serde_json::to_value(&a.params).unwrap_or_else(|_| json!({})),
                });
            }
        }
        Ok(Catalogue(by_id.into_values().collect()))
    }

    /// Whether `name` (already trimmed) is a method of `kind`: a known id of that kind, or
    /// the bare id of a plugin offering that kind; `""` means none and is always fine.
    pub(crate) fn accepts(&self, kind: &str, name: &str) -> bool {
        name.is_empty()
            || self
                .0
                .iter()
                .any(|e| e.kind == kind && (e.id == name || e.plugin == name))
    }

    /// The method ids of `kind`, for an error message.
    fn ids_of(&self, kind: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.id.as_str())
            .collect()
    }
}

/// The automation input of an existing platform's stored settings (every kind disabled when
/// it has no automation row).
pub(crate) fn stored(automation: Option<&(bool, Value, Vec<AutomationKind>)>) -> AutomationInput {
    let mut out = AutomationInput::none();
    if let Some((enabled, config, kinds)) = automation {
        out.ansible_enabled = *enabled;
        out.ansible_config = config.clone();
        for k in kinds {
            if let Some(slot) = out.kinds.iter_mut().find(|s| s.kind == k.kind) {
                *slot = k.clone();
            }
        }
    }
    out
}

fn add(errors: &mut Map<String, Value>, field: &str, msg: impl Into<String>) {
    errors.insert(field.to_owned(), json!([msg.into()]));
}

/// Lays the `automation` object of a body over `base`: keys not sent keep their values.
/// Accepted keys are `id` (read-only, ignored), `ansible_enabled`, `ansible_config` and
/// `<kind>_enabled`, `<kind>_method`, `<kind>_params` of each kind. On error, the field
/// errors inside `automation` (DRF's nested shape).
pub(crate) fn apply(
    v: &Value,
    mut base: AutomationInput,
    known: &Catalogue,
) -> Result<AutomationInput, Map<String, Value>> {
    let mut errors = Map::new();
    let body = match v {
        Value::Null => return Ok(base),
        Value::Object(m) => m,
        _ => {
            add(
                &mut errors,
                "non_field_errors",
                "Invalid data. Expected a dictionary.",
            );
            return Err(errors);
        }
    };
    for (key, value) in body {
        match key.as_str() {
            "id" => {}
            "ansible_enabled" => match value {
                Value::Bool(b) => base.ansible_enabled = *b,
                _ => add(&mut errors, key, "Must be a valid boolean."),
            },
            "ansible_config" => match value {
                Value::Object(_) => base.ansible_config = value.clone(),
                _ => add(&mut errors, key, "Expected a dictionary."),
            },
            _ => {
                let found = AUTOMATION_KINDS.iter().find_map(|kind| {
                    key.strip_prefix(kind)
                        .and_then(|rest| rest.strip_prefix('_'))
                        .filter(|f| matches!(*f, "enabled" | "method" | "params"))
                        .map(|f| (*kind, f))
                });
                let Some((kind, field)) = found else {
                    add(&mut errors, key, "Unknown field.");
                    continue;
                };
                let Some(slot) = base.kinds.iter_mut().find(|k| k.kind == kind) else {
                    continue;
                };
                match (field, value) {
                    ("enabled", Value::Bool(b)) => slot.enabled = *b,
                    ("enabled", _) => add(&mut errors, key, "Must be a valid boolean."),
                    ("method", Value::Null) => slot.method = String::new(),
                    ("method", Value::String(s)) => {
                        let name = s.trim();
                        // The stored name sent back unchanged is kept even when its
                        // plugin has since been removed, so a client can echo what it read.
                        if known.accepts(kind, name) || name == slot.method {
                            slot.method = name.to_owned();
                        } else {
                            let ids = known.ids_of(kind);
                            add(
                                &mut errors,
                                key,
                                format!(
                                    "\"{name}\" is not a known {kind} method; one of: {}.",
                                    if ids.is_empty() {
                                        "(none)".to_owned()
                                    } else {
                                        ids.join(", ")
                                    }
                                ),
                            );
                        }
                    }
                    ("method", _) => add(&mut errors, key, "Not a valid string."),
                    ("params", Value::Object(_)) => slot.params = value.clone(),
                    _ => add(&mut errors, key, "Expected a dictionary."),
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(base)
    } else {
        Err(errors)
    }
}

fn entry_json(e: &MethodEntry) -> Value {
    json!({
        "id": e.id,
        "name": e.name,
        "method": e.kind,
        "plugin": e.plugin,
        "category": e.category,
        "type": e.types,
        "builtin": e.builtin,
        "params": e.params,
    })
}

/// `GET /assets/platform-automation-methods/`: every method a platform may name, sorted by
/// id (`{id, name, method, plugin, category, type, builtin, params}`); `method` is the kind.
pub(crate) async fn method_list(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    caller.require("assets.view_platform")?;
    let known = Catalogue::load(&state).await?;
    Ok(Json(Value::Array(known.0.iter().map(entry_json).collect())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue() -> Catalogue {
        Catalogue(vec![MethodEntry {
            id: "portcullis-linux/ping".into(),
            plugin: "portcullis-linux".into(),
            kind: "ping".into(),
            name: "Ping".into(),
            category: vec!["host".into()],
            types: vec!["linux".into()],
            builtin: true,
            params: json!({}),
        }])
    }

    #[test]
    fn a_method_of_another_kind_or_unknown_name_is_refused() {
        let c = catalogue();
        assert!(c.accepts("ping", "portcullis-linux/ping"));
        assert!(c.accepts("ping", "portcullis-linux"));
        assert!(c.accepts("ping", ""));
        assert!(!c.accepts("change_secret", "portcullis-linux/ping"));
        assert!(!c.accepts("ping", "nope/ping"));
    }

    #[test]
    fn partial_input_merges_and_bad_keys_are_field_errors() {
        let c = catalogue();
        let base = AutomationInput::none();
        let out = apply(
            &json!({"ping_enabled": true, "ping_method": "portcullis-linux/ping", "id": 3}),
            base.clone(),
            &c,
        )
        .unwrap();
        let ping = out.kinds.iter().find(|k| k.kind == "ping").unwrap();
        assert!(ping.enabled);
        assert_eq!(ping.method, "portcullis-linux/ping");
        assert_eq!(out.kinds.len(), AUTOMATION_KINDS.len());
        // A stored name no longer known is kept when sent back, not when newly set.
        let mut stored = base.clone();
        stored.kinds[0].method = "gone/ping".into();
        assert!(apply(&json!({"ping_method": "gone/ping"}), stored.clone(), &c).is_ok());
        assert!(apply(&json!({"ping_method": "gone/ping"}), base.clone(), &c).is_err());
        let errors = apply(
            &json!({"bogus": 1, "ping_enabled": "yes", "ping_method": "x/ping",
                    "ping_params": [], "ansible_config": 1}),
            base,
            &c,
        )
        .unwrap_err();
        for k in [
            "bogus",
            "ping_enabled",
            "ping_method",
            "ping_params",
            "ansible_config",
        ] {
            assert!(errors.contains_key(k), "{k}: {errors:?}");
        }
    }
}
