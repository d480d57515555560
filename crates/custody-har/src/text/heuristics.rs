//! Line heuristics for text and logs: where, inside one line, a value sits.
//!
//! [`LineScanner::hits`] finds every span of a line that the detector flags when asked
//! with the field the span is in: header-like lines and embedded credential headers
//! (`Field::Header`), curl and HTTPie command arguments, `key=value` / `key: value` /
//! `"key": "value"` pairs (`Field::JsonKey`, `Field::Form`), URLs anywhere in the line
//! (`Field::Url`, plus a split of the query and fragment into `Field::Query`
//! parameters, which also covers relative URLs such as `GET /cb?code=..` in access
//! logs), and the free detector over the whole line (`Field::Text`). Overlapping spans
//! are merged; spans that fall inside a redaction marker are ignored, so the same
//! function is the sanitizer and the re-scan of its output.
//!
//! Speed without weakening ([`LineScanner::hits`], the fast pass):
//! - each heuristic's regex runs only on lines holding the literal bytes the regex
//!   cannot match without (`:`/`=`, `://`, `?`/`#`, `authorization`/`cookie`/`x-`,
//!   `curl`/`http`/`xh`, `[redacted:`): exact prefilters, they change no result;
//! - the free detector (`Field::Text`) always runs over the whole line, so every byte
//!   of the line gets one anchored pass plus the URL pass;
//! - a `key=value` pair, or a URL, whose names are all outside a broad superset of the
//!   detector's credential-name dictionaries (`LineScanner::is_benign_name`) and whose
//!   values are "plain" (only `[A-Za-z0-9._-]`, delimited by quotes, whitespace, the
//!   line's ends or URL/pair punctuation that no token body takes: see [`is_plain`])
//!   is not asked about again: for such a value the field-aware call reduces to the
//!   anchored pass over the same bytes in the same delimiter context, which the
//!   whole-line pass already did. Everything else takes the full path. A line asks
//!   the detector one question per (field, span) at most.
//!
//! [`LineScanner::hits_full`] is the reference pass without those skips; the
//! sanitizer re-scans every line it changed with it (fail-closed), and the tests
//! check that both passes agree on generated lines carrying credentials in every
//! heuristic form.

use std::ops::Range;
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use custody_scan::{Field, Match, Scanner, is_marker};
use regex::Regex;

/// Location kinds a hit is counted under in reports.
pub(crate) mod kind {
    /// A header-like line or an embedded `Authorization:`-style header.
    pub(crate) const HEADER: &str = "header";
    /// An argument of a curl or HTTPie command.
    pub(crate) const COMMAND: &str = "command";
    /// A `key=value`, `key: value` or `"key": "value"` pair.
    pub(crate) const PAIR: &str = "key-value";
    /// A URL, or a query or fragment parameter of one.
    pub(crate) const URL: &str = "url";
    /// The free detector over the whole line.
    pub(crate) const TEXT: &str = "text";
}

/// One flagged span of a line.
pub(crate) struct Hit {
    /// The detector's match; its span indexes the field value `value`.
    pub(crate) m: Match,
    /// The field value the detector was given, as a range of the line.
    pub(crate) value: Range<usize>,
    /// The span to replace, as a range of the line (char boundaries).
    pub(crate) abs: Range<usize>,
    /// The location kind (see [`kind`]).
    pub(crate) kind: &'static str,
}

/// The hits of one line so far, and the questions already asked about it.
#[derive(Default)]
struct Hits<'l> {
    list: Vec<Hit>,
    asked: Vec<(Field<'l>, Range<usize>)>,
}

/// Compiled line heuristics; build once per artifact, share by reference.
pub(crate) struct LineScanner<'s> {
    scanner: &'s Scanner,
}

/// The compiled patterns of the heuristics, built once per process on first use
/// (they are constants: compiling them for every artifact cost a few milliseconds
/// per upload, and a HAR or JSON artifact never needs them).
struct Patterns {
    header_line: Regex,
    embedded_header: Regex,
    pair: Regex,
    url: Regex,
    relative_url: Regex,
    marker: Regex,
    /// Literal triggers of the heuristics (see [`trigger`]), ASCII case-insensitive.
    triggers: AhoCorasick,
    /// [`CREDENTIAL_NAME_FRAGMENTS`], ASCII case-insensitive.
    credential_names: AhoCorasick,
}

static PATTERNS: LazyLock<Patterns> = LazyLock::new(Patterns::new);

/// Which pass: the fast one (skips provably redundant detector calls) or the
/// reference one (asks the detector about every candidate span).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    Fast,
    Full,
}

/// Trigger literals and their bits in a line's trigger mask.
mod trigger {
    /// The literals, in bit order.
    pub(super) const LITERALS: [&str; 8] = [
        "://",
        "authorization",
        "cookie",
        "x-",
        "curl",
        "http",
        "xh",
        "[redacted:",
    ];
    pub(super) const SCHEME: u32 = 1;
    pub(super) const EMBEDDED: u32 = 0b1110;
    pub(super) const COMMAND: u32 = 0b111_0000;
    pub(super) const MARKER: u32 = 0b1000_0000;
}

/// Builds a regex from a pattern literal of this module.
fn compile(pattern: &str) -> Regex {
    #[expect(
        clippy::expect_used,
        reason = "the patterns are literals of this module, covered by every unit test"
    )]
    Regex::new(pattern).expect("static pattern compiles")
}

