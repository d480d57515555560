//! Key newtypes and their JWK (RFC 7517 / RFC 8037) encodings.
//!
//! - [`HpkeSecretKey`] / [`HpkePublicKey`]: the device's X25519 key for receiving exports.
//! - [`SigningKey`] / [`VerifyingKey`]: Ed25519 keys, used both for the device's
//!   proof-of-possession key and for the broker key that signs envelope headers.
//! - [`Thumbprint`]: the RFC 7638 JWK thumbprint (SHA-256), used as key and device id.
//!
//! Secret types zeroize on drop and their `Debug` prints only the public thumbprint.

use core::fmt;

use base64ct::{Base64UrlUnpadded, Encoding};
use ed25519_dalek as dalek;
use hpke::{Deserializable, Kem as _, Serializable, kem::X25519HkdfSha256};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::entropy::{Entropy, EntropyError, draw32};

/// Error reading or creating a key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is not a JSON object of the JWK shape.
    #[error("key is not a JWK JSON object")]
    NotJwk,
    /// The JWK has another `kty`/`crv` than expected.
    #[error("key has the wrong type: expected an OKP JWK with crv {expected}")]
    WrongKeyType {
        /// The expected curve name.
        expected: &'static str,
    },
    /// A member is not base64url of the right length.
    #[error("JWK member `{member}` is not base64url of 32 bytes")]
    BadEncoding {
        /// The member name (`x` or `d`).
        member: &'static str,
    },
    /// A private key file lacks the private part `d`.
    #[error("JWK has no private part `d`")]
    MissingPrivate,
    /// A public key file carries a private part `d`: refused so secrets are not spread.
    #[error("a public key was expected but the JWK carries a private part `d`")]
    UnexpectedPrivate,
    /// The public part `x` does not match the private part `d`.
    #[error("JWK public part `x` does not match its private part `d`")]
    PublicMismatch,
    /// The Ed25519 public key is not a valid (non-weak) curve point.
    #[error("Ed25519 public key is invalid or weak")]
    InvalidPublicKey,
    /// The random source failed while generating a key.
    #[error("key generation failed")]
    Entropy(#[from] EntropyError),
}

/// An RFC 7638 JWK thumbprint: SHA-256 over the canonical required members.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Thumbprint([u8; 32]);

impl Thumbprint {
    /// Wraps raw thumbprint bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses the base64url (unpadded) form.
    ///
    /// # Errors
    /// [`KeyError::BadEncoding`] unless the text is base64url of 32 bytes.
    pub fn from_base64url(text: &str) -> Result<Self, KeyError> {
        decode32(text, "thumbprint").map(|b| Self(*b))
    }

    fn of_okp(crv: &str, x: &[u8; 32]) -> Self {
        // RFC 7638 §3.2: required members in lexicographic order, no whitespace.
        let canonical = format!(
            r#"{{"crv":"{crv}","kty":"OKP","x":"{}"}}"#,
            Base64UrlUnpadded::encode_string(x)
        );
        Self(Sha256::digest(canonical.as_bytes()).into())
    }
}

impl fmt::Display for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&Base64UrlUnpadded::encode_string(&self.0))
    }
}

impl fmt::Debug for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Thumbprint({self})")
    }
}

/// Parsed JWK members; `d` is wiped when this is dropped.
#[derive(Deserialize)]
struct JwkIn {
    kty: String,
    crv: String,
    x: String,
    #[serde(default)]
    d: Option<String>,
}

impl Drop for JwkIn {
    fn drop(&mut self) {
        if let Some(d) = self.d.as_mut() {
            d.zeroize();
        }
    }
}

fn parse_jwk(text: &str, crv: &'static str) -> Result<JwkIn, KeyError> {
    let jwk: JwkIn = serde_json::from_str(text).map_err(|_| KeyError::NotJwk)?;
    if jwk.kty != "OKP" || jwk.crv != crv {
        return Err(KeyError::WrongKeyType { expected: crv });
    }
    Ok(jwk)
}

fn decode32(text: &str, member: &'static str) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let mut out = Zeroizing::new([0u8; 32]);
    let written = Base64UrlUnpadded::decode(text, out.as_mut_slice())
        .map_err(|_| KeyError::BadEncoding { member })?
        .len();
    if written != 32 {
        return Err(KeyError::BadEncoding { member });
    }
    Ok(out)
}

