//! An order-preserving JSON value tree, its compact writer and RFC 6901 pointers.
//!
//! [`Value`] keeps object members in input order and numbers as their exact source
//! text, so a sanitized document differs from its input only where a value was
//! redacted (and in insignificant whitespace).

use std::io::{self, Write};

/// One JSON value. Objects keep member order; numbers keep their source text.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, exactly as written in the input (already validated).
    Num(Box<str>),
    /// A string (unescaped).
    Str(String),
    /// An array.
    Arr(Vec<Value>),
    /// An object, members in input order.
    Obj(Vec<(String, Value)>),
}

impl std::fmt::Debug for Value {
    // Values may hold secrets: Debug shows only the shape.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool(_) => f.write_str("<bool>"),
            Self::Num(_) => f.write_str("<number>"),
            Self::Str(s) => write!(f, "<string len={}>", s.len()),
            Self::Arr(a) => write!(f, "<array len={}>", a.len()),
            Self::Obj(o) => write!(f, "<object members={}>", o.len()),
        }
    }
}

impl Value {
    /// The string content, if this is a string.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Writes the value as compact JSON.
    pub(crate) fn write_to<W: Write + ?Sized>(&self, out: &mut W) -> io::Result<()> {
        match self {
            Self::Null => out.write_all(b"null"),
            Self::Bool(true) => out.write_all(b"true"),
            Self::Bool(false) => out.write_all(b"false"),
            Self::Num(n) => out.write_all(n.as_bytes()),
            Self::Str(s) => write_string(s, out),
            Self::Arr(items) => {
                out.write_all(b"[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.write_all(b",")?;
                    }
                    item.write_to(out)?;
                }
                out.write_all(b"]")
            }
            Self::Obj(members) => {
                out.write_all(b"{")?;
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.write_all(b",")?;
                    }
                    write_string(k, out)?;
                    out.write_all(b":")?;
                    v.write_to(out)?;
                }
                out.write_all(b"}")
            }
        }
    }

    /// The value as a compact JSON string.
    pub(crate) fn to_json_string(&self) -> String {
        let mut out = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = self.write_to(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// For each byte: 0 when it is written as is, else the character after the `\` of
/// its escape (`u` for `\u00XX`).
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = b'u';
        b += 1;
    }
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Writes `s` as a JSON string literal, escaping `"`, `\` and control characters.
///
/// One table lookup per byte. (A `memchr3` search for runs between escapes was
/// measured slower: escaped bodies have an escape every few bytes, and the per-call
/// cost dominates.)
pub(crate) fn write_string<W: Write + ?Sized>(s: &str, out: &mut W) -> io::Result<()> {
    let escape = |b: u8| ESCAPE.get(usize::from(b)).copied().unwrap_or(0);
    out.write_all(b"\"")?;
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let e = escape(b);
        if e == 0 {
            continue;
        }
        out.write_all(bytes.get(start..i).unwrap_or_default())?;
        if e == b'u' {
            let hi = HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
            let lo = HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0');
            out.write_all(&[b'\\', b'u', b'0', b'0', hi, lo])?;
        } else {
            out.write_all(&[b'\\', e])?;
        }
        start = i + 1;
    }
    out.write_all(bytes.get(start..).unwrap_or_default())?;
    out.write_all(b"\"")
}

/// A JSON pointer (RFC 6901) built incrementally while walking.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pointer {
    text: String,
}

impl Pointer {
    /// Appends a member name or index; returns the length to truncate back to.
    pub(crate) fn push(&mut self, segment: &str) -> usize {
        let mark = self.text.len();
        self.text.push('/');
        for c in segment.chars() {
            match c {
                '~' => self.text.push_str("~0"),
                '/' => self.text.push_str("~1"),
                _ => self.text.push(c),
            }
        }
        mark
    }

    /// Appends an array index; returns the length to truncate back to.
    pub(crate) fn push_index(&mut self, index: usize) -> usize {
        let mark = self.text.len();
        self.text.push('/');
        self.text.push_str(&index.to_string());
        mark
    }

    /// Restores the pointer to a previous length returned by `push`.
    pub(crate) fn truncate(&mut self, mark: usize) {
        self.text.truncate(mark);
    }

    /// The pointer text (empty string is the whole document).
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }
}
