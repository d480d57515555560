//! Validators that confirm candidates: Shannon entropy, JWT/JWE structure, GitHub's
//! CRC32 token checksum, base64 and percent decoding (with offset maps), SAML decoding.

use std::io::Read as _;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// Shannon entropy of `bytes` in bits per byte (0.0 for empty input).
#[must_use]
pub fn shannon_entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in bytes {
        let slot = counts.get_mut(usize::from(b));
        if let Some(c) = slot {
            *c = c.saturating_add(1);
        }
    }
    let len = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / len;
            -p * p.log2()
        })
        .sum()
}

/// Whether an opaque value found in an auth position looks like a random secret:
/// long enough, varied enough, not a word, number, locale, boolean or placeholder.
#[must_use]
pub fn looks_opaque_secret(value: &[u8]) -> bool {
    if value.len() < 12 || is_placeholder(value) {
        return false;
    }
    if value.iter().all(u8::is_ascii_digit) && value.len() < 20 {
        return false;
    }
    let classes = [
        value.iter().any(u8::is_ascii_lowercase),
        value.iter().any(u8::is_ascii_uppercase),
        value.iter().any(u8::is_ascii_digit),
    ]
    .iter()
    .filter(|&&b| b)
    .count();
    let entropy = shannon_entropy(value);
    // Random base64/base62/hex of 12+ chars sits well above 3 bits per byte; words
    // and repeated characters sit below.
    let threshold = if value.len() >= 32 { 3.0 } else { 3.2 };
    classes >= 2 && entropy >= threshold
}

/// Whether a value is one of the non-secret placeholders seen in auth positions.
#[must_use]
pub fn is_placeholder(value: &[u8]) -> bool {
    const WORDS: &[&[u8]] = &[
        b"null",
        b"none",
        b"nil",
        b"undefined",
        b"true",
        b"false",
        b"yes",
        b"no",
        b"on",
        b"off",
        b"n/a",
        b"na",
        b"empty",
        b"changeme",
        b"redacted",
        b"hidden",
        b"xxx",
        b"***",
        b"secret",
        b"password",
        b"token",
        b"<redacted>",
        b"[redacted]",
        b"[filtered]",
        b"********",
    ];
    let trimmed = value.trim_ascii();
    trimmed.is_empty()
        || WORDS.iter().any(|w| trimmed.eq_ignore_ascii_case(w))
        || trimmed
            .iter()
            .all(|&b| b == b'*' || b == b'x' || b == b'X' || b == b'.')
}

/// Decodes base64url without padding (JWT segments); also accepts trailing `=`.
#[must_use]
pub fn b64url_decode(segment: &[u8]) -> Option<Vec<u8>> {
    let trimmed = segment
        .strip_suffix(b"==")
        .or_else(|| segment.strip_suffix(b"="))
        .unwrap_or(segment);
    URL_SAFE_NO_PAD.decode(trimmed).ok()
}

/// Decodes standard or URL-safe base64, with or without padding, ignoring whitespace.
#[must_use]
pub fn b64_decode_lenient(data: &[u8]) -> Option<Vec<u8>> {
    let cleaned: Vec<u8> = data
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| match b {
            b'-' => b'+',
            b'_' => b'/',
            other => other,
        })
        .filter(|&b| b != b'=')
        .collect();
    let mut padded = cleaned;
    while !padded.len().is_multiple_of(4) {
        padded.push(b'=');
    }
    STANDARD.decode(&padded).ok()
}

/// The base64url alphabet plus `=` padding.
#[must_use]
pub const fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Decoded JWT header facts used for validation and marker hints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtInfo {
    /// `alg` of the protected header.
    pub alg: String,
    /// Whether this is a JWE (five segments, header has `enc`).
    pub encrypted: bool,
}

/// Validates a compact JWS (3 segments) or JWE (5 segments): the header must decode
/// to a JSON object with a string `alg` (and `enc` for JWE).
#[must_use]
pub fn jwt_info(token: &[u8]) -> Option<JwtInfo> {
    let segments: Vec<&[u8]> = token.split(|&b| b == b'.').collect();
    let header = segments.first()?;
    let json: serde_json::Value = serde_json::from_slice(&b64url_decode(header)?).ok()?;
    let alg = json.get("alg")?.as_str()?.to_owned();
    match segments.len() {
        3 => {
            // The payload of a JWS must decode too (it is JSON or arbitrary bytes).
            b64url_decode(segments.get(1)?)?;
            Some(JwtInfo {
                alg,
                encrypted: false,
            })
        }
        5 => {
            json.get("enc")?.as_str()?;
            Some(JwtInfo {
                alg,
                encrypted: true,
            })
        }
        _ => None,
    }
}

