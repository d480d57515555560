//! Signed bundles through the public API: each refusal has its own error, the
//! verifier keeps its last good bundle, and an engine without one denies everything.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns: failures should stop the test loudly"
)]
#![allow(
    clippy::string_slice,
    reason = "test code cuts policy text at ASCII markers it found"
)]

use custody_policy::bundle::{BundleSignature, FORMAT};
use custody_policy::{
    Action, BundleContent, BundleError, BundleVerifier, CaseFacts, Context, Facts, PolicyEngine,
    PrincipalClass, PrincipalRef, Request, ResourceRef, SignedBundle, SigningKey, SupportMode,
    TenantFacts, TrustRoot,
};

const NOW: u64 = 1_800_000_000;
const LATER: u64 = NOW + 86_400;

fn keys() -> Vec<SigningKey> {
    (1u8..=4)
        .map(|n| SigningKey::from_secret_bytes(&[n; 32]))
        .collect()
}

/// Trust root over keys 0..3, threshold 2 (key 3 is unknown to it).
fn verifier() -> BundleVerifier {
    let root = TrustRoot::new(keys().iter().take(3).map(SigningKey::public_key), 2).unwrap();
    BundleVerifier::new(root)
}

fn signed(version: u64, signers: &[usize]) -> SignedBundle {
    let keys = keys();
    let mut bundle = SignedBundle::new(BundleContent::builtin_default(), version, LATER);
    for index in signers {
        bundle.sign(&keys[*index]);
    }
    bundle
}

fn admin_view() -> (Request, Facts) {
    let mut facts = Facts::default();
    facts.tenants.insert(
        "acme".into(),
        TenantFacts {
            support_mode: SupportMode::OnRequest,
        },
    );
    facts.cases.insert(
        "c1".into(),
        CaseFacts {
            tenant: "acme".into(),
            assigned: Default::default(),
        },
    );
    let request = Request {
        principal: PrincipalRef::customer_admin("alice", "acme"),
        action: Action::ArtifactView,
        resource: ResourceRef::Artifact {
            id: "a1".into(),
            case: "c1".into(),
            tenant: "acme".into(),
        },
        context: Context {
            now: NOW,
            session_class: Some(PrincipalClass::CustomerAdmin),
            ..Context::default()
        },
    };
    (request, facts)
}

#[test]
fn a_properly_signed_bundle_is_accepted_and_decides() {
    let mut verifier = verifier();
    let verified = verifier.accept(&signed(1, &[0, 1]), NOW).unwrap();
    assert_eq!(verified.version(), 1);
    let engine = PolicyEngine::with_bundle(verified);
    let (request, facts) = admin_view();
    let decision = engine.authorize(&request, &facts);
    assert!(decision.is_allowed(), "{decision:?}");
    assert_eq!(
        decision.diagnostics().bundle_id(),
        Some(BundleContent::builtin_default().id().as_str())
    );
    assert_eq!(
        decision.diagnostics().policies(),
        ["permit.customer-admin.artifact"]
    );
}

#[test]
fn unsigned_is_refused() {
    assert_eq!(
        verifier().verify(&signed(1, &[]), NOW).unwrap_err(),
        BundleError::Unsigned
    );
}

#[test]
fn under_signed_is_refused() {
    assert_eq!(
        verifier().verify(&signed(1, &[0]), NOW).unwrap_err(),
        BundleError::UnderSigned {
            valid: 1,
            required: 2
        }
    );
}

#[test]
fn the_same_key_twice_counts_once() {
    let mut bundle = signed(1, &[0]);
    let copy = bundle.signatures[0].clone();
    bundle.signatures.push(copy);
    assert_eq!(bundle.signatures.len(), 2);
    assert_eq!(
        verifier().verify(&bundle, NOW).unwrap_err(),
        BundleError::UnderSigned {
            valid: 1,
            required: 2
        }
    );
}

#[test]
fn a_signature_by_an_unknown_key_is_refused() {
    let bundle = signed(1, &[0, 1, 3]);
    let unknown = keys()[3].public_key().key_id();
    assert_eq!(
        verifier().verify(&bundle, NOW).unwrap_err(),
        BundleError::UnknownKey { key_id: unknown }
    );
}

