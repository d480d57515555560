//! Server configuration ([`Config`]): a TOML file plus `CUSTODY_*` environment
//! overrides, read once at startup into an immutable value. Secrets are never part of
//! the configuration: keys live in 0600 files under the data directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Default listen address (loopback only; exposing the server is a deliberate choice).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";
/// Default address of the metrics listener (`/metrics` only; loopback: a
/// Prometheus on the same host, or a deliberate choice to expose it).
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";
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
    metrics_listen: Option<String>,
    watch: Option<toml::Table>,
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
    /// Where `/metrics` is served: its own listener, never the public one; `None`
    /// (`off`) serves no metrics.
    pub metrics_listen: Option<SocketAddr>,
    /// The detection bus (`[watch]`, DESIGN §9).
    pub watch: WatchSettings,
}

/// The `[watch]` section: detection and automatic containment (DESIGN §9, I8).
/// Besides the keys below, the section holds the detectors' and the response
/// policy's settings (`[watch.hijack]`, `[watch.access]`, `[watch.response]`...,
/// see docs/watch.md), each defaulting to the design's values.
#[derive(Debug, Clone)]
pub struct WatchSettings {
    /// Whether the watch runs (`enabled`, `CUSTODY_WATCH=on|off`; default on).
    pub enabled: bool,
    /// A MaxMind-format city database locating peer addresses for impossible
    /// travel (`geoip_db`, `CUSTODY_WATCH_GEOIP_DB`); none: travel is judged only
    /// for signals that carry coordinates.
    pub geoip_db: Option<PathBuf>,
    /// Capacity of the in-process bus in signals (`bus_capacity`).
    pub bus_capacity: usize,
    /// Detectors and response policy (`node_id` also from `CUSTODY_WATCH_NODE_ID`).
    pub detect: custody_broker::watch::WatchConfig,
}

impl Default for WatchSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            geoip_db: None,
            bus_capacity: custody_broker::watch::DEFAULT_BUS_CAPACITY,
            detect: custody_broker::watch::WatchConfig::default(),
        }
    }
}

impl WatchSettings {
    /// The `[watch]` table of the file (if any), then the environment.
    fn resolve(
        table: Option<toml::Table>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let bad = |name: &'static str, message: String| ConfigError::Env { name, message };
        let mut settings = Self::default();
        if let Some(mut table) = table {
            if let Some(v) = table.remove("enabled") {
                settings.enabled = v
                    .as_bool()
                    .ok_or_else(|| bad("watch.enabled", "not true or false".into()))?;
            }
            if let Some(v) = table.remove("geoip_db") {
                let path = v
                    .as_str()
                    .ok_or_else(|| bad("watch.geoip_db", "not a path".into()))?;
                settings.geoip_db = Some(PathBuf::from(path));
            }
            if let Some(v) = table.remove("bus_capacity") {
                settings.bus_capacity = v
                    .as_integer()
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| (1..=16_777_216).contains(n))
                    .ok_or_else(|| bad("watch.bus_capacity", "not in 1..=16777216".into()))?;
            }
            settings.detect = toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| bad("watch", e.message().to_owned()))?;
        }
        if let Some(text) = env("CUSTODY_WATCH") {
            settings.enabled = match text.as_str() {
                "on" => true,
                "off" => false,
                _ => return Err(bad("CUSTODY_WATCH", "neither `on` nor `off`".into())),
            };
        }
        if let Some(path) = env("CUSTODY_WATCH_GEOIP_DB") {
            settings.geoip_db = Some(PathBuf::from(path));
        }
        if let Some(node) = env("CUSTODY_WATCH_NODE_ID") {
            settings.detect.node_id = node;
        }
        settings
            .detect
            .validate()
            .map_err(|e| bad("watch", e.to_string()))?;
        Ok(settings)
    }
}

/// Parses a metrics listen address: `off` or `address:port`.
fn parse_metrics_listen(name: &'static str, text: &str) -> Result<Option<SocketAddr>, ConfigError> {
    if text == "off" {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| ConfigError::Env {
        name,
        message: format!("{text:?} is neither `off` nor an address:port"),
    })
}

