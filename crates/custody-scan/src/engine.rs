//! The [`Scanner`]: one Aho-Corasick pass over all rule anchors (a literal prefilter,
//! ASCII case-insensitive, flattened into a dense transition table that reports every
//! fragment occurrence), then confirmation of each candidate on a bounded window, then
//! span tidying (markers carved out, whitespace trimmed).

use std::fmt;
use std::ops::Range;

use aho_corasick::automaton::Automaton as _;
use aho_corasick::{Anchored, MatchKind};
use sha2::{Digest as _, Sha256};

use crate::catalogue::{Cand, Confirm, FRAGMENTS, RULES, SPECS, confirm_named, confirm_prefix};
use crate::rule::Rule;

/// A detection: the rule and the byte span of the *secret part* inside the input.
///
/// `Debug` shows the rule id and span only, never the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Match {
    /// The rule that matched.
    pub rule: &'static Rule,
    /// Byte span of the secret inside the scanned input.
    pub span: Range<usize>,
}

impl fmt::Debug for Match {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Match")
            .field("rule", &self.rule.id)
            .field("span", &self.span)
            .finish()
    }
}

/// One anchor of the catalogue, found through a fragment at `offset` inside it.
struct AnchorHit {
    anchor: &'static str,
    offset: usize,
    case_sensitive: bool,
    /// Index of the anchor in the deduplicated anchor table.
    id: usize,
    /// Indexes of the rules that own the anchor.
    rules: Vec<usize>,
}

/// The compiled detector: rule catalogue plus one multi-pattern prefilter.
/// Build once (`Scanner::new`), share by `&` (it is `Send + Sync`).
pub struct Scanner {
    /// ASCII-case-insensitive DFA over [`FRAGMENTS`], every occurrence reported.
    finder: Table,
    /// For each fragment, the anchors that contain it.
    fragment_anchors: Vec<Vec<AnchorHit>>,
    version: String,
}

impl fmt::Debug for Scanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scanner")
            .field("rules", &RULES.len())
            .field("fragments", &self.fragment_anchors.len())
            .field("version", &self.version)
            .finish()
    }
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new()
    }
}

/// Every position where the (lower-case) `fragment` occurs in the lower-cased anchor.
fn fragment_offsets(anchor: &str, fragment: &str) -> Vec<usize> {
    let lower = anchor.to_ascii_lowercase();
    let (a, f) = (lower.as_bytes(), fragment.as_bytes());
    (0..=a.len().saturating_sub(f.len()))
        .filter(|&k| a.get(k..k.saturating_add(f.len())) == Some(f))
        .collect()
}

