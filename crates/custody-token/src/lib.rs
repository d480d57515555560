#![doc = include_str!("../README.md")]
//!
//! custody-token: the Token Authority of custody (DESIGN §6).
//!
//! It issues short-lived JWT access tokens (RFC 9068 profile, EdDSA) that are always
//! bound to a client key (`cnf.jkt`, RFC 9449 DPoP) and to a network context, in three
//! disjoint classes; it rotates opaque refresh tokens whose reuse revokes their family;
//! and it revokes by epochs (a cutoff per subject) in a versioned state that every node
//! applies in order, refusing everything when that state is older than tau_max.
//!
//! Main types: [`Authority`] (issue, refresh, revoke), [`Verifier`] (every request:
//! token + proof, no bearer mode), [`ProofVerifier`] and [`create_proof`] (DPoP),
//! [`KeyRing`]/[`KeySet`] (rotation, JWKS), [`RevocationState`], and the storage traits
//! [`ReplayCache`], [`RefreshStore`], [`RevocationStore`] with in-memory implementations.
//! See `docs/tokens.md` for the model.

pub mod authority;
pub mod class;
pub mod dpop;
pub mod jose;
pub mod keys;
pub mod network;
pub mod refresh;
pub mod replay;
pub mod revocation;
pub mod time;
pub mod token;
pub mod verify;

pub use authority::{Authority, IssueError, IssueRequest, Issued, RefreshError, RevokeError};
pub use class::TokenClass;
pub use dpop::{
    NonceIssuer, NonceValidator, ProofRequest, access_token_hash, create_proof, normalize_htu,
};
pub use jose::{Ed25519KeyPair, PublicJwk, Thumbprint};
pub use keys::{KeyRing, KeySet};
pub use network::{NETWORK_CONTEXT_DOMAIN, NetworkContext, NetworkPolicy};
pub use refresh::{MemoryRefreshStore, RefreshStore, RefreshToken};
pub use replay::{MemoryReplayCache, ReplayCache};
pub use revocation::{
    MemoryRevocationStore, RevocationEntry, RevocationReceipt, RevocationState, RevocationStore,
    SubjectKind,
};
pub use time::{Clock, SystemClock, Timestamp};
pub use token::{AccessClaims, AccessToken, inspect};
pub use verify::{
    ProofAlgorithm, ProofExpectation, ProofVerifier, Request, VerifiedProof, VerifiedToken,
    Verifier, VerifierConfig, VerifyError,
};
