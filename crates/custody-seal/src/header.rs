//! The envelope header (DESIGN §5) and its canonical binary encoding.
//!
//! [`Header`] carries every field §5 lists plus the content length, the signer key id and
//! the chunk size. [`Header::encode`] is the canonical encoding that the broker signs and
//! that (hashed) is the associated data of the HPKE key block and of every chunk:
//! big-endian integers, fixed-size byte fields, and strings as `u16` length + UTF-8, in
//! the fixed order documented in `docs/formats/envelope.md`. [`Header::decode`] is strict:
//! any trailing byte, bad length or invalid UTF-8 is an error.

use core::fmt;

use base64ct::{Base64UrlUnpadded, Encoding};
use sha2::{Digest, Sha256};

use crate::keys::Thumbprint;

/// Envelope format version written by this crate.
pub const FORMAT_VERSION: u16 = 1;
/// Plaintext bytes per STREAM chunk (the last chunk may be shorter).
pub const CHUNK_SIZE: usize = 64 * 1024;
/// Longest accepted string field, in bytes.
pub const MAX_STRING_LEN: usize = 1024;

/// The header could not be decoded.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The header ends inside the named field.
    #[error("header ends inside field `{field}`")]
    Short {
        /// The field being read.
        field: &'static str,
    },
    /// A string field is longer than [`MAX_STRING_LEN`] or is not UTF-8.
    #[error("header field `{field}` is not UTF-8 text of at most 1024 bytes")]
    BadString {
        /// The field.
        field: &'static str,
    },
    /// Bytes follow the last field.
    #[error("header has {count} unexpected trailing bytes")]
    Trailing {
        /// How many.
        count: usize,
    },
    /// The format version is not one this crate reads.
    #[error("unsupported envelope version {found} (this build reads version 1)")]
    UnsupportedVersion {
        /// The version found.
        found: u16,
    },
    /// The chunk size is not the one version 1 fixes.
    #[error("unsupported chunk size {found} (version 1 uses 65536)")]
    UnsupportedChunkSize {
        /// The chunk size found.
        found: u32,
    },
    /// `not_after` is not later than `not_before`.
    #[error("validity window is empty (not_after <= not_before)")]
    EmptyWindow,
    /// The content is longer than a 32-bit STREAM counter of chunks can carry.
    #[error("content length {length} exceeds the format's maximum")]
    ContentTooLong {
        /// The declared length.
        length: u64,
    },
}

/// Largest content length version 1 can carry: `(2^32 - 1)` chunks of [`CHUNK_SIZE`].
pub const MAX_CONTENT_LENGTH: u64 = (u32::MAX as u64) * (CHUNK_SIZE as u64);

/// A 16-byte export identifier.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExportId(pub [u8; 16]);

impl fmt::Display for ExportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ExportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExportId({self})")
    }
}

/// Domain separator of network-context hashes, shared with `custody-token`'s `net`
/// claim (the two crates are independent, so the definition is repeated there; a test
/// in `custody-token` checks that both compute the same bytes).
pub const NETWORK_CONTEXT_DOMAIN: &[u8] = b"custody-net-v1\n";

/// The hash identifying a network context (an ASN or address prefix, as the broker's
/// policy chooses): `SHA-256("custody-net-v1\n" || descriptor)`, the same 32 bytes as an
/// access token's `net` claim (which carries them in base64url). The descriptor itself
/// never appears in an envelope.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetworkContext(pub [u8; 32]);

impl NetworkContext {
    /// Hashes a network descriptor such as `asn:64500` or `prefix:203.0.113.0/24`.
    pub fn from_descriptor(descriptor: &str) -> Self {
        let mut h = Sha256::new();
        h.update(NETWORK_CONTEXT_DOMAIN);
        h.update(descriptor.as_bytes());
        Self(h.finalize().into())
    }

