//! Tamper detection on the on-disk log (issue 4, part 3): every edit is
//! detected and the first bad index is named; each attack is also shown to
//! pass the weaker check it is designed to beat, so the test can fail.
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

use common::*;
use custody_audit::checkpoint::{Checkpoint, SignedCheckpoint};
use custody_audit::merkle::{MerkleTree, leaf_hash};
use custody_audit::note::NoteSigner;
use custody_audit::store::{encode_frame, scan_frames};
use custody_audit::verify::{CheckpointFault, VerifyError, VerifyOptions, verify_dir};

const N: u64 = 40;

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    build_log(dir.path(), N, 8);
    let report = verify_dir(dir.path(), &anchored()).unwrap();
    assert_eq!(report.records, N);
    assert_eq!(report.uncovered, 0);
    dir
}

fn tampered(src: &Path, edit: impl FnOnce(&Path)) -> Result<(), VerifyError> {
    let dst = tempfile::tempdir().unwrap();
    copy_dir(src, dst.path());
    edit(dst.path());
    verify_dir(dst.path(), &anchored()).map(|_| ())
}

/// The frame layer alone (what a log without signed checkpoints would have).
fn frames_look_fine(dir: &Path) -> bool {
    let bytes = fs::read(seg_path(dir)).unwrap();
    let scan = scan_frames(&bytes[..], bytes.len() as u64, 0, &mut |_, _| {}).unwrap();
    scan.tail == custody_audit::store::Tail::Clean
}

#[test]
fn flipping_one_byte_of_any_record_is_detected_at_that_index() {
    let dir = fixture();
    for i in 0..N {
        let err = tampered(dir.path(), |d| {
            let mut frames = raw_frames(d);
            let f = &mut frames[i as usize];
            let at = f.len() / 2;
            f[at] ^= 0x01;
            write_raw(d, &frames);
        })
        .unwrap_err();
        assert_eq!(err.first_bad_index(), Some(i), "{err}");
    }
}

#[test]
fn flipping_a_byte_and_resealing_the_frame_is_caught_by_the_signed_root() {
    let dir = fixture();
    for i in 0..N {
        let err = tampered(dir.path(), |d| {
            let mut p = payloads(d);
            let at = p[i as usize].len() / 3;
            p[i as usize][at] ^= 0x20;
            write_resealed(d, &p);
            // The frame layer is fooled: only the checkpoint catches it.
            assert!(frames_look_fine(d));
        })
        .unwrap_err();
        match err {
            VerifyError::Checkpoint {
                first_bad_index,
                fault: CheckpointFault::RootMismatch { from, to },
                ..
            } => {
                assert!(from <= i && i < to, "{i} not in {from}..{to}");
                assert_eq!(first_bad_index, from);
            }
            other => panic!("record {i}: unexpected {other}"),
        }
    }
}

#[test]
fn deleting_one_record_or_k_consecutive_records_is_detected() {
    let dir = fixture();
    for k in 1..=6usize {
        for start in [0usize, 3, 17, (N as usize) - k] {
            // Raw deletion: the next frame's index is out of sequence.
            let err = tampered(dir.path(), |d| {
                let mut frames = raw_frames(d);
                frames.drain(start..start + k);
                write_raw(d, &frames);
            })
            .unwrap_err();
            assert_eq!(
                err.first_bad_index(),
                Some(start as u64),
                "k={k} start={start}: {err}"
            );
            // Resealed deletion: renumbered frames look fine, the root does not.
            let err = tampered(dir.path(), |d| {
                let mut p = payloads(d);
                p.drain(start..start + k);
                write_resealed(d, &p);
                assert!(frames_look_fine(d));
            })
            .unwrap_err();
            let bad = err.first_bad_index().unwrap();
            assert!(bad <= start as u64, "k={k} start={start}: {err}");
        }
    }
}

#[test]
fn inserting_one_record_is_detected() {
    let dir = fixture();
    for at in [0usize, 5, 20, N as usize - 1] {
        let forged =
            custody_audit::event::sample_event(custody_audit::event::EventKind::Download, T0, 999)
                .canonical_bytes()
                .unwrap();
        let err = tampered(dir.path(), |d| {
            let mut frames = raw_frames(d);
            let mut f = Vec::new();
            encode_frame(at as u64, &forged, &mut f);
            frames.insert(at, f);
            write_raw(d, &frames);
        })
        .unwrap_err();
        // The forged frame carries a plausible index; the displaced original
        // right after it is the first frame out of sequence.
        assert_eq!(err.first_bad_index(), Some(at as u64 + 1), "{err}");
        let err = tampered(dir.path(), |d| {
            let mut p = payloads(d);
            p.insert(at, forged.clone());
            write_resealed(d, &p);
        })
        .unwrap_err();
        assert!(err.first_bad_index().unwrap() <= at as u64, "{err}");
    }
}