impl Patterns {
    fn new() -> Self {
        Self {
            // `Name: value` as a whole line, optionally after curl -v's `> ` / `< `.
            header_line: compile(
                r"^[ \t]*(?:[<>][ \t]+)?([A-Za-z][A-Za-z0-9_\-]*):[ \t]*(\S.*?)[ \t\r]*$",
            ),
            // Credential-bearing header names anywhere in a line (log messages).
            embedded_header: compile(
                r"(?i)(?:^|[^A-Za-z0-9_\-])(authorization|proxy-authorization|cookie|set-cookie|x-[A-Za-z0-9\-]*(?:key|token|secret|session|auth|csrf|xsrf|signature)[A-Za-z0-9\-]*)[ \t]*:[ \t]*([^\x22'\r\n]*[^\x22'\s])",
            ),
            // key=value, key: value, "key": "value", 'key'='value'.
            pair: compile(
                r#"(?:"([A-Za-z_@$][A-Za-z0-9_.\-]*)"|'([A-Za-z_@$][A-Za-z0-9_.\-]*)'|(?-u:\b)([A-Za-z_][A-Za-z0-9_.\-]*))[ \t]*(?:=|:)[ \t]*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([^\s,;&"'<>(){}\[\]]+))"#,
            ),
            url: compile(r#"(?i)(?-u:\b)[a-z][a-z0-9+.\-]{1,15}://[^\s"'<>`\\]+"#),
            relative_url: compile(r#"(?:^|[\s"'(=])(/[^\s"'<>?#]*[?#][^\s"'<>]+)"#),
            marker: compile(r"\[redacted:[^\]\r\n]{1,512}\]"),
            triggers: automaton(&trigger::LITERALS),
            credential_names: automaton(CREDENTIAL_NAME_FRAGMENTS),
        }
    }
}

impl<'s> LineScanner<'s> {
    /// The heuristics over `scanner` (the patterns are compiled on first use).
    pub(crate) fn new(scanner: &'s Scanner) -> Self {
        Self { scanner }
    }

    /// Every flagged span of `line`, merged (sorted, non-overlapping), never inside a
    /// redaction marker. The fast pass (see the module docs).
    pub(crate) fn hits(&self, line: &str) -> Vec<Hit> {
        self.hits_with(line, Pass::Fast)
    }

    /// [`Self::hits`] without the skips of the fast pass: the reference pass, used to
    /// re-scan changed output lines.
    pub(crate) fn hits_full(&self, line: &str) -> Vec<Hit> {
        self.hits_with(line, Pass::Full)
    }

    fn hits_with(&self, line: &str, pass: Pass) -> Vec<Hit> {
        let mut hits = Hits::default();
        let mask = self.mask(line);
        let bytes = line.as_bytes();
        if header_line_prefix(bytes) {
            self.header_line_hits(line, &mut hits);
        }
        if mask & trigger::EMBEDDED != 0 {
            self.embedded_hits(line, &mut hits);
        }
        if mask & trigger::COMMAND != 0 {
            self.command_hits(line, &mut hits);
        }
        if memchr::memchr2(b'=', b':', bytes).is_some() {
            self.pair_hits(line, pass, &mut hits);
        }
        if mask & trigger::SCHEME != 0 {
            self.url_hits(line, pass, &mut hits);
        }
        if memchr::memchr2(b'?', b'#', bytes).is_some() {
            self.relative_url_hits(line, pass, &mut hits);
        }
        self.ask(line, Field::Text, 0..line.len(), kind::TEXT, &mut hits);
        let mut hits = hits.list;
        if hits.is_empty() {
            return hits;
        }
        let markers: Vec<Range<usize>> = if mask & trigger::MARKER == 0 {
            Vec::new()
        } else {
            PATTERNS
                .marker
                .find_iter(line)
                .filter(|m| is_marker(m.as_str()))
                .map(|m| m.range())
                .collect()
        };
        hits.retain(|h| {
            !markers.iter().any(|mk| {
                let inside = mk.start <= h.abs.start && h.abs.end <= mk.end;
                // A span that starts with a marker and runs on past the closing quote
                // or bracket of the value is a header value the free detector read to
                // the end of the line; the credential in it is the marker. (Not after
                // a space: `Bearer [marker] token` must stay flagged.)
                let runs_on = mk.start == h.abs.start
                    && line
                        .get(mk.end..)
                        .and_then(|rest| rest.chars().next())
                        .is_some_and(|c| "'\")}".contains(c));
                inside || runs_on
            })
        });
        merge(hits)
    }

    /// Asks the detector about `line[value]` as `field`, pushing its matches.
    fn ask<'l>(
        &self,
        line: &'l str,
        field: Field<'l>,
        value: Range<usize>,
        kind: &'static str,
        hits: &mut Hits<'l>,
    ) {
        let Some(text) = line.get(value.clone()) else {
            return;
        };
        if text.is_empty() {
            return;
        }
        // The same question twice (a header line is also an embedded header and a
        // pair) has the same answer: asked once. (Merging would keep the first hit.)
        if hits.asked.iter().any(|(f, r)| *f == field && *r == value) {
            return;
        }
        hits.asked.push((field, value.clone()));
        for m in self.scanner.scan_field(field, text) {
            let start = value.start.saturating_add(m.span.start);
            let end = value.start.saturating_add(m.span.end).min(value.end);
            // Widen to char boundaries: never redact less than the detector asked.
            let mut start = line.floor_char_boundary(start);
            let mut end = line.ceil_char_boundary(end);
            // Surrounding whitespace is never secret; trimming it keeps a marker
            // recognisable as one when the output is re-scanned.
            let bytes = line.as_bytes();
            while start < end && bytes.get(start).is_some_and(u8::is_ascii_whitespace) {
                start = start.saturating_add(1);
            }
            while start < end
                && bytes
                    .get(end.saturating_sub(1))
                    .is_some_and(u8::is_ascii_whitespace)
            {
                end = end.saturating_sub(1);
            }
            if start < end {
                hits.list.push(Hit {
                    m,
                    value: value.clone(),
                    abs: start..end,
                    kind,
                });
            }
        }
    }

    /// Which trigger literals `line` holds, as a bit mask (see [`trigger`]).
    fn mask(&self, line: &str) -> u32 {
        let mut mask = 0u32;
        for m in PATTERNS.triggers.find_overlapping_iter(line) {
            mask |= 1u32 << m.pattern().as_u32();
        }
        mask
    }

    /// Whether `name` cannot be a credential-bearing name for the detector: plain
    /// characters only and none of [`CREDENTIAL_NAME_FRAGMENTS`] (any case).
    fn is_benign_name(&self, name: &str) -> bool {
        let b = name.as_bytes();
        !b.is_empty()
            && b.iter().copied().all(is_plain_byte)
            && !PATTERNS.credential_names.is_match(name)
    }

    fn header_line_hits<'l>(&self, line: &'l str, hits: &mut Hits<'l>) {
        if let Some(c) = PATTERNS.header_line.captures(line)
            && let (Some(name), Some(value)) = (c.get(1), c.get(2))
        {
            let field = Field::Header {
                name: name.as_str(),
            };
            self.ask(line, field, value.range(), kind::HEADER, hits);
        }
    }

