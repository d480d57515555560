//! Shared helpers of the integration tests: build a log on disk, read and
//! rewrite its segment frames (raw, or "resealed" with valid CRCs and indices
//! as a capable attacker would).
#![allow(dead_code, reason = "each test binary uses a subset of the helpers")]

use std::fs;
use std::path::{Path, PathBuf};

use custody_audit::event::{EventKind, sample_event};
use custody_audit::log::{AuditLog, LogOptions};
use custody_audit::note::NoteSigner;
use custody_audit::store::{FRAME_HEADER, SegmentOptions, SegmentStore, encode_frame, scan_frames};
use custody_audit::verify::VerifyOptions;

pub const ORIGIN: &str = "audit.test/log";
pub const T0: i64 = 1_764_000_000_000;

pub fn signer(seed: u8) -> NoteSigner {
    NoteSigner::from_seed("audit-test", &[seed; 32]).unwrap()
}

pub fn anchored() -> VerifyOptions {
    VerifyOptions {
        anchors: vec![signer(1).verifier()],
        ..VerifyOptions::default()
    }
}

pub fn open_log(dir: &Path, seed: u8) -> AuditLog<SegmentStore> {
    let store = SegmentStore::open(dir, SegmentOptions::default()).unwrap();
    AuditLog::open(store, signer(seed), LogOptions::new(ORIGIN)).unwrap()
}

/// A log of `n` events with a checkpoint after every `every` events and a final one.
pub fn build_log(dir: &Path, n: u64, every: u64) {
    let log = open_log(dir, 1);
    append_events(&log, 0, n, every);
    log.checkpoint_now(T0 + n as i64 * 10 + 1).unwrap();
}

pub fn append_events(log: &AuditLog<SegmentStore>, from: u64, to: u64, every: u64) {
    for i in from..to {
        let kind = EventKind::ALL[(i % 16) as usize];
        let idx = log
            .append(&sample_event(kind, T0 + i as i64 * 10, i))
            .unwrap();
        assert_eq!(idx, i);
        if every > 0 && (i + 1) % every == 0 {
            log.checkpoint_now(T0 + i as i64 * 10 + 5).unwrap();
        }
    }
}

pub fn seg_path(dir: &Path) -> PathBuf {
    dir.join(format!("{:020}.seg", 0))
}

/// The payloads of the (single) segment.
pub fn payloads(dir: &Path) -> Vec<Vec<u8>> {
    if !seg_path(dir).exists() {
        return Vec::new(); // No record was ever appended.
    }
    let bytes = fs::read(seg_path(dir)).unwrap();
    let mut out = Vec::new();
    scan_frames(&bytes[..], bytes.len() as u64, 0, &mut |_, p| {
        out.push(p.to_vec())
    })
    .unwrap();
    out
}

/// The raw frames (header + payload) of the segment.
pub fn raw_frames(dir: &Path) -> Vec<Vec<u8>> {
    let bytes = fs::read(seg_path(dir)).unwrap();
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        out.push(bytes[pos..pos + FRAME_HEADER + len].to_vec());
        pos += FRAME_HEADER + len;
    }
    out
}

pub fn write_raw(dir: &Path, frames: &[Vec<u8>]) {
    fs::write(seg_path(dir), frames.concat()).unwrap();
}

/// Rewrites the segment with valid frames (indices and CRCs recomputed).
pub fn write_resealed(dir: &Path, payloads: &[Vec<u8>]) {
    let mut buf = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        encode_frame(i as u64, p, &mut buf);
    }
    fs::write(seg_path(dir), buf).unwrap();
}

pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == "LOCK" {
            continue;
        }
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}
