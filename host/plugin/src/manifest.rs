//! The plugin manifest, `plugin.toml`: who the plugin is, which world it implements, the
//! component it ships (pinned by digest), what it asks for (capabilities, limits) and the
//! schemas of its configuration and automation parameters.
//!
//! Parsing is strict on purpose: every table refuses unknown keys and every error names the
//! key path (`capabilities.htp: unknown field …`), because a misspelt key that is silently
//! ignored is a capability or a limit the author thinks they declared. After the shape is
//! read, [`Manifest::parse`] checks the values (kebab-case id, semver version, the API version
//! this host speaks, origins, which capabilities a kind may ask for, schema defaults) so that
//! a parsed manifest is a valid one.
//!
//! The manifest also validates what the administrator enters later: configuration values
//! ([`Manifest::validate_config`]), automation parameters ([`Manifest::validate_params`]) and
//! capability grants ([`Capabilities::check_grant`]: a grant is a subset of the request).

use crate::kind::{Kind, Limits};
use crate::origins::{self, OriginTemplate};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

/// The manifest file name inside a bundle or plugin directory.
pub const MANIFEST_FILE: &str = "plugin.toml";

/// The only manifest schema this host reads.
pub const SCHEMA_VERSION: u32 = 1;

/// The version of the `portcullis:plugin` WIT package this host implements, as
/// `(major, minor)`. A manifest's `api` must be compatible with it (see [`api_supported`]).
pub const HOST_API: (u64, u64) = (0, 1);

/// Longest plugin id.
pub const MAX_ID_LEN: usize = 64;

/// The automation methods a `platform-automation` plugin may declare (the WIT `automation`
/// interface's functions, in JumpServer's snake_case names).
pub const AUTOMATION_METHODS: &[&str] = &[
    "ping",
    "verify_account",
    "change_secret",
    "push_account",
    "gather_accounts",
    "remove_account",
];

/// JumpServer's platform categories, for `[[automation]] category`.
pub const CATEGORIES: &[&str] = &["host", "device", "database", "cloud", "web", "custom"];

/// A manifest that was read and checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Manifest schema version; must be [`SCHEMA_VERSION`].
    pub schema: u32,
    /// Kebab-case id, unique per publisher, at most [`MAX_ID_LEN`] characters.
    pub id: String,
    /// Human name.
    pub name: String,
    /// The plugin's semver version (checked by [`Manifest::parse`]; see [`Manifest::semver`]).
    pub version: String,
    /// Publisher name; a signature must come from a key trusted for this publisher.
    pub publisher: String,
    /// The WIT world the component implements.
    pub kind: Kind,
    /// The `portcullis:plugin` version targeted, `MAJOR.MINOR`.
    pub api: String,
    /// File name of the component inside the bundle.
    pub component: String,
    /// Lower-case hex SHA-256 of the component.
    pub sha256: String,
    /// SPDX license expression.
    #[serde(default)]
    pub license: String,
    /// One paragraph for administrators.
    #[serde(default)]
    pub description: String,
    /// What the plugin asks to use.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Schema of the configuration the administrator enters.
    #[serde(default)]
    pub config: BTreeMap<String, FieldSpec>,
    /// Resource requests (the administrator's policy caps them).
    #[serde(default)]
    pub limits: LimitRequests,
    /// Automation methods (platform automations only).
    #[serde(default)]
    pub automation: Vec<AutomationEntry>,
}

/// `[capabilities]`: what a plugin requests. Nothing is usable before an administrator grants
/// it ([`Grant`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Outbound HTTP origins (`https://host[:port]`, `https://*.example.com`, or a
    /// `{{config.KEY}}` template filled from the configuration: see [`crate::origins`]);
    /// worlds with `wasi:http` only.
    #[serde(default)]
    pub http: Vec<String>,
    /// Remote sessions on assets (`platform-automation` only).
    #[serde(default)]
    pub remote: bool,
    /// Names of the secrets the administrator binds.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Whether the plugin needs to read secret bytes (`secrets.reveal`).
    #[serde(default)]
    pub reveal: bool,
}

/// What the administrator granted. Always a subset of the request
/// ([`Capabilities::check_grant`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// Granted origins (each one requested; a template is granted as written and expanded
    /// at call time).
    #[serde(default)]
    pub http: Vec<String>,
    /// Remote sessions.
    #[serde(default)]
    pub remote: bool,
    /// Secret names the plugin may get.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// `secrets.reveal`.
    #[serde(default)]
    pub reveal: bool,
}

/// The type of a configuration or parameter field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// Free text.
    String,
    /// A 64-bit signed integer.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// One of `choices`.
    Enum,
}

impl FieldType {
    fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Integer => "integer",
            FieldType::Boolean => "boolean",
            FieldType::Enum => "enum",
        }
    }
}

/// A scalar default value as written in TOML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    /// `true`/`false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
}

/// A text in English with an optional Chinese translation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    /// English.
    pub en: String,
    /// Simplified Chinese.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zh: Option<String>,
}

