//! Text and log artifacts: a line-streaming sanitizer.
//!
//! [`sanitize`] reads UTF-8 text line by line (memory bounded by
//! [`TextLimits::max_line_bytes`]), asks the detector about every value the line
//! heuristics find (header-like lines, curl/HTTPie commands, `key=value` pairs, URLs,
//! plus the free detector over the whole line, see `text/heuristics.rs`), replaces each
//! flagged span by a [`Redactor::marker`], and re-scans every changed output line with
//! the reference pass (the same heuristics without the fast pass's skips): anything
//! still flagged refuses the artifact (I1, fail-closed).
//! [`inspect`] reports the same hits as [`Finding`]s without writing anything.
//!
//! Choices, documented here because they are security choices:
//! - An over-long line is an error naming the line ([`TextError::LineTooLong`]), not
//!   handled in chunks: a chunk boundary could split a secret so that neither half is
//!   recognised.
//! - Text must be UTF-8. Invalid UTF-8 is an error naming the line, column and byte
//!   offset ([`TextError::InvalidUtf8`]): guessing an encoding could hide a secret
//!   from the detector, so an unknown encoding is refused, never "no findings".
//! - Line endings (`\n`, `\r\n`, none on the last line) are preserved byte for byte.

mod heuristics;

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};

use custody_scan::{Class, Finding, Location, Redactor, Scanner};

pub(crate) use heuristics::LineScanner;

/// Default for [`TextLimits::max_line_bytes`]: 1 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;
/// Default for [`TextLimits::max_findings`].
pub const DEFAULT_MAX_FINDINGS: usize = 1_000;

/// Limits of the text sanitizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextLimits {
    /// Longest accepted line in bytes, line ending excluded.
    pub max_line_bytes: usize,
    /// Remaining findings recorded for a refusal report (the verdict does not depend
    /// on it; it only bounds the report's memory).
    pub max_findings: usize,
}

impl Default for TextLimits {
    fn default() -> Self {
        Self {
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_findings: DEFAULT_MAX_FINDINGS,
        }
    }
}

/// Why text could not be sanitized or inspected. Every variant is a refusal: output
/// written so far must be discarded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    /// A line is longer than [`TextLimits::max_line_bytes`].
    #[error(
        "line {line} (starting at byte {byte_offset}) is longer than the limit of {limit} bytes"
    )]
    LineTooLong {
        /// One-based line number.
        line: u64,
        /// Byte offset of the start of the line.
        byte_offset: u64,
        /// The configured limit.
        limit: usize,
    },
    /// The text is not valid UTF-8.
    #[error(
        "invalid UTF-8 at line {line}, column {column} (byte {byte_offset}): text and logs must be UTF-8"
    )]
    InvalidUtf8 {
        /// One-based line number.
        line: u64,
        /// One-based column in bytes.
        column: u64,
        /// Byte offset of the first invalid byte.
        byte_offset: u64,
    },
    /// Reading the input or writing the output failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// What one text run did: counts only, never values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextSummary {
    /// Lines read.
    pub lines: u64,
    /// Bytes read.
    pub bytes_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
    /// Redactions by credential class.
    pub by_class: BTreeMap<Class, u64>,
    /// Redactions by location kind (`header`, `command`, `key-value`, `url`, `text`).
    pub by_kind: BTreeMap<&'static str, u64>,
    /// What the re-scan of the output still flags (empty on a clean verdict), capped
    /// at [`TextLimits::max_findings`]; previews are markers, never values.
    pub remaining: Vec<Finding>,
    /// How many spans the re-scan flagged in total (may exceed `remaining.len()`).
    pub remaining_count: u64,
}

impl TextSummary {
    /// Whether the output re-scan found nothing: the only state in which the output
    /// may be kept.
    pub fn is_clean(&self) -> bool {
        self.remaining_count == 0
    }

    /// Total redactions.
    pub fn redactions(&self) -> u64 {
        self.by_class.values().sum()
    }
}

/// Sanitizes text read from `input` into `output`, line by line.
///
/// Returns the summary; its [`TextSummary::is_clean`] is the verdict. On `Err` or an
/// unclean summary the bytes already written to `output` must be discarded.
pub fn sanitize<R: Read, W: Write>(
    input: R,
    output: W,
    scanner: &Scanner,
    redactor: &Redactor,
    limits: &TextLimits,
) -> Result<TextSummary, TextError> {
    let lines = LineScanner::new(scanner);
    sanitize_with(input, output, &lines, redactor, limits, None)
}

