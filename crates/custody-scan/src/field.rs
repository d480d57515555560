//! Position-aware detection ([`Scanner::scan_field`](crate::Scanner::scan_field)):
//! decide by the field and its name first (header, cookie, query, form and JSON-key
//! dictionaries, with allow-lists for benign names), then by the value.

use std::ops::Range;

use crate::auth;
use crate::catalogue::rule;
use crate::engine::{Match, Scanner, resolve, tidy};
use crate::lexer;
use crate::redact::is_marker_bytes;
use crate::validate::{self, Decoded};

/// Where a value sits; names are matched case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field<'a> {
    /// Any header value. `Cookie` gives one match per cookie value, `Set-Cookie` the
    /// cookie value, `Authorization`/`Proxy-Authorization` the credential after the
    /// scheme, `Referer`/`Location`/`Origin` are treated as [`Field::Url`].
    Header {
        /// Header name.
        name: &'a str,
    },
    /// One cookie value (HAR `cookies[]`).
    Cookie {
        /// Cookie name.
        name: &'a str,
    },
    /// One URL query or fragment parameter value (raw, may be percent-encoded).
    Query {
        /// Parameter name.
        name: &'a str,
    },
    /// One form-post parameter value (raw, may be percent-encoded).
    Form {
        /// Parameter name.
        name: &'a str,
    },
    /// The value of a JSON member with this key.
    JsonKey {
        /// Member name.
        name: &'a str,
    },
    /// A whole URL: credential parameters of query and fragment (percent-decoded,
    /// nested URLs too), userinfo password, presigned signatures.
    Url,
    /// Free text: [`Scanner::scan`] plus the URLs found inside the text.
    Text,
}

/// Nesting limit for URLs inside URL parameters.
const MAX_URL_DEPTH: usize = 4;

fn push(out: &mut Vec<Match>, id: &str, span: Range<usize>) {
    if let Some(r) = rule(id)
        && span.start < span.end
    {
        out.push(Match { rule: r, span });
    }
}

/// Names that are always session cookies (lower-case), besides the prefixed and
/// substring forms handled in [`is_session_cookie_name`].
const SESSION_COOKIES: &[&str] = &[
    "phpsessid",
    "jsessionid",
    "connect.sid",
    "asp.net_sessionid",
    ".aspxauth",
    ".aspxanonymous",
    "laravel_session",
    "_session_id",
    "rack.session",
    "sessionid",
    "sid",
    "idx",
    "sessid",
    "ci_session",
    "cfid",
    "cftoken",
    "express.sid",
    "koa.sess",
    "koa:sess",
    "session",
    "sess",
    "jwt",
    "auth",
    "token",
    "access_token",
    "id_token",
    "refresh_token",
    "dt",
    "okta-oauth-nonce",
    "okta-oauth-state",
    "xsrf-token",
    "csrftoken",
    "_csrf",
    "remember_token",
    "remember_user_token",
    "wordpress_logged_in",
    "wp-settings",
    "shopify_session",
    "_gitlab_session",
    "user_session",
    "_gh_sess",
    "logged_in",
];

/// Whether a cookie name is a session cookie of a known framework or IdP.
#[must_use]
pub(crate) fn is_session_cookie_name(name: &str) -> bool {
    let mut buf = [0u8; NAME_BUF];
    is_session_cookie_lower(LowerName::new(name, &mut buf).as_str())
}

/// Words that make any cookie name a session cookie, as substrings of the lower-case
/// name: what [`has_session_word`] checks (its test compares the two).
#[cfg(test)]
const SESSION_WORDS: [&str; 10] = [
    "session", "sess_", "_sess", "sessid", "auth", "token", "jwt", "sso", "saml", "login",
];

/// [`is_session_cookie_name`] of an already trimmed, lower-case name.
fn is_session_cookie_lower(lower: &str) -> bool {
    if SESSION_COOKIES.contains(&lower)
        || lower.starts_with("__host-")
        || lower.starts_with("__secure-")
        || lower.starts_with(".aspnetcore.")
        || lower.starts_with("wordpress_logged_in")
        || lower.starts_with("wordpress_sec")
    {
        return true;
    }
    has_session_word(lower) || lower.ends_with("_sid") || lower.ends_with(".sid")
}