fn public_jwk(crv: &str, x: &[u8; 32], extra: &str) -> String {
    let kid = Thumbprint::of_okp(crv, x);
    format!(
        r#"{{"kty":"OKP","crv":"{crv}","x":"{}",{extra}"kid":"{kid}"}}"#,
        Base64UrlUnpadded::encode_string(x)
    )
}

fn private_jwk(crv: &str, x: &[u8; 32], d: &[u8; 32], extra: &str) -> Zeroizing<String> {
    let kid = Thumbprint::of_okp(crv, x);
    let d_b64 = Zeroizing::new(Base64UrlUnpadded::encode_string(d));
    Zeroizing::new(format!(
        r#"{{"kty":"OKP","crv":"{crv}","x":"{}","d":"{}",{extra}"kid":"{kid}"}}"#,
        Base64UrlUnpadded::encode_string(x),
        d_b64.as_str()
    ))
}

const X25519: &str = "X25519";
const ED25519: &str = "Ed25519";

/// A device's X25519 public key for receiving sealed exports (HPKE recipient key).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HpkePublicKey([u8; 32]);

impl HpkePublicKey {
    /// Wraps the 32-byte X25519 public key.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32-byte X25519 public key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The RFC 7638 thumbprint; it is the device id in envelope headers.
    pub fn thumbprint(&self) -> Thumbprint {
        Thumbprint::of_okp(X25519, &self.0)
    }

    /// The public JWK (`{"kty":"OKP","crv":"X25519","x":..,"use":"enc","kid":..}`).
    pub fn to_jwk(&self) -> String {
        public_jwk(X25519, &self.0, r#""use":"enc","#)
    }

    /// Parses a public X25519 JWK; one with a private part is refused.
    ///
    /// # Errors
    /// A [`KeyError`] naming what is wrong.
    pub fn from_jwk(text: &str) -> Result<Self, KeyError> {
        let jwk = parse_jwk(text, X25519)?;
        if jwk.d.is_some() {
            return Err(KeyError::UnexpectedPrivate);
        }
        decode32(&jwk.x, "x").map(|x| Self(*x))
    }
}

impl fmt::Debug for HpkePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HpkePublicKey({})", self.thumbprint())
    }
}

/// A device's X25519 private key (HPKE recipient). Zeroized on drop; `Debug` is redacted.
#[derive(Clone)]
pub struct HpkeSecretKey {
    secret: Zeroizing<[u8; 32]>,
    public: HpkePublicKey,
}

impl HpkeSecretKey {
    /// Generates a key pair (RFC 9180 `DeriveKeyPair` over 32 random bytes).
    ///
    /// # Errors
    /// [`KeyError::Entropy`] when the random source fails.
    pub fn generate(entropy: &mut dyn Entropy) -> Result<Self, KeyError> {
        let ikm = draw32(entropy)?;
        let (sk, _) = X25519HkdfSha256::derive_keypair(ikm.as_slice());
        let mut secret = Zeroizing::new([0u8; 32]);
        sk.write_exact(secret.as_mut_slice());
        Self::from_secret(secret)
    }

    fn from_secret(secret: Zeroizing<[u8; 32]>) -> Result<Self, KeyError> {
        let sk = <X25519HkdfSha256 as hpke::Kem>::PrivateKey::from_bytes(secret.as_slice())
            .map_err(|_| KeyError::BadEncoding { member: "d" })?;
        let pk = X25519HkdfSha256::sk_to_pk(&sk);
        let mut public = [0u8; 32];
        pk.write_exact(&mut public);
        Ok(Self {
            secret,
            public: HpkePublicKey(public),
        })
    }

    /// The matching public key.
    pub fn public(&self) -> HpkePublicKey {
        self.public
    }

    /// The 32-byte X25519 private key (RFC 9180 `SerializePrivateKey`). Handle as a secret.
    pub fn secret_bytes(&self) -> &[u8; 32] {
        &self.secret
    }

    pub(crate) fn to_hpke(&self) -> Result<<X25519HkdfSha256 as hpke::Kem>::PrivateKey, KeyError> {
        <X25519HkdfSha256 as hpke::Kem>::PrivateKey::from_bytes(self.secret.as_slice())
            .map_err(|_| KeyError::BadEncoding { member: "d" })
    }

