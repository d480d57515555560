//! The rule catalogue: metadata ([`RULES`]) and, index for index, how each rule is
//! found ([`SPECS`]): the literal anchors fed to the one multi-pattern automaton and
//! the confirmer that checks a bounded window around each anchor hit.

use std::ops::Range;

use crate::engine::Match;
use crate::lexer::{self, Syntax};
use crate::rule::{Class, Confidence, Rule};
use crate::{auth, validate};

/// A candidate: an anchor hit at `start..end` of `hay`, for the rule at `rule`.
pub(crate) struct Cand<'h> {
    pub hay: &'h [u8],
    pub start: usize,
    pub end: usize,
    pub rule: &'static Rule,
    /// The scanner, for confirmers that hand a header value to the field logic.
    pub scanner: &'h crate::engine::Scanner,
    /// How far this rule's confirmers have already examined the input: a later
    /// candidate of the same rule before this point is skipped (keeps hostile runs
    /// of repeated anchors linear).
    pub examined: &'h std::cell::Cell<usize>,
}

impl Cand<'_> {
    fn emit(&self, out: &mut Vec<Match>, span: Range<usize>) {
        self.examined.set(self.examined.get().max(span.end));
        out.push(Match {
            rule: self.rule,
            span,
        });
    }
}

/// How the candidates of a rule are confirmed.
pub(crate) enum Confirm {
    /// The anchor starts the token: anchor + `min..=max` body bytes, then `check`.
    Prefix {
        body: fn(u8) -> bool,
        min: usize,
        max: usize,
        check: fn(&[u8]) -> bool,
    },
    /// The anchor is a name; the value after `=`/`:` must pass `check`.
    Named { check: fn(&[u8], bool) -> bool },
    /// A hand-written confirmer.
    Custom(fn(&Cand<'_>, &mut Vec<Match>)),
    /// Reached only through positions (`scan_field`, header lines), never by anchor.
    Position,
}

/// How one rule is found.
pub(crate) struct Spec {
    /// Must equal the id of the rule at the same index of [`RULES`].
    pub id: &'static str,
    /// Literal anchors, matched ASCII-case-insensitively unless `case_sensitive`;
    /// the prefilter finds them through the [`FRAGMENTS`] they contain.
    pub anchors: &'static [&'static str],
    /// Whether the anchor's case must match exactly.
    pub case_sensitive: bool,
    /// The confirmer.
    pub confirm: Confirm,
}

const fn def(
    id: &'static str,
    class: Class,
    confidence: Confidence,
    description: &'static str,
) -> Rule {
    Rule {
        id,
        class,
        confidence,
        description,
    }
}

use Class as C;
use Confidence::{High, Low, Medium};

/// The literals of the one prefilter pass (an ASCII-case-insensitive DFA), so every
/// anchor is found in any letter case. Each anchor's lower-case form contains at
/// least one fragment (a test checks it); a fragment hit is expanded to every anchor
/// that contains it and checked there against the original bytes (exactly for
/// case-sensitive anchors).
pub(crate) static FRAGMENTS: &[&str] = &[
    // token prefixes and literal formats
    "eyj",
    "-----begin ",
    "putty-user-key-file-",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "gldt-",
    "glrt-",
    "glptt-",
    "glsoat-",
    "atbb",
    "atatt3",
    "xox",
    "hooks.slack.com/",
    "/api/webhooks/",
    ":aa",
    "k_live_",
    "k_test_",
    "eaaa",
    "sq0",
    "akia",
    "asia",
    "aws4-hmac-sha256",
    "aiza",
    "ya29.",
    "1//0",
    "sig=",
    "accountkey",
    "7q~",
    "8q~",
    "npm_",
    "pypi-ageichlwas5vcmc",
    "sg.",
    "sk-",
    "shp",
    "hvs.",
    "hvb.",
    "_v1_",
    "hf_",
    "dpop ",
    "://",
    "bearer ",
    "ssws ",
    "amz-signature=",
    // credential-bearing names
    "oken",
    "ssw",
    "pwd",
    "ecret",
    "ssion",
    "ssid",
    "uthoriz",
    "cookie",
    "srf",
    "pi_key",
    "pikey",
    "pi-key",
    "vate_key",
    "code=",
    "code\"",
    "samlre",
    "verifier",
    "t.sid",
    "__host-",
    "__secure-",
];

/// Three-byte literals of the SIMD prefilter (see [`PREFILTER`]): one Teddy bucket
/// each, so their fingerprints are exact.
pub(crate) static PREFILTER_SHORT: &[&str] =
    &["eyj", "://", ":aa", "7q~", "8q~", "sg.", "hf_", "pwd"];

/// Four-byte literals of the SIMD prefilter, matched against the input folded to
/// lower case. Every anchor's lower-case form contains one literal of this list or of
/// [`PREFILTER_SHORT`] (`Scanner::new` checks it and falls back to the full automaton
/// pass otherwise); the automaton then runs only on windows around literal hits. The
/// literals favour punctuation (`pat-`, `kie:`, `_v1_`), which is rare in prose. The
/// order (and the repeats: `sws `, `xsrf`, `hvs.`, `aiza`) places the literals in Teddy's 16 buckets
/// by id so that each bucket's nibble masks stay selective; it was chosen by a local
/// search over benign text, code, JSON, HTML and HAR (docs/bench/scan.md). The order
/// changes speed only, never results.
pub(crate) static PREFILTER: &[&str] = &[
    "ghp_", "_tes", "oxs-", "ssio", "ghu_", "atbb", "sq0a", "npm_", "sig=", ".sla", "asia", "-beg",
    "pss_", "oxe-", "ldt-", "y-us", "eaaa", "_liv", "oxa-", "lrt-", "ghr_", "acco", "sq0c", "aws4",
    "ode=", "_v1_", "pca_", "kie\"", "pat-", "oxp-", "ptt-", "sk-p", "gho_", "ode\"", "1//0",
    "ssid", "rer ", "$pro", "ypi-", "hvb.", "cret", "$san", "akia", "kie:", "ya29", "oxe.", "oat-",
    "sk-a", "ghs_", "oriz", "__ho", "csrf", "amz-", "amlr", "pi_k", "sws ", "sws ", ".sid", "ppa_",
    "pi-k", "pop ", "oxb-", "att3", "sk-s", "oken", "oxr-", "__se", "xsrf", "xsrf", "assw", "pike",
    "hvs.", "hvs.", "hvs.", "aiza", "aiza", "pat_", "/web", "te_k", "_ver",
];

/// Number of rules in the default catalogue.
pub(crate) const N: usize = 71;

/// The default catalogue, most specific first (ties between overlapping matches go
/// to the lower index).
pub(crate) static RULES: [Rule; N] = [
    def(
        "jwt",
        C::Jwt,
        High,
        "JSON Web Token (JWS): base64url header with `alg`, payload and signature",
    ),
    def(
        "jwe",
        C::Jwt,
        High,
        "JSON Web Encryption token: five base64url segments, header with `alg` and `enc`",
    ),
    def(
        "private-key-pem",
        C::PrivateKey,
        High,
        "PEM private key block (RSA, EC, DSA, PKCS#8, encrypted)",
    ),
    def(
        "openssh-private-key",
        C::PrivateKey,
        High,
        "OpenSSH private key block",
    ),
    def(
        "pgp-private-key",
        C::PrivateKey,
        High,
        "PGP private key block",
    ),
    def(
        "putty-private-key",
        C::PrivateKey,
        High,
        "PuTTY private key file",
    ),
    def(
        "github-token",
        C::CodeHostToken,
        High,
        "GitHub token (ghp_/gho_/ghu_/ghs_/ghr_) with a valid CRC32 checksum",
    ),
    def(
        "github-token-unverified",
        C::CodeHostToken,
        Medium,
        "GitHub-token-shaped value whose CRC32 checksum does not verify",
    ),
    def(
        "github-fine-grained-pat",
        C::CodeHostToken,
        High,
        "GitHub fine-grained personal access token (github_pat_)",
    ),
    def(
        "gitlab-token",
        C::CodeHostToken,
        High,
        "GitLab token (glpat-, gldt-, glrt-, glptt-, glsoat-)",
    ),
    def(
        "bitbucket-app-password",
        C::CodeHostToken,
        High,
        "Bitbucket app password (ATBB)",
    ),
    def(
        "atlassian-api-token",
        C::ApiKey,
        High,
        "Atlassian API token (ATATT3)",
    ),
    def(
        "slack-token",
        C::ChatToken,
        High,
        "Slack token (xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xoxe-)",
    ),
    def(
        "slack-webhook",
        C::ChatToken,
        High,
        "Slack incoming webhook URL secret path",
    ),
    def(
        "discord-webhook",
        C::ChatToken,
        High,
        "Discord webhook token",
    ),
    def(
        "discord-bot-token",
        C::ChatToken,
        High,
        "Discord bot token after the `Bot` authorization scheme",
    ),
    def(
        "telegram-bot-token",
        C::ChatToken,
        High,
        "Telegram bot token (digits:AA...)",
    ),
    def(
        "stripe-secret-key",
        C::PaymentKey,
        High,
        "Stripe live secret or restricted key (sk_live_, rk_live_)",
    ),
    def(
        "stripe-test-key",
        C::PaymentKey,
        Medium,
        "Stripe test secret or restricted key (sk_test_, rk_test_)",
    ),
    def(
        "square-access-token",
        C::PaymentKey,
        High,
        "Square access token (EAAA, sq0atp-)",
    ),
    def(
        "square-oauth-secret",
        C::PaymentKey,
        High,
        "Square OAuth application secret (sq0csp-)",
    ),
    def(
        "braintree-access-token",
        C::PaymentKey,
        High,
        "Braintree/PayPal access token (access_token$production$...)",
    ),
    def(
        "aws-access-key-id",
        C::CloudCredential,
        High,
        "AWS access key id (AKIA, ASIA, ...), also inside X-Amz-Credential",
    ),
    def(
        "aws-secret-access-key",
        C::CloudCredential,
        High,
        "AWS secret access key under its name or next to an access key id",
    ),
    def(
        "aws-session-token",
        C::CloudCredential,
        High,
        "AWS session token (x-amz-security-token, aws_session_token, SessionToken)",
    ),
    def(
        "aws-presigned-signature",
        C::Signature,
        High,
        "AWS SigV4 presigned URL signature (X-Amz-Signature)",
    ),
    def(
        "aws-sigv4-signature",
        C::Signature,
        High,
        "AWS SigV4 Authorization header signature (AWS4-HMAC-SHA256 ... Signature=)",
    ),
    def(
        "gcp-service-account-key",
        C::CloudCredential,
        High,
        "GCP service-account key JSON (private_key_id)",
    ),
    def("gcp-api-key", C::ApiKey, High, "Google API key (AIza...)"),
    def(
        "gcp-oauth-token",
        C::OauthToken,
        High,
        "Google OAuth access token (ya29.)",
    ),
    def(
        "gcp-refresh-token",
        C::RefreshToken,
        High,
        "Google OAuth refresh token (1//0...)",
    ),
    def(
        "azure-sas-signature",
        C::Signature,
        High,
        "Azure shared access signature (sig= beside sv=/se=/sp=)",
    ),
    def(
        "azure-storage-key",
        C::CloudCredential,
        High,
        "Azure storage account key (AccountKey=)",
    ),
    def(
        "azure-client-secret",
        C::CloudCredential,
        High,
        "Azure AD / Entra client secret (xxx8Q~...)",
    ),
    def(
        "okta-api-token",
        C::ApiKey,
        High,
        "Okta API token after the SSWS authorization scheme",
    ),
    def(
        "okta-session-token",
        C::BearerToken,
        High,
        "Okta sessionToken from the authn API",
    ),
    def("npm-token", C::ApiKey, High, "npm access token (npm_)"),
    def(
        "pypi-token",
        C::ApiKey,
        High,
        "PyPI API token (pypi-AgEIcHlwaS5vcmc)",
    ),
    def(
        "sendgrid-api-key",
        C::ApiKey,
        High,
        "SendGrid API key (SG.x.y)",
    ),
    def(
        "openai-api-key",
        C::ApiKey,
        High,
        "OpenAI API key (sk-proj-, sk-svcacct-, sk-admin-)",
    ),
    def(
        "anthropic-api-key",
        C::ApiKey,
        High,
        "Anthropic API key (sk-ant-)",
    ),
    def(
        "shopify-token",
        C::ApiKey,
        High,
        "Shopify access token or shared secret (shpat_, shpss_, shpca_, shppa_)",
    ),
    def(
        "vault-token",
        C::ApiKey,
        High,
        "HashiCorp Vault token (hvs., hvb.)",
    ),
    def(
        "digitalocean-token",
        C::ApiKey,
        High,
        "DigitalOcean token (dop_v1_, doo_v1_, dor_v1_)",
    ),
    def(
        "huggingface-token",
        C::ApiKey,
        High,
        "Hugging Face access token (hf_)",
    ),
    def(
        "auth-basic",
        C::BasicAuth,
        High,
        "HTTP Basic credentials (base64 user:password after `Basic`)",
    ),
    def(
        "auth-digest",
        C::DigestAuth,
        Medium,
        "HTTP Digest authorization response hash",
    ),
    def(
        "auth-negotiate",
        C::BearerToken,
        High,
        "Negotiate (SPNEGO/Kerberos) or NTLM authorization token",
    ),
    def(
        "auth-bearer",
        C::BearerToken,
        High,
        "Opaque bearer token after `Bearer` (entropy-checked in free text)",
    ),
    def(
        "auth-dpop",
        C::BearerToken,
        High,
        "Access token after the DPoP authorization scheme",
    ),
    def(
        "auth-header",
        C::BearerToken,
        Medium,
        "Credential in an Authorization / Proxy-Authorization value of any other scheme",
    ),
    def(
        "url-userinfo-password",
        C::BasicAuth,
        High,
        "Password in a URL's userinfo (scheme://user:password@host)",
    ),
    def(
        "saml-response",
        C::Saml,
        High,
        "SAMLResponse parameter (base64 SAML assertion)",
    ),
    def(
        "saml-request",
        C::Saml,
        Medium,
        "SAMLRequest parameter (base64 or deflate+base64)",
    ),
    def(
        "saml-relay-state",
        C::Saml,
        Low,
        "RelayState parameter of a SAML exchange",
    ),
    def("pkce-verifier", C::PkceVerifier, High, "PKCE code_verifier"),
    def(
        "oauth-code",
        C::OauthCode,
        Medium,
        "OAuth authorization code in a URL or form parameter",
    ),
    def(
        "oauth-state",
        C::OauthCode,
        Low,
        "OAuth state parameter accompanying an authorization code",
    ),
    def(
        "oauth-access-token",
        C::OauthToken,
        High,
        "OAuth access_token parameter or member",
    ),
    def(
        "oauth-refresh-token",
        C::RefreshToken,
        High,
        "OAuth refresh_token parameter or member",
    ),
    def(
        "oidc-id-token",
        C::OauthToken,
        High,
        "OpenID Connect id_token parameter or member",
    ),
    def(
        "oauth-client-secret",
        C::Secret,
        High,
        "OAuth client_secret (Auth0, Okta, any IdP application secret)",
    ),
    def(
        "session-cookie",
        C::SessionCookie,
        High,
        "Session cookie of a known framework or IdP (PHPSESSID, JSESSIONID, connect.sid, ASP.NET_SessionId, laravel_session, _session_id, rack.session, sessionid, Okta sid/idx, __Host-/__Secure- session cookies)",
    ),
    def(
        "cookie-value",
        C::SessionCookie,
        Medium,
        "Any other cookie value in a Cookie or Set-Cookie header (not allow-listed)",
    ),
    def(
        "password-assignment",
        C::Password,
        High,
        "Password in a form post, query, JSON member or config assignment",
    ),
    def(
        "csrf-token",
        C::Csrf,
        Medium,
        "Anti-CSRF token (csrf, xsrf, authenticity_token, __RequestVerificationToken)",
    ),
    def(
        "api-key-assignment",
        C::ApiKey,
        Medium,
        "High-entropy value under an API-key name (api_key, apikey, x-api-key)",
    ),
    def(
        "generic-secret",
        C::Secret,
        Low,
        "High-entropy value under a secret, token or credential name",
    ),
    def(
        "session-token",
        C::BearerToken,
        Medium,
        "High-entropy value under a session name (session_token, sessionid, sid)",
    ),
    def(
        "credential-header",
        C::BearerToken,
        Medium,
        "Value of a credential-bearing header (X-Auth-Token, X-Okta-*, X-CSRF-Token...)",
    ),
    def(
        "url-signature",
        C::Signature,
        Medium,
        "Signature parameter of a URL (sig, signature, X-Goog-Signature) outside a recognised SAS",
    ),
];

fn b62(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}
fn b64url(b: u8) -> bool {
    validate::is_b64url(b)
}
fn b32_upper(b: u8) -> bool {
    b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)
}
fn hex_lower(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}
fn always(_: &[u8]) -> bool {
    true
}
fn has_digit(t: &[u8]) -> bool {
    t.iter().any(u8::is_ascii_digit)
}
fn github_ok(t: &[u8]) -> bool {
    validate::github_checksum_ok(t)
}
fn github_bad(t: &[u8]) -> bool {
    !validate::github_checksum_ok(t) && validate::shannon_entropy(t) > 3.5
}
fn mixed(t: &[u8]) -> bool {
    validate::looks_opaque_secret(t)
}

