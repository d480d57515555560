//! Security tests of the Token Authority (issue 3). Each attack is refused by custody
//! and, beside it, shown to succeed against the unsafe variant (a bearer-only check,
//! a forgetful replay cache, a header-trusting verifier...), so no test is vacuous.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns: failures should stop the test loudly"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use custody_token::replay::{ProofId, ReplayCacheError, ReplayStatus};
use custody_token::{
    IssueRequest, NetworkContext, NetworkPolicy, ProofRequest, RefreshError, ReplayCache,
    RevocationReceipt, SubjectKind, Timestamp, TokenClass, Verifier, VerifierConfig, VerifyError,
    create_proof,
};
use hmac::Mac as _;

#[test]
fn legitimate_request_is_accepted_for_every_class() {
    let mut fx = Fixture::new(1);
    for class in TokenClass::ALL {
        let client = fx.client(class, "alice", "acme", "asn:64500");
        let verified = fx.legit(&client, class).unwrap();
        assert_eq!(verified.claims().cls, class);
        assert_eq!(verified.claims().cnf.jkt, client.key.thumbprint());
        assert_eq!(
            verified.claims().exp - verified.claims().iat,
            class.max_lifetime().as_secs()
        );
    }
}

#[test]
fn token_copied_without_its_key_is_refused() {
    let mut fx = Fixture::new(2);
    let victim = fx.client(TokenClass::CustomerAdmin, "admin", "acme", "asn:64500");
    let stolen = victim.issued.access_token.expose_secret().to_owned();
    let attacker = custody_token::Ed25519KeyPair::generate(&mut fx.rng);
    let proof = fx.proof(&attacker, "GET", URL, &stolen);
    assert_eq!(
        fx.verify(
            TokenClass::CustomerAdmin,
            "GET",
            URL,
            &stolen,
            &proof,
            &victim.network
        )
        .unwrap_err(),
        VerifyError::ProofKeyMismatch
    );
    // No proof at all: there is no bearer mode.
    assert_eq!(
        fx.verify(
            TokenClass::CustomerAdmin,
            "GET",
            URL,
            &stolen,
            "",
            &victim.network
        )
        .unwrap_err(),
        VerifyError::ProofMalformed
    );
    // A proof that claims the victim's key but is signed by the attacker.
    let (header, claims) = decode_parts(&proof);
    let mut header = header;
    header["jwk"] = victim.key.public_jwk().to_json();
    let forged = sign_raw(&attacker, &header, &claims);
    assert_eq!(
        fx.verify(
            TokenClass::CustomerAdmin,
            "GET",
            URL,
            &stolen,
            &forged,
            &victim.network
        )
        .unwrap_err(),
        VerifyError::ProofBadSignature
    );
    // Unsafe variant: a bearer-only verifier takes the stolen token.
    assert!(bearer_only_accepts(
        &fx.authority.key_set(),
        &stolen,
        fx.now
    ));
}

/// A replay cache that never remembers: the unsafe variant of the replay check.
struct ForgetfulCache;

impl ReplayCache for ForgetfulCache {
    fn check_and_insert(
        &self,
        _: &ProofId,
        _: Timestamp,
        _: Timestamp,
    ) -> Result<ReplayStatus, ReplayCacheError> {
        Ok(ReplayStatus::Fresh)
    }
}

#[test]
fn replayed_proof_is_refused_and_the_cache_is_what_blocks_it() {
    let mut fx = Fixture::new(3);
    let client = fx.client(TokenClass::SupportAgent, "agent", "acme", "asn:64500");
    let token = client.issued.access_token.expose_secret().to_owned();
    let proof = fx.proof(&client.key, "GET", URL, &token);
    let verify = |fx: &Fixture| {
        fx.verify(
            TokenClass::SupportAgent,
            "GET",
            URL,
            &token,
            &proof,
            &client.network,
        )
    };
    verify(&fx).unwrap();
    assert_eq!(verify(&fx).unwrap_err(), VerifyError::ProofReplayed);
    // Still refused at the very end of the window (iat + 60 s)...
    fx.now = fx.now.saturating_add(Duration::from_secs(60));
    fx.verifier.confirm_revocations(0, fx.now).unwrap();
    assert_eq!(verify(&fx).unwrap_err(), VerifyError::ProofReplayed);
    // ...and after it, by age.
    fx.now = fx.now.saturating_add(Duration::from_millis(1));
    fx.verifier.confirm_revocations(0, fx.now).unwrap();
    assert_eq!(verify(&fx).unwrap_err(), VerifyError::ProofTooOld);

    // Unsafe variant: the same node with a forgetful cache accepts the replay.
    let fx2 = Fixture::new(3);
    let forgetful = Verifier::new(
        VerifierConfig::new(ISSUER),
        fx2.authority.key_set(),
        Arc::new(ForgetfulCache),
        fx2.nonces.clone(),
    );
    forgetful.confirm_revocations(0, fx2.now).unwrap();
    let request = custody_token::Request {
        required_class: TokenClass::SupportAgent,
        method: "GET",
        url: URL,
        access_token: &token,
        proof: &proof,
        network: &client.network,
    };
    assert!(forgetful.verify(&request, fx2.now).is_ok());
    assert!(
        forgetful.verify(&request, fx2.now).is_ok(),
        "replay passes without the cache"
    );
}

