//! Signed policy bundles (DESIGN §7): a manifest (format, strictly increasing
//! version, expiry, content SHA-256 = bundle id), the content, and Ed25519 signatures
//! by release keys; a [`TrustRoot`] (keys + threshold, default 2 of 3) and a
//! [`BundleVerifier`] that refuses unsigned, under-signed, unknown-key, bad-signature,
//! tampered, invalid, failing-tests, rolled-back and expired bundles, each with its own
//! [`BundleError`], and keeps its last good bundle.
//!
//! A rollback is a roll-forward: to return to old content, sign it again as a new,
//! higher version. History only grows; the verifier never accepts a version at or
//! below the highest it has accepted (or the floor it was started with).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::content::{BundleContent, ContentError};
use crate::engine::Active;
use crate::keys::{KeyError, KeyId, PublicKey, SigningKey};
use crate::testing::{TestError, run_tests};

/// The manifest `format` of this version.
pub const FORMAT: &str = "custody-policy-bundle/v1";
/// Domain tag of the signed manifest statement.
const MANIFEST_DOMAIN: &[u8] = b"custody-policy-bundle-manifest/v1\0";
/// Largest bundle file accepted by [`SignedBundle::from_json`].
pub const MAX_BUNDLE_BYTES: usize = 32 * 1024 * 1024;
/// Default signature threshold.
pub const DEFAULT_THRESHOLD: usize = 2;

/// What the release keys sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Strictly increasing across bundles.
    pub version: u64,
    /// After this instant (Unix seconds) the bundle is refused (freeze attack).
    pub expires_at: u64,
    /// Hex SHA-256 of the canonical content encoding; also the bundle id.
    pub content_sha256: String,
}

impl Manifest {
    /// The bytes a release key signs: a domain tag, the format, the version, the
    /// expiry and the content digest, length-prefixed where variable.
    fn statement(&self) -> Vec<u8> {
        let mut message = Vec::with_capacity(128);
        message.extend_from_slice(MANIFEST_DOMAIN);
        for field in [&self.format, &self.content_sha256] {
            message.extend_from_slice(&(field.len() as u64).to_be_bytes());
            message.extend_from_slice(field.as_bytes());
        }
        message.extend_from_slice(&self.version.to_be_bytes());
        message.extend_from_slice(&self.expires_at.to_be_bytes());
        message
    }
}

/// One release-key signature over the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleSignature {
    /// The signing key's id.
    pub key_id: KeyId,
    /// Hex of the 64-byte Ed25519 signature.
    pub signature: String,
}

/// A bundle file: manifest, content and signatures (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedBundle {
    /// The signed manifest.
    pub manifest: Manifest,
    /// The policy files.
    pub content: BundleContent,
    /// Release-key signatures.
    #[serde(default)]
    pub signatures: Vec<BundleSignature>,
}

impl SignedBundle {
    /// An unsigned bundle of `content` as `version`, expiring at `expires_at`.
    pub fn new(content: BundleContent, version: u64, expires_at: u64) -> Self {
        let manifest = Manifest {
            format: FORMAT.to_owned(),
            version,
            expires_at,
            content_sha256: content.id(),
        };
        Self {
            manifest,
            content,
            signatures: Vec::new(),
        }
    }

    /// The bundle id (the content digest).
    pub fn id(&self) -> &str {
        &self.manifest.content_sha256
    }

    /// Adds `key`'s signature (replacing an earlier one by the same key).
    pub fn sign(&mut self, key: &SigningKey) {
        let key_id = key.public_key().key_id();
        let signature = hex::encode(key.sign(&self.manifest.statement()));
        self.signatures.retain(|existing| existing.key_id != key_id);
        self.signatures.push(BundleSignature { key_id, signature });
    }

    /// Parses a bundle file.
    ///
    /// # Errors
    /// [`BundleError::Malformed`] for oversize or non-conforming JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Self, BundleError> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::Malformed {
                reason: "bundle file larger than 32 MiB".to_owned(),
            });
        }
        serde_json::from_slice(bytes).map_err(|err| BundleError::Malformed {
            reason: format!(
                "line {} column {}: {}",
                err.line(),
                err.column(),
                classify(&err)
            ),
        })
    }

    /// The bundle file as pretty JSON.
    pub fn to_json(&self) -> String {
        // INVARIANT: these types are plain data with string map keys, so serializing
        // them cannot fail; the empty fallback is unreachable (and would fail to parse).
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

fn classify(err: &serde_json::Error) -> &'static str {
    match err.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "JSON does not match the bundle format",
        serde_json::error::Category::Eof => "truncated JSON",
    }
}

