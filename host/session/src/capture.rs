//! Command capture: which command did the user run, decided from the screen.
//!
//! Command filtering and the command log need the command line the shell is about to execute.
//! Reconstructing it from keystrokes is hopeless: line editing, cursor movement, history recall,
//! tab completion, paste and quoting tricks all make the keys differ from the line. So the
//! gateway keeps its own terminal emulator ([`vt100`]) fed with everything the target prints,
//! sized like the client's pty, and reads the line off the emulated screen when the user presses
//! Enter, the way an auditor looking over the user's shoulder would.
//!
//! # How it works
//!
//! - [`CommandCapture::feed_output`] runs the target's output through the emulator.
//! - [`CommandCapture::feed_input`] is called with each user input chunk that is not the Enter
//!   itself. The first one of a new line records where the cursor is: right after the prompt.
//!   That anchor is kept as an absolute row (screen row plus the number of rows that have scrolled
//!   off the top since), with the prompt text left of it, so a command that wraps past the bottom
//!   row and scrolls the screen is still found; rows of the command that scroll off the top are
//!   kept as text.
//! - [`CommandCapture::line_at_enter`] (called before the Enter is forwarded, once the echo of the
//!   preceding input has arrived) reads from the anchor to the end of the logical line, following
//!   the emulator's soft-wrap flags across rows, and trims trailing blanks. When the line was
//!   redrawn somewhere else (a completion listing, Ctrl-L, a window resize), it looks for the
//!   recorded prompt at the start of the logical line holding the cursor instead. readline's
//!   incremental-search prompt (`(reverse-i-search)`…`': `) is stripped.
//! - Nothing is returned when nothing was typed, when the line on screen is empty (input that was
//!   not echoed, such as a password, never becomes a "command"), or when a full-screen program
//!   holds the alternate screen (an editor, pager or `top`: its keystrokes are not commands).
//! - [`CommandCapture::begin_output`] / [`CommandCapture::take_output`] collect up to
//!   [`OUTPUT_EXCERPT_BYTES`] of the accepted command's output as plain text (escape sequences
//!   and alternate-screen drawing stripped) for the command log, ending when the user starts the
//!   next line, with the next prompt removed.
//!
//! The captured line is the command *as displayed*: `r""m -rf /` comes back verbatim.
//! Normalising shell quoting is the job of `acl::shell::normalize_command_line` in the core.
//!
//! # What this cannot see
//!
//! The screen shows a line being edited, not what the shell will execute. In particular:
//!
//! - **Multi-line constructs.** Each Enter is judged on its own: a backslash continuation
//!   (`r\` then `m -rf /`), a heredoc body, an open quote or `for` loop continued on `PS2` lines,
//!   or a bracketed paste containing newlines are seen line by line, never as the whole command.
//! - **Commands that never appear on the shell line.** Aliases, functions, `PROMPT_COMMAND`,
//!   traps, scripts and `eval`/variable expansion run things the line does not show; readline key
//!   bindings (`bind -x`) run commands without an Enter; `edit-and-execute-command` (Ctrl-X
//!   Ctrl-E, `v` in vi mode) and `fc` run what was typed inside an editor, which is on the
//!   alternate screen and therefore not captured; commands typed inside any full-screen program
//!   (vim's `:!`, a pager's `!`) are likewise not seen.
//! - **Programs that draw the line themselves.** Shells or REPLs that redraw the whole screen,
//!   right-side prompts (zsh `RPROMPT`, which then appears at the end of the captured line),
//!   autosuggestion text drawn after the cursor, or a target that echoes control characters raw
//!   (a non-readline reader with `stty -echoctl`) can make the screen differ from the line the
//!   program receives. A hostile target can always draw whatever it likes: the capture is as
//!   trustworthy as the target's echo.
//! - **Type-ahead.** Input typed before the prompt is printed anchors at wherever output left
//!   the cursor, so the captured line may include the prompt text (over-capture, not loss).
//! - **Prompts from programs.** Any echoed line ended by Enter is reported, including answers to
//!   a program's own questions (`Continue? [Y/n] y` gives `y`); input with echo off gives
//!   nothing.
//! - **Scroll regions.** Rows scrolled inside a restricted scroll region are not counted; the
//!   prompt search then falls back to the logical line holding the cursor.
//!
//! When the anchor and the prompt cannot be found again, the whole logical line holding the
//! cursor is returned: the capture errs towards showing more, never towards a silent `None` for
//! text that is on the screen.

use crate::screen::MAX_ROWS;
use std::num::NonZeroU16;

/// Most plain-text bytes of a command's output kept for the command log.
pub const OUTPUT_EXCERPT_BYTES: usize = 1024;

/// Most bytes kept of command-line rows that scrolled off the top of the screen (a command longer
/// than the whole screen); more is cut.
const SPILL_LIMIT: usize = 64 * 1024;

/// Longest CSI parameter string the output stripper keeps (enough for `?1049`).
const CSI_PARAMS_LIMIT: usize = 16;

/// Where the current command line starts.
#[derive(Debug, Clone)]
struct Anchor {
    /// Screen row at the time plus the rows scrolled off before it (see [`Tracker::scrolled`]).
    abs_row: u64,
    col: u16,
    /// The screen text left of the anchor on its row: the prompt's last row.
    prompt: String,
}

/// Rows of the current command line that scrolled off the top of the screen.
#[derive(Debug, Default)]
struct Spill {
    from_abs: u64,
    rows: Vec<String>,
    bytes: usize,
}

/// Emulator callbacks: counts primary-screen rows leaving the top, and keeps the text of those
/// that belong to the command line being typed.
#[derive(Debug, Default)]
struct Tracker {
    scrolled: u64,
    spill: Option<Spill>,
    /// Rows of the primary screen that went off the top since the history was last erased
    /// (`CSI 3 J`, `ESC c`), less those a taller screen pulled back in: what the emulator counts
    /// to decide whether a taller screen adds rows at the top or at the bottom. Kept across a rest
    /// (capped at [`MAX_ROWS`], all a resize can pull back at once) and replayed on waking.
    history: u64,
}

impl vt100::Callbacks for Tracker {
    fn on_scroll(&mut self, contents: vt100::capture::RowContents<'_>, alternate_screen: bool) {
        if alternate_screen {
            return;
        }
        self.history = self.history.saturating_add(1);
        let abs = self.scrolled;
        self.scrolled = self.scrolled.saturating_add(1);
        let Some(spill) = self.spill.as_mut() else {
            return;
        };
        if abs < spill.from_abs || spill.bytes >= SPILL_LIMIT {
            return;
        }
        let mut formatted = String::new();
        let mut state = vt100::capture::BasicFormattedCaptureState::new();
        if contents
            .write_formatted_basic(&mut formatted, &mut state)
            .is_err()
        {
            return;
        }
        let plain: String = vt100::capture::basic_formatted_to_plain(&formatted).collect();
        spill.bytes += plain.len();
        spill.rows.push(plain);
    }
}

/// Strips escape sequences from the output stream for the command log excerpt.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum StripState {
    #[default]
    Ground,
    Esc,
    EscIntermediate,
    Csi,
    /// OSC, DCS, SOS, PM, APC: skipped up to BEL or ST.
    Str,
    StrEsc,
}

/// Where the emulator's parser ([`vte`]) is in the byte stream, followed alongside it: a rest
/// only happens between sequences (a fresh parser starts there), and the two sequences that
/// erase the emulator's count of rows scrolled off ([`Tracker::history`]) are spotted.
///
/// It follows vte's state machine closely enough that "between sequences" here means vte is
/// too; where it is unsure it says "inside" (a rest is then put off to the next quiet moment).
#[derive(Debug, Default, Clone, Copy)]
struct Seq {
    state: SeqState,
    /// Continuation bytes of a UTF-8 character still to come.
    utf8: u8,
    /// The first CSI parameter, and whether it is complete.
    first: u16,
    first_done: bool,
    /// The CSI has intermediates or a prefix other than a leading `?`: not an erase.
    other: bool,
    /// Some parameter byte was seen.
    params: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum SeqState {
    #[default]
    Ground,
    Esc,
    EscIntermediate,
    Csi,
    /// DCS, SOS, PM, APC: up to CAN, SUB or ESC.
    Str,
    /// OSC: up to BEL, CAN, SUB or ESC.
    Osc,
}

impl Seq {
    /// Between sequences and characters: what a fresh parser assumes.
    fn at_ground(&self) -> bool {
        self.state == SeqState::Ground && self.utf8 == 0
    }

