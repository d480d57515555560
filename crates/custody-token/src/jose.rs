//! JOSE encoding used by tokens and proofs: base64url, Ed25519 keys as JWKs, RFC 7638
//! thumbprints and strict compact JWS.
//!
//! This is encoding around two primitives: Ed25519 (RFC 8032, via `ed25519-dalek`) for
//! access tokens and proofs, and ECDSA P-256 (via `aws-lc-rs`) for ES256 proofs only. The
//! algorithm is fixed by the verifier (or, for a proof, by the embedded key's type) and
//! never chosen from a token's header alone, which is what blocks `alg: none` and
//! key-confusion attacks.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// The JWS algorithm custody signs with and accepts for access tokens: EdDSA over
/// Ed25519 (RFC 8037).
pub const ALG_EDDSA: &str = "EdDSA";

/// ECDSA over P-256 with SHA-256 (RFC 7518 §3.4), accepted for client DPoP proofs
/// (WebCrypto clients) when the verifier's allow-list includes it.
pub const ALG_ES256: &str = "ES256";

/// Longest compact JWS accepted (access tokens and proofs are well under 2 KiB).
pub(crate) const MAX_COMPACT_LEN: usize = 8 * 1024;

/// Errors reading or writing a key in JWK form. Never contains key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwkError {
    /// The text is not a JSON object of the expected shape.
    #[error("the key is not valid JWK JSON")]
    Json,
    /// `kty`/`crv` name something other than an Ed25519 OKP key.
    #[error("unsupported key type: only OKP keys on curve Ed25519 are accepted")]
    UnsupportedKeyType,
    /// `x` or `d` is not 32 bytes of base64url, or `x` is not a valid curve point.
    #[error("the key's `x` or `d` member is not a valid Ed25519 value")]
    InvalidKeyValue,
    /// A private key was required but the JWK has no `d` member.
    #[error("the JWK holds no private key (`d` member missing)")]
    NotPrivate,
    /// A public key was required but the JWK carries a private `d` member.
    #[error("a public JWK must not carry a private key (`d` member present)")]
    PrivateKeyExposed,
    /// The private key's public half does not match the JWK's `x`.
    #[error("the JWK's `x` does not match its private key")]
    Mismatch,
}

pub(crate) fn b64_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict base64url without padding; `None` on any other alphabet or padding.
pub(crate) fn b64_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.as_bytes()).ok()
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// An RFC 7638 JWK SHA-256 thumbprint, base64url: the `cnf.jkt` of a bound token and
/// the `kid` of an authority key. Public information.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Thumbprint(String);

impl Thumbprint {
    /// Wraps a thumbprint given as text (e.g. from a command line), checking its shape:
    /// 43 base64url characters encoding 32 bytes.
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = b64_decode(text)?;
        (bytes.len() == 32).then(|| Self(text.to_owned()))
    }

    /// The base64url text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An Ed25519 public key as a JWK (`kty` OKP, `crv` Ed25519).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicJwk {
    key: VerifyingKey,
}

impl fmt::Debug for PublicJwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicJwk")
            .field("thumbprint", &self.thumbprint())
            .finish()
    }
}

/// The JSON members of an OKP JWK that custody reads.
#[derive(Deserialize)]
struct JwkMembers {
    kty: String,
    crv: String,
    x: String,
    #[serde(default)]
    d: Option<String>,
}

impl PublicJwk {
    /// The RFC 7638 thumbprint: SHA-256 over `{"crv","kty","x"}` in that order.
    pub fn thumbprint(&self) -> Thumbprint {
        let canonical = format!(
            r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
            b64_encode(self.key.as_bytes())
        );
        Thumbprint(b64_encode(&sha256(canonical.as_bytes())))
    }

    /// The JWK members `kty`, `crv` and `x`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64_encode(self.key.as_bytes()),
        })
    }

    /// Reads a public JWK; refuses one that carries a private `d` member.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, JwkError> {
        let members = JwkMembers::deserialize(value).map_err(|_| JwkError::Json)?;
        if members.d.is_some() {
            return Err(JwkError::PrivateKeyExposed);
        }
        Self::from_members(&members)
    }

    fn from_members(members: &JwkMembers) -> Result<Self, JwkError> {
        if members.kty != "OKP" || members.crv != "Ed25519" {
            return Err(JwkError::UnsupportedKeyType);
        }
        let x: [u8; 32] = b64_decode(&members.x)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(JwkError::InvalidKeyValue)?;
        let key = VerifyingKey::from_bytes(&x).map_err(|_| JwkError::InvalidKeyValue)?;
        if key.is_weak() {
            return Err(JwkError::InvalidKeyValue);
        }
        Ok(Self { key })
    }

    /// Verifies an Ed25519 signature strictly (RFC 8032 with canonical `S` and no
    /// small-order keys).
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(signature) = Signature::from_slice(signature) else {
            return false;
        };
        self.key.verify_strict(message, &signature).is_ok()
    }
}