/// The release keys a node trusts and how many must sign.
#[derive(Debug, Clone)]
pub struct TrustRoot {
    threshold: usize,
    keys: BTreeMap<KeyId, PublicKey>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustRootFile {
    threshold: usize,
    keys: Vec<String>,
}

impl TrustRoot {
    /// Trusts `keys`, requiring `threshold` distinct signatures.
    ///
    /// # Errors
    /// [`TrustRootError`] when the threshold is 0 or above the number of distinct keys.
    pub fn new(
        keys: impl IntoIterator<Item = PublicKey>,
        threshold: usize,
    ) -> Result<Self, TrustRootError> {
        let keys: BTreeMap<KeyId, PublicKey> =
            keys.into_iter().map(|key| (key.key_id(), key)).collect();
        if threshold == 0 {
            return Err(TrustRootError::ZeroThreshold);
        }
        if threshold > keys.len() {
            return Err(TrustRootError::ThresholdAboveKeys {
                threshold,
                keys: keys.len(),
            });
        }
        Ok(Self { threshold, keys })
    }

    /// Parses `{"threshold": 2, "keys": ["<hex>", ...]}`.
    ///
    /// # Errors
    /// [`TrustRootError`] naming the defect.
    pub fn from_json(text: &str) -> Result<Self, TrustRootError> {
        let file: TrustRootFile =
            serde_json::from_str(text).map_err(|err| TrustRootError::Malformed {
                reason: format!(
                    "line {} column {}: {}",
                    err.line(),
                    err.column(),
                    classify(&err)
                ),
            })?;
        let keys = file
            .keys
            .iter()
            .enumerate()
            .map(|(index, key)| {
                PublicKey::from_hex(key).map_err(|source| TrustRootError::BadKey { index, source })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys, file.threshold)
    }

    /// The trust root as JSON.
    pub fn to_json(&self) -> String {
        let file = TrustRootFile {
            threshold: self.threshold,
            keys: self.keys.values().map(PublicKey::to_hex).collect(),
        };
        serde_json::to_string_pretty(&file).unwrap_or_default()
    }

    /// How many distinct signatures are required.
    pub fn threshold(&self) -> usize {
        self.threshold
    }
}

/// A trust root that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustRootError {
    /// The file is not the expected JSON.
    #[error("trust root: {reason}")]
    Malformed {
        /// Where and why.
        reason: String,
    },
    /// A key does not parse.
    #[error("trust root: key #{index}: {source}")]
    BadKey {
        /// Position in `keys`.
        index: usize,
        /// Why.
        source: KeyError,
    },
    /// Threshold 0 would accept unsigned bundles.
    #[error("trust root: threshold must be at least 1")]
    ZeroThreshold,
    /// More signatures required than keys exist.
    #[error("trust root: threshold {threshold} exceeds the {keys} distinct keys")]
    ThresholdAboveKeys {
        /// The threshold.
        threshold: usize,
        /// Distinct keys.
        keys: usize,
    },
}

/// Why a bundle was refused. Each refusal has its own variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// Not a bundle file (or the wrong format version).
    #[error("malformed bundle: {reason}")]
    Malformed {
        /// Where and why.
        reason: String,
    },
    /// The content does not hash to the manifest's digest (tampered).
    #[error("bundle content does not match its manifest digest")]
    DigestMismatch,
    /// No signature at all.
    #[error("bundle is unsigned")]
    Unsigned,
    /// A signature by a key the trust root does not hold.
    #[error("bundle carries a signature by unknown key {key_id}")]
    UnknownKey {
        /// The key id.
        key_id: KeyId,
    },
    /// A signature by a trusted key that does not verify.
    #[error("bundle signature by key {key_id} does not verify")]
    BadSignature {
        /// The key id.
        key_id: KeyId,
    },
    /// Fewer distinct trusted signers than the threshold.
    #[error("bundle is signed by {valid} distinct trusted keys, {required} required")]
    UnderSigned {
        /// Distinct valid signers.
        valid: usize,
        /// Threshold.
        required: usize,
    },
    /// Expired (freeze attack).
    #[error("bundle expired at {expires_at} (now {now})")]
    Expired {
        /// Its expiry.
        expires_at: u64,
        /// Now.
        now: u64,
    },
    /// Not newer than the last accepted version (rollback attack).
    #[error("bundle version {offered} is not above the accepted version {accepted}")]
    Rollback {
        /// The offered version.
        offered: u64,
        /// The highest accepted version (or the floor).
        accepted: u64,
    },
    /// The content does not compile or validate strictly.
    #[error("bundle is invalid: {0}")]
    Invalid(ContentError),
    /// The bundle's own tests fail (or cannot run).
    #[error("bundle tests fail: {0}")]
    TestsFail(String),
}

/// A bundle that passed every check; activate it with [`crate::PolicyEngine`].
#[derive(Debug, Clone)]
pub struct VerifiedBundle {
    active: Arc<Active>,
}

