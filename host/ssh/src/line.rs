//! A small line editor for the gateway's own prompts (the menu, `ID> `, `username: `,
//! passwords) on the user's pty.
//!
//! While the menu is showing there is no remote shell to do the echoing and editing: the
//! gateway receives raw terminal bytes and must behave like a cooked tty itself. This module
//! turns those bytes into lines and tells the caller what to echo back. It does no I/O.
//!
//! Keys: printable text (UTF-8, wide characters erased by their display width), Backspace
//! and DEL, Ctrl-U (erase the line), Ctrl-W (erase a word), Ctrl-C (drop the line:
//! [`LineEvent::Cancel`]), Ctrl-D on an empty line ([`LineEvent::Eof`]), CR, LF or CRLF
//! (Enter). Escape sequences (arrows, function keys, mouse reports, OSC strings) are consumed
//! whole and never echoed. Bracketed paste (`ESC [200~ … ESC [201~`) inserts the pasted text
//! literally: keys inside it are not acted on, line breaks inside it become spaces and a
//! trailing one is dropped, so pasting `10.0.0.5⏎` does not submit and a pasted password is
//! not cut at its newline. The terminal only brackets pastes after [`ENABLE_BRACKETED_PASTE`].
//!
//! **At most one event per call.** [`LineEditor::feed`] stops after a line, a cancel or an
//! end of input and keeps the rest of the bytes. The caller acts on the event (which may
//! turn echo off for a password prompt) and then calls `feed(&[])` again while
//! [`LineEditor::has_pending`] says so. Processing typed-ahead bytes first would echo a
//! password typed right after a user name.

use unicode_width::UnicodeWidthChar;

/// Sent to the terminal to ask for bracketed pastes (the menu sends it when it starts).
pub const ENABLE_BRACKETED_PASTE: &[u8] = b"\x1b[?2004h";
/// Sent before handing the terminal to an asset session, which sets its own modes.
pub const DISABLE_BRACKETED_PASTE: &[u8] = b"\x1b[?2004l";

/// The longest line kept, in characters: prompts take names, ids and passwords, and a
/// bound keeps a runaway paste from growing memory. Extra characters ring the bell.
pub const MAX_LINE_CHARS: usize = 4096;

/// The most unprocessed input kept between events; beyond it input is dropped.
const MAX_PENDING: usize = 64 * 1024;

/// The longest escape sequence followed before it is abandoned (an OSC title, say).
const MAX_ESCAPE: usize = 256;

/// What a run of input produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEvent {
    /// Enter: the line typed (without the line break).
    Line(String),
    /// Ctrl-C: the line was dropped.
    Cancel,
    /// Ctrl-D on an empty line: the user wants to leave.
    Eof,
}

/// Where the escape-sequence parser is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Esc {
    /// Ordinary input.
    Ground,
    /// After ESC.
    Escape,
    /// Inside `ESC [`: parameter and intermediate bytes collected for the paste markers.
    Csi(Vec<u8>),
    /// After `ESC O`: one more byte.
    Ss3,
    /// Inside an OSC/DCS/PM/APC string, until BEL or `ESC \`; the flag is "just saw ESC".
    Str(bool),
}

/// The line editor. One per pty channel.
#[derive(Debug, Clone)]
pub struct LineEditor {
    line: String,
    echo: bool,
    esc: Esc,
    /// Bytes of the escape sequence being skipped, to bound it.
    esc_len: usize,
    /// An incomplete UTF-8 character.
    utf8: Vec<u8>,
    /// The last byte was CR, so a following LF is the same Enter.
    after_cr: bool,
    /// Inside a bracketed paste.
    pasting: bool,
    /// A line break inside a paste, waiting to become a space if more text follows.
    paste_break: bool,
    /// Input not yet processed because an event ended the previous call.
    pending: Vec<u8>,
}

impl Default for LineEditor {
    fn default() -> Self {
        LineEditor::new()
    }
}

impl LineEditor {
    /// An empty editor with echo on.
    pub fn new() -> LineEditor {
        LineEditor {
            line: String::new(),
            echo: true,
            esc: Esc::Ground,
            esc_len: 0,
            utf8: Vec::new(),
            after_cr: false,
            pasting: false,
            paste_break: false,
            pending: Vec::new(),
        }
    }

