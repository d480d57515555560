//! Append receipts close the tail-deletion gap (docs/audit.md §5): every group
//! commit is acknowledged with a signed checkpoint that covers it, so records
//! appended after the latest stored checkpoint can no longer be deleted or
//! rewritten undetected by whoever holds the receipt. Each attack is also shown
//! to pass verification without the receipt, so the tests can fail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation is a test failure"
)]

mod common;

use std::fs;
use std::path::Path;
use std::sync::Arc;

use common::*;
use custody_audit::checkpoint::SignedCheckpoint;
use custody_audit::event::{EventKind, sample_event};
use custody_audit::log::Receipt;
use custody_audit::merkle::{leaf_hash, verify_inclusion};
use custody_audit::store::{FRAME_HEADER, encode_frame};
use custody_audit::verify::{CheckpointFault, VerifyError, VerifyOptions, verify_dir};

fn with_receipt(receipt: &Receipt) -> VerifyOptions {
    VerifyOptions {
        external_checkpoints: vec![receipt.checkpoint.note.clone()],
        ..anchored()
    }
}

/// A log whose only stored checkpoint is the one signed at open (size 0):
/// every record is "after the latest checkpoint", the gap receipts close.
/// Returns the receipt of the last append.
fn unsealed_log(dir: &Path, n: u64) -> Receipt {
    let log = open_log(dir, 1);
    let mut last = None;
    for i in 0..n {
        let event = sample_event(EventKind::ALL[(i % 16) as usize], T0 + i as i64, i);
        let receipt = log.append_with_receipt(&event).unwrap();
        assert_eq!(receipt.range, i..i + 1);
        last = Some(receipt);
    }
    assert_eq!(log.latest_checkpoint().unwrap().checkpoint.size, 0);
    last.unwrap()
}

/// Keeps the first `keep` record frames of the segment (a deletion at frame
/// boundaries: the frame layer cannot see it).
fn truncate_records(dir: &Path, keep: usize) {
    let frames = raw_frames(dir);
    write_raw(dir, &frames[..keep]);
}

#[test]
fn a_receipt_is_a_signed_checkpoint_that_proves_the_event() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(dir.path(), 1);
    for i in 0..5u64 {
        let event = sample_event(EventKind::Download, T0 + i as i64, i);
        let receipt = log.append_with_receipt(&event).unwrap();
        assert_eq!(receipt.range, i..i + 1);
        let cp = SignedCheckpoint::verify(&receipt.checkpoint.note, &[signer(1).verifier()])
            .unwrap()
            .checkpoint;
        assert_eq!(cp, receipt.checkpoint.checkpoint);
        assert_eq!(cp.origin, ORIGIN);
        assert!(cp.size > i, "the receipt covers the event");
        let proof = log.inclusion_proof(i, cp.size).unwrap();
        let leaf = leaf_hash(&event.record_bytes().unwrap());
        verify_inclusion(i, cp.size, &leaf, &proof, &cp.root).unwrap();
    }
    // A batch gets one receipt covering all of it.
    let batch: Vec<Vec<u8>> = (5..9u64)
        .map(|i| sample_event(EventKind::View, T0, i).record_bytes().unwrap())
        .collect();
    let receipt = log.append_records_with_receipt(batch).unwrap();
    assert_eq!(receipt.range, 5..9);
    assert_eq!(receipt.checkpoint.checkpoint.size, 9);
    assert_eq!(
        receipt.checkpoint.checkpoint.root,
        log.root_at(9).unwrap(),
        "the receipt signs the tree right after the batch"
    );
}