impl VerifiedBundle {
    /// The bundle id.
    pub fn id(&self) -> &str {
        &self.active.id
    }

    /// The version.
    pub fn version(&self) -> u64 {
        self.active.version
    }

    /// The expiry.
    pub fn expires_at(&self) -> u64 {
        self.active.expires_at
    }

    /// Number of policies.
    pub fn policy_count(&self) -> usize {
        self.active.compiled.policy_count
    }

    pub(crate) fn into_active(self) -> Arc<Active> {
        self.active
    }
}

/// Verifies bundles against a [`TrustRoot`] and remembers the last good one.
#[derive(Debug, Clone)]
pub struct BundleVerifier {
    root: TrustRoot,
    floor: u64,
    current: Option<VerifiedBundle>,
}

impl BundleVerifier {
    /// A verifier with no bundle yet (an engine fed by it denies everything).
    pub fn new(root: TrustRoot) -> Self {
        Self {
            root,
            floor: 0,
            current: None,
        }
    }

    /// A verifier that refuses versions at or below `floor` (the highest version a
    /// node accepted before a restart, persisted by the caller).
    pub fn with_floor(root: TrustRoot, floor: u64) -> Self {
        Self {
            root,
            floor,
            current: None,
        }
    }

    /// The last good bundle, if any.
    pub fn current(&self) -> Option<&VerifiedBundle> {
        self.current.as_ref()
    }

    /// The highest version accepted (or the floor).
    pub fn accepted_version(&self) -> u64 {
        self.current
            .as_ref()
            .map_or(self.floor, |bundle| bundle.version().max(self.floor))
    }

    /// Checks `bundle` at `now` without changing state.
    ///
    /// # Errors
    /// [`BundleError`]: the first check that fails, in the order malformed, digest,
    /// signatures, expiry, rollback, validation, tests.
    pub fn verify(&self, bundle: &SignedBundle, now: u64) -> Result<VerifiedBundle, BundleError> {
        let manifest = &bundle.manifest;
        if manifest.format != FORMAT {
            return Err(BundleError::Malformed {
                reason: "unknown manifest format".to_owned(),
            });
        }
        if bundle.content.id() != manifest.content_sha256 {
            return Err(BundleError::DigestMismatch);
        }
        self.check_signatures(bundle)?;
        if now >= manifest.expires_at {
            return Err(BundleError::Expired {
                expires_at: manifest.expires_at,
                now,
            });
        }
        let accepted = self.accepted_version();
        if manifest.version <= accepted {
            return Err(BundleError::Rollback {
                offered: manifest.version,
                accepted,
            });
        }
        let compiled = bundle.content.compile().map_err(BundleError::Invalid)?;
        let report = run_tests(&bundle.content)
            .map_err(|err: TestError| BundleError::TestsFail(err.to_string()))?;
        if !report.failures().is_empty() {
            return Err(BundleError::TestsFail(format!(
                "{} of {} cases fail",
                report.failures().len(),
                report.total()
            )));
        }
        let active = Active {
            id: manifest.content_sha256.clone(),
            version: manifest.version,
            expires_at: manifest.expires_at,
            compiled,
        };
        Ok(VerifiedBundle {
            active: Arc::new(active),
        })
    }

    /// Verifies `bundle` and, if good, makes it the last good bundle. On error the
    /// previous bundle stays.
    ///
    /// # Errors
    /// As [`Self::verify`].
    pub fn accept(
        &mut self,
        bundle: &SignedBundle,
        now: u64,
    ) -> Result<VerifiedBundle, BundleError> {
        let verified = self.verify(bundle, now)?;
        self.current = Some(verified.clone());
        Ok(verified)
    }

    fn check_signatures(&self, bundle: &SignedBundle) -> Result<(), BundleError> {
        if bundle.signatures.is_empty() {
            return Err(BundleError::Unsigned);
        }
        let statement = bundle.manifest.statement();
        let mut signers = BTreeSet::new();
        for signature in &bundle.signatures {
            let Some(key) = self.root.keys.get(&signature.key_id) else {
                return Err(BundleError::UnknownKey {
                    key_id: signature.key_id.clone(),
                });
            };
            let mut bytes = [0u8; 64];
            if hex::decode_to_slice(&signature.signature, &mut bytes).is_err()
                || !key.verify(&statement, &bytes)
            {
                return Err(BundleError::BadSignature {
                    key_id: signature.key_id.clone(),
                });
            }
            // INVARIANT: a key counts once however many times it signed.
            signers.insert(signature.key_id.clone());
        }
        if signers.len() < self.root.threshold {
            return Err(BundleError::UnderSigned {
                valid: signers.len(),
                required: self.root.threshold,
            });
        }
        Ok(())
    }
}
