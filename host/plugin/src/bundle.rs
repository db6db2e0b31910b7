//! Plugin bundles: what an administrator installs.
//!
//! A bundle is a gzip'd tar holding `plugin.toml`, the component file the manifest names,
//! and optionally `plugin.sig`, `README.md` and an icon (`icon.png` or `icon.svg`); the same
//! files in a directory are accepted too (`portcullis plugin install ./dir`). Entries may sit
//! at the archive's root or under one common top directory (what `tar czf x.tgz dir/` makes).
//!
//! Reading is defensive, because a bundle comes from outside: at most [`MAX_ENTRIES`] entries
//! and [`MAX_TOTAL`] bytes unpacked (counted while decompressing, so a gzip bomb stops early),
//! only regular files (no links, devices or directories other than the top one), no absolute
//! paths or `..`, no unknown or duplicate files. The component's SHA-256 must equal the
//! manifest's `sha256`, which is what lets the manifest signature ([`crate::signing`]) cover
//! the component.
//!
//! [`pack`] writes a deterministic archive (sorted entries, zero times and owners), so packing
//! the same directory twice gives the same bytes.

use crate::manifest::{MANIFEST_FILE, Manifest, ManifestError};
use crate::signing::{SIGNATURE_FILE, SignError, SignatureFile};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Component, Path};

/// Largest unpacked bundle (and largest directory read as one).
pub const MAX_TOTAL: u64 = 256 * 1024 * 1024;

/// Most entries in an archive.
pub const MAX_ENTRIES: usize = 16;

/// The optional files a bundle may carry besides the manifest, component and signature.
pub const EXTRA_FILES: &[&str] = &["README.md", "icon.png", "icon.svg"];

/// Why a bundle cannot be used. Messages name the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Not a gzip'd tar, or a broken one.
    #[error("not a plugin bundle (a .tar.gz with plugin.toml): {0}")]
    Archive(String),
    /// An entry that may not be in a bundle.
    #[error("bundle entry `{path}` refused: {reason}")]
    BadEntry {
        /// The entry's path as stored.
        path: String,
        /// Why.
        reason: String,
    },
    /// More than [`MAX_ENTRIES`] entries or [`MAX_TOTAL`] bytes.
    #[error("the bundle is too large: {0}")]
    TooLarge(String),
    /// A required file is missing.
    #[error("the bundle has no {0}")]
    Missing(String),
    /// The manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The signature file is malformed.
    #[error(transparent)]
    Signature(#[from] SignError),
    /// The component does not have the digest the manifest pins.
    #[error(
        "the component's SHA-256 is {actual}, but plugin.toml says {expected}: the component or the manifest was changed after packing"
    )]
    DigestMismatch {
        /// The manifest's `sha256`.
        expected: String,
        /// What the component hashes to.
        actual: String,
    },
    /// A file or directory could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What happened.
        message: String,
    },
}

/// A bundle read and checked (manifest valid, digest matching; the signature is only parsed:
/// trust is decided by [`crate::signing::verify`] with the administrator's keys).
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The parsed manifest.
    pub manifest: Manifest,
    /// The manifest file's bytes, exactly as in the bundle (what the signature covers).
    pub manifest_bytes: Vec<u8>,
    /// The component.
    pub component: Vec<u8>,
    /// The signature, when the bundle has `plugin.sig`.
    pub signature: Option<SignatureFile>,
    /// Other files (README, icon), by name.
    pub extras: Vec<(String, Vec<u8>)>,
}

