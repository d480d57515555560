//! Encryption at rest (DESIGN.md §4): envelope encryption with per-tenant data keys.
//!
//! - A key-encryption key ([`Kek`]) belongs to the deployment (a 0600 file in the
//!   data directory for the embedded default; a KMS in a larger one).
//! - Each tenant has data keys, stored only wrapped: AES-256-GCM under the KEK with the
//!   tenant id as associated data, so a wrapped key moved to another tenant's row fails.
//! - Each blob has a random content key, wrapped under the tenant data key with the
//!   artifact id as associated data, and its content is encrypted with the STREAM
//!   construction (`aead-stream`, AES-256-GCM, 64 KiB chunks, last-chunk flag), with
//!   the blob's binding string as associated data of every chunk. Truncation, chunk
//!   reordering, a swapped blob or a flipped byte all fail authentication.
//!
//! Blob layout: `CUSTBLOB` | version (1 byte) | nonce (12) | wrapped content key (48) |
//! chunks. Plaintext leaves [`BlobReader`] only chunk by chunk as each authenticates.

use std::io::{self, Read, Seek, SeekFrom, Write};

use aead_stream::{EncryptorBE32, NewStream, StreamBE32, StreamPrimitive};
use aes_gcm::aead::Aead;
use aes_gcm::aead::Payload;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use zeroize::Zeroizing;

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;
const MAGIC: &[u8; 8] = b"CUSTBLOB";
const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const WRAPPED_LEN: usize = 32 + TAG;
/// Bytes before the first chunk.
pub const PREAMBLE_LEN: usize = MAGIC.len() + 1 + NONCE_LEN + WRAPPED_LEN;

/// Errors of the at-rest layer. None carries key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AtRestError {
    /// The randomness source failed.
    #[error("the system randomness source failed")]
    Entropy,
    /// A wrapped key did not unwrap under the expected key and binding.
    #[error("a wrapped {what} key did not authenticate (wrong key, tenant or artifact)")]
    Unwrap {
        /// `data` or `content`.
        what: &'static str,
    },
    /// The blob does not start with a custody blob preamble.
    #[error("the stored blob is not a custody blob (bad preamble)")]
    Preamble,
    /// A chunk failed authentication (changed, reordered, truncated or swapped).
    #[error("stored blob chunk {index} failed authentication")]
    Chunk {
        /// Zero-based chunk index.
        index: u64,
    },
    /// Reading or writing the blob failed.
    #[error("blob I/O failed: {0}")]
    Io(#[from] io::Error),
}

impl From<AtRestError> for io::Error {
    fn from(err: AtRestError) -> Self {
        match err {
            AtRestError::Io(io) => io,
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}

fn random32() -> Result<Zeroizing<[u8; 32]>, AtRestError> {
    let mut key = Zeroizing::new([0u8; 32]);
    getrandom::fill(key.as_mut_slice()).map_err(|_| AtRestError::Entropy)?;
    Ok(key)
}

fn wrap(key: &[u8; 32], plaintext: &[u8; 32], aad: &[u8]) -> Result<Vec<u8>, AtRestError> {
    let aead = Aes256Gcm::new_from_slice(key).map_err(|_| AtRestError::Entropy)?;
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|_| AtRestError::Entropy)?;
    let sealed = aead
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| AtRestError::Entropy)?;
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

fn unwrap(
    key: &[u8; 32],
    wrapped: &[u8],
    aad: &[u8],
    what: &'static str,
) -> Result<Zeroizing<[u8; 32]>, AtRestError> {
    let err = AtRestError::Unwrap { what };
    let (nonce, sealed) = wrapped
        .split_first_chunk::<NONCE_LEN>()
        .ok_or(AtRestError::Unwrap { what })?;
    let aead = Aes256Gcm::new_from_slice(key).map_err(|_| AtRestError::Unwrap { what })?;
    let plain = Zeroizing::new(
        aead.decrypt(&Nonce::from(*nonce), Payload { msg: sealed, aad })
            .map_err(|_| AtRestError::Unwrap { what })?,
    );
    let bytes: [u8; 32] = plain.as_slice().try_into().map_err(|_| err)?;
    Ok(Zeroizing::new(bytes))
}

fn tenant_aad(tenant: &str) -> Vec<u8> {
    [b"custody-tenant-dek-v1\0".as_slice(), tenant.as_bytes()].concat()
}

fn blob_aad(binding: &str) -> Vec<u8> {
    [b"custody-blob-v1\0".as_slice(), binding.as_bytes()].concat()
}

/// The deployment's key-encryption key. No `Debug` of the bytes; zeroized on drop.
pub struct Kek(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek([redacted])")
    }
}

