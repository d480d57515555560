//! Verification on every request: [`Verifier`] checks an access token and its DPoP
//! proof together (there is no bearer mode), [`ProofVerifier`] checks a proof alone
//! (token endpoint), and [`VerifyError`] says exactly why a request was refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::class::TokenClass;
use crate::dpop::{NonceValidator, PROOF_TYP, ProofClaims, normalize_htu};
use crate::jose::{
    ALG_EDDSA, ALG_ES256, ProofJwk, ProofKeyCache, Thumbprint, b64_encode, parse_compact, sha256,
};
use crate::keys::KeySet;
use crate::network::{NetworkContext, NetworkPolicy};
use crate::replay::{ReplayCache, ReplayStatus};
use crate::revocation::{ApplyError, RevocationEntry, RevocationState, SubjectKind, TokenSubjects};
use crate::time::Timestamp;
use crate::token::{ACCESS_TOKEN_TYP, AccessClaims};

/// Why a request was refused. Every variant denies; none carries a token, proof or key.
/// A decision error, so deliberately not `#[non_exhaustive]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The node's revocation state is older than tau_max (or was never confirmed): every
    /// token is refused until it catches up.
    #[error(
        "revocation state is stale (last confirmed {age_ms:?} ms ago, limit {tau_max_ms} ms): refusing every token"
    )]
    StaleRevocationState {
        /// Age of the last confirmation, or `None` if never confirmed.
        age_ms: Option<u64>,
        /// The configured tau_max.
        tau_max_ms: u64,
    },
    /// The revocation state could not be read.
    #[error("revocation state unavailable: refusing every token")]
    RevocationStateUnavailable,
    /// Not a compact JWS with the expected header and claims.
    #[error("access token is malformed")]
    TokenMalformed,
    /// The header `typ` is not `at+jwt`.
    #[error("access token has the wrong type (expected at+jwt)")]
    WrongTokenType,
    /// The header `alg` is not on the verifier's allow-list (EdDSA).
    #[error("access token algorithm is not allowed")]
    AlgorithmNotAllowed,
    /// The header `kid` names no trusted key.
    #[error("access token is signed by an unknown key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("access token signature is invalid")]
    BadSignature,
    /// `iss` is not this authority.
    #[error("access token issuer is not trusted")]
    WrongIssuer,
    /// The token's class is not the class this endpoint requires.
    #[error("token class {presented} is refused where {required} is required")]
    WrongClass {
        /// The class the endpoint requires.
        required: TokenClass,
        /// The class the token claims.
        presented: TokenClass,
    },
    /// The audience is not the required class's audience.
    #[error("access token audience does not match the required class")]
    WrongAudience,
    /// `exp` has passed.
    #[error("access token has expired")]
    Expired,
    /// `iat` lies in the future.
    #[error("access token is not yet valid")]
    NotYetValid,
    /// `exp - iat` exceeds the class maximum.
    #[error("access token lifetime exceeds its class maximum")]
    LifetimeExceedsClass,
    /// A revocation epoch covers the token.
    #[error("access token is revoked (by {kind})")]
    Revoked {
        /// The kind of revocation that covers it.
        kind: SubjectKind,
    },
    /// The request comes from another network context than the token's.
    #[error("request network context differs from the token's{}", if session_to_end.is_some() { "; the session must end" } else { "" })]
    NetworkContextMismatch {
        /// For admin and agent tokens, the session (`sid`, an opaque id, not a
        /// credential) that the caller must now revoke (`SubjectKind::Session`): a change
        /// of network ends those sessions, whether the holder moved or a captured token
        /// is being replayed elsewhere (both are hijack signals, §9).
        session_to_end: Option<String>,
    },
    /// No proof, or a proof that is not a compact JWS with a valid embedded JWK.
    #[error("DPoP proof is missing or malformed")]
    ProofMalformed,
    /// The proof's `typ` is not `dpop+jwt`.
    #[error("DPoP proof has the wrong type (expected dpop+jwt)")]
    ProofWrongType,
    /// The proof's `alg` is not on the allow-list.
    #[error("DPoP proof algorithm is not allowed")]
    ProofAlgorithmNotAllowed,
    /// The proof's signature does not verify with its embedded key.
    #[error("DPoP proof signature is invalid")]
    ProofBadSignature,
    /// The proof key is not the key the token is bound to (`cnf.jkt`).
    #[error("DPoP proof key does not match the token's bound key")]
    ProofKeyMismatch,
    /// `htm` is not the request method.
    #[error("DPoP proof was made for another HTTP method")]
    ProofMethodMismatch,
    /// `htu` is not the request URL.
    #[error("DPoP proof was made for another URL")]
    ProofUrlMismatch,
    /// `ath` is missing or is not the hash of the presented access token.
    #[error("DPoP proof is not bound to this access token (ath)")]
    ProofTokenHashMismatch,
    /// `iat` is older than the freshness window.
    #[error("DPoP proof is too old")]
    ProofTooOld,
    /// `iat` is further in the future than the allowed skew.
    #[error("DPoP proof is dated in the future")]
    ProofFromFuture,
    /// The class requires a server nonce and the proof has none.
    #[error("DPoP proof needs a server nonce (use_dpop_nonce)")]
    ProofNonceMissing,
    /// The proof's nonce is not current.
    #[error("DPoP proof nonce is not current (use_dpop_nonce)")]
    ProofNonceInvalid,
    /// The proof was already used.
    #[error("DPoP proof has already been used (replay)")]
    ProofReplayed,
    /// The replay cache cannot answer (full or unavailable).
    #[error("DPoP replay cache unavailable: refusing")]
    ReplayCacheUnavailable,
}