#[test]
fn token_from_another_network_context_is_refused_under_strict_policy() {
    let elsewhere = NetworkContext::from_descriptor("asn:666");
    for (policy, service_accepted) in [
        (NetworkPolicy::Strict, false),
        (NetworkPolicy::Lenient, true),
    ] {
        let mut fx = Fixture::with_policy(4, policy);
        let service = fx.client(TokenClass::ServiceAccount, "svc", "acme", "asn:64500");
        let token = service.issued.access_token.expose_secret().to_owned();
        let proof = fx.proof(&service.key, "GET", URL, &token);
        let outcome = fx.verify(
            TokenClass::ServiceAccount,
            "GET",
            URL,
            &token,
            &proof,
            &elsewhere,
        );
        match (service_accepted, outcome) {
            (true, Ok(_)) => {} // the lenient (unsafe for this attack) variant accepts
            (
                false,
                Err(VerifyError::NetworkContextMismatch {
                    session_to_end: None,
                }),
            ) => {}
            (_, other) => panic!("{policy:?}: unexpected {other:?}"),
        }
        // Admin and agent sessions end on any change, whatever the policy.
        for class in [TokenClass::CustomerAdmin, TokenClass::SupportAgent] {
            let client = fx.client(class, "human", "acme", "asn:64500");
            let token = client.issued.access_token.expose_secret().to_owned();
            let proof = fx.proof(&client.key, "GET", URL, &token);
            let err = fx
                .verify(class, "GET", URL, &token, &proof, &elsewhere)
                .unwrap_err();
            assert_eq!(
                err,
                VerifyError::NetworkContextMismatch {
                    session_to_end: Some(client.issued.claims.sid.clone())
                }
            );
            // Ending it (as the server does on this error) refuses the token everywhere,
            // even back on its own network.
            let VerifyError::NetworkContextMismatch {
                session_to_end: Some(sid),
            } = err
            else {
                unreachable!()
            };
            fx.authority
                .revoke(custody_token::SubjectKind::Session, &sid, fx.now)
                .unwrap();
            fx.sync();
            assert_eq!(
                fx.legit(&client, class).unwrap_err(),
                VerifyError::Revoked {
                    kind: custody_token::SubjectKind::Session
                }
            );
        }
    }
}

#[test]
fn revoked_token_is_refused_for_every_subject_kind_with_a_signed_receipt() {
    for kind in SubjectKind::ALL {
        let mut fx = Fixture::new(5);
        let client = fx.client(TokenClass::CustomerAdmin, "alice", "acme", "asn:64500");
        let bystander = fx.client(TokenClass::SupportAgent, "bob", "other", "asn:64501");
        let claims = client.issued.claims.clone();
        let subject = match kind {
            SubjectKind::TokenId => claims.jti.clone(),
            SubjectKind::Session => claims.sid.clone(),
            SubjectKind::Principal => claims.sub.clone(),
            SubjectKind::Device => claims.cnf.jkt.as_str().to_owned(),
            SubjectKind::Tenant => claims.tenant.clone(),
            SubjectKind::Class => claims.cls.as_str().to_owned(),
        };
        fx.now = fx.now.saturating_add(Duration::from_millis(300));
        let (entry, receipt) = fx.authority.revoke(kind, &subject, fx.now).unwrap();
        // Counterpart: a node that has not applied the entry yet still accepts.
        fx.verifier.confirm_revocations(0, fx.now).unwrap();
        fx.legit(&client, TokenClass::CustomerAdmin).unwrap();
        fx.sync();
        assert_eq!(
            fx.legit(&client, TokenClass::CustomerAdmin).unwrap_err(),
            VerifyError::Revoked { kind },
            "{kind}"
        );
        fx.legit(&bystander, TokenClass::SupportAgent).unwrap();
        // The receipt is signed, covers exactly this entry, and resists tampering.
        let covered = receipt.verify(&fx.authority.key_set()).unwrap();
        assert_eq!(covered, entry);
        assert_eq!(covered.kind, kind);
        let mut tampered = receipt.as_str().to_owned().into_bytes();
        let mid = tampered.len() / 2;
        tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
        let tampered = RevocationReceipt::from_compact(&String::from_utf8(tampered).unwrap());
        assert!(tampered.verify(&fx.authority.key_set()).is_err());
    }
}

#[test]
fn revocation_epoch_boundary_is_the_issue_second() {
    let mut fx = Fixture::new(6);
    let before = fx.client(TokenClass::CustomerAdmin, "alice", "acme", "asn:64500");
    fx.now = fx.now.saturating_add(Duration::from_millis(999));
    let same_second = fx.client(TokenClass::CustomerAdmin, "alice", "acme", "asn:64500");
    fx.authority
        .revoke(SubjectKind::Principal, "alice", fx.now)
        .unwrap();
    fx.now = fx.now.saturating_add(Duration::from_millis(1));
    let after = fx.client(TokenClass::CustomerAdmin, "alice", "acme", "asn:64500");
    fx.sync();
    let principal = VerifyError::Revoked {
        kind: SubjectKind::Principal,
    };
    assert_eq!(
        fx.legit(&before, TokenClass::CustomerAdmin).unwrap_err(),
        principal
    );
    assert_eq!(
        fx.legit(&same_second, TokenClass::CustomerAdmin)
            .unwrap_err(),
        principal
    );
    fx.legit(&after, TokenClass::CustomerAdmin).unwrap();
}

