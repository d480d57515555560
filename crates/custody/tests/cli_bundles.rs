//! `custody incident bundle`, `approve` and `revoke` end to end (issue 6 item 3)
//! against a real `custody serve` process: the operator stages a bundle for a tenant,
//! a support lead and a security reviewer approve it, the operator executes it, and
//! the tenant admin's next call is refused. A bundle file whose readable copy was
//! edited, a refused execution and a second execution exit 1.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a failed step must fail the test"
)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn custody(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_custody"))
        .args(args)
        .env_remove("CUSTODY_DEVICE_DIR")
        .env_remove("CUSTODY_DATA")
        .env_remove("CUSTODY_LISTEN")
        .output()
        .unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn ok(output: Output) -> Output {
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    output
}

struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_healthy(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if reqwest::blocking::get(format!("{base}/healthz")).is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("server did not become healthy at {base}");
}

/// `device init`, `enrol` with `code`, `login`: a person's device directory.
fn person(root: &Path, base: &str, name: &str, code: &str) -> PathBuf {
    let dir = root.join(name);
    ok(custody(&["device", "init", "--dir", p(&dir)]));
    ok(custody(&[
        "enrol",
        "--server",
        base,
        "--code",
        code,
        "--device-dir",
        p(&dir),
    ]));
    ok(custody(&[
        "login",
        "--server",
        base,
        "--device-dir",
        p(&dir),
    ]));
    dir
}

fn call(dir: &Path, method: &str, path: &str, json: Option<&str>) -> Output {
    let mut args = vec!["call", method, path, "--device-dir", p(dir)];
    if let Some(json) = json {
        args.extend(["--json", json]);
    }
    custody(&args)
}

fn value(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap()
}

fn principal(op: &Path, body: &str) -> String {
    value(&ok(call(op, "POST", "/v1/principals", Some(body))))["enrolment_code"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn stage_approve_and_revoke_a_tenant_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let data = root.join("data");
    let listen = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{listen}");
    let init = ok(custody(&["init", "--data", p(&data), "--listen", &listen]));
    let code = String::from_utf8_lossy(&init.stdout)
        .lines()
        .find_map(|l| l.trim().strip_prefix("enrolment code").map(str::to_owned))
        .and_then(|rest| rest.split_whitespace().next().map(str::to_owned))
        .unwrap();
    let _server = ServerProcess(
        Command::new(env!("CARGO_BIN_EXE_custody"))
            .args(["serve", "--data", p(&data), "--listen", &listen])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_healthy(&base);
    let op = person(root, &base, "op", &code);
    let tenant = value(&ok(call(
        &op,
        "POST",
        "/v1/tenants",
        Some(r#"{"name":"Acme"}"#),
    )))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin_code = principal(
        &op,
        &format!(r#"{{"class":"customer_admin","tenant_id":"{tenant}","display_name":"Ada"}}"#),
    );
    let lead_code = principal(
        &op,
        r#"{"class":"support_agent","display_name":"Lee","groups":["support_lead"]}"#,
    );
    let reviewer_code = principal(
        &op,
        r#"{"class":"support_agent","display_name":"Rita","groups":["security_reviewer"]}"#,
    );
    let admin = person(root, &base, "admin", &admin_code);
    let lead = person(root, &base, "lead", &lead_code);
    let reviewer = person(root, &base, "reviewer", &reviewer_code);
    ok(call(&admin, "GET", "/v1/me", None));

    // Stage: the file is written and the summary names the tenant and its request.
    let file = root.join("acme.bundle.json");
    let staged = ok(custody(&[
        "incident",
        "bundle",
        "--tenant",
        &tenant,
        "-o",
        p(&file),
        "--device-dir",
        p(&op),
    ]));
    let summary = text(&staged);
    assert!(
        summary.contains("staged revocation bundle rvb_"),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("{tenant}: 1 principal(s), 1 device key(s)")),
        "{summary}"
    );
    let bundle: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(bundle["bundle"]["tenants"][0]["tenant"], tenant.as_str());

    // Executing before the quorum is refused (exit 1) and revokes nothing.
    let early = custody(&[
        "incident",
        "revoke",
        "--bundle",
        p(&file),
        "--device-dir",
        p(&op),
    ]);
    assert_eq!(early.status.code(), Some(1), "{}", text(&early));
    assert!(text(&early).contains("urn:custody:problem:forbidden"));
    ok(call(&admin, "GET", "/v1/me", None));

    // A bundle file whose readable copy was edited is refused locally.
    let edited = root.join("edited.bundle.json");
    let mut changed = bundle.clone();
    changed["bundle"]["tenants"][0]["principals"] = serde_json::json!([]);
    std::fs::write(&edited, changed.to_string()).unwrap();
    let refused = custody(&[
        "incident",
        "approve",
        "--bundle",
        p(&edited),
        "--device-dir",
        p(&lead),
    ]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(text(&refused).contains("not the signed one"));

    // Both approvers sign every request of the bundle.
    for dir in [&lead, &reviewer] {
        let approved = ok(custody(&[
            "incident",
            "approve",
            "--bundle",
            p(&file),
            "--device-dir",
            p(dir),
        ]));
        assert!(
            text(&approved).contains("approved 1 request(s)"),
            "{}",
            text(&approved)
        );
    }
    // Execute: one call, human output says what was revoked.
    let done = ok(custody(&[
        "incident",
        "revoke",
        "--bundle",
        p(&file),
        "--device-dir",
        p(&op),
    ]));
    let out = text(&done);
    assert!(out.contains("revoked bundle rvb_"), "{out}");
    assert!(
        out.contains(&format!("{tenant}: every token of the tenant")),
        "{out}"
    );
    assert!(out.contains("receipt: "), "{out}");
    // The admin's session is dead at once.
    let after = call(&admin, "GET", "/v1/me", None);
    assert_eq!(after.status.code(), Some(1), "{}", text(&after));
    assert!(text(&after).contains("urn:custody:problem:unauthenticated"));
    // The approvals are used up: a second run exits 1 (conflict).
    let again = custody(&[
        "incident",
        "revoke",
        "--bundle",
        p(&file),
        "--format",
        "json",
        "--device-dir",
        p(&op),
    ]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(text(&again).contains("urn:custody:problem:conflict"));

    // --format json on a fresh bundle of the same tenant prints the server's answer.
    let second = root.join("second.bundle.json");
    let staged = ok(custody(&[
        "incident",
        "bundle",
        "--tenant",
        &tenant,
        "-o",
        p(&second),
        "--format",
        "json",
        "--device-dir",
        p(&op),
    ]));
    assert!(value(&staged)["jws"].as_str().unwrap().split('.').count() == 3);
    for dir in [&lead, &reviewer] {
        ok(custody(&[
            "incident",
            "approve",
            "--bundle",
            p(&second),
            "--device-dir",
            p(dir),
        ]));
    }
    let done = ok(custody(&[
        "incident",
        "revoke",
        "--bundle",
        p(&second),
        "--format",
        "json",
        "--device-dir",
        p(&op),
    ]));
    let done = value(&done);
    assert_eq!(done["tenants"][0]["tenant"], tenant.as_str());
    assert!(!done["revoked"]["receipts"].as_array().unwrap().is_empty());
}