/// Verifier settings. [`VerifierConfig::new`] gives the §6 defaults.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// The trusted issuer (`iss`).
    pub issuer: String,
    /// Network-context strictness.
    pub network_policy: NetworkPolicy,
    /// Maximum age of the revocation state (default 1 s).
    pub tau_max: Duration,
    /// Maximum proof age (default 60 s).
    pub proof_max_age: Duration,
    /// Maximum proof date ahead of now (default 10 s).
    pub proof_max_future: Duration,
    /// Tolerance for an access token's `iat` ahead of now (default 2 s, clock drift
    /// between authority and node).
    pub clock_leeway: Duration,
    /// Algorithms accepted for DPoP proofs (default EdDSA and ES256). Access tokens
    /// are always EdDSA.
    pub proof_algorithms: Vec<ProofAlgorithm>,
}

/// A JWS algorithm a DPoP proof may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofAlgorithm {
    /// EdDSA over Ed25519.
    EdDsa,
    /// ECDSA over P-256 with SHA-256.
    Es256,
}

impl ProofAlgorithm {
    /// The JWS `alg` name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProofAlgorithm::EdDsa => ALG_EDDSA,
            ProofAlgorithm::Es256 => ALG_ES256,
        }
    }
}

impl VerifierConfig {
    /// Defaults: strict network policy, tau_max 1 s, proof age 60 s, future skew 10 s,
    /// clock leeway 2 s, proofs in EdDSA or ES256.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            network_policy: NetworkPolicy::Strict,
            tau_max: Duration::from_secs(1),
            proof_max_age: Duration::from_secs(60),
            proof_max_future: Duration::from_secs(10),
            clock_leeway: Duration::from_secs(2),
            proof_algorithms: vec![ProofAlgorithm::EdDsa, ProofAlgorithm::Es256],
        }
    }
}

/// What a proof must match.
#[derive(Debug, Clone, Copy)]
pub struct ProofExpectation<'a> {
    /// Request method.
    pub method: &'a str,
    /// Request URL.
    pub url: &'a str,
    /// `ath` the proof must carry: [`crate::dpop::access_token_hash`] of the access token
    /// presented with it (`None` at the token endpoint, where no token is presented).
    pub access_token_hash: Option<&'a str>,
    /// Whether a current server nonce is mandatory.
    pub require_nonce: bool,
    /// The key the proof must be made with, if known.
    pub jkt: Option<&'a Thumbprint>,
}