impl Scanner {
    /// Compiles the default catalogue.
    #[must_use]
    pub fn new() -> Scanner {
        // Deduplicated anchors: (text, case-sensitive) -> owning rules.
        let mut anchors: Vec<(&'static str, bool, Vec<usize>)> = Vec::new();
        for (index, spec) in SPECS.iter().enumerate() {
            for &anchor in spec.anchors {
                let same = |(a, cs, _): &&mut (&str, bool, Vec<usize>)| {
                    *cs == spec.case_sensitive
                        && if *cs {
                            *a == anchor
                        } else {
                            a.eq_ignore_ascii_case(anchor)
                        }
                };
                if let Some(entry) = anchors.iter_mut().find(same) {
                    entry.2.push(index);
                } else {
                    anchors.push((anchor, spec.case_sensitive, vec![index]));
                }
            }
        }
        let fragment_anchors: Vec<Vec<AnchorHit>> = FRAGMENTS
            .iter()
            .map(|fragment| {
                let mut hits = Vec::new();
                for (id, (anchor, cs, rules)) in anchors.iter().enumerate() {
                    for offset in fragment_offsets(anchor, fragment) {
                        hits.push(AnchorHit {
                            anchor,
                            offset,
                            case_sensitive: *cs,
                            id,
                            rules: rules.clone(),
                        });
                    }
                }
                hits
            })
            .collect();
        // A DFA over ~70 short fragments, flattened into a dense table: one load
        // and one compare per input byte, no per-rule passes. (Teddy was measured
        // slower here: with dozens of lower-case letter fragments its nibble
        // fingerprints match almost everywhere.)
        #[expect(
            clippy::expect_used,
            reason = "the fragments are compile-time literals; `scanner_builds` tests this build"
        )]
        let finder = Table::build(FRAGMENTS).expect("static fragments compile");
        Scanner {
            finder,
            fragment_anchors,
            version: catalogue_version(),
        }
    }

    /// The rule catalogue.
    #[must_use]
    pub fn rules(&self) -> &'static [Rule] {
        &RULES
    }

    /// A version string that changes whenever the catalogue (ids, classes,
    /// confidences, descriptions, anchors) changes.
    #[must_use]
    pub fn rules_version(&self) -> &str {
        &self.version
    }

    /// Looks a rule up by id.
    #[must_use]
    pub fn rule(&self, id: &str) -> Option<&'static Rule> {
        crate::catalogue::rule(id)
    }

    /// Scans free bytes in one multi-pattern pass (literal prefilter + confirmation).
    /// Matches are sorted, do not overlap, and never lie inside a marker.
    #[must_use]
    pub fn scan(&self, haystack: &[u8]) -> Vec<Match> {
        let raw = self.scan_raw(haystack);
        if raw.is_empty() {
            return raw;
        }
        resolve(tidy(haystack, raw))
    }

    /// The anchored pass without marker filtering or overlap resolution.
    pub(crate) fn scan_raw(&self, haystack: &[u8]) -> Vec<Match> {
        self.scan_raw_with(haystack, false)
    }

    /// The anchored pass; `nested` skips the header-line confirmers, which hand their
    /// value back to the field logic (this bounds that recursion to one level).
    pub(crate) fn scan_raw_with(&self, haystack: &[u8], nested: bool) -> Vec<Match> {
        let mut out = Vec::new();
        // (anchor id, anchor start) already confirmed: an anchor holding two
        // fragments (`session_token`) is reached twice.
        let mut seen: Vec<(usize, usize)> = Vec::new();
        let mut examined = [0usize; crate::catalogue::N];
        let mut on_hit = |fragment: usize, start: usize| {
            let Some(hits) = self.fragment_anchors.get(fragment) else {
                return;
            };
            for hit in hits {
                let Some(s) = start.checked_sub(hit.offset) else {
                    continue;
                };
                let e = s.saturating_add(hit.anchor.len());
                let Some(text) = haystack.get(s..e) else {
                    continue;
                };
                let found = if hit.case_sensitive {
                    text == hit.anchor.as_bytes()
                } else {
                    text.eq_ignore_ascii_case(hit.anchor.as_bytes())
                };
                if !found || seen.contains(&(hit.id, s)) {
                    continue;
                }
                seen.retain(|&(_, p)| p.saturating_add(64) > s);
                seen.push((hit.id, s));
                for &index in &hit.rules {
                    let Some(done) = examined.get_mut(index) else {
                        continue;
                    };
                    if s < *done {
                        continue;
                    }
                    let cell = std::cell::Cell::new(*done);
                    self.confirm(index, haystack, s, e, nested, &cell, &mut out);
                    *done = cell.get();
                }
            }
        };
        self.finder.for_each(haystack, &mut on_hit);
        out.retain(|m| m.span.start < m.span.end && m.span.end <= haystack.len());
        out
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one private call site, the hot loop"
    )]
    fn confirm(
        &self,
        index: usize,
        haystack: &[u8],
        start: usize,
        end: usize,
        nested: bool,
        examined: &std::cell::Cell<usize>,
        out: &mut Vec<Match>,
    ) {
        let (Some(spec), Some(rule)) = (SPECS.get(index), RULES.get(index)) else {
            return;
        };
        if nested && matches!(rule.id, "auth-header" | "cookie-value") {
            return;
        }
        let cand = Cand {
            hay: haystack,
            start,
            end,
            rule,
            scanner: self,
            examined,
        };
        match spec.confirm {
            Confirm::Prefix {
                body,
                min,
                max,
                check,
            } => confirm_prefix(&cand, body, min, max, check, out),
            Confirm::Named { check } => confirm_named(&cand, check, out),
            Confirm::Custom(f) => f(&cand, out),
            Confirm::Position => {}
        }
    }
}

