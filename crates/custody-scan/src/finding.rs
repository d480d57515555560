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
    /// Builds a finding from a match inside `haystack` (the input the match indexes);
    /// the preview is the marker `redactor` makes for it. Line and column are
    /// computed from `haystack`; `location.line` (lines before `haystack`) and
    /// `location.byte_offset` (offset of `haystack` in the whole input) are added.
    #[must_use]
    pub fn from_match(
        m: &Match,
        haystack: &[u8],
        redactor: &Redactor,
        mut location: Location,
    ) -> Finding {
        let (line, column) = line_col(haystack, m.span.start);
        location.line = Some(location.line.unwrap_or(0).saturating_add(line));
        location.column = Some(column);
        location.byte_offset = location.byte_offset.saturating_add(m.span.start as u64);
        Finding {
            rule_id: m.rule.id,
            class: m.rule.class,
            confidence: m.rule.confidence,
            location,
            preview: preview(m, haystack, redactor),
        }
    }
}

/// The marker previewing match `m` of `haystack`, built from a small window around
/// the match (so a caller with many matches in a big buffer stays linear). Falls back
/// to a hint-less marker when the window is not UTF-8.
#[must_use]
pub fn preview(m: &Match, haystack: &[u8], redactor: &Redactor) -> String {
    let window_start = m.span.start.saturating_sub(128);
    let window = haystack.get(window_start..m.span.end).unwrap_or_default();
    let local = Match {
        rule: m.rule,
        span: m.span.start.saturating_sub(window_start)..m.span.end.saturating_sub(window_start),
    };
    // The window may start inside a multi-byte character: skip up to 3 bytes.
    for skip in 0..4usize {
        if let Some(text) = window.get(skip..).and_then(|w| std::str::from_utf8(w).ok())
            && let Some(span) = local
                .span
                .start
                .checked_sub(skip)
                .zip(local.span.end.checked_sub(skip))
        {
            return redactor.marker(
                &Match {
                    rule: m.rule,
                    span: span.0..span.1,
                },
                text,
            );
        }
    }
    let secret = haystack.get(m.span.clone()).unwrap_or_default();
    format!(
        "[redacted:{}:{}]",
        m.rule.class.as_str(),
        redactor.fingerprint(secret)
    )
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