/// Whether `lower` contains `session`, `sess_`, `_sess`, `sessid`, `auth`, `token`,
/// `jwt`, `sso`, `saml` or `login`: one pass over the name, each
/// word compared only where the name holds its first byte (cookie names are a few
/// bytes long: a substring searcher's set-up per word would cost more).
fn has_session_word(lower: &str) -> bool {
    let bytes = lower.as_bytes();
    (0..bytes.len()).any(|i| {
        let rest = bytes.get(i..).unwrap_or_default();
        match rest.first() {
            Some(b's') => {
                rest.starts_with(b"sess")
                    && (rest.starts_with(b"session")
                        || rest.starts_with(b"sess_")
                        || rest.starts_with(b"sessid"))
                    || rest.starts_with(b"sso")
                    || rest.starts_with(b"saml")
            }
            Some(b'_') => rest.starts_with(b"_sess"),
            Some(b'a') => rest.starts_with(b"auth"),
            Some(b't') => rest.starts_with(b"token"),
            Some(b'j') => rest.starts_with(b"jwt"),
            Some(b'l') => rest.starts_with(b"login"),
            _ => false,
        }
    })
}

/// [`is_benign_cookie_lower`] of any cookie name.
#[cfg(test)]
fn is_benign_cookie(name: &str) -> bool {
    let mut buf = [0u8; NAME_BUF];
    is_benign_cookie_lower(LowerName::new(name, &mut buf).as_str())
}

/// Cookies whose values are not credentials (analytics, consent, preferences, load
/// balancer stickiness), by trimmed, lower-case name. Their values are still scanned
/// for embedded tokens.
fn is_benign_cookie_lower(lower: &str) -> bool {
    const EXACT: &[&str] = &[
        "_gid",
        "_fbp",
        "_fbc",
        "_hjid",
        "_clck",
        "_clsk",
        "ajs_anonymous_id",
        "ajs_user_id",
        "optanonconsent",
        "optanonalertboxclosed",
        "cookieconsent_status",
        "cookie_consent",
        "cookielawinfo-checkbox-necessary",
        "lang",
        "language",
        "locale",
        "theme",
        "tz",
        "timezone",
        "currency",
        "country",
        "dark_mode",
        "awsalb",
        "awsalbcors",
        "awselb",
        "__cf_bm",
        "_cfuvid",
        "_uetsid",
        "_uetvid",
        "mp_mixpanel",
        "intercom-id",
        "_pk_id",
        "_pk_ses",
        "nmstat",
        "ln_or",
        "_dc_gtm",
        "_hssrc",
        "_hssc",
        "__hstc",
        "hubspotutk",
        "_mkto_trk",
        "viewed_cookie_policy",
    ];
    EXACT.contains(&lower)
        || lower.starts_with("_ga")
        || lower.starts_with("_gcl_")
        || lower.starts_with("_hj")
        || lower.starts_with("amp_")
        || lower.starts_with("_pk_")
        || lower.starts_with("optanon")
}

/// Whether a value is too small or plain to be a credential in a non-credential
/// cookie: short, numeric, boolean, locale.
fn is_trivial_value(v: &[u8]) -> bool {
    v.len() < 8
        || v.iter()
            .all(|b| b.is_ascii_digit() || *b == b'.' || *b == b'-')
        || validate::is_placeholder(v)
}

/// Reports one cookie `name=value`; `base` is the offset of `value` in the input.
fn cookie_pair(scanner: &Scanner, name: &str, value: &str, base: usize, out: &mut Vec<Match>) {
    // RFC 6265 cookie names are tokens; anything else is not a cookie pair.
    let name = name.trim();
    if name.is_empty()
        || !name.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(
                    b,
                    b'(' | b')'
                        | b'<'
                        | b'>'
                        | b'@'
                        | b','
                        | b';'
                        | b':'
                        | b'\\'
                        | b'"'
                        | b'/'
                        | b'['
                        | b']'
                        | b'?'
                        | b'='
                        | b'{'
                        | b'}'
                )
        })
    {
        return;
    }
    let mut v = value.trim();
    let mut start = base.saturating_add(value.len().saturating_sub(value.trim_start().len()));
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        v = v.get(1..v.len().saturating_sub(1)).unwrap_or_default();
        start = start.saturating_add(1);
    }
    let bytes = v.as_bytes();
    if bytes.is_empty()
        || is_marker_bytes(bytes)
        || lexer::looks_like_template(bytes)
        || validate::is_placeholder(bytes)
    {
        return;
    }
    let span = start..start.saturating_add(bytes.len());
    let mut buf = [0u8; NAME_BUF];
    let lower = LowerName::new(name, &mut buf);
    let lower = lower.as_str();
    if is_session_cookie_lower(lower) {
        push(out, "session-cookie", span);
    } else if is_benign_cookie_lower(lower) || is_trivial_value(bytes) {
        for m in scanner.scan_raw_with(bytes, true) {
            out.push(Match {
                rule: m.rule,
                span: m.span.start.saturating_add(start)..m.span.end.saturating_add(start),
            });
        }
    } else {
        push(out, "cookie-value", span);
    }
}