    /// Follows one byte; true when it ends `CSI 3 J`, `CSI ? 3 J` or `ESC c`.
    fn step(&mut self, b: u8) -> bool {
        use SeqState::*;
        match (self.state, b) {
            (Ground, 0x1b) => {
                self.utf8 = 0;
                self.state = Esc;
            }
            (Ground, _) => {
                self.utf8 = match b {
                    0x80..=0xbf => self.utf8.saturating_sub(1),
                    0xc0..=0xdf => 1,
                    0xe0..=0xef => 2,
                    0xf0..=0xf7 => 3,
                    _ => 0,
                };
            }
            (_, 0x18 | 0x1a) => self.state = Ground,
            (_, 0x1b) => self.state = Esc,
            (Esc, 0x20..=0x2f) => self.state = EscIntermediate,
            (Esc, b'P' | b'X' | b'^' | b'_') => self.state = Str,
            (Esc, b']') => self.state = Osc,
            (Esc, b'[') => {
                *self = Seq {
                    state: Csi,
                    ..Seq::default()
                };
            }
            (Esc, 0x30..=0x7e) => {
                self.state = Ground;
                return b == b'c';
            }
            (EscIntermediate, 0x30..=0x7e) => self.state = Ground,
            (Csi, b'0'..=b'9') => {
                self.params = true;
                if !self.first_done {
                    self.first = self
                        .first
                        .saturating_mul(10)
                        .saturating_add(u16::from(b - b'0'));
                }
            }
            (Csi, b':' | b';') => {
                self.params = true;
                self.first_done = true;
            }
            (Csi, 0x3c..=0x3f) => {
                if self.params || b != b'?' {
                    self.other = true;
                }
                self.params = true;
            }
            (Csi, 0x20..=0x2f) => self.other = true,
            (Csi, 0x40..=0x7e) => {
                self.state = Ground;
                return b == b'J' && self.first == 3 && !self.other;
            }
            (Osc, 0x07) => self.state = Ground,
            _ => {}
        }
        false
    }
}

/// The command output excerpt being collected.
#[derive(Debug, Default)]
struct Excerpt {
    /// Between `begin_output` and `take_output`.
    active: bool,
    /// The user started typing the next line: the command's output is over.
    frozen: bool,
    /// The prompt seen when frozen; removed from the end of the excerpt.
    prompt: Option<String>,
    text: Vec<u8>,
    state: StripState,
    params: Vec<u8>,
    /// The output switched to the alternate screen: its drawing is not text.
    alternate: bool,
}

impl Excerpt {
    fn collecting(&self) -> bool {
        self.active && !self.frozen && self.text.len() < OUTPUT_EXCERPT_BYTES
    }

    fn feed(&mut self, data: &[u8]) {
        for &b in data {
            if self.text.len() >= OUTPUT_EXCERPT_BYTES {
                return;
            }
            self.step(b);
        }
    }

    fn step(&mut self, b: u8) {
        match self.state {
            StripState::Ground => match b {
                0x1b => self.state = StripState::Esc,
                b'\n' | b'\t' if !self.alternate => self.text.push(b),
                0x00..=0x1f | 0x7f => {}
                _ if !self.alternate => self.text.push(b),
                _ => {}
            },
            StripState::Esc => match b {
                b'[' => {
                    self.params.clear();
                    self.state = StripState::Csi;
                }
                b']' | b'P' | b'X' | b'^' | b'_' => self.state = StripState::Str,
                0x20..=0x2f => self.state = StripState::EscIntermediate,
                0x1b => {}
                _ => self.state = StripState::Ground,
            },
            StripState::EscIntermediate => match b {
                0x20..=0x2f => {}
                0x1b => self.state = StripState::Esc,
                _ => self.state = StripState::Ground,
            },
            StripState::Csi => match b {
                0x30..=0x3f if self.params.len() < CSI_PARAMS_LIMIT => self.params.push(b),
                0x40..=0x7e => {
                    self.csi_final(b);
                    self.state = StripState::Ground;
                }
                0x1b => self.state = StripState::Esc,
                _ => {}
            },
            StripState::Str => match b {
                0x07 => self.state = StripState::Ground,
                0x1b => self.state = StripState::StrEsc,
                _ => {}
            },
            StripState::StrEsc => {
                if b == b'\\' {
                    self.state = StripState::Ground;
                } else {
                    self.state = StripState::Esc;
                    self.step(b);
                }
            }
        }
    }

    /// Tracks alternate-screen switches (`CSI ? 47/1047/1049 h|l`).
    fn csi_final(&mut self, b: u8) {
        let Some(modes) = self.params.strip_prefix(b"?") else {
            return;
        };
        let switches = modes
            .split(|&c| c == b';')
            .any(|m| matches!(m, b"47" | b"1047" | b"1049"));
        if switches {
            match b {
                b'h' => self.alternate = true,
                b'l' => self.alternate = false,
                _ => {}
            }
        }
    }

