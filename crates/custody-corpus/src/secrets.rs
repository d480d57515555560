//! Synthetic credential values in the shapes real services issue (random, never
//! valid anywhere): JWTs, framework session cookies, OAuth codes and tokens, SAML
//! responses, cloud and code-host keys.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::rng::{Gen, base62_u32, crc32};

/// A JWT (RS256 header, realistic claims, 256-byte random signature).
pub(crate) fn jwt(g: &mut Gen, iss: &str, aud: &str) -> String {
    let kid = g.b64url_chars(43);
    let header = format!(r#"{{"alg":"RS256","kid":"{kid}","typ":"JWT"}}"#);
    let iat = g.now_secs();
    let sub = g.uuid();
    let jti = g.b64url_chars(22);
    let claims = format!(
        r#"{{"iss":"{iss}","sub":"{sub}","aud":"{aud}","iat":{iat},"exp":{exp},"jti":"{jti}","scope":"openid profile email","sid":"{sid}"}}"#,
        exp = iat + 3_600,
        sid = g.b64url_chars(22),
    );
    let sig = g.b64url_of_random(256);
    format!(
        "{}.{}.{sig}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    )
}

/// An opaque bearer token.
pub(crate) fn opaque_token(g: &mut Gen) -> String {
    let n = usize::try_from(g.range(32, 64)).unwrap_or(40);
    g.b64url_chars(n)
}

/// PHP's default session id: 26 lower-case alphanumerics.
pub(crate) fn phpsessid(g: &mut Gen) -> String {
    g.alnum_lower(26)
}

/// Tomcat's session id: 32 upper-case hex, sometimes with a route suffix.
pub(crate) fn jsessionid(g: &mut Gen) -> String {
    let id = g.hex_upper(32);
    if g.chance(1, 2) {
        format!("{id}.node{}", g.range(1, 9))
    } else {
        id
    }
}

/// Express-session's signed `connect.sid`, as it appears in a cookie (`s%3A...`).
pub(crate) fn connect_sid(g: &mut Gen) -> String {
    let id = g.b64url_chars(32);
    let sig = g.b64_of_random(32);
    let sig = sig
        .trim_end_matches('=')
        .replace('+', "%2B")
        .replace('/', "%2F");
    format!("s%3A{id}.{sig}")
}

/// ASP.NET session id: 24 lower-case alphanumerics.
pub(crate) fn aspnet_session(g: &mut Gen) -> String {
    g.alnum_lower(24)
}

/// Laravel's encrypted session cookie (`eyJpdiI6...%3D`).
pub(crate) fn laravel_session(g: &mut Gen) -> String {
    let iv = g.b64_of_random(16);
    let value = g.b64_of_random(96);
    let mac = g.hex(64);
    let json = format!(r#"{{"iv":"{iv}","value":"{value}","mac":"{mac}","tag":""}}"#);
    STANDARD.encode(json).replace('=', "%3D")
}

/// An identity provider's `sid` cookie.
pub(crate) fn idp_sid(g: &mut Gen) -> String {
    format!("102{}", g.b64url_chars(22))
}

/// A `__Host-session` value: 32 random bytes, base64url.
pub(crate) fn host_session(g: &mut Gen) -> String {
    g.b64url_of_random(32)
}

/// A human-ish password (unique per call).
pub(crate) fn password(g: &mut Gen) -> String {
    let word = g.word();
    let mut cap = word.to_owned();
    if let Some(first) = cap.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    format!("{cap}{}!{}", g.range(1_000, 9_999), g.base62(5))
}

/// The credential part of `Authorization: Basic`.
pub(crate) fn basic(g: &mut Gen) -> String {
    let user = format!("{}.{}@example.org", g.word(), g.range(1, 999));
    let pass = password(g);
    STANDARD.encode(format!("{user}:{pass}"))
}

/// An Okta-style SSWS API token.
pub(crate) fn ssws(g: &mut Gen) -> String {
    format!("00{}", g.b64url_chars(40))
}

/// An OAuth authorization code.
pub(crate) fn oauth_code(g: &mut Gen) -> String {
    g.b64url_chars(43)
}

/// An OAuth `state` value.
pub(crate) fn oauth_state(g: &mut Gen) -> String {
    g.b64url_chars(32)
}

/// A PKCE `code_verifier` (RFC 7636: 43 to 128 unreserved characters).
pub(crate) fn pkce_verifier(g: &mut Gen) -> String {
    g.b64url_chars(64)
}

/// An opaque refresh token.
pub(crate) fn refresh_token(g: &mut Gen) -> String {
    format!("rt.{}", g.b64url_chars(54))
}

/// A base64 `SAMLResponse` (a signed assertion, ~3 KB encoded).
pub(crate) fn saml_response(g: &mut Gen) -> String {
    let id = g.hex(40);
    let subject = format!("{}.{}@example.org", g.word(), g.range(1, 999));
    let digest = g.b64_of_random(32);
    let sig = g.b64_of_random(256);
    let cert = g.b64_of_random(700);
    let xml = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_{id}" Version="2.0" IssueInstant="{now}" Destination="https://app.example.com/saml/acs"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">http://www.okta.com/exk{iss}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_{aid}" Version="2.0"><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:DigestValue>{digest}</ds:DigestValue></ds:SignedInfo><ds:SignatureValue>{sig}</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature><saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{subject}</saml:NameID></saml:Subject></saml:Assertion></samlp:Response>"#,
        now = g.now_iso(),
        iss = g.base62(16),
        aid = g.hex(40),
    );
    STANDARD.encode(xml)
}

/// An AWS access key id.
pub(crate) fn aws_key_id(g: &mut Gen) -> String {
    format!("AKIA{}", g.base32(16))
}

/// An AWS secret access key (40 base64 characters).
pub(crate) fn aws_secret(g: &mut Gen) -> String {
    g.b64_of_random(30)
}

/// An STS session token.
pub(crate) fn aws_session_token(g: &mut Gen) -> String {
    format!("IQoJb3JpZ2luX2Vj{}", g.b64_of_random(270))
}

/// A GitHub classic personal access token with a valid CRC-32 checksum.
pub(crate) fn github_token(g: &mut Gen) -> String {
    let random = g.base62(30);
    let check = base62_u32(crc32(random.as_bytes()), 6);
    format!("ghp_{random}{check}")
}

/// A GitLab personal access token.
pub(crate) fn gitlab_token(g: &mut Gen) -> String {
    format!("glpat-{}", g.b64url_chars(20))
}

/// A Slack bot token.
pub(crate) fn slack_token(g: &mut Gen) -> String {
    format!(
        "xoxb-{}-{}-{}",
        g.range(10_000_000_000, 99_999_999_999),
        g.range(1_000_000_000_000, 9_999_999_999_999),
        g.base62(24)
    )
}

/// A Stripe live secret key.
pub(crate) fn stripe_key(g: &mut Gen) -> String {
    format!("sk_live_51{}", g.base62(97))
}

/// A Google API key.
pub(crate) fn google_api_key(g: &mut Gen) -> String {
    format!("AIza{}", g.b64url_chars(35))
}

/// A generic API key.
pub(crate) fn api_key(g: &mut Gen) -> String {
    g.base62(40)
}

/// A CSRF token.
pub(crate) fn csrf(g: &mut Gen) -> String {
    g.b64url_of_random(32)
}

/// A PKCS#8 PEM private key (random body).
pub(crate) fn private_key_pem(g: &mut Gen) -> String {
    let body = g.b64_of_random(1_190);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    let mut rest = body.as_str();
    while !rest.is_empty() {
        let cut = rest.len().min(64);
        let (line, tail) = rest.split_at(cut);
        pem.push_str(line);
        pem.push('\n');
        rest = tail;
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_tokens_carry_their_checksum() {
        let mut g = Gen::new(1);
        let t = github_token(&mut g);
        assert_eq!(t.len(), 40);
        let random = t.get(4..34).unwrap();
        let check = t.get(34..).unwrap();
        assert_eq!(check, base62_u32(crc32(random.as_bytes()), 6));
    }

    #[test]
    fn jwt_has_three_decodable_parts() {
        let mut g = Gen::new(2);
        let t = jwt(&mut g, "https://idp.example.com", "api://default");
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims = URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&claims).unwrap();
        assert_eq!(v["iss"], "https://idp.example.com");
    }
}