#[test]
fn stale_verifier_refuses_every_token_and_says_so() {
    let mut fx = Fixture::new(7);
    let client = fx.client(TokenClass::CustomerAdmin, "alice", "acme", "asn:64500");
    // Exactly tau_max after the last confirmation: still fresh (counterpart).
    fx.now = fx.now.saturating_add(Duration::from_millis(1000));
    fx.legit(&client, TokenClass::CustomerAdmin).unwrap();
    fx.now = fx.now.saturating_add(Duration::from_millis(1));
    assert_eq!(
        fx.legit(&client, TokenClass::CustomerAdmin).unwrap_err(),
        VerifyError::StaleRevocationState {
            age_ms: Some(1001),
            tau_max_ms: 1000
        }
    );
    let message = fx
        .legit(&client, TokenClass::CustomerAdmin)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("stale") && message.contains("refusing every token"),
        "{message}"
    );
    // A confirmation dated in the future (clock stepped back, bogus feed) vouches for
    // nothing; the counterpart dated now is fresh.
    let now = fx.now;
    fx.verifier
        .confirm_revocations(0, now.saturating_add(Duration::from_secs(30)))
        .unwrap();
    assert!(matches!(
        fx.legit(&client, TokenClass::CustomerAdmin),
        Err(VerifyError::StaleRevocationState { age_ms: None, .. })
    ));
    fx.now = now.saturating_add(Duration::from_secs(30));
    fx.legit(&client, TokenClass::CustomerAdmin).unwrap();
    fx.now = fx.now.saturating_add(Duration::from_secs(2));
    // A node that missed an entry cannot confirm freshness, so it stays stale.
    fx.authority
        .revoke(SubjectKind::TokenId, "x", fx.now)
        .unwrap();
    fx.authority
        .revoke(SubjectKind::TokenId, "y", fx.now)
        .unwrap();
    let entries = fx.authority.revocations().entries_after(0).unwrap();
    assert!(
        fx.verifier.apply_revocation(&entries[1]).is_err(),
        "gap refused"
    );
    assert!(fx.verifier.confirm_revocations(2, fx.now).is_err());
    assert!(matches!(
        fx.legit(&client, TokenClass::CustomerAdmin),
        Err(VerifyError::StaleRevocationState { .. })
    ));
    // A node never confirmed refuses from the start.
    let fresh = Verifier::new(
        VerifierConfig::new(ISSUER),
        fx.authority.key_set(),
        Arc::new(custody_token::MemoryReplayCache::new(16)),
        fx.nonces.clone(),
    );
    let token = client.issued.access_token.expose_secret().to_owned();
    let proof = fx.proof(&client.key, "GET", URL, &token);
    let request = custody_token::Request {
        required_class: TokenClass::CustomerAdmin,
        method: "GET",
        url: URL,
        access_token: &token,
        proof: &proof,
        network: &client.network,
    };
    assert_eq!(
        fresh.verify(&request, fx.now).unwrap_err(),
        VerifyError::StaleRevocationState {
            age_ms: None,
            tau_max_ms: 1000
        }
    );
}

#[test]
fn cross_class_use_is_refused_whatever_the_other_claims() {
    let mut fx = Fixture::new(8);
    for issued in TokenClass::ALL {
        let client = fx.client(issued, "p", "acme", "asn:64500");
        for required in TokenClass::ALL {
            let outcome = fx.legit(&client, required);
            if issued == required {
                outcome.unwrap();
            } else {
                assert_eq!(
                    outcome.unwrap_err(),
                    VerifyError::WrongClass {
                        required,
                        presented: issued
                    }
                );
            }
        }
    }
    // A token whose class and audience disagree (signed by the real key) is refused
    // both ways: `cls` and `aud` must each match the endpoint's class.
    let client = fx.client(TokenClass::SupportAgent, "p", "acme", "asn:64500");
    let (header, mut claims) = decode_parts(client.issued.access_token.expose_secret());
    claims["aud"] = TokenClass::CustomerAdmin.audience().into();
    let mixed = sign_raw(&fx.authority_key, &header, &claims);
    let proof = fx.proof(&client.key, "GET", URL, &mixed);
    assert_eq!(
        fx.verify(
            TokenClass::CustomerAdmin,
            "GET",
            URL,
            &mixed,
            &proof,
            &client.network
        )
        .unwrap_err(),
        VerifyError::WrongClass {
            required: TokenClass::CustomerAdmin,
            presented: TokenClass::SupportAgent
        }
    );
    let proof = fx.proof(&client.key, "GET", URL, &mixed);
    assert_eq!(
        fx.verify(
            TokenClass::SupportAgent,
            "GET",
            URL,
            &mixed,
            &proof,
            &client.network
        )
        .unwrap_err(),
        VerifyError::WrongAudience
    );
    // Unsafe variant: a bearer check does not look at the class at all.
    assert!(bearer_only_accepts(&fx.authority.key_set(), &mixed, fx.now));
}

