//! The value sanitizer shared by the HAR and JSON rewriters.
//!
//! [`Engine`] walks one materialised unit (a HAR entry, a page, a top-level JSON
//! element), asks the detector where credentials are (`Scanner::scan_field` with the
//! field each value sits in), replaces exactly those spans with markers, and rescans
//! every value it changed with the same field-aware pass: whatever is still found is a
//! refusal (I1, fail-closed). Embedded payloads are decoded and sanitized in place:
//! JSON bodies, form-encoded bodies, multipart parts, server-sent events, HTML hidden
//! inputs and base64 content (decode, sanitize, re-encode).
//!
//! Correlation: every redacted secret of at least [`MIN_KNOWN_LEN`] bytes is learned
//! (with its percent-encoded and percent-decoded forms) into a per-artifact set of
//! known secrets held in zeroizing memory and de-duplicated by keyed fingerprint.
//! Exact reuses are redacted wherever they appear later in the artifact, and within
//! the unit that taught them (a second sweep at the end of the unit).

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasher, Hash};

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;
use custody_scan::{Field, Finding, Location, Match, Redactor, Rule, Scanner};
use siphasher::sip128::{Hasher128 as _, SipHasher13};
use zeroize::Zeroizing;

use crate::reference::parse::{Limits, parse_document};
use crate::reference::value::{Pointer, Value};
use crate::report::LocationKind;

/// Shortest secret learned for exact-reuse redaction (shorter values would redact
/// unrelated text).
pub(crate) const MIN_KNOWN_LEN: usize = 8;
/// Longest secret learned for exact-reuse redaction.
const MAX_KNOWN_LEN: usize = 4096;
/// JSON documents inside strings inside JSON documents are parsed this deep; deeper
/// ones are scanned as text (bounds the walk's recursion).
const MAX_EMBED_DEPTH: usize = 4;
/// Nesting limit inside an embedded JSON document.
const MAX_EMBED_NESTING: usize = 128;
/// Findings kept in a refusal (all are counted).
const MAX_KEPT_FINDINGS: usize = 1000;

/// What the walk does with what it finds.
pub(crate) enum Mode<'a> {
    /// Replace with markers, rescan, collect refusals.
    Sanitize(&'a Redactor),
    /// Report every detection to the sink; change nothing.
    Inspect(&'a mut dyn FnMut(Finding)),
}

/// Counters that end up in the [`crate::Report`].
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) redactions: u64,
    pub(crate) by_class: BTreeMap<String, u64>,
    pub(crate) by_location: BTreeMap<String, u64>,
    pub(crate) remaining: u64,
}

/// The per-artifact sanitizer state.
pub(crate) struct Engine<'a> {
    scanner: &'a Scanner,
    mode: Mode<'a>,
    pub(crate) limits: Limits,
    pub(crate) pointer: Pointer,
    unit_offset: u64,
    pub(crate) counts: Counts,
    pub(crate) refusals: Vec<Finding>,
    known: KnownSecrets,
    /// How many JSON-in-string levels the walk is inside.
    embed_depth: usize,
    /// Values in which something was detected (both modes).
    detections: u64,
    names: NameCache,
    clean: CleanMemo,
    markers: MarkerCache,
}

impl<'a> Engine<'a> {
    pub(crate) fn new(
        scanner: &'a Scanner,
        mode: Mode<'a>,
        limits: Limits,
        max_known: usize,
    ) -> Self {
        Self {
            scanner,
            mode,
            limits,
            pointer: Pointer::default(),
            unit_offset: 0,
            counts: Counts::default(),
            refusals: Vec::new(),
            known: KnownSecrets::new(max_known),
            embed_depth: 0,
            detections: 0,
            names: NameCache::new(scanner),
            clean: CleanMemo::default(),
            markers: MarkerCache::default(),
        }
    }

    /// Starts a unit that begins at input byte `offset`.
    pub(crate) fn begin_unit(&mut self, offset: u64) {
        self.unit_offset = offset;
    }

    /// Ends a unit: if it taught new secrets, sweep it once more for their reuse.
    pub(crate) fn end_unit(&mut self, unit: &mut Value) -> bool {
        self.known.refresh() && self.sweep(unit)
    }

    fn location(&self) -> Location {
        Location {
            path: None,
            pointer: Some(self.pointer.as_str().to_owned()),
            line: None,
            column: None,
            byte_offset: self.unit_offset,
        }
    }

    fn finding(&self, m: &Match, preview: String) -> Finding {
        Finding {
            rule_id: m.rule.id,
            class: m.rule.class,
            confidence: m.rule.confidence,
            location: self.location(),
            preview,
        }
    }

