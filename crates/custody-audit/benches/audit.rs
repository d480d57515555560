//! Benchmarks of the audit log (issue 4): durable appends per second with group
//! commit, verify throughput, and proof generation latency.
//!
//! Run: `cargo bench -p custody-audit --bench audit`. Logs are written under
//! `CUSTODY_BENCH_DIR` (default: the system temp dir), which must be on a real
//! disk for the fsync figures to mean anything.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "benchmark harness"
)]

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use custody_audit::checkpoint::{Checkpoint, SignedCheckpoint};
use custody_audit::event::{EventKind, sample_event};
use custody_audit::log::{AuditLog, LogOptions};
use custody_audit::merkle::{MerkleTree, leaf_hash};
use custody_audit::note::NoteSigner;
use custody_audit::store::{SegmentOptions, SegmentStore};
use custody_audit::verify::{VerifyOptions, verify_dir, verify_dir_with_threads};

const T0: i64 = 1_764_000_000_000;

fn bench_dir() -> tempfile::TempDir {
    let base = std::env::var_os("CUSTODY_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    tempfile::tempdir_in(base).unwrap()
}

fn open(dir: &std::path::Path) -> AuditLog<SegmentStore> {
    let store = SegmentStore::open(dir, SegmentOptions::default()).unwrap();
    let signer = NoteSigner::from_seed("bench", &[1; 32]).unwrap();
    AuditLog::open(store, signer, LogOptions::new("bench/log")).unwrap()
}

/// Records as `AuditLog::append` writes them (compact form), or as canonical
/// OCSF JSON (the legacy leaf data) when `CUSTODY_BENCH_LEAF=json`.
fn records(n: u64) -> Vec<Vec<u8>> {
    let json = std::env::var("CUSTODY_BENCH_LEAF").is_ok_and(|v| v == "json");
    (0..n)
        .map(|i| {
            let e = sample_event(EventKind::ALL[(i % 16) as usize], T0 + i as i64, i);
            if json {
                e.canonical_bytes().unwrap()
            } else {
                e.record_bytes().unwrap()
            }
        })
        .collect()
}

/// Durable appends: `threads` concurrent appenders, each event acknowledged
/// only after its batch's fsync.
fn appends(c: &mut Criterion) {
    let mut g = c.benchmark_group("append_durable");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));
    for threads in [1usize, 16, 64, 256] {
        let per_thread = if threads == 1 {
            200
        } else {
            4096 / threads.min(64) * 2
        };
        let total = (threads * per_thread) as u64;
        let batch = Arc::new(records(total));
        g.throughput(Throughput::Elements(total));
        g.bench_with_input(
            BenchmarkId::from_parameter(threads),
            &threads,
            |b, &threads| {
                let dir = bench_dir();
                let log = Arc::new(open(dir.path()));
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        std::thread::scope(|s| {
                            for t in 0..threads {
                                let log = Arc::clone(&log);
                                let batch = Arc::clone(&batch);
                                s.spawn(move || {
                                    for r in batch.iter().skip(t * per_thread).take(per_thread) {
                                        black_box(log.append_record(r.clone()).unwrap());
                                    }
                                });
                            }
                        });
                    }
                    start.elapsed()
                });
            },
        );
    }
    g.finish();
}

/// Offline verification of a whole log directory (frames, tree, checkpoints),
/// on every CPU (`log_dir`) and on one thread (`log_dir_1thread`).
fn verify(c: &mut Criterion) {
    let n: u64 = std::env::var("CUSTODY_BENCH_VERIFY_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let dir = bench_dir();
    {
        let log = Arc::new(open(dir.path()));
        let all = Arc::new(records(n));
        std::thread::scope(|s| {
            for t in 0..64usize {
                let log = Arc::clone(&log);
                let all = Arc::clone(&all);
                s.spawn(move || {
                    for r in all.iter().skip(t).step_by(64) {
                        log.append_record(r.clone()).unwrap();
                    }
                });
            }
        });
        // A checkpoint every 4096 records, as a busy log would have.
        log.checkpoint_now(T0).unwrap();
    }
    let options = VerifyOptions {
        anchors: vec![NoteSigner::from_seed("bench", &[1; 32]).unwrap().verifier()],
        ..VerifyOptions::default()
    };
    assert_eq!(verify_dir(dir.path(), &options).unwrap().records, n);
    let bytes: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    // CPU cost, independent of how busy the shared machine is.
    let (wall, cpu0) = (Instant::now(), cpu_seconds());
    for _ in 0..3 {
        black_box(verify_dir(dir.path(), &options).unwrap());
    }
    let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
    eprintln!(
        "verify of {n} events ({:.0} bytes/event on disk): wall {:.0} events/s, CPU {:.3} us/event (all threads) = {:.0} events per CPU-second",
        bytes as f64 / n as f64,
        3.0 * n as f64 / wall,
        cpu * 1e6 / (3.0 * n as f64),
        3.0 * n as f64 / cpu
    );
    let mut g = c.benchmark_group("verify");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(n));
    g.bench_function(BenchmarkId::new("log_dir", n), |b| {
        b.iter(|| black_box(verify_dir(dir.path(), &options).unwrap()));
    });
    g.bench_function(BenchmarkId::new("log_dir_1thread", n), |b| {
        b.iter(|| black_box(verify_dir_with_threads(dir.path(), &options, 1).unwrap()));
    });
    g.finish();
}

/// User + system CPU seconds of this process (all threads), from /proc (USER_HZ = 100).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = stat.rsplit(')').next().unwrap();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// Proof generation on a 1,048,576-leaf tree.
fn proofs(c: &mut Criterion) {
    let n = 1u64 << 20;
    let mut tree = MerkleTree::new();
    let build = Instant::now();
    for i in 0..n {
        tree.push(leaf_hash(&i.to_le_bytes()));
    }
    eprintln!("tree of {n} leaves built in {:?}", build.elapsed());
    let mut g = c.benchmark_group("proof");
    g.sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let mut i = 12_345u64;
    g.bench_function("inclusion_1M", |b| {
        b.iter(|| {
            i = (i * 7919 + 13) % n;
            black_box(tree.inclusion_proof(i, n - 3).unwrap())
        });
    });
    g.bench_function("consistency_1M", |b| {
        b.iter(|| {
            i = (i * 7919 + 13) % (n - 10) + 1;
            black_box(tree.consistency_proof(i, n - 3).unwrap())
        });
    });
    g.bench_function("root_1M", |b| {
        b.iter(|| black_box(tree.root_at(n - 3).unwrap()))
    });
    // What an append receipt adds to each group commit: the root and one Ed25519 signature.
    let signer = NoteSigner::from_seed("bench", &[1; 32]).unwrap();
    g.bench_function("receipt_1M", |b| {
        b.iter(|| {
            let cp = Checkpoint {
                origin: "bench/log".into(),
                size: n - 3,
                root: tree.root_at(n - 3).unwrap(),
            };
            black_box(SignedCheckpoint::sign(cp, &signer).unwrap())
        });
    });
    g.finish();
}

criterion_group!(benches, appends, verify, proofs);
criterion_main!(benches);
