//! Token Authority throughput on one core: issue, client proof creation, and the
//! per-request verification of an access token with its DPoP proof.
//!
//! `verify_token_with_dpop_proof` is the steady state: the token was seen before, so its
//! signature check is cached and one Ed25519 verification (the proof's) remains;
//! `verify_first_use_token_with_dpop_proof` verifies both signatures;
//! `verify_token_with_es256_dpop_proof` is the steady state with a P-256 (WebCrypto)
//! client key. Every measured request carries a new proof (unique `jti`), so the replay
//! cache, revocation, class, network and nonce checks all run each time.
//!
//! Run: `cargo bench -p custody-token --bench token` (see `docs/bench/token.md` for the
//! `curve25519_dalek_backend` setting the published figures use).

use std::hint::black_box;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use custody_token::{
    Authority, Ed25519KeyPair, IssueRequest, KeyRing, MemoryRefreshStore, MemoryReplayCache,
    MemoryRevocationStore, NetworkContext, NonceIssuer, ProofRequest, Request, Timestamp,
    TokenClass, Verifier, VerifierConfig, create_proof,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore as _, SeedableRng as _};
use sha2::Digest as _;

const ISSUER: &str = "https://custody.example";
const URL: &str = "https://api.custody.example/v1/artifacts/42";

fn bench_tokens(c: &mut Criterion) {
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
        Arc::new(MemoryReplayCache::new(20_000_000)),
        nonces.clone(),
    );
    verifier.confirm_revocations(0, now).unwrap_or_default();
    let client = Ed25519KeyPair::generate(&mut rng);
    let network = NetworkContext::from_descriptor("asn:64500");
    let request = IssueRequest {
        class: TokenClass::SupportAgent,
        subject: "agent-7".into(),
        tenant: "acme".into(),
        client_id: "custody-cli".into(),
        jkt: client.thumbprint(),
        network: network.clone(),
        lifetime: None,
        with_refresh: false,
    };
    let Ok(issued) = authority.issue(&request, now, &mut rng) else {
        return;
    };
    let token = issued.access_token.expose_secret().to_owned();
    let nonce = nonces.issue(now).unwrap_or_default();

    let mut group = c.benchmark_group("token");
    group.throughput(Throughput::Elements(1));
    group.bench_function("issue_access_token", |b| {
        b.iter(|| black_box(authority.issue(black_box(&request), now, &mut rng).is_ok()))
    });
    let proof_request = ProofRequest {
        method: "GET",
        url: URL,
        access_token: Some(&token),
        nonce: Some(&nonce),
    };
    group.bench_function("create_dpop_proof", |b| {
        b.iter(|| {
            black_box(create_proof(&client, black_box(&proof_request), now, &mut rng).is_ok())
        })
    });
    group.bench_function("verify_first_use_token_with_dpop_proof", |b| {
        b.iter_batched(
            || {
                let fresh = authority
                    .issue(&request, now, &mut rng)
                    .map(|issued| issued.access_token.expose_secret().to_owned())
                    .unwrap_or_default();
                let proof_request = ProofRequest {
                    access_token: Some(&fresh),
                    ..proof_request
                };
                let proof =
                    create_proof(&client, &proof_request, now, &mut rng).unwrap_or_default();
                (fresh, proof)
            },
            |(fresh, proof)| {
                let outcome = verifier.verify(
                    &Request {
                        required_class: TokenClass::SupportAgent,
                        method: "GET",
                        url: URL,
                        access_token: &fresh,
                        proof: &proof,
                        network: &network,
                    },
                    now,
                );
                assert!(outcome.is_ok(), "{outcome:?}");
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("verify_token_with_dpop_proof", |b| {
        b.iter_batched(
            || create_proof(&client, &proof_request, now, &mut rng).unwrap_or_default(),
            |proof| {
                let outcome = verifier.verify(
                    &Request {
                        required_class: TokenClass::SupportAgent,
                        method: "GET",
                        url: URL,
                        access_token: &token,
                        proof: &proof,
                        network: &network,
                    },
                    now,
                );
                assert!(outcome.is_ok(), "{outcome:?}");
            },
            BatchSize::SmallInput,
        )
    });
    // The floor: one raw Ed25519 strict verification on this machine.
    let raw_key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let message = [42_u8; 300];
    let signature = ed25519_dalek::Signer::sign(&raw_key, &message);
    let raw_public = raw_key.verifying_key();
    group.bench_function("ed25519_verify_strict_raw", |b| {
        b.iter(|| {
            black_box(
                raw_public
                    .verify_strict(black_box(&message), &signature)
                    .is_ok(),
            )
        })
    });
    group.finish();
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A WebCrypto-style ES256 client: its key, public JWK and RFC 7638 thumbprint.
fn p256_client() -> (p256::ecdsa::SigningKey, serde_json::Value, String) {
    let key = p256::ecdsa::SigningKey::from_slice(&[3; 32]).unwrap_or_else(|_| unreachable!());
    let point = key.verifying_key().to_encoded_point(false);
    let (x, y) = (
        b64(point.x().map(|x| x.as_slice()).unwrap_or_default()),
        b64(point.y().map(|y| y.as_slice()).unwrap_or_default()),
    );
    let jwk = serde_json::json!({"kty": "EC", "crv": "P-256", "x": x, "y": y});
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let jkt = b64(&sha2::Sha256::digest(canonical.as_bytes()));
    (key, jwk, jkt)
}

/// An ES256 DPoP proof with a random `jti`, made the way a browser's WebCrypto would.
fn p256_proof(
    key: &p256::ecdsa::SigningKey,
    jwk: &serde_json::Value,
    token: &str,
    nonce: &str,
    now: Timestamp,
    rng: &mut ChaCha20Rng,
) -> String {
    use p256::ecdsa::signature::Signer as _;
    let mut jti = [0_u8; 16];
    rng.fill_bytes(&mut jti);
    let header = serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk});
    let claims = serde_json::json!({
        "jti": b64(&jti), "htm": "GET", "htu": URL, "iat": now.unix_secs(),
        "ath": b64(&sha2::Sha256::digest(token.as_bytes())), "nonce": nonce,
    });
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature: p256::ecdsa::Signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&signature.to_bytes()))
}