    fn embedded_hits<'l>(&self, line: &'l str, hits: &mut Hits<'l>) {
        for c in PATTERNS.embedded_header.captures_iter(line) {
            if let (Some(name), Some(value)) = (c.get(1), c.get(2)) {
                let field = Field::Header {
                    name: name.as_str(),
                };
                self.ask(line, field, value.range(), kind::HEADER, hits);
            }
        }
    }

    fn pair_hits<'l>(&self, line: &'l str, pass: Pass, hits: &mut Hits<'l>) {
        for found in PATTERNS.pair.find_iter(line) {
            if pass == Pass::Fast
                && let Some((name, value)) = split_pair(line, found.range())
                && self.is_benign_name(name)
                && line.get(value.clone()).is_some_and(|v| !is_auth_scheme(v))
                && is_plain(line, value)
            {
                continue;
            }
            // The same match, with its groups (a search from its start finds it again).
            let Some(c) = PATTERNS.pair.captures_at(line, found.start()) else {
                continue;
            };
            let name = c.get(1).or_else(|| c.get(2)).or_else(|| c.get(3));
            let (value, quoted) = match (c.get(4).or_else(|| c.get(5)), c.get(6)) {
                (Some(v), _) => (v, true),
                (None, Some(v)) => (v, false),
                (None, None) => continue,
            };
            let Some(name) = name else { continue };
            let mut range = value.range();
            // `authorization=Bearer tok`: an unquoted scheme takes the next word too.
            if !quoted && is_auth_scheme(value.as_str()) {
                let rest = line.get(range.end..).unwrap_or_default();
                let gap = rest
                    .len()
                    .saturating_sub(rest.trim_start_matches([' ', '\t']).len());
                let after = rest.get(gap..).unwrap_or_default();
                let word = after
                    .find(|c: char| c.is_whitespace() || c == '\'' || c == '"')
                    .unwrap_or(after.len());
                if gap > 0 && word > 0 {
                    range.end = range.end.saturating_add(gap).saturating_add(word);
                }
            }
            let name = name.as_str();
            let field = if is_credential_header(name) || is_auth_scheme_prefixed(line, &range) {
                Field::Header {
                    name: if is_credential_header(name) {
                        name
                    } else {
                        "Authorization"
                    },
                }
            } else {
                Field::JsonKey { name }
            };
            self.ask(line, field, range, kind::PAIR, hits);
        }
    }

    fn url_hits<'l>(&self, line: &'l str, pass: Pass, hits: &mut Hits<'l>) {
        for m in PATTERNS.url.find_iter(line) {
            let trimmed = m.as_str().trim_end_matches(['.', ',', ';', ')', ']', '}']);
            let range = m.start()..m.start().saturating_add(trimmed.len());
            if pass == Pass::Fast && is_plain_url(self, line, range.clone()) {
                continue;
            }
            self.ask(line, Field::Url, range.clone(), kind::URL, hits);
            self.query_hits(line, range, hits);
        }
    }

    fn relative_url_hits<'l>(&self, line: &'l str, pass: Pass, hits: &mut Hits<'l>) {
        for m in PATTERNS.relative_url.find_iter(line) {
            // The group is the match without its one-char left delimiter, which is
            // never `/`: it starts at the match's first `/`.
            let Some(slash) = m.as_str().find('/') else {
                continue;
            };
            let range = m.start().saturating_add(slash)..m.end();
            if pass == Pass::Fast && is_plain_url(self, line, range.clone()) {
                continue;
            }
            self.ask(line, Field::Url, range.clone(), kind::URL, hits);
            self.query_hits(line, range, hits);
        }
    }

    /// Splits the query and fragment of the URL at `line[range]` into parameters.
    fn query_hits<'l>(&self, line: &'l str, range: Range<usize>, hits: &mut Hits<'l>) {
        let Some(url) = line.get(range.clone()) else {
            return;
        };
        let Some(q) = url.find(['?', '#']) else {
            return;
        };
        let mut offset = range.start.saturating_add(q).saturating_add(1);
        let rest = url.get(q.saturating_add(1)..).unwrap_or_default();
        for piece in rest.split(['&', ';', '#', '?']) {
            if let Some((name, value)) = piece.split_once('=')
                && !name.is_empty()
            {
                let start = offset.saturating_add(name.len()).saturating_add(1);
                let field = Field::Query { name };
                self.ask(
                    line,
                    field,
                    start..start.saturating_add(value.len()),
                    kind::URL,
                    hits,
                );
            }
            offset = offset.saturating_add(piece.len()).saturating_add(1);
        }
    }

    /// curl and HTTPie command lines: headers, cookies, user:password, data.
    fn command_hits<'l>(&self, line: &'l str, hits: &mut Hits<'l>) {
        let words = shell_words(line);
        for (i, w) in words.iter().enumerate() {
            let Some(word) = line.get(w.clone()) else {
                continue;
            };
            let base = word.rsplit(['/', '\\']).next().unwrap_or(word);
            let rest = words.get(i.saturating_add(1)..).unwrap_or_default();
            if base == "curl" || base == "curl.exe" {
                self.curl_hits(line, rest, hits);
            } else if matches!(base, "http" | "https" | "httpie" | "xh" | "xhs") {
                self.httpie_hits(line, rest, hits);
            }
        }
    }

    fn curl_hits<'l>(&self, line: &'l str, args: &[Range<usize>], hits: &mut Hits<'l>) {
        let mut i = 0;
        while let Some(arg) = args.get(i) {
            i = i.saturating_add(1);
            let Some(word) = line.get(arg.clone()) else {
                continue;
            };
            let (flag, inline) = split_flag(word, arg.start, b"HbuUdFex");
            let value = match inline {
                Some(v) => v,
                None if takes_value(flag) => match args.get(i) {
                    Some(next) => {
                        i = i.saturating_add(1);
                        next.clone()
                    }
                    None => continue,
                },
                None => continue,
            };
            let value = unquote(line, value);
            let Some(text) = line.get(value.clone()) else {
                continue;
            };
            match flag {
                "-H" | "--header" | "--proxy-header" => {
                    if let Some((name, _)) = text.split_once(':') {
                        let start = value.start.saturating_add(name.len()).saturating_add(1);
                        let field = Field::Header { name: name.trim() };
                        self.ask(line, field, start..value.end, kind::COMMAND, hits);
                    }
                }
                "-b" | "--cookie" if text.contains('=') => {
                    let field = Field::Header { name: "Cookie" };
                    self.ask(line, field, value, kind::COMMAND, hits);
                }
                "-u" | "--user" | "-U" | "--proxy-user" | "--pass" => {
                    self.credential_hits(line, value, flag == "--pass", hits);
                }
                "--oauth2-bearer" => {
                    let field = Field::JsonKey {
                        name: "access_token",
                    };
                    self.ask(line, field, value, kind::COMMAND, hits);
                }
                "-e" | "--referer" | "-x" | "--proxy" | "--url" => {
                    self.ask(line, Field::Url, value.clone(), kind::COMMAND, hits);
                    self.query_hits(line, value, hits);
                }
                "-F" | "--form" | "--form-string" => {
                    self.form_hits(line, value, hits);
                }
                f if (f.starts_with("-d") || f.starts_with("--data") || f == "--json")
                    && !text.starts_with('@') =>
                {
                    self.form_hits(line, value, hits);
                }
                _ => {}
            }
        }
    }

    /// `user:password` (or, with `whole`, a bare secret): the part after the colon.
    fn credential_hits<'l>(
        &self,
        line: &'l str,
        value: Range<usize>,
        whole: bool,
        hits: &mut Hits<'l>,
    ) {
        let Some(text) = line.get(value.clone()) else {
            return;
        };
        let secret = match (whole, text.split_once(':')) {
            (false, Some((user, _))) => {
                value.start.saturating_add(user.len()).saturating_add(1)..value.end
            }
            (false, None) => {
                // `-a TOKEN` (HTTPie bearer auth) or `-u user` (password prompted):
                // the whole value is treated as the secret.
                value
            }
            (true, _) => value,
        };
        let field = Field::Form { name: "password" };
        self.ask(line, field, secret, kind::COMMAND, hits);
    }

    /// `a=1&password=x` form bodies (curl `-d`, `-F`): one `Field::Form` per parameter.
    fn form_hits<'l>(&self, line: &'l str, value: Range<usize>, hits: &mut Hits<'l>) {
        let Some(text) = line.get(value.clone()) else {
            return;
        };
        if text.trim_start().starts_with(['{', '[']) {
            // JSON bodies are covered by the pair heuristic and the free detector.
            return;
        }
        let mut offset = value.start;
        for piece in text.split('&') {
            if let Some((name, v)) = piece.split_once('=')
                && !name.is_empty()
                && !v.starts_with(['@', '<'])
            {
                let start = offset.saturating_add(name.len()).saturating_add(1);
                let field = Field::Form { name };
                self.ask(
                    line,
                    field,
                    start..start.saturating_add(v.len()),
                    kind::COMMAND,
                    hits,
                );
            }
            offset = offset.saturating_add(piece.len()).saturating_add(1);
        }
    }

    fn httpie_hits<'l>(&self, line: &'l str, args: &[Range<usize>], hits: &mut Hits<'l>) {
        let mut i = 0;
        while let Some(arg) = args.get(i) {
            i = i.saturating_add(1);
            let Some(word) = line.get(arg.clone()) else {
                continue;
            };
            if word == "-a" || word == "--auth" {
                if let Some(next) = args.get(i) {
                    i = i.saturating_add(1);
                    self.credential_hits(line, unquote(line, next.clone()), false, hits);
                }
                continue;
            }
            if let Some(v) = word.strip_prefix("--auth=") {
                let start = arg.end.saturating_sub(v.len());
                self.credential_hits(line, unquote(line, start..arg.end), false, hits);
                continue;
            }
            if word.starts_with('-') || word.starts_with(':') || word.contains("://") {
                continue;
            }
            self.httpie_item(line, arg.clone(), hits);
        }
    }

    /// One HTTPie request item: `Header:value`, `name==query`, `name=data`, `name:=json`.
    fn httpie_item<'l>(&self, line: &'l str, arg: Range<usize>, hits: &mut Hits<'l>) {
        let Some(word) = line.get(arg.clone()) else {
            return;
        };
        let Some(sep) = word.find([':', '=']) else {
            return;
        };
        let name = word.get(..sep).unwrap_or_default();
        let rest = word.get(sep..).unwrap_or_default();
        let (skip, field) = if rest.starts_with(":=") {
            (2, Field::JsonKey { name })
        } else if rest.starts_with("==") {
            (2, Field::Query { name })
        } else if rest.starts_with('=') {
            (1, Field::JsonKey { name })
        } else {
            (1, Field::Header { name })
        };
        let start = arg.start.saturating_add(sep).saturating_add(skip);
        let value = unquote(line, start..arg.end);
        self.ask(line, field, value, kind::COMMAND, hits);
    }
}

