//! TOTP one-time codes (RFC 6238 over RFC 4226): HMAC-SHA1, 6 digits, 30-second steps, one
//! step of clock drift accepted either way. These are the parameters every authenticator app
//! assumes for an `otpauth://totp/` URI without extra parameters, and the ones JumpServer's
//! `pyotp` uses, so a secret bound in JumpServer keeps working here.
//!
//! Pure functions: no I/O, no clock except through the `now` argument, so the RFC test
//! vectors can be checked directly.

use hmac13::{KeyInit, Mac};
use portcullis_core::secret::SecretString;
use rand::RngCore;
use rand::rngs::OsRng;
use sha1::Sha1;

type HmacSha1 = hmac13::Hmac<Sha1>;

/// Seconds per time step.
pub const PERIOD: u64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Steps of drift accepted on each side of the current one.
const SKEW: u64 = 1;
/// Bytes of a generated secret: 160 bits, the HMAC-SHA1 block the RFC recommends.
const SECRET_BYTES: usize = 20;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding (what authenticator apps expect in `secret=`).
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Decodes base32, tolerating lower case, spaces and `=` padding (secrets are often typed or
/// pasted in groups). `None` for any other character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let value = BASE32
            .iter()
            .position(|&b| char::from(b) == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | value as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// A new random secret, base32-encoded (32 characters).
pub fn generate_secret() -> SecretString {
    let mut bytes = [0u8; SECRET_BYTES];
    OsRng.fill_bytes(&mut bytes);
    SecretString::new(base32_encode(&bytes))
}

/// The HOTP value of `key` at counter `step` (RFC 4226 §5.3), with `digits` digits.
fn hotp(key: &[u8], step: u64, digits: u32) -> u32 {
    // HMAC accepts keys of any length, so this cannot fail; an empty MAC would still give a
    // code, but no caller passes an invalid key.
    let Ok(mut mac) = HmacSha1::new_from_slice(key) else {
        return u32::MAX;
    };
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary = (u32::from(digest[offset] & 0x7f) << 24)
        | (u32::from(digest[offset + 1]) << 16)
        | (u32::from(digest[offset + 2]) << 8)
        | u32::from(digest[offset + 3]);
    binary % 10u32.pow(digits)
}

/// The 6-digit code of `key` at `step`, zero-padded.
pub fn code_at(key: &[u8], step: u64) -> String {
    format!(
        "{:0width$}",
        hotp(key, step, DIGITS),
        width = DIGITS as usize
    )
}

/// The time step of a Unix time in seconds.
pub fn step_of(unix_secs: u64) -> u64 {
    unix_secs / PERIOD
}

/// The step whose code `code` is, among the current step and one on each side, or `None`.
///
/// `code` must be exactly six ASCII digits (surrounding spaces allowed, since apps display
/// `123 456`); anything else is simply wrong, never an error. Every candidate step is compared
/// in constant time and all are compared, so the time taken does not say which one was close.
pub fn matching_step(key: &[u8], code: &str, unix_secs: u64) -> Option<u64> {
    let typed: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if typed.len() != DIGITS as usize || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_of(unix_secs);
    let mut found = None;
    for step in now.saturating_sub(SKEW)..=now.saturating_add(SKEW) {
        let expected = code_at(key, step);
        if constant_time_eq(expected.as_bytes(), typed.as_bytes()) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Percent-encodes a URI component (RFC 3986 unreserved characters pass through).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `otpauth://` URI authenticator apps scan (Google's Key Uri Format): label
/// `issuer:account`, then the secret, issuer and the (default) parameters spelled out.
pub fn otpauth_uri(issuer: &str, account: &str, secret_base32: &str) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret_base32}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={PERIOD}",
        account = percent_encode(account),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 seed, 8-digit values.
    #[test]
    fn rfc6238_vectors() {
        let key = b"12345678901234567890";
        for (t, expected) in [
            (59u64, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(hotp(key, step_of(t), 8), expected, "t={t}");
            assert_eq!(
                code_at(key, step_of(t)),
                format!("{:06}", expected % 1_000_000)
            );
        }
    }

    #[test]
    fn base32_round_trip_and_tolerance() {
        assert_eq!(
            base32_encode(b"12345678901234567890"),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        assert_eq!(base32_encode(b"f"), "MY");
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("mzxw 6ytb oi======").unwrap(), b"foobar");
        assert_eq!(base32_decode("MY").unwrap(), b"f");
        assert!(base32_decode("not base32!").is_none());
        let s = generate_secret();
        assert_eq!(s.expose().len(), 32);
        assert_eq!(base32_decode(s.expose()).unwrap().len(), SECRET_BYTES);
    }

    #[test]
    fn window_and_shape() {
        let key = b"12345678901234567890";
        let t = 1_234_567_890;
        let now = step_of(t);
        assert_eq!(matching_step(key, &code_at(key, now), t), Some(now));
        assert_eq!(matching_step(key, &code_at(key, now - 1), t), Some(now - 1));
        assert_eq!(matching_step(key, &code_at(key, now + 1), t), Some(now + 1));
        assert_eq!(matching_step(key, &code_at(key, now + 2), t), None);
        assert_eq!(matching_step(key, &code_at(key, now - 2), t), None);
        let spaced = format!("{} {}", &code_at(key, now)[..3], &code_at(key, now)[3..]);
        assert_eq!(matching_step(key, &spaced, t), Some(now));
        for bad in ["", "12345", "1234567", "12345a", "１２３４５６"] {
            assert_eq!(matching_step(key, bad, t), None, "{bad}");
        }
    }

    #[test]
    fn uri_is_encoded() {
        let uri = otpauth_uri("Port Cullis", "a@b:c", "ABC");
        assert_eq!(
            uri,
            "otpauth://totp/Port%20Cullis:a%40b%3Ac?secret=ABC&issuer=Port%20Cullis&algorithm=SHA1&digits=6&period=30"
        );
    }
}
