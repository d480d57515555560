//! An output that counts and hashes (SHA-256) every byte it forwards. Put a
//! `BufWriter` in front of it so the hash is fed in large blocks.

use std::io::{self, Write};

use sha2::{Digest, Sha256};

/// Counts and hashes what is written, then forwards it to `W`.
pub(crate) struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// Bytes written so far.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Hex SHA-256 of the bytes written so far.
    pub(crate) fn digest_hex(&self) -> String {
        crate::reference::parse::hex(&self.hasher.clone().finalize())
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let done = buf.get(..n).unwrap_or_default();
        self.hasher.update(done);
        self.written += done.len() as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