    /// Sanitizes `s` as a value of `field`. Returns whether it changed.
    pub(crate) fn redact(&mut self, s: &mut String, field: Field<'_>, loc: LocationKind) -> bool {
        let field = self.names.simplify(self.scanner, field);
        let memo = (s.len() <= MAX_MEMO_VALUE).then(|| self.clean.key(field, s));
        let generation = self.known.generation;
        if let Some(key) = memo
            && let Some(seen) = self.clean.set.get_mut(&key)
        {
            // Seen before under the same field and found clean: only a secret learned
            // since then can make it dirty. The automata change only when the
            // generation does, so an unchanged generation means the same answer.
            if *seen == generation {
                return false;
            }
            let mut found = Vec::new();
            self.known.find(s, &mut found);
            if found.is_empty() {
                *seen = generation;
                return false;
            }
        }
        let before = self.detections;
        let changed = self.redact_with(s, loc, &|scanner, v| scanner.scan_field(field, v));
        if let Some(key) = memo
            && self.detections == before
            && self.clean.set.len() < MAX_MEMO_ENTRIES
        {
            self.clean.set.insert(key, generation);
        }
        changed
    }

    /// Sanitizes `s` with a custom detection (used for composite payloads); the same
    /// detection rescans the result.
    pub(crate) fn redact_with(
        &mut self,
        s: &mut String,
        loc: LocationKind,
        detect: &dyn Fn(&Scanner, &str) -> Vec<Match>,
    ) -> bool {
        let mut matches = detect(self.scanner, s);
        self.known.find(s, &mut matches);
        matches.retain(|m| !only_markers(s, &m.span));
        if matches.is_empty() {
            return false;
        }
        self.detections += 1;
        let matches = merge(s, matches);
        let redactor = match &mut self.mode {
            Mode::Inspect(_) => {
                for m in &matches {
                    let f = self.finding(m, format!("[redacted:{}]", m.rule.class.as_str()));
                    if let Mode::Inspect(sink) = &mut self.mode {
                        sink(f);
                    }
                }
                return false;
            }
            Mode::Sanitize(r) => *r,
        };
        let replaced = self.replace(s, &matches, redactor, loc);
        for m in detect(self.scanner, &replaced) {
            if !only_markers(&replaced, &m.span) {
                self.refuse(&m, redactor.marker(&m, &replaced));
            }
        }
        *s = replaced;
        true
    }

    /// Builds `s` with each match replaced by its marker; learns and counts them.
    fn replace(
        &mut self,
        s: &str,
        matches: &[Match],
        redactor: &Redactor,
        loc: LocationKind,
    ) -> String {
        let mut out = String::with_capacity(s.len() + 48 * matches.len());
        let mut last = 0;
        for m in matches {
            out.push_str(s.get(last..m.span.start).unwrap_or_default());
            out.push_str(&self.markers.marker(redactor, m, s));
            last = m.span.end;
            let secret = s.get(m.span.clone()).unwrap_or_default();
            self.known.learn(secret, m.rule, redactor);
            self.count(m.rule, loc);
        }
        out.push_str(s.get(last..).unwrap_or_default());
        out
    }

    fn count(&mut self, rule: &Rule, loc: LocationKind) {
        self.counts.redactions += 1;
        *self
            .counts
            .by_class
            .entry(rule.class.as_str().to_owned())
            .or_default() += 1;
        *self
            .counts
            .by_location
            .entry(loc.as_str().to_owned())
            .or_default() += 1;
    }

    fn refuse(&mut self, m: &Match, preview: String) {
        self.counts.remaining += 1;
        if self.refusals.len() < MAX_KEPT_FINDINGS {
            let f = self.finding(m, preview);
            self.refusals.push(f);
        }
    }

    /// Replaces exact reuses of known secrets in every string of `v`; true if any
    /// (the caller then walks the unit again).
    fn sweep(&mut self, v: &mut Value) -> bool {
        let Mode::Sanitize(redactor) = self.mode else {
            return false;
        };
        match v {
            Value::Str(s) => {
                let mut matches = Vec::new();
                self.known.find(s, &mut matches);
                if matches.is_empty() {
                    return false;
                }
                let matches = merge(s, matches);
                *s = self.replace(s, &matches, redactor, LocationKind::KnownSecret);
                true
            }
            Value::Arr(items) => items
                .iter_mut()
                .fold(false, |changed, i| self.sweep(i) | changed),
            Value::Obj(members) => members
                .iter_mut()
                .fold(false, |changed, (_, m)| self.sweep(m) | changed),
            Value::Null | Value::Bool(_) | Value::Num(_) => false,
        }
    }

    /// Enters member `key` of the walked value (inside embedded documents the pointer
    /// stays at the string that holds them).
    fn enter(&mut self, key: &str) -> usize {
        if self.embed_depth == 0 {
            self.pointer.push(key)
        } else {
            self.pointer.as_str().len()
        }
    }

    fn enter_index(&mut self, index: usize) -> usize {
        if self.embed_depth == 0 {
            self.pointer.push_index(index)
        } else {
            self.pointer.as_str().len()
        }
    }

