//! Planted credentials: [`Plant`] records what was planted where, [`PlantKind`]
//! names the ~40 shapes, and [`search_forms`] lists the byte strings under which a
//! planted value can still be found in an output (raw, percent-encoded, base64 at
//! every alignment), which both the generator (to locate a plant) and the recall
//! checker (to decide whether a tool left it behind) use.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

/// The kind of a planted credential: what it is and the position it was planted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum PlantKind {
    /// PHP `PHPSESSID` in a `Cookie` header and the request's `cookies[]`.
    CookiePhpsessid,
    /// Java `JSESSIONID` in a `Cookie` header.
    CookieJsessionid,
    /// Express `connect.sid` (signed) in a `Set-Cookie` header.
    CookieConnectSid,
    /// `ASP.NET_SessionId` in a request `cookies[]` array and `Cookie` header.
    CookieAspnetSession,
    /// Laravel `laravel_session` (encrypted payload) in `Set-Cookie`.
    CookieLaravelSession,
    /// An identity provider's `sid` cookie in a `Cookie` header.
    CookieIdpSid,
    /// A `__Host-session` cookie in `Set-Cookie` and the response `cookies[]`.
    CookieHostSession,
    /// `Authorization: Bearer` with an opaque token.
    BearerOpaque,
    /// `Authorization: Bearer` with a JWT.
    BearerJwt,
    /// `Authorization: Basic` (base64 of user:password).
    BasicAuth,
    /// `Authorization: SSWS` (Okta API token).
    SswsToken,
    /// OAuth `code` in a callback URL query.
    OauthCodeQuery,
    /// OAuth `state` paired with a `code` in a callback URL.
    OauthStateQuery,
    /// OAuth `code` inside a `Referer` header URL.
    OauthCodeReferer,
    /// `access_token` in a URL fragment (implicit flow).
    AccessTokenFragment,
    /// `id_token` (JWT) in a URL fragment.
    IdTokenFragment,
    /// `access_token` in a URL query.
    AccessTokenQuery,
    /// `access_token` in a token-endpoint JSON response.
    AccessTokenJson,
    /// `refresh_token` in a token-endpoint JSON response.
    RefreshTokenJson,
    /// `id_token` (JWT) in a token-endpoint JSON response.
    IdTokenJson,
    /// OAuth `code` in a token-request form post.
    OauthCodeForm,
    /// PKCE `code_verifier` in a token-request form post.
    PkceVerifier,
    /// `refresh_token` in a refresh-grant form post.
    RefreshTokenForm,
    /// `SAMLResponse` in a form post to an ACS URL.
    SamlResponseForm,
    /// `SAMLResponse` in an HTML hidden input of an auto-submit page.
    SamlResponseHtml,
    /// AWS access key id (`AKIA...`) in a JSON body.
    AwsAccessKeyId,
    /// AWS secret access key in a JSON body.
    AwsSecretKey,
    /// `X-Amz-Signature` of an S3 presigned URL.
    AwsPresignedSignature,
    /// `x-amz-security-token` request header.
    AwsSessionToken,
    /// GitHub personal access token (`ghp_`, with CRC-32 checksum) in a JSON body.
    GithubToken,
    /// GitLab personal access token (`glpat-`) in a JSON body.
    GitlabToken,
    /// Slack bot token (`xoxb-`) in a JSON body.
    SlackToken,
    /// Stripe live secret key (`sk_live_`) in a JavaScript response.
    StripeKey,
    /// Google API key (`AIza`) in a `key=` query parameter.
    GoogleApiKey,
    /// `X-API-Key` request header.
    ApiKeyHeader,
    /// `password` in an urlencoded login form post.
    PasswordForm,
    /// `password` in a JSON login post.
    PasswordJson,
    /// `X-CSRF-Token` request header.
    CsrfHeader,
    /// CSRF token in an HTML hidden input.
    CsrfHiddenInput,
    /// Token inside a websocket frame (`_webSocketMessages`).
    WebsocketToken,
    /// `access_token` inside a base64-encoded response body.
    Base64BodyToken,
    /// OAuth `code` inside a percent-encoded redirect URL parameter.
    NestedRedirectCode,
    /// PEM private key inside a JSON body.
    PrivateKeyPem,
    /// Password in the userinfo of a URL (`https://user:pass@host/`).
    UrlUserinfoPassword,
    /// A credential in a log or text line (text corpora only).
    TextLine,
}