/// The prefilter automaton as a dense transition table: one 256-entry row per
/// state, rows of match states last, so the hot loop is one load and one compare per
/// byte. Every fragment occurrence is reported (standard, overlapping semantics), in
/// order of start position.
struct Table {
    rows: Vec<[u32; 256]>,
    start: u32,
    /// Index of the first match row.
    first_match: u32,
    /// For each match row (in order), the (fragment, length) pairs ending there.
    matches: Vec<Vec<(usize, usize)>>,
    /// Length of the longest fragment.
    max_len: usize,
}

/// Why the prefilter table could not be built.
#[derive(Debug, thiserror::Error)]
enum TableError {
    /// The automaton builder rejected the fragments.
    #[error("automaton build failed: {0}")]
    Build(#[from] aho_corasick::BuildError),
    /// The unanchored start state is unavailable.
    #[error("automaton has no unanchored start state")]
    Start,
    /// More states than the table's index type holds.
    #[error("automaton too large")]
    TooLarge,
}

impl Table {
    fn build(fragments: &[&str]) -> Result<Table, TableError> {
        let dfa = aho_corasick::dfa::Builder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(fragments)?;
        let start = dfa
            .start_state(Anchored::No)
            .map_err(|_| TableError::Start)?;
        // Every state reachable from the start state, breadth first; `seen` is
        // indexed by the automaton's own state id.
        let mut states = vec![start];
        let mut seen = vec![false; start.as_usize().saturating_add(1)];
        let mut i = 0usize;
        while let Some(&sid) = states.get(i) {
            if let Some(flag) = seen.get_mut(sid.as_usize()) {
                *flag = true;
            }
            for byte in 0..=255u8 {
                let to = dfa.next_state(Anchored::No, sid, byte);
                let k = to.as_usize();
                if seen.len() <= k {
                    seen.resize(k.saturating_add(1), false);
                }
                if seen.get(k) == Some(&false) {
                    if let Some(flag) = seen.get_mut(k) {
                        *flag = true;
                    }
                    states.push(to);
                }
            }
            i = i.saturating_add(1);
        }
        // Non-match states first, then match states.
        let (plain, matching): (Vec<_>, Vec<_>) =
            states.iter().copied().partition(|&sid| !dfa.is_match(sid));
        let mut row_of = vec![u32::MAX; seen.len()];
        for (k, sid) in plain.iter().chain(matching.iter()).enumerate() {
            let r = u32::try_from(k).map_err(|_| TableError::TooLarge)?;
            if let Some(slot) = row_of.get_mut(sid.as_usize()) {
                *slot = r;
            }
        }
        let at = |sid: aho_corasick::automaton::StateID| {
            row_of
                .get(sid.as_usize())
                .copied()
                .filter(|&r| r != u32::MAX)
                .ok_or(TableError::TooLarge)
        };
        let mut rows = Vec::with_capacity(states.len());
        for &sid in plain.iter().chain(matching.iter()) {
            let mut row = [0u32; 256];
            for (byte, cell) in (0..=255u8).zip(row.iter_mut()) {
                *cell = at(dfa.next_state(Anchored::No, sid, byte))?;
            }
            rows.push(row);
        }
        let matches = matching
            .iter()
            .map(|&sid| {
                (0..dfa.match_len(sid))
                    .map(|k| {
                        let pid = dfa.match_pattern(sid, k);
                        (pid.as_usize(), dfa.pattern_len(pid))
                    })
                    .collect()
            })
            .collect();
        Ok(Table {
            rows,
            start: at(start)?,
            first_match: u32::try_from(plain.len()).map_err(|_| TableError::TooLarge)?,
            matches,
            max_len: fragments.iter().map(|f| f.len()).max().unwrap_or(0),
        })
    }

