//! One entry point for every artifact kind: detection by content, then dispatch.
//!
//! [`sanitize`] peeks at the first bytes of the input (never at a file name) and picks
//! the sanitizer: `PK\x03\x04` is a zip ([`crate::archive`]), `{` whose first member is
//! `"log": {` is a HAR ([`crate::har`]), any other `{` or `[` is JSON
//! ([`crate::json`]), valid UTF-8 without NUL bytes is text or a log
//! ([`crate::text`]). Compressed streams (gzip, bzip2, xz, zstd, 7z, rar), UTF-16 and
//! binary content are refused with [`UnsupportedError`]: the decision is positive
//! (clean or refused), never "no findings" for something the detector cannot read.
//! gzip is refused rather than decoded so that one zip-bomb policy (the archive
//! limits) is the only decompression path; compress artifacts as zip instead.
//!
//! The result is an [`ArtifactReport`]: counts by credential class and by location
//! kind, the rules version, SHA-256 digests of the input and the output, and on a
//! refusal where the remaining material is (JSON pointer or line, rule id, class) with
//! markers as previews. It never holds a value.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};

use custody_scan::{Finding, Redactor, Scanner};
use sha2::{Digest, Sha256};

use crate::archive::{self, ArchiveError, ArchiveLimits, Budget};
use crate::text::{self, LineScanner, TextError, TextLimits};
use crate::{SanitizeError, SanitizeOptions};

/// Bytes of the head examined to detect the kind.
pub const HEAD_BYTES: usize = 8 * 1024;

/// An artifact kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A HAR 1.2 capture.
    Har,
    /// Any other JSON document.
    Json,
    /// UTF-8 text or a log.
    Text,
    /// A zip archive of HAR, JSON and text files.
    Zip,
}

impl Kind {
    /// Lower-case name: `har`, `json`, `text`, `zip`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Har => "har",
            Kind::Json => "json",
            Kind::Text => "text",
            Kind::Zip => "zip",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Options of [`sanitize`]: the kind (or detection), and the limits of every kind.
#[derive(Debug, Clone, Default)]
pub struct ArtifactOptions {
    /// Force a kind instead of detecting it from the content.
    pub kind: Option<Kind>,
    /// Options of the HAR and JSON sanitizers.
    pub sanitize: SanitizeOptions,
    /// Limits of the text sanitizer.
    pub text: TextLimits,
    /// Limits against zip bombs.
    pub archive: ArchiveLimits,
}

/// Content the sanitizers cannot read, refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported content{}: {what}", at_suffix(*.byte_offset))]
pub struct UnsupportedError {
    what: &'static str,
    byte_offset: Option<u64>,
}

fn at_suffix(at: Option<u64>) -> String {
    at.map(|b| format!(" at byte {b}")).unwrap_or_default()
}

impl UnsupportedError {
    /// What the content is (`gzip-compressed data`, `binary data (NUL byte)`, ...).
    pub fn what(&self) -> &'static str {
        self.what
    }
    /// Byte offset of the offending byte, when it is one byte.
    pub fn byte_offset(&self) -> Option<u64> {
        self.byte_offset
    }
}