    /// The excerpt as text: whole characters only, the echoed Enter and the next prompt removed.
    fn take(&mut self) -> String {
        let bytes = std::mem::take(&mut self.text);
        let mut text = String::with_capacity(bytes.len());
        let mut chunks = bytes.utf8_chunks().peekable();
        while let Some(chunk) = chunks.next() {
            text.push_str(chunk.valid());
            // A sequence cut by the size limit is dropped; other invalid bytes are marked.
            if !chunk.invalid().is_empty() && chunks.peek().is_some() {
                text.push(char::REPLACEMENT_CHARACTER);
            }
        }
        let mut text = text.strip_prefix('\n').map(str::to_owned).unwrap_or(text);
        if let Some(prompt) = self.prompt.take() {
            let prompt = prompt.trim_end();
            let trimmed = text.trim_end();
            if !prompt.is_empty() && trimmed.ends_with(prompt) {
                let keep = trimmed.len() - prompt.len();
                text.truncate(keep);
            }
        }
        let len = text.trim_end().len();
        text.truncate(len);
        *self = Excerpt::default();
        text
    }
}

/// Reads command lines off an emulated copy of the user's terminal.
///
/// One per interactive session, owned by the pump. Not thread-safe by design (`&mut self`): the
/// pump serialises output, input and Enter handling for a session, which is also what makes the
/// "state of the screen when Enter was pressed" well defined.
pub struct CommandCapture {
    term: Term,
    anchor: Option<Anchor>,
    excerpt: Excerpt,
    seq: Seq,
}

/// The emulator, or the screen it showed while the session rests.
///
/// An emulated 80×24 screen is about 60 KiB of cells, most of the memory of an idle session;
/// the same screen as the escape sequences that redraw it ([`vt100::Screen::state_formatted`])
/// is usually a few hundred bytes. A session whose terminal has been quiet for a moment
/// ([`CommandCapture::rest`]) keeps only that, and the emulator is rebuilt from it on the next
/// byte in either direction.
///
/// The redraw carries every cell's text and attributes, soft wraps, the cursor, the drawing
/// attributes and the modes the emulator knows (cursor visibility, keypad and cursor keys,
/// bracketed paste, mouse, cursor style). The rest of what decides where later bytes land is
/// read off the emulator before it goes ([`Unsaid`]) and replayed around the redraw: the scroll
/// region (`CSI r`), origin mode (`CSI ? 6 h`), the saved cursor (`ESC 7`: position, origin
/// mode, attributes) and how many rows have scrolled off the top ([`Tracker::history`]). A rest
/// never falls inside an escape sequence or a UTF-8 character ([`Seq`]). So the same bytes
/// give the same screen whether or not the session rested in between, except for:
///
/// - the character `CSI b` (REP) repeats: after a rest it is the redraw's last one (programs
///   send REP right after the character, never a pause later);
/// - the cursor outside the scroll region while origin mode is on (only reachable by `ESC 8`
///   restoring a cursor saved under another region): it comes back inside the region;
/// - more than [`MAX_ROWS`] rows pulled back in by growing the screen before the next output;
/// - what a full-screen program left on the alternate screen, seen again only if a later one
///   switches with `CSI ? 47 h` (which does not clear it; `?1049h` does): it is blank. Command
///   lines are never read there.
///
/// Insert mode, autowrap off and character sets are not emulated at all, so they cannot be
/// lost either. Full-screen programs never rest (the alternate screen is not redrawn from this).
enum Term {
    Awake(Box<vt100::Parser<Tracker>>),
    Resting {
        /// The redraw of the screen (see [`CommandCapture::screen_state`]).
        state: Box<[u8]>,
        /// What the redraw does not carry.
        unsaid: Unsaid,
        cols: u16,
        rows: u16,
        tracker: Tracker,
    },
}

/// The state a resting emulator keeps besides the redraw of its screen (see [`Term`]), as
/// escape sequences: empty (no allocation) for a terminal that never set them.
#[derive(Debug, Default)]
struct Unsaid {
    /// Replayed before the redraw: sets the saved cursor.
    before: Box<[u8]>,
    /// Replayed after it: the scroll region and origin mode, and the cursor again (both move it).
    after: Box<[u8]>,
}

impl Unsaid {
    /// Reads what the redraw does not carry off an emulator on the primary screen, between
    /// sequences. The reads move the cursor, scroll rows and change modes: the emulator must be
    /// dropped after (its callbacks should be a throwaway tracker).
    fn read(parser: &mut vt100::Parser<Tracker>) -> Unsaid {
        use std::io::Write as _;
        let screen = parser.screen();
        let (rows, cols) = (screen.size().0.get(), screen.size().1.get());
        let (row, col) = screen.cursor_position();
        let attrs = screen.attributes_formatted();
        // A cursor waiting past the last column (the next character wraps) is put back there by
        // drawing the row's last character again.
        let pending = (col >= cols).then(|| last_cell(screen, row, cols));
        let mut row_after = |bytes: &[u8]| {
            parser.process(bytes);
            parser.screen().cursor_position().0
        };

        // Origin mode makes `CSI H` go to the region's top and a far `CSI H` stop at its bottom.
        let home = row_after(b"\x1b[H");
        let far = row_after(b"\x1b[32767H");
        let full = (0, rows - 1);
        let (top, bottom, origin) = if (home, far) != full {
            (home, far, true)
        } else {
            // Origin mode is off, or on with the whole screen as region: `CSI H` is absolute
            // either way. A line feed stays put only on the region's bottom row (or the
            // screen's), a reverse index only on its top row (or the screen's).
            let bottom = (0..rows)
                .find(|&r| row_after(format!("\x1b[{}H\n", r + 1).as_bytes()) == r)
                .unwrap_or(rows - 1);
            let top = (1..rows)
                .rev()
                .find(|&r| row_after(format!("\x1b[{}H\x1bM", r + 1).as_bytes()) == r)
                .unwrap_or(0);
            // Whole-screen region: origin mode shows once the region starts lower.
            let origin = (top, bottom) == full && rows >= 3 && row_after(b"\x1b[2r\x1b[H") == 1;
            (top, bottom, origin)
        };

        // The saved cursor, restored under a region starting on row 1 so its origin mode shows.
        if rows >= 3 {
            row_after(b"\x1b[2r");
        }
        parser.process(b"\x1b8");
        let (saved_row, saved_col) = parser.screen().cursor_position();
        let saved_attrs = parser.screen().attributes_formatted();
        let saved_origin = rows >= 3 && {
            parser.process(b"\x1b[H");
            parser.screen().cursor_position().0 == 1
        };

        let mut before = Vec::new();
        if (saved_row, saved_col, saved_origin) != (0, 0, false) || saved_attrs != "\x1b[m" {
            // On a fresh emulator (whole-screen region): position, attributes, then `ESC 7`.
            if saved_origin {
                before.extend_from_slice(b"\x1b[?6h");
            }
            let _ = write!(
                before,
                "\x1b[{};{}H",
                saved_row + 1,
                saved_col.min(cols - 1) + 1
            );
            if saved_col >= cols {
                before.push(b' ');
            }
            before.extend_from_slice(saved_attrs.as_bytes());
            before.extend_from_slice(b"\x1b7");
            if saved_origin {
                before.extend_from_slice(b"\x1b[?6l");
            }
        }
        let mut after = Vec::new();
        if (top, bottom) != full || origin {
            if (top, bottom) != full {
                let _ = write!(after, "\x1b[{};{}r", top + 1, bottom + 1);
            }
            if origin {
                after.extend_from_slice(b"\x1b[?6h");
            }
            // Cursor addressing is relative to the region in origin mode.
            let row = if origin { row.saturating_sub(top) } else { row };
            match pending {
                None => {
                    let _ = write!(after, "\x1b[{};{}H", row + 1, col + 1);
                }
                Some((width, cell)) => {
                    let _ = write!(after, "\x1b[{};{}H\x1b[m", row + 1, cols - width + 1);
                    after.extend_from_slice(cell.as_bytes());
                    after.extend_from_slice(attrs.as_bytes());
                }
            }
        }
        Unsaid {
            before: before.into_boxed_slice(),
            after: after.into_boxed_slice(),
        }
    }
}

/// The last character of `row` (and its width) drawn with its attributes, or a blank.
fn last_cell(screen: &vt100::Screen, row: u16, cols: u16) -> (u16, String) {
    let width = match screen.cell(row, cols - 1) {
        Some(cell) if cell.is_wide_continuation() && cols >= 2 => 2,
        _ => 1,
    };
    let drawn = screen
        .rows_formatted(cols - width, width)
        .nth(usize::from(row))
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| " ".to_owned());
    (width, drawn)
}

impl std::fmt::Debug for CommandCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandCapture")
            .field("size", &self.size())
            .field("resting", &self.is_resting())
            .field("anchor", &self.anchor)
            .finish_non_exhaustive()
    }
}

fn dim(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap_or(NonZeroU16::MIN)
}

impl CommandCapture {
    /// An emulator the size of the client's pty (zero sizes are taken as 1). No scrollback is
    /// kept: only the visible screen (plus the rows of the line being typed) matter.
    /// It starts resting (a blank screen costs nothing until the first byte arrives).
    pub fn new(cols: u16, rows: u16) -> Self {
        Self {
            term: Term::Resting {
                state: Box::default(),
                unsaid: Unsaid::default(),
                cols: cols.max(1),
                rows: rows.max(1),
                tracker: Tracker::default(),
            },
            anchor: None,
            excerpt: Excerpt::default(),
            seq: Seq::default(),
        }
    }

    /// The emulator, rebuilt from the resting screen if needed.
    fn parser(&mut self) -> &mut vt100::Parser<Tracker> {
        if let Term::Resting {
            state,
            unsaid,
            cols,
            rows,
            tracker,
        } = &mut self.term
        {
            // Redrawing into a throwaway tracker: rows the redraw itself pushes off the top are
            // not scrolled output.
            let mut parser =
                vt100::Parser::new_with_callbacks(dim(*rows), dim(*cols), 0, Tracker::default());
            // The rows that had gone off the top, so a taller screen pulls the same rows in.
            tracker.history = tracker.history.min(u64::from(MAX_ROWS));
            if tracker.history > 0 {
                parser.process(format!("\x1b[{rows}H").as_bytes());
                for _ in 0..tracker.history {
                    parser.process(b"\n");
                }
            }
            parser.process(&unsaid.before);
            parser.process(state);
            parser.process(&unsaid.after);
            *parser.callbacks_mut() = std::mem::take(tracker);
            self.term = Term::Awake(Box::new(parser));
        }
        match &mut self.term {
            Term::Awake(parser) => parser,
            Term::Resting { .. } => unreachable!("woken above"),
        }
    }

    /// The emulated screen when awake.
    fn screen(&self) -> Option<&vt100::Screen> {
        match &self.term {
            Term::Awake(parser) => Some(parser.screen()),
            Term::Resting { .. } => None,
        }
    }

    /// Lets the emulator go and keeps the screen as its redraw (see [`Term`]), unless a
    /// full-screen program holds the alternate screen. Called when the session has been quiet
    /// for a moment; the next byte in either direction rebuilds it.
    pub fn rest(&mut self) {
        let Term::Awake(parser) = &mut self.term else {
            return;
        };
        let screen = parser.screen();
        // Inside an escape sequence or character, a fresh parser would read the rest wrongly.
        if screen.alternate_screen() || !self.seq.at_ground() {
            return;
        }
        let (rows, cols) = screen.size();
        let state = screen.state_formatted().into_bytes().into_boxed_slice();
        let tracker = std::mem::take(parser.callbacks_mut());
        let unsaid = Unsaid::read(parser);
        self.term = Term::Resting {
            state,
            unsaid,
            cols: cols.get(),
            rows: rows.get(),
            tracker,
        };
    }

