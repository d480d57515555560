//! Scan throughput: sparse mixed text (few matches) and HAR-like JSON.
//! `cargo bench -p custody-scan --bench scan`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use custody_scan::{Field, Scanner};

#[path = "../tests/common/corpus.rs"]
mod corpus;

const SIZE: usize = 16 * 1024 * 1024;

fn bench(c: &mut Criterion) {
    let scanner = Scanner::new();
    let text = corpus::sparse_text(1, SIZE, 1024 * 1024);
    let mixed = corpus::benign_text(2, SIZE);
    let har = corpus::har_like(3, SIZE);
    let mut group = c.benchmark_group("scan");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("text_few_matches_16MiB", |b| {
        b.iter(|| black_box(scanner.scan(black_box(text.as_bytes()))))
    });
    group.throughput(Throughput::Bytes(mixed.len() as u64));
    group.bench_function("text_dense_benign_16MiB", |b| {
        b.iter(|| black_box(scanner.scan(black_box(mixed.as_bytes()))))
    });
    group.throughput(Throughput::Bytes(har.len() as u64));
    group.bench_function("har_like_16MiB", |b| {
        b.iter(|| black_box(scanner.scan(black_box(har.as_bytes()))))
    });
    group.bench_function("har_like_16MiB_scan_field_text", |b| {
        b.iter(|| black_box(scanner.scan_field(Field::Text, black_box(&har))))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