#[test]
fn an_appended_record_after_the_last_checkpoint_is_reported_uncovered() {
    let dir = fixture();
    let dst = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), dst.path());
    let mut frames = raw_frames(dst.path());
    let mut f = Vec::new();
    encode_frame(N, b"{}", &mut f);
    frames.push(f);
    write_raw(dst.path(), &frames);
    let report = verify_dir(dst.path(), &anchored()).unwrap();
    assert_eq!(report.uncovered, 1);
}

#[test]
fn reordering_two_records_is_detected() {
    let dir = fixture();
    for (a, b) in [(0usize, 1usize), (3, 9), (38, 39)] {
        let err = tampered(dir.path(), |d| {
            let mut frames = raw_frames(d);
            frames.swap(a, b);
            write_raw(d, &frames);
        })
        .unwrap_err();
        assert_eq!(err.first_bad_index(), Some(a as u64), "{err}");
        let err = tampered(dir.path(), |d| {
            let mut p = payloads(d);
            p.swap(a, b);
            write_resealed(d, &p);
            assert!(frames_look_fine(d));
        })
        .unwrap_err();
        assert!(err.first_bad_index().unwrap() <= a as u64, "{err}");
    }
}

#[test]
fn truncating_the_log_is_detected() {
    let dir = fixture();
    let len = fs::metadata(seg_path(dir.path())).unwrap().len();
    let frames = raw_frames(dir.path());
    for cut in [0u64, 1, 100, len / 2, len - 1] {
        let err = tampered(dir.path(), |d| {
            let f = fs::OpenOptions::new()
                .write(true)
                .open(seg_path(d))
                .unwrap();
            f.set_len(cut).unwrap();
        })
        .unwrap_err();
        // The first missing index is the number of complete frames left.
        let mut complete = 0u64;
        let mut acc = 0u64;
        for f in &frames {
            acc += f.len() as u64;
            if acc <= cut {
                complete += 1;
            }
        }
        assert_eq!(err.first_bad_index(), Some(complete), "cut {cut}: {err}");
    }
}

#[test]
fn a_checkpoint_signed_by_another_key_is_refused() {
    let dir = fixture();
    let evil = NoteSigner::from_seed("audit-test", &[66; 32]).unwrap();
    let rewrite = |d: &Path, resign_keys: bool| {
        // Rewrite the last checkpoint (same body) with the attacker's key.
        let mut notes = read_notes(&d.join("checkpoints.log"));
        let last = notes.pop().unwrap();
        let body = last.split("\n\n").next().unwrap().to_owned() + "\n";
        let cp = Checkpoint::parse(&body).unwrap();
        notes.push(SignedCheckpoint::sign(cp, &evil).unwrap().note);
        if resign_keys {
            for n in notes.iter_mut() {
                let body = n.split("\n\n").next().unwrap().to_owned() + "\n";
                *n = SignedCheckpoint::sign(Checkpoint::parse(&body).unwrap(), &evil)
                    .unwrap()
                    .note;
            }
            write_notes(&d.join("keys.log"), &[evil.verifier().to_string()]);
        }
        write_notes(&d.join("checkpoints.log"), &notes);
    };
    let err = tampered(dir.path(), |d| rewrite(d, false)).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Checkpoint {
                fault: CheckpointFault::Signature(_),
                ..
            }
        ),
        "{err}"
    );
    // An attacker who also replaces the key file fools a verifier that trusts
    // the log's own genesis key ...
    let dst = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), dst.path());
    rewrite(dst.path(), true);
    assert!(verify_dir(dst.path(), &VerifyOptions::default()).is_ok());
    // ... but not one pinned to the real anchor.
    assert!(matches!(
        verify_dir(dst.path(), &anchored()),
        Err(VerifyError::KeyChain(_))
    ));
}

