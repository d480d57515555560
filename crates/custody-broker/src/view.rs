//! Server-side rendering of a sanitized artifact, one page at a time, in bounded
//! memory: HAR entries are summarised (time, method, URL, status, type, size) while the
//! JSON streams past, and entries outside the page are skipped without being built;
//! text and JSON artifacts page by lines, each cut at [`MAX_LINE`] bytes. Only already
//! sanitized bytes reach this module.
//!
//! [`ViewIndex`]: recorded at ingest by [`Indexer`] (a pass-through writer between the
//! sanitizer and the at-rest encryption), it holds the byte range of every HAR entry,
//! or the start of every [`LINE_STRIDE`]-th line, and the item count. With it a page
//! decrypts and parses only its own items ([`render_indexed`]); without it (artifacts
//! stored before the index existed) [`render`] reads the whole artifact. Both give the
//! same page.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};

use custody_store::ArtifactKind;
use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::BrokerError;

/// Lines between two line starts recorded in a [`ViewIndex`].
pub const LINE_STRIDE: u64 = 64;

/// Most items in one page.
pub const MAX_PAGE: u32 = 200;
/// Longest line shown (bytes); longer lines are cut and flagged.
pub const MAX_LINE: usize = 4096;

/// Which page to render.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    /// Index of the first item.
    pub offset: u64,
    /// Items wanted (at most [`MAX_PAGE`]).
    pub limit: u32,
    /// What each HAR entry shows.
    pub detail: Detail,
}

/// How much of each HAR entry a page shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Detail {
    /// The fields a support engineer scans first: time, method, URL, status, size and
    /// media type.
    #[default]
    Summary,
    /// The whole sanitized entry (headers, cookies, bodies, timings), re-scanned before
    /// it is shown (I1 again at the view).
    Full,
}

/// One rendered page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Page {
    /// `entries` (HAR) or `lines`.
    pub unit: &'static str,
    /// Index of the first item.
    pub offset: u64,
    /// Items in the whole artifact.
    pub total: u64,
    /// The items.
    pub items: Vec<serde_json::Value>,
}

/// Summary of one HAR entry (fields a support engineer scans first).
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
struct EntrySummary {
    #[serde(rename = "startedDateTime")]
    started: Option<String>,
    time: Option<f64>,
    request: RequestSummary,
    response: ResponseSummary,
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
struct RequestSummary {
    method: Option<String>,
    url: Option<String>,
    #[serde(rename = "httpVersion")]
    http_version: Option<String>,
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
struct ResponseSummary {
    status: Option<i64>,
    #[serde(rename = "statusText")]
    status_text: Option<String>,
    content: ContentSummary,
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
struct ContentSummary {
    size: Option<i64>,
    #[serde(rename = "mimeType")]
    mime_type: Option<String>,
}

/// Renders one page of `reader` (the decrypted sanitized artifact).
pub fn render<R: Read>(
    reader: R,
    kind: ArtifactKind,
    page: PageRequest,
) -> Result<Page, BrokerError> {
    let limit = page.limit.clamp(1, MAX_PAGE);
    let page = PageRequest { limit, ..page };
    match kind {
        ArtifactKind::Har => render_har(reader, page),
        ArtifactKind::Json | ArtifactKind::Text => render_lines(reader, page),
        ArtifactKind::Zip => Err(BrokerError::BadRequest(
            "a zip archive has no server-side view; download or export it".into(),
        )),
    }
}

struct Collector {
    page: PageRequest,
    total: u64,
    items: Vec<serde_json::Value>,
}

fn render_har<R: Read>(reader: R, page: PageRequest) -> Result<Page, BrokerError> {
    let mut collector = Collector {
        page,
        total: 0,
        items: Vec::new(),
    };
    let mut de = serde_json::Deserializer::from_reader(BufReader::new(reader));
    Root(&mut collector)
        .deserialize(&mut de)
        .map_err(|e| BrokerError::Internal(format!("stored HAR does not parse: {e}")))?;
    Ok(Page {
        unit: "entries",
        offset: page.offset,
        total: collector.total,
        items: collector.items,
    })
}

struct Root<'a>(&'a mut Collector);
struct Log<'a>(&'a mut Collector);
struct Entries<'a>(&'a mut Collector);

