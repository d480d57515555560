//! The network-context hash is defined twice, once per crate (`custody-token`'s `net`
//! claim and `custody-seal`'s envelope header), because the two crates are independent.
//! These tests hold the two definitions to the same bytes, so a broker can seal an
//! export to the context it observed for the requester's token.

#![expect(
    clippy::unwrap_used,
    reason = "test code: a failed step must fail the test"
)]

use custody_seal::NetworkContext as SealContext;
use custody_token::NetworkContext as TokenContext;
use proptest::prelude::*;

fn agree(text: &str) {
    let token = TokenContext::from_descriptor_or_hash(text);
    let seal = SealContext::from_descriptor_or_hash(text);
    assert_eq!(
        token.as_ref().map(|t| t.hash().unwrap()),
        seal.map(|s| s.0),
        "{text:?}"
    );
}

#[test]
fn both_crates_hash_descriptors_to_the_same_bytes() {
    assert_eq!(
        custody_token::NETWORK_CONTEXT_DOMAIN,
        custody_seal::NETWORK_CONTEXT_DOMAIN
    );
    for descriptor in [
        "asn:64500",
        "asn:1",
        "prefix:203.0.113.0/24",
        "prefix:2001:db8::/32",
        ":",
        "asn:64500 ",
        "prefix:é",
    ] {
        let token = TokenContext::from_descriptor(descriptor);
        let seal = SealContext::from_descriptor(descriptor);
        assert_eq!(token.hash().unwrap(), seal.0, "{descriptor}");
        // Each crate's printed form is read by the other.
        assert_eq!(token.as_str(), seal.to_base64url());
        assert_eq!(
            TokenContext::from_descriptor_or_hash(&seal.to_string()),
            Some(token.clone())
        );
        assert_eq!(
            SealContext::from_descriptor_or_hash(token.as_str()),
            Some(seal)
        );
        agree(descriptor);
    }
    // A known answer, so both cannot drift together.
    assert_eq!(
        TokenContext::from_descriptor("asn:64500").as_str(),
        "PoJWxr3d85peY6Ewzmx9r_Ha25BePWmTsEAl6byWg64"
    );
}

#[test]
fn both_crates_refuse_the_same_non_contexts() {
    let hex64 = "ab".repeat(32);
    for text in [
        "AS64500",
        "",
        "zz".repeat(32).as_str(),
        hex64.get(..63).unwrap(),
        "PoJWxr3d85peY6Ewzmx9r_Ha25BePWmTsEAl6byWg6",
        "PoJWxr3d85peY6Ewzmx9r_Ha25BePWmTsEAl6byWg64=",
        "PoJWxr3d85peY6Ewzmx9r/Ha25BePWmTsEAl6byWg64",
    ] {
        assert_eq!(
            TokenContext::from_descriptor_or_hash(text),
            None,
            "{text:?}"
        );
        assert_eq!(SealContext::from_descriptor_or_hash(text), None, "{text:?}");
    }
    agree(&hex64);
    agree(&hex64.to_uppercase());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, .. ProptestConfig::default() })]

    #[test]
    fn any_text_is_read_alike(text in "[a-zA-Z0-9:/._+=-]{0,70}") {
        agree(&text);
    }

    #[test]
    fn any_hash_round_trips_through_both(bytes in any::<[u8; 32]>()) {
        let token = TokenContext::from_hash(bytes);
        let seal = SealContext(bytes);
        prop_assert_eq!(token.as_str(), seal.to_base64url());
        agree(token.as_str());
        agree(&seal.to_string());
    }
}