    /// Runs the automaton from `state` over `hay[i..]` until it enters a match
    /// state; returns that state and the position after the byte that entered it,
    /// or the final state and `hay.len()`.
    #[inline]
    fn advance(&self, mut state: u32, hay: &[u8], mut i: usize) -> (u32, usize) {
        let Some(rest) = hay.get(i..) else {
            return (state, hay.len());
        };
        let (rows, first_match) = (self.rows.as_slice(), self.first_match);
        for &byte in rest {
            i = i.wrapping_add(1);
            let Some(row) = rows.get(state as usize) else {
                return (self.start, i);
            };
            #[expect(
                clippy::indexing_slicing,
                reason = "a u8 index into a 256-entry row is always in bounds"
            )]
            let to = row[usize::from(byte)];
            state = to;
            if state >= first_match {
                return (state, i);
            }
        }
        (state, hay.len())
    }

    /// Calls `on_hit(fragment, start)` for every fragment occurrence, sorted by
    /// (start, fragment).
    fn for_each(&self, hay: &[u8], on_hit: &mut impl FnMut(usize, usize)) {
        let mut pending: Vec<(usize, usize)> = Vec::new();
        let mut flush = |pending: &mut Vec<(usize, usize)>, upto: usize| {
            pending.sort_unstable();
            let ready = pending.partition_point(|&(s, _)| s < upto);
            for (s, f) in pending.drain(..ready) {
                on_hit(f, s);
            }
        };
        let (mut state, mut i) = (self.start, 0usize);
        while i < hay.len() {
            (state, i) = self.advance(state, hay, i);
            if state < self.first_match {
                break;
            }
            let row = state.saturating_sub(self.first_match) as usize;
            for &(f, len) in self.matches.get(row).map_or(&[][..], Vec::as_slice) {
                pending.push((i.saturating_sub(len), f));
            }
            if pending.len() >= 256 {
                // Later hits end after `i`, so they start at or after this bound.
                flush(&mut pending, i.saturating_sub(self.max_len));
            }
        }
        flush(&mut pending, usize::MAX);
    }
}

fn catalogue_version() -> String {
    let mut hasher = Sha256::new();
    for (rule, spec) in RULES.iter().zip(SPECS.iter()) {
        hasher.update(rule.id.as_bytes());
        hasher.update(spec.id.as_bytes());
        hasher.update([0]);
        hasher.update(rule.class.as_str().as_bytes());
        hasher.update(rule.confidence.as_str().as_bytes());
        hasher.update(rule.description.as_bytes());
        for a in spec.anchors {
            hasher.update([1]);
            hasher.update(a.as_bytes());
        }
        hasher.update([2]);
    }
    let digest = hasher.finalize();
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{}+{}", env!("CARGO_PKG_VERSION"), hex)
}