/// Every cookie of a `Cookie` header value (`a=1; b=2`).
fn cookie_header(scanner: &Scanner, value: &str, out: &mut Vec<Match>) {
    let mut offset = 0usize;
    for part in value.split(';') {
        if let Some((name, v)) = part.split_once('=') {
            let value_offset = offset.saturating_add(name.len()).saturating_add(1);
            cookie_pair(scanner, name, v, value_offset, out);
        }
        offset = offset.saturating_add(part.len()).saturating_add(1);
    }
}

/// Header names whose whole value is a credential, with the rule reported.
fn credential_header_rule(lower: &str) -> Option<&'static str> {
    Some(match lower {
        "x-amz-security-token" => "aws-session-token",
        "x-api-key"
        | "api-key"
        | "apikey"
        | "x-apikey"
        | "x-goog-api-key"
        | "ocp-apim-subscription-key"
        | "x-functions-key"
        | "x-figma-token"
        | "x-algolia-api-key"
        | "x-pm-api-key" => "api-key-assignment",
        "x-csrf-token"
        | "x-xsrf-token"
        | "x-csrftoken"
        | "csrf-token"
        | "x-csrf"
        | "x-okta-xsrftoken"
        | "requestverificationtoken" => "csrf-token",
        "x-auth-token"
        | "x-access-token"
        | "x-session-token"
        | "x-session-id"
        | "x-refresh-token"
        | "x-id-token"
        | "x-jwt"
        | "x-jwt-assertion"
        | "x-authorization"
        | "x-auth"
        | "x-forwarded-access-token"
        | "x-amzn-oidc-data"
        | "x-amzn-oidc-accesstoken"
        | "x-goog-iap-jwt-assertion"
        | "cf-access-jwt-assertion"
        | "cf-access-token"
        | "private-token"
        | "x-gitlab-token"
        | "x-vault-token"
        | "x-shopify-access-token"
        | "x-user-token"
        | "x-client-secret"
        | "x-okta-session-id"
        | "x-okta-state-token"
        | "dpop"
        | "x-ms-token-aad-id-token"
        | "x-ms-token-aad-access-token"
        | "x-ms-client-principal" => "credential-header",
        _ => return None,
    })
}

/// Header names that contain a token-ish word but never carry a credential.
fn is_benign_header(lower: &str) -> bool {
    const EXACT: &[&str] = &[
        "sec-websocket-key",
        "sec-websocket-accept",
        "sec-websocket-protocol",
        "keep-alive",
        "www-authenticate",
        "proxy-authenticate",
        "authentication-info",
        "x-cache-key",
        "cache-key",
        "cdn-cache-key",
        "x-amz-cf-id",
        "idempotency-key",
        "x-idempotency-key",
        "x-request-id",
        "x-correlation-id",
    ];
    EXACT.contains(&lower)
        || lower.starts_with("content-security-policy")
        || lower.starts_with("access-control-")
        || lower.starts_with("sec-ch-")
        || lower.starts_with("x-okta-user-agent")
        || lower.starts_with("x-okta-request")
}

/// Name words that make a generic name credential-bearing (checked as substrings of
/// the lower-case name).
const SECRET_WORDS: &[&str] = &[
    "token",
    "secret",
    "session",
    "password",
    "passwd",
    "passphrase",
    "credential",
    "auth",
    "apikey",
    "api_key",
    "api-key",
    "csrf",
    "xsrf",
    "signature",
    "private_key",
    "privatekey",
    "access_key",
    "accesskey",
    "jwt",
    "bearer",
    "cookie",
    "sessid",
];