/// A client's proof key as embedded in a DPoP proof header: Ed25519 (OKP) or P-256 (EC).
#[derive(Debug, Clone)]
pub(crate) enum ProofJwk {
    /// `kty` OKP, `crv` Ed25519: verified with `alg` EdDSA only.
    Ed25519(PublicJwk),
    /// `kty` EC, `crv` P-256: verified with `alg` ES256 only (aws-lc-rs, whose P-256
    /// verification is several times faster than the portable implementation).
    P256(ParsedPublicKey),
}

/// The JSON members of a proof JWK that custody reads (`y` only for EC keys).
#[derive(Deserialize)]
struct ProofJwkMembers {
    kty: String,
    crv: String,
    x: String,
    #[serde(default)]
    y: Option<String>,
    #[serde(default)]
    d: Option<String>,
}

/// A proof JWK whose members are well-formed (strict base64url, 32-byte coordinates) but
/// whose curve point is not yet checked.
enum DecodedProofJwk {
    Okp { x: [u8; 32] },
    Ec { x: [u8; 32], y: [u8; 32] },
}

impl DecodedProofJwk {
    fn read(value: &serde_json::Value) -> Result<Self, JwkError> {
        let members = ProofJwkMembers::deserialize(value).map_err(|_| JwkError::Json)?;
        if members.d.is_some() {
            return Err(JwkError::PrivateKeyExposed);
        }
        let coordinate = |text: &str| -> Result<[u8; 32], JwkError> {
            b64_decode(text)
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or(JwkError::InvalidKeyValue)
        };
        match (members.kty.as_str(), members.crv.as_str()) {
            ("OKP", "Ed25519") => Ok(Self::Okp {
                x: coordinate(&members.x)?,
            }),
            ("EC", "P-256") => {
                let y = members.y.as_deref().ok_or(JwkError::InvalidKeyValue)?;
                Ok(Self::Ec {
                    x: coordinate(&members.x)?,
                    y: coordinate(y)?,
                })
            }
            _ => Err(JwkError::UnsupportedKeyType),
        }
    }

    /// RFC 7638 thumbprint, from the decoded bytes re-encoded (base64url decoding is
    /// strict, so this is the text the client sent).
    fn thumbprint(&self) -> Thumbprint {
        let canonical = match self {
            Self::Okp { x } => {
                format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64_encode(x))
            }
            Self::Ec { x, y } => format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                b64_encode(x),
                b64_encode(y)
            ),
        };
        Thumbprint(b64_encode(&sha256(canonical.as_bytes())))
    }

    /// Checks the point (on the curve, not small-order) and builds the verifying key.
    fn into_key(self) -> Result<ProofJwk, JwkError> {
        match self {
            Self::Okp { x } => {
                let key = VerifyingKey::from_bytes(&x).map_err(|_| JwkError::InvalidKeyValue)?;
                if key.is_weak() {
                    return Err(JwkError::InvalidKeyValue);
                }
                Ok(ProofJwk::Ed25519(PublicJwk { key }))
            }
            Self::Ec { x, y } => {
                let mut point = [0_u8; 65];
                let (tag, coordinates) = point.split_at_mut(1);
                let (px, py) = coordinates.split_at_mut(32);
                tag.copy_from_slice(&[0x04]);
                px.copy_from_slice(&x);
                py.copy_from_slice(&y);
                let key = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                    .map_err(|_| JwkError::InvalidKeyValue)?;
                Ok(ProofJwk::P256(key))
            }
        }
    }
}