impl Config {
    /// Resolves the configuration: defaults, then `file` (if any), then the
    /// environment (`CUSTODY_DATA`, `CUSTODY_LISTEN`, `CUSTODY_PUBLIC_URL`,
    /// `CUSTODY_MAX_UPLOAD_BYTES`, `CUSTODY_DATABASE_URL`, `CUSTODY_METRICS_LISTEN`,
    /// `CUSTODY_WATCH`, `CUSTODY_WATCH_GEOIP_DB`, `CUSTODY_WATCH_NODE_ID`),
    /// then explicit flags (the metrics flag through [`Config::with_metrics_listen`]).
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
        let metrics_listen = match env("CUSTODY_METRICS_LISTEN") {
            Some(text) => parse_metrics_listen("CUSTODY_METRICS_LISTEN", &text)?,
            None => parse_metrics_listen(
                "metrics_listen",
                parsed
                    .metrics_listen
                    .as_deref()
                    .unwrap_or(DEFAULT_METRICS_LISTEN),
            )?,
        };
        let watch = WatchSettings::resolve(parsed.watch, env)?;
        Self {
            data_dir,
            listen,
            public_url: public_url.trim_end_matches('/').to_owned(),
            max_upload_bytes,
            database_url,
            metrics_listen,
            watch,
        }
        .checked()
    }

    /// Overrides the metrics listener (`--metrics-listen`): `off` or `address:port`.
    pub fn with_metrics_listen(mut self, text: &str) -> Result<Self, ConfigError> {
        self.metrics_listen = parse_metrics_listen("--metrics-listen", text)?;
        self.checked()
    }

    /// The metrics listener must not be the public one.
    fn checked(self) -> Result<Self, ConfigError> {
        if self.metrics_listen == Some(self.listen) {
            return Err(ConfigError::Env {
                name: "metrics_listen",
                message: "must differ from the public listen address (metrics are never \
                          served on the public listener)"
                    .to_owned(),
            });
        }
        Ok(self)
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
    fn metrics_listen_defaults_to_loopback_and_can_be_moved_or_turned_off() {
        let none = |_: &str| None;
        let config = Config::resolve(None, &none, None, None).unwrap();
        let metrics = config.metrics_listen.unwrap();
        assert!(metrics.ip().is_loopback());
        assert_ne!(Some(config.listen), config.metrics_listen);
        let env = |name: &str| (name == "CUSTODY_METRICS_LISTEN").then(|| "off".to_owned());
        assert_eq!(
            Config::resolve(None, &env, None, None)
                .unwrap()
                .metrics_listen,
            None
        );
        let moved = config.clone().with_metrics_listen("10.0.0.5:9100").unwrap();
        assert_eq!(moved.metrics_listen, Some("10.0.0.5:9100".parse().unwrap()));
        // Never on the public listener, and nonsense is named.
        let err = config
            .clone()
            .with_metrics_listen(&config.listen.to_string())
            .unwrap_err();
        assert!(err.to_string().contains("metrics_listen"), "{err}");
        let err = config.with_metrics_listen("loopback").unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
    }

    #[test]
    fn watch_section_defaults_parses_and_names_bad_settings() {
        let none = |_: &str| None;
        let config = Config::resolve(None, &none, None, None).unwrap();
        assert!(config.watch.enabled);
        assert_eq!(
            config.watch.detect,
            custody_broker::watch::WatchConfig::default()
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("custody.toml");
        std::fs::write(
            &file,
            "[watch]\ngeoip_db = \"/geo/city.mmdb\"\nbus_capacity = 8\n\
             [watch.access.cross_tenant_block]\ncount = 4\nwindow_secs = 60\n\
             [watch.response.actions]\nimpossible_travel = [\"suspend_principal\"]\n",
        )
        .unwrap();
        let config = Config::resolve(Some(&file), &none, None, None).unwrap();
        assert_eq!(config.watch.geoip_db, Some(PathBuf::from("/geo/city.mmdb")));
        assert_eq!(config.watch.bus_capacity, 8);
        assert_eq!(config.watch.detect.access.cross_tenant_block.count, 4);
        assert_eq!(
            config
                .watch
                .detect
                .response
                .actions_for(custody_broker::watch::lib::FindingKind::ImpossibleTravel),
            [custody_broker::watch::lib::Action::SuspendPrincipal]
        );
        let off = |name: &str| (name == "CUSTODY_WATCH").then(|| "off".to_owned());
        assert!(
            !Config::resolve(Some(&file), &off, None, None)
                .unwrap()
                .watch
                .enabled
        );
        std::fs::write(&file, "[watch.hijack]\nenabeld = true\n").unwrap();
        let err = Config::resolve(Some(&file), &none, None, None).unwrap_err();
        assert!(err.to_string().contains("enabeld"), "{err}");
        std::fs::write(
            &file,
            "[watch.access.bulk_artifacts]\ncount = 0\nwindow_secs = 1\n",
        )
        .unwrap();
        let err = Config::resolve(Some(&file), &none, None, None).unwrap_err();
        assert!(err.to_string().contains("access.bulk_artifacts"), "{err}");
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
