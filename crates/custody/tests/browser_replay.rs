//! Real-browser capture and replay (issue 2, item 7).
//!
//! A local web app (`tests/browser/app.mjs`) issues real credentials: a session
//! cookie at login, a CSRF token, bearer tokens from `/api/token` and from an
//! OAuth code exchange with PKCE. Headless Chromium (`record.mjs`, playwright-core
//! with the system Chromium) logs in and uses the app while recording a HAR. The
//! real `custody sanitize` cleans it. `replay.mjs` then plays the attacker of the
//! 2023 incident: it extracts every credential from a HAR and replays the
//! authenticated requests against the still-running app.
//!
//! - From the raw HAR, at least one cookie replay and one bearer replay must be
//!   ACCEPTED: the attack works, so this test can fail.
//! - From a naively cleaned HAR (Authorization headers blanked only), a cookie
//!   replay is still accepted: the replay check catches an incomplete sanitizer.
//! - From the custody-sanitized HAR, every replay must be REFUSED, no credential
//!   value the app issued may appear in it in any form, and it must stay HAR 1.2
//!   (the vendored schema) with the same entries, methods and statuses.
//!
//! Missing Chromium, node or `tests/browser/node_modules` is a failure, not a
//! skip, unless `CUSTODY_SKIP_BROWSER=1`. When the test ran to the end it writes
//! a marker (`CUSTODY_BROWSER_MARKER`, default `<target dir>/browser-test-ran`)
//! that `scripts/test.sh` checks.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation is a test failure"
)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Kills the app when the test ends, however it ends.
struct App {
    child: Child,
    base: String,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// The marker path: `CUSTODY_BROWSER_MARKER`, else `<target dir>/browser-test-ran`.
fn marker_path() -> PathBuf {
    if let Some(p) = std::env::var_os("CUSTODY_BROWSER_MARKER") {
        return PathBuf::from(p);
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(t).join("browser-test-ran");
    }
    // <target>/debug/deps/browser_replay-HASH
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().join("browser-test-ran")
}

/// Runs a command to completion with a deadline; kills it when the deadline passes.
/// Both pipes are drained by threads while it runs, so a child writing more than a
/// pipe buffer (a SARIF report is ~80 KB) cannot block on a full pipe.
fn run(cmd: &mut Command, limit: Duration, what: &str) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr.join().unwrap_or_default();
            panic!(
                "{what}: timed out after {limit:?}; stderr: {}",
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

fn start_app(dir: &Path, browser_dir: &Path, password: &str, issued: &Path) -> App {
    let mut child = Command::new("node")
        .arg(browser_dir.join("app.mjs"))
        .env("APP_PASSWORD", password)
        .env("ISSUED_SECRETS_FILE", issued)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start node app.mjs");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let ready: Value = serde_json::from_str(&line)
        .unwrap_or_else(|_| panic!("app did not announce its port: {line:?}"));
    let base = ready["listening"]
        .as_str()
        .expect("listening url")
        .to_owned();
    assert!(
        base.starts_with("http://127.0.0.1:"),
        "app must listen on loopback only"
    );
    App { child, base }
}

/// Replays every credential of `har` against the app; returns the JSON summary.
fn replay(browser_dir: &Path, har: &Path, base: &str) -> Value {
    let out = run(
        Command::new("node")
            .arg(browser_dir.join("replay.mjs"))
            .arg(har)
            .arg(base),
        Duration::from_secs(60),
        "replay.mjs",
    );
    assert!(
        out.status.success(),
        "replay.mjs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("replay.mjs prints JSON")
}

fn accepted(summary: &Value, via: &str) -> usize {
    summary["replays"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["via"] == via && r["accepted"] == true)
        .count()
}

fn attempts(summary: &Value, via: &str) -> usize {
    summary["replays"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["via"] == via)
        .count()
}

/// Validates against the vendored HAR 1.2 schema; errors name paths, never values.
fn schema_errors(doc: &Value) -> Vec<String> {
    let path = repo_root().join("crates/custody-har/tests/data/har-1.2.schema.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("HAR schema {}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    validator
        .iter_errors(doc)
        .map(|e| format!("at {} (schema {})", e.instance_path(), e.schema_path()))
        .collect()
}

/// `(method, status)` of every entry, and the URL paths (no query).
fn shape(doc: &Value) -> Vec<(String, i64, String)> {
    doc["log"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let url = e["request"]["url"].as_str().unwrap_or_default();
            let path = url.split(['?', '#']).next().unwrap_or_default().to_owned();
            (
                e["request"]["method"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                e["response"]["status"].as_i64().unwrap_or(-1),
                path,
            )
        })
        .collect()
}

/// The unsafe variant: blanks Authorization headers and nothing else.
fn naive_sanitize(doc: &Value) -> Value {
    let mut doc = doc.clone();
    for e in doc["log"]["entries"].as_array_mut().unwrap() {
        for h in e["request"]["headers"].as_array_mut().unwrap() {
            if h["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case("authorization"))
            {
                h["value"] = Value::String(String::new());
            }
        }
    }
    doc
}

fn require_tools(browser_dir: &Path) -> bool {
    if std::env::var("CUSTODY_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("browser_replay: skipped because CUSTODY_SKIP_BROWSER=1");
        return false;
    }
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "node is missing (install nodejs, or set CUSTODY_SKIP_BROWSER=1)"
    );
    assert!(
        chromium().exists(),
        "Chromium is missing at {} (apt-get install chromium, or set CUSTODY_SKIP_BROWSER=1)",
        chromium().display()
    );
    assert!(
        browser_dir
            .join("node_modules/playwright-core/package.json")
            .exists(),
        "tests/browser/node_modules is missing (run `npm ci` in tests/browser, or set CUSTODY_SKIP_BROWSER=1)"
    );
    true
}

/// A recorded session: the running app, the raw HAR and what the app issued.
struct Capture {
    dir: tempfile::TempDir,
    app: App,
    browser_dir: PathBuf,
    raw: PathBuf,
    raw_doc: Value,
    issued_path: PathBuf,
}

/// Starts the app and records a HAR of a real browser session with it (`None`
/// when `CUSTODY_SKIP_BROWSER=1`).
fn capture() -> Option<Capture> {
    let browser_dir = repo_root().join("tests/browser");
    if !require_tools(&browser_dir) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let issued_path = dir.path().join("issued.jsonl");
    let password = format!("Pw-{}", password_suffix());
    let app = start_app(dir.path(), &browser_dir, &password, &issued_path);
    let raw = dir.path().join("raw.har");
    let rec = run(
        Command::new("node")
            .arg(browser_dir.join("record.mjs"))
            .arg(&app.base)
            .arg(&raw)
            .env("APP_PASSWORD", &password)
            .env("CHROMIUM", chromium()),
        Duration::from_secs(180),
        "record.mjs",
    );
    assert!(
        rec.status.success(),
        "record.mjs failed: {}",
        String::from_utf8_lossy(&rec.stderr)
    );
    let raw_doc: Value = serde_json::from_slice(&std::fs::read(&raw).unwrap()).unwrap();
    assert!(
        schema_errors(&raw_doc).is_empty(),
        "Chromium's own HAR must pass the schema (control)"
    );
    Some(Capture {
        dir,
        app,
        browser_dir,
        raw,
        raw_doc,
        issued_path,
    })
}

/// `(kind, value)` of every credential the app issued or received.
fn issued(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["kind"].as_str().unwrap().to_owned(),
                v["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn browser_capture_is_replayable_raw_and_not_after_custody_sanitize() {
    let marker = marker_path();
    let _ = std::fs::remove_file(&marker);
    // 1. A customer records a HAR with a real browser.
    let Some(Capture {
        dir,
        app,
        browser_dir,
        raw,
        raw_doc,
        issued_path,
    }) = capture()
    else {
        return;
    };

    // 2. The real custody sanitize.
    let clean = dir.path().join("clean.har");
    let report = dir.path().join("report.json");
    let san = run(
        Command::new(env!("CARGO_BIN_EXE_custody"))
            .arg("sanitize")
            .arg(&raw)
            .arg("-o")
            .arg(&clean)
            .arg("--report")
            .arg(&report),
        Duration::from_secs(60),
        "custody sanitize",
    );
    assert_eq!(
        san.status.code(),
        Some(0),
        "custody sanitize must return clean (0): {}",
        String::from_utf8_lossy(&san.stderr)
    );

    // 3. The attack works on the raw HAR (so this test can fail)...
    let raw_replay = replay(&browser_dir, &raw, &app.base);
    assert!(
        accepted(&raw_replay, "cookie") >= 1,
        "raw HAR: a session-cookie replay must be accepted: {raw_replay}"
    );
    assert!(
        accepted(&raw_replay, "bearer") >= 1,
        "raw HAR: a bearer replay must be accepted: {raw_replay}"
    );

    // ...and on a naive sanitizer's output, which the replay check catches.
    let naive = dir.path().join("naive.har");
    std::fs::write(
        &naive,
        serde_json::to_vec(&naive_sanitize(&raw_doc)).unwrap(),
    )
    .unwrap();
    let naive_replay = replay(&browser_dir, &naive, &app.base);
    assert!(
        accepted(&naive_replay, "cookie") >= 1,
        "the unsafe variant must still leak the session: {naive_replay}"
    );

    // 4. Nothing replays from the custody-sanitized HAR.
    let clean_replay = replay(&browser_dir, &clean, &app.base);
    assert!(
        attempts(&clean_replay, "cookie") >= 1,
        "the sanitized HAR keeps its cookie positions (as markers): {clean_replay}"
    );
    assert_eq!(
        clean_replay["accepted"], 0,
        "sanitized HAR: every replay must be refused: {clean_replay}"
    );

    // 5. No issued credential survives, in any encoding, in the HAR or the report.
    let clean_bytes = std::fs::read(&clean).unwrap();
    let report_bytes = std::fs::read(&report).unwrap_or_default();
    let clean_text = String::from_utf8_lossy(&clean_bytes);
    let report_text = String::from_utf8_lossy(&report_bytes);
    let issued = issued(&issued_path);
    let kinds: Vec<&str> = issued.iter().map(|(k, _)| k.as_str()).collect();
    for want in [
        "password",
        "csrf",
        "session_cookie",
        "access_token",
        "oauth_code",
        "pkce_verifier",
        "oauth_access_token",
        "refresh_token",
    ] {
        assert!(
            kinds.contains(&want),
            "the app should have issued a {want}: {kinds:?}"
        );
    }
    let raw_text = String::from_utf8_lossy(&std::fs::read(&raw).unwrap()).into_owned();
    for (kind, value) in &issued {
        let forms = custody_corpus::search_forms(value);
        // Control: every issued credential is in the raw capture (else the check is void).
        if kind != "oauth_state" {
            assert!(
                forms.iter().any(|f| raw_text.contains(f.as_str())),
                "raw HAR lacks the issued {kind}"
            );
        }
        // The messages name the kind only, never the value.
        assert!(
            !forms.iter().any(|f| clean_text.contains(f.as_str())),
            "sanitized HAR still holds the issued {kind}"
        );
        assert!(
            !forms.iter().any(|f| report_text.contains(f.as_str())),
            "the sanitize report holds the issued {kind}"
        );
        assert!(
            !String::from_utf8_lossy(&san.stderr).contains(value.as_str()),
            "custody's stderr holds the issued {kind}"
        );
    }

    // 6. Still HAR 1.2 and still useful: same entries, methods, statuses, paths.
    let clean_doc: Value = serde_json::from_slice(&clean_bytes).expect("sanitized HAR is JSON");
    let errors = schema_errors(&clean_doc);
    assert!(
        errors.is_empty(),
        "sanitized HAR is not valid HAR 1.2: {errors:#?}"
    );
    assert_eq!(clean_doc["log"]["version"], "1.2");
    assert_eq!(
        shape(&clean_doc),
        shape(&raw_doc),
        "sanitizing must keep entries, methods, statuses and paths"
    );

    let summary = format!(
        "browser_replay ran: raw accepted {} of {}; naive accepted {}; sanitized accepted {} of {}; {} issued credentials absent\n",
        raw_replay["accepted"],
        raw_replay["attempts"],
        naive_replay["accepted"],
        clean_replay["accepted"],
        clean_replay["attempts"],
        issued.len()
    );
    eprint!("{summary}");
    if let Some(parent) = marker.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&marker, summary).unwrap();
}

/// A per-run random suffix for the login password (from the OS via the std hasher).
fn password_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::process::id())
}

#[test]
fn custody_scan_on_a_browser_capture_reports_positions_never_values() {
    let Some(cap) = capture() else {
        return;
    };
    let issued = issued(&cap.issued_path);
    let scan = |path: &Path, format: &str| {
        run(
            Command::new(env!("CARGO_BIN_EXE_custody"))
                .arg("scan")
                .arg("--format")
                .arg(format)
                .arg(path),
            Duration::from_secs(60),
            "custody scan",
        )
    };
    for format in ["human", "json", "sarif"] {
        let out = scan(&cap.raw, format);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{format}: the raw capture holds credentials"
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for (kind, value) in &issued {
            // Any 16-character window of the value counts as a leak (hints, previews).
            let leaked = value
                .as_bytes()
                .windows(16)
                .any(|w| text.contains(std::str::from_utf8(w).unwrap_or("\u{0}")));
            assert!(
                !leaked,
                "custody scan --format {format} output holds (part of) the issued {kind}"
            );
        }
    }
    // The sanitized capture re-scans clean: markers are never findings.
    let clean = cap.dir.path().join("clean-for-scan.har");
    let san = run(
        Command::new(env!("CARGO_BIN_EXE_custody"))
            .arg("sanitize")
            .arg(&cap.raw)
            .arg("-o")
            .arg(&clean),
        Duration::from_secs(60),
        "custody sanitize",
    );
    assert_eq!(san.status.code(), Some(0));
    let rescan = scan(&clean, "json");
    let doc: Value = serde_json::from_slice(&rescan.stdout).unwrap_or(Value::Null);
    let rules: Vec<&str> = doc["findings"]
        .as_array()
        .map(|f| f.iter().filter_map(|x| x["rule_id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        rescan.status.code(),
        Some(0),
        "custody scan of custody sanitize's output must be clean; rules that fired: {rules:?}"
    );
}

#[test]
fn schema_check_rejects_a_broken_har() {
    // The validator used above can fail: a HAR without log.version or with a
    // string status is rejected.
    let doc: Value =
        serde_json::json!({"log": {"creator": {"name": "x", "version": "1"}, "entries": []}});
    assert!(!schema_errors(&doc).is_empty());
    let doc: Value = serde_json::json!({"log": {"version": "1.2", "creator": {"name": "x", "version": "1"}, "entries": [
        {"startedDateTime": "2024-01-01T00:00:00.000Z", "time": 1, "request": {"method": "GET", "url": "http://a/", "httpVersion": "HTTP/1.1",
          "cookies": [], "headers": [], "queryString": [], "headersSize": -1, "bodySize": 0},
         "response": {"status": "200", "statusText": "OK", "httpVersion": "HTTP/1.1", "cookies": [], "headers": [],
          "content": {"size": 0, "mimeType": "text/plain"}, "redirectURL": "", "headersSize": -1, "bodySize": 0},
         "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0}}]}});
    assert!(!schema_errors(&doc).is_empty());
}