/// [`sanitize`] with compiled heuristics; `path` names the zip entry, if any, in
/// findings.
pub(crate) fn sanitize_with<R: Read, W: Write>(
    input: R,
    mut output: W,
    lines: &LineScanner<'_>,
    redactor: &Redactor,
    limits: &TextLimits,
    path: Option<&str>,
) -> Result<TextSummary, TextError> {
    let mut summary = TextSummary::default();
    let mut out_line = String::new();
    let mut pem = PemBlock::default();
    let total = for_each_line(input, limits, |at, line, eol| {
        if pem.swallows(line) {
            // The body of a private key: the whole line is key material.
            out_line.clear();
            out_line.push_str(&pem_marker(redactor, line));
            output.write_all(out_line.as_bytes())?;
            output.write_all(eol)?;
            summary.bytes_out = summary.bytes_out.saturating_add(len64(out_line.as_bytes()));
            summary.bytes_out = summary.bytes_out.saturating_add(len64(eol));
            summary.lines = at.line;
            return Ok(());
        }
        pem.observe(line);
        let hits = lines.hits(line);
        out_line.clear();
        let mut prev = 0;
        for hit in &hits {
            out_line.push_str(line.get(prev..hit.abs.start).unwrap_or_default());
            let value = line.get(hit.value.clone()).unwrap_or_default();
            out_line.push_str(&redactor.marker(&hit.m, value));
            prev = hit.abs.end;
            *summary.by_class.entry(hit.m.rule.class).or_default() += 1;
            *summary.by_kind.entry(hit.kind).or_default() += 1;
        }
        out_line.push_str(line.get(prev..).unwrap_or_default());
        // The reference pass (every heuristic, no skips) over every changed output
        // line: whatever it still flags refuses the artifact. A line without hits is
        // its own output, and the fast pass just scanned exactly these bytes (the
        // skips it makes are exact, see `text/heuristics.rs`), so it is not re-scanned.
        let rescan = if hits.is_empty() {
            Vec::new()
        } else {
            lines.hits_full(&out_line)
        };
        for hit in rescan {
            summary.remaining_count = summary.remaining_count.saturating_add(1);
            if summary.remaining.len() < limits.max_findings {
                summary
                    .remaining
                    .push(finding(&hit, redactor, &out_line, at, path));
            }
        }
        output.write_all(out_line.as_bytes())?;
        output.write_all(eol)?;
        summary.bytes_out = summary.bytes_out.saturating_add(
            u64::try_from(out_line.len().saturating_add(eol.len())).unwrap_or(u64::MAX),
        );
        summary.lines = at.line;
        Ok(())
    })?;
    summary.bytes_in = total;
    output.flush()?;
    Ok(summary)
}

/// Reports every span the sanitizer would redact as a [`Finding`] to `sink`, without
/// writing anything. Returns the number of lines read.
pub fn inspect<R: Read>(
    input: R,
    scanner: &Scanner,
    redactor: &Redactor,
    limits: &TextLimits,
    sink: &mut dyn FnMut(Finding),
) -> Result<u64, TextError> {
    let lines = LineScanner::new(scanner);
    inspect_with(input, &lines, redactor, limits, None, sink)
}

/// [`inspect`] with compiled heuristics.
pub(crate) fn inspect_with<R: Read>(
    input: R,
    lines: &LineScanner<'_>,
    redactor: &Redactor,
    limits: &TextLimits,
    path: Option<&str>,
    sink: &mut dyn FnMut(Finding),
) -> Result<u64, TextError> {
    let mut count = 0;
    let mut pem = PemBlock::default();
    for_each_line(input, limits, |at, line, _| {
        count = at.line;
        if pem.swallows(line) {
            return Ok(());
        }
        pem.observe(line);
        for hit in lines.hits(line) {
            sink(finding(&hit, redactor, line, at, path));
        }
        count = at.line;
        Ok(())
    })?;
    Ok(count)
}

/// Multi-line private keys (PEM, OpenSSH, PGP): the detector sees one line at a
/// time, so the body lines after a `-----BEGIN ... PRIVATE KEY-----` line are replaced
/// whole, up to and including the `-----END` line. A line that cannot belong to the
/// body (not base64, not a `Name: value` PEM header, not empty) ends a truncated block
/// and is sanitized as usual.
#[derive(Debug, Default)]
struct PemBlock {
    open: bool,
}

impl PemBlock {
    /// Notes a `BEGIN` line (one without its `END` on the same line).
    fn observe(&mut self, line: &str) {
        if let Some(begin) = line.find("-----BEGIN ") {
            let rest = line.get(begin..).unwrap_or_default();
            self.open = rest.contains("PRIVATE KEY") && !rest.contains("-----END ");
        }
    }