impl<'de> DeserializeSeed<'de> for Root<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Root<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a HAR document")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "log" {
                map.next_value_seed(Log(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Log<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Log<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the HAR log object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "entries" {
                map.next_value_seed(Entries(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Entries<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Entries<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the HAR entries array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let c = self.0;
        let end = c.page.offset.saturating_add(u64::from(c.page.limit));
        loop {
            let index = c.total;
            let wanted = index >= c.page.offset && index < end;
            let more = if wanted {
                let value = if c.page.detail == Detail::Full {
                    seq.next_element::<serde_json::Value>()?
                } else {
                    seq.next_element::<EntrySummary>()?
                        .map(|e| serde_json::to_value(e).unwrap_or_default())
                };
                value.map(|mut value| {
                    if let Some(object) = value.as_object_mut() {
                        object.insert("index".into(), index.into());
                    }
                    c.items.push(value);
                })
            } else {
                seq.next_element::<IgnoredAny>()?.map(|_| ())
            };
            if more.is_none() {
                return Ok(());
            }
            c.total += 1;
        }
    }
}

fn render_lines<R: Read>(reader: R, page: PageRequest) -> Result<Page, BrokerError> {
    let (items, total) = scan_lines(reader, 0, page, false)?;
    Ok(Page {
        unit: "lines",
        offset: page.offset,
        total,
        items,
    })
}

/// Reads lines from `reader`, whose first line has index `first`, collecting those in
/// the page; returns them and the index after the last line read. With `stop`, stops
/// once the page is complete.
fn scan_lines<R: Read>(
    reader: R,
    first: u64,
    page: PageRequest,
    stop: bool,
) -> Result<(Vec<serde_json::Value>, u64), BrokerError> {
    let mut reader = BufReader::new(reader);
    let end = page.offset.saturating_add(u64::from(page.limit));
    let mut items = Vec::new();
    let mut index = first;
    let mut line = Vec::new();
    let mut cut = false;
    let mut pending = false;
    loop {
        if stop && index >= end {
            break;
        }
        let buf = reader
            .fill_buf()
            .map_err(|e| BrokerError::Internal(format!("stored artifact: {e}")))?;
        if buf.is_empty() {
            break;
        }
        let wanted = index >= page.offset && index < end;
        let (chunk, newline) = match memchr::memchr(b'\n', buf) {
            Some(at) => (buf.get(..at).unwrap_or_default(), Some(at)),
            None => (buf, None),
        };
        pending = true;
        if wanted {
            let room = MAX_LINE.saturating_sub(line.len());
            line.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
            cut |= chunk.len() > room;
        }
        let consumed = newline.map_or(buf.len(), |at| at + 1);
        reader.consume(consumed);
        if newline.is_some() {
            if wanted {
                items.push(line_item(index, &line, cut));
            }
            line.clear();
            cut = false;
            pending = false;
            index += 1;
        }
    }
    if pending {
        if index >= page.offset && index < end {
            items.push(line_item(index, &line, cut));
        }
        index += 1;
    }
    Ok((items, index))
}

fn line_item(index: u64, line: &[u8], cut: bool) -> serde_json::Value {
    serde_json::json!({
        "index": index,
        "text": String::from_utf8_lossy(line),
        "truncated": cut,
    })
}

/// Where the items of a sanitized artifact are: recorded at ingest, stored beside the
/// artifact's metadata (opaque bytes in the store), used by [`render_indexed`]. Offsets
/// and counts only; never content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewIndex {
    /// HAR: the byte range `[start, end)` of each entry of `log.entries`, in order.
    Entries(Vec<(u64, u64)>),
    /// Text and JSON: the line count and the byte offset of lines `0, S, 2S, ...`
    /// (`S` = [`LINE_STRIDE`]).
    Lines {
        /// Lines in the artifact.
        total: u64,
        /// Start of every [`LINE_STRIDE`]-th line.
        starts: Vec<u64>,
    },
}

const INDEX_VERSION: u8 = 1;
const UNIT_ENTRIES: u8 = 1;
const UNIT_LINES: u8 = 2;

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

struct VarintReader<'a>(&'a [u8]);

impl VarintReader<'_> {
    fn next(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.0.split_first()?;
            self.0 = rest;
            value |= u64::from(byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
}

impl ViewIndex {
    /// Items in the artifact.
    pub fn total(&self) -> u64 {
        match self {
            Self::Entries(ranges) => ranges.len() as u64,
            Self::Lines { total, .. } => *total,
        }
    }

    /// The stored form: version, unit, then LEB128 varints (entries: count, then for
    /// each the gap from the previous end and the length; lines: total, stride, count,
    /// then the gaps between starts).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![INDEX_VERSION];
        match self {
            Self::Entries(ranges) => {
                out.push(UNIT_ENTRIES);
                put_varint(&mut out, ranges.len() as u64);
                let mut prev = 0;
                for &(start, end) in ranges {
                    put_varint(&mut out, start.saturating_sub(prev));
                    put_varint(&mut out, end.saturating_sub(start));
                    prev = end;
                }
            }
            Self::Lines { total, starts } => {
                out.push(UNIT_LINES);
                put_varint(&mut out, *total);
                put_varint(&mut out, LINE_STRIDE);
                put_varint(&mut out, starts.len() as u64);
                let mut prev = 0;
                for &start in starts {
                    put_varint(&mut out, start.saturating_sub(prev));
                    prev = start;
                }
            }
        }
        out
    }

    /// Parses [`ViewIndex::encode`] output, checking that offsets only grow and stay
    /// within `len` (the artifact's size). `None` for anything else.
    pub fn decode(bytes: &[u8], len: u64) -> Option<Self> {
        let (&version, rest) = bytes.split_first()?;
        let (&unit, rest) = rest.split_first()?;
        if version != INDEX_VERSION {
            return None;
        }
        let mut r = VarintReader(rest);
        let index = match unit {
            UNIT_ENTRIES => {
                let count = r.next()?;
                // Each entry takes at least two bytes: the count cannot lie about memory.
                if count > r.0.len() as u64 / 2 {
                    return None;
                }
                let mut ranges = Vec::with_capacity(usize::try_from(count).ok()?);
                let mut prev = 0u64;
                for _ in 0..count {
                    let start = prev.checked_add(r.next()?)?;
                    let end = start.checked_add(r.next()?)?;
                    if end > len || end == start {
                        return None;
                    }
                    ranges.push((start, end));
                    prev = end;
                }
                Self::Entries(ranges)
            }
            UNIT_LINES => {
                let total = r.next()?;
                if r.next()? != LINE_STRIDE {
                    return None;
                }
                let count = r.next()?;
                if count > r.0.len() as u64 || count != total.div_ceil(LINE_STRIDE) {
                    return None;
                }
                let mut starts = Vec::with_capacity(usize::try_from(count).ok()?);
                let mut prev = 0u64;
                for i in 0..count {
                    let gap = r.next()?;
                    if i > 0 && gap == 0 {
                        return None;
                    }
                    let start = prev.checked_add(gap)?;
                    if start > len {
                        return None;
                    }
                    starts.push(start);
                    prev = start;
                }
                Self::Lines { total, starts }
            }
            _ => return None,
        };
        r.0.is_empty().then_some(index)
    }
}

/// Renders one page with a [`ViewIndex`]: `open(offset)` must return a reader of the
/// decrypted artifact from plaintext `offset` on; only the page's bytes are read.
pub fn render_indexed<R: Read>(
    open: impl FnOnce(u64) -> Result<R, BrokerError>,
    kind: ArtifactKind,
    index: &ViewIndex,
    page: PageRequest,
) -> Result<Page, BrokerError> {
    let limit = page.limit.clamp(1, MAX_PAGE);
    let page = PageRequest { limit, ..page };
    let stale = || BrokerError::Internal("the view index does not fit the artifact kind".into());
    match (kind, index) {
        (ArtifactKind::Har, ViewIndex::Entries(ranges)) => har_indexed(open, ranges, page),
        (ArtifactKind::Json | ArtifactKind::Text, ViewIndex::Lines { total, starts }) => {
            let mark = page.offset / LINE_STRIDE;
            let items = match starts.get(usize::try_from(mark).unwrap_or(usize::MAX)) {
                Some(&start) if page.offset < *total => {
                    scan_lines(open(start)?, mark * LINE_STRIDE, page, true)?.0
                }
                _ => Vec::new(),
            };
            Ok(Page {
                unit: "lines",
                offset: page.offset,
                total: *total,
                items,
            })
        }
        (ArtifactKind::Zip, _) => render(io::empty(), kind, page),
        _ => Err(stale()),
    }
}

fn har_indexed<R: Read>(
    open: impl FnOnce(u64) -> Result<R, BrokerError>,
    ranges: &[(u64, u64)],
    page: PageRequest,
) -> Result<Page, BrokerError> {
    let first = usize::try_from(page.offset).unwrap_or(usize::MAX);
    let end = first.saturating_add(page.limit as usize).min(ranges.len());
    let wanted = ranges.get(first..end).unwrap_or_default();
    let mut items = Vec::with_capacity(wanted.len());
    if let (Some(&(base, _)), Some(&(_, last))) = (wanted.first(), wanted.last()) {
        let len = usize::try_from(last - base)
            .map_err(|_| BrokerError::Internal("view index range too large".into()))?;
        let mut bytes = zeroize::Zeroizing::new(vec![0u8; len]);
        open(base)?
            .read_exact(&mut bytes)
            .map_err(|e| BrokerError::Internal(format!("stored artifact: {e}")))?;
        for (i, &(start, end)) in wanted.iter().enumerate() {
            let slice = usize::try_from(start - base)
                .ok()
                .zip(usize::try_from(end - base).ok())
                .and_then(|(a, b)| bytes.get(a..b))
                .ok_or_else(|| BrokerError::Internal("view index out of range".into()))?;
            let parsed = if page.detail == Detail::Full {
                serde_json::from_slice::<serde_json::Value>(slice)
            } else {
                serde_json::from_slice::<EntrySummary>(slice)
                    .map(|e| serde_json::to_value(e).unwrap_or_default())
            };
            let mut value = parsed.map_err(|e| {
                BrokerError::Internal(format!(
                    "stored HAR entry does not parse ({:?} at column {})",
                    e.classify(),
                    e.column()
                ))
            })?;
            if let Some(object) = value.as_object_mut() {
                object.insert("index".into(), (page.offset + i as u64).into());
            }
            items.push(value);
        }
    }
    Ok(Page {
        unit: "entries",
        offset: page.offset,
        total: ranges.len() as u64,
        items,
    })
}

/// A pass-through writer that records the [`ViewIndex`] of what flows through it (the
/// sanitizer's output on its way to the at-rest encryption). It tracks both shapes in
/// one pass; [`Indexer::finish`] keeps the one the artifact's kind needs.
pub struct Indexer<W> {
    inner: W,
    har: HarTracker,
    lines: LineTracker,
}

impl<W: Write> Indexer<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            har: HarTracker::default(),
            lines: LineTracker::default(),
        }
    }

    /// The index for an artifact of `kind`; `None` for kinds without a view, or a HAR
    /// whose entries could not be located unambiguously (the view then reads it whole).
    pub fn finish(self, kind: ArtifactKind) -> Option<ViewIndex> {
        match kind {
            ArtifactKind::Har => self.har.finish(),
            ArtifactKind::Json | ArtifactKind::Text => Some(self.lines.finish()),
            ArtifactKind::Zip => None,
        }
    }
}