/// Name words that make a name benign even though it contains a secret word.
const BENIGN_WORDS: &[&str] = &[
    "token_type",
    "tokentype",
    "token-type",
    "expires",
    "expiry",
    "ttl",
    "cache",
    "etag",
    "hash",
    "checksum",
    "digest",
    "integrity",
    "nonce",
    "request",
    "trace",
    "correlation",
    "idempotency",
    "public",
    "key_id",
    "keyid",
    "kid",
    "author",
    "length",
    "count",
    "_url",
    "uri",
    "endpoint",
    "enabled",
    "required",
    "type",
    "method",
    "mode",
    "policy",
    "status",
    "timeout",
    "name",
    "hint",
    "label",
    "placeholder",
    "scope",
    "issuer",
    "format",
    "version",
    "algorithm",
    "strength",
    "state",
];

/// Strong names (lower-case, `-`/`_` kept) and the rule they report.
fn strong_name_rule(lower: &str, kind: NameKind) -> Option<&'static str> {
    let id = match lower {
        "password"
        | "passwd"
        | "pwd"
        | "pass"
        | "passphrase"
        | "new_password"
        | "old_password"
        | "current_password"
        | "confirm_password"
        | "password_confirmation"
        | "newpassword"
        | "oldpassword"
        | "currentpassword"
        | "user_password"
        | "userpassword"
        | "login_password" => "password-assignment",
        "access_token" | "accesstoken" | "access-token" => "oauth-access-token",
        "refresh_token" | "refreshtoken" | "refresh-token" => "oauth-refresh-token",
        "id_token" | "idtoken" | "id-token" => "oidc-id-token",
        "client_secret" | "clientsecret" | "client-secret" | "app_secret" | "appsecret" => {
            "oauth-client-secret"
        }
        "code_verifier" | "codeverifier" => "pkce-verifier",
        "samlresponse" => "saml-response",
        "samlrequest" => "saml-request",
        "relaystate" => "saml-relay-state",
        "x-amz-signature" => "aws-presigned-signature",
        "x-amz-security-token" | "aws_session_token" | "sessiontoken" | "session_token"
            if kind != NameKind::Json =>
        {
            "aws-session-token"
        }
        "x-amz-credential" => "aws-access-key-id",
        "aws_secret_access_key" | "secretaccesskey" | "secret_access_key" => {
            "aws-secret-access-key"
        }
        "csrf_token"
        | "csrftoken"
        | "csrfmiddlewaretoken"
        | "_csrf"
        | "csrf"
        | "xsrf_token"
        | "_xsrf"
        | "authenticity_token"
        | "__requestverificationtoken"
        | "_token"
        | "_csrf_token" => "csrf-token",
        "private_key" | "privatekey" => "private-key-pem",
        "api_key" | "apikey" | "api-key" | "x-api-key" => "api-key-assignment",
        "session_id" | "sessionid" | "session" | "jsessionid" | "phpsessid" | "sessionkey"
        | "session_key" => "session-token",
        "sessiontoken" | "session_token" => "okta-session-token",
        "secret" | "client_assertion" | "assertion" | "authorization" | "auth_token"
        | "authtoken" | "jwt" | "ticket" | "otp" => "generic-secret",
        "token" => "generic-secret",
        "sig" | "signature" | "x-goog-signature" => {
            if kind == NameKind::Json {
                return None;
            }
            "url-signature"
        }
        "key" if kind == NameKind::Query => "api-key-assignment",
        // In a query (the redirect back) and in a form post (the token request:
        // `grant_type=authorization_code&code=...`); not as a JSON key, where
        // `"code"` is an error code.
        "code" if matches!(kind, NameKind::Query | NameKind::Form) => "oauth-code",
        _ => return None,
    };
    Some(id)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameKind {
    Query,
    Form,
    Json,
}

/// Whether a generic name (not in the strong dictionary) suggests a credential.
fn weak_name(lower: &str) -> bool {
    SECRET_WORDS.iter().any(|w| lower.contains(w))
        && !BENIGN_WORDS.iter().any(|w| lower.contains(w))
}

