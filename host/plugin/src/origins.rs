//! HTTP origins whose host comes from the administrator's configuration: `{{config.KEY}}`
//! templates in `[capabilities] http`.
//!
//! An on-premises identity provider or cloud API has no address the plugin's author can know,
//! so the manifest requests a template instead of a literal origin, naming a `string` field of
//! its `[config]`:
//!
//! - `{{config.KEY}}`: the value is a URL (`https://idp.corp.example:8443` or a base URL with a
//!   path, `https://cloud.corp.example/api/v2`); its origin (scheme, host, port) is allowed.
//! - `https://{{config.KEY}}` or `https://{{config.KEY}}:8443`: the value is a host name or IP
//!   address; scheme and port are the manifest's.
//!
//! The rules:
//! - **The grant is over the template**: an administrator grants the string
//!   `{{config.idp_url}}` as requested, and with it whatever that configuration field holds.
//! - **Expansion happens at call time** from the invocation's configuration (the current,
//!   validated values) — changing the field changes the allowed origin for the next call.
//! - **Values are checked when configured** ([`Manifest::validate_config`](crate::manifest::Manifest::validate_config)):
//!   a value that is not an http(s) origin (a user name, query or fragment, another scheme, a
//!   malformed host) or that contains a wildcard is refused with the field named, so a
//!   template can never widen into `*.example.com` or anything but one origin.
//! - A template whose field has no value grants nothing (a call's requests are denied and
//!   the denial says why).

use crate::manifest::check_origin;
use std::collections::BTreeMap;

const OPEN: &str = "{{config.";
const CLOSE: &str = "}}";

/// A parsed `{{config.KEY}}` origin template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginTemplate {
    /// The configuration field the origin comes from.
    pub key: String,
    /// What the value stands for.
    pub form: TemplateForm,
}

/// The two shapes of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateForm {
    /// `{{config.KEY}}`: the value is a URL; its origin is allowed.
    Url,
    /// `SCHEME://{{config.KEY}}[:PORT]`: the value is the host.
    Host {
        /// `https` or `http`.
        scheme: String,
        /// The port, when the manifest names one.
        port: Option<u16>,
    },
}

/// Whether a requested origin is a template (contains `{{`), as opposed to a literal origin.
pub fn is_template(origin: &str) -> bool {
    origin.contains("{{")
}

impl OriginTemplate {
    /// Parses a requested origin that [`is_template`]. Errors say what the accepted shapes are.
    pub fn parse(origin: &str) -> Result<OriginTemplate, String> {
        let shapes = "write `{{config.KEY}}` (the field holds a URL) or \
                      `https://{{config.KEY}}[:PORT]` (the field holds a host name)";
        let bad = |why: &str| {
            Err(format!(
                "`{origin}` is not an origin template ({why}); {shapes}"
            ))
        };
        let Some(start) = origin.find(OPEN) else {
            return bad("a template is `{{config.KEY}}`");
        };
        let after = &origin[start + OPEN.len()..];
        let Some(end) = after.find(CLOSE) else {
            return bad("`{{` is not closed by `}}`");
        };
        let key = &after[..end];
        let prefix = &origin[..start];
        let suffix = &after[end + CLOSE.len()..];
        if is_template(suffix) || is_template(prefix) {
            return bad("only one placeholder is allowed");
        }
        let key_ok = !key.is_empty()
            && key.len() <= 64
            && key.starts_with(|c: char| c.is_ascii_lowercase())
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !key_ok {
            return bad("the key must be a snake_case configuration field");
        }
        let form = if prefix.is_empty() && suffix.is_empty() {
            TemplateForm::Url
        } else {
            let scheme = match prefix {
                "https://" => "https",
                "http://" => "http",
                _ => return bad("before the placeholder only `https://` or `http://` may stand"),
            };
            let port = match suffix {
                "" => None,
                p => match p.strip_prefix(':').map(str::parse::<u16>) {
                    Some(Ok(n)) if n > 0 => Some(n),
                    _ => return bad("after the placeholder only `:PORT` (1 to 65535) may stand"),
                },
            };
            TemplateForm::Host {
                scheme: scheme.to_owned(),
                port,
            }
        };
        Ok(OriginTemplate {
            key: key.to_owned(),
            form,
        })
    }

    /// The one origin this template allows when its field holds `value`, in the manifest
    /// syntax (`https://idp.corp.example:8443`), or why the value cannot be an origin.
    pub fn expand(&self, value: &str) -> Result<String, String> {
        let value = value.trim();
        if value.contains('*') {
            return Err(format!(
                "`{value}` contains a wildcard; a configured origin names exactly one host"
            ));
        }
        let origin = match &self.form {
            TemplateForm::Url => url_origin(value)?,
            TemplateForm::Host { scheme, port } => {
                let host = value.to_ascii_lowercase();
                if host.is_empty() || host.contains(['/', '?', '#', '@', ' ']) {
                    return Err(format!(
                        "`{value}` is not a host name (write only the host, e.g. `idp.example.com`)"
                    ));
                }
                let bracketed = host.starts_with('[');
                if !bracketed && host.contains(':') {
                    // A bare IPv6 address gets its brackets; a `host:port` is refused.
                    if host.parse::<std::net::Ipv6Addr>().is_err() {
                        return Err(format!(
                            "`{value}` is not a host name (the port is set by the plugin's manifest)"
                        ));
                    }
                    with_port(scheme, &format!("[{host}]"), *port)
                } else {
                    with_port(scheme, &host, *port)
                }
            }
        };
        check_origin(&origin).map_err(|why| format!("`{value}` gives {why}"))?;
        Ok(origin)
    }
}

