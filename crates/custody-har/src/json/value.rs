//! An order-preserving JSON value tree over the source text, its compact writer and
//! RFC 6901 pointers.
//!
//! [`Value`] keeps object members in input order, numbers as their exact source text,
//! and strings as spans of the source ([`Str`]): a string is decoded only when it has
//! escapes (into the unit's scratch text), and nothing is allocated for the others. A
//! string the sanitizer did not change is written back as its raw escaped bytes; a
//! changed one ([`Str::set`]) is owned and re-escaped. [`Src`] resolves spans.
//!
//! INVARIANT (the fast path's safety argument): raw bytes are written only for a
//! string whose text is still the parser's, and the parser hands out such strings only
//! when the raw bytes are exactly `write_string(text)`, so the output is byte-identical
//! to re-escaping the text. A value the sanitizer changes goes through [`Str::set`],
//! which drops the raw form: it can never be written from its raw copy.
//!
//! Containers: the parser marks an array or object [`Verbatim`] when its source bytes
//! are exactly the compact writing of its parsed tree (no whitespace inside, every
//! string verbatim). [`Value::write`] first settles the tree (a post-order pass that
//! drops the mark of every container holding a string the sanitizer changed), then
//! copies each still-marked container from the source in one piece. The engine never
//! changes the tree's structure, only strings (through [`Str::set`]).

use std::borrow::Cow;
use std::io::{self, Write};
use std::ops::Range;

/// A byte range of the source text (or of the scratch text).
pub(crate) type Span = Range<usize>;

/// Where a string's text lives.
#[derive(Clone, PartialEq, Eq)]
enum Text {
    /// The raw bytes themselves (the string had no escape).
    Raw,
    /// Decoded into the scratch text; `verbatim`: the raw bytes are the canonical
    /// escaping of it (only `\"`, `\\`, `\n`, `\r`, `\t`).
    Scratch { at: Span, verbatim: bool },
    /// Set by the sanitizer (or built in memory): never written from the raw bytes.
    Owned(String),
}

/// A JSON string: the span of its raw (escaped) contents between the quotes, and its
/// text.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Str {
    raw: Span,
    text: Text,
}

impl Str {
    /// A string without escapes: its text is `raw`.
    pub(crate) fn plain(raw: Span) -> Self {
        Self {
            raw,
            text: Text::Raw,
        }
    }

    /// A string with escapes, decoded at `at` of the scratch text. `verbatim` must be
    /// true only when `raw` is exactly the canonical escaping ([`write_string`]) of
    /// the decoded text.
    pub(crate) fn decoded(raw: Span, at: Span, verbatim: bool) -> Self {
        Self {
            raw,
            text: Text::Scratch { at, verbatim },
        }
    }

    /// An in-memory string (no source form).
    #[cfg(test)]
    pub(crate) fn owned(text: String) -> Self {
        Self {
            raw: 0..0,
            text: Text::Owned(text),
        }
    }

    /// Replaces the text (the sanitizer changed it). The raw form is dropped: the
    /// string is re-escaped from `text` when written.
    pub(crate) fn set(&mut self, text: String) {
        self.raw = 0..0;
        self.text = Text::Owned(text);
    }

    /// Whether the parser's source bytes for this string are written as they are
    /// (its text is the parser's, and they are its canonical escaping).
    #[inline]
    fn verbatim(&self) -> bool {
        matches!(self.text, Text::Raw | Text::Scratch { verbatim: true, .. })
    }

    /// The length of this string as written from its source, if it is.
    #[inline]
    pub(crate) fn verbatim_len(&self) -> Option<usize> {
        self.verbatim().then(|| self.raw.len() + 2)
    }

    /// Whether the sanitizer gave this string its own text.
    #[cfg(test)]
    pub(crate) fn is_owned(&self) -> bool {
        matches!(self.text, Text::Owned(_))
    }
}

/// The texts the spans of one parsed unit point into: the unit's source bytes (from
/// its first byte) and the scratch text its escaped strings were decoded into.
#[derive(Clone, Copy)]
pub(crate) struct Src<'a> {
    source: &'a str,
    scratch: &'a str,
}

impl<'a> Src<'a> {
    pub(crate) fn new(source: &'a str, scratch: &'a str) -> Self {
        Self { source, scratch }
    }

