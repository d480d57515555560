//! Sealing and opening the export envelope (DESIGN §5; format in `docs/formats/envelope.md`).
//!
//! [`seal`] writes `MAGIC | header length | header | HPKE enc | wrapped content key |
//! Ed25519 signature | chunks`. A random 32-byte content key encrypts the artifact with
//! STREAM (big-endian 32-bit counter + last-block flag) over AES-256-GCM in
//! [`CHUNK_SIZE`] chunks; HPKE (RFC 9180, base mode, DHKEM(X25519, HKDF-SHA256),
//! HKDF-SHA256, ChaCha20-Poly1305) delivers that key to the device. The hash of the
//! canonical header is the associated data of the key block and of every chunk, and the
//! broker key signs header and key block.
//!
//! [`open`] (or [`open_with`]) checks, in order: magic and version, header shape, signer
//! trust, signature, device, network context, window length ([`OpenOptions`]), time
//! window, key block, then each chunk before releasing its
//! plaintext, then exact length and artifact digest. Each failure has its own
//! [`OpenError`] variant. Memory is bounded by one chunk buffer whatever the size.
//! Because plaintext chunks are released as they authenticate, a caller must discard
//! everything written to `output` when [`open`] returns an error (the CLI writes to a
//! temporary file and renames it only on success).

use std::io::{self, Read, Write};

use aead_stream::{DecryptorBE32, EncryptorBE32};
use aes_gcm::{Aes256Gcm, KeyInit};
use hpke::{
    Deserializable, Kem, OpModeR, OpModeS, Serializable, aead::ChaCha20Poly1305, kdf::HkdfSha256,
    kem::X25519HkdfSha256,
};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::entropy::{Entropy, EntropyError, PreDrawn, draw32};
use crate::header::{CHUNK_SIZE, ExportId, FORMAT_VERSION, Header, HeaderError, NetworkContext};
use crate::keys::{HpkePublicKey, HpkeSecretKey, SigningKey, Thumbprint, VerifyingKey};

/// The first eight bytes of every envelope.
pub const MAGIC: [u8; 8] = *b"CUSTSEAL";
/// Largest accepted header, in bytes (bounded memory before any check).
pub const MAX_HEADER_LEN: usize = 8 * 1024;
/// Longest validity window [`seal`] accepts (24 hours), and the default longest window
/// [`open`] accepts.
pub const MAX_WINDOW_SECS: u64 = 24 * 3600;
/// Default validity window of an export (5 minutes, DESIGN §5), and the longest window
/// [`OpenOptions::exports`] accepts.
pub const EXPORT_WINDOW_SECS: u64 = 5 * 60;
const ENC_LEN: usize = 32;
const WRAPPED_KEY_LEN: usize = 32 + 16;
const SIG_LEN: usize = 64;
const TAG_LEN: usize = 16;
const SIGNATURE_DOMAIN: &[u8] = b"custody-seal/v1 signature\0";

/// What to seal: every header field the caller decides (§5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealRequest {
    /// Unique export id (the broker's; the CLI draws a random one).
    pub export_id: ExportId,
    /// Tenant that owns the artifact.
    pub tenant: String,
    /// Support case.
    pub case: String,
    /// Principal who requested the export.
    pub requester: String,
    /// SHA-256 of the plaintext, as the caller knows it (the broker from its metadata, the
    /// CLI from a first pass). [`seal`] does not hash again (that would halve its
    /// throughput); [`open`] verifies it, so a wrong digest yields an envelope every
    /// opener refuses with [`OpenError::DigestMismatch`].
    pub artifact_digest: [u8; 32],
    /// Plaintext length; [`seal`] checks it while streaming.
    pub content_length: u64,
    /// Network context the export is bound to.
    pub network_context: NetworkContext,
    /// Start of validity, Unix seconds.
    pub not_before: u64,
    /// End of validity, Unix seconds (exclusive); at most [`MAX_WINDOW_SECS`] after start.
    pub not_after: u64,
    /// Sanitizer rule set version.
    pub rules_version: String,
    /// Policy bundle that allowed the export.
    pub policy_bundle_id: String,
}

