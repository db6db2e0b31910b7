//! Session recordings: the compact form the gateway writes while a session runs, and its
//! conversion to asciicast v2 for players.
//!
//! Writing asciicast directly means decoding UTF-8 and escaping JSON for every byte a session
//! moves, on the session's critical path; for bulk output (`cat` of a large file, binary
//! data) that cost more than the SSH cryptography of both legs together. So the gateway writes
//! *records* — a kind, a time and the raw bytes — which costs a copy, and the API converts a
//! recording to asciicast v2 when it is downloaded ([`to_asciicast`]), which costs the
//! encoding once, only for recordings someone replays.
//!
//! Layout: [`MAGIC`], then the asciicast header (one JSON line, kept verbatim), then records
//! of `kind: u8` (`o` output, `i` input, `r` resize), `micros: u64` (since the start, little
//! endian), `len: u32` (little endian) and `len` bytes. A file cut short (a killed host)
//! converts up to its last complete record.

use std::io::{self, BufRead, Read, Write};

/// The first bytes of a compact recording.
pub const MAGIC: &[u8] = b"PCREC1\n";

/// Bytes of a record's fixed part (kind, micros, len).
pub const RECORD_HEAD: usize = 13;

/// Writes one record.
pub fn write_record(out: &mut impl Write, kind: u8, micros: u64, data: &[u8]) -> io::Result<()> {
    let len = u32::try_from(data.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "record larger than 4 GiB"))?;
    let mut head = [0u8; RECORD_HEAD];
    head[0] = kind;
    head[1..9].copy_from_slice(&micros.to_le_bytes());
    head[9..13].copy_from_slice(&len.to_le_bytes());
    out.write_all(&head)?;
    out.write_all(data)
}

/// Whether `start` (the first bytes of a file) is a compact recording.
pub fn is_compact(start: &[u8]) -> bool {
    start.starts_with(MAGIC)
}

/// Converts a compact recording (positioned after [`MAGIC`]) to asciicast v2. Returns the
/// number of events written. A truncated last record ends the conversion without error.
pub fn to_asciicast(input: impl Read, mut out: impl Write) -> io::Result<u64> {
    let mut input = io::BufReader::with_capacity(256 * 1024, input);
    let mut header = Vec::new();
    input.read_until(b'\n', &mut header)?;
    if !header.ends_with(b"\n") {
        header.push(b'\n');
    }
    out.write_all(&header)?;
    let mut carries = [Utf8Carry::default(), Utf8Carry::default()];
    let mut body = Vec::new();
    let mut data = Vec::new();
    let mut events = 0u64;
    let mut last = 0u64;
    loop {
        let mut head = [0u8; RECORD_HEAD];
        if !read_full(&mut input, &mut head)? {
            break;
        }
        let kind = head[0];
        let mut micros = [0u8; 8];
        micros.copy_from_slice(&head[1..9]);
        let mut len = [0u8; 4];
        len.copy_from_slice(&head[9..13]);
        let micros = u64::from_le_bytes(micros);
        let len = usize::try_from(u32::from_le_bytes(len)).unwrap_or(usize::MAX);
        data.resize(len, 0);
        if !read_full(&mut input, &mut data)? {
            break;
        }
        last = micros;
        body.clear();
        let code = match kind {
            b'o' => {
                carries[0].encode_into(&data, &mut body);
                "o"
            }
            b'i' => {
                carries[1].encode_into(&data, &mut body);
                "i"
            }
            b'r' => {
                Utf8Carry::encode(&data, &mut Vec::new(), &mut body);
                "r"
            }
            // Unknown kinds come from a newer writer: skip them.
            _ => continue,
        };
        if !body.is_empty() {
            event(&mut out, micros, code, &body)?;
            events += 1;
        }
    }
    for (i, code) in ["o", "i"].into_iter().enumerate() {
        body.clear();
        carries[i].finish_into(&mut body);
        if !body.is_empty() {
            event(&mut out, last, code, &body)?;
            events += 1;
        }
    }
    out.flush()?;
    Ok(events)
}