/// An ASCII case-insensitive automaton over literals of this module.
fn automaton(literals: &[&str]) -> AhoCorasick {
    #[expect(
        clippy::expect_used,
        reason = "the literals are constants of this module, covered by every unit test"
    )]
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .build(literals)
        .expect("static literals compile")
}

/// Exactly the prefix `header_line` needs: `^[ \t]*(?:[<>][ \t]+)?[A-Za-z][A-Za-z0-9_\-]*:`.
fn header_line_prefix(b: &[u8]) -> bool {
    let mut i = 0usize;
    let blank = |c: Option<&u8>| matches!(c, Some(b' ' | b'\t'));
    while blank(b.get(i)) {
        i = i.saturating_add(1);
    }
    if matches!(b.get(i), Some(b'<' | b'>')) && blank(b.get(i.saturating_add(1))) {
        i = i.saturating_add(1);
        while blank(b.get(i)) {
            i = i.saturating_add(1);
        }
    }
    if !b.get(i).is_some_and(u8::is_ascii_alphabetic) {
        return false;
    }
    while b
        .get(i)
        .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
    {
        i = i.saturating_add(1);
    }
    b.get(i) == Some(&b':')
}

/// Name fragments (lower case) that can make the detector treat a name as
/// credential-bearing: a deliberately broad superset of its strong and weak name
/// dictionaries (header, query, form and JSON kinds). A name holding any of them is
/// always asked about.
const CREDENTIAL_NAME_FRAGMENTS: &[&str] = &[
    "token",
    "secret",
    "sess",
    "pass",
    "pwd",
    "cred",
    "auth",
    "key",
    "csrf",
    "xsrf",
    "verifier",
    "saml",
    "relay",
    "amz",
    "goog",
    "assertion",
    "jwt",
    "ticket",
    "otp",
    "sig",
    "code",
    "state",
    "cookie",
    "private",
    "bearer",
    "sid",
    "login",
    "nonce",
    "access",
    "refresh",
    "client",
    "api",
    "sas",
    "skoid",
    "hmac",
    "dpop",
    "oidc",
    "id_",
    "jsession",
];