/// Sealing failed; whatever was written to the output must be discarded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// A header field is invalid.
    #[error("invalid envelope header: {0}")]
    Header(#[from] HeaderError),
    /// The validity window exceeds [`MAX_WINDOW_SECS`].
    #[error("validity window of {secs} s exceeds the maximum of 86400 s")]
    WindowTooLong {
        /// The requested window.
        secs: u64,
    },
    /// The random source failed.
    #[error("random source failed while sealing")]
    Entropy(#[from] EntropyError),
    /// HPKE could not wrap the content key (e.g. an invalid recipient key).
    #[error("could not wrap the content key to the recipient device key")]
    KeyWrap,
    /// The input was shorter or longer than the declared content length.
    #[error("input length differs from the declared {declared} bytes")]
    LengthMismatch {
        /// The declared length.
        declared: u64,
    },
    /// Encryption of a chunk failed (counter exhausted).
    #[error("chunk {index} could not be encrypted")]
    ChunkEncryption {
        /// The chunk index.
        index: u64,
    },
    /// Reading the input failed.
    #[error("reading the input failed")]
    Read(#[source] io::Error),
    /// Writing the envelope failed.
    #[error("writing the envelope failed")]
    Write(#[source] io::Error),
}

/// Part of an envelope, for [`OpenError::Truncated`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// Magic and header length.
    Preamble,
    /// The header.
    Header,
    /// HPKE encapsulated key and wrapped content key.
    KeyBlock,
    /// The header signature.
    Signature,
    /// The chunk with this index.
    Chunk(u64),
}

impl core::fmt::Display for Section {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Section::Preamble => f.write_str("preamble"),
            Section::Header => f.write_str("header"),
            Section::KeyBlock => f.write_str("key block"),
            Section::Signature => f.write_str("signature"),
            Section::Chunk(i) => write!(f, "chunk {i}"),
        }
    }
}

/// Opening refused: each cause has its own variant. Nothing was verified past the failing
/// check, and any plaintext already written must be discarded.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The input does not start with [`MAGIC`].
    #[error("not a custody sealed envelope (bad magic)")]
    BadMagic,
    /// The envelope's version is not one this build reads.
    #[error("unsupported envelope version {found}")]
    UnsupportedVersion {
        /// The version found.
        found: u16,
    },
    /// The declared header length exceeds [`MAX_HEADER_LEN`].
    #[error("envelope header length {len} exceeds the maximum of 8192 bytes")]
    HeaderTooLarge {
        /// The declared length.
        len: u32,
    },
    /// The header bytes are malformed.
    #[error("malformed envelope header: {0}")]
    MalformedHeader(HeaderError),
    /// The input ends inside the named section.
    #[error("envelope is truncated: it ends inside the {section}")]
    Truncated {
        /// Where it ends.
        section: Section,
    },
    /// The header names a signer key that is not in the trusted set.
    #[error("envelope signed by untrusted key {key_id}")]
    UntrustedSigner {
        /// Thumbprint of the signer key named in the header.
        key_id: Thumbprint,
    },
    /// The signature over header and key block does not verify.
    #[error("envelope header signature is invalid (header or key block altered)")]
    BadSignature,
    /// The envelope is sealed to another device.
    #[error("envelope is sealed to device {sealed_to}, not to this device {this_device}")]
    WrongDevice {
        /// Device id in the header.
        sealed_to: Thumbprint,
        /// This device's id.
        this_device: Thumbprint,
    },
    /// The caller's network context differs from the one the export is bound to.
    #[error("network context does not match the one the export is bound to")]
    ContextMismatch,
    /// Opened before the validity window starts.
    #[error("export is not valid yet: valid from {not_before}, now {now} (Unix seconds)")]
    NotYetValid {
        /// Start of validity.
        not_before: u64,
        /// The time of the attempt.
        now: u64,
    },
    /// The signed validity window (`not_after - not_before`) is longer than the opener
    /// accepts ([`OpenOptions`]): an envelope minted to outlive the policy is refused
    /// even inside its window.
    #[error(
        "export validity window of {window_secs} s exceeds this opener's maximum of {max_secs} s"
    )]
    WindowTooLong {
        /// The envelope's window, seconds.
        window_secs: u64,
        /// The longest window this opener accepts, seconds.
        max_secs: u64,
    },
    /// Opened after the validity window ended.
    #[error("export expired at {not_after}, now {now} (Unix seconds)")]
    Expired {
        /// End of validity.
        not_after: u64,
        /// The time of the attempt.
        now: u64,
    },
    /// The HPKE key block does not open with this device's key.
    #[error("content key block does not open with this device key")]
    KeyBlock,
    /// A chunk failed authentication: altered, reordered, duplicated or misplaced.
    #[error("chunk {index} failed authentication (altered, reordered or duplicated)")]
    ChunkAuthentication {
        /// The chunk index.
        index: u64,
    },
    /// Bytes follow the last chunk.
    #[error("unexpected data after the last chunk")]
    TrailingData,
    /// The plaintext does not match the signed artifact digest.
    #[error("decrypted content does not match the signed artifact digest")]
    DigestMismatch,
    /// Reading the envelope failed.
    #[error("reading the envelope failed")]
    Read(#[source] io::Error),
    /// Writing the plaintext failed.
    #[error("writing the plaintext failed")]
    Write(#[source] io::Error),
}

/// Number of chunks for a content length: at least one (an empty final chunk for 0).
fn chunk_count(len: u64) -> u64 {
    len.div_ceil(CHUNK_SIZE as u64).max(1)
}

/// Plaintext length of chunk `index` of `len` bytes.
fn chunk_len(len: u64, index: u64) -> usize {
    let start = index.saturating_mul(CHUNK_SIZE as u64);
    // INVARIANT: the result is at most CHUNK_SIZE, so it fits usize.
    usize::try_from(len.saturating_sub(start).min(CHUNK_SIZE as u64)).unwrap_or(CHUNK_SIZE)
}

fn signed_message(header: &[u8], enc: &[u8], wrapped: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNATURE_DOMAIN.len() + header.len() + 96);
    m.extend_from_slice(SIGNATURE_DOMAIN);
    m.extend_from_slice(header);
    m.extend_from_slice(enc);
    m.extend_from_slice(wrapped);
    m
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match input.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// HPKE-seals the content key to `recipient` with the header's `info` and hash as `aad`;
/// returns `enc` and the wrapped key. The ephemeral key comes from one 32-byte draw.
fn wrap_content_key(
    header: &Header,
    header_hash: &[u8; 32],
    recipient: &HpkePublicKey,
    content_key: &[u8; 32],
    entropy: &mut dyn Entropy,
) -> Result<([u8; ENC_LEN], Vec<u8>), SealError> {
    let mut hpke_rng = PreDrawn::new(draw32(entropy)?);
    let pk = <X25519HkdfSha256 as Kem>::PublicKey::from_bytes(recipient.as_bytes())
        .map_err(|_| SealError::KeyWrap)?;
    let (encapped, wrapped) =
        hpke::single_shot_seal_with_rng::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
            &OpModeS::Base,
            &pk,
            &header.hpke_info(),
            content_key,
            header_hash,
            &mut hpke_rng,
        )
        .map_err(|_| SealError::KeyWrap)?;
    if hpke_rng.overdrawn() || wrapped.len() != WRAPPED_KEY_LEN {
        return Err(SealError::KeyWrap);
    }
    let mut enc = [0u8; ENC_LEN];
    encapped.write_exact(&mut enc);
    Ok((enc, wrapped))
}

