//! CLI tests for `custody device`, `custody seal` and `custody open` (issue 3, part 1).

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed step must fail the test"
)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn custody(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_custody"))
        .args(args)
        .env_remove("CUSTODY_DEVICE_DIR")
        .output()
        .unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    device: PathBuf,
    signer: PathBuf,
    input: PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let device = root.join("device");
    let out = custody(&["device", "init", "--dir", p(&device)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let signer = root.join("broker.jwk");
    let out = custody(&["device", "new-signer", "-o", p(&signer)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let input = root.join("export.har");
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(&input, body).unwrap();
    Setup {
        _tmp: tmp,
        root,
        device,
        signer,
        input,
    }
}

fn seal(s: &Setup, to: &Path, ttl: &str, out: &Path) -> Output {
    seal_in(s, to, "asn:64500", ttl, out)
}

fn seal_in(s: &Setup, to: &Path, context: &str, ttl: &str, out: &Path) -> Output {
    custody(&[
        "seal",
        "--to",
        p(to),
        "--context",
        context,
        "--ttl",
        ttl,
        "--signing-key",
        p(&s.signer),
        "--tenant",
        "tenant-acme",
        "--case",
        "case-42",
        p(&s.input),
        "-o",
        p(out),
    ])
}

fn open(s: &Setup, device: &Path, context: &str, env: &Path, out: &Path) -> Output {
    open_with(s, device, context, &[], env, out)
}

fn open_with(
    s: &Setup,
    device: &Path,
    context: &str,
    extra: &[&str],
    env: &Path,
    out: &Path,
) -> Output {
    let trust = format!("{}.pub", p(&s.signer));
    let mut args = vec![
        "open",
        "--offline",
        "--device-dir",
        p(device),
        "--trust",
        &trust,
        "--context",
        context,
    ];
    args.extend(extra);
    args.extend([p(env), "-o", p(out)]);
    custody(&args)
}

fn stdout_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn device_init_writes_private_keys_0600_and_show_prints_jwks_and_thumbprints() {
    let s = setup();
    assert_eq!(mode(&s.device.join("hpke.jwk")), 0o600);
    assert_eq!(mode(&s.device.join("pop.jwk")), 0o600);
    assert_eq!(mode(&s.signer), 0o600);
    let out = custody(&["device", "show", "--dir", p(&s.device)]);
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["hpke_jwk"]["crv"], "X25519");
    assert_eq!(doc["pop_jwk"]["crv"], "Ed25519");
    assert_eq!(doc["device_id"].as_str().unwrap().len(), 43);
    assert_eq!(doc["pop_jkt"], doc["pop_jwk"]["kid"]);
    assert!(doc["hpke_jwk"].get("d").is_none() && doc["pop_jwk"].get("d").is_none());
    // A second init never overwrites the identity.
    let again = custody(&["device", "init", "--dir", p(&s.device)]);
    assert_eq!(again.status.code(), Some(2));
}

#[test]
fn seal_then_open_round_trips() {
    let s = setup();
    let env = s.root.join("export.sealed");
    let out = seal(&s, &s.device.join("device.json"), "5m", &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plain = s.root.join("opened.har");
    let out = open(&s, &s.device, "asn:64500", &env, &plain);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("OFFLINE"));
    assert_eq!(fs::read(&plain).unwrap(), fs::read(&s.input).unwrap());
}

#[test]
fn the_command_lines_of_the_issue_work_as_written() {
    // `custody seal --to DEVICE_PUBLIC --context NETWORK_HASH --ttl 5m --signing-key KEY
    // INPUT -o OUTPUT` and `custody open --device-dir DIR INPUT -o OUTPUT` (+ the trust
    // and context it needs, and the explicit --offline).
    let s = setup();
    let hash = "ab".repeat(32);
    let env = s.root.join("issue.sealed");
    let out = custody(&[
        "seal",
        "--to",
        p(&s.device.join("device.json")),
        "--context",
        &hash,
        "--ttl",
        "5m",
        "--signing-key",
        p(&s.signer),
        p(&s.input),
        "-o",
        p(&env),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plain = s.root.join("issue.out");
    let out = open(&s, &s.device, &hash, &env, &plain);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("tenant local, case none"));
    assert_eq!(fs::read(&plain).unwrap(), fs::read(&s.input).unwrap());
}

#[test]
fn open_without_offline_flag_is_refused() {
    let s = setup();
    let env = s.root.join("e.sealed");
    assert!(seal(&s, &s.device, "5m", &env).status.success());
    let trust = format!("{}.pub", p(&s.signer));
    let out = custody(&[
        "open",
        "--device-dir",
        p(&s.device),
        "--trust",
        &trust,
        "--context",
        "asn:64500",
        p(&env),
        "-o",
        p(&s.root.join("x")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--offline"));
}

#[test]
fn wrong_device_exits_2_with_a_clear_error_and_leaves_no_output() {
    let s = setup();
    let env = s.root.join("e.sealed");
    assert!(seal(&s, &s.device, "5m", &env).status.success());
    let other = s.root.join("other-device");
    assert!(
        custody(&["device", "init", "--dir", p(&other)])
            .status
            .success()
    );
    let plain = s.root.join("opened");
    let out = open(&s, &other, "asn:64500", &env, &plain);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sealed to device") && err.contains("not to this device"),
        "{err}"
    );
    assert!(!plain.exists());
    // Control: the addressed device opens the same file.
    assert!(
        open(&s, &s.device, "asn:64500", &env, &plain)
            .status
            .success()
    );
}

#[test]
fn context_mismatch_and_tampering_leave_no_partial_plaintext() {
    let s = setup();
    let env = s.root.join("e.sealed");
    assert!(seal(&s, &s.device, "5m", &env).status.success());
    let plain = s.root.join("opened");
    let out = open(&s, &s.device, "asn:64511", &env, &plain);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("network context does not match"));
    // Flip a byte in the last chunk: earlier chunks authenticate, but nothing is kept.
    let mut bytes = fs::read(&env).unwrap();
    let last = bytes.len() - 5;
    bytes[last] ^= 1;
    fs::write(&env, bytes).unwrap();
    let out = open(&s, &s.device, "asn:64500", &env, &plain);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chunk 3 failed authentication"));
    assert!(!plain.exists());
    let leftovers: Vec<_> = fs::read_dir(&s.root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".custody-partial-")
        })
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn expired_export_is_refused() {
    let s = setup();
    let env = s.root.join("e.sealed");
    assert!(seal(&s, &s.device, "1s", &env).status.success());
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let out = open(&s, &s.device, "asn:64500", &env, &s.root.join("late"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expired"));
}

#[test]
fn readable_signing_key_is_refused() {
    let s = setup();
    fs::set_permissions(&s.signer, fs::Permissions::from_mode(0o644)).unwrap();
    let out = seal(&s, &s.device, "5m", &s.root.join("e.sealed"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
    let key = fs::read_to_string(&s.signer).unwrap();
    let d = key
        .split("\"d\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains(d));
}

#[test]
fn seal_context_and_token_net_claim_are_the_same_hash() {
    // The broker seals to the context it observed for the requester's token: the
    // descriptor, the token's `net` claim (base64url) and the hex hash are one context.
    let s = setup();
    let net = stdout_of(&custody(&["token", "context", "asn:64500"]));
    assert_eq!(net, "PoJWxr3d85peY6Ewzmx9r_Ha25BePWmTsEAl6byWg64");
    let auth = s.root.join("auth.jwk");
    stdout_of(&custody(&["token", "keygen", "-o", p(&auth)]));
    let jkt = stdout_of(&custody(&[
        "token",
        "thumbprint",
        "--key",
        p(&s.device.join("pop.jwk")),
    ]));
    let token = stdout_of(&custody(&[
        "token",
        "issue",
        "--key",
        p(&auth),
        "--class",
        "support_agent",
        "--sub",
        "agent-7",
        "--tenant",
        "tenant-acme",
        "--jkt",
        &jkt,
        "--context",
        "asn:64500",
    ]));
    let inspected: serde_json::Value =
        serde_json::from_str(&stdout_of(&custody(&["token", "inspect", &token]))).unwrap();
    let claims = inspected.get("claims").unwrap_or(&inspected);
    assert_eq!(claims["net"], net.as_str(), "{inspected}");

    let env = s.root.join("e.sealed");
    let out = seal_in(&s, &s.device, &net, "5m", &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hex = "3e8256c6bdddf39a5e63a130ce6c7daff1dadb905e3d6993b04025e9bc9683ae";
    for (i, context) in ["asn:64500", net.as_str(), hex, &hex.to_uppercase()]
        .iter()
        .enumerate()
    {
        let plain = s.root.join(format!("opened-{i}"));
        let out = open(&s, &s.device, context, &env, &plain);
        assert!(
            out.status.success(),
            "{context}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Another descriptor is another context.
    let out = open(&s, &s.device, "asn:64501", &env, &s.root.join("x"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("network context does not match"));
}

#[test]
fn a_context_that_is_neither_descriptor_nor_hash_is_refused() {
    let s = setup();
    let env = s.root.join("e.sealed");
    for bad in [
        "AS64500",
        "3e8256c6bd",
        "PoJWxr3d85peY6Ewzmx9r_Ha25BePWmTsEAl6byWg6",
    ] {
        let out = seal_in(&s, &s.device, bad, "5m", &env);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("invalid --context") && err.contains("asn:64500"),
            "{err}"
        );
        assert!(!env.exists());
    }
    assert!(seal(&s, &s.device, "5m", &env).status.success());
    let out = open(&s, &s.device, "AS64500", &env, &s.root.join("x"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid --context"));
}

#[test]
fn open_refuses_a_window_longer_than_max_window() {
    let s = setup();
    let env = s.root.join("e.sealed");
    assert!(seal(&s, &s.device, "10m", &env).status.success());
    let plain = s.root.join("opened");
    let out = open_with(
        &s,
        &s.device,
        "asn:64500",
        &["--max-window", "5m"],
        &env,
        &plain,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("validity window of 600 s exceeds this opener's maximum of 300 s"),
        "{err}"
    );
    assert!(!plain.exists());
    // Control: the default maximum (24 h) and a 10 min maximum accept it.
    assert!(
        open(&s, &s.device, "asn:64500", &env, &plain)
            .status
            .success()
    );
    let again = s.root.join("again");
    let out = open_with(
        &s,
        &s.device,
        "asn:64500",
        &["--max-window", "10m"],
        &env,
        &again,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
