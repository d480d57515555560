//! Refresh tokens: the opaque, scanner-detectable [`RefreshToken`] format, the
//! [`RefreshStore`] trait for token families (stored only as hashes) and
//! [`MemoryRefreshStore`].
//!
//! Format: `cty_rt_` + 43 base62 characters (256 random bits) + 6 base62 characters of
//! CRC32 over those 43, 56 characters in all. The prefix and checksum let a scanner
//! recognise a custody refresh token with no false positives; the checksum is not a
//! security control.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use crate::class::TokenClass;
use crate::jose::{Thumbprint, sha256};
use crate::network::NetworkContext;
use crate::revocation::StoreError;
use crate::time::Timestamp;

/// The refresh-token prefix.
pub const REFRESH_PREFIX: &str = "cty_rt_";
const BODY_LEN: usize = 43;
const CHECK_LEN: usize = 6;
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why text is not a refresh token. Never contains the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefreshFormatError {
    /// Wrong prefix, length or alphabet.
    #[error("not a custody refresh token (prefix, length or alphabet)")]
    Shape,
    /// The checksum does not match.
    #[error("the refresh token's checksum does not match")]
    Checksum,
}

/// An opaque refresh token. Zeroized on drop; `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(Zeroizing<String>);

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken([redacted])")
    }
}

/// A refresh token's SHA-256, the only form a store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RefreshTokenHash([u8; 32]);

fn base62_fixed(bytes: &[u8], width: usize) -> String {
    let mut number: Vec<u8> = bytes.to_vec();
    let mut digits = Vec::with_capacity(width);
    for _ in 0..width {
        let mut remainder: u32 = 0;
        for byte in &mut number {
            let accumulator = (remainder << 8) | u32::from(*byte);
            *byte = u8::try_from(accumulator / 62).unwrap_or(u8::MAX);
            remainder = accumulator % 62;
        }
        let digit = usize::try_from(remainder).unwrap_or(0);
        digits.push(ALPHABET.get(digit).copied().unwrap_or(b'0'));
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

fn checksum(body: &str) -> String {
    base62_fixed(&crc32fast::hash(body.as_bytes()).to_be_bytes(), CHECK_LEN)
}

impl RefreshToken {
    /// A fresh token with 256 random bits.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut random = Zeroizing::new([0_u8; 32]);
        rng.fill_bytes(random.as_mut());
        let body = Zeroizing::new(base62_fixed(random.as_ref(), BODY_LEN));
        let mut text = Zeroizing::new(String::with_capacity(56));
        text.push_str(REFRESH_PREFIX);
        text.push_str(&body);
        text.push_str(&checksum(&body));
        Self(text)
    }

    /// Checks the format (prefix, length, alphabet, checksum) of presented text.
    pub fn parse(text: &str) -> Result<Self, RefreshFormatError> {
        let rest = text
            .strip_prefix(REFRESH_PREFIX)
            .ok_or(RefreshFormatError::Shape)?;
        if rest.len() != BODY_LEN + CHECK_LEN || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(RefreshFormatError::Shape);
        }
        let (body, check) = rest
            .split_at_checked(BODY_LEN)
            .ok_or(RefreshFormatError::Shape)?;
        if checksum(body) != check {
            return Err(RefreshFormatError::Checksum);
        }
        Ok(Self(Zeroizing::new(text.to_owned())))
    }

    /// The token text, to hand to the client once.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The hash a store keeps.
    pub fn hash(&self) -> RefreshTokenHash {
        RefreshTokenHash(sha256(self.0.as_bytes()))
    }
}

/// What a refresh-token family is bound to; fixed for the family's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyRecord {
    /// Family id; also the session id (`sid`) of every access token it yields.
    pub family_id: String,
    /// Class of the tokens it yields.
    pub class: TokenClass,
    /// Principal (`sub`).
    pub subject: String,
    /// Tenant.
    pub tenant: String,
    /// OAuth client id.
    pub client_id: String,
    /// The proof key every refresh must prove possession of.
    pub jkt: Thumbprint,
    /// The network context the family is bound to.
    pub network: NetworkContext,
    /// When the family was created, Unix seconds (revocation epochs compare to it).
    pub created_at: u64,
    /// Absolute expiry of the family.
    pub expires_at: Timestamp,
}

/// Where a presented refresh token stands in its family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenStanding {
    /// The family's current token: may be rotated.
    Current,
    /// An earlier, already rotated token: presenting it is reuse.
    Rotated,
}

/// A family as a store returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyView {
    /// The binding.
    pub record: FamilyRecord,
    /// Whether the family is revoked.
    pub revoked: bool,
    /// Where the presented token stands.
    pub standing: TokenStanding,
}

/// The result of a compare-and-swap rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The presented token was current and is now replaced.
    Rotated,
    /// The presented token was not current (a concurrent or earlier use): the store has
    /// revoked the family.
    Reused,
}