fn event(out: &mut impl Write, micros: u64, code: &str, body: &[u8]) -> io::Result<()> {
    // Fixed microsecond precision: never exponent notation, stable width.
    write!(
        out,
        "[{}.{:06}, \"{code}\", \"",
        micros / 1_000_000,
        micros % 1_000_000
    )?;
    out.write_all(body)?;
    out.write_all(b"\"]\n")
}

/// Fills `buf` completely; `false` at a clean or truncated end.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Turns a byte stream into the body of a JSON string in one pass, without breaking UTF-8
/// sequences that straddle two reads: valid UTF-8 is copied (escaped where JSON requires),
/// each invalid byte becomes U+FFFD. This is the recorder's hot loop — bulk output passes
/// through it byte for byte — so it works on bytes with a class table rather than decoding
/// to `char`s and re-encoding through a serializer.
#[derive(Default)]
pub struct Utf8Carry {
    /// The unfinished tail of the previous chunk (at most 3 bytes).
    pending: Vec<u8>,
}

/// U+FFFD in UTF-8.
const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

/// Bytes that need attention: 0 = copy as is, 1 = JSON escape, 2 = start of a non-ASCII
/// sequence (or an invalid byte).
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if i < 0x20 || i == b'"' as usize || i == b'\\' as usize {
            1
        } else if i >= 0x80 {
            2
        } else {
            0
        };
        i += 1;
    }
    t
};

/// The length of the UTF-8 sequence `lead` starts, 0 when it cannot start one.
fn sequence_len(lead: u8) -> usize {
    match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

/// Whether `seq` (a lead byte and as many bytes as it announces) is one well-formed UTF-8
/// character: the checks of the standard's table of well-formed sequences, inline, because
/// this runs once per non-ASCII byte of bulk output.
#[inline]
fn valid_sequence(seq: &[u8]) -> bool {
    let [lead, second, rest @ ..] = seq else {
        return false;
    };
    let second_ok = match lead {
        0xE0 => (0xA0..=0xBF).contains(second),
        0xED => (0x80..=0x9F).contains(second),
        0xF0 => (0x90..=0xBF).contains(second),
        0xF4 => (0x80..=0x8F).contains(second),
        _ => (0x80..=0xBF).contains(second),
    };
    second_ok && rest.iter().all(|b| (0x80..=0xBF).contains(b))
}

fn escape_into(b: u8, out: &mut Vec<u8>) {
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0C => out.extend_from_slice(b"\\f"),
        _ => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xF)]);
        }
    }
}

impl Utf8Carry {
    /// Appends the JSON-escaped text of `pending + data` to `out`; keeps an incomplete
    /// trailing sequence for the next call.
    pub fn encode_into(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if self.pending.is_empty() {
            Self::encode(data, &mut self.pending, out);
        } else {
            let mut joined = std::mem::take(&mut self.pending);
            joined.extend_from_slice(data);
            Self::encode(&joined, &mut self.pending, out);
        }
    }

    pub fn encode(data: &[u8], pending: &mut Vec<u8>, out: &mut Vec<u8>) {
        out.reserve(data.len() + data.len() / 4);
        let n = data.len();
        let mut i = 0;
        while i < n {
            let run = i;
            while i < n && CLASS[usize::from(data[i])] == 0 {
                i += 1;
            }
            out.extend_from_slice(&data[run..i]);
            if i == n {
                break;
            }
            let b = data[i];
            if b < 0x80 {
                escape_into(b, out);
                i += 1;
                continue;
            }
            let len = sequence_len(b);
            if len == 0 {
                out.extend_from_slice(REPLACEMENT);
                i += 1;
                continue;
            }
            let end = i + len;
            if end > n {
                // The chunk ends inside a sequence: keep it if what arrived can still
                // become valid.
                let tail = &data[i..];
                if std::str::from_utf8(tail).is_err_and(|e| e.error_len().is_none()) {
                    pending.extend_from_slice(tail);
                    return;
                }
                out.extend_from_slice(REPLACEMENT);
                i += 1;
                continue;
            }
            if valid_sequence(&data[i..end]) {
                out.extend_from_slice(&data[i..end]);
                i = end;
            } else {
                out.extend_from_slice(REPLACEMENT);
                i += 1;
            }
        }
    }