/// Seals `input` to the device key `recipient`, signs with the broker key `signer`, and
/// writes the envelope to `output`. Returns the header written.
///
/// # Errors
/// A [`SealError`]; on error the partial output must be discarded.
pub fn seal<R: Read, W: Write>(
    request: &SealRequest,
    recipient: &HpkePublicKey,
    signer: &SigningKey,
    entropy: &mut dyn Entropy,
    mut input: R,
    mut output: W,
) -> Result<Header, SealError> {
    let window = request.not_after.saturating_sub(request.not_before);
    if window > MAX_WINDOW_SECS {
        return Err(SealError::WindowTooLong { secs: window });
    }
    let header = Header {
        version: FORMAT_VERSION,
        export_id: request.export_id,
        tenant: request.tenant.clone(),
        case: request.case.clone(),
        requester: request.requester.clone(),
        artifact_digest: request.artifact_digest,
        content_length: request.content_length,
        device_id: recipient.thumbprint(),
        network_context: request.network_context,
        not_before: request.not_before,
        not_after: request.not_after,
        rules_version: request.rules_version.clone(),
        policy_bundle_id: request.policy_bundle_id.clone(),
        signer_key_id: signer.public().thumbprint(),
        chunk_size: CHUNK_SIZE as u32,
    };
    header.validate()?;
    let encoded = header.encode()?;
    let header_hash = Header::hash_of_encoding(&encoded);

    let content_key = draw32(entropy)?;
    let (enc, wrapped) = wrap_content_key(&header, &header_hash, recipient, &content_key, entropy)?;
    let signature = signer.sign(&signed_message(&encoded, &enc, &wrapped));

    // INVARIANT: encoded.len() <= MAX_HEADER_LEN (six strings of <= 1 KiB + 202 bytes).
    let header_len = u32::try_from(encoded.len()).map_err(|_| SealError::KeyWrap)?;
    let preamble = [
        &MAGIC[..],
        &header_len.to_be_bytes()[..],
        &encoded,
        &enc,
        &wrapped,
        &signature,
    ];
    for part in preamble {
        output.write_all(part).map_err(SealError::Write)?;
    }

    let aead = Aes256Gcm::new_from_slice(content_key.as_slice()).map_err(|_| SealError::KeyWrap)?;
    let mut encryptor = EncryptorBE32::from_aead(aead, &Default::default());
    let mut buf = Zeroizing::new(Vec::with_capacity(CHUNK_SIZE + TAG_LEN));
    let declared = header.content_length;
    let last = chunk_count(declared) - 1;
    for index in 0..=last {
        let want = chunk_len(declared, index);
        buf.resize(want, 0);
        if read_full(&mut input, &mut buf).map_err(SealError::Read)? != want {
            return Err(SealError::LengthMismatch { declared });
        }
        if index == last {
            break;
        }
        encryptor
            .encrypt_next_in_place(&header_hash, &mut *buf)
            .map_err(|_| SealError::ChunkEncryption { index })?;
        output.write_all(&buf).map_err(SealError::Write)?;
    }
    let mut probe = [0u8; 1];
    if read_full(&mut input, &mut probe).map_err(SealError::Read)? != 0 {
        return Err(SealError::LengthMismatch { declared });
    }
    encryptor
        .encrypt_last_in_place(&header_hash, &mut *buf)
        .map_err(|_| SealError::ChunkEncryption { index: last })?;
    output.write_all(&buf).map_err(SealError::Write)?;
    output.flush().map_err(SealError::Write)?;
    Ok(header)
}