/// Any non-placeholder literal (passwords are low-entropy by nature).
fn any_literal(v: &[u8], quoted: bool) -> bool {
    !(lexer::is_non_secret_value(v, quoted) || (quoted && lexer::looks_like_prose(v)))
}
/// A value that looks like a random secret.
fn opaque(v: &[u8], quoted: bool) -> bool {
    !lexer::is_non_secret_value(v, quoted) && validate::looks_opaque_secret(v)
}
fn aws_secret_value(v: &[u8], quoted: bool) -> bool {
    v.len() == 40
        && v.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'/' || b == b'+')
        && opaque(v, quoted)
}
fn long_token(v: &[u8], quoted: bool) -> bool {
    v.len() >= 16 && !lexer::is_non_secret_value(v, quoted) && validate::shannon_entropy(v) > 3.0
}
fn aws_session_value(v: &[u8], quoted: bool) -> bool {
    v.len() >= 100 && long_token(v, quoted)
}
fn okta_session_value(v: &[u8], quoted: bool) -> bool {
    v.len() < 100 && long_token(v, quoted)
}
fn hex40(v: &[u8], _quoted: bool) -> bool {
    v.len() == 40 && v.iter().all(|b| b.is_ascii_hexdigit())
}
fn saml_value(v: &[u8], quoted: bool) -> bool {
    v.len() >= 16 && !lexer::is_non_secret_value(v, quoted) && !lexer::looks_like_prose(v)
}
fn pkce_value(v: &[u8], _quoted: bool) -> bool {
    (43..=128).contains(&v.len())
        && v.iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}
