//! Locating a source address: the [`GeoLocator`] trait and [`MaxMindLocator`], a
//! reader of MaxMind-format (`.mmdb`) city databases (GeoIP2/GeoLite2 City, DB-IP
//! City Lite and any database whose records carry `location.latitude`,
//! `location.longitude` and optionally `location.accuracy_radius`).
//!
//! The impossible-travel detector uses a signal's own coordinates when it has them
//! and asks the locator otherwise. An address the database does not know, or a
//! record without coordinates, has no location: travel is then not judged for that
//! signal (it is counted in the watch's state report, not guessed).

use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;

use crate::signal::GeoPoint;

/// Gives the approximate location of an address.
pub trait GeoLocator: Send + Sync {
    /// The location of `ip`, or `None` when unknown.
    fn locate(&self, ip: IpAddr) -> Option<GeoPoint>;
}

/// A MaxMind-format database, loaded into memory.
pub struct MaxMindLocator {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl std::fmt::Debug for MaxMindLocator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let meta = self.reader.metadata();
        f.debug_struct("MaxMindLocator")
            .field("database_type", &meta.database_type)
            .field("build_epoch", &meta.build_epoch)
            .finish()
    }
}

/// The database could not be read or is not a valid MaxMind database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GeoError {
    /// The file could not be read or parsed.
    #[error("GeoIP database is unreadable or invalid: {0}")]
    Invalid(String),
}

#[derive(Deserialize, Default)]
struct CityRecord {
    #[serde(default)]
    location: Option<LocationRecord>,
}

#[derive(Deserialize, Default)]
struct LocationRecord {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
    #[serde(default)]
    accuracy_radius: Option<u16>,
}

impl MaxMindLocator {
    /// Reads and checks the database at `path`.
    ///
    /// # Errors
    /// [`GeoError::Invalid`] when the file is unreadable or not a MaxMind database.
    pub fn open(path: &Path) -> Result<Self, GeoError> {
        let bytes = std::fs::read(path).map_err(|e| GeoError::Invalid(e.kind().to_string()))?;
        Self::from_bytes(bytes)
    }

    /// Parses a database held in memory.
    ///
    /// # Errors
    /// [`GeoError::Invalid`] when the bytes are not a MaxMind database.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, GeoError> {
        let reader =
            maxminddb::Reader::from_source(bytes).map_err(|e| GeoError::Invalid(e.to_string()))?;
        Ok(Self { reader })
    }
}

impl GeoLocator for MaxMindLocator {
    fn locate(&self, ip: IpAddr) -> Option<GeoPoint> {
        let result = self.reader.lookup(ip).ok()?;
        let record: CityRecord = result.decode().ok()??;
        let loc = record.location?;
        let point = GeoPoint {
            lat: loc.latitude?,
            lon: loc.longitude?,
            accuracy_km: loc.accuracy_radius.map(f64::from),
        };
        point.is_valid().then_some(point)
    }
}