/// Splits a match of the `pair` regex at `line[range]` into its name and its value's
/// range (quotes excluded), exactly as the regex's groups would; `None` when the match
/// has another shape (the caller then takes the groups).
fn split_pair(line: &str, range: Range<usize>) -> Option<(&str, Range<usize>)> {
    let text = line.get(range.clone())?;
    let b = text.as_bytes();
    let (name, after_name) = match b.first()? {
        q @ (b'"' | b'\'') => {
            let close = memchr::memchr(*q, b.get(1..)?)?.saturating_add(1);
            (text.get(1..close)?, close.saturating_add(1))
        }
        _ => {
            let len = b.iter().take_while(|c| is_plain_byte(**c)).count();
            (text.get(..len)?, len)
        }
    };
    let blank = |c: &&u8| matches!(c, b' ' | b'\t');
    let mut i = after_name;
    i = i.saturating_add(b.get(i..)?.iter().take_while(blank).count());
    if !matches!(b.get(i)?, b'=' | b':') {
        return None;
    }
    i = i.saturating_add(1);
    i = i.saturating_add(b.get(i..)?.iter().take_while(blank).count());
    let value = match b.get(i)? {
        q @ (b'"' | b'\'') if b.last() == Some(q) && b.len() >= i.saturating_add(2) => {
            i.saturating_add(1)..b.len().saturating_sub(1)
        }
        b'"' | b'\'' => return None,
        _ => i..b.len(),
    };
    Some((
        name,
        range.start.saturating_add(value.start)..range.start.saturating_add(value.end),
    ))
}