/// Minimum length of a value under a strong name before it is reported (very short
/// values like `code=1` are not credentials; passwords are reported from 1 byte).
fn strong_min_len(id: &str) -> usize {
    match id {
        "password-assignment" | "oauth-client-secret" | "aws-secret-access-key" => 1,
        "oauth-code"
        | "generic-secret"
        | "api-key-assignment"
        | "session-token"
        | "azure-sas-signature"
        | "csrf-token" => 8,
        _ => 4,
    }
}

impl Scanner {
    /// Position-aware detection: the field and its name first, then the value.
    /// Spans index `value`, are sorted and do not overlap; spans that are already
    /// markers (see [`is_marker`](crate::is_marker)) are never reported.
    #[must_use]
    pub fn scan_field(&self, field: Field<'_>, value: &str) -> Vec<Match> {
        let mut out = Vec::new();
        match field {
            Field::Header { name } => out.extend(self.header_field(name, value)),
            Field::Cookie { name } => cookie_pair(self, name, value, 0, &mut out),
            Field::Query { name } => self.param(name, value, NameKind::Query, 0, &mut out),
            Field::Form { name } => self.param(name, value, NameKind::Form, 0, &mut out),
            Field::JsonKey { name } => self.json_member(name, value, &mut out),
            Field::Url => self.url(value.as_bytes(), 0, 0, &mut out),
            Field::Text => self.text(value.as_bytes(), &mut out),
        }
        self.finish(value.as_bytes(), out)
    }

    pub(crate) fn header_field(&self, name: &str, value: &str) -> Vec<Match> {
        let mut out = Vec::new();
        let mut buf = [0u8; NAME_BUF];
        let lower = LowerName::new(name, &mut buf);
        let lower = lower.as_str();
        match lower {
            "authorization" | "proxy-authorization" => {
                out.extend(auth::authorization_value(value.as_bytes(), true))
            }
            "cookie" => cookie_header(self, value, &mut out),
            "set-cookie" | "set-cookie2" => {
                let first = value.split(';').next().unwrap_or_default();
                if let Some((n, v)) = first.split_once('=') {
                    cookie_pair(self, n, v, n.len().saturating_add(1), &mut out);
                }
            }
            "referer" | "location" | "origin" | "content-location" | "link" | "refresh"
            | "x-original-url" | "x-rewrite-url" => self.text(value.as_bytes(), &mut out),
            _ => {
                if let Some(id) = credential_header_rule(lower) {
                    let t = value.trim().as_bytes();
                    if !t.is_empty() && !lexer::is_non_secret_value(t, true) {
                        let s = value.len().saturating_sub(value.trim_start().len());
                        push(&mut out, id, s..s.saturating_add(t.len()));
                    }
                } else if !is_benign_header(lower)
                    && (weak_name(lower) || lower.starts_with("x-okta-"))
                    && validate::looks_opaque_secret(value.trim().as_bytes())
                {
                    let s = value.len().saturating_sub(value.trim_start().len());
                    push(
                        &mut out,
                        "credential-header",
                        s..s.saturating_add(value.trim().len()),
                    );
                }
                self.text(value.as_bytes(), &mut out);
            }
        }
        out
    }

    /// A query, fragment or form parameter; `base` offsets spans.
    fn param(&self, name: &str, raw: &str, kind: NameKind, base: usize, out: &mut Vec<Match>) {
        let plus = kind != NameKind::Json;
        let decoded = validate::percent_decode(raw.as_bytes(), plus);
        let name_lower = validate::percent_decode(name.as_bytes(), plus)
            .bytes
            .to_ascii_lowercase();
        let lower = String::from_utf8_lossy(&name_lower)
            .trim()
            .trim_end_matches("[]")
            .to_owned();
        let offset = |r: Range<usize>| r.start.saturating_add(base)..r.end.saturating_add(base);
        if self.named_value(&lower, kind, &decoded.bytes, out, &|r| {
            offset(decoded.raw_span(r))
        }) {
            return;
        }
        self.decoded_value(&decoded, 0, out, &|r| offset(decoded.raw_span(r)));
    }