#[test]
fn a_forked_log_is_detected_by_an_earlier_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    build_log(dir.path(), 20, 0);
    // An auditor kept the checkpoint of size 20.
    let kept = read_notes(&dir.path().join("checkpoints.log"))
        .pop()
        .unwrap();
    {
        let log = open_log(dir.path(), 1);
        append_events(&log, 20, 30, 0);
        log.checkpoint_now(T0 + 1_000).unwrap();
    }
    let with_kept = VerifyOptions {
        external_checkpoints: vec![kept.clone()],
        ..anchored()
    };
    verify_dir(dir.path(), &with_kept).unwrap();

    // The operator (holding the real key) rewrites record 7 and re-signs everything.
    let fork = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), fork.path());
    let mut p = payloads(fork.path());
    p[7] = custody_audit::event::sample_event(custody_audit::event::EventKind::View, T0, 7)
        .canonical_bytes()
        .unwrap();
    write_resealed(fork.path(), &p);
    let mut tree = MerkleTree::new();
    for r in &p {
        tree.push(leaf_hash(r));
    }
    let signer = signer(1);
    let resigned: Vec<String> = read_notes(&fork.path().join("checkpoints.log"))
        .iter()
        .map(|n| {
            let size: u64 = n.split('\n').nth(1).unwrap().parse().unwrap();
            let cp = Checkpoint {
                origin: ORIGIN.into(),
                size,
                root: tree.root_at(size).unwrap(),
            };
            SignedCheckpoint::sign(cp, &signer).unwrap().note
        })
        .collect();
    write_notes(&fork.path().join("checkpoints.log"), &resigned);
    // Internally consistent: without the kept checkpoint the fork passes.
    verify_dir(fork.path(), &anchored()).unwrap();
    // With it, the fork is refused.
    let err = verify_dir(fork.path(), &with_kept).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::External {
                fault: CheckpointFault::RootMismatch { .. },
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_log_spanning_a_key_rotation_verifies_and_old_checkpoints_stay_valid() {
    let dir = tempfile::tempdir().unwrap();
    let first;
    {
        let log = open_log(dir.path(), 1);
        append_events(&log, 0, 10, 4);
        first = log.checkpoint_now(T0 + 200).unwrap().note;
        log.rotate_key(signer(2), T0 + 300).unwrap();
        append_events(&log, 10, 25, 5);
        log.checkpoint_now(T0 + 400).unwrap();
    }
    {
        // Reopening needs the new key; the old one is refused.
        let store =
            custody_audit::store::SegmentStore::open(dir.path(), Default::default()).unwrap();
        let old = custody_audit::log::AuditLog::open(
            store,
            signer(1),
            custody_audit::log::LogOptions::new(ORIGIN),
        );
        assert!(matches!(
            old,
            Err(custody_audit::log::OpenError::WrongKey { .. })
        ));
        let log = open_log(dir.path(), 2);
        append_events(&log, 25, 30, 0);
        log.checkpoint_now(T0 + 500).unwrap();
    }
    let report = verify_dir(
        dir.path(),
        &VerifyOptions {
            external_checkpoints: vec![first.clone()],
            ..anchored()
        },
    )
    .unwrap();
    assert_eq!(report.records, 30);
    assert_eq!(report.keys.len(), 2);
    // The pre-rotation checkpoint is still valid on its own under the old key.
    SignedCheckpoint::verify(&first, &[signer(1).verifier()]).unwrap();

    // A rotation statement not co-signed by the old key breaks the chain.
    let bad = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), bad.path());
    let mut keys = read_notes(&bad.path().join("keys.log"));
    let evil = NoteSigner::from_seed("audit-test", &[9; 32]).unwrap();
    keys[1] =
        custody_audit::checkpoint::KeyChain::rotation_statement(ORIGIN, 10, &evil, &signer(2))
            .unwrap();
    write_notes(&bad.path().join("keys.log"), &keys);
    assert!(matches!(
        verify_dir(bad.path(), &anchored()),
        Err(VerifyError::KeyChain(_))
    ));
}

#[test]
fn an_edited_export_slice_is_detected() {
    use custody_audit::reader::LogReader;
    use custody_audit::verify::verify_export;
    let dir = fixture();
    let reader = LogReader::open_dir(dir.path(), &[signer(1).verifier()]).unwrap();
    let mut out = Vec::new();
    let n = reader.export(T0 + 50, T0 + 250, &mut out).unwrap();
    assert_eq!(n, 21);
    let trusted = [signer(1).verifier()];
    let report = verify_export(&out[..], &trusted).unwrap();
    assert_eq!((report.first_index, report.last_index), (Some(5), Some(25)));
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Edit one event field.
    let edited = text.replacen("\"tenant-", "\"tenant-X", 1);
    assert!(verify_export(edited.as_bytes(), &trusted).is_err());
    // Delete a line, reorder two lines.
    let mut deleted = lines.clone();
    deleted.remove(4);
    let err = verify_export(deleted.join("\n").as_bytes(), &trusted).unwrap_err();
    assert_eq!(err.first_bad_index(), Some(10));
    let mut swapped = lines.clone();
    swapped.swap(2, 3);
    assert!(verify_export(swapped.join("\n").as_bytes(), &trusted).is_err());
    // Untrusted key.
    assert!(verify_export(text.as_bytes(), &[signer(5).verifier()]).is_err());
}

fn read_notes(path: &Path) -> Vec<String> {
    let bytes = fs::read(path).unwrap();
    let mut out = Vec::new();
    scan_frames(&bytes[..], bytes.len() as u64, 0, &mut |_, p| {
        out.push(String::from_utf8(p.to_vec()).unwrap())
    })
    .unwrap();
    out
}

fn write_notes(path: &Path, notes: &[String]) {
    let mut buf = Vec::new();
    for (i, n) in notes.iter().enumerate() {
        encode_frame(i as u64, n.as_bytes(), &mut buf);
    }
    fs::write(path, buf).unwrap();
}
