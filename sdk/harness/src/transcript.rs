//! The transcript format (`session.txt`): what the remote side of an automation does, per
//! target, in the order it happens. [`crate::remote::ScriptedRemote`] replays it.
//!
//! ```text
//! # A comment. Blank lines are ignored.
//! [session asset=asset-1 account=root-acct]   one section per session the plugin opens
//! @open ok                                     (the default) or: @open unauthorized Bad password
//! $ getent passwd                              a command, matched exactly
//! | root:x:0:0:root:/root:/bin/bash            its stdout, one line each ("\n" appended)
//! ! a warning                                  its stderr, one line each
//! @exit 0                                      exit code (default 0; `@exit none` = killed)
//! $~ lastlog( -u \w+)?                         a command matched by a regex (whole command)
//! @error unavailable connection reset          run fails with a plugin-error instead
//! $~ .*                                        any command ...
//! @repeat                                      ... any number of times (0 or more)
//! @hang                                        ... and never answers (until its timeout)
//! > login: alice\n                             interactive shell output (escapes, see below)
//! < passwd alice\n                             what the plugin must send (exact bytes)
//! <~ echo .*\n                                 what the plugin must send (a regex, one send)
//! > New password: \                            a trailing backslash: no newline appended
//! < <secret:new-secret>\n                      a secret's bytes (send-secret or send)
//! ```
//!
//! `$`, `|` and `!` lines are literal text (shell commands are full of backslashes); a command
//! spanning several lines continues on `+ ` lines. `<` and `>` lines are bytes with escapes:
//! `\n \r \t \e \0 \\ \xNN`, and `>` lines get a newline appended unless they end with a lone
//! `\`. `<secret:NAME>` inside a `<` line stands for the bytes of the secret NAME.
//!
//! Shell output (`>`) becomes readable when every step before it is done: output before the
//! first `<` is there at once (a banner, a prompt), output after a `<` appears once the plugin
//! has sent that. `asset=*` matches any asset; `account=` is optional and matches any account
//! when left out.

use portcullis_plugin::error::PluginError;
use portcullis_plugin::types::CommandOutput;
use regex::Regex;
use std::fmt;
use std::path::Path;

/// A transcript could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum TranscriptError {
    /// Reading the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A line is not valid in its place.
    #[error("{file}:{line}: {message}")]
    Syntax {
        /// The file (or `<inline>`).
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// A whole transcript: the sessions the plugin may open, each used once, in order of opening.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    /// The sessions, in file order.
    pub sessions: Vec<SessionScript>,
}

/// One `[session ...]` section.
#[derive(Debug, Clone)]
pub struct SessionScript {
    /// The asset id, none for `*`.
    pub asset: Option<String>,
    /// The account id; none matches any.
    pub account: Option<String>,
    /// What `open` answers.
    pub open: OpenOutcome,
    /// What happens in the session, in order.
    pub steps: Vec<Step>,
    /// Where the section starts (for messages).
    pub line: usize,
}

/// What `remote.open` does for a section.
#[derive(Debug, Clone)]
pub enum OpenOutcome {
    /// The session opens.
    Ok,
    /// The open fails with this error.
    Fail(PluginError),
    /// The open never answers (until its timeout, then `timeout`).
    Hang,
}

/// Which commands a `$` step accepts.
#[derive(Debug, Clone)]
pub enum CommandMatcher {
    /// Exactly this command.
    Exact(String),
    /// A command the regex matches as a whole.
    Regex(Regex),
}

impl CommandMatcher {
    /// Whether `command` is accepted.
    pub fn matches(&self, command: &str) -> bool {
        match self {
            CommandMatcher::Exact(s) => s == command,
            CommandMatcher::Regex(r) => r.is_match(command),
        }
    }

    /// An anchored regex from `pattern`.
    pub fn regex(pattern: &str) -> Result<Self, regex::Error> {
        Regex::new(&format!("^(?:{pattern})$")).map(CommandMatcher::Regex)
    }
}

impl fmt::Display for CommandMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandMatcher::Exact(s) => write!(f, "$ {s}"),
            CommandMatcher::Regex(r) => {
                let s = r.as_str();
                let inner = s
                    .strip_prefix("^(?:")
                    .and_then(|s| s.strip_suffix(")$"))
                    .unwrap_or(s);
                write!(f, "$~ {inner}")
            }
        }
    }
}