/// Refresh-token families, keyed by token hash. Implementations must make
/// [`RefreshStore::rotate`] atomic.
pub trait RefreshStore: Send + Sync {
    /// Records a new family whose current token has hash `first`.
    fn create_family(
        &self,
        record: FamilyRecord,
        first: RefreshTokenHash,
    ) -> Result<(), StoreError>;

    /// The family a token hash belongs to, if any.
    fn lookup(&self, presented: &RefreshTokenHash) -> Result<Option<FamilyView>, StoreError>;

    /// If `presented` is the family's current token and the family is not revoked,
    /// replaces it with `next`; otherwise revokes the family and answers `Reused`.
    fn rotate(
        &self,
        family_id: &str,
        presented: &RefreshTokenHash,
        next: RefreshTokenHash,
    ) -> Result<RotateOutcome, StoreError>;

    /// Revokes a family: none of its tokens can be used again.
    fn revoke_family(&self, family_id: &str) -> Result<(), StoreError>;
}

#[derive(Debug)]
struct Family {
    record: FamilyRecord,
    current: RefreshTokenHash,
    revoked: bool,
}

#[derive(Debug, Default)]
struct Families {
    by_id: HashMap<String, Family>,
    by_hash: HashMap<RefreshTokenHash, String>,
}

/// An in-memory refresh store (one node; tests and the CLI).
#[derive(Debug, Default)]
pub struct MemoryRefreshStore {
    inner: Mutex<Families>,
}

impl MemoryRefreshStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl RefreshStore for MemoryRefreshStore {
    fn create_family(
        &self,
        record: FamilyRecord,
        first: RefreshTokenHash,
    ) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().map_err(|_| StoreError::Unavailable)?;
        if inner.by_id.contains_key(&record.family_id) || inner.by_hash.contains_key(&first) {
            return Err(StoreError::Unavailable);
        }
        inner.by_hash.insert(first, record.family_id.clone());
        inner.by_id.insert(
            record.family_id.clone(),
            Family {
                record,
                current: first,
                revoked: false,
            },
        );
        Ok(())
    }

    fn lookup(&self, presented: &RefreshTokenHash) -> Result<Option<FamilyView>, StoreError> {
        let inner = self.inner.lock().map_err(|_| StoreError::Unavailable)?;
        Ok(inner
            .by_hash
            .get(presented)
            .and_then(|id| inner.by_id.get(id))
            .map(|family| FamilyView {
                record: family.record.clone(),
                revoked: family.revoked,
                standing: if &family.current == presented {
                    TokenStanding::Current
                } else {
                    TokenStanding::Rotated
                },
            }))
    }

    fn rotate(
        &self,
        family_id: &str,
        presented: &RefreshTokenHash,
        next: RefreshTokenHash,
    ) -> Result<RotateOutcome, StoreError> {
        let mut inner = self.inner.lock().map_err(|_| StoreError::Unavailable)?;
        let family = inner
            .by_id
            .get_mut(family_id)
            .ok_or(StoreError::Unavailable)?;
        if family.revoked || &family.current != presented {
            family.revoked = true;
            return Ok(RotateOutcome::Reused);
        }
        family.current = next;
        inner.by_hash.insert(next, family_id.to_owned());
        Ok(RotateOutcome::Rotated)
    }

    fn revoke_family(&self, family_id: &str) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().map_err(|_| StoreError::Unavailable)?;
        if let Some(family) = inner.by_id.get_mut(family_id) {
            family.revoked = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng as _;

    use super::*;

    #[test]
    fn format_has_prefix_length_and_checksum() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let token = RefreshToken::generate(&mut rng);
        let text = token.expose_secret().to_owned();
        assert!(text.starts_with(REFRESH_PREFIX));
        assert_eq!(text.len(), 56);
        assert_eq!(RefreshToken::parse(&text).unwrap(), token);
        // Flip one body character: the checksum catches it.
        let mut bytes = text.clone().into_bytes();
        bytes[10] = if bytes[10] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(bytes).unwrap();
        assert_eq!(
            RefreshToken::parse(&flipped),
            Err(RefreshFormatError::Checksum)
        );
        assert_eq!(
            RefreshToken::parse(&text.replace("cty_rt_", "cty_xx_")),
            Err(RefreshFormatError::Shape)
        );
        assert!(!format!("{token:?}").contains(text.get(7..20).unwrap()));
    }

    #[test]
    fn base62_is_fixed_width_and_distinct() {
        assert_eq!(base62_fixed(&[0; 4], 6), "000000");
        assert_eq!(base62_fixed(&[0, 0, 0, 61], 6), "00000z");
        assert_eq!(base62_fixed(&[0, 0, 0, 62], 6), "000010");
        assert_eq!(base62_fixed(&[0xff; 32], 43).len(), 43);
    }
}