fn bench_es256(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
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
        Arc::new(MemoryReplayCache::new(20_000_000)),
        nonces.clone(),
    );
    verifier.confirm_revocations(0, now).unwrap_or_default();
    let (key, jwk, jkt) = p256_client();
    let network = NetworkContext::from_descriptor("asn:64500");
    let request = IssueRequest {
        class: TokenClass::SupportAgent,
        subject: "agent-7".into(),
        tenant: "acme".into(),
        client_id: "web-console".into(),
        jkt: custody_token::Thumbprint::parse(&jkt).unwrap_or_else(|| unreachable!()),
        network: network.clone(),
        lifetime: None,
        with_refresh: false,
    };
    let Ok(issued) = authority.issue(&request, now, &mut rng) else {
        return;
    };
    let token = issued.access_token.expose_secret().to_owned();
    let nonce = nonces.issue(now).unwrap_or_default();
    let mut group = c.benchmark_group("token");
    group.throughput(Throughput::Elements(1));
    group.bench_function("verify_token_with_es256_dpop_proof", |b| {
        b.iter_batched(
            || p256_proof(&key, &jwk, &token, &nonce, now, &mut rng),
            |proof| {
                let outcome = verifier.verify(
                    &Request {
                        required_class: TokenClass::SupportAgent,
                        method: "GET",
                        url: URL,
                        access_token: &token,
                        proof: &proof,
                        network: &network,
                    },
                    now,
                );
                assert!(outcome.is_ok(), "{outcome:?}");
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_tokens, bench_es256);
criterion_main!(benches);