    /// Sanitizes any value by position: `key` is the member name it sits under.
    pub(crate) fn walk(&mut self, v: &mut Value, key: Option<&str>, loc: LocationKind) -> bool {
        match v {
            Value::Str(s) => self.string(s, key, loc),
            Value::Arr(items) => {
                let mut changed = false;
                for (i, item) in items.iter_mut().enumerate() {
                    let mark = self.enter_index(i);
                    changed |= self.walk(item, key, loc);
                    self.pointer.truncate(mark);
                }
                changed
            }
            Value::Obj(members) => self.object(members, key, loc),
            Value::Null | Value::Bool(_) | Value::Num(_) => false,
        }
    }

    fn object(
        &mut self,
        members: &mut [(String, Value)],
        parent: Option<&str>,
        loc: LocationKind,
    ) -> bool {
        // A `{"name": .., "value": ..}` pair: the value is judged by the name.
        let pair_name = members
            .iter()
            .find(|(k, _)| k == "name")
            .and_then(|(_, v)| v.as_str())
            .map(str::to_owned);
        let parent_lower = parent.map(str::to_ascii_lowercase).unwrap_or_default();
        let mut changed = false;
        for (k, v) in members.iter_mut() {
            let mark = self.enter(k);
            changed |= match (v, pair_name.as_deref()) {
                (Value::Str(s), Some(name)) if k == "value" => {
                    let field = if parent_lower.contains("header") {
                        Field::Header { name }
                    } else if parent_lower.contains("cookie") {
                        Field::Cookie { name }
                    } else if parent_lower.contains("query") {
                        Field::Query { name }
                    } else {
                        Field::JsonKey { name }
                    };
                    self.redact(s, field, loc)
                }
                (v, _) => self.walk(v, Some(k), loc),
            };
            self.pointer.truncate(mark);
        }
        changed
    }

    /// A string member: embedded JSON is parsed and walked, anything else is judged
    /// by its key (dictionary of credential names, then value detection and URLs).
    pub(crate) fn string(&mut self, s: &mut String, key: Option<&str>, loc: LocationKind) -> bool {
        let t = s.trim_start();
        if t.starts_with('{') || t.starts_with('[') {
            // The fast path decides "clean" with a text pass, which is only what the
            // fallback below would do when the member name is neutral.
            let fast = key.is_none_or(|k| self.names.neutral(self.scanner, NameKind::JsonKey, k));
            if let Some(changed) = self.json_text(s, loc, fast) {
                return changed;
            }
        }
        let field = match key {
            Some(name) => Field::JsonKey { name },
            None => Field::Text,
        };
        self.redact(s, field, loc)
    }

    /// Tries `s` as a JSON document: walks it and re-serialises it if it changed.
    /// Returns whether it changed, or `None` (untouched) when it is not JSON, so the
    /// caller scans it as text.
    fn json_text(&mut self, s: &mut String, loc: LocationKind, fast: bool) -> Option<bool> {
        if self.embed_depth >= MAX_EMBED_DEPTH {
            return None;
        }
        let limits = Limits {
            max_depth: self.limits.max_depth.min(MAX_EMBED_NESTING),
            ..self.limits
        };
        if fast && self.clean_json_fast(s) {
            return Some(false);
        }
        let Ok(mut doc) = parse_document(s, limits) else {
            return None;
        };
        let before = self.detections;
        self.embed_depth += 1;
        let changed = self.walk(&mut doc, None, loc);
        self.embed_depth -= 1;
        if changed {
            // Member names are not walked: the text pass over the whole document
            // catches a secret in one, as on the unchanged path below.
            *s = doc.to_json_string();
            self.redact(s, Field::Text, loc);
            return Some(true);
        }
        if self.detections > before {
            // Inspect mode: reported already.
            return Some(false);
        }
        // Parsed and clean: still run the text pass over the raw text (secrets in
        // member names, for instance).
        Some(self.redact(s, Field::Text, loc))
    }