/// Why an artifact was not sanitized. [`ArtifactError::Refused`] is the verdict
/// "refused" (replayable material remains: exit 1 in the CLI); every other variant is
/// an error (bad input, limits, I/O: exit 2). Either way the output must be discarded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// Replayable material remains after sanitizing; the report says where.
    #[error(
        "refused: {} replayable credential(s) remain after sanitizing",
        .0.remaining_count
    )]
    Refused(Box<ArtifactReport>),
    /// The content is of a kind custody does not read.
    #[error("{0}")]
    Unsupported(#[from] UnsupportedError),
    /// The HAR or JSON sanitizer failed.
    #[error("{0}")]
    Sanitize(SanitizeError),
    /// The text sanitizer failed.
    #[error("{0}")]
    Text(#[from] TextError),
    /// The zip sanitizer failed.
    #[error("{0}")]
    Archive(#[from] ArchiveError),
    /// Reading the input or writing the output failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

impl ArtifactError {
    /// The report of a refusal (where the remaining material is), if this is one.
    pub fn refusal(&self) -> Option<&ArtifactReport> {
        match self {
            ArtifactError::Refused(report) => Some(report),
            _ => None,
        }
    }
}

/// A remaining finding, as reported: where and what, never the value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReportFinding {
    /// Rule id.
    pub rule_id: &'static str,
    /// Credential class id.
    pub class: &'static str,
    /// Confidence of the rule.
    pub confidence: &'static str,
    /// Zip entry path (`a.zip!/b.har`), when inside an archive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// JSON pointer, for HAR and JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// One-based line, for text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// One-based column, for text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u64>,
    /// Byte offset in the (entry's) output.
    pub byte_offset: u64,
    /// A redaction marker standing for the value (never the value).
    pub preview: String,
}

impl From<&Finding> for ReportFinding {
    fn from(f: &Finding) -> Self {
        Self {
            rule_id: f.rule_id,
            class: f.class.as_str(),
            confidence: f.confidence.as_str(),
            path: f.location.path.clone(),
            pointer: f.location.pointer.clone(),
            line: f.location.line,
            column: f.location.column,
            byte_offset: f.location.byte_offset,
            preview: f.preview.clone(),
        }
    }
}

/// The sanitization report of one artifact: counts, digests, rules version and, on a
/// refusal, where the remaining material is. Holds no value (markers only).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ArtifactReport {
    /// `clean` or `refused`.
    pub verdict: &'static str,
    /// The kind sanitized.
    pub kind: Kind,
    /// Version of the detector's rule catalogue.
    pub rules_version: String,
    /// SHA-256 of the input bytes, hex.
    pub input_sha256: String,
    /// Input bytes.
    pub input_bytes: u64,
    /// SHA-256 of the output bytes, hex (of what was produced, even when refused; the
    /// output itself must then be discarded).
    pub output_sha256: String,
    /// Output bytes.
    pub output_bytes: u64,
    /// Total redactions.
    pub redactions: u64,
    /// Redactions by credential class id.
    pub by_class: BTreeMap<String, u64>,
    /// Redactions by location kind (`header`, `query`, `cookie`, `key-value`, ...).
    pub by_location: BTreeMap<String, u64>,
    /// Entries of the artifact itself: HAR entries (or top-level JSON elements) for a
    /// HAR or JSON document, entries sanitized for a zip archive, 0 for text.
    pub entries: u64,
    /// HAR entries and top-level JSON elements sanitized, across every member of an
    /// archive (for a HAR or JSON document, equal to `entries`).
    pub records: u64,
    /// Text lines sanitized, across every member of an archive.
    pub lines: u64,
    /// How many spans the re-scan of the output still flags (0 when clean).
    pub remaining_count: u64,
    /// Where (capped; see [`TextLimits::max_findings`]).
    pub remaining: Vec<ReportFinding>,
}

/// Counts gathered while walking one artifact (and the entries of an archive). With
/// a sink, the walk inspects: every finding goes to the sink and nothing is written.
#[derive(Default)]
pub(crate) struct Tally<'s> {
    pub(crate) by_class: BTreeMap<String, u64>,
    pub(crate) by_location: BTreeMap<String, u64>,
    pub(crate) remaining: Vec<ReportFinding>,
    pub(crate) remaining_count: u64,
    pub(crate) entries: u64,
    /// HAR entries and JSON elements, summed over documents.
    pub(crate) records: u64,
    /// Text lines, summed over text documents.
    pub(crate) lines: u64,
    pub(crate) max_findings: usize,
    pub(crate) sink: Option<&'s mut dyn FnMut(Finding)>,
}

