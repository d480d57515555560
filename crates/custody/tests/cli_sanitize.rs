//! `custody sanitize` end to end: exit codes 0/1/2, atomic output (nothing is left
//! behind on a refusal or an error, nothing reaches stdout), the JSON report without
//! values, detection by content, and bounded memory on a 500 MB string from a pipe.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test helpers: a panic is a test failure"
)]

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_custody");

fn opaque(seed: u64, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(ALPHABET[(x % ALPHABET.len() as u64) as usize])
        })
        .collect()
}

fn sanitize(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .arg("sanitize")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // The process may stop reading early (an error): a broken pipe is expected then.
    let _ = input.write_all(stdin);
    drop(input);
    child.wait_with_output().unwrap()
}

/// The files in `dir`, sorted (to prove no output or temporary file is left).
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn har_with(token: &str) -> String {
    format!(
        r#"{{"log":{{"version":"1.2","creator":{{"name":"test","version":"1"}},"entries":[{{"startedDateTime":"2026-11-28T12:00:00.000Z","time":1,"request":{{"method":"GET","url":"https://app.example.com/api?access_token={token}","httpVersion":"HTTP/1.1","cookies":[],"headers":[{{"name":"Authorization","value":"Bearer {token}"}}],"queryString":[],"headersSize":-1,"bodySize":0}},"response":{{"status":200,"statusText":"OK","httpVersion":"HTTP/1.1","cookies":[],"headers":[],"content":{{"size":0,"mimeType":"text/plain"}},"redirectURL":"","headersSize":-1,"bodySize":0}},"cache":{{}},"timings":{{"send":0,"wait":1,"receive":0}}}}]}}}}"#
    )
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9));
    for (name, bytes) in entries {
        w.start_file(*name, options).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn clean_log_exit_0_private_output_and_report_without_values() {
    let dir = tempfile::tempdir().unwrap();
    let token = opaque(1, 40);
    write(
        dir.path(),
        "app.log",
        format!("Authorization: Bearer {token}\nok\n").as_bytes(),
    );
    let out = sanitize(
        dir.path(),
        &["app.log", "-o", "clean.log", "--report", "report.json"],
        b"",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let clean = std::fs::read_to_string(dir.path().join("clean.log")).unwrap();
    assert!(
        !clean.contains(&token) && clean.contains("[redacted:bearer-token:"),
        "{clean}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("clean.log"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "output is private");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["verdict"], "clean");
    assert_eq!(report["kind"], "text");
    assert_eq!(report["by_class"]["bearer-token"], 1);
    assert!(
        report["rules_version"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );
    assert_eq!(report["input_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(report["output_sha256"].as_str().unwrap().len(), 64);
    let everything = format!(
        "{report} {} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!everything.contains(&token), "a value leaked: {everything}");
    assert_eq!(files(dir.path()), ["app.log", "clean.log", "report.json"]);
}

#[test]
fn har_named_txt_is_sanitized_as_har_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let token = opaque(2, 40);
    write(dir.path(), "capture.txt", har_with(&token).as_bytes());
    let out = sanitize(dir.path(), &["capture.txt", "--format", "json"], b"");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let har: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is the sanitized HAR");
    let text = har.to_string();
    assert!(!text.contains(&token), "{text}");
    assert_eq!(har["log"]["entries"][0]["request"]["method"], "GET");
    // With stdout carrying the artifact, the JSON verdict goes to stderr.
    let verdict: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(verdict["kind"], "har");
    assert_eq!(files(dir.path()), ["capture.txt"]);
}

#[test]
fn stdin_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let token = opaque(3, 40);
    let out = sanitize(
        dir.path(),
        &["-"],
        format!("curl -u admin:{token} https://x.example.com/\n").as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("curl -u admin:[redacted:") && !text.contains(&token),
        "{text}"
    );
}

/// A zip whose entry name carries an access token: names are kept, so the archive
/// is refused. This is a real refusal path, not a test switch.
fn refused_zip(token: &str) -> Vec<u8> {
    let name = format!("exports/https:/app.example.com/cb?access_token={token}.log");
    zip_of(&[("fine.log", b"hello\n"), (name.as_str(), b"hello\n")])
}

#[test]
fn refusal_exit_1_no_output_file_and_report_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let token = opaque(4, 40);
    write(dir.path(), "case.zip", &refused_zip(&token));
    let out = sanitize(
        dir.path(),
        &["case.zip", "-o", "clean.zip", "--report", "report.json"],
        b"",
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        files(dir.path()),
        ["case.zip", "report.json"],
        "no output, no temp file"
    );
    let report_text = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&report_text).unwrap();
    assert_eq!(report["verdict"], "refused");
    assert_eq!(report["remaining"][0]["pointer"], "entry #1 name");
    assert!(report["remaining"][0]["rule_id"].as_str().is_some());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refused") && stderr.contains("entry #1 name"),
        "{stderr}"
    );
    assert!(
        !report_text.contains(&token) && !stderr.contains(&token),
        "a value leaked"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn refusal_to_stdout_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let token = opaque(5, 40);
    let out = sanitize(dir.path(), &["-", "-o", "-"], &refused_zip(&token));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "no partial output on stdout");
    assert!(files(dir.path()).is_empty());
}

/// Runs a bad input through a file and expects exit 2, an error naming `needle`, and
/// no output file or temporary file left behind.
fn expect_error(name: &str, bytes: &[u8], extra: &[&str], needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), name, bytes);
    let mut args = vec![name, "-o", "out.bin"];
    args.extend_from_slice(extra);
    let out = sanitize(dir.path(), &args, b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
    assert!(
        stderr.contains(needle),
        "{name}: error does not name {needle:?}: {stderr}"
    );
    assert_eq!(files(dir.path()), [name], "{name}: output left behind");
    assert!(out.stdout.is_empty());
}

#[test]
fn an_error_replaces_a_stale_report() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "report.json", br#"{"verdict":"clean"}"#);
    write(dir.path(), "bad.log", b"abc\xFF\n");
    let out = sanitize(
        dir.path(),
        &["bad.log", "-o", "out.log", "--report", "report.json"],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["verdict"], "error");
    assert!(
        report["error"].as_str().unwrap().contains("byte 3"),
        "{report}"
    );
    assert_eq!(files(dir.path()), ["bad.log", "report.json"]);
}

