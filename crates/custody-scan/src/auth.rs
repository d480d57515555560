//! Authorization header parsing by scheme: Bearer, Basic (decoded user:pass), Digest
//! (response hash), SSWS, DPoP, AWS4-HMAC-SHA256, Negotiate, NTLM, Bot and any other
//! scheme or bare credential.

use crate::catalogue::rule;
use crate::engine::Match;
use crate::lexer;
use crate::validate;

fn emit(out: &mut Vec<Match>, id: &str, span: std::ops::Range<usize>) {
    if let Some(r) = rule(id) {
        out.push(Match { rule: r, span });
    }
}

fn token68_end(v: &[u8], from: usize) -> usize {
    lexer::take_while(v, from, v.len(), |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
    })
}

/// Credentials in an Authorization value: `scheme` is the scheme word, `rest` what
/// follows it (spans index `rest`). In a header position (`header` = true) every
/// credential is reported; in free text opaque bearer values must pass the entropy
/// check, so prose such as "Bearer token" is not a finding.
pub(crate) fn scheme_credentials(scheme: &[u8], rest: &[u8], header: bool) -> Vec<Match> {
    let mut out = Vec::new();
    let start = lexer::skip_blanks(rest, 0);
    let end = token68_end(rest, start);
    let cred = rest.get(start..end).unwrap_or_default();
    let lower = scheme.to_ascii_lowercase();
    if !cred.is_empty() && lexer::is_non_secret_value(cred, true) {
        return out;
    }
    match lower.as_slice() {
        b"bearer" | b"dpop" | b"token" | b"jwt" | b"oauth" => {
            let jwt = cred.starts_with(b"eyJ") && validate::jwt_info(cred).is_some();
            let id = if jwt {
                if validate::jwt_info(cred).is_some_and(|i| i.encrypted) {
                    "jwe"
                } else {
                    "jwt"
                }
            } else if lower == b"dpop" {
                "auth-dpop"
            } else if lower == b"bearer" {
                "auth-bearer"
            } else {
                "auth-header"
            };
            if jwt || validate::looks_opaque_secret(cred) || (header && !cred.is_empty()) {
                emit(&mut out, id, start..end);
            }
        }
        b"basic" => {
            let decoded = validate::b64_decode_lenient(cred);
            let valid = decoded.as_deref().is_some_and(|d| {
                std::str::from_utf8(d)
                    .is_ok_and(|s| s.contains(':') && !s.chars().any(char::is_control))
            });
            if valid || (header && !cred.is_empty()) {
                emit(&mut out, "auth-basic", start..end);
            }
        }
        b"ssws" => {
            if cred.len() >= 30 || (header && !cred.is_empty()) {
                emit(&mut out, "okta-api-token", start..end);
            }
        }
        b"negotiate" | b"ntlm" | b"kerberos" => {
            let decoded = validate::b64_decode_lenient(cred).unwrap_or_default();
            let valid = decoded.starts_with(b"NTLMSSP\0")
                || decoded.first() == Some(&0x60)
                || decoded.first() == Some(&0xa1);
            if (valid && cred.len() >= 20) || (header && !cred.is_empty()) {
                emit(&mut out, "auth-negotiate", start..end);
            }
        }
        b"digest" => digest(rest, header, &mut out),
        b"aws4-hmac-sha256" => {
            if let Some(p) = memchr::memmem::find(rest, b"Signature=") {
                let s = p.saturating_add(10);
                let e = lexer::take_while(rest, s, 128, |b| b.is_ascii_hexdigit());
                if e > s {
                    emit(&mut out, "aws-sigv4-signature", s..e);
                }
            } else if header && !rest.trim_ascii().is_empty() {
                emit(&mut out, "auth-header", start..rest.len());
            }
        }
        b"bot" => {
            if !cred.is_empty() {
                emit(&mut out, "discord-bot-token", start..end);
            }
        }
        _ => {
            // Unknown scheme (ApiKey, Key, GoogleLogin auth=, custom): in a header the
            // whole remainder is the credential.
            let whole = rest.trim_ascii();
            if header && !whole.is_empty() && !lexer::is_non_secret_value(whole, true) {
                let s = lexer::skip_blanks(rest, 0);
                emit(&mut out, "auth-header", s..s.saturating_add(whole.len()));
            }
        }
    }
    out
}

