//! Markers: format, keyed fingerprints, exact recognition, and markers are never
//! reported by `scan` or `scan_field` (the sanitized output must rescan clean).

#![allow(
    clippy::string_slice,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code slicing ASCII inputs at spans the scanner returned; a panic is a test failure"
)]

use custody_scan::{Field, Match, Redactor, Scanner, is_marker};

fn marker_for(scanner: &Scanner, text: &str, redactor: &Redactor) -> (Match, String) {
    let m = scanner
        .scan(text.as_bytes())
        .into_iter()
        .next()
        .expect("a match");
    let marker = redactor.marker(&m, text);
    (m, marker)
}

#[test]
fn marker_format_and_fingerprint() {
    let scanner = Scanner::new();
    let r = Redactor::new([3; 32]);
    let (m, marker) = marker_for(&scanner, "key AKIAIOSFODNN7EXAMPLE", &r);
    assert_eq!(m.rule.id, "aws-access-key-id");
    let fp = r.fingerprint(b"AKIAIOSFODNN7EXAMPLE");
    assert_eq!(fp.len(), 12);
    assert!(fp.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(
        marker.starts_with(&format!("[redacted:cloud-credential:{fp}:")),
        "{marker}"
    );
    assert!(is_marker(&marker));
    assert!(!marker.contains("AKIAIOSFODNN7EXAMPLE"));
    // Same key, same value: same fingerprint (followable inside one artifact);
    // another key: another fingerprint (not linkable across artifacts).
    assert_eq!(
        r.fingerprint(b"x"),
        Redactor::new([3; 32]).fingerprint(b"x")
    );
    assert_ne!(
        r.fingerprint(b"x"),
        Redactor::new([4; 32]).fingerprint(b"x")
    );
    assert!(!format!("{r:?}").contains("3, 3"));
}

#[test]
fn jwt_marker_hints_are_non_secret() {
    use base64::Engine as _;
    let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let sig = "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    let jwt = format!(
        "{}.{}.{sig}",
        e(r#"{"alg":"RS256"}"#),
        e(r#"{"iss":"https://idp.example.com/oauth2","exp":1900000000,"sub":"alice"}"#)
    );
    let text = format!("Authorization: Bearer {jwt}");
    let scanner = Scanner::new();
    let (m, marker) = marker_for(&scanner, &text, &Redactor::new([1; 32]));
    assert_eq!(m.rule.id, "jwt");
    assert!(
        marker.contains("alg=RS256")
            && marker.contains("iss=idp.example.com")
            && marker.contains("exp=1900000000"),
        "{marker}"
    );
    assert!(!marker.contains(sig) && !marker.contains("alice"));
    assert!(is_marker(&marker));
}

#[test]
fn cookie_marker_names_the_cookie() {
    let scanner = Scanner::new();
    let value = "theme=dark; PHPSESSID=el4ukv0kqbvoirg7nkp4dncpk3";
    let m = scanner
        .scan_field(Field::Header { name: "Cookie" }, value)
        .remove(0);
    let marker = Redactor::new([1; 32]).marker(&m, value);
    assert!(marker.contains("cookie=PHPSESSID"), "{marker}");
}

#[test]
fn is_marker_is_exact() {
    let good = "[redacted:jwt:0123456789ab]";
    assert!(is_marker(good));
    assert!(is_marker("[redacted:jwt:0123456789ab:len=5,alg=RS256]"));
    for bad in [
        "[redacted:jwt:0123456789ab]ghp_secret",
        "[redacted:jwt:0123456789ab] hunter2",
        "[redacted:jwt:0123456789]",
        "[redacted:nope:0123456789ab]",
        "[redacted:jwt:0123456789AB]",
        "[redacted:jwt:0123456789ab:len=5 hunter2]",
        "[redacted:jwt:0123456789ab:]",
        "x[redacted:jwt:0123456789ab]",
    ] {
        assert!(!is_marker(bad), "{bad}");
    }
}

/// A value that only starts like a marker is still scanned: the secret after it is
/// reported. A prefix check (the unsafe variant) would have let it through.
#[test]
fn a_marker_prefix_does_not_hide_a_secret() {
    let scanner = Scanner::new();
    let attack = "[redacted:password:0123456789ab]hunter2";
    let naive_prefix_check = |v: &str| v.starts_with("[redacted:");
    assert!(naive_prefix_check(attack), "the unsafe variant is fooled");
    assert!(!is_marker(attack));
    let found = scanner.scan_field(Field::Form { name: "password" }, attack);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].rule.id, "password-assignment");
    let found = scanner.scan_field(
        Field::Cookie { name: "PHPSESSID" },
        "[redacted:session-cookie:0123456789ab]el4ukv0kqbvoirg7",
    );
    assert_eq!(found.len(), 1);
    let found = scanner.scan(b"password=[redacted:password:0123456789ab]hunter2&x=1");
    assert_eq!(found.len(), 1);
}