fn azure_key_value(v: &[u8], _quoted: bool) -> bool {
    (86..=90).contains(&v.len())
        && v.iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

macro_rules! prefix {
    ($id:literal, [$($a:literal),+], $body:expr, $min:literal..=$max:literal, $check:expr) => {
        Spec {
            id: $id,
            anchors: &[$($a),+],
            case_sensitive: true,
            confirm: Confirm::Prefix { body: $body, min: $min, max: $max, check: $check },
        }
    };
}
macro_rules! named {
    ($id:literal, [$($a:literal),+], $check:expr) => {
        Spec { id: $id, anchors: &[$($a),+], case_sensitive: false, confirm: Confirm::Named { check: $check } }
    };
}
macro_rules! custom {
    ($id:literal, [$($a:literal),*], $cs:literal, $f:expr) => {
        Spec { id: $id, anchors: &[$($a),*], case_sensitive: $cs, confirm: Confirm::Custom($f) }
    };
}
macro_rules! position {
    ($id:literal) => {
        Spec {
            id: $id,
            anchors: &[],
            case_sensitive: false,
            confirm: Confirm::Position,
        }
    };
}

/// How each rule of [`RULES`] is found, index for index.
pub(crate) static SPECS: [Spec; N] = [
    custom!("jwt", ["eyJ"], true, confirm_jwt),
    custom!("jwe", ["eyJ"], true, confirm_jwt),
    custom!("private-key-pem", ["-----BEGIN "], true, confirm_pem),
    custom!(
        "openssh-private-key",
        ["-----BEGIN OPENSSH PRIVATE KEY-----"],
        true,
        confirm_pem
    ),
    custom!(
        "pgp-private-key",
        ["-----BEGIN PGP PRIVATE KEY BLOCK-----"],
        true,
        confirm_pem
    ),
    custom!(
        "putty-private-key",
        ["PuTTY-User-Key-File-"],
        true,
        confirm_putty
    ),
    prefix!(
        "github-token",
        ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        b62,
        36..=36,
        github_ok
    ),
    prefix!(
        "github-token-unverified",
        ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        b62,
        36..=36,
        github_bad
    ),
    custom!(
        "github-fine-grained-pat",
        ["github_pat_"],
        true,
        confirm_github_pat
    ),
    prefix!(
        "gitlab-token",
        ["glpat-", "gldt-", "glrt-", "glptt-", "glsoat-"],
        b64url,
        20..=64,
        has_digit
    ),
    prefix!("bitbucket-app-password", ["ATBB"], b62, 32..=40, mixed),
    prefix!(
        "atlassian-api-token",
        ["ATATT3"],
        atlassian_body,
        150..=220,
        always
    ),
    custom!(
        "slack-token",
        [
            "xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-", "xoxe.xox"
        ],
        true,
        confirm_slack
    ),
    custom!(
        "slack-webhook",
        ["hooks.slack.com/services/", "hooks.slack.com/workflows/"],
        true,
        confirm_slack_webhook
    ),
    custom!(
        "discord-webhook",
        ["discord.com/api/webhooks/", "discordapp.com/api/webhooks/"],
        true,
        confirm_discord_webhook
    ),
    position!("discord-bot-token"),
    custom!("telegram-bot-token", [":AA"], true, confirm_telegram),
    prefix!(
        "stripe-secret-key",
        ["sk_live_", "rk_live_"],
        b62,
        24..=247,
        always
    ),
    prefix!(
        "stripe-test-key",
        ["sk_test_", "rk_test_"],
        b62,
        24..=247,
        always
    ),
    custom!(
        "square-access-token",
        ["EAAA", "sq0atp-"],
        true,
        confirm_square
    ),
    prefix!("square-oauth-secret", ["sq0csp-"], b64url, 43..=43, always),
    custom!(
        "braintree-access-token",
        ["access_token$production$", "access_token$sandbox$"],
        true,
        confirm_braintree
    ),
    custom!(
        "aws-access-key-id",
        ["AKIA", "ASIA"],
        true,
        confirm_aws_key_id
    ),
    named!(
        "aws-secret-access-key",
        [
            "aws_secret_access_key",
            "secretaccesskey",
            "secret_access_key",
            "aws_secret_key",
            "aws-secret-access-key"
        ],
        aws_secret_value
    ),
    named!(
        "aws-session-token",
        [
            "x-amz-security-token",
            "aws_session_token",
            "sessiontoken",
            "aws_security_token"
        ],
        aws_session_value
    ),
    custom!(
        "aws-presigned-signature",
        ["X-Amz-Signature="],
        false,
        confirm_amz_signature
    ),
    custom!(
        "aws-sigv4-signature",
        ["AWS4-HMAC-SHA256 "],
        true,
        confirm_sigv4
    ),
    named!("gcp-service-account-key", ["private_key_id"], hex40),
    prefix!("gcp-api-key", ["AIza"], b64url, 35..=35, always),
    prefix!("gcp-oauth-token", ["ya29."], b64url_dot, 20..=2048, mixed),
    custom!("gcp-refresh-token", ["1//0"], true, confirm_gcp_refresh),
    custom!("azure-sas-signature", ["sig="], false, confirm_sas),
    Spec {
        id: "azure-storage-key",
        anchors: &["AccountKey"],
        case_sensitive: true,
        confirm: Confirm::Named {
            check: azure_key_value,
        },
    },
    custom!(
        "azure-client-secret",
        ["7Q~", "8Q~"],
        true,
        confirm_azure_secret
    ),
    custom!("okta-api-token", ["SSWS "], true, confirm_scheme),
    named!("okta-session-token", ["sessionToken"], okta_session_value),
    prefix!("npm-token", ["npm_"], b62, 36..=36, mixed),
    prefix!(
        "pypi-token",
        ["pypi-AgEIcHlwaS5vcmc"],
        b64url,
        50..=400,
        always
    ),
    custom!("sendgrid-api-key", ["SG."], true, confirm_sendgrid),
    prefix!(
        "openai-api-key",
        ["sk-proj-", "sk-svcacct-", "sk-admin-"],
        b64url,
        40..=200,
        mixed
    ),
    prefix!(
        "anthropic-api-key",
        ["sk-ant-api03-", "sk-ant-admin01-"],
        b64url,
        80..=120,
        always
    ),
    prefix!(
        "shopify-token",
        ["shpat_", "shpss_", "shpca_", "shppa_"],
        hex_lower,
        32..=32,
        always
    ),
    prefix!("vault-token", ["hvs.", "hvb."], b64url, 24..=200, mixed),
    prefix!(
        "digitalocean-token",
        ["dop_v1_", "doo_v1_", "dor_v1_"],
        hex_lower,
        64..=64,
        always
    ),
    prefix!("huggingface-token", ["hf_"], ascii_alpha, 34..=34, mixed),
    position!("auth-basic"),
    position!("auth-digest"),
    position!("auth-negotiate"),
    custom!("auth-bearer", ["Bearer "], false, confirm_scheme),
    custom!("auth-dpop", ["DPoP "], true, confirm_scheme),
    custom!(
        "auth-header",
        [
            "authorization:",
            "authorization\":",
            "authorization=",
            "\"authorization\"",
            "authorization\\\""
        ],
        false,
        confirm_auth_line
    ),
    custom!("url-userinfo-password", ["://"], true, confirm_userinfo),
    named!("saml-response", ["SAMLResponse"], saml_value),
    named!("saml-request", ["SAMLRequest"], saml_value),
    position!("saml-relay-state"),
    named!("pkce-verifier", ["code_verifier"], pkce_value),
    custom!(
        "oauth-code",
        ["?code=", "&code=", "#code=", "&amp;code=", "\"code\""],
        false,
        confirm_oauth_code
    ),
    position!("oauth-state"),
    named!(
        "oauth-access-token",
        ["access_token", "accessToken", "access-token"],
        opaque_or_jwt
    ),
    named!(
        "oauth-refresh-token",
        ["refresh_token", "refreshToken", "refresh-token"],
        opaque_or_jwt
    ),
    named!("oidc-id-token", ["id_token", "idToken"], opaque_or_jwt),
    named!(
        "oauth-client-secret",
        ["client_secret", "clientSecret", "client-secret"],
        any_literal
    ),
    custom!(
        "session-cookie",
        [
            "PHPSESSID",
            "JSESSIONID",
            "connect.sid",
            "ASP.NET_SessionId",
            "laravel_session",
            "_session_id",
            "rack.session",
            "__Host-",
            "__Secure-",
            "sessionid"
        ],
        false,
        confirm_session_cookie
    ),
    custom!(
        "cookie-value",
        [
            "cookie:",
            "set-cookie:",
            "cookie\":",
            "\"cookie\"",
            "\"set-cookie\""
        ],
        false,
        confirm_cookie_line
    ),
    named!(
        "password-assignment",
        [
            "password",
            "passwd",
            "passwort",
            "pwd",
            "new_password",
            "old_password",
            "current_password"
        ],
        password_value
    ),
    named!(
        "csrf-token",
        [
            "csrf_token",
            "csrftoken",
            "csrfmiddlewaretoken",
            "_csrf",
            "xsrf-token",
            "x-csrf-token",
            "authenticity_token",
            "__RequestVerificationToken",
            "csrf"
        ],
        opaque
    ),
    named!(
        "api-key-assignment",
        [
            "api_key",
            "apikey",
            "api-key",
            "x-api-key",
            "apiKey",
            "private_key"
        ],
        opaque
    ),
    named!(
        "generic-secret",
        ["secret", "token", "auth_token", "authtoken"],
        opaque
    ),
    named!(
        "session-token",
        [
            "session_token",
            "session_id",
            "sessionkey",
            "session_key",
            "x-session-token"
        ],
        opaque
    ),
    position!("credential-header"),
    position!("url-signature"),
];

fn atlassian_body(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'=')
}
fn b64url_dot(b: u8) -> bool {
    validate::is_b64url(b) || b == b'.'
}
fn ascii_alpha(b: u8) -> bool {
    b.is_ascii_alphabetic()
}
fn opaque_or_jwt(v: &[u8], quoted: bool) -> bool {
    opaque(v, quoted) || (v.starts_with(b"eyJ") && validate::jwt_info(v).is_some())
}
fn password_value(v: &[u8], quoted: bool) -> bool {
    any_literal(v, quoted)
        && !v.eq_ignore_ascii_case(b"text")
        && !v.eq_ignore_ascii_case(b"new-password")
        && !v.eq_ignore_ascii_case(b"current-password")
}

