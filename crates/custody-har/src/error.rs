//! Errors of [`crate::har::sanitize`], [`crate::json::sanitize`] and their `inspect`
//! counterparts.
//!
//! Every error names *what* went wrong and *where* (byte offset, line, column and the
//! JSON pointer of the enclosing value where known). No error ever carries or prints
//! a value from the input: messages describe the expected syntax, never the bytes
//! found.

use std::fmt;

use custody_scan::Finding;

use crate::report::Report;

/// A position in the input.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Position {
    pub(crate) byte_offset: u64,
    pub(crate) line: u64,
    pub(crate) column: u64,
    pub(crate) pointer: Option<String>,
}

impl Position {
    /// Zero-based byte offset from the start of the input.
    pub fn byte_offset(&self) -> u64 {
        self.byte_offset
    }
    /// One-based line number.
    pub fn line(&self) -> u64 {
        self.line
    }
    /// One-based column, in bytes.
    pub fn column(&self) -> u64 {
        self.column
    }
    /// JSON pointer (RFC 6901) of the value being read, where known.
    pub fn pointer(&self) -> Option<&str> {
        self.pointer.as_deref()
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "byte {} (line {}, column {})",
            self.byte_offset, self.line, self.column
        )?;
        match &self.pointer {
            Some(p) if p.is_empty() => write!(f, " in the document root"),
            Some(p) => write!(f, " in {p}"),
            None => Ok(()),
        }
    }
}

/// Why the input is not well-formed JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseReason {
    /// The input ended inside a value.
    UnexpectedEof {
        /// What the parser expected next.
        expected: &'static str,
    },
    /// A byte that cannot start or continue the expected syntax.
    UnexpectedByte {
        /// What the parser expected instead.
        expected: &'static str,
    },
    /// A string is not valid UTF-8.
    InvalidUtf8,
    /// A backslash escape is malformed, or a `\u` escape is a lone surrogate.
    InvalidEscape,
    /// An unescaped control character inside a string.
    ControlCharacter,
    /// A number does not follow the JSON grammar.
    InvalidNumber,
    /// Non-whitespace data after the end of the document.
    TrailingData,
}

impl fmt::Display for ParseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnexpectedEof { expected } => {
                write!(f, "input ends early (truncated?): expected {expected}")
            }
            Self::UnexpectedByte { expected } => {
                write!(f, "unexpected character: expected {expected}")
            }
            Self::InvalidUtf8 => f.write_str("string is not valid UTF-8"),
            Self::InvalidEscape => f.write_str("invalid escape sequence in string"),
            Self::ControlCharacter => f.write_str("unescaped control character in string"),
            Self::InvalidNumber => f.write_str("malformed number"),
            Self::TrailingData => f.write_str("data after the end of the JSON document"),
        }
    }
}

/// Malformed JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub(crate) at: Position,
    pub(crate) reason: ParseReason,
}

impl ParseError {
    /// Where the error was detected.
    pub fn at(&self) -> &Position {
        &self.at
    }
    /// What is wrong.
    pub fn reason(&self) -> ParseReason {
        self.reason
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.reason, self.at)
    }
}

/// Which resource limit was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitKind {
    /// Nesting depth of arrays and objects ([`crate::SanitizeOptions::max_depth`]).
    Depth,
    /// Bytes of one string or number ([`crate::SanitizeOptions::max_value_bytes`]).
    ValueBytes,
    /// Bytes of one HAR entry or top-level JSON element
    /// ([`crate::SanitizeOptions::max_entry_bytes`]).
    EntryBytes,
    /// Values inside one entry ([`crate::SanitizeOptions::max_entry_nodes`]).
    EntryNodes,
    /// Total input bytes ([`crate::SanitizeOptions::max_input_bytes`]).
    InputBytes,
    /// Walks over one entry before its sanitized form settled (each walk after the
    /// first judges what the sweep for secrets learned in the entry changed).
    UnitPasses,
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Depth => "nesting depth",
            Self::ValueBytes => "bytes in one string or number",
            Self::EntryBytes => "bytes in one entry",
            Self::EntryNodes => "values in one entry",
            Self::InputBytes => "input bytes",
            Self::UnitPasses => "sanitizing walks over one entry",
        })
    }
}

/// A resource limit was exceeded; reading stopped before allocating past it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitError {
    pub(crate) what: LimitKind,
    pub(crate) limit: u64,
    pub(crate) at: Position,
}

impl LimitError {
    /// The limit that was hit.
    pub fn what(&self) -> LimitKind {
        self.what
    }
    /// Its configured value.
    pub fn limit(&self) -> u64 {
        self.limit
    }
    /// Where it was hit.
    pub fn at(&self) -> &Position {
        &self.at
    }
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} exceed the limit of {} at {}",
            self.what, self.limit, self.at
        )
    }
}

/// Well-formed JSON that is not a HAR document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotHarError {
    pub(crate) reason: &'static str,
    pub(crate) at: Position,
}

impl NotHarError {
    /// What is missing or has the wrong type.
    pub fn reason(&self) -> &str {
        self.reason
    }
    /// Where it was detected.
    pub fn at(&self) -> &Position {
        &self.at
    }
}

impl fmt::Display for NotHarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.reason, self.at)
    }
}

/// Replayable material remained in the sanitized output (I1): the artifact is refused.
#[derive(Debug, Clone)]
pub struct RefusedError {
    pub(crate) findings: Vec<Finding>,
    pub(crate) report: Box<Report>,
}

impl RefusedError {
    /// Where the remaining material is (pointer, rule, class); previews are markers.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }
    /// The sanitization report of the refused run (counts only, no values).
    pub fn report(&self) -> &Report {
        &self.report
    }
}

/// Why sanitizing or inspecting an artifact failed. Every variant is a refusal:
/// the output written so far must be discarded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SanitizeError {
    /// The input is not well-formed JSON (truncated, malformed, invalid UTF-8).
    #[error("malformed JSON: {0}")]
    Parse(ParseError),
    /// The input is JSON but not a HAR document.
    #[error("not a HAR file: {0}")]
    NotHar(NotHarError),
    /// A resource limit was exceeded.
    #[error("input too large: {0}")]
    Limit(LimitError),
    /// Replayable credentials remain after sanitizing (fail-closed).
    #[error(
        "refused: {} replayable credential(s) remain after sanitizing",
        .0.findings.len()
    )]
    Refused(RefusedError),
    /// Reading the input or writing the output failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl SanitizeError {
    /// The input position the error refers to, if any.
    pub fn position(&self) -> Option<&Position> {
        match self {
            Self::Parse(e) => Some(&e.at),
            Self::NotHar(e) => Some(&e.at),
            Self::Limit(e) => Some(&e.at),
            Self::Refused(_) | Self::Io(_) => None,
        }
    }
}