impl<W: Write> Write for Indexer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let done = buf.get(..n).unwrap_or_default();
        self.har.feed(done);
        self.lines.feed(done);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[derive(Default)]
struct LineTracker {
    pos: u64,
    newlines: u64,
    last_start: u64,
    starts: Vec<u64>,
}

impl LineTracker {
    fn feed(&mut self, buf: &[u8]) {
        if self.pos == 0 && self.starts.is_empty() {
            self.starts.push(0);
        }
        for at in memchr::memchr_iter(b'\n', buf) {
            self.newlines += 1;
            self.last_start = self.pos + at as u64 + 1;
            if self.newlines.is_multiple_of(LINE_STRIDE) {
                self.starts.push(self.last_start);
            }
        }
        self.pos += buf.len() as u64;
    }

    fn finish(mut self) -> ViewIndex {
        let total = self.newlines + u64::from(self.pos > self.last_start);
        self.starts
            .truncate(usize::try_from(total.div_ceil(LINE_STRIDE)).unwrap_or(usize::MAX));
        ViewIndex::Lines {
            total,
            starts: self.starts,
        }
    }
}

/// Role of an open container at depths 1 to 3.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Role {
    #[default]
    Other,
    Root,
    Log,
    Entries,
}

/// The last key read in an object at depths 1 and 2, as far as it matters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Key {
    #[default]
    Other,
    Log,
    Entries,
}