    /// Whether the emulator is let go (see [`CommandCapture::rest`]).
    pub fn is_resting(&self) -> bool {
        matches!(self.term, Term::Resting { .. })
    }

    /// Follows a window change, so wrapping matches what the user's terminal does. The rows a
    /// taller screen pulls in at the top shift the anchor down; the shell's redraw after
    /// SIGWINCH is then found through the prompt search if the anchor no longer fits.
    pub fn resize(&mut self, cols: u16, rows: u16) {
        let alternate = self.in_alternate_screen();
        let parser = self.parser();
        let before = parser.screen().cursor_position().0;
        // A taller primary screen takes its new top rows from those that went off the top.
        let taller = rows.saturating_sub(parser.screen().size().0.get());
        let tracker = parser.callbacks_mut();
        tracker.history = tracker.history.saturating_sub(u64::from(taller));
        parser.set_size(dim(rows), dim(cols));
        let after = parser.screen().cursor_position().0;
        if alternate {
            // The primary screen's shift is not observable from here.
            parser.callbacks_mut().spill = None;
            self.anchor = None;
        } else if after > before {
            let tracker = parser.callbacks_mut();
            tracker.scrolled = tracker.scrolled.saturating_sub(u64::from(after - before));
        }
    }

    /// Every byte the target sends to the user, in order.
    pub fn feed_output(&mut self, data: &[u8]) {
        let mut seq = self.seq;
        let parser = self.parser();
        let mut from = 0;
        for (i, &b) in data.iter().enumerate() {
            if seq.step(b) {
                // Erasing the history (`CSI 3 J` on the primary screen, `ESC c`) resets the
                // count of rows gone off the top: fed up to here, then reset, in order.
                parser.process(&data[from..=i]);
                from = i + 1;
                let screen = parser.screen();
                if b == b'c' || !screen.alternate_screen() {
                    parser.callbacks_mut().history = 0;
                }
            }
        }
        parser.process(&data[from..]);
        self.seq = seq;
        if self.excerpt.collecting() {
            self.excerpt.feed(data);
        }
        #[cfg(test)]
        tests::maybe_rest(self);
    }

    /// User input other than the Enter, before it is forwarded. The first input of a line
    /// anchors the line's start at the cursor (right after the prompt) and ends the previous
    /// command's output excerpt.
    pub fn feed_input(&mut self, data: &[u8]) {
        if data.is_empty() || self.anchor.is_some() || self.in_alternate_screen() {
            return;
        }
        let parser = self.parser();
        let screen = parser.screen();
        let (row, col) = screen.cursor_position();
        let prompt = row_text(screen, row, 0, col);
        let tracker = parser.callbacks_mut();
        let abs_row = tracker.scrolled.saturating_add(u64::from(row));
        tracker.spill = Some(Spill {
            from_abs: abs_row,
            ..Spill::default()
        });
        if self.excerpt.active && !self.excerpt.frozen {
            self.excerpt.frozen = true;
            self.excerpt.prompt = Some(prompt.clone());
        }
        self.anchor = Some(Anchor {
            abs_row,
            col,
            prompt,
        });
        #[cfg(test)]
        tests::maybe_rest(self);
    }

    /// Whether input has been typed since the last Enter. When it has not, an Enter has no
    /// command to wait for.
    pub fn line_started(&self) -> bool {
        self.anchor.is_some()
    }

    /// The command line as the screen shows it now, from the prompt's end to the end of the
    /// (possibly wrapped) logical line, trailing blanks trimmed. `None` when nothing was typed,
    /// the line shows nothing (e.g. echo off), or a full-screen program is active. Resets the
    /// line state: the next input starts a new line.
    pub fn line_at_enter(&mut self) -> Option<String> {
        let anchor = self.anchor.take();
        let spill = self.parser().callbacks_mut().spill.take();
        if self.in_alternate_screen() {
            return None;
        }
        let anchor = anchor?;
        let line = self.locate(&anchor, spill.unwrap_or_default());
        let line = strip_isearch(&line).trim_end();
        (!line.trim_start().is_empty()).then(|| line.to_string())
    }

    /// Finds the command line on the screen; see the module docs for the order of attempts.
    fn locate(&mut self, anchor: &Anchor, spill: Spill) -> String {
        let parser = self.parser();
        let scrolled = parser.callbacks().scrolled;
        let screen = parser.screen();
        let rows = screen.size().0.get();
        let (cursor_row, _) = screen.cursor_position();
        let anchor_row = anchor
            .abs_row
            .checked_sub(scrolled)
            .and_then(|r| u16::try_from(r).ok())
            .filter(|&r| r < rows);
        let prompt_holds = |row: u16| row_text(screen, row, 0, anchor.col) == anchor.prompt;
        let anchored = anchor_row.filter(|&r| prompt_holds(r));

        // 1. The anchor is where it was and the cursor is on its line.
        if let Some(row) = anchored {
            let end = logical_end(screen, row);
            if (row..=end).contains(&cursor_row) {
                return span_text(screen, row, anchor.col, end);
            }
        }
        // 2. The line was redrawn elsewhere after the same prompt (completion list, Ctrl-L).
        let start = logical_start(screen, cursor_row);
        if !anchor.prompt.trim().is_empty() && prompt_holds(start) {
            return span_text(screen, start, anchor.col, logical_end(screen, start));
        }
        // 3. The start of the line scrolled off the top: its rows were kept as text.
        if anchor_row.is_none() && !spill.rows.is_empty() {
            let mut text = String::new();
            for (i, row) in spill.rows.iter().enumerate() {
                if i == 0 {
                    text.push_str(strip_prompt(row, &anchor.prompt, anchor.col));
                } else {
                    text.push_str(row);
                }
            }
            text.push_str(&span_text(screen, 0, 0, logical_end(screen, 0)));
            return text;
        }
        // 4. The anchor is intact but the cursor moved away from it.
        if let Some(row) = anchored {
            return span_text(screen, row, anchor.col, logical_end(screen, row));
        }
        // 5. Nothing matches any more: the whole logical line holding the cursor.
        span_text(screen, start, 0, logical_end(screen, start))
    }

    /// Whether a full-screen program (editor, pager, `top`) holds the alternate screen; no
    /// command lines are read there.
    pub fn in_alternate_screen(&self) -> bool {
        // A resting screen is never the alternate one.
        self.screen().is_some_and(vt100::Screen::alternate_screen)
    }

    /// Escape sequences that redraw the screen as it is now on a fresh terminal of the same
    /// size: contents, attributes, cursor and input modes. A full-screen program's screen is
    /// drawn on the alternate screen, so leaving the program restores a blank primary screen
    /// rather than leaving its drawing behind.
    pub fn screen_state(&self) -> Vec<u8> {
        let screen = match &self.term {
            Term::Awake(parser) => parser.screen(),
            Term::Resting { state, .. } => return state.to_vec(),
        };
        let mut out = Vec::new();
        if screen.alternate_screen() {
            out.extend_from_slice(b"\x1b[?1049h");
        }
        out.extend_from_slice(screen.state_formatted().as_bytes());
        out
    }

    /// The emulated terminal's size as (columns, rows).
    pub fn size(&self) -> (u16, u16) {
        match &self.term {
            Term::Awake(parser) => {
                let (rows, cols) = parser.screen().size();
                (cols.get(), rows.get())
            }
            Term::Resting { cols, rows, .. } => (*cols, *rows),
        }
    }

    /// Starts collecting the output excerpt of the command just accepted.
    pub fn begin_output(&mut self) {
        self.excerpt = Excerpt {
            active: true,
            ..Excerpt::default()
        };
    }

    /// Up to [`OUTPUT_EXCERPT_BYTES`] of plain text the command printed (escape sequences,
    /// carriage returns and full-screen drawing removed, the echoed Enter and the next prompt
    /// trimmed). Empty when nothing was collected. Ends the collection.
    pub fn take_output(&mut self) -> String {
        if !self.excerpt.active {
            return String::new();
        }
        self.excerpt.take()
    }
}

/// Text of `row` between columns `from` (inclusive) and `to` (exclusive), blank cells as spaces,
/// wide characters once.
fn row_text(screen: &vt100::Screen, row: u16, from: u16, to: u16) -> String {
    let mut text = String::new();
    push_cells(screen, row, from, to, &mut text);
    text
}

