//! Sanitize throughput and peak memory on a generated HAR of SIZE_MB megabytes.
//!
//! `cargo bench -p custody-har --bench sanitize_big -- 100` generates (once)
//! `/var/tmp/custody-bench-100mb.har`, sanitizes it to `/dev/null` on one thread and
//! prints MB/s and the process's peak RSS (VmHWM).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs,
    reason = "benchmark binary"
)]

mod common;

use std::time::Instant;

use custody_har::SanitizeOptions;
use custody_scan::{Redactor, Scanner};

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() {
    let size_mb: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100);
    let path = format!("/var/tmp/custody-bench-{size_mb}mb.har");
    if std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) < size_mb << 20 {
        let file = std::fs::File::create(&path).unwrap();
        let (bytes, entries) = common::write_har(42, size_mb << 20, file).unwrap();
        eprintln!("generated {path}: {bytes} bytes, {entries} entries");
    }
    let scanner = Scanner::new();
    let redactor = Redactor::new([9; 32]);
    let input = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&path).unwrap());
    let output = std::fs::File::create("/dev/null").unwrap();
    let start = Instant::now();
    let report = custody_har::har::sanitize(
        input,
        output,
        &scanner,
        &redactor,
        &SanitizeOptions::default(),
    );
    let secs = start.elapsed().as_secs_f64();
    let report = match report {
        Ok(r) => r,
        Err(e) => panic!("sanitize failed: {e}"),
    };
    let mb = report.bytes_in as f64 / (1024.0 * 1024.0);
    println!(
        "sanitize_big: input {:.1} MiB, {} entries, {} redactions, {:.2} s, {:.1} MiB/s, peak RSS {:.1} MiB",
        mb,
        report.entries,
        report.redactions,
        secs,
        mb / secs,
        vm_hwm_kib() as f64 / 1024.0
    );
}