#[test]
fn reused_refresh_token_kills_its_family_and_session() {
    // Counterpart: a legitimate chain of rotations works.
    let mut fx = Fixture::new(9);
    let client = fx.client(TokenClass::CustomerAdmin, "alice", "acme", "asn:64500");
    let refresh_proof = |fx: &mut Fixture| {
        let nonce = fx.nonces.issue(fx.now).unwrap();
        let text = create_proof(
            &client.key,
            &ProofRequest {
                method: "POST",
                url: "https://custody.example/token",
                access_token: None,
                nonce: Some(&nonce),
            },
            fx.now,
            &mut fx.rng,
        )
        .unwrap();
        let expectation = custody_token::ProofExpectation {
            method: "POST",
            url: "https://custody.example/token",
            access_token_hash: None,
            require_nonce: true,
            jkt: None,
        };
        fx.verifier
            .proofs()
            .verify(&text, &expectation, fx.now)
            .unwrap()
    };
    let r1 = client.issued.refresh_token.clone().unwrap();
    let p = refresh_proof(&mut fx);
    let second = fx
        .authority
        .refresh(r1.expose_secret(), &p, &client.network, fx.now, &mut fx.rng)
        .unwrap();
    let r2 = second.refresh_token.clone().unwrap();
    assert_ne!(r1, r2);
    assert_eq!(second.claims.sid, client.issued.claims.sid);
    assert_eq!(second.claims.cnf.jkt, client.key.thumbprint());
    let p = refresh_proof(&mut fx);
    let third = fx
        .authority
        .refresh(r2.expose_secret(), &p, &client.network, fx.now, &mut fx.rng)
        .unwrap();

    // Reuse of r1 (already rotated): the whole family dies, with a receipt.
    let p = refresh_proof(&mut fx);
    let reuse = fx
        .authority
        .refresh(r1.expose_secret(), &p, &client.network, fx.now, &mut fx.rng);
    let Err(RefreshError::Reused { receipt }) = reuse else {
        panic!("reuse not detected: {reuse:?}")
    };
    let covered = receipt.verify(&fx.authority.key_set()).unwrap();
    assert_eq!(covered.kind, SubjectKind::Session);
    assert_eq!(covered.subject, client.issued.claims.sid);
    let r3 = third.refresh_token.clone().unwrap();
    let p = refresh_proof(&mut fx);
    assert!(matches!(
        fx.authority
            .refresh(r3.expose_secret(), &p, &client.network, fx.now, &mut fx.rng),
        Err(RefreshError::FamilyRevoked)
    ));
    // Access tokens of the session are refused once nodes apply the entry.
    fx.sync();
    let holder = Client {
        key: client.key.clone(),
        network: client.network.clone(),
        issued: third,
    };
    assert_eq!(
        fx.legit(&holder, TokenClass::CustomerAdmin).unwrap_err(),
        VerifyError::Revoked {
            kind: SubjectKind::Session
        }
    );
}

#[test]
fn refresh_is_bound_to_key_and_network() {
    let mut fx = Fixture::new(10);
    let client = fx.client(TokenClass::SupportAgent, "bob", "acme", "asn:64500");
    let r1 = client.issued.refresh_token.clone().unwrap();
    let thief = custody_token::Ed25519KeyPair::generate(&mut fx.rng);
    let nonce = fx.nonces.issue(fx.now).unwrap();
    let url = "https://custody.example/token";
    let make = |fx: &mut Fixture, key: &custody_token::Ed25519KeyPair| {
        let text = create_proof(
            key,
            &ProofRequest {
                method: "POST",
                url,
                access_token: None,
                nonce: Some(&nonce),
            },
            fx.now,
            &mut fx.rng,
        )
        .unwrap();
        let expectation = custody_token::ProofExpectation {
            method: "POST",
            url,
            access_token_hash: None,
            require_nonce: true,
            jkt: None,
        };
        fx.verifier
            .proofs()
            .verify(&text, &expectation, fx.now)
            .unwrap()
    };
    let p = make(&mut fx, &thief);
    assert!(matches!(
        fx.authority
            .refresh(r1.expose_secret(), &p, &client.network, fx.now, &mut fx.rng),
        Err(RefreshError::KeyMismatch)
    ));
    let p = make(&mut fx, &client.key);
    let other = NetworkContext::from_descriptor("asn:1");
    let outcome = fx
        .authority
        .refresh(r1.expose_secret(), &p, &other, fx.now, &mut fx.rng);
    assert!(
        matches!(
            outcome,
            Err(RefreshError::NetworkChanged { receipt: Some(_) })
        ),
        "{outcome:?}"
    );
    // The agent session ended: even the right key and network cannot refresh now.
    let p = make(&mut fx, &client.key);
    assert!(
        fx.authority
            .refresh(r1.expose_secret(), &p, &client.network, fx.now, &mut fx.rng)
            .is_err()
    );
    // A principal revocation also ends refresh families created before it.
    let admin = fx.client(TokenClass::CustomerAdmin, "carol", "acme", "asn:64500");
    fx.authority
        .revoke(SubjectKind::Principal, "carol", fx.now)
        .unwrap();
    let p = make(&mut fx, &admin.key);
    assert!(matches!(
        fx.authority.refresh(
            admin.issued.refresh_token.as_ref().unwrap().expose_secret(),
            &p,
            &admin.network,
            fx.now,
            &mut fx.rng
        ),
        Err(RefreshError::Revoked {
            kind: SubjectKind::Principal
        })
    ));
}