    /// The source text at `span` (a number's text, a string's raw bytes).
    pub(crate) fn slice(&self, span: &Span) -> &'a str {
        self.source.get(span.clone()).unwrap_or_default()
    }

    /// The text of `s`.
    pub(crate) fn text<'s>(&self, s: &'s Str) -> &'s str
    where
        'a: 's,
    {
        match &s.text {
            Text::Raw => self.slice(&s.raw),
            Text::Scratch { at, .. } => self.scratch.get(at.clone()).unwrap_or_default(),
            Text::Owned(t) => t,
        }
    }

    /// The text of `s`, not borrowing the tree (a copy only when it is owned).
    pub(crate) fn cow(&self, s: &Str) -> Cow<'a, str> {
        match &s.text {
            Text::Raw => Cow::Borrowed(self.slice(&s.raw)),
            Text::Scratch { at, .. } => {
                Cow::Borrowed(self.scratch.get(at.clone()).unwrap_or_default())
            }
            Text::Owned(t) => Cow::Owned(t.clone()),
        }
    }

    /// The text of `v` if it is a string, not borrowing the tree.
    pub(crate) fn str_of(&self, v: &Value) -> Option<Cow<'a, str>> {
        match v {
            Value::Str(s) => Some(self.cow(s)),
            _ => None,
        }
    }

    /// Writes `s` as a JSON string literal: its raw bytes when they are the
    /// canonical escaping of its (unchanged) text, else its text escaped.
    pub(crate) fn write_str<W: Write + ?Sized>(&self, s: &Str, out: &mut W) -> io::Result<()> {
        match &s.text {
            // INVARIANT: `Raw` and verbatim `Scratch` are only ever built by the
            // parser for raw bytes equal to `write_string(text)`; `Str::set` replaces
            // both with `Owned`.
            Text::Raw | Text::Scratch { verbatim: true, .. } => {
                out.write_all(b"\"")?;
                out.write_all(self.slice(&s.raw).as_bytes())?;
                out.write_all(b"\"")
            }
            Text::Scratch {
                verbatim: false, ..
            }
            | Text::Owned(_) => write_string(self.text(s), out),
        }
    }
}

/// One JSON value. Objects keep member order; numbers keep their source text.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number: the span of its source text (already validated).
    Num(Span),
    /// A string.
    Str(Str),
    /// An array.
    Arr(Vec<Value>, Verbatim),
    /// An object, members in input order.
    Obj(Vec<(Str, Value)>, Verbatim),
}

/// The source span of a container whose source bytes are exactly the compact writing
/// of its parsed tree (set by the parser only), until [`Value::write`] settles the
/// tree and finds a changed string inside.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Verbatim(Option<Span>);

impl Verbatim {
    /// A container written from its values (not from its source).
    pub(crate) fn none() -> Self {
        Self(None)
    }

    /// A container whose `source` bytes were checked by the parser to be exactly its
    /// compact writing.
    pub(crate) fn source(source: Span) -> Self {
        Self(Some(source))
    }
}

impl std::fmt::Debug for Value {
    // Values may hold secrets: Debug shows only the shape.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool(_) => f.write_str("<bool>"),
            Self::Num(_) => f.write_str("<number>"),
            Self::Str(s) => write!(f, "<string raw_len={}>", s.raw.len()),
            Self::Arr(a, _) => write!(f, "<array len={}>", a.len()),
            Self::Obj(o, _) => write!(f, "<object members={}>", o.len()),
        }
    }
}

impl Value {
    /// Writes the value as compact JSON: settles the tree (see [`Self::settle`]),
    /// then writes it, copying still-verbatim containers from the source.
    pub(crate) fn write<W: Write + ?Sized>(&mut self, src: Src<'_>, out: &mut W) -> io::Result<()> {
        self.settle();
        self.write_settled(src, out)
    }

    /// Drops the [`Verbatim`] mark of every container that holds a string the
    /// sanitizer changed; returns whether this value is still written exactly as its
    /// source. One post-order pass.
    fn settle(&mut self) -> bool {
        match self {
            Self::Null | Self::Bool(_) | Self::Num(_) => true,
            Self::Str(s) => s.verbatim(),
            Self::Arr(items, verbatim) => {
                let mut all = true;
                for item in items.iter_mut() {
                    all &= item.settle();
                }
                if !all {
                    *verbatim = Verbatim::none();
                }
                all
            }
            Self::Obj(members, verbatim) => {
                let mut all = true;
                for (k, v) in members.iter_mut() {
                    all &= k.verbatim() & v.settle();
                }
                if !all {
                    *verbatim = Verbatim::none();
                }
                all
            }
        }
    }