    /// Whether the JSON text `s` is certainly clean without parsing it: no escapes
    /// and no `=` (so each string value scans the same inside the raw text as alone),
    /// every member name neutral ([`NameCache`]), no known secret, and the text pass
    /// over the raw text finds nothing. Anything else takes the full walk. (If `s` is
    /// not JSON, the text pass that decided "clean" is the one the caller would run.)
    fn clean_json_fast(&mut self, s: &str) -> bool {
        let bytes = s.as_bytes();
        if memchr::memchr2(b'\\', b'=', bytes).is_some() {
            return false;
        }
        let mut quotes = memchr::memchr_iter(b'"', bytes);
        while let (Some(open), Some(close)) = (quotes.next(), quotes.next()) {
            let after = bytes.get(close + 1..).unwrap_or_default();
            let is_key = after.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b':');
            if is_key {
                let name = s.get(open + 1..close).unwrap_or_default();
                if !self.names.neutral(self.scanner, NameKind::JsonKey, name) {
                    return false;
                }
            }
        }
        let mut found = Vec::new();
        self.known.find(s, &mut found);
        found.is_empty() && self.scanner.scan_field(Field::Text, s).is_empty()
    }

    /// A body (post data, response text, websocket frame) of media type `mime`.
    pub(crate) fn body(&mut self, s: &mut String, mime: &str, loc: LocationKind) -> bool {
        let original_mime = mime;
        let mime = mime.to_ascii_lowercase();
        let first = s.trim_start().chars().next();
        let json_like = matches!(first, Some('{' | '['));
        let html_like = first == Some('<');
        if mime.contains("x-www-form-urlencoded") {
            self.form_body(s, loc)
        } else if mime.starts_with("multipart/") {
            self.multipart_body(s, original_mime, loc)
        } else if mime.contains("event-stream") {
            self.event_stream(s)
        } else if let Some(changed) = (mime.contains("json") || json_like)
            .then(|| self.json_text(s, loc, true))
            .flatten()
        {
            changed
        } else if mime.contains("html") || html_like {
            self.redact_with(s, loc, &|scanner, v| html_matches(scanner, v))
        } else {
            self.redact(s, Field::Text, loc)
        }
    }

    /// A query or form parameter value (`raw`: still percent-encoded): JSON inside it
    /// is walked by member names, anything else is judged as `field`.
    pub(crate) fn param(
        &mut self,
        s: &mut String,
        field: Field<'_>,
        loc: LocationKind,
        raw: bool,
    ) -> bool {
        let decoded = if raw { percent_decode(s) } else { None };
        let text = decoded.as_deref().unwrap_or(s.as_str());
        let t = text.trim_start();
        if t.starts_with('{') || t.starts_with('[') {
            let mut doc = text.to_owned();
            if let Some(changed) = self.json_text(&mut doc, loc, false) {
                if changed {
                    *s = if decoded.is_some() {
                        percent_encode(&doc).unwrap_or(doc)
                    } else {
                        doc
                    };
                }
                return changed;
            }
        }
        self.redact(s, field, loc)
    }

    /// `a=1&b=2`: each value judged by its (percent-decoded) name.
    fn form_body(&mut self, s: &mut String, loc: LocationKind) -> bool {
        let mut changed = false;
        let mut parts: Vec<String> = Vec::new();
        for part in s.split('&') {
            let mut part = part.to_owned();
            if let Some((name, value)) = part.split_once('=') {
                let name = name.to_owned();
                let mut value = value.to_owned();
                if self.param(&mut value, Field::Form { name: &name }, loc, true) {
                    changed = true;
                    part = format!("{name}={value}");
                }
            } else {
                changed |= self.redact(&mut part, Field::Text, loc);
            }
            parts.push(part);
        }
        if changed {
            *s = parts.join("&");
        }
        changed
    }

    /// `multipart/*`: each part's body judged by its form name and content type.
    fn multipart_body(&mut self, s: &mut String, mime: &str, loc: LocationKind) -> bool {
        let boundary = mime
            .split(';')
            .filter_map(|p| {
                let p = p.trim();
                p.get(..9)
                    .filter(|k| k.eq_ignore_ascii_case("boundary="))
                    .and_then(|_| p.get(9..))
            })
            .map(|b| b.trim_matches('"').to_owned())
            .next()
            .or_else(|| {
                s.trim_start()
                    .strip_prefix("--")
                    .and_then(|r| r.split(['\r', '\n']).next())
                    .map(str::to_owned)
            });
        let Some(boundary) = boundary.filter(|b| !b.is_empty()) else {
            return self.redact(s, Field::Text, loc);
        };
        let delimiter = format!("--{boundary}");
        let mut changed = false;
        let mut pieces: Vec<String> = Vec::new();
        for piece in s.split(delimiter.as_str()) {
            let mut piece = piece.to_owned();
            changed |= self.multipart_part(&mut piece, loc);
            pieces.push(piece);
        }
        if changed {
            *s = pieces.join(&delimiter);
        }
        changed
    }

    fn multipart_part(&mut self, piece: &mut String, loc: LocationKind) -> bool {
        let split = piece
            .find("\r\n\r\n")
            .map(|i| (i, 4))
            .or_else(|| piece.find("\n\n").map(|i| (i, 2)));
        let Some((at, sep)) = split else {
            return self.redact(piece, Field::Text, loc);
        };
        let head = piece.get(..at).unwrap_or_default().to_owned();
        let mut body = piece.get(at + sep..).unwrap_or_default().to_owned();
        let mut head_out = head.clone();
        let mut changed = self.redact(&mut head_out, Field::Text, loc);
        let lower = head.to_ascii_lowercase();
        let name = lower
            .find("name=\"")
            .and_then(|i| head.get(i + 6..))
            .and_then(|r| r.split('"').next())
            .unwrap_or_default()
            .to_owned();
        let content_type = lower
            .lines()
            .find_map(|l| l.trim().strip_prefix("content-type:"))
            .unwrap_or_default()
            .trim()
            .to_owned();
        // Keep the part's trailing line break outside the value.
        let trail_len = body.len() - body.trim_end_matches(['\r', '\n']).len();
        let trail = body.split_off(body.len() - trail_len);
        changed |= if content_type.is_empty() && !name.is_empty() {
            self.redact(&mut body, Field::Form { name: &name }, loc)
        } else {
            self.body(&mut body, &content_type, loc)
        };
        if changed {
            *piece = format!(
                "{head_out}{}{body}{trail}",
                piece.get(at..at + sep).unwrap_or_default()
            );
        }
        changed
    }

    /// `text/event-stream`: each `data:` line is a payload (JSON or text).
    fn event_stream(&mut self, s: &mut String) -> bool {
        let mut changed = false;
        let mut lines: Vec<String> = Vec::new();
        for line in s.split('\n') {
            let mut line = line.to_owned();
            if let Some(rest) = line.strip_prefix("data:") {
                let lead = rest.len() - rest.trim_start().len();
                let (space, payload) = rest.split_at(lead);
                let mut payload = payload.to_owned();
                if self.body(&mut payload, "", LocationKind::ServerSentEvent) {
                    changed = true;
                    line = format!("data:{space}{payload}");
                }
            } else {
                changed |= self.redact(&mut line, Field::Text, LocationKind::ServerSentEvent);
            }
            lines.push(line);
        }
        if changed {
            *s = lines.join("\n");
        }
        changed
    }

    /// `content.encoding == "base64"`: decode; text is sanitized as a body and
    /// re-encoded; binary is scanned as bytes and its matches overwritten in place.
    pub(crate) fn base64_body(&mut self, s: &mut String, mime: &str, loc: LocationKind) -> bool {
        let engine = &base64::engine::general_purpose::STANDARD;
        let Ok(bytes) = engine.decode(s.trim()) else {
            return self.redact(s, Field::Text, loc);
        };
        match String::from_utf8(bytes) {
            Ok(mut text) => {
                if self.body(&mut text, mime, loc) {
                    *s = engine.encode(text.as_bytes());
                    true
                } else {
                    false
                }
            }
            Err(e) => {
                let bytes = e.into_bytes();
                match self.binary(&bytes, loc) {
                    Some(clean) => {
                        *s = engine.encode(clean);
                        true
                    }
                    None => false,
                }
            }
        }
    }

    /// Scans binary content; returns the bytes with every match replaced by its
    /// marker, or `None` when nothing was found (or in inspect mode).
    fn binary(&mut self, bytes: &[u8], loc: LocationKind) -> Option<Vec<u8>> {
        let matches = self.scanner.scan(bytes);
        if matches.is_empty() {
            return None;
        }
        self.detections += 1;
        let redactor = match &mut self.mode {
            Mode::Inspect(_) => {
                for m in &matches {
                    let f = self.finding(m, format!("[redacted:{}]", m.rule.class.as_str()));
                    if let Mode::Inspect(sink) = &mut self.mode {
                        sink(f);
                    }
                }
                return None;
            }
            Mode::Sanitize(r) => *r,
        };
        let mut out = Vec::with_capacity(bytes.len());
        let mut last = 0;
        for m in &matches {
            if m.span.start < last {
                continue;
            }
            out.extend_from_slice(bytes.get(last..m.span.start).unwrap_or_default());
            let secret =
                String::from_utf8_lossy(bytes.get(m.span.clone()).unwrap_or_default()).into_owned();
            let local = Match {
                rule: m.rule,
                span: 0..secret.len(),
            };
            out.extend_from_slice(redactor.marker(&local, &secret).as_bytes());
            self.known.learn(&secret, m.rule, redactor);
            self.count(m.rule, loc);
            last = m.span.end;
        }
        out.extend_from_slice(bytes.get(last..).unwrap_or_default());
        for m in self.scanner.scan(&out) {
            let preview = format!("[redacted:{}]", m.rule.class.as_str());
            self.refuse(&m, preview);
        }
        Some(out)
    }
}