/// Redact every match with its marker, then rescan the output in the same field:
/// nothing is left (the sanitizer's refusal check would otherwise refuse everything).
#[test]
fn redacted_output_rescans_clean() {
    use base64::Engine as _;
    let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let jwt = format!(
        "{}.{}.c2lnbmF0dXJlLXZhbHVl",
        e(r#"{"alg":"HS256"}"#),
        e(r#"{"sub":"a"}"#)
    );
    let cases: Vec<(Field<'static>, String)> = vec![
        (Field::Text, format!("GET /cb?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz\nAuthorization: Bearer {jwt}\npassword=hunter2 AKIAIOSFODNN7EXAMPLE")),
        (Field::Header { name: "Cookie" }, "PHPSESSID=el4ukv0kqbvoirg7nkp4dncpk3; prefs=Zx9Yk2LmN8pQ4rS6tU1vW3aB; _ga=GA1.2.1.2".to_owned()),
        (Field::Header { name: "Authorization" }, "Basic YWxpY2U6aHVudGVyMg==".to_owned()),
        (Field::Header { name: "Set-Cookie" }, "sid=102Fx9Yk2LmN8pQ; Path=/; HttpOnly".to_owned()),
        (Field::Url, "https://u:pw1@app.example.com/cb?code=SplxlOBeZQQYbYS6WxSbIA&state=af0ifjsldkj#access_token=2YotnFZFEjr1zCsicMWpAA".to_owned()),
        (Field::Url, "https://a.example.com/login?redirect_uri=https%3A%2F%2Fb.example.com%2Fcb%3Fcode%3DSplxlOBeZQQYbYS6WxSbIA%26x%3D1".to_owned()),
        (Field::JsonKey { name: "client_secret" }, "Zx9Yk2LmN8pQ4rS6tU1vW3aB".to_owned()),
        (Field::Query { name: "SAMLResponse" }, "PHNhbWxwOlJlc3BvbnNlIHhtbG5zOnNhbWxwPSJ1cm46b2FzaXM6bmFtZXM6dGM6U0FNTDoyLjA6cHJvdG9jb2wiLz4%3D".to_owned()),
    ];
    let scanner = Scanner::new();
    let r = Redactor::new([5; 32]);
    for (field, value) in cases {
        let found = scanner.scan_field(field, &value);
        assert!(!found.is_empty(), "{field:?}: nothing found");
        let mut out = value.clone();
        for m in found.iter().rev() {
            out.replace_range(m.span.clone(), &r.marker(m, &value));
        }
        let again = scanner.scan_field(field, &out);
        assert!(again.is_empty(), "{field:?}: {again:?} left in {out}");
        assert!(
            scanner.scan(out.as_bytes()).is_empty(),
            "{field:?}: scan flags {out}"
        );
    }
}

#[test]
fn nested_redirect_uri_code_is_found_and_mapped_to_raw_offsets() {
    let scanner = Scanner::new();
    let url = "https://a.example.com/login?redirect_uri=https%3A%2F%2Fb.example.com%2Fcb%3Fcode%3DSplxlOBeZQQYbYS6WxSbIA%26x%3D1";
    let found = scanner.scan_field(Field::Url, url);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].rule.id, "oauth-code");
    assert_eq!(&url[found[0].span.clone()], "SplxlOBeZQQYbYS6WxSbIA");
}