/// Non-secret claims of a JWS payload for marker hints (`iss`, `aud`, `exp`, `iat`).
#[must_use]
pub fn jwt_claims(token: &[u8]) -> Option<serde_json::Map<String, serde_json::Value>> {
    let payload = token.split(|&b| b == b'.').nth(1)?;
    match serde_json::from_slice(&b64url_decode(payload)?).ok()? {
        serde_json::Value::Object(map) => Some(map),
        _ => None,
    }
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Base62-encodes `n`, left-padded with `0` to `width` digits.
#[must_use]
pub fn base62(mut n: u32, width: usize) -> String {
    let mut digits = Vec::new();
    while n > 0 {
        let d = usize::try_from(n % 62).unwrap_or(0);
        digits.push(char::from(BASE62.get(d).copied().unwrap_or(b'0')));
        n /= 62;
    }
    while digits.len() < width {
        digits.push('0');
    }
    digits.iter().rev().collect()
}

/// Checks the CRC32 checksum of a GitHub token (`ghp_` + 30 random base62 + 6 base62
/// digits of CRC32 over the random part), per GitHub's 2021 token format.
#[must_use]
pub fn github_checksum_ok(token: &[u8]) -> bool {
    let Some(body) = token.get(4..) else {
        return false;
    };
    if body.len() != 36 {
        return false;
    }
    let (random, check) = body.split_at(30);
    base62(crc32fast::hash(random), 6).as_bytes() == check
}

/// A percent-decoded string with a map from decoded byte index to raw byte index.
#[derive(Debug)]
pub struct Decoded {
    /// The decoded bytes.
    pub bytes: Vec<u8>,
    /// `map[i]` is the raw offset where decoded byte `i` starts.
    map: Vec<usize>,
    raw_len: usize,
}

impl Decoded {
    /// Maps a decoded span back to the raw span that produced it.
    #[must_use]
    pub fn raw_span(&self, span: std::ops::Range<usize>) -> std::ops::Range<usize> {
        let start = self.map.get(span.start).copied().unwrap_or(self.raw_len);
        let end = self.map.get(span.end).copied().unwrap_or(self.raw_len);
        start..end.max(start)
    }
}

/// Percent-decodes `raw` (and `+` as space when `plus_as_space`), keeping an offset map.
/// Invalid escapes are kept literally.
#[must_use]
pub fn percent_decode(raw: &[u8], plus_as_space: bool) -> Decoded {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut map = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        if b == b'%' {
            let hex = raw.get(i.saturating_add(1)..i.saturating_add(3));
            if let Some(v) = hex.and_then(parse_hex_pair) {
                bytes.push(v);
                map.push(i);
                i = i.saturating_add(3);
                continue;
            }
        }
        bytes.push(if plus_as_space && b == b'+' { b' ' } else { b });
        map.push(i);
        i = i.saturating_add(1);
    }
    Decoded {
        bytes,
        map,
        raw_len: raw.len(),
    }
}

fn parse_hex_pair(pair: &[u8]) -> Option<u8> {
    let [hi, lo] = pair else { return None };
    let hi = char::from(*hi).to_digit(16)?;
    let lo = char::from(*lo).to_digit(16)?;
    u8::try_from(hi.checked_mul(16)?.checked_add(lo)?).ok()
}

/// Decodes a SAML message parameter: base64, then raw DEFLATE when it is not XML yet
/// (HTTP-Redirect binding). Returns the XML when it looks like SAML. Output is bounded.
#[must_use]
pub fn saml_decode(value: &[u8]) -> Option<Vec<u8>> {
    const LIMIT: u64 = 4 * 1024 * 1024;
    let decoded = b64_decode_lenient(value)?;
    let xml = if looks_like_saml(&decoded) {
        decoded
    } else {
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(decoded.as_slice())
            .take(LIMIT)
            .read_to_end(&mut out)
            .ok()?;
        out
    };
    looks_like_saml(&xml).then_some(xml)
}

fn looks_like_saml(xml: &[u8]) -> bool {
    memchr::memmem::find(xml, b"urn:oasis:names:tc:SAML").is_some()
        || memchr::memmem::find(xml, b"samlp:").is_some()
        || memchr::memmem::find(xml, b"saml2p:").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_separates_words_from_random() {
        assert!(shannon_entropy(b"aaaaaaaaaaaa") < 0.1);
        assert!(!looks_opaque_secret(b"true"));
        assert!(!looks_opaque_secret(b"en-US"));
        assert!(!looks_opaque_secret(b"application/json"));
        assert!(!looks_opaque_secret(b"1234567890"));
        assert!(looks_opaque_secret(b"f3K9qLz0Xw2PbV7nR1tY"));
    }

    #[test]
    fn github_checksum_roundtrip() {
        let random = "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0";
        let token = format!(
            "ghp_{random}{}",
            base62(crc32fast::hash(random.as_bytes()), 6)
        );
        assert!(github_checksum_ok(token.as_bytes()));
        let mut bad = token.into_bytes();
        if let Some(last) = bad.last_mut() {
            *last = if *last == b'A' { b'B' } else { b'A' };
        }
        assert!(!github_checksum_ok(&bad));
    }

    #[test]
    fn percent_decode_maps_offsets() {
        let d = percent_decode(b"a%3Db+c", true);
        assert_eq!(d.bytes, b"a=b c");
        assert_eq!(d.raw_span(1..3), 1..5);
        assert_eq!(d.raw_span(4..5), 6..7);
    }

    #[test]
    fn jwt_requires_alg() {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let p = URL_SAFE_NO_PAD.encode(br#"{"sub":"1"}"#);
        assert!(jwt_info(format!("{h}.{p}.c2ln").as_bytes()).is_some());
        let no_alg = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT"}"#);
        assert!(jwt_info(format!("{no_alg}.{p}.c2ln").as_bytes()).is_none());
    }
}