/// HTML: the text pass plus `<input name=.. value=..>` (hidden SAML/CSRF fields) and
/// `<meta name=.. content=..>` judged as form fields by their name.
fn html_matches(scanner: &Scanner, html: &str) -> Vec<Match> {
    let mut out = scanner.scan_field(Field::Text, html);
    let lower = html.to_ascii_lowercase();
    for (tag, value_attr) in [("<input", "value"), ("<meta", "content")] {
        let mut from = 0;
        while let Some(i) = lower.get(from..).and_then(|r| r.find(tag)) {
            let start = from + i;
            let end = lower
                .get(start..)
                .and_then(|r| r.find('>'))
                .map_or(lower.len(), |e| start + e);
            from = end.max(start + 1);
            let Some(tag_text) = html.get(start..end) else {
                continue;
            };
            let (Some(name), Some(value)) = (attr(tag_text, "name"), attr(tag_text, value_attr))
            else {
                continue;
            };
            let Some(value_text) = tag_text.get(value.clone()) else {
                continue;
            };
            let Some(name) = tag_text.get(name) else {
                continue;
            };
            for m in scanner.scan_field(Field::Form { name }, value_text) {
                let base = start + value.start;
                out.push(Match {
                    rule: m.rule,
                    span: base + m.span.start..base + m.span.end,
                });
            }
        }
    }
    out
}

