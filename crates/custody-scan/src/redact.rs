//! Markers and keyed fingerprints: [`Redactor`] builds `[redacted:<class>:<fp>]`
//! (optionally `:<hints>`), [`is_marker`] recognises exactly well-formed markers.

use std::fmt;
use std::ops::Range;

use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::engine::Match;
use crate::rule::Class;
use crate::validate;

/// Marker prefix.
const PREFIX: &str = "[redacted:";

/// The searcher for [`PREFIX`], built once (a `memmem` searcher's set-up cost more
/// than the search in short values).
static PREFIX_FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(PREFIX));
/// Longest hints part a marker may carry.
const MAX_HINTS: usize = 160;

/// Per-artifact keyed fingerprints and markers. The key is random per artifact (the
/// caller draws it from the OS RNG), zeroized on drop, and never shown by `Debug`.
pub struct Redactor {
    key: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Redactor { key: <redacted> }")
    }
}

impl Redactor {
    /// A redactor with this per-artifact key.
    #[must_use]
    pub fn new(key: [u8; 32]) -> Redactor {
        Redactor {
            key: Zeroizing::new(key),
        }
    }

    /// First 12 hex chars of HMAC-SHA256(key, secret).
    #[must_use]
    pub fn fingerprint(&self, secret: &[u8]) -> String {
        let Ok(mut mac) = <Hmac<Sha256>>::new_from_slice(self.key.as_slice()) else {
            // HMAC accepts keys of any length; unreachable, but never leak or panic.
            return "000000000000".to_owned();
        };
        mac.update(secret);
        let tag = mac.finalize().into_bytes();
        tag.iter().take(6).map(|b| format!("{b:02x}")).collect()
    }

    /// `[redacted:<class>:<fp>]` or `[redacted:<class>:<fp>:<hints>]` for the match
    /// `m` inside `value`. Hints are non-secret (`len=`, `cookie=`, JWT `alg`, `iss`
    /// host, `exp`, `iat`), never a signature, opaque value or password. The marker
    /// uses only `[]:=,.-` and alphanumerics, so it is safe in a URL, header or JSON.
    #[must_use]
    pub fn marker(&self, m: &Match, value: &str) -> String {
        let secret = value.as_bytes().get(m.span.clone()).unwrap_or_default();
        let fp = self.fingerprint(secret);
        let hints = hints(m, value.as_bytes(), secret);
        if hints.is_empty() {
            format!("{PREFIX}{}:{fp}]", m.rule.class.as_str())
        } else {
            format!("{PREFIX}{}:{fp}:{hints}]", m.rule.class.as_str())
        }
    }
}

/// Longest cookie name a marker shows as a hint.
const MAX_COOKIE_NAME_HINT: usize = 32;

fn safe_hint(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(48)
        .collect()
}

fn hints(m: &Match, value: &[u8], secret: &[u8]) -> String {
    let mut parts = vec![format!("len={}", secret.len())];
    if m.rule.class == Class::SessionCookie {
        // cookie name: the token before `=` that precedes the span
        let before = value.get(..m.span.start).unwrap_or_default();
        if let Some(eq) = before.strip_suffix(b"=") {
            let start = eq
                .iter()
                .rposition(|&b| matches!(b, b';' | b' ' | b'\t'))
                .map_or(0, |p| p.saturating_add(1));
            let name = String::from_utf8_lossy(eq.get(start..).unwrap_or_default()).into_owned();
            let name = safe_hint(&name);
            // The "name" is whatever precedes `=`: in free text or a value holding
            // `=` it can be part of the secret itself (a base64 value split at its
            // own `=`). A name is shown only when it is short and does not itself
            // look like an opaque secret.
            if !name.is_empty()
                && name.len() <= MAX_COOKIE_NAME_HINT
                && !validate::looks_opaque_secret(name.as_bytes())
            {
                parts.push(format!("cookie={name}"));
            }
        }
    }
    if m.rule.class == Class::Jwt {
        if let Some(info) = validate::jwt_info(secret) {
            parts.push(format!("alg={}", safe_hint(&info.alg)));
        }
        if let Some(claims) = validate::jwt_claims(secret) {
            if let Some(iss) = claims.get("iss").and_then(|v| v.as_str()) {
                let host = iss
                    .split("://")
                    .nth(1)
                    .unwrap_or(iss)
                    .split('/')
                    .next()
                    .unwrap_or_default();
                parts.push(format!("iss={}", safe_hint(host)));
            }
            for claim in ["exp", "iat"] {
                if let Some(n) = claims.get(claim).and_then(serde_json::Value::as_i64) {
                    parts.push(format!("{claim}={n}"));
                }
            }
        }
    }
    parts.push(format!("rule={}", m.rule.id));
    let mut joined = parts.join(",");
    joined.truncate(MAX_HINTS);
    joined
}

/// Whether `s` is exactly one well-formed marker: `[redacted:<class>:<12 hex>]` or
/// `[redacted:<class>:<12 hex>:<hints>]` with hints of `[A-Za-z0-9._=,-]`. A value
/// that merely starts like a marker and continues with anything else is not one.
#[must_use]
pub fn is_marker(s: &str) -> bool {
    is_marker_bytes(s.as_bytes())
}

pub(crate) fn is_marker_bytes(s: &[u8]) -> bool {
    marker_len(s) == Some(s.len())
}

/// Length of the well-formed marker at the start of `s`, if there is one.
pub(crate) fn marker_len(s: &[u8]) -> Option<usize> {
    let rest = s.strip_prefix(PREFIX.as_bytes())?;
    let class_end = rest.iter().position(|&b| b == b':')?;
    let class = std::str::from_utf8(rest.get(..class_end)?).ok()?;
    Class::from_id(class)?;
    let after_class = rest.get(class_end.saturating_add(1)..)?;
    let fp = after_class.get(..12)?;
    if !fp
        .iter()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return None;
    }
    let tail = after_class.get(12..)?;
    let consumed = PREFIX
        .len()
        .saturating_add(class_end)
        .saturating_add(1)
        .saturating_add(12);
    match tail.first() {
        Some(b']') => Some(consumed.saturating_add(1)),
        Some(b':') => {
            let hints = tail.get(1..)?;
            let close = hints.iter().position(|&b| b == b']')?;
            let body = hints.get(..close)?;
            let ok = !body.is_empty()
                && body.len() <= MAX_HINTS
                && body.iter().all(|&b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'=' | b',' | b'-')
                });
            ok.then(|| consumed.saturating_add(2).saturating_add(close))
        }
        _ => None,
    }
}

/// Spans of the well-formed markers inside `hay`.
pub(crate) fn marker_spans(hay: &[u8]) -> Vec<Range<usize>> {
    PREFIX_FINDER
        .find_iter(hay)
        .filter_map(|p| {
            hay.get(p..)
                .and_then(marker_len)
                .map(|len| p..p.saturating_add(len))
        })
        .collect()
}