impl PlantKind {
    /// Every kind planted in HAR corpora, in a fixed order.
    pub const HAR_KINDS: &'static [PlantKind] = &[
        Self::CookiePhpsessid,
        Self::CookieJsessionid,
        Self::CookieConnectSid,
        Self::CookieAspnetSession,
        Self::CookieLaravelSession,
        Self::CookieIdpSid,
        Self::CookieHostSession,
        Self::BearerOpaque,
        Self::BearerJwt,
        Self::BasicAuth,
        Self::SswsToken,
        Self::OauthCodeQuery,
        Self::OauthStateQuery,
        Self::OauthCodeReferer,
        Self::AccessTokenFragment,
        Self::IdTokenFragment,
        Self::AccessTokenQuery,
        Self::AccessTokenJson,
        Self::RefreshTokenJson,
        Self::IdTokenJson,
        Self::OauthCodeForm,
        Self::PkceVerifier,
        Self::RefreshTokenForm,
        Self::SamlResponseForm,
        Self::SamlResponseHtml,
        Self::AwsAccessKeyId,
        Self::AwsSecretKey,
        Self::AwsPresignedSignature,
        Self::AwsSessionToken,
        Self::GithubToken,
        Self::GitlabToken,
        Self::SlackToken,
        Self::StripeKey,
        Self::GoogleApiKey,
        Self::ApiKeyHeader,
        Self::PasswordForm,
        Self::PasswordJson,
        Self::CsrfHeader,
        Self::CsrfHiddenInput,
        Self::WebsocketToken,
        Self::Base64BodyToken,
        Self::NestedRedirectCode,
        Self::PrivateKeyPem,
        Self::UrlUserinfoPassword,
    ];

    /// The kebab-case id used in plant files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CookiePhpsessid => "cookie-phpsessid",
            Self::CookieJsessionid => "cookie-jsessionid",
            Self::CookieConnectSid => "cookie-connect-sid",
            Self::CookieAspnetSession => "cookie-aspnet-session",
            Self::CookieLaravelSession => "cookie-laravel-session",
            Self::CookieIdpSid => "cookie-idp-sid",
            Self::CookieHostSession => "cookie-host-session",
            Self::BearerOpaque => "bearer-opaque",
            Self::BearerJwt => "bearer-jwt",
            Self::BasicAuth => "basic-auth",
            Self::SswsToken => "ssws-token",
            Self::OauthCodeQuery => "oauth-code-query",
            Self::OauthStateQuery => "oauth-state-query",
            Self::OauthCodeReferer => "oauth-code-referer",
            Self::AccessTokenFragment => "access-token-fragment",
            Self::IdTokenFragment => "id-token-fragment",
            Self::AccessTokenQuery => "access-token-query",
            Self::AccessTokenJson => "access-token-json",
            Self::RefreshTokenJson => "refresh-token-json",
            Self::IdTokenJson => "id-token-json",
            Self::OauthCodeForm => "oauth-code-form",
            Self::PkceVerifier => "pkce-verifier",
            Self::RefreshTokenForm => "refresh-token-form",
            Self::SamlResponseForm => "saml-response-form",
            Self::SamlResponseHtml => "saml-response-html",
            Self::AwsAccessKeyId => "aws-access-key-id",
            Self::AwsSecretKey => "aws-secret-key",
            Self::AwsPresignedSignature => "aws-presigned-signature",
            Self::AwsSessionToken => "aws-session-token",
            Self::GithubToken => "github-token",
            Self::GitlabToken => "gitlab-token",
            Self::SlackToken => "slack-token",
            Self::StripeKey => "stripe-key",
            Self::GoogleApiKey => "google-api-key",
            Self::ApiKeyHeader => "api-key-header",
            Self::PasswordForm => "password-form",
            Self::PasswordJson => "password-json",
            Self::CsrfHeader => "csrf-header",
            Self::CsrfHiddenInput => "csrf-hidden-input",
            Self::WebsocketToken => "websocket-token",
            Self::Base64BodyToken => "base64-body-token",
            Self::NestedRedirectCode => "nested-redirect-code",
            Self::PrivateKeyPem => "private-key-pem",
            Self::UrlUserinfoPassword => "url-userinfo-password",
            Self::TextLine => "text-line",
        }
    }
}

impl fmt::Display for PlantKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One planted credential: its kind, its value and where it sits in the output.
///
/// The value is synthetic (random, never issued by any service) but is treated
/// like a secret anyway: `Debug` redacts it and only [`Plant::expose_value`]
/// returns it. Plant files written by the CLI do contain the values, since recall
/// cannot be measured without them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plant {
    kind: PlantKind,
    value: String,
    entry: u64,
    pointers: Vec<String>,
    lines: Vec<u64>,
}

impl Plant {
    pub(crate) fn new(kind: PlantKind, value: String, entry: u64) -> Self {
        Self {
            kind,
            value,
            entry,
            pointers: Vec::new(),
            lines: Vec::new(),
        }
    }

