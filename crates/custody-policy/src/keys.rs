//! Ed25519 keys for release signers (bundles) and approvers (quorum approvals).
//!
//! Main types: [`SigningKey`] (secret, zeroized on drop, redacting `Debug`) and
//! [`PublicKey`] (with its [`KeyId`]). Randomness is injected: callers hand in the
//! 32 secret bytes (the CLI takes them from the OS).

use std::fmt;

use ed25519_dalek::{Signer as _, Verifier as _};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// The `kind` of a release key file.
const KEY_FILE_KIND: &str = "custody-policy-release-key";

/// An Ed25519 signing key. Its `Debug` shows the key id only.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// The key for 32 secret bytes (from a CSPRNG, or read back from a key file).
    pub fn from_secret_bytes(secret: &[u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(secret))
    }

    /// The secret bytes, to write a key file. Handle with care.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The key file form: `{"kind": "custody-policy-release-key", "secret_key": hex,
    /// "public_key": hex}`. Handle with care: it holds the secret.
    pub fn to_key_file_json(&self) -> Zeroizing<String> {
        let secret = Zeroizing::new(hex::encode(self.secret_bytes().as_slice()));
        Zeroizing::new(format!(
            "{{\"kind\":\"{KEY_FILE_KIND}\",\"secret_key\":\"{}\",\"public_key\":\"{}\"}}\n",
            secret.as_str(),
            self.public_key().to_hex()
        ))
    }

    /// Parses the key file form of [`Self::to_key_file_json`]; a `public_key` that
    /// does not match the secret is refused.
    ///
    /// # Errors
    /// [`KeyError::BadKeyFile`] (the message never holds key material).
    pub fn from_key_file_json(text: &str) -> Result<Self, KeyError> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct KeyFile {
            kind: String,
            secret_key: Zeroizing<String>,
            public_key: Option<String>,
        }
        let file: KeyFile = serde_json::from_str(text).map_err(|_| KeyError::BadKeyFile)?;
        if file.kind != KEY_FILE_KIND {
            return Err(KeyError::BadKeyFile);
        }
        let mut secret = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(file.secret_key.as_str(), secret.as_mut_slice())
            .map_err(|_| KeyError::BadKeyFile)?;
        let key = Self::from_secret_bytes(&secret);
        if file
            .public_key
            .is_some_and(|public| public != key.public_key().to_hex())
        {
            return Err(KeyError::BadKeyFile);
        }
        Ok(key)
    }

    /// Signs `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SigningKey({}, secret redacted)",
            self.public_key().key_id()
        )
    }
}

/// An Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl PublicKey {
    /// Parses 32 bytes; weak (small-order) keys are refused.
    ///
    /// # Errors
    /// [`KeyError`] when the bytes are not a usable Ed25519 point.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::NotAPoint)?;
        if key.is_weak() {
            return Err(KeyError::Weak);
        }
        Ok(Self(key))
    }

    /// Parses lowercase or uppercase hex of 32 bytes.
    ///
    /// # Errors
    /// [`KeyError`] on bad hex, length or point.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| KeyError::BadHex)?;
        Self::from_bytes(&bytes)
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Lowercase hex of the 32 bytes.
    pub fn to_hex(&self) -> String {
        hex::encode(self.to_bytes())
    }

    /// The key id: hex of the first 16 bytes of SHA-256 over the key bytes.
    pub fn key_id(&self) -> KeyId {
        let digest = Sha256::digest(self.to_bytes());
        let mut id = [0u8; 16];
        for (out, byte) in id.iter_mut().zip(digest.iter()) {
            *out = *byte;
        }
        KeyId(hex::encode(id))
    }

    /// Verifies a signature strictly (no malleable or small-order forms).
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        self.0.verify_strict(message, &signature).is_ok()
            && self.0.verify(message, &signature).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_id())
    }
}

/// A key id (32 lowercase hex characters).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct KeyId(String);

impl KeyId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A public key that cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not 64 hex characters.
    #[error("public key is not 64 hex characters")]
    BadHex,
    /// Not a point on the curve.
    #[error("public key is not an Ed25519 point")]
    NotAPoint,
    /// A small-order point.
    #[error("public key is a weak (small-order) point")]
    Weak,
    /// Not a release key file, or its public key does not match its secret.
    #[error("not a valid custody-policy release key file")]
    BadKeyFile,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = [7u8; 32];
        let key = SigningKey::from_secret_bytes(&secret);
        let shown = format!("{key:?}");
        assert!(!shown.contains(&hex::encode(secret)));
        assert!(shown.contains(key.public_key().key_id().as_str()));
    }

    #[test]
    fn key_file_round_trip_and_mismatch() {
        let key = SigningKey::from_secret_bytes(&[9u8; 32]);
        let text = key.to_key_file_json();
        let back = SigningKey::from_key_file_json(&text).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        let other = SigningKey::from_secret_bytes(&[8u8; 32])
            .public_key()
            .to_hex();
        let forged = text.replace(&key.public_key().to_hex(), &other);
        assert_eq!(
            SigningKey::from_key_file_json(&forged).unwrap_err(),
            KeyError::BadKeyFile
        );
        assert_eq!(
            SigningKey::from_key_file_json("{}").unwrap_err(),
            KeyError::BadKeyFile
        );
    }

    #[test]
    fn sign_verify_and_tamper() {
        let key = SigningKey::from_secret_bytes(&[1u8; 32]);
        let signature = key.sign(b"message");
        assert!(key.public_key().verify(b"message", &signature));
        assert!(!key.public_key().verify(b"messagf", &signature));
        let other = SigningKey::from_secret_bytes(&[2u8; 32]);
        assert!(!other.public_key().verify(b"message", &signature));
    }

    #[test]
    fn weak_and_malformed_keys_are_refused() {
        assert_eq!(PublicKey::from_hex("zz"), Err(KeyError::BadHex));
        // The identity point (small order).
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(PublicKey::from_bytes(&identity), Err(KeyError::Weak));
    }
}