/// Computes the SHA-256 digest and length of `input` in one streaming pass.
///
/// # Errors
/// The read error.
pub fn artifact_digest<R: Read>(mut input: R) -> io::Result<([u8; 32], u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK_SIZE];
    let mut total = 0u64;
    loop {
        let n = read_full(&mut input, &mut buf)?;
        hasher.update(buf.get(..n).unwrap_or_default());
        total = total.saturating_add(n as u64);
        if n < buf.len() {
            return Ok((hasher.finalize().into(), total));
        }
    }
}

fn read_section(input: &mut impl Read, buf: &mut [u8], section: Section) -> Result<(), OpenError> {
    if read_full(input, buf).map_err(OpenError::Read)? != buf.len() {
        return Err(OpenError::Truncated { section });
    }
    Ok(())
}

/// Verified parts of the envelope preamble.
struct Preamble {
    header: Header,
    header_hash: [u8; 32],
    enc: [u8; ENC_LEN],
    wrapped: [u8; WRAPPED_KEY_LEN],
}

/// Reads the preamble and checks magic, version, header, signer trust and signature.
fn read_preamble(input: &mut impl Read, trusted: &[VerifyingKey]) -> Result<Preamble, OpenError> {
    let mut fixed = [0u8; 12];
    let got = read_full(input, &mut fixed).map_err(OpenError::Read)?;
    let (magic, len_bytes) = fixed.split_at(MAGIC.len());
    if magic.get(..got.min(MAGIC.len())) != MAGIC.get(..got.min(MAGIC.len())) {
        return Err(OpenError::BadMagic);
    }
    if got != fixed.len() {
        return Err(OpenError::Truncated {
            section: Section::Preamble,
        });
    }
    let mut len4 = [0u8; 4];
    len4.copy_from_slice(len_bytes);
    let header_len = u32::from_be_bytes(len4);
    let header_size = usize::try_from(header_len)
        .ok()
        .filter(|&l| l <= MAX_HEADER_LEN)
        .ok_or(OpenError::HeaderTooLarge { len: header_len })?;
    let mut encoded = vec![0u8; header_size];
    read_section(input, &mut encoded, Section::Header)?;
    let header = Header::decode(&encoded).map_err(|e| match e {
        HeaderError::UnsupportedVersion { found } => OpenError::UnsupportedVersion { found },
        other => OpenError::MalformedHeader(other),
    })?;
    let mut enc = [0u8; ENC_LEN];
    let mut wrapped = [0u8; WRAPPED_KEY_LEN];
    let mut signature = [0u8; SIG_LEN];
    read_section(input, &mut enc, Section::KeyBlock)?;
    read_section(input, &mut wrapped, Section::KeyBlock)?;
    read_section(input, &mut signature, Section::Signature)?;

    let signer = trusted
        .iter()
        .find(|k| k.thumbprint() == header.signer_key_id)
        .ok_or(OpenError::UntrustedSigner {
            key_id: header.signer_key_id,
        })?;
    if !signer.verify(&signed_message(&encoded, &enc, &wrapped), &signature) {
        return Err(OpenError::BadSignature);
    }
    Ok(Preamble {
        header_hash: Header::hash_of_encoding(&encoded),
        header,
        enc,
        wrapped,
    })
}