impl Tally<'_> {
    fn remain(&mut self, finding: &Finding, path: Option<&str>) {
        self.remaining_count = self.remaining_count.saturating_add(1);
        if self.remaining.len() < self.max_findings {
            let mut f = ReportFinding::from(finding);
            if f.path.is_none() {
                f.path = path.filter(|p| !p.is_empty()).map(str::to_owned);
            }
            self.remaining.push(f);
        }
    }

    fn add_text(&mut self, summary: &text::TextSummary, path: Option<&str>) {
        self.lines = self.lines.saturating_add(summary.lines);
        for (class, n) in &summary.by_class {
            *self.by_class.entry(class.as_str().to_owned()).or_default() += n;
        }
        for (kind, n) in &summary.by_kind {
            *self.by_location.entry((*kind).to_owned()).or_default() += n;
        }
        for f in &summary.remaining {
            self.remain(f, path);
        }
        // Findings beyond the cap still count.
        let uncounted = summary
            .remaining_count
            .saturating_sub(u64::try_from(summary.remaining.len()).unwrap_or(u64::MAX));
        self.remaining_count = self.remaining_count.saturating_add(uncounted);
    }

    fn add_report(&mut self, report: &crate::Report) {
        self.records = self.records.saturating_add(report.entries);
        for (class, n) in &report.by_class {
            *self.by_class.entry(class.clone()).or_default() += n;
        }
        for (kind, n) in &report.by_location {
            *self.by_location.entry(kind.clone()).or_default() += n;
        }
    }
}

/// Everything a walk needs, shared by reference down nested archives.
pub(crate) struct Env<'a> {
    pub(crate) scanner: &'a Scanner,
    pub(crate) redactor: &'a Redactor,
    pub(crate) lines: LineScanner<'a>,
    pub(crate) options: &'a ArtifactOptions,
    pub(crate) budget: Budget,
}

/// Detects the kind of an artifact from its first bytes (`head`, at most
/// [`HEAD_BYTES`]; `complete` when the head is the whole input).
pub fn detect(head: &[u8], complete: bool) -> Result<Kind, UnsupportedError> {
    let unsupported = |what| UnsupportedError {
        what,
        byte_offset: None,
    };
    if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        return Err(unsupported("UTF-16 text (convert to UTF-8)"));
    }
    let magic: [(&[u8], &'static str); 7] = [
        (
            &[0x1F, 0x8B],
            "gzip-compressed data (compress artifacts as zip)",
        ),
        (b"BZh", "bzip2-compressed data"),
        (&[0xFD, b'7', b'z', b'X', b'Z', 0x00], "xz-compressed data"),
        (&[0x28, 0xB5, 0x2F, 0xFD], "zstd-compressed data"),
        (&[b'7', b'z', 0xBC, 0xAF, 0x27, 0x1C], "7z archive"),
        (b"Rar!", "rar archive"),
        (&[0x50, 0x4B, 0x07, 0x08], "spanned zip archive"),
    ];
    for (m, what) in magic {
        if head.starts_with(m) {
            return Err(unsupported(what));
        }
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Ok(Kind::Zip);
    }
    if let Some(nul) = memchr::memchr(0, head) {
        return Err(UnsupportedError {
            what: "binary data (NUL byte)",
            byte_offset: u64::try_from(nul).ok(),
        });
    }
    if let Err(e) = std::str::from_utf8(head) {
        // A multi-byte character cut by the end of the head is not an error.
        if complete || e.error_len().is_some() {
            return Err(UnsupportedError {
                what: "binary data or an unknown encoding (invalid UTF-8)",
                byte_offset: u64::try_from(e.valid_up_to()).ok(),
            });
        }
    }
    let body = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let body = trim_ws(body);
    match body.first() {
        Some(b'{') if starts_har(body.get(1..).unwrap_or_default()) => Ok(Kind::Har),
        Some(b'{' | b'[') => Ok(Kind::Json),
        _ => Ok(Kind::Text),
    }
}

fn trim_ws(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    b.get(start..).unwrap_or_default()
}

/// Whether the bytes after a top-level `{` open a HAR: first member `"log": {`.
fn starts_har(after_brace: &[u8]) -> bool {
    let rest = trim_ws(after_brace);
    let Some(rest) = rest.strip_prefix(b"\"log\"") else {
        return false;
    };
    let Some(rest) = trim_ws(rest).strip_prefix(b":") else {
        return false;
    };
    trim_ws(rest).starts_with(b"{")
}