    /// Reads the text a user or another service gives for a context: a descriptor
    /// (any text containing `:`, e.g. `asn:64500`) is hashed with
    /// [`NetworkContext::from_descriptor`]; a hash is taken as is, either as 43 base64url
    /// characters (the `net` claim form, as `custody token context` prints it) or as 64
    /// hex digits (the form [`Display`](fmt::Display) prints). Anything else is `None`,
    /// so a mistyped hash is refused rather than hashed into a context nobody has.
    pub fn from_descriptor_or_hash(text: &str) -> Option<Self> {
        if text.contains(':') {
            return Some(Self::from_descriptor(text));
        }
        let mut raw = [0u8; 32];
        if text.len() == 64 && hex::decode_to_slice(text, &mut raw).is_ok() {
            return Some(Self(raw));
        }
        if text.len() == 43
            && Base64UrlUnpadded::decode(text, &mut raw).is_ok_and(|d| d.len() == 32)
        {
            return Some(Self(raw));
        }
        None
    }

    /// Interprets `text` like [`NetworkContext::from_descriptor_or_hash`], and hashes any
    /// other text as a descriptor. Kept for existing callers; prefer the strict form.
    ///
    /// Before 2026-11-28 this hashed other text without the domain separator
    /// (`SHA-256(text)`); an envelope sealed that way still opens when given its context
    /// as the 64-hex-digit hash.
    pub fn from_text(text: &str) -> Self {
        Self::from_descriptor_or_hash(text).unwrap_or_else(|| Self::from_descriptor(text))
    }

    /// The base64url form, as carried in an access token's `net` claim.
    pub fn to_base64url(&self) -> String {
        Base64UrlUnpadded::encode_string(&self.0)
    }
}

impl fmt::Display for NetworkContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for NetworkContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetworkContext({self})")
    }
}

/// The signed envelope header. Nothing in it is secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Format version ([`FORMAT_VERSION`]).
    pub version: u16,
    /// Export identifier, unique per export.
    pub export_id: ExportId,
    /// Tenant that owns the artifact.
    pub tenant: String,
    /// Support case.
    pub case: String,
    /// Principal who requested the export.
    pub requester: String,
    /// SHA-256 of the plaintext artifact.
    pub artifact_digest: [u8; 32],
    /// Plaintext length in bytes.
    pub content_length: u64,
    /// Thumbprint of the recipient device's HPKE public key.
    pub device_id: Thumbprint,
    /// Network context the export is bound to.
    pub network_context: NetworkContext,
    /// Start of validity, Unix seconds (inclusive).
    pub not_before: u64,
    /// End of validity, Unix seconds (exclusive).
    pub not_after: u64,
    /// Version of the sanitizer rule set the artifact was cleaned with.
    pub rules_version: String,
    /// Policy bundle whose decision allowed the export.
    pub policy_bundle_id: String,
    /// Thumbprint of the broker key that signs this header.
    pub signer_key_id: Thumbprint,
    /// Plaintext bytes per chunk ([`CHUNK_SIZE`] in version 1).
    pub chunk_size: u32,
}

const DOMAIN_HASH: &[u8] = b"custody-seal/v1 header-hash\0";

