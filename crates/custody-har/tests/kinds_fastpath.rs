//! The text sanitizer's fast pass (prefilters, skipped calls for benign names with
//! plain values) never lets a planted credential through: random log lines carrying a
//! credential in every heuristic form come out without it, with a clean verdict, and
//! no value reaches the summary's `Debug`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test helpers: a panic is a test failure"
)]

use custody_har::text::{self, TextLimits};
use custody_scan::{Redactor, Scanner};
use proptest::prelude::*;

/// One line with `secret` planted in heuristic form `form`, around benign noise.
fn plant(form: u8, secret: &str, noise: &str) -> String {
    match form {
        0 => format!("Authorization: Bearer {secret}"),
        1 => format!("2026-11-28T12:00:01Z DEBUG {noise} Authorization: Bearer {secret}"),
        2 => format!("curl -H 'Cookie: PHPSESSID={secret}' https://app.example.com/{noise}"),
        3 => format!("10.0.0.1 - - \"GET /oauth/callback?code={secret}&state=x HTTP/1.1\" 302 0"),
        4 => format!("config reload db_password={secret} {noise}"),
        5 => format!("{{\"user\": \"{noise}\", \"access_token\": \"{secret}\"}}"),
        6 => format!("see https://app.example.com/cb?page=2&access_token={secret}#x"),
        7 => format!("curl -u admin:{secret} https://app.example.com/{noise}"),
        8 => format!("http POST app.example.com/login Authorization:'Bearer {secret}'"),
        9 => format!("X-Api-Key: {secret}"),
        10 => format!("  password: {secret}"),
        11 => format!("curl -d 'user={noise}&password={secret}' https://app.example.com/login"),
        12 => format!("INFO {noise} ticket={secret} took=3ms"),
        13 => format!("GET /x?next=https%3A%2F%2Fa.example%2Fcb%3Fcode%3D{secret} 200"),
        14 => format!("INFO {noise} set-cookie: sid={secret}; Path=/; HttpOnly"),
        _ => format!("INFO {noise} client_secret='{secret}', pool=10"),
    }
}

fn benign() -> impl Strategy<Value = String> {
    prop_oneof![
        "2026-11-28T12:00:0[0-9]Z INFO GET /api/v1/items/[0-9]{1,4}\\?page=[0-9] 200 [0-9]{1,3}ms request_id=[0-9a-f]{16} etag=\"[0-9a-f]{32}\"",
        // Names from a benign vocabulary: a random `[a-z]{3,8}` name can be a
        // credential name (`jwt: ...` is one, and is rightly redacted).
        "(status|level|region|method|items|page|lang|count)=[A-Za-z0-9]{1,20} (host|path|user_agent|color|route|unit): [a-z0-9./:-]{1,20}",
        "GET https://cdn.example.com/[a-z]{1,8}/app\\.js\\?v=[0-9a-f]{8} 304",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_planted_credential_survives_the_fast_pass(
        form in 0u8..16,
        secret in "[A-Za-z0-9]{4}[0-9][A-Za-z0-9]{23,35}",
        noise in "[a-z]{2,8}",
        before in prop::collection::vec(benign(), 0..4),
        after in prop::collection::vec(benign(), 0..4),
    ) {
        let scanner = Scanner::new();
        let redactor = Redactor::new([3; 32]);
        let mut input = String::new();
        for l in &before {
            input.push_str(l);
            input.push('\n');
        }
        input.push_str(&plant(form, &secret, &noise));
        input.push('\n');
        for l in &after {
            input.push_str(l);
            input.push('\n');
        }
        let mut out = Vec::new();
        let summary = text::sanitize(
            input.as_bytes(), &mut out, &scanner, &redactor, &TextLimits::default(),
        ).unwrap();
        let out = String::from_utf8(out).unwrap();
        prop_assert!(summary.is_clean(), "form {form}: {:?}", summary.remaining);
        prop_assert!(!out.contains(&secret), "form {form} leaked: {out}");
        prop_assert!(summary.redactions() >= 1);
        let debug = format!("{:?}", summary);
        prop_assert!(!debug.contains(&secret));
        // Benign lines pass through unchanged.
        for l in before.iter().chain(&after) {
            prop_assert!(out.contains(l.as_str()), "benign line changed: {l}");
        }
    }
}

/// The fast path is what the bench measures: a benign request-log line is not
/// touched, a credential on the next line is.
#[test]
fn benign_lines_are_kept_and_credentials_are_not() {
    let scanner = Scanner::new();
    let redactor = Redactor::new([3; 32]);
    let input = "2026-11-28T12:00:05Z INFO GET /api/v1/items/5?page=2 200 3ms request_id=9e3779b97f4a7c15 etag=\"9e3779b97f4a7c159e3779b97f4a7c15\"\nINFO reload ticket=ST9e3779b97f4a7c159e3779 took=3ms\n";
    let mut out = Vec::new();
    let summary = text::sanitize(
        input.as_bytes(),
        &mut out,
        &scanner,
        &redactor,
        &TextLimits::default(),
    )
    .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(summary.is_clean());
    assert!(out.starts_with(input.lines().next().unwrap()));
    assert!(!out.contains("ST9e3779b97f4a7c159e3779"), "{out}");
}
