//! A streaming JSON reader over any [`Read`], with positions and limits.
//!
//! [`Reader`] offers two levels: structural steps (`begin_object`, `next_member`,
//! `next_element`, ...) that let a driver walk the top of a document without holding
//! it, and [`Reader::parse_value`], which materialises one bounded sub-tree (a HAR
//! entry) as a [`Value`]. Parsing is iterative (an explicit stack, never recursion),
//! and every limit is checked *before* the memory it guards is allocated: a 500 MB
//! string fails after at most `max_value_bytes` are buffered, and 100,000-deep nesting
//! fails at `max_depth`. The input is hashed (SHA-256) as it is read.
//!
//! While a unit is parsed its source bytes are retained in the read buffer (which
//! grows to hold the unit, so by at most the entry limits), and the tree holds spans of
//! them: a string without escapes costs no allocation, and [`Reader::source`] lends the
//! unit's text to the walk and the writer. Escaped strings are decoded into one
//! scratch text per unit.

use std::io::Read;

use sha2::{Digest, Sha256};

use crate::error::{LimitError, LimitKind, ParseError, ParseReason, Position, SanitizeError};
use crate::json::value::{Pointer, Span, Src, Str, Value, Verbatim};

/// Limits applied while reading.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_depth: usize,
    pub(crate) max_value_bytes: usize,
    pub(crate) max_entry_bytes: usize,
    pub(crate) max_entry_nodes: usize,
    pub(crate) max_input_bytes: Option<u64>,
}

const BUF_SIZE: usize = 64 * 1024;

/// A buffered, position-tracking, hashing JSON reader.
pub(crate) struct Reader<R> {
    inner: R,
    /// Read buffer; while a unit is retained it grows to hold the whole unit.
    buf: Vec<u8>,
    /// Index in `buf` of the first byte of the retained unit, if any.
    keep: Option<usize>,
    /// Input offset of the retained unit's first byte (spans are relative to it).
    unit_start: u64,
    /// Decoded text of the retained unit's escaped strings.
    scratch: Vec<u8>,
    /// Whether the input is hashed (not for in-memory embedded documents).
    hash: bool,
    /// Whether `read_str` checks each string's UTF-8 itself (the strict re-parse of
    /// a unit whose bytes are not UTF-8, see [`Reader::parse_value`]).
    strict_utf8: bool,
    /// Children of the open arrays of `parse_value` (reused).
    items: Vec<Value>,
    /// Members of the open objects of `parse_value` (reused).
    members: Vec<(Str, Value)>,
    pos: usize,
    end: usize,
    /// Input offset of `buf[0]`.
    base: u64,
    line: u64,
    line_start: u64,
    eof: bool,
    hasher: Sha256,
    limits: Limits,
    /// Pointer of the value being read, for error positions.
    pub(crate) pointer: Pointer,
}

/// An open container of [`Reader::parse_value`]: its children so far sit on the
/// reader's `items` / `members` stack from `base`; `open` is the source offset of its
/// bracket; `len` the length of its compact writing so far (`None` once a string in
/// it is not written verbatim).
enum Frame {
    Arr {
        base: usize,
        open: usize,
        len: Option<usize>,
    },
    Obj {
        base: usize,
        open: usize,
        len: Option<usize>,
        key: Str,
    },
}

/// Adds `more` to a compact-writing length (`None` is absorbing).
fn add_len(len: &mut Option<usize>, more: Option<usize>) {
    *len = len.zip(more).map(|(a, b)| a + b);
}

