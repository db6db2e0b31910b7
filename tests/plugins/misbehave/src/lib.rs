//! A test plugin that misbehaves on request (loops, allocates, panics, floods logs, calls
//! hosts it may not) to prove the host contains it.
//!
//! The behaviour comes from the call: the `params` string of automation calls (the word
//! itself, or the host's JSON parameters `{"behaviour": "<word>"}` when it runs through an
//! automation of the running server), the
//! `region` of `list-instances` for the connector variant, the page URL for autofill. See
//! [`Behaviour`] for the words. Build one variant per world with cargo features
//! (`automation` by default, `connector`, `autofill`, `automation-http`).

#[cfg(target_arch = "wasm32")]
mod guest;

/// What the plugin does when called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// Succeed.
    Ok,
    /// Count calls in a static and fail with `internal("count=N")`: shows whether guest
    /// memory survives between calls.
    Counter,
    /// Spin forever.
    Loop,
    /// Allocate (and touch) memory without bound.
    Alloc,
    /// Panic (a trap, with `panic = "abort"`).
    Panic,
    /// Emit this many log lines.
    Flood(u64),
    /// Print this many lines on stdout.
    Stdout(u64),
    /// Open the call's target and report whether it worked.
    Open,
    /// Open the call's target, run a command and log how many output bytes came back.
    BigOut,
    /// Get the secret `token` and reveal it; log its length.
    Reveal,
    /// Open the call's target and send the call's secret argument with `send-secret`.
    SendSecret,
    /// The wrong way to do `SendSecret`: reveal the call's secret argument and `send` its
    /// bytes (what the conformance suite's `no-reveal-for-send` must catch).
    RevealSend,
    /// Log the wall clock (seconds), the monotonic clock and 8 random bytes, for the
    /// determinism tests.
    Clock,
    /// Open the call's target and `expect` this pattern.
    Expect(String),
    /// GET this URL with wasi:http (connector and automation-http variants) and log the
    /// status and body length.
    Http(String),
    /// An unknown word: fail with `invalid-input`.
    Unknown(String),
}

impl Behaviour {
    /// Parses the behaviour word (`loop`, `flood:1000`, `http:https://example.com/`, ...), or
    /// takes it from a JSON object's `behaviour` string (absent: `ok`).
    pub fn parse(s: &str) -> Behaviour {
        if s.trim_start().starts_with('{') {
            return Behaviour::parse(json_behaviour(s));
        }
        let (word, arg) = match s.split_once(':') {
            Some((w, a)) => (w, Some(a)),
            None => (s, None),
        };
        let count = |default: u64| arg.and_then(|a| a.parse().ok()).unwrap_or(default);
        match word {
            "" | "ok" => Behaviour::Ok,
            "counter" => Behaviour::Counter,
            "loop" => Behaviour::Loop,
            "alloc" => Behaviour::Alloc,
            "panic" => Behaviour::Panic,
            "flood" => Behaviour::Flood(count(1_000_000)),
            "stdout" => Behaviour::Stdout(count(10)),
            "open" => Behaviour::Open,
            "bigout" => Behaviour::BigOut,
            "reveal" => Behaviour::Reveal,
            "send-secret" => Behaviour::SendSecret,
            "reveal-send" => Behaviour::RevealSend,
            "clock" => Behaviour::Clock,
            "expect" => Behaviour::Expect(arg.unwrap_or_default().to_owned()),
            "http" => Behaviour::Http(arg.unwrap_or_default().to_owned()),
            _ => Behaviour::Unknown(s.to_owned()),
        }
    }
}

/// The `behaviour` string of the host's JSON parameters, `""` when there is none. A plain
/// scan (the guest has no JSON parser): the value runs to the next quote, so a behaviour
/// word with an escaped quote is not supported.
fn json_behaviour(s: &str) -> &str {
    let Some(at) = s.find("\"behaviour\"") else {
        return "";
    };
    let rest = s[at + "\"behaviour\"".len()..].trim_start();
    let Some(rest) = rest.strip_prefix(':') else {
        return "";
    };
    let Some(rest) = rest.trim_start().strip_prefix('"') else {
        return "";
    };
    rest.split('"').next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::Behaviour;

    #[test]
    fn behaviour_words() {
        assert_eq!(Behaviour::parse("ok"), Behaviour::Ok);
        assert_eq!(Behaviour::parse("flood"), Behaviour::Flood(1_000_000));
        assert_eq!(Behaviour::parse("flood:5"), Behaviour::Flood(5));
        assert_eq!(
            Behaviour::parse("http:http://127.0.0.1:80/x"),
            Behaviour::Http("http://127.0.0.1:80/x".into())
        );
        assert_eq!(Behaviour::parse("nope"), Behaviour::Unknown("nope".into()));
    }

    #[test]
    fn behaviour_from_the_hosts_json_parameters() {
        assert_eq!(Behaviour::parse(r#"{"behaviour":"loop"}"#), Behaviour::Loop);
        assert_eq!(
            Behaviour::parse(r#"{"a": 1, "behaviour" : "flood:7"}"#),
            Behaviour::Flood(7)
        );
        assert_eq!(Behaviour::parse("{}"), Behaviour::Ok);
        assert_eq!(
            Behaviour::parse(r#"{"behaviour":"nope"}"#),
            Behaviour::Unknown("nope".into())
        );
    }
}