fn push_cells(screen: &vt100::Screen, row: u16, from: u16, to: u16, out: &mut String) {
    for col in from..to {
        let Some(cell) = screen.cell(row, col) else {
            break;
        };
        if cell.is_wide_continuation() {
            continue;
        }
        if cell.has_contents() {
            out.push_str(cell.contents());
        } else {
            out.push(' ');
        }
    }
}

/// The text from (`row`, `col`) to the end of row `end`, rows joined without breaks (they are
/// soft-wrapped parts of one line).
fn span_text(screen: &vt100::Screen, row: u16, col: u16, end: u16) -> String {
    let cols = screen.size().1.get();
    let mut text = String::new();
    for r in row..=end {
        let from = if r == row { col } else { 0 };
        push_cells(screen, r, from, cols, &mut text);
    }
    let len = text.trim_end().len();
    text.truncate(len);
    text
}

/// The last row of the logical line that includes `row`, following soft wraps down.
fn logical_end(screen: &vt100::Screen, row: u16) -> u16 {
    let rows = screen.size().0.get();
    let mut end = row;
    while end + 1 < rows && screen.row_wrapped(end) {
        end += 1;
    }
    end
}

/// The first row of the logical line that includes `row`, following soft wraps up.
fn logical_start(screen: &vt100::Screen, row: u16) -> u16 {
    let mut start = row;
    while start > 0 && screen.row_wrapped(start - 1) {
        start -= 1;
    }
    start
}

/// Removes the prompt from a row that scrolled off: by its text when it is still there,
/// otherwise by column count.
fn strip_prompt<'a>(row: &'a str, prompt: &str, col: u16) -> &'a str {
    if let Some(rest) = row.strip_prefix(prompt) {
        return rest;
    }
    if let Some(rest) = row.strip_prefix(prompt.trim_end()) {
        return rest.strip_prefix(' ').unwrap_or(rest);
    }
    match row.char_indices().nth(usize::from(col)) {
        Some((i, _)) => &row[i..],
        None => "",
    }
}