#[test]
fn a_forged_signature_under_a_trusted_key_id_is_refused() {
    let mut bundle = signed(1, &[0, 1]);
    // Key 3 signs, but claims to be key 2.
    let mut forged = signed(1, &[3]).signatures.remove(0);
    forged.key_id = keys()[2].public_key().key_id();
    bundle.signatures.push(forged.clone());
    assert_eq!(
        verifier().verify(&bundle, NOW).unwrap_err(),
        BundleError::BadSignature {
            key_id: forged.key_id
        }
    );
    let mut garbage = signed(1, &[0, 1]);
    garbage.signatures.push(BundleSignature {
        key_id: keys()[2].public_key().key_id(),
        signature: "zz".into(),
    });
    assert!(matches!(
        verifier().verify(&garbage, NOW),
        Err(BundleError::BadSignature { .. })
    ));
}

#[test]
fn tampered_content_or_manifest_is_refused() {
    let mut content = signed(1, &[0, 1]);
    let guards = content
        .content
        .policies
        .get_mut("default/00-guards.cedar")
        .unwrap();
    *guards = guards.replace(">= 70", ">= 99");
    assert_eq!(
        verifier().verify(&content, NOW).unwrap_err(),
        BundleError::DigestMismatch
    );

    // Content and digest changed together: the signatures no longer match.
    content.manifest.content_sha256 = content.content.id();
    assert!(matches!(
        verifier().verify(&content, NOW),
        Err(BundleError::BadSignature { .. })
    ));

    let mut version = signed(1, &[0, 1]);
    version.manifest.version = 9;
    assert!(matches!(
        verifier().verify(&version, NOW),
        Err(BundleError::BadSignature { .. })
    ));
    let mut expiry = signed(1, &[0, 1]);
    expiry.manifest.expires_at = u64::MAX;
    assert!(matches!(
        verifier().verify(&expiry, NOW),
        Err(BundleError::BadSignature { .. })
    ));
    let mut format = signed(1, &[0, 1]);
    format.manifest.format = "other".into();
    assert!(matches!(
        verifier().verify(&format, NOW),
        Err(BundleError::Malformed { .. })
    ));
    assert_eq!(signed(1, &[]).manifest.format, FORMAT);
}

#[test]
fn expired_is_refused() {
    assert_eq!(
        verifier().verify(&signed(1, &[0, 1]), LATER).unwrap_err(),
        BundleError::Expired {
            expires_at: LATER,
            now: LATER
        }
    );
}

#[test]
fn older_or_equal_versions_are_refused_and_the_last_good_bundle_stays() {
    let mut verifier = verifier();
    verifier.accept(&signed(5, &[0, 1]), NOW).unwrap();
    for version in [5, 4, 0] {
        assert_eq!(
            verifier.accept(&signed(version, &[1, 2]), NOW).unwrap_err(),
            BundleError::Rollback {
                offered: version,
                accepted: 5
            }
        );
    }
    assert_eq!(verifier.current().unwrap().version(), 5);
    // A roll-forward of the same content as a new version is fine.
    assert_eq!(
        verifier.accept(&signed(6, &[1, 2]), NOW).unwrap().version(),
        6
    );
    let floored = BundleVerifier::with_floor(
        TrustRoot::new(keys().iter().take(3).map(SigningKey::public_key), 2).unwrap(),
        6,
    );
    assert!(matches!(
        floored.verify(&signed(6, &[0, 1]), NOW),
        Err(BundleError::Rollback { .. })
    ));
}

#[test]
fn invalid_policies_are_refused_even_when_signed() {
    let mut content = BundleContent::builtin_default();
    content.policies.insert(
        "typo.cedar".into(),
        "@id(\"typo\") permit (principal is Custody::SupportAgent, action, resource) when { principal.rank > 2 };".into(),
    );
    let mut bundle = SignedBundle::new(content, 1, LATER);
    let keys = keys();
    bundle.sign(&keys[0]);
    bundle.sign(&keys[1]);
    assert!(matches!(
        verifier().verify(&bundle, NOW),
        Err(BundleError::Invalid(_))
    ));
}

