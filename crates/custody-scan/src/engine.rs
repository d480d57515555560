//! The [`Scanner`]: a two-tier literal prefilter, then confirmation of each candidate
//! on a bounded window, then span tidying (markers carved out, whitespace trimmed).
//!
//! Tier 1 ([`Prefilter`]) folds the input to lower case in 16 KiB chunks and runs two
//! SIMD Teddy searches (`aho_corasick::packed`) over it: three-byte token prefixes
//! (`eyj`, `://`, ...) and four-byte literals that every anchor contains (token
//! prefixes and the distinctive part of each credential name). Tier 2 is the
//! ASCII-case-insensitive Aho-Corasick automaton over all rule fragments, flattened
//! into a dense table ([`Table`]); it runs only on windows around tier-1 hits, each
//! window wide enough to hold every anchor that contains the literal. Every fragment
//! occurrence that lies inside a matching anchor is therefore reported exactly as a
//! full pass of the automaton reports it, in the same order (a differential test
//! checks this), so findings are those of the full pass. Inputs shorter than
//! [`PREFILTER_MIN_LEN`], and builds where Teddy is unavailable, use the full pass.

use std::fmt;
use std::ops::Range;

use aho_corasick::automaton::Automaton as _;
use aho_corasick::packed;
use aho_corasick::{Anchored, MatchKind, Span};
use sha2::{Digest as _, Sha256};

use crate::catalogue::{
    Cand, Confirm, FRAGMENTS, PREFILTER, PREFILTER_SHORT, RULES, SPECS, confirm_named,
    confirm_prefix,
};
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
    /// The SIMD literal prefilter that limits `finder` to windows; `None` when Teddy
    /// is unavailable on this CPU or a literal does not cover every anchor.
    prefilter: Option<Prefilter>,
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
        let anchor_texts: Vec<&str> = anchors.iter().map(|(a, _, _)| *a).collect();
        Scanner {
            finder,
            prefilter: Prefilter::build(&anchor_texts),
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
        let prefilter = self
            .prefilter
            .as_ref()
            .filter(|_| haystack.len() >= PREFILTER_MIN_LEN);
        self.scan_raw_using(haystack, nested, prefilter)
    }

    /// The anchored pass over the candidates of `prefilter`'s windows, or of the full
    /// automaton pass when `prefilter` is `None`.
    fn scan_raw_using(
        &self,
        haystack: &[u8],
        nested: bool,
        prefilter: Option<&Prefilter>,
    ) -> Vec<Match> {
        let mut out = Vec::new();
        // (anchor id, anchor start) already confirmed: an anchor holding two
        // fragments (`session_token`) is reached twice.
        let mut seen: Vec<(usize, usize)> = Vec::new();
        let mut examined = [0usize; crate::catalogue::N];
        let mut on_hit = |fragment: usize, start: usize| {
            self.for_each_anchor(haystack, fragment, start, |hit, s, e| {
                if seen.contains(&(hit.id, s)) {
                    return;
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
            });
        };
        match prefilter {
            Some(p) => p.for_each(&self.finder, haystack, &mut on_hit),
            None => self.finder.for_each(haystack, &mut on_hit),
        }
        out.retain(|m| m.span.start < m.span.end && m.span.end <= haystack.len());
        out
    }

    /// Calls `f(anchor, start, end)` for every anchor of `fragment` that the input
    /// holds around the fragment occurrence at `start` (exact bytes for
    /// case-sensitive anchors, ASCII case folded otherwise). A fragment occurrence
    /// with no such anchor is inert: it changes no state of the pass.
    fn for_each_anchor(
        &self,
        haystack: &[u8],
        fragment: usize,
        start: usize,
        mut f: impl FnMut(&AnchorHit, usize, usize),
    ) {
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
            if found {
                f(hit, s, e);
            }
        }
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
        self.run(hay, 0, &mut Vec::new(), on_hit);
    }

    /// Runs the automaton from its start state over `hay[from..]` and calls
    /// `on_hit(fragment, start)` for every fragment occurrence inside that range,
    /// sorted by (start, fragment). `pending` is scratch space (left empty).
    fn run(
        &self,
        hay: &[u8],
        from: usize,
        pending: &mut Vec<(usize, usize)>,
        on_hit: &mut impl FnMut(usize, usize),
    ) {
        let mut flush = |pending: &mut Vec<(usize, usize)>, upto: usize| {
            pending.sort_unstable();
            let ready = pending.partition_point(|&(s, _)| s < upto);
            for (s, f) in pending.drain(..ready) {
                on_hit(f, s);
            }
        };
        let (mut state, mut i) = (self.start, from);
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
                flush(pending, i.saturating_sub(self.max_len));
            }
        }
        flush(pending, usize::MAX);
    }
}

