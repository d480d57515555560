//! The server's key material ([`ServerKeys`]), loaded from (or created in) the data
//! directory's `keys/` folder: one 0600 file per key, in a 0700 directory.
//!
//! | file | what |
//! | --- | --- |
//! | `authority.jwk` | Ed25519 key that signs access tokens (custody-token) |
//! | `seal.key` | Ed25519 key that signs sealed-export headers (custody-seal) |
//! | `kek.key` | key-encryption key for tenant data keys ([`crate::atrest`]) |
//! | `audit.key` | Ed25519 note key that signs audit checkpoints (custody-audit) |
//! | `nonce.key` | HMAC key of the DPoP server nonces |
//! | `policy-trust.json` | the policy release trust root (public keys, threshold) |
//!
//! Policy release keys are NOT server keys: `custody init` writes them to a separate
//! `release-keys/` folder and tells the operator to move them off the machine.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use custody_audit::note::NoteSigner;
use custody_token::Ed25519KeyPair;
use zeroize::Zeroizing;

use crate::atrest::Kek;

/// Errors loading or creating keys. Names the file, never the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// A key file could not be read or written.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A key file exists but does not hold a valid key.
    #[error("key file {path} is malformed")]
    Malformed {
        /// The file.
        path: PathBuf,
    },
    /// A key file is readable by others than its owner.
    #[error("key file {path} has mode {mode:o}; it must be 0600")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// The randomness source failed.
    #[error("the system randomness source failed")]
    Entropy,
}

/// The server's private keys. No `Debug` of key bytes.
pub struct ServerKeys {
    /// Access-token signing key.
    pub authority: Ed25519KeyPair,
    /// Sealed-export header signing key.
    pub seal: custody_seal::SigningKey,
    /// Key-encryption key.
    pub kek: Kek,
    /// Audit checkpoint signer.
    pub audit: NoteSigner,
    /// DPoP nonce key.
    pub nonce: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for ServerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKeys")
            .field("authority_kid", &self.authority.thumbprint().as_str())
            .finish_non_exhaustive()
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Creates `dir` (and parents) with mode 0700.
pub fn private_dir(dir: &Path) -> Result<(), KeyFileError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err(dir))
}

/// Writes `bytes` to a new 0600 file; refuses to overwrite.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyFileError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    file.write_all(bytes).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

/// Reads a 0600 key file; refuses group- or world-readable ones.
pub fn read_private(path: &Path) -> Result<Option<Zeroizing<Vec<u8>>>, KeyFileError> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    fs::read(path)
        .map(Zeroizing::new)
        .map(Some)
        .map_err(io_err(path))
}

fn random32() -> Result<Zeroizing<[u8; 32]>, KeyFileError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut_slice()).map_err(|_| KeyFileError::Entropy)?;
    Ok(bytes)
}

fn load_or_create_raw(path: &Path) -> Result<Zeroizing<[u8; 32]>, KeyFileError> {
    if let Some(bytes) = read_private(path)? {
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyFileError::Malformed {
                path: path.to_owned(),
            })?;
        return Ok(Zeroizing::new(key));
    }
    let key = random32()?;
    write_private(path, key.as_slice())?;
    Ok(key)
}

impl ServerKeys {
    /// Loads every key from `dir`, creating the missing ones.
    pub fn load_or_create(dir: &Path, audit_origin: &str) -> Result<Self, KeyFileError> {
        private_dir(dir)?;
        let malformed = |path: &Path| KeyFileError::Malformed {
            path: path.to_owned(),
        };
        let authority_path = dir.join("authority.jwk");
        let authority = match read_private(&authority_path)? {
            Some(bytes) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|text| Ed25519KeyPair::from_jwk_json(text).ok())
                .ok_or_else(|| malformed(&authority_path))?,
            None => {
                let key = Ed25519KeyPair::generate(&mut rand_core::OsRng);
                write_private(&authority_path, key.to_private_jwk_json().as_bytes())?;
                key
            }
        };
        let seal_path = dir.join("seal.key");
        let seal_seed = load_or_create_raw(&seal_path)?;
        let seal =
            custody_seal::SigningKey::from_seed(&seal_seed).map_err(|_| malformed(&seal_path))?;
        let kek = Kek::from_bytes(*load_or_create_raw(&dir.join("kek.key"))?);
        let audit_path = dir.join("audit.key");
        let audit_seed = load_or_create_raw(&audit_path)?;
        let audit =
            NoteSigner::from_seed(audit_origin, &audit_seed).map_err(|_| malformed(&audit_path))?;
        let nonce = load_or_create_raw(&dir.join("nonce.key"))?;
        Ok(Self {
            authority,
            seal,
            kek,
            audit,
            nonce,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_persist_with_0600_and_reload_identically() {
        let dir = tempfile::tempdir().unwrap();
        let keys_dir = dir.path().join("keys");
        let first = ServerKeys::load_or_create(&keys_dir, "custody.test/audit").unwrap();
        let second = ServerKeys::load_or_create(&keys_dir, "custody.test/audit").unwrap();
        assert_eq!(first.authority.thumbprint(), second.authority.thumbprint());
        assert_eq!(
            first.seal.public().as_bytes(),
            second.seal.public().as_bytes()
        );
        assert_eq!(first.kek.secret_bytes(), second.kek.secret_bytes());
        for entry in fs::read_dir(&keys_dir).unwrap() {
            let mode = entry.unwrap().metadata().unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let dir_mode = fs::metadata(&keys_dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
        assert!(!format!("{first:?}").contains(&hex_of(first.kek.secret_bytes())));
    }

    #[test]
    fn a_world_readable_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let keys_dir = dir.path().join("keys");
        ServerKeys::load_or_create(&keys_dir, "o").unwrap();
        let kek = keys_dir.join("kek.key");
        fs::set_permissions(&kek, fs::Permissions::from_mode(0o644)).unwrap();
        let err = ServerKeys::load_or_create(&keys_dir, "o").unwrap_err();
        assert!(matches!(err, KeyFileError::Permissions { .. }), "{err}");
    }

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
