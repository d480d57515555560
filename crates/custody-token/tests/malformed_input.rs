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