/// Finds the byte range of each element of `log.entries` in a JSON stream, without
/// building anything: depth, strings and escapes, and the keys at depths 1 and 2.
/// Anything ambiguous (a second `log` or `entries`, an element that is not an object,
/// unbalanced brackets) makes it give up.
#[derive(Default)]
struct HarTracker {
    pos: u64,
    depth: usize,
    roles: [Role; 4],
    objects: [bool; 4],
    in_string: bool,
    escape: bool,
    expect_key: bool,
    capturing: bool,
    key: Vec<u8>,
    keys: [Key; 3],
    entry_start: Option<u64>,
    ranges: Vec<(u64, u64)>,
    log_seen: bool,
    entries_seen: bool,
    invalid: bool,
}

impl HarTracker {
    fn feed(&mut self, buf: &[u8]) {
        let mut i = 0;
        while i < buf.len() && !self.invalid {
            let rest = buf.get(i..).unwrap_or_default();
            if self.in_string {
                if self.escape {
                    self.escape = false;
                    self.capture(rest.get(..1).unwrap_or_default());
                    i += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', rest) {
                    None => {
                        self.capture(rest);
                        i = buf.len();
                    }
                    Some(at) => {
                        self.capture(rest.get(..at).unwrap_or_default());
                        if rest.get(at) == Some(&b'\\') {
                            self.escape = true;
                            // A key spelled with escapes is never taken for `log` or
                            // `entries`.
                            self.key.push(0);
                        } else {
                            self.end_string();
                        }
                        i += at + 1;
                    }
                }
                continue;
            }
            let at = self.pos + i as u64;
            let byte = rest.first().copied().unwrap_or(b' ');
            match byte {
                b'"' => self.start_string(),
                b'{' | b'[' => self.open(byte == b'{', at),
                b'}' | b']' => self.close(byte == b'}', at),
                b',' => {
                    self.expect_key = matches!(self.depth, 1 | 2)
                        && self.objects.get(self.depth).copied().unwrap_or(false);
                }
                b':' | b' ' | b'\t' | b'\n' | b'\r' => {}
                _ => self.scalar(),
            }
            i += 1;
        }
        self.pos += buf.len() as u64;
    }

