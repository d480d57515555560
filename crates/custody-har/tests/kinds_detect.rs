//! Kind detection by content, not by name: the one entry point picks HAR, JSON, text
//! or zip from the first bytes, refuses what it cannot read (gzip, UTF-16, binary),
//! reports digests and counts without values, and `inspect` reports the same places.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test helpers: a panic is a test failure"
)]

use std::io::{Cursor, Write};

use custody_har::artifact::{self, ArtifactError, ArtifactOptions, ArtifactReport, Kind};
use custody_scan::{Finding, Redactor, Scanner};
use sha2::{Digest, Sha256};

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

fn har_with(token: &str) -> String {
    format!(
        "\u{FEFF}\n  {{ \"log\" : {{\"version\":\"1.2\",\"creator\":{{\"name\":\"t\",\"version\":\"1\"}},\"entries\":[{{\"startedDateTime\":\"2026-11-28T12:00:00.000Z\",\"time\":1,\"request\":{{\"method\":\"GET\",\"url\":\"https://app.example.com/cb?code={token}\",\"httpVersion\":\"HTTP/1.1\",\"cookies\":[],\"headers\":[],\"queryString\":[],\"headersSize\":-1,\"bodySize\":0}},\"response\":{{\"status\":200,\"statusText\":\"OK\",\"httpVersion\":\"HTTP/1.1\",\"cookies\":[],\"headers\":[],\"content\":{{\"size\":0,\"mimeType\":\"text/plain\"}},\"redirectURL\":\"\",\"headersSize\":-1,\"bodySize\":0}},\"cache\":{{}},\"timings\":{{\"send\":0,\"wait\":1,\"receive\":0}}}}]}}}}"
    )
}

fn run(bytes: &[u8], options: &ArtifactOptions) -> Result<(String, ArtifactReport), ArtifactError> {
    let mut out = Vec::new();
    let report = artifact::sanitize(
        bytes,
        &mut out,
        &Scanner::new(),
        &Redactor::new([5; 32]),
        options,
    )?;
    Ok((String::from_utf8_lossy(&out).into_owned(), report))
}

#[test]
fn a_har_is_a_har_whatever_its_name_bom_and_whitespace() {
    // There is no name at all here: only the content decides.
    let token = opaque(1, 32);
    let (out, report) = run(har_with(&token).as_bytes(), &ArtifactOptions::default()).unwrap();
    assert_eq!(report.kind, Kind::Har);
    assert!(!out.contains(&token), "{out}");
    let parsed: serde_json::Value =
        serde_json::from_str(out.trim_start_matches('\u{FEFF}')).unwrap();
    assert_eq!(parsed["log"]["entries"][0]["response"]["status"], 200);
}

#[test]
fn json_text_and_zip_are_told_apart() {
    let token = opaque(2, 40);
    let json = format!("[{{\"user\":\"bob\",\"access_token\":\"{token}\"}}]");
    let (out, report) = run(json.as_bytes(), &ArtifactOptions::default()).unwrap();
    assert_eq!(report.kind, Kind::Json);
    assert!(!out.contains(&token));

    let log = format!("GET /cb?access_token={token} 200\n");
    let (out, report) = run(log.as_bytes(), &ArtifactOptions::default()).unwrap();
    assert_eq!(report.kind, Kind::Text);
    assert!(!out.contains(&token));

    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    w.start_file("a.log", zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(log.as_bytes()).unwrap();
    let zip = w.finish().unwrap().into_inner();
    let (_, report) = run(&zip, &ArtifactOptions::default()).unwrap();
    assert_eq!(report.kind, Kind::Zip);
    assert_eq!(report.entries, 1);
    assert!(report.redactions >= 1);
}

#[test]
fn unreadable_content_is_refused_not_passed() {
    for (bytes, what) in [
        (&[0x1F, 0x8B, 8, 0, 0, 0, 0, 0][..], "gzip"),
        (&[0xFF, 0xFE, b'{', 0][..], "UTF-16"),
        (&b"\x7FELF\x02\x01\x01\0\0\0"[..], "NUL"),
        (&b"BZh91AY&SY"[..], "bzip2"),
    ] {
        let err = run(bytes, &ArtifactOptions::default()).unwrap_err();
        assert!(
            matches!(err, ArtifactError::Unsupported(_)),
            "{what}: {err:?}"
        );
        assert!(err.to_string().contains(what), "{what}: {err}");
    }
}

#[test]
fn a_forced_kind_overrides_detection() {
    let token = opaque(3, 32);
    let mut options = ArtifactOptions {
        kind: Some(Kind::Text),
        ..ArtifactOptions::default()
    };
    let (out, report) = run(har_with(&token).as_bytes(), &options).unwrap();
    assert_eq!(report.kind, Kind::Text);
    assert!(
        !out.contains(&token),
        "the text heuristics still find the URL: {out}"
    );
    options.kind = Some(Kind::Har);
    let err = run(b"{\"items\": []}", &options).unwrap_err();
    assert!(matches!(err, ArtifactError::Sanitize(_)), "{err:?}");
}

#[test]
fn report_digests_are_of_input_and_output_and_hold_no_value() {
    let token = opaque(4, 40);
    let input = format!("Cookie: PHPSESSID={token}\n");
    let (out, report) = run(input.as_bytes(), &ArtifactOptions::default()).unwrap();
    assert_eq!(report.input_sha256, hex(&Sha256::digest(input.as_bytes())));
    assert_eq!(report.output_sha256, hex(&Sha256::digest(out.as_bytes())));
    assert_eq!(report.input_bytes, input.len() as u64);
    assert_eq!(report.verdict, "clean");
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains(&token), "{json}");
    assert!(json.contains("\"by_class\"") && json.contains("\"rules_version\""));
}

