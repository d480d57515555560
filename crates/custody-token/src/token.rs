//! Access tokens: the RFC 9068 claim set ([`AccessClaims`]) and the [`AccessToken`]
//! wrapper whose `Debug` never shows the token.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::class::TokenClass;
use crate::jose::{Thumbprint, b64_decode, parse_compact};
use crate::network::NetworkContext;

/// The JOSE `typ` of an access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The `cnf` claim: the confirmation key's RFC 7638 thumbprint (RFC 9449 §6.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Confirmation {
    /// `jkt`.
    pub jkt: Thumbprint,
}

/// The claims of a custody access token (RFC 9068 profile plus custody's own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Principal.
    pub sub: String,
    /// Audience: the class's audience.
    pub aud: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Token id.
    pub jti: String,
    /// OAuth client id.
    pub client_id: String,
    /// Proof-of-possession binding.
    pub cnf: Confirmation,
    /// Token class.
    pub cls: TokenClass,
    /// Tenant scope.
    pub tenant: String,
    /// Session id (also the refresh-token family id).
    pub sid: String,
    /// Network-context hash.
    pub net: NetworkContext,
}

/// A signed access token (compact JWS). `Debug` redacts it; the text is reachable
/// only through [`AccessToken::expose_secret`].
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(Zeroizing<String>);

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}

impl AccessToken {
    pub(crate) fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    /// The compact JWS, for the `Authorization: DPoP` header.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

/// A token's header and claims decoded for display, without the signature and without
/// checking it. For operators; never an authorization decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// The JOSE header, as JSON.
    pub header: serde_json::Value,
    /// The claims, as JSON.
    pub claims: serde_json::Value,
}

/// Why a token could not be inspected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    /// Not a compact JWS with JSON header and claims.
    #[error("not a compact JWS with a JSON header and JSON claims")]
    Malformed,
}

/// Decodes a token's header and claims (signature dropped, NOT verified).
pub fn inspect(token: &str) -> Result<Inspection, InspectError> {
    let compact = parse_compact(token).ok_or(InspectError::Malformed)?;
    let (header_b64, _) = compact
        .signing_input
        .split_once('.')
        .ok_or(InspectError::Malformed)?;
    let header = b64_decode(header_b64)
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(InspectError::Malformed)?;
    let claims = serde_json::from_slice(&compact.payload).map_err(|_| InspectError::Malformed)?;
    Ok(Inspection { header, claims })
}
