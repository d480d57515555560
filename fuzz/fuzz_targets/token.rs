//! Hostile tokens, DPoP proofs, JWKS, refresh tokens and URLs: nothing panics, and
//! no fuzzed token or proof is ever accepted, alone or beside a real one (a real
//! token needs a fresh proof signed by its own key; a real proof is bound to its
//! own token by `ath`).
#![no_main]

use std::sync::{Arc, LazyLock};

use custody_token::{
    Authority, Ed25519KeyPair, IssueRequest, KeyRing, KeySet, MemoryRefreshStore,
    MemoryReplayCache, MemoryRevocationStore, NetworkContext, NonceIssuer, ProofRequest,
    RefreshToken, Request, Thumbprint, Timestamp, TokenClass, Verifier, VerifierConfig,
    create_proof, inspect, normalize_htu,
};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng as _;

const ISSUER: &str = "https://custody.example";
const URL: &str = "https://api.custody.example/v1/artifacts/42";

struct Fixture {
    verifier: Verifier,
    now: Timestamp,
    network: NetworkContext,
    token: String,
    proof: String,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let now = Timestamp::from_unix_secs(1_800_000_000);
    let authority = Authority::new(
        ISSUER,
        KeyRing::new(Ed25519KeyPair::generate(&mut rng)),
        Arc::new(MemoryRevocationStore::new()),
        Arc::new(MemoryRefreshStore::new()),
    );
    let nonces = Arc::new(NonceIssuer::generate(&mut rng, 60));
    let verifier = Verifier::new(
        VerifierConfig::new(ISSUER),
        authority.key_set(),
        Arc::new(MemoryReplayCache::new(1_000_000)),
        nonces.clone(),
    );
    if verifier.confirm_revocations(0, now).is_err() {
        panic!("fixture: revocation feed");
    }
    let client = Ed25519KeyPair::generate(&mut rng);
    let network = NetworkContext::from_descriptor("asn:64500");
    let request = IssueRequest {
        class: TokenClass::CustomerAdmin,
        subject: "admin-1".into(),
        tenant: "acme".into(),
        client_id: "custody-cli".into(),
        jkt: client.thumbprint(),
        network: network.clone(),
        lifetime: None,
        with_refresh: false,
    };
    let Ok(issued) = authority.issue(&request, now, &mut rng) else {
        panic!("fixture: issue");
    };
    let token = issued.access_token.expose_secret().to_owned();
    let nonce = nonces.issue(now).unwrap_or_default();
    let Ok(proof) = create_proof(
        &client,
        &ProofRequest {
            method: "GET",
            url: URL,
            access_token: Some(&token),
            nonce: Some(&nonce),
        },
        now,
        &mut rng,
    ) else {
        panic!("fixture: proof");
    };
    Fixture {
        verifier,
        now,
        network,
        token,
        proof,
    }
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let fx = &*FIXTURE;
    // "token\nproof" or the whole input as both.
    let (token, proof) = text.split_once('\n').unwrap_or((text, text));
    for (token, proof) in [
        (token, proof),
        (fx.token.as_str(), proof),
        (token, fx.proof.as_str()),
    ] {
        if token == fx.token && proof == fx.proof {
            continue;
        }
        for class in TokenClass::ALL {
            let request = Request {
                required_class: class,
                method: "GET",
                url: URL,
                access_token: token,
                proof,
                network: &fx.network,
            };
            assert!(
                fx.verifier.verify(&request, fx.now).is_err(),
                "a fuzzed token or proof was accepted"
            );
        }
    }
    let _ = inspect(text);
    let _ = KeySet::from_jwks_json(text);
    let _ = RefreshToken::parse(text);
    let _ = Thumbprint::parse(text);
    if let Some(once) = normalize_htu(text) {
        assert_eq!(normalize_htu(&once).as_deref(), Some(once.as_str()));
    }
});
