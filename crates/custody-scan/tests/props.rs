//! Property tests: no panic on arbitrary input, spans always in bounds, sorted and
//! disjoint; a credential planted in random benign text is found at its place.

#![allow(
    clippy::string_slice,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code slicing ASCII inputs at spans the scanner returned; a panic is a test failure"
)]

mod common;

use common::corpus;
use custody_scan::{Field, Scanner};
use proptest::prelude::*;

fn check_spans(len: usize, found: &[custody_scan::Match]) {
    let mut last = 0;
    for m in found {
        assert!(m.span.start < m.span.end && m.span.end <= len);
        assert!(m.span.start >= last, "overlap");
        last = m.span.end;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn scan_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let scanner = Scanner::new();
        check_spans(bytes.len(), &scanner.scan(&bytes));
    }

    #[test]
    fn scan_never_panics_on_anchor_soup(parts in proptest::collection::vec(prop_oneof![
        Just("eyJ"), Just("Bearer "), Just("Authorization: "), Just("Cookie: "), Just("password="),
        Just("://"), Just("@"), Just("="), Just("&"), Just(";"), Just("\""), Just("%3D"), Just("[redacted:"),
        Just("AKIA"), Just("ghp_"), Just("-----BEGIN PRIVATE KEY-----"), Just("a"), Just("\n"), Just(":AA"),
        Just("sig="), Just("SAMLResponse="), Just("?code="), Just("\\\""), Just("."), Just("7Q~"),
    ], 0..64)) {
        let text: String = parts.concat();
        let scanner = Scanner::new();
        check_spans(text.len(), &scanner.scan(text.as_bytes()));
        for field in [Field::Text, Field::Url, Field::Header { name: "Cookie" }, Field::Header { name: "Authorization" },
                      Field::Query { name: "redirect_uri" }, Field::JsonKey { name: "token" }, Field::Form { name: "password" }] {
            check_spans(text.len(), &scanner.scan_field(field, &text));
        }
    }

    #[test]
    fn scan_field_never_panics(value in "\\PC{0,300}", name in "[a-zA-Z_-]{0,20}") {
        let scanner = Scanner::new();
        for field in [Field::Text, Field::Url, Field::Header { name: &name }, Field::Cookie { name: &name },
                      Field::Query { name: &name }, Field::Form { name: &name }, Field::JsonKey { name: &name }] {
            check_spans(value.len(), &scanner.scan_field(field, &value));
        }
    }

    #[test]
    fn planted_secret_is_found(seed in any::<u64>(), pos in 0usize..4000, which in 0usize..5) {
        let secrets = [
            ("AKIAIOSFODNN7EXAMPLE", "aws-access-key-id"),
            ("glpat-x9Yk2LmN8pQ4rS6tU1vW", "gitlab-token"),
            ("xoxb-2837465019-1827364509182-Zx9Yk2LmN8pQ4rS6tU1vW3aB", "slack-token"),
            ("sk_live_51HxYk2LmN8pQ4rS6tU1vW3aB", "stripe-secret-key"),
            ("AIzaSyDx9Yk2LmN8pQ4rS6tU1vW3aBcDeFgHiJk", "gcp-api-key"),
        ];
        let (secret, rule) = secrets[which];
        let mut text = corpus::benign_text(seed, 4096);
        let mut at = pos.min(text.len());
        while !text.is_char_boundary(at) { at -= 1; }
        text.insert_str(at, &format!(" {secret} "));
        let scanner = Scanner::new();
        let found = scanner.scan(text.as_bytes());
        prop_assert!(found.iter().any(|m| m.rule.id == rule && &text[m.span.clone()] == secret),
            "{rule} not found at {at}");
    }
}

/// Hostile runs of repeated anchors (§13: bounded time): each candidate's
/// confirmation window is bounded and a rule skips candidates inside what it already
/// examined, so these 1 MiB inputs scan in linear time instead of hanging (a
/// quadratic confirmer would take minutes here).
#[test]
fn repeated_anchor_runs_stay_linear() {
    let scanner = Scanner::new();
    for unit in [
        "token=",
        "password=",
        "Cookie: ",
        "Authorization: Basic ",
        "-----BEGIN PRIVATE KEY-----",
        "PuTTY-User-Key-File-",
        "\"token\":\"",
        "eyJ",
        "https://a:b@",
        "?code=",
        "sig=",
        "AKIA",
    ] {
        let hay = unit.repeat((1 << 20) / unit.len());
        let found = scanner.scan(hay.as_bytes());
        check_spans(hay.len(), &found);
        let _ = scanner.scan_field(Field::Text, &hay[..hay.len().min(64 << 10)]);
    }
}
