//! The [`Scanner`]: one Aho-Corasick pass over all rule anchors (a literal prefilter,
//! ASCII case-insensitive), then confirmation of each candidate on a bounded window.

use std::fmt;
use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use sha2::{Digest as _, Sha256};

use crate::catalogue::{Cand, Confirm, RULES, SPECS, confirm_named, confirm_prefix};
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

/// The compiled detector: rule catalogue plus one multi-pattern automaton.
/// Build once (`Scanner::new`), share by `&` (it is `Send + Sync`).
pub struct Scanner {
    automaton: AhoCorasick,
    /// For each automaton pattern, the indexes of the rules that own that anchor.
    pattern_rules: Vec<Vec<usize>>,
    version: String,
}

impl fmt::Debug for Scanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scanner")
            .field("rules", &RULES.len())
            .field("anchors", &self.pattern_rules.len())
            .field("version", &self.version)
            .finish()
    }
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new()
    }
}

impl Scanner {
    /// Compiles the default catalogue.
    #[must_use]
    pub fn new() -> Scanner {
        let mut anchors: Vec<String> = Vec::new();
        let mut pattern_rules: Vec<Vec<usize>> = Vec::new();
        for (index, spec) in SPECS.iter().enumerate() {
            for anchor in spec.anchors {
                let lower = anchor.to_ascii_lowercase();
                if let Some(p) = anchors.iter().position(|a| *a == lower) {
                    if let Some(list) = pattern_rules.get_mut(p) {
                        list.push(index);
                    }
                } else {
                    anchors.push(lower);
                    pattern_rules.push(vec![index]);
                }
            }
        }
        anchors.push("[redacted:".to_owned());
        pattern_rules.push(Vec::new());
        #[expect(
            clippy::expect_used,
            reason = "the anchors are compile-time literals; `scanner_builds` tests this build"
        )]
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&anchors)
            .expect("static anchors compile");
        Scanner {
            automaton,
            pattern_rules,
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
        for hit in self.automaton.find_iter(haystack) {
            let Some(rules) = self.pattern_rules.get(hit.pattern().as_usize()) else {
                continue;
            };
            for &index in rules {
                let (Some(spec), Some(rule)) = (SPECS.get(index), RULES.get(index)) else {
                    continue;
                };
                if nested && matches!(rule.id, "auth-header" | "cookie-value") {
                    continue;
                }
                let cand = Cand {
                    hay: haystack,
                    start: hit.start(),
                    end: hit.end(),
                    rule,
                    scanner: self,
                };
                if spec.case_sensitive {
                    let text = haystack.get(hit.start()..hit.end()).unwrap_or_default();
                    if !spec.anchors.iter().any(|a| a.as_bytes() == text) {
                        continue;
                    }
                }
                match spec.confirm {
                    Confirm::Prefix {
                        body,
                        min,
                        max,
                        check,
                    } => confirm_prefix(&cand, body, min, max, check, &mut out),
                    Confirm::Named { check } => confirm_named(&cand, check, &mut out),
                    Confirm::Custom(f) => f(&cand, &mut out),
                    Confirm::Position => {}
                }
            }
        }
        out.retain(|m| m.span.start < m.span.end && m.span.end <= haystack.len());
        out
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
