//! Small byte-level helpers shared by the confirmers: boundaries, value extraction
//! after a name (`name=value`, `name: value`, `"name": "value"`), line bounds.

use std::ops::Range;

use crate::redact::is_marker_bytes;
use crate::validate;

/// Longest value a name/value confirmer reads.
pub(crate) const MAX_VALUE: usize = 16 * 1024;

/// The byte before `i`, if any.
pub(crate) fn prev(h: &[u8], i: usize) -> Option<u8> {
    i.checked_sub(1).and_then(|j| h.get(j)).copied()
}

/// Index of the first byte at or after `from` (at most `max` bytes on) not matching `pred`.
pub(crate) fn take_while(h: &[u8], from: usize, max: usize, pred: impl Fn(u8) -> bool) -> usize {
    let limit = from.saturating_add(max).min(h.len());
    let mut i = from;
    while i < limit {
        match h.get(i) {
            Some(&b) if pred(b) => i = i.saturating_add(1),
            _ => break,
        }
    }
    i
}

/// Skips spaces and tabs.
pub(crate) fn skip_blanks(h: &[u8], from: usize) -> usize {
    take_while(h, from, 64, |b| b == b' ' || b == b'\t')
}

/// End of the line containing `i` (exclusive), bounded to 64 KiB.
pub(crate) fn line_end(h: &[u8], i: usize) -> usize {
    let limit = i.saturating_add(64 * 1024).min(h.len());
    h.get(i..limit)
        .and_then(|w| memchr::memchr2(b'\n', b'\r', w))
        .map_or(limit, |p| i.saturating_add(p))
}

/// How a name was quoted and separated from its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// `name=value` (form, query, env, cookie).
    Equals,
    /// `name: value` or `name => value` unquoted (YAML, headers, minified JS).
    Colon,
}

/// A value found after a name.
#[derive(Debug, Clone)]
pub(crate) struct Value {
    /// Byte span of the value (without quotes).
    pub span: Range<usize>,
    /// Whether the value was a quoted string literal.
    pub quoted: bool,
    /// The separator used.
    pub syntax: Syntax,
}

/// Whether a byte may continue an identifier-like name.
pub(crate) const fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Terminators of an unquoted value.
pub(crate) const fn ends_unquoted(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t'
            | b'\r'
            | b'\n'
            | b'&'
            | b';'
            | b','
            | b'"'
            | b'\''
            | b'<'
            | b'>'
            | b'`'
            | b')'
            | b'}'
            | b'\\'
    )
}

/// Parses `[quote] blanks (= | : | =>) blanks [quote] value` after a name ending at `i`.
/// The name must end there (the next byte is not a name byte).
pub(crate) fn value_after_name(h: &[u8], i: usize) -> Option<Value> {
    let mut j = i;
    // A closing quote of a quoted key, possibly JSON-escaped inside a JSON string.
    for q in [&b"\\\""[..], b"\"", b"'"] {
        if h.get(j..).is_some_and(|rest| rest.starts_with(q)) {
            j = j.saturating_add(q.len());
            break;
        }
    }
    if h.get(j).copied().is_some_and(is_name_byte) {
        return None;
    }
    j = skip_blanks(h, j);
    let syntax = match h.get(j..j.saturating_add(2)) {
        Some(b"=>") => {
            j = j.saturating_add(2);
            Syntax::Colon
        }
        _ => match h.get(j) {
            Some(b'=') => {
                j = j.saturating_add(1);
                Syntax::Equals
            }
            Some(b':') => {
                j = j.saturating_add(1);
                Syntax::Colon
            }
            _ => return None,
        },
    };
    j = skip_blanks(h, j);
    value_at(h, j, syntax)
}

