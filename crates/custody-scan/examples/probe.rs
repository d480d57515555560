
#[path = "../tests/common/corpus.rs"]
mod corpus;
use std::time::Instant;
static FRAGMENTS: &[&str] = &[
    // token prefixes and literal formats (case-sensitive)
    "eyJ", "-----BEGIN ", "PuTTY-User-Key-File-", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_",
    "glpat-", "gldt-", "glrt-", "glptt-", "glsoat-", "ATBB", "ATATT3", "xox", "hooks.slack.com/",
    "/api/webhooks/", ":AA", "k_live_", "k_test_", "EAAA", "sq0", "$production$", "$sandbox$", "AKIA",
    "ASIA", "AWS4-HMAC-SHA256", "AIza", "ya29.", "1//0", "sig=", "SIG=", "AccountKey", "7Q~", "8Q~",
    "npm_", "pypi-AgEIcHlwaS5vcmc", "SG.", "sk-", "shp", "hvs.", "hvb.", "_v1_", "hf_", "DPoP ", "://",
    // credential-bearing names (case variants)
    "oken", "OKEN", "assw", "ASSW", "pwd", "PWD", "ecret", "ECRET", "ession", "ESSION", "essid", "ESSID",
    "uthoriz", "UTHORIZ", "ookie", "OOKIE", "srf", "SRF", "pi_key", "pikey", "pi-key", "piKey", "pi-Key",
    "PI_KEY", "PIKEY", "PI-KEY", "PI-Key", "ccess_key", "ccessKey", "CCESS_KEY", "rivate_key", "rivateKey",
    "RIVATE_KEY", "code=", "CODE=", "\"code\"", "SAMLRe", "samlre", "SAMLRE", "erifier", "ERIFIER",
    "redential", "REDENTIAL", "onnect.sid", "ONNECT.SID", "ASPXAUTH", "aspxauth", "spNetCore.",
    "spnetcore.", "SPNETCORE.", "__Host-", "__host-", "__HOST-", "__Secure-", "__secure-", "__SECURE-",
    // authorization schemes
    "asic ", "ASIC ", "igest ", "IGEST ", "egotiate ", "EGOTIATE ", "NTLM ", "ntlm ", "earer ", "EARER ",
    "SSWS ", "ssws ", "Amz-Signature=", "amz-signature=", "AMZ-SIGNATURE=",
];
fn main() {
    let text = corpus::sparse_text(1, 16 << 20, 1 << 20);
    let har = corpus::har_like(3, 16 << 20);
    for (name, pats) in [("all", FRAGMENTS.to_vec()), ("first48", FRAGMENTS[..48].to_vec()), ("names", FRAGMENTS[48..].to_vec())] {
        let s = aho_corasick::packed::Config::new().heuristic_pattern_limits(false).builder().extend(pats.iter()).build().unwrap();
        let ac = aho_corasick::AhoCorasick::builder().kind(Some(aho_corasick::AhoCorasickKind::DFA)).match_kind(aho_corasick::MatchKind::LeftmostFirst).build(&pats).unwrap();
        for (cname, c) in [("text", &text), ("har", &har)] {
            let t = Instant::now(); let n = s.find_iter(c.as_bytes()).count(); let d = t.elapsed();
            let t2 = Instant::now(); let n2 = ac.find_iter(c.as_bytes()).count(); let d2 = t2.elapsed();
            println!("{name} {cname}: teddy {n} hits {:.0} MB/s | acdfa {n2} hits {:.0} MB/s", c.len() as f64 / d.as_secs_f64() / 1e6, c.len() as f64 / d2.as_secs_f64() / 1e6);
        }
    }
    let scanner = custody_scan::Scanner::new();
    for (cname, c) in [("text", &text), ("har", &har)] {
        let t = Instant::now(); let n = scanner.scan(c.as_bytes()).len(); let d = t.elapsed();
        println!("scan {cname}: {n} matches {:.0} MB/s", c.len() as f64 / d.as_secs_f64() / 1e6);
    }
}