impl Header {
    /// The canonical encoding (see the module docs).
    ///
    /// # Errors
    /// [`HeaderError::BadString`] if a string field exceeds [`MAX_STRING_LEN`].
    pub fn encode(&self) -> Result<Vec<u8>, HeaderError> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.export_id.0);
        put_str(&mut out, "tenant", &self.tenant)?;
        put_str(&mut out, "case", &self.case)?;
        put_str(&mut out, "requester", &self.requester)?;
        out.extend_from_slice(&self.artifact_digest);
        out.extend_from_slice(&self.content_length.to_be_bytes());
        out.extend_from_slice(self.device_id.as_bytes());
        out.extend_from_slice(&self.network_context.0);
        out.extend_from_slice(&self.not_before.to_be_bytes());
        out.extend_from_slice(&self.not_after.to_be_bytes());
        put_str(&mut out, "rules_version", &self.rules_version)?;
        put_str(&mut out, "policy_bundle_id", &self.policy_bundle_id)?;
        out.extend_from_slice(self.signer_key_id.as_bytes());
        out.extend_from_slice(&self.chunk_size.to_be_bytes());
        Ok(out)
    }

    /// Decodes a canonical header strictly, checking version, chunk size and window.
    ///
    /// # Errors
    /// A [`HeaderError`] naming the field.
    pub fn decode(bytes: &[u8]) -> Result<Self, HeaderError> {
        let mut r = Reader(bytes);
        let version = u16::from_be_bytes(r.array("version")?);
        if version != FORMAT_VERSION {
            return Err(HeaderError::UnsupportedVersion { found: version });
        }
        let header = Header {
            version,
            export_id: ExportId(r.array("export_id")?),
            tenant: r.string("tenant")?,
            case: r.string("case")?,
            requester: r.string("requester")?,
            artifact_digest: r.array("artifact_digest")?,
            content_length: u64::from_be_bytes(r.array("content_length")?),
            device_id: Thumbprint::from_bytes(r.array("device_id")?),
            network_context: NetworkContext(r.array("network_context")?),
            not_before: u64::from_be_bytes(r.array("not_before")?),
            not_after: u64::from_be_bytes(r.array("not_after")?),
            rules_version: r.string("rules_version")?,
            policy_bundle_id: r.string("policy_bundle_id")?,
            signer_key_id: Thumbprint::from_bytes(r.array("signer_key_id")?),
            chunk_size: u32::from_be_bytes(r.array("chunk_size")?),
        };
        if !r.0.is_empty() {
            return Err(HeaderError::Trailing { count: r.0.len() });
        }
        header.validate()?;
        Ok(header)
    }

    pub(crate) fn validate(&self) -> Result<(), HeaderError> {
        if self.version != FORMAT_VERSION {
            return Err(HeaderError::UnsupportedVersion {
                found: self.version,
            });
        }
        if usize::try_from(self.chunk_size).ok() != Some(CHUNK_SIZE) {
            return Err(HeaderError::UnsupportedChunkSize {
                found: self.chunk_size,
            });
        }
        if self.not_after <= self.not_before {
            return Err(HeaderError::EmptyWindow);
        }
        if self.content_length > MAX_CONTENT_LENGTH {
            return Err(HeaderError::ContentTooLong {
                length: self.content_length,
            });
        }
        Ok(())
    }

    /// SHA-256 over a domain label and the canonical header bytes: the associated data of
    /// the HPKE key block and of every chunk.
    pub fn hash_of_encoding(encoded: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(DOMAIN_HASH);
        h.update(encoded);
        h.finalize().into()
    }

    /// The HPKE `info` string: binds tenant, artifact digest, device-key thumbprint,
    /// network-context hash and export id (§5).
    pub fn hpke_info(&self) -> Vec<u8> {
        let mut info = Vec::with_capacity(160);
        info.extend_from_slice(b"custody-seal/v1 hpke-info\0");
        // INVARIANT: `tenant` was checked against MAX_STRING_LEN by `encode`/`decode`.
        let len = u16::try_from(self.tenant.len()).unwrap_or(u16::MAX);
        info.extend_from_slice(&len.to_be_bytes());
        info.extend_from_slice(self.tenant.as_bytes());
        info.extend_from_slice(&self.artifact_digest);
        info.extend_from_slice(self.device_id.as_bytes());
        info.extend_from_slice(&self.network_context.0);
        info.extend_from_slice(&self.export_id.0);
        info
    }
}