    pub(crate) fn set_location(&mut self, pointers: Vec<String>, lines: Vec<u64>) {
        self.pointers = pointers;
        self.lines = lines;
    }

    /// What was planted.
    pub fn kind(&self) -> PlantKind {
        self.kind
    }

    /// The planted value itself (synthetic, but handle it as a secret).
    pub fn expose_value(&self) -> &str {
        &self.value
    }

    /// Index of the HAR entry (or, for text, of the line) holding the value.
    pub fn entry(&self) -> u64 {
        self.entry
    }

    /// JSON pointer of the first string holding the value (any of its
    /// [`search_forms`]); empty for text corpora.
    pub fn pointer(&self) -> &str {
        self.pointers.first().map_or("", String::as_str)
    }

    /// JSON pointers of every string holding the value (a cookie sits in the
    /// `Cookie` header and in `cookies[]`); empty for text corpora.
    pub fn pointers(&self) -> &[String] {
        &self.pointers
    }

    /// 1-based line numbers of the output on which the value (in any form) appears.
    pub fn lines(&self) -> &[u64] {
        &self.lines
    }
}

impl fmt::Debug for Plant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plant")
            .field("kind", &self.kind)
            .field(
                "value",
                &format_args!("[redacted; {} bytes]", self.value.len()),
            )
            .field("entry", &self.entry)
            .field("pointers", &self.pointers)
            .field("lines", &self.lines)
            .finish()
    }
}

/// The strings under which `value` is still recoverable from an output: the raw
/// value, its percent-encoded forms (upper and lower hex, and form-encoding's
/// `+` for spaces), its JSON-escaped form, and the three alignment-independent
/// cores of its standard and url-safe base64 encodings (for values of at least 6
/// bytes). A tool has removed a plant only when none of these appears.
pub fn search_forms(value: &str) -> Vec<String> {
    let mut forms = vec![value.to_owned()];
    let mut push = |s: String| {
        if !s.is_empty() && !forms.contains(&s) {
            forms.push(s);
        }
    };
    push(percent_encode(value, false));
    push(percent_encode(value, true));
    push(value.replace('/', "\\/"));
    // JSON-escaped once (a value in a JSON string) and twice (a JSON body held
    // in a HAR string).
    let once = json_escape(value);
    push(json_escape(&once));
    push(once);
    if value.len() >= 6 {
        for engine in [&STANDARD, &URL_SAFE_NO_PAD] {
            for k in 0..3_usize {
                let mut buf = vec![0_u8; k];
                buf.extend_from_slice(value.as_bytes());
                let enc = engine.encode(&buf);
                let start = (k * 8).div_ceil(6);
                let end = (k + value.len()) * 8 / 6;
                if let Some(core) = enc.get(start..end) {
                    push(core.to_owned());
                }
            }
        }
    }
    forms
}

/// The inside of a JSON string literal holding `value`.
fn json_escape(value: &str) -> String {
    serde_json::to_string(value)
        .ok()
        .and_then(|q| {
            q.strip_prefix('"')
                .and_then(|q| q.strip_suffix('"'))
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

/// `encodeURIComponent`-style percent-encoding (unreserved characters kept).
pub(crate) fn percent_encode(value: &str, lower: bool) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else if lower {
            out.push_str(&format!("%{b:02x}"));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_cores_are_found_at_every_alignment() {
        let secret = "s3cr3t-value-for-alignment";
        let forms = search_forms(secret);
        for prefix in ["", "a", "ab", "abc", "{\"k\":\""] {
            let body = format!("{prefix}{secret}\"}}");
            let enc = STANDARD.encode(body.as_bytes());
            assert!(
                forms.iter().any(|f| enc.contains(f.as_str())),
                "prefix {prefix:?}"
            );
        }
    }

    #[test]
    fn percent_forms_cover_encoded_urls() {
        let forms = search_forms("a/b+c=");
        assert!(forms.contains(&"a%2Fb%2Bc%3D".to_owned()));
        assert!(forms.contains(&"a%2fb%2bc%3d".to_owned()));
    }

    #[test]
    fn debug_redacts_the_value() {
        let plant = Plant::new(PlantKind::BearerOpaque, "tok-9f8e7d6c5b4a".to_owned(), 3);
        let shown = format!("{plant:?}");
        assert!(!shown.contains("tok-9f8e7d6c5b4a"));
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn kinds_are_distinct_and_about_forty() {
        let mut ids: Vec<&str> = PlantKind::HAR_KINDS.iter().map(|k| k.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), PlantKind::HAR_KINDS.len());
        assert!(ids.len() >= 40);
    }
}