    /// Applies the name dictionaries to `value`; returns whether the whole value was
    /// reported. `map` turns a span of `value` into a span of the caller's input.
    fn named_value(
        &self,
        lower: &str,
        kind: NameKind,
        value: &[u8],
        out: &mut Vec<Match>,
        map: &dyn Fn(Range<usize>) -> Range<usize>,
    ) -> bool {
        let trimmed = value.trim_ascii();
        if trimmed.is_empty() || lexer::is_non_secret_value(trimmed, true) {
            return false;
        }
        let lead = value.len().saturating_sub(value.trim_ascii_start().len());
        let whole = lead..lead.saturating_add(trimmed.len());
        if let Some(id) = strong_name_rule(lower, kind) {
            let mut id = id;
            if trimmed.starts_with(b"eyJ")
                && let Some(info) = validate::jwt_info(trimmed)
            {
                id = if info.encrypted { "jwe" } else { "jwt" };
            }
            let long_enough = trimmed.len() >= strong_min_len(id);
            let plausible = match id {
                "generic-secret" | "api-key-assignment" | "session-token" | "oauth-code"
                | "url-signature" | "csrf-token" => {
                    validate::looks_opaque_secret(trimmed) || trimmed.len() >= 24
                }
                _ => true,
            };
            if long_enough
                && plausible
                && !(kind == NameKind::Json
                    && lexer::looks_like_prose(trimmed)
                    && id != "password-assignment")
            {
                push(out, id, map(whole));
                return true;
            }
            return false;
        }
        if weak_name(lower) && validate::looks_opaque_secret(trimmed) {
            push(
                out,
                if lower.contains("session") || lower.contains("sessid") {
                    "session-token"
                } else {
                    "generic-secret"
                },
                map(whole),
            );
            return true;
        }
        false
    }

    /// Value detection on a decoded value: the free-text pass, plus URLs nested in it.
    fn decoded_value(
        &self,
        decoded: &Decoded,
        depth: usize,
        out: &mut Vec<Match>,
        map: &dyn Fn(Range<usize>) -> Range<usize>,
    ) {
        let mut inner = Vec::new();
        if depth < MAX_URL_DEPTH {
            self.text_at_depth(&decoded.bytes, depth.saturating_add(1), &mut inner);
        } else {
            inner.extend(self.scan_raw(&decoded.bytes));
        }
        for m in inner {
            out.push(Match {
                rule: m.rule,
                span: map(m.span),
            });
        }
    }

    fn json_member(&self, name: &str, value: &str, out: &mut Vec<Match>) {
        let mut buf = [0u8; NAME_BUF];
        let lower = LowerName::new(name, &mut buf);
        let lower = lower.as_str();
        match lower {
            "authorization" | "proxy-authorization" => {
                out.extend(auth::authorization_value(value.as_bytes(), true));
                return;
            }
            "cookie" | "cookies" => {
                cookie_header(self, value, out);
                return;
            }
            "set-cookie" => {
                out.extend(self.header_field("set-cookie", value));
                return;
            }
            _ => {}
        }
        if !self.named_value(lower, NameKind::Json, value.as_bytes(), out, &|r| r) {
            self.text(value.as_bytes(), out);
        }
    }

    /// Free text: the anchored pass plus every URL inside the text.
    fn text(&self, value: &[u8], out: &mut Vec<Match>) {
        self.text_at_depth(value, 0, out);
    }

    fn text_at_depth(&self, value: &[u8], depth: usize, out: &mut Vec<Match>) {
        out.extend(self.scan_raw(value));
        for url in find_urls(value) {
            if let Some(u) = value.get(url.clone()) {
                let mut inner = Vec::new();
                self.url(u, depth, url.start, &mut inner);
                out.extend(inner);
            }
        }
    }