/// One field of a configuration or parameter schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// The value type.
    #[serde(rename = "type")]
    pub ty: FieldType,
    /// Whether a value must be present (a default counts).
    #[serde(default)]
    pub required: bool,
    /// Used when no value is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Scalar>,
    /// The allowed values of an `enum`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// Must stay false: secrets are bound through `[capabilities] secrets`, never
    /// configuration (configuration is shown to administrators and handed to the plugin as
    /// plain text).
    #[serde(default)]
    pub secret: bool,
    /// Shown next to the input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    /// Help text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

/// `[limits]`: resource requests. The host never grants more than the kind's defaults
/// unless an administrator overrides them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitRequests {
    /// Linear memory, MiB (1..=4096).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// Wall-clock deadline of one call, seconds (1..=3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
}

/// An administrator's limit overrides (stored per plugin version). Unset fields fall back to
/// the plugin's request capped by the kind's default.
pub type LimitOverrides = LimitRequests;

/// `[[automation]]`: one automation method (JumpServer's per-method `manifest.yml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutomationEntry {
    /// One of [`AUTOMATION_METHODS`].
    pub method: String,
    /// Display name.
    pub name: String,
    /// Translations of the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    /// Platform category (one of [`CATEGORIES`]); `host` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Platform types the method applies to (`linux`, `unix`, …).
    pub types: Vec<String>,
    /// Schema of the method's parameters.
    #[serde(default)]
    pub params: BTreeMap<String, FieldSpec>,
}

/// A manifest that cannot be used: the key path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{MANIFEST_FILE}: {path}: {message}")]
pub struct ManifestError {
    /// Dotted key path (`capabilities.http[1]`, `config.region.default`); `.` for the
    /// document itself.
    pub path: String,
    /// What is wrong, for the administrator or the author.
    pub message: String,
}

fn err(path: impl Into<String>, message: impl Into<String>) -> ManifestError {
    ManifestError {
        path: path.into(),
        message: message.into(),
    }
}

/// A value an administrator entered that the schema refuses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field (`non_field_errors` for the document itself).
    pub field: String,
    /// Why.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn field_error(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