impl Kek {
    /// A KEK from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A fresh random KEK.
    pub fn generate() -> Result<Self, AtRestError> {
        Ok(Self(random32()?))
    }

    /// The key bytes, to persist it (0600 file).
    pub fn secret_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A new data key for `tenant`, returned with its wrapped form (the only form stored).
    pub fn new_data_key(&self, tenant: &str) -> Result<(DataKey, Vec<u8>), AtRestError> {
        let key = random32()?;
        let wrapped = wrap(&self.0, &key, &tenant_aad(tenant))?;
        Ok((DataKey(key), wrapped))
    }

    /// Unwraps `tenant`'s data key; fails if it was wrapped for another tenant or KEK.
    pub fn open_data_key(&self, tenant: &str, wrapped: &[u8]) -> Result<DataKey, AtRestError> {
        unwrap(&self.0, wrapped, &tenant_aad(tenant), "data").map(DataKey)
    }
}

const RELEASE_AAD: &[u8] = b"custody-export-release-key-v1";

impl Kek {
    /// Wraps an export's release key for storage (only the wrapped form is stored).
    pub fn wrap_release_key(&self, key: &[u8; 32]) -> Result<Vec<u8>, AtRestError> {
        wrap(&self.0, key, RELEASE_AAD)
    }

    /// Unwraps an export's release key.
    pub fn unwrap_release_key(&self, wrapped: &[u8]) -> Result<Zeroizing<[u8; 32]>, AtRestError> {
        unwrap(&self.0, wrapped, RELEASE_AAD, "release")
    }
}

/// A tenant's data key (plaintext, in memory only while used).
pub struct DataKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

impl DataKey {
    /// An export's release key used as the key of the outer layer (the client holds it
    /// only after the online release).
    pub fn from_release_key(key: &[u8; 32]) -> Self {
        Self(Zeroizing::new(*key))
    }
}

/// Encrypts a blob as it is written. Call [`BlobWriter::finish`]; a writer dropped
/// without it leaves a blob that fails authentication (no last chunk).
pub struct BlobWriter<W: Write> {
    inner: W,
    encryptor: Option<EncryptorBE32<Aes256Gcm>>,
    buf: Zeroizing<Vec<u8>>,
    aad: Vec<u8>,
    written: u64,
}

impl<W: Write> BlobWriter<W> {
    /// Starts a blob bound to `binding` (e.g. `tenant/artifact`) under `key`.
    pub fn new(mut inner: W, key: &DataKey, binding: &str) -> Result<Self, AtRestError> {
        let content_key = random32()?;
        let aad = blob_aad(binding);
        let wrapped = wrap(&key.0, &content_key, &aad)?;
        inner.write_all(MAGIC)?;
        inner.write_all(&[VERSION])?;
        inner.write_all(&wrapped)?;
        let aead =
            Aes256Gcm::new_from_slice(content_key.as_slice()).map_err(|_| AtRestError::Entropy)?;
        Ok(Self {
            inner,
            encryptor: Some(EncryptorBE32::from_aead(aead, &Default::default())),
            buf: Zeroizing::new(Vec::with_capacity(CHUNK + TAG)),
            aad,
            written: 0,
        })
    }