impl ProofJwk {
    /// Reads a public JWK of either kind (refusing private members and other curves) and
    /// returns its RFC 7638 thumbprint with it; a key seen before comes from `cache` (the point check and decompression are a pure function of the
    /// key bytes, so a cached result is the result of doing them again).
    pub(crate) fn from_json_cached(
        value: &serde_json::Value,
        cache: &ProofKeyCache,
    ) -> Result<(Thumbprint, Self), JwkError> {
        let decoded = DecodedProofJwk::read(value)?;
        let jkt = decoded.thumbprint();
        if let Some(key) = cache.get(&jkt) {
            return Ok((jkt, key));
        }
        let key = decoded.into_key()?;
        cache.insert(jkt.clone(), key.clone());
        Ok((jkt, key))
    }

    /// The one JWS algorithm this key may be used with.
    pub(crate) fn algorithm(&self) -> &'static str {
        match self {
            Self::Ed25519(_) => ALG_EDDSA,
            Self::P256(_) => ALG_ES256,
        }
    }

    /// Verifies a JWS signature (`R || S` for ES256, 64 bytes).
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Ed25519(key) => key.verify(message, signature),
            Self::P256(key) => signature.len() == 64 && key.verify_sig(message, signature).is_ok(),
        }
    }
}

/// Proof keys already decoded and checked, by RFC 7638 thumbprint: a client signs every
/// request with the same key, and decompressing an Ed25519 point costs about as much as
/// a tenth of a verification. Bounded: emptied when full. Keys are public; what is
/// cached is a pure function of the key bytes, so no check is skipped.
pub(crate) struct ProofKeyCache {
    capacity: usize,
    entries: Mutex<HashMap<Thumbprint, ProofJwk>>,
}

impl ProofKeyCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, jkt: &Thumbprint) -> Option<ProofJwk> {
        self.entries.lock().ok()?.get(jkt).cloned()
    }

    fn insert(&self, jkt: Thumbprint, key: ProofJwk) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= self.capacity {
            entries.clear();
        }
        if self.capacity > 0 {
            entries.insert(jkt, key);
        }
    }
}

/// An Ed25519 key pair: an authority signing key or a client's proof-of-possession key.
/// Zeroized on drop; `Debug` shows only the public thumbprint.
#[derive(Clone)]
pub struct Ed25519KeyPair {
    key: SigningKey,
}

impl fmt::Debug for Ed25519KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ed25519KeyPair")
            .field("thumbprint", &self.thumbprint())
            .field("private", &"[redacted]")
            .finish()
    }
}

impl Ed25519KeyPair {
    /// A fresh key from a cryptographic RNG.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut seed = Zeroizing::new([0_u8; 32]);
        rng.fill_bytes(seed.as_mut());
        Self {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// Reads a private JWK (`kty` OKP, `crv` Ed25519, `x`, `d`).
    pub fn from_jwk_json(text: &str) -> Result<Self, JwkError> {
        let members: JwkMembers = serde_json::from_str(text).map_err(|_| JwkError::Json)?;
        let public = PublicJwk::from_members(&members)?;
        let d = members.d.as_deref().ok_or(JwkError::NotPrivate)?;
        let seed: Zeroizing<Vec<u8>> =
            Zeroizing::new(b64_decode(d).ok_or(JwkError::InvalidKeyValue)?);
        let seed: &[u8; 32] = seed
            .as_slice()
            .try_into()
            .map_err(|_| JwkError::InvalidKeyValue)?;
        let key = SigningKey::from_bytes(seed);
        if key.verifying_key() != public.key {
            return Err(JwkError::Mismatch);
        }
        Ok(Self { key })
    }

    /// The private JWK as JSON text (with `d`), for writing to a 0600 key file.
    pub fn to_private_jwk_json(&self) -> Zeroizing<String> {
        let seed = Zeroizing::new(b64_encode(self.key.as_bytes()));
        Zeroizing::new(format!(
            r#"{{"kty":"OKP","crv":"Ed25519","x":"{}","d":"{}"}}"#,
            b64_encode(self.key.verifying_key().as_bytes()),
            seed.as_str()
        ))
    }

    /// The public half.
    pub fn public_jwk(&self) -> PublicJwk {
        PublicJwk {
            key: self.key.verifying_key(),
        }
    }

    /// The RFC 7638 thumbprint of the public half.
    pub fn thumbprint(&self) -> Thumbprint {
        self.public_jwk().thumbprint()
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

/// A JOSE header, as custody reads it. Unknown members are ignored except `crit`,
/// which is refused (custody understands no extension).
#[derive(Deserialize)]
pub(crate) struct Header {
    pub(crate) alg: String,
    #[serde(default)]
    pub(crate) typ: Option<String>,
    #[serde(default)]
    pub(crate) kid: Option<String>,
    #[serde(default)]
    pub(crate) jwk: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) crit: Option<serde_json::Value>,
}

/// A compact JWS split and decoded, signature not yet checked.
pub(crate) struct Compact<'a> {
    pub(crate) header: Header,
    pub(crate) payload: Vec<u8>,
    pub(crate) signing_input: &'a str,
    pub(crate) signature: Vec<u8>,
}

/// Splits a compact JWS strictly: exactly three base64url parts (header and payload
/// non-empty), a JSON object header. `None` on anything else. The signature's length
/// is checked by the verifier after the algorithm, so a wrong `alg` is named as such.
pub(crate) fn parse_compact(token: &str) -> Option<Compact<'_>> {
    if token.len() > MAX_COMPACT_LEN {
        return None;
    }
    let (signing_input, signature_b64) = token.rsplit_once('.')?;
    let (header_b64, payload_b64) = signing_input.split_once('.')?;
    if payload_b64.contains('.') || header_b64.is_empty() || payload_b64.is_empty() {
        return None;
    }
    let header: Header = serde_json::from_slice(&b64_decode(header_b64)?).ok()?;
    let payload = b64_decode(payload_b64)?;
    let signature = b64_decode(signature_b64)?;
    if signature.len() > 512 {
        return None;
    }
    Some(Compact {
        header,
        payload,
        signing_input,
        signature,
    })
}