    /// A URL (or a bare query string): userinfo, every query and fragment parameter,
    /// nested URLs, plus the anchored pass over the whole URL.
    fn url(&self, u: &[u8], depth: usize, base: usize, out: &mut Vec<Match>) {
        let shift = |r: Range<usize>| r.start.saturating_add(base)..r.end.saturating_add(base);
        for m in self.scan_raw(u) {
            out.push(Match {
                rule: m.rule,
                span: shift(m.span),
            });
        }
        let query_start = memchr::memchr(b'?', u).map(|p| p.saturating_add(1));
        let hash = memchr::memchr(b'#', u);
        let mut sections: Vec<Range<usize>> = Vec::new();
        if let Some(q) = query_start.filter(|q| hash.is_none_or(|h| *q <= h)) {
            sections.push(q..hash.unwrap_or(u.len()));
        }
        if let Some(h) = hash {
            let frag_start = h.saturating_add(1);
            // SPA routes: `#/path?x=y`
            let inner_q = u
                .get(frag_start..)
                .and_then(|f| memchr::memchr(b'?', f))
                .map(|p| frag_start.saturating_add(p).saturating_add(1));
            sections.push(inner_q.unwrap_or(frag_start)..u.len());
        }
        if sections.is_empty() && memchr::memmem::find(u, b"://").is_none() {
            sections.push(0..u.len());
        }
        for section in sections {
            let Some(text) = u.get(section.clone()) else {
                continue;
            };
            let params = split_params(text, section.start);
            let has_code = params
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case(b"code") && !v.is_empty());
            for (name, vspan) in &params {
                let Some(raw) = u.get(vspan.clone()) else {
                    continue;
                };
                let (Ok(name), Ok(raw)) = (std::str::from_utf8(name), std::str::from_utf8(raw))
                else {
                    continue;
                };
                let mut found = Vec::new();
                if has_code && name.eq_ignore_ascii_case("state") {
                    let d = validate::percent_decode(raw.as_bytes(), true);
                    if !d.bytes.is_empty() && !lexer::is_non_secret_value(&d.bytes, true) {
                        push(&mut found, "oauth-state", 0..raw.len());
                    }
                } else if depth < MAX_URL_DEPTH {
                    self.param_at_depth(name, raw, depth, &mut found);
                }
                for m in found {
                    out.push(Match {
                        rule: m.rule,
                        span: shift(
                            m.span.start.saturating_add(vspan.start)
                                ..m.span.end.saturating_add(vspan.start),
                        ),
                    });
                }
            }
        }
    }

    fn param_at_depth(&self, name: &str, raw: &str, depth: usize, out: &mut Vec<Match>) {
        let decoded = validate::percent_decode(raw.as_bytes(), true);
        let lower = String::from_utf8_lossy(&decoded_name(name)).to_ascii_lowercase();
        let map = |r: Range<usize>| decoded.raw_span(r);
        if self.named_value(
            lower.trim_end_matches("[]"),
            NameKind::Query,
            &decoded.bytes,
            out,
            &map,
        ) {
            return;
        }
        self.decoded_value(&decoded, depth.saturating_add(1), out, &map);
    }

    /// Sorts, merges overlaps and drops spans inside markers.
    fn finish(&self, value: &[u8], out: Vec<Match>) -> Vec<Match> {
        resolve(tidy(value, out))
    }
}

/// Names up to this length are lower-cased on the stack (no allocation per call).
const NAME_BUF: usize = 64;

/// A trimmed, ASCII-lower-cased field name: in a stack buffer when short, else owned.
enum LowerName<'b> {
    Stack(&'b str),
    Owned(String),
}

