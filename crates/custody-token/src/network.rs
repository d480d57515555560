//! Network context binding: [`NetworkContext`] (the hash carried in the `net` claim)
//! and [`NetworkPolicy`] (how strictly a verifier compares it).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::jose::{b64_decode, b64_encode, sha256};

/// Domain separator of network-context hashes. `custody-seal` repeats this definition
/// for the envelope header (the crates are independent); `tests/network_context.rs`
/// checks that both compute the same bytes.
pub const NETWORK_CONTEXT_DOMAIN: &[u8] = b"custody-net-v1\n";

/// The hash of a client's network context (an ASN or address prefix, chosen by the
/// server's policy), as carried in the `net` claim: base64url(SHA-256(domain || descriptor)).
/// The descriptor itself never appears in a token. A sealed export bound to the same
/// descriptor carries the same 32 bytes (`custody_seal::NetworkContext`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NetworkContext(String);

impl NetworkContext {
    /// Hashes a network descriptor such as `asn:64500` or `prefix:203.0.113.0/24`.
    pub fn from_descriptor(descriptor: &str) -> Self {
        let mut input = NETWORK_CONTEXT_DOMAIN.to_vec();
        input.extend_from_slice(descriptor.as_bytes());
        Self(b64_encode(&sha256(&input)))
    }

    /// Reads the text an operator gives for a context: a descriptor (any text containing
    /// `:`, e.g. `asn:64500`) is hashed with [`NetworkContext::from_descriptor`]; a hash
    /// is taken as is, as 43 base64url characters (the `net` claim form) or 64 hex digits
    /// (the form `custody seal` prints). Anything else is `None`. The same rule as
    /// `custody_seal::NetworkContext::from_descriptor_or_hash`.
    pub fn from_descriptor_or_hash(text: &str) -> Option<Self> {
        if text.contains(':') {
            return Some(Self::from_descriptor(text));
        }
        if let Some(parsed) = Self::parse(text) {
            return Some(parsed);
        }
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut raw = [0_u8; 32];
        for (byte, pair) in raw.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
            let digits = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(digits, 16).ok()?;
        }
        Some(Self::from_hash(raw))
    }

    /// The context whose 32-byte hash is `hash` (e.g. an envelope header's
    /// `network_context`).
    pub fn from_hash(hash: [u8; 32]) -> Self {
        Self(b64_encode(&hash))
    }

    /// The 32-byte hash, or `None` if this value came from an unchecked source (a
    /// deserialized claim) and is not 32 bytes of base64url.
    pub fn hash(&self) -> Option<[u8; 32]> {
        b64_decode(&self.0)?.try_into().ok()
    }

    /// Accepts an already computed hash (43 base64url characters, 32 bytes).
    pub fn parse(hash: &str) -> Option<Self> {
        let bytes = b64_decode(hash)?;
        (bytes.len() == 32).then(|| Self(hash.to_owned()))
    }

    /// The base64url hash.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NetworkContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a verifier treats a request whose network context differs from the token's.
///
/// Admin and agent sessions are refused on any change under both policies (a change
/// of network ends those sessions, §6); the policy only decides service accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkPolicy {
    /// Any mismatch is refused (the default).
    #[default]
    Strict,
    /// A service-account token may be used from another network context; admin and
    /// agent tokens are still refused.
    Lenient,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_hash_apart_and_parse_checks_shape() {
        let a = NetworkContext::from_descriptor("asn:64500");
        let b = NetworkContext::from_descriptor("asn:64501");
        assert_ne!(a, b);
        assert_eq!(NetworkContext::parse(a.as_str()), Some(a.clone()));
        assert!(!a.as_str().contains("64500"));
        assert_eq!(NetworkContext::parse("asn:64500"), None);
    }

    #[test]
    fn descriptor_or_hash_reads_descriptors_and_both_hash_forms() {
        let a = NetworkContext::from_descriptor("asn:64500");
        let raw = a.hash().unwrap();
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            NetworkContext::from_descriptor_or_hash("asn:64500"),
            Some(a.clone())
        );
        assert_eq!(
            NetworkContext::from_descriptor_or_hash(a.as_str()),
            Some(a.clone())
        );
        assert_eq!(
            NetworkContext::from_descriptor_or_hash(&hex),
            Some(a.clone())
        );
        assert_eq!(
            NetworkContext::from_descriptor_or_hash(&hex.to_uppercase()),
            Some(a.clone())
        );
        assert_eq!(NetworkContext::from_hash(raw), a);
        let plus = format!("+{}", hex.get(1..).unwrap());
        for bad in [
            "AS64500",
            "",
            "zz".repeat(32).as_str(),
            plus.as_str(),
            hex.get(..62).unwrap(),
        ] {
            assert_eq!(NetworkContext::from_descriptor_or_hash(bad), None, "{bad}");
        }
    }
}
