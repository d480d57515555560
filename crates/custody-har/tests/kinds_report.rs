//! `ArtifactReport` carries the HAR/JSON sanitizer's counts: entries of a HAR,
//! elements of a JSON array, lines of a text, summed over a zip's members.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test helpers: a panic is a test failure"
)]

use std::io::{Cursor, Write as _};

use custody_har::artifact::{self, ArtifactOptions};
use custody_scan::{Redactor, Scanner};

fn har(entries: usize) -> String {
    let entry = r#"{"startedDateTime":"2026-11-28T12:00:00.000Z","time":1,"request":{"method":"GET","url":"https://app.example.com/api","httpVersion":"HTTP/1.1","cookies":[],"headers":[{"name":"Authorization","value":"Bearer Zq9e3779b97f4a7c159e3779b97f4a7c15"}],"queryString":[],"headersSize":-1,"bodySize":0},"response":{"status":200,"statusText":"OK","httpVersion":"HTTP/1.1","cookies":[],"headers":[],"content":{"size":0,"mimeType":"text/plain"},"redirectURL":"","headersSize":-1,"bodySize":0},"cache":{},"timings":{"send":0,"wait":1,"receive":0}}"#;
    let all = vec![entry; entries].join(",");
    format!(
        r#"{{"log":{{"version":"1.2","creator":{{"name":"t","version":"1"}},"entries":[{all}]}}}}"#
    )
}

fn run(input: &[u8]) -> artifact::ArtifactReport {
    let scanner = Scanner::new();
    let redactor = Redactor::new([5; 32]);
    artifact::sanitize_seekable(
        Cursor::new(input),
        std::io::sink(),
        &scanner,
        &redactor,
        &ArtifactOptions::default(),
    )
    .unwrap()
}

#[test]
fn a_har_report_counts_its_entries() {
    let report = run(har(3).as_bytes());
    assert_eq!(report.entries, 3);
    assert_eq!(report.records, 3);
    assert_eq!(report.lines, 0);
    assert_eq!(report.redactions, 3);
    let json = serde_json::to_string(&report).unwrap();
    assert!(
        !json.contains("Zq9e3779b97f4a7c159e3779b97f4a7c15"),
        "{json}"
    );
}

#[test]
fn a_json_report_counts_its_elements_and_a_text_report_its_lines() {
    let report = run(br#"[{"a":1},{"b":2}]"#);
    assert_eq!((report.entries, report.records), (2, 2));
    let report = run(b"one\ntwo\nthree\n");
    assert_eq!((report.entries, report.records, report.lines), (0, 0, 3));
}

#[test]
fn a_zip_report_sums_its_members() {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    w.start_file("a.har", options).unwrap();
    w.write_all(har(2).as_bytes()).unwrap();
    w.start_file("b.har", options).unwrap();
    w.write_all(har(1).as_bytes()).unwrap();
    w.start_file("c.log", options).unwrap();
    w.write_all(b"x\ny\n").unwrap();
    let zip = w.finish().unwrap().into_inner();
    let report = run(&zip);
    assert_eq!(report.entries, 3);
    assert_eq!(report.records, 3);
    assert_eq!(report.lines, 2);
}
