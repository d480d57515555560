//! Zip archives: entries sanitized by their detected kind into a new zip with the same
//! names and order, and every limit against bombs producing its own named error with
//! bounded memory. Each limit test also shows the same archive passing when that one
//! limit is relaxed, so it is the limit (and nothing else) that stops the bomb.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test helpers: a panic is a test failure"
)]

use std::io::{Cursor, Read, Write};

use custody_har::archive::{ArchiveError, NameProblem};
use custody_har::artifact::{self, ArtifactError, ArtifactOptions, ArtifactReport, Kind};
use custody_scan::{Redactor, Scanner};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

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

fn deflated() -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(1))
}

/// A zip of `(name, bytes)` entries.
fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        w.start_file(*name, deflated()).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn har_with(token: &str) -> String {
    format!(
        r#"{{"log":{{"version":"1.2","creator":{{"name":"test","version":"1"}},"entries":[{{"startedDateTime":"2026-11-28T12:00:00.000Z","time":1,"request":{{"method":"GET","url":"https://app.example.com/api","httpVersion":"HTTP/1.1","cookies":[],"headers":[{{"name":"Authorization","value":"Bearer {token}"}}],"queryString":[],"headersSize":-1,"bodySize":0}},"response":{{"status":200,"statusText":"OK","httpVersion":"HTTP/1.1","cookies":[],"headers":[],"content":{{"size":0,"mimeType":"text/plain"}},"redirectURL":"","headersSize":-1,"bodySize":0}},"cache":{{}},"timings":{{"send":0,"wait":1,"receive":0}}}}]}}}}"#
    )
}

fn run(
    bytes: &[u8],
    options: &ArtifactOptions,
) -> Result<(Vec<u8>, ArtifactReport), ArtifactError> {
    let mut out = Vec::new();
    let report = artifact::sanitize_seekable(
        Cursor::new(bytes),
        &mut out,
        &Scanner::new(),
        &Redactor::new([9; 32]),
        options,
    )?;
    Ok((out, report))
}

fn entries(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut z = ZipArchive::new(Cursor::new(zip)).unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut b = Vec::new();
            f.read_to_end(&mut b).unwrap();
            (f.name().unwrap().into_owned(), b)
        })
        .collect()
}

fn archive_error(e: ArtifactError) -> ArchiveError {
    match e {
        ArtifactError::Archive(a) => a,
        other => panic!("expected an archive error, got {other:?}"),
    }
}

#[test]
fn zip_of_har_and_log_is_sanitized_entry_by_entry() {
    let har_token = opaque(1, 40);
    let log_token = opaque(2, 40);
    let log = format!(
        "12:00:00 curl -H 'Authorization: Bearer {log_token}' https://api.example.com/\nplain\n"
    );
    let har = har_with(&har_token);
    let input = zip_of(&[
        ("capture.har", har.as_bytes()),
        ("logs/app.log", log.as_bytes()),
        ("notes.txt", b"nothing secret here\n"),
    ]);
    let (out, report) = run(&input, &ArtifactOptions::default()).unwrap();
    assert_eq!(report.kind, Kind::Zip);
    assert_eq!(report.verdict, "clean");
    assert_eq!(report.entries, 3);
    assert!(report.redactions >= 2, "{report:?}");
    let got = entries(&out);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["capture.har", "logs/app.log", "notes.txt"],
        "same names, same order"
    );
    let har_out = String::from_utf8(got[0].1.clone()).unwrap();
    let log_out = String::from_utf8(got[1].1.clone()).unwrap();
    assert!(
        !har_out.contains(&har_token) && har_out.contains("[redacted:"),
        "{har_out}"
    );
    assert!(
        !log_out.contains(&log_token) && log_out.contains("[redacted:"),
        "{log_out}"
    );
    assert!(log_out.ends_with("plain\n"));
    assert_eq!(got[2].1, b"nothing secret here\n");
    // The raw archive really held the tokens (the unsafe variant: no sanitizing).
    let raw = entries(&input);
    assert!(String::from_utf8_lossy(&raw[0].1).contains(&har_token));
    // The output is itself a clean artifact.
    let (_, again) = run(&out, &ArtifactOptions::default()).unwrap();
    assert_eq!(again.redactions, 0);
}