impl Manifest {
    /// Reads and checks a manifest. The bytes must be UTF-8 TOML.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let text = std::str::from_utf8(bytes).map_err(|e| err(".", format!("not UTF-8: {e}")))?;
        let de = toml::Deserializer::new(text);
        let manifest: Manifest = serde_path_to_error::deserialize(de).map_err(|e| {
            let mut path = e.path().to_string();
            let inner = e.into_inner();
            let message = inner.message().to_owned();
            // Name the unknown key itself, not only the table holding it.
            if let Some(rest) = message.strip_prefix("unknown field `")
                && let Some((key, _)) = rest.split_once('`')
                && path.rsplit('.').next() != Some(key)
            {
                path = if path == "." {
                    key.to_owned()
                } else {
                    format!("{path}.{key}")
                };
            }
            let line = inner
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            match line {
                Some(l) => err(path, format!("{message} (line {l})")),
                None => err(path, message),
            }
        })?;
        manifest.check()?;
        Ok(manifest)
    }

    /// The version as semver (always valid in a parsed manifest).
    pub fn semver(&self) -> semver::Version {
        semver::Version::parse(&self.version).unwrap_or_else(|_| semver::Version::new(0, 0, 0))
    }

    fn check(&self) -> Result<(), ManifestError> {
        if self.schema != SCHEMA_VERSION {
            return Err(err(
                "schema",
                format!(
                    "schema {} is not supported (this host reads schema {SCHEMA_VERSION})",
                    self.schema
                ),
            ));
        }
        check_id(&self.id)?;
        if self.name.trim().is_empty() {
            return Err(err("name", "must not be empty"));
        }
        semver::Version::parse(&self.version).map_err(|e| {
            err(
                "version",
                format!("`{}` is not a semver version: {e}", self.version),
            )
        })?;
        if self.publisher.is_empty()
            || self.publisher.len() > 64
            || !self
                .publisher
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(err(
                "publisher",
                "must be 1 to 64 letters, digits, `-`, `_` or `.`",
            ));
        }
        check_api(&self.api)?;
        check_file_name(&self.component).map_err(|m| err("component", m))?;
        if self.component == MANIFEST_FILE || self.component == crate::signing::SIGNATURE_FILE {
            return Err(err(
                "component",
                "must not be the manifest or signature file",
            ));
        }
        if self.sha256.len() != 64
            || !self
                .sha256
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        {
            return Err(err(
                "sha256",
                "must be the 64 lower-case hex digits of the component's SHA-256",
            ));
        }
        self.check_capabilities()?;
        check_schema("config", &self.config)?;
        check_limits(&self.limits)?;
        self.check_automation()?;
        Ok(())
    }

    fn check_capabilities(&self) -> Result<(), ManifestError> {
        let caps = &self.capabilities;
        if !caps.http.is_empty() && !self.kind.has_http() {
            return Err(err(
                "capabilities.http",
                format!(
                    "a {} plugin cannot make HTTP requests (only auth-provider and cloud-connector can)",
                    self.kind
                ),
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, origin) in caps.http.iter().enumerate() {
            let at = || format!("capabilities.http[{i}]");
            if origins::is_template(origin) {
                let template = OriginTemplate::parse(origin).map_err(|m| err(at(), m))?;
                self.check_template_field(&template)
                    .map_err(|m| err(at(), format!("`{origin}`: {m}")))?;
            } else {
                check_origin(origin).map_err(|m| err(at(), m))?;
            }
            if !seen.insert(origin) {
                return Err(err(
                    format!("capabilities.http[{i}]"),
                    format!("`{origin}` is listed twice"),
                ));
            }
        }
        if caps.remote && !self.kind.has_remote() {
            return Err(err(
                "capabilities.remote",
                format!(
                    "a {} plugin cannot open remote sessions (only platform-automation can)",
                    self.kind
                ),
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, name) in caps.secrets.iter().enumerate() {
            check_key(name).map_err(|m| err(format!("capabilities.secrets[{i}]"), m))?;
            if !seen.insert(name) {
                return Err(err(
                    format!("capabilities.secrets[{i}]"),
                    format!("`{name}` is listed twice"),
                ));
            }
        }
        if self.kind == Kind::Autofill && (!caps.secrets.is_empty() || caps.reveal) {
            return Err(err(
                "capabilities.secrets",
                "an autofill plugin has no secrets interface",
            ));
        }
        Ok(())
    }

    /// A template must name a `string` field of `[config]`; its default, if any, must be an
    /// origin.
    fn check_template_field(&self, template: &OriginTemplate) -> Result<(), String> {
        let Some(spec) = self.config.get(&template.key) else {
            return Err(format!(
                "`{}` is not a field of [config]; declare it as a string",
                template.key
            ));
        };
        if spec.ty != FieldType::String {
            return Err(format!(
                "[config] {} is a {}; an origin template needs a string field",
                template.key,
                spec.ty.name()
            ));
        }
        if let Some(Scalar::Text(default)) = &spec.default {
            template
                .expand(default)
                .map_err(|m| format!("the default of [config] {}: {m}", template.key))?;
        }
        Ok(())
    }

    /// The origin templates among the requested HTTP origins.
    fn origin_templates(&self) -> impl Iterator<Item = (&String, OriginTemplate)> {
        self.capabilities
            .http
            .iter()
            .filter(|o| origins::is_template(o))
            .filter_map(|o| OriginTemplate::parse(o).ok().map(|t| (o, t)))
    }

    fn check_automation(&self) -> Result<(), ManifestError> {
        if !self.automation.is_empty() && self.kind != Kind::PlatformAutomation {
            return Err(err(
                "automation",
                format!("a {} plugin cannot declare automation methods", self.kind),
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, entry) in self.automation.iter().enumerate() {
            let at = |k: &str| format!("automation[{i}].{k}");
            if !AUTOMATION_METHODS.contains(&entry.method.as_str()) {
                return Err(err(
                    at("method"),
                    format!(
                        "unknown method `{}` (expected one of {})",
                        entry.method,
                        AUTOMATION_METHODS.join(", ")
                    ),
                ));
            }
            if !seen.insert(entry.method.as_str()) {
                return Err(err(
                    at("method"),
                    format!("method `{}` is declared twice", entry.method),
                ));
            }
            if entry.name.trim().is_empty() {
                return Err(err(at("name"), "must not be empty"));
            }
            if let Some(c) = &entry.category
                && !CATEGORIES.contains(&c.as_str())
            {
                return Err(err(
                    at("category"),
                    format!(
                        "unknown category `{c}` (expected one of {})",
                        CATEGORIES.join(", ")
                    ),
                ));
            }
            if entry.types.is_empty() {
                return Err(err(at("types"), "name at least one platform type"));
            }
            for (j, t) in entry.types.iter().enumerate() {
                if t.is_empty()
                    || !t
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
                {
                    return Err(err(
                        format!("automation[{i}].types[{j}]"),
                        format!("`{t}` is not a platform type name"),
                    ));
                }
            }
            check_schema(&at("params"), &entry.params)?;
        }
        Ok(())
    }

    /// The automation entry of `method`, if the plugin declares it.
    pub fn automation(&self, method: &str) -> Option<&AutomationEntry> {
        self.automation.iter().find(|a| a.method == method)
    }

    /// Checks configuration entered by an administrator (a JSON object) against `[config]`:
    /// unknown keys, missing required values, wrong types and bad choices are refused;
    /// defaults are applied; values come back in their canonical text form (`"42"`, `"true"`),
    /// which is what the plugin's `config.get` returns.
    ///
    /// A field that an HTTP origin template uses (`{{config.KEY}}` in `[capabilities] http`,
    /// see [`crate::origins`]) must also hold exactly one http(s) origin: no wildcard, user
    /// name, query or other scheme.
    pub fn validate_config(
        &self,
        input: &Value,
    ) -> Result<BTreeMap<String, String>, Vec<FieldError>> {
        let values = validate_values(&self.config, input)?;
        let errors: Vec<FieldError> = self
            .origin_templates()
            .filter_map(|(origin, template)| {
                let value = values.get(&template.key)?;
                let why = template.expand(value).err()?;
                Some(field_error(
                    &template.key,
                    format!("used as the HTTP origin `{origin}`: {why}"),
                ))
            })
            .collect();
        if errors.is_empty() {
            Ok(values)
        } else {
            Err(errors)
        }
    }

    /// Checks an automation method's parameters against its `params` schema, like
    /// [`Manifest::validate_config`].
    pub fn validate_params(
        &self,
        method: &str,
        input: &Value,
    ) -> Result<BTreeMap<String, String>, Vec<FieldError>> {
        let entry = self.automation(method).ok_or_else(|| {
            vec![field_error(
                "non_field_errors",
                format!("the plugin does not implement `{method}`"),
            )]
        })?;
        validate_values(&entry.params, input)
    }

    /// The limits an invocation runs with: the administrator's override where set, else the
    /// plugin's request capped by the kind's default, else the default. Quotas other than
    /// memory and time are the kind's.
    pub fn effective_limits(&self, overrides: &LimitOverrides) -> Limits {
        let mut limits = self.kind.default_limits();
        const MIB: u64 = 1024 * 1024;
        if let Some(mb) = overrides.memory_mb {
            limits.memory_bytes = mb * MIB;
        } else if let Some(mb) = self.limits.memory_mb {
            limits.memory_bytes = limits.memory_bytes.min(mb * MIB);
        }
        if let Some(s) = overrides.timeout_s {
            limits.deadline = Duration::from_secs(s);
        } else if let Some(s) = self.limits.timeout_s {
            limits.deadline = limits.deadline.min(Duration::from_secs(s));
        }
        limits
    }
}

/// Checks limit values (the manifest's requests and administrators' overrides alike).
pub fn check_limits(limits: &LimitRequests) -> Result<(), ManifestError> {
    if let Some(m) = limits.memory_mb
        && !(1..=4096).contains(&m)
    {
        return Err(err("limits.memory_mb", "must be between 1 and 4096"));
    }
    if let Some(t) = limits.timeout_s
        && !(1..=3600).contains(&t)
    {
        return Err(err("limits.timeout_s", "must be between 1 and 3600"));
    }
    Ok(())
}

/// Whether this host can run a plugin built against `portcullis:plugin` `major.minor`:
/// for `0.x` the minor must match exactly (semver treats every 0.x as breaking); from `1.0` on
/// the major must match and the minor may not be newer than the host's.
pub fn api_supported(major: u64, minor: u64) -> bool {
    let (hm, hn) = HOST_API;
    if major == 0 {
        hm == 0 && minor == hn
    } else {
        major == hm && minor <= hn
    }
}

fn check_api(api: &str) -> Result<(), ManifestError> {
    let parsed = api
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)));
    let Some((major, minor)) = parsed else {
        return Err(err(
            "api",
            format!("`{api}` is not a MAJOR.MINOR version (e.g. \"0.1\")"),
        ));
    };
    if !api_supported(major, minor) {
        return Err(err(
            "api",
            format!(
                "the plugin targets portcullis:plugin {major}.{minor}, which this host does not support (it implements {}.{})",
                HOST_API.0, HOST_API.1
            ),
        ));
    }
    Ok(())
}

fn check_id(id: &str) -> Result<(), ManifestError> {
    let kebab = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && !id.ends_with('-')
        && !id.contains("--")
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if kebab {
        Ok(())
    } else {
        Err(err(
            "id",
            format!(
                "`{id}` is not a kebab-case id (lower-case letters, digits and single dashes, starting with a letter, at most {MAX_ID_LEN} characters)"
            ),
        ))
    }
}

/// A plain file name: no directory part, no `..`, printable ASCII.
pub(crate) fn check_file_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 128
        || name == "."
        || name == ".."
        || name.starts_with('.')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "`{name}` is not a plain file name (letters, digits, `-`, `_`, `.`; no directories)"
        ));
    }
    Ok(())
}

