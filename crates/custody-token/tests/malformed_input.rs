//! Hostile input (§13): arbitrary tokens, proofs and URLs never panic and are never
//! accepted; `htu` normalisation is idempotent.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns: failures should stop the test loudly"
)]

mod common;

use common::*;
use custody_token::{TokenClass, normalize_htu};
use proptest::prelude::*;

fn jws_like() -> impl Strategy<Value = String> {
    let part = "[A-Za-z0-9_-]{0,80}";
    (part, part, part, prop::bool::ANY).prop_map(|(a, b, c, extra)| {
        if extra {
            format!("{a}.{b}.{c}.{a}")
        } else {
            format!("{a}.{b}.{c}")
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_tokens_and_proofs_are_refused_without_panic(
        token in prop_oneof![jws_like(), ".{0,300}"],
        proof in prop_oneof![jws_like(), ".{0,300}"],
        class in 0..3_usize,
    ) {
        let mut fx = Fixture::new(99);
        let client = fx.client(TokenClass::ALL[class], "p", "t", "asn:1");
        let real = client.issued.access_token.expose_secret().to_owned();
        let real_proof = fx.proof(&client.key, "GET", URL, &real);
        let class = TokenClass::ALL[class];
        prop_assert!(fx.verify(class, "GET", URL, &token, &proof, &client.network).is_err());
        prop_assert!(fx.verify(class, "GET", URL, &real, &proof, &client.network).is_err());
        prop_assert!(fx.verify(class, "GET", URL, &token, &real_proof, &client.network).is_err());
        let _ = custody_token::inspect(&token);
    }

    #[test]
    fn htu_normalisation_is_idempotent(url in "(https?|HTTPS|ftp)://[A-Za-z0-9.:\\[\\]@-]{0,30}(/[A-Za-z0-9%._~-]{0,12}){0,4}(\\?[a-z=&]{0,10})?") {
        if let Some(once) = normalize_htu(&url) {
            prop_assert_eq!(normalize_htu(&once), Some(once.clone()));
        }
    }
}

/// Key-file, JWKS, token-inspection and refresh-token errors, fed inputs that carry a
/// known private key or token: neither `Display` nor `Debug` of any error quotes them.
#[test]
fn key_jwks_and_parse_errors_never_quote_secrets() {
    use custody_token::{Ed25519KeyPair, KeySet, RefreshToken, inspect};
    use rand_core::SeedableRng as _;

    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(77);
    let key = Ed25519KeyPair::generate(&mut rng);
    let private: serde_json::Value = serde_json::from_str(&key.to_private_jwk_json()).unwrap();
    let d = private["d"].as_str().unwrap().to_owned();
    let x = private["x"].as_str().unwrap().to_owned();
    let other_d = {
        let other = Ed25519KeyPair::generate(&mut rng);
        let json: serde_json::Value = serde_json::from_str(&other.to_private_jwk_json()).unwrap();
        json["d"].as_str().unwrap().to_owned()
    };
    let secret_token = format!("eyJhbGciOiJFZERTQSJ9.{d}.{other_d}");
    let mut texts = Vec::new();
    let mut record = |display: String, debug: String| texts.push(format!("{display} / {debug}"));
    for bad_key in [
        // `d` of another key: mismatch.
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","d":"{other_d}"}}"#),
        // Truncated `d`.
        format!(
            r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","d":"{}"}}"#,
            d.get(..40).unwrap()
        ),
        // Wrong curve, wrong shape, trailing garbage.
        format!(r#"{{"kty":"OKP","crv":"X25519","x":"{x}","d":"{d}"}}"#),
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{d}","d":"{d}","#),
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}"}}"#),
    ] {
        let err = Ed25519KeyPair::from_jwk_json(&bad_key).unwrap_err();
        record(err.to_string(), format!("{err:?}"));
    }
    for jwks in [
        // A private key published by mistake.
        format!(r#"{{"keys":[{}]}}"#, key.to_private_jwk_json().as_str()),
        format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{d}","kid":"{other_d}"}}]}}"#),
        format!(r#"{{"keys":"{d}"}}"#),
    ] {
        let err = KeySet::from_jwks_json(&jwks).unwrap_err();
        record(err.to_string(), format!("{err:?}"));
    }
    for token in [secret_token.as_str(), &format!("{secret_token}.x"), &d] {
        let err = inspect(token).unwrap_err();
        record(err.to_string(), format!("{err:?}"));
    }
    for refresh in [
        format!("cty_rt_{d}"),
        format!("cty_rt_{}", d.get(..30).unwrap()),
    ] {
        let err = RefreshToken::parse(&refresh).unwrap_err();
        record(err.to_string(), format!("{err:?}"));
    }
    assert_eq!(texts.len(), 13);
    for text in &texts {
        for secret in [d.as_str(), other_d.as_str(), secret_token.as_str()] {
            assert!(!text.contains(secret), "secret leaked in: {text}");
            assert!(
                !text.contains(secret.get(..16).unwrap()),
                "secret prefix leaked in: {text}"
            );
        }
    }
}