/// What an opener accepts beyond the envelope's own bindings. [`OpenOptions::default`]
/// accepts validity windows up to [`MAX_WINDOW_SECS`] (24 h);
/// [`OpenOptions::exports`] up to [`EXPORT_WINDOW_SECS`] (5 min).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenOptions {
    max_window_secs: u64,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            max_window_secs: MAX_WINDOW_SECS,
        }
    }
}

impl OpenOptions {
    /// The options for support exports: windows of at most 5 minutes.
    pub fn exports() -> Self {
        Self {
            max_window_secs: EXPORT_WINDOW_SECS,
        }
    }

    /// Sets the longest validity window (`not_after - not_before`, seconds) accepted.
    #[must_use]
    pub fn max_window_secs(mut self, secs: u64) -> Self {
        self.max_window_secs = secs;
        self
    }

    /// The longest validity window accepted, seconds.
    pub fn max_window(&self) -> u64 {
        self.max_window_secs
    }
}

/// Opens an envelope on this device, offline, with [`OpenOptions::default`] (windows of
/// at most 24 h); see [`open_with`].
///
/// # Errors
/// An [`OpenError`] naming the first failed check; discard any output on error.
pub fn open<R: Read, W: Write>(
    device: &HpkeSecretKey,
    trusted: &[VerifyingKey],
    network_context: &NetworkContext,
    now: u64,
    input: R,
    output: W,
) -> Result<Header, OpenError> {
    open_with(
        &OpenOptions::default(),
        device,
        trusted,
        network_context,
        now,
        input,
        output,
    )
}

/// Checks device, network context and time window of a verified header.
fn check_bindings(
    options: &OpenOptions,
    header: &Header,
    this_device: Thumbprint,
    network_context: &NetworkContext,
    now: u64,
) -> Result<(), OpenError> {
    if header.device_id != this_device {
        return Err(OpenError::WrongDevice {
            sealed_to: header.device_id,
            this_device,
        });
    }
    if header.network_context != *network_context {
        return Err(OpenError::ContextMismatch);
    }
    let window_secs = header.not_after.saturating_sub(header.not_before);
    if window_secs > options.max_window_secs {
        return Err(OpenError::WindowTooLong {
            window_secs,
            max_secs: options.max_window_secs,
        });
    }
    if now < header.not_before {
        return Err(OpenError::NotYetValid {
            not_before: header.not_before,
            now,
        });
    }
    if now >= header.not_after {
        return Err(OpenError::Expired {
            not_after: header.not_after,
            now,
        });
    }
    Ok(())
}

