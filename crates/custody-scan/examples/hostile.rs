//! Times `scan` on runs of repeated anchors (a regression probe for quadratic
//! confirmers): `cargo run --release -p custody-scan --example hostile`.

use std::time::Instant;

fn main() {
    let scanner = custody_scan::Scanner::new();
    for unit in [
        "token=",
        "password=",
        "Cookie: ",
        "Authorization: Basic ",
        "-----BEGIN PRIVATE KEY-----",
        "-----BEGIN PUBLIC KEY-----",
        "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n",
        "PRIVATE KEY-----",
        "PuTTY-User-Key-File-",
        "\"token\":\"",
        "eyJ",
        "https://a:b@",
        "?code=",
        "sig=",
        "AKIA",
    ] {
        let hay = unit.repeat((256 << 10) / unit.len());
        let t = Instant::now();
        let n = scanner.scan(hay.as_bytes()).len();
        let a = t.elapsed();
        let t = Instant::now();
        let m = scanner.scan_field(custody_scan::Field::Text, &hay).len();
        println!(
            "{unit:?}: scan {n} in {a:?}, scan_field(Text) {m} in {:?}",
            t.elapsed()
        );
    }
}
