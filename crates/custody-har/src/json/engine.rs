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

use std::borrow::Cow;
use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasher, Hash};

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;
use custody_scan::{Field, Finding, Location, Match, Redactor, Rule, Scanner};
use siphasher::sip128::{Hasher128 as _, SipHasher13};
use zeroize::Zeroizing;

use crate::json::parse::{Limits, parse_document};
use crate::json::value::{Pointer, Src, Str, Value};
use crate::report::LocationKind;

/// Longest marker looked for by [`marker_spans`] (markers are far shorter; the bound
/// keeps the search linear in the text whatever it holds).
const MAX_MARKER_LEN: usize = 1024;

/// The byte ranges of the well-formed markers in `s`.
pub(crate) fn marker_spans(s: &str) -> Vec<std::ops::Range<usize>> {
    let bytes = s.as_bytes();
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(i) = bytes
        .get(from..)
        .and_then(|rest| memchr::memmem::find(rest, b"[redacted:"))
    {
        let start = from + i;
        let window = bytes
            .get(start..bytes.len().min(start.saturating_add(MAX_MARKER_LEN)))
            .unwrap_or_default();
        match memchr::memchr(b']', window).map(|len| start + len + 1) {
            Some(end) if s.get(start..end).is_some_and(custody_scan::is_marker) => {
                spans.push(start..end);
                from = end;
            }
            _ => from = start + 1,
        }
    }
    spans
}

/// Drops the matches of `out[first..]` that overlap a marker of `s`. A learned secret
/// can equal words of a marker (a password `password-` is in every
/// `rule=password-assignment`): replacing those nested markers in markers, and each
/// walk over the unit multiplied its size (a 400-byte input ran for minutes; found by
/// the `sanitize` fuzz target). Text inside a marker is never a secret's occurrence.
pub(crate) fn drop_inside_markers(s: &str, out: &mut Vec<Match>, first: usize) {
    if !s.contains("[redacted:") {
        return;
    }
    // Sorted by start and disjoint: the one marker that can overlap a match is the
    // last that starts before the match ends.
    let markers = marker_spans(s);
    let overlaps = |m: &Match| {
        let before_end = markers.partition_point(|mk| mk.start < m.span.end);
        before_end
            .checked_sub(1)
            .and_then(|k| markers.get(k))
            .is_some_and(|mk| m.span.start < mk.end)
    };
    let mut index = 0;
    out.retain(|m| {
        let keep = index < first || !overlaps(m);
        index += 1;
        keep
    });
}

/// Walks over one unit at most. A walk after the first happens only when the
/// previous one taught secrets whose reuse the sweep then replaced in the unit: the
/// next walk judges and rescans those strings in their fields (a sweep alone once
/// left a residue glued to a marker that a second `custody sanitize` redacted, found
/// by the `sanitize` fuzz target). Each further walk needs a newly learned secret,
/// which needs a redaction of text that is not yet a marker, so the walks end; the
/// bound is a backstop, and hitting it refuses the artifact (fail-closed).
pub(crate) const MAX_UNIT_PASSES: u64 = 8;
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