    fn in_entries(&self) -> bool {
        self.depth == 3 && self.roles.get(3) == Some(&Role::Entries)
    }

    fn scalar(&mut self) {
        if self.in_entries() {
            self.invalid = true;
        }
    }

    fn start_string(&mut self) {
        self.scalar();
        self.in_string = true;
        self.capturing = self.expect_key && matches!(self.depth, 1 | 2);
        self.key.clear();
    }

    fn capture(&mut self, bytes: &[u8]) {
        if self.capturing && self.key.len() < 16 {
            self.key
                .extend_from_slice(bytes.get(..bytes.len().min(16)).unwrap_or_default());
        }
    }

    fn end_string(&mut self) {
        self.in_string = false;
        if self.capturing {
            let key = match self.key.as_slice() {
                b"log" => Key::Log,
                b"entries" => Key::Entries,
                _ => Key::Other,
            };
            if let Some(slot) = self.keys.get_mut(self.depth) {
                *slot = key;
            }
            self.capturing = false;
            self.expect_key = false;
        }
    }

    fn open(&mut self, object: bool, at: u64) {
        let depth = self.depth + 1;
        let parent = self.roles.get(self.depth).copied().unwrap_or_default();
        let key = self.keys.get(self.depth).copied().unwrap_or_default();
        let role = match depth {
            1 if object => Role::Root,
            2 if parent == Role::Root && key == Key::Log => {
                self.invalid |= self.log_seen || !object;
                self.log_seen = true;
                Role::Log
            }
            3 if parent == Role::Log && key == Key::Entries => {
                self.invalid |= self.entries_seen || object;
                self.entries_seen = true;
                Role::Entries
            }
            4 if parent == Role::Entries => {
                self.invalid |= !object;
                self.entry_start = Some(at);
                Role::Other
            }
            _ => Role::Other,
        };
        if let Some(slot) = self.roles.get_mut(depth) {
            *slot = role;
        }
        if let Some(slot) = self.objects.get_mut(depth) {
            *slot = object;
        }
        if let Some(slot) = self.keys.get_mut(depth) {
            *slot = Key::Other;
        }
        self.depth = depth;
        self.expect_key = object;
    }

    fn close(&mut self, object: bool, at: u64) {
        if self.depth == 0 {
            self.invalid = true;
            return;
        }
        if self.depth == 4 && self.roles.get(3) == Some(&Role::Entries) && object {
            match self.entry_start.take() {
                Some(start) => self.ranges.push((start, at + 1)),
                None => self.invalid = true,
            }
        }
        self.depth -= 1;
        self.expect_key = false;
    }