/// The lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Bundle {
    /// Assembles a bundle from its files (by name), checking names, the manifest and the
    /// digest. Shared by the archive and directory readers.
    fn from_files(files: Vec<(String, Vec<u8>)>) -> Result<Bundle, BundleError> {
        let mut manifest_bytes = None;
        let mut signature = None;
        let mut others: Vec<(String, Vec<u8>)> = Vec::new();
        for (name, data) in files {
            if name == MANIFEST_FILE {
                manifest_bytes = Some(data);
            } else if name == SIGNATURE_FILE {
                signature = Some(SignatureFile::parse(&data)?);
            } else {
                others.push((name, data));
            }
        }
        let manifest_bytes =
            manifest_bytes.ok_or_else(|| BundleError::Missing(MANIFEST_FILE.into()))?;
        let manifest = Manifest::parse(&manifest_bytes)?;
        let mut component = None;
        let mut extras = Vec::new();
        for (name, data) in others {
            if name == manifest.component {
                component = Some(data);
            } else if EXTRA_FILES.contains(&name.as_str()) {
                extras.push((name, data));
            } else {
                return Err(BundleError::BadEntry {
                    path: name,
                    reason: format!(
                        "a bundle holds only {MANIFEST_FILE}, the component ({}), {SIGNATURE_FILE}, {}",
                        manifest.component,
                        EXTRA_FILES.join(", ")
                    ),
                });
            }
        }
        let component = component.ok_or_else(|| {
            BundleError::Missing(format!(
                "component file `{}` (named by plugin.toml)",
                manifest.component
            ))
        })?;
        let actual = sha256_hex(&component);
        if actual != manifest.sha256 {
            return Err(BundleError::DigestMismatch {
                expected: manifest.sha256.clone(),
                actual,
            });
        }
        Ok(Bundle {
            manifest,
            manifest_bytes,
            component,
            signature,
            extras,
        })
    }

    /// The bundle as a deterministic `.tar.gz`.
    pub fn to_archive(&self) -> Result<Vec<u8>, BundleError> {
        let mut files: Vec<(&str, &[u8])> = vec![
            (MANIFEST_FILE, &self.manifest_bytes),
            (&self.manifest.component, &self.component),
        ];
        let sig = self.signature.as_ref().map(|s| format!("{s}\n"));
        if let Some(s) = &sig {
            files.push((SIGNATURE_FILE, s.as_bytes()));
        }
        for (name, data) in &self.extras {
            files.push((name, data));
        }
        files.sort_by(|a, b| a.0.cmp(b.0));
        write_archive(&files)
    }
}

fn write_archive(files: &[(&str, &[u8])]) -> Result<Vec<u8>, BundleError> {
    let fail = |e: std::io::Error| BundleError::Archive(e.to_string());
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    for (name, data) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, name, *data).map_err(fail)?;
    }
    let gz = tar.into_inner().map_err(fail)?;
    gz.finish().map_err(fail)
}

/// Reads a `.tar.gz` bundle.
pub fn read(bytes: &[u8]) -> Result<Bundle, BundleError> {
    let archive_err = |e: std::io::Error| BundleError::Archive(e.to_string());
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Err(BundleError::Archive(
            "the data is not gzip-compressed".into(),
        ));
    }
    // The decoder is capped one byte past the limit, so "exactly at the limit" and "past it"
    // can be told apart.
    let gz = flate2::read::GzDecoder::new(bytes).take(MAX_TOTAL + 1);
    let mut archive = tar::Archive::new(gz);
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut top: Option<String> = None;
    let mut total: u64 = 0;
    let mut count = 0usize;
    for entry in archive.entries().map_err(archive_err)? {
        let mut entry = entry.map_err(archive_err)?;
        count += 1;
        if count > MAX_ENTRIES {
            return Err(BundleError::TooLarge(format!(
                "more than {MAX_ENTRIES} entries"
            )));
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let bad = |reason: &str| BundleError::BadEntry {
            path: raw.clone(),
            reason: reason.to_owned(),
        };
        let path = entry
            .path()
            .map_err(|_| bad("the path is not valid"))?
            .into_owned();
        let mut parts = Vec::new();
        for c in path.components() {
            match c {
                Component::Normal(p) => parts.push(
                    p.to_str()
                        .ok_or_else(|| bad("the path is not UTF-8"))?
                        .to_owned(),
                ),
                Component::CurDir => {}
                Component::ParentDir => return Err(bad("`..` in a path")),
                Component::RootDir | Component::Prefix(_) => {
                    return Err(bad("an absolute path"));
                }
            }
        }
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            match parts.as_slice() {
                [dir] if top.as_ref().is_none_or(|t| t == dir) => {
                    top = Some(dir.clone());
                    continue;
                }
                [] => continue,
                _ => return Err(bad("nested directories are not allowed")),
            }
        }
        if !kind.is_file() {
            return Err(bad("only regular files are allowed (no links or devices)"));
        }
        let name = match parts.as_slice() {
            [name] if top.is_none() => name.clone(),
            [dir, name] if top.as_ref().is_none_or(|t| t == dir) => {
                top = Some(dir.clone());
                name.clone()
            }
            _ => return Err(bad("files must be at the root or in one top directory")),
        };
        if files.iter().any(|(n, _)| *n == name) {
            return Err(bad("the file appears twice"));
        }
        let size = entry.header().size().map_err(archive_err)?;
        total = total.saturating_add(size);
        if total > MAX_TOTAL {
            return Err(BundleError::TooLarge(format!(
                "more than {} MiB unpacked",
                MAX_TOTAL / 1024 / 1024
            )));
        }
        let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 20));
        entry.read_to_end(&mut data).map_err(archive_err)?;
        files.push((name, data));
    }
    // Any bytes left past the archive's end (or the cap) mean trouble.
    if archive.into_inner().limit() == 0 {
        return Err(BundleError::TooLarge(format!(
            "more than {} MiB unpacked",
            MAX_TOTAL / 1024 / 1024
        )));
    }
    if files.is_empty() {
        return Err(BundleError::Archive("the archive is empty".into()));
    }
    Bundle::from_files(files)
}

