//! Throughput of the text/log sanitizer and of the zip path (MB/s of input).
//!
//! `cargo bench -p custody-har --bench kinds`

use std::fmt::Write as _;
use std::hint::black_box;
use std::io::{Cursor, Write as _};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use custody_har::artifact::{self, ArtifactOptions};
use custody_har::text::{self, TextLimits};
use custody_scan::{Field, Redactor, Scanner};

/// A realistic application log: mostly benign lines (request logs with ids, hashes and
/// timings), one line in 50 carrying a credential in one of the heuristic forms.
fn log(bytes: usize) -> String {
    let mut s = String::with_capacity(bytes + 256);
    let mut i: u64 = 0;
    while s.len() < bytes {
        i += 1;
        let id = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let _ = match i % 50 {
            0 => writeln!(
                s,
                "2026-11-28T12:00:{:02}Z DEBUG Authorization: Bearer tok{id:016x}{id:016x}",
                i % 60
            ),
            10 => writeln!(
                s,
                "curl -H 'Cookie: PHPSESSID=s{id:016x}{id:08x}' https://app.example.com/api/{i}"
            ),
            20 => writeln!(
                s,
                "10.0.0.{} - - \"GET /oauth/callback?code=c{id:016x}{id:016x}&state=x HTTP/1.1\" 302 0",
                i % 250
            ),
            30 => writeln!(s, "config reload db_password=pw{id:016x} pool=10"),
            _ => writeln!(
                s,
                "2026-11-28T12:00:{:02}Z INFO GET /api/v1/items/{i}?page=2 200 {}ms request_id={id:016x} etag=\"{id:016x}{id:016x}\"",
                i % 60,
                i % 97
            ),
        };
    }
    s
}

fn bench(c: &mut Criterion) {
    let scanner = Scanner::new();
    let input = log(8 << 20);
    let mut group = c.benchmark_group("kinds");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.bench_function("text_sanitize_8MiB_log", |b| {
        b.iter(|| {
            let redactor = Redactor::new([7; 32]);
            let summary = text::sanitize(
                input.as_bytes(),
                std::io::sink(),
                &scanner,
                &redactor,
                &TextLimits::default(),
            )
            .unwrap_or_default();
            black_box(summary)
        });
    });
    // The ceiling of a line-by-line pass: the free detector alone (`Field::Text`) on
    // every line, no heuristics, no output.
    group.bench_function("free_detector_per_line_8MiB_log", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for line in input.lines() {
                n += scanner.scan_field(Field::Text, line).len();
            }
            black_box(n)
        });
    });
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for i in 0..4 {
        let _ = w.start_file(format!("logs/app-{i}.log"), options);
        let part = input
            .as_bytes()
            .get(i * input.len() / 4..(i + 1) * input.len() / 4);
        let _ = w.write_all(part.unwrap_or_default());
    }
    let zip = w.finish().map(Cursor::into_inner).unwrap_or_default();
    group.bench_function("zip_of_4_logs_8MiB", |b| {
        b.iter(|| {
            let redactor = Redactor::new([7; 32]);
            let report = artifact::sanitize_seekable(
                Cursor::new(&zip),
                std::io::sink(),
                &scanner,
                &redactor,
                &ArtifactOptions::default(),
            );
            black_box(report.is_ok())
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
