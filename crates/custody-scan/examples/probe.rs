//! Quick throughput probe (one run per corpus, no statistics): `cargo run --release
//! -p custody-scan --example probe`. Use the criterion bench for real figures.

#[path = "../tests/common/corpus.rs"]
mod corpus;

use std::time::Instant;

fn main() {
    let scanner = custody_scan::Scanner::new();
    let corpora = [
        ("text_few_matches", corpus::sparse_text(1, 16 << 20, 1 << 20)),
        ("text_dense_benign", corpus::benign_text(2, 16 << 20)),
        ("har_like", corpus::har_like(3, 16 << 20)),
    ];
    for (name, c) in &corpora {
        let t = Instant::now();
        let n = scanner.scan(c.as_bytes()).len();
        let d = t.elapsed();
        println!("{name}: {n} matches, {:.0} MB/s", c.len() as f64 / d.as_secs_f64() / 1e6);
    }
}
