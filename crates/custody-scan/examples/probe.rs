//! Quick throughput and false-positive probe (one run per corpus, no statistics):
//! `cargo run --release -p custody-scan --example probe`. Use the criterion bench
//! for real figures. `PROBE_MIB` sets the corpus size (default 16), `PROBE_ONLY`
//! picks one corpus (for per-corpus instruction counts under callgrind).

#[path = "../tests/common/corpus.rs"]
mod corpus;

use std::collections::BTreeMap;
use std::time::Instant;

fn main() {
    let scanner = custody_scan::Scanner::new();
    let mib: usize = std::env::var("PROBE_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let size = mib << 20;
    let corpora = [
        ("text_few_matches", corpus::sparse_text(1, size, 1 << 20)),
        ("text_dense_benign", corpus::benign_text(2, size)),
        ("har_like", corpus::har_like(3, size)),
    ];

    let only = std::env::var("PROBE_ONLY").ok();
    for (name, c) in &corpora {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        let t = Instant::now();
        let found = scanner.scan(c.as_bytes());
        let d = t.elapsed();
        let mibs = c.len() as f64 / d.as_secs_f64() / f64::from(1u32 << 20);
        println!(
            "{name}: {} bytes, {} matches, {mibs:.0} MiB/s",
            c.len(),
            found.len()
        );
        let mut by: BTreeMap<&str, usize> = BTreeMap::new();
        for m in &found {
            let seen = by.entry(m.rule.id).or_default();
            if *seen == 0 && std::env::var_os("PROBE_SHOW").is_some() {
                // Shows context only: this probe runs on generated benign corpora.
                let lo = m.span.start.saturating_sub(80);
                let ctx = c
                    .as_bytes()
                    .get(lo..m.span.end.min(lo + 200))
                    .unwrap_or_default();
                println!(
                    "   {} at {}: {}",
                    m.rule.id,
                    m.span.start,
                    String::from_utf8_lossy(ctx)
                );
            }
            *seen += 1;
        }
        println!("   {by:?}");
    }
}
