//! The security settings authentication obeys, read from the `settings` table under
//! JumpServer's names so that the settings API and an imported JumpServer configuration mean
//! the same thing here.

use std::collections::HashMap;

use portcullis_core::password::PasswordPolicy;
use serde_json::Value;

/// `SECURITY_LOGIN_LIMIT_COUNT`: wrong passwords before a user is locked.
pub const LOGIN_LIMIT_COUNT: &str = "SECURITY_LOGIN_LIMIT_COUNT";
/// `SECURITY_LOGIN_LIMIT_TIME`: minutes a locked user stays locked.
pub const LOGIN_LIMIT_TIME: &str = "SECURITY_LOGIN_LIMIT_TIME";
/// `SECURITY_LOGIN_IP_LIMIT_COUNT`: failed logins from one address before it is blocked.
pub const LOGIN_IP_LIMIT_COUNT: &str = "SECURITY_LOGIN_IP_LIMIT_COUNT";
/// `SECURITY_LOGIN_IP_LIMIT_TIME`: minutes of the per-address window and block.
pub const LOGIN_IP_LIMIT_TIME: &str = "SECURITY_LOGIN_IP_LIMIT_TIME";
/// `TOKEN_EXPIRATION`: seconds a bearer token lives.
pub const TOKEN_EXPIRATION: &str = "TOKEN_EXPIRATION";
/// `PORTCULLIS_SIGNATURE_MAX_SKEW`: seconds the `Date` of a signed request may differ from
/// the server clock (Portcullis' own setting; JumpServer has no such check).
pub const SIGNATURE_MAX_SKEW: &str = "PORTCULLIS_SIGNATURE_MAX_SKEW";
/// `SECURITY_UNCOMMON_USERS_TTL`: days without a login or API-key use after which a user is
/// disabled. JumpServer's default is 999, and it treats values <= 0 or >= 999 as "off".
pub const UNCOMMON_USERS_TTL: &str = "SECURITY_UNCOMMON_USERS_TTL";
/// `SECURITY_PASSWORD_MIN_LENGTH`.
pub const PASSWORD_MIN_LENGTH: &str = "SECURITY_PASSWORD_MIN_LENGTH";
/// `SECURITY_ADMIN_USER_PASSWORD_MIN_LENGTH`.
pub const ADMIN_PASSWORD_MIN_LENGTH: &str = "SECURITY_ADMIN_USER_PASSWORD_MIN_LENGTH";
/// `SECURITY_PASSWORD_UPPER_CASE`.
pub const PASSWORD_UPPER_CASE: &str = "SECURITY_PASSWORD_UPPER_CASE";
/// `SECURITY_PASSWORD_LOWER_CASE`.
pub const PASSWORD_LOWER_CASE: &str = "SECURITY_PASSWORD_LOWER_CASE";
/// `SECURITY_PASSWORD_NUMBER`.
pub const PASSWORD_NUMBER: &str = "SECURITY_PASSWORD_NUMBER";
/// `SECURITY_PASSWORD_SPECIAL_CHAR`.
pub const PASSWORD_SPECIAL_CHAR: &str = "SECURITY_PASSWORD_SPECIAL_CHAR";

/// `SECURITY_PASSWORD_EXPIRATION_TIME`: days a password stays valid after it was last
/// changed; a login with an older password is refused until the password is changed.
/// JumpServer's default is 9999 (in effect never).
pub const PASSWORD_EXPIRATION_TIME: &str = "SECURITY_PASSWORD_EXPIRATION_TIME";

/// `SECURITY_MFA_AUTH`: MFA forced globally: 0 no, 1 for every user, 2 for administrators
/// (system administrators and org administrators), as in JumpServer.
pub const MFA_AUTH: &str = "SECURITY_MFA_AUTH";
/// `SECURITY_MFA_VERIFY_TTL`: seconds an MFA step-up confirmation stays valid.
pub const MFA_VERIFY_TTL: &str = "SECURITY_MFA_VERIFY_TTL";
/// `AUTH_EXPIRED_SECONDS`: seconds a checked password waits for the second factor.
pub const AUTH_EXPIRED_SECONDS: &str = "AUTH_EXPIRED_SECONDS";
/// `SESSION_COOKIE_AGE`: seconds a web session lives.
pub const SESSION_COOKIE_AGE: &str = "SESSION_COOKIE_AGE";
/// `OTP_ISSUER_NAME`: the issuer shown by authenticator apps.
pub const OTP_ISSUER_NAME: &str = "OTP_ISSUER_NAME";
/// `SECURITY_MAX_IDLE_TIME`: minutes without input after which a terminal session (and the
/// gateway's menu) is disconnected.
pub const MAX_IDLE_TIME: &str = "SECURITY_MAX_IDLE_TIME";
/// `SECURITY_MAX_SESSION_TIME`: hours after which any session is disconnected.
pub const MAX_SESSION_TIME: &str = "SECURITY_MAX_SESSION_TIME";