    fn finish(self) -> Option<ViewIndex> {
        (!self.invalid && self.entries_seen && self.depth == 0 && !self.in_string)
            .then_some(ViewIndex::Entries(self.ranges))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn har(n: usize) -> String {
        let entries: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    r#"{{"startedDateTime":"2026-01-01T00:00:00Z","time":1.5,"request":{{"method":"GET","url":"https://a.example/{i}","headers":[]}},"response":{{"status":200,"content":{{"size":3,"mimeType":"text/plain","text":"abc"}}}}}}"#
                )
            })
            .collect();
        format!(
            r#"{{"log":{{"version":"1.2","creator":{{"name":"t","version":"1"}},"entries":[{}]}}}}"#,
            entries.join(",")
        )
    }

    #[test]
    fn har_pages_are_the_right_entries() {
        let text = har(7);
        let page = render(
            text.as_bytes(),
            ArtifactKind::Har,
            PageRequest {
                offset: 2,
                limit: 3,
                detail: Detail::Summary,
            },
        )
        .unwrap();
        assert_eq!(page.total, 7);
        let urls: Vec<_> = page
            .items
            .iter()
            .map(|i| i["request"]["url"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            urls,
            [
                "https://a.example/2",
                "https://a.example/3",
                "https://a.example/4"
            ]
        );
        assert_eq!(page.items[0]["index"], 2);
        assert!(
            page.items[0].get("text").is_none(),
            "bodies are not part of the summary"
        );
    }

    fn indexed(bytes: &[u8], kind: ArtifactKind) -> Option<ViewIndex> {
        let mut indexer = Indexer::new(Vec::new());
        // Odd write sizes: the trackers must carry state across writes.
        for piece in bytes.chunks(7) {
            indexer.write_all(piece).unwrap();
        }
        assert_eq!(indexer.inner, bytes);
        let index = indexer.finish(kind)?;
        let stored = index.encode();
        assert_eq!(
            ViewIndex::decode(&stored, bytes.len() as u64),
            Some(index.clone())
        );
        Some(index)
    }

    /// The indexed page equals the full-read page, for every window.
    fn same_pages(bytes: &[u8], kind: ArtifactKind) {
        let index = indexed(bytes, kind).expect("an index");
        let total = index.total();
        for offset in (0..total + 3).chain([u64::MAX]) {
            for (limit, detail) in [1, 2, 3, 50, 64, 65, 200, 500]
                .into_iter()
                .flat_map(|l| [(l, Detail::Summary), (l, Detail::Full)])
            {
                let page = PageRequest {
                    offset,
                    limit,
                    detail,
                };
                let full = render(bytes, kind, page).unwrap();
                let fast = render_indexed(
                    |at| Ok(bytes.get(usize::try_from(at).unwrap()..).unwrap()),
                    kind,
                    &index,
                    page,
                )
                .unwrap();
                assert_eq!(
                    serde_json::to_value(&fast).unwrap(),
                    serde_json::to_value(&full).unwrap(),
                    "offset {offset} limit {limit}"
                );
            }
        }
    }

    #[test]
    fn indexed_har_pages_equal_full_pages() {
        same_pages(har(7).as_bytes(), ArtifactKind::Har);
        same_pages(har(0).as_bytes(), ArtifactKind::Har);
        same_pages(har(130).as_bytes(), ArtifactKind::Har);
        // Pretty-printed, keys before and after the entries, escapes and brackets in
        // strings, nested "entries"/"log" keys that are not the HAR's.
        let tricky = r#"{
  "x": {"log": {"entries": [1, 2]}}, "entries": "no",
  "log" : {
    "version": "1.2", "pages": [{"title": "a \"]}[{\\"}],
    "entries" : [ {"request": {"method": "GET", "url": "https://a/\"}]", "log": [] }, "response": {"status": 204}},
      {"startedDateTime": "2026", "time": 2, "entries": [{"a": 1}], "response": {"status": 500, "content": {"size": 1, "mimeType": "x"}}}
    ],
    "comment": "{[\\u0041"
  }
}
"#;
        let index = indexed(tricky.as_bytes(), ArtifactKind::Har).unwrap();
        assert_eq!(index.total(), 2);
        same_pages(tricky.as_bytes(), ArtifactKind::Har);
    }

    #[test]
    fn ambiguous_hars_get_no_index() {
        for doc in [
            r#"{"log":{"entries":[{"a":1}],"entries":[{"b":2}]}}"#,
            r#"{"log":{"entries":[{"a":1}]},"log":{"entries":[]}}"#,
            r#"{"log":{"entries":[{"a":1}, 2]}}"#,
            r#"{"log":{"entries":[{"a":1}, "x"]}}"#,
            r#"{"log":{"entries":[[1]]}}"#,
            r#"{"log":{"pages":[]}}"#,
            r#"{"l\u006fg":{"entries":[{"a":1}]}}"#,
            r#"{"log":{"entries":[{"a":1}"#,
        ] {
            assert_eq!(indexed(doc.as_bytes(), ArtifactKind::Har), None, "{doc}");
        }
    }

    #[test]
    fn indexed_line_pages_equal_full_pages() {
        let many: String = (0..300).map(|i| format!("line {i}\n")).collect();
        let long = "y".repeat(MAX_LINE + 10);
        for text in [
            String::new(),
            "\n".to_owned(),
            "one".to_owned(),
            "a\n\n\nb".to_owned(),
            many.clone(),
            format!("{many}tail"),
            (0..128).map(|_| "\n").collect(),
            format!("{long}\n{many}{long}"),
        ] {
            same_pages(text.as_bytes(), ArtifactKind::Text);
            same_pages(text.as_bytes(), ArtifactKind::Json);
        }
    }

    #[test]
    fn corrupt_or_mismatched_indexes_are_refused() {
        let text = har(3);
        let index = indexed(text.as_bytes(), ArtifactKind::Har).unwrap();
        let stored = index.encode();
        // Shorter artifact than the ranges, cut bytes, trailing bytes, other version.
        assert_eq!(ViewIndex::decode(&stored, 10), None);
        assert_eq!(
            ViewIndex::decode(&stored[..stored.len() - 1], 1 << 20),
            None
        );
        let mut longer = stored.clone();
        longer.push(0);
        assert_eq!(ViewIndex::decode(&longer, 1 << 20), None);
        let mut other = stored.clone();
        other[0] = 9;
        assert_eq!(ViewIndex::decode(&other, 1 << 20), None);
        // A huge claimed count does not allocate.
        assert_eq!(
            ViewIndex::decode(&[1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f], 1 << 20),
            None
        );
        // A HAR index is not used for a text artifact.
        let page = PageRequest {
            offset: 0,
            limit: 5,
            detail: Detail::Summary,
        };
        assert!(render_indexed(|_| Ok(text.as_bytes()), ArtifactKind::Text, &index, page).is_err());
    }

    #[test]
    fn indexed_pages_read_only_their_range() {
        let text = har(20);
        let index = indexed(text.as_bytes(), ArtifactKind::Har).unwrap();
        let ViewIndex::Entries(ranges) = &index else {
            panic!("entries")
        };
        let page = PageRequest {
            offset: 5,
            limit: 2,
            detail: Detail::Full,
        };
        let mut opened_at = None;
        let got = render_indexed(
            |at| {
                opened_at = Some(at);
                // Only the page's bytes: reading past them fails the test.
                let end = usize::try_from(ranges[6].1).unwrap();
                Ok(text
                    .as_bytes()
                    .get(usize::try_from(at).unwrap()..end)
                    .unwrap())
            },
            ArtifactKind::Har,
            &index,
            page,
        )
        .unwrap();
        assert_eq!(opened_at, Some(ranges[5].0));
        assert_eq!(got.items.len(), 2);
        assert_eq!(got.items[1]["request"]["url"], "https://a.example/6");
    }

    #[test]
    fn line_pages_cut_long_lines() {
        let long = "x".repeat(MAX_LINE * 3);
        let text = format!("a\nb\n{long}\nlast");
        let page = render(
            text.as_bytes(),
            ArtifactKind::Text,
            PageRequest {
                offset: 1,
                limit: 10,
                detail: Detail::Summary,
            },
        )
        .unwrap();
        assert_eq!(page.total, 4);
        assert_eq!(page.items.len(), 3);
        assert_eq!(page.items[1]["truncated"], true);
        assert_eq!(page.items[1]["text"].as_str().unwrap().len(), MAX_LINE);
        assert_eq!(page.items[2]["text"], "last");
    }
}