    /// Whatever is left at the end of the stream can never complete: it is invalid.
    pub fn finish_into(&mut self, out: &mut Vec<u8>) {
        if !self.pending.is_empty() {
            self.pending.clear();
            out.extend_from_slice(REPLACEMENT);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn recording(records: &[(u8, u64, &[u8])]) -> Vec<u8> {
        let mut f = MAGIC.to_vec();
        f.extend_from_slice(br#"{"version":2,"width":80,"height":24}"#);
        f.push(b'\n');
        for (k, t, d) in records {
            write_record(&mut f, *k, *t, d).unwrap();
        }
        f
    }

    fn convert(file: &[u8]) -> Vec<Value> {
        assert!(is_compact(file));
        let mut out = Vec::new();
        to_asciicast(&file[MAGIC.len()..], &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn records_become_asciicast_events() {
        let file = recording(&[
            (b'o', 1_500_000, b"caf\xC3"),
            (b'o', 2_000_001, b"\xA9 \"q\"\r\n"),
            (b'i', 2_500_000, b"ls\r"),
            (b'r', 3_000_000, b"120x40"),
            (b'o', 3_100_000, b"bin\xFF"),
        ]);
        let events = convert(&file);
        assert_eq!(events[0]["version"], 2);
        assert_eq!(events[1], serde_json::json!([1.5, "o", "caf"]));
        assert_eq!(
            events[2],
            serde_json::json!([2.000001, "o", "\u{e9} \"q\"\r\n"])
        );
        assert_eq!(events[3], serde_json::json!([2.5, "i", "ls\r"]));
        assert_eq!(events[4], serde_json::json!([3.0, "r", "120x40"]));
        assert_eq!(events[5], serde_json::json!([3.1, "o", "bin\u{FFFD}"]));
    }

    #[test]
    fn a_truncated_recording_converts_up_to_its_last_whole_record() {
        let mut file = recording(&[(b'o', 10, b"hello"), (b'o', 20, b"world")]);
        file.truncate(file.len() - 3);
        let events = convert(&file);
        assert_eq!(events.len(), 2);
        assert_eq!(events[1][2], "hello");
    }

    #[test]
    fn a_sequence_split_at_the_very_end_becomes_one_replacement() {
        let file = recording(&[(b'o', 10, b"e\xE2\x82")]);
        let events = convert(&file);
        let text: String = events[1..]
            .iter()
            .map(|e| e[2].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(text, "e\u{FFFD}");
    }

    /// The byte encoder agrees with the standard library's lossy decoding followed by a JSON
    /// serializer, for text, controls and invalid bytes alike.
    #[test]
    fn encoder_matches_lossy_decoding_and_json_escaping() {
        let samples: Vec<Vec<u8>> = vec![
            b"plain ascii".to_vec(),
            "caf\u{e9} \u{20ac} \u{1F600} \u{416}".as_bytes().to_vec(),
            b"quote \" backslash \\ tab \t nl \n cr \r bell \x07 esc \x1b[31m del \x7f".to_vec(),
            b"a\xFFb\xC0\xC1\xF5\x80\x80z".to_vec(),
            b"\xE0\x80\x80 \xED\xA0\x80 \xF4\x90\x80\x80".to_vec(),
            (0u8..=255).collect(),
        ];
        for s in samples {
            let mut body = Vec::new();
            let mut pending = Vec::new();
            Utf8Carry::encode(&s, &mut pending, &mut body);
            Utf8Carry { pending }.finish_into(&mut body);
            let ours: String = serde_json::from_slice(&[b"\"", &body[..], b"\""].concat())
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)));
            let theirs = String::from_utf8_lossy(&s).into_owned();
            let strip = |t: &str| t.chars().filter(|c| *c != '\u{FFFD}').collect::<String>();
            assert_eq!(strip(&ours), strip(&theirs), "{s:?}");
            assert_eq!(
                ours.contains('\u{FFFD}'),
                theirs.contains('\u{FFFD}'),
                "{s:?}"
            );
        }
    }
}