/// Inputs shorter than this go straight to the full automaton pass: folding and two
/// Teddy calls cost more than the table walk over a few hundred bytes.
pub(crate) const PREFILTER_MIN_LEN: usize = 256;

/// Bytes folded and searched per step (the fold buffer stays in L1/L2 cache).
const CHUNK: usize = 16 * 1024;

/// Longest prefilter literal minus one: each chunk is folded with this many bytes
/// of the next, so a literal that crosses the chunk end is still found.
const LOOKAHEAD: usize = 3;

/// How far around a literal hit the automaton must run: `back` bytes before the
/// literal's first byte and `ahead` bytes from it, enough to hold every anchor
/// that was assigned the literal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Reach {
    back: usize,
    ahead: usize,
}

/// Tier 1: two Teddy searches over the input folded to ASCII lower case, one for
/// the three-byte literals ([`PREFILTER_SHORT`]), one for the four-byte ones
/// ([`PREFILTER`]). Each anchor is assigned one literal it contains; a hit of that
/// literal opens an automaton window over the anchor's possible extent.
struct Prefilter {
    short: packed::Searcher,
    long: packed::Searcher,
    /// Per pattern id of `short`: the window, or `None` if no anchor uses it.
    short_reach: Vec<Option<Reach>>,
    /// Per pattern id of `long`.
    long_reach: Vec<Option<Reach>>,
    /// The largest `back` of any literal.
    back_max: usize,
}

impl fmt::Debug for Prefilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prefilter")
            .field("short", &PREFILTER_SHORT.len())
            .field("long", &PREFILTER.len())
            .field("back_max", &self.back_max)
            .finish()
    }
}

impl Prefilter {
    /// Builds the prefilter for `anchors`, or `None` (full automaton pass, never a
    /// partial one) when Teddy is unavailable or some anchor's lower-case form
    /// contains none of the literals.
    fn build(anchors: &[&str]) -> Option<Prefilter> {
        let mut config = packed::Config::new();
        config
            .match_kind(packed::MatchKind::LeftmostFirst)
            .only_teddy(true)
            .heuristic_pattern_limits(false);
        let short = config.builder().extend(PREFILTER_SHORT).build()?;
        let long = config.builder().extend(PREFILTER).build()?;
        let mut short_reach = vec![None; PREFILTER_SHORT.len()];
        let mut long_reach = vec![None; PREFILTER.len()];
        for anchor in anchors {
            let lower = anchor.to_ascii_lowercase();
            let (list, reach, (literal, k)) = match literal_in(&lower, PREFILTER_SHORT) {
                Some(found) => (PREFILTER_SHORT, &mut short_reach, found),
                None => (PREFILTER, &mut long_reach, literal_in(&lower, PREFILTER)?),
            };
            // Every id of the literal (the long list repeats a few for bucket
            // packing) gets the window.
            for (id, _) in list.iter().enumerate().filter(|(_, l)| **l == literal) {
                let r = reach.get_mut(id)?.get_or_insert_with(Reach::default);
                r.back = r.back.max(k);
                r.ahead = r.ahead.max(lower.len().saturating_sub(k));
            }
        }
        let back_max = short_reach
            .iter()
            .chain(&long_reach)
            .flatten()
            .map(|r| r.back)
            .max()
            .unwrap_or(0);
        Some(Prefilter {
            short,
            long,
            short_reach,
            long_reach,
            back_max,
        })
    }