/// JSON parsers need not accept a UTF-8 byte-order mark (RFC 8259 §8.1): it is
/// dropped before HAR and JSON (and not written back); text keeps it.
fn without_json_bom(kind: Kind, mut head: Vec<u8>) -> Vec<u8> {
    if matches!(kind, Kind::Har | Kind::Json) && head.starts_with(b"\xEF\xBB\xBF") {
        head.drain(..3);
    }
    head
}

/// Reads up to [`HEAD_BYTES`] of `input`; returns the head and whether it is all.
fn read_head(input: &mut dyn Read) -> io::Result<(Vec<u8>, bool)> {
    let mut head = Vec::with_capacity(HEAD_BYTES);
    input
        .take(u64::try_from(HEAD_BYTES).unwrap_or(u64::MAX))
        .read_to_end(&mut head)?;
    let complete = head.len() < HEAD_BYTES;
    Ok((head, complete))
}

/// Sanitizes one artifact of any kind from `input` into `output`.
///
/// The per-artifact `redactor` (its key drawn from the OS RNG by the caller and
/// dropped afterwards) makes the markers. On `Ok` the verdict is clean and the report
/// says what was redacted. On `Err` the output must be discarded:
/// [`ArtifactError::Refused`] carries the report of where material remains; every
/// other variant names what and where the input is bad.
///
/// Zip input is read through its central directory, which needs `Seek`; use
/// [`sanitize_seekable`] for files. This function holds a zip read from a stream in
/// memory, up to [`ArchiveLimits::max_nested_bytes`].
pub fn sanitize<R: Read, W: Write>(
    input: R,
    output: W,
    scanner: &Scanner,
    redactor: &Redactor,
    options: &ArtifactOptions,
) -> Result<ArtifactReport, ArtifactError> {
    walk_stream(input, output, scanner, redactor, options, None)
}

/// Reports every credential of an artifact of any kind to `sink`, writing nothing
/// (for `custody scan`). Findings carry the zip entry path, the JSON pointer or the
/// line; previews are markers. Returns the kind. Any parse, limit or encoding error is
/// an error, never "no findings".
pub fn inspect<R: Read>(
    input: R,
    scanner: &Scanner,
    redactor: &Redactor,
    options: &ArtifactOptions,
    sink: &mut dyn FnMut(Finding),
) -> Result<Kind, ArtifactError> {
    let report = walk_stream(input, io::sink(), scanner, redactor, options, Some(sink))?;
    Ok(report.kind)
}

/// [`inspect`] for a seekable input: a zip is read in place.
pub fn inspect_seekable<R: Read + Seek>(
    input: R,
    scanner: &Scanner,
    redactor: &Redactor,
    options: &ArtifactOptions,
    sink: &mut dyn FnMut(Finding),
) -> Result<Kind, ArtifactError> {
    let report = walk_seekable(input, io::sink(), scanner, redactor, options, Some(sink))?;
    Ok(report.kind)
}

fn walk_stream<R: Read, W: Write>(
    input: R,
    output: W,
    scanner: &Scanner,
    redactor: &Redactor,
    options: &ArtifactOptions,
    sink: Option<&mut dyn FnMut(Finding)>,
) -> Result<ArtifactReport, ArtifactError> {
    let mut input = Hashing::new(input);
    let (head, complete) = read_head(&mut input)?;
    let kind = match options.kind {
        Some(kind) => kind,
        None => detect(&head, complete)?,
    };
    let mut output = HashingWriter::new(output);
    let env = Env::new(scanner, redactor, options);
    let mut tally = env.tally(sink);
    let head = without_json_bom(kind, head);
    let mut chained = Cursor::new(head).chain(&mut input);
    if kind == Kind::Zip {
        let limit = options.archive.max_nested_bytes;
        let mut bytes = Vec::new();
        (&mut chained)
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)?;
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limit {
            return Err(ArtifactError::Archive(ArchiveError::StreamTooLarge {
                limit,
            }));
        }
        archive::sanitize_archive(Cursor::new(bytes), &mut output, &env, 1, "", &mut tally)?;
    } else {
        sanitize_kind(kind, &mut chained, &mut output, &env, "", &mut tally)?;
    }
    drop(chained);
    finish(kind, &env, tally, input, output)
}