/// A configuration key, parameter or secret name: snake_case.
fn check_key(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a snake_case name (lower-case letters, digits and `_`, starting with a letter, at most 64 characters)"
        ))
    }
}

/// Checks an origin in the manifest syntax: `https://host[:port]`, `https://*.example.com`
/// (a wildcard only as the whole first label), `http://` allowed (for on-premises endpoints;
/// the grant is the administrator's call). No path, query, user info or trailing dot.
pub fn check_origin(origin: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "`{origin}` is not an origin ({why}); write `https://host[:port]` or `https://*.example.com`"
        ))
    };
    let Some((scheme, rest)) = origin.split_once("://") else {
        return bad("no scheme");
    };
    if scheme != "https" && scheme != "http" {
        return bad("the scheme must be https or http");
    }
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return bad("only a host and an optional port");
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return bad("a bad IPv6 address");
        };
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return bad("a bad IPv6 address");
        }
        match after {
            "" => return Ok(()),
            p => match p.strip_prefix(':') {
                Some(p) => ("", Some(p)),
                None => return bad("only a host and an optional port"),
            },
        }
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if let Some(p) = port
        && !matches!(p.parse::<u16>(), Ok(n) if n > 0)
    {
        return bad("the port must be 1 to 65535");
    }
    if host.is_empty() {
        return if rest.starts_with('[') {
            Ok(())
        } else {
            bad("no host")
        };
    }
    let labels: Vec<&str> = host.split('.').collect();
    for (i, label) in labels.iter().enumerate() {
        if *label == "*" {
            if i != 0 || labels.len() < 3 {
                return bad(
                    "a wildcard must be the first label of a domain with at least two more labels",
                );
            }
            continue;
        }
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            return bad("the host must be lower-case letters, digits, `-` and dots");
        }
    }
    Ok(())
}