/// Digest: the `response` hash (and `cnonce`) are reported.
fn digest(rest: &[u8], header: bool, out: &mut Vec<Match>) {
    let mut found = false;
    for key in [&b"response="[..], b"cnonce="] {
        let mut from = 0;
        while let Some(p) = rest.get(from..).and_then(|r| memchr::memmem::find(r, key)) {
            let at = from.saturating_add(p);
            let boundary = !lexer::prev(rest, at).is_some_and(|b| b.is_ascii_alphanumeric());
            let mut s = at.saturating_add(key.len());
            if rest.get(s) == Some(&b'"') {
                s = s.saturating_add(1);
            }
            let e = lexer::take_while(rest, s, 256, |b| {
                b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_')
            });
            if boundary && e > s {
                emit(out, "auth-digest", s..e);
                found = true;
            }
            from = at.saturating_add(key.len());
        }
    }
    if !found && header && !rest.trim_ascii().is_empty() {
        emit(out, "auth-digest", lexer::skip_blanks(rest, 0)..rest.len());
    }
}

/// Splits an Authorization header value into scheme and credential and reports it.
/// A value without a scheme (a bare token) is reported whole.
///
/// With `header` false (an `authorization:` seen in free text, not at a header
/// position) bare values and unknown schemes must look like random secrets.
pub(crate) fn authorization_value(value: &[u8], header: bool) -> Vec<Match> {
    let v = value.trim_ascii_end();
    let lead = skip_markers(v);
    // After a redacted credential, only what validates as a credential is reported
    // (the marker was the header's credential; the rest may be prose).
    let header = header && lead == skip_ws(v, 0);
    let body = v.get(lead..).unwrap_or_default();
    if body.is_empty() || lexer::is_non_secret_value(body, true) {
        return Vec::new();
    }
    let scheme_end = lexer::take_while(body, 0, 64, |b| {
        b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
    });
    let has_scheme = scheme_end > 0 && body.get(scheme_end) == Some(&b' ');
    if !has_scheme {
        let mut out = Vec::new();
        if !header && !validate::looks_opaque_secret(body) {
            return out;
        }
        let id = if body.starts_with(b"eyJ") && validate::jwt_info(body).is_some() {
            "jwt"
        } else {
            "auth-header"
        };
        emit(&mut out, id, lead..v.len());
        return out;
    }
    let scheme = body.get(..scheme_end).unwrap_or_default();
    let rest = body.get(scheme_end..).unwrap_or_default();
    let offset = lead.saturating_add(scheme_end);
    let known = matches!(
        scheme.to_ascii_lowercase().as_slice(),
        b"bearer"
            | b"basic"
            | b"digest"
            | b"ssws"
            | b"dpop"
            | b"negotiate"
            | b"ntlm"
            | b"aws4-hmac-sha256"
            | b"bot"
    );
    let cred = rest.trim_ascii();
    if !header && !known && !validate::looks_opaque_secret(cred) {
        return Vec::new();
    }
    let mut out = scheme_credentials(scheme, rest, header || !known);
    for m in &mut out {
        m.span = m.span.start.saturating_add(offset)..m.span.end.saturating_add(offset);
    }
    // Anything after the first credential (e.g. `Bearer a, Basic b`) is still inside
    // the header: if the scheme parser reported nothing, take the whole value.
    let tail = rest.trim_ascii();
    if out.is_empty() && header && !tail.is_empty() && !lexer::is_non_secret_value(tail, true) {
        emit(&mut out, "auth-header", skip_ws(v, offset)..v.len());
    }
    out
}

/// Skips ASCII whitespace from `i`.
fn skip_ws(v: &[u8], i: usize) -> usize {
    lexer::take_while(v, i, v.len(), |b| b.is_ascii_whitespace())
}

/// Where the first credential of an Authorization value starts: leading blanks, and
/// any already-redacted credential (a marker, bare or after its scheme word) with the
/// separators after it, are skipped. A value made only of markers yields `v.len()`.
fn skip_markers(v: &[u8]) -> usize {
    let mut at = skip_ws(v, 0);
    loop {
        let rest = v.get(at..).unwrap_or_default();
        let scheme_end = lexer::take_while(rest, 0, 64, |b| {
            b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
        });
        let cred = if scheme_end > 0 && rest.get(scheme_end) == Some(&b' ') {
            skip_ws(rest, scheme_end)
        } else {
            0
        };
        let Some(len) = rest.get(cred..).and_then(crate::redact::marker_len) else {
            return at;
        };
        let after = at.saturating_add(cred).saturating_add(len);
        at = lexer::take_while(v, after, v.len(), |b| b.is_ascii_whitespace() || b == b',');
    }
}