/// Makes spans safe to report: markers are carved out of every span (a span never
/// starts, ends or lies inside a marker; what remains on either side of a marker is
/// kept, fail-closed, if it holds an alphanumeric byte), and surrounding ASCII
/// whitespace is trimmed. Out-of-range and empty spans are dropped.
pub(crate) fn tidy(hay: &[u8], matches: Vec<Match>) -> Vec<Match> {
    let markers = crate::redact::marker_spans(hay);
    let mut out = Vec::with_capacity(matches.len());
    for m in matches {
        if m.span.start >= m.span.end || m.span.end > hay.len() {
            continue;
        }
        let mut pieces = vec![m.span.clone()];
        for k in markers
            .iter()
            .filter(|k| k.start < m.span.end && m.span.start < k.end)
        {
            pieces = pieces
                .into_iter()
                .flat_map(|p| [p.start..p.end.min(k.start), p.start.max(k.end)..p.end])
                .filter(|p| p.start < p.end)
                .collect();
        }
        let carved = pieces.len() != 1 || pieces.first() != Some(&m.span);
        for p in pieces {
            let Some(text) = hay.get(p.clone()) else {
                continue;
            };
            let lead = text.len().saturating_sub(text.trim_ascii_start().len());
            let trimmed = text.trim_ascii();
            if trimmed.is_empty() || (carved && !trimmed.iter().any(u8::is_ascii_alphanumeric)) {
                continue;
            }
            let start = p.start.saturating_add(lead);
            out.push(Match {
                rule: m.rule,
                span: start..start.saturating_add(trimmed.len()),
            });
        }
    }
    out
}

fn rule_index(rule: &Rule) -> usize {
    RULES
        .iter()
        .position(|r| std::ptr::eq(r, rule))
        .unwrap_or(usize::MAX)
}

