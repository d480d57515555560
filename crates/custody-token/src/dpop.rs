//! DPoP (RFC 9449) proofs: client-side creation ([`create_proof`]), `htu`
//! normalisation ([`normalize_htu`]) and server nonces ([`NonceIssuer`]).
//! Server-side verification lives in [`crate::verify::ProofVerifier`].

use std::fmt;

use hmac::{Hmac, Mac as _};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::jose::{ALG_EDDSA, Ed25519KeyPair, b64_decode, b64_encode, sha256, sign_compact};
use crate::time::Timestamp;

/// The JOSE `typ` of a DPoP proof.
pub const PROOF_TYP: &str = "dpop+jwt";

/// Errors creating a proof on the client side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The URL is not an absolute http(s) URL custody can normalise.
    #[error("the request URL is not an absolute http(s) URL without userinfo or dot segments")]
    InvalidUrl,
    /// The method is empty or not an HTTP token.
    #[error("the HTTP method is empty or contains invalid characters")]
    InvalidMethod,
    /// JSON encoding failed.
    #[error("the proof could not be encoded")]
    Encoding,
}

/// The claims of a DPoP proof.
#[derive(Serialize, Deserialize)]
pub(crate) struct ProofClaims {
    pub(crate) jti: String,
    pub(crate) htm: String,
    pub(crate) htu: String,
    pub(crate) iat: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ath: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) nonce: Option<String>,
}

/// What a client proves possession for: one HTTP request.
#[derive(Clone, Copy)]
pub struct ProofRequest<'a> {
    /// HTTP method, e.g. `GET` (compared exactly, as RFC 9449 says).
    pub method: &'a str,
    /// The request URL (query and fragment are dropped by normalisation).
    pub url: &'a str,
    /// The access token the request carries, hashed into `ath`; `None` at the token
    /// endpoint.
    pub access_token: Option<&'a str>,
    /// The server nonce last received in a `DPoP-Nonce` header, if any.
    pub nonce: Option<&'a str>,
}

impl fmt::Debug for ProofRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProofRequest")
            .field("method", &self.method)
            .field("url", &normalize_htu(self.url))
            .field("access_token", &self.access_token.map(|_| "[redacted]"))
            .field("nonce", &self.nonce.map(|_| "[present]"))
            .finish()
    }
}

/// `ath`: base64url(SHA-256(access token)).
pub fn access_token_hash(access_token: &str) -> String {
    b64_encode(&sha256(access_token.as_bytes()))
}

fn is_http_token(method: &str) -> bool {
    !method.is_empty()
        && method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Creates a DPoP proof for `request`, signed with the client's key, dated `now`, with a
/// random 128-bit `jti`.
pub fn create_proof(
    key: &Ed25519KeyPair,
    request: &ProofRequest<'_>,
    now: Timestamp,
    rng: &mut impl CryptoRngCore,
) -> Result<String, ProofError> {
    if !is_http_token(request.method) {
        return Err(ProofError::InvalidMethod);
    }
    let htu = normalize_htu(request.url).ok_or(ProofError::InvalidUrl)?;
    let mut jti = [0_u8; 16];
    rng.fill_bytes(&mut jti);
    let claims = ProofClaims {
        jti: b64_encode(&jti),
        htm: request.method.to_owned(),
        htu,
        iat: now.unix_secs(),
        ath: request.access_token.map(access_token_hash),
        nonce: request.nonce.map(str::to_owned),
    };
    let header = serde_json::json!({
        "typ": PROOF_TYP,
        "alg": ALG_EDDSA,
        "jwk": key.public_jwk().to_json(),
    });
    sign_compact(&header, &claims, key).map_err(|_| ProofError::Encoding)
}

/// Normalises a URL for `htu` comparison (RFC 9449 §4.3, RFC 3986 §6.2.2-6.2.3): scheme
/// and host lower-cased, default port removed, empty path made `/`, percent-encoding
/// hex upper-cased and unreserved characters decoded, query and fragment dropped.
/// Returns `None` for anything that is not an absolute http(s) URL, carries userinfo,
/// or has `.`/`..` path segments (refused rather than resolved).
pub fn normalize_htu(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let rest = rest.get(..end)?;
    let path_start = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at_checked(path_start)?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = split_host_port(authority)?;
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b))
    {
        return None;
    }
    let mut out = format!("{scheme}://{}", host.to_ascii_lowercase());
    if let Some(port) = port
        && port != default_port
    {
        out.push(':');
        out.push_str(port);
    }
    if path.is_empty() {
        out.push('/');
        return Some(out);
    }
    for segment in path.split('/').skip(1) {
        let segment = normalize_percent(segment)?;
        if segment == "." || segment == ".." {
            return None;
        }
        out.push('/');
        out.push_str(&segment);
    }
    Some(out)
}

/// Splits `host[:port]` (with `[v6]` literals); the port must be digits, and leading
/// zeros are dropped.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    let (host, port) = if authority.starts_with('[') {
        let close = authority.find(']')?;
        let (host, tail) = authority.split_at_checked(close.checked_add(1)?)?;
        match tail.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if tail.is_empty() => (host, None),
            None => return None,
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    match port {
        None => Some((host, None)),
        Some(port)
            if !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            let trimmed = port.trim_start_matches('0');
            Some((host, Some(if trimmed.is_empty() { "0" } else { trimmed })))
        }
        Some(_) => None,
    }
}