/// `[A-Za-z0-9._-]`: the bytes of plain names and values.
fn is_plain_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')
}

/// Whether `line[range]` is a plain value: non-empty, only `[A-Za-z0-9._-]`, preceded
/// by the start of the line, whitespace, a quote or one of `=:?&;#`, and followed by the
/// end of the line, whitespace, a quote or one of `&;#` (bytes no detector token body
/// takes). Such a value is scanned by the whole-line pass in
/// the same delimiter context as on its own.
fn is_plain(line: &str, range: Range<usize>) -> bool {
    let b = line.as_bytes();
    let Some(v) = b.get(range.clone()) else {
        return false;
    };
    let before = range.start.checked_sub(1).and_then(|i| b.get(i));
    let after = b.get(range.end);
    !v.is_empty()
        && v.iter().copied().all(is_plain_byte)
        && before.is_none_or(|c| {
            matches!(
                c,
                b' ' | b'\t' | b'=' | b':' | b'"' | b'\'' | b'?' | b'&' | b';' | b'#'
            )
        })
        && after.is_none_or(|c| matches!(c, b' ' | b'\t' | b'"' | b'\'' | b'&' | b';' | b'#'))
}

/// Whether the URL at `line[range]` needs no field-aware call: no userinfo, no
/// percent or plus encoding, delimited like a plain value, and every query and fragment
/// parameter is `benign_name=plain_value` (or a plain word).
fn is_plain_url(names: &LineScanner<'_>, line: &str, range: Range<usize>) -> bool {
    let b = line.as_bytes();
    let Some(url) = line.get(range.clone()) else {
        return false;
    };
    let before = range.start.checked_sub(1).and_then(|i| b.get(i));
    let after = b.get(range.end);
    if url.contains(['@', '%', '+', '\\'])
        || !before.is_none_or(|c| matches!(c, b' ' | b'\t' | b'=' | b'"' | b'\'' | b'('))
        || !after.is_none_or(|c| matches!(c, b' ' | b'\t' | b'"' | b'\''))
    {
        return false;
    }
    let Some(q) = url.find(['?', '#']) else {
        return true;
    };
    let plain = |s: &str| s.bytes().all(is_plain_byte);
    url.get(q.saturating_add(1)..)
        .unwrap_or_default()
        .split(['&', ';', '#', '?'])
        .all(|piece| match piece.split_once('=') {
            Some((name, value)) => names.is_benign_name(name) && plain(value),
            None => plain(piece),
        })
}

/// Header names whose value is a credential by position (`Field::Header` parses them).
fn is_credential_header(name: &str) -> bool {
    [
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
    ]
    .iter()
    .any(|h| h.eq_ignore_ascii_case(name))
}

/// HTTP authentication schemes (RFC 9110 and vendor forms).
fn is_auth_scheme(word: &str) -> bool {
    [
        "bearer",
        "basic",
        "digest",
        "ssws",
        "dpop",
        "token",
        "negotiate",
        "ntlm",
        "bot",
        "aws4-hmac-sha256",
        "hoba",
        "mutual",
        "vapid",
        "sharedkey",
        "sso-key",
    ]
    .iter()
    .any(|s| s.eq_ignore_ascii_case(word))
}

/// Whether the value at `line[range]` starts with an auth scheme and a space.
fn is_auth_scheme_prefixed(line: &str, range: &Range<usize>) -> bool {
    line.get(range.clone())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, rest)| is_auth_scheme(scheme) && !rest.trim().is_empty())
}

/// Whether a curl flag takes a value in the next word.
fn takes_value(flag: &str) -> bool {
    matches!(
        flag,
        "-H" | "--header"
            | "--proxy-header"
            | "-b"
            | "--cookie"
            | "-u"
            | "--user"
            | "-U"
            | "--proxy-user"
            | "--pass"
            | "--oauth2-bearer"
            | "-e"
            | "--referer"
            | "-x"
            | "--proxy"
            | "--url"
            | "-F"
            | "--form"
            | "--form-string"
            | "-d"
            | "--data"
            | "--data-raw"
            | "--data-binary"
            | "--data-ascii"
            | "--data-urlencode"
            | "--json"
    )
}

/// Splits `--flag=value` and `-Xvalue` (for short flags in `short_with_value`) into the
/// flag and the inline value's range.
fn split_flag<'w>(
    word: &'w str,
    start: usize,
    short_with_value: &[u8],
) -> (&'w str, Option<Range<usize>>) {
    let end = start.saturating_add(word.len());
    if word.starts_with("--") {
        if let Some((flag, v)) = word.split_once('=') {
            return (flag, Some(end.saturating_sub(v.len())..end));
        }
        return (word, None);
    }
    let bytes = word.as_bytes();
    if let (Some(b'-'), Some(c)) = (bytes.first(), bytes.get(1))
        && bytes.len() > 2
        && short_with_value.contains(c)
        && let Some(flag) = word.get(..2)
    {
        return (flag, Some(start.saturating_add(2)..end));
    }
    (word, None)
}

