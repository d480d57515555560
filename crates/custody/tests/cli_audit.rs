//! `custody audit` end to end (issue 4): keygen, append, verify (exit codes and
//! the first bad index), prove, export + offline verify, tail filters, key rotation.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation is a test failure"
)]

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use custody_audit::checkpoint::SignedCheckpoint;
use custody_audit::merkle::{Hash, verify_inclusion};
use custody_audit::note::NoteVerifier;

const T0: i64 = 1_764_000_000_000; // 2025-11-24T16:00:00Z

fn custody(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_custody"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut pipe = child.stdin.take().unwrap();
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn events(from: usize, to: usize) -> String {
    let kinds = [
        "view",
        "download",
        "export",
        "transform",
        "unseal",
        "token_revoke",
    ];
    (from..to)
        .map(|i| {
            serde_json::json!({
                "time_ms": T0 + i as i64 * 1000,
                "kind": kinds[i % kinds.len()],
                "actor": { "principal_id": format!("agent-{}", i % 3), "principal_class": "support_agent" },
                "tenant": format!("tenant-{}", i % 2),
                "resource": { "kind": "artifact", "id": format!("art-{i}"), "digest": "sha256:00" },
                "trace_id": format!("trace-{i}"),
                "decision": "allow",
                "policy_bundle_id": "bundle-1",
                "rules_version": "rules-1",
            })
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A log of 30 events; returns (dir, log path, verifier key, key file).
fn setup() -> (tempfile::TempDir, String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k1").to_str().unwrap().to_owned();
    let log = dir.path().join("log").to_str().unwrap().to_owned();
    let o = custody(
        &["audit", "keygen", "--name", "audit.test", "-o", &key],
        None,
    );
    assert!(o.status.success(), "{o:?}");
    let vkey = stdout(&o).trim().to_owned();
    assert_eq!(
        fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let o = custody(
        &["audit", "append", "--log", &log, "--key", &key],
        Some(&events(0, 30)),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(stdout(&o).lines().last(), Some("29"));
    (dir, log, vkey, key)
}

fn seg(log: &str) -> std::path::PathBuf {
    Path::new(log).join(format!("{:020}.seg", 0))
}

#[test]
fn verify_exits_zero_on_an_intact_log_and_one_naming_the_first_bad_index() {
    let (_dir, log, vkey, _key) = setup();
    let o = custody(&["audit", "verify", "--log", &log, "--key", &vkey], None);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).starts_with("OK: 30 records"));

    // Flip one byte inside record 12's payload.
    let path = seg(&log);
    let mut bytes = fs::read(&path).unwrap();
    let mut pos = 0usize;
    for _ in 0..12 {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        pos += 16 + len;
    }
    bytes[pos + 16 + 20] ^= 0x04;
    fs::write(&path, &bytes).unwrap();
    let o = custody(&["audit", "verify", "--log", &log, "--key", &vkey], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).starts_with("FAIL: first bad index 12:"),
        "{}",
        stdout(&o)
    );
    let o = custody(
        &[
            "audit", "verify", "--log", &log, "--key", &vkey, "--format", "json",
        ],
        None,
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["first_bad_index"], 12);
    assert_eq!(v["ok"], false);
}

#[test]
fn verify_refuses_a_log_whose_genesis_key_is_not_the_pinned_one() {
    let (dir, log, _vkey, _key) = setup();
    let other = dir.path().join("k2").to_str().unwrap().to_owned();
    let o = custody(
        &["audit", "keygen", "--name", "audit.test", "-o", &other],
        None,
    );
    let other_vkey = stdout(&o).trim().to_owned();
    let o = custody(
        &["audit", "verify", "--log", &log, "--key", &other_vkey],
        None,
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
}

#[test]
fn prove_gives_an_inclusion_proof_that_verifies_against_the_signed_checkpoint() {
    let (_dir, log, vkey, _key) = setup();
    let o = custody(&["audit", "prove", "--log", &log, "--index", "17"], None);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let verifier: NoteVerifier = vkey.parse().unwrap();
    let cp = SignedCheckpoint::verify(v["checkpoint"].as_str().unwrap(), &[verifier]).unwrap();
    let h = |s: &serde_json::Value| -> Hash {
        hex::decode(s.as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap()
    };
    let proof: Vec<Hash> = v["proof"].as_array().unwrap().iter().map(h).collect();
    verify_inclusion(
        17,
        cp.checkpoint.size,
        &h(&v["leaf_hash"]),
        &proof,
        &cp.checkpoint.root,
    )
    .unwrap();
    // And not for another index.
    assert!(
        verify_inclusion(
            16,
            cp.checkpoint.size,
            &h(&v["leaf_hash"]),
            &proof,
            &cp.checkpoint.root
        )
        .is_err()
    );
    let o = custody(&["audit", "prove", "--log", &log, "--index", "30"], None);
    assert_eq!(o.status.code(), Some(2));
    // The proven checkpoint, kept by an auditor, is extended by the log.
    let kept = Path::new(&log).parent().unwrap().join("kept.checkpoint");
    fs::write(&kept, v["checkpoint"].as_str().unwrap()).unwrap();
    let o = custody(
        &[
            "audit",
            "verify",
            "--log",
            &log,
            "--key",
            &vkey,
            "--checkpoint",
            kept.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("(1 external)"));
}

#[test]
fn export_slices_verify_offline_and_edits_are_caught() {
    let (dir, log, vkey, _key) = setup();
    let out = dir.path().join("slice.jsonl");
    let o = custody(
        &[
            "audit",
            "export",
            "--log",
            &log,
            "--since",
            "2025-11-24T16:00:05Z",
            "--until",
            "2025-11-24T16:00:10Z",
            "-o",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 6);
    let o = custody(
        &[
            "audit",
            "verify",
            "--export",
            out.to_str().unwrap(),
            "--key",
            &vkey,
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    // Without a trusted key an export cannot be verified.
    let o = custody(
        &["audit", "verify", "--export", out.to_str().unwrap()],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    // Edit one event, then drop one line.
    fs::write(&out, text.replacen("art-7", "art-8", 1)).unwrap();
    let o = custody(
        &[
            "audit",
            "verify",
            "--export",
            out.to_str().unwrap(),
            "--key",
            &vkey,
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("first bad index 7"), "{}", stdout(&o));
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains("\"index\":8"))
        .collect();
    fs::write(&out, lines.join("\n")).unwrap();
    let o = custody(
        &[
            "audit",
            "verify",
            "--export",
            out.to_str().unwrap(),
            "--key",
            &vkey,
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("first bad index 9"), "{}", stdout(&o));
}

#[test]
fn tail_filters_by_tenant_actor_and_activity() {
    let (_dir, log, _vkey, _key) = setup();
    let o = custody(
        &[
            "audit",
            "tail",
            "--log",
            &log,
            "--tenant",
            "tenant-1",
            "--activity",
            "download",
            "-n",
            "100",
            "--format",
            "json",
        ],
        None,
    );
    assert!(o.status.success());
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Events i with i % 2 == 1 and i % 6 == 1: 1, 7, 13, 19, 25.
    let idx: Vec<u64> = lines.iter().map(|l| l["index"].as_u64().unwrap()).collect();
    assert_eq!(idx, vec![1, 7, 13, 19, 25]);
    for l in &lines {
        assert_eq!(l["event"]["metadata"]["tenant_uid"], "tenant-1");
        assert_eq!(l["event"]["activity_name"], "Download");
    }
    let o = custody(
        &[
            "audit", "tail", "--log", &log, "--actor", "agent-2", "-n", "2",
        ],
        None,
    );
    let text = stdout(&o);
    assert_eq!(text.lines().count(), 2);
    assert!(text.lines().all(|l| l.contains("actor=agent-2")));
    assert!(text.contains("    29 "));
    // The OCSF activity name works too, case-insensitively.
    let o = custody(
        &[
            "audit",
            "tail",
            "--log",
            &log,
            "--activity",
            "sealed export",
            "-n",
            "100",
        ],
        None,
    );
    assert_eq!(stdout(&o).lines().count(), 5);
}

#[test]
fn a_rotated_log_verifies_from_the_original_anchor() {
    let (dir, log, vkey, key) = setup();
    let k2 = dir.path().join("k2").to_str().unwrap().to_owned();
    assert!(
        custody(
            &["audit", "keygen", "--name", "audit.test", "-o", &k2],
            None
        )
        .status
        .success()
    );
    let o = custody(
        &[
            "audit",
            "rotate-key",
            "--log",
            &log,
            "--key",
            &key,
            "--new-key",
            &k2,
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The old key can no longer append.
    let o = custody(
        &["audit", "append", "--log", &log, "--key", &key],
        Some(&events(30, 31)),
    );
    assert_eq!(o.status.code(), Some(2));
    let o = custody(
        &["audit", "append", "--log", &log, "--key", &k2],
        Some(&events(30, 40)),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = custody(&["audit", "verify", "--log", &log, "--key", &vkey], None);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("40 records"));
    assert!(stdout(&o).contains("2 signing key(s)"));
}

#[test]
fn operator_mistakes_are_errors_and_never_echo_secrets() {
    let (dir, log, _vkey, key) = setup();
    // keygen does not overwrite.
    let o = custody(&["audit", "keygen", "--name", "x", "-o", &key], None);
    assert_eq!(o.status.code(), Some(2));
    // A key readable by others is refused.
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let o = custody(
        &["audit", "append", "--log", &log, "--key", &key],
        Some(&events(30, 31)),
    );
    assert_eq!(o.status.code(), Some(2));
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    // A malformed event is refused without echoing its content.
    let o = custody(
        &["audit", "append", "--log", &log, "--key", &key],
        Some("{\"time_ms\":1,\"kind\":\"view\",\"token\":\"eyJhbGciOiJIUzI1NiJ9.secret\"}"),
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("stdin line 1"));
    assert!(!err.contains("eyJhbGciOiJIUzI1NiJ9"), "{err}");
    let secret = fs::read_to_string(&key).unwrap();
    let secret_b64 = secret.trim().rsplit('+').next().unwrap().to_owned();
    // Key material never reaches output of any command.
    for args in [
        vec!["audit", "verify", "--log", &log],
        vec!["audit", "tail", "--log", &log, "-n", "50"],
    ] {
        let o = custody(&args, None);
        assert!(!stdout(&o).contains(&secret_b64));
        assert!(!String::from_utf8_lossy(&o.stderr).contains(&secret_b64));
    }
    let _ = dir;
}

/// Keeps the first `keep` frames of a frame file whose payloads pass `keep_note`
/// (records: all of the first `keep`; notes: those `keep_note` accepts),
/// re-encoding note frames so their sequence numbers stay consecutive.
fn rewrite_frames(path: &Path, keep: usize, keep_note: impl Fn(&[u8]) -> bool) {
    let bytes = fs::read(path).unwrap();
    let mut out = Vec::new();
    let (mut pos, mut kept) = (0usize, 0u64);
    while pos < bytes.len() && (kept as usize) < keep {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let payload = &bytes[pos + 16..pos + 16 + len];
        if keep_note(payload) {
            custody_audit::store::encode_frame(kept, payload, &mut out);
            kept += 1;
        }
        pos += 16 + len;
    }
    fs::write(path, out).unwrap();
}

/// Regression (issue 4, tail-deletion gap): records acknowledged after the
/// latest stored checkpoint could be deleted undetected. The append receipt
/// (a signed checkpoint per group commit) held by the caller catches it.
#[test]
fn issue4_append_receipt_catches_deletion_of_acknowledged_tail_records() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k1").to_str().unwrap().to_owned();
    let log = dir.path().join("log").to_str().unwrap().to_owned();
    let receipt = dir.path().join("receipt").to_str().unwrap().to_owned();
    let o = custody(
        &["audit", "keygen", "--name", "audit.test", "-o", &key],
        None,
    );
    let vkey = stdout(&o).trim().to_owned();
    let o = custody(
        &[
            "audit",
            "append",
            "--log",
            &log,
            "--key",
            &key,
            "--receipt",
            &receipt,
        ],
        Some(&events(0, 20)),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let verifier: NoteVerifier = vkey.parse().unwrap();
    let cp = SignedCheckpoint::verify(&fs::read_to_string(&receipt).unwrap(), &[verifier])
        .unwrap()
        .checkpoint;
    assert_eq!(cp.size, 20, "the receipt covers every acknowledged event");
    let verify = |with_receipt: bool| {
        let mut args = vec!["audit", "verify", "--log", &log, "--key", &vkey];
        if with_receipt {
            args.extend(["--checkpoint", &receipt]);
        }
        custody(&args, None)
    };
    assert_eq!(
        verify(true).status.code(),
        Some(0),
        "{}",
        stdout(&verify(true))
    );

    // The attacker deletes records 15..20 and every stored checkpoint that
    // covers them: what remains is a consistent log of 15 records.
    rewrite_frames(&seg(&log), 15, |_| true);
    rewrite_frames(
        &Path::new(&log).join("checkpoints.log"),
        usize::MAX,
        |note| {
            let size: u64 = std::str::from_utf8(note)
                .unwrap()
                .split('\n')
                .nth(1)
                .unwrap()
                .parse()
                .unwrap();
            size <= 15
        },
    );
    let o = verify(false);
    assert_eq!(
        o.status.code(),
        Some(0),
        "without the receipt: {}",
        stdout(&o)
    );
    let o = verify(true);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).starts_with("FAIL: first bad index 15:"),
        "{}",
        stdout(&o)
    );
}
