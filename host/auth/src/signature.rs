//! HTTP Signatures (draft-cavage) for access keys, as the Python `httpsig` package signs them.
//!
//! ```text
//! Authorization: Signature keyId="<AK id>",algorithm="hmac-sha256",
//!                headers="(request-target) accept date",signature="<base64>"
//! ```
//!
//! The signing string is one `name: value` line per listed header, in the listed order, joined
//! with `\n`; `(request-target)` is `<lower-case method> <path>?<query>`. The signature is
//! base64(HMAC-SHA256(secret, signing string)). This module parses the header and checks the
//! HMAC; looking the key up and the IP and date rules are in [`crate::Auth`].

use std::collections::HashMap;
use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

use crate::AuthError;

/// The only algorithm accepted (JumpServer's access keys are HMAC secrets).
pub const ALGORITHM: &str = "hmac-sha256";
/// The pseudo-header that binds the method, path and query.
pub const REQUEST_TARGET: &str = "(request-target)";
/// Headers every signature must cover: without them a signature could be replayed on another
/// path, or forever.
pub const REQUIRED_HEADERS: &[&str] = &[REQUEST_TARGET, "date"];

/// Upper bound on the header, far above any real one, so parsing work is bounded.
const MAX_HEADER_LEN: usize = 8192;

/// A request as the signature check sees it.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// HTTP method, any case (it is lower-cased into the signing string).
    pub method: &'a str,
    /// The path and query exactly as sent (`/api/v1/users/users/?limit=1`).
    pub path_and_query: &'a str,
    /// Request headers, names in lower case. Repeated names are joined with `, `.
    pub headers: &'a [(String, String)],
    /// The whole `Authorization` header value (`Signature keyId=…`).
    pub authorization: &'a str,
    /// The client address (checked against the key's `ip_group`).
    pub ip: IpAddr,
}

/// Why a signed request was refused. `Display` is the DRF `detail` the API returns.
#[derive(Debug, Error)]
pub enum SignatureError {
    /// The header does not parse or lacks a required part.
    #[error("Invalid signature header. {0}")]
    Malformed(String),
    /// No such key, or the key is disabled. Phrased like a bad signature so that key ids cannot
    /// be probed.
    #[error("Invalid signature.")]
    UnknownKey,
    /// The HMAC does not match.
    #[error("Invalid signature.")]
    InvalidSignature,
    /// The key's user is disabled or expired.
    #[error("User invalid, disabled or expired.")]
    UserInvalid,
    /// The client address is not in the key's `ip_group`.
    #[error("Ip is not in access ip list.")]
    IpNotAllowed,
    /// The `Date` header is further from the server clock than the allowed skew.
    #[error("Invalid signature. The Date header is too far from the server time.")]
    StaleDate,
    /// The server could not check the request (database, vault). Not the client's fault; the
    /// API should answer 500 and log the cause.
    #[error("Authentication failed because of a server error.")]
    Internal(#[source] AuthError),
}

impl SignatureError {
    /// Whether this is a server fault rather than a refused request.
    pub fn is_internal(&self) -> bool {
        matches!(self, SignatureError::Internal(_))
    }
}

impl From<AuthError> for SignatureError {
    fn from(e: AuthError) -> Self {
        SignatureError::Internal(e)
    }
}

/// The parameters of a `Signature` authorization header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureParams {
    /// `keyId`.
    pub key_id: String,
    /// `algorithm`, lower-cased.
    pub algorithm: String,
    /// `headers`, lower-cased, in order (`["date"]` when absent, per the draft).
    pub headers: Vec<String>,
    /// `signature`, still base64.
    pub signature: String,
}

fn malformed(msg: impl Into<String>) -> SignatureError {
    SignatureError::Malformed(msg.into())
}

/// Parses `Signature keyId="…",algorithm="…",headers="…",signature="…"`. Parameters may come
/// in any order, values are quoted (bare tokens are tolerated), unknown parameters are ignored.
pub fn parse_authorization(header: &str) -> Result<SignatureParams, SignatureError> {
    if header.len() > MAX_HEADER_LEN {
        return Err(malformed("The header is too long."));
    }
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("signature") {
        return Err(malformed("Expected the Signature scheme."));
    }
    let params = parse_params(rest)?;
    let get = |name: &str| params.get(name).map(String::as_str);
    let key_id = get("keyid")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| malformed("Missing keyId."))?;
    let algorithm = get("algorithm")
        .ok_or_else(|| malformed("Missing algorithm."))?
        .to_ascii_lowercase();
    if algorithm != ALGORITHM {
        return Err(malformed(format!(
            "Unsupported algorithm; use {ALGORITHM}."
        )));
    }
    let signature = get("signature")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| malformed("Missing signature."))?;
    let headers: Vec<String> = get("headers")
        .unwrap_or("date")
        .split_ascii_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    for required in REQUIRED_HEADERS {
        if !headers.iter().any(|h| h == required) {
            return Err(malformed(format!(
                "The signed headers must include {}.",
                REQUIRED_HEADERS.join(" and ")
            )));
        }
    }
    Ok(SignatureParams {
        key_id: key_id.to_owned(),
        algorithm,
        headers,
        signature: signature.to_owned(),
    })
}