/// The span of a quoted attribute value (`name="..."` or `name='...'`) inside a tag.
fn attr(tag: &str, name: &str) -> Option<std::ops::Range<usize>> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower.get(from..).and_then(|r| r.find(name)) {
        let at = from + i;
        from = at + name.len();
        let before_ok = at == 0
            || lower
                .as_bytes()
                .get(at - 1)
                .is_some_and(|b| b.is_ascii_whitespace());
        let rest = lower.get(from..)?.trim_start();
        let Some(rest) = rest.strip_prefix('=') else {
            continue;
        };
        if !before_ok {
            continue;
        }
        let rest_trim = rest.trim_start();
        let quote = rest_trim.chars().next()?;
        if quote != '"' && quote != '\'' {
            continue;
        }
        let value_start = lower.len() - rest_trim.len() + 1;
        let value_len = lower.get(value_start..)?.find(quote)?;
        return Some(value_start..value_start + value_len);
    }
    None
}

/// Whether `span` of `s` holds nothing but markers, whitespace and separators (a
/// detector reporting an already-redacted value: nothing secret is left there).
pub(crate) fn only_markers(s: &str, span: &std::ops::Range<usize>) -> bool {
    let Some(mut rest) = s.get(span.clone()) else {
        return false;
    };
    let mut saw_marker = false;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '"'));
        if rest.is_empty() {
            return saw_marker;
        }
        let Some(end) = rest
            .starts_with("[redacted:")
            .then(|| rest.find(']'))
            .flatten()
        else {
            return false;
        };
        let Some(marker) = rest.get(..=end) else {
            return false;
        };
        if !custody_scan::is_marker(marker) {
            return false;
        }
        saw_marker = true;
        rest = rest.get(end + 1..).unwrap_or_default();
    }
}

/// Sorts matches, widens them to character boundaries and merges overlaps.
fn merge(s: &str, mut matches: Vec<Match>) -> Vec<Match> {
    matches.sort_by_key(|m| (m.span.start, std::cmp::Reverse(m.span.end)));
    let mut out: Vec<Match> = Vec::with_capacity(matches.len());
    for mut m in matches {
        m.span.end = m.span.end.min(s.len());
        while m.span.start > 0 && !s.is_char_boundary(m.span.start) {
            m.span.start -= 1;
        }
        while m.span.end < s.len() && !s.is_char_boundary(m.span.end) {
            m.span.end += 1;
        }
        if m.span.start >= m.span.end {
            continue;
        }
        match out.last_mut() {
            Some(prev) if m.span.start < prev.span.end => {
                prev.span.end = prev.span.end.max(m.span.end);
            }
            _ => out.push(m),
        }
    }
    out
}

/// Longest value remembered as clean.
const MAX_MEMO_VALUE: usize = 1024;
/// Clean values remembered per artifact (16 bytes each).
const MAX_MEMO_ENTRIES: usize = 1 << 18;

/// Values already scanned clean under a given field (the same `User-Agent`, `Accept`,
/// benign cookies... repeat on every request of a HAR). The detector is deterministic,
/// so the same (field, name, value) always scans the same. Keys are randomly keyed
/// 128-bit SipHash-1-3 values ([`Keyed128`]): a false hit, which would skip a scan, is
/// out of reach. No value is stored.
#[derive(Default)]
struct CleanMemo {
    hasher: Keyed128,
    /// Key → the known-secrets generation the value was last found clean against.
    set: HashMap<(u64, u64), u64>,
}

impl CleanMemo {
    fn key(&self, field: Field<'_>, value: &str) -> (u64, u64) {
        let (kind, name) = match field {
            Field::Header { name } => (0u8, name),
            Field::Cookie { name } => (1, name),
            Field::Query { name } => (2, name),
            Field::Form { name } => (3, name),
            Field::JsonKey { name } => (4, name),
            Field::Url => (5, ""),
            Field::Text => (6, ""),
        };
        let key = (kind, name, value);
        self.hasher.hash(&key)
    }
}

