#![doc = include_str!("../README.md")]

pub mod device;
pub mod entropy;
pub mod envelope;
pub mod header;
pub mod keys;

pub use device::{DeviceError, DeviceIdentity, DevicePublic};
pub use entropy::{Entropy, EntropyError, OsEntropy};
pub use envelope::{
    EXPORT_WINDOW_SECS, MAGIC, MAX_WINDOW_SECS, OpenError, OpenOptions, SealError, SealRequest,
    Section, artifact_digest, open, open_with, seal,
};
pub use header::{
    CHUNK_SIZE, ExportId, FORMAT_VERSION, Header, HeaderError, NETWORK_CONTEXT_DOMAIN,
    NetworkContext,
};
pub use keys::{HpkePublicKey, HpkeSecretKey, KeyError, SigningKey, Thumbprint, VerifyingKey};
