//! Bad input (DESIGN.md §13): truncated or malformed JSON, valid JSON that is not a
//! HAR, invalid UTF-8, 100,000-deep nesting, a 500 MB string. Each is a clear error
//! naming the position, read in bounded memory, never "no findings", and no error
//! message carries a value from the input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "test code: a panic is a test failure"
)]

#[path = "har_util.rs"]
mod util;

use std::io::Read;

use custody_har::{LimitKind, ParseReason, SanitizeError, SanitizeOptions};
use util::*;

const SECRET: &str = "Zq9Hk2Lm7Vp4Qx1Zt8Rw3Nc6Yb0Jf5GdEr";

fn good_prefix() -> String {
    format!(
        r#"{{"log":{{"version":"1.2","creator":{{"name":"t","version":"1"}},"entries":[{{"request":{{"method":"GET","url":"https://a.example/?access_token={SECRET}","headers":[{{"name":"Authorization","value":"Bearer {SECRET}"}}]"#
    )
}

fn err(input: &[u8]) -> SanitizeError {
    let e = match sanitize_har(input) {
        Ok((out, _)) => panic!("expected an error, got output of {} bytes", out.len()),
        Err(e) => e,
    };
    // Inspect mode fails the same way: an error is never "no findings".
    let mut findings = 0;
    let inspected =
        custody_har::har::inspect(input, scanner(), &SanitizeOptions::default(), &mut |_| {
            findings += 1;
        });
    assert!(inspected.is_err(), "inspect accepted bad input");
    let text = format!("{e} {e:?}");
    assert!(!text.contains(SECRET), "error leaks the secret: {text}");
    assert!(
        !text.contains(&SECRET[..12]),
        "error leaks part of the secret: {text}"
    );
    e
}

#[test]
fn truncated_har_names_the_position() {
    let input = good_prefix();
    for cut in [input.len(), input.len() - 5, 40] {
        let e = err(&input.as_bytes()[..cut]);
        let SanitizeError::Parse(p) = &e else {
            panic!("{e}")
        };
        assert!(
            matches!(p.reason(), ParseReason::UnexpectedEof { .. }),
            "{e}"
        );
        assert!(p.at().byte_offset() <= cut as u64);
        let msg = e.to_string();
        assert!(
            msg.contains("truncated") && msg.contains("byte ") && msg.contains("line 1"),
            "{msg}"
        );
    }
    // Inside an entry the pointer names the entry.
    let e = err(good_prefix().as_bytes());
    assert_eq!(
        e.position().unwrap().pointer(),
        Some("/log/entries/0"),
        "{e}"
    );
}