fn put_str(out: &mut Vec<u8>, field: &'static str, value: &str) -> Result<(), HeaderError> {
    let len = u16::try_from(value.len())
        .ok()
        .filter(|&l| usize::from(l) <= MAX_STRING_LEN)
        .ok_or(HeaderError::BadString { field })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value.as_bytes());
    Ok(())
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&[u8], HeaderError> {
        if self.0.len() < n {
            return Err(HeaderError::Short { field });
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], HeaderError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    fn string(&mut self, field: &'static str) -> Result<String, HeaderError> {
        let len = usize::from(u16::from_be_bytes(self.array(field)?));
        if len > MAX_STRING_LEN {
            return Err(HeaderError::BadString { field });
        }
        let bytes = self.take(len, field)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| HeaderError::BadString { field })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            version: FORMAT_VERSION,
            export_id: ExportId([1; 16]),
            tenant: "tenant-a".into(),
            case: "case-1".into(),
            requester: "agent@vendor".into(),
            artifact_digest: [2; 32],
            content_length: 5,
            device_id: Thumbprint::from_bytes([3; 32]),
            network_context: NetworkContext([4; 32]),
            not_before: 100,
            not_after: 400,
            rules_version: "r1".into(),
            policy_bundle_id: "b1".into(),
            signer_key_id: Thumbprint::from_bytes([5; 32]),
            chunk_size: 65536,
        }
    }

    #[test]
    fn encode_decode_round_trip_and_strictness() {
        let h = sample();
        let bytes = h.encode().unwrap();
        assert_eq!(Header::decode(&bytes).unwrap(), h);
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            Header::decode(&longer),
            Err(HeaderError::Trailing { count: 1 })
        );
        for cut in 0..bytes.len() {
            assert!(Header::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut v2 = bytes.clone();
        v2[1] = 2;
        assert_eq!(
            Header::decode(&v2),
            Err(HeaderError::UnsupportedVersion { found: 2 })
        );
    }

    #[test]
    fn overlong_strings_are_refused() {
        let mut h = sample();
        h.case = "x".repeat(MAX_STRING_LEN + 1);
        assert_eq!(h.encode(), Err(HeaderError::BadString { field: "case" }));
    }

    #[test]
    fn network_context_text_rules() {
        let hexed = "ab".repeat(32);
        assert_eq!(NetworkContext::from_text(&hexed).0, [0xab; 32]);
        assert_eq!(
            NetworkContext::from_descriptor_or_hash(&hexed),
            Some(NetworkContext([0xab; 32]))
        );
        let descriptor = NetworkContext::from_descriptor("asn:64500");
        let mut domain_then_text = b"custody-net-v1\n".to_vec();
        domain_then_text.extend_from_slice(b"asn:64500");
        assert_eq!(
            descriptor.0,
            <[u8; 32]>::from(Sha256::digest(&domain_then_text))
        );
        assert_eq!(NetworkContext::from_text("asn:64500"), descriptor);
        // The base64url form round-trips, and equals the hex form.
        let b64 = descriptor.to_base64url();
        assert_eq!(b64.len(), 43);
        assert_eq!(
            NetworkContext::from_descriptor_or_hash(&b64),
            Some(descriptor)
        );
        assert_eq!(
            NetworkContext::from_descriptor_or_hash(&descriptor.to_string()),
            Some(descriptor)
        );
        // Neither a descriptor nor a hash: refused by the strict form.
        let zz = "zz".repeat(32);
        let short_hex = hexed.get(..63).unwrap();
        let short_b64 = b64.get(..42).unwrap();
        for bad in ["AS64500", "", short_hex, short_b64, zz.as_str()] {
            assert_eq!(NetworkContext::from_descriptor_or_hash(bad), None, "{bad}");
        }
        // ... and hashed as a descriptor by the lenient one (never as bare SHA-256).
        assert_eq!(
            NetworkContext::from_text("AS64500"),
            NetworkContext::from_descriptor("AS64500")
        );
        assert_ne!(
            NetworkContext::from_text("AS64500").0,
            <[u8; 32]>::from(Sha256::digest(b"AS64500"))
        );
    }
}
