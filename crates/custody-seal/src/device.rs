//! Device identity: the HPKE key pair that receives exports and the Ed25519
//! proof-of-possession key pair, and their on-disk layout.
//!
//! [`DeviceIdentity`] holds both private keys; [`DevicePublic`] the public parts, whose
//! JSON form is what `custody device show` prints and what a broker registers.
//! Directory layout (documented in `docs/formats/envelope.md`):
//!
//! - `hpke.jwk`: private X25519 JWK (RFC 8037, with `d`), mode 0600;
//! - `pop.jwk`: private Ed25519 JWK (RFC 8037, with `d`), mode 0600;
//! - `device.json`: the public document, mode 0644.
//!
//! The directory is created with mode 0700. Loading refuses private key files that are
//! readable by group or others, as OpenSSH does.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::entropy::Entropy;
use crate::keys::{HpkePublicKey, HpkeSecretKey, KeyError, SigningKey, Thumbprint, VerifyingKey};

/// File name of the private HPKE key inside a device directory.
pub const HPKE_KEY_FILE: &str = "hpke.jwk";
/// File name of the private proof-of-possession key inside a device directory.
pub const POP_KEY_FILE: &str = "pop.jwk";
/// File name of the public device document inside a device directory.
pub const PUBLIC_FILE: &str = "device.json";

/// Reading or writing a device identity failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// A key is malformed.
    #[error("device key {path}: {source}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: KeyError,
    },
    /// A private key file is readable by group or others.
    #[error(
        "device key {path} has mode {mode:o}; private keys must not be readable by group or others (chmod 600)"
    )]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The identity already exists; it is never overwritten.
    #[error("a device identity already exists at {path}")]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// The public document is malformed.
    #[error("device document {path} is malformed")]
    MalformedPublic {
        /// The file.
        path: PathBuf,
    },
    /// A file could not be read or written.
    #[error("device file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// The public half of a device identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DevicePublic {
    /// Key that exports are sealed to.
    pub hpke: HpkePublicKey,
    /// Key that signs proofs of possession (DPoP).
    pub pop: VerifyingKey,
}

#[derive(Serialize, Deserialize)]
struct PublicDoc {
    version: u32,
    device_id: String,
    hpke_jwk: serde_json::Value,
    pop_jwk: serde_json::Value,
    pop_jkt: String,
}

impl DevicePublic {
    /// The device id: thumbprint of the HPKE public key.
    pub fn device_id(&self) -> Thumbprint {
        self.hpke.thumbprint()
    }

    /// The public JSON document (pretty-printed): device id, both public JWKs and the
    /// PoP key thumbprint (`jkt`).
    pub fn to_json(&self) -> String {
        let doc = PublicDoc {
            version: 1,
            device_id: self.device_id().to_string(),
            hpke_jwk: serde_json::from_str(&self.hpke.to_jwk()).unwrap_or_default(),
            pop_jwk: serde_json::from_str(&self.pop.to_jwk()).unwrap_or_default(),
            pop_jkt: self.pop.thumbprint().to_string(),
        };
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }

    /// Parses the public JSON document and checks that its ids match its keys.
    ///
    /// # Errors
    /// [`KeyError`] if a key is malformed or an id does not match.
    pub fn from_json(text: &str) -> Result<Self, KeyError> {
        let doc: PublicDoc = serde_json::from_str(text).map_err(|_| KeyError::NotJwk)?;
        let public = Self {
            hpke: HpkePublicKey::from_jwk(&doc.hpke_jwk.to_string())?,
            pop: VerifyingKey::from_jwk(&doc.pop_jwk.to_string())?,
        };
        if public.device_id().to_string() != doc.device_id
            || public.pop.thumbprint().to_string() != doc.pop_jkt
        {
            return Err(KeyError::PublicMismatch);
        }
        Ok(public)
    }
}

/// A device's private keys. No `Debug` of secrets; keys zeroize on drop.
#[derive(Clone, Debug)]
pub struct DeviceIdentity {
    hpke: HpkeSecretKey,
    pop: SigningKey,
}

impl DeviceIdentity {
    /// Generates a fresh identity.
    ///
    /// # Errors
    /// [`KeyError::Entropy`] when the random source fails.
    pub fn generate(entropy: &mut dyn Entropy) -> Result<Self, KeyError> {
        Ok(Self {
            hpke: HpkeSecretKey::generate(entropy)?,
            pop: SigningKey::generate(entropy)?,
        })
    }

    /// Builds an identity from existing keys.
    pub fn from_keys(hpke: HpkeSecretKey, pop: SigningKey) -> Self {
        Self { hpke, pop }
    }

