//! A streaming JSON reader over any [`Read`], with positions and limits.
//!
//! [`Reader`] offers two levels: structural steps (`begin_object`, `next_member`,
//! `next_element`, ...) that let a driver walk the top of a document without holding
//! it, and [`Reader::parse_value`], which materialises one bounded sub-tree (a HAR
//! entry) as a [`Value`]. Parsing is iterative (an explicit stack, never recursion),
//! and every limit is checked *before* the memory it guards is allocated: a 500 MB
//! string fails after at most `max_value_bytes` are buffered, and 100,000-deep nesting
//! fails at `max_depth`. The input is hashed (SHA-256) as it is read.

use std::io::Read;

use sha2::{Digest, Sha256};

use crate::error::{LimitError, LimitKind, ParseError, ParseReason, Position, SanitizeError};
use crate::reference::value::{Pointer, Value};

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
    buf: Box<[u8]>,
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

enum Frame {
    Arr(Vec<Value>),
    Obj(Vec<(String, Value)>, String),
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
            buf: vec![0; capacity.clamp(16, BUF_SIZE)].into_boxed_slice(),
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

    /// Hex SHA-256 of all bytes read from the input so far.
    pub(crate) fn digest_hex(&self) -> String {
        hex(&self.hasher.clone().finalize())
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
        self.base += self.end as u64;
        self.pos = 0;
        self.end = 0;
        loop {
            match self.inner.read(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end = n.min(self.buf.len());
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(SanitizeError::Io(e)),
            }
        }
        self.hasher
            .update(self.buf.get(..self.end).unwrap_or_default());
        if let Some(max) = self.limits.max_input_bytes
            && self.base + self.end as u64 > max
        {
            // Report the position of the first byte past the limit.
            self.pos = usize::try_from(max.saturating_sub(self.base))
                .unwrap_or(0)
                .min(self.end);
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
    pub(crate) fn skip_ws(&mut self) -> Result<Option<u8>> {
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

    /// Reads a string; the next non-whitespace byte must be `"`.
    pub(crate) fn read_string(&mut self) -> Result<String> {
        self.expect(b'"', "a string")?;
        let start = self.offset();
        let mut out: Vec<u8> = Vec::new();
        // Fast path: the whole string is in the buffer and has no escapes.
        let chunk = self.buf.get(self.pos..self.end).unwrap_or_default();
        if let Some(end) = memchr::memchr2(b'"', b'\\', chunk)
            && chunk.get(end) == Some(&b'"')
            && end <= self.limits.max_value_bytes
        {
            let run = chunk.get(..end).unwrap_or_default();
            if !run.iter().any(|&b| b < 0x20) {
                out.extend_from_slice(run);
                self.pos += end + 1;
                return String::from_utf8(out).map_err(|_| {
                    SanitizeError::Parse(ParseError {
                        at: self.position_at(start),
                        reason: ParseReason::InvalidUtf8,
                    })
                });
            }
        }
        if let Some(decoded) = self.escaped_string_in_buffer() {
            return String::from_utf8(decoded).map_err(|_| {
                SanitizeError::Parse(ParseError {
                    at: self.position_at(start),
                    reason: ParseReason::InvalidUtf8,
                })
            });
        }
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
            if out.len() + upto > self.limits.max_value_bytes {
                self.pos += self
                    .limits
                    .max_value_bytes
                    .saturating_sub(out.len())
                    .min(upto);
                return Err(
                    self.limit_error(LimitKind::ValueBytes, self.limits.max_value_bytes as u64)
                );
            }
            if out.capacity() == 0 {
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
                out.push(b);
                self.pos += 2;
                continue;
            }
            let quote_or_backslash = self.next_byte("the end of a string")?;
            if quote_or_backslash == b'"' {
                break;
            }
            self.read_escape(&mut out)?;
        }
        String::from_utf8(out).map_err(|_| {
            SanitizeError::Parse(ParseError {
                at: self.position_at(start),
                reason: ParseReason::InvalidUtf8,
            })
        })
    }

    /// The string body after the opening quote, decoded, when it lies whole in the
    /// buffer, holds only the escapes `\"`, `\\`, `\/`, `\n`, `\r`, `\t`, no control
    /// character, and is within `max_value_bytes`: one exact-size allocation and a
    /// tight loop (escaped JSON and HTML bodies have an escape every few bytes).
    /// Anything else returns `None` with nothing consumed, and the general loop of
    /// [`Self::read_string`] reads (or rejects) it.
    fn escaped_string_in_buffer(&mut self) -> Option<Vec<u8>> {
        let chunk = self.buf.get(self.pos..self.end)?;
        let mut i = 0;
        let end = loop {
            let j = i + memchr::memchr2(b'"', b'\\', chunk.get(i..)?)?;
            if chunk.get(j) == Some(&b'"') {
                break j;
            }
            if !matches!(chunk.get(j + 1)?, b'"' | b'\\' | b'/' | b'n' | b'r' | b't') {
                return None;
            }
            i = j + 2;
        };
        if end > self.limits.max_value_bytes {
            return None;
        }
        let raw = chunk.get(..end)?;
        if raw.iter().any(|&b| b < 0x20) {
            return None;
        }
        let mut out = Vec::with_capacity(end);
        let mut i = 0;
        while let Some(j) = raw.get(i..).and_then(|r| memchr::memchr(b'\\', r)) {
            out.extend_from_slice(raw.get(i..i + j)?);
            out.push(match raw.get(i + j + 1)? {
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                // `"`, `\`, `/` stand for themselves (checked above).
                &other => other,
            });
            i += j + 2;
        }
        out.extend_from_slice(raw.get(i..)?);
        self.pos += end + 1;
        Some(out)
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

    fn read_number(&mut self) -> Result<Box<str>> {
        let mut out = Vec::new();
        while let Some(b) = self.peek()? {
            if !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
                break;
            }
            if out.len() >= self.limits.max_value_bytes {
                return Err(
                    self.limit_error(LimitKind::ValueBytes, self.limits.max_value_bytes as u64)
                );
            }
            out.push(b);
            self.bump();
        }
        if !valid_number(&out) {
            return Err(self.parse_error(ParseReason::InvalidNumber));
        }
        // Only ASCII bytes were accepted above.
        Ok(String::from_utf8(out).unwrap_or_default().into_boxed_str())
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

    /// Checks that only whitespace follows the document.
    pub(crate) fn finish(&mut self) -> Result<()> {
        match self.skip_ws()? {
            None => Ok(()),
            Some(_) => Err(self.parse_error(ParseReason::TrailingData)),
        }
    }

    /// Reads one complete value whose outermost container sits at nesting depth
    /// `base_depth + 1`, within the entry limits.
    pub(crate) fn parse_value(&mut self, base_depth: usize) -> Result<Value> {
        let start = self.offset();
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
            let mut value = match b {
                b'{' | b'[' => {
                    if base_depth + stack.len() + 1 > self.limits.max_depth {
                        return Err(
                            self.limit_error(LimitKind::Depth, self.limits.max_depth as u64)
                        );
                    }
                    self.bump();
                    let close = if b == b'{' { b'}' } else { b']' };
                    if self.skip_ws()? == Some(close) {
                        self.bump();
                        if b == b'{' {
                            Value::Obj(Vec::new())
                        } else {
                            Value::Arr(Vec::new())
                        }
                    } else if b == b'{' {
                        if self.skip_ws()? != Some(b'"') {
                            return Err(self.unexpected("a member name or '}'"));
                        }
                        let key = self.read_string()?;
                        self.expect(b':', "':'")?;
                        stack.push(Frame::Obj(Vec::new(), key));
                        continue 'value;
                    } else {
                        stack.push(Frame::Arr(Vec::new()));
                        continue 'value;
                    }
                }
                b'"' => Value::Str(self.read_string()?),
                b'-' | b'0'..=b'9' => Value::Num(self.read_number()?),
                b't' => {
                    self.read_literal(b"true", "'true'")?;
                    Value::Bool(true)
                }
                b'f' => {
                    self.read_literal(b"false", "'false'")?;
                    Value::Bool(false)
                }
                b'n' => {
                    self.read_literal(b"null", "'null'")?;
                    Value::Null
                }
                _ => return Err(self.unexpected("a value")),
            };
            // Attach the completed value to its parent, closing containers as needed.
            loop {
                let Some(mut frame) = stack.pop() else {
                    return Ok(value);
                };
                match &mut frame {
                    Frame::Arr(items) => {
                        items.push(value);
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
                    Frame::Obj(members, key) => {
                        members.push((std::mem::take(key), value));
                        match self.skip_ws()? {
                            Some(b',') => {
                                self.bump();
                                if self.skip_ws()? != Some(b'"') {
                                    return Err(self.unexpected("a member name"));
                                }
                                *key = self.read_string()?;
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
                value = match frame {
                    Frame::Arr(items) => Value::Arr(items),
                    Frame::Obj(members, _) => Value::Obj(members),
                };
            }
        }
    }
}

/// Parses a complete JSON document held in memory (an embedded body).
pub(crate) fn parse_document(text: &str, limits: Limits) -> Result<Value> {
    let mut reader = Reader::with_capacity(text.as_bytes(), limits, text.len());
    let value = reader.parse_value(0)?;
    reader.finish()?;
    Ok(value)
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

/// The reader limits of `opts`.
pub(crate) fn limits_of(opts: &crate::SanitizeOptions) -> Limits {
    Limits {
        max_depth: opts.max_depth,
        max_value_bytes: opts.max_value_bytes,
        max_entry_bytes: opts.max_entry_bytes,
        max_entry_nodes: opts.max_entry_nodes,
        max_input_bytes: opts.max_input_bytes,
    }
}