/// Opens an envelope on this device, offline: checks every binding (§5) with `now` (Unix
/// seconds), the caller's current `network_context` and the longest validity window
/// `options` accept, then streams the plaintext to `output` chunk by chunk, each only
/// after it authenticates. Returns the verified header.
///
/// # Errors
/// An [`OpenError`] naming the first failed check; discard any output on error.
pub fn open_with<R: Read, W: Write>(
    options: &OpenOptions,
    device: &HpkeSecretKey,
    trusted: &[VerifyingKey],
    network_context: &NetworkContext,
    now: u64,
    mut input: R,
    mut output: W,
) -> Result<Header, OpenError> {
    let Preamble {
        header,
        header_hash,
        enc,
        wrapped,
    } = read_preamble(&mut input, trusted)?;
    let this_device = device.public().thumbprint();
    check_bindings(options, &header, this_device, network_context, now)?;

    let sk = device.to_hpke().map_err(|_| OpenError::KeyBlock)?;
    let encapped = <X25519HkdfSha256 as Kem>::EncappedKey::from_bytes(&enc)
        .map_err(|_| OpenError::KeyBlock)?;
    let content_key = Zeroizing::new(
        hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
            &OpModeR::Base,
            &sk,
            &encapped,
            &header.hpke_info(),
            &wrapped,
            &header_hash,
        )
        .map_err(|_| OpenError::KeyBlock)?,
    );
    let aead = Aes256Gcm::new_from_slice(&content_key).map_err(|_| OpenError::KeyBlock)?;
    let mut decryptor = DecryptorBE32::from_aead(aead, &Default::default());

    let mut buf = Zeroizing::new(Vec::with_capacity(CHUNK_SIZE + TAG_LEN));
    let mut hasher = Sha256::new();
    let last = chunk_count(header.content_length) - 1;
    for index in 0..=last {
        buf.resize(chunk_len(header.content_length, index) + TAG_LEN, 0);
        read_section(&mut input, &mut buf, Section::Chunk(index))?;
        if index == last {
            break;
        }
        decryptor
            .decrypt_next_in_place(&header_hash, &mut *buf)
            .map_err(|_| OpenError::ChunkAuthentication { index })?;
        hasher.update(buf.as_slice());
        output.write_all(&buf).map_err(OpenError::Write)?;
    }
    decryptor
        .decrypt_last_in_place(&header_hash, &mut *buf)
        .map_err(|_| OpenError::ChunkAuthentication { index: last })?;
    let mut probe = [0u8; 1];
    if read_full(&mut input, &mut probe).map_err(OpenError::Read)? != 0 {
        return Err(OpenError::TrailingData);
    }
    hasher.update(buf.as_slice());
    if <[u8; 32]>::from(hasher.finalize()) != header.artifact_digest {
        return Err(OpenError::DigestMismatch);
    }
    output.write_all(&buf).map_err(OpenError::Write)?;
    output.flush().map_err(OpenError::Write)?;
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_arithmetic() {
        use crate::header::MAX_CONTENT_LENGTH;
        let c = CHUNK_SIZE as u64;
        assert_eq!(chunk_count(0), 1);
        assert_eq!(chunk_count(1), 1);
        assert_eq!(chunk_count(c), 1);
        assert_eq!(chunk_count(c + 1), 2);
        assert_eq!(chunk_len(0, 0), 0);
        assert_eq!(chunk_len(c + 1, 0), CHUNK_SIZE);
        assert_eq!(chunk_len(c + 1, 1), 1);
        assert!(MAX_CONTENT_LENGTH / c <= u64::from(u32::MAX));
    }

    /// RFC 9180 Appendix A.2.1 (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
    /// ChaCha20Poly1305, base mode), sequence number 0: the suite and the pre-drawn
    /// randomness adapter used by `seal` reproduce the RFC's `enc` and first ciphertext.
    #[test]
    fn rfc9180_a2_base_known_answer() {
        let h = |s: &str| hex::decode(s).unwrap();
        let ikm_e: [u8; 32] = h("909a9b35d3dc4713a5e72a4da274b55d3d3821a37e5d099e74a647db583a904b")
            .try_into()
            .unwrap();
        let (sk_r, pk_r) = X25519HkdfSha256::derive_keypair(&h(
            "1ac01f181fdf9f352797655161c58b75c656a6cc2716dcb66372da835542e1df",
        ));
        assert_eq!(
            pk_r.to_bytes().as_slice(),
            h("4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a")
        );
        let info = h("4f6465206f6e2061204772656369616e2055726e");
        let aad = h("436f756e742d30");
        let pt = h("4265617574792069732074727574682c20747275746820626561757479");
        let mut rng = PreDrawn::new(Zeroizing::new(ikm_e));
        let (enc, ct) = hpke::single_shot_seal_with_rng::<
            ChaCha20Poly1305,
            HkdfSha256,
            X25519HkdfSha256,
        >(&OpModeS::Base, &pk_r, &info, &pt, &aad, &mut rng)
        .unwrap();
        assert!(!rng.overdrawn());
        assert_eq!(
            enc.to_bytes().as_slice(),
            h("1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a")
        );
        assert_eq!(
            ct,
            h(
                "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28"
            )
        );
        let back = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
            &OpModeR::Base,
            &sk_r,
            &enc,
            &info,
            &ct,
            &aad,
        )
        .unwrap();
        assert_eq!(back, pt);
        // The same ciphertext under a different info (another export's binding) is refused.
        let mut other_info = info.clone();
        other_info.push(0);
        assert!(
            hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
                &OpModeR::Base,
                &sk_r,
                &enc,
                &other_info,
                &ct,
                &aad,
            )
            .is_err()
        );
    }
}