/// Every setting [`SecuritySettings`] reads.
pub const SETTING_NAMES: &[&str] = &[
    LOGIN_LIMIT_COUNT,
    LOGIN_LIMIT_TIME,
    LOGIN_IP_LIMIT_COUNT,
    LOGIN_IP_LIMIT_TIME,
    TOKEN_EXPIRATION,
    SIGNATURE_MAX_SKEW,
    UNCOMMON_USERS_TTL,
    PASSWORD_MIN_LENGTH,
    ADMIN_PASSWORD_MIN_LENGTH,
    PASSWORD_UPPER_CASE,
    PASSWORD_LOWER_CASE,
    PASSWORD_NUMBER,
    PASSWORD_SPECIAL_CHAR,
    PASSWORD_EXPIRATION_TIME,
    MFA_AUTH,
    MFA_VERIFY_TTL,
    AUTH_EXPIRED_SECONDS,
    SESSION_COOKIE_AGE,
    OTP_ISSUER_NAME,
    MAX_IDLE_TIME,
    MAX_SESSION_TIME,
];

/// The security settings that govern logins, tokens and signatures.
///
/// Missing or unreadable values fall back to JumpServer's defaults (a bad value is logged, not
/// fatal: a typo in a setting must not stop every login).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecuritySettings {
    /// Wrong passwords before the user is locked (`SECURITY_LOGIN_LIMIT_COUNT`, default 7).
    pub login_limit_count: u32,
    /// Minutes a user stays locked (`SECURITY_LOGIN_LIMIT_TIME`, default 30).
    pub login_limit_time: u32,
    /// Failed logins from one address before it is blocked (`SECURITY_LOGIN_IP_LIMIT_COUNT`,
    /// default 50).
    pub login_ip_limit_count: u32,
    /// Minutes of the per-address counting window and of the block
    /// (`SECURITY_LOGIN_IP_LIMIT_TIME`, default 30).
    pub login_ip_limit_time: u32,
    /// Seconds a bearer token lives (`TOKEN_EXPIRATION`, default 86400).
    pub token_expiration: u64,
    /// Seconds a signed request's `Date` may be off (`PORTCULLIS_SIGNATURE_MAX_SKEW`, default
    /// 300; 0 turns the check off, as JumpServer behaves).
    pub signature_max_skew: u64,
    /// The password policy (`SECURITY_PASSWORD_*`), for the API's password changes.
    pub password_policy: PasswordPolicy,
    /// Days without a login or API-key use after which a user is disabled at their next login
    /// (`SECURITY_UNCOMMON_USERS_TTL`; 0 = off, which is also what JumpServer's default 999
    /// means).
    pub inactive_days: u32,
    /// Days a password is valid after its last change (`SECURITY_PASSWORD_EXPIRATION_TIME`,
    /// default 9999, JumpServer's bounds 1..=99999).
    pub password_expiration_days: u32,
    /// Who must use MFA whatever their own choice (`SECURITY_MFA_AUTH`: 0 nobody, 1 everyone,
    /// 2 administrators; default 0).
    pub mfa_auth: u8,
    /// Seconds an MFA step-up confirmation is trusted (`SECURITY_MFA_VERIFY_TTL`, default 3600).
    pub mfa_verify_ttl: u64,
    /// Seconds a checked password waits for the second factor (`AUTH_EXPIRED_SECONDS`,
    /// default 300).
    pub auth_expired_seconds: u64,
    /// Seconds a web session lives (`SESSION_COOKIE_AGE`, default 86400).
    pub session_cookie_age: u64,
    /// The issuer in `otpauth://` URIs (`OTP_ISSUER_NAME`, default `Portcullis`).
    pub otp_issuer_name: String,
    /// Minutes without input before a terminal session ends (`SECURITY_MAX_IDLE_TIME`,
    /// default 30).
    pub max_idle_minutes: u32,
    /// Hours before any session ends (`SECURITY_MAX_SESSION_TIME`, default 24).
    pub max_session_hours: u32,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        SecuritySettings {
            login_limit_count: 7,
            login_limit_time: 30,
            login_ip_limit_count: 50,
            login_ip_limit_time: 30,
            token_expiration: 86_400,
            signature_max_skew: 300,
            password_policy: PasswordPolicy::default(),
            inactive_days: 0,
            password_expiration_days: 9999,
            mfa_auth: 0,
            mfa_verify_ttl: 3600,
            auth_expired_seconds: 300,
            session_cookie_age: 86_400,
            otp_issuer_name: "Portcullis".to_owned(),
            max_idle_minutes: 30,
            max_session_hours: 24,
        }
    }
}