#[test]
fn nested_zip_within_the_depth_limit_is_sanitized() {
    let token = opaque(3, 40);
    let inner = zip_of(&[(
        "inner.log",
        format!("Authorization: Bearer {token}\n").as_bytes(),
    )]);
    let outer = zip_of(&[("inner.zip", &inner)]);
    let (out, report) = run(&outer, &ArtifactOptions::default()).unwrap();
    assert!(report.redactions >= 1);
    let got = entries(&out);
    assert_eq!(got[0].0, "inner.zip");
    let inner_out = entries(&got[0].1);
    assert_eq!(inner_out[0].0, "inner.log");
    let text = String::from_utf8(inner_out[0].1.clone()).unwrap();
    assert!(
        !text.contains(&token) && text.contains("[redacted:"),
        "{text}"
    );
}

#[test]
fn three_deep_nesting_is_refused_by_the_depth_limit() {
    let l3 = zip_of(&[("deep.txt", b"hello\n")]);
    let l2 = zip_of(&[("l3.zip", &l3)]);
    let l1 = zip_of(&[("l2.zip", &l2)]);
    let err = archive_error(run(&l1, &ArtifactOptions::default()).unwrap_err());
    match err.innermost() {
        ArchiveError::TooDeep { path, limit } => {
            assert_eq!(*limit, 2);
            assert_eq!(path, "l2.zip!/l3.zip");
        }
        other => panic!("expected TooDeep, got {other:?}"),
    }
    assert!(err.to_string().contains("nesting deeper than 2"), "{err}");
    // The same archive passes with one more level allowed: the limit is what stops it.
    let mut relaxed = ArtifactOptions::default();
    relaxed.archive.max_depth = 3;
    run(&l1, &relaxed).unwrap();
}

