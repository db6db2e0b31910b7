//! The few facts the harness needs from a plugin project's `plugin.toml`: id, version, kind,
//! component file and requested capabilities.
//!
//! Read leniently on purpose (unknown keys and a stale `sha256` are fine): during development
//! the manifest is checked in full by `portcullis plugin pack`/`install`, while tests only need
//! to know what to grant by default and what `describe` must answer. The harness never adds
//! keys of its own to `plugin.toml` (the real manifest parser refuses unknown keys): the build
//! language is read from the project's files instead.

use portcullis_plugin::kind::Kind;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The manifest file name of a plugin project.
pub const MANIFEST_FILE: &str = "plugin.toml";

/// What the harness reads from `plugin.toml`.
#[derive(Debug, Clone, Deserialize)]
pub struct ProjectManifest {
    /// The plugin id (`describe` must answer it).
    pub id: String,
    /// The plugin version (`describe` must answer it).
    pub version: String,
    /// The world the component implements.
    pub kind: Kind,
    /// The component file, relative to the project (default `plugin.wasm`).
    #[serde(default = "default_component")]
    pub component: String,
    /// Requested capabilities: the default grant of golden cases.
    #[serde(default)]
    pub capabilities: ProjectCapabilities,
}

fn default_component() -> String {
    "plugin.wasm".to_owned()
}

/// `[capabilities]` as far as the harness cares.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProjectCapabilities {
    /// Requested HTTP origins.
    #[serde(default)]
    pub http: Vec<String>,
    /// Remote sessions.
    #[serde(default)]
    pub remote: bool,
    /// Secret names.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// `secrets.reveal`.
    #[serde(default)]
    pub reveal: bool,
}

/// `plugin.toml` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// No manifest where one was expected.
    #[error("{0}: no plugin.toml here (or in a parent directory)")]
    NotFound(String),
    /// Reading failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Not valid TOML or missing keys.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl ProjectManifest {
    /// Reads `dir/plugin.toml`.
    pub fn load(dir: &Path) -> Result<Self, ProjectError> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ProjectError::Io {
            path: path.display().to_string(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ProjectError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// The component file of the project in `dir`.
    pub fn component_path(&self, dir: &Path) -> PathBuf {
        dir.join(&self.component)
    }
}

/// The nearest directory at or above `start` holding a `plugin.toml`.
pub fn find_project(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|d| d.join(MANIFEST_FILE).is_file())
        .map(Path::to_path_buf)
}
