//! Record encodings end to end (docs/audit.md §2): logs of compact records and
//! of legacy canonical-JSON records (and a mix) verify, export, verify offline
//! and tail alike; an exported event whose OCSF members were edited, even ones
//! the compact record does not store (they derive from the kind), is refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation is a test failure"
)]

mod common;

use common::*;
use custody_audit::event::{EventKind, sample_event};
use custody_audit::reader::{LogReader, TailFilter};
use custody_audit::verify::{verify_dir, verify_export};

/// A log whose even records are compact and odd records legacy JSON.
fn mixed_log(dir: &std::path::Path, n: u64) {
    let log = open_log(dir, 1);
    for i in 0..n {
        let e = sample_event(EventKind::ALL[(i % 16) as usize], T0 + i as i64 * 10, i);
        let bytes = if i % 2 == 0 {
            e.record_bytes().unwrap()
        } else {
            e.canonical_bytes().unwrap()
        };
        assert_eq!(log.append_record(bytes).unwrap(), i);
    }
    log.checkpoint_now(T0 + 1_000_000).unwrap();
}

#[test]
fn compact_and_legacy_records_verify_export_and_tail_alike() {
    let dir = tempfile::tempdir().unwrap();
    mixed_log(dir.path(), 32);
    assert_eq!(verify_dir(dir.path(), &anchored()).unwrap().records, 32);
    let reader = LogReader::open_dir(dir.path(), &[signer(1).verifier()]).unwrap();
    let mut out = Vec::new();
    assert_eq!(reader.export(T0, T0 + 310, &mut out).unwrap(), 32);
    let report = verify_export(&out[..], &[signer(1).verifier()]).unwrap();
    assert_eq!(report.lines, 32);
    let text = String::from_utf8(out).unwrap();
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let e = sample_event(EventKind::ALL[i % 16], T0 + i as i64 * 10, i as u64);
        assert_eq!(v["event"], e.to_ocsf(), "line {i} shows the logged event");
    }
    let downloads = reader
        .tail(
            &TailFilter {
                activity: Some("download".into()),
                ..TailFilter::default()
            },
            100,
        )
        .unwrap();
    assert_eq!(
        downloads.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        vec![2, 18],
        "one compact and one legacy download"
    );
}

#[test]
fn editing_a_derived_ocsf_member_of_an_exported_event_is_detected() {
    // A download relabelled as a view in the SIEM copy (the 2023 failure): the
    // compact record does not store class or activity, they derive from the
    // kind, so only the strict inverse mapping catches this edit.
    let dir = tempfile::tempdir().unwrap();
    mixed_log(dir.path(), 4);
    let reader = LogReader::open_dir(dir.path(), &[signer(1).verifier()]).unwrap();
    let mut out = Vec::new();
    reader.export(T0, T0 + 30, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let line = text.lines().nth(2).unwrap(); // index 2: a compact download
    assert!(line.contains("\"activity_name\":\"Download\""), "{line}");
    verify_export(line.as_bytes(), &[signer(1).verifier()]).unwrap();
    for (from, to) in [
        (
            "\"activity_name\":\"Download\"",
            "\"activity_name\":\"Preview\"",
        ),
        ("\"activity_id\":2,", "\"activity_id\":9,"),
        ("\"type_uid\":600602", "\"type_uid\":600609"),
        ("\"severity_id\":1", "\"severity_id\":4"),
    ] {
        let edited = line.replacen(from, to, 1);
        assert_ne!(edited, line, "{from}");
        let err = verify_export(edited.as_bytes(), &[signer(1).verifier()]).unwrap_err();
        assert!(err.to_string().contains("does not hash"), "{from}: {err}");
    }
    let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["event"]["note"] = serde_json::Value::from("added");
    assert!(verify_export(v.to_string().as_bytes(), &[signer(1).verifier()]).is_err());
}

#[test]
fn a_malformed_export_line_is_refused_without_quoting_it() {
    let line = r#"{"index":"s3cr3t-token-value","leaf_hash":"00"}"#;
    let err = verify_export(line.as_bytes(), &[signer(1).verifier()]).unwrap_err();
    let (shown, debug) = (err.to_string(), format!("{err:?}"));
    assert!(shown.contains("not an export line"), "{shown}");
    assert!(
        !shown.contains("s3cr3t") && !debug.contains("s3cr3t"),
        "{shown}"
    );
}