fn check_schema(at: &str, schema: &BTreeMap<String, FieldSpec>) -> Result<(), ManifestError> {
    for (key, spec) in schema {
        let path = |k: &str| format!("{at}.{key}.{k}");
        check_key(key).map_err(|m| err(format!("{at}.{key}"), m))?;
        if spec.secret {
            return Err(err(
                path("secret"),
                "configuration cannot hold secrets: declare the name in [capabilities] secrets and let the administrator bind it",
            ));
        }
        match spec.ty {
            FieldType::Enum => {
                if spec.choices.is_empty() {
                    return Err(err(path("choices"), "an enum needs at least one choice"));
                }
                let unique: BTreeSet<&String> = spec.choices.iter().collect();
                if unique.len() != spec.choices.len() {
                    return Err(err(path("choices"), "a choice is listed twice"));
                }
            }
            _ if !spec.choices.is_empty() => {
                return Err(err(path("choices"), "only an enum has choices"));
            }
            _ => {}
        }
        if let Some(default) = &spec.default {
            let json = match default {
                Scalar::Bool(b) => Value::Bool(*b),
                Scalar::Int(i) => Value::from(*i),
                Scalar::Text(t) => Value::String(t.clone()),
            };
            canonical(spec, &json).map_err(|m| err(path("default"), m))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Values and grants
// ---------------------------------------------------------------------------------------------

/// The canonical text of `value` under `spec`, or why it does not fit. Integers and booleans
/// are also accepted as text (forms and CSV send text), in their canonical spelling.
fn canonical(spec: &FieldSpec, value: &Value) -> Result<String, String> {
    match spec.ty {
        FieldType::String => match value {
            Value::String(s) => Ok(s.clone()),
            _ => Err("must be a string".into()),
        },
        FieldType::Integer => match value {
            Value::Number(n) => n
                .as_i64()
                .map(|i| i.to_string())
                .ok_or_else(|| "must be an integer".into()),
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map(|i| i.to_string())
                .map_err(|_| "must be an integer".into()),
            _ => Err("must be an integer".into()),
        },
        FieldType::Boolean => match value {
            Value::Bool(b) => Ok(b.to_string()),
            Value::String(s) if s == "true" || s == "false" => Ok(s.clone()),
            _ => Err("must be true or false".into()),
        },
        FieldType::Enum => match value {
            Value::String(s) if spec.choices.contains(s) => Ok(s.clone()),
            Value::String(s) => Err(format!(
                "`{s}` is not one of the choices: {}",
                spec.choices.join(", ")
            )),
            _ => Err(format!("must be one of: {}", spec.choices.join(", "))),
        },
    }
}

fn validate_values(
    schema: &BTreeMap<String, FieldSpec>,
    input: &Value,
) -> Result<BTreeMap<String, String>, Vec<FieldError>> {
    let empty = serde_json::Map::new();
    let object = match input {
        Value::Object(m) => m,
        Value::Null => &empty,
        _ => {
            return Err(vec![field_error(
                "non_field_errors",
                "expected an object of field values",
            )]);
        }
    };
    let mut errors = Vec::new();
    for key in object.keys() {
        if !schema.contains_key(key) {
            errors.push(field_error(key, "unknown field"));
        }
    }
    let mut out = BTreeMap::new();
    for (key, spec) in schema {
        match object.get(key).filter(|v| !v.is_null()) {
            Some(v) => match canonical(spec, v) {
                Ok(text) => {
                    out.insert(key.clone(), text);
                }
                Err(m) => errors.push(field_error(key, format!("{} ({m})", spec.ty.name()))),
            },
            None => {
                if let Some(d) = &spec.default {
                    let text = match d {
                        Scalar::Bool(b) => b.to_string(),
                        Scalar::Int(i) => i.to_string(),
                        Scalar::Text(t) => t.clone(),
                    };
                    out.insert(key.clone(), text);
                } else if spec.required {
                    errors.push(field_error(key, "this field is required"));
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

impl Capabilities {
    /// Checks that `grant` gives nothing the plugin did not ask for. Each excess is one
    /// error, named by the grant field.
    pub fn check_grant(&self, grant: &Grant) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        for origin in &grant.http {
            if !self.http.contains(origin) {
                errors.push(field_error(
                    "http",
                    format!("`{origin}` was not requested by the plugin"),
                ));
            }
        }
        if grant.remote && !self.remote {
            errors.push(field_error("remote", "remote sessions were not requested"));
        }
        for name in &grant.secrets {
            if !self.secrets.contains(name) {
                errors.push(field_error(
                    "secrets",
                    format!("secret `{name}` was not requested by the plugin"),
                ));
            }
        }
        if grant.reveal && !self.reveal {
            errors.push(field_error("reveal", "reveal was not requested"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Everything requested, as a grant (what an administrator approves with one click).
    pub fn full_grant(&self) -> Grant {
        Grant {
            http: self.http.clone(),
            remote: self.remote,
            secrets: self.secrets.clone(),
            reveal: self.reveal,
        }
    }
}

impl Grant {
    /// The part of this grant that `caps` still requests: what carries over from one version
    /// of a plugin to the next.
    pub fn intersect(&self, caps: &Capabilities) -> Grant {
        Grant {
            http: self
                .http
                .iter()
                .filter(|o| caps.http.contains(o))
                .cloned()
                .collect(),
            remote: self.remote && caps.remote,
            secrets: self
                .secrets
                .iter()
                .filter(|s| caps.secrets.contains(s))
                .cloned()
                .collect(),
            reveal: self.reveal && caps.reveal,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    const DIGEST: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn base(kind: &str, extra: &str) -> String {
        format!(
            "schema = 1\nid = \"demo-plugin\"\nname = \"Demo\"\nversion = \"1.2.0\"\npublisher = \"acme\"\nkind = \"{kind}\"\napi = \"0.1\"\ncomponent = \"plugin.wasm\"\nsha256 = \"{DIGEST}\"\nlicense = \"Apache-2.0\"\ndescription = \"d\"\n{extra}"
        )
    }

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(text.as_bytes())
    }

    #[test]
    fn a_full_auth_provider_manifest_parses() {
        let m = parse(&base(
            "auth-provider",
            r#"
[capabilities]
http = ["https://oapi.dingtalk.com", "https://*.dingtalk.com:8443"]
secrets = ["app_secret"]
[config]
app_key = { type = "string", required = true, label = { en = "App key", zh = "应用 Key" } }
mode = { type = "enum", choices = ["a", "b"], default = "a", help = "which" }
[limits]
memory_mb = 32
timeout_s = 10
"#,
        ))
        .unwrap();
        assert_eq!(m.kind, Kind::AuthProvider);
        assert_eq!(m.semver(), semver::Version::new(1, 2, 0));
        assert_eq!(m.capabilities.http.len(), 2);
        assert_eq!(
            m.config["app_key"].label.as_ref().unwrap().zh.as_deref(),
            Some("应用 Key")
        );
        let limits = m.effective_limits(&LimitOverrides::default());
        assert_eq!(limits.memory_bytes, 32 * 1024 * 1024);
        assert_eq!(limits.deadline, Duration::from_secs(10));
    }

    #[test]
    fn unknown_keys_are_refused_with_their_path() {
        let e = parse(&base("auth-provider", "[capabilities]\nhtp = []\n")).unwrap_err();
        assert_eq!(e.path, "capabilities.htp", "{e}");
        assert!(e.message.contains("unknown field"), "{e}");
        let e = parse(&base("autofill", "colour = \"red\"\n")).unwrap_err();
        assert_eq!(e.path, "colour", "{e}");
        let e = parse(&base(
            "autofill",
            "[config]\nx = { type = \"string\", requird = true }\n",
        ))
        .unwrap_err();
        assert_eq!(e.path, "config.x.requird", "{e}");
    }

    #[test]
    fn bad_types_are_refused_with_their_path() {
        let e = parse(&base(
            "platform-automation",
            "[capabilities]\nremote = \"yes\"\n",
        ))
        .unwrap_err();
        assert_eq!(e.path, "capabilities.remote", "{e}");
        let e = parse(&base("autofill", "[limits]\nmemory_mb = \"lots\"\n")).unwrap_err();
        assert_eq!(e.path, "limits.memory_mb", "{e}");
        let e = parse(&base("robot", "")).unwrap_err();
        assert_eq!(e.path, "kind", "{e}");
    }

    #[test]
    fn values_are_checked() {
        let cases = [
            (
                base("autofill", "").replace("demo-plugin", "Demo_Plugin"),
                "id",
            ),
            (base("autofill", "").replace("1.2.0", "1.2"), "version"),
            (base("autofill", "").replace("\"0.1\"", "\"0.2\""), "api"),
            (base("autofill", "").replace("\"0.1\"", "\"1\""), "api"),
            (
                base("autofill", "").replace("plugin.wasm", "../x.wasm"),
                "component",
            ),
            (base("autofill", "").replace(DIGEST, "abc"), "sha256"),
            (
                base("autofill", "").replace("schema = 1", "schema = 2"),
                "schema",
            ),
            (
                base("autofill", "[capabilities]\nhttp = [\"https://x.com\"]\n"),
                "capabilities.http",
            ),
            (
                base("auth-provider", "[capabilities]\nremote = true\n"),
                "capabilities.remote",
            ),
            (
                base(
                    "auth-provider",
                    "[capabilities]\nhttp = [\"https://x.com/path\"]\n",
                ),
                "capabilities.http[0]",
            ),
            (
                base(
                    "auth-provider",
                    "[capabilities]\nhttp = [\"ftp://x.com\"]\n",
                ),
                "capabilities.http[0]",
            ),
            (
                base(
                    "auth-provider",
                    "[capabilities]\nhttp = [\"https://*.com\"]\n",
                ),
                "capabilities.http[0]",
            ),
            (
                base(
                    "auth-provider",
                    "[capabilities]\nsecrets = [\"App Secret\"]\n",
                ),
                "capabilities.secrets[0]",
            ),
            (
                base("autofill", "[config]\nx = { type = \"enum\" }\n"),
                "config.x.choices",
            ),
            (
                base(
                    "autofill",
                    "[config]\nx = { type = \"string\", choices = [\"a\"] }\n",
                ),
                "config.x.choices",
            ),
            (
                base(
                    "autofill",
                    "[config]\nx = { type = \"integer\", default = \"many\" }\n",
                ),
                "config.x.default",
            ),
            (
                base(
                    "autofill",
                    "[config]\nx = { type = \"enum\", choices = [\"a\"], default = \"b\" }\n",
                ),
                "config.x.default",
            ),
            (
                base(
                    "autofill",
                    "[config]\nx = { type = \"string\", secret = true }\n",
                ),
                "config.x.secret",
            ),
            (
                base("autofill", "[limits]\nmemory_mb = 0\n"),
                "limits.memory_mb",
            ),
            (
                base(
                    "autofill",
                    "[[automation]]\nmethod = \"ping\"\nname = \"P\"\ntypes = [\"linux\"]\n",
                ),
                "automation",
            ),
            (
                base(
                    "platform-automation",
                    "[[automation]]\nmethod = \"reboot\"\nname = \"P\"\ntypes = [\"linux\"]\n",
                ),
                "automation[0].method",
            ),
            (
                base(
                    "platform-automation",
                    "[[automation]]\nmethod = \"ping\"\nname = \"P\"\ntypes = []\n",
                ),
                "automation[0].types",
            ),
        ];
        for (text, path) in cases {
            let e = parse(&text).expect_err(&text);
            assert_eq!(e.path, path, "{e}\n{text}");
        }
    }

    #[test]
    fn automation_entries_and_their_params_parse() {
        let m = parse(&base(
            "platform-automation",
            r#"
[capabilities]
remote = true
[[automation]]
method = "change_secret"
name = "Change password"
label = { en = "Change password", zh = "改密" }
category = "host"
types = ["linux", "unix"]
[automation.params]
sudo = { type = "boolean", default = true }
"#,
        ))
        .unwrap();
        assert_eq!(
            m.validate_params("change_secret", &json!({})).unwrap(),
            BTreeMap::from([("sudo".to_owned(), "true".to_owned())])
        );
        assert!(m.validate_params("ping", &json!({})).is_err());
    }

    #[test]
    fn configuration_is_validated_and_canonical() {
        let m = parse(&base(
            "autofill",
            r#"
[config]
host = { type = "string", required = true }
port = { type = "integer", default = 443 }
tls = { type = "boolean" }
mode = { type = "enum", choices = ["fast", "safe"], default = "safe" }
"#,
        ))
        .unwrap();
        let ok = m
            .validate_config(&json!({"host": "h", "port": "8443", "tls": true}))
            .unwrap();
        assert_eq!(
            ok,
            BTreeMap::from([
                ("host".to_owned(), "h".to_owned()),
                ("mode".to_owned(), "safe".to_owned()),
                ("port".to_owned(), "8443".to_owned()),
                ("tls".to_owned(), "true".to_owned()),
            ])
        );
        let errors = m
            .validate_config(&json!({"port": 1.5, "tls": "yes", "mode": "slow", "extra": 1}))
            .unwrap_err();
        let fields: BTreeSet<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            BTreeSet::from(["extra", "host", "mode", "port", "tls"]),
            "{errors:?}"
        );
        assert!(m.validate_config(&json!([1])).is_err());
    }

    fn connector_with(http: &str, config: &str) -> Result<Manifest, ManifestError> {
        parse(&base(
            "cloud-connector",
            &format!("[capabilities]\nhttp = [{http}]\n[config]\n{config}\n"),
        ))
    }

    #[test]
    fn origin_templates_name_a_string_field_of_the_configuration() {
        let m = connector_with(
            r#""https://api.example.com", "{{config.cloud_url}}", "https://{{config.host}}:8443""#,
            "cloud_url = { type = \"string\", required = true }\nhost = { type = \"string\", default = \"api.corp.example\" }",
        )
        .unwrap();
        assert_eq!(m.capabilities.http.len(), 3);

        for (http, config, why) in [
            (
                r#""{{config.nope}}""#,
                "cloud_url = { type = \"string\" }",
                "not a field of [config]",
            ),
            (
                r#""{{config.port}}""#,
                "port = { type = \"integer\" }",
                "needs a string field",
            ),
            (
                r#""{{config.cloud_url}}""#,
                "cloud_url = { type = \"string\", default = \"https://*.example.com\" }",
                "wildcard",
            ),
            (
                r#""https://{{config.host}}.example.com""#,
                "host = { type = \"string\" }",
                "only `:PORT`",
            ),
        ] {
            let e = connector_with(http, config).unwrap_err();
            assert_eq!(e.path, "capabilities.http[0]", "{e}");
            assert!(e.message.contains(why), "{http}: {e}");
        }
    }

    #[test]
    fn configuration_used_as_an_origin_must_be_one_origin() {
        let m = connector_with(
            r#""{{config.cloud_url}}", "https://{{config.host}}""#,
            "cloud_url = { type = \"string\", required = true }\nhost = { type = \"string\" }",
        )
        .unwrap();
        let ok = m
            .validate_config(&json!({"cloud_url": "https://cloud.corp.example:8443/api"}))
            .unwrap();
        assert_eq!(ok["cloud_url"], "https://cloud.corp.example:8443/api");

        for (input, field, why) in [
            (
                json!({"cloud_url": "https://*.corp.example"}),
                "cloud_url",
                "wildcard",
            ),
            (
                json!({"cloud_url": "cloud.corp.example"}),
                "cloud_url",
                "not an http(s) origin",
            ),
            (
                json!({"cloud_url": "ftp://cloud.corp.example"}),
                "cloud_url",
                "scheme",
            ),
            (
                json!({"cloud_url": "https://u:p@cloud.corp.example"}),
                "cloud_url",
                "user name",
            ),
            (
                json!({"cloud_url": "https://c.example", "host": "*.corp.example"}),
                "host",
                "wildcard",
            ),
            (
                json!({"cloud_url": "https://c.example", "host": "h.example:9000"}),
                "host",
                "port is set by the plugin",
            ),
        ] {
            let errors = m.validate_config(&input).unwrap_err();
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].field, field);
            assert!(
                errors[0].message.contains("used as the HTTP origin")
                    && errors[0].message.contains(why),
                "{input}: {errors:?}"
            );
        }
    }

    #[test]
    fn a_template_is_granted_as_written() {
        let m = connector_with(
            r#""{{config.cloud_url}}""#,
            "cloud_url = { type = \"string\" }",
        )
        .unwrap();
        let caps = &m.capabilities;
        let grant = Grant {
            http: vec!["{{config.cloud_url}}".into()],
            ..Grant::default()
        };
        assert!(caps.check_grant(&grant).is_ok());
        assert_eq!(caps.full_grant().http, grant.http);
        // An expanded origin is not what was requested: granting it directly is refused.
        let literal = Grant {
            http: vec!["https://cloud.corp.example".into()],
            ..Grant::default()
        };
        let errors = caps.check_grant(&literal).unwrap_err();
        assert!(errors[0].message.contains("not requested"), "{errors:?}");
        assert_eq!(grant.intersect(caps), grant, "carried to the next version");
    }

    #[test]
    fn a_grant_must_be_a_subset_of_the_request() {
        let caps = Capabilities {
            http: vec!["https://a.example.com".into()],
            remote: false,
            secrets: vec!["token".into()],
            reveal: false,
        };
        assert!(caps.check_grant(&caps.full_grant()).is_ok());
        assert!(caps.check_grant(&Grant::default()).is_ok());
        let errors = caps
            .check_grant(&Grant {
                http: vec!["https://b.example.com".into()],
                remote: true,
                secrets: vec!["other".into()],
                reveal: true,
            })
            .unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
        let carried = Grant {
            http: vec![
                "https://a.example.com".into(),
                "https://gone.example.com".into(),
            ],
            remote: true,
            secrets: vec![],
            reveal: false,
        }
        .intersect(&caps);
        assert_eq!(carried.http, vec!["https://a.example.com".to_owned()]);
        assert!(!carried.remote);
    }

    #[test]
    fn api_versions_follow_semver() {
        assert!(api_supported(0, 1));
        assert!(!api_supported(0, 2));
        assert!(!api_supported(0, 0));
        assert!(!api_supported(1, 0));
    }

    #[test]
    fn origins() {
        for ok in [
            "https://a.com",
            "https://a.b.com:8443",
            "http://10.0.0.5:8080",
            "https://*.example.com",
            "https://[::1]:443",
        ] {
            assert!(check_origin(ok).is_ok(), "{ok}");
        }
        for bad in [
            "a.com",
            "https://",
            "https://A.com",
            "https://a.com/",
            "https://a.com:0",
            "https://u@a.com",
            "https://a.*.com",
            "https://*.com",
        ] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
    }
}
