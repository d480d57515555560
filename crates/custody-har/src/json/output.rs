//! An output that counts and hashes (SHA-256) every byte it forwards (hashing can be
//! left off when the caller hashes the output itself). Put a `BufWriter` in front of
//! it so the hash is fed in large blocks.

use std::io::{self, Write};

use sha2::{Digest, Sha256};

/// Whether a sanitizer run computes the SHA-256 digests of its input and output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Digests {
    /// Hash both; the report carries them (every public entry point).
    Compute,
    /// Hash neither; the report's digests are empty. Only for callers that hash the
    /// same input and output bytes themselves (`artifact`, whose report carries its
    /// own digests).
    Skip,
}

/// Counts and hashes what is written, then forwards it to `W`.
pub(crate) struct HashingWriter<W: Write> {
    inner: W,
    /// `None` when the caller digests the output itself.
    hasher: Option<Sha256>,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    /// A writer that hashes only when `digests` says so.
    pub(crate) fn with_digest(inner: W, digests: Digests) -> Self {
        Self {
            inner,
            hasher: (digests == Digests::Compute).then(Sha256::new),
            written: 0,
        }
    }

    /// Bytes written so far.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Hex SHA-256 of the bytes written so far (empty when not hashing).
    pub(crate) fn digest_hex(&self) -> String {
        self.hasher
            .as_ref()
            .map(|h| crate::json::parse::hex(&h.clone().finalize()))
            .unwrap_or_default()
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let done = buf.get(..n).unwrap_or_default();
        if let Some(hasher) = self.hasher.as_mut() {
            hasher.update(done);
        }
        self.written += done.len() as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