/// readline's incremental search shows `(reverse-i-search)`pat': line` in place of the prompt;
/// Enter accepts `line`.
fn strip_isearch(line: &str) -> &str {
    let trimmed = line.trim_start();
    let is_search = [
        "(reverse-i-search)`",
        "(i-search)`",
        "(failed reverse-i-search)`",
        "(failed i-search)`",
    ]
    .iter()
    .any(|p| trimmed.starts_with(p));
    if is_search && let Some(i) = trimmed.find("': ") {
        return &trimmed[i + 3..];
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        /// Makes the capture rest after every input and output (see
        /// `every_scenario_with_a_rest_after_each_step`).
        static REST_EACH_STEP: Cell<bool> = const { Cell::new(false) };
    }

    pub(super) fn maybe_rest(c: &mut CommandCapture) {
        if REST_EACH_STEP.with(Cell::get) {
            c.rest();
        }
    }

    /// Every scenario of this module gives the same lines and excerpts when the emulator is let
    /// go and rebuilt from the screen's redraw between every two steps (the worst case of a
    /// session resting between keystrokes).
    #[test]
    fn every_scenario_with_a_rest_after_each_step() {
        REST_EACH_STEP.with(|r| r.set(true));
        let scenarios: &[(&str, fn())] = &[
            ("plain_command", plain_command),
            (
                "empty_and_blank_enter_give_none",
                empty_and_blank_enter_give_none,
            ),
            ("backspace_both_styles", backspace_both_styles),
            (
                "cursor_left_then_insert_in_the_middle",
                cursor_left_then_insert_in_the_middle,
            ),
            ("ctrl_u_erases_the_typed_text", ctrl_u_erases_the_typed_text),
            (
                "history_recall_redraws_the_line",
                history_recall_redraws_the_line,
            ),
            (
                "tab_completion_inline_and_after_a_listing",
                tab_completion_inline_and_after_a_listing,
            ),
            ("bracketed_paste", bracketed_paste),
            (
                "quoting_trick_is_returned_verbatim",
                quoting_trick_is_returned_verbatim,
            ),
            (
                "long_command_wraps_across_rows",
                long_command_wraps_across_rows,
            ),
            (
                "command_exactly_filling_the_row",
                command_exactly_filling_the_row,
            ),
            (
                "wrapping_at_the_bottom_row_scrolls",
                wrapping_at_the_bottom_row_scrolls,
            ),
            (
                "command_longer_than_the_screen",
                command_longer_than_the_screen,
            ),
            (
                "alternate_screen_is_not_captured",
                alternate_screen_is_not_captured,
            ),
            (
                "password_with_echo_off_is_never_captured",
                password_with_echo_off_is_never_captured,
            ),
            (
                "multibyte_and_wide_characters",
                multibyte_and_wide_characters,
            ),
            ("ctrl_l_redraws_at_the_top", ctrl_l_redraws_at_the_top),
            ("ctrl_c_then_a_new_line", ctrl_c_then_a_new_line),
            (
                "reverse_search_accepts_the_found_line",
                reverse_search_accepts_the_found_line,
            ),
            ("resize_then_readline_redraw", resize_then_readline_redraw),
            (
                "output_excerpt_is_plain_text_without_the_next_prompt",
                output_excerpt_is_plain_text_without_the_next_prompt,
            ),
            (
                "output_excerpt_is_bounded_and_skips_full_screen_drawing",
                output_excerpt_is_bounded_and_skips_full_screen_drawing,
            ),
            (
                "status_line_below_a_scroll_region",
                status_line_below_a_scroll_region,
            ),
        ];
        for (name, scenario) in scenarios {
            if std::panic::catch_unwind(scenario).is_err() {
                panic!("{name} fails when the capture rests between steps");
            }
        }
    }

    #[test]
    fn a_resting_screen_keeps_its_redraw_and_costs_only_that() {
        let mut c = shell();
        type_echoed(&mut c, "echo hi");
        let before = c.screen_state();
        c.rest();
        assert!(c.is_resting());
        // A watcher joining now is drawn the same screen.
        assert_eq!(c.screen_state(), before);
        assert!(before.len() < 200, "{} bytes", before.len());
        assert_eq!(c.size(), (80, 24));
        assert_eq!(enter(&mut c).as_deref(), Some("echo hi"));
        assert!(!c.is_resting());
        // A full-screen program's screen is not let go.
        c.feed_output(b"\x1b[?1049hvim");
        c.rest();
        assert!(!c.is_resting());
    }

    /// A status line kept below a scroll region (apt's progress bar, a clock), redrawn by
    /// saving the cursor, drawing there and restoring it: typing and Enter land where they
    /// did before the session rested, also when it rested between the steps.
    #[test]
    fn status_line_below_a_scroll_region() {
        let mut c = CommandCapture::new(80, 24);
        c.feed_output(b"\x1b7\x1b[1;23r\x1b8\x1b[23;1H");
        c.feed_output(PROMPT.as_bytes());
        for i in 0..30 {
            type_echoed(&mut c, &format!("echo {i}"));
            c.feed_output(format!("\x1b7\x1b[24;1H\x1b[7m job {i} \x1b[m\x1b8").as_bytes());
            type_echoed(&mut c, " done");
            assert_eq!(enter(&mut c), Some(format!("echo {i} done")));
        }
        // The region kept the status line: it is still on the last row.
        let last = row_text(c.parser().screen(), 23, 0, 8);
        assert_eq!(last, " job 29 ");
    }

    /// One step of a terminal's life: output from the target, or a window change.
    enum Step {
        Out(Vec<u8>),
        Resize(u16, u16),
    }

    fn out(bytes: impl AsRef<[u8]>) -> Step {
        Step::Out(bytes.as_ref().to_vec())
    }

    /// Output sequences of real programs and of each piece of state a rest has to keep.
    fn corpus() -> Vec<(&'static str, (u16, u16), Vec<Step>)> {
        let lines = |n: usize| {
            (0..n)
                .map(|i| format!("\x1b[01;34mdir{i}\x1b[0m  file{i}.txt\r\n"))
                .collect::<String>()
        };
        let prompt = "\x1b]0;user@host: ~\x07\x1b[01;32muser@host\x1b[00m:\x1b[01;34m~\x1b[00m$ ";
        vec![
            (
                "bash prompt, commands, scrolling output",
                (80, 24),
                vec![
                    out(prompt),
                    out("ls -l"),
                    out("\r\n"),
                    out(lines(40)),
                    out(prompt),
                    out(
                        "echo h\u{e9}llo \u{4e16}\u{754c} \u{1f600}\r\nh\u{e9}llo \u{4e16}\u{754c} \u{1f600}\r\n",
                    ),
                    out(prompt),
                ],
            ),
            (
                "apt progress bar: scroll region above a status line",
                (80, 24),
                vec![
                    out(lines(5)),
                    out("\n\x1b7\x1b[0;23r\x1b8\x1b[1A"),
                    out("Unpacking libfoo (1.2) ...\r\n"),
                    out(
                        "\x1b7\x1b[24;0f\x1b[42m\x1b[30mProgress: [ 10%]\x1b[49m\x1b[39m [#.........] \x1b8",
                    ),
                    out(lines(30)),
                    out(
                        "\x1b7\x1b[24;0f\x1b[42m\x1b[30mProgress: [ 90%]\x1b[49m\x1b[39m [#########.] \x1b8",
                    ),
                    out("Setting up libfoo (1.2) ...\r\n"),
                    out("\x1b7\x1b[0;24r\x1b8\x1b[1A\x1b[J"),
                    out(prompt),
                ],
            ),
            (
                "clock drawn with the saved cursor while typing",
                (80, 24),
                vec![
                    out(prompt),
                    out("sys"),
                    out("\x1b7\x1b[1;70H\x1b[7m12:00:01\x1b[27m\x1b8"),
                    out("temctl"),
                    out("\x1b[s\x1b[1;70H12:00:02\x1b[u"),
                    out(" status"),
                ],
            ),
            (
                "saved attributes",
                (80, 24),
                vec![
                    out("\x1b[1;31m\x1b7\x1b[0mplain "),
                    out("\x1b8red again \x1b[4;44m"),
                    out("\x1b7\x1b[m\x1b[5;5H"),
                    out("\x1b8underlined"),
                ],
            ),
            (
                "vi-like editor on the primary screen",
                (80, 24),
                vec![
                    out("\x1b[?1h\x1b=\x1b[H\x1b[2J"),
                    out("~\r\n".repeat(22)),
                    out("\x1b[24;1H\"notes.txt\" 3L, 42C"),
                    out("\x1b[1;23r\x1b[1;1H"),
                    out("first line\r\nsecond line\r\nthird line"),
                    out("\x1b[?25l\x1b[23;1H\n"),
                    out("new bottom line\x1b[?25h"),
                    out("\x1b[1;1H\x1bM"),
                    out("new top line"),
                    out("\x1b[5;1H\x1b[2L"),
                    out("inserted"),
                    out("\x1b[3M"),
                    out("\x1b[24;1H\x1b[K-- INSERT --"),
                    out("\x1b[10;5H"),
                    out("typed"),
                    out("\x1b[r\x1b[?1l\x1b>\x1b[24;1H\r\n"),
                    out(prompt),
                ],
            ),
            (
                "origin mode, and a cursor saved in it",
                (80, 24),
                vec![
                    out("\x1b[5;15r\x1b[?6h"),
                    out("\x1b[3;4Hin region"),
                    out("\x1b7\x1b[?6l"),
                    out("\x1b[1;1Htop"),
                    out("\x1b8more"),
                    out("\x1b[20;1Hbottom\n\n"),
                    out("after scrolling the region"),
                    out("\x1b[H"),
                    out("home of the region"),
                    out("\x1b[r"),
                    out("home of the screen"),
                ],
            ),
            (
                "less on the alternate screen",
                (80, 24),
                vec![
                    out(prompt),
                    out("less /etc/hosts\r\n"),
                    out("\x1b[?1049h\x1b[22;0;0t\x1b[?1h\x1b=\r"),
                    out("127.0.0.1 localhost\r\n~\r\n~\r\n"),
                    out("\x1b[7m(END)\x1b[27m\x1b[K"),
                    out("\r\x1b[K\x1b[?1l\x1b>\x1b[?1049l\x1b[23;0;0t"),
                    out(prompt),
                ],
            ),
            (
                "cursor waiting past the last column",
                (80, 24),
                vec![
                    out("x".repeat(80)),
                    out("\x1b7"),
                    out("\r\n\r\nabc"),
                    out("\x1b8"),
                    out("Z"),
                    out("\x1b[5;20r\x1b[20;1H"),
                    out("y".repeat(79)),
                    out("\u{4e16}"),
                    out("w"),
                    out("\x1b[5;1H\x1b[?6h"),
                    out("v".repeat(80)),
                    out("after"),
                ],
            ),
            (
                "escape sequences and characters split anywhere",
                (40, 10),
                vec![
                    out("\x1b]0;a title\x1b\\\x1bP+q544e\x1b\\\x1b]11;?\x07"),
                    out("\x1b[38;2;10;20;30mrgb\x1b[48;5;200midx\x1b[m"),
                    out("\u{e9}\u{4e16}\u{1f600}".repeat(8)),
                    out("\x1b[2;3H\x1b[1@\x1b[2P\x1b[3X\x1b[K"),
                ],
            ),
            (
                "rows scrolled off, then a taller and a shorter screen",
                (80, 10),
                vec![
                    out(lines(40)),
                    out(prompt),
                    Step::Resize(80, 20),
                    out(prompt),
                    Step::Resize(80, 5),
                    Step::Resize(100, 30),
                    out(lines(3)),
                    Step::Resize(100, 40),
                ],
            ),
            (
                "clear with the history, then a taller screen",
                (80, 10),
                vec![
                    out(lines(30)),
                    out("\x1b[H\x1b[2J\x1b[3J"),
                    out(lines(3)),
                    Step::Resize(80, 20),
                    out(lines(12)),
                    out("\x1b[?3J"),
                    Step::Resize(80, 30),
                ],
            ),
            (
                "terminal reset",
                (80, 10),
                vec![
                    out(lines(20)),
                    out("\x1b[3;8r\x1b[?6h\x1b[1;31m\x1b7"),
                    out("\x1bc"),
                    out(prompt),
                    Step::Resize(80, 20),
                    out("\x1b8after reset"),
                ],
            ),
        ]
    }

    /// The emulator's state, one line per row of cells then one of everything else as its
    /// `Debug` shows it, less what a rest is documented to lose (the alternate screen's
    /// leftovers, REP's last character; see [`Term`]).
    fn emulator_state(c: &mut CommandCapture) -> Vec<String> {
        let parser = c.parser();
        let (history, scrolled) = (parser.callbacks().history, parser.callbacks().scrolled);
        let screen = parser.screen();
        let (rows, cols) = (screen.size().0.get(), screen.size().1.get());
        let mut out: Vec<String> = (0..rows)
            .map(|r| {
                let mut line = format!("{r:2} wrapped={} ", screen.row_wrapped(r));
                for col in 0..cols {
                    let cell = screen.cell(r, col).expect("cell");
                    line.push_str(&format!(
                        "[{:?} {:?} {:?} {}{}{}{}{} {}{}]",
                        cell.contents(),
                        cell.fgcolor(),
                        cell.bgcolor(),
                        u8::from(cell.bold()),
                        u8::from(cell.dim()),
                        u8::from(cell.italic()),
                        u8::from(cell.underline()),
                        u8::from(cell.inverse()),
                        u8::from(cell.is_wide()),
                        u8::from(cell.is_wide_continuation()),
                    ));
                }
                line
            })
            .collect();
        let s = format!("{screen:?}");
        let rows_at = s.find("rows: [").expect("rows");
        let rows_end = s.find(", scroll_top: ").expect("scroll top");
        let alt = s.find(", alternate_grid: ").expect("alternate grid");
        let saved = s.rfind(", saved_attrs: ").expect("saved attrs");
        let attrs = s[..saved].rfind(", attrs: ").expect("attrs");
        let last = s.rfind(", last_char: ").expect("last char");
        out.push(format!(
            "{}{}{} history {history} scrolled {scrolled}",
            &s[..rows_at],
            &s[rows_end..alt],
            &s[attrs..last],
        ));
        out
    }

    fn assert_same(rested: &[String], never: &[String], what: &str) {
        if rested.len() != never.len() {
            panic!("{what}: {} rows vs {}", rested.len(), never.len());
        }
        for (a, b) in rested.iter().zip(never) {
            assert_eq!(a, b, "{what}: with rests (left) and without (right) differ");
        }
    }

    /// Splits `data` into chunks: `size` 0 gives pseudo-random sizes from `seed`.
    fn chunks(data: &[u8], size: usize, seed: &mut u64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut rest = data;
        while !rest.is_empty() {
            let n = if size > 0 {
                size
            } else {
                *seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                1 + (*seed >> 33) as usize % 24
            };
            let (a, b) = rest.split_at(n.min(rest.len()));
            out.push(a.to_vec());
            rest = b;
        }
        out
    }

    /// The property behind resting: any output, cut anywhere, with the emulator let go and
    /// rebuilt after every piece, leaves the emulator exactly as feeding it without rests does.
    #[test]
    fn resting_after_every_chunk_changes_nothing() {
        for (name, (cols, rows), steps) in corpus() {
            for (size, mut seed) in [(1, 0), (2, 0), (7, 0), (0, 1), (0, 2), (0, 3)] {
                let mut never = CommandCapture::new(cols, rows);
                let mut always = CommandCapture::new(cols, rows);
                for (i, step) in steps.iter().enumerate() {
                    match step {
                        Step::Out(data) => {
                            for chunk in chunks(data, size, &mut seed) {
                                never.feed_output(&chunk);
                                always.feed_output(&chunk);
                                always.rest();
                            }
                        }
                        Step::Resize(cols, rows) => {
                            never.resize(*cols, *rows);
                            always.resize(*cols, *rows);
                            always.rest();
                        }
                    }
                    assert_same(
                        &emulator_state(&mut always),
                        &emulator_state(&mut never),
                        &format!("{name}: step {i}, chunks of {size} (seed {seed})"),
                    );
                    always.rest();
                }
            }
        }
    }

    /// Resting is put off inside an escape sequence or a character, and never loses one.
    #[test]
    fn no_rest_inside_a_sequence() {
        let mut c = CommandCapture::new(20, 5);
        for part in [
            &b"\x1b["[..],
            b"1;3",
            b"1m",
            b"\xe4\xb8",
            b"\x96",
            b"\x1b]0;ti",
            b"tle\x07",
        ] {
            let ground = part.ends_with(b"m") || part.ends_with(b"\x96") || part.ends_with(b"\x07");
            c.feed_output(part);
            c.rest();
            assert_eq!(c.is_resting(), ground, "after {part:?}");
        }
        let screen = c.parser().screen();
        assert_eq!(
            screen.cell(0, 0).map(vt100::Cell::contents),
            Some("\u{4e16}")
        );
        assert_eq!(
            screen.cell(0, 0).map(vt100::Cell::fgcolor),
            Some(vt100::Color::Idx(1))
        );
    }

    const PROMPT: &str = "user@host:~$ ";

    fn shell() -> CommandCapture {
        let mut c = CommandCapture::new(80, 24);
        c.feed_output(PROMPT.as_bytes());
        c
    }

    /// Types `s` the way a terminal sends it, with readline echoing each character.
    fn type_echoed(c: &mut CommandCapture, s: &str) {
        for ch in s.chars() {
            let mut buf = [0; 4];
            let bytes = ch.encode_utf8(&mut buf).as_bytes();
            c.feed_input(bytes);
            c.feed_output(bytes);
        }
    }

    /// Enter: read the line, then let the shell echo the newline and print a new prompt.
    fn enter(c: &mut CommandCapture) -> Option<String> {
        let line = c.line_at_enter();
        c.feed_output(b"\r\n");
        c.feed_output(PROMPT.as_bytes());
        line
    }

    #[test]
    fn plain_command() {
        let mut c = shell();
        assert!(!c.line_started());
        type_echoed(&mut c, "ls -la /var/log");
        assert!(c.line_started());
        assert_eq!(enter(&mut c).as_deref(), Some("ls -la /var/log"));
        assert!(!c.line_started());
        type_echoed(&mut c, "whoami");
        assert_eq!(enter(&mut c).as_deref(), Some("whoami"));
    }

    #[test]
    fn empty_and_blank_enter_give_none() {
        let mut c = shell();
        assert_eq!(enter(&mut c), None);
        type_echoed(&mut c, "   ");
        assert_eq!(enter(&mut c), None);
    }

    #[test]
    fn backspace_both_styles() {
        let mut c = shell();
        type_echoed(&mut c, "rmm");
        c.feed_input(b"\x7f");
        c.feed_output(b"\x08\x1b[K");
        type_echoed(&mut c, " -rf /tmpp");
        c.feed_input(b"\x7f");
        c.feed_output(b"\x08 \x08");
        assert_eq!(enter(&mut c).as_deref(), Some("rm -rf /tmp"));
    }

    #[test]
    fn cursor_left_then_insert_in_the_middle() {
        let mut c = shell();
        type_echoed(&mut c, "echo world");
        for _ in 0..5 {
            c.feed_input(b"\x1b[D");
            c.feed_output(b"\x08");
        }
        // readline inserts and redraws the rest of the line, then moves back.
        let rest = "world";
        for ch in "hello ".chars() {
            c.feed_input(ch.to_string().as_bytes());
            let redraw = format!("{ch}{rest}{}", "\x08".repeat(rest.len()));
            c.feed_output(redraw.as_bytes());
        }
        assert_eq!(enter(&mut c).as_deref(), Some("echo hello world"));

        // The same with the terminal's insert-character sequence.
        type_echoed(&mut c, "cat /etc/shadow");
        for _ in 0.."shadow".len() {
            c.feed_input(b"\x1b[D");
            c.feed_output(b"\x1b[D");
        }
        c.feed_input(b"g");
        c.feed_output(b"\x1b[1@g");
        assert_eq!(enter(&mut c).as_deref(), Some("cat /etc/gshadow"));
    }

    #[test]
    fn ctrl_u_erases_the_typed_text() {
        let mut c = shell();
        type_echoed(&mut c, "rm -rf /srv/data");
        c.feed_input(b"\x15");
        c.feed_output(format!("{}\x1b[K", "\x08".repeat("rm -rf /srv/data".len())).as_bytes());
        type_echoed(&mut c, "ls");
        assert_eq!(enter(&mut c).as_deref(), Some("ls"));
    }

    #[test]
    fn history_recall_redraws_the_line() {
        let mut c = shell();
        type_echoed(&mut c, "systemctl restart nginx");
        assert!(enter(&mut c).is_some());
        // Up: the empty line becomes the previous command.
        c.feed_input(b"\x1b[A");
        c.feed_output(b"systemctl restart nginx");
        // Up again: readline redraws from the start of the row.
        c.feed_input(b"\x1b[A");
        c.feed_output(format!("\r\x1b[K{PROMPT}cat /etc/passwd").as_bytes());
        assert_eq!(enter(&mut c).as_deref(), Some("cat /etc/passwd"));
    }

    #[test]
    fn tab_completion_inline_and_after_a_listing() {
        let mut c = shell();
        type_echoed(&mut c, "cat /etc/pass");
        c.feed_input(b"\t");
        c.feed_output(b"wd ");
        assert_eq!(enter(&mut c).as_deref(), Some("cat /etc/passwd"));

        // Ambiguous: bell, then the listing and the prompt and line printed again below.
        type_echoed(&mut c, "cd Do");
        c.feed_input(b"\t");
        c.feed_output(b"\x07");
        c.feed_input(b"\t");
        c.feed_output(format!("\r\nDocuments/  Downloads/\r\n{PROMPT}cd Do").as_bytes());
        type_echoed(&mut c, "c");
        c.feed_input(b"\t");
        c.feed_output(b"uments/");
        assert_eq!(enter(&mut c).as_deref(), Some("cd Documents/"));
    }

    #[test]
    fn bracketed_paste() {
        let mut c = shell();
        c.feed_output(b"\x1b[?2004h");
        c.feed_input(b"\x1b[200~sudo reboot\x1b[201~");
        // bash 5.1+ echoes the pasted text highlighted as the active region.
        c.feed_output(b"\x1b[7msudo reboot\x1b[27m");
        assert_eq!(enter(&mut c).as_deref(), Some("sudo reboot"));
    }

    #[test]
    fn quoting_trick_is_returned_verbatim() {
        let mut c = shell();
        type_echoed(&mut c, "r\"\"m -rf /");
        assert_eq!(enter(&mut c).as_deref(), Some("r\"\"m -rf /"));
        type_echoed(&mut c, "'r'm -rf / ");
        assert_eq!(enter(&mut c).as_deref(), Some("'r'm -rf /"));
    }

    #[test]
    fn long_command_wraps_across_rows() {
        let mut c = shell();
        let cmd = format!("echo {} && echo {}", "a".repeat(90), "b".repeat(60));
        type_echoed(&mut c, &cmd);
        assert_eq!(enter(&mut c).as_deref(), Some(cmd.as_str()));
    }

    #[test]
    fn command_exactly_filling_the_row() {
        let mut c = shell();
        // 13 + 67 = 80: readline writes a space and a CR to force the wrap.
        let cmd = format!("echo {}", "x".repeat(62));
        type_echoed(&mut c, &cmd);
        c.feed_output(b" \r");
        assert_eq!(enter(&mut c).as_deref(), Some(cmd.as_str()));

        // A space that lands in the last column is part of the command.
        let cmd = format!("echo {} tail", "y".repeat(61));
        type_echoed(&mut c, &cmd);
        assert_eq!(enter(&mut c).as_deref(), Some(cmd.as_str()));
    }

    #[test]
    fn wrapping_at_the_bottom_row_scrolls() {
        let mut c = CommandCapture::new(80, 24);
        for i in 0..30 {
            c.feed_output(format!("line {i}\r\n").as_bytes());
        }
        c.feed_output(PROMPT.as_bytes());
        assert_eq!(c.parser().screen().cursor_position().0, 23);
        let cmd = format!(
            "tar czf /tmp/out.tgz {}",
            "/very/long/path ".repeat(12).trim_end()
        );
        type_echoed(&mut c, &cmd);
        assert_eq!(c.parser().screen().cursor_position().0, 23);
        let anchor = c.anchor.clone().unwrap();
        let scrolled = c.parser().callbacks().scrolled;
        assert_eq!(
            anchor.abs_row - scrolled,
            23 - 2,
            "two rows scrolled since the prompt"
        );
        assert_eq!(enter(&mut c).as_deref(), Some(cmd.as_str()));
    }

    #[test]
    fn command_longer_than_the_screen() {
        let mut c = CommandCapture::new(40, 5);
        c.feed_output(b"junk\r\njunk\r\njunk\r\n");
        c.feed_output(PROMPT.as_bytes());
        let cmd = format!(
            "echo {}",
            (0..60)
                .map(|i| format!("w{i}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert!(cmd.len() > 40 * 5);
        type_echoed(&mut c, &cmd);
        assert!(
            c.parser()
                .callbacks()
                .spill
                .as_ref()
                .is_some_and(|s| s.rows.len() > 1)
        );
        assert_eq!(enter(&mut c).as_deref(), Some(cmd.as_str()));
    }

    #[test]
    fn alternate_screen_is_not_captured() {
        let mut c = shell();
        type_echoed(&mut c, "vim /etc/hosts");
        assert_eq!(enter(&mut c).as_deref(), Some("vim /etc/hosts"));
        c.feed_output(b"\x1b[?1049h\x1b[22;0;0t\x1b[H\x1b[2J~\r\n~\r\n\x1b[24;1H");
        assert!(c.in_alternate_screen());
        c.feed_input(b":wq");
        c.feed_output(b":wq");
        assert_eq!(c.line_at_enter(), None);
        c.feed_output(b"\x1b[?1049l");
        assert!(!c.in_alternate_screen());
        c.feed_output(b"\r\n");
        c.feed_output(PROMPT.as_bytes());
        type_echoed(&mut c, "ls");
        assert_eq!(enter(&mut c).as_deref(), Some("ls"));
    }

    #[test]
    fn password_with_echo_off_is_never_captured() {
        let mut c = shell();
        type_echoed(&mut c, "sudo -i");
        c.line_at_enter();
        c.feed_output(b"\r\n[sudo] password for user: ");
        c.begin_output();
        for b in b"hunter2" {
            c.feed_input(&[*b]);
        }
        assert_eq!(c.line_at_enter(), None);
        c.feed_output(b"\r\n");
        assert!(!c.take_output().contains("hunter2"));
    }

    #[test]
    fn multibyte_and_wide_characters() {
        let mut c = shell();
        type_echoed(&mut c, "echo héllo 世界 😀");
        assert_eq!(enter(&mut c).as_deref(), Some("echo héllo 世界 😀"));
        // Wide characters wrapping across the row boundary.
        let cmd = format!("echo {}", "世".repeat(50));
        type_echoed(&mut c, &cmd);
        assert_eq!(enter(&mut c).as_deref(), Some(cmd.as_str()));
    }

    #[test]
    fn ctrl_l_redraws_at_the_top() {
        let mut c = CommandCapture::new(80, 24);
        for i in 0..10 {
            c.feed_output(format!("out {i}\r\n").as_bytes());
        }
        c.feed_output(PROMPT.as_bytes());
        type_echoed(&mut c, "uptime");
        c.feed_input(b"\x0c");
        c.feed_output(format!("\x1b[H\x1b[2J{PROMPT}uptime").as_bytes());
        assert_eq!(enter(&mut c).as_deref(), Some("uptime"));
    }

    #[test]
    fn ctrl_c_then_a_new_line() {
        let mut c = shell();
        type_echoed(&mut c, "rm -rf /");
        c.feed_input(b"\x03");
        c.feed_output(format!("^C\r\n{PROMPT}").as_bytes());
        assert_eq!(c.line_at_enter(), None);
        let mut c = shell();
        type_echoed(&mut c, "rm -rf /");
        c.feed_input(b"\x03");
        c.feed_output(format!("^C\r\n{PROMPT}").as_bytes());
        type_echoed(&mut c, "id");
        assert_eq!(enter(&mut c).as_deref(), Some("id"));
    }

    #[test]
    fn reverse_search_accepts_the_found_line() {
        let mut c = shell();
        c.feed_input(b"\x12");
        c.feed_output(b"\r\x1b[K(reverse-i-search)`': ");
        c.feed_input(b"ls");
        c.feed_output(b"\r\x1b[K(reverse-i-search)`ls': ls -la /root");
        assert_eq!(enter(&mut c).as_deref(), Some("ls -la /root"));
    }

    #[test]
    fn resize_then_readline_redraw() {
        let mut c = shell();
        type_echoed(&mut c, "echo abc");
        c.resize(100, 30);
        c.feed_output(format!("\r\x1b[K{PROMPT}echo abc").as_bytes());
        type_echoed(&mut c, "d");
        assert_eq!(enter(&mut c).as_deref(), Some("echo abcd"));

        // A taller screen pulls rows in at the top: the anchor follows.
        let mut c = CommandCapture::new(80, 5);
        for i in 0..8 {
            c.feed_output(format!("l{i}\r\n").as_bytes());
        }
        c.feed_output(PROMPT.as_bytes());
        type_echoed(&mut c, "hostname");
        c.resize(80, 10);
        let anchor = c.anchor.clone().unwrap();
        let row = anchor.abs_row - c.parser().callbacks().scrolled;
        assert_eq!(row, u64::from(c.parser().screen().cursor_position().0));
        type_echoed(&mut c, " -f");
        assert_eq!(enter(&mut c).as_deref(), Some("hostname -f"));
    }

    #[test]
    fn output_excerpt_is_plain_text_without_the_next_prompt() {
        let mut c = shell();
        type_echoed(&mut c, "ls --color");
        assert_eq!(c.line_at_enter().as_deref(), Some("ls --color"));
        c.begin_output();
        c.feed_output(b"\r\n\x1b[0m\x1b[01;34mbin\x1b[0m  notes.txt\r\n\x1b]0;title\x07");
        c.feed_output(b"r\xC3\xA9sum\xC3\xA9.pdf\r\n");
        c.feed_output(PROMPT.as_bytes());
        type_echoed(&mut c, "pwd");
        // Output after the next line started is not part of the excerpt.
        assert_eq!(c.take_output(), "bin  notes.txt\nrésumé.pdf");
        assert_eq!(c.take_output(), "");
    }

    #[test]
    fn output_excerpt_is_bounded_and_skips_full_screen_drawing() {
        let mut c = shell();
        c.begin_output();
        c.feed_output(b"\r\nbefore\r\n\x1b[?1049h\x1b[Hdrawn in vim\x1b[?1049lafter\r\n");
        assert_eq!(c.take_output(), "before\nafter");

        c.begin_output();
        let big = "é".repeat(3000);
        c.feed_output(big.as_bytes());
        let out = c.take_output();
        assert!(out.len() <= OUTPUT_EXCERPT_BYTES && out.len() >= OUTPUT_EXCERPT_BYTES - 4);
        assert!(out.chars().all(|ch| ch == 'é'));
    }
}
