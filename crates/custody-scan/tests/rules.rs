//! Every rule of the catalogue has at least one positive and one negative sample, and
//! each sample behaves as stated (public API only).

#![allow(
    clippy::string_slice,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code slicing ASCII inputs at spans the scanner returned; a panic is a test failure"
)]

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use custody_scan::{Field, Scanner, validate};

#[derive(Clone)]
enum Input {
    Text(String),
    Field(FieldKind, String),
}

#[derive(Clone, Copy)]
enum FieldKind {
    Header(&'static str),
    Cookie(&'static str),
    Query(&'static str),
    Form(&'static str),
    Json(&'static str),
    Url,
}

fn field(kind: FieldKind) -> Field<'static> {
    match kind {
        FieldKind::Header(name) => Field::Header { name },
        FieldKind::Cookie(name) => Field::Cookie { name },
        FieldKind::Query(name) => Field::Query { name },
        FieldKind::Form(name) => Field::Form { name },
        FieldKind::Json(name) => Field::JsonKey { name },
        FieldKind::Url => Field::Url,
    }
}

fn t(s: impl Into<String>) -> Input {
    Input::Text(s.into())
}
fn f(kind: FieldKind, s: impl Into<String>) -> Input {
    Input::Field(kind, s.into())
}

fn jwt(header: &str, payload: &str) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload),
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    )
}

fn github(prefix: &str, random: &str) -> String {
    format!(
        "{prefix}{random}{}",
        validate::base62(crc32fast::hash(random.as_bytes()), 6)
    )
}

/// (rule id, positive samples, negative samples).
fn samples() -> Vec<(&'static str, Vec<Input>, Vec<Input>)> {
    let good_jwt = jwt(
        r#"{"alg":"RS256","typ":"JWT"}"#,
        r#"{"sub":"admin","iss":"https://idp.example.com","exp":1900000000}"#,
    );
    let no_alg = jwt(r#"{"typ":"JWT"}"#, r#"{"sub":"admin"}"#);
    let jwe = format!(
        "{}..aGVsbG8td29ybGQtaXY.Y2lwaGVydGV4dC1ibG9ja3M.dGFnLXZhbHVlLTE2Yg",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"dir","enc":"A256GCM"}"#)
    );
    let gh = github("ghp_", "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0");
    let gh_bad = format!("ghp_aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0{}", "zzzzzz");
    let basic = STANDARD.encode("alice:hunter2-Correct");
    let pem_body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n";
    let saml_xml = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1"><saml:Assertion/></samlp:Response>"#;
    let saml_b64 = STANDARD.encode(saml_xml);
    let ntlm = STANDARD
        .encode(b"NTLMSSP\0\x01\x00\x00\x00\x07\x82\x08\xa2\x00\x00\x00\x00\x00\x00\x00\x00");
    vec![
        (
            "jwt",
            vec![t(format!("token: {good_jwt}"))],
            vec![t(format!("x {no_alg} y")), t("eyJhbGciOi is cut")],
        ),
        (
            "jwe",
            vec![t(format!("enc={jwe} ok"))],
            vec![t(format!("enc={good_jwt}"))],
        ),
        (
            "private-key-pem",
            vec![
                t(format!(
                    "-----BEGIN RSA PRIVATE KEY-----\n{pem_body}-----END RSA PRIVATE KEY-----"
                )),
                t(format!("-----BEGIN PRIVATE KEY-----\n{pem_body}")),
            ],
            vec![
                t(format!(
                    "-----BEGIN CERTIFICATE-----\n{pem_body}-----END CERTIFICATE-----"
                )),
                t(format!(
                    "-----BEGIN PUBLIC KEY-----\n{pem_body}-----END PUBLIC KEY-----"
                )),
            ],
        ),
        (
            "openssh-private-key",
            vec![t(
                "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----",
            )],
            vec![t(
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host",
            )],
        ),
        (
            "pgp-private-key",
            vec![t(
                "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF0\n-----END PGP PRIVATE KEY BLOCK-----",
            )],
            vec![t(
                "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBF0\n-----END PGP PUBLIC KEY BLOCK-----",
            )],
        ),
        (
            "putty-private-key",
            vec![t(
                "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nPublic-Lines: 2\nAAAA\nPrivate-Lines: 1\nAAAAIB\nPrivate-MAC: 0a1b2c",
            )],
            vec![t("PuTTY-User-Key-File-3 is the format name")],
        ),
        (
            "github-token",
            vec![t(format!("GITHUB_TOKEN={gh}"))],
            vec![t(format!("GITHUB_TOKEN={gh}extra")), t("ghp_short")],
        ),
        (
            "github-token-unverified",
            vec![t(format!("tok {gh_bad}"))],
            vec![
                t(format!("tok {gh}")),
                t("ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            ],
        ),
        (
            "github-fine-grained-pat",
            vec![t(format!(
                "github_pat_11ABCDEFG0{}_{}",
                "abcdefghijkl",
                "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0U1v2W3x4Y5z6A7b8C9d0E1f2G3h"
            ))],
            vec![t("github_pat_ is the prefix")],
        ),
        (
            "gitlab-token",
            vec![t("private_token glpat-x9Yk2LmN8pQ4rS6tU1vW")],
            vec![
                t("glpat-example"),
                t("the glpat-xxxxxxxxxxxxxxxxxxxx placeholder"),
            ],
        ),
        (
            "bitbucket-app-password",
            vec![t("ATBB3fK9qLz0Xw2PbV7nR1tYu5Ea8Hc4Dj6Gm9")],
            vec![t("ATBBAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")],
        ),
        (
            "atlassian-api-token",
            vec![t(format!("ATATT3xFfGF0{}", "a1B2c3D4e5F6g7H8".repeat(11)))],
            vec![t("ATATT3xFfGF0short")],
        ),
        (
            "slack-token",
            vec![t("xoxb-2837465019-1827364509182-Zx9Yk2LmN8pQ4rS6tU1vW3aB")],
            vec![t("xoxb-not-a-token-here")],
        ),
        (
            "slack-webhook",
            vec![t(
                "https://hooks.slack.com/services/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",
            )],
            vec![t("https://hooks.slack.com/services/")],
        ),
        (
            "discord-webhook",
            vec![t(
                "https://discord.com/api/webhooks/123456789012345678/Zx9Yk2LmN8pQ4rS6tU1vW3aBZx9Yk2LmN8pQ4rS6tU1vW3aBZx9Yk2LmN8pQ4rS6tU1v",
            )],
            vec![t("https://discord.com/api/webhooks/123/abc")],
        ),
        (
            "discord-bot-token",
            vec![f(
                FieldKind::Header("Authorization"),
                "Bot MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.Zx9Yk2LmN8pQ4rS6tU1vW3aBcDeFgHiJkLm",
            )],
            vec![f(FieldKind::Header("X-Bot"), "Bot framework v2")],
        ),
        (
            "telegram-bot-token",
            vec![t("bot 123456789:AAHx9Yk2LmN8pQ4rS6tU1vW3aBcDeFgHiJk")],
            vec![t("time 12:AAH"), t("123456789:AAHshort")],
        ),
        (
            "stripe-secret-key",
            vec![t("sk_live_51HxYk2LmN8pQ4rS6tU1vW3aB")],
            vec![t("sk_live_"), t("pk_live_51HxYk2LmN8pQ4rS6tU1vW3aB")],
        ),
        (
            "stripe-test-key",
            vec![t("sk_test_51HxYk2LmN8pQ4rS6tU1vW3aB")],
            vec![t("pk_test_51HxYk2LmN8pQ4rS6tU1vW3aB")],
        ),
        (
            "square-access-token",
            vec![t(
                "EAAAEx9Yk2LmN8pQ4rS6tU1vW3aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789ab",
            )],
            vec![t("EAAA is a prefix")],
        ),
        (
            "square-oauth-secret",
            vec![t("sq0csp-x9Yk2LmN8pQ4rS6tU1vW3aBcDeFgHiJkLmNoPqRsTuV")],
            vec![t("sq0csp-short")],
        ),
        (
            "braintree-access-token",
            vec![t(
                "access_token$production$x9yk2lmn8pq4rs6t$0123456789abcdef0123456789abcdef",
            )],
            vec![t("access_token$production$short")],
        ),
        (
            "aws-access-key-id",
            vec![
                t("aws_access_key_id = AKIAIOSFODNN7EXAMPLE"),
                f(
                    FieldKind::Url,
                    "https://b.s3.amazonaws.com/k?X-Amz-Credential=ASIAY34FZKBOKMUTVV7A%2F20240101%2Fus-east-1%2Fs3%2Faws4_request",
                ),
            ],
            vec![t("AKIAIOSFODNN7EXAMPLEX"), t("MAKIAIOSFODNN7EXAMPLE")],
        ),
        (
            "aws-secret-access-key",
            vec![
                t("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                t("AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            ],
            vec![
                t("aws_secret_access_key = ${AWS_SECRET}"),
                t("sha1 2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"),
            ],
        ),
        (
            "aws-session-token",
            vec![
                t(format!(
                    "x-amz-security-token: IQoJb3JpZ2luX2VjEHkaCXVzLWVhc3QtMSJHMEUCIQD{}",
                    "x9Yk2LmN8pQ4rS6tU1vW3aB".repeat(4)
                )),
                f(
                    FieldKind::Header("X-Amz-Security-Token"),
                    "FwoGZXIvYXdzEHkaDHx9Yk2LmN8pQ4rS6t",
                ),
            ],
            vec![t("x-amz-security-token: null")],
        ),
        (
            "aws-presigned-signature",
            vec![t(
                "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=4f2c1d0e9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e",
            )],
            vec![t("X-Amz-SignedHeaders=host&X-Amz-Date=20240101T000000Z")],
        ),
        (
            "aws-sigv4-signature",
            vec![t(
                "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=4f2c1d0e9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e",
            )],
            vec![t("AWS4-HMAC-SHA256 is the algorithm")],
        ),
        (
            "gcp-service-account-key",
            vec![t(
                r#"{"type": "service_account", "private_key_id": "0123456789abcdef0123456789abcdef01234567"}"#,
            )],
            vec![t(r#"{"private_key_id": "n/a"}"#)],
        ),
        (
            "gcp-api-key",
            vec![t("key=AIzaSyDx9Yk2LmN8pQ4rS6tU1vW3aBcDeFgHiJk")],
            vec![t("AIzaShort")],
        ),
        (
            "gcp-oauth-token",
            vec![t("ya29.a0AfH6SMBx9Yk2LmN8pQ4rS6tU1vW3aBcDeFgHiJk")],
            vec![t("ya29.aaaaaaaaaaaaaaaaaaaaaaaa")],
        ),
        (
            "gcp-refresh-token",
            vec![t(
                "refresh: 1//0gx9Yk2LmN8pQ4rS6tU1vW3aBcDeFgHiJkLmNoPqRsTu",
            )],
            vec![t("http://01//0abc")],
        ),
        (
            "azure-sas-signature",
            vec![t(
                "https://acct.blob.core.windows.net/c/b?sv=2022-11-02&se=2024-01-01&sp=r&sig=x9Yk2LmN8pQ4rS6tU1vW3aBcDeFgHiJkLmNoPqRsTu4%3D",
            )],
            vec![t(
                "https://example.com/?sig=x9Yk2LmN8pQ4rS6tU1vW3aBcDeFgHiJkLmNoPqRsTu4%3D",
            )],
        ),
        (
            "azure-storage-key",
            vec![t(format!(
                "DefaultEndpointsProtocol=https;AccountName=a;AccountKey={};EndpointSuffix=core.windows.net",
                STANDARD.encode([7u8; 64])
            ))],
            vec![t("AccountKey=short;")],
        ),
        (
            "azure-client-secret",
            vec![t(
                "client_credential: Abc8Q~x9Yk2LmN8pQ4rS6tU1vW3aBcDeFgHiJkL",
            )],
            vec![t("Q~ alone"), t("aaaaQ~bbb")],
        ),
        (
            "okta-api-token",
            vec![t(
                "Authorization: SSWS 00x9Yk2LmN8pQ4rS6tU1vW3aBcDeFgHiJkLmNoPqRs",
            )],
            vec![t("SSWS is Okta's scheme")],
        ),
        (
            "okta-session-token",
            vec![t(
                r#"{"sessionToken":"20111x9Yk2LmN8pQ4rS6tU1vW3aBcDeFgHiJkLm"}"#,
            )],
            vec![t(r#"{"sessionToken":null}"#)],
        ),
        (
            "npm-token",
            vec![t(
                "//registry.npmjs.org/:_authToken=npm_x9Yk2LmN8pQ4rS6tU1vW3aBcDeFgHiJkLmNo",
            )],
            vec![t("npm_config_cache")],
        ),
        (
            "pypi-token",
            vec![t(format!(
                "pypi-AgEIcHlwaS5vcmc{}",
                "CJx9Yk2LmN8pQ4rS6tU1vW3aBcDeFgHiJkLmNoPqRsTuVwXyZ012345"
            ))],
            vec![t("pypi-AgEIcHlwaS5vcmc")],
        ),
        (
            "sendgrid-api-key",
            vec![t(
                "SG.x9Yk2LmN8pQ4rS6tU1vW3a.x9Yk2LmN8pQ4rS6tU1vW3aBcDeFgHiJkLmNoPqRsTuV",
            )],
            vec![t("SG.short.value")],
        ),
        (
            "openai-api-key",
            vec![t(
                "OPENAI_API_KEY=sk-proj-x9Yk2LmN8pQ4rS6tU1vW3aBcDeFgHiJkLmNoPqRsTuVwXyZ",
            )],
            vec![t("sk-proj-abc")],
        ),
        (
            "anthropic-api-key",
            vec![t(format!(
                "sk-ant-api03-{}",
                "x9Yk2LmN8pQ4rS6tU1vW".repeat(5)
            ))],
            vec![t("sk-ant-api03-short")],
        ),
        (
            "shopify-token",
            vec![t("shpat_0123456789abcdef0123456789abcdef")],
            vec![t("shpat_notatoken")],
        ),
        (
            "vault-token",
            vec![t("VAULT_TOKEN=hvs.CAESIx9Yk2LmN8pQ4rS6tU1vW3aBcDeFgHiJk")],
            vec![t("hvs.short")],
        ),
        (
            "digitalocean-token",
            vec![t(format!("dop_v1_{}", "0123456789abcdef".repeat(4)))],
            vec![t("dop_v1_abc")],
        ),
        (
            "huggingface-token",
            vec![t("HF_TOKEN=hf_xYkLmNpQrStUvWaBcDeFgHiJkLmNoPqRsT")],
            vec![t("hf_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")],
        ),
        (
            "auth-basic",
            vec![
                t(format!("Authorization: Basic {basic}")),
                t(format!("curl -H 'Authorization: Basic {basic}'")),
            ],
            vec![t("Basic authentication is disabled")],
        ),
        (
            "auth-digest",
            vec![t(
                r#"Authorization: Digest username="a", realm="r", nonce="abc", uri="/", response="6629fae49393a05397450978507c4ef1""#,
            )],
            vec![t("Digest of the release notes")],
        ),
        (
            "auth-negotiate",
            vec![t(format!("Authorization: NTLM {ntlm}"))],
            vec![
                t("Negotiate the contract terms"),
                t("NTLM authentication failed"),
            ],
        ),
        (
            "auth-bearer",
            vec![
                t("Authorization: Bearer 7f3K9qLz0Xw2PbV7nR1tYu5Ea8Hc4Dj"),
                t("curl -H \"authorization: bearer mF_9.B5f-4.1JqM\""),
            ],
            vec![t("a bearer token is required"), t("Bearer realm=api")],
        ),
        (
            "auth-dpop",
            vec![t("Authorization: DPoP Kz~8qLz0Xw2PbV7nR1tYu5Ea8Hc4Dj6Gm9")],
            vec![t("DPoP proofs bind tokens")],
        ),
        (
            "auth-header",
            vec![
                t("Authorization: ApiKey 7f3K9qLz0Xw2PbV7nR1tYu5Ea8"),
                t(r#"{"name": "Authorization", "value": "token-abc123456"}"#),
            ],
            vec![t("Authorization: "), t("the authorization: server decides")],
        ),
        (
            "url-signature",
            vec![
                f(FieldKind::Query("signature"), "Zx9Yk2LmN8pQ4rS6tU1vW3aB"),
                f(
                    FieldKind::Url,
                    "https://storage.googleapis.com/b/o?X-Goog-Signature=0a1b2c3d4e5f60718293a4b5c6d7e8f9",
                ),
            ],
            vec![
                f(FieldKind::Query("signature"), "v2"),
                f(FieldKind::Json("signature"), "Zx9Yk2LmN8pQ4rS6tU1vW3aB"),
            ],
        ),
        (
            "url-userinfo-password",
            vec![t(
                "DATABASE_URL=postgres://app:s3cr3t-pw@db.internal:5432/app",
            )],
            vec![
                t("https://user@example.com/"),
                t("https://example.com:8080/path"),
            ],
        ),
        (
            "saml-response",
            vec![
                t(format!("SAMLResponse={}&RelayState=x", saml_b64)),
                f(FieldKind::Form("SAMLResponse"), saml_b64.clone()),
            ],
            vec![t("SAMLResponse=&RelayState=x")],
        ),
        (
            "saml-request",
            vec![f(
                FieldKind::Query("SAMLRequest"),
                "fZJNT8MwDIbv%2FIoq9zZN2cYWrZXGJsQkPiZaOHBL0zR1aWUQ4%3D",
            )],
            vec![f(FieldKind::Query("SAMLRequest"), "")],
        ),
        (
            "saml-relay-state",
            vec![f(
                FieldKind::Form("RelayState"),
                "https%3A%2F%2Fapp.example.com%2Fhome",
            )],
            vec![f(FieldKind::Form("relay"), "home")],
        ),
        (
            "pkce-verifier",
            vec![t(
                "code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            )],
            vec![t("code_verifier=")],
        ),
        (
            "oauth-code",
            vec![
                t("https://app.example.com/cb?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz"),
                f(FieldKind::Query("code"), "SplxlOBeZQQYbYS6WxSbIA"),
            ],
            vec![
                t("https://example.com/?code=200"),
                f(FieldKind::Query("code"), "US"),
            ],
        ),
        (
            "oauth-state",
            vec![f(
                FieldKind::Url,
                "https://app.example.com/cb?code=SplxlOBeZQQYbYS6WxSbIA&state=af0ifjsldkj",
            )],
            vec![f(FieldKind::Url, "https://app.example.com/list?state=open")],
        ),
        (
            "oauth-access-token",
            vec![
                t("https://app.example.com/#access_token=2YotnFZFEjr1zCsicMWpAA&token_type=Bearer"),
                f(FieldKind::Json("access_token"), "2YotnFZFEjr1zCsicMWpAA"),
            ],
            vec![
                t(r#"{"access_token_expires_in": 3600}"#),
                f(FieldKind::Json("token_type"), "Bearer"),
            ],
        ),
        (
            "oauth-refresh-token",
            vec![t(r#"{"refresh_token":"tGzv3JOkF0XG5Qx2TlKWIA"}"#)],
            vec![t(r#"{"refresh_token":null}"#)],
        ),
        (
            "oidc-id-token",
            vec![t("id_token=Zx9Yk2LmN8pQ4rS6tU1vW3aB")],
            vec![t("id_token=&x=1")],
        ),
        (
            "oauth-client-secret",
            vec![
                t("client_secret=Zx9Yk2LmN8pQ4rS6tU1vW3aB"),
                f(FieldKind::Form("client_secret"), "abc"),
            ],
            vec![t("client_secret_expires_at=0")],
        ),
        (
            "session-cookie",
            vec![
                t("Cookie: PHPSESSID=el4ukv0kqbvoirg7nkp4dncpk3"),
                f(
                    FieldKind::Header("Cookie"),
                    "sid=102Fx9Yk2LmN8pQ; theme=dark",
                ),
                f(FieldKind::Cookie("__Host-session"), "abc123def456"),
                t(r#"{"name":"JSESSIONID","value":"9A8B7C6D5E4F3A2B1C0D"}"#),
            ],
            vec![
                t("JSESSIONID is the servlet cookie"),
                f(FieldKind::Cookie("_ga"), "GA1.2.12345.67890"),
            ],
        ),
        (
            "cookie-value",
            vec![
                f(
                    FieldKind::Header("Cookie"),
                    "prefs=Zx9Yk2LmN8pQ4rS6tU1vW3aB",
                ),
                t("Set-Cookie: remember=Zx9Yk2LmN8pQ4rS6tU1vW3aB; Path=/; HttpOnly"),
            ],
            vec![f(
                FieldKind::Header("Cookie"),
                "_ga=GA1.2.12345.67890; _gid=GA1.2.555.666; theme=dark",
            )],
        ),
        (
            "password-assignment",
            vec![
                t("username=alice&password=hunter2"),
                t(r#"{"password": "correct horse"}"#),
                t("  password: hunter2\n"),
                f(FieldKind::Form("password"), "hunter2"),
            ],
            vec![
                t("{password:e.password}"),
                t(r#"<input type="password" name="password">"#),
                t(r#"{"password":""}"#),
            ],
        ),
        (
            "csrf-token",
            vec![
                t(
                    r#"<input type="hidden" name="csrfmiddlewaretoken" value="x"> csrfmiddlewaretoken=Zx9Yk2LmN8pQ4rS6tU1vW3aB"#,
                ),
                f(
                    FieldKind::Header("X-CSRF-Token"),
                    "Zx9Yk2LmN8pQ4rS6tU1vW3aB",
                ),
            ],
            vec![t("csrf_token=true")],
        ),
        (
            "api-key-assignment",
            vec![
                t("api_key=Zx9Yk2LmN8pQ4rS6tU1vW3aB"),
                f(FieldKind::Header("X-API-Key"), "k"),
            ],
            vec![t("api_key=demo"), t("apikey: changeme")],
        ),
        (
            "generic-secret",
            vec![
                t("SECRET=Zx9Yk2LmN8pQ4rS6tU1vW3aB"),
                f(FieldKind::Json("webhookSecret"), "Zx9Yk2LmN8pQ4rS6tU1vW3aB"),
            ],
            vec![
                t("secret=password"),
                f(FieldKind::Json("token_type"), "Bearer"),
                f(FieldKind::Json("keyboard"), "Zx9Yk2LmN8pQ4rS6tU1vW3aB"),
            ],
        ),
        (
            "session-token",
            vec![t(r#"{"session_id":"Zx9Yk2LmN8pQ4rS6tU1vW3aB"}"#)],
            vec![t(r#"{"session_id":"1"}"#)],
        ),
        (
            "credential-header",
            vec![
                f(FieldKind::Header("X-Auth-Token"), "anything-at-all"),
                f(
                    FieldKind::Header("X-Okta-Session"),
                    "Zx9Yk2LmN8pQ4rS6tU1vW3aB",
                ),
            ],
            vec![
                f(
                    FieldKind::Header("X-Request-Id"),
                    "Zx9Yk2LmN8pQ4rS6tU1vW3aB",
                ),
                f(
                    FieldKind::Header("Sec-WebSocket-Key"),
                    "dGhlIHNhbXBsZSBub25jZQ==",
                ),
            ],
        ),
    ]
}

fn ids(scanner: &Scanner, input: &Input) -> Vec<&'static str> {
    match input {
        Input::Text(s) => {
            let mut v: Vec<_> = scanner
                .scan(s.as_bytes())
                .iter()
                .map(|m| m.rule.id)
                .collect();
            v.extend(scanner.scan_field(Field::Text, s).iter().map(|m| m.rule.id));
            v
        }
        Input::Field(kind, s) => scanner
            .scan_field(field(*kind), s)
            .iter()
            .map(|m| m.rule.id)
            .collect(),
    }
}

#[test]
fn every_rule_has_positive_and_negative_samples() {
    let scanner = Scanner::new();
    let table = samples();
    let covered: BTreeSet<&str> = table
        .iter()
        .filter(|(_, p, n)| !p.is_empty() && !n.is_empty())
        .map(|(id, _, _)| *id)
        .collect();
    let missing: Vec<&str> = scanner
        .rules()
        .iter()
        .map(|r| r.id)
        .filter(|id| !covered.contains(id))
        .collect();
    assert!(missing.is_empty(), "rules without samples: {missing:?}");
    assert!(scanner.rules().len() >= 40);
}

#[test]
fn samples_behave() {
    let scanner = Scanner::new();
    let mut failures = Vec::new();
    for (id, positives, negatives) in samples() {
        assert!(scanner.rule(id).is_some(), "unknown rule {id}");
        for (i, p) in positives.iter().enumerate() {
            let got = ids(&scanner, p);
            if !got.contains(&id) {
                failures.push(format!("{id}: positive #{i} not found (got {got:?})"));
            }
        }
        for (i, n) in negatives.iter().enumerate() {
            let got = ids(&scanner, n);
            if got.contains(&id) {
                failures.push(format!("{id}: negative #{i} reported"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