/// A proof that passed every check. Only [`ProofVerifier::verify`] makes one.
#[derive(Debug, Clone)]
pub struct VerifiedProof {
    jkt: Thumbprint,
    iat: u64,
}

impl VerifiedProof {
    /// The thumbprint of the key that signed the proof.
    pub fn jkt(&self) -> &Thumbprint {
        &self.jkt
    }

    /// The proof's `iat`, Unix seconds.
    pub fn issued_at(&self) -> u64 {
        self.iat
    }
}

/// Checks DPoP proofs (RFC 9449 §4.3) and remembers their ids.
pub struct ProofVerifier {
    algorithms: Vec<ProofAlgorithm>,
    max_age: Duration,
    max_future: Duration,
    replay: Arc<dyn ReplayCache>,
    nonces: Arc<dyn NonceValidator>,
    keys: ProofKeyCache,
}

impl std::fmt::Debug for ProofVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProofVerifier")
            .field("max_age", &self.max_age)
            .field("max_future", &self.max_future)
            .finish_non_exhaustive()
    }
}

impl ProofVerifier {
    /// Proof keys kept decoded (a few hundred bytes each), by thumbprint.
    pub const KEY_CACHE_CAPACITY: usize = 16_384;

    /// A proof verifier with the freshness bounds of `config`.
    pub fn new(
        config: &VerifierConfig,
        replay: Arc<dyn ReplayCache>,
        nonces: Arc<dyn NonceValidator>,
    ) -> Self {
        Self {
            algorithms: config.proof_algorithms.clone(),
            max_age: config.proof_max_age,
            max_future: config.proof_max_future,
            replay,
            nonces,
            keys: ProofKeyCache::new(Self::KEY_CACHE_CAPACITY),
        }
    }

    /// Verifies `proof` against `expected` at `now`; on success its id is remembered so
    /// the same proof is refused next time.
    pub fn verify(
        &self,
        proof: &str,
        expected: &ProofExpectation<'_>,
        now: Timestamp,
    ) -> Result<VerifiedProof, VerifyError> {
        let (jkt, claims) = self.check_signed(proof, expected.jkt)?;
        self.check_request(&claims, expected, now)?;
        // Last, so that a proof refused for another reason does not burn its id.
        let mut id_input = jkt.as_str().as_bytes().to_vec();
        id_input.push(b'.');
        id_input.extend_from_slice(claims.jti.as_bytes());
        let expires_at = Timestamp::from_unix_secs(claims.iat)
            .saturating_add(self.max_age)
            .saturating_add(self.max_future);
        match self
            .replay
            .check_and_insert(&sha256(&id_input), expires_at, now)
        {
            Ok(ReplayStatus::Fresh) => Ok(VerifiedProof {
                jkt,
                iat: claims.iat,
            }),
            Ok(ReplayStatus::Replayed) => Err(VerifyError::ProofReplayed),
            Err(_) => Err(VerifyError::ReplayCacheUnavailable),
        }
    }

    /// Header, key, binding and signature; returns the key thumbprint and the claims.
    fn check_signed(
        &self,
        proof: &str,
        bound: Option<&Thumbprint>,
    ) -> Result<(Thumbprint, ProofClaims), VerifyError> {
        let compact = parse_compact(proof).ok_or(VerifyError::ProofMalformed)?;
        let header = &compact.header;
        if header.typ.as_deref() != Some(PROOF_TYP) {
            return Err(VerifyError::ProofWrongType);
        }
        if !self
            .algorithms
            .iter()
            .any(|allowed| allowed.as_str() == header.alg)
        {
            return Err(VerifyError::ProofAlgorithmNotAllowed);
        }
        if header.crit.is_some() || header.kid.is_some() {
            return Err(VerifyError::ProofMalformed);
        }
        let (jkt, jwk) = header
            .jwk
            .as_ref()
            .and_then(|value| ProofJwk::from_json_cached(value, &self.keys).ok())
            .ok_or(VerifyError::ProofMalformed)?;
        // INVARIANT: the key type fixes the algorithm; a header naming another one
        // (e.g. EdDSA over an EC key) is key confusion.
        if jwk.algorithm() != header.alg {
            return Err(VerifyError::ProofAlgorithmNotAllowed);
        }
        if bound.is_some_and(|bound| bound != &jkt) {
            return Err(VerifyError::ProofKeyMismatch);
        }
        if !jwk.verify(compact.signing_input.as_bytes(), &compact.signature) {
            return Err(VerifyError::ProofBadSignature);
        }
        let claims: ProofClaims =
            serde_json::from_slice(&compact.payload).map_err(|_| VerifyError::ProofMalformed)?;
        if claims.jti.len() < 16 || claims.jti.len() > 128 {
            return Err(VerifyError::ProofMalformed);
        }
        Ok((jkt, claims))
    }