/// Confirms a rule whose anchor starts the token.
pub(crate) fn confirm_prefix(
    c: &Cand<'_>,
    body: fn(u8) -> bool,
    min: usize,
    max: usize,
    check: fn(&[u8]) -> bool,
    out: &mut Vec<Match>,
) {
    if lexer::prev(c.hay, c.start)
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return;
    }
    let end = lexer::take_while(c.hay, c.end, max.saturating_add(1), body);
    let len = end.saturating_sub(c.end);
    if len < min || len > max {
        return;
    }
    if c.hay.get(c.start..end).is_some_and(check) {
        c.emit(out, c.start..end);
    }
}

/// Confirms a rule whose anchor is a credential-bearing name.
pub(crate) fn confirm_named(c: &Cand<'_>, check: fn(&[u8], bool) -> bool, out: &mut Vec<Match>) {
    if lexer::prev(c.hay, c.start).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return;
    }
    let Some(v) = lexer::value_after_name(c.hay, c.end) else {
        return;
    };
    if v.syntax == Syntax::Colon && !v.quoted && !key_starts_line(c.hay, c.start) {
        return;
    }
    if c.hay
        .get(v.span.clone())
        .is_some_and(|value| check(value, v.quoted))
    {
        c.emit(out, v.span);
    }
}

