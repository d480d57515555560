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
    custody(&[
        "seal",
        "--to",
        p(to),
        "--context",
        "AS64500",
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
    let trust = format!("{}.pub", p(&s.signer));
    custody(&[
        "open",
        "--offline",
        "--device-dir",
        p(device),
        "--trust",
        &trust,
        "--context",
        context,
        p(env),
        "-o",
        p(out),
    ])
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
    let out = open(&s, &s.device, "AS64500", &env, &plain);
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
        "AS64500",
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
    let out = open(&s, &other, "AS64500", &env, &plain);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sealed to device") && err.contains("not to this device"),
        "{err}"
    );
    assert!(!plain.exists());
    // Control: the addressed device opens the same file.
    assert!(
        open(&s, &s.device, "AS64500", &env, &plain)
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
    let out = open(&s, &s.device, "AS64511", &env, &plain);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("network context does not match"));
    // Flip a byte in the last chunk: earlier chunks authenticate, but nothing is kept.
    let mut bytes = fs::read(&env).unwrap();
    let last = bytes.len() - 5;
    bytes[last] ^= 1;
    fs::write(&env, bytes).unwrap();
    let out = open(&s, &s.device, "AS64500", &env, &plain);
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
    let out = open(&s, &s.device, "AS64500", &env, &s.root.join("late"));
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