    /// Turns echo on or off (off for passwords: nothing typed is shown, Enter still moves to
    /// the next line).
    pub fn set_echo(&mut self, echo: bool) {
        self.echo = echo;
    }

    /// Whether typed text is echoed.
    pub fn echo(&self) -> bool {
        self.echo
    }

    /// The line typed so far.
    pub fn current(&self) -> &str {
        &self.line
    }

    /// Whether input is waiting behind the last event (call `feed(&[])` to go on).
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Forgets the current line and any typed-ahead input, e.g. before an asset session
    /// takes over the terminal.
    pub fn reset(&mut self) {
        let echo = self.echo;
        *self = LineEditor::new();
        self.echo = echo;
    }

    /// Processes `bytes` (after any input kept from the previous call) up to the first
    /// event. Returns the bytes to echo to the terminal and the event, if one happened.
    pub fn feed(&mut self, bytes: &[u8]) -> (Vec<u8>, Option<LineEvent>) {
        let room = MAX_PENDING.saturating_sub(self.pending.len());
        self.pending
            .extend_from_slice(bytes.get(..bytes.len().min(room)).unwrap_or_default());
        let input = std::mem::take(&mut self.pending);
        let mut out = Vec::new();
        for (i, &b) in input.iter().enumerate() {
            if let Some(event) = self.byte(b, &mut out) {
                self.pending = input.get(i + 1..).unwrap_or_default().to_vec();
                return (out, Some(event));
            }
        }
        (out, None)
    }

    /// One byte through the escape parser, then the editor.
    fn byte(&mut self, b: u8, out: &mut Vec<u8>) -> Option<LineEvent> {
        match std::mem::replace(&mut self.esc, Esc::Ground) {
            Esc::Ground => {}
            Esc::Escape => {
                self.esc_len = 1;
                match b {
                    b'[' => self.esc = Esc::Csi(Vec::new()),
                    b'O' => self.esc = Esc::Ss3,
                    b']' | b'P' | b'X' | b'^' | b'_' => self.esc = Esc::Str(false),
                    0x1b => self.esc = Esc::Escape,
                    // A control key after a lone Esc: the Esc was just a key press; act on
                    // the control key.
                    0..0x20 => return self.plain(b, out),
                    // Alt+key or a two-byte sequence: consumed.
                    _ => {}
                }
                return None;
            }
            Esc::Csi(mut params) => {
                self.esc_len += 1;
                match b {
                    0x20..=0x3f if self.esc_len < MAX_ESCAPE => {
                        params.push(b);
                        self.esc = Esc::Csi(params);
                    }
                    0x40..=0x7e => self.csi(&params, b),
                    // A control byte inside a sequence ends it and counts on its own.
                    0..0x20 if b != 0x1b => return self.plain(b, out),
                    0x1b => self.esc = Esc::Escape,
                    _ => {}
                }
                return None;
            }
            Esc::Ss3 => return None,
            Esc::Str(saw_esc) => {
                self.esc_len += 1;
                let done = b == 0x07 || (saw_esc && b == b'\\') || self.esc_len >= MAX_ESCAPE;
                if !done {
                    self.esc = Esc::Str(b == 0x1b);
                }
                return None;
            }
        }
        if b == 0x1b {
            self.utf8.clear();
            self.after_cr = false;
            self.esc = Esc::Escape;
            self.esc_len = 0;
            return None;
        }
        self.plain(b, out)
    }

    /// The end of a CSI sequence: only the paste markers mean anything here.
    fn csi(&mut self, params: &[u8], fin: u8) {
        if fin != b'~' {
            return;
        }
        match params {
            b"200" => {
                self.pasting = true;
                self.paste_break = false;
            }
            b"201" => {
                self.pasting = false;
                self.paste_break = false;
            }
            _ => {}
        }
    }

