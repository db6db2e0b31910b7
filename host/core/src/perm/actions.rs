//! The action bits of an asset permission.
//!
//! The bit values are JumpServer's (`connect`=1 … `share`=64) so that values exported from or
//! compared with a JumpServer installation mean the same thing, and so that clients written for
//! JumpServer (KoKo, Lion, …) can read the bits we hand them.

use std::fmt;

use bitflags::bitflags;
use thiserror::Error;

bitflags! {
    /// What a user may do with a permitted asset and account.
    ///
    /// Stored as a bit mask because permissions union by OR: an account granted by two
    /// permissions carries the union of both permissions' actions.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
    #[derive(serde::Serialize, serde::Deserialize)]
    pub struct Actions: u32 {
        /// Open a session on the asset.
        const CONNECT = 1;
        /// Upload files (SFTP, RDP drive, …).
        const UPLOAD = 2;
        /// Download files.
        const DOWNLOAD = 4;
        /// Copy from the remote clipboard to the local one.
        const COPY = 8;
        /// Paste from the local clipboard into the remote one.
        const PASTE = 16;
        /// Delete files over file transfer.
        const DELETE = 32;
        /// Share a live session with another user.
        const SHARE = 64;
    }
}

/// A name that is not an action (nor an alias of one) was given.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown action {0:?}")]
pub struct UnknownAction(pub String);

/// Canonical single-bit names, in bit order. `names()` renders with these, so the order of
/// this table is the order of the rendered list.
const CANONICAL: [(&str, Actions); 7] = [
    ("connect", Actions::CONNECT),
    ("upload", Actions::UPLOAD),
    ("download", Actions::DOWNLOAD),
    ("copy", Actions::COPY),
    ("paste", Actions::PASTE),
    ("delete", Actions::DELETE),
    ("share", Actions::SHARE),
];

impl Actions {
    /// Every action. A permission created without `actions` gets this (JumpServer's default).
    pub const ALL: Actions = Actions::all();

    /// Parses a list of action names as the JumpServer API accepts them.
    ///
    /// Accepted, case-insensitively: the canonical names (`connect`, `upload`, `download`,
    /// `copy`, `paste`, `delete`, `share`); `all`; the v4 tree-branch names `transfer`
    /// (upload|download|delete) and `clipboard` (copy|paste); the older JumpServer names
    /// `upload_file`, `download_file`, `updownload`, `clipboard_copy`, `clipboard_paste`,
    /// `clipboard_copy_paste`; and decimal bit values (`"1"`, `"127"`) because the API also
    /// lets clients write the `v` of `{v,l}`. An empty list is the empty set: whether "omitted"
    /// means all is the API layer's decision, not this parser's.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<Actions, UnknownAction> {
        names.iter().try_fold(Actions::empty(), |acc, name| {
            Actions::parse_name(name.as_ref()).map(|a| acc | a)
        })
    }

    /// Parses one action name or alias; see [`Actions::from_names`].
    pub fn parse_name(name: &str) -> Result<Actions, UnknownAction> {
        let lowered = name.trim().to_ascii_lowercase();
        let found = match lowered.as_str() {
            "all" => Some(Actions::ALL),
            "transfer" => Some(Actions::UPLOAD | Actions::DOWNLOAD | Actions::DELETE),
            "clipboard" | "clipboard_copy_paste" => Some(Actions::COPY | Actions::PASTE),
            "upload_file" => Some(Actions::UPLOAD),
            "download_file" => Some(Actions::DOWNLOAD),
            "updownload" => Some(Actions::UPLOAD | Actions::DOWNLOAD),
            "clipboard_copy" => Some(Actions::COPY),
            "clipboard_paste" => Some(Actions::PASTE),
            other if !other.is_empty() && other.bytes().all(|b| b.is_ascii_digit()) => {
                other.parse::<u32>().ok().and_then(Actions::from_bits)
            }
            other => CANONICAL.iter().find(|(n, _)| *n == other).map(|(_, a)| *a),
        };
        found.ok_or_else(|| UnknownAction(name.to_owned()))
    }

    /// The canonical names of the set bits, in bit order (connect first).
    ///
    /// Never emits aliases or `all`, so `from_names(&x.names()) == x` for every `x`.
    pub fn names(self) -> Vec<&'static str> {
        CANONICAL
            .iter()
            .filter(|(_, a)| self.contains(*a))
            .map(|(n, _)| *n)
            .collect()
    }

    /// The canonical name of a single-bit value, `None` for a combination or the empty set.
    /// The API layer uses it to render `{v, l}` pairs one bit at a time.
    pub fn name(self) -> Option<&'static str> {
        CANONICAL.iter().find(|(_, a)| *a == self).map(|(n, _)| *n)
    }
}