    /// Calls `on_hit(fragment, start)` for every fragment occurrence that lies
    /// inside an automaton window, sorted by (start, fragment).
    fn for_each(&self, table: &Table, hay: &[u8], on_hit: &mut impl FnMut(usize, usize)) {
        let mut folded = vec![0u8; hay.len().min(CHUNK.saturating_add(LOOKAHEAD))];
        // Merged, sorted, disjoint windows not yet run.
        let mut windows: Vec<(usize, usize)> = Vec::new();
        let mut pending = Vec::new();
        let mut run = |w: (usize, usize), pending: &mut Vec<(usize, usize)>| {
            let end = w.1.min(hay.len());
            if let Some(hay) = hay.get(..end) {
                table.run(hay, w.0, pending, on_hit);
            }
        };
        let mut c0 = 0usize;
        while c0 < hay.len() {
            let c1 = c0.saturating_add(CHUNK).min(hay.len());
            let e = c1.saturating_add(LOOKAHEAD).min(hay.len());
            let (Some(src), Some(buf)) = (hay.get(c0..e), folded.get_mut(..e.saturating_sub(c0)))
            else {
                // INVARIANT: unreachable (`c0 < e <= hay.len()`, `e - c0` is at most
                // `folded.len()`). Fail closed all the same: the automaton covers
                // the rest of the input.
                windows.push((c0.saturating_sub(self.back_max), hay.len()));
                merge(&mut windows);
                break;
            };
            fold(src, buf);
            let limit = c1.saturating_sub(c0);
            hits(&self.short, &self.short_reach, buf, limit, c0, &mut windows);
            hits(&self.long, &self.long_reach, buf, limit, c0, &mut windows);
            merge(&mut windows);
            // Later hits lie at or after `c1`, so their windows start at or after
            // `c1 - back_max`: windows that end by then are final.
            let safe = c1.saturating_sub(self.back_max);
            let ready = windows.partition_point(|w| w.1 <= safe);
            for w in windows.drain(..ready) {
                run(w, &mut pending);
            }
            c0 = c1;
        }
        for w in windows.drain(..) {
            run(w, &mut pending);
        }
    }
}