impl<'b> LowerName<'b> {
    fn new(name: &str, buf: &'b mut [u8; NAME_BUF]) -> LowerName<'b> {
        let t = name.trim();
        if let Some(dst) = buf.get_mut(..t.len()) {
            dst.copy_from_slice(t.as_bytes());
            dst.make_ascii_lowercase();
            // ASCII lower-casing keeps UTF-8 valid; fall back to owned otherwise.
            if let Ok(s) = std::str::from_utf8(dst) {
                return LowerName::Stack(s);
            }
        }
        LowerName::Owned(t.to_ascii_lowercase())
    }

    fn as_str(&self) -> &str {
        match self {
            LowerName::Stack(s) => s,
            LowerName::Owned(s) => s,
        }
    }
}

fn decoded_name(name: &str) -> Vec<u8> {
    validate::percent_decode(name.as_bytes(), true).bytes
}

/// Splits `a=1&b=2` into (name, value span); spans are offset by `base`.
fn split_params(text: &[u8], base: usize) -> Vec<(&[u8], Range<usize>)> {
    let mut params = Vec::new();
    let mut offset = 0usize;
    for part in text.split(|&b| b == b'&') {
        if let Some(eq) = memchr::memchr(b'=', part) {
            let name = part.get(..eq).unwrap_or_default();
            let vs = base
                .saturating_add(offset)
                .saturating_add(eq)
                .saturating_add(1);
            params.push((
                name,
                vs..base.saturating_add(offset).saturating_add(part.len()),
            ));
        }
        offset = offset.saturating_add(part.len()).saturating_add(1);
    }
    params
}

/// URLs inside free text (scheme `://` up to whitespace, quote or angle bracket), and
/// only those that carry a query or fragment. A text that is itself a query string
/// (`a=1&code=...`) counts as one.
fn find_urls(text: &[u8]) -> Vec<Range<usize>> {
    let mut urls = Vec::new();
    let stop = |b: u8| {
        matches!(
            b,
            b' ' | b'\t' | b'\r' | b'\n' | b'"' | b'\'' | b'<' | b'>' | b'`' | b'\\' | b')'
        )
    };
    let mut covered = 0usize;
    for p in memchr::memmem::find_iter(text, b"://") {
        // A `://` inside the previous URL (a nested URL) is handled by that URL.
        if p < covered {
            continue;
        }
        let start = text.get(..p).map_or(p, |before| {
            before
                .iter()
                .rposition(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))
                .map_or(0, |q| q.saturating_add(1))
        });
        let end = lexer::take_while(text, p, 64 * 1024, |b| !stop(b));
        covered = end;
        if text
            .get(start..end)
            .is_some_and(|u| memchr::memchr2(b'?', b'#', u).is_some())
        {
            urls.push(start..end);
        }
    }
    if urls.is_empty()
        && text.len() < 64 * 1024
        && memchr::memchr(b'=', text).is_some()
        && !text.iter().any(|&b| stop(b))
    {
        urls.push(0..text.len());
    }
    urls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_words_are_found_like_str_contains() {
        let mut names: Vec<String> = [
            "",
            "s",
            "sid",
            "phpsessid",
            "my_session_x",
            "ssso",
            "aauth",
            "tokentoken",
            "sess",
            "sessi",
            "xsess_y",
            "a_sesss",
            "jw",
            "xjwtx",
            "samlx",
            "logi",
            "login",
            "ses_",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        // Every word alone, with a prefix and a suffix, and cut short by one byte.
        for w in SESSION_WORDS {
            names.push(w.to_owned());
            names.push(format!("x{w}y"));
            names.push(w.get(..w.len() - 1).unwrap().to_owned());
            names.push(format!("s{}", w.get(1..).unwrap()));
        }
        for name in &names {
            let expected = SESSION_WORDS.iter().any(|w| name.contains(w));
            assert_eq!(has_session_word(name), expected, "{name}");
        }
    }

    #[test]
    fn cookie_name_checks_match_their_allocating_forms() {
        // The stack-buffer lower-casing gives the same verdicts as lower-casing into
        // a `String` (long names take the owned path).
        let long = format!("{}_Session", "A".repeat(NAME_BUF));
        for name in [
            " PHPSESSID ",
            "Sid",
            "__Host-x",
            "_GA_123",
            "Theme",
            "my.SID",
            &long,
        ] {
            let lower = name.trim().to_ascii_lowercase();
            let session = SESSION_COOKIES.contains(&lower.as_str())
                || lower.starts_with("__host-")
                || ["session", "auth", "token", "sso"]
                    .iter()
                    .any(|s| lower.contains(s))
                || lower.ends_with(".sid");
            assert_eq!(is_session_cookie_name(name), session, "{name}");
        }
        assert!(is_benign_cookie(" _GA_XYZ "));
        assert!(is_benign_cookie("THEME"));
        assert!(!is_benign_cookie("sid"));
    }

    #[test]
    fn lower_name_matches_to_ascii_lowercase() {
        let long = format!("X-{}-Token", "Ab".repeat(40));
        for name in [
            " Authorization ",
            "COOKIE",
            "",
            "Ünïcode-Näme",
            long.as_str(),
            &"a".repeat(NAME_BUF),
        ] {
            let mut buf = [0u8; NAME_BUF];
            let lower = LowerName::new(name, &mut buf);
            assert_eq!(lower.as_str(), name.trim().to_ascii_lowercase(), "{name}");
        }
    }

    /// A long header name (owned path) is classified like a short one.
    #[test]
    fn long_header_names_still_detect() {
        let scanner = Scanner::new();
        let name = format!("X-{}-Session-Token", "a".repeat(NAME_BUF));
        let found = scanner.scan_field(
            Field::Header { name: &name },
            "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        );
        assert_eq!(found.len(), 1, "{found:?}");
    }
}