/// `name="value"` pairs separated by commas; names are lower-cased. A repeated name is refused:
/// two `signature` values are an attempt to confuse, not a real client.
fn parse_params(s: &str) -> Result<HashMap<String, String>, SignatureError> {
    let mut out = HashMap::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_ascii_whitespace());
        if rest.is_empty() {
            return Ok(out);
        }
        let (name, after) = rest
            .split_once('=')
            .ok_or_else(|| malformed("Expected name=\"value\" parameters."))?;
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() || name.contains(|c: char| c.is_ascii_whitespace() || c == ',') {
            return Err(malformed("Expected name=\"value\" parameters."));
        }
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted
                .find('"')
                .ok_or_else(|| malformed("Unterminated quoted value."))?;
            let next = quoted[end + 1..].trim_start();
            if !(next.is_empty() || next.starts_with(',')) {
                return Err(malformed("Expected a comma between parameters."));
            }
            (&quoted[..end], next)
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim(), &after[end..])
        };
        if out.insert(name.clone(), value.to_owned()).is_some() {
            return Err(malformed(format!("Repeated parameter {name}.")));
        }
        rest = next;
    }
}

/// The value of a header (all values of a repeated header joined by `, `, per the draft).
pub fn header_value(headers: &[(String, String)], name: &str) -> Option<String> {
    let values: Vec<&str> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect();
    if values.is_empty() {
        None
    } else {
        Some(values.join(", "))
    }
}

/// The string the client signed: one `name: value` line per listed header, joined by `\n`.
pub fn signing_string(
    params: &SignatureParams,
    method: &str,
    path_and_query: &str,
    headers: &[(String, String)],
) -> Result<String, SignatureError> {
    let mut lines = Vec::with_capacity(params.headers.len());
    for name in &params.headers {
        if name == REQUEST_TARGET {
            lines.push(format!(
                "{REQUEST_TARGET}: {} {path_and_query}",
                method.to_ascii_lowercase()
            ));
        } else {
            let value = header_value(headers, name)
                .ok_or_else(|| malformed(format!("Missing signed header {name}.")))?;
            lines.push(format!("{name}: {value}"));
        }
    }
    Ok(lines.join("\n"))
}

/// Checks `signature` (base64) against HMAC-SHA256(secret, text) in constant time.
pub fn verify_hmac(secret: &[u8], text: &str, signature: &str) -> Result<(), SignatureError> {
    let given = STANDARD
        .decode(signature.trim())
        .map_err(|_| SignatureError::InvalidSignature)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret).map_err(|_| SignatureError::InvalidSignature)?;
    mac.update(text.as_bytes());
    // `verify_slice` compares in constant time.
    mac.verify_slice(&given)
        .map_err(|_| SignatureError::InvalidSignature)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_any_order_and_defaults() {
        let p = parse_authorization(
            r#"Signature signature="c2ln", headers="(request-target) Accept date",keyId="k1", algorithm="HMAC-SHA256""#,
        )
        .unwrap();
        assert_eq!(p.key_id, "k1");
        assert_eq!(p.algorithm, "hmac-sha256");
        assert_eq!(p.headers, ["(request-target)", "accept", "date"]);
        assert_eq!(p.signature, "c2ln");
    }

    #[test]
    fn refuses_malformed_headers() {
        let cases = [
            ("", "scheme"),
            ("Bearer abc", "scheme"),
            (
                r#"Signature algorithm="hmac-sha256",signature="x""#,
                "no keyId",
            ),
            (r#"Signature keyId="k",signature="x""#, "no algorithm"),
            (
                r#"Signature keyId="k",algorithm="rsa-sha256",headers="(request-target) date",signature="x""#,
                "algorithm",
            ),
            (
                r#"Signature keyId="k",algorithm="hmac-sha256",signature="x""#,
                "headers default to date only",
            ),
            (
                r#"Signature keyId="k",algorithm="hmac-sha256",headers="date",signature="x""#,
                "no request-target",
            ),
            (
                r#"Signature keyId="k",algorithm="hmac-sha256",headers="(request-target)",signature="x""#,
                "no date",
            ),
            (
                r#"Signature keyId="k",algorithm="hmac-sha256",headers="(request-target) date""#,
                "no signature",
            ),
            (
                r#"Signature keyId="k,algorithm="hmac-sha256""#,
                "unterminated",
            ),
            (
                r#"Signature keyId="k" algorithm="hmac-sha256""#,
                "missing comma",
            ),
            (
                r#"Signature keyId="k",keyId="j",algorithm="hmac-sha256",headers="(request-target) date",signature="x""#,
                "repeated",
            ),
        ];
        for (h, why) in cases {
            assert!(
                matches!(parse_authorization(h), Err(SignatureError::Malformed(_))),
                "{why}: {h}"
            );
        }
        let long = format!("Signature keyId=\"{}\"", "a".repeat(MAX_HEADER_LEN));
        assert!(parse_authorization(&long).is_err());
    }

    #[test]
    fn signing_string_follows_the_listed_order() {
        let p = parse_authorization(
            r#"Signature keyId="k",algorithm="hmac-sha256",headers="date (request-target) x-jms-org",signature="x""#,
        )
        .unwrap();
        let headers = vec![
            ("x-jms-org".to_owned(), "ROOT".to_owned()),
            (
                "date".to_owned(),
                "Tue, 07 Jun 2022 10:00:00 GMT".to_owned(),
            ),
        ];
        assert_eq!(
            signing_string(&p, "GET", "/api/v1/x/?a=1", &headers).unwrap(),
            "date: Tue, 07 Jun 2022 10:00:00 GMT\n(request-target): get /api/v1/x/?a=1\nx-jms-org: ROOT"
        );
        assert!(matches!(
            signing_string(&p, "GET", "/", &headers[1..]),
            Err(SignatureError::Malformed(_))
        ));
    }

    #[test]
    fn display_texts_are_drf_details() {
        assert_eq!(
            SignatureError::InvalidSignature.to_string(),
            "Invalid signature."
        );
        assert_eq!(SignatureError::UnknownKey.to_string(), "Invalid signature.");
        assert_eq!(
            SignatureError::IpNotAllowed.to_string(),
            "Ip is not in access ip list."
        );
    }
}
