//! Precision: benign traffic (ETags, hashes, UUIDs, git SHAs, cache keys, base64
//! images, minified JS, analytics ids, SRI hashes, request ids) yields at most one
//! false finding per 10 MB, through `scan` and through `scan_field(Text)`; benign
//! field shapes yield none.

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

const TEN_MB: usize = 10 * 1024 * 1024;

#[test]
fn benign_mixed_text_has_at_most_one_false_finding_per_10_mb() {
    let scanner = Scanner::new();
    let text = corpus::benign_text(42, TEN_MB);
    let found = scanner.scan(text.as_bytes());
    assert!(
        found.len() <= 1,
        "{} false findings: {:?}",
        found.len(),
        found
            .iter()
            .take(5)
            .map(|m| (
                m.rule.id,
                &text[m.span.start.saturating_sub(40)..m.span.end]
            ))
            .collect::<Vec<_>>()
    );
}

#[test]
fn benign_har_like_json_has_at_most_one_false_finding_per_10_mb() {
    let scanner = Scanner::new();
    let har = corpus::har_like(43, TEN_MB);
    let found = scanner.scan(har.as_bytes());
    assert!(
        found.len() <= 1,
        "{} false findings: {:?}",
        found.len(),
        found.iter().take(5).map(|m| m.rule.id).collect::<Vec<_>>()
    );
}

#[test]
fn benign_lines_as_text_fields_are_clean() {
    let scanner = Scanner::new();
    let mut rng = corpus::Rng::new(7);
    let mut false_findings = 0usize;
    let mut total = 0usize;
    while total < 2 * 1024 * 1024 {
        let mut line = String::new();
        corpus::benign_line(&mut rng, &mut line);
        total += line.len();
        false_findings += scanner.scan_field(Field::Text, &line).len();
    }
    assert!(
        false_findings == 0,
        "{false_findings} false findings in 2 MB of text fields"
    );
}

#[test]
fn benign_field_shapes_are_clean() {
    let scanner = Scanner::new();
    let cases: &[(Field<'static>, &str)] = &[
        (
            Field::Header { name: "ETag" },
            "W/\"5e-1Y2cXvYbXLVcdlZOgFW1dFg8bQk\"",
        ),
        (
            Field::Header {
                name: "If-None-Match",
            },
            "\"d41d8cd98f00b204e9800998ecf8427e\"",
        ),
        (
            Field::Header {
                name: "X-Request-Id",
            },
            "3f1c2b7e-4d5a-4b6c-8d9e-0f1a2b3c4d5e",
        ),
        (
            Field::Header {
                name: "Sec-WebSocket-Key",
            },
            "dGhlIHNhbXBsZSBub25jZQ==",
        ),
        (
            Field::Header {
                name: "Content-Security-Policy",
            },
            "script-src 'nonce-rAnd0m123' 'sha256-abc'",
        ),
        (
            Field::Header { name: "Cookie" },
            "_ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; theme=dark; lang=en-US",
        ),
        (
            Field::Header {
                name: "Cache-Control",
            },
            "max-age=3600, must-revalidate",
        ),
        (
            Field::Header { name: "Referer" },
            "https://app.example.com/list?page=2&sort=desc&state=open",
        ),
        (Field::Query { name: "v" }, "5e1f2a3b"),
        (Field::Query { name: "state" }, "open"),
        (Field::Query { name: "key" }, "title"),
        (Field::JsonKey { name: "token_type" }, "Bearer"),
        (Field::JsonKey { name: "expires_in" }, "3600"),
        (
            Field::JsonKey { name: "cacheKey" },
            "v2:9f86d081884c7d659a2feaa0c55ad015",
        ),
        (
            Field::JsonKey { name: "etag" },
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        ),
        (
            Field::JsonKey { name: "integrity" },
            "sha384-oqVuAfXRKap7fdgcCY5uykM6+R9GqQ8K/uxy9rx7HNQlGYl1kPzQho1wx4JwY8wC",
        ),
        (
            Field::JsonKey { name: "id" },
            "3f1c2b7e-4d5a-4b6c-8d9e-0f1a2b3c4d5e",
        ),
        (
            Field::JsonKey {
                name: "keyboardLayout",
            },
            "Zx9Yk2LmN8pQ4rS6tU1vW3aB",
        ),
        (
            Field::JsonKey {
                name: "password_policy",
            },
            "min 8 chars",
        ),
        (
            Field::JsonKey {
                name: "sessionTimeout",
            },
            "1800",
        ),
        (
            Field::Text,
            "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
        ),
        (
            Field::Url,
            "https://cdn.example.com/app.3f1c2b7e.js?v=9f86d081884c7d65&utm_source=x",
        ),
        (
            Field::Form {
                name: "remember_me",
            },
            "true",
        ),
        (Field::Form { name: "username" }, "alice"),
    ];
    for (field, value) in cases {
        let found = scanner.scan_field(*field, value);
        assert!(found.is_empty(), "{field:?} {value:?}: {found:?}");
    }
}