#[test]
fn concurrent_appenders_each_get_a_receipt_covering_their_event() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open_log(dir.path(), 1));
    let receipts: Vec<Receipt> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16u64)
            .map(|t| {
                let log = Arc::clone(&log);
                s.spawn(move || {
                    (0..10u64)
                        .map(|i| {
                            let seq = t * 10 + i;
                            log.append_with_receipt(&sample_event(EventKind::Export, T0, seq))
                                .unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(receipts.len(), 160);
    let key = signer(1).verifier();
    for r in &receipts {
        let cp = SignedCheckpoint::verify(&r.checkpoint.note, std::slice::from_ref(&key))
            .unwrap()
            .checkpoint;
        assert!(cp.size >= r.range.end);
        assert_eq!(cp.root, log.root_at(cp.size).unwrap());
    }
    drop(log);
    for r in &receipts {
        verify_dir(dir.path(), &with_receipt(r)).unwrap();
    }
}

#[test]
fn deleting_acknowledged_tail_records_is_caught_with_the_receipt_only() {
    const N: u64 = 12;
    let dir = tempfile::tempdir().unwrap();
    let receipt = unsealed_log(dir.path(), N);
    assert_eq!(receipt.checkpoint.checkpoint.size, N);
    verify_dir(dir.path(), &with_receipt(&receipt)).unwrap();
    for deleted in 1..=4u64 {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), copy.path());
        truncate_records(copy.path(), (N - deleted) as usize);
        // Without the receipt the deletion is invisible: the log still verifies.
        let report = verify_dir(copy.path(), &anchored()).unwrap();
        assert_eq!(report.records, N - deleted);
        // With it, verification fails and names the first deleted record.
        let err = verify_dir(copy.path(), &with_receipt(&receipt)).unwrap_err();
        match &err {
            VerifyError::External {
                first_bad_index,
                fault: CheckpointFault::MissingRecords { size, present },
                ..
            } => {
                assert_eq!(*first_bad_index, N - deleted);
                assert_eq!((*size, *present), (N, N - deleted));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(err.first_bad_index(), Some(N - deleted));
    }
}

#[test]
fn deleting_the_tail_with_its_stored_checkpoint_is_caught_with_the_receipt() {
    // Records 0..8 are sealed by a stored checkpoint, 8..12 are then covered
    // by a stored checkpoint too; the attacker drops records 8.. and that
    // checkpoint: the remaining log is a consistent, smaller log.
    let dir = tempfile::tempdir().unwrap();
    let receipt = {
        let log = open_log(dir.path(), 1);
        append_events(&log, 0, 8, 0);
        log.checkpoint_now(T0 + 100).unwrap();
        let r = log
            .append_with_receipt(&sample_event(EventKind::Download, T0 + 200, 8))
            .unwrap();
        append_events(&log, 9, 12, 0);
        log.checkpoint_now(T0 + 300).unwrap();
        r
    };
    assert_eq!(receipt.checkpoint.checkpoint.size, 9);
    truncate_records(dir.path(), 8);
    let notes = dir.path().join("checkpoints.log");
    let mut kept = Vec::new();
    for (seq, note) in stored_notes(&notes).iter().enumerate() {
        if note.split('\n').nth(1).unwrap().parse::<u64>().unwrap() <= 8 {
            encode_frame(seq as u64, note.as_bytes(), &mut kept);
        }
    }
    fs::write(&notes, kept).unwrap();
    verify_dir(dir.path(), &anchored()).unwrap();
    let err = verify_dir(dir.path(), &with_receipt(&receipt)).unwrap_err();
    assert_eq!(err.first_bad_index(), Some(8), "{err}");
}

#[test]
fn rewriting_the_tail_after_an_ack_is_caught_with_the_receipt() {
    // The attacker holds the directory and the signing key: deletes the last
    // three acknowledged records, appends others in their place and signs a
    // fresh checkpoint. The log is internally consistent; the receipt is not.
    const N: u64 = 10;
    let dir = tempfile::tempdir().unwrap();
    let receipt = unsealed_log(dir.path(), N);
    truncate_records(dir.path(), (N - 3) as usize);
    {
        let log = open_log(dir.path(), 1);
        for i in N - 3..N {
            let forged = sample_event(EventKind::View, T0 + i as i64, i + 1000);
            assert_eq!(log.append(&forged).unwrap(), i);
        }
        log.checkpoint_now(T0 + 999).unwrap();
    }
    let report = verify_dir(dir.path(), &anchored()).unwrap();
    assert_eq!((report.records, report.uncovered), (N, 0));
    let err = verify_dir(dir.path(), &with_receipt(&receipt)).unwrap_err();
    match err {
        VerifyError::External {
            fault: CheckpointFault::RootMismatch { .. },
            ..
        } => {}
        other => panic!("unexpected {other:?}"),
    }
}

/// The notes of a note file (frames of the store format).
fn stored_notes(path: &Path) -> Vec<String> {
    let bytes = fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        out.push(
            String::from_utf8(bytes[pos + FRAME_HEADER..pos + FRAME_HEADER + len].to_vec())
                .unwrap(),
        );
        pos += FRAME_HEADER + len;
    }
    out
}
