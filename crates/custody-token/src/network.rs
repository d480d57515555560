//! Network context binding: [`NetworkContext`] (the hash carried in the `net` claim)
//! and [`NetworkPolicy`] (how strictly a verifier compares it).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::jose::{b64_decode, b64_encode, sha256};

/// Domain separator for network-context hashes.
const NET_DOMAIN: &[u8] = b"custody-net-v1\n";

/// The hash of a client's network context (an ASN or address prefix, chosen by the
/// server's policy), as carried in the `net` claim: base64url(SHA-256(domain || descriptor)).
/// The descriptor itself never appears in a token.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NetworkContext(String);

impl NetworkContext {
    /// Hashes a network descriptor such as `asn:64500` or `prefix:203.0.113.0/24`.
    pub fn from_descriptor(descriptor: &str) -> Self {
        let mut input = NET_DOMAIN.to_vec();
        input.extend_from_slice(descriptor.as_bytes());
        Self(b64_encode(&sha256(&input)))
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
}