/// Reads a plugin directory: the same files as a bundle, unknown files ignored (a source tree
/// has build files next to them).
pub fn read_dir(dir: &Path) -> Result<Bundle, BundleError> {
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |e: std::io::Error| BundleError::Io {
            path: p.clone(),
            message: e.to_string(),
        }
    };
    let manifest_path = dir.join(MANIFEST_FILE);
    let manifest_bytes = std::fs::read(&manifest_path).map_err(io(&manifest_path))?;
    let manifest = Manifest::parse(&manifest_bytes)?;
    let mut files = vec![(MANIFEST_FILE.to_owned(), manifest_bytes)];
    let mut total = 0u64;
    let names = [manifest.component.as_str(), SIGNATURE_FILE]
        .into_iter()
        .chain(EXTRA_FILES.iter().copied());
    for name in names {
        let path = dir.join(name);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(&path)(e)),
        };
        if !meta.is_file() {
            return Err(BundleError::BadEntry {
                path: path.display().to_string(),
                reason: "only regular files are allowed (no links or directories)".into(),
            });
        }
        total = total.saturating_add(meta.len());
        if total > MAX_TOTAL {
            return Err(BundleError::TooLarge(format!(
                "more than {} MiB",
                MAX_TOTAL / 1024 / 1024
            )));
        }
        files.push((name.to_owned(), std::fs::read(&path).map_err(io(&path))?));
    }
    Bundle::from_files(files)
}