/// The HAR and JSON runs inside `artifact` do not hash (the wrapper hashes the very
/// bytes it reads and writes): the report must still carry both digests, of the whole
/// input (BOM and whitespace included) and of the output, for streamed and seekable
/// inputs; and the public `har::sanitize` / `json::sanitize`
/// reports keep their own digests.
#[test]
fn har_and_json_reports_carry_both_digests_on_every_path() {
    let token = opaque(6, 40);
    let har = har_with(&token);
    let json = format!("{{\"items\":[{{\"password\":\"{token}\"}}]}}");
    for input in [har.as_str(), json.as_str()] {
        let (out, report) = run(input.as_bytes(), &ArtifactOptions::default()).unwrap();
        assert!(!out.contains(&token));
        assert_eq!(report.input_sha256, hex(&Sha256::digest(input.as_bytes())));
        assert_eq!(report.output_sha256, hex(&Sha256::digest(out.as_bytes())));

        let mut seek_out = Vec::new();
        let seek_report = artifact::sanitize_seekable(
            Cursor::new(input.as_bytes()),
            &mut seek_out,
            &Scanner::new(),
            &Redactor::new([5; 32]),
            &ArtifactOptions::default(),
        )
        .unwrap();
        assert_eq!(seek_out, out.as_bytes());
        assert_eq!(seek_report.input_sha256, report.input_sha256);
        assert_eq!(seek_report.output_sha256, report.output_sha256);

        let mut direct_out = Vec::new();
        let direct = if report.kind == Kind::Har {
            custody_har::har::sanitize(
                input.as_bytes(),
                &mut direct_out,
                &Scanner::new(),
                &Redactor::new([5; 32]),
                &custody_har::SanitizeOptions::default(),
            )
        } else {
            custody_har::json::sanitize(
                input.as_bytes(),
                &mut direct_out,
                &Scanner::new(),
                &Redactor::new([5; 32]),
                &custody_har::SanitizeOptions::default(),
            )
        }
        .unwrap();
        assert_eq!(direct.input_sha256, hex(&Sha256::digest(input.as_bytes())));
        assert_eq!(direct.output_sha256, hex(&Sha256::digest(&direct_out)));
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn inspect_reports_where_and_writes_nothing() {
    let token = opaque(5, 40);
    let log = format!("ok\nAuthorization: Bearer {token}\n");
    let mut findings: Vec<Finding> = Vec::new();
    let kind = artifact::inspect(
        log.as_bytes(),
        &Scanner::new(),
        &Redactor::new([1; 32]),
        &ArtifactOptions::default(),
        &mut |f| findings.push(f),
    )
    .unwrap();
    assert_eq!(kind, Kind::Text);
    assert!(!findings.is_empty());
    assert_eq!(findings[0].location.line, Some(2));
    assert!(!format!("{findings:?}").contains(&token));

    // Inside a zip, findings name the entry.
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    w.start_file("logs/a.log", zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(log.as_bytes()).unwrap();
    let zip = w.finish().unwrap().into_inner();
    let mut findings: Vec<Finding> = Vec::new();
    let kind = artifact::inspect_seekable(
        Cursor::new(&zip),
        &Scanner::new(),
        &Redactor::new([1; 32]),
        &ArtifactOptions::default(),
        &mut |f| findings.push(f),
    )
    .unwrap();
    assert_eq!(kind, Kind::Zip);
    assert_eq!(findings[0].location.path.as_deref(), Some("logs/a.log"));
    assert_eq!(findings[0].location.line, Some(2));

    // A clean artifact inspects to no findings; a bad one is an error, not "clean".
    let mut n = 0;
    artifact::inspect(
        &b"all fine\n"[..],
        &Scanner::new(),
        &Redactor::new([1; 32]),
        &ArtifactOptions::default(),
        &mut |_| n += 1,
    )
    .unwrap();
    assert_eq!(n, 0);
    let err = artifact::inspect(
        &b"{\"log\": {"[..],
        &Scanner::new(),
        &Redactor::new([1; 32]),
        &ArtifactOptions::default(),
        &mut |_| (),
    )
    .unwrap_err();
    assert!(matches!(err, ArtifactError::Sanitize(_)), "{err:?}");
}