/// Whether a key is quoted or first on its line (YAML/INI/header style), as opposed
/// to an object key inside minified code.
fn key_starts_line(h: &[u8], start: usize) -> bool {
    let mut k = start;
    if matches!(lexer::prev(h, k), Some(b'"' | b'\'')) {
        return true;
    }
    while let Some(b) = lexer::prev(h, k) {
        match b {
            b' ' | b'\t' | b'-' | b'_' | b'.' => k = k.saturating_sub(1),
            b'\n' | b'\r' => return true,
            _ => return false,
        }
    }
    true
}

fn confirm_jwt(c: &Cand<'_>, out: &mut Vec<Match>) {
    let h = c.hay;
    // `-` and `_` are base64url, but also the usual separators in names
    // (`sess-eyJ...`); the structural check below (header decodes, has `alg`) keeps a
    // mid-token `eyJ` from being reported.
    if lexer::prev(h, c.start).is_some_and(|b| b.is_ascii_alphanumeric() || b == b'.') {
        return;
    }
    let mut end = c.start;
    let mut segments = 0usize;
    // End of the third segment: a JWS followed by `.har` or `.log` (a file name) is
    // still a JWS.
    let mut jws_end = None;
    loop {
        end = lexer::take_while(h, end, 64 * 1024, validate::is_b64url);
        segments = segments.saturating_add(1);
        if segments == 3 {
            jws_end = Some(end);
        }
        if segments < 5 && h.get(end) == Some(&b'.') {
            end = end.saturating_add(1);
        } else {
            break;
        }
    }
    let whole = h.get(c.start..end).and_then(validate::jwt_info);
    let (end, info) = match (whole, jws_end) {
        (Some(info), _) => (end, info),
        (None, Some(jws_end)) if segments == 4 => {
            match h.get(c.start..jws_end).and_then(validate::jwt_info) {
                Some(info) => (jws_end, info),
                None => return,
            }
        }
        _ => return,
    };
    let want_jwe = c.rule.id == "jwe";
    if info.encrypted == want_jwe {
        c.emit(out, c.start..end);
    }
}