/// Reads a (possibly quoted) value starting at `j`.
pub(crate) fn value_at(h: &[u8], j: usize, syntax: Syntax) -> Option<Value> {
    let rest = h.get(j..)?;
    let (quote, open): (&[u8], usize) = if rest.starts_with(b"\\\"") {
        (b"\\\"", 2)
    } else if rest.starts_with(b"\"") {
        (b"\"", 1)
    } else if rest.starts_with(b"'") {
        (b"'", 1)
    } else {
        (b"", 0)
    };
    let start = j.saturating_add(open);
    if quote.is_empty() {
        // `name=value=...`: an `=` followed by a name byte starts another assignment
        // (base64 padding `==` at the end stays in the value). Stopping there also
        // keeps runs of `token=token=...` linear.
        let limit = start.saturating_add(MAX_VALUE).min(h.len());
        let mut end = start;
        while end < limit {
            match h.get(end) {
                Some(&b) if !ends_unquoted(b) => {
                    if b == b'='
                        && h.get(end.saturating_add(1))
                            .copied()
                            .is_some_and(is_name_byte)
                    {
                        break;
                    }
                    end = end.saturating_add(1);
                }
                _ => break,
            }
        }
        return (end > start).then_some(Value {
            span: start..end,
            quoted: false,
            syntax,
        });
    }
    let limit = start.saturating_add(MAX_VALUE).min(h.len());
    let mut k = start;
    while k < limit {
        let b = h.get(k).copied()?;
        if quote.len() == 1 && b == b'\\' {
            k = k.saturating_add(2);
            continue;
        }
        if h.get(k..).is_some_and(|r| r.starts_with(quote)) {
            return (k > start).then_some(Value {
                span: start..k,
                quoted: true,
                syntax,
            });
        }
        if b == b'\n' {
            return None;
        }
        k = k.saturating_add(1);
    }
    None
}

/// Whether an unquoted value is a code expression rather than data
/// (minified JS such as `password:e.value`, `token=n(t)`).
pub(crate) fn looks_like_code(v: &[u8]) -> bool {
    const KEYWORDS: &[&[u8]] = &[
        b"this",
        b"null",
        b"void",
        b"function",
        b"return",
        b"new",
        b"typeof",
        b"!0",
        b"!1",
        b"true",
        b"false",
        b"undefined",
        b"window",
        b"document",
    ];
    if v.starts_with(b"[redacted:") {
        // Not code: a marker, or a marker prefix hiding a value (scanned as data).
        return false;
    }
    if KEYWORDS.iter().any(|k| v.eq_ignore_ascii_case(k)) {
        return true;
    }
    if v.iter()
        .any(|&b| matches!(b, b'(' | b')' | b'[' | b'{' | b'|' | b'?' | b'!'))
    {
        return true;
    }
    // a.b.c member expressions of short identifiers
    let parts: Vec<&[u8]> = v.split(|&b| b == b'.').collect();
    parts.len() >= 2
        && parts.iter().all(|p| {
            p.first()
                .is_some_and(|&b| b.is_ascii_alphabetic() || b == b'_' || b == b'$')
                && p.iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
        })
}

/// Whether a value is a template or variable reference, not a literal secret.
pub(crate) fn looks_like_template(v: &[u8]) -> bool {
    v.starts_with(b"${")
        || v.starts_with(b"{{")
        || v.starts_with(b"%(")
        || v.starts_with(b"<%")
        || (v.starts_with(b"$") && v.iter().skip(1).all(|&b| is_name_byte(b)))
        || (v.starts_with(b"%") && v.ends_with(b"%") && v.len() > 2)
        || (v.starts_with(b"<") && v.ends_with(b">"))
}

/// Whether a value must be skipped whatever the name says: empty, placeholder,
/// template, an existing marker (also percent-encoded), or a code expression.
pub(crate) fn is_non_secret_value(v: &[u8], quoted: bool) -> bool {
    if validate::is_placeholder(v) || looks_like_template(v) || is_marker_bytes(v) {
        return true;
    }
    if v.starts_with(b"%5B") || v.starts_with(b"%5b") {
        let decoded = validate::percent_decode(v, false);
        if is_marker_bytes(&decoded.bytes) {
            return true;
        }
    }
    !quoted && looks_like_code(v)
}

/// Whether a quoted value reads like prose (UI label, message), not a secret.
pub(crate) fn looks_like_prose(v: &[u8]) -> bool {
    v.iter().filter(|&&b| b == b' ').count() >= 2
}
