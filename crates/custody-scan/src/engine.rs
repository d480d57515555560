//! The [`Scanner`]: one Aho-Corasick pass over all rule anchors (a literal prefilter,
//! ASCII case-insensitive), then confirmation of each candidate on a bounded window.

use std::fmt;
use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
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
    /// ASCII-case-insensitive DFA over [`FRAGMENTS`], leftmost-first.
    finder: AhoCorasick,
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
        // A DFA over ~60 short fragments: one transition per input byte, no
        // per-rule passes. (Teddy was measured slower here: with dozens of
        // lower-case letter fragments its nibble fingerprints match almost
        // everywhere.)
        #[expect(
            clippy::expect_used,
            reason = "the fragments are compile-time literals; `scanner_builds` tests this build"
        )]
        let finder = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostFirst)
            .kind(Some(AhoCorasickKind::DFA))
            .build(FRAGMENTS)
            .expect("static fragments compile");
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
        let markers = crate::redact::marker_spans(haystack);
        let kept = raw
            .into_iter()
            .filter(|m| {
                !markers
                    .iter()
                    .any(|k| k.start <= m.span.start && m.span.end <= k.end)
            })
            .collect();
        resolve(kept)
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
        for m in self.finder.find_iter(haystack) {
            on_hit(m.pattern().as_usize(), m.start());
        }
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