    /// The private JWK text (with `d`); handle as a secret.
    pub fn to_jwk(&self) -> Zeroizing<String> {
        private_jwk(X25519, &self.public.0, &self.secret, r#""use":"enc","#)
    }

    /// Parses a private X25519 JWK and checks that `x` matches `d`.
    ///
    /// # Errors
    /// A [`KeyError`] naming what is wrong (never the key material).
    pub fn from_jwk(text: &str) -> Result<Self, KeyError> {
        let jwk = parse_jwk(text, X25519)?;
        let d = jwk.d.as_deref().ok_or(KeyError::MissingPrivate)?;
        let key = Self::from_secret(decode32(d, "d")?)?;
        if *decode32(&jwk.x, "x")? != key.public.0 {
            return Err(KeyError::PublicMismatch);
        }
        Ok(key)
    }
}

impl fmt::Debug for HpkeSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "HpkeSecretKey(public {}, secret redacted)",
            self.public.thumbprint()
        )
    }
}

/// An Ed25519 public key: a device's proof-of-possession key or a broker's header key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct VerifyingKey {
    bytes: [u8; 32],
    key: dalek::VerifyingKey,
}

impl VerifyingKey {
    /// Parses a 32-byte Ed25519 public key, refusing invalid and weak (small-order) points.
    ///
    /// # Errors
    /// [`KeyError::InvalidPublicKey`].
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, KeyError> {
        let key =
            dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::InvalidPublicKey)?;
        if key.is_weak() {
            return Err(KeyError::InvalidPublicKey);
        }
        Ok(Self { bytes, key })
    }

    /// The 32-byte public key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The RFC 7638 thumbprint (the DPoP `jkt`, and the signer id in envelope headers).
    pub fn thumbprint(&self) -> Thumbprint {
        Thumbprint::of_okp(ED25519, &self.bytes)
    }

    /// The public JWK (`{"kty":"OKP","crv":"Ed25519","x":..,"alg":"EdDSA","kid":..}`).
    pub fn to_jwk(&self) -> String {
        public_jwk(ED25519, &self.bytes, r#""alg":"EdDSA","#)
    }

    /// Parses a public Ed25519 JWK; one with a private part is refused.
    ///
    /// # Errors
    /// A [`KeyError`] naming what is wrong.
    pub fn from_jwk(text: &str) -> Result<Self, KeyError> {
        let jwk = parse_jwk(text, ED25519)?;
        if jwk.d.is_some() {
            return Err(KeyError::UnexpectedPrivate);
        }
        Self::from_bytes(*decode32(&jwk.x, "x")?)
    }

    /// Verifies a signature strictly (RFC 8032 with the dalek `verify_strict` rules).
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let sig = dalek::Signature::from_bytes(signature);
        self.key.verify_strict(message, &sig).is_ok()
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey({})", self.thumbprint())
    }
}

/// An Ed25519 private key. Zeroized on drop (dalek's `zeroize` feature and our own
/// buffers); `Debug` shows only the public thumbprint.
#[derive(Clone)]
pub struct SigningKey {
    key: dalek::SigningKey,
    public: VerifyingKey,
}

impl SigningKey {
    /// Generates a key from 32 random bytes.
    ///
    /// # Errors
    /// [`KeyError::Entropy`] when the random source fails.
    pub fn generate(entropy: &mut dyn Entropy) -> Result<Self, KeyError> {
        let seed = draw32(entropy)?;
        Self::from_seed(&seed)
    }

    /// Builds the key from its 32-byte RFC 8032 seed (the JWK `d`).
    ///
    /// # Errors
    /// [`KeyError::InvalidPublicKey`] if the derived public key is unusable.
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, KeyError> {
        let key = dalek::SigningKey::from_bytes(seed);
        let public = VerifyingKey::from_bytes(key.verifying_key().to_bytes())?;
        Ok(Self { key, public })
    }

    /// The matching public key.
    pub fn public(&self) -> VerifyingKey {
        self.public
    }

    /// The 32-byte RFC 8032 seed, for callers (e.g. a DPoP signer) that use another
    /// Ed25519 implementation. Handle as a secret.
    pub fn secret_bytes(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }

    /// Signs `message` (pure Ed25519).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        use dalek::Signer as _;
        self.key.sign(message).to_bytes()
    }

    /// The private JWK text (with `d`); handle as a secret.
    pub fn to_jwk(&self) -> Zeroizing<String> {
        private_jwk(
            ED25519,
            &self.public.bytes,
            self.key.as_bytes(),
            r#""alg":"EdDSA","#,
        )
    }

    /// Parses a private Ed25519 JWK and checks that `x` matches `d`.
    ///
    /// # Errors
    /// A [`KeyError`] naming what is wrong (never the key material).
    pub fn from_jwk(text: &str) -> Result<Self, KeyError> {
        let jwk = parse_jwk(text, ED25519)?;
        let d = jwk.d.as_deref().ok_or(KeyError::MissingPrivate)?;
        let seed = decode32(d, "d")?;
        let key = Self::from_seed(&seed)?;
        if *decode32(&jwk.x, "x")? != key.public.bytes {
            return Err(KeyError::PublicMismatch);
        }
        Ok(key)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SigningKey(public {}, secret redacted)",
            self.public.thumbprint()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(u8);
    impl Entropy for Fixed {
        fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
            dest.fill(self.0);
            Ok(())
        }
    }

    #[test]
    fn rfc7638_thumbprint_of_rfc8037_ed25519_example() {
        // RFC 8037 Appendix A.3: thumbprint of the A.2 public key.
        let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        let key = VerifyingKey::from_jwk(&format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}"}}"#))
            .unwrap();
        assert_eq!(
            key.thumbprint().to_string(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn rfc8037_ed25519_private_jwk_loads_and_signs_like_the_rfc() {
        // RFC 8037 Appendix A.1 key and A.4 signature over the JWS signing input.
        let jwk = r#"{"kty":"OKP","crv":"Ed25519",
            "d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
            "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
        let key = SigningKey::from_jwk(jwk).unwrap();
        let sig = key.sign(b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc");
        assert_eq!(
            Base64UrlUnpadded::encode_string(&sig),
            "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
        );
        assert!(key.public().verify(
            b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc",
            &sig
        ));
    }

    #[test]
    fn jwk_round_trips_and_mismatched_x_is_refused() {
        let k = SigningKey::generate(&mut Fixed(3)).unwrap();
        let back = SigningKey::from_jwk(&k.to_jwk()).unwrap();
        assert_eq!(back.public(), k.public());
        let other = SigningKey::generate(&mut Fixed(4)).unwrap();
        let forged = k.to_jwk().replace(
            &Base64UrlUnpadded::encode_string(k.public().as_bytes()),
            &Base64UrlUnpadded::encode_string(other.public().as_bytes()),
        );
        assert!(matches!(
            SigningKey::from_jwk(&forged),
            Err(KeyError::PublicMismatch)
        ));

        let h = HpkeSecretKey::generate(&mut Fixed(5)).unwrap();
        let hb = HpkeSecretKey::from_jwk(&h.to_jwk()).unwrap();
        assert_eq!(hb.public(), h.public());
        assert_eq!(
            HpkePublicKey::from_jwk(&h.public().to_jwk()).unwrap(),
            h.public()
        );
    }

    #[test]
    fn public_loaders_refuse_private_material_and_wrong_curves() {
        let k = SigningKey::generate(&mut Fixed(3)).unwrap();
        assert!(matches!(
            VerifyingKey::from_jwk(&k.to_jwk()),
            Err(KeyError::UnexpectedPrivate)
        ));
        assert!(matches!(
            HpkePublicKey::from_jwk(&k.public().to_jwk()),
            Err(KeyError::WrongKeyType { .. })
        ));
        assert!(matches!(
            SigningKey::from_jwk(&k.public().to_jwk()),
            Err(KeyError::MissingPrivate)
        ));
        assert!(matches!(
            VerifyingKey::from_jwk("not json"),
            Err(KeyError::NotJwk)
        ));
    }

    #[test]
    fn debug_and_errors_never_show_the_secret() {
        let k = SigningKey::generate(&mut Fixed(9)).unwrap();
        let h = HpkeSecretKey::generate(&mut Fixed(9)).unwrap();
        let d_sign = Base64UrlUnpadded::encode_string(k.secret_bytes());
        let d_hpke = Base64UrlUnpadded::encode_string(h.secret.as_slice());
        let shown = format!("{k:?} {h:?}");
        assert!(!shown.contains(&d_sign) && !shown.contains(&d_hpke));
        assert!(!shown.contains(&hex::encode(k.secret_bytes())));
        // A bad `x` with a valid secret: the error must not echo the secret.
        let bad = k.to_jwk().replace(r#""x":""#, r#""x":"!!"#);
        let err = SigningKey::from_jwk(&bad).unwrap_err();
        assert!(!format!("{err} {err:?}").contains(&d_sign));
        // Control: the private JWK itself does contain `d`, so the check above can fail.
        assert!(k.to_jwk().contains(&d_sign));
    }
}
