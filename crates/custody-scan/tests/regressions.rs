//! Regressions found by the browser test and the recall comparison (issue 2).

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::string_slice,
    reason = "test code slicing ASCII inputs at spans the scanner returned; a panic is a test failure"
)]

use custody_scan::{Field, Redactor, Scanner};

/// An OAuth code in the token request's form post (`grant_type=authorization_code&
/// code=...`) is a credential, as in the redirect's query; `"code"` as a JSON key is
/// an error code and is not; a short form value (`code=1`) is not.
#[test]
fn oauth_code_in_a_form_post_is_a_credential() {
    let scanner = Scanner::new();
    let code = "SplxlOBeZQQYbYS6WxSbIA";
    let form = scanner.scan_field(Field::Form { name: "code" }, code);
    assert_eq!(form.len(), 1, "{form:?}");
    assert_eq!(form[0].rule.id, "oauth-code");
    assert_eq!(&code[form[0].span.clone()], code);
    // The query position was already covered; it stays so.
    assert_eq!(
        scanner
            .scan_field(Field::Query { name: "code" }, code)
            .len(),
        1
    );
    assert!(
        scanner
            .scan_field(Field::JsonKey { name: "code" }, "invalid_grant_x")
            .is_empty()
    );
    assert!(
        scanner
            .scan_field(Field::Form { name: "code" }, "1")
            .is_empty()
    );
}

/// A cookie-name hint is what precedes `=`; when a base64 value holds `=` the part
/// before it is secret, and must not be shown as the "name". Short, word-like names
/// are still shown.
#[test]
fn cookie_name_hint_never_carries_part_of_the_value() {
    let scanner = Scanner::new();
    let redactor = Redactor::new([7; 32]);
    let first = "CKKMNpLtq8ZrV2xYw9T4";
    let value = format!("{first}=Qm9vZ2xlU2Vzc2lvbkRhdGE1NTU2");
    let header = format!("session={value}");
    let found = scanner.scan_field(Field::Header { name: "cookie" }, &header);
    assert!(!found.is_empty());
    for m in &found {
        let marker = redactor.marker(m, &header);
        assert!(
            !marker.contains(first),
            "hint leaked part of the value: {marker}"
        );
    }
    // The free-text form, where the split at the value's own `=` happens.
    let text = format!("Cookie: {value}");
    for m in scanner.scan_field(Field::Text, &text) {
        let marker = redactor.marker(&m, &text);
        assert!(
            !marker.contains(first),
            "hint leaked part of the value: {marker}"
        );
    }
    // A plain name is still a hint.
    let plain = "PHPSESSID=9f8e7d6c5b4a39281716abcdef";
    let m = scanner.scan_field(Field::Header { name: "cookie" }, plain);
    assert_eq!(m.len(), 1);
    assert!(redactor.marker(&m[0], plain).contains("cookie=PHPSESSID"));
}

/// A JWT glued to a name by `-` or `_` (`sess-eyJ...`, as in a file name) is found;
/// before the fix the `-` was taken for the middle of a longer base64url token.
#[test]
fn jwt_after_a_dash_or_underscore_is_found() {
    let scanner = Scanner::new();
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijklmnopqrstuv";
    for text in [format!("dir/sess-{jwt}.har"), format!("token_{jwt}")] {
        let found = scanner.scan(text.as_bytes());
        assert!(
            found
                .iter()
                .any(|m| m.rule.id == "jwt" && &text.as_bytes()[m.span.clone()] == jwt.as_bytes()),
            "{text}: {found:?}"
        );
    }
    // Mid-token `eyJ` after a letter is still not a JWT start.
    assert!(
        scanner
            .scan(format!("abc{jwt}").as_bytes())
            .iter()
            .all(|m| m.rule.id != "jwt")
    );
}
