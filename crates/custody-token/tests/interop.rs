//! Interop: an independent implementation (PyJWT + cryptography, from PyPI) verifies
//! one of our access tokens against our JWKS and one of our DPoP proofs, and
//! recomputes the RFC 7638 thumbprint. A tampered token must fail there too.
//!
//! If python3 or PyJWT is missing this test FAILS, unless `CUSTODY_SKIP_INTEROP=1`.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns: failures should stop the test loudly"
)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;
use custody_token::TokenClass;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/verify_pyjwt.py")
}

fn skip_requested() -> bool {
    std::env::var("CUSTODY_SKIP_INTEROP").is_ok_and(|value| value == "1")
}

#[test]
fn pyjwt_verifies_our_token_proof_and_thumbprint() {
    let probe = Command::new("python3")
        .args(["-c", "import jwt, cryptography"])
        .status();
    if !probe.is_ok_and(|status| status.success()) {
        assert!(
            skip_requested(),
            "python3 with PyJWT and cryptography is required (pip install pyjwt cryptography), \
             or set CUSTODY_SKIP_INTEROP=1"
        );
        return;
    }
    // PyJWT checks exp/iat against the real clock.
    let mut fx = Fixture::at(42, custody_token::Clock::now(&custody_token::SystemClock));
    let client = fx.client(TokenClass::SupportAgent, "agent-7", "acme", "asn:64500");
    let token = client.issued.access_token.expose_secret().to_owned();
    let proof = fx.proof(&client.key, "GET", URL, &token);
    // Our own verifier agrees.
    fx.verify(
        TokenClass::SupportAgent,
        "GET",
        URL,
        &token,
        &proof,
        &client.network,
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, fx.authority.key_set().to_jwks_json()).unwrap();
    let run = |token_text: &str| {
        let token_file = dir.path().join("token.txt");
        let proof_file = dir.path().join("proof.txt");
        std::fs::write(&token_file, token_text).unwrap();
        std::fs::write(&proof_file, &proof).unwrap();
        Command::new("python3")
            .arg(script())
            .arg(&jwks)
            .arg(&token_file)
            .arg(&proof_file)
            .args([ISSUER, TokenClass::SupportAgent.audience(), "GET", URL])
            .output()
            .unwrap()
    };
    let output = run(&token);
    assert!(
        output.status.success(),
        "PyJWT refused our token: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(r#""ok": true"#), "{stdout}");
    assert!(
        stdout.contains(client.key.thumbprint().as_str()),
        "{stdout}"
    );

    // Counterpart: change one claim (keep the signature): PyJWT must refuse.
    let (header, mut claims) = decode_parts(&token);
    claims["sub"] = "someone-else".into();
    let signature = token.rsplit('.').next().unwrap();
    let tampered = format!(
        "{}.{}.{signature}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let output = run(&tampered);
    assert!(!output.status.success(), "PyJWT accepted a tampered token");
}
