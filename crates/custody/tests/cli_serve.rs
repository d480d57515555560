//! CLI tests for `custody init`, `custody serve`, `enrol`, `login`, `call`, `upload`
//! and `download` (issue 5): the README's flow against a real server process.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a failed step must fail the test"
)]

use std::net::TcpListener;
use std::path::Path;
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

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
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

#[test]
fn init_serve_enrol_login_and_work_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let listen = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{listen}");

    let init = custody(&[
        "init",
        "--data",
        p(&data),
        "--listen",
        &listen,
        "--name",
        "Ops",
    ]);
    assert_eq!(
        init.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let text = stdout(&init);
    let code = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("enrolment code"))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    assert!(code.starts_with("enr_"));
    // Initialising twice is refused.
    let again = custody(&["init", "--data", p(&data), "--listen", &listen]);
    assert_eq!(again.status.code(), Some(2));

    let _server = ServerProcess(
        Command::new(env!("CARGO_BIN_EXE_custody"))
            .args(["serve", "--data", p(&data), "--listen", &listen])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_healthy(&base);
    // A second process on the same data directory is refused.
    let second = custody(&[
        "serve",
        "--data",
        p(&data),
        "--listen",
        &format!("127.0.0.1:{}", free_port()),
    ]);
    assert_eq!(second.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&second.stderr).contains("in use"));

    let device = tmp.path().join("device");
    assert_eq!(
        custody(&["device", "init", "--dir", p(&device)])
            .status
            .code(),
        Some(0)
    );
    let enrol = custody(&[
        "enrol",
        "--server",
        &base,
        "--code",
        &code,
        "--device-dir",
        p(&device),
    ]);
    assert_eq!(enrol.status.code(), Some(0), "{}", stdout(&enrol));
    let login = custody(&["login", "--server", &base, "--device-dir", p(&device)]);
    assert_eq!(
        login.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    let session = device.join("session.json");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&session).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let tenant = custody(&[
        "call",
        "POST",
        "/v1/tenants",
        "--json",
        r#"{"name":"Acme"}"#,
        "--device-dir",
        p(&device),
    ]);
    assert_eq!(tenant.status.code(), Some(0), "{}", stdout(&tenant));
    let tenant: serde_json::Value = serde_json::from_slice(&tenant.stdout).unwrap();
    assert!(tenant["id"].as_str().unwrap().starts_with("ten_"));

    // The operator has no artifact access: a denied call exits 1 with the problem.
    let denied = custody(&["call", "GET", "/v1/cases", "--device-dir", p(&device)]);
    assert_eq!(
        denied.status.code(),
        Some(0),
        "listing cases is allowed (empty): {}",
        stdout(&denied)
    );
    let denied = custody(&[
        "call",
        "POST",
        &format!("/v1/tenants/{}/cases", tenant["id"].as_str().unwrap()),
        "--json",
        r#"{"title":"x"}"#,
        "--device-dir",
        p(&device),
    ]);
    assert_eq!(denied.status.code(), Some(1), "{}", stdout(&denied));
    assert!(stdout(&denied).contains("urn:custody:problem:forbidden"));

    // The session token copied to another device directory is useless there.
    let thief = tmp.path().join("thief");
    assert_eq!(
        custody(&["device", "init", "--dir", p(&thief)])
            .status
            .code(),
        Some(0)
    );
    std::fs::copy(&session, thief.join("session.json")).unwrap();
    let stolen = custody(&["call", "GET", "/v1/me", "--device-dir", p(&thief)]);
    assert_eq!(stolen.status.code(), Some(1), "{}", stdout(&stolen));
    assert!(stdout(&stolen).contains("urn:custody:problem:unauthenticated"));
    // The detection bus saw a validly signed token presented with another key: a
    // hijack. The victim's session is revoked at once (DESIGN §9), so its next call
    // is refused too, and a fresh device-key sign-in works again.
    let mut own = custody(&["call", "GET", "/v1/me", "--device-dir", p(&device)]);
    for _ in 0..50 {
        if own.status.code() == Some(1) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        own = custody(&["call", "GET", "/v1/me", "--device-dir", p(&device)]);
    }
    assert_eq!(own.status.code(), Some(1), "{}", stdout(&own));
    assert!(stdout(&own).contains("revoked"), "{}", stdout(&own));
    // Revocation epochs have one-second resolution and cut off every token issued up
    // to and including their second (fail closed): sign in again in the next second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let relogin = custody(&["login", "--server", &base, "--device-dir", p(&device)]);
    assert_eq!(relogin.status.code(), Some(0), "{}", stdout(&relogin));
    let own = custody(&["call", "GET", "/v1/me", "--device-dir", p(&device)]);
    assert_eq!(own.status.code(), Some(0), "{}", stdout(&own));

    // `custody check` on the live deployment: clean, exit 0.
    let check = custody(&["check", "--device-dir", p(&device)]);
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
    // One byte of an audit record changed on disk: the check reports I4 and exits 1.
    let segment = data.join("audit").join("00000000000000000000.seg");
    let mut bytes = std::fs::read(&segment).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&segment, &bytes).unwrap();
    let check = custody(&["check", "--device-dir", p(&device)]);
    assert_eq!(check.status.code(), Some(1), "{}", stdout(&check));
    assert!(
        stdout(&check).contains("audit.verify_failed"),
        "{}",
        stdout(&check)
    );
}