fn confirm_pem(c: &Cand<'_>, out: &mut Vec<Match>) {
    let h = c.hay;
    let label_end = lexer::take_while(h, c.end, 48, |b| {
        b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ' || b == b'-'
    });
    let Some(header) = h.get(c.start..label_end) else {
        return;
    };
    let is_private = memchr::memmem::find(header, b"PRIVATE KEY").is_some();
    let kind = if header.starts_with(b"-----BEGIN OPENSSH") {
        "openssh-private-key"
    } else if header.starts_with(b"-----BEGIN PGP") {
        "pgp-private-key"
    } else {
        "private-key-pem"
    };
    if !is_private || kind != c.rule.id {
        return;
    }
    let window_end = c.start.saturating_add(256 * 1024).min(h.len());
    let Some(window) = h.get(label_end..window_end) else {
        return;
    };
    let end = match memchr::memmem::find(window, b"-----END ") {
        Some(p) => {
            let after = label_end.saturating_add(p).saturating_add(9);
            let close = h
                .get(after..window_end)
                .and_then(|w| memchr::memmem::find(w, b"-----"));
            close.map_or(window_end, |q| after.saturating_add(q).saturating_add(5))
        }
        // Truncated block: redact through the end of the base64 body (fail closed).
        None => lexer::take_while(h, label_end, window.len(), |b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'+' | b'/' | b'=' | b'\n' | b'\r' | b'\\' | b' ' | b'-' | b':' | b','
                )
        }),
    };
    c.emit(out, c.start..end);
}

fn confirm_putty(c: &Cand<'_>, out: &mut Vec<Match>) {
    let h = c.hay;
    // PuTTY headers are short: a bounded window keeps repeated anchors cheap.
    let window_end = c.start.saturating_add(8 * 1024).min(h.len());
    let Some(window) = h.get(c.start..window_end) else {
        return;
    };
    if memchr::memmem::find(window, b"Private-Lines:").is_none() {
        return;
    }
    let end = memchr::memmem::find(window, b"Private-MAC:").map_or(window_end, |p| {
        lexer::line_end(h, c.start.saturating_add(p))
    });
    c.emit(out, c.start..end);
}

fn confirm_github_pat(c: &Cand<'_>, out: &mut Vec<Match>) {
    let h = c.hay;
    if lexer::prev(h, c.start).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return;
    }
    let end = lexer::take_while(h, c.end, 100, |b| b.is_ascii_alphanumeric() || b == b'_');
    let len = end.saturating_sub(c.end);
    if (82..=93).contains(&len) {
        c.emit(out, c.start..end);
    }
}

fn confirm_slack(c: &Cand<'_>, out: &mut Vec<Match>) {
    let h = c.hay;
    if lexer::prev(h, c.start).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return;
    }
    let end = lexer::take_while(h, c.end, 256, |b| {
        b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
    });
    let Some(body) = h.get(c.end..end) else {
        return;
    };
    if body.len() >= 20 && body.iter().filter(|b| b.is_ascii_digit()).count() >= 6 {
        c.emit(out, c.start..end);
    }
}

fn confirm_slack_webhook(c: &Cand<'_>, out: &mut Vec<Match>) {
    let end = lexer::take_while(c.hay, c.end, 128, |b| {
        b.is_ascii_alphanumeric() || b == b'/'
    });
    let Some(path) = c.hay.get(c.end..end) else {
        return;
    };
    if path.iter().filter(|&&b| b == b'/').count() >= 2 && path.len() >= 40 {
        c.emit(out, c.end..end);
    }
}

fn confirm_discord_webhook(c: &Cand<'_>, out: &mut Vec<Match>) {
    let h = c.hay;
    let id_end = lexer::take_while(h, c.end, 24, |b| b.is_ascii_digit());
    if id_end.saturating_sub(c.end) < 15 || h.get(id_end) != Some(&b'/') {
        return;
    }
    let start = id_end.saturating_add(1);
    let end = lexer::take_while(h, start, 100, validate::is_b64url);
    if (60..=90).contains(&end.saturating_sub(start)) {
        c.emit(out, start..end);
    }
}

fn confirm_telegram(c: &Cand<'_>, out: &mut Vec<Match>) {
    let h = c.hay;
    let mut start = c.start;
    while lexer::prev(h, start).is_some_and(|b| b.is_ascii_digit())
        && c.start.saturating_sub(start) < 11
    {
        start = start.saturating_sub(1);
    }
    let digits = c.start.saturating_sub(start);
    if !(8..=10).contains(&digits)
        || lexer::prev(h, start).is_some_and(|b| b.is_ascii_alphanumeric())
    {
        return;
    }
    let end = lexer::take_while(h, c.end, 34, validate::is_b64url);
    if end.saturating_sub(c.end) == 33 {
        c.emit(out, start..end);
    }
}

fn confirm_square(c: &Cand<'_>, out: &mut Vec<Match>) {
    let (body_min, body_max) = if c.hay.get(c.start) == Some(&b'E') {
        (60, 60)
    } else {
        (22, 22)
    };
    confirm_prefix(c, validate::is_b64url, body_min, body_max, mixed, out);
}

fn confirm_braintree(c: &Cand<'_>, out: &mut Vec<Match>) {
    let h = c.hay;
    let a = lexer::take_while(h, c.end, 16, |b| b.is_ascii_alphanumeric());
    if a.saturating_sub(c.end) != 16 || h.get(a) != Some(&b'$') {
        return;
    }
    let b_start = a.saturating_add(1);
    let b_end = lexer::take_while(h, b_start, 32, |b| b.is_ascii_hexdigit());
    if b_end.saturating_sub(b_start) == 32 {
        c.emit(out, c.start..b_end);
    }
}

fn confirm_aws_key_id(c: &Cand<'_>, out: &mut Vec<Match>) {
    let h = c.hay;
    if lexer::prev(h, c.start).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return;
    }
    let end = lexer::take_while(h, c.end, 17, b32_upper);
    if end.saturating_sub(c.end) != 16 || h.get(end).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return;
    }
    c.emit(out, c.start..end);
    // A secret access key near the key id (40 base64 chars, standalone).
    let lo = c.start.saturating_sub(256);
    let hi = end.saturating_add(256).min(h.len());
    let mut i = lo;
    while i < hi {
        let Some(&b) = h.get(i) else { break };
        if b.is_ascii_alphanumeric() || b == b'/' || b == b'+' {
            let j = lexer::take_while(h, i, 41, |x| {
                x.is_ascii_alphanumeric() || x == b'/' || x == b'+'
            });
            let standalone = !lexer::prev(h, i)
                .is_some_and(|p| p.is_ascii_alphanumeric() || p == b'/' || p == b'+' || p == b'%');
            let tok = h.get(i..j).unwrap_or_default();
            if standalone
                && j.saturating_sub(i) == 40
                && validate::looks_opaque_secret(tok)
                && tok.iter().any(u8::is_ascii_lowercase)
                && (i >= end || j <= c.start)
                && let Some(r) = crate::catalogue::rule("aws-secret-access-key")
            {
                out.push(Match {
                    rule: r,
                    span: i..j,
                });
            }
            i = j.max(i.saturating_add(1));
        } else {
            i = i.saturating_add(1);
        }
    }
}