    /// Method, URL, time window, `ath` and nonce.
    fn check_request(
        &self,
        claims: &ProofClaims,
        expected: &ProofExpectation<'_>,
        now: Timestamp,
    ) -> Result<(), VerifyError> {
        if claims.htm != expected.method {
            return Err(VerifyError::ProofMethodMismatch);
        }
        match (normalize_htu(&claims.htu), normalize_htu(expected.url)) {
            (Some(presented), Some(wanted)) if presented == wanted => {}
            _ => return Err(VerifyError::ProofUrlMismatch),
        }
        let issued = Timestamp::from_unix_secs(claims.iat);
        if issued > now.saturating_add(self.max_future) {
            return Err(VerifyError::ProofFromFuture);
        }
        if now > issued.saturating_add(self.max_age) {
            return Err(VerifyError::ProofTooOld);
        }
        if let Some(ath) = expected.access_token_hash
            && claims.ath.as_deref() != Some(ath)
        {
            return Err(VerifyError::ProofTokenHashMismatch);
        }
        if expected.require_nonce {
            let nonce = claims
                .nonce
                .as_deref()
                .ok_or(VerifyError::ProofNonceMissing)?;
            if !self.nonces.is_current(nonce, now) {
                return Err(VerifyError::ProofNonceInvalid);
            }
        }
        Ok(())
    }
}

/// One request to authorize: the class the endpoint requires, the HTTP request, the
/// token and its proof, and the network context the server observed.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// The class this endpoint requires.
    pub required_class: TokenClass,
    /// HTTP method.
    pub method: &'a str,
    /// Request URL.
    pub url: &'a str,
    /// The access token (from `Authorization: DPoP ...`).
    pub access_token: &'a str,
    /// The DPoP proof (from the `DPoP` header).
    pub proof: &'a str,
    /// The network context observed for this request.
    pub network: &'a NetworkContext,
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("required_class", &self.required_class)
            .field("method", &self.method)
            .field("url", &normalize_htu(self.url))
            .field("access_token", &"[redacted]")
            .field("proof", &"[redacted]")
            .field("network", &self.network)
            .finish()
    }
}

/// A token whose signature, claims, class, binding, revocation and proof all passed.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    claims: Arc<AccessClaims>,
}

impl VerifiedToken {
    /// The verified claims.
    pub fn claims(&self) -> &AccessClaims {
        &self.claims
    }
}

/// Access tokens whose signature and encoding were already verified, by SHA-256 of the
/// exact token text. Only the signature check and parsing are skipped on a hit: class,
/// time, revocation, network and proof checks run on every request. Bounded: when full,
/// expired entries are dropped, and if none expired the cache is emptied.
struct TokenCache {
    capacity: usize,
    entries: Mutex<HashMap<[u8; 32], Arc<AccessClaims>>>,
}

impl TokenCache {
    fn get(&self, digest: &[u8; 32]) -> Option<Arc<AccessClaims>> {
        self.entries.lock().ok()?.get(digest).cloned()
    }

    fn insert(&self, digest: [u8; 32], claims: Arc<AccessClaims>, now: Timestamp) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= self.capacity {
            entries.retain(|_, cached| Timestamp::from_unix_secs(cached.exp) > now);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        if self.capacity > 0 {
            entries.insert(digest, claims);
        }
    }

    fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

/// The per-node verifier. Holds the trusted keys, the revocation state it applies in
/// order, and the proof verifier with its replay cache.
pub struct Verifier {
    config: VerifierConfig,
    keys: KeySet,
    proofs: ProofVerifier,
    revocation: RwLock<RevocationState>,
    verified: TokenCache,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("config", &self.config)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Tokens whose signature check is cached (about 1 KiB each).
    pub const TOKEN_CACHE_CAPACITY: usize = 100_000;

    /// A verifier trusting `keys`, with an empty revocation state that is stale until
    /// [`Verifier::confirm_revocations`] is called.
    pub fn new(
        config: VerifierConfig,
        keys: KeySet,
        replay: Arc<dyn ReplayCache>,
        nonces: Arc<dyn NonceValidator>,
    ) -> Self {
        let proofs = ProofVerifier::new(&config, replay, nonces);
        Self {
            config,
            keys,
            proofs,
            revocation: RwLock::new(RevocationState::new()),
            verified: TokenCache {
                capacity: Self::TOKEN_CACHE_CAPACITY,
                entries: Mutex::new(HashMap::new()),
            },
        }
    }

    /// The proof verifier (for the token endpoint).
    pub fn proofs(&self) -> &ProofVerifier {
        &self.proofs
    }

    /// Replaces the trusted key set (after the authority rotates or retires keys) and
    /// forgets every cached signature check.
    pub fn set_keys(&mut self, keys: KeySet) {
        self.keys = keys;
        self.verified.clear();
    }

    /// Applies the next revocation entry (in version order).
    pub fn apply_revocation(&self, entry: &RevocationEntry) -> Result<(), ApplyError> {
        let mut state = self.revocation.write().map_err(|_| ApplyError::Behind {
            state: 0,
            head: entry.version,
        })?;
        state.apply(entry)
    }

    /// Records that the feed's head version was `head` at `at`.
    pub fn confirm_revocations(&self, head: u64, at: Timestamp) -> Result<(), ApplyError> {
        let mut state = self
            .revocation
            .write()
            .map_err(|_| ApplyError::Behind { state: 0, head })?;
        state.confirm(head, at)
    }

    /// The version of the applied revocation state.
    pub fn revocation_version(&self) -> Option<u64> {
        self.revocation.read().ok().map(|state| state.version())
    }

    /// Decides one request. Every check must pass; the first failure is returned.
    pub fn verify(
        &self,
        request: &Request<'_>,
        now: Timestamp,
    ) -> Result<VerifiedToken, VerifyError> {
        self.check_fresh(now)?;
        let digest = sha256(request.access_token.as_bytes());
        let claims = match self.verified.get(&digest) {
            Some(claims) => claims,
            None => {
                let claims = Arc::new(self.verify_token(request.access_token)?);
                self.verified.insert(digest, Arc::clone(&claims), now);
                claims
            }
        };
        self.check_claims(&claims, request.required_class, now)?;
        self.check_revocation(&claims)?;
        if request.network != &claims.net {
            let ends_session = claims.cls.network_change_ends_session();
            if ends_session || self.config.network_policy == NetworkPolicy::Strict {
                return Err(VerifyError::NetworkContextMismatch {
                    session_to_end: ends_session.then(|| claims.sid.clone()),
                });
            }
        }
        let ath = b64_encode(&digest);
        let expectation = ProofExpectation {
            method: request.method,
            url: request.url,
            access_token_hash: Some(&ath),
            require_nonce: claims.cls.requires_nonce(),
            jkt: Some(&claims.cnf.jkt),
        };
        self.proofs.verify(request.proof, &expectation, now)?;
        Ok(VerifiedToken { claims })
    }