    /// A byte outside escape sequences.
    fn plain(&mut self, b: u8, out: &mut Vec<u8>) -> Option<LineEvent> {
        let after_cr = std::mem::replace(&mut self.after_cr, false);
        if b >= 0x80 {
            return self.utf8_byte(b, out);
        }
        // An ASCII byte ends any incomplete UTF-8 character (which is dropped).
        self.utf8.clear();
        if self.pasting {
            match b {
                b'\r' | b'\n' => {
                    if !(b == b'\n' && after_cr) {
                        self.paste_break = !self.line.is_empty();
                    }
                    self.after_cr = b == b'\r';
                }
                b'\t' => self.insert(' ', out),
                0x20..0x7f => self.insert(char::from(b), out),
                _ => {}
            }
            return None;
        }
        match b {
            b'\r' => {
                self.after_cr = true;
                Some(self.enter(out))
            }
            b'\n' if after_cr => None,
            b'\n' => Some(self.enter(out)),
            0x08 | 0x7f => {
                if let Some(c) = self.line.pop() {
                    self.erase(&[c], out);
                }
                None
            }
            0x15 => {
                let gone: Vec<char> = self.line.chars().collect();
                self.line.clear();
                self.erase(&gone, out);
                None
            }
            0x17 => {
                let mut gone = Vec::new();
                while let Some(c) = self.line.pop() {
                    if !c.is_whitespace() {
                        self.line.push(c);
                        break;
                    }
                    gone.push(c);
                }
                while let Some(c) = self.line.pop() {
                    if c.is_whitespace() {
                        self.line.push(c);
                        break;
                    }
                    gone.push(c);
                }
                self.erase(&gone, out);
                None
            }
            0x03 => {
                self.line.clear();
                out.extend_from_slice(b"^C\r\n");
                Some(LineEvent::Cancel)
            }
            0x04 if self.line.is_empty() => Some(LineEvent::Eof),
            0x20..0x7f => {
                self.insert(char::from(b), out);
                None
            }
            // Tab, Ctrl-D on a non-empty line and the other control keys do nothing.
            _ => None,
        }
    }

    /// A byte of a multi-byte UTF-8 character.
    fn utf8_byte(&mut self, b: u8, out: &mut Vec<u8>) -> Option<LineEvent> {
        let lead = b & 0xc0 != 0x80;
        if lead {
            self.utf8.clear();
        } else if self.utf8.is_empty() {
            return None; // a stray continuation byte
        }
        self.utf8.push(b);
        let want = match self.utf8.first().copied().unwrap_or(0) {
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => {
                self.utf8.clear(); // not a valid lead byte
                return None;
            }
        };
        if self.utf8.len() < want {
            return None;
        }
        let decoded = std::str::from_utf8(&self.utf8)
            .ok()
            .and_then(|s| s.chars().next());
        self.utf8.clear();
        if let Some(c) = decoded {
            self.insert(c, out);
        }
        None
    }

    /// Adds a character to the line (after a pending pasted line break, as a space).
    fn insert(&mut self, c: char, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.paste_break) {
            self.insert(' ', out);
        }
        if self.line.chars().count() >= MAX_LINE_CHARS || c.is_control() {
            out.push(0x07);
            return;
        }
        self.line.push(c);
        if self.echo {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }

    /// Erases characters from the screen: one backspace-space-backspace per column.
    fn erase(&self, gone: &[char], out: &mut Vec<u8>) {
        if !self.echo {
            return;
        }
        let columns: usize = gone.iter().map(|c| c.width().unwrap_or(0)).sum();
        for _ in 0..columns {
            out.extend_from_slice(b"\x08 \x08");
        }
    }