fn confirm_amz_signature(c: &Cand<'_>, out: &mut Vec<Match>) {
    let end = lexer::take_while(c.hay, c.end, 65, |b| b.is_ascii_hexdigit());
    if end.saturating_sub(c.end) == 64 {
        c.emit(out, c.end..end);
    }
}

fn confirm_sigv4(c: &Cand<'_>, out: &mut Vec<Match>) {
    let line_end = lexer::line_end(c.hay, c.end).min(c.end.saturating_add(2048));
    let Some(window) = c.hay.get(c.end..line_end) else {
        return;
    };
    let Some(p) = memchr::memmem::find(window, b"Signature=") else {
        return;
    };
    let start = c.end.saturating_add(p).saturating_add(10);
    let end = lexer::take_while(c.hay, start, 65, |b| b.is_ascii_hexdigit());
    if end.saturating_sub(start) == 64 {
        c.emit(out, start..end);
    }
}

fn confirm_gcp_refresh(c: &Cand<'_>, out: &mut Vec<Match>) {
    if lexer::prev(c.hay, c.start).is_some_and(|b| b.is_ascii_alphanumeric() || b == b'/') {
        return;
    }
    let end = lexer::take_while(c.hay, c.end, 512, validate::is_b64url);
    let tok = c.hay.get(c.end..end).unwrap_or_default();
    if tok.len() >= 40 && validate::looks_opaque_secret(tok) {
        c.emit(out, c.start..end);
    }
}

fn confirm_sas(c: &Cand<'_>, out: &mut Vec<Match>) {
    let h = c.hay;
    if !matches!(lexer::prev(h, c.start), Some(b'?' | b'&' | b';')) {
        return;
    }
    let end = lexer::take_while(h, c.end, 256, |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'%' | b'+' | b'/' | b'=')
    });
    let Some(raw) = h.get(c.end..end) else { return };
    let decoded = validate::percent_decode(raw, false);
    if !(40..=90).contains(&decoded.bytes.len())
        || validate::b64_decode_lenient(&decoded.bytes).is_none()
    {
        return;
    }
    // Only a SAS: sv=/se=/sp=/sr= within the same URL or connection string.
    let lo = c.start.saturating_sub(1024);
    let Some(before) = h.get(lo..c.start) else {
        return;
    };
    let url_start = before
        .iter()
        .rposition(|&b| matches!(b, b' ' | b'"' | b'\'' | b'\n' | b'<' | b'>'))
        .map_or(0, |p| p.saturating_add(1));
    let scope = before.get(url_start..).unwrap_or_default();
    let tail_end = lexer::take_while(h, end, 1024, |b| {
        !matches!(b, b' ' | b'"' | b'\'' | b'\n' | b'<' | b'>')
    });
    let tail = h.get(end..tail_end).unwrap_or_default();
    let has = |needle: &[u8]| {
        memchr::memmem::find(scope, needle).is_some()
            || memchr::memmem::find(tail, needle).is_some()
    };
    if has(b"sv=") || has(b"se=") || has(b"sp=") || has(b"sr=") {
        c.emit(out, c.end..end);
    }
}

fn confirm_azure_secret(c: &Cand<'_>, out: &mut Vec<Match>) {
    let h = c.hay;
    let body = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'~' | b'.' | b'-');
    // three chars, then the anchor (`7Q~`/`8Q~`), then 31-34 chars
    let start = c.start.saturating_sub(3);
    let Some(head) = h.get(start..c.start) else {
        return;
    };
    if head.len() != 3 || !head.iter().copied().all(body) {
        return;
    }
    if lexer::prev(h, start).is_some_and(body) {
        return;
    }
    let end = lexer::take_while(h, c.end, 35, body);
    if (31..=34).contains(&end.saturating_sub(c.end))
        && h.get(c.end..end)
            .is_some_and(|t| validate::shannon_entropy(t) > 3.5)
    {
        c.emit(out, start..end);
    }
}

fn confirm_sendgrid(c: &Cand<'_>, out: &mut Vec<Match>) {
    let h = c.hay;
    if lexer::prev(h, c.start).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return;
    }
    let a = lexer::take_while(h, c.end, 23, validate::is_b64url);
    if a.saturating_sub(c.end) != 22 || h.get(a) != Some(&b'.') {
        return;
    }
    let b_end = lexer::take_while(h, a.saturating_add(1), 44, validate::is_b64url);
    if b_end.saturating_sub(a.saturating_add(1)) == 43 {
        c.emit(out, c.start..b_end);
    }
}

/// `<Scheme> <credential>` in free text.
fn confirm_scheme(c: &Cand<'_>, out: &mut Vec<Match>) {
    let h = c.hay;
    if lexer::prev(h, c.start).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return;
    }
    let scheme = h.get(c.start..c.end.saturating_sub(1)).unwrap_or_default();
    let start = lexer::skip_blanks(h, c.end);
    let end = lexer::take_while(h, start, 64 * 1024, |b| {
        !matches!(b, b'\r' | b'\n' | b'"' | b'\'' | b'<' | b'>' | b'`' | b'\\')
    });
    let Some(rest) = h.get(start..end) else {
        return;
    };
    for m in auth::scheme_credentials(scheme, rest, false) {
        let span = start.saturating_add(m.span.start)..start.saturating_add(m.span.end);
        if m.rule.id == c.rule.id {
            out.push(Match { rule: m.rule, span });
        }
    }
}

/// `Authorization: <scheme> <credential>` lines, and HAR `{"name": "Authorization",
/// "value": "..."}` pairs.
fn confirm_auth_line(c: &Cand<'_>, out: &mut Vec<Match>) {
    header_value_after(c, "authorization", out);
}

fn confirm_cookie_line(c: &Cand<'_>, out: &mut Vec<Match>) {
    let name = if c.hay.get(c.start..c.end).is_some_and(|a| a.contains(&b'-')) {
        "set-cookie"
    } else {
        "cookie"
    };
    header_value_after(c, name, out);
}

