//! Authority keys: [`KeyRing`] (the signing key plus rotated-out keys still published)
//! and [`KeySet`] (the public keys a verifier trusts, as a JWKS).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::jose::{ALG_EDDSA, Ed25519KeyPair, PublicJwk, Thumbprint};

/// Errors reading a JWKS document. Never contains key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// Not a JSON object with a `keys` array.
    #[error("the JWKS is not valid JSON with a `keys` array")]
    Json,
    /// A key is not an Ed25519 public JWK.
    #[error("JWKS key #{index} is not a valid Ed25519 public key: {source}")]
    Key {
        /// Position of the key in `keys`.
        index: usize,
        /// Why it was refused.
        source: crate::jose::JwkError,
    },
    /// A key's `kid` is not its RFC 7638 thumbprint.
    #[error("JWKS key #{index} has a `kid` that is not its thumbprint")]
    KidMismatch {
        /// Position of the key in `keys`.
        index: usize,
    },
    /// A key declares an `alg` other than EdDSA.
    #[error("JWKS key #{index} declares an algorithm other than EdDSA")]
    Algorithm {
        /// Position of the key in `keys`.
        index: usize,
    },
    /// The set holds no key.
    #[error("the JWKS holds no key")]
    Empty,
}

/// The public keys a verifier trusts, by `kid` (each key's RFC 7638 thumbprint).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    keys: BTreeMap<String, PublicJwk>,
}

#[derive(Deserialize)]
struct JwksDocument {
    keys: Vec<serde_json::Value>,
}

impl KeySet {
    /// A set of the given public keys.
    pub fn from_keys(keys: impl IntoIterator<Item = PublicJwk>) -> Self {
        Self {
            keys: keys
                .into_iter()
                .map(|key| (key.thumbprint().as_str().to_owned(), key))
                .collect(),
        }
    }

    /// Reads a JWKS (`{"keys":[...]}`); every key must be an Ed25519 public JWK whose
    /// `kid`, if present, equals its thumbprint.
    pub fn from_jwks_json(text: &str) -> Result<Self, JwksError> {
        let document: JwksDocument = serde_json::from_str(text).map_err(|_| JwksError::Json)?;
        let mut keys = BTreeMap::new();
        for (index, value) in document.keys.iter().enumerate() {
            let key =
                PublicJwk::from_json(value).map_err(|source| JwksError::Key { index, source })?;
            let kid = key.thumbprint();
            if let Some(declared) = value.get("kid")
                && declared.as_str() != Some(kid.as_str())
            {
                return Err(JwksError::KidMismatch { index });
            }
            if let Some(alg) = value.get("alg")
                && alg.as_str() != Some(ALG_EDDSA)
            {
                return Err(JwksError::Algorithm { index });
            }
            keys.insert(kid.as_str().to_owned(), key);
        }
        if keys.is_empty() {
            return Err(JwksError::Empty);
        }
        Ok(Self { keys })
    }

    /// The set as a JWKS document (`kty`, `crv`, `x`, `kid`, `alg`, `use`).
    pub fn to_jwks_json(&self) -> String {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .map(|(kid, key)| {
                let mut value = key.to_json();
                if let Some(object) = value.as_object_mut() {
                    object.insert("kid".into(), kid.as_str().into());
                    object.insert("alg".into(), ALG_EDDSA.into());
                    object.insert("use".into(), "sig".into());
                }
                value
            })
            .collect();
        serde_json::json!({ "keys": keys }).to_string()
    }

    /// The key named `kid`, if trusted.
    pub fn key(&self, kid: &str) -> Option<&PublicJwk> {
        self.keys.get(kid)
    }

    /// The kids in the set.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

/// The authority's signing keys: one active key that signs, plus rotated-out keys that
/// stay published (in [`KeyRing::key_set`]) until every token they signed has expired.
#[derive(Debug)]
pub struct KeyRing {
    active: Ed25519KeyPair,
    retired: Vec<PublicJwk>,
}

impl KeyRing {
    /// A ring with one active key.
    pub fn new(active: Ed25519KeyPair) -> Self {
        Self {
            active,
            retired: Vec::new(),
        }
    }

    /// Makes `next` the signing key; the old key stays published for verification.
    pub fn rotate(&mut self, next: Ed25519KeyPair) {
        let old = std::mem::replace(&mut self.active, next);
        self.retired.push(old.public_jwk());
    }

    /// Stops publishing a rotated-out key (call once the longest class lifetime has
    /// passed since its rotation). The active key cannot be retired.
    pub fn retire(&mut self, kid: &Thumbprint) {
        self.retired.retain(|key| &key.thumbprint() != kid);
    }

    /// The active key's `kid`.
    pub fn active_kid(&self) -> Thumbprint {
        self.active.thumbprint()
    }

    pub(crate) fn active(&self) -> &Ed25519KeyPair {
        &self.active
    }

    /// The published set: the active key and every rotated-out key not yet retired.
    pub fn key_set(&self) -> KeySet {
        KeySet::from_keys(
            std::iter::once(self.active.public_jwk()).chain(self.retired.iter().cloned()),
        )
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng as _;

    use super::*;

    #[test]
    fn rotation_keeps_old_key_published_until_retired() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let first = Ed25519KeyPair::generate(&mut rng);
        let first_kid = first.thumbprint();
        let mut ring = KeyRing::new(first);
        ring.rotate(Ed25519KeyPair::generate(&mut rng));
        assert_ne!(ring.active_kid(), first_kid);
        let set = ring.key_set();
        assert!(set.key(first_kid.as_str()).is_some());
        let round = KeySet::from_jwks_json(&set.to_jwks_json()).unwrap();
        assert_eq!(round, set);
        ring.retire(&first_kid);
        assert!(ring.key_set().key(first_kid.as_str()).is_none());
        assert!(ring.key_set().key(ring.active_kid().as_str()).is_some());
    }

    #[test]
    fn jwks_with_wrong_kid_or_alg_is_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let key = Ed25519KeyPair::generate(&mut rng).public_jwk();
        let mut value = key.to_json();
        value["kid"] = "other".into();
        let text = serde_json::json!({ "keys": [value] }).to_string();
        assert!(matches!(
            KeySet::from_jwks_json(&text),
            Err(JwksError::KidMismatch { index: 0 })
        ));
        let mut value = key.to_json();
        value["alg"] = "HS256".into();
        let text = serde_json::json!({ "keys": [value] }).to_string();
        assert!(matches!(
            KeySet::from_jwks_json(&text),
            Err(JwksError::Algorithm { index: 0 })
        ));
        assert!(matches!(
            KeySet::from_jwks_json(r#"{"keys":[]}"#),
            Err(JwksError::Empty)
        ));
    }
}