#[test]
fn malformed_json_names_line_column_and_pointer() {
    let input = "{\n \"log\": {\n  \"version\": \"1.2\",\n  \"entries\": [\n   {\"a\": 1,, \"b\": 2}\n  ]\n }\n}";
    let e = err(input.as_bytes());
    let at = e.position().unwrap();
    assert_eq!((at.line(), at.column()), (5, 12), "{e}");
    assert_eq!(at.pointer(), Some("/log/entries/0"));
    assert!(e.to_string().contains("expected a member name"), "{e}");
    // Trailing garbage after the document.
    let e = err(br#"{"log":{"version":"1.2","entries":[]}} x"#);
    assert!(
        matches!(&e, SanitizeError::Parse(p) if p.reason() == ParseReason::TrailingData),
        "{e}"
    );
}

#[test]
fn valid_json_that_is_not_har_is_refused() {
    for (input, reason) in [
        (&br#"[1, 2, 3]"#[..], "not a JSON object"),
        (br#""log""#, "not a JSON object"),
        (br#"{"foo": {"entries": []}}"#, "no \"log\""),
        (br#"{"log": [1]}"#, "\"log\" is not an object"),
        (br#"{"log": {"version": "1.2"}}"#, "no \"entries\""),
        (br#"{"log": {"entries": {}}}"#, "not an array"),
    ] {
        let e = err(input);
        let SanitizeError::NotHar(n) = &e else {
            panic!("{e}")
        };
        assert!(n.reason().contains(reason), "{e}");
        assert!(e.to_string().starts_with("not a HAR file: "), "{e}");
    }
}

#[test]
fn invalid_utf8_is_refused_with_position() {
    let mut input = good_prefix().into_bytes();
    input.extend_from_slice(b",\"comment\":\"caf\xe9\"}}]}}");
    let e = err(&input);
    let SanitizeError::Parse(p) = &e else {
        panic!("{e}")
    };
    assert_eq!(p.reason(), ParseReason::InvalidUtf8);
    assert_eq!(p.at().pointer(), Some("/log/entries/0"));
    assert!(e.to_string().contains("not valid UTF-8"), "{e}");
}

#[test]
fn deep_nesting_is_a_limit_error_without_stack_overflow() {
    let mut input = br#"{"log":{"version":"1.2","entries":[{"x":"#.to_vec();
    input.extend(std::iter::repeat_n(b'[', 100_000));
    input.extend(std::iter::repeat_n(b']', 100_000));
    input.extend_from_slice(b"}]}}");
    let e = err(&input);
    let SanitizeError::Limit(l) = &e else {
        panic!("{e}")
    };
    assert_eq!(l.what(), LimitKind::Depth);
    assert_eq!(l.limit(), 512);
    assert!(
        l.at().byte_offset() < 1_000,
        "stopped at the limit, not the end"
    );
    assert!(
        e.to_string()
            .contains("nesting depth exceed the limit of 512"),
        "{e}"
    );
}

/// `{"log":{"entries":[{"x":"aaaa…` for `len` bytes of string, then the end.
struct HugeString {
    prefix: Vec<u8>,
    sent: u64,
    len: u64,
    suffix: &'static [u8],
}

impl Read for HugeString {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let plen = self.prefix.len() as u64;
        let total = plen + self.len + self.suffix.len() as u64;
        let mut n = 0;
        while n < buf.len() && self.sent < total {
            buf[n] = if self.sent < plen {
                self.prefix[self.sent as usize]
            } else if self.sent < plen + self.len {
                b'a'
            } else {
                self.suffix[(self.sent - plen - self.len) as usize]
            };
            n += 1;
            self.sent += 1;
        }
        Ok(n)
    }
}

#[test]
fn a_500_mb_string_fails_at_the_limit_in_bounded_memory() {
    let mut reader = HugeString {
        prefix: br#"{"log":{"version":"1.2","entries":[{"x":""#.to_vec(),
        sent: 0,
        len: 500 << 20,
        suffix: br#""}]}}"#,
    };
    let opts = SanitizeOptions {
        max_value_bytes: 1 << 20,
        ..SanitizeOptions::default()
    };
    let mut out = Vec::new();
    let e = custody_har::har::sanitize(&mut reader, &mut out, scanner(), &redactor(), &opts)
        .unwrap_err();
    let SanitizeError::Limit(l) = &e else {
        panic!("{e}")
    };
    assert_eq!(l.what(), LimitKind::ValueBytes);
    assert_eq!(l.at().pointer(), Some("/log/entries/0"));
    // Reading stopped right after the limit: not 500 MB.
    assert!(
        reader.sent < (1 << 20) + (256 << 10),
        "read {} bytes",
        reader.sent
    );
    assert!(
        e.to_string()
            .contains("bytes in one string or number exceed the limit of 1048576"),
        "{e}"
    );
}

#[test]
fn the_default_string_limit_is_below_500_mb() {
    let opts = SanitizeOptions::default();
    assert!(opts.max_value_bytes < 500 << 20 && opts.max_entry_bytes < 500 << 20);
}

#[test]
fn input_and_entry_limits() {
    let doc = har(
        vec![entry(request("GET", "https://a.example/"), response(200))],
        vec![],
    );
    let input = serde_json::to_vec(&doc).unwrap();
    let opts = SanitizeOptions {
        max_input_bytes: Some(100),
        ..SanitizeOptions::default()
    };
    let e = sanitize_har_with(&input, &opts).unwrap_err();
    assert!(
        matches!(&e, SanitizeError::Limit(l) if l.what() == LimitKind::InputBytes),
        "{e}"
    );
    let opts = SanitizeOptions {
        max_entry_bytes: 64,
        ..SanitizeOptions::default()
    };
    let e = sanitize_har_with(&input, &opts).unwrap_err();
    assert!(
        matches!(&e, SanitizeError::Limit(l) if l.what() == LimitKind::EntryBytes),
        "{e}"
    );
    // The unsafe variant: without the limits the same input is accepted.
    assert!(sanitize_har(&input).is_ok());
}