/// Locates the header value after a header-name anchor (text line, JSON member, or
/// HAR name/value pair) and hands it to the field logic.
fn header_value_after(c: &Cand<'_>, header: &str, out: &mut Vec<Match>) {
    let h = c.hay;
    if lexer::prev(h, c.start).is_some_and(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return;
    }
    let anchor = h.get(c.start..c.end).unwrap_or_default();
    let quoted_name = anchor.ends_with(b"\"") && anchor.starts_with(b"\"");
    let json_member = quoted_name && h.get(lexer::skip_blanks(h, c.end)) == Some(&b':');
    let value = if quoted_name && !json_member {
        har_pair_value(h, c.end)
    } else if json_member {
        let j = lexer::skip_blanks(h, lexer::skip_blanks(h, c.end).saturating_add(1));
        lexer::value_at(h, j, Syntax::Colon)
            .filter(|v| v.quoted)
            .map(|v| v.span)
    } else {
        let j = lexer::skip_blanks(h, c.end);
        // A header quoted as a whole (`-H 'Cookie: a=b'`) ends at its closing quote.
        let opening = lexer::prev(h, c.start).filter(|b| *b == b'\'');
        // An unquoted header line ends at the line end, or at a JSON string's end
        // or escape when the "line" sits inside a JSON string (HAR bodies).
        lexer::value_at(h, j, Syntax::Colon).map(|v| {
            if v.quoted {
                v.span
            } else {
                let end = lexer::line_end(h, j);
                let cut = h
                    .get(j..end)
                    .and_then(|line| match opening {
                        Some(q) => memchr::memchr3(b'\\', b'"', q, line),
                        None => memchr::memchr2(b'\\', b'"', line),
                    })
                    .map_or(end, |p| j.saturating_add(p));
                j..cut
            }
        })
    };
    let Some(span) = value else { return };
    c.examined.set(c.examined.get().max(span.end));
    let Some(text) = h
        .get(span.clone())
        .and_then(|v| std::str::from_utf8(v).ok())
    else {
        return;
    };
    // `authorization:` inside prose is not a header: only validated credentials count.
    let header_position = quoted_name
        || key_starts_line(h, c.start)
        || matches!(lexer::prev(h, c.start), Some(b'\'' | b'"'));
    let found = if header == "authorization" && !header_position {
        crate::auth::authorization_value(text.as_bytes(), false)
    } else {
        c.scanner.header_field(header, text)
    };
    for m in found {
        out.push(Match {
            rule: m.rule,
            span: span.start.saturating_add(m.span.start)..span.start.saturating_add(m.span.end),
        });
    }
}

/// After `"Authorization"` in a HAR header object: `, "value": "..."`.
fn har_pair_value(h: &[u8], i: usize) -> Option<Range<usize>> {
    let mut j = lexer::skip_blanks(h, i);
    if h.get(j) != Some(&b',') {
        return None;
    }
    j = take_ws(h, j.saturating_add(1));
    if !h.get(j..).is_some_and(|r| r.starts_with(b"\"value\"")) {
        return None;
    }
    j = take_ws(h, j.saturating_add(7));
    if h.get(j) != Some(&b':') {
        return None;
    }
    j = take_ws(h, j.saturating_add(1));
    let v = lexer::value_at(h, j, Syntax::Colon)?;
    v.quoted.then_some(v.span)
}

fn take_ws(h: &[u8], i: usize) -> usize {
    lexer::take_while(h, i, 256, |b| b.is_ascii_whitespace())
}

fn confirm_userinfo(c: &Cand<'_>, out: &mut Vec<Match>) {
    let h = c.hay;
    if !lexer::prev(h, c.start).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return;
    }
    let end = lexer::take_while(h, c.end, 512, |b| {
        !matches!(
            b,
            b'/' | b'?' | b'#' | b' ' | b'"' | b'\'' | b'<' | b'>' | b'\n' | b'\\' | b'`'
        )
    });
    let Some(authority) = h.get(c.end..end) else {
        return;
    };
    let Some(at) = memchr::memrchr(b'@', authority) else {
        return;
    };
    let Some(userinfo) = authority.get(..at) else {
        return;
    };
    let Some(colon) = memchr::memchr(b':', userinfo) else {
        return;
    };
    let Some(password) = userinfo.get(colon.saturating_add(1)..) else {
        return;
    };
    if password.is_empty() || lexer::is_non_secret_value(password, true) {
        return;
    }
    let start = c.end.saturating_add(colon).saturating_add(1);
    c.emit(out, start..c.end.saturating_add(at));
}

fn confirm_oauth_code(c: &Cand<'_>, out: &mut Vec<Match>) {
    let h = c.hay;
    let anchor = h.get(c.start..c.end).unwrap_or_default();
    let value = if anchor.ends_with(b"=") {
        let end = lexer::take_while(h, c.end, 2048, |b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'%' | b'+' | b'/')
        });
        Some(c.end..end)
    } else {
        if lexer::prev(h, c.start).is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return;
        }
        lexer::value_after_name(h, c.end)
            .filter(|v| v.quoted)
            .map(|v| v.span)
    };
    let Some(span) = value else { return };
    let Some(raw) = h.get(span.clone()) else {
        return;
    };
    let decoded = validate::percent_decode(raw, false);
    let v = decoded.bytes.as_slice();
    // Authorization codes are opaque, at least 16 characters (HTTP status codes,
    // country codes and error codes are not).
    if v.len() >= 16 && !lexer::is_non_secret_value(v, true) && validate::looks_opaque_secret(v) {
        c.emit(out, span);
    }
}

fn confirm_session_cookie(c: &Cand<'_>, out: &mut Vec<Match>) {
    let h = c.hay;
    if lexer::prev(h, c.start).is_some_and(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return;
    }
    // Cookie name continues for prefixed forms (`__Host-SID`, `.AspNetCore.Session`).
    let name_end = lexer::take_while(h, c.end, 128, |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
    });
    let name = h
        .get(c.start..name_end)
        .and_then(|n| std::str::from_utf8(n).ok())
        .unwrap_or_default();
    if !crate::field::is_session_cookie_name(name) {
        return;
    }
    let value = match h.get(name_end) {
        Some(b'=') => {
            let end = lexer::take_while(h, name_end.saturating_add(1), 8192, |b| {
                !matches!(
                    b,
                    b';' | b' ' | b'\t' | b'\r' | b'\n' | b'"' | b'\'' | b',' | b'&' | b'\\' | b'<'
                )
            });
            Some(name_end.saturating_add(1)..end)
        }
        Some(b'"') => har_pair_value(h, name_end.saturating_add(1)),
        _ => None,
    };
    let Some(span) = value else { return };
    if h.get(span.clone())
        .is_some_and(|v| !v.is_empty() && !lexer::is_non_secret_value(v, true) && v.len() >= 6)
    {
        c.emit(out, span);
    }
}

/// Looks a rule up by id.
#[must_use]
pub(crate) fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}
