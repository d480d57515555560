//! Injected randomness: the [`Entropy`] trait, the operating-system source [`OsEntropy`],
//! and the adapter that hands pre-drawn bytes to the HPKE implementation.
//!
//! Every random value custody-seal uses (device keys, signer keys, content keys, HPKE
//! ephemeral keys) is drawn through [`Entropy`], so a failure of the random source is an
//! error (fail closed) rather than a panic, and known-answer tests can supply fixed bytes.

use hpke::rand_core::{Infallible, TryCryptoRng, TryRng};
use zeroize::Zeroizing;

/// The random source could not deliver bytes.
#[derive(Debug, thiserror::Error)]
#[error("the random source failed to deliver bytes")]
pub struct EntropyError;

/// A source of cryptographically secure random bytes.
///
/// Production code uses [`OsEntropy`]; tests may supply fixed bytes to reproduce vectors.
pub trait Entropy {
    /// Fills `dest` entirely with random bytes.
    ///
    /// # Errors
    /// [`EntropyError`] when the source cannot deliver; callers must then fail.
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError>;
}

/// The operating system's random source (`getrandom`).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
        getrandom::fill(dest).map_err(|_| EntropyError)
    }
}

/// Draws a 32-byte secret from `entropy`, zeroized on drop.
pub(crate) fn draw32(entropy: &mut dyn Entropy) -> Result<Zeroizing<[u8; 32]>, EntropyError> {
    let mut out = Zeroizing::new([0u8; 32]);
    entropy.fill(out.as_mut_slice())?;
    Ok(out)
}

/// Serves bytes drawn beforehand to an API that wants an infallible RNG (the `hpke` crate).
///
/// If the consumer asks for more than was drawn, the adapter records it in `overdrawn` and
/// fills zeros; the caller must check [`PreDrawn::overdrawn`] and discard the result (fail
/// closed). With DHKEM(X25519) the HPKE sender asks for exactly 32 bytes.
pub(crate) struct PreDrawn {
    bytes: Zeroizing<[u8; 32]>,
    used: usize,
    overdrawn: bool,
}

impl PreDrawn {
    pub(crate) fn new(bytes: Zeroizing<[u8; 32]>) -> Self {
        Self {
            bytes,
            used: 0,
            overdrawn: false,
        }
    }

    /// True when the consumer asked for more bytes than were drawn.
    pub(crate) fn overdrawn(&self) -> bool {
        self.overdrawn
    }
}

impl TryRng for PreDrawn {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let end = self.used.saturating_add(dst.len());
        match self.bytes.get(self.used..end) {
            Some(src) => {
                dst.copy_from_slice(src);
                self.used = end;
            }
            None => {
                dst.fill(0);
                self.overdrawn = true;
            }
        }
        Ok(())
    }
}

impl TryCryptoRng for PreDrawn {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predrawn_serves_exactly_once_then_flags_overdraw() {
        let mut rng = PreDrawn::new(Zeroizing::new([7u8; 32]));
        let mut a = [0u8; 32];
        rng.try_fill_bytes(&mut a).unwrap();
        assert_eq!(a, [7u8; 32]);
        assert!(!rng.overdrawn());
        let mut b = [1u8; 1];
        rng.try_fill_bytes(&mut b).unwrap();
        assert!(rng.overdrawn());
        assert_eq!(b, [0u8]);
    }

    #[test]
    fn os_entropy_fills() {
        let mut a = [0u8; 32];
        OsEntropy.fill(&mut a).unwrap();
        let mut b = [0u8; 32];
        OsEntropy.fill(&mut b).unwrap();
        assert_ne!(a, b);
    }
}
