//! Configuration: defaults, then the TOML file, then environment variables, then flags.
//!
//! Clap merges flags with their environment variables (a flag wins); this module lays the
//! result over the file and the defaults and validates the whole, so that a bad value stops
//! the program with one message naming the setting and how to fix it.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The file form. Unknown keys are refused so that a typo does not silently do nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Where Portcullis keeps its database (by default), keys and recordings.
    pub data_dir: Option<PathBuf>,
    /// `sqlite://…` or `postgres://…`.
    pub database_url: Option<String>,
    /// REST API and web UI listener.
    pub http_addr: Option<String>,
    /// SSH gateway listener.
    pub ssh_addr: Option<String>,
    /// MiB of whole asset-list answers kept in memory (0 turns the cache off).
    pub page_cache_mib: Option<u64>,
    /// Secret encryption.
    #[serde(default)]
    pub vault: VaultConfig,
}

/// `[vault]`: where the master key comes from.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultConfig {
    /// The key itself (base64 of 32 bytes). Prefer the environment or a key file.
    pub master_key: Option<String>,
    /// A key file (default: `<data_dir>/master.key`, generated on first start with mode 0600).
    pub master_key_file: Option<PathBuf>,
}

/// What the command line and environment supplied (each `None` when not given).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// TOML configuration file; flags and environment variables override it.
    #[arg(long, env = "PORTCULLIS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (database, master key, recordings).
    #[arg(long, env = "PORTCULLIS_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST:PORT/DB [default: SQLite file in the data dir]
    #[arg(long, env = "PORTCULLIS_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Master key for secrets (base64 of 32 bytes) instead of a key file.
    #[arg(
        long,
        env = "PORTCULLIS_MASTER_KEY",
        value_name = "BASE64",
        hide_env_values = true
    )]
    pub master_key: Option<String>,
    /// Master key file [default: <data dir>/master.key]
    #[arg(long, env = "PORTCULLIS_MASTER_KEY_FILE", value_name = "FILE")]
    pub master_key_file: Option<PathBuf>,
}

/// Listener flags, only for `serve`.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ListenOverrides {
    /// REST API and web UI address [default: 127.0.0.1:8080]
    #[arg(long, env = "PORTCULLIS_HTTP_ADDR", value_name = "ADDR")]
    pub http_addr: Option<String>,
    /// SSH gateway address [default: 127.0.0.1:2222]
    #[arg(long, env = "PORTCULLIS_SSH_ADDR", value_name = "ADDR")]
    pub ssh_addr: Option<String>,
    /// MiB of whole asset-list answers kept in memory, 0 to turn the cache off [default: 64]
    #[arg(long, env = "PORTCULLIS_PAGE_CACHE_MIB", value_name = "MIB")]
    pub page_cache_mib: Option<u64>,
}

/// Where the master key comes from, once resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Given inline (environment variable, flag or config file).
    Inline(String),
    /// A key file, generated on first start if it does not exist.
    File(PathBuf),
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Database URL.
    pub database_url: String,
    /// HTTP listener.
    pub http_addr: SocketAddr,
    /// SSH listener.
    pub ssh_addr: SocketAddr,
    /// Master key source.
    pub key: KeySource,
    /// Byte budget of the list-page cache (`portcullis_api::page_cache`); 0 turns it off.
    pub page_cache_bytes: usize,
}

impl Config {
    /// Resolves defaults < file < environment < flags, and validates.
    pub fn resolve(o: &Overrides, listen: &ListenOverrides) -> Result<Config> {
        let file = match &o.config {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        let data_dir = o
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
        let database_url = o
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("portcullis.db").display()));
        let http_addr = parse_addr(
            "http_addr / --http-addr / PORTCULLIS_HTTP_ADDR",
            listen.http_addr.clone().or(file.http_addr).as_deref(),
            "127.0.0.1:8080",
        )?;
        let ssh_addr = parse_addr(
            "ssh_addr / --ssh-addr / PORTCULLIS_SSH_ADDR",
            listen.ssh_addr.clone().or(file.ssh_addr).as_deref(),
            "127.0.0.1:2222",
        )?;
        let key = match (
            o.master_key.clone().or(file.vault.master_key),
            o.master_key_file.clone().or(file.vault.master_key_file),
        ) {
            (Some(_), Some(_)) => bail!(
                "both a master key and a master key file are configured; keep one (PORTCULLIS_MASTER_KEY / vault.master_key, or PORTCULLIS_MASTER_KEY_FILE / vault.master_key_file)"
            ),
            (Some(k), None) => KeySource::Inline(k),
            (None, Some(f)) => KeySource::File(f),
            (None, None) => KeySource::File(data_dir.join("master.key")),
        };
        let page_cache_bytes = match listen.page_cache_mib.or(file.page_cache_mib) {
            None => portcullis_api::page_cache::DEFAULT_MAX_BYTES,
            Some(mib) => usize::try_from(mib)
                .ok()
                .and_then(|m| m.checked_mul(1024 * 1024))
                .with_context(|| {
                    format!("page_cache_mib / --page-cache-mib / PORTCULLIS_PAGE_CACHE_MIB is {mib}, which is too large")
                })?,
        };
        Ok(Config {
            data_dir,
            database_url,
            http_addr,
            ssh_addr,
            key,
            page_cache_bytes,
        })
    }
}

fn load_file(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "the configuration file {} is not valid: {}",
            path.display(),
            e.to_string().trim_end()
        )
    })
}

fn parse_addr(name: &str, value: Option<&str>, default: &str) -> Result<SocketAddr> {
    let text = value.unwrap_or(default);
    text.parse().map_err(|_| {
        anyhow::anyhow!(
            "{name} is `{text}`, which is not an address; write IP:PORT, e.g. {default}"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn defaults_put_everything_in_the_data_dir() {
        let c = Config::resolve(&Overrides::default(), &ListenOverrides::default()).unwrap();
        assert_eq!(c.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.ssh_addr.to_string(), "127.0.0.1:2222");
        assert_eq!(c.database_url, "sqlite://data/portcullis.db");
        assert_eq!(c.key, KeySource::File(PathBuf::from("data/master.key")));
    }

    #[test]
    fn flags_override_the_file() {
        let f =
            write("data_dir = \"/srv/p\"\nhttp_addr = \"0.0.0.0:80\"\nssh_addr = \"0.0.0.0:22\"\n");
        let o = Overrides {
            config: Some(f.path().into()),
            ..Overrides::default()
        };
        let l = ListenOverrides {
            http_addr: Some("127.0.0.1:9000".into()),
            ..ListenOverrides::default()
        };
        let c = Config::resolve(&o, &l).unwrap();
        assert_eq!(c.http_addr.to_string(), "127.0.0.1:9000");
        assert_eq!(c.ssh_addr.to_string(), "0.0.0.0:22");
        assert_eq!(c.database_url, "sqlite:///srv/p/portcullis.db");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let f = write("data_dri = \"x\"\n");
        let o = Overrides {
            config: Some(f.path().into()),
            ..Overrides::default()
        };
        let err = Config::resolve(&o, &ListenOverrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("data_dri"), "{err}");
        let l = ListenOverrides {
            http_addr: Some("localhost".into()),
            ..ListenOverrides::default()
        };
        let err = Config::resolve(&Overrides::default(), &l)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--http-addr") && err.contains("localhost"),
            "{err}"
        );
    }
}