fn with_port(scheme: &str, host: &str, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    }
}

/// The origin of a configured URL: http(s), a host, an optional port and path; no user
/// name, query or fragment (they would mean the administrator pasted something else).
fn url_origin(value: &str) -> Result<String, String> {
    let not = |why: &str| {
        Err(format!(
            "`{value}` is not an http(s) origin ({why}); write e.g. `https://idp.example.com` \
             or `https://idp.example.com:8443`"
        ))
    };
    let url = match url::Url::parse(value) {
        Ok(u) => u,
        Err(e) => return not(&e.to_string()),
    };
    if url.scheme() != "https" && url.scheme() != "http" {
        return not("the scheme must be https or http");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return not("it holds a user name or password");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return not("it has a query or fragment");
    }
    let Some(host) = url.host_str() else {
        return not("no host");
    };
    Ok(with_port(url.scheme(), host, url.port()))
}

/// The allowlist `rules` stand for under `config`: literal origins as they are, templates
/// expanded from their field. A template that cannot be expanded (no value, or a value that
/// is not an origin — which configuration checks refuse, so only a value set before the
/// check existed) allows nothing; the second list says why, for the denial message.
pub fn expand_allowlist(
    rules: &[String],
    config: &BTreeMap<String, String>,
) -> (Vec<String>, Vec<String>) {
    let mut allow = Vec::with_capacity(rules.len());
    let mut unusable = Vec::new();
    for rule in rules {
        if !is_template(rule) {
            allow.push(rule.clone());
            continue;
        }
        let expanded = OriginTemplate::parse(rule).and_then(|t| match config.get(&t.key) {
            Some(v) => t.expand(v),
            None => Err(format!("the configuration has no `{}`", t.key)),
        });
        match expanded {
            Ok(origin) => allow.push(origin),
            Err(why) => unusable.push(format!("`{rule}` allows nothing: {why}")),
        }
    }
    (allow, unusable)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t(s: &str) -> OriginTemplate {
        OriginTemplate::parse(s).unwrap()
    }

    #[test]
    fn templates_parse_in_two_shapes() {
        assert_eq!(
            t("{{config.idp_url}}"),
            OriginTemplate {
                key: "idp_url".into(),
                form: TemplateForm::Url
            }
        );
        assert_eq!(
            t("https://{{config.api_host}}:8443").form,
            TemplateForm::Host {
                scheme: "https".into(),
                port: Some(8443)
            }
        );
        for bad in [
            "{{config.}}",
            "{{config.Idp}}",
            "{{env.home}}",
            "{{config.a",
            "https://{{config.a}}.example.com",
            "https://api.{{config.a}}",
            "ftp://{{config.a}}",
            "https://{{config.a}}:0",
            "https://{{config.a}}/path",
            "{{config.a}}{{config.b}}",
        ] {
            assert!(OriginTemplate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn url_values_expand_to_their_origin() {
        let tpl = t("{{config.idp_url}}");
        assert_eq!(
            tpl.expand("https://idp.corp.example:8443").unwrap(),
            "https://idp.corp.example:8443"
        );
        assert_eq!(
            tpl.expand(" https://Cloud.Corp.Example/api/v2/ ").unwrap(),
            "https://cloud.corp.example"
        );
        assert_eq!(
            tpl.expand("https://cloud.example.com:443").unwrap(),
            "https://cloud.example.com",
            "the default port is implied"
        );
        assert_eq!(
            tpl.expand("http://10.0.0.5:8080").unwrap(),
            "http://10.0.0.5:8080"
        );
        for (bad, why) in [
            ("https://*.corp.example", "wildcard"),
            ("*", "wildcard"),
            ("idp.corp.example", "not an http(s) origin"),
            ("ftp://idp.corp.example", "scheme"),
            ("https://admin:pw@idp.corp.example", "user name"),
            ("https://idp.corp.example/?x=1", "query"),
            ("https://idp.corp.example/#top", "fragment"),
            ("", "not an http(s) origin"),
        ] {
            let e = tpl.expand(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn host_values_take_the_manifests_scheme_and_port() {
        let tpl = t("https://{{config.api_host}}:8443");
        assert_eq!(
            tpl.expand("API.corp.example").unwrap(),
            "https://api.corp.example:8443"
        );
        assert_eq!(tpl.expand("::1").unwrap(), "https://[::1]:8443");
        assert_eq!(
            t("http://{{config.h}}").expand("10.1.2.3").unwrap(),
            "http://10.1.2.3"
        );
        for bad in [
            "*.corp.example",
            "api.corp.example:9000",
            "https://api.corp.example",
            "api.corp.example/x",
            "bad_host!",
            "",
        ] {
            assert!(tpl.expand(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_allowlist_expands_templates_from_the_configuration() {
        let rules = vec![
            "https://api.example.com".to_owned(),
            "{{config.idp_url}}".to_owned(),
            "https://{{config.missing}}".to_owned(),
        ];
        let config = BTreeMap::from([("idp_url".to_owned(), "https://idp.corp:8443/x".to_owned())]);
        let (allow, unusable) = expand_allowlist(&rules, &config);
        assert_eq!(
            allow,
            vec![
                "https://api.example.com".to_owned(),
                "https://idp.corp:8443".to_owned()
            ]
        );
        assert_eq!(unusable.len(), 1);
        assert!(unusable[0].contains("no `missing`"), "{unusable:?}");
    }
}