    /// Writes a settled value.
    fn write_settled<W: Write + ?Sized>(&self, src: Src<'_>, out: &mut W) -> io::Result<()> {
        match self {
            Self::Null => out.write_all(b"null"),
            Self::Bool(true) => out.write_all(b"true"),
            Self::Bool(false) => out.write_all(b"false"),
            Self::Num(n) => out.write_all(src.slice(n).as_bytes()),
            Self::Str(s) => src.write_str(s, out),
            // INVARIANT: a container keeps its source span only if the parser found
            // its source to be exactly its compact writing and `settle` found no
            // changed string inside.
            Self::Arr(_, Verbatim(Some(span))) | Self::Obj(_, Verbatim(Some(span))) => {
                out.write_all(src.slice(span).as_bytes())
            }
            Self::Arr(items, Verbatim(None)) => {
                out.write_all(b"[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.write_all(b",")?;
                    }
                    item.write_settled(src, out)?;
                }
                out.write_all(b"]")
            }
            Self::Obj(members, Verbatim(None)) => {
                out.write_all(b"{")?;
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.write_all(b",")?;
                    }
                    src.write_str(k, out)?;
                    out.write_all(b":")?;
                    v.write_settled(src, out)?;
                }
                out.write_all(b"}")
            }
        }
    }

    /// The value as a compact JSON string.
    pub(crate) fn into_json_string(mut self, src: Src<'_>) -> String {
        let mut out = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = self.write(src, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// For each byte: 0 when it is written as is, else the character after the `\` of
/// its escape (`u` for `\u00XX`).
#[expect(
    clippy::indexing_slicing,
    reason = "evaluated at compile time: an index out of range fails the build, it cannot panic at run time"
)]
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
        // Member names are short: a plain byte loop beats a `memchr2` call.
        if !segment.bytes().any(|b| b == b'~' || b == b'/') {
            self.text.push_str(segment);
            return mark;
        }
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
        // Decimal digits, most significant first (no formatting machinery).
        let mut digits = [0u8; 20];
        let mut n = index;
        let mut at = digits.len();
        loop {
            at -= 1;
            if let Some(d) = digits.get_mut(at) {
                *d = b'0' + u8::try_from(n % 10).unwrap_or(0);
            }
            n /= 10;
            if n == 0 || at == 0 {
                break;
            }
        }
        for &d in digits.get(at..).unwrap_or_default() {
            self.text.push(char::from(d));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_escapes_and_keeps_order() {
        let source = "1.50";
        let v = Value::Obj(
            vec![
                (
                    Str::owned("z".into()),
                    Value::Str(Str::owned("a\"b\\c\n\u{1}é".into())),
                ),
                (Str::owned("a".into()), Value::Num(0..4)),
                (
                    Str::owned("m".into()),
                    Value::Arr(vec![Value::Null, Value::Bool(true)], Verbatim::none()),
                ),
            ],
            Verbatim::none(),
        );
        assert_eq!(
            v.into_json_string(Src::new(source, "")),
            r#"{"z":"a\"b\\c\n\u0001é","a":1.50,"m":[null,true]}"#
        );
    }

    #[test]
    fn every_string_round_trips_through_a_json_parser() {
        let mut all: String = (0u8..0x80).map(char::from).collect();
        all.push_str("é\u{1F600}\u{2028}");
        let cases = [
            all.clone(),
            all.repeat(3),
            String::new(),
            "\"".into(),
            "\\\n\"".into(),
            "plain run then \u{1} control".into(),
            "line\nthen\ttab and \r\n".into(),
        ];
        for case in cases {
            let mut out = Vec::new();
            write_string(&case, &mut out).unwrap();
            let back: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(back, case);
            // Only the escapes JSON requires: no raw control byte in the output.
            assert!(!out.iter().any(|&b| b < 0x20));
        }
    }

    #[test]
    fn pointer_escapes_segments() {
        let mut p = Pointer::default();
        let m = p.push("a/b~c");
        p.push_index(3);
        assert_eq!(p.as_str(), "/a~1b~0c/3");
        for index in [0, 9, 10, 1234, usize::MAX] {
            let mark = p.push_index(index);
            assert_eq!(p.as_str().get(mark..).unwrap(), format!("/{index}"));
            p.truncate(mark);
        }
        p.truncate(m);
        assert_eq!(p.as_str(), "");
    }

    #[test]
    fn debug_never_shows_content() {
        let v = Value::Str(Str::owned("hunter2-secret".into()));
        assert!(!format!("{v:?}").contains("hunter2"));
    }
}
