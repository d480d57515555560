//! `custody incident` end to end (issue 6, item 3): blast radius and tenant
//! notices from a broker-style data directory (`audit/` + `keys/audit.key`),
//! and the refusal of a log that fails verification.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation is a test failure"
)]

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Output};

use custody_audit::event::{Actor, AuditEvent, Decision, EventKind, Resource};
use custody_audit::log::{AuditLog, LogOptions};
use custody_audit::note::NoteSigner;
use custody_audit::store::{SegmentOptions, SegmentStore};

const ORIGIN: &str = "127.0.0.1:8443/custody-audit";
const SEED: [u8; 32] = [42; 32];
const T0: i64 = 1_764_000_000_000; // 2025-11-24T16:00:00Z

fn custody(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_custody"))
        .args(args)
        .output()
        .unwrap()
}

fn ev(
    i: i64,
    kind: EventKind,
    who: &str,
    tenant: &str,
    id: &str,
    decision: Decision,
) -> AuditEvent {
    AuditEvent {
        time_ms: T0 + i * 1000,
        kind,
        actor: Actor {
            principal_id: who.into(),
            principal_class: "service_account".into(),
            session_id: None,
        },
        device: None,
        src_endpoint: None,
        tenant: tenant.into(),
        resource: Resource {
            kind: "artifact".into(),
            id: id.into(),
            digest: None,
            case_id: Some(format!("case-{tenant}")),
        },
        trace_id: format!("trace-{i}"),
        decision,
        policy_bundle_id: "bundle-1".into(),
        rules_version: "rules-1".into(),
    }
}

/// A data directory as the broker lays it out, with 5 events.
fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    fs::create_dir(&keys).unwrap();
    fs::write(keys.join("audit.key"), SEED).unwrap();
    fs::set_permissions(keys.join("audit.key"), fs::Permissions::from_mode(0o600)).unwrap();
    let store = SegmentStore::open(&dir.path().join("audit"), SegmentOptions::default()).unwrap();
    let signer = NoteSigner::from_seed(ORIGIN, &SEED).unwrap();
    let log = AuditLog::open(store, signer, LogOptions::new(ORIGIN)).unwrap();
    use Decision::{Allow, Deny};
    use EventKind::{Download, Export, View};
    for e in [
        ev(1, Download, "svc-sync", "tenant-a", "art-1", Allow),
        ev(2, View, "svc-sync", "tenant-b", "art-2", Deny),
        ev(3, Export, "svc-sync", "tenant-c", "art-3", Allow),
        ev(4, View, "agent-1", "tenant-a", "art-4", Allow),
        ev(5, View, "svc-sync", "tenant-d", "art-5", Allow),
    ] {
        log.append(&e).unwrap();
    }
    log.checkpoint_now(T0 + 10_000).unwrap();
    dir
}