/// [`sanitize`] for a seekable input (a file): a zip is read in place, not held in
/// memory. The input is read from its current position.
pub fn sanitize_seekable<R: Read + Seek, W: Write>(
    input: R,
    output: W,
    scanner: &Scanner,
    redactor: &Redactor,
    options: &ArtifactOptions,
) -> Result<ArtifactReport, ArtifactError> {
    walk_seekable(input, output, scanner, redactor, options, None)
}

fn walk_seekable<R: Read + Seek, W: Write>(
    mut input: R,
    output: W,
    scanner: &Scanner,
    redactor: &Redactor,
    options: &ArtifactOptions,
    sink: Option<&mut dyn FnMut(Finding)>,
) -> Result<ArtifactReport, ArtifactError> {
    let start = input.stream_position()?;
    let (head, complete) = read_head(&mut input)?;
    let kind = match options.kind {
        Some(kind) => kind,
        None => detect(&head, complete)?,
    };
    if kind != Kind::Zip {
        input.seek(SeekFrom::Start(start))?;
        let forced = ArtifactOptions {
            kind: Some(kind),
            ..options.clone()
        };
        return walk_stream(input, output, scanner, redactor, &forced, sink);
    }
    input.seek(SeekFrom::Start(start))?;
    let mut input = Hashing::new(input);
    let mut output = HashingWriter::new(output);
    let env = Env::new(scanner, redactor, options);
    let mut tally = env.tally(sink);
    archive::sanitize_archive(&mut input, &mut output, &env, 1, "", &mut tally)?;
    // The zip reader may skip bytes (central directory first): hash the whole input.
    input.hash_rest()?;
    finish(kind, &env, tally, input, output)
}

impl<'a> Env<'a> {
    fn new(scanner: &'a Scanner, redactor: &'a Redactor, options: &'a ArtifactOptions) -> Self {
        Self {
            scanner,
            redactor,
            lines: LineScanner::new(scanner),
            options,
            budget: Budget::new(options.archive),
        }
    }

    fn tally<'s>(&self, sink: Option<&'s mut dyn FnMut(Finding)>) -> Tally<'s> {
        Tally {
            max_findings: self.options.text.max_findings,
            sink,
            ..Tally::default()
        }
    }
}

/// Builds the report; a tally with remaining material is a refusal.
fn finish<R, W>(
    kind: Kind,
    env: &Env<'_>,
    tally: Tally<'_>,
    input: Hashing<R>,
    output: HashingWriter<W>,
) -> Result<ArtifactReport, ArtifactError> {
    let refused = tally.remaining_count > 0;
    let report = ArtifactReport {
        verdict: if refused { "refused" } else { "clean" },
        kind,
        rules_version: env.scanner.rules_version().to_owned(),
        input_sha256: hex(&input.hasher.finalize()),
        input_bytes: input.bytes,
        output_sha256: hex(&output.hasher.finalize()),
        output_bytes: output.bytes,
        redactions: tally.by_class.values().sum(),
        by_class: tally.by_class,
        by_location: tally.by_location,
        entries: match kind {
            Kind::Har | Kind::Json => tally.records,
            Kind::Text | Kind::Zip => tally.entries,
        },
        records: tally.records,
        lines: tally.lines,
        remaining_count: tally.remaining_count,
        remaining: tally.remaining,
    };
    if refused {
        Err(ArtifactError::Refused(Box::new(report)))
    } else {
        Ok(report)
    }
}