/// A setting as an integer: JSON numbers, or strings holding one (forms post strings).
fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(true),
            "false" | "0" | "no" | "off" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

struct Reader<'a>(&'a HashMap<String, Value>);

impl Reader<'_> {
    /// An integer in `min..=max`, or `default` (with a warning when present but unusable).
    fn int(&self, name: &str, default: i64, min: i64, max: i64) -> i64 {
        match self.0.get(name) {
            None | Some(Value::Null) => default,
            Some(v) => match integer(v) {
                Some(i) if (min..=max).contains(&i) => i,
                _ => {
                    tracing::warn!(setting = name, value = %v, default, "ignoring unusable setting value");
                    default
                }
            },
        }
    }

    /// A non-empty string of at most `max` characters, or `default`.
    fn text(&self, name: &str, default: &str, max: usize) -> String {
        match self.0.get(name) {
            None | Some(Value::Null) => default.to_owned(),
            Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= max => {
                s.trim().to_owned()
            }
            Some(v) => {
                tracing::warn!(setting = name, value = %v, default, "ignoring unusable setting value");
                default.to_owned()
            }
        }
    }

    fn flag(&self, name: &str, default: bool) -> bool {
        match self.0.get(name) {
            None | Some(Value::Null) => default,
            Some(v) => boolean(v).unwrap_or_else(|| {
                tracing::warn!(setting = name, value = %v, default, "ignoring unusable setting value");
                default
            }),
        }
    }
}