    /// Enter: hands over the line and moves the cursor to the next line.
    fn enter(&mut self, out: &mut Vec<u8>) -> LineEvent {
        self.paste_break = false;
        out.extend_from_slice(b"\r\n");
        LineEvent::Line(std::mem::take(&mut self.line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds everything, draining pending input; returns all echo and all events.
    fn run(ed: &mut LineEditor, bytes: &[u8]) -> (Vec<u8>, Vec<LineEvent>) {
        let (mut echo, ev) = ed.feed(bytes);
        let mut events: Vec<LineEvent> = ev.into_iter().collect();
        while ed.has_pending() {
            let (e, ev) = ed.feed(&[]);
            echo.extend(e);
            events.extend(ev);
        }
        (echo, events)
    }

    fn line(s: &str) -> LineEvent {
        LineEvent::Line(s.into())
    }

    #[test]
    fn typing_echoes_and_enter_submits() {
        let mut ed = LineEditor::new();
        let (echo, ev) = ed.feed(b"abc");
        assert_eq!(echo, b"abc");
        assert_eq!(ev, None);
        assert_eq!(ed.current(), "abc");
        let (echo, ev) = ed.feed(b"\r");
        assert_eq!(echo, b"\r\n");
        assert_eq!(ev, Some(line("abc")));
        assert_eq!(ed.current(), "");
    }

    #[test]
    fn cr_lf_and_crlf_are_one_enter_each() {
        let mut ed = LineEditor::new();
        let (_, ev) = run(&mut ed, b"a\r\nb\nc\rd\n\n");
        assert_eq!(
            ev,
            vec![line("a"), line("b"), line("c"), line("d"), line("")]
        );
        // CRLF split across two calls is still one Enter.
        let mut ed = LineEditor::new();
        assert_eq!(ed.feed(b"x\r").1, Some(line("x")));
        assert_eq!(ed.feed(b"\n"), (vec![], None));
        assert_eq!(ed.feed(b"\r").1, Some(line("")));
    }

    #[test]
    fn one_event_per_call_keeps_the_rest() {
        let mut ed = LineEditor::new();
        let (echo, ev) = ed.feed(b"alice\rs3cret\r");
        assert_eq!(echo, b"alice\r\n");
        assert_eq!(ev, Some(line("alice")));
        assert!(ed.has_pending());
        // The caller turns echo off for the password before going on: nothing leaks.
        ed.set_echo(false);
        let (echo, ev) = ed.feed(&[]);
        assert_eq!(echo, b"\r\n");
        assert_eq!(ev, Some(line("s3cret")));
        assert!(!ed.has_pending());
    }

    #[test]
    fn backspace_and_del_are_utf8_and_width_aware() {
        let mut ed = LineEditor::new();
        let (echo, _) = run(&mut ed, "ab中".as_bytes());
        assert_eq!(echo, "ab中".as_bytes());
        // A wide character takes two columns to erase.
        let (echo, _) = run(&mut ed, b"\x7f");
        assert_eq!(echo, b"\x08 \x08\x08 \x08");
        assert_eq!(ed.current(), "ab");
        let (echo, _) = run(&mut ed, b"\x08");
        assert_eq!(echo, b"\x08 \x08");
        assert_eq!(ed.current(), "a");
        run(&mut ed, b"\x7f");
        // Backspace on an empty line does nothing.
        assert_eq!(run(&mut ed, b"\x7f"), (vec![], vec![]));
        let (_, ev) = run(&mut ed, "é\r".as_bytes());
        assert_eq!(ev, vec![line("é")]);
    }

    #[test]
    fn utf8_split_across_calls_and_invalid_bytes() {
        let mut ed = LineEditor::new();
        let bytes = "日".as_bytes();
        assert_eq!(ed.feed(&bytes[..1]).0, b"");
        assert_eq!(ed.feed(&bytes[1..2]).0, b"");
        assert_eq!(ed.feed(&bytes[2..]).0, bytes);
        // Stray continuation, bad lead, truncated sequence followed by ASCII: all dropped.
        let (_, ev) = run(&mut ed, b"\x80\xff\xe4\xb8x\r");
        assert_eq!(ev, vec![line("日x")]);
        let (_, ev) = run(&mut ed, "😀\r".as_bytes());
        assert_eq!(ev, vec![line("😀")]);
    }

    #[test]
    fn ctrl_u_and_ctrl_w() {
        let mut ed = LineEditor::new();
        run(&mut ed, b"ab cd");
        let (echo, _) = run(&mut ed, b"\x15");
        assert_eq!(echo, b"\x08 \x08".repeat(5));
        assert_eq!(ed.current(), "");
        run(&mut ed, b"one two  ");
        let (echo, _) = run(&mut ed, b"\x17");
        assert_eq!(echo, b"\x08 \x08".repeat(5));
        assert_eq!(ed.current(), "one ");
        run(&mut ed, b"\x17");
        assert_eq!(ed.current(), "");
        run(&mut ed, b"\x17");
        assert_eq!(ed.current(), "");
    }

    #[test]
    fn ctrl_c_cancels_and_ctrl_d_quits_on_empty_line() {
        let mut ed = LineEditor::new();
        let (echo, ev) = run(&mut ed, b"abc\x03");
        assert_eq!(echo, b"abc^C\r\n");
        assert_eq!(ev, vec![LineEvent::Cancel]);
        assert_eq!(ed.current(), "");
        // Ctrl-D with text is ignored.
        let (_, ev) = run(&mut ed, b"x\x04");
        assert!(ev.is_empty());
        run(&mut ed, b"\x7f");
        let (echo, ev) = run(&mut ed, b"\x04");
        assert_eq!(echo, b"");
        assert_eq!(ev, vec![LineEvent::Eof]);
    }

    #[test]
    fn escape_sequences_are_swallowed() {
        let mut ed = LineEditor::new();
        // Arrows (CSI and SS3), Delete, F5, a mouse report, an OSC string, Alt+x.
        let input = b"a\x1b[A\x1b[1;5D\x1bOB\x1b[3~\x1b[15~\x1b[<0;12;4M\x1b]0;title\x07\x1bxb\r";
        let (echo, ev) = run(&mut ed, input);
        assert_eq!(echo, b"ab\r\n");
        assert_eq!(ev, vec![line("ab")]);
        // A sequence split across calls.
        assert_eq!(ed.feed(b"\x1b").0, b"");
        assert_eq!(ed.feed(b"[").0, b"");
        assert_eq!(ed.feed(b"C").0, b"");
        assert_eq!(ed.feed(b"z").0, b"z");
        // OSC ended by ST.
        run(&mut ed, b"\x1b]2;x\x1b\\");
        run(&mut ed, b"q");
        assert_eq!(ed.current(), "zq");
        // Esc then Enter: the Enter still counts.
        let (_, ev) = run(&mut ed, b"\x1b\r");
        assert_eq!(ev, vec![line("zq")]);
        // A control byte inside a CSI ends it and acts.
        let (_, ev) = run(&mut ed, b"k\x1b[1\r");
        assert_eq!(ev, vec![line("k")]);
        // A runaway OSC is abandoned after a bound.
        let mut long = b"\x1b]".to_vec();
        long.extend(std::iter::repeat_n(b'x', MAX_ESCAPE + 10));
        let (echo, _) = run(&mut ed, &long);
        assert!(echo.len() < 20, "{}", echo.len());
    }

    #[test]
    fn bracketed_paste_is_literal() {
        let mut ed = LineEditor::new();
        // A trailing newline does not submit; control keys inside are inert.
        let (echo, ev) = run(&mut ed, b"\x1b[200~10.0.0.5\r\n\x1b[201~");
        assert_eq!(echo, b"10.0.0.5");
        assert!(ev.is_empty());
        let (_, ev) = run(&mut ed, b"\r");
        assert_eq!(ev, vec![line("10.0.0.5")]);
        // Interior line breaks become one space each; Ctrl-C in a paste does nothing.
        let (_, ev) = run(&mut ed, b"\x1b[200~a\r\nb\x03\nc\x1b[201~\r");
        assert_eq!(ev, vec![line("a b c")]);
        // Typing resumes normally after the paste.
        let (_, ev) = run(&mut ed, b"\x1b[200~x\x1b[201~y\x7f\r");
        assert_eq!(ev, vec![line("x")]);
        // A pasted password keeps its characters and drops the newline.
        ed.set_echo(false);
        let (echo, ev) = run(&mut ed, b"\x1b[200~p@ss w\xc3\xb6rd\n\x1b[201~\r");
        assert_eq!(echo, b"\r\n");
        assert_eq!(ev, vec![line("p@ss wörd")]);
    }

    #[test]
    fn no_echo_mode() {
        let mut ed = LineEditor::new();
        ed.set_echo(false);
        assert!(!ed.echo());
        let (echo, ev) = run(&mut ed, b"secret\x7f\x15pw\r");
        assert_eq!(echo, b"\r\n");
        assert_eq!(ev, vec![line("pw")]);
        ed.set_echo(true);
        assert_eq!(run(&mut ed, b"x").0, b"x");
    }

    #[test]
    fn limits() {
        let mut ed = LineEditor::new();
        let big = vec![b'a'; MAX_LINE_CHARS + 3];
        let (echo, _) = run(&mut ed, &big);
        assert_eq!(ed.current().len(), MAX_LINE_CHARS);
        assert_eq!(echo.iter().filter(|b| **b == 0x07).count(), 3);
        // Pending input is bounded.
        let mut ed = LineEditor::new();
        let mut flood = b"\r".to_vec();
        flood.extend(vec![b'b'; MAX_PENDING * 2]);
        ed.feed(&flood);
        assert!(ed.pending.len() <= MAX_PENDING);
        ed.reset();
        assert!(!ed.has_pending());
        assert_eq!(ed.current(), "");
    }
}