/// Sanitizes one zip entry (or a nested archive) by its detected kind.
pub(crate) fn sanitize_entry(
    input: &mut dyn Read,
    output: &mut dyn Write,
    env: &Env<'_>,
    depth: u32,
    path: &str,
    tally: &mut Tally<'_>,
) -> Result<(), ArtifactError> {
    let (head, complete) = read_head(input)?;
    let kind = detect(&head, complete)?;
    let head = without_json_bom(kind, head);
    let mut chained = Cursor::new(head).chain(input);
    if kind == Kind::Zip {
        return archive::sanitize_nested(&mut chained, output, env, depth, path, tally);
    }
    sanitize_kind(kind, &mut chained, output, env, path, tally)
}

/// Runs the sanitizer of a non-archive kind; remaining findings go to the tally.
fn sanitize_kind(
    kind: Kind,
    input: &mut dyn Read,
    output: &mut dyn Write,
    env: &Env<'_>,
    path: &str,
    tally: &mut Tally<'_>,
) -> Result<(), ArtifactError> {
    let path = Some(path).filter(|p| !p.is_empty());
    if let Some(sink) = tally.sink.as_mut() {
        let mut with_path = |mut f: Finding| {
            if f.location.path.is_none() {
                f.location.path = path.map(str::to_owned);
            }
            sink(f);
        };
        let (scanner, opts) = (env.scanner, &env.options.sanitize);
        return match kind {
            Kind::Text => text::inspect_with(
                input,
                &env.lines,
                env.redactor,
                &env.options.text,
                path,
                &mut with_path,
            )
            .map(drop)
            .map_err(ArtifactError::Text),
            Kind::Har => crate::har::inspect(input, scanner, opts, &mut with_path)
                .map_err(ArtifactError::Sanitize),
            Kind::Json => crate::json::inspect(input, scanner, opts, &mut with_path)
                .map_err(ArtifactError::Sanitize),
            Kind::Zip => Err(ArtifactError::Archive(ArchiveError::Malformed {
                index: None,
                detail: "a zip needs a seekable input".to_owned(),
            })),
        };
    }
    match kind {
        Kind::Text => {
            let summary = text::sanitize_with(
                input,
                output,
                &env.lines,
                env.redactor,
                &env.options.text,
                path,
            )?;
            tally.add_text(&summary, path);
            Ok(())
        }
        Kind::Har | Kind::Json => {
            // The report's digests are those of `walk_stream`/`walk_seekable`
            // (`Hashing`, `HashingWriter` around these same bytes): the inner run
            // does not hash them a second time.
            let result = if kind == Kind::Har {
                crate::har::sanitize_undigested(
                    input,
                    output,
                    env.scanner,
                    env.redactor,
                    &env.options.sanitize,
                )
            } else {
                crate::json::sanitize_undigested(
                    input,
                    output,
                    env.scanner,
                    env.redactor,
                    &env.options.sanitize,
                )
            };
            match result {
                Ok(report) => {
                    tally.add_report(&report);
                    Ok(())
                }
                Err(SanitizeError::Refused(refused)) => {
                    tally.add_report(refused.report());
                    for f in refused.findings() {
                        tally.remain(f, path);
                    }
                    Ok(())
                }
                Err(e) => Err(ArtifactError::Sanitize(e)),
            }
        }
        Kind::Zip => Err(ArtifactError::Archive(ArchiveError::Malformed {
            index: None,
            detail: "a zip needs a seekable input".to_owned(),
        })),
    }
}

/// Scans a zip entry name; a flagged name cannot be kept, so it remains as a finding.
pub(crate) fn check_name(
    name: &str,
    env: &Env<'_>,
    path: &str,
    index: usize,
    tally: &mut Tally<'_>,
) {
    for hit in env.lines.hits(name) {
        let at = text::LineAt {
            line: 1,
            byte_offset: 0,
        };
        let mut f = text::finding(&hit, env.redactor, name, at, None);
        f.location.line = None;
        f.location.pointer = Some(format!("entry #{index} name"));
        match tally.sink.as_mut() {
            Some(sink) => {
                f.location.path = Some(path).filter(|p| !p.is_empty()).map(str::to_owned);
                sink(f);
            }
            None => tally.remain(&f, Some(path)),
        }
    }
}

