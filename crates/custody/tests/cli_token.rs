//! `custody token` end to end (issue 3): keygen, jwks, issue, proof, inspect, verify,
//! in a temp dir, through the real binary. Exit codes: 0 valid, 1 refused, 2 error.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test harness outside #[test] fns: failures should stop the test loudly"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Harness {
    dir: tempfile::TempDir,
}

impl Harness {
    fn new() -> Self {
        let harness = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        harness.ok(&["keygen", "-o", "auth.jwk"]);
        harness.ok(&["keygen", "-o", "pop.jwk"]);
        harness.ok(&["keygen", "-o", "thief.jwk"]);
        let jwks = harness.ok(&["jwks", "--key", "auth.jwk"]);
        std::fs::write(harness.path("jwks.json"), jwks).unwrap();
        harness
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_custody"))
            .arg("token")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    fn context(&self, descriptor: &str) -> String {
        self.ok(&["context", descriptor])
    }

    fn issue(&self, class: &str, pop: &str, context: &str) -> String {
        let jkt = self.ok(&["thumbprint", "--key", pop]);
        self.ok(&[
            "issue",
            "--key",
            "auth.jwk",
            "--class",
            class,
            "--sub",
            "alice",
            "--tenant",
            "acme",
            "--jkt",
            &jkt,
            "--context",
            context,
        ])
    }

    fn proof(&self, pop: &str, token: &str, nonce: Option<&str>) -> String {
        let mut args = vec![
            "proof",
            "--pop-key",
            pop,
            "--method",
            "GET",
            "--url",
            URL,
            "--token",
            token,
        ];
        if let Some(nonce) = nonce {
            args.extend(["--nonce", nonce]);
        }
        self.ok(&args)
    }

    fn verify(
        &self,
        class: &str,
        proof: &str,
        context: &str,
        token: &str,
        extra: &[&str],
    ) -> (i32, String) {
        let mut args = vec![
            "verify",
            "--jwks",
            "jwks.json",
            "--class",
            class,
            "--method",
            "GET",
            "--url",
            URL,
            "--proof",
            proof,
            "--context",
            context,
        ];
        args.extend(extra);
        if !extra.contains(&"--revocations") {
            args.push("--no-revocation-feed");
        }
        args.push(token);
        let output = self.run(&args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code().unwrap(), text)
    }
}

const URL: &str = "https://api.custody.example/v1/artifacts/42";

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn issue_3_keygen_writes_0600_and_never_overwrites() {
    let h = Harness::new();
    assert_eq!(mode(&h.path("auth.jwk")), 0o600);
    let before = std::fs::read(h.path("auth.jwk")).unwrap();
    assert_eq!(h.run(&["keygen", "-o", "auth.jwk"]).status.code(), Some(2));
    assert_eq!(std::fs::read(h.path("auth.jwk")).unwrap(), before);
    // A key readable by others is refused.
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(h.path("pop.jwk"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = h.run(&["thumbprint", "--key", "pop.jwk"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("chmod 600"));
}

#[test]
fn issue_3_round_trip_valid_then_replay_class_context_and_theft_refused() {
    let h = Harness::new();
    let net = h.context("asn:64500");
    let token = h.issue("customer_admin", "pop.jwk", &net);
    let proof = h.proof("pop.jwk", &token, None);
    let (code, text) = h.verify("customer_admin", &proof, &net, &token, &[]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("valid: class=customer_admin sub=alice tenant=acme"),
        "{text}"
    );
    assert!(text.contains("revocation is NOT checked"), "{text}");
    // The descriptor is the same context as its hash (and as `custody seal --context`).
    let proof = h.proof("pop.jwk", &token, None);
    let (code, text) = h.verify("customer_admin", &proof, "asn:64500", &token, &[]);
    assert_eq!(code, 0, "{text}");

    // Another class's endpoint.
    let proof = h.proof("pop.jwk", &token, None);
    let (code, text) = h.verify("support_agent", &proof, &net, &token, &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(
            "refused: token class customer_admin is refused where support_agent is required"
        ),
        "{text}"
    );
    // Another network context: the admin session ends.
    let proof = h.proof("pop.jwk", &token, None);
    let (code, text) = h.verify("customer_admin", &proof, &h.context("asn:666"), &token, &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("network context"), "{text}");
    // The token copied without its key: the thief's proof is refused.
    let proof = h.proof("thief.jwk", &token, None);
    let (code, text) = h.verify("customer_admin", &proof, &net, &token, &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("does not match the token's bound key"),
        "{text}"
    );
    // No secret in the refusal output.
    assert!(!text.contains(&token) && !text.contains(token.rsplit('.').next().unwrap()));
}

#[test]
fn issue_3_agent_tokens_need_the_server_nonce() {
    let h = Harness::new();
    let net = h.context("asn:64500");
    let token = h.issue("support_agent", "pop.jwk", &net);
    let proof = h.proof("pop.jwk", &token, None);
    let (code, text) = h.verify("support_agent", &proof, &net, &token, &["--nonce", "n-123"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("use_dpop_nonce"), "{text}");
    let proof = h.proof("pop.jwk", &token, Some("n-999"));
    let (code, _) = h.verify("support_agent", &proof, &net, &token, &["--nonce", "n-123"]);
    assert_eq!(code, 1);
    let proof = h.proof("pop.jwk", &token, Some("n-123"));
    let (code, text) = h.verify("support_agent", &proof, &net, &token, &["--nonce", "n-123"]);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn issue_3_revocation_file_refuses_the_revoked_token() {
    let h = Harness::new();
    let net = h.context("asn:64500");
    let token = h.issue("service_account", "pop.jwk", &net);
    let inspected: serde_json::Value = serde_json::from_str(&h.ok(&["inspect", &token])).unwrap();
    let jti = inspected["claims"]["jti"].as_str().unwrap();
    let iat = inspected["claims"]["iat"].as_u64().unwrap();
    let entries = serde_json::json!([
        {"version": 1, "kind": "tenant", "subject": "other", "cutoff": iat, "issued_at_ms": iat * 1000},
        {"version": 2, "kind": "token_id", "subject": jti, "cutoff": iat, "issued_at_ms": iat * 1000},
    ]);
    std::fs::write(h.path("revocations.json"), entries.to_string()).unwrap();
    // Counterpart: only the first entry (another tenant) leaves the token valid.
    std::fs::write(
        h.path("first.json"),
        serde_json::json!([entries[0]]).to_string(),
    )
    .unwrap();
    let proof = h.proof("pop.jwk", &token, None);
    let (code, text) = h.verify(
        "service_account",
        &proof,
        &net,
        &token,
        &["--revocations", "first.json", "--nonce", "x"],
    );
    assert_eq!(code, 1, "{text}"); // service accounts need a nonce
    let proof = h.proof("pop.jwk", &token, Some("x"));
    let (code, text) = h.verify(
        "service_account",
        &proof,
        &net,
        &token,
        &["--revocations", "first.json", "--nonce", "x"],
    );
    assert_eq!(code, 0, "{text}");
    let proof = h.proof("pop.jwk", &token, Some("x"));
    let (code, text) = h.verify(
        "service_account",
        &proof,
        &net,
        &token,
        &["--revocations", "revocations.json", "--nonce", "x"],
    );
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("revoked (by token_id)"), "{text}");
    // A gap in versions is an error, never a silent pass.
    std::fs::write(
        h.path("gap.json"),
        serde_json::json!([entries[1]]).to_string(),
    )
    .unwrap();
    let (code, _) = h.verify(
        "service_account",
        &proof,
        &net,
        &token,
        &["--revocations", "gap.json", "--nonce", "x"],
    );
    assert_eq!(code, 2);
}

#[test]
fn issue_3_inspect_shows_claims_but_no_signature() {
    let h = Harness::new();
    let net = h.context("asn:64500");
    let token = h.issue("customer_admin", "pop.jwk", &net);
    let shown = h.ok(&["inspect", &token]);
    let signature = token.rsplit('.').next().unwrap();
    assert!(!shown.contains(signature));
    assert!(!shown.contains(&token));
    let value: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(value["header"]["typ"], "at+jwt");
    assert_eq!(value["claims"]["cls"], "customer_admin");
    assert_eq!(value["claims"]["net"], net.as_str());
    assert!(value["claims"]["cnf"]["jkt"].is_string());
}

#[test]
fn issue_3_bad_input_is_an_error_not_a_pass() {
    let h = Harness::new();
    let net = h.context("asn:64500");
    let jkt = h.ok(&["thumbprint", "--key", "pop.jwk"]);
    // A lifetime above the class cap (service: 300 s).
    let output = h.run(&[
        "issue",
        "--key",
        "auth.jwk",
        "--class",
        "service_account",
        "--sub",
        "s",
        "--tenant",
        "t",
        "--jkt",
        &jkt,
        "--context",
        &net,
        "--ttl",
        "301",
    ]);
    assert_eq!(output.status.code(), Some(2));
    // A context that is neither a descriptor (`kind:value`) nor a hash.
    for bad in ["AS64500", "PoJWxr3d85peY6Ewzmx9r_Ha25BePWmTsEAl6byWg6"] {
        let output = h.run(&[
            "issue",
            "--key",
            "auth.jwk",
            "--class",
            "customer_admin",
            "--sub",
            "s",
            "--tenant",
            "t",
            "--jkt",
            &jkt,
            "--context",
            bad,
        ]);
        assert_eq!(output.status.code(), Some(2), "{bad}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("--context must be"));
    }
    // Unknown class.
    assert_eq!(
        h.run(&["issue", "--key", "auth.jwk", "--class", "admin"])
            .status
            .code(),
        Some(2)
    );
    // Verify without saying how revocation is known.
    let token = h.issue("customer_admin", "pop.jwk", &net);
    let proof = h.proof("pop.jwk", &token, None);
    let output = h.run(&[
        "verify",
        "--jwks",
        "jwks.json",
        "--class",
        "customer_admin",
        "--method",
        "GET",
        "--url",
        URL,
        "--proof",
        &proof,
        "--context",
        &net,
        &token,
    ]);
    assert_eq!(output.status.code(), Some(2));
    // Garbage token: refused (exit 1), not an error and not valid.
    let (code, text) = h.verify("customer_admin", &proof, &net, "not.a.token", &[]);
    assert_eq!(code, 1, "{text}");
}

#[test]
fn issue_3_values_starting_with_a_hyphen_are_accepted() {
    // base64url thumbprints and hashes may begin with '-'.
    let h = Harness::new();
    let jkt = format!("-{}", "A".repeat(42));
    let net = format!("-{}A", "B".repeat(41));
    let token = h.ok(&[
        "issue",
        "--key",
        "auth.jwk",
        "--class",
        "customer_admin",
        "--sub",
        "s",
        "--tenant",
        "t",
        "--jkt",
        &jkt,
        "--context",
        &net,
    ]);
    let shown: serde_json::Value = serde_json::from_str(&h.ok(&["inspect", &token])).unwrap();
    assert_eq!(shown["claims"]["cnf"]["jkt"], jkt.as_str());
    assert_eq!(shown["claims"]["net"], net.as_str());
}

#[test]
fn issue_3_device_directory_pop_key_is_accepted() {
    let h = Harness::new();
    std::fs::create_dir(h.path("device")).unwrap();
    std::fs::copy(h.path("pop.jwk"), h.path("device/pop.jwk")).unwrap();
    let from_dir = h.ok(&["thumbprint", "--key", "device"]);
    assert_eq!(from_dir, h.ok(&["thumbprint", "--key", "pop.jwk"]));
}