impl Counts {
    /// Counts one redaction of `rule` at `loc`.
    fn add(&mut self, rule: &Rule, loc: LocationKind) {
        self.redactions += 1;
        for (map, key) in [
            (&mut self.by_class, rule.class.as_str()),
            (&mut self.by_location, loc.as_str()),
        ] {
            // No key allocation once the key is there (every count but the first).
            match map.get_mut(key) {
                Some(n) => *n += 1,
                None => {
                    map.insert(key.to_owned(), 1);
                }
            }
        }
    }
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
    redacted: RedactedMemo,
    /// Rules of the spans the last [`Self::replace`] redacted, in order.
    replaced_rules: Vec<&'static Rule>,
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
            redacted: RedactedMemo::default(),
            replaced_rules: Vec::new(),
            markers: MarkerCache::default(),
        }
    }

    /// Starts a unit that begins at input byte `offset`.
    pub(crate) fn begin_unit(&mut self, offset: u64) {
        self.unit_offset = offset;
    }

    /// Ends a walk over a unit: if it taught new secrets, sweeps the unit once more
    /// for their reuse. True if the sweep changed a string: the caller then walks the
    /// unit again (see [`MAX_UNIT_PASSES`]).
    pub(crate) fn end_unit(&mut self, src: Src<'_>, unit: &mut Value) -> bool {
        self.known.refresh() && self.sweep(src, unit)
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

    /// Sanitizes the tree string `s` as a value of `field`. Returns whether it
    /// changed (then it holds its new text and will be re-escaped when written).
    pub(crate) fn redact_str(
        &mut self,
        src: Src<'_>,
        s: &mut Str,
        field: Field<'_>,
        loc: LocationKind,
    ) -> bool {
        let new = self.redact(src.text(s), field, loc);
        apply(s, new)
    }

    /// Sanitizes `s` as a value of `field`. Returns the new text if it changed.
    pub(crate) fn redact(
        &mut self,
        s: &str,
        field: Field<'_>,
        loc: LocationKind,
    ) -> Option<String> {
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
                return None;
            }
            let mut found = Vec::new();
            self.known.find(s, &mut found);
            if found.is_empty() {
                *seen = generation;
                return None;
            }
        } else if let Some(key) = memo
            && let Mode::Sanitize(_) = self.mode
            && let Some(done) = self.redacted.get(&key, generation)
        {
            // Redacted before under the same field, against the same known secrets,
            // and the rescan of the result was clean: the detector, the known-secret
            // automata and the markers are deterministic, so a fresh run would build
            // this same text, learn nothing new and count these same redactions.
            self.detections += 1;
            for rule in &done.rules {
                self.counts.add(rule, loc);
            }
            return Some(done.text.clone());
        }
        let (before, remaining) = (self.detections, self.counts.remaining);
        let changed = self.redact_with(s, loc, &|scanner, v| scanner.scan_field(field, v));
        if let Some(key) = memo {
            if self.detections == before {
                if self.clean.set.len() < MAX_MEMO_ENTRIES {
                    self.clean.set.insert(key, generation);
                }
            } else if let (Some(text), Mode::Sanitize(_)) = (&changed, &self.mode)
                && self.counts.remaining == remaining
            {
                let rules = std::mem::take(&mut self.replaced_rules);
                self.redacted.insert(key, generation, text, &rules);
                self.replaced_rules = rules;
            }
        }
        changed
    }

    /// Sanitizes `s` with a custom detection (used for composite payloads); the same
    /// detection rescans the result.
    pub(crate) fn redact_with(
        &mut self,
        s: &str,
        loc: LocationKind,
        detect: &dyn Fn(&Scanner, &str) -> Vec<Match>,
    ) -> Option<String> {
        let mut matches = detect(self.scanner, s);
        self.known.find(s, &mut matches);
        matches.retain(|m| !only_markers(s, &m.span));
        if matches.is_empty() {
            return None;
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
                return None;
            }
            Mode::Sanitize(r) => *r,
        };
        let replaced = self.replace(s, &matches, redactor, loc);
        for m in detect(self.scanner, &replaced) {
            if !only_markers(&replaced, &m.span) {
                self.refuse(&m, redactor.marker(&m, &replaced));
            }
        }
        Some(replaced)
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
        self.replaced_rules.clear();
        for m in matches {
            out.push_str(s.get(last..m.span.start).unwrap_or_default());
            out.push_str(&self.markers.marker(redactor, m, s));
            last = m.span.end;
            let secret = s.get(m.span.clone()).unwrap_or_default();
            self.known.learn(secret, m.rule, redactor);
            self.count(m.rule, loc);
            self.replaced_rules.push(m.rule);
        }
        out.push_str(s.get(last..).unwrap_or_default());
        out
    }

    fn count(&mut self, rule: &Rule, loc: LocationKind) {
        self.counts.add(rule, loc);
    }

    fn refuse(&mut self, m: &Match, preview: String) {
        self.counts.remaining += 1;
        if self.refusals.len() < MAX_KEPT_FINDINGS {
            let f = self.finding(m, preview);
            self.refusals.push(f);
        }
    }

    /// Replaces exact reuses of known secrets in every string of `v`; true if any.
    /// What it changes is not rescanned here (the sweep knows no field): the caller
    /// walks the unit again, which judges and rescans every string in its field.
    fn sweep(&mut self, src: Src<'_>, v: &mut Value) -> bool {
        let Mode::Sanitize(redactor) = self.mode else {
            return false;
        };
        match v {
            Value::Str(s) => {
                let text = src.text(s);
                let mut matches = Vec::new();
                self.known.find(text, &mut matches);
                if matches.is_empty() {
                    return false;
                }
                let matches = merge(text, matches);
                let new = self.replace(text, &matches, redactor, LocationKind::KnownSecret);
                s.set(new);
                true
            }
            Value::Arr(items, _) => items
                .iter_mut()
                .fold(false, |changed, i| self.sweep(src, i) | changed),
            Value::Obj(members, _) => members
                .iter_mut()
                .fold(false, |changed, (_, m)| self.sweep(src, m) | changed),
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
    pub(crate) fn walk(
        &mut self,
        src: Src<'_>,
        v: &mut Value,
        key: Option<&str>,
        loc: LocationKind,
    ) -> bool {
        match v {
            Value::Str(s) => {
                let new = self.string(src.text(s), key, loc);
                apply(s, new)
            }
            Value::Arr(items, _) => {
                let mut changed = false;
                for (i, item) in items.iter_mut().enumerate() {
                    let mark = self.enter_index(i);
                    changed |= self.walk(src, item, key, loc);
                    self.pointer.truncate(mark);
                }
                changed
            }
            Value::Obj(members, _) => self.object(src, members, key, loc),
            Value::Null | Value::Bool(_) | Value::Num(_) => false,
        }
    }

    fn object(
        &mut self,
        src: Src<'_>,
        members: &mut [(Str, Value)],
        parent: Option<&str>,
        loc: LocationKind,
    ) -> bool {
        // A `{"name": .., "value": ..}` pair: the value is judged by the name.
        let pair_name = members
            .iter()
            .find(|(k, _)| src.text(k) == "name")
            .and_then(|(_, v)| src.str_of(v));
        let parent_lower = parent.map(str::to_ascii_lowercase).unwrap_or_default();
        let mut changed = false;
        for (k, v) in members.iter_mut() {
            let k = src.text(k);
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
                    self.redact_str(src, s, field, loc)
                }
                (v, _) => self.walk(src, v, Some(k), loc),
            };
            self.pointer.truncate(mark);
        }
        changed
    }

    /// A string member: embedded JSON is parsed and walked, anything else is judged
    /// by its key (dictionary of credential names, then value detection and URLs).
    /// Returns the new text if it changed.
    pub(crate) fn string(
        &mut self,
        s: &str,
        key: Option<&str>,
        loc: LocationKind,
    ) -> Option<String> {
        let t = s.trim_start();
        if t.starts_with('{') || t.starts_with('[') {
            // The fast path decides "clean" with a text pass, which is only what the
            // fallback below would do when the member name is neutral.
            let fast = key.is_none_or(|k| self.names.neutral(self.scanner, NameKind::JsonKey, k));
            if let Some(decided) = self.json_text(s, loc, fast).decided() {
                return decided;
            }
        }
        let field = match key {
            Some(name) => Field::JsonKey { name },
            None => Field::Text,
        };
        self.redact(s, field, loc)
    }

    /// Tries `s` as a JSON document: walks it and re-serialises it if it changed;
    /// [`Parsed::NotJson`] (untouched) when it is not JSON, so the caller scans it as
    /// text.
    fn json_text(&mut self, s: &str, loc: LocationKind, fast: bool) -> Parsed {
        if self.embed_depth >= MAX_EMBED_DEPTH {
            return Parsed::NotJson;
        }
        let limits = Limits {
            max_depth: self.limits.max_depth.min(MAX_EMBED_NESTING),
            ..self.limits
        };
        if fast && self.clean_json_fast(s) {
            return Parsed::Unchanged;
        }
        let Ok((mut doc, scratch)) = parse_document(s, limits) else {
            return Parsed::NotJson;
        };
        let src = Src::new(s, &scratch);
        let before = self.detections;
        self.embed_depth += 1;
        let changed = self.walk(src, &mut doc, None, loc);
        self.embed_depth -= 1;
        if changed {
            // Member names are not walked: the text pass over the whole document
            // catches a secret in one, here as on the unchanged path below (it once
            // ran only there, so a document with a redacted value kept a password
            // in a member name; found by the `sanitize` fuzz target).
            let walked = doc.into_json_string(src);
            return Parsed::Changed(match self.redact(&walked, Field::Text, loc) {
                Some(new) => new,
                None => walked,
            });
        }
        if self.detections > before {
            // Inspect mode: reported already.
            return Parsed::Unchanged;
        }
        // Parsed and clean: still run the text pass over the raw text (secrets in
        // member names, for instance).
        match self.redact(s, Field::Text, loc) {
            Some(new) => Parsed::Changed(new),
            None => Parsed::Unchanged,
        }
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
        // Without escapes each string runs from one quote to the next.
        let mut open = None;
        let names_neutral = for_each_quote(bytes, |close| {
            let Some(start) = open.take() else {
                open = Some(close);
                return true;
            };
            let after = bytes.get(close + 1..).unwrap_or_default();
            let is_key = after.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b':');
            !is_key || {
                let name = s.get(start + 1..close).unwrap_or_default();
                self.names.neutral(self.scanner, NameKind::JsonKey, name)
            }
        });
        if !names_neutral {
            return false;
        }
        let mut found = Vec::new();
        self.known.find(s, &mut found);
        found.is_empty() && self.scanner.scan_field(Field::Text, s).is_empty()
    }

    /// A body (post data, response text, websocket frame) of media type `mime`.
    /// Returns the new text if it changed.
    pub(crate) fn body(&mut self, s: &str, mime: &str, loc: LocationKind) -> Option<String> {
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
        } else if let Some(decided) = (mime.contains("json") || json_like)
            .then(|| self.json_text(s, loc, true).decided())
            .flatten()
        {
            decided
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
        s: &str,
        field: Field<'_>,
        loc: LocationKind,
        raw: bool,
    ) -> Option<String> {
        let decoded = if raw { percent_decode(s) } else { None };
        let text = decoded.as_deref().unwrap_or(s);
        let t = text.trim_start();
        if t.starts_with('{') || t.starts_with('[') {
            match self.json_text(text, loc, false) {
                Parsed::Changed(doc) => {
                    return Some(if decoded.is_some() {
                        percent_encode(&doc).unwrap_or(doc)
                    } else {
                        doc
                    });
                }
                Parsed::Unchanged => return None,
                Parsed::NotJson => {}
            }
        }
        self.redact(s, field, loc)
    }

    /// A tree string holding a query or form parameter value (see [`Self::param`]).
    pub(crate) fn param_str(
        &mut self,
        src: Src<'_>,
        s: &mut Str,
        field: Field<'_>,
        loc: LocationKind,
    ) -> bool {
        let new = self.param(src.text(s), field, loc, false);
        apply(s, new)
    }

    /// `a=1&b=2`: each value judged by its (percent-decoded) name.
    fn form_body(&mut self, s: &str, loc: LocationKind) -> Option<String> {
        let mut changed = false;
        let mut parts: Vec<Cow<'_, str>> = Vec::new();
        for part in s.split('&') {
            let new = if let Some((name, value)) = part.split_once('=') {
                self.param(value, Field::Form { name }, loc, true)
                    .map(|value| format!("{name}={value}"))
            } else {
                self.redact(part, Field::Text, loc)
            };
            changed |= new.is_some();
            parts.push(new.map_or(Cow::Borrowed(part), Cow::Owned));
        }
        changed.then(|| parts.join("&"))
    }

    /// `multipart/*`: each part's body judged by its form name and content type.
    fn multipart_body(&mut self, s: &str, mime: &str, loc: LocationKind) -> Option<String> {
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
        let mut pieces: Vec<Cow<'_, str>> = Vec::new();
        for piece in s.split(delimiter.as_str()) {
            let new = self.multipart_part(piece, loc);
            changed |= new.is_some();
            pieces.push(new.map_or(Cow::Borrowed(piece), Cow::Owned));
        }
        changed.then(|| pieces.join(&delimiter))
    }

    fn multipart_part(&mut self, piece: &str, loc: LocationKind) -> Option<String> {
        let split = piece
            .find("\r\n\r\n")
            .map(|i| (i, 4))
            .or_else(|| piece.find("\n\n").map(|i| (i, 2)));
        let Some((at, sep)) = split else {
            return self.redact(piece, Field::Text, loc);
        };
        let head = piece.get(..at).unwrap_or_default();
        let body = piece.get(at + sep..).unwrap_or_default();
        let head_new = self.redact(head, Field::Text, loc);
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
        let value_len = body.trim_end_matches(['\r', '\n']).len();
        let (value, trail) = (
            body.get(..value_len).unwrap_or_default(),
            body.get(value_len..).unwrap_or_default(),
        );
        let value_new = if content_type.is_empty() && !name.is_empty() {
            self.redact(value, Field::Form { name: &name }, loc)
        } else {
            self.body(value, &content_type, loc)
        };
        if head_new.is_none() && value_new.is_none() {
            return None;
        }
        Some(format!(
            "{}{}{}{trail}",
            head_new.as_deref().unwrap_or(head),
            piece.get(at..at + sep).unwrap_or_default(),
            value_new.as_deref().unwrap_or(value),
        ))
    }

    /// `text/event-stream`: each `data:` line is a payload (JSON or text).
    fn event_stream(&mut self, s: &str) -> Option<String> {
        let mut changed = false;
        let mut lines: Vec<Cow<'_, str>> = Vec::new();
        for line in s.split('\n') {
            let new = if let Some(rest) = line.strip_prefix("data:") {
                let lead = rest.len() - rest.trim_start().len();
                let (space, payload) = rest.split_at(lead);
                self.body(payload, "", LocationKind::ServerSentEvent)
                    .map(|payload| format!("data:{space}{payload}"))
            } else {
                self.redact(line, Field::Text, LocationKind::ServerSentEvent)
            };
            changed |= new.is_some();
            lines.push(new.map_or(Cow::Borrowed(line), Cow::Owned));
        }
        changed.then(|| lines.join("\n"))
    }

    /// `content.encoding == "base64"`: decode; text is sanitized as a body and
    /// re-encoded; binary is scanned as bytes and its matches overwritten in place.
    /// Returns the new (base64) text if it changed.
    pub(crate) fn base64_body(&mut self, s: &str, mime: &str, loc: LocationKind) -> Option<String> {
        let engine = &base64::engine::general_purpose::STANDARD;
        let Ok(bytes) = engine.decode(s.trim()) else {
            return self.redact(s, Field::Text, loc);
        };
        match String::from_utf8(bytes) {
            Ok(text) => self
                .body(&text, mime, loc)
                .map(|text| engine.encode(text.as_bytes())),
            Err(e) => {
                let bytes = e.into_bytes();
                self.binary(&bytes, loc).map(|clean| engine.encode(clean))
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

/// Calls `f` with the position of every `"` of `bytes`, in order, while it returns
/// true; returns false if `f` did.
///
/// Eight bytes per step (quotes come every few bytes in a JSON body: a `memchr` call
/// per quote costs more). For `x = w ^ 0x2222..`, `!(((x & 0x7f..) + 0x7f..) | x |
/// 0x7f..)` sets the high bit of exactly the zero bytes of `x` (no carry crosses a
/// byte), so every set bit is a quote.
fn for_each_quote(bytes: &[u8], mut f: impl FnMut(usize) -> bool) -> bool {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const QUOTES: u64 = 0x0101_0101_0101_0101 * b'"' as u64;
    let mut words = bytes.chunks_exact(8);
    let mut base = 0usize;
    for word in &mut words {
        let x = u64::from_le_bytes(<[u8; 8]>::try_from(word).unwrap_or([0; 8])) ^ QUOTES;
        let mut quotes = !(((x & LOW7) + LOW7) | x | LOW7);
        while quotes != 0 {
            // Little-endian: the lowest set bit is the first quote left in the word.
            if !f(base + (quotes.trailing_zeros() / 8) as usize) {
                return false;
            }
            quotes &= quotes - 1;
        }
        base += 8;
    }
    for (i, &b) in words.remainder().iter().enumerate() {
        if b == b'"' && !f(base + i) {
            return false;
        }
    }
    true
}

/// Stores `new` in the tree string `s` if there is one; whether it changed.
fn apply(s: &mut Str, new: Option<String>) -> bool {
    match new {
        Some(text) => {
            s.set(text);
            true
        }
        None => false,
    }
}

/// What [`Engine::json_text`] made of a text.
enum Parsed {
    /// Not JSON (or nested too deep): the caller scans it as text.
    NotJson,
    /// JSON, clean (or reported, in inspect mode).
    Unchanged,
    /// JSON, sanitized: the new text.
    Changed(String),
}

impl Parsed {
    /// `None` when not JSON, else the new text if it changed.
    fn decided(self) -> Option<Option<String>> {
        match self {
            Self::NotJson => None,
            Self::Unchanged => Some(None),
            Self::Changed(text) => Some(Some(text)),
        }
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
    set: HashMap<(u64, u64), u64, PreHashed>,
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

/// Redacted values remembered per artifact (each holds its sanitized text, at most
/// [`MAX_MEMO_VALUE`] bytes plus markers).
const MAX_REDACTED_ENTRIES: usize = 4096;

/// Values already redacted under a given field, keyed like [`CleanMemo`]: the same
/// `Authorization` header and session cookie recur on every request of a HAR. An
/// entry holds the sanitized text (markers, no secret) and the rules it counted, and
/// is kept only when the rescan of that text was clean; it answers only for the
/// known-secrets generation it was built against (a secret learned since then may
/// sit in the non-redacted rest of the value). Sanitize mode only: inspect mode
/// reports every occurrence with its own location.
#[derive(Default)]
struct RedactedMemo {
    map: HashMap<(u64, u64), Redacted, PreHashed>,
}

/// One remembered redaction.
struct Redacted {
    generation: u64,
    text: String,
    rules: Vec<&'static Rule>,
}

impl RedactedMemo {
    fn get(&self, key: &(u64, u64), generation: u64) -> Option<&Redacted> {
        self.map.get(key).filter(|r| r.generation == generation)
    }

    fn insert(&mut self, key: (u64, u64), generation: u64, text: &str, rules: &[&'static Rule]) {
        if self.map.len() >= MAX_REDACTED_ENTRIES {
            self.map.clear();
        }
        self.map.insert(
            key,
            Redacted {
                generation,
                text: text.to_owned(),
                rules: rules.to_vec(),
            },
        );
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

/// The hasher of maps keyed by [`Keyed128`] values: the keys are already outputs of
/// a randomly keyed 128-bit SipHash, so their bits are used as they are instead of
/// being hashed a second time.
#[derive(Clone, Copy, Default)]
struct PreHashed;

impl BuildHasher for PreHashed {
    type Hasher = PreHashedHasher;

    fn build_hasher(&self) -> PreHashedHasher {
        PreHashedHasher(0)
    }
}

/// See [`PreHashed`].
#[derive(Default)]
struct PreHashedHasher(u64);

impl std::hash::Hasher for PreHashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached for `(u64, u64)` keys; a sound fallback all the same.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.rotate_left(29) ^ n;
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
    map: HashMap<(u64, u64), String, PreHashed>,
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
    header: HashMap<String, bool, foldhash::quality::RandomState>,
    json: HashMap<String, bool, foldhash::quality::RandomState>,
}

impl NameCache {
    fn new(scanner: &Scanner) -> Self {
        let baseline = PROBES
            .iter()
            .map(|p| detections(scanner, Field::Text, p))
            .collect();
        Self {
            baseline,
            header: HashMap::default(),
            json: HashMap::default(),
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
    seen: HashSet<(u64, u64), PreHashed>,
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
            seen: HashSet::default(),
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
            drop_inside_markers(s, out, first);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_spans_are_the_whole_well_formed_markers() {
        let m = "[redacted:password:0123456789ab:len=9,rule=password-assignment]";
        let s = format!("a{m}b[redacted:oops]c{m}[redacted:");
        let second = s.rfind(m).unwrap();
        assert_eq!(
            marker_spans(&s),
            vec![1..1 + m.len(), second..second + m.len()]
        );
        assert!(marker_spans("[redacted:[redacted:[redacted:").is_empty());
        assert!(marker_spans("no markers").is_empty());
        // Too long to be a marker, and the bound falls inside a two-byte character.
        let long = format!("[redacted:{}]é{m}", "é".repeat(600));
        assert_eq!(marker_spans(&long), vec![long.len() - m.len()..long.len()]);
    }

    #[test]
    fn known_secrets_are_never_found_inside_a_marker() {
        let scanner = Scanner::new();
        let redactor = Redactor::new([3; 32]);
        let mut known = KnownSecrets::new(64);
        let rule = scanner.rules().first().unwrap();
        known.learn("password-", rule, &redactor);
        known.refresh();
        let m = "[redacted:password:0123456789ab:len=9,rule=password-assignment]";
        let mut found = Vec::new();
        known.find(&format!("{m} password-"), &mut found);
        assert_eq!(found.len(), 1, "only the occurrence outside the marker");
        assert_eq!(found[0].span.start, m.len() + 1);
    }

    #[test]
    fn only_marker_spans_are_recognised() {
        let m = "[redacted:bearer-token:0123456789ab:len=40]";
        let s = format!("Bearer {m}");
        assert!(only_markers(&s, &(6..s.len())));
        assert!(
            !only_markers(&s, &(0..s.len())),
            "the scheme is not a marker"
        );
        let two = format!("{m}, {m}");
        assert!(only_markers(&two, &(0..two.len())));
        let tail = format!("{m}x");
        assert!(
            !only_markers(&tail, &(0..tail.len())),
            "anything beyond a marker counts"
        );
        assert!(!only_markers("  ", &(0..2)));
    }

    #[test]
    fn neutral_names_scan_exactly_like_text() {
        let scanner = Scanner::new();
        let mut cache = NameCache::new(&scanner);
        for name in [
            "Host",
            "accept",
            "user-agent",
            "Referer",
            "content-type",
            "x-request-id",
        ] {
            assert!(cache.neutral(&scanner, NameKind::Header, name), "{name}");
        }
        for name in ["id", "name", "status", "items", "title", "url"] {
            assert!(cache.neutral(&scanner, NameKind::JsonKey, name), "{name}");
        }
        // Every credential-bearing name is told apart (the unsafe variant, treating
        // them as text, would miss what the name dictionaries catch).
        for name in [
            "Authorization",
            "Proxy-Authorization",
            "cookie",
            "Set-Cookie",
            "X-API-Key",
            "x-amz-security-token",
            "X-Okta-Session-Id",
            "x-csrf-token",
            "X-Auth-Token",
        ] {
            assert!(!cache.neutral(&scanner, NameKind::Header, name), "{name}");
            let v = "Zq9Hk2Lm7Vp4Qx1Zt8Rw3Nc6Yb0Jf5GdEr";
            let named = scanner.scan_field(Field::Header { name }, &format!("a={v}"));
            let named2 = scanner.scan_field(Field::Header { name }, v);
            assert!(!named.is_empty() || !named2.is_empty(), "{name}");
        }
        for name in [
            "password",
            "access_token",
            "refresh_token",
            "id_token",
            "client_secret",
            "apiToken",
            "sessionId",
            "authorization",
            "cookie",
            "SAMLResponse",
            "csrf_token",
        ] {
            assert!(!cache.neutral(&scanner, NameKind::JsonKey, name), "{name}");
        }
        // For neutral names the field and the text pass agree on varied values.
        let values = [
            "plain words here",
            "Bearer Zq9Hk2Lm7Vp4Qx1Zt8Rw3Nc6Yb0Jf5GdEr",
            "https://a.example/cb?code=SplxlOBeZQQYbYS6WxSbIAqq&state=af0ifjsldkj",
            "token=Zq9Hk2Lm7Vp4Qx1Zt8Rw3Nc6Yb0Jf5GdEr",
            "ghp_0123456789abcdefghijklmnopqrstuvwxyz",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLWJ5dGVz",
        ];
        for v in values {
            let text = detections(&scanner, Field::Text, v);
            for name in ["Host", "accept", "Referer"] {
                assert_eq!(
                    detections(&scanner, Field::Header { name }, v),
                    text,
                    "{name}"
                );
            }
            for name in ["id", "name", "url"] {
                assert_eq!(
                    detections(&scanner, Field::JsonKey { name }, v),
                    text,
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn a_value_remembered_clean_is_still_checked_for_secrets_learned_later() {
        let scanner = Scanner::new();
        let redactor = Redactor::new([5; 32]);
        let mut e = Engine::new(
            &scanner,
            Mode::Sanitize(&redactor),
            crate::SanitizeOptions::default().limits(),
            16,
        );
        let secret = "Zq9Hk2Lm7Vp4Qx1Zt8Rw3Nc6Yb0Jf5GdEr";
        let text = format!("note {secret} end");
        assert!(
            e.redact(&text, Field::Text, LocationKind::JsonValue)
                .is_none(),
            "clean as text"
        );
        let header = format!("Bearer {secret}");
        let name = "Authorization";
        assert!(
            e.redact(&header, Field::Header { name }, LocationKind::Header)
                .is_some()
        );
        let mut unit = Value::Str(Str::owned(text.clone()));
        e.end_unit(Src::new("", ""), &mut unit);
        // Same field, same value: remembered clean, but the secret is now known.
        let again = e
            .redact(&text, Field::Text, LocationKind::JsonValue)
            .unwrap();
        assert!(!again.contains(secret), "{again}");
        assert!(again.starts_with("note [redacted:"), "{again}");
    }

    #[test]
    fn a_remembered_redaction_is_redone_once_a_new_secret_is_known() {
        let scanner = Scanner::new();
        let redactor = Redactor::new([5; 32]);
        let mut e = Engine::new(
            &scanner,
            Mode::Sanitize(&redactor),
            crate::SanitizeOptions::default().limits(),
            16,
        );
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLmNvbSIsImV4cCI6MTkwMDAwMDAwMH0.c2lnbmF0dXJlLWJ5dGVzLXNpZ25hdHVyZQ";
        let opaque = "Zq9Hk2Lm7Vp4Qx1Zt8Rw3Nc6Yb0Jf5GdEr";
        let value = format!("{jwt} note {opaque}");
        let first = e
            .redact(&value, Field::Text, LocationKind::JsonValue)
            .unwrap();
        assert!(!first.contains("c2lnbmF0dXJl"), "{first}");
        assert!(first.contains(opaque), "the opaque value is clean as text");
        // The same value again is answered from memory: the same text, counted again.
        let (redactions, by_class) = (e.counts.redactions, e.counts.by_class.clone());
        let again = e
            .redact(&value, Field::Text, LocationKind::JsonValue)
            .unwrap();
        assert_eq!(again, first);
        assert_eq!(e.counts.redactions, 2 * redactions);
        assert_eq!(e.counts.by_class.values().sum::<u64>(), 2 * redactions);
        assert_eq!(
            by_class.keys().collect::<Vec<_>>(),
            e.counts.by_class.keys().collect::<Vec<_>>()
        );
        // Learn the opaque value elsewhere; the next unit knows it. The remembered
        // text still holds it, so it must not be reused (the unsafe variant, a memo
        // that ignores the known-secrets generation, hands it back here).
        let header = format!("Bearer {opaque}");
        let name = "Authorization";
        assert!(
            e.redact(&header, Field::Header { name }, LocationKind::Header)
                .is_some()
        );
        e.end_unit(Src::new("", ""), &mut Value::Null);
        let later = e
            .redact(&value, Field::Text, LocationKind::JsonValue)
            .unwrap();
        assert!(!later.contains(opaque), "{later}");
        assert!(!later.contains("c2lnbmF0dXJl"), "{later}");
        assert_eq!(e.counts.remaining, 0, "nothing was refused along the way");
    }

    #[test]
    fn cached_markers_equal_fresh_ones_and_depend_on_the_cookie_name() {
        let redactor = Redactor::new([7; 32]);
        let scanner = Scanner::new();
        let cookie = scanner.rule("session-cookie").unwrap();
        let jwt = scanner.rule("jwt").unwrap();
        let secret = "Zq9Hk2Lm7Vp4Qx1Zt8Rw3Nc6Yb0Jf5GdEr";
        let token = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLmNvbSIsImV4cCI6MTkwMDAwMDAwMH0.c2lnbmF0dXJlLWJ5dGVzLXNpZ25hdHVyZQ";
        let values = [
            (cookie, format!("sid={secret}; theme=dark"), "sid="),
            (cookie, format!("a=1; sid={secret}"), "sid="),
            (cookie, format!("JSESSIONID={secret}"), "JSESSIONID="),
            (cookie, format!("x=1;connect.sid={secret}"), "connect.sid="),
            (jwt, format!("Bearer {token}"), "Bearer "),
            (jwt, token.to_owned(), ""),
            (cookie, format!("{}={secret}", "n".repeat(100)), "="),
        ];
        let mut cache = MarkerCache::default();
        let mut fresh = Vec::new();
        for round in 0..2 {
            for (rule, value, before) in &values {
                let at = value.find(before).unwrap() + before.len();
                let len = if rule.id == "jwt" {
                    token.len()
                } else {
                    secret.len()
                };
                let m = Match {
                    rule,
                    span: at..at + len,
                };
                let expected = redactor.marker(&m, value);
                assert_eq!(cache.marker(&redactor, &m, value), expected, "{round}");
                if round == 0 {
                    fresh.push(expected);
                }
            }
        }
        // The unsafe variant, a cache keyed by rule and secret alone, would hand the
        // `sid` marker to the `JSESSIONID` cookie: the fresh markers differ.
        assert_ne!(fresh[0], fresh[2]);
        assert_eq!(fresh[0], fresh[1], "same name, same marker");
        assert!(
            fresh
                .iter()
                .all(|m| !m.contains(secret) && !m.contains("c2lnbmF0dXJl"))
        );
        assert!(
            cache.map.len() <= 6,
            "the 100-byte look-behind is not cached"
        );
    }

    #[test]
    fn a_secret_learned_again_adds_nothing_and_new_ones_still_count() {
        let scanner = Scanner::new();
        let redactor = Redactor::new([3; 32]);
        let rule = scanner.rule("session-cookie").unwrap();
        let mut known = KnownSecrets::new(64);
        known.learn("abc/def+ghi%2Fjkl", rule, &redactor);
        let forms = known.secrets.len();
        assert_eq!(forms, 3, "raw, percent-decoded and percent-encoded forms");
        assert!(known.refresh());
        let generation = known.generation;
        known.learn("abc/def+ghi%2Fjkl", rule, &redactor);
        assert_eq!(known.secrets.len(), forms);
        assert!(
            !known.refresh(),
            "nothing new: the automata are not rebuilt"
        );
        assert_eq!(known.generation, generation);
        known.learn("another-secret-value", rule, &redactor);
        assert!(known.secrets.len() > forms);
        assert!(known.refresh());
        assert_ne!(known.generation, generation);
        let mut found = Vec::new();
        known.find(
            "x abc%2Fdef%2Bghi%252Fjkl y another-secret-value",
            &mut found,
        );
        assert_eq!(found.len(), 2, "the encoded form and the new secret");
    }

    #[test]
    fn for_each_quote_reports_every_quote_in_order() {
        // Quotes at every offset of a word, next to bytes a carry could confuse.
        for len in 0..40usize {
            for fill in [b'a', b'"' - 1, b'"' + 1, 0x00, 0x7f, 0x80, 0xa2, 0xff] {
                for step in 1..5usize {
                    let bytes: Vec<u8> = (0..len)
                        .map(|i| if i % step == 0 { b'"' } else { fill })
                        .collect();
                    let expected: Vec<usize> = (0..len).filter(|i| bytes[*i] == b'"').collect();
                    let mut got = Vec::new();
                    assert!(for_each_quote(&bytes, |p| {
                        got.push(p);
                        true
                    }));
                    assert_eq!(got, expected, "len {len} fill {fill:#x} step {step}");
                }
            }
        }
        // Stops when asked.
        let mut seen = 0;
        assert!(!for_each_quote(br#"a"b"c"d"e"f"g"h"i"#, |_| {
            seen += 1;
            seen < 3
        }));
        assert_eq!(seen, 3);
    }

    #[test]
    fn percent_forms() {
        assert_eq!(percent_decode("a%2Fb%2bc").as_deref(), Some("a/b+c"));
        assert_eq!(percent_decode("abc"), None);
        assert_eq!(percent_encode("a/b+c=").as_deref(), Some("a%2Fb%2Bc%3D"));
        assert_eq!(percent_encode("abc-_.~"), None);
    }

    #[test]
    fn attribute_spans() {
        let tag = r#"<input type="hidden" name='SAMLResponse' value="PHNhbWw+">"#;
        let n = attr(tag, "name").unwrap();
        assert_eq!(tag.get(n), Some("SAMLResponse"));
        let v = attr(tag, "value").unwrap();
        assert_eq!(tag.get(v), Some("PHNhbWw+"));
        assert!(attr("<input data-name=\"x\">", "name").is_none());
    }
}