/// A randomly keyed 128-bit SipHash-1-3, computed in one pass: the key of the
/// "seen before" sets, which never store the value itself. The keys are drawn from
/// the process's random hasher state; a false hit (which would skip a scan) needs a
/// 128-bit collision under an unknown key.
struct Keyed128 {
    k0: u64,
    k1: u64,
}

impl Default for Keyed128 {
    fn default() -> Self {
        let random = RandomState::new();
        Self {
            k0: random.hash_one(0u8),
            k1: random.hash_one(1u8),
        }
    }
}

impl Keyed128 {
    fn hash<T: Hash + ?Sized>(&self, value: &T) -> (u64, u64) {
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        value.hash(&mut h);
        let out = h.finish128();
        (out.h1, out.h2)
    }
}

/// Markers remembered per artifact.
const MAX_CACHED_MARKERS: usize = 4096;
/// Longest look-behind (bytes before a match, back to a `;`, space or tab) a cached
/// marker may depend on.
const MAX_MARKER_CONTEXT: usize = 64;

/// Markers already built for a (rule, secret, cookie-name context): the same session
/// cookie and bearer token recur on every request of a HAR, and building a marker
/// costs an HMAC plus, for a JWT, decoding its header and claims. A marker depends on
/// the rule, the secret bytes and, for a session cookie, the cookie name just before
/// the match (`Redactor::marker`), so the key covers the bytes from the previous `;`,
/// space or tab (or the start of the value) up to the match; longer look-behinds are
/// not cached. Keys are [`Keyed128`] values (no secret is stored);
/// markers themselves are output, not secrets.
#[derive(Default)]
struct MarkerCache {
    hasher: Keyed128,
    map: HashMap<(u64, u64), String>,
}

impl MarkerCache {
    fn marker(&mut self, redactor: &Redactor, m: &Match, value: &str) -> String {
        let bytes = value.as_bytes();
        let before = bytes.get(..m.span.start).unwrap_or_default();
        let ctx_start = before
            .iter()
            .rposition(|&b| matches!(b, b';' | b' ' | b'\t'))
            .map_or(0, |p| p + 1);
        let (Some(context), Some(secret)) = (before.get(ctx_start..), bytes.get(m.span.clone()))
        else {
            return redactor.marker(m, value);
        };
        if context.len() > MAX_MARKER_CONTEXT {
            return redactor.marker(m, value);
        }
        let key = (m.rule.id, m.rule.class.as_str(), context, secret);
        let key = self.hasher.hash(&key);
        if let Some(marker) = self.map.get(&key) {
            return marker.clone();
        }
        let marker = redactor.marker(m, value);
        if self.map.len() >= MAX_CACHED_MARKERS {
            self.map.clear();
        }
        self.map.insert(key, marker.clone());
        marker
    }
}

/// Which name-bearing field a cached name belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameKind {
    Header,
    JsonKey,
}

/// Values no name dictionary entry can fire on, used to tell "neutral" names apart.
const PROBES: [&str; 3] = [
    "Zq9Hk2Lm7Vp4Qx1Zt8Rw3Nc6Yb0Jf5GdEr",
    "a=Zq9Hk2Lm7Vp4Qx1Zt8Rw3Nc6Yb0Jf5GdEr",
    "hunter2",
];
/// Names remembered per kind.
const MAX_CACHED_NAMES: usize = 16_384;

type Detections = Vec<(&'static str, std::ops::Range<usize>)>;

/// Header names and JSON member names whose field behaves exactly like
/// `Field::Text` ("neutral": `Host`, `accept`, `id`, `status`...). For these the
/// detector's name dictionaries cannot fire, so the value is scanned as text, which
/// skips the per-value name matching. A name is neutral when, on each probe value
/// (an opaque token, a cookie pair, a short password), its field reports exactly what
/// `Field::Text` reports: every dictionary rule (strong or weak name, credential
/// header, Authorization/Cookie parsing) fires on at least one probe.
struct NameCache {
    baseline: Vec<Detections>,
    header: HashMap<String, bool>,
    json: HashMap<String, bool>,
}

impl NameCache {
    fn new(scanner: &Scanner) -> Self {
        let baseline = PROBES
            .iter()
            .map(|p| detections(scanner, Field::Text, p))
            .collect();
        Self {
            baseline,
            header: HashMap::new(),
            json: HashMap::new(),
        }
    }

    fn neutral(&mut self, scanner: &Scanner, kind: NameKind, name: &str) -> bool {
        let map = match kind {
            NameKind::Header => &mut self.header,
            NameKind::JsonKey => &mut self.json,
        };
        if let Some(&n) = map.get(name) {
            return n;
        }
        let field = match kind {
            NameKind::Header => Field::Header { name },
            NameKind::JsonKey => Field::JsonKey { name },
        };
        let neutral = PROBES
            .iter()
            .zip(&self.baseline)
            .all(|(p, base)| detections(scanner, field, p) == *base);
        if map.len() < MAX_CACHED_NAMES {
            map.insert(name.to_owned(), neutral);
        }
        neutral
    }

    /// `Field::Text` for a neutral header or JSON member name, else `field`.
    fn simplify<'f>(&mut self, scanner: &Scanner, field: Field<'f>) -> Field<'f> {
        let neutral = match field {
            Field::Header { name } => self.neutral(scanner, NameKind::Header, name),
            Field::JsonKey { name } => self.neutral(scanner, NameKind::JsonKey, name),
            _ => false,
        };
        if neutral { Field::Text } else { field }
    }
}