    /// The HPKE (X25519) private key that opens exports.
    pub fn hpke_key(&self) -> &HpkeSecretKey {
        &self.hpke
    }

    /// The Ed25519 proof-of-possession signing key (for DPoP proofs).
    pub fn pop_key(&self) -> &SigningKey {
        &self.pop
    }

    /// The public half.
    pub fn public(&self) -> DevicePublic {
        DevicePublic {
            hpke: self.hpke.public(),
            pop: self.pop.public(),
        }
    }

    /// Writes the identity into `dir` (created with mode 0700 if missing): private keys
    /// with mode 0600, never overwriting an existing identity.
    ///
    /// # Errors
    /// [`DeviceError::AlreadyExists`] or an I/O error naming the file.
    pub fn save(&self, dir: &Path) -> Result<(), DeviceError> {
        create_private_dir(dir)?;
        for name in [HPKE_KEY_FILE, POP_KEY_FILE, PUBLIC_FILE] {
            let path = dir.join(name);
            if path.exists() {
                return Err(DeviceError::AlreadyExists { path });
            }
        }
        write_new(
            &dir.join(HPKE_KEY_FILE),
            self.hpke.to_jwk().as_bytes(),
            0o600,
        )?;
        write_new(&dir.join(POP_KEY_FILE), self.pop.to_jwk().as_bytes(), 0o600)?;
        let mut public = self.public().to_json();
        public.push('\n');
        write_new(&dir.join(PUBLIC_FILE), public.as_bytes(), 0o644)
    }

    /// Loads the identity from `dir`, refusing private key files readable by group or
    /// others, and checking that the public document matches the private keys.
    ///
    /// # Errors
    /// A [`DeviceError`] naming the file (never key material).
    pub fn load(dir: &Path) -> Result<Self, DeviceError> {
        let hpke_path = dir.join(HPKE_KEY_FILE);
        let pop_path = dir.join(POP_KEY_FILE);
        let hpke = HpkeSecretKey::from_jwk(&read_private(&hpke_path)?).map_err(|source| {
            DeviceError::Key {
                path: hpke_path,
                source,
            }
        })?;
        let pop =
            SigningKey::from_jwk(&read_private(&pop_path)?).map_err(|source| DeviceError::Key {
                path: pop_path,
                source,
            })?;
        let identity = Self { hpke, pop };
        let public_path = dir.join(PUBLIC_FILE);
        let text = fs::read_to_string(&public_path).map_err(|source| DeviceError::Io {
            path: public_path.clone(),
            source,
        })?;
        match DevicePublic::from_json(&text) {
            Ok(public) if public == identity.public() => Ok(identity),
            _ => Err(DeviceError::MalformedPublic { path: public_path }),
        }
    }

    /// Loads only the public document of a device directory or file.
    ///
    /// # Errors
    /// A [`DeviceError`] naming the file.
    pub fn load_public(path: &Path) -> Result<DevicePublic, DeviceError> {
        let file = if path.is_dir() {
            path.join(PUBLIC_FILE)
        } else {
            path.to_path_buf()
        };
        let text = fs::read_to_string(&file).map_err(|source| DeviceError::Io {
            path: file.clone(),
            source,
        })?;
        DevicePublic::from_json(&text).map_err(|_| DeviceError::MalformedPublic { path: file })
    }
}

/// Reads a private key file after checking its permissions; the text is zeroized on drop.
pub fn read_private(path: &Path) -> Result<Zeroizing<String>, DeviceError> {
    let io_err = |source| DeviceError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = fs::metadata(path).map_err(io_err)?;
    check_private_mode(path, &meta)?;
    let bytes = Zeroizing::new(fs::read(path).map_err(io_err)?);
    let text = std::str::from_utf8(&bytes).map_err(|_| DeviceError::Key {
        path: path.to_path_buf(),
        source: KeyError::NotJwk,
    })?;
    Ok(Zeroizing::new(text.to_owned()))
}

#[cfg(unix)]
fn check_private_mode(path: &Path, meta: &fs::Metadata) -> Result<(), DeviceError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(DeviceError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private_mode(_path: &Path, _meta: &fs::Metadata) -> Result<(), DeviceError> {
    Ok(())
}

fn create_private_dir(dir: &Path) -> Result<(), DeviceError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| DeviceError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// Creates `path` (never overwriting) with `mode` and writes `bytes`.
pub fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), DeviceError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let io_err = |source: io::Error| {
        if source.kind() == io::ErrorKind::AlreadyExists {
            DeviceError::AlreadyExists {
                path: path.to_path_buf(),
            }
        } else {
            DeviceError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    };
    let mut file = options.open(path).map_err(io_err)?;
    file.write_all(bytes).map_err(io_err)?;
    file.sync_all().map_err(io_err)
}