/// The inside of `'..'` or `".."`; an unterminated opening quote is dropped too.
fn unquote(line: &str, range: Range<usize>) -> Range<usize> {
    let Some(text) = line.get(range.clone()) else {
        return range;
    };
    for q in ['\'', '"'] {
        if text.len() >= 2 && text.starts_with(q) && text.ends_with(q) {
            return range.start.saturating_add(1)..range.end.saturating_sub(1);
        }
        if text.starts_with(q) {
            return range.start.saturating_add(1)..range.end;
        }
    }
    range
}

/// Shell-like words of `line` as ranges (quotes kept inside the range; a quoted part
/// runs to its closing quote, backslash escapes the next character).
fn shell_words(line: &str) -> Vec<Range<usize>> {
    let bytes = line.as_bytes();
    let mut words = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
            i = i.saturating_add(1);
        }
        let start = i;
        let mut quote: Option<u8> = None;
        while let Some(&b) = bytes.get(i) {
            match (quote, b) {
                (None, b'\'' | b'"') => quote = Some(b),
                (Some(q), _) if b == q => quote = None,
                (None | Some(b'"'), b'\\') => i = i.saturating_add(1),
                (None, _) if b.is_ascii_whitespace() => break,
                _ => {}
            }
            i = i.saturating_add(1);
        }
        let end = i.min(bytes.len());
        if start < end {
            words.push(start..end);
        }
    }
    words
}