fn detections(scanner: &Scanner, field: Field<'_>, value: &str) -> Detections {
    scanner
        .scan_field(field, value)
        .into_iter()
        .map(|m| (m.rule.id, m.span))
        .collect()
}

/// Secrets already redacted in this artifact, for exact-reuse redaction.
struct KnownSecrets {
    secrets: Vec<(Zeroizing<String>, &'static Rule)>,
    fingerprints: HashSet<String>,
    /// Automaton over `secrets[..global_len]`.
    global: Option<AhoCorasick>,
    global_len: usize,
    /// Automaton over `secrets[global_len..]` (rebuilt cheaply as it grows).
    recent: Option<AhoCorasick>,
    dirty: bool,
    cap: usize,
    /// Raw secrets already passed to `learn` (keyed 128-bit hashes, no value kept),
    /// so a secret met again skips re-deriving and fingerprinting its forms.
    seen: HashSet<(u64, u64)>,
    seen_hasher: Keyed128,
    /// Bumped whenever the automata are rebuilt (what `find` answers changes).
    generation: u64,
}

impl KnownSecrets {
    fn new(cap: usize) -> Self {
        Self {
            secrets: Vec::new(),
            fingerprints: HashSet::new(),
            global: None,
            global_len: 0,
            recent: None,
            dirty: false,
            cap,
            seen: HashSet::new(),
            seen_hasher: Keyed128::default(),
            generation: 0,
        }
    }

    fn learn(&mut self, secret: &str, rule: &'static Rule, redactor: &Redactor) {
        if secret.len() < MIN_KNOWN_LEN || secret.len() > MAX_KNOWN_LEN {
            return;
        }
        // Learning is a function of the secret alone (the rule of its first sighting
        // is kept), so a secret seen before has nothing new to add.
        let key = self.seen_hasher.hash(secret);
        if self.seen.contains(&key) {
            return;
        }
        if self.seen.len() < self.cap.saturating_mul(4) {
            self.seen.insert(key);
        }
        let decoded = percent_decode(secret);
        let encoded = percent_encode(secret);
        for form in [Some(secret.to_owned()), decoded, encoded]
            .into_iter()
            .flatten()
        {
            if self.secrets.len() >= self.cap
                || form.len() < MIN_KNOWN_LEN
                || form.bytes().all(|b| b.is_ascii_digit())
            {
                continue;
            }
            if self
                .fingerprints
                .insert(redactor.fingerprint(form.as_bytes()))
            {
                self.secrets.push((Zeroizing::new(form), rule));
                self.dirty = true;
            }
        }
    }

    /// Rebuilds the automata after learning; true if anything new was learned.
    fn refresh(&mut self) -> bool {
        if !self.dirty {
            return false;
        }
        self.dirty = false;
        self.generation += 1;
        let build = |items: &[(Zeroizing<String>, &'static Rule)]| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(items.iter().map(|(s, _)| s.as_bytes()))
                .ok()
        };
        let recent_len = self.secrets.len() - self.global_len;
        if recent_len > 64.max(self.global_len / 4) {
            self.global = build(&self.secrets);
            self.global_len = self.secrets.len();
            self.recent = None;
        } else {
            self.recent = build(self.secrets.get(self.global_len..).unwrap_or_default());
        }
        true
    }

    fn find(&self, s: &str, out: &mut Vec<Match>) {
        let first = out.len();
        for (automaton, base) in [(&self.global, 0), (&self.recent, self.global_len)] {
            let Some(ac) = automaton else { continue };
            for m in ac.find_iter(s) {
                if let Some((_, rule)) = self.secrets.get(base + m.pattern().as_usize()) {
                    out.push(Match {
                        rule,
                        span: m.start()..m.end(),
                    });
                }
            }
        }
        if out.len() > first {
            crate::json::engine::drop_inside_markers(s, out, first);
        }
    }
}

/// The percent-decoded form, if it differs and is UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return None;
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| char::from(*c).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The percent-encoded form (RFC 3986 unreserved kept), if it differs.
fn percent_encode(s: &str) -> Option<String> {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    if s.bytes().all(unreserved) {
        return None;
    }
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Some(out)
}