#[test]
fn expired_and_not_yet_valid_tokens_are_refused() {
    let mut fx = Fixture::new(11);
    let client = fx.client(TokenClass::ServiceAccount, "svc", "acme", "asn:64500");
    let exp = Timestamp::from_unix_secs(client.issued.claims.exp);
    // Counterpart: one millisecond before expiry it is accepted.
    fx.now = exp.saturating_sub(Duration::from_millis(1));
    fx.verifier.confirm_revocations(0, fx.now).unwrap();
    fx.legit(&client, TokenClass::ServiceAccount).unwrap();
    fx.now = exp;
    fx.verifier.confirm_revocations(0, fx.now).unwrap();
    assert_eq!(
        fx.legit(&client, TokenClass::ServiceAccount).unwrap_err(),
        VerifyError::Expired
    );

    // Issued 10 s in the future (beyond the 2 s leeway): not yet valid.
    let mut fx = Fixture::new(12);
    let future_now = fx.now;
    fx.now = fx.now.saturating_add(Duration::from_secs(10));
    let client = fx.client(TokenClass::ServiceAccount, "svc", "acme", "asn:64500");
    fx.now = future_now;
    assert_eq!(
        fx.legit(&client, TokenClass::ServiceAccount).unwrap_err(),
        VerifyError::NotYetValid
    );
    // Unsafe variant: the bearer check (exp only) takes it.
    assert!(bearer_only_accepts(
        &fx.authority.key_set(),
        client.issued.access_token.expose_secret(),
        fx.now
    ));

    // A token signed with a lifetime above its class cap is refused by the verifier too.
    let (header, mut claims) = decode_parts(client.issued.access_token.expose_secret());
    claims["iat"] = fx.now.unix_secs().into();
    claims["exp"] = (fx.now.unix_secs() + 3600).into();
    let long = sign_raw(&fx.authority_key, &header, &claims);
    let proof = fx.proof(&client.key, "GET", URL, &long);
    assert_eq!(
        fx.verify(
            TokenClass::ServiceAccount,
            "GET",
            URL,
            &long,
            &proof,
            &client.network
        )
        .unwrap_err(),
        VerifyError::LifetimeExceedsClass
    );
    // And the authority refuses to issue one.
    let request = IssueRequest {
        class: TokenClass::ServiceAccount,
        subject: "svc".into(),
        tenant: "acme".into(),
        client_id: "c".into(),
        jkt: client.key.thumbprint(),
        network: client.network.clone(),
        lifetime: Some(Duration::from_secs(301)),
        with_refresh: false,
    };
    assert!(fx.authority.issue(&request, fx.now, &mut fx.rng).is_err());
}

/// The UNSAFE counterpart for algorithm attacks: a verifier that lets the header pick
/// the algorithm and the key (as vulnerable JWT libraries did).
fn header_trusting_accepts(keys: &custody_token::KeySet, token: &str) -> bool {
    let (header, _) = decode_parts(token);
    let parts: Vec<&str> = token.split('.').collect();
    let input = format!("{}.{}", parts[0], parts[1]);
    let sig = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, parts[2])
        .unwrap_or_default();
    match header["alg"].as_str() {
        Some("none") => true,
        Some("HS256") => {
            let key = keys
                .key(header["kid"].as_str().unwrap_or_default())
                .unwrap();
            let secret = key.to_json()["x"].as_str().unwrap().to_owned();
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(input.as_bytes());
            mac.verify_slice(&sig).is_ok()
        }
        Some("EdDSA") if header.get("jwk").is_some() => {
            // Trusts the key embedded in the token's own header.
            let jwk = custody_token::PublicJwk::from_json(&header["jwk"]).unwrap();
            let x: [u8; 32] = base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                jwk.to_json()["x"].as_str().unwrap(),
            )
            .unwrap()
            .try_into()
            .unwrap();
            let vk = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
            let sig: [u8; 64] = sig.as_slice().try_into().unwrap_or([0; 64]);
            vk.verify_strict(
                input.as_bytes(),
                &ed25519_dalek::Signature::from_bytes(&sig),
            )
            .is_ok()
        }
        _ => false,
    }
}

