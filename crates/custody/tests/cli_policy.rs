//! `custody policy` end to end through the real binary, in a temp dir: test, diff,
//! bundle, sign, verify (each refusal), keygen and trust-root. Exit codes: 0 ok,
//! 1 failures/refusal, 2 error.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test harness outside #[test] fns: failures should stop the test loudly"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const POLICIES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../custody-policy/policies");

struct Harness {
    dir: tempfile::TempDir,
}

impl Harness {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_custody"))
            .arg("policy")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }

    fn code(&self, args: &[&str]) -> (i32, String, String) {
        let output = self.run(args);
        (
            output.status.code().unwrap(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, stdout, stderr) = self.code(args);
        assert_eq!(code, 0, "{args:?}: {stdout}{stderr}");
        stdout.trim().to_owned()
    }

    /// Three release keys and a 2-of-3 trust root; returns the keys' public hex.
    fn release_keys(&self) -> Vec<String> {
        let publics: Vec<String> = ["k1.key", "k2.key", "k3.key"]
            .iter()
            .map(|name| {
                self.ok(&["keygen", "-o", name])
                    .split(' ')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        self.ok(&[
            "trust-root",
            "--public",
            &publics[0],
            "--public",
            &publics[1],
            "--public",
            &publics[2],
            "-o",
            "root.json",
        ]);
        publics
    }

    fn copy_policies(&self, name: &str) -> PathBuf {
        let target = self.path(name);
        copy_dir(Path::new(POLICIES), &target);
        target
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn the_shipped_policies_pass_their_tests() {
    let harness = Harness::new();
    let out = harness.ok(&["test", POLICIES]);
    assert!(out.contains("0 failed"), "{out}");
}

#[test]
fn a_broken_rule_fails_the_tests_with_exit_1() {
    let harness = Harness::new();
    let dir = harness.copy_policies("p");
    let guards = dir.join("default/00-guards.cedar");
    let text = std::fs::read_to_string(&guards).unwrap();
    // The unsafe variant: agents may download.
    std::fs::write(
        &guards,
        text.replace(
            "forbid (principal is Custody::SupportAgent, action == Custody::Action::\"artifact.download\", resource);",
            "permit (principal is Custody::SupportAgent, action == Custody::Action::\"artifact.download\", resource);",
        ),
    )
    .unwrap();
    let (code, stdout, _) = harness.code(&["test", dir.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("FAIL tests/default.json: agent never downloads, even with grant"),
        "{stdout}"
    );
}

#[test]
fn a_policy_that_does_not_validate_is_an_error() {
    let harness = Harness::new();
    let dir = harness.copy_policies("p");
    std::fs::write(
        dir.join("default/99-typo.cedar"),
        "@id(\"typo\") permit (principal is Custody::SupportAgent, action, resource) when { principal.rank > 1 };",
    )
    .unwrap();
    let (code, _, stderr) = harness.code(&["test", dir.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("strict validation failed") && stderr.contains("typo"),
        "{stderr}"
    );
}

#[test]
fn bundle_sign_verify_and_every_refusal() {
    let harness = Harness::new();
    harness.release_keys();
    let id = harness.ok(&[
        "bundle",
        POLICIES,
        "--version",
        "3",
        "--expires",
        "+1d",
        "-o",
        "b.json",
    ]);
    assert_eq!(id.len(), 64);

    let (code, stdout, _) = harness.code(&["verify", "b.json", "--trust", "root.json"]);
    assert_eq!((code, stdout.trim()), (1, "refused: bundle is unsigned"));
    harness.ok(&["sign", "b.json", "--key", "k1.key"]);
    harness.ok(&["sign", "b.json", "--key", "k1.key"]);
    let (code, stdout, _) = harness.code(&["verify", "b.json", "--trust", "root.json"]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("signed by 1 distinct trusted keys, 2 required"),
        "{stdout}"
    );
    harness.ok(&["sign", "b.json", "--key", "k2.key"]);
    let accepted = harness.ok(&["verify", "b.json", "--trust", "root.json"]);
    assert!(
        accepted.starts_with(&format!("accepted: bundle {id} version 3")),
        "{accepted}"
    );

    let (code, stdout, _) = harness.code(&[
        "verify",
        "b.json",
        "--trust",
        "root.json",
        "--accepted-version",
        "3",
    ]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("version 3 is not above the accepted version 3"),
        "{stdout}"
    );

    std::fs::copy(harness.path("b.json"), harness.path("stranger.json")).unwrap();
    harness.ok(&["keygen", "-o", "k4.key"]);
    harness.ok(&["sign", "stranger.json", "--key", "k4.key"]);
    let (code, stdout, _) = harness.code(&["verify", "stranger.json", "--trust", "root.json"]);
    assert_eq!(code, 1);
    assert!(stdout.contains("unknown key"), "{stdout}");

    let text = std::fs::read_to_string(harness.path("b.json")).unwrap();
    std::fs::write(
        harness.path("tampered.json"),
        text.replace(">= 70", ">= 99"),
    )
    .unwrap();
    let (code, stdout, _) = harness.code(&["verify", "tampered.json", "--trust", "root.json"]);
    assert_eq!(
        (code, stdout.trim()),
        (
            1,
            "refused: bundle content does not match its manifest digest"
        )
    );

    let (code, _, stderr) = harness.code(&["verify", "missing.json", "--trust", "root.json"]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn expired_bundles_are_refused() {
    let harness = Harness::new();
    harness.release_keys();
    let (code, _, stderr) = harness.code(&[
        "bundle",
        POLICIES,
        "--version",
        "1",
        "--expires",
        "1000",
        "-o",
        "old.json",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("in the past"), "{stderr}");
    harness.ok(&[
        "bundle",
        POLICIES,
        "--version",
        "1",
        "--expires",
        "+2s",
        "-o",
        "soon.json",
    ]);
    harness.ok(&["sign", "soon.json", "--key", "k1.key"]);
    harness.ok(&["sign", "soon.json", "--key", "k3.key"]);
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (code, stdout, _) = harness.code(&["verify", "soon.json", "--trust", "root.json"]);
    assert_eq!(code, 1);
    assert!(stdout.contains("expired"), "{stdout}");
}

#[test]
fn diff_reports_policy_and_schema_changes() {
    let harness = Harness::new();
    let dir = harness.copy_policies("new");
    let guards = dir.join("default/00-guards.cedar");
    let text = std::fs::read_to_string(&guards).unwrap();
    std::fs::write(&guards, text.replace(">= 70", ">= 60") + "\n@id(\"extra\")\nforbid (principal, action, resource) when { context.risk_score > 99 };\n").unwrap();
    let schema = dir.join("custody.cedarschema");
    let text = std::fs::read_to_string(&schema).unwrap();
    std::fs::write(
        &schema,
        text.replace(
            "entity PolicyBundle;",
            "entity PolicyBundle;\n  entity Extra;",
        ),
    )
    .unwrap();
    let out = harness.ok(&["diff", POLICIES, dir.to_str().unwrap()]);
    assert!(out.contains("policy added: extra"), "{out}");
    assert!(out.contains("policy changed: forbid.risk.high"), "{out}");
    assert!(out.contains("entity type added: Custody::Extra"), "{out}");
    assert!(out.contains("schema text changed"), "{out}");
    assert_eq!(harness.ok(&["diff", POLICIES, POLICIES]), "no changes");
}

#[cfg(unix)]
#[test]
fn keys_are_private_and_never_printed() {
    use std::os::unix::fs::PermissionsExt as _;
    let harness = Harness::new();
    let printed = harness.ok(&["keygen", "-o", "k.key"]);
    let file = std::fs::read_to_string(harness.path("k.key")).unwrap();
    let value: serde_json::Value = serde_json::from_str(&file).unwrap();
    let secret = value["secret_key"].as_str().unwrap();
    assert_eq!(secret.len(), 64);
    assert!(!printed.contains(secret));
    let mode = std::fs::metadata(harness.path("k.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    harness.ok(&[
        "bundle",
        POLICIES,
        "--version",
        "1",
        "--expires",
        "+1h",
        "-o",
        "b.json",
    ]);
    std::fs::set_permissions(
        harness.path("k.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let (code, stdout, stderr) = harness.code(&["sign", "b.json", "--key", "k.key"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("readable by group or others"), "{stderr}");
    assert!(!stdout.contains(secret) && !stderr.contains(secret));
    // A corrupt key file: the error does not echo its content.
    std::fs::write(
        harness.path("bad.key"),
        format!("{{\"kind\":\"x\",\"secret_key\":\"{secret}\"}}"),
    )
    .unwrap();
    std::fs::set_permissions(
        harness.path("bad.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let (code, stdout, stderr) = harness.code(&["sign", "b.json", "--key", "bad.key"]);
    assert_eq!(code, 2);
    assert!(
        !stdout.contains(secret) && !stderr.contains(secret),
        "{stderr}"
    );
}