/// What a command step answers.
#[derive(Debug, Clone)]
pub enum RunReply {
    /// The command ran and produced this.
    Output(CommandOutput),
    /// `run` fails with this error.
    Fail(PluginError),
    /// The command never finishes (until its timeout, then `timeout`).
    Hang,
}

/// A piece of text the plugin must send: literal bytes or a secret's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendPart {
    /// These bytes.
    Bytes(Vec<u8>),
    /// The bytes of the secret of this name.
    Secret(String),
}

/// What a send step accepts.
#[derive(Debug, Clone)]
pub enum SendMatcher {
    /// Exactly these parts, possibly spread over several `send` calls.
    Exact(Vec<SendPart>),
    /// One `send` whose text the regex matches as a whole.
    Regex(Regex),
}

/// One step of a session.
#[derive(Debug, Clone)]
pub enum Step {
    /// A `run` and its answer.
    Run {
        /// Which commands it accepts.
        matcher: CommandMatcher,
        /// What it answers.
        reply: RunReply,
        /// Whether it may happen any number of times (including zero).
        repeat: bool,
        /// Its line in the file.
        line: usize,
    },
    /// Bytes the plugin must send to the shell.
    Send {
        /// What it accepts.
        matcher: SendMatcher,
        /// Its line in the file.
        line: usize,
    },
    /// Bytes the shell outputs.
    Output {
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// The shell goes silent: an `expect` or `send` reaching this step never answers.
    Hang {
        /// Its line in the file.
        line: usize,
    },
}

impl Step {
    /// A short description for mismatch messages.
    pub fn describe(&self) -> String {
        match self {
            Step::Run { matcher, line, .. } => format!("{matcher}   (line {line})"),
            Step::Send { matcher, line } => match matcher {
                SendMatcher::Exact(parts) => format!("< {}   (line {line})", show_parts(parts)),
                SendMatcher::Regex(r) => format!("<~ {}   (line {line})", r.as_str()),
            },
            Step::Output { bytes } => format!("> {}", escape(bytes)),
            Step::Hang { line } => format!("@hang   (line {line})"),
        }
    }
}

fn show_parts(parts: &[SendPart]) -> String {
    parts
        .iter()
        .map(|p| match p {
            SendPart::Bytes(b) => escape(b),
            SendPart::Secret(n) => format!("<secret:{n}>"),
        })
        .collect()
}

impl Transcript {
    /// Reads and parses a transcript file.
    pub fn load(path: &Path) -> Result<Self, TranscriptError> {
        let text = std::fs::read_to_string(path).map_err(|source| TranscriptError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses transcript text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, TranscriptError> {
        let mut parser = Parser {
            file,
            sessions: Vec::new(),
        };
        for (i, raw) in text.lines().enumerate() {
            parser.line(i + 1, raw)?;
        }
        Ok(Transcript {
            sessions: parser.sessions,
        })
    }

    /// A transcript with one session for any asset whose every command gets `reply`, as often
    /// as the plugin likes (what the conformance suite uses).
    pub fn any_command(reply: RunReply) -> Self {
        Transcript {
            sessions: vec![SessionScript {
                asset: None,
                account: None,
                open: OpenOutcome::Ok,
                steps: vec![Step::Run {
                    matcher: CommandMatcher::Regex(
                        Regex::new("(?s).*").unwrap_or_else(|_| unreachable_regex()),
                    ),
                    reply,
                    repeat: true,
                    line: 0,
                }],
                line: 0,
            }],
        }
    }

    /// A transcript whose sessions, for any asset, all fail to open with `outcome`.
    pub fn open_fails(outcome: OpenOutcome, sessions: usize) -> Self {
        Transcript {
            sessions: (0..sessions)
                .map(|_| SessionScript {
                    asset: None,
                    account: None,
                    open: outcome.clone(),
                    steps: Vec::new(),
                    line: 0,
                })
                .collect(),
        }
    }
}

/// `.*` always compiles; this keeps the no-unwrap rule without a panic path in practice.
fn unreachable_regex() -> Regex {
    Regex::new("").unwrap_or_else(|_| unreachable!("the empty regex compiles"))
}

fn syntax(file: &str, line: usize, message: impl Into<String>) -> TranscriptError {
    TranscriptError::Syntax {
        file: file.to_owned(),
        line,
        message: message.into(),
    }
}

struct Parser<'a> {
    file: &'a str,
    sessions: Vec<SessionScript>,
}

impl Parser<'_> {
    fn err(&self, line: usize, message: impl Into<String>) -> TranscriptError {
        syntax(self.file, line, message)
    }