fn s(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn issue6_blast_radius_from_a_data_directory() {
    let dir = data_dir();
    let d = dir.path().to_str().unwrap();
    let o = custody(&[
        "incident",
        "blast-radius",
        "--data",
        d,
        "--principal",
        "svc-sync",
        "--since",
        "2025-11-24T16:00:00Z",
        "--until",
        "2025-11-24T16:00:04Z",
        "--format",
        "json",
    ]);
    let (out, err) = s(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["exposed_tenants"], 2);
    assert_eq!(v["boundary_tenants"], 2);
    assert_eq!(v["b_i"], 1.0);
    assert_eq!(v["tree_size"], 5);
    assert_eq!(v["tenants"][0]["tenant"], "tenant-a");
    assert_eq!(v["tenants"][0]["touches"][0]["index"], 0);
    assert_eq!(v["tenants"][0]["touches"][0]["act"], "download");
    assert_eq!(v["attempts"][0]["tenant"], "tenant-b");
    // Without --until: tenant-d (index 4) joins.
    let o = custody(&[
        "incident",
        "blast-radius",
        "--data",
        d,
        "--principal",
        "svc-sync",
        "--since",
        "2025-11-24T16:00:00Z",
    ]);
    let (out, err) = s(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        out.contains("B_i = 3 exposed / 3 in boundary = 1.0000"),
        "{out}"
    );
    assert!(out.contains("tenant-d  EXPOSED"), "{out}");
}

#[test]
fn issue6_notice_is_stable_and_names_only_its_tenant() {
    let dir = data_dir();
    let d = dir.path().to_str().unwrap();
    let file = dir.path().join("notice.txt");
    let args = |out: Option<&str>| {
        let mut a = vec![
            "incident",
            "notice",
            "--data",
            d,
            "--tenant",
            "tenant-a",
            "--since",
            "2025-11-24T16:00:00Z",
            "--incident-id",
            "INC-7",
        ];
        if let Some(out) = out {
            a.extend(["-o", out]);
        }
        a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()
    };
    let run = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        custody(&a)
    };
    let o = run(args(Some(file.to_str().unwrap())));
    assert_eq!(o.status.code(), Some(0), "{}", s(&o).1);
    let o2 = run(args(None));
    assert_eq!(o2.status.code(), Some(0));
    let text = fs::read_to_string(&file).unwrap();
    assert_eq!(text.as_bytes(), o2.stdout.as_slice());
    assert!(text.contains("Incident: INC-7"));
    assert!(text.contains("Tenant: tenant-a"));
    assert!(text.contains("download allowed  artifact art-1"));
    assert!(text.contains("view allowed  artifact art-4"));
    assert!(text.contains("Period (UTC): 2025-11-24T16:00:00.000Z to 2025-11-24T16:00:05.000Z"));
    for other in [
        "tenant-b", "tenant-c", "tenant-d", "art-2", "art-3", "art-5",
    ] {
        assert!(!text.contains(other), "{other}");
    }
    // An unknown template version is an error.
    let mut bad = args(None);
    bad.extend(["--template".to_owned(), "v0".to_owned()]);
    let o = run(bad);
    assert_eq!(o.status.code(), Some(2));
    assert!(s(&o).1.contains("unknown notice template version"));
}

#[test]
fn issue6_a_tampered_log_is_refused_with_no_answer() {
    let dir = data_dir();
    let d = dir.path().to_str().unwrap();
    let seg = dir.path().join("audit").join(format!("{:020}.seg", 0));
    let mut bytes = fs::read(&seg).unwrap();
    let last = bytes.len() - 5; // inside the last record's payload
    bytes[last] ^= 0x20;
    fs::write(&seg, &bytes).unwrap();
    for args in [
        vec![
            "incident",
            "blast-radius",
            "--data",
            d,
            "--principal",
            "svc-sync",
            "--since",
            "2025-11-24T16:00:00Z",
        ],
        vec![
            "incident",
            "notice",
            "--data",
            d,
            "--tenant",
            "tenant-a",
            "--since",
            "2025-11-24T16:00:00Z",
        ],
    ] {
        let o = custody(&args);
        let (out, err) = s(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(out.is_empty(), "{out}");
        assert!(
            err.contains("refused: the audit log failed verification"),
            "{err}"
        );
    }
}

#[test]
fn issue6_trust_comes_from_the_data_directory_key_or_a_pinned_key() {
    let dir = data_dir();
    let d = dir.path().to_str().unwrap();
    let base = [
        "incident",
        "blast-radius",
        "--data",
        d,
        "--principal",
        "p",
        "--since",
        "2025-11-24T16:00:00Z",
    ];
    // A pinned key that is not the log's: refused.
    let other = NoteSigner::from_seed(ORIGIN, &[1; 32])
        .unwrap()
        .verifier()
        .to_string();
    let mut args = base.to_vec();
    args.extend(["--key", &other]);
    let o = custody(&args);
    assert_eq!(o.status.code(), Some(1), "{}", s(&o).1);
    // The right pinned key: accepted.
    let right = NoteSigner::from_seed(ORIGIN, &SEED)
        .unwrap()
        .verifier()
        .to_string();
    let mut args = base.to_vec();
    args.extend(["--key", &right]);
    assert_eq!(custody(&args).status.code(), Some(0));
    // The data directory's key replaced by another: refused.
    let key = dir.path().join("keys").join("audit.key");
    fs::write(&key, [1u8; 32]).unwrap();
    assert_eq!(custody(&base).status.code(), Some(1));
    // A group-readable key file: an error naming the file, not the key.
    fs::set_permissions(&key, fs::Permissions::from_mode(0o640)).unwrap();
    let o = custody(&base);
    assert_eq!(o.status.code(), Some(2));
    assert!(s(&o).1.contains("chmod 600"));
}