/// Signs `header` and `claims` as a compact JWS with `key`.
pub(crate) fn sign_compact(
    header: &serde_json::Value,
    claims: &impl Serialize,
    key: &Ed25519KeyPair,
) -> Result<String, serde_json::Error> {
    let header_json = serde_json::to_vec(header)?;
    let claims_json = serde_json::to_vec(claims)?;
    let mut out = b64_encode(&header_json);
    out.push('.');
    out.push_str(&b64_encode(&claims_json));
    let signature = key.sign(out.as_bytes());
    out.push('.');
    out.push_str(&b64_encode(&signature));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng as _;

    use super::*;

    #[test]
    fn thumbprint_matches_rfc_8037_appendix_a3() {
        // RFC 8037 A.3: the thumbprint of the A.2 public key.
        let jwk = serde_json::json!({
            "kty": "OKP", "crv": "Ed25519",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        });
        let key = PublicJwk::from_json(&jwk).unwrap();
        assert_eq!(
            key.thumbprint().as_str(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn private_jwk_round_trips_and_debug_redacts() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let key = Ed25519KeyPair::generate(&mut rng);
        let json = key.to_private_jwk_json();
        let back = Ed25519KeyPair::from_jwk_json(&json).unwrap();
        assert_eq!(back.thumbprint(), key.thumbprint());
        let d = serde_json::from_str::<serde_json::Value>(&json).unwrap()["d"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(!format!("{key:?}").contains(&d));
        assert!(!format!("{key:?}").contains(d.get(..10).unwrap()));
    }

    #[test]
    fn ec_thumbprint_matches_rfc_7638_section_3_1_shape() {
        // RFC 7638 §3.1's example is RSA; this checks the EC member order on a real
        // P-256 key by recomputing the canonical JSON independently.
        let cache = ProofKeyCache::new(8);
        let secret = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
        let point = secret.verifying_key().to_encoded_point(false);
        let x = b64_encode(point.x().unwrap());
        let y = b64_encode(point.y().unwrap());
        let jwk = serde_json::json!({"kty": "EC", "crv": "P-256", "x": x, "y": y});
        let (jkt, key) = ProofJwk::from_json_cached(&jwk, &cache).unwrap();
        assert_eq!(key.algorithm(), ALG_ES256);
        let expected = b64_encode(&sha256(
            serde_json::to_string(
                &serde_json::json!({"crv": "P-256", "kty": "EC", "x": x, "y": y}),
            )
            .unwrap()
            .as_bytes(),
        ));
        assert_eq!(jkt.as_str(), expected);
        // A cached key does not let a private member through.
        let mut with_d = jwk.clone();
        with_d["d"] = "AAAA".into();
        assert!(matches!(
            ProofJwk::from_json_cached(&with_d, &cache),
            Err(JwkError::PrivateKeyExposed)
        ));
        let mut other_curve = jwk;
        other_curve["crv"] = "P-384".into();
        assert!(ProofJwk::from_json_cached(&other_curve, &cache).is_err());
    }

    #[test]
    fn es256_signatures_verify_with_aws_lc_and_only_when_valid() {
        use p256::ecdsa::signature::Signer as _;
        let cache = ProofKeyCache::new(8);
        let secret = p256::ecdsa::SigningKey::from_slice(&[9; 32]).unwrap();
        let point = secret.verifying_key().to_encoded_point(false);
        let jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256",
            "x": b64_encode(point.x().unwrap()), "y": b64_encode(point.y().unwrap()),
        });
        let (_, key) = ProofJwk::from_json_cached(&jwk, &cache).unwrap();
        let signature: p256::ecdsa::Signature = secret.sign(b"signing input");
        let bytes = signature.to_bytes();
        assert!(key.verify(b"signing input", &bytes));
        assert!(!key.verify(b"signing inpuT", &bytes));
        let mut flipped = bytes.to_vec();
        flipped[40] ^= 1;
        assert!(!key.verify(b"signing input", &flipped));
        assert!(!key.verify(b"signing input", &[0; 64]));
        // DER instead of the fixed R || S form is refused.
        assert!(!key.verify(b"signing input", signature.to_der().as_bytes()));
        // Another key (from the cache or not) does not verify it.
        let other = p256::ecdsa::SigningKey::from_slice(&[10; 32]).unwrap();
        let other_point = other.verifying_key().to_encoded_point(false);
        let other_jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256",
            "x": b64_encode(other_point.x().unwrap()), "y": b64_encode(other_point.y().unwrap()),
        });
        let (_, other_key) = ProofJwk::from_json_cached(&other_jwk, &cache).unwrap();
        assert!(!other_key.verify(b"signing input", &bytes));
    }

    #[test]
    fn invalid_points_are_refused_every_time_and_never_cached() {
        let cache = ProofKeyCache::new(8);
        // (1, 1) is not on P-256.
        let mut one = [0_u8; 32];
        one[31] = 1;
        let off_curve = serde_json::json!({
            "kty": "EC", "crv": "P-256", "x": b64_encode(&one), "y": b64_encode(&one),
        });
        // The identity (y = 1) is a small-order Ed25519 key.
        let small_order = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": b64_encode(&{
            let mut y = [0_u8; 32];
            y[0] = 1;
            y
        })});
        for _ in 0..2 {
            assert!(matches!(
                ProofJwk::from_json_cached(&off_curve, &cache),
                Err(JwkError::InvalidKeyValue)
            ));
            assert!(matches!(
                ProofJwk::from_json_cached(&small_order, &cache),
                Err(JwkError::InvalidKeyValue)
            ));
        }
        assert!(cache.entries.lock().unwrap().is_empty());
    }

    #[test]
    fn proof_key_cache_is_bounded() {
        let cache = ProofKeyCache::new(3);
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        for _ in 0..10 {
            let jwk = Ed25519KeyPair::generate(&mut rng).public_jwk().to_json();
            let (jkt, _) = ProofJwk::from_json_cached(&jwk, &cache).unwrap();
            let again = ProofJwk::from_json_cached(&jwk, &cache).unwrap();
            assert_eq!(again.0, jkt);
            assert!(cache.entries.lock().unwrap().len() <= 3);
        }
    }

    #[test]
    fn public_jwk_with_private_member_is_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let key = Ed25519KeyPair::generate(&mut rng);
        let json: serde_json::Value = serde_json::from_str(&key.to_private_jwk_json()).unwrap();
        assert!(matches!(
            PublicJwk::from_json(&json),
            Err(JwkError::PrivateKeyExposed)
        ));
    }

    #[test]
    fn compact_parsing_is_strict() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let key = Ed25519KeyPair::generate(&mut rng);
        let token = sign_compact(
            &serde_json::json!({"alg": "EdDSA"}),
            &serde_json::json!({}),
            &key,
        )
        .unwrap();
        assert!(parse_compact(&token).is_some());
        assert!(parse_compact(&format!("{token}.x")).is_none());
        assert!(parse_compact(&format!("{token}=")).is_none());
        let two = token.rsplit_once('.').unwrap().0;
        assert!(parse_compact(two).is_none());
        assert!(
            parse_compact(&format!("{two}."))
                .unwrap()
                .signature
                .is_empty()
        );
        assert!(parse_compact(&format!(".{two}")).is_none());
    }
}