    fn flush_chunk(&mut self) -> io::Result<()> {
        let encryptor = self
            .encryptor
            .as_mut()
            .ok_or_else(|| io::Error::other("blob already finished"))?;
        encryptor
            .encrypt_next_in_place(&self.aad, &mut *self.buf)
            .map_err(|_| io::Error::other("chunk encryption failed"))?;
        self.inner.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Encrypts the last chunk and returns the inner writer and the plaintext length.
    pub fn finish(mut self) -> Result<(W, u64), AtRestError> {
        let encryptor = self.encryptor.take().ok_or(AtRestError::Preamble)?;
        encryptor
            .encrypt_last_in_place(&self.aad, &mut *self.buf)
            .map_err(|_| AtRestError::Chunk { index: u64::MAX })?;
        self.inner.write_all(&self.buf)?;
        self.inner.flush()?;
        Ok((self.inner, self.written))
    }
}

impl<W: Write> Write for BlobWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let take = room.min(data.len());
        self.buf
            .extend_from_slice(data.get(..take).unwrap_or_default());
        self.written += take as u64;
        if self.buf.len() == CHUNK {
            self.flush_chunk()?;
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Decrypts a blob as it is read; yields a chunk only after it authenticated, and fails
/// on truncation (no authenticated last chunk) with [`AtRestError::Chunk`].
///
/// [`BlobReader::new`] reads from the start and finds the last chunk by reading ahead;
/// [`BlobReader::new_at`] starts at any plaintext offset of a blob whose plaintext
/// length is known (from the artifact's metadata) and decrypts only the chunks from
/// there on: each chunk's position and last-chunk flag are part of its nonce, so a
/// chunk moved, a wrong length or a truncated blob still fails authentication.
pub struct BlobReader<R: Read> {
    inner: R,
    stream: StreamBE32<Aes256Gcm>,
    aad: Vec<u8>,
    /// Ciphertext read ahead (up to one chunk plus one byte, to know which is last).
    pending: Vec<u8>,
    plain: Zeroizing<Vec<u8>>,
    pos: usize,
    index: u64,
    /// The last chunk's index, when the plaintext length is known.
    last: Option<u64>,
    /// Plaintext bytes to drop from the first chunk decrypted (`new_at`).
    skip: usize,
    done: bool,
}

/// Reads and checks the preamble; returns the blob's STREAM and associated data.
fn open_preamble<R: Read>(
    inner: &mut R,
    key: &DataKey,
    binding: &str,
) -> Result<(StreamBE32<Aes256Gcm>, Vec<u8>), AtRestError> {
    let mut preamble = [0u8; PREAMBLE_LEN];
    inner
        .read_exact(&mut preamble)
        .map_err(|_| AtRestError::Preamble)?;
    let (magic, rest) = preamble.split_at(MAGIC.len());
    let (version, wrapped) = rest.split_at(1);
    if magic != MAGIC || version != [VERSION] {
        return Err(AtRestError::Preamble);
    }
    let aad = blob_aad(binding);
    let content_key = unwrap(&key.0, wrapped, &aad, "content")?;
    let aead = Aes256Gcm::new_from_slice(content_key.as_slice())
        .map_err(|_| AtRestError::Unwrap { what: "content" })?;
    Ok((StreamBE32::from_aead(aead, &Default::default()), aad))
}

/// The ciphertext length of a blob holding `len` plaintext bytes (preamble included).
pub fn blob_len(len: u64) -> Option<u64> {
    let chunks = len / CHUNK as u64 + 1;
    let tags = chunks.checked_mul(TAG as u64)?;
    len.checked_add(tags)?.checked_add(PREAMBLE_LEN as u64)
}

impl<R: Read> BlobReader<R> {
    /// Opens a blob written by [`BlobWriter`] for the same `binding` under `key`.
    pub fn new(mut inner: R, key: &DataKey, binding: &str) -> Result<Self, AtRestError> {
        let (stream, aad) = open_preamble(&mut inner, key, binding)?;
        Ok(Self {
            inner,
            stream,
            aad,
            pending: Vec::with_capacity(CHUNK + TAG + 1),
            plain: Zeroizing::new(Vec::with_capacity(CHUNK + TAG)),
            pos: 0,
            index: 0,
            last: None,
            skip: 0,
            done: false,
        })
    }

    fn fill_pending(&mut self) -> io::Result<()> {
        let want = match self.last {
            // Known length: exactly this chunk (a short read is a truncation).
            Some(_) => CHUNK + TAG,
            None => CHUNK + TAG + 1,
        };
        while self.pending.len() < want {
            let start = self.pending.len();
            self.pending.resize(want, 0);
            let slot = self.pending.get_mut(start..).unwrap_or_default();
            let n = match self.inner.read(slot) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
                Err(e) => {
                    self.pending.truncate(start);
                    return Err(e);
                }
            };
            self.pending.truncate(start + n);
            if n == 0 {
                break;
            }
        }
        Ok(())
    }

    fn next_chunk(&mut self) -> io::Result<()> {
        self.fill_pending()?;
        let index = self.index;
        let bad = || io::Error::from(AtRestError::Chunk { index });
        let is_last = match self.last {
            Some(last) => index == last,
            None => self.pending.len() <= CHUNK + TAG,
        };
        let take = self.pending.len().min(CHUNK + TAG);
        if take < TAG {
            return Err(bad());
        }
        self.plain.clear();
        self.plain
            .extend_from_slice(self.pending.get(..take).unwrap_or_default());
        self.pending.drain(..take);
        let position = u32::try_from(index).map_err(|_| bad())?;
        self.stream
            .decrypt_in_place(position, is_last, &self.aad, &mut *self.plain)
            .map_err(|_| bad())?;
        if !is_last && self.plain.len() != CHUNK {
            return Err(bad());
        }
        self.done = is_last;
        self.index += 1;
        self.pos = self.skip.min(self.plain.len());
        self.skip = 0;
        Ok(())
    }
}

impl<R: Read + Seek> BlobReader<R> {
    /// Opens a blob of `len` plaintext bytes (the artifact's recorded size) at
    /// plaintext `offset`: only the chunks from the one holding `offset` are read and
    /// decrypted. A blob whose size does not match `len` is refused.
    pub fn new_at(
        mut inner: R,
        key: &DataKey,
        binding: &str,
        len: u64,
        offset: u64,
    ) -> Result<Self, AtRestError> {
        let expected = blob_len(len).ok_or(AtRestError::Preamble)?;
        if inner.seek(SeekFrom::End(0))? != expected {
            return Err(AtRestError::Chunk {
                index: len / CHUNK as u64,
            });
        }
        inner.seek(SeekFrom::Start(0))?;
        let (stream, aad) = open_preamble(&mut inner, key, binding)?;
        let offset = offset.min(len);
        let first = offset / CHUNK as u64;
        let at = first
            .checked_mul((CHUNK + TAG) as u64)
            .and_then(|n| n.checked_add(PREAMBLE_LEN as u64))
            .ok_or(AtRestError::Chunk { index: first })?;
        inner.seek(SeekFrom::Start(at))?;
        let skip = usize::try_from(offset % CHUNK as u64).unwrap_or(0);
        Ok(Self {
            inner,
            stream,
            aad,
            pending: Vec::with_capacity(CHUNK + TAG),
            plain: Zeroizing::new(Vec::with_capacity(CHUNK + TAG)),
            pos: 0,
            index: first,
            last: Some(len / CHUNK as u64),
            skip,
            done: false,
        })
    }
}

impl<R: Read> Read for BlobReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.plain.len() {
            if self.done {
                return Ok(0);
            }
            self.next_chunk()?;
        }
        let available = self.plain.get(self.pos..).unwrap_or_default();
        let n = available.len().min(out.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), available.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip_fixture(len: usize) -> (Kek, Vec<u8>, Vec<u8>, Vec<u8>) {
        let kek = Kek::generate().unwrap();
        let (dek, wrapped) = kek.new_data_key("ten_a").unwrap();
        let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut writer = BlobWriter::new(Vec::new(), &dek, "ten_a/art_1").unwrap();
        writer.write_all(&plain).unwrap();
        let (blob, n) = writer.finish().unwrap();
        assert_eq!(n, len as u64);
        (kek, wrapped, plain, blob)
    }