    /// **Dangerous.** Verifies `token` as a plain bearer token: signature, issuer,
    /// class, lifetime, revocation and feed freshness, but no proof of possession and
    /// no network context, so whoever holds the string is its owner. It exists for one
    /// caller: the unsafe baseline of `custody simulate okta-2023 --unsafe-baseline`,
    /// which shows what a captured token is worth without binding. `custody serve`
    /// never calls it.
    pub fn dangerous_verify_bearer(
        &self,
        token: &str,
        required_class: TokenClass,
        now: Timestamp,
    ) -> Result<VerifiedToken, VerifyError> {
        self.check_fresh(now)?;
        let claims = Arc::new(self.verify_token(token)?);
        self.check_claims(&claims, required_class, now)?;
        self.check_revocation(&claims)?;
        Ok(VerifiedToken { claims })
    }

    fn check_fresh(&self, now: Timestamp) -> Result<(), VerifyError> {
        let state = self
            .revocation
            .read()
            .map_err(|_| VerifyError::RevocationStateUnavailable)?;
        let tau_max_ms = u64::try_from(self.config.tau_max.as_millis()).unwrap_or(u64::MAX);
        let stale = |age_ms| VerifyError::StaleRevocationState { age_ms, tau_max_ms };
        let Some(last) = state.last_sync() else {
            return Err(stale(None));
        };
        // A confirmation dated beyond now + tau_max (clock stepped back, bogus feed time)
        // cannot vouch for anything: stale.
        if last > now.saturating_add(self.config.tau_max) {
            return Err(stale(None));
        }
        let age_ms = u64::try_from(now.saturating_duration_since(last).as_millis()).ok();
        match age_ms {
            Some(age) if age <= tau_max_ms => Ok(()),
            _ => Err(stale(age_ms)),
        }
    }

    fn verify_token(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        let compact = parse_compact(token).ok_or(VerifyError::TokenMalformed)?;
        let header = &compact.header;
        match header.typ.as_deref() {
            Some(ACCESS_TOKEN_TYP | "application/at+jwt") => {}
            _ => return Err(VerifyError::WrongTokenType),
        }
        // INVARIANT: the algorithm is fixed by the verifier; the header can only agree.
        if header.alg != ALG_EDDSA {
            return Err(VerifyError::AlgorithmNotAllowed);
        }
        if header.crit.is_some() || header.jwk.is_some() {
            return Err(VerifyError::TokenMalformed);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.key(kid))
            .ok_or(VerifyError::UnknownKey)?;
        if !key.verify(compact.signing_input.as_bytes(), &compact.signature) {
            return Err(VerifyError::BadSignature);
        }
        serde_json::from_slice(&compact.payload).map_err(|_| VerifyError::TokenMalformed)
    }

    fn check_claims(
        &self,
        claims: &AccessClaims,
        required: TokenClass,
        now: Timestamp,
    ) -> Result<(), VerifyError> {
        if claims.iss != self.config.issuer {
            return Err(VerifyError::WrongIssuer);
        }
        if claims.cls != required {
            return Err(VerifyError::WrongClass {
                required,
                presented: claims.cls,
            });
        }
        if claims.aud != required.audience() {
            return Err(VerifyError::WrongAudience);
        }
        if now >= Timestamp::from_unix_secs(claims.exp) {
            return Err(VerifyError::Expired);
        }
        if Timestamp::from_unix_secs(claims.iat) > now.saturating_add(self.config.clock_leeway) {
            return Err(VerifyError::NotYetValid);
        }
        let lifetime = claims
            .exp
            .checked_sub(claims.iat)
            .ok_or(VerifyError::TokenMalformed)?;
        if lifetime > required.max_lifetime().as_secs() {
            return Err(VerifyError::LifetimeExceedsClass);
        }
        Ok(())
    }

    fn check_revocation(&self, claims: &AccessClaims) -> Result<(), VerifyError> {
        let state = self
            .revocation
            .read()
            .map_err(|_| VerifyError::RevocationStateUnavailable)?;
        let subjects = TokenSubjects {
            token_id: &claims.jti,
            session: &claims.sid,
            principal: &claims.sub,
            device: claims.cnf.jkt.as_str(),
            tenant: &claims.tenant,
            class: claims.cls.as_str(),
        };
        match state.revoked_by(&subjects, claims.iat) {
            Some(kind) => Err(VerifyError::Revoked { kind }),
            None => Ok(()),
        }
    }
}