/// The length of the run of plain string bytes at the start of `bytes`: the index
/// of the first `"`, `\` or control character (below 0x20), or `None` if there is
/// none.
///
/// Eight bytes per step (SWAR): for a word `w`, `(x - 0x01..) & !x & 0x80..` flags
/// the zero bytes of `x = w ^ c` (the bytes equal to `c`) and `(w - 0x20..) & !w &
/// 0x80..` the bytes below 0x20. A borrow can set a false flag only above a true
/// one, so the lowest flag of the three is exact.
fn plain_run(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const QUOTES: u64 = ONES * b'"' as u64;
    const BACKSLASHES: u64 = ONES * b'\\' as u64;
    const SPACES: u64 = ONES * 0x20;
    let mut words = bytes.chunks_exact(8);
    let mut base = 0usize;
    for word in &mut words {
        let w = u64::from_le_bytes(<[u8; 8]>::try_from(word).unwrap_or([b'"'; 8]));
        let (q, s) = (w ^ QUOTES, w ^ BACKSLASHES);
        let flags = ((q.wrapping_sub(ONES) & !q)
            | (s.wrapping_sub(ONES) & !s)
            | (w.wrapping_sub(SPACES) & !w))
            & HIGH;
        if flags != 0 {
            // Little-endian: the lowest flag is the first byte.
            return Some(base + (flags.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|p| base + p)
}

type Result<T> = std::result::Result<T, SanitizeError>;

impl<R: Read> Reader<R> {
    /// A reader with the default buffer size.
    pub(crate) fn new(inner: R, limits: Limits) -> Self {
        Self::with_capacity(inner, limits, BUF_SIZE)
    }

    /// A reader with a buffer of `capacity` bytes (at least 16).
    pub(crate) fn with_capacity(inner: R, limits: Limits, capacity: usize) -> Self {
        Self {
            inner,
            buf: vec![0; capacity.clamp(16, BUF_SIZE)],
            keep: None,
            unit_start: 0,
            scratch: Vec::new(),
            hash: true,
            strict_utf8: false,
            items: Vec::new(),
            members: Vec::new(),
            pos: 0,
            end: 0,
            base: 0,
            line: 1,
            line_start: 0,
            eof: false,
            hasher: Sha256::new(),
            limits,
            pointer: Pointer::default(),
        }
    }

    /// Bytes consumed so far.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Hex SHA-256 of all bytes read from the input so far (empty when the input
    /// is not hashed).
    pub(crate) fn digest_hex(&self) -> String {
        if self.hash {
            hex(&self.hasher.clone().finalize())
        } else {
            String::new()
        }
    }

    /// Stops hashing the input (before the first read): for callers that hash the
    /// same bytes themselves.
    pub(crate) fn without_digest(mut self) -> Self {
        self.hash = false;
        self
    }

    /// Total bytes read from the input so far.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.base + self.end as u64
    }

    /// The current position (with the current pointer).
    pub(crate) fn position(&self) -> Position {
        self.position_at(self.offset())
    }

    /// The position of `offset` on the current line (with the current pointer).
    fn position_at(&self, offset: u64) -> Position {
        Position {
            byte_offset: offset,
            line: self.line,
            column: offset.saturating_sub(self.line_start) + 1,
            pointer: Some(self.pointer.as_str().to_owned()),
        }
    }

    pub(crate) fn parse_error(&self, reason: ParseReason) -> SanitizeError {
        SanitizeError::Parse(ParseError {
            at: self.position(),
            reason,
        })
    }

    pub(crate) fn limit_error(&self, what: LimitKind, limit: u64) -> SanitizeError {
        SanitizeError::Limit(LimitError {
            what,
            limit,
            at: self.position(),
        })
    }

    fn eof_error(&self, expected: &'static str) -> SanitizeError {
        self.parse_error(ParseReason::UnexpectedEof { expected })
    }

    fn unexpected(&self, expected: &'static str) -> SanitizeError {
        self.parse_error(ParseReason::UnexpectedByte { expected })
    }

    /// Ensures at least one unread byte is buffered; false at end of input.
    fn fill(&mut self) -> Result<bool> {
        if self.pos < self.end {
            return Ok(true);
        }
        if self.eof {
            return Ok(false);
        }
        match self.keep {
            Some(keep) => {
                // Keep the unit: move it to the front, and grow when it fills the
                // buffer (bounded by the entry limits checked while parsing).
                if keep > 0 {
                    self.buf.copy_within(keep..self.end, 0);
                    self.base += keep as u64;
                    self.end -= keep;
                    self.pos -= keep;
                    self.keep = Some(0);
                }
                if self.end == self.buf.len() {
                    // `Vec` grows its capacity geometrically; reads stay at most
                    // `BUF_SIZE`, so a limit stops reading within one buffer of it.
                    self.buf.resize(self.buf.len() + BUF_SIZE, 0);
                }
            }
            None => {
                self.base += self.end as u64;
                self.pos = 0;
                self.end = 0;
            }
        }
        let from = self.end;
        let to = self.buf.len().min(from + BUF_SIZE);
        loop {
            let Some(room) = self.buf.get_mut(from..to) else {
                return Ok(false);
            };
            match self.inner.read(room) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end = from + n.min(room.len());
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(SanitizeError::Io(e)),
            }
        }
        if self.hash {
            self.hasher
                .update(self.buf.get(from..self.end).unwrap_or_default());
        }
        if let Some(max) = self.limits.max_input_bytes
            && self.base + self.end as u64 > max
        {
            // Report the position of the first byte past the limit.
            self.pos = usize::try_from(max.saturating_sub(self.base))
                .unwrap_or(0)
                .clamp(from, self.end);
            return Err(self.limit_error(LimitKind::InputBytes, max));
        }
        Ok(true)
    }

    fn peek(&mut self) -> Result<Option<u8>> {
        if self.fill()? {
            Ok(self.buf.get(self.pos).copied())
        } else {
            Ok(None)
        }
    }

    fn bump(&mut self) {
        self.pos += 1;
    }

    fn next_byte(&mut self, expected: &'static str) -> Result<u8> {
        match self.peek()? {
            Some(b) => {
                self.bump();
                Ok(b)
            }
            None => Err(self.eof_error(expected)),
        }
    }

    /// Skips whitespace; returns the next byte without consuming it.
    #[inline]
    pub(crate) fn skip_ws(&mut self) -> Result<Option<u8>> {
        // Compact JSON has no whitespace between tokens: answer without a call.
        if let Some(&b) = self.buf.get(self.pos)
            && self.pos < self.end
            && b > b' '
        {
            return Ok(Some(b));
        }
        self.skip_ws_slow()
    }

    /// [`Self::skip_ws`] when whitespace (or the end of the buffer) comes first.
    fn skip_ws_slow(&mut self) -> Result<Option<u8>> {
        loop {
            while let Some(&b) = self.buf.get(self.pos).filter(|_| self.pos < self.end) {
                match b {
                    b' ' | b'\t' | b'\r' => self.pos += 1,
                    b'\n' => {
                        self.pos += 1;
                        self.line += 1;
                        self.line_start = self.offset();
                    }
                    _ => return Ok(Some(b)),
                }
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    fn expect(&mut self, byte: u8, expected: &'static str) -> Result<()> {
        match self.skip_ws()? {
            Some(b) if b == byte => {
                self.bump();
                Ok(())
            }
            Some(_) => Err(self.unexpected(expected)),
            None => Err(self.eof_error(expected)),
        }
    }

    /// Reads a string into an owned `String` (a member name outside any unit); the
    /// next non-whitespace byte must be `"`.
    pub(crate) fn read_string(&mut self) -> Result<String> {
        self.expect(b'"', "a string")?;
        let start = self.offset();
        let mut out = Vec::new();
        if self.escaped_string_in_buffer(&mut out).is_none() {
            self.string_tail(&mut out, 0)?;
        }
        String::from_utf8(out).map_err(|_| self.invalid_utf8(start))
    }

    fn invalid_utf8(&self, start: u64) -> SanitizeError {
        SanitizeError::Parse(ParseError {
            at: self.position_at(start),
            reason: ParseReason::InvalidUtf8,
        })
    }

    /// Offset of input offset `offset` from the start of the retained unit.
    fn rel(&self, offset: u64) -> usize {
        usize::try_from(offset.saturating_sub(self.unit_start)).unwrap_or(usize::MAX)
    }

    /// Reads a string of the retained unit (the next non-whitespace byte must be
    /// `"`) as a span of the source; only a string with escapes is decoded (into the
    /// scratch text).
    fn read_str(&mut self) -> Result<Str> {
        self.expect(b'"', "a string")?;
        let start = self.offset();
        let rel = self.rel(start);
        // Fast path: the whole string is in the buffer and has no escapes.
        let chunk = self.buf.get(self.pos..self.end).unwrap_or_default();
        if let Some(end) = plain_run(chunk)
            && chunk.get(end) == Some(&b'"')
            && end <= self.limits.max_value_bytes
        {
            let run = chunk.get(..end).unwrap_or_default();
            if self.strict_utf8 && std::str::from_utf8(run).is_err() {
                return Err(self.invalid_utf8(start));
            }
            self.pos += end + 1;
            return Ok(Str::plain(rel..rel + end));
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        let from = scratch.len();
        let read = match self.escaped_string_in_buffer(&mut scratch) {
            Some(verbatim) => Ok((verbatim, true)),
            None => self.string_tail(&mut scratch, from),
        };
        let decoded = scratch.get(from..).unwrap_or_default();
        let result = match read {
            Err(e) => Err(e),
            Ok(_) if self.strict_utf8 && std::str::from_utf8(decoded).is_err() => {
                Err(self.invalid_utf8(start))
            }
            Ok((verbatim, escaped)) => {
                // The closing quote was consumed: the raw contents end just before it.
                let raw = rel..self.rel(self.offset()).saturating_sub(1);
                if escaped {
                    Ok(Str::decoded(raw, from..scratch.len(), verbatim))
                } else {
                    // Read across a buffer refill, but without escapes: the source
                    // bytes are the text.
                    scratch.truncate(from);
                    Ok(Str::plain(raw))
                }
            }
        };
        self.scratch = scratch;
        result
    }

    /// The string body after the opening quote, decoded and appended to `out`, when
    /// it lies whole in the buffer, holds only the escapes `\"`, `\\`, `\/`, `\n`,
    /// `\r`, `\t`, no control character, and is within `max_value_bytes`: a tight
    /// loop (escaped JSON and HTML bodies have an escape every few bytes). Returns
    /// whether the source bytes are the canonical escaping of the text (no `\/`).
    /// Anything else returns `None` with nothing consumed or appended, and
    /// [`Self::string_tail`] reads (or rejects) it.
    fn escaped_string_in_buffer(&mut self, out: &mut Vec<u8>) -> Option<bool> {
        let chunk = self.buf.get(self.pos..self.end)?;
        let len = out.len();
        let max = self.limits.max_value_bytes;
        let mut verbatim = true;
        // One pass: copy each run of plain bytes (found eight bytes at a time,
        // [`plain_run`]: runs are a few bytes long, too short for a `memchr` call to
        // pay off), decode the escape after it; give up (nothing appended) on
        // anything the general loop must see.
        let mut i = 0;
        let end = loop {
            let rest = chunk.get(i..).unwrap_or_default();
            let Some(j) = plain_run(rest) else {
                out.truncate(len);
                return None;
            };
            if out.len() - len + j > max {
                out.truncate(len);
                return None;
            }
            match rest.get(..8) {
                // A short run: one eight-byte copy (no `memcpy` call), cut back.
                Some(word) if j <= 8 => {
                    let keep = out.len() + j;
                    out.extend_from_slice(word);
                    out.truncate(keep);
                }
                _ => out.extend_from_slice(rest.get(..j).unwrap_or_default()),
            }
            let at = i + j;
            let decoded = match (chunk.get(at), chunk.get(at + 1)) {
                (Some(b'"'), _) => break at,
                (Some(b'\\'), Some(b'"')) => b'"',
                (Some(b'\\'), Some(b'\\')) => b'\\',
                (Some(b'\\'), Some(b'n')) => b'\n',
                (Some(b'\\'), Some(b'r')) => b'\r',
                (Some(b'\\'), Some(b't')) => b'\t',
                (Some(b'\\'), Some(b'/')) => {
                    verbatim = false;
                    b'/'
                }
                // A control character, another escape, or a backslash at the end of
                // the buffer.
                _ => {
                    out.truncate(len);
                    return None;
                }
            };
            out.push(decoded);
            i = at + 2;
        };
        if out.len() - len > max {
            out.truncate(len);
            return None;
        }
        self.pos += end + 1;
        Some(verbatim)
    }

    /// The general string loop: reads up to and including the closing quote,
    /// decoding into `out` (whose first `from` bytes are not this string's), across
    /// buffer refills, and reports every error. Returns (whether the source bytes are
    /// the canonical escaping of the text, whether there was any escape).
    fn string_tail(&mut self, out: &mut Vec<u8>, from: usize) -> Result<(bool, bool)> {
        let mut verbatim = true;
        let mut escaped = false;
        loop {
            if !self.fill()? {
                return Err(self.eof_error("the end of a string"));
            }
            let chunk = self.buf.get(self.pos..self.end).unwrap_or_default();
            let found = memchr::memchr2(b'"', b'\\', chunk);
            let upto = found.unwrap_or(chunk.len());
            let run = chunk.get(..upto).unwrap_or_default();
            if let Some(i) = run.iter().position(|&b| b < 0x20) {
                self.pos += i;
                return Err(self.parse_error(ParseReason::ControlCharacter));
            }
            let len = out.len() - from;
            if len + upto > self.limits.max_value_bytes {
                self.pos += self.limits.max_value_bytes.saturating_sub(len).min(upto);
                return Err(
                    self.limit_error(LimitKind::ValueBytes, self.limits.max_value_bytes as u64)
                );
            }
            if out.capacity() - out.len() < upto {
                out.reserve((upto + 64).min(self.limits.max_value_bytes));
            }
            out.extend_from_slice(run);
            self.pos += upto;
            if found.is_none() {
                continue;
            }
            // Common escapes decoded straight from the buffer.
            let pair = self.buf.get(self.pos..self.end).and_then(|c| c.get(..2));
            let simple = match pair {
                Some([b'\\', b'"']) => Some(b'"'),
                Some([b'\\', b'\\']) => Some(b'\\'),
                Some([b'\\', b'/']) => Some(b'/'),
                Some([b'\\', b'n']) => Some(b'\n'),
                Some([b'\\', b'r']) => Some(b'\r'),
                Some([b'\\', b't']) => Some(b'\t'),
                _ => None,
            };
            if let Some(b) = simple {
                verbatim &= b != b'/';
                escaped = true;
                out.push(b);
                self.pos += 2;
                continue;
            }
            let quote_or_backslash = self.next_byte("the end of a string")?;
            if quote_or_backslash == b'"' {
                return Ok((verbatim, escaped));
            }
            // Any other escape (`\b`, `\f`, `\u....`, or a common one split by a
            // refill) is decoded by the general decoder: not kept verbatim.
            verbatim = false;
            escaped = true;
            self.read_escape(out)?;
        }
    }

    fn read_escape(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let b = self.next_byte("an escape sequence")?;
        let simple = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let hi = self.read_hex4()?;
                let code = if (0xD800..0xDC00).contains(&hi) {
                    if self.next_byte("a low surrogate")? != b'\\'
                        || self.next_byte("a low surrogate")? != b'u'
                    {
                        return Err(self.parse_error(ParseReason::InvalidEscape));
                    }
                    let lo = self.read_hex4()?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return Err(self.parse_error(ParseReason::InvalidEscape));
                    }
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    hi
                };
                let c = char::from_u32(code)
                    .ok_or_else(|| self.parse_error(ParseReason::InvalidEscape))?;
                let mut tmp = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                return Ok(());
            }
            _ => return Err(self.parse_error(ParseReason::InvalidEscape)),
        };
        out.push(simple);
        Ok(())
    }

    fn read_hex4(&mut self) -> Result<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            let b = self.next_byte("four hex digits")?;
            let d = char::from(b)
                .to_digit(16)
                .ok_or_else(|| self.parse_error(ParseReason::InvalidEscape))?;
            v = v * 16 + d;
        }
        Ok(v)
    }

    /// Reads a number of the retained unit; returns its span.
    fn read_number(&mut self) -> Result<Span> {
        let start = self.offset();
        let max = self.limits.max_value_bytes;
        let mut len = 0usize;
        while self.fill()? {
            let chunk = self.buf.get(self.pos..self.end).unwrap_or_default();
            let n = chunk
                .iter()
                .position(|&b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                .unwrap_or(chunk.len());
            let ended = n < chunk.len();
            if len + n > max {
                self.pos += max - len;
                return Err(self.limit_error(LimitKind::ValueBytes, max as u64));
            }
            len += n;
            self.pos += n;
            if ended {
                break;
            }
        }
        let rel = self.rel(start);
        let at = self.keep.unwrap_or(0) + rel;
        if !valid_number(self.buf.get(at..at + len).unwrap_or_default()) {
            return Err(self.parse_error(ParseReason::InvalidNumber));
        }
        Ok(rel..rel + len)
    }

    fn read_literal(&mut self, word: &'static [u8], expected: &'static str) -> Result<()> {
        for &w in word {
            match self.peek()? {
                Some(b) if b == w => self.bump(),
                Some(_) => return Err(self.unexpected(expected)),
                None => return Err(self.eof_error(expected)),
            }
        }
        Ok(())
    }

    /// Starts an object: the next non-whitespace byte must be `{`.
    pub(crate) fn begin_object(&mut self) -> Result<()> {
        self.expect(b'{', "'{'")
    }

    /// Starts an array: the next non-whitespace byte must be `[`.
    pub(crate) fn begin_array(&mut self) -> Result<()> {
        self.expect(b'[', "'['")
    }

    /// The next member name of the current object, or `None` after its `}`.
    pub(crate) fn next_member(&mut self, first: &mut bool) -> Result<Option<String>> {
        match self.skip_ws()? {
            Some(b'}') => {
                self.bump();
                return Ok(None);
            }
            Some(b',') if !*first => self.bump(),
            Some(b'"') if *first => {}
            Some(_) if *first => return Err(self.unexpected("a member name or '}'")),
            Some(_) => return Err(self.unexpected("',' or '}'")),
            None => return Err(self.eof_error("',' or '}'")),
        }
        *first = false;
        let key = self.read_string()?;
        self.expect(b':', "':'")?;
        Ok(Some(key))
    }

    /// Whether another element of the current array follows (consuming its `,`),
    /// or the array ended (consuming its `]`).
    pub(crate) fn next_element(&mut self, first: &mut bool) -> Result<bool> {
        match self.skip_ws()? {
            Some(b']') => {
                self.bump();
                return Ok(false);
            }
            Some(b',') if !*first => self.bump(),
            Some(_) if *first => {}
            Some(_) => return Err(self.unexpected("',' or ']'")),
            None => return Err(self.eof_error("',' or ']'")),
        }
        *first = false;
        Ok(true)
    }

    /// Skips a UTF-8 byte-order mark at the very start of the input (some HAR
    /// exporters write one). Call before reading anything.
    pub(crate) fn skip_bom(&mut self) -> Result<()> {
        if self.offset() == 0
            && self.fill()?
            && self
                .buf
                .get(self.pos..self.end)
                .is_some_and(|b| b.starts_with(b"\xEF\xBB\xBF"))
        {
            self.pos += 3;
            self.line_start = 3;
        }
        Ok(())
    }

    /// The next non-whitespace byte, without consuming it.
    pub(crate) fn peek_value_start(&mut self) -> Result<u8> {
        self.skip_ws()?.ok_or_else(|| self.eof_error("a value"))
    }

    /// The texts the spans of the value last read by [`Self::parse_value`] point
    /// into (its source bytes and its scratch text), until [`Self::release`].
    pub(crate) fn source(&self) -> Result<Src<'_>> {
        let keep = self.keep.unwrap_or(self.pos);
        let bytes = self.buf.get(keep..self.pos).unwrap_or_default();
        // Every string was checked to be UTF-8 and everything else in a value is
        // ASCII, so this holds; if it did not, refuse rather than guess.
        let source =
            std::str::from_utf8(bytes).map_err(|_| self.parse_error(ParseReason::InvalidUtf8))?;
        let scratch = std::str::from_utf8(&self.scratch)
            .map_err(|_| self.parse_error(ParseReason::InvalidUtf8))?;
        Ok(Src::new(source, scratch))
    }

    /// Stops retaining the last value's source; gives back the memory of a large
    /// unit.
    pub(crate) fn release(&mut self) {
        self.keep = None;
        self.scratch.clear();
        if self.buf.len() > 16 * BUF_SIZE {
            self.buf.copy_within(self.pos..self.end, 0);
            self.base += self.pos as u64;
            self.end -= self.pos;
            self.pos = 0;
            self.buf.truncate(self.end.max(BUF_SIZE));
            self.buf.shrink_to_fit();
        }
        if self.scratch.capacity() > 16 * BUF_SIZE {
            self.scratch = Vec::new();
        }
    }

    /// Checks that only whitespace follows the document.
    pub(crate) fn finish(&mut self) -> Result<()> {
        match self.skip_ws()? {
            None => Ok(()),
            Some(_) => Err(self.parse_error(ParseReason::TrailingData)),
        }
    }

    /// Reads one complete value whose outermost container sits at nesting depth
    /// `base_depth + 1`, within the entry limits.
    ///
    /// The value's source is retained until the next `parse_value` or
    /// [`Self::release`]; its strings and numbers are spans of [`Self::source`].
    ///
    /// Strings are not checked for UTF-8 one by one: the unit's bytes are checked
    /// once when it is read (invalid bytes can only sit inside strings; everything
    /// else is ASCII by the grammar). Only when that check fails is the unit parsed
    /// again from its first byte, still in the buffer, checking string by string,
    /// so the error (which string, which position, or an earlier error of another
    /// kind) is exactly that of a per-string parse.
    pub(crate) fn parse_value(&mut self, base_depth: usize) -> Result<Value> {
        let (line, line_start) = (self.line, self.line_start);
        let lax = self.parse_unit(base_depth);
        let keep = self.keep.unwrap_or(self.pos);
        let read = self.buf.get(keep..self.pos).unwrap_or_default();
        let utf8 = match std::str::from_utf8(read) {
            Ok(_) => true,
            // Bytes cut short by an error (not a complete string): a per-string
            // check would not have looked at them either.
            Err(e) => lax.is_err() && e.error_len().is_none(),
        };
        if utf8 {
            return lax;
        }
        // INVARIANT: the unit's bytes are still retained from `keep` (set by
        // `parse_unit`, kept until `release`), so this re-reads no input.
        self.pos = keep;
        self.line = line;
        self.line_start = line_start;
        self.strict_utf8 = true;
        let strict = self.parse_unit(base_depth);
        self.strict_utf8 = false;
        strict
    }

    /// [`Self::parse_value`] without the unit's UTF-8 check (strings are checked one
    /// by one only in `strict_utf8` mode).
    fn parse_unit(&mut self, base_depth: usize) -> Result<Value> {
        let start = self.offset();
        self.keep = Some(self.pos);
        self.unit_start = start;
        self.scratch.clear();
        self.items.clear();
        self.members.clear();
        let mut nodes = 0usize;
        let mut stack: Vec<Frame> = Vec::new();
        'value: loop {
            let b = self.peek_value_start()?;
            if self.offset() - start > self.limits.max_entry_bytes as u64 {
                return Err(
                    self.limit_error(LimitKind::EntryBytes, self.limits.max_entry_bytes as u64)
                );
            }
            nodes += 1;
            if nodes > self.limits.max_entry_nodes {
                return Err(
                    self.limit_error(LimitKind::EntryNodes, self.limits.max_entry_nodes as u64)
                );
            }
            // The value and the length of its compact writing, if every string in it
            // is written verbatim.
            let (mut value, mut len) = match b {
                b'{' | b'[' => {
                    if base_depth + stack.len() + 1 > self.limits.max_depth {
                        return Err(
                            self.limit_error(LimitKind::Depth, self.limits.max_depth as u64)
                        );
                    }
                    let open = self.rel(self.offset());
                    self.bump();
                    let close = if b == b'{' { b'}' } else { b']' };
                    if self.skip_ws()? == Some(close) {
                        self.bump();
                        let v = if b == b'{' {
                            Value::Obj(Vec::new(), Verbatim::none())
                        } else {
                            Value::Arr(Vec::new(), Verbatim::none())
                        };
                        (v, Some(2))
                    } else if b == b'{' {
                        if self.skip_ws()? != Some(b'"') {
                            return Err(self.unexpected("a member name or '}'"));
                        }
                        let key = self.read_str()?;
                        self.expect(b':', "':'")?;
                        stack.push(Frame::Obj {
                            base: self.members.len(),
                            open,
                            len: Some(2),
                            key,
                        });
                        continue 'value;
                    } else {
                        stack.push(Frame::Arr {
                            base: self.items.len(),
                            open,
                            len: Some(2),
                        });
                        continue 'value;
                    }
                }
                b'"' => {
                    let s = self.read_str()?;
                    let len = s.verbatim_len();
                    (Value::Str(s), len)
                }
                b'-' | b'0'..=b'9' => {
                    let n = self.read_number()?;
                    let len = n.len();
                    (Value::Num(n), Some(len))
                }
                b't' => {
                    self.read_literal(b"true", "'true'")?;
                    (Value::Bool(true), Some(4))
                }
                b'f' => {
                    self.read_literal(b"false", "'false'")?;
                    (Value::Bool(false), Some(5))
                }
                b'n' => {
                    self.read_literal(b"null", "'null'")?;
                    (Value::Null, Some(4))
                }
                _ => return Err(self.unexpected("a value")),
            };
            // Attach the completed value to its parent, closing containers as needed.
            loop {
                let Some(mut frame) = stack.pop() else {
                    return Ok(value);
                };
                match &mut frame {
                    Frame::Arr {
                        base, len: total, ..
                    } => {
                        if self.items.len() > *base {
                            add_len(total, Some(1));
                        }
                        add_len(total, len);
                        self.items.push(value);
                        match self.skip_ws()? {
                            Some(b',') => {
                                self.bump();
                                stack.push(frame);
                                continue 'value;
                            }
                            Some(b']') => self.bump(),
                            Some(_) => return Err(self.unexpected("',' or ']'")),
                            None => return Err(self.eof_error("',' or ']'")),
                        }
                    }
                    Frame::Obj {
                        base,
                        len: total,
                        key,
                        ..
                    } => {
                        if self.members.len() > *base {
                            add_len(total, Some(1));
                        }
                        add_len(total, key.verbatim_len().map(|k| k + 1));
                        add_len(total, len);
                        let key = std::mem::replace(key, Str::plain(0..0));
                        self.members.push((key, value));
                        match self.skip_ws()? {
                            Some(b',') => {
                                self.bump();
                                if self.skip_ws()? != Some(b'"') {
                                    return Err(self.unexpected("a member name"));
                                }
                                let key = self.read_str()?;
                                if let Frame::Obj { key: k, .. } = &mut frame {
                                    *k = key;
                                }
                                self.expect(b':', "':'")?;
                                stack.push(frame);
                                continue 'value;
                            }
                            Some(b'}') => self.bump(),
                            Some(_) => return Err(self.unexpected("',' or '}'")),
                            None => return Err(self.eof_error("',' or '}'")),
                        }
                    }
                }
                // The container is closed: its source is `open..end`. It is copied
                // verbatim when that is exactly as long as its compact writing (so
                // there is no whitespace in it and every token is written as read).
                let end = self.rel(self.offset());
                let (open, total) = match &frame {
                    Frame::Arr { open, len, .. } | Frame::Obj { open, len, .. } => (*open, *len),
                };
                let verbatim = if total == Some(end.saturating_sub(open)) {
                    Verbatim::source(open..end)
                } else {
                    Verbatim::none()
                };
                value = match frame {
                    Frame::Arr { base, .. } => {
                        Value::Arr(self.items.drain(base..).collect(), verbatim)
                    }
                    Frame::Obj { base, .. } => {
                        Value::Obj(self.members.drain(base..).collect(), verbatim)
                    }
                };
                len = total;
            }
        }
    }
}

