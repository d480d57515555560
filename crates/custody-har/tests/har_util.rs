//! Shared helpers of the custody-har integration tests (included with `#[path]`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::string_slice,
    reason = "test code: a panic is a test failure"
)]
#![allow(
    dead_code,
    reason = "each test file uses a different subset of the helpers"
)]

use std::sync::OnceLock;

use custody_har::{Report, SanitizeError, SanitizeOptions};
use custody_scan::{Redactor, Scanner};

/// One compiled scanner for all tests of a binary.
pub fn scanner() -> &'static Scanner {
    static SCANNER: OnceLock<Scanner> = OnceLock::new();
    SCANNER.get_or_init(Scanner::new)
}

/// A fixed-key redactor (tests only; production keys are random per artifact).
pub fn redactor() -> Redactor {
    Redactor::new([7u8; 32])
}

/// Sanitizes a HAR given as bytes.
pub fn sanitize_har(input: &[u8]) -> Result<(String, Report), SanitizeError> {
    sanitize_har_with(input, &SanitizeOptions::default())
}

/// Sanitizes a HAR with options.
pub fn sanitize_har_with(
    input: &[u8],
    opts: &SanitizeOptions,
) -> Result<(String, Report), SanitizeError> {
    let mut out = Vec::new();
    let report = custody_har::har::sanitize(input, &mut out, scanner(), &redactor(), opts)?;
    Ok((String::from_utf8(out).expect("output is UTF-8"), report))
}

/// Validates a HAR document against the vendored HAR 1.2 schema.
pub fn assert_valid_har(doc: &serde_json::Value) {
    static SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
    let validator = SCHEMA.get_or_init(|| {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("data/har-1.2.schema.json")).unwrap();
        jsonschema::validator_for(&schema).unwrap()
    });
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "output is not valid HAR 1.2: {errors:#?}"
    );
}

/// Percent-encoding of every non-unreserved byte.
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Standard base64.
pub fn b64(s: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// URL-safe base64 without padding.
pub fn b64url(s: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

/// Asserts `secret` appears in `out` in none of its raw, percent-encoded or base64
/// forms.
pub fn assert_gone(out: &str, secret: &str, what: &str) {
    assert!(!out.contains(secret), "{what}: raw value survived");
    let pe = percent_encode(secret);
    assert!(!out.contains(&pe), "{what}: percent-encoded value survived");
    if secret.len() >= 6 {
        let enc = b64(secret.as_bytes());
        // Compare the stable middle of the encoding (padding and alignment vary).
        let core = &enc[..enc.len().saturating_sub(4)];
        assert!(!out.contains(core), "{what}: base64 value survived");
    }
}

/// A minimal valid HAR entry around a request and response.
pub fn entry(request: serde_json::Value, response: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "startedDateTime": "2026-11-28T10:00:00.000Z",
        "time": 12.5,
        "request": request,
        "response": response,
        "cache": {},
        "timings": { "send": 1, "wait": 10, "receive": 1.5 }
    })
}

/// A request object with defaults.
pub fn request(method: &str, url: &str) -> serde_json::Value {
    serde_json::json!({
        "method": method, "url": url, "httpVersion": "HTTP/1.1",
        "cookies": [], "headers": [], "queryString": [], "headersSize": -1, "bodySize": 0
    })
}

/// A response object with defaults.
pub fn response(status: u16) -> serde_json::Value {
    serde_json::json!({
        "status": status, "statusText": "OK", "httpVersion": "HTTP/1.1",
        "cookies": [], "headers": [],
        "content": { "size": 0, "mimeType": "text/plain" },
        "redirectURL": "", "headersSize": -1, "bodySize": 0
    })
}

/// A HAR document around entries (and optional pages).
pub fn har(entries: Vec<serde_json::Value>, pages: Vec<serde_json::Value>) -> serde_json::Value {
    serde_json::json!({
        "log": {
            "version": "1.2",
            "creator": { "name": "custody-test", "version": "1" },
            "pages": pages,
            "entries": entries
        }
    })
}
