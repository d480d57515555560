//! Crash safety: a writer process is killed with SIGKILL at random moments 50
//! times; after each reopen every acknowledged event is present with the
//! acknowledged content, and the log verifies.
//!
//! The writer is this test binary re-executed with `CUSTODY_AUDIT_CRASH_DIR`
//! set (see `crash_writer_child`), so no extra build target is needed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation is a test failure"
)]

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use custody_audit::event::{EventKind, sample_event};
use custody_audit::log::{Checkpointer, SystemClock};
use custody_audit::merkle::leaf_hash;
use custody_audit::verify::verify_dir;

const CHILD_ENV: &str = "CUSTODY_AUDIT_CRASH_DIR";
const RUN_ENV: &str = "CUSTODY_AUDIT_CRASH_RUN";

/// The writer: appends from 4 threads forever, printing `ack <index> <leaf hex>`
/// only after `append` returned (the event is durable).
#[test]
fn crash_writer_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return; // Not the child: nothing to do.
    };
    let run: u64 = std::env::var(RUN_ENV).unwrap().parse().unwrap();
    let log = Arc::new(open_log(std::path::Path::new(&dir), 1));
    let _checkpointer = Checkpointer::spawn(
        Arc::clone(&log),
        Arc::new(SystemClock),
        Duration::from_millis(10),
        |_| {},
    );
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for i in 0u64.. {
                    let seq = run * 1_000_000 + t * 100_000 + i;
                    let bytes = sample_event(EventKind::ALL[(seq % 16) as usize], T0, seq)
                        .canonical_bytes()
                        .unwrap();
                    let hash = hex::encode(leaf_hash(&bytes));
                    let index = log.append_record(bytes).unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {index} {hash}").unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// xorshift64*: deterministic delays without a dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

#[test]
fn sigkill_at_random_points_loses_no_acknowledged_event() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut total_runs_with_acks = 0;
    let mut torn_runs = 0;
    for run in 0..50u64 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_writer_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .env(RUN_ENV, run.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Startup of the child takes a few ms; kill 1-50 ms after it is up.
        std::thread::sleep(Duration::from_millis(15 + next(&mut rng) % 50));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let mut this_run = 0;
        for line in out.lines() {
            let mut parts = line.split(' ');
            if parts.next() != Some("ack") {
                continue;
            }
            let (Some(index), Some(hash)) = (parts.next(), parts.next()) else {
                continue; // A line cut by the kill is not an acknowledgement.
            };
            let Ok(index) = index.parse::<u64>() else {
                continue;
            };
            if hash.len() != 64 {
                continue;
            }
            assert!(
                acked.insert(index, hash.to_owned()).is_none(),
                "index {index} acknowledged twice"
            );
            this_run += 1;
        }
        if this_run > 0 {
            total_runs_with_acks += 1;
        }
        // SIGKILL cannot split a write(2) to a regular file, so every third run
        // also simulates what a power cut can leave: part of one more frame.
        if run % 3 == 2 && seg_path(dir.path()).exists() {
            let next_index = payloads(dir.path()).len() as u64;
            let mut frame = Vec::new();
            let event = sample_event(EventKind::Download, T0, run)
                .canonical_bytes()
                .unwrap();
            custody_audit::store::encode_frame(next_index, &event, &mut frame);
            let cut = 1 + (next(&mut rng) as usize) % (frame.len() - 1);
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(seg_path(dir.path()))
                .unwrap();
            f.write_all(&frame[..cut]).unwrap();
        }
        // Reopen as a writer (repairs a torn tail), then check and verify.
        let ro = custody_audit::store::SegmentStore::open_read_only(dir.path()).unwrap();
        if !ro.recovery().torn.is_empty() {
            torn_runs += 1;
        }
        drop(ro);
        // Before repair, read-only verification already passes and reports the tail.
        if seg_path(dir.path()).exists() {
            verify_dir(dir.path(), &anchored())
                .unwrap_or_else(|e| panic!("run {run} before reopen: {e}"));
        }
        drop(open_log(dir.path(), 1));
        let stored = payloads(dir.path());
        for (index, hash) in &acked {
            let record = stored
                .get(*index as usize)
                .unwrap_or_else(|| panic!("run {run}: acknowledged {index} lost"));
            assert_eq!(
                &hex::encode(leaf_hash(record)),
                hash,
                "run {run}: record {index} changed"
            );
        }
        let report =
            verify_dir(dir.path(), &anchored()).unwrap_or_else(|e| panic!("run {run}: {e}"));
        assert_eq!(report.records, stored.len() as u64);
    }
    eprintln!(
        "{total_runs_with_acks} of 50 runs acknowledged events ({} in total); \
         {torn_runs} left a torn tail that reopening repaired",
        acked.len()
    );
    assert!(
        total_runs_with_acks >= 25,
        "only {total_runs_with_acks} runs acknowledged anything"
    );
    assert!(!acked.is_empty());
    assert!(
        torn_runs >= 10,
        "the torn-tail repair path was exercised only {torn_runs} times"
    );
}
