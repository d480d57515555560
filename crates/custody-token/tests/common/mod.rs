//! Shared fixtures for the integration tests: an authority, a node verifier, clients,
//! and the *unsafe* bearer-only verifier used to show each attack succeeds without
//! custody's checks.

#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test fixtures: a failed setup should stop the test loudly"
)]

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use custody_token::{
    Authority, Ed25519KeyPair, IssueRequest, Issued, KeyRing, KeySet, MemoryRefreshStore,
    MemoryReplayCache, MemoryRevocationStore, NetworkContext, NetworkPolicy, NonceIssuer,
    ProofRequest, Request, Timestamp, TokenClass, VerifiedToken, Verifier, VerifierConfig,
    VerifyError, create_proof,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng as _;

pub const ISSUER: &str = "https://custody.example";
pub const URL: &str = "https://api.custody.example/v1/artifacts/42";

pub fn t0() -> Timestamp {
    Timestamp::from_unix_secs(1_800_000_000)
}

pub struct Fixture {
    pub rng: ChaCha20Rng,
    pub authority: Authority,
    pub verifier: Verifier,
    pub nonces: Arc<NonceIssuer>,
    pub now: Timestamp,
    /// The authority's private key, for crafting tokens in tests only.
    pub authority_key: Ed25519KeyPair,
}

pub struct Client {
    pub key: Ed25519KeyPair,
    pub network: NetworkContext,
    pub issued: Issued,
}

impl Fixture {
    pub fn new(seed: u64) -> Self {
        Self::with_policy(seed, NetworkPolicy::Strict)
    }

    pub fn with_policy(seed: u64, policy: NetworkPolicy) -> Self {
        Self::build(seed, policy, t0())
    }

    /// A fixture whose clock starts at `now` (e.g. the real time, for PyJWT).
    pub fn at(seed: u64, now: Timestamp) -> Self {
        Self::build(seed, NetworkPolicy::Strict, now)
    }

    fn build(seed: u64, policy: NetworkPolicy, now: Timestamp) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let authority_key = Ed25519KeyPair::generate(&mut rng);
        let ring = KeyRing::new(authority_key.clone());
        let authority = Authority::new(
            ISSUER,
            ring,
            Arc::new(MemoryRevocationStore::new()),
            Arc::new(MemoryRefreshStore::new()),
        );
        let nonces = Arc::new(NonceIssuer::generate(&mut rng, 60));
        let mut config = VerifierConfig::new(ISSUER);
        config.network_policy = policy;
        let verifier = Verifier::new(
            config,
            authority.key_set(),
            Arc::new(MemoryReplayCache::new(1_000_000)),
            nonces.clone(),
        );
        verifier.confirm_revocations(0, now).unwrap();
        Self {
            rng,
            authority,
            verifier,
            nonces,
            now,
            authority_key,
        }
    }

    /// Pulls the authority's revocation log into the verifier and confirms it fresh.
    pub fn sync(&self) {
        let from = self.verifier.revocation_version().unwrap();
        for entry in self.authority.revocations().entries_after(from).unwrap() {
            self.verifier.apply_revocation(&entry).unwrap();
        }
        let head = self.authority.revocations().head().unwrap();
        self.verifier.confirm_revocations(head, self.now).unwrap();
    }

    pub fn client(&mut self, class: TokenClass, subject: &str, tenant: &str, net: &str) -> Client {
        let key = Ed25519KeyPair::generate(&mut self.rng);
        self.client_with_key(key, class, subject, tenant, net)
    }

    pub fn client_with_key(
        &mut self,
        key: Ed25519KeyPair,
        class: TokenClass,
        subject: &str,
        tenant: &str,
        net: &str,
    ) -> Client {
        let network = NetworkContext::from_descriptor(net);
        let request = IssueRequest {
            class,
            subject: subject.into(),
            tenant: tenant.into(),
            client_id: "custody-cli".into(),
            jkt: key.thumbprint(),
            network: network.clone(),
            lifetime: None,
            with_refresh: true,
        };
        let issued = self
            .authority
            .issue(&request, self.now, &mut self.rng)
            .unwrap();
        Client {
            key,
            network,
            issued,
        }
    }

    /// A proof by `key` for `token` (with the current nonce).
    pub fn proof(&mut self, key: &Ed25519KeyPair, method: &str, url: &str, token: &str) -> String {
        let nonce = self.nonces.issue(self.now).unwrap();
        create_proof(
            key,
            &ProofRequest {
                method,
                url,
                access_token: Some(token),
                nonce: Some(&nonce),
            },
            self.now,
            &mut self.rng,
        )
        .unwrap()
    }

    pub fn verify(
        &self,
        class: TokenClass,
        method: &str,
        url: &str,
        token: &str,
        proof: &str,
        network: &NetworkContext,
    ) -> Result<VerifiedToken, VerifyError> {
        self.verifier.verify(
            &Request {
                required_class: class,
                method,
                url,
                access_token: token,
                proof,
                network,
            },
            self.now,
        )
    }

    /// A legitimate request by `client`: fresh proof, right class, own network.
    pub fn legit(
        &mut self,
        client: &Client,
        class: TokenClass,
    ) -> Result<VerifiedToken, VerifyError> {
        let token = client.issued.access_token.expose_secret().to_owned();
        let proof = self.proof(&client.key, "GET", URL, &token);
        self.verify(class, "GET", URL, &token, &proof, &client.network)
    }
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The UNSAFE counterpart: a plain bearer JWT check, as a signature-only resource server
/// would do it (kid lookup, Ed25519 signature, `exp`). No proof, class, network,
/// revocation or replay check. Tests show that attacks custody refuses pass here.
pub fn bearer_only_accepts(keys: &KeySet, token: &str, now: Timestamp) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return false;
    }
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).ok();
    let (Some(header), Some(claims), Some(signature)) =
        (decode(parts[0]), decode(parts[1]), decode(parts[2]))
    else {
        return false;
    };
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap_or_default();
    let claims: serde_json::Value = serde_json::from_slice(&claims).unwrap_or_default();
    let Some(kid) = header["kid"].as_str() else {
        return false;
    };
    let Some(jwk) = keys.key(kid) else {
        return false;
    };
    let x: [u8; 32] = decode(jwk.to_json()["x"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let Ok(signature) = <[u8; 64]>::try_from(signature.as_slice()) else {
        return false;
    };
    let key = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
    let message = format!("{}.{}", parts[0], parts[1]);
    key.verify_strict(
        message.as_bytes(),
        &ed25519_dalek::Signature::from_bytes(&signature),
    )
    .is_ok()
        && claims["exp"]
            .as_u64()
            .is_some_and(|exp| exp > now.unix_secs())
}

/// Raw signing with a key pair's private half (tests craft tokens the authority never
/// would, e.g. with other claims or headers).
pub fn sign_raw(
    key: &Ed25519KeyPair,
    header: &serde_json::Value,
    claims: &serde_json::Value,
) -> String {
    use ed25519_dalek::Signer as _;
    let jwk: serde_json::Value = serde_json::from_str(&key.to_private_jwk_json()).unwrap();
    let d: [u8; 32] = URL_SAFE_NO_PAD
        .decode(jwk["d"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let signing = ed25519_dalek::SigningKey::from_bytes(&d);
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = signing.sign(input.as_bytes());
    format!("{input}.{}", b64(&signature.to_bytes()))
}

/// Splits a compact JWS into decoded header and claims JSON.
pub fn decode_parts(token: &str) -> (serde_json::Value, serde_json::Value) {
    let parts: Vec<&str> = token.split('.').collect();
    let header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    (header, claims)
}
