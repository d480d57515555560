//! Criterion benchmark: HAR sanitize throughput on a generated ~10 MB HAR.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "benchmark code"
)]

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use custody_har::SanitizeOptions;
use custody_scan::{Redactor, Scanner};

fn sanitize_10mb(c: &mut Criterion) {
    let mut har = Vec::new();
    common::write_har(7, 10 << 20, &mut har).unwrap();
    let scanner = Scanner::new();
    let opts = SanitizeOptions::default();
    let mut group = c.benchmark_group("har");
    group.throughput(Throughput::Bytes(har.len() as u64));
    group.sample_size(10);
    group.bench_function("sanitize_10mb", |b| {
        b.iter(|| {
            let redactor = Redactor::new([3; 32]);
            custody_har::har::sanitize(&har[..], std::io::sink(), &scanner, &redactor, &opts)
                .unwrap()
        });
    });
    group.bench_function("inspect_10mb", |b| {
        b.iter(|| {
            let mut n = 0u64;
            custody_har::har::inspect(&har[..], &scanner, &opts, &mut |_| n += 1).unwrap();
            n
        });
    });
    group.finish();
}

criterion_group!(benches, sanitize_10mb);
criterion_main!(benches);
