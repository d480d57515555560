//! Rule metadata: the credential [`Class`], the [`Confidence`] of a rule and the
//! [`Rule`] record itself (id, class, confidence, description).

use std::fmt;

/// The kind of credential a rule detects. [`Class::as_str`] is the kebab-case id used
/// in markers and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// A JSON Web Token (JWS or JWE).
    Jwt,
    /// An opaque bearer token (Authorization header, DPoP, token-named fields).
    BearerToken,
    /// A session cookie value.
    SessionCookie,
    /// An OAuth 2.0 authorization code.
    OauthCode,
    /// An OAuth 2.0 / OIDC access or ID token.
    OauthToken,
    /// A refresh token.
    RefreshToken,
    /// A SAML request or response (assertion).
    Saml,
    /// A PKCE code verifier.
    PkceVerifier,
    /// An API key of a service (IdP, SaaS).
    ApiKey,
    /// A cloud provider credential (AWS, GCP, Azure).
    CloudCredential,
    /// A request signature (presigned URL, SAS, SigV4).
    Signature,
    /// A code-hosting token (GitHub, GitLab, Bitbucket).
    CodeHostToken,
    /// A chat platform token or webhook (Slack, Discord, Telegram).
    ChatToken,
    /// A payment provider key (Stripe, Square, Braintree/PayPal).
    PaymentKey,
    /// HTTP Basic credentials or a password in a URL's userinfo.
    BasicAuth,
    /// HTTP Digest credentials.
    DigestAuth,
    /// A private key (PEM, OpenSSH, PGP, PuTTY).
    PrivateKey,
    /// A password (form post, JSON, config).
    Password,
    /// An anti-CSRF token.
    Csrf,
    /// A generic secret under a secret-like name.
    Secret,
}

impl Class {
    /// Every class, in declaration order.
    pub const ALL: [Class; 20] = [
        Class::Jwt,
        Class::BearerToken,
        Class::SessionCookie,
        Class::OauthCode,
        Class::OauthToken,
        Class::RefreshToken,
        Class::Saml,
        Class::PkceVerifier,
        Class::ApiKey,
        Class::CloudCredential,
        Class::Signature,
        Class::CodeHostToken,
        Class::ChatToken,
        Class::PaymentKey,
        Class::BasicAuth,
        Class::DigestAuth,
        Class::PrivateKey,
        Class::Password,
        Class::Csrf,
        Class::Secret,
    ];

    /// The kebab-case id of the class, as used in markers and reports.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Class::Jwt => "jwt",
            Class::BearerToken => "bearer-token",
            Class::SessionCookie => "session-cookie",
            Class::OauthCode => "oauth-code",
            Class::OauthToken => "oauth-token",
            Class::RefreshToken => "refresh-token",
            Class::Saml => "saml",
            Class::PkceVerifier => "pkce-verifier",
            Class::ApiKey => "api-key",
            Class::CloudCredential => "cloud-credential",
            Class::Signature => "signature",
            Class::CodeHostToken => "code-host-token",
            Class::ChatToken => "chat-token",
            Class::PaymentKey => "payment-key",
            Class::BasicAuth => "basic-auth",
            Class::DigestAuth => "digest-auth",
            Class::PrivateKey => "private-key",
            Class::Password => "password",
            Class::Csrf => "csrf",
            Class::Secret => "secret",
        }
    }

    /// Parses a kebab-case class id (the inverse of [`Class::as_str`]).
    #[must_use]
    pub fn from_id(id: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.as_str() == id)
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How sure a rule is that a match is a live credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Confidence {
    /// A weak signal (generic name with a high-entropy value).
    Low,
    /// A credential by position or shape, without a validator.
    Medium,
    /// A distinctive format, or one confirmed by a validator (checksum, JWT header).
    High,
}

impl Confidence {
    /// Lower-case name: `low`, `medium`, `high`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

impl fmt::Display for Confidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One detection rule of the catalogue.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// Stable kebab-case id (`github-token`, `aws-access-key-id`, ...).
    pub id: &'static str,
    /// The class of credential it detects.
    pub class: Class,
    /// How sure a match of this rule is.
    pub confidence: Confidence,
    /// One line describing what the rule detects.
    pub description: &'static str,
}