/// Parses a complete JSON document held in memory (an embedded body). Returns its
/// tree, whose spans point into `text`, and the scratch text its escaped strings were
/// decoded into (`Src::new(text, &scratch)` resolves them).
pub(crate) fn parse_document(text: &str, limits: Limits) -> Result<(Value, String)> {
    let mut reader = Reader::with_capacity(text.as_bytes(), limits, text.len());
    reader.hash = false;
    let value = reader.parse_value(0)?;
    reader.finish()?;
    // Every piece decoded into the scratch text was checked to be UTF-8.
    let scratch = String::from_utf8(std::mem::take(&mut reader.scratch))
        .map_err(|_| reader.parse_error(ParseReason::InvalidUtf8))?;
    Ok((value, scratch))
}

fn valid_number(s: &[u8]) -> bool {
    let mut it = s.iter().copied().peekable();
    if it.peek() == Some(&b'-') {
        it.next();
    }
    match it.next() {
        Some(b'0') => {}
        Some(b'1'..=b'9') => {
            while it.peek().is_some_and(u8::is_ascii_digit) {
                it.next();
            }
        }
        _ => return false,
    }
    if it.peek() == Some(&b'.') {
        it.next();
        if !it.peek().is_some_and(u8::is_ascii_digit) {
            return false;
        }
        while it.peek().is_some_and(u8::is_ascii_digit) {
            it.next();
        }
    }
    if matches!(it.peek(), Some(b'e' | b'E')) {
        it.next();
        if matches!(it.peek(), Some(b'+' | b'-')) {
            it.next();
        }
        if !it.peek().is_some_and(u8::is_ascii_digit) {
            return false;
        }
        while it.peek().is_some_and(u8::is_ascii_digit) {
            it.next();
        }
    }
    it.next().is_none()
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(
            HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'),
        ));
        s.push(char::from(
            HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0'),
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_depth: 64,
            max_value_bytes: 1024,
            max_entry_bytes: 64 * 1024,
            max_entry_nodes: 10_000,
            max_input_bytes: None,
        }
    }

    /// Parses `s` with a 16-byte buffer (every refill path) and returns the
    /// compact serialisation.
    fn parse(s: &[u8]) -> Result<String> {
        let mut r = Reader::with_capacity(s, limits(), 16);
        let v = r.parse_value(0)?;
        let out = v.into_json_string(r.source()?);
        r.finish()?;
        Ok(out)
    }

    fn parse_err(s: &[u8]) -> SanitizeError {
        match parse(s) {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn in_buffer_string_decoding_matches_the_general_loop() {
        // The same strings read with a big buffer (whole string in the buffer: the
        // in-buffer path) and a 16-byte one (the general loop) decode identically,
        // and everything the in-buffer path must not take still fails the same way.
        let cases: [&[u8]; 9] = [
            br#""a\"b\\c\/d\ne\rf\tg""#,
            br#""<div class=\"row\">\n</div>\\""#,
            br#""\u00e9 and \"quoted\"""#,
            br#""x\"""#,
            br#""\\""#,
            br#""tab\b\f""#,
            b"\"caf\xc3\xa9 \\\"ok\\\"\"",
            b"\"bad\\\"\xff\"",
            b"\"ctl \\\" \x01\"",
        ];
        for case in cases {
            let mut big = Reader::with_capacity(case, limits(), 4096);
            let mut small = Reader::with_capacity(case, limits(), 16);
            let (a, b) = (big.read_string(), small.read_string());
            match (&a, &b) {
                (Ok(x), Ok(y)) => assert_eq!(x, y),
                (Err(x), Err(y)) => assert_eq!(x.to_string(), y.to_string()),
                _ => panic!("paths disagree on {:?}: {a:?} vs {b:?}", case.len()),
            }
            assert_eq!(big.offset(), small.offset());
        }
        let mut r = Reader::with_capacity(&br#""a\"b\nc" rest"#[..], limits(), 4096);
        assert_eq!(r.read_string().unwrap(), "a\"b\nc");
        // The value limit still applies to escaped strings read from the buffer.
        let long = format!("\"{}\"", "a\\\"".repeat(600));
        let mut r = Reader::with_capacity(long.as_bytes(), limits(), 4096);
        assert!(matches!(r.read_string(), Err(SanitizeError::Limit(_))));
    }

    /// Parses `json` (one value) with a buffer of `cap` bytes and writes it back.
    fn rewrite(json: &str, cap: usize) -> String {
        let mut r = Reader::with_capacity(json.as_bytes(), limits(), cap);
        let v = r.parse_value(0).unwrap();
        v.into_json_string(r.source().unwrap())
    }

    /// What the reference writer makes of the string `text`.
    fn canonical(text: &str) -> String {
        let mut out = Vec::new();
        crate::json::value::write_string(text, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn unchanged_strings_are_written_exactly_as_reescaping_them_would() {
        // Raw bytes are copied only when they are the canonical escaping of the text;
        // `\/`, `\u....`, `\b`, `\f` are re-escaped. Same result with the string in
        // the buffer and read across 16-byte refills.
        let cases = [
            r#""plain text""#,
            r#""a\"b\\c\nd\re\tf""#,
            r#""https:\/\/a.example\/x""#,
            r#""\u0041\u00e9\ud83d\ude00""#,
            r#""\b\f\u0001""#,
            "\"caf\u{e9} \u{1F600} \\\"q\\\"\"",
            r#""""#,
        ];
        for case in cases {
            let text: String = serde_json::from_str(case).unwrap();
            for cap in [16, 4096] {
                assert_eq!(rewrite(case, cap), canonical(&text), "{case} cap {cap}");
            }
        }
    }

    #[test]
    fn a_changed_string_is_never_written_from_its_raw_copy() {
        let json = r#"{"token":"s3cr3t-raw-value","note":"a\/b"}"#;
        let mut r = Reader::with_capacity(json.as_bytes(), limits(), 4096);
        let mut v = r.parse_value(0).unwrap();
        let src = r.source().unwrap();
        let Value::Obj(members, _) = &mut v else {
            panic!("not an object")
        };
        let Value::Str(s) = &mut members[0].1 else {
            panic!("not a string")
        };
        assert_eq!(src.text(s), "s3cr3t-raw-value");
        assert!(!s.is_owned());
        s.set("[redacted:secret:0123456789ab]".into());
        assert!(s.is_owned());
        let out = v.into_json_string(src);
        assert_eq!(
            out,
            r#"{"token":"[redacted:secret:0123456789ab]","note":"a/b"}"#
        );
        assert!(!out.contains("s3cr3t"));
    }

    #[test]
    fn a_container_is_copied_whole_only_while_nothing_in_it_changed() {
        let json = r#"{"a":[1,{"k":"v"}],"b":{"token":"s3cr3t-raw-value"},"c":{ "x":1 }}"#;
        let mut r = Reader::with_capacity(json.as_bytes(), limits(), 4096);
        let mut v = r.parse_value(0).unwrap();
        let src = r.source().unwrap();
        let Value::Obj(members, outer) = &mut v else {
            panic!("not an object")
        };
        assert!(
            *outer == Verbatim::none(),
            "whitespace inside: not verbatim"
        );
        assert!(members[0].1 != Value::Null);
        assert!(matches!(&members[0].1, Value::Arr(_, v) if *v != Verbatim::none()));
        assert!(matches!(&members[2].1, Value::Obj(_, v) if *v == Verbatim::none()));
        let Value::Obj(inner, inner_verbatim) = &mut members[1].1 else {
            panic!("not an object")
        };
        assert!(*inner_verbatim == Verbatim::source(23..51));
        let Value::Str(s) = &mut inner[0].1 else {
            panic!("not a string")
        };
        s.set("[redacted:secret:0123456789ab]".into());
        let out = v.into_json_string(src);
        assert_eq!(
            out,
            r#"{"a":[1,{"k":"v"}],"b":{"token":"[redacted:secret:0123456789ab]"},"c":{"x":1}}"#
        );
        assert!(!out.contains("s3cr3t"));
    }

    /// The byte-at-a-time definition of [`plain_run`].
    fn plain_run_naive(bytes: &[u8]) -> Option<usize> {
        bytes
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
    }

    #[test]
    fn plain_run_finds_the_first_stop_byte_at_every_offset() {
        // Every stop byte (and its neighbours, which a borrow could confuse) at every
        // position of a word and past it, after plain bytes of every kind.
        let fills = [b'a', 0x21, 0x7f, 0x80, 0xff, b'"' + 1, b'\\' + 1, b'\\' - 1];
        let stops = [b'"', b'\\', 0x00, 0x01, 0x1f];
        for len in 0..24 {
            for fill in fills {
                let plain = vec![fill; len];
                assert_eq!(plain_run(&plain), None, "{fill:#x} x {len}");
                for at in 0..len {
                    for stop in stops {
                        let mut bytes = plain.clone();
                        bytes[at] = stop;
                        // A second stop byte later must not matter.
                        if at + 3 < len {
                            bytes[at + 3] = b'"';
                        }
                        assert_eq!(plain_run(&bytes), Some(at), "{fill:#x} {stop:#x} at {at}");
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn plain_run_matches_the_byte_loop(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..80),
        ) {
            proptest::prop_assert_eq!(plain_run(&bytes), plain_run_naive(&bytes));
        }

        #[test]
        fn any_string_round_trips_like_the_reference_writer(
            text in "(?s).{0,40}",
            slashes in proptest::bool::ANY,
            cap in 16usize..64,
        ) {
            let mut json = serde_json::to_string(&text).unwrap();
            if slashes {
                json = json.replace('/', "\\/");
            }
            proptest::prop_assert_eq!(rewrite(&json, cap), canonical(&text));
            proptest::prop_assert_eq!(rewrite(&json, 4096), canonical(&text));
        }
    }

    #[test]
    fn round_trips_values_in_order() {
        let src = r#"{"b":[1,-2.5e+3,true,false,null],"a":{"x":"y\u00e9\ud83d\ude00\n"},"c":[]}"#;
        let v = parse(src.as_bytes()).unwrap();
        assert_eq!(
            v,
            "{\"b\":[1,-2.5e+3,true,false,null],\"a\":{\"x\":\"y\u{e9}\u{1F600}\\n\"},\"c\":[]}"
        );
    }

    #[test]
    fn truncated_input_names_position() {
        let e = parse_err(b"{\"a\": [1, 2");
        let SanitizeError::Parse(p) = &e else {
            panic!("{e}")
        };
        assert!(matches!(p.reason(), ParseReason::UnexpectedEof { .. }));
        assert_eq!(p.at().byte_offset(), 11);
        assert_eq!(p.at().line(), 1);
        assert!(e.to_string().contains("byte 11 (line 1, column 12)"), "{e}");
        let e = parse_err(b"{\"a\": \"unterminated");
        assert!(e.to_string().contains("truncated"), "{e}");
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let e = parse_err(b"{\n  \"a\": 1,\n  \"b\" 2\n}");
        let SanitizeError::Parse(p) = &e else {
            panic!("{e}")
        };
        assert_eq!((p.at().line(), p.at().column()), (3, 7));
        assert!(e.to_string().contains("expected ':'"), "{e}");
        for bad in [
            &b"[1,]"[..],
            b"{\"a\":1,}",
            b"[01]",
            b"[1.]",
            b"[-]",
            b"[tru]",
            b"[\"\\x\"]",
            b"[\"\\ud800\"]",
            b"[\"a\tb\"]",
            b"{1:2}",
            b"[1] [2]",
        ] {
            assert!(
                matches!(parse(bad), Err(SanitizeError::Parse(_))),
                "{bad:?}"
            );
        }
    }

    /// Parses `input` (one value) with a `cap`-byte buffer; `strict` checks every
    /// string's UTF-8 as it is read (the per-string parse the unit check stands for).
    fn parse_mode(input: &[u8], cap: usize, strict: bool) -> std::result::Result<String, String> {
        let mut r = Reader::with_capacity(input, limits(), cap);
        r.strict_utf8 = strict;
        let v = r.parse_value(0).map_err(|e| format!("{e} {e:?}"))?;
        Ok(v.into_json_string(r.source().map_err(|e| e.to_string())?))
    }

    #[test]
    fn the_unit_utf8_check_gives_exactly_the_per_string_errors() {
        // Invalid bytes (a stray continuation byte, a cut two-byte sequence) in every
        // position of a pretty-printed unit: inside strings before and after escapes,
        // in member names, after newlines, and with a syntax error later in the unit.
        // The lax read with its strict re-read must answer exactly what the
        // per-string parse answers. (The unsafe variant, trusting the lax read, parses
        // most of these without an error.)
        let good = concat!(
            "{\n  \"name\": \"a\\\"b\",\n",
            "  \"list\": [\"x\", 12, \"caf\u{e9}\"],\n",
            "  \"o\": {\"k\": \"tail\"}\n}"
        );
        let broken_tail = good.replace("12", "12 13");
        let mut checked = 0;
        for base in [good, broken_tail.as_str()] {
            for at in 0..=base.len() {
                for bad in [&[0xffu8][..], &[0xc3]] {
                    let mut input = base.as_bytes().to_vec();
                    input.splice(at..at, bad.iter().copied());
                    for cap in [16, 4096] {
                        let strict = parse_mode(&input, cap, true);
                        assert_eq!(parse_mode(&input, cap, false), strict, "at {at} cap {cap}");
                        checked += usize::from(strict.as_ref().is_err_and(|e| e.contains("UTF-8")));
                    }
                }
            }
        }
        assert!(checked > 50, "{checked}");
    }

    #[test]
    fn invalid_utf8_is_refused_with_position() {
        let e = parse_err(b"[\"ok\", \"bad \xff\xfe\"]");
        let SanitizeError::Parse(p) = &e else {
            panic!("{e}")
        };
        assert_eq!(p.reason(), ParseReason::InvalidUtf8);
        assert_eq!(p.at().byte_offset(), 8);
    }

    #[test]
    fn deep_nesting_is_a_limit_error_without_recursion() {
        let mut s = vec![b'['; 100_000];
        s.extend(vec![b']'; 100_000]);
        let e = parse_err(&s);
        let SanitizeError::Limit(l) = &e else {
            panic!("{e}")
        };
        assert_eq!(l.what(), LimitKind::Depth);
        assert_eq!(l.at().byte_offset(), 64);
        // The unsafe variant: without the check the same input parses (so the limit,
        // not an accident, is what stops it).
        let mut lax = limits();
        lax.max_depth = 200_000;
        lax.max_entry_nodes = 200_000;
        lax.max_entry_bytes = 1 << 20;
        let mut r = Reader::new(&s[..], lax);
        let v = r.parse_value(0).unwrap();
        r.release();
        // Drop iteratively-deep value on a big stack to avoid overflowing the test thread.
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(move || drop(v))
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn huge_string_fails_at_the_limit_before_buffering_it() {
        // A reader that yields an endless string: if the limit did not stop reading
        // before buffering, this test would never end.
        struct Endless(bool);
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let start = if self.0 { 0 } else { 2 };
                if !self.0 {
                    buf[..2].copy_from_slice(b"[\"");
                    self.0 = true;
                }
                buf[start..].fill(b'a');
                Ok(buf.len())
            }
        }
        let mut r = Reader::new(Endless(false), limits());
        let e = r.parse_value(0).unwrap_err();
        let SanitizeError::Limit(l) = &e else {
            panic!("{e}")
        };
        assert_eq!(l.what(), LimitKind::ValueBytes);
        assert!(r.bytes_read() <= 2 * BUF_SIZE as u64);
        assert!(e.to_string().contains("bytes in one string"), "{e}");
    }

    #[test]
    fn input_limit_and_node_limit() {
        let mut l = limits();
        l.max_input_bytes = Some(10);
        let mut r = Reader::with_capacity(&b"[1,2,3,4,5,6,7,8]"[..], l, 16);
        let e = r.parse_value(0).unwrap_err();
        assert!(matches!(&e, SanitizeError::Limit(x) if x.what() == LimitKind::InputBytes));
        let mut l = limits();
        l.max_entry_nodes = 3;
        let mut r = Reader::new(&b"[1,2,3,4]"[..], l);
        let e = r.parse_value(0).unwrap_err();
        assert!(matches!(&e, SanitizeError::Limit(x) if x.what() == LimitKind::EntryNodes));
    }

    #[test]
    fn streaming_steps_walk_members_and_elements() {
        let mut r =
            Reader::with_capacity(&b" {\"a\": [1, {\"b\":2}], \"c\": 3} "[..], limits(), 16);
        r.begin_object().unwrap();
        let mut first = true;
        assert_eq!(r.next_member(&mut first).unwrap().as_deref(), Some("a"));
        r.begin_array().unwrap();
        let mut f2 = true;
        let mut got = Vec::new();
        while r.next_element(&mut f2).unwrap() {
            let v = r.parse_value(2).unwrap();
            got.push(v.into_json_string(r.source().unwrap()));
            r.release();
        }
        assert_eq!(got, ["1", "{\"b\":2}"]);
        assert_eq!(r.next_member(&mut first).unwrap().as_deref(), Some("c"));
        let v = r.parse_value(1).unwrap();
        assert_eq!(v.into_json_string(r.source().unwrap()), "3");
        r.release();
        assert_eq!(r.next_member(&mut first).unwrap(), None);
        r.finish().unwrap();
        let digest = r.digest_hex();
        assert_eq!(digest.len(), 64);
    }

    #[test]
    fn numbers_follow_the_grammar() {
        for ok in ["0", "-0", "12", "1.5", "1e9", "1E-2", "-3.25e+10"] {
            assert!(valid_number(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "-", "01", "1.", ".5", "1e", "1e+", "+1", "1-2", "--1"] {
            assert!(!valid_number(bad.as_bytes()), "{bad}");
        }
    }
}
