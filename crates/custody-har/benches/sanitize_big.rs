//! Sanitize throughput and peak memory on a generated HAR of SIZE_MB megabytes.
//!
//! `cargo bench -p custody-har --bench sanitize_big -- 100` generates (once)
//! `/var/tmp/custody-bench-100mb.har`, sanitizes it to `/dev/null` on one thread and
//! prints MB/s and the process's peak RSS (VmHWM).
//!
//! With the argument `artifact` it goes through `custody_har::artifact::sanitize_seekable`
//! instead of `har::sanitize`: the path of `custody sanitize <file>` (kind detection,
//! digests computed once around the HAR run).
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
    let artifact = std::env::args().skip(1).any(|a| a == "artifact");
    let scanner = Scanner::new();
    let redactor = Redactor::new([9; 32]);
    let output = std::fs::File::create("/dev/null").unwrap();
    let start = Instant::now();
    let (bytes_in, entries, redactions) = if artifact {
        let input = std::fs::File::open(&path).unwrap();
        let report = custody_har::artifact::sanitize_seekable(
            input,
            output,
            &scanner,
            &redactor,
            &custody_har::artifact::ArtifactOptions::default(),
        );
        match report {
            Ok(r) => {
                assert_eq!(r.input_sha256.len(), 64);
                assert_eq!(r.output_sha256.len(), 64);
                (r.input_bytes, r.entries, r.redactions)
            }
            Err(e) => panic!("sanitize failed: {e}"),
        }
    } else {
        let input = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&path).unwrap());
        let report = custody_har::har::sanitize(
            input,
            output,
            &scanner,
            &redactor,
            &SanitizeOptions::default(),
        );
        match report {
            Ok(r) => (r.bytes_in, r.entries, r.redactions),
            Err(e) => panic!("sanitize failed: {e}"),
        }
    };
    let secs = start.elapsed().as_secs_f64();
    let mb = bytes_in as f64 / (1024.0 * 1024.0);
    println!(
        "sanitize_big{}: input {:.1} MiB, {} entries, {} redactions, {:.2} s, {:.1} MiB/s, peak RSS {:.1} MiB",
        if artifact { " (artifact)" } else { "" },
        mb,
        entries,
        redactions,
        secs,
        mb / secs,
        vm_hwm_kib() as f64 / 1024.0
    );
}
