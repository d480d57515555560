//! Temporary PEM timing probe.
use std::time::Instant;
fn main() {
    let src = include_str!("../src/catalogue.rs");
    let a = src.find("pub(crate) static FRAGMENTS").unwrap_or(0);
    let body = &src[a..];
    let body = &body[body.find("= &[").unwrap_or(0)..body.find("];").unwrap_or(0)];
    let body = body.replace("\\\"", "\u{1}");
    let frags: Vec<String> = body.lines().filter(|l| !l.trim_start().starts_with("//")).flat_map(|l| l.split('"').skip(1).step_by(2).map(|f| f.replace('\u{1}', "\"")).collect::<Vec<_>>()).collect();
    println!("{} fragments", frags.len());
    let b = "-----BEGIN PRIVATE KEY-----".repeat(9000);
    for pre in [true, false] {
        let ac = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(aho_corasick::MatchKind::LeftmostFirst)
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .prefilter(pre)
            .build(&frags)
            .unwrap_or_else(|_| std::process::exit(3));
        let t = Instant::now();
        let n = ac.find_iter(b.as_bytes()).count();
        println!("ac prefilter={pre}: {n} {:?}", t.elapsed());
    }
}