#[test]
fn too_many_entries_are_refused_before_any_is_read() {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    for i in 0..20_000 {
        w.start_file(format!("f{i}.txt"), stored).unwrap();
    }
    let bytes = w.finish().unwrap().into_inner();
    let err = archive_error(run(&bytes, &ArtifactOptions::default()).unwrap_err());
    assert!(
        matches!(
            err,
            ArchiveError::TooManyEntries {
                count: 20_000,
                limit: 10_000
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("20000 entries"), "{err}");
    let mut relaxed = ArtifactOptions::default();
    relaxed.archive.max_entries = 20_000;
    let (_, report) = run(&bytes, &relaxed).unwrap();
    assert_eq!(report.entries, 20_000);
}

#[test]
fn unsafe_entry_names_are_refused() {
    for (name, problem) in [
        ("../evil.txt", NameProblem::ParentDir),
        ("a/../../evil.txt", NameProblem::ParentDir),
        ("/etc/cron.d/x", NameProblem::Absolute),
    ] {
        let bytes = zip_of(&[("ok.txt", b"fine\n"), (name, b"x\n")]);
        let err = archive_error(run(&bytes, &ArtifactOptions::default()).unwrap_err());
        match err {
            ArchiveError::UnsafeName {
                index: 1,
                problem: p,
            } => assert_eq!(p, problem, "{name}"),
            other => panic!("{name}: expected UnsafeName, got {other:?}"),
        }
    }
}

/// `len` bytes of short text lines, streamed into a deflated zip entry.
fn text_bomb(len: u64) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(9))
        .large_file(len > u64::from(u32::MAX) / 2);
    w.start_file("bomb.log", options).unwrap();
    let line =
        "2026-11-28T12:00:00Z INFO GET /static/app.js 200 12ms cache=hit region=eu-west-1 ok\n";
    let chunk = line.repeat((1 << 20) / line.len());
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        w.write_all(&chunk.as_bytes()[..n]).unwrap();
        left -= n as u64;
    }
    w.finish().unwrap().into_inner()
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn one_gib_bomb_is_refused_by_the_ratio_limit_in_bounded_memory() {
    let bomb = text_bomb(1 << 30);
    assert!(bomb.len() < 8 << 20, "the bomb is small: {}", bomb.len());
    let err = archive_error(run(&bomb, &ArtifactOptions::default()).unwrap_err());
    assert!(
        matches!(&err, ArchiveError::Ratio { index: 0, name, limit: 100 } if name == "bomb.log"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("compression ratio exceeds 100:1"),
        "{err}"
    );
    if let Some(kib) = peak_rss_kib() {
        assert!(kib < 512 * 1024, "peak RSS {kib} KiB");
    }
}

/// Rewrites the uncompressed-size fields (local header and central directory) of the
/// only entry of `zip` to `size`: a bomb that lies about itself.
fn lie_about_size(zip: &mut [u8], size: u32) {
    let find = |zip: &[u8], sig: &[u8]| zip.windows(4).position(|w| w == sig).unwrap();
    let local = find(zip, b"PK\x03\x04");
    zip[local + 22..local + 26].copy_from_slice(&size.to_le_bytes());
    let central = find(zip, b"PK\x01\x02");
    zip[central + 24..central + 28].copy_from_slice(&size.to_le_bytes());
}

#[test]
fn a_bomb_lying_about_its_size_is_stopped_while_reading() {
    let mut bomb = text_bomb(64 << 20);
    lie_about_size(&mut bomb, 1000);
    let err = run(&bomb, &ArtifactOptions::default()).unwrap_err();
    // Either the metered read trips the ratio, or the zip reader notices the size
    // mismatch; both refuse, and neither inflates the 64 MiB.
    let err = archive_error(err);
    assert!(
        matches!(
            err,
            ArchiveError::Ratio { index: 0, .. } | ArchiveError::Malformed { index: Some(0), .. }
        ),
        "{err:?}"
    );
    // Relaxing the ratio shows the lie is caught by the reading, not the header.
    let mut relaxed = ArtifactOptions::default();
    relaxed.archive.max_ratio = u64::MAX;
    let honest = text_bomb(2 << 20);
    run(&honest, &relaxed).unwrap();
}

#[test]
fn ratio_limit_is_what_stops_a_small_bomb() {
    let bomb = text_bomb(4 << 20);
    let err = archive_error(run(&bomb, &ArtifactOptions::default()).unwrap_err());
    assert!(matches!(err, ArchiveError::Ratio { .. }), "{err:?}");
    let mut relaxed = ArtifactOptions::default();
    relaxed.archive.max_ratio = u64::MAX;
    let (_, report) = run(&bomb, &relaxed).unwrap();
    assert_eq!(report.entries, 1);
}

#[test]
fn total_uncompressed_size_is_limited_across_entries() {
    let a = opaque(4, 700_000).into_bytes();
    let b = opaque(5, 700_000).into_bytes();
    let bytes = zip_of(&[("a.txt", &a), ("b.txt", &b)]);
    let mut options = ArtifactOptions::default();
    options.archive.max_total_bytes = 1 << 20;
    options.text.max_line_bytes = 1 << 20;
    let err = archive_error(run(&bytes, &options).unwrap_err());
    assert!(
        matches!(&err, ArchiveError::TotalSize { index: 1, name, limit } if name == "b.txt" && *limit == 1 << 20),
        "{err:?}"
    );
    options.archive.max_total_bytes = 2 << 20;
    run(&bytes, &options).unwrap();
}

#[test]
fn a_credential_in_an_entry_name_refuses_the_archive() {
    // Names are kept as they are; a name that carries a credential cannot be cleaned,
    // so the archive is refused (exit 1 in the CLI), and the report does not hold it.
    let token = opaque(6, 40);
    let name = format!("export/https:/app.example.com/cb?access_token={token}.log");
    let bytes = zip_of(&[(name.as_str(), b"hello\n")]);
    let err = run(&bytes, &ArtifactOptions::default()).unwrap_err();
    let report = err.refusal().expect("a refusal");
    assert_eq!(report.verdict, "refused");
    assert!(report.remaining_count >= 1);
    assert!(
        report.remaining[0].pointer.as_deref() == Some("entry #0 name"),
        "{report:?}"
    );
    let json = serde_json::to_string(report).unwrap();
    assert!(!json.contains(&token), "the report holds the value: {json}");
    assert!(!format!("{err} {err:?}").contains(&token));
}

#[test]
fn an_entry_error_names_the_entry() {
    let bytes = zip_of(&[("ok.txt", b"fine\n"), ("bad.log", b"abc \xC3\x28 def\n")]);
    let err = run(&bytes, &ArtifactOptions::default()).unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("#1 (bad.log)") && shown.contains("byte 4"),
        "{shown}"
    );
    // Past the head, invalid UTF-8 is reported by the text sanitizer with its line.
    let mut late = format!("{}abc xyz", "fine line\n".repeat(2000)).into_bytes();
    let n = late.len();
    late[n - 3..].copy_from_slice(b"\xC3\x28x");
    let bytes = zip_of(&[("late.log", &late)]);
    let shown = run(&bytes, &ArtifactOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        shown.contains("#0 (late.log)") && shown.contains("line 2001"),
        "{shown}"
    );
}