/// Upper-cases percent-encoding hex and decodes percent-encoded unreserved characters.
fn normalize_percent(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = String::with_capacity(segment.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte == b'%' {
            let hi = bytes
                .get(index.checked_add(1)?)
                .copied()
                .and_then(hex_value)?;
            let lo = bytes
                .get(index.checked_add(2)?)
                .copied()
                .and_then(hex_value)?;
            let decoded = hi.checked_mul(16)?.checked_add(lo)?;
            if decoded.is_ascii_alphanumeric() || b"-._~".contains(&decoded) {
                out.push(char::from(decoded));
            } else {
                out.push('%');
                out.push(char::from(
                    b"0123456789ABCDEF".get(usize::from(hi))?.to_owned(),
                ));
                out.push(char::from(
                    b"0123456789ABCDEF".get(usize::from(lo))?.to_owned(),
                ));
            }
            index = index.checked_add(3)?;
        } else if byte.is_ascii_graphic() {
            out.push(char::from(byte));
            index = index.checked_add(1)?;
        } else {
            return None;
        }
    }
    Some(out)
}

fn hex_value(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

/// Decides whether a server nonce presented in a proof is current.
pub trait NonceValidator: Send + Sync {
    /// `true` if `nonce` was issued by this server and is still current at `now`.
    fn is_current(&self, nonce: &str, now: Timestamp) -> bool;
}

/// Stateless server nonces shared by every node holding the same key:
/// `base64url(period || HMAC-SHA256(key, period)[..16])`, where `period` is
/// `now / period_length`; a nonce is current during its period and the next one.
pub struct NonceIssuer {
    key: Zeroizing<[u8; 32]>,
    period_secs: u64,
}

impl fmt::Debug for NonceIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceIssuer")
            .field("key", &"[redacted]")
            .field("period_secs", &self.period_secs)
            .finish()
    }
}

impl NonceIssuer {
    /// An issuer with a fresh random key and the given period (at least 1 s).
    pub fn generate(rng: &mut impl CryptoRngCore, period_secs: u64) -> Self {
        let mut key = Zeroizing::new([0_u8; 32]);
        rng.fill_bytes(key.as_mut());
        Self::from_key(key, period_secs)
    }

    /// An issuer with a shared key (every node of a deployment uses the same one).
    pub fn from_key(key: Zeroizing<[u8; 32]>, period_secs: u64) -> Self {
        Self {
            key,
            period_secs: period_secs.max(1),
        }
    }

    fn tag(&self, period: u64) -> Option<[u8; 16]> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.as_ref()).ok()?;
        mac.update(b"custody-dpop-nonce-v1");
        mac.update(&period.to_be_bytes());
        mac.finalize().into_bytes().get(..16)?.try_into().ok()
    }

    /// The current nonce, for a `DPoP-Nonce` response header.
    pub fn issue(&self, now: Timestamp) -> Option<String> {
        let period = now.unix_secs() / self.period_secs;
        let mut bytes = period.to_be_bytes().to_vec();
        bytes.extend_from_slice(&self.tag(period)?);
        Some(b64_encode(&bytes))
    }
}

impl NonceValidator for NonceIssuer {
    fn is_current(&self, nonce: &str, now: Timestamp) -> bool {
        let Some(bytes) = b64_decode(nonce) else {
            return false;
        };
        let Some((period, tag)) = bytes.split_first_chunk::<8>() else {
            return false;
        };
        let period = u64::from_be_bytes(*period);
        let current = now.unix_secs() / self.period_secs;
        if period != current && Some(period) != current.checked_sub(1) {
            return false;
        }
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.key.as_ref()) else {
            return false;
        };
        mac.update(b"custody-dpop-nonce-v1");
        mac.update(&period.to_be_bytes());
        tag.len() == 16 && mac.verify_truncated_left(tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng as _;

    use super::*;

    #[test]
    fn htu_normalisation_follows_rfc_9449() {
        let cases = [
            (
                "HTTPS://Api.Example.COM:443/a/b?x=1#f",
                "https://api.example.com/a/b",
            ),
            ("http://example.com:80", "http://example.com/"),
            (
                "https://example.com:8443/%7euser/%2f",
                "https://example.com:8443/~user/%2F",
            ),
            ("https://[::1]:443/x", "https://[::1]/x"),
            ("https://example.com:0443/x", "https://example.com/x"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_htu(input).as_deref(), Some(expected), "{input}");
        }
        for bad in [
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https:///x",
            "https://example.com/a/../b",
            "https://example.com:99999999/",
            "https://exa mple.com/",
            "example.com/x",
        ] {
            assert_eq!(normalize_htu(bad), None, "{bad}");
        }
    }

    #[test]
    fn nonces_are_current_for_two_periods_only() {
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let issuer = NonceIssuer::generate(&mut rng, 30);
        let t0 = Timestamp::from_unix_secs(1_000_020);
        let nonce = issuer.issue(t0).unwrap();
        assert!(issuer.is_current(&nonce, t0));
        assert!(issuer.is_current(&nonce, Timestamp::from_unix_secs(1_000_050)));
        assert!(!issuer.is_current(&nonce, Timestamp::from_unix_secs(1_000_080)));
        let other = NonceIssuer::generate(&mut rng, 30);
        assert!(!other.is_current(&nonce, t0));
        assert!(!issuer.is_current("AAAA", t0));
    }
}