/// Sorts hits and merges overlapping ones; the longest hit of a group gives the rule.
fn merge(mut hits: Vec<Hit>) -> Vec<Hit> {
    hits.sort_by(|a, b| {
        a.abs
            .start
            .cmp(&b.abs.start)
            .then(b.abs.end.cmp(&a.abs.end))
    });
    let mut merged: Vec<Hit> = Vec::with_capacity(hits.len());
    for hit in hits {
        match merged.last_mut() {
            Some(last) if hit.abs.start < last.abs.end => {
                let end = last.abs.end.max(hit.abs.end);
                if hit.abs.len() > last.abs.len() {
                    let start = last.abs.start;
                    *last = hit;
                    last.abs = start..end;
                } else {
                    last.abs.end = end;
                }
            }
            _ => merged.push(hit),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn spans(hits: &[Hit]) -> Vec<(Range<usize>, &'static str)> {
        hits.iter().map(|h| (h.abs.clone(), h.m.rule.id)).collect()
    }

    /// Benign and credential-bearing pieces of log lines, in every heuristic form.
    fn piece() -> impl Strategy<Value = String> {
        let name = prop::sample::select(vec![
            "page",
            "request_id",
            "etag",
            "user",
            "db_password",
            "access_token",
            "code",
            "state",
            "api_key",
            "sessionid",
            "sig",
            "Authorization",
            "cookie",
            "note",
            "X-Api-Key",
            "client_secret",
            "pool",
            "id_token",
            "next",
            "redirect_uri",
        ]);
        let value = prop_oneof![
            "[A-Za-z0-9]{1,12}",
            "[A-Za-z0-9]{24,40}",
            "[a-z]{2,6}[/:%+][A-Za-z0-9]{2,10}",
            "[a-z]{1,4}=[A-Za-z0-9]{24,30}(&code=[A-Za-z0-9]{24,30})?",
            "https://h\\.example/cb\\?code=[A-Za-z0-9]{24,30}",
            "eyJhbGciOiJIUzI1NiJ9\\.eyJzdWIiOiIxIn0\\.[A-Za-z0-9_-]{20,43}",
            "ghp_[A-Za-z0-9]{36}",
            "Bearer [A-Za-z0-9]{24,40}",
        ];
        (name, value, 0..9u8).prop_map(|(n, v, form)| match form {
            0 => format!("{n}={v}"),
            1 => format!("\"{n}\": \"{v}\""),
            2 => format!("{n}: {v}"),
            3 => format!("GET /cb?{n}={v}&page=2 HTTP/1.1"),
            4 => format!("https://app.example.com/x?{n}={v}#f"),
            5 => format!("curl -H '{n}: {v}' https://a.example/"),
            6 => format!("curl -u me:{v} -d '{n}={v}' https://a.example/"),
            7 => format!("http POST a.example {n}:{v} {n}=={v}"),
            _ => format!("{n}='{v}',"),
        })
    }

    fn line() -> impl Strategy<Value = String> {
        (
            "(2026-11-28T12:00:0[0-9]Z (INFO|DEBUG) )?",
            prop::collection::vec(piece(), 1..4),
        )
            .prop_map(|(prefix, pieces)| format!("{prefix}{}", pieces.join(" ")))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The fast pass flags exactly what the reference pass flags.
        #[test]
        fn fast_pass_equals_reference_pass(line in line()) {
            let scanner = Scanner::new();
            let lines = LineScanner::new(&scanner);
            prop_assert_eq!(spans(&lines.hits(&line)), spans(&lines.hits_full(&line)));
        }
    }

    #[test]
    fn fast_pass_equals_reference_pass_on_the_bench_forms() {
        let scanner = Scanner::new();
        let lines = LineScanner::new(&scanner);
        for line in [
            "2026-11-28T12:00:05Z INFO GET /api/v1/items/5?page=2 200 3ms request_id=9e3779b97f4a7c15 etag=\"9e3779b97f4a7c159e3779b97f4a7c15\"",
            "2026-11-28T12:00:05Z DEBUG Authorization: Bearer tok9e3779b97f4a7c159e3779b97f4a7c15",
            "curl -H 'Cookie: PHPSESSID=s9e3779b97f4a7c1597f4a7c1' https://app.example.com/api/3",
            "10.0.0.7 - - \"GET /oauth/callback?code=c9e3779b97f4a7c159e3779b97f4a7c15&state=x HTTP/1.1\" 302 0",
            "config reload db_password=pw9e3779b97f4a7c15 pool=10",
            "GET /x?note=abc&next=https%3A%2F%2Fa.example%2Fcb%3Fcode%3Dc9e3779b97f4a7c159e3779b97f4a7c15",
            "user=me redirect=a=1&code=c9e3779b97f4a7c159e3779b97f4a7c15",
        ] {
            assert_eq!(
                spans(&lines.hits(line)),
                spans(&lines.hits_full(line)),
                "{line}"
            );
        }
    }

    /// What blocks a plain credential value under a credential name on the fast path is
    /// the name check: the free detector alone does not flag it, and neither would a
    /// fast pass that skipped every plain value.
    #[test]
    fn the_name_check_is_what_keeps_plain_credential_pairs() {
        let scanner = Scanner::new();
        let lines = LineScanner::new(&scanner);
        let mut only_by_name = 0;
        for name in [
            "ticket",
            "otp",
            "assertion",
            "client_assertion",
            "relaystate",
            "jwt",
            "code_verifier",
            "samlresponse",
            "auth_token",
            "secret",
            "sessionid",
        ] {
            let line = format!("config reload {name}=Zq9e3779b97f4a7c159e3779b9 pool=10");
            let value = line.find("Zq9").unwrap();
            assert!(is_plain(&line, value..value.saturating_add(26)));
            assert!(!lines.is_benign_name(name), "{name}");
            // The fast pass keeps the pair: the name is not benign.
            assert!(
                lines.hits(&line).iter().any(|h| h.abs.contains(&value)),
                "{name}"
            );
            // The unsafe variant (a fast pass skipping every plain value) is left with
            // the whole-line free detector alone.
            let mut free = Hits::default();
            lines.ask(&line, Field::Text, 0..line.len(), kind::TEXT, &mut free);
            if free.list.iter().all(|h| !h.abs.contains(&value)) {
                only_by_name += 1;
            }
        }
        assert!(
            only_by_name > 0,
            "some credential pair is found only by its name"
        );
    }

    #[test]
    fn benign_names_and_plain_values() {
        let scanner = Scanner::new();
        let lines = LineScanner::new(&scanner);
        for benign in ["page", "request_id", "etag", "pool", "ms"] {
            assert!(lines.is_benign_name(benign), "{benign}");
        }
        for credential in [
            "access_token",
            "Code",
            "STATE",
            "sig",
            "X-Amz-Signature",
            "PHPSESSID",
            "api_key",
            "passwd",
            "pwd",
            "jwt",
            "SAMLResponse",
            "RelayState",
            "key",
            "client_assertion",
            "otp",
            "ticket",
            "sid",
            "a%20b",
            "",
        ] {
            assert!(!lines.is_benign_name(credential), "{credential}");
        }
        let line = "a=x1 b=\"y2\" c=z/3 d=w4,";
        assert!(is_plain(line, 2..4));
        assert!(is_plain(line, 8..10));
        assert!(!is_plain(line, 14..17));
        assert!(!is_plain(line, 20..22));
    }

    #[test]
    fn split_pair_agrees_with_the_groups() {
        let line = r#"a=1 "b" : "x y" 'c'='z' d: e9 f="q\"r""#;
        for m in PATTERNS.pair.find_iter(line) {
            let c = PATTERNS.pair.captures_at(line, m.start()).unwrap();
            let name = c.get(1).or_else(|| c.get(2)).or_else(|| c.get(3)).unwrap();
            let value = c.get(4).or_else(|| c.get(5)).or_else(|| c.get(6)).unwrap();
            assert_eq!(
                split_pair(line, m.range()),
                Some((name.as_str(), value.range()))
            );
        }
    }

    fn words(line: &str) -> Vec<&str> {
        shell_words(line)
            .into_iter()
            .map(|r| line.get(r).unwrap())
            .collect()
    }

    #[test]
    fn shell_words_keep_quotes_and_escapes() {
        assert_eq!(
            words(r#"curl -H 'A: b c' --data="x y" a\ b"#),
            vec!["curl", "-H", "'A: b c'", "--data=\"x y\"", r"a\ b"]
        );
    }

    #[test]
    fn split_flag_forms() {
        assert_eq!(
            split_flag("--header=X", 10, b"H"),
            ("--header", Some(19..20))
        );
        assert_eq!(split_flag("-HX: y", 0, b"H"), ("-H", Some(2..6)));
        assert_eq!(split_flag("-v", 0, b"H"), ("-v", None));
        assert_eq!(split_flag("--verbose", 0, b"H"), ("--verbose", None));
    }

    #[test]
    fn unquote_only_matching_quotes() {
        let line = "'abc' \"d\" 'e";
        assert_eq!(unquote(line, 0..5), 1..4);
        assert_eq!(unquote(line, 6..9), 7..8);
        assert_eq!(unquote(line, 10..12), 11..12);
        assert_eq!(unquote(line, 11..12), 11..12);
    }
}