#[test]
fn a_zip_from_a_stream_is_held_in_memory_up_to_a_limit() {
    let token = opaque(7, 40);
    let bytes = zip_of(&[(
        "a.log",
        format!("Authorization: Bearer {token}\n").as_bytes(),
    )]);
    let mut out = Vec::new();
    let report = artifact::sanitize(
        &bytes[..],
        &mut out,
        &Scanner::new(),
        &Redactor::new([1; 32]),
        &ArtifactOptions::default(),
    )
    .unwrap();
    assert_eq!(report.kind, Kind::Zip);
    assert!(!String::from_utf8_lossy(&entries(&out)[0].1).contains(&token));
    let mut small = ArtifactOptions::default();
    small.archive.max_nested_bytes = 64;
    let err = artifact::sanitize(
        &bytes[..],
        Vec::new(),
        &Scanner::new(),
        &Redactor::new([1; 32]),
        &small,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            ArtifactError::Archive(ArchiveError::StreamTooLarge { limit: 64 })
        ),
        "{err:?}"
    );
}

/// A credential in an entry name never reaches an error message or a finding's
/// location, even one the detector misses because it is glued to other text (the
/// JWT after `sess-` below). Before the fix, the error quoted the raw name.
#[test]
fn entry_names_in_errors_and_locations_never_carry_a_credential() {
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijklmnopqrstuv";
    let ghp = "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8";
    let bad_har = format!("dir/sess-{jwt}.har");
    let token_log = format!("logs/access_token={ghp}.log");
    let zip = zip_of(&[
        (token_log.as_str(), b"hello\n".as_slice()),
        (bad_har.as_str(), b"{\"log\": {".as_slice()),
    ]);
    let scanner = Scanner::new();
    let redactor = Redactor::new([5; 32]);
    let mut findings = Vec::new();
    let err = artifact::inspect_seekable(
        Cursor::new(&zip),
        &scanner,
        &redactor,
        &ArtifactOptions::default(),
        &mut |f| findings.push(f),
    )
    .unwrap_err();
    let shown = format!("{err} {err:?} {findings:?}");
    assert!(shown.contains("zip entry #1"), "{shown}");
    for secret in [jwt, ghp, "eyJhbGciOiJIUzI1NiJ9"] {
        assert!(!shown.contains(secret), "leaked {secret}: {shown}");
    }
}