/// Reads a bundle file or a plugin directory, whichever `path` is.
pub fn open(path: &Path) -> Result<Bundle, BundleError> {
    let meta = std::fs::metadata(path).map_err(|e| BundleError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    if meta.is_dir() {
        return read_dir(path);
    }
    if meta.len() > MAX_TOTAL {
        return Err(BundleError::TooLarge(format!(
            "{} is larger than {} MiB",
            path.display(),
            MAX_TOTAL / 1024 / 1024
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| BundleError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    read(&bytes)
}

/// Packs a plugin directory into bundle bytes (checked exactly as an install would check
/// them, signature parsed but not verified).
pub fn pack(dir: &Path) -> Result<Vec<u8>, BundleError> {
    read_dir(dir)?.to_archive()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0 not really a component";

    fn manifest(digest: &str) -> String {
        format!(
            "schema = 1\nid = \"demo\"\nname = \"Demo\"\nversion = \"0.1.0\"\npublisher = \"acme\"\nkind = \"autofill\"\napi = \"0.1\"\ncomponent = \"demo.wasm\"\nsha256 = \"{digest}\"\n"
        )
    }

    fn plugin_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("plugin.toml"),
            manifest(&sha256_hex(COMPONENT)),
        )
        .unwrap();
        std::fs::write(dir.path().join("demo.wasm"), COMPONENT).unwrap();
        std::fs::write(dir.path().join("README.md"), "# Demo").unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), "[package]").unwrap();
        dir
    }

    /// A raw archive with arbitrary entries (name, type, data).
    fn raw_archive(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            if kind.is_symlink() {
                h.set_link_name("/etc/passwd").unwrap();
            }
            // `set_path` refuses `..`, so write the name bytes directly.
            let name_field = &mut h.as_old_mut().name;
            name_field[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            tar.append(&h, *data).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn a_directory_packs_into_a_bundle_that_reads_back() {
        let dir = plugin_dir();
        let bytes = pack(dir.path()).unwrap();
        assert_eq!(bytes, pack(dir.path()).unwrap(), "packing is deterministic");
        let bundle = read(&bytes).unwrap();
        assert_eq!(bundle.manifest.id, "demo");
        assert_eq!(bundle.component, COMPONENT);
        assert!(bundle.signature.is_none());
        assert_eq!(bundle.extras.len(), 1, "README kept, Cargo.toml left out");
        assert_eq!(
            bundle.manifest_bytes,
            std::fs::read(dir.path().join("plugin.toml")).unwrap()
        );
    }

    #[test]
    fn a_signed_bundle_keeps_its_signature() {
        let dir = plugin_dir();
        let key = crate::signing::generate();
        let mut bundle = read_dir(dir.path()).unwrap();
        bundle.signature = Some(crate::signing::sign(&bundle.manifest_bytes, &key));
        let back = read(&bundle.to_archive().unwrap()).unwrap();
        assert_eq!(back.signature, bundle.signature);
    }

    #[test]
    fn a_changed_component_fails_the_digest() {
        let dir = plugin_dir();
        std::fs::write(dir.path().join("demo.wasm"), b"other bytes").unwrap();
        assert!(matches!(
            pack(dir.path()),
            Err(BundleError::DigestMismatch { .. })
        ));
    }

    #[test]
    fn files_under_one_top_directory_are_accepted() {
        let m = manifest(&sha256_hex(COMPONENT));
        let bytes = raw_archive(&[
            ("demo/", tar::EntryType::Directory, b""),
            ("demo/plugin.toml", tar::EntryType::Regular, m.as_bytes()),
            ("demo/demo.wasm", tar::EntryType::Regular, COMPONENT),
        ]);
        assert_eq!(read(&bytes).unwrap().manifest.id, "demo");
    }

    #[test]
    fn hostile_archives_are_refused() {
        let m = manifest(&sha256_hex(COMPONENT));
        let ok = |extra: (&'static str, tar::EntryType, &'static [u8])| {
            raw_archive(&[
                ("plugin.toml", tar::EntryType::Regular, m.as_bytes()),
                ("demo.wasm", tar::EntryType::Regular, COMPONENT),
                extra,
            ])
        };
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (ok(("../evil", tar::EntryType::Regular, b"x")), "`..`"),
            (ok(("/etc/evil", tar::EntryType::Regular, b"x")), "absolute"),
            (ok(("link", tar::EntryType::Symlink, b"")), "regular files"),
            (
                ok(("extra.bin", tar::EntryType::Regular, b"x")),
                "holds only",
            ),
            (ok(("plugin.toml", tar::EntryType::Regular, b"x")), "twice"),
            (
                ok(("a/b/c", tar::EntryType::Regular, b"x")),
                "top directory",
            ),
            (b"PK\x03\x04 a zip".to_vec(), "gzip"),
        ];
        for (bytes, needle) in cases {
            let e = read(&bytes).unwrap_err().to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
        let many: Vec<(String, tar::EntryType, Vec<u8>)> = (0..=MAX_ENTRIES)
            .map(|i| (format!("f{i}"), tar::EntryType::Regular, vec![]))
            .collect();
        let refs: Vec<(&str, tar::EntryType, &[u8])> = many
            .iter()
            .map(|(n, k, d)| (n.as_str(), *k, d.as_slice()))
            .collect();
        assert!(matches!(
            read(&raw_archive(&refs)),
            Err(BundleError::TooLarge(_))
        ));
        let missing = raw_archive(&[("plugin.toml", tar::EntryType::Regular, m.as_bytes())]);
        assert!(matches!(read(&missing), Err(BundleError::Missing(_))));
    }

    #[test]
    fn an_entry_larger_than_the_cap_is_refused_before_it_is_read() {
        // A header claiming a size past the cap, followed by a few bytes only: the size alone
        // refuses it, so nothing is decompressed or buffered.
        let mut h = tar::Header::new_gnu();
        h.set_path("demo.wasm").unwrap();
        h.set_size(MAX_TOTAL + 1);
        h.set_mode(0o644);
        h.set_cksum();
        let mut raw = h.as_bytes().to_vec();
        raw.extend_from_slice(&[0u8; 1024]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &raw).unwrap();
        let bytes = gz.finish().unwrap();
        assert!(matches!(read(&bytes), Err(BundleError::TooLarge(_))));
    }
}