/// Sorts matches and merges overlapping ones: the union span, labelled with the
/// better rule (higher confidence, then earlier in the catalogue).
pub(crate) fn resolve(mut matches: Vec<Match>) -> Vec<Match> {
    matches.sort_by(|a, b| {
        a.span
            .start
            .cmp(&b.span.start)
            .then(b.span.end.cmp(&a.span.end))
    });
    let mut out: Vec<Match> = Vec::with_capacity(matches.len());
    for m in matches {
        if let Some(last) = out.last_mut()
            && m.span.start < last.span.end
        {
            let better = (m.rule.confidence, std::cmp::Reverse(rule_index(m.rule)))
                > (
                    last.rule.confidence,
                    std::cmp::Reverse(rule_index(last.rule)),
                );
            if better {
                last.rule = m.rule;
            }
            last.span.end = last.span.end.max(m.span.end);
            continue;
        }
        out.push(m);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanner_builds() {
        let scanner = Scanner::new();
        assert_eq!(scanner.rules().len(), crate::catalogue::N);
        assert!(!scanner.rules_version().is_empty());
    }

    #[test]
    fn specs_align_with_rules() {
        for (rule, spec) in RULES.iter().zip(SPECS.iter()) {
            assert_eq!(rule.id, spec.id);
        }
        let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len(), "duplicate rule id");
    }

    /// Every anchor is reachable: its lower-case form (the automaton ignores ASCII
    /// case) contains a fragment registered for it.
    #[test]
    fn every_anchor_is_covered_by_a_fragment() {
        let scanner = Scanner::new();
        for spec in &SPECS {
            for anchor in spec.anchors {
                let form = anchor.to_ascii_lowercase();
                let covered = FRAGMENTS.iter().enumerate().any(|(i, f)| {
                    form.contains(f)
                        && scanner.fragment_anchors[i]
                            .iter()
                            .any(|h| h.anchor.eq_ignore_ascii_case(anchor))
                });
                assert!(covered, "anchor {anchor:?} of {} not covered", spec.id);
            }
        }
    }

    #[test]
    fn fragments_are_lower_case_and_selective() {
        for f in FRAGMENTS {
            assert!(f.len() >= 3, "{f}");
            assert_eq!(*f, f.to_ascii_lowercase());
        }
    }

    #[test]
    fn anchors_far_into_the_input_are_found() {
        let scanner = Scanner::new();
        for shift in [0usize, 1, 5, 10, 19, 20, 31, 40] {
            let mut hay = vec![b' '; 65536usize.saturating_sub(shift)];
            hay.extend_from_slice(b"key AKIAIOSFODNN7EXAMPLE end");
            let found = scanner.scan(&hay);
            assert_eq!(found.len(), 1, "shift {shift}");
            assert_eq!(found[0].rule.id, "aws-access-key-id");
        }
    }

    /// The unsafe variant (drop a span only when it lies wholly inside a marker) keeps
    /// a span that starts at the blank before a marker and runs past it; `tidy`
    /// carves the marker out and trims the blanks.
    #[test]
    fn tidy_carves_markers_and_trims_whitespace() {
        let rule = crate::catalogue::rule("auth-header").unwrap();
        let hay = b"Bearer [redacted:secret:ab12cd34ef56] trailing";
        let span = 6..hay.len();
        let markers = crate::redact::marker_spans(hay);
        assert_eq!(markers.len(), 1);
        let unsafe_keeps = !markers
            .iter()
            .any(|k| k.start <= span.start && span.end <= k.end);
        assert!(unsafe_keeps, "the containment-only filter keeps the span");
        let out = tidy(hay, vec![Match { rule, span }]);
        assert_eq!(out.len(), 1);
        assert_eq!(&hay[out[0].span.clone()], b"trailing");
        // A span that is only a marker plus blanks and punctuation disappears.
        let out = tidy(hay, vec![Match { rule, span: 6..38 }]);
        assert!(out.is_empty(), "{out:?}");
        // Whitespace around an ordinary span is trimmed.
        let out = tidy(b"  abc  ", vec![Match { rule, span: 0..7 }]);
        assert_eq!(out[0].span, 2..5);
    }

    /// The flattened table reports exactly the occurrences of the library's own
    /// overlapping search, sorted by start, and a superset of the leftmost-first
    /// candidates the engine used before.
    #[test]
    fn table_matches_library_overlapping_search() {
        let table = Table::build(FRAGMENTS).unwrap();
        let hay = b"GET /x?access_token=ya29.AbC&sig=1 HTTP/1.1\nCookie: SESSION_TOKEN=eyJhbGci; \
                    Authorization: Bearer ghp_abc -----BEGIN RSA key xoxb-1 AKIAIOSFODNN7 \
                    sessionid ssssion oken tokentoken \xff\x00ssid";
        // Many hits (more than one flush of the pending buffer) are kept in order.
        let dense = b"session_token=x; ".repeat(300);
        let mut got_dense = Vec::new();
        table.for_each(&dense, &mut |f, s| got_dense.push((s, f)));
        let mut got = Vec::new();
        table.for_each(hay, &mut |f, s| got.push((s, f)));
        let ac = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(FRAGMENTS)
            .unwrap();
        let mut want: Vec<(usize, usize)> = ac
            .find_overlapping_iter(&hay[..])
            .map(|m| (m.start(), m.pattern().as_usize()))
            .collect();
        want.sort_unstable();
        assert_eq!(got, want);
        let leftmost = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostFirst)
            .build(FRAGMENTS)
            .unwrap();
        for m in leftmost.find_iter(&hay[..]) {
            assert!(got.contains(&(m.start(), m.pattern().as_usize())));
        }
        assert!(got.len() > 10);
        let mut want_dense: Vec<(usize, usize)> = ac
            .find_overlapping_iter(&dense[..])
            .map(|m| (m.start(), m.pattern().as_usize()))
            .collect();
        want_dense.sort_unstable();
        assert!(want_dense.len() > 512);
        assert_eq!(got_dense, want_dense);
    }

    #[test]
    fn resolve_merges_overlaps_keeping_the_better_rule() {
        let jwt = crate::catalogue::rule("jwt").unwrap();
        let bearer = crate::catalogue::rule("auth-bearer").unwrap();
        let out = resolve(vec![
            Match {
                rule: bearer,
                span: 5..20,
            },
            Match {
                rule: jwt,
                span: 5..20,
            },
            Match {
                rule: bearer,
                span: 30..31,
            },
        ]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].rule.id, "jwt");
        assert_eq!(out[0].span, 5..20);
    }
}
