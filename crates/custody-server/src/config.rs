//! Server configuration ([`Config`]): a TOML file plus `CUSTODY_*` environment
//! overrides, read once at startup into an immutable value. Secrets are never part of
//! the configuration: keys live in 0600 files under the data directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Default listen address (loopback only; exposing the server is a deliberate choice).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";
/// Default maximum upload size (bytes).
pub const DEFAULT_MAX_UPLOAD: u64 = 1024 * 1024 * 1024;
/// Default maximum JSON body (bytes).
pub const DEFAULT_MAX_JSON: usize = 64 * 1024;

/// Errors reading the configuration: each names the file or variable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The config file is not valid TOML for this schema.
    #[error("config file {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (positions, key names; the file holds no secrets).
        message: String,
    },
    /// An environment override is invalid.
    #[error("environment variable {name} is invalid: {message}")]
    Env {
        /// The variable.
        name: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// The file form; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    public_url: Option<String>,
    max_upload_bytes: Option<u64>,
    database_url: Option<String>,
}

/// The resolved, immutable configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Data directory (database, blobs, keys, audit log).
    pub data_dir: PathBuf,
    /// Listen address.
    pub listen: SocketAddr,
    /// The URL clients use (DPoP `htu` is checked against it).
    pub public_url: String,
    /// Maximum upload size in bytes.
    pub max_upload_bytes: u64,
    /// Database URL; `None` means the embedded SQLite file in the data directory.
    pub database_url: Option<String>,
}

impl Config {
    /// Resolves the configuration: defaults, then `file` (if any), then the
    /// environment (`CUSTODY_DATA`, `CUSTODY_LISTEN`, `CUSTODY_PUBLIC_URL`,
    /// `CUSTODY_MAX_UPLOAD_BYTES`, `CUSTODY_DATABASE_URL`), then explicit flags.
    pub fn resolve(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        data_flag: Option<PathBuf>,
        listen_flag: Option<String>,
    ) -> Result<Self, ConfigError> {
        let parsed = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::Parse {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?
            }
            None => FileConfig::default(),
        };
        let data_dir = data_flag
            .or_else(|| env("CUSTODY_DATA").map(PathBuf::from))
            .or(parsed.data_dir)
            .unwrap_or_else(|| PathBuf::from("custody-data"));
        let listen_text = listen_flag
            .or_else(|| env("CUSTODY_LISTEN"))
            .or(parsed.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen_text.parse().map_err(|_| ConfigError::Env {
            name: "listen",
            message: format!("{listen_text:?} is not an address:port"),
        })?;
        let public_url = env("CUSTODY_PUBLIC_URL")
            .or(parsed.public_url)
            .unwrap_or_else(|| format!("http://{listen}"));
        let max_upload_bytes = match env("CUSTODY_MAX_UPLOAD_BYTES") {
            Some(text) => text.parse().map_err(|_| ConfigError::Env {
                name: "CUSTODY_MAX_UPLOAD_BYTES",
                message: "not a number of bytes".to_owned(),
            })?,
            None => parsed.max_upload_bytes.unwrap_or(DEFAULT_MAX_UPLOAD),
        };
        let database_url = env("CUSTODY_DATABASE_URL").or(parsed.database_url);
        Ok(Self {
            data_dir,
            listen,
            public_url: public_url.trim_end_matches('/').to_owned(),
            max_upload_bytes,
            database_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_env_beat_file_beat_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("custody.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\ndata_dir = \"/from/file\"\n",
        )
        .unwrap();
        let env = |name: &str| (name == "CUSTODY_DATA").then(|| "/from/env".to_owned());
        let config = Config::resolve(Some(&file), &env, None, None).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/from/env"));
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.public_url, "http://127.0.0.1:9000");
        let config = Config::resolve(
            Some(&file),
            &env,
            Some("/flag".into()),
            Some("127.0.0.1:1".into()),
        )
        .unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/flag"));
        assert_eq!(config.listen.port(), 1);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("custody.toml");
        std::fs::write(&file, "listn = \"x\"\n").unwrap();
        let none = |_: &str| None;
        let err = Config::resolve(Some(&file), &none, None, None).unwrap_err();
        assert!(err.to_string().contains("listn"), "{err}");
        let err = Config::resolve(None, &none, None, Some("nope".into())).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