impl SecuritySettings {
    /// Builds the settings from stored values by name (see [`SETTING_NAMES`]).
    pub fn from_values(values: &HashMap<String, Value>) -> SecuritySettings {
        let r = Reader(values);
        let d = SecuritySettings::default();
        let dp = &d.password_policy;
        let clamp_u32 = |i: i64| u32::try_from(i).unwrap_or(u32::MAX);
        let clamp_u64 = |i: i64| u64::try_from(i).unwrap_or(0);
        let ttl = r.int(UNCOMMON_USERS_TTL, 999, i64::MIN, i64::MAX);
        // Old JumpServer versions stored SECURITY_MFA_AUTH as a boolean (true = everyone).
        let mfa_auth = match values.get(MFA_AUTH) {
            Some(Value::Bool(b)) => i64::from(*b),
            _ => r.int(MFA_AUTH, 0, 0, 2),
        };
        SecuritySettings {
            login_limit_count: clamp_u32(r.int(LOGIN_LIMIT_COUNT, 7, 1, 1_000_000)),
            login_limit_time: clamp_u32(r.int(LOGIN_LIMIT_TIME, 30, 1, 10_000_000)),
            login_ip_limit_count: clamp_u32(r.int(LOGIN_IP_LIMIT_COUNT, 50, 1, 1_000_000)),
            login_ip_limit_time: clamp_u32(r.int(LOGIN_IP_LIMIT_TIME, 30, 1, 10_000_000)),
            token_expiration: clamp_u64(r.int(TOKEN_EXPIRATION, 86_400, 1, 100 * 365 * 86_400)),
            signature_max_skew: clamp_u64(r.int(SIGNATURE_MAX_SKEW, 300, 0, 365 * 86_400)),
            password_policy: PasswordPolicy {
                min_length: usize::try_from(r.int(
                    PASSWORD_MIN_LENGTH,
                    dp.min_length as i64,
                    1,
                    1024,
                ))
                .unwrap_or(dp.min_length),
                admin_min_length: usize::try_from(r.int(
                    ADMIN_PASSWORD_MIN_LENGTH,
                    dp.admin_min_length as i64,
                    1,
                    1024,
                ))
                .unwrap_or(dp.admin_min_length),
                upper_case: r.flag(PASSWORD_UPPER_CASE, dp.upper_case),
                lower_case: r.flag(PASSWORD_LOWER_CASE, dp.lower_case),
                number: r.flag(PASSWORD_NUMBER, dp.number),
                special_char: r.flag(PASSWORD_SPECIAL_CHAR, dp.special_char),
            },
            inactive_days: if (1..999).contains(&ttl) {
                clamp_u32(ttl)
            } else {
                0
            },
            password_expiration_days: clamp_u32(r.int(PASSWORD_EXPIRATION_TIME, 9999, 1, 99_999)),
            mfa_auth: u8::try_from(mfa_auth).unwrap_or(0),
            mfa_verify_ttl: clamp_u64(r.int(MFA_VERIFY_TTL, 3600, 1, 365 * 86_400)),
            auth_expired_seconds: clamp_u64(r.int(AUTH_EXPIRED_SECONDS, 300, 10, 86_400)),
            session_cookie_age: clamp_u64(r.int(SESSION_COOKIE_AGE, 86_400, 60, 10 * 365 * 86_400)),
            otp_issuer_name: r.text(OTP_ISSUER_NAME, &d.otp_issuer_name, 64),
            max_idle_minutes: clamp_u32(r.int(MAX_IDLE_TIME, 30, 1, 7 * 24 * 60)),
            max_session_hours: clamp_u32(r.int(MAX_SESSION_TIME, 24, 1, 24 * 365)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(pairs: &[(&str, Value)]) -> HashMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn defaults_when_nothing_is_stored() {
        assert_eq!(
            SecuritySettings::from_values(&HashMap::new()),
            SecuritySettings::default()
        );
    }

    #[test]
    fn reads_numbers_strings_and_ignores_garbage() {
        let s = SecuritySettings::from_values(&values(&[
            (LOGIN_LIMIT_COUNT, json!(3)),
            (LOGIN_LIMIT_TIME, json!("10")),
            (LOGIN_IP_LIMIT_COUNT, json!("lots")),
            (LOGIN_IP_LIMIT_TIME, json!(-5)),
            (TOKEN_EXPIRATION, json!(3600.0)),
            (SIGNATURE_MAX_SKEW, json!(0)),
            (UNCOMMON_USERS_TTL, json!(90)),
            (PASSWORD_UPPER_CASE, json!(true)),
            (PASSWORD_NUMBER, json!("1")),
            (PASSWORD_MIN_LENGTH, json!(12)),
        ]));
        assert_eq!(s.login_limit_count, 3);
        assert_eq!(s.login_limit_time, 10);
        assert_eq!(s.login_ip_limit_count, 50, "garbage falls back");
        assert_eq!(s.login_ip_limit_time, 30, "out of range falls back");
        assert_eq!(s.token_expiration, 3600);
        assert_eq!(s.signature_max_skew, 0);
        assert_eq!(s.inactive_days, 90);
        assert!(s.password_policy.upper_case && s.password_policy.number);
        assert_eq!(s.password_policy.min_length, 12);
    }

    #[test]
    fn mfa_settings() {
        let s = SecuritySettings::from_values(&values(&[
            (MFA_AUTH, json!(true)),
            (MFA_VERIFY_TTL, json!("600")),
            (SESSION_COOKIE_AGE, json!(5)),
            (OTP_ISSUER_NAME, json!("ACME")),
        ]));
        assert_eq!(s.mfa_auth, 1);
        assert_eq!(s.mfa_verify_ttl, 600);
        assert_eq!(s.session_cookie_age, 86_400, "out of range falls back");
        assert_eq!(s.auth_expired_seconds, 300);
        assert_eq!(s.otp_issuer_name, "ACME");
        let s = SecuritySettings::from_values(&values(&[(MFA_AUTH, json!(2))]));
        assert_eq!(s.mfa_auth, 2);
    }

    #[test]
    fn uncommon_users_ttl_off_values() {
        for v in [json!(999), json!(0), json!(-1), json!(5000)] {
            let s = SecuritySettings::from_values(&values(&[(UNCOMMON_USERS_TTL, v)]));
            assert_eq!(s.inactive_days, 0);
        }
    }
}