impl fmt::Display for Actions {
    /// Comma-separated canonical names, for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(","))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn action_bits_are_jumpserver_values() {
        assert_eq!(Actions::CONNECT.bits(), 1);
        assert_eq!(Actions::UPLOAD.bits(), 2);
        assert_eq!(Actions::DOWNLOAD.bits(), 4);
        assert_eq!(Actions::COPY.bits(), 8);
        assert_eq!(Actions::PASTE.bits(), 16);
        assert_eq!(Actions::DELETE.bits(), 32);
        assert_eq!(Actions::SHARE.bits(), 64);
        assert_eq!(Actions::ALL.bits(), 127);
    }

    #[test]
    fn from_names_accepts_canonical_aliases_and_all() {
        let cases: &[(&[&str], Actions)] = &[
            (&[], Actions::empty()),
            (&["connect"], Actions::CONNECT),
            (&["all"], Actions::ALL),
            (&["connect", "all"], Actions::ALL),
            (&["Connect", " COPY "], Actions::CONNECT | Actions::COPY),
            (
                &["transfer"],
                Actions::UPLOAD | Actions::DOWNLOAD | Actions::DELETE,
            ),
            (&["clipboard"], Actions::COPY | Actions::PASTE),
            (&["clipboard_copy_paste"], Actions::COPY | Actions::PASTE),
            (&["clipboard_copy"], Actions::COPY),
            (&["clipboard_paste"], Actions::PASTE),
            (
                &["upload_file", "download_file"],
                Actions::UPLOAD | Actions::DOWNLOAD,
            ),
            (&["updownload"], Actions::UPLOAD | Actions::DOWNLOAD),
            (&["1", "64"], Actions::CONNECT | Actions::SHARE),
            (&["127"], Actions::ALL),
        ];
        for (names, want) in cases {
            assert_eq!(Actions::from_names(names), Ok(*want), "{names:?}");
        }
    }

    #[test]
    fn from_names_rejects_unknown_names_and_bits() {
        for bad in ["", "exec", "128", "99999999999", "-1", "@ALL"] {
            assert_eq!(
                Actions::from_names(&["connect", bad]),
                Err(UnknownAction(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn names_are_canonical_in_bit_order() {
        assert_eq!(
            (Actions::SHARE | Actions::CONNECT | Actions::PASTE).names(),
            vec!["connect", "paste", "share"]
        );
        assert!(Actions::empty().names().is_empty());
        assert_eq!(Actions::ALL.names().len(), 7);
        assert_eq!(Actions::COPY.name(), Some("copy"));
        assert_eq!((Actions::COPY | Actions::PASTE).name(), None);
        assert_eq!(
            (Actions::CONNECT | Actions::COPY).to_string(),
            "connect,copy"
        );
    }

    proptest! {
        #[test]
        fn prop_from_names_of_names_is_identity(bits in 0u32..128) {
            let x = Actions::from_bits_truncate(bits);
            prop_assert_eq!(Actions::from_names(&x.names()), Ok(x));
        }

        #[test]
        fn prop_from_names_is_union_of_single_names(a in 0u32..128, b in 0u32..128) {
            let (a, b) = (Actions::from_bits_truncate(a), Actions::from_bits_truncate(b));
            let mut names = a.names();
            names.extend(b.names());
            prop_assert_eq!(Actions::from_names(&names), Ok(a | b));
        }
    }
}
