//! The replay property (issue 3): at least 10,000 randomized replays of captured
//! tokens and proofs (other keys, other devices, other network contexts, reused
//! proofs, proofs for another method or URL, another class's endpoint, late replays,
//! forged proof headers) with zero accepted, while a bearer-only verifier (the unsafe
//! variant) accepts the captured token in every single case.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns: failures should stop the test loudly"
)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use custody_token::{Ed25519KeyPair, NetworkContext, TokenClass, VerifyError};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mutation {
    /// The captured (token, proof) pair sent again as is.
    ExactReplay,
    /// The captured token with a fresh proof from an attacker's own key.
    OtherKey,
    /// The captured proof with the attacker's own valid token from another device.
    OtherDevice,
    /// The captured pair sent from another network context.
    OtherNetwork,
    /// The captured pair for another HTTP method.
    OtherMethod,
    /// The captured pair for another URL.
    OtherUrl,
    /// The captured pair at an endpoint of another class.
    OtherClass,
    /// The captured pair replayed later (within or past the window).
    Late,
    /// A new proof whose header claims the victim's key, signed by the attacker.
    ForgedHeader,
}

const MUTATIONS: [Mutation; 9] = [
    Mutation::ExactReplay,
    Mutation::OtherKey,
    Mutation::OtherDevice,
    Mutation::OtherNetwork,
    Mutation::OtherMethod,
    Mutation::OtherUrl,
    Mutation::OtherClass,
    Mutation::Late,
    Mutation::ForgedHeader,
];

#[test]
fn ten_thousand_randomized_replays_are_all_refused() {
    let attempts = AtomicUsize::new(0);
    let per_mutation: Vec<AtomicUsize> = MUTATIONS.iter().map(|_| AtomicUsize::new(0)).collect();
    let mut runner = TestRunner::new(Config {
        cases: 10_000,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        any::<u64>(),
        0..3_usize,
        0..MUTATIONS.len(),
        0..1_000_u32,
        1..200_u64,
    );
    runner
        .run(
            &strategy,
            |(seed, class, mutation, principal, late_secs)| {
                let class = TokenClass::ALL[class];
                let mutation = MUTATIONS[mutation];
                let mut fx = Fixture::new(seed);
                let victim = fx.client(
                    class,
                    &format!("principal-{principal}"),
                    &format!("tenant-{}", principal % 17),
                    &format!("asn:{}", 64_000 + principal),
                );
                let token = victim.issued.access_token.expose_secret().to_owned();
                let proof = fx.proof(&victim.key, "GET", URL, &token);
                // The victim's own request succeeds: this is what a HAR would capture.
                prop_assert!(
                    fx.verify(class, "GET", URL, &token, &proof, &victim.network)
                        .is_ok()
                );

                let outcome = match mutation {
                    Mutation::ExactReplay => {
                        fx.verify(class, "GET", URL, &token, &proof, &victim.network)
                    }
                    Mutation::OtherKey => {
                        let attacker = Ed25519KeyPair::generate(&mut fx.rng);
                        let forged = fx.proof(&attacker, "GET", URL, &token);
                        fx.verify(class, "GET", URL, &token, &forged, &victim.network)
                    }
                    Mutation::OtherDevice => {
                        let attacker = fx.client(class, "attacker", "tenant-x", "asn:1");
                        let own = attacker.issued.access_token.expose_secret().to_owned();
                        fx.verify(class, "GET", URL, &own, &proof, &attacker.network)
                    }
                    Mutation::OtherNetwork => {
                        let elsewhere =
                            NetworkContext::from_descriptor(&format!("asn:{}", seed % 1000));
                        fx.verify(class, "GET", URL, &token, &proof, &elsewhere)
                    }
                    Mutation::OtherMethod => {
                        fx.verify(class, "DELETE", URL, &token, &proof, &victim.network)
                    }
                    Mutation::OtherUrl => {
                        let url = format!(
                            "https://api.custody.example/v1/artifacts/{principal}/download"
                        );
                        fx.verify(class, "GET", &url, &token, &proof, &victim.network)
                    }
                    Mutation::OtherClass => {
                        let other = TokenClass::ALL[(class as usize + 1 + (seed % 2) as usize) % 3];
                        fx.verify(other, "GET", URL, &token, &proof, &victim.network)
                    }
                    Mutation::Late => {
                        fx.now = fx.now.saturating_add(Duration::from_secs(late_secs));
                        fx.verifier.confirm_revocations(0, fx.now).unwrap();
                        fx.verify(class, "GET", URL, &token, &proof, &victim.network)
                    }
                    Mutation::ForgedHeader => {
                        let attacker = Ed25519KeyPair::generate(&mut fx.rng);
                        let fresh = fx.proof(&attacker, "GET", URL, &token);
                        let (mut header, claims) = decode_parts(&fresh);
                        header["jwk"] = victim.key.public_jwk().to_json();
                        let forged = sign_raw(&attacker, &header, &claims);
                        fx.verify(class, "GET", URL, &token, &forged, &victim.network)
                    }
                };
                prop_assert!(outcome.is_err(), "{mutation:?} accepted");
                let err = outcome.unwrap_err();
                prop_assert!(
                    !matches!(
                        err,
                        VerifyError::StaleRevocationState { .. }
                            | VerifyError::ReplayCacheUnavailable
                    ),
                    "{mutation:?} refused for an unrelated reason: {err:?}"
                );
                // Unsafe variant: a bearer-only check takes the captured token every time
                // (the late replays only while it has not expired).
                let bearer = bearer_only_accepts(&fx.authority.key_set(), &token, fx.now);
                let expired = fx.now.unix_secs() >= victim.issued.claims.exp;
                prop_assert_eq!(
                    bearer,
                    !expired,
                    "bearer-only verifier should accept {:?}",
                    mutation
                );
                attempts.fetch_add(1, Ordering::Relaxed);
                if let Some(count) = MUTATIONS.iter().position(|m| *m == mutation) {
                    per_mutation[count].fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            },
        )
        .unwrap();
    assert!(attempts.load(Ordering::Relaxed) >= 10_000);
    for (mutation, count) in MUTATIONS.iter().zip(&per_mutation) {
        assert!(
            count.load(Ordering::Relaxed) > 500,
            "{mutation:?} under-sampled"
        );
    }
}