/// The literal of `list` that `lower` contains, with its offset there: the one with
/// the most non-letter bytes (the most selective, e.g. `$pro` over `oken` in
/// `access_token$production$`), then the one nearest the anchor's start (the
/// smallest window), then the first in list order.
fn literal_in(lower: &str, list: &[&'static str]) -> Option<(&'static str, usize)> {
    let punct = |l: &str| l.bytes().filter(|b| !b.is_ascii_alphabetic()).count();
    list.iter()
        .filter_map(|&l| {
            let k = lower
                .as_bytes()
                .windows(l.len())
                .position(|w| w == l.as_bytes());
            k.map(|k| (l, k))
        })
        .fold(None, |best: Option<(&'static str, usize)>, c| match best {
            Some(b)
                if (punct(b.0), std::cmp::Reverse(b.1)) >= (punct(c.0), std::cmp::Reverse(c.1)) =>
            {
                Some(b)
            }
            _ => Some(c),
        })
}

/// ASCII lower-case fold of `src` into `dst` (same length), written so that it
/// vectorizes.
fn fold(src: &[u8], dst: &mut [u8]) {
    for (d, &b) in dst.iter_mut().zip(src) {
        *d = b | (u8::from(b.wrapping_sub(b'A') < 26) << 5);
    }
}

/// Appends the window of every hit of `searcher` in `buf` that starts before
/// `limit` (positions are offset by `base` into the input).
fn hits(
    searcher: &packed::Searcher,
    reach: &[Option<Reach>],
    buf: &[u8],
    limit: usize,
    base: usize,
    windows: &mut Vec<(usize, usize)>,
) {
    let mut at = 0usize;
    while at < limit {
        // Leftmost-first from `at`: no literal starts in `at..m.start()`, and all
        // literals of one list have one length, so at most one matches a position.
        let Some(m) = searcher.find_in(buf, Span::from(at..buf.len())) else {
            break;
        };
        if m.start() >= limit {
            break;
        }
        if let Some(Some(r)) = reach.get(m.pattern().as_usize()) {
            let q = base.saturating_add(m.start());
            windows.push((q.saturating_sub(r.back), q.saturating_add(r.ahead)));
        }
        at = m.start().saturating_add(1);
    }
}

/// Sorts `windows` by start and merges the ones that overlap or touch.
fn merge(windows: &mut Vec<(usize, usize)>) {
    windows.sort_unstable();
    windows.dedup_by(|next, kept| {
        let joins = next.0 <= kept.1;
        if joins {
            kept.1 = kept.1.max(next.1);
        }
        joins
    });
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
    // Most values are clean: nothing to carve, so the marker search is skipped.
    if matches.is_empty() {
        return matches;
    }
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
    use proptest::prelude::*;

    /// Every anchor of the catalogue, as written.
    fn all_anchors() -> Vec<&'static str> {
        SPECS
            .iter()
            .flat_map(|s| s.anchors.iter().copied())
            .collect()
    }

    /// (start, fragment) pairs.
    type Hits = Vec<(usize, usize)>;

    /// Fragment occurrences of the full automaton pass, and of the windowed pass.
    fn both_passes(scanner: &Scanner, hay: &[u8]) -> (Hits, Hits) {
        let prefilter = scanner.prefilter.as_ref().expect("prefilter builds here");
        let mut full = Vec::new();
        scanner.finder.for_each(hay, &mut |f, s| full.push((s, f)));
        let mut windowed = Vec::new();
        prefilter.for_each(&scanner.finder, hay, &mut |f, s| windowed.push((s, f)));
        (full, windowed)
    }

    /// The occurrences that reach at least one anchor (the others change nothing).
    fn live(scanner: &Scanner, hay: &[u8], hits: &[(usize, usize)]) -> Vec<(usize, usize)> {
        hits.iter()
            .copied()
            .filter(|&(s, f)| {
                let mut any = false;
                scanner.for_each_anchor(hay, f, s, |_, _, _| any = true);
                any
            })
            .collect()
    }

    /// The differential check: the windowed pass reports a subsequence of the full
    /// pass's occurrences that holds every live one, and both give the same matches.
    fn assert_same_as_full_pass(scanner: &Scanner, hay: &[u8]) {
        let (full, windowed) = both_passes(scanner, hay);
        let mut rest = full.iter();
        for hit in &windowed {
            assert!(
                rest.any(|h| h == hit),
                "windowed hit {hit:?} not in the full pass, in order"
            );
        }
        let live_full = live(scanner, hay, &full);
        assert_eq!(
            live(scanner, hay, &windowed),
            live_full,
            "live candidates differ"
        );
        for nested in [false, true] {
            let a = scanner.scan_raw_using(hay, nested, None);
            let b = scanner.scan_raw_using(hay, nested, scanner.prefilter.as_ref());
            assert_eq!(a, b, "matches differ (nested {nested})");
        }
    }

    /// Flips the ASCII case of the letters selected by `mask` (bit i, i mod 64).
    fn recase(text: &str, mask: u64) -> Vec<u8> {
        text.bytes()
            .enumerate()
            .map(|(i, b)| {
                if mask >> (i % 64) & 1 == 1 && b.is_ascii_alphabetic() {
                    b ^ 0x20
                } else {
                    b
                }
            })
            .collect()
    }

    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[test]
    fn prefilter_builds_and_every_literal_serves_an_anchor() {
        let scanner = Scanner::new();
        let p = scanner
            .prefilter
            .as_ref()
            .expect("Teddy is available on this CPU");
        let unused: Vec<&str> = PREFILTER_SHORT
            .iter()
            .zip(&p.short_reach)
            .chain(PREFILTER.iter().zip(&p.long_reach))
            .filter(|(_, r)| r.is_none())
            .map(|(l, _)| *l)
            .collect();
        assert!(
            unused.is_empty(),
            "literals that serve no anchor: {unused:?}"
        );
        for (list, reach) in [
            (PREFILTER_SHORT, &p.short_reach),
            (PREFILTER, &p.long_reach),
        ] {
            for (literal, r) in list.iter().zip(reach.iter()) {
                assert!(r.is_some(), "literal {literal:?} serves no anchor");
                assert_eq!(literal.len(), list[0].len(), "one length per list");
                assert_eq!(*literal, literal.to_ascii_lowercase());
            }
        }
        assert!(p.back_max < 64, "{}", p.back_max);
    }

    /// Every anchor, in its own case and with its letters flipped, at every offset
    /// around the first chunk boundary and the end of the input.
    #[test]
    fn prefilter_finds_every_anchor_across_chunk_boundaries() {
        let scanner = Scanner::new();
        for anchor in all_anchors() {
            for form in [anchor.as_bytes().to_vec(), recase(anchor, u64::MAX)] {
                let n = form.len();
                for at in (CHUNK - n - 2)..=(CHUNK + 1) {
                    let mut hay = vec![b' '; CHUNK + 128];
                    hay[at..at + n].copy_from_slice(&form);
                    hay[at + n..at + n + 40].copy_from_slice(&[b'7'; 40]);
                    let (full, windowed) = both_passes(&scanner, &hay);
                    assert_eq!(
                        live(&scanner, &hay, &windowed),
                        live(&scanner, &hay, &full),
                        "{anchor:?} at {at}"
                    );
                    if form == anchor.as_bytes() {
                        assert!(!live(&scanner, &hay, &full).is_empty(), "{anchor:?}");
                    }
                }
                // At the very end of an input (no bytes after the literal).
                let mut hay = vec![b'x'; 300];
                hay.extend_from_slice(&form);
                let (full, windowed) = both_passes(&scanner, &hay);
                assert_eq!(live(&scanner, &hay, &windowed), live(&scanner, &hay, &full));
            }
        }
    }

    /// Dense benign text with many candidates (windows merge and cross chunks).
    #[test]
    fn prefilter_matches_full_pass_on_dense_input() {
        let scanner = Scanner::new();
        let unit = b"Cookie: session_token=abc; password=hunter2 Bearer eyJhbGciOi.x ";
        let hay: Vec<u8> = unit.iter().copied().cycle().take(3 * CHUNK + 17).collect();
        assert_same_as_full_pass(&scanner, &hay);
        let found = scanner.scan(&hay);
        assert!(found.len() > 100, "{}", found.len());
    }

    /// One piece of a generated input: filler, an anchor (case flipped by a mask)
    /// followed by a token-like value, or a bare fragment.
    fn piece() -> impl Strategy<Value = (u8, usize, u64, Vec<u8>)> {
        (
            0u8..3,
            any::<usize>(),
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 0..48),
        )
    }

    fn render(
        pieces: &[(u8, usize, u64, Vec<u8>)],
        plants: &[(usize, usize, u64)],
        pad: usize,
    ) -> Vec<u8> {
        const FILL: &[u8] =
            b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 :/\"=_.-~$&?#\n";
        const TOKEN: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.";
        let anchors = all_anchors();
        let pick = |set: &[u8], b: u8| set[usize::from(b) % set.len()];
        let mut hay = Vec::new();
        for (kind, index, mask, bytes) in pieces {
            match kind {
                0 => hay.extend(bytes.iter().map(|&b| pick(FILL, b))),
                1 => {
                    let anchor = anchors[index % anchors.len()];
                    // Half the time keep the exact case (case-sensitive anchors).
                    let mask = if mask & 1 == 0 { 0 } else { *mask };
                    hay.extend(recase(anchor, mask));
                    hay.extend(bytes.iter().map(|&b| pick(TOKEN, b)));
                }
                _ => hay.extend(recase(FRAGMENTS[index % FRAGMENTS.len()], *mask)),
            }
        }
        hay.resize(hay.len().max(pad), b' ');
        // Anchors planted across the chunk boundaries.
        for (index, offset, mask) in plants {
            let anchor = recase(
                anchors[index % anchors.len()],
                if *mask & 1 == 1 { *mask } else { 0 },
            );
            let boundary = CHUNK * (1 + offset % 2);
            let at = (boundary + offset % 48).saturating_sub(40);
            if at + anchor.len() <= hay.len() {
                hay[at..at + anchor.len()].copy_from_slice(&anchor);
            }
        }
        hay
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        /// Differential guard of the two-tier prefilter: random inputs full of
        /// anchors, fragments and case variants, with anchors planted at chunk
        /// boundaries, give the full automaton pass's live candidates and matches.
        #[test]
        fn prefilter_matches_full_pass(
            pieces in proptest::collection::vec(piece(), 0..600),
            plants in proptest::collection::vec((any::<usize>(), any::<usize>(), any::<u64>()), 0..12),
            pad in 256usize..(2 * CHUNK + 200),
        ) {
            let scanner = Scanner::new();
            let hay = render(&pieces, &plants, pad);
            assert_same_as_full_pass(&scanner, &hay);
        }
    }

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