    fn read_all(kek: &Kek, wrapped: &[u8], binding: &str, blob: &[u8]) -> io::Result<Vec<u8>> {
        let dek = kek
            .open_data_key("ten_a", wrapped)
            .map_err(io::Error::from)?;
        let mut reader = BlobReader::new(blob, &dek, binding).map_err(io::Error::from)?;
        let mut out = Vec::new();
        reader.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn round_trips_at_chunk_boundaries() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK] {
            let (kek, wrapped, plain, blob) = roundtrip_fixture(len);
            assert_eq!(
                read_all(&kek, &wrapped, "ten_a/art_1", &blob).unwrap(),
                plain
            );
        }
    }

    #[test]
    fn plaintext_is_not_in_the_blob() {
        let (_, _, plain, blob) = roundtrip_fixture(4096);
        let probe = plain.get(100..164).unwrap();
        assert!(!blob.windows(probe.len()).any(|w| w == probe));
    }

    #[test]
    fn any_flipped_byte_truncation_or_swap_fails() {
        let (kek, wrapped, _, blob) = roundtrip_fixture(2 * CHUNK + 10);
        for at in [
            0,
            9,
            PREAMBLE_LEN - 1,
            PREAMBLE_LEN,
            blob.len() / 2,
            blob.len() - 1,
        ] {
            let mut bad = blob.clone();
            *bad.get_mut(at).unwrap() ^= 1;
            assert!(
                read_all(&kek, &wrapped, "ten_a/art_1", &bad).is_err(),
                "flip at {at}"
            );
        }
        // Dropping the last chunk (truncation at a chunk boundary) fails.
        let cut = PREAMBLE_LEN + 2 * (CHUNK + TAG);
        assert!(read_all(&kek, &wrapped, "ten_a/art_1", blob.get(..cut).unwrap()).is_err());
        // The same blob under another artifact's binding fails.
        assert!(read_all(&kek, &wrapped, "ten_a/art_2", &blob).is_err());
    }

    fn read_at(
        kek: &Kek,
        wrapped: &[u8],
        blob: &[u8],
        len: u64,
        offset: u64,
    ) -> io::Result<Vec<u8>> {
        let dek = kek
            .open_data_key("ten_a", wrapped)
            .map_err(io::Error::from)?;
        let mut reader =
            BlobReader::new_at(io::Cursor::new(blob), &dek, "ten_a/art_1", len, offset)
                .map_err(io::Error::from)?;
        let mut out = Vec::new();
        reader.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn reading_from_an_offset_gives_the_rest_of_the_plaintext() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 7] {
            let (kek, wrapped, plain, blob) = roundtrip_fixture(len);
            assert_eq!(blob_len(len as u64), Some(blob.len() as u64), "len {len}");
            for offset in [0, 1, CHUNK - 1, CHUNK, CHUNK + 5, 2 * CHUNK, len] {
                if offset > len {
                    continue;
                }
                let got = read_at(&kek, &wrapped, &blob, len as u64, offset as u64).unwrap();
                assert_eq!(
                    got,
                    plain.get(offset..).unwrap(),
                    "len {len} offset {offset}"
                );
            }
        }
    }

    #[test]
    fn reading_from_an_offset_still_authenticates() {
        let len = 3 * CHUNK + 7;
        let (kek, wrapped, _, blob) = roundtrip_fixture(len);
        let len = len as u64;
        let offset = CHUNK as u64 + 3;
        // A flipped byte in a chunk that is read fails; the preamble is always checked.
        for at in [5, PREAMBLE_LEN + CHUNK + TAG + 1, blob.len() - 1] {
            let mut bad = blob.clone();
            *bad.get_mut(at).unwrap() ^= 1;
            assert!(
                read_at(&kek, &wrapped, &bad, len, offset).is_err(),
                "flip at {at}"
            );
        }
        // A wrong recorded length (a tampered size) or a cut blob fails.
        assert!(read_at(&kek, &wrapped, &blob, len - 1, offset).is_err());
        assert!(read_at(&kek, &wrapped, &blob, len + 1, offset).is_err());
        let cut = blob.get(..blob.len() - 1).unwrap();
        assert!(read_at(&kek, &wrapped, cut, len, offset).is_err());
        // Two chunks swapped: each carries its position, so the swap is detected.
        let mut swapped = blob.clone();
        let (a, b) = (PREAMBLE_LEN + CHUNK + TAG, PREAMBLE_LEN + 2 * (CHUNK + TAG));
        let first = blob.get(a..b).unwrap().to_vec();
        let second = blob.get(b..b + CHUNK + TAG).unwrap().to_vec();
        swapped.get_mut(a..b).unwrap().copy_from_slice(&second);
        swapped
            .get_mut(b..b + CHUNK + TAG)
            .unwrap()
            .copy_from_slice(&first);
        assert!(read_at(&kek, &wrapped, &swapped, len, offset).is_err());
    }

    #[test]
    fn a_data_key_moved_to_another_tenant_does_not_open() {
        let kek = Kek::generate().unwrap();
        let (_, wrapped) = kek.new_data_key("ten_a").unwrap();
        assert!(kek.open_data_key("ten_b", &wrapped).is_err());
        assert!(kek.open_data_key("ten_a", &wrapped).is_ok());
        let other = Kek::generate().unwrap();
        assert!(other.open_data_key("ten_a", &wrapped).is_err());
    }
}
