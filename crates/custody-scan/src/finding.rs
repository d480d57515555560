//! Reporting types shared by `custody scan` and `custody sanitize --report`:
//! [`Location`] and [`Finding`] (a marker as preview, never the value).

use crate::engine::Match;
use crate::redact::Redactor;
use crate::rule::{Class, Confidence};

/// Where a finding is: file path, JSON pointer and/or line and column, byte offset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// The file (or `-` for stdin), if any.
    pub path: Option<String>,
    /// RFC 6901 JSON pointer, for structured inputs.
    pub pointer: Option<String>,
    /// 1-based line.
    pub line: Option<u64>,
    /// 1-based column, in bytes.
    pub column: Option<u64>,
    /// Byte offset of the secret from the start of the input (or of the value that a
    /// pointer names).
    pub byte_offset: u64,
}

/// One reported credential. It holds a marker as preview, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Id of the rule that matched.
    pub rule_id: &'static str,
    /// Class of the credential.
    pub class: Class,
    /// Confidence of the rule.
    pub confidence: Confidence,
    /// Where it is.
    pub location: Location,
    /// A redacted preview: the marker that replaces the value.
    pub preview: String,
}

impl Finding {
    /// Builds a finding from a match inside `haystack` (which must be the input the
    /// match indexes); the preview is the marker `redactor` makes for it. Line and
    /// column are computed from `haystack`, offset by `base` (byte offset of
    /// `haystack` in the whole input) and `base_line` (lines before `haystack`).
    #[must_use]
    pub fn from_match(
        m: &Match,
        haystack: &[u8],
        redactor: &Redactor,
        mut location: Location,
    ) -> Finding {
        let value = String::from_utf8_lossy(haystack);
        // Lossy decoding keeps byte offsets only for valid UTF-8; the marker is built
        // from the exact secret bytes either way.
        let preview = if value.len() == haystack.len() {
            redactor.marker(m, &value)
        } else {
            let secret = haystack.get(m.span.clone()).unwrap_or_default();
            format!(
                "[redacted:{}:{}]",
                m.rule.class.as_str(),
                redactor.fingerprint(secret)
            )
        };
        let (line, column) = line_col(haystack, m.span.start);
        location.line = Some(location.line.unwrap_or(0).saturating_add(line));
        location.column = Some(column);
        location.byte_offset = location.byte_offset.saturating_add(m.span.start as u64);
        Finding {
            rule_id: m.rule.id,
            class: m.rule.class,
            confidence: m.rule.confidence,
            location,
            preview,
        }
    }
}

/// 1-based line and column (in bytes) of `offset` inside `haystack`.
#[must_use]
pub fn line_col(haystack: &[u8], offset: usize) -> (u64, u64) {
    let before = haystack.get(..offset).unwrap_or(haystack);
    let line = memchr::memchr_iter(b'\n', before).count() as u64;
    let line_start = memchr::memrchr(b'\n', before).map_or(0, |p| p.saturating_add(1));
    (
        line.saturating_add(1),
        (offset.saturating_sub(line_start) as u64).saturating_add(1),
    )
}