/// SHA-256 over everything read.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
    /// Highest position hashed so far, for seekable inputs read out of order.
    hashed_to: u64,
    pos: u64,
}

impl<R> Hashing<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
            hashed_to: 0,
            pos: 0,
        }
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let got = buf.get(..n).unwrap_or_default();
        let end = self
            .pos
            .saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        // Hash only bytes past the hashed prefix, in order; a seek backwards re-reads
        // bytes already hashed, a seek forwards leaves a gap that `hash_rest` fills.
        if self.pos <= self.hashed_to && end > self.hashed_to {
            let skip = usize::try_from(self.hashed_to.saturating_sub(self.pos)).unwrap_or(n);
            self.hasher.update(got.get(skip..).unwrap_or_default());
            self.hashed_to = end;
        }
        self.bytes = self.bytes.max(end);
        self.pos = end;
        Ok(n)
    }
}

impl<R: Seek> Seek for Hashing<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = self.inner.seek(to)?;
        Ok(self.pos)
    }
}

impl<R: Read + Seek> Hashing<R> {
    /// Hashes the input from the hashed prefix to its end.
    fn hash_rest(&mut self) -> io::Result<()> {
        self.seek(SeekFrom::Start(self.hashed_to))?;
        io::copy(self, &mut io::sink())?;
        Ok(())
    }
}

/// SHA-256 over everything written.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W> HashingWriter<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or_default());
        self.bytes = self
            .bytes
            .saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len().saturating_mul(2));
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_by_content() {
        assert_eq!(
            detect(b"{\"log\": {\"version\": \"1.2\"", false),
            Ok(Kind::Har)
        );
        assert_eq!(detect(b"\xEF\xBB\xBF \n{ \"log\" :{", false), Ok(Kind::Har));
        assert_eq!(detect(b"{\"logs\": {}}", true), Ok(Kind::Json));
        assert_eq!(detect(b"{\"a\": 1, \"log\": {}}", true), Ok(Kind::Json));
        assert_eq!(detect(b"[1,2]", true), Ok(Kind::Json));
        assert_eq!(detect(b"PK\x03\x04rest", false), Ok(Kind::Zip));
        assert_eq!(detect(b"PK\x05\x06", true), Ok(Kind::Zip));
        assert_eq!(detect(b"2024-01-01 INFO hello\n", true), Ok(Kind::Text));
        assert_eq!(detect(b"", true), Ok(Kind::Text));
        let gz = detect(&[0x1F, 0x8B, 8, 0], false).unwrap_err();
        assert!(gz.what().starts_with("gzip"));
        let nul = detect(b"abc\0def", true).unwrap_err();
        assert_eq!(nul.byte_offset(), Some(3));
        let bad = detect(b"ab\xFF\xFEcd", true).unwrap_err();
        assert_eq!(bad.byte_offset(), Some(2));
        assert!(detect(&[0xFF, 0xFE, b'a', 0], true).is_err());
        // A character cut by the end of the head is fine unless the input ends there.
        assert_eq!(
            detect("abc\u{e9}".as_bytes().get(..4).unwrap(), false),
            Ok(Kind::Text)
        );
        assert!(detect("abc\u{e9}".as_bytes().get(..4).unwrap(), true).is_err());
    }

    #[test]
    fn hashing_reader_hashes_each_byte_once_in_order() {
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let mut h = Hashing::new(Cursor::new(data.clone()));
        let mut buf = [0u8; 100];
        h.read_exact(&mut buf).unwrap();
        h.seek(SeekFrom::Start(9_000)).unwrap();
        h.read_exact(&mut buf).unwrap();
        h.seek(SeekFrom::Start(50)).unwrap();
        h.read_exact(&mut buf).unwrap();
        h.hash_rest().unwrap();
        assert_eq!(hex(&h.hasher.finalize()), hex(&Sha256::digest(&data)));
    }
}