#[test]
fn alg_none_and_key_confusion_tokens_are_refused() {
    let mut fx = Fixture::new(13);
    let client = fx.client(TokenClass::CustomerAdmin, "alice", "acme", "asn:64500");
    let (header, claims) = decode_parts(client.issued.access_token.expose_secret());
    let keys = fx.authority.key_set();
    let kid = header["kid"].as_str().unwrap().to_owned();
    let encode = |h: &serde_json::Value, c: &serde_json::Value| {
        format!(
            "{}.{}",
            b64(h.to_string().as_bytes()),
            b64(c.to_string().as_bytes())
        )
    };

    // alg=none, empty signature and a dummy 64-byte one.
    let none_header = serde_json::json!({"typ": "at+jwt", "alg": "none", "kid": kid});
    let none_empty = format!("{}.", encode(&none_header, &claims));
    let none_padded = format!("{}.{}", encode(&none_header, &claims), b64(&[0; 64]));
    // HS256 with the public key as HMAC secret (key confusion).
    let hs_header = serde_json::json!({"typ": "at+jwt", "alg": "HS256", "kid": kid});
    let input = encode(&hs_header, &claims);
    let secret = keys.key(&kid).unwrap().to_json()["x"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    let hs256 = format!("{input}.{}", b64(&mac.finalize().into_bytes()));
    // EdDSA signed by the attacker, with the attacker's key embedded in the header.
    let attacker = custody_token::Ed25519KeyPair::generate(&mut fx.rng);
    let embedded = sign_raw(
        &attacker,
        &serde_json::json!({"typ": "at+jwt", "alg": "EdDSA", "jwk": attacker.public_jwk().to_json()}),
        &claims,
    );
    // EdDSA signed by the attacker under the authority's kid.
    let wrong_key = sign_raw(&attacker, &header, &claims);

    let cases = [
        (&none_empty, VerifyError::AlgorithmNotAllowed, true),
        (&none_padded, VerifyError::AlgorithmNotAllowed, true),
        (&hs256, VerifyError::AlgorithmNotAllowed, true),
        (&embedded, VerifyError::TokenMalformed, true),
        (&wrong_key, VerifyError::BadSignature, false),
    ];
    for (token, expected, unsafe_accepts) in cases {
        let proof = fx.proof(&client.key, "GET", URL, token);
        assert_eq!(
            fx.verify(
                TokenClass::CustomerAdmin,
                "GET",
                URL,
                token,
                &proof,
                &client.network
            )
            .unwrap_err(),
            expected
        );
        assert_eq!(
            header_trusting_accepts(&keys, token),
            unsafe_accepts,
            "{expected:?}"
        );
    }
}

#[test]
fn proof_must_match_method_url_token_time_and_nonce() {
    let mut fx = Fixture::new(14);
    let agent = fx.client(TokenClass::SupportAgent, "agent", "acme", "asn:64500");
    let token = agent.issued.access_token.expose_secret().to_owned();
    let other = fx.client(TokenClass::SupportAgent, "agent", "acme", "asn:64500");
    let other_token = other.issued.access_token.expose_secret().to_owned();
    let nonce = fx.nonces.issue(fx.now).unwrap();
    let now = fx.now;
    let make = |fx: &mut Fixture,
                method: &str,
                url: &str,
                tok: Option<&str>,
                nonce: Option<&str>,
                at: Timestamp| {
        create_proof(
            &agent.key,
            &ProofRequest {
                method,
                url,
                access_token: tok,
                nonce,
            },
            at,
            &mut fx.rng,
        )
        .unwrap()
    };
    let check = |fx: &Fixture, proof: &str| {
        fx.verify(
            TokenClass::SupportAgent,
            "GET",
            URL,
            &token,
            proof,
            &agent.network,
        )
    };
    let cases = [
        (
            make(&mut fx, "POST", URL, Some(&token), Some(&nonce), now),
            VerifyError::ProofMethodMismatch,
        ),
        (
            make(
                &mut fx,
                "GET",
                "https://api.custody.example/v1/artifacts/43",
                Some(&token),
                Some(&nonce),
                now,
            ),
            VerifyError::ProofUrlMismatch,
        ),
        (
            make(&mut fx, "GET", URL, Some(&other_token), Some(&nonce), now),
            VerifyError::ProofTokenHashMismatch,
        ),
        (
            make(&mut fx, "GET", URL, None, Some(&nonce), now),
            VerifyError::ProofTokenHashMismatch,
        ),
        (
            make(
                &mut fx,
                "GET",
                URL,
                Some(&token),
                Some(&nonce),
                now.saturating_sub(Duration::from_secs(61)),
            ),
            VerifyError::ProofTooOld,
        ),
        (
            make(
                &mut fx,
                "GET",
                URL,
                Some(&token),
                Some(&nonce),
                now.saturating_add(Duration::from_secs(11)),
            ),
            VerifyError::ProofFromFuture,
        ),
        (
            make(&mut fx, "GET", URL, Some(&token), None, now),
            VerifyError::ProofNonceMissing,
        ),
        (
            make(
                &mut fx,
                "GET",
                URL,
                Some(&token),
                Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                now,
            ),
            VerifyError::ProofNonceInvalid,
        ),
    ];
    for (proof, expected) in cases {
        assert_eq!(check(&fx, &proof).unwrap_err(), expected);
    }
    // Counterparts at the edges: 60 s old, 10 s ahead, and URL spelled differently.
    for (url, at) in [
        (URL, now.saturating_sub(Duration::from_secs(60))),
        (URL, now.saturating_add(Duration::from_secs(10))),
        (
            "HTTPS://API.custody.example:443/v1/artifacts/42?page=2#x",
            now,
        ),
    ] {
        let proof = make(&mut fx, "GET", url, Some(&token), Some(&nonce), at);
        check(&fx, &proof).unwrap();
    }
    // The admin class needs no nonce.
    let admin = fx.client(TokenClass::CustomerAdmin, "a", "acme", "asn:64500");
    let admin_token = admin.issued.access_token.expose_secret().to_owned();
    let proof = create_proof(
        &admin.key,
        &ProofRequest {
            method: "GET",
            url: URL,
            access_token: Some(&admin_token),
            nonce: None,
        },
        now,
        &mut fx.rng,
    )
    .unwrap();
    fx.verify(
        TokenClass::CustomerAdmin,
        "GET",
        URL,
        &admin_token,
        &proof,
        &admin.network,
    )
    .unwrap();
    // Wrong typ and alg in a proof header.
    let proof = make(&mut fx, "GET", URL, Some(&token), Some(&nonce), now);
    let (mut header, claims) = decode_parts(&proof);
    header["typ"] = "jwt".into();
    let bad_typ = sign_raw(&agent.key, &header, &claims);
    assert_eq!(
        check(&fx, &bad_typ).unwrap_err(),
        VerifyError::ProofWrongType
    );
    header["typ"] = "dpop+jwt".into();
    header["alg"] = "ES256".into();
    let bad_alg = sign_raw(&agent.key, &header, &claims);
    assert_eq!(
        check(&fx, &bad_alg).unwrap_err(),
        VerifyError::ProofAlgorithmNotAllowed
    );
}

#[test]
fn key_rotation_keeps_old_tokens_valid_until_retired() {
    let mut fx = Fixture::new(15);
    let old = fx.client(TokenClass::CustomerAdmin, "alice", "acme", "asn:64500");
    let old_kid = fx.authority.key_set().kids().next().unwrap().to_owned();
    let next = custody_token::Ed25519KeyPair::generate(&mut fx.rng);
    fx.authority.keys_mut().rotate(next);
    fx.verifier.set_keys(fx.authority.key_set());
    let new = fx.client(TokenClass::CustomerAdmin, "alice", "acme", "asn:64500");
    fx.legit(&old, TokenClass::CustomerAdmin).unwrap();
    fx.legit(&new, TokenClass::CustomerAdmin).unwrap();
    fx.authority
        .keys_mut()
        .retire(&custody_token::Thumbprint::parse(&old_kid).unwrap());
    fx.verifier.set_keys(fx.authority.key_set());
    assert_eq!(
        fx.legit(&old, TokenClass::CustomerAdmin).unwrap_err(),
        VerifyError::UnknownKey
    );
    fx.legit(&new, TokenClass::CustomerAdmin).unwrap();
}

#[test]
fn no_secret_appears_in_debug_or_errors() {
    let mut fx = Fixture::new(16);
    let client = fx.client(TokenClass::SupportAgent, "agent", "acme", "asn:64500");
    let token = client.issued.access_token.expose_secret().to_owned();
    let refresh = client.issued.refresh_token.clone().unwrap();
    let signature = token.rsplit('.').next().unwrap().to_owned();
    let private = serde_json::from_str::<serde_json::Value>(&client.key.to_private_jwk_json())
        .unwrap()["d"]
        .as_str()
        .unwrap()
        .to_owned();
    let authority_private =
        serde_json::from_str::<serde_json::Value>(&fx.authority_key.to_private_jwk_json()).unwrap()
            ["d"]
            .as_str()
            .unwrap()
            .to_owned();
    let proof = fx.proof(&client.key, "GET", URL, &token);
    let mut texts = vec![
        format!("{:?}", client.issued),
        format!("{:?}", client.key),
        format!("{:?}", fx.authority),
        format!("{:?}", fx.verifier),
        format!("{:?}", fx.nonces),
        format!("{refresh:?}"),
    ];
    // Every refusal message and Debug, for a spread of failures.
    let other = NetworkContext::from_descriptor("asn:1");
    for (class, net, proof) in [
        (TokenClass::CustomerAdmin, &client.network, proof.as_str()),
        (TokenClass::SupportAgent, &other, proof.as_str()),
        (TokenClass::SupportAgent, &client.network, "garbage"),
        (TokenClass::SupportAgent, &client.network, token.as_str()),
    ] {
        let err = fx
            .verify(class, "GET", URL, &token, proof, net)
            .unwrap_err();
        texts.push(err.to_string());
        texts.push(format!("{err:?}"));
    }
    let request = custody_token::Request {
        required_class: TokenClass::SupportAgent,
        method: "GET",
        url: URL,
        access_token: &token,
        proof: &proof,
        network: &client.network,
    };
    texts.push(format!("{request:?}"));
    let reuse_err = format!("{:?}", custody_token::RefreshToken::parse("cty_rt_nope"));
    texts.push(reuse_err);
    for text in &texts {
        for secret in [
            token.as_str(),
            signature.as_str(),
            refresh.expose_secret(),
            private.as_str(),
            authority_private.as_str(),
            proof.as_str(),
        ] {
            assert!(!text.contains(secret), "secret leaked in: {text}");
        }
        assert!(
            !text.contains(signature.get(..20).unwrap()),
            "signature prefix leaked in: {text}"
        );
    }
}

#[test]
fn signature_cache_never_accepts_a_different_token() {
    let mut fx = Fixture::new(17);
    let client = fx.client(TokenClass::CustomerAdmin, "alice", "acme", "asn:64500");
    // First use caches the signature check.
    fx.legit(&client, TokenClass::CustomerAdmin).unwrap();
    let token = client.issued.access_token.expose_secret().to_owned();
    // Same signature, other claims: a different text, so a cache miss and a full check.
    let (header, mut claims) = decode_parts(&token);
    claims["tenant"] = "victim-tenant".into();
    let signature = token.rsplit('.').next().unwrap();
    let spliced = format!(
        "{}.{}.{signature}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let proof = fx.proof(&client.key, "GET", URL, &spliced);
    assert_eq!(
        fx.verify(
            TokenClass::CustomerAdmin,
            "GET",
            URL,
            &spliced,
            &proof,
            &client.network
        )
        .unwrap_err(),
        VerifyError::BadSignature
    );
    // A cached token still goes through every other check (here: class and expiry).
    assert!(matches!(
        fx.legit(&client, TokenClass::SupportAgent),
        Err(VerifyError::WrongClass { .. })
    ));
    fx.now = Timestamp::from_unix_secs(client.issued.claims.exp);
    fx.verifier.confirm_revocations(0, fx.now).unwrap();
    assert_eq!(
        fx.legit(&client, TokenClass::CustomerAdmin).unwrap_err(),
        VerifyError::Expired
    );
}

#[test]
fn concurrent_use_of_one_refresh_token_leaves_one_winner_and_kills_the_family() {
    let mut fx = Fixture::new(18);
    let client = fx.client(TokenClass::SupportAgent, "bob", "acme", "asn:64500");
    let url = "https://custody.example/token";
    let nonce = fx.nonces.issue(fx.now).unwrap();
    let mut proofs = Vec::new();
    for _ in 0..2 {
        let text = create_proof(
            &client.key,
            &ProofRequest {
                method: "POST",
                url,
                access_token: None,
                nonce: Some(&nonce),
            },
            fx.now,
            &mut fx.rng,
        )
        .unwrap();
        let expectation = custody_token::ProofExpectation {
            method: "POST",
            url,
            access_token_hash: None,
            require_nonce: true,
            jkt: None,
        };
        proofs.push(
            fx.verifier
                .proofs()
                .verify(&text, &expectation, fx.now)
                .unwrap(),
        );
    }
    let refresh = client.issued.refresh_token.clone().unwrap();
    let outcomes: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = proofs
            .iter()
            .enumerate()
            .map(|(index, proof)| {
                let (authority, refresh, network, now) =
                    (&fx.authority, &refresh, &client.network, fx.now);
                scope.spawn(move || {
                    let mut rng =
                        <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(
                            index as u64,
                        );
                    authority.refresh(refresh.expose_secret(), proof, network, now, &mut rng)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, Err(RefreshError::Reused { .. })))
            .count(),
        1
    );
    // The winner's new refresh token is dead too: the family was revoked.
    let next = winners[0].refresh_token.clone().unwrap();
    let text = create_proof(
        &client.key,
        &ProofRequest {
            method: "POST",
            url,
            access_token: None,
            nonce: Some(&nonce),
        },
        fx.now,
        &mut fx.rng,
    )
    .unwrap();
    let expectation = custody_token::ProofExpectation {
        method: "POST",
        url,
        access_token_hash: None,
        require_nonce: true,
        jkt: None,
    };
    let proof = fx
        .verifier
        .proofs()
        .verify(&text, &expectation, fx.now)
        .unwrap();
    assert!(matches!(
        fx.authority.refresh(
            next.expose_secret(),
            &proof,
            &client.network,
            fx.now,
            &mut fx.rng
        ),
        Err(RefreshError::FamilyRevoked)
    ));
}

/// A WebCrypto-style ES256 client key and its public JWK and RFC 7638 thumbprint.
fn p256_client(seed: u8) -> (p256::ecdsa::SigningKey, serde_json::Value, String) {
    use sha2::Digest as _;
    let key = p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap();
    let point = key.verifying_key().to_encoded_point(false);
    let (x, y) = (b64(point.x().unwrap()), b64(point.y().unwrap()));
    let jwk = serde_json::json!({"kty": "EC", "crv": "P-256", "x": x, "y": y});
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let jkt = b64(&sha2::Sha256::digest(canonical.as_bytes()));
    (key, jwk, jkt)
}

fn p256_proof(
    key: &p256::ecdsa::SigningKey,
    header: &serde_json::Value,
    token: &str,
    now: Timestamp,
    jti: &str,
) -> String {
    use p256::ecdsa::signature::Signer as _;
    use sha2::Digest as _;
    let claims = serde_json::json!({
        "jti": jti, "htm": "GET", "htu": URL, "iat": now.unix_secs(),
        "ath": b64(&sha2::Sha256::digest(token.as_bytes())),
    });
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature: p256::ecdsa::Signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&signature.to_bytes()))
}

#[test]
fn es256_proofs_are_accepted_only_with_their_own_algorithm() {
    let mut fx = Fixture::new(19);
    let (key, jwk, jkt) = p256_client(3);
    let network = NetworkContext::from_descriptor("asn:64500");
    let issued = fx
        .authority
        .issue(
            &IssueRequest {
                class: TokenClass::CustomerAdmin,
                subject: "alice".into(),
                tenant: "acme".into(),
                client_id: "web-console".into(),
                jkt: custody_token::Thumbprint::parse(&jkt).unwrap(),
                network: network.clone(),
                lifetime: None,
                with_refresh: false,
            },
            fx.now,
            &mut fx.rng,
        )
        .unwrap();
    let token = issued.access_token.expose_secret().to_owned();
    let es256 = serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk});
    let proof = p256_proof(&key, &es256, &token, fx.now, "es256-proof-0000001");
    fx.verify(
        TokenClass::CustomerAdmin,
        "GET",
        URL,
        &token,
        &proof,
        &network,
    )
    .unwrap();
    assert_eq!(
        fx.verify(
            TokenClass::CustomerAdmin,
            "GET",
            URL,
            &token,
            &proof,
            &network
        )
        .unwrap_err(),
        VerifyError::ProofReplayed
    );
    // Key confusion: the EC key under another algorithm name is refused.
    for alg in ["EdDSA", "HS256", "none", "ES384"] {
        let header = serde_json::json!({"typ": "dpop+jwt", "alg": alg, "jwk": jwk});
        let proof = p256_proof(
            &key,
            &header,
            &token,
            fx.now,
            &format!("confused-{alg}-000000"),
        );
        assert_eq!(
            fx.verify(
                TokenClass::CustomerAdmin,
                "GET",
                URL,
                &token,
                &proof,
                &network
            )
            .unwrap_err(),
            VerifyError::ProofAlgorithmNotAllowed,
            "{alg}"
        );
    }
    // Another P-256 key cannot prove for this token.
    let (other, other_jwk, _) = p256_client(4);
    let header = serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": other_jwk});
    let proof = p256_proof(&other, &header, &token, fx.now, "es256-proof-0000002");
    assert_eq!(
        fx.verify(
            TokenClass::CustomerAdmin,
            "GET",
            URL,
            &token,
            &proof,
            &network
        )
        .unwrap_err(),
        VerifyError::ProofKeyMismatch
    );
    // A verifier whose allow-list is EdDSA only refuses ES256 proofs.
    let mut config = VerifierConfig::new(ISSUER);
    config.proof_algorithms = vec![custody_token::ProofAlgorithm::EdDsa];
    let strict = Verifier::new(
        config,
        fx.authority.key_set(),
        Arc::new(custody_token::MemoryReplayCache::new(16)),
        fx.nonces.clone(),
    );
    strict.confirm_revocations(0, fx.now).unwrap();
    let proof = p256_proof(&key, &es256, &token, fx.now, "es256-proof-0000003");
    let request = custody_token::Request {
        required_class: TokenClass::CustomerAdmin,
        method: "GET",
        url: URL,
        access_token: &token,
        proof: &proof,
        network: &network,
    };
    assert_eq!(
        strict.verify(&request, fx.now).unwrap_err(),
        VerifyError::ProofAlgorithmNotAllowed
    );
}