#[test]
fn truncated_json_exit_2_naming_the_position() {
    let token = opaque(6, 40);
    let har = har_with(&token);
    let cut = &har.as_bytes()[..har.len() / 2];
    expect_error("cut.har", cut, &[], "byte");
}

#[test]
fn json_that_is_not_a_har_exit_2_with_kind_har() {
    expect_error(
        "data.json",
        br#"{"items": [1, 2, 3]}"#,
        &["--kind", "har"],
        "not a HAR",
    );
}

#[test]
fn invalid_utf8_text_exit_2_naming_the_line() {
    let mut bytes = "line one\n".repeat(2000).into_bytes();
    bytes.extend_from_slice(b"bad \xC3\x28 bytes\n");
    expect_error("app.log", &bytes, &[], "line 2001");
}

#[test]
fn deep_nesting_exit_2() {
    let mut bytes = b"{\"log\":".to_vec();
    bytes.extend(std::iter::repeat_n(b'[', 100_000));
    bytes.extend(std::iter::repeat_n(b']', 100_000));
    bytes.push(b'}');
    expect_error("deep.har", &bytes, &[], "nesting");
}

#[test]
fn zip_bomb_exit_2() {
    let line = "2026-11-28T12:00:00Z INFO GET /static/app.js 200 12ms cache=hit\n";
    let body = line.repeat((64 << 20) / line.len());
    expect_error(
        "bomb.zip",
        &zip_of(&[("bomb.log", body.as_bytes())]),
        &[],
        "compression ratio",
    );
}

#[test]
fn gzip_is_refused_with_a_clear_error() {
    expect_error(
        "app.log.gz",
        &[0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3],
        &[],
        "gzip",
    );
}

/// Peak resident memory (VmHWM) of a running process, in KiB.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_500_mb_string_from_a_pipe_is_refused_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["sanitize", "-", "-o", "out.har"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let head = br#"{"log":{"version":"1.2","creator":{"name":"x","version":"1"},"entries":[{"comment":""#;
        stdin.write_all(head)?;
        let chunk = vec![b'A'; 1 << 20];
        for _ in 0..500 {
            stdin.write_all(&chunk)?;
        }
        stdin.write_all(b"\"}]}}")
    });
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        if let Some(kib) = peak_kib(pid) {
            peak = peak.max(kib);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    // The writer stops with a broken pipe once custody has refused the input.
    let _ = writer.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("byte"),
        "the error names the position: {stderr}"
    );
    assert!(out.stdout.is_empty());
    assert!(files(dir.path()).is_empty(), "no output left behind");
    assert!(peak > 0, "the memory of the running process was sampled");
    assert!(
        peak < 256 * 1024,
        "peak memory {peak} KiB for a 500 MB string"
    );
}

/// Regression: `--report` of a HAR said `"entries": 0`; it counts the HAR's entries,
/// and a zip's report counts its members, their HAR entries and their text lines.
#[test]
fn report_counts_har_entries_and_zip_records() {
    let dir = tempfile::tempdir().unwrap();
    let token = opaque(9, 40);
    let one = har_with(&token);
    // Two entries: the same entry twice.
    let start = one.find("[{").unwrap() + 1;
    let end = one.rfind("]}}").unwrap();
    let entry = one.get(start..end).unwrap();
    let two = format!(
        "{}{entry},{entry}{}",
        one.get(..start).unwrap(),
        one.get(end..).unwrap()
    );
    write(dir.path(), "two.har", two.as_bytes());
    let out = sanitize(
        dir.path(),
        &["two.har", "-o", "clean.har", "--report", "report.json"],
        b"",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["kind"], "har");
    assert_eq!(report["entries"], 2, "{report}");
    assert_eq!(report["records"], 2, "{report}");
    assert!(!report.to_string().contains(&token));

    let log = format!("Authorization: Bearer {token}\nok\nok\n");
    let zip = zip_of(&[("a.har", two.as_bytes()), ("b.log", log.as_bytes())]);
    write(dir.path(), "case.zip", &zip);
    let out = sanitize(
        dir.path(),
        &["case.zip", "-o", "clean.zip", "--report", "zip.json"],
        b"",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("zip.json")).unwrap())
            .unwrap();
    assert_eq!(report["kind"], "zip");
    assert_eq!(report["entries"], 2, "{report}");
    assert_eq!(report["records"], 2, "{report}");
    assert_eq!(report["lines"], 3, "{report}");
    assert!(!report.to_string().contains(&token));
}