#[test]
fn bundles_whose_own_tests_fail_are_refused() {
    // A policy that lets agents read without a grant compiles, but breaks the
    // bundle's own tests ("agent without grant cannot view" and others).
    let mut content = BundleContent::builtin_default();
    let guards = content.policies.get_mut("default/00-guards.cedar").unwrap();
    let start = guards
        .find("@id(\"forbid.support-agent.no-grant.view\")")
        .unwrap();
    let end = start + guards[start..].find("};").unwrap() + 2;
    guards.replace_range(start..end, "");
    content.policies.insert(
        "open.cedar".into(),
        "@id(\"open\") permit (principal is Custody::SupportAgent, action == Custody::Action::\"artifact.view\", resource);".into(),
    );
    let mut bundle = SignedBundle::new(content, 1, LATER);
    let keys = keys();
    bundle.sign(&keys[0]);
    bundle.sign(&keys[1]);
    assert!(matches!(
        verifier().verify(&bundle, NOW),
        Err(BundleError::TestsFail(_))
    ));
}

#[test]
fn malformed_files_are_refused_with_a_location() {
    let err = SignedBundle::from_json(b"{\"manifest\": 3").unwrap_err();
    assert!(
        matches!(&err, BundleError::Malformed { reason } if reason.contains("line 1")),
        "{err}"
    );
    let text = signed(1, &[0, 1]).to_json();
    let back = SignedBundle::from_json(text.as_bytes()).unwrap();
    assert!(verifier().verify(&back, NOW).is_ok());
    let extra = text.replacen('{', "{\"extra\": 1,", 1);
    assert!(SignedBundle::from_json(extra.as_bytes()).is_err());
}

#[test]
fn trust_roots_refuse_zero_or_excessive_thresholds() {
    let publics: Vec<_> = keys().iter().map(SigningKey::public_key).collect();
    assert!(TrustRoot::new(publics.clone(), 0).is_err());
    assert!(TrustRoot::new(publics.clone(), 5).is_err());
    // The same key listed three times is one key.
    assert!(TrustRoot::new(vec![publics[0]; 3], 2).is_err());
    let root = TrustRoot::new(publics, 2).unwrap();
    assert_eq!(
        TrustRoot::from_json(&root.to_json()).unwrap().threshold(),
        2
    );
    assert!(TrustRoot::from_json("{\"threshold\":1,\"keys\":[\"00\"]}").is_err());
}

#[test]
fn with_no_bundle_everything_is_denied() {
    let engine = PolicyEngine::new();
    let (request, facts) = admin_view();
    let decision = engine.authorize(&request, &facts);
    assert!(!decision.is_allowed());
    assert_eq!(decision.diagnostics().bundle_id(), None);
    assert!(!decision.diagnostics().errors().is_empty());
}

#[test]
fn activation_swaps_for_every_clone_and_never_goes_back() {
    let mut verifier = verifier();
    let engine = PolicyEngine::new();
    let clone = engine.clone();
    let (request, facts) = admin_view();
    assert!(!clone.authorize(&request, &facts).is_allowed());
    let first = verifier.accept(&signed(1, &[0, 1]), NOW).unwrap();
    engine.activate(first.clone()).unwrap();
    assert!(clone.authorize(&request, &facts).is_allowed());
    assert_eq!(clone.bundle_version(), Some(1));
    assert!(engine.activate(first).is_err());
    let second = verifier.accept(&signed(2, &[1, 2]), NOW).unwrap();
    engine.activate(second).unwrap();
    assert_eq!(clone.bundle_version(), Some(2));
}

#[test]
fn an_active_bundle_past_its_expiry_denies() {
    let engine = PolicyEngine::with_bundle(verifier().verify(&signed(1, &[0, 1]), NOW).unwrap());
    let (mut request, facts) = admin_view();
    request.context.now = LATER;
    let decision = engine.authorize(&request, &facts);
    assert!(!decision.is_allowed());
    assert!(decision.diagnostics().errors()[0].contains("expired"));
}