    /// Whether `line` is body (or end) of an open block; closes it at the end.
    fn swallows(&mut self, line: &str) -> bool {
        if !self.open {
            return false;
        }
        if line.contains("-----END ") {
            self.open = false;
            return true;
        }
        let body = line
            .trim()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '\\' | '"' | ','));
        let header = line.contains(':');
        if body || header {
            return true;
        }
        self.open = false;
        false
    }
}

/// The marker for one line of a private key block.
fn pem_marker(redactor: &Redactor, line: &str) -> String {
    format!(
        "[redacted:{}:{}]",
        Class::PrivateKey.as_str(),
        redactor.fingerprint(line.as_bytes())
    )
}

/// Where a line starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LineAt {
    /// One-based line number.
    pub(crate) line: u64,
    /// Byte offset of the first byte of the line.
    pub(crate) byte_offset: u64,
}

/// A finding for `hit` on `line` (a marker as preview, never the value).
pub(crate) fn finding(
    hit: &heuristics::Hit,
    redactor: &Redactor,
    line: &str,
    at: LineAt,
    path: Option<&str>,
) -> Finding {
    let column = u64::try_from(hit.abs.start).unwrap_or(u64::MAX);
    let value = line.get(hit.value.clone()).unwrap_or_default();
    Finding {
        rule_id: hit.m.rule.id,
        class: hit.m.rule.class,
        confidence: hit.m.rule.confidence,
        location: Location {
            path: path.map(str::to_owned),
            pointer: None,
            line: Some(at.line),
            column: Some(column.saturating_add(1)),
            byte_offset: at.byte_offset.saturating_add(column),
        },
        preview: redactor.marker(&hit.m, value),
    }
}

/// Calls `f` with every line of `input` (UTF-8 checked, without its line ending) and
/// its line ending. Returns the number of bytes read. Memory: one line.
fn for_each_line<R: Read>(
    input: R,
    limits: &TextLimits,
    mut f: impl FnMut(LineAt, &str, &[u8]) -> Result<(), TextError>,
) -> Result<u64, TextError> {
    let mut input = BufReader::with_capacity(64 * 1024, input);
    let mut buf: Vec<u8> = Vec::new();
    let mut at = LineAt {
        line: 1,
        byte_offset: 0,
    };
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            if !buf.is_empty() {
                emit(&buf, at, limits.max_line_bytes, &mut f)?;
                at.byte_offset = at.byte_offset.saturating_add(len64(&buf));
            }
            return Ok(at.byte_offset);
        }
        let (take, complete) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i.saturating_add(1), true),
            None => (chunk.len(), false),
        };
        let content_len = buf
            .len()
            .saturating_add(take)
            .saturating_sub(usize::from(complete));
        // `\r` of a `\r\n` ending is not content, hence the one byte of slack.
        if content_len > limits.max_line_bytes.saturating_add(1) {
            return Err(TextError::LineTooLong {
                line: at.line,
                byte_offset: at.byte_offset,
                limit: limits.max_line_bytes,
            });
        }
        buf.extend_from_slice(chunk.get(..take).unwrap_or_default());
        input.consume(take);
        if complete {
            emit(&buf, at, limits.max_line_bytes, &mut f)?;
            at.byte_offset = at.byte_offset.saturating_add(len64(&buf));
            at.line = at.line.saturating_add(1);
            buf.clear();
        }
    }
}

/// Splits the line ending off `raw`, checks UTF-8 and the length, calls `f`.
fn emit(
    raw: &[u8],
    at: LineAt,
    max_line_bytes: usize,
    f: &mut impl FnMut(LineAt, &str, &[u8]) -> Result<(), TextError>,
) -> Result<(), TextError> {
    let eol_len = if raw.ends_with(b"\r\n") {
        2
    } else {
        usize::from(raw.ends_with(b"\n"))
    };
    let (content, eol) = raw.split_at(raw.len().saturating_sub(eol_len));
    if content.len() > max_line_bytes {
        return Err(TextError::LineTooLong {
            line: at.line,
            byte_offset: at.byte_offset,
            limit: max_line_bytes,
        });
    }
    let text = std::str::from_utf8(content).map_err(|e| {
        let column = u64::try_from(e.valid_up_to()).unwrap_or(u64::MAX);
        TextError::InvalidUtf8 {
            line: at.line,
            column: column.saturating_add(1),
            byte_offset: at.byte_offset.saturating_add(column),
        }
    })?;
    f(at, text, eol)
}

fn len64(b: &[u8]) -> u64 {
    u64::try_from(b.len()).unwrap_or(u64::MAX)
}