    fn line(&mut self, n: usize, raw: &str) -> Result<(), TranscriptError> {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() || line.starts_with('#') {
            return Ok(());
        }
        if let Some(rest) = line.strip_prefix("[session") {
            return self.section(n, rest);
        }
        let file = self.file;
        let err = |n: usize, m: String| syntax(file, n, m);
        let Some(session) = self.sessions.last_mut() else {
            return Err(err(
                n,
                "a step before the first [session ...] header".into(),
            ));
        };
        let (tag, body) = split_tag(line);
        match tag {
            "$" => session.steps.push(Step::Run {
                matcher: CommandMatcher::Exact(body.to_owned()),
                reply: RunReply::Output(exit_zero()),
                repeat: false,
                line: n,
            }),
            "$~" => {
                let matcher = CommandMatcher::regex(body)
                    .map_err(|e| err(n, format!("bad command regex: {e}")))?;
                session.steps.push(Step::Run {
                    matcher,
                    reply: RunReply::Output(exit_zero()),
                    repeat: false,
                    line: n,
                });
            }
            "+" => match session.steps.last_mut() {
                Some(Step::Run {
                    matcher: CommandMatcher::Exact(cmd),
                    ..
                }) => {
                    cmd.push('\n');
                    cmd.push_str(body);
                }
                _ => return Err(err(n, "`+` continues an exact `$` command only".into())),
            },
            "|" | "!" => {
                let Some(Step::Run { reply, .. }) = session.steps.last_mut() else {
                    return Err(err(
                        n,
                        format!("`{tag}` output belongs after a `$` command"),
                    ));
                };
                let RunReply::Output(out) = reply else {
                    return Err(err(n, "output after @error or @hang".into()));
                };
                let buf = if tag == "|" {
                    &mut out.stdout
                } else {
                    &mut out.stderr
                };
                buf.extend_from_slice(body.as_bytes());
                buf.push(b'\n');
            }
            ">" => {
                let (bytes, newline) = unescape(body).map_err(|e| err(n, e))?;
                let mut bytes = flatten(bytes).map_err(|m| err(n, m))?;
                if newline {
                    bytes.push(b'\n');
                }
                match session.steps.last_mut() {
                    Some(Step::Output { bytes: prev }) => prev.extend_from_slice(&bytes),
                    _ => session.steps.push(Step::Output { bytes }),
                }
            }
            "<" => {
                let (parts, newline) = unescape(body).map_err(|e| err(n, e))?;
                if !newline {
                    return Err(err(
                        n,
                        "a `<` line is sent as written: a trailing `\\` means nothing here".into(),
                    ));
                }
                session.steps.push(Step::Send {
                    matcher: SendMatcher::Exact(parts),
                    line: n,
                });
            }
            "<~" => {
                let re = Regex::new(&format!("^(?s:{body})$"))
                    .map_err(|e| err(n, format!("bad send regex: {e}")))?;
                session.steps.push(Step::Send {
                    matcher: SendMatcher::Regex(re),
                    line: n,
                });
            }
            "@open" => {
                session.open = parse_open(body).map_err(|e| err(n, e))?;
            }
            "@exit" => {
                let code = if body == "none" {
                    None
                } else {
                    Some(
                        body.parse::<i32>()
                            .map_err(|_| err(n, "@exit takes a number or `none`".into()))?,
                    )
                };
                match session.steps.last_mut() {
                    Some(Step::Run {
                        reply: RunReply::Output(out),
                        ..
                    }) => out.exit_code = code,
                    _ => return Err(err(n, "@exit belongs after a `$` command".into())),
                }
            }
            "@error" => {
                let error = parse_error(body).map_err(|e| err(n, e))?;
                match session.steps.last_mut() {
                    Some(Step::Run { reply, .. }) => *reply = RunReply::Fail(error),
                    _ => return Err(err(n, "@error belongs after a `$` command".into())),
                }
            }
            "@hang" => match session.steps.last_mut() {
                Some(Step::Run { reply, .. }) => *reply = RunReply::Hang,
                _ => session.steps.push(Step::Hang { line: n }),
            },
            "@repeat" => match session.steps.last_mut() {
                Some(Step::Run { repeat, .. }) => *repeat = true,
                _ => return Err(err(n, "@repeat belongs after a `$` command".into())),
            },
            other => {
                return Err(err(
                    n,
                    format!(
                        "unknown line start `{other}` (expected $, $~, +, |, !, <, <~, >, @open, @exit, @error, @hang, @repeat, [session ...] or #)"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn section(&mut self, n: usize, rest: &str) -> Result<(), TranscriptError> {
        let Some(inner) = rest.trim().strip_suffix(']') else {
            return Err(self.err(n, "a section header ends with `]`"));
        };
        let mut asset = None;
        let mut account = None;
        for word in inner.split_whitespace() {
            match word.split_once('=') {
                Some(("asset", v)) => asset = Some(v.to_owned()),
                Some(("account", v)) => account = Some(v.to_owned()),
                _ => {
                    return Err(self.err(
                        n,
                        format!("unknown section attribute `{word}` (asset=ID, account=ID)"),
                    ));
                }
            }
        }
        let Some(asset) = asset else {
            return Err(self.err(
                n,
                "a section names its asset: [session asset=ID] or asset=*",
            ));
        };
        self.sessions.push(SessionScript {
            asset: (asset != "*").then_some(asset),
            account,
            open: OpenOutcome::Ok,
            steps: Vec::new(),
            line: n,
        });
        Ok(())
    }
}

fn exit_zero() -> CommandOutput {
    CommandOutput {
        exit_code: Some(0),
        stdout: Vec::new(),
        stderr: Vec::new(),
    }
}

/// Splits `tag rest` at the first space; `|` and `>` lines keep everything after one space.
fn split_tag(line: &str) -> (&str, &str) {
    match line.split_once(' ') {
        Some((tag, rest)) => (tag, rest),
        None => (line, ""),
    }
}

fn flatten(parts: Vec<SendPart>) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for part in parts {
        match part {
            SendPart::Bytes(b) => out.extend(b),
            SendPart::Secret(_) => {
                return Err("shell output cannot hold <secret:...>".to_owned());
            }
        }
    }
    Ok(out)
}

fn parse_open(body: &str) -> Result<OpenOutcome, String> {
    match body.trim() {
        "" | "ok" => Ok(OpenOutcome::Ok),
        "hang" => Ok(OpenOutcome::Hang),
        other => parse_error(other).map(OpenOutcome::Fail),
    }
}

/// Parses `CODE message` into a plugin error (`invalid_input`, `denied`, `unauthorized`,
/// `not_found`, `unavailable`, `timeout`, `internal`; kebab-case works too).
pub fn parse_error(body: &str) -> Result<PluginError, String> {
    let (code, message) = match body.trim().split_once(' ') {
        Some((c, m)) => (c, m.trim().to_owned()),
        None => (body.trim(), String::new()),
    };
    Ok(match code.replace('-', "_").as_str() {
        "invalid_input" => PluginError::InvalidInput(message),
        "denied" => PluginError::Denied(message),
        "unauthorized" => PluginError::Unauthorized(message),
        "not_found" => PluginError::NotFound(message),
        "unavailable" => PluginError::Unavailable(message),
        "timeout" => PluginError::Timeout,
        "internal" => PluginError::Internal(message),
        other => {
            return Err(format!(
                "unknown error code `{other}` (invalid_input, denied, unauthorized, not_found, unavailable, timeout, internal)"
            ));
        }
    })
}

/// Decodes the escapes of a `<`/`>` line into parts; the flag says whether a newline is to be
/// appended (false when the line ends with a lone backslash).
pub fn unescape(text: &str) -> Result<(Vec<SendPart>, bool), String> {
    let mut parts = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut newline = true;
    while let Some((i, c)) = chars.next() {
        if c == '<'
            && text[i..].starts_with("<secret:")
            && let Some(end) = text[i..].find('>')
        {
            let name = &text[i + "<secret:".len()..i + end];
            if !cur.is_empty() {
                parts.push(SendPart::Bytes(std::mem::take(&mut cur)));
            }
            parts.push(SendPart::Secret(name.to_owned()));
            for _ in 0..end {
                chars.next();
            }
            continue;
        }
        if c != '\\' {
            let mut buf = [0u8; 4];
            cur.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            None => newline = false,
            Some((_, 'n')) => cur.push(b'\n'),
            Some((_, 'r')) => cur.push(b'\r'),
            Some((_, 't')) => cur.push(b'\t'),
            Some((_, 'e')) => cur.push(0x1b),
            Some((_, '0')) => cur.push(0),
            Some((_, '\\')) => cur.push(b'\\'),
            Some((_, '<')) => cur.push(b'<'),
            Some((_, 'x')) => {
                let hex: String = (0..2)
                    .filter_map(|_| chars.next().map(|(_, c)| c))
                    .collect();
                let byte = u8::from_str_radix(&hex, 16)
                    .map_err(|_| format!("bad escape \\x{hex}: two hex digits expected"))?;
                cur.push(byte);
            }
            Some((_, other)) => return Err(format!("unknown escape \\{other}")),
        }
    }
    if !cur.is_empty() {
        parts.push(SendPart::Bytes(cur));
    }
    Ok((parts, newline))
}

/// Shows bytes as a transcript line would write them (escapes for control bytes).
pub fn escape(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            '\u{1b}' => out.push_str("\\e"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_commands_output_and_interactive_steps() {
        let t = Transcript::parse(
            "# demo\n[session asset=a1 account=root]\n$ getent passwd\n| root:x:0:0::/root:/bin/bash\n! warn\n@exit 2\n$~ lastlog.*\n@error unavailable gone\n> Password: \\\n< <secret:pw>\\n\n$ printf 'a\\n'\n+ done\n",
            "t",
        )
        .unwrap();
        let s = &t.sessions[0];
        assert_eq!(s.asset.as_deref(), Some("a1"));
        assert_eq!(s.account.as_deref(), Some("root"));
        let Step::Run {
            reply: RunReply::Output(out),
            ..
        } = &s.steps[0]
        else {
            panic!("run expected")
        };
        assert_eq!(out.stdout, b"root:x:0:0::/root:/bin/bash\n");
        assert_eq!(out.stderr, b"warn\n");
        assert_eq!(out.exit_code, Some(2));
        assert!(matches!(
            &s.steps[1],
            Step::Run { reply: RunReply::Fail(PluginError::Unavailable(m)), matcher, .. }
                if m == "gone" && matcher.matches("lastlog -u x") && !matcher.matches("xlastlog")
        ));
        assert!(matches!(&s.steps[2], Step::Output { bytes } if bytes == b"Password: "));
        assert!(
            matches!(&s.steps[3], Step::Send { matcher: SendMatcher::Exact(p), .. }
            if p == &vec![SendPart::Secret("pw".into()), SendPart::Bytes(b"\n".to_vec())])
        );
        assert!(
            matches!(&s.steps[4], Step::Run { matcher: CommandMatcher::Exact(c), .. }
            if c == "printf 'a\\n'\ndone")
        );
    }

    #[test]
    fn reports_the_line_of_a_syntax_error() {
        let err = Transcript::parse("[session asset=*]\n$ ls\n@exit x\n", "f.txt").unwrap_err();
        assert_eq!(err.to_string(), "f.txt:3: @exit takes a number or `none`");
        let err = Transcript::parse("$ ls\n", "f.txt").unwrap_err();
        assert!(err.to_string().contains("f.txt:1:"), "{err}");
    }

    #[test]
    fn escapes_round_trip() {
        let bytes = b"a\\b\r\n\x1b[0m\x01";
        let (parts, newline) = unescape(&escape(bytes)).unwrap();
        assert!(newline);
        assert_eq!(parts, vec![SendPart::Bytes(bytes.to_vec())]);
    }
}
