//! Span regressions reported by callers: markers are never reported (not even
//! partly), spans never start inside a marker nor include surrounding whitespace, and
//! a quoted header value ends at its closing quote.

#![allow(
    clippy::string_slice,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code slicing ASCII inputs at spans the scanner returned; a panic is a test failure"
)]

use custody_scan::{Field, Match, Scanner, is_marker};

const MARKER: &str = "[redacted:bearer-token:ab12cd34ef56]";
const SECRET_MARKER: &str = "[redacted:secret:ab12cd34ef56]";

/// Shared checks: no span overlaps a marker, no span starts or ends on whitespace.
fn assert_clean(value: &str, found: &[Match]) {
    let markers: Vec<std::ops::Range<usize>> = value
        .match_indices("[redacted:")
        .filter_map(|(p, _)| {
            let end = value[p..].find(']').map(|e| p + e + 1)?;
            is_marker(&value[p..end]).then_some(p..end)
        })
        .collect();
    for m in found {
        let text = &value[m.span.clone()];
        assert!(
            !text.starts_with(char::is_whitespace) && !text.ends_with(char::is_whitespace),
            "{m:?} includes whitespace in {value:?}"
        );
        for k in &markers {
            assert!(
                m.span.end <= k.start || k.end <= m.span.start,
                "{m:?} overlaps marker {k:?} in {value:?}"
            );
        }
    }
}

#[test]
fn bug1_marker_after_auth_scheme_is_not_reported() {
    let scanner = Scanner::new();
    let value = format!("Bearer {MARKER}");
    assert!(is_marker(MARKER));
    for field in [
        Field::Header {
            name: "authorization",
        },
        Field::Header {
            name: "Proxy-Authorization",
        },
        Field::JsonKey {
            name: "Authorization",
        },
    ] {
        let found = scanner.scan_field(field, &value);
        assert!(found.is_empty(), "{field:?}: {found:?}");
    }
    // Bare marker and padded marker under an authorization position.
    for v in [
        MARKER.to_owned(),
        format!("  {MARKER}  "),
        format!("Basic {MARKER} "),
    ] {
        let found = scanner.scan_field(
            Field::Header {
                name: "Authorization",
            },
            &v,
        );
        assert!(found.is_empty(), "{v:?}: {found:?}");
    }
}

#[test]
fn bug1_the_check_still_reports_real_credentials_without_whitespace() {
    let scanner = Scanner::new();
    for value in [
        "Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        "Bearer  9f8e7d6c5b4a39281706f5e4d3c2b1a0  ",
        "CustomScheme   s3cr3tV4lue-XYZ ",
        "  9f8e7d6c5b4a39281706f5e4d3c2b1a0 ",
    ] {
        let found = scanner.scan_field(
            Field::Header {
                name: "Authorization",
            },
            value,
        );
        assert_eq!(found.len(), 1, "{value:?}: {found:?}");
        assert_clean(value, &found);
    }
    // A marker followed by a real credential: the credential is still reported.
    let value = format!("Bearer {MARKER}, Basic dXNlcjpodW50ZXIy");
    let found = scanner.scan_field(
        Field::Header {
            name: "Authorization",
        },
        &value,
    );
    assert_clean(&value, &found);
}

#[test]
fn bug2_quoted_cookie_value_ends_at_closing_quote() {
    let scanner = Scanner::new();
    for value in [
        r#""Cookie: session=X" https://example.com/"#,
        r#""Cookie: session=9f8e7d6c5b4a3928" https://example.com/?q=1"#,
        r#"curl -H 'Cookie: PHPSESSID=9f1c2b7e4d' https://example.com/a"#,
        r#"curl -H "Authorization: Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0" https://x.example/"#,
    ] {
        let found = scanner.scan_field(Field::Text, value);
        // `session=X` is too short to report; the others are credentials.
        assert!(
            value.contains("=X\"") || !found.is_empty(),
            "recall: {value:?}"
        );
        for m in &found {
            let text = &value[m.span.clone()];
            assert!(
                !text.contains('"') && !text.contains('\'') && !text.contains("https"),
                "{m:?} = {text:?} runs past the quote in {value:?}"
            );
        }
        assert_clean(value, &found);
    }
}

#[test]
fn bug3_text_never_reports_or_starts_inside_a_marker() {
    let scanner = Scanner::new();
    for value in [
        format!("token={SECRET_MARKER} next words"),
        format!("password: {SECRET_MARKER} and more text here"),
        format!("Authorization: Bearer {MARKER} trailing words"),
        format!("Cookie: session={SECRET_MARKER}; theme=dark"),
        format!("api_key = \"{SECRET_MARKER}\" rest"),
        format!("x {SECRET_MARKER}{MARKER} y"),
    ] {
        let found = scanner.scan_field(Field::Text, &value);
        assert!(found.is_empty(), "{value:?}: {found:?}");
        let found = scanner.scan(value.as_bytes());
        assert!(found.is_empty(), "scan {value:?}: {found:?}");
    }
}

/// The check is what blocks the attack: the same lines with a real secret in place
/// of the marker are reported.
#[test]
fn bug3_same_positions_with_secrets_are_reported() {
    let scanner = Scanner::new();
    for value in [
        "token=9f8e7d6c5b4a39281706f5e4d3c2b1a0 next words",
        "password: hunter2-Xy9 and more text here",
        "Authorization: Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0 trailing words",
        "Cookie: session=9f8e7d6c5b4a3928; theme=dark",
    ] {
        let found = scanner.scan_field(Field::Text, value);
        assert!(!found.is_empty(), "{value:?}");
        assert_clean(value, &found);
    }
}
