//! Text and log artifacts: every line heuristic with planted credentials, the output
//! re-scan, bounded lines, UTF-8 errors naming the line, and no value in any error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test helpers: a panic is a test failure"
)]

use custody_har::text::{self, TextError, TextLimits, TextSummary};
use custody_scan::{Redactor, Scanner, is_marker};

/// Deterministic high-entropy token material (never issued by any service).
fn opaque(seed: u64, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(ALPHABET[(x % ALPHABET.len() as u64) as usize])
        })
        .collect()
}

fn b64url(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// A structurally valid JWT (HS256) with a random signature.
fn jwt(seed: u64) -> String {
    let header = b64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = b64url(
        format!(r#"{{"sub":"user-{seed}","iss":"https://idp.example.com","exp":1900000000,"iat":1700000000}}"#)
            .as_bytes(),
    );
    format!("{header}.{claims}.{}", opaque(seed ^ 0xABCD, 43))
}

fn run(input: &str) -> (String, TextSummary) {
    let scanner = Scanner::new();
    let redactor = Redactor::new([7; 32]);
    let mut out = Vec::new();
    let summary = text::sanitize(
        input.as_bytes(),
        &mut out,
        &scanner,
        &redactor,
        &TextLimits::default(),
    )
    .expect("text sanitizes");
    (String::from_utf8(out).expect("output is UTF-8"), summary)
}

/// Every secret is gone, a marker stands in, the verdict is clean, and the secrets
/// were really there to find (the raw input is flagged by the same pass).
fn assert_removed(input: &str, secrets: &[&str]) -> (String, TextSummary) {
    let (out, summary) = run(input);
    for s in secrets {
        assert!(input.contains(s), "test setup: secret planted");
        assert!(!out.contains(s), "secret survived in:\n{out}");
    }
    assert!(out.contains("[redacted:"), "no marker in:\n{out}");
    assert!(
        summary.is_clean(),
        "re-scan flagged: {:?}",
        summary.remaining
    );
    assert!(summary.redactions() >= secrets.len() as u64);
    // The unsafe variant (no sanitizing: the input itself) is flagged by the checker.
    let mut raw_findings = 0;
    let scanner = Scanner::new();
    text::inspect(
        input.as_bytes(),
        &scanner,
        &Redactor::new([7; 32]),
        &TextLimits::default(),
        &mut |_| raw_findings += 1,
    )
    .unwrap();
    assert!(raw_findings > 0, "the checker does not flag the raw input");
    let mut left = 0;
    text::inspect(
        out.as_bytes(),
        &scanner,
        &Redactor::new([7; 32]),
        &TextLimits::default(),
        &mut |_| left += 1,
    )
    .unwrap();
    assert_eq!(left, 0, "the checker flags the sanitized output");
    (out, summary)
}

#[test]
fn header_like_lines() {
    let bearer = opaque(1, 40);
    let sess = opaque(2, 32);
    let set = opaque(3, 32);
    let key = opaque(4, 36);
    let input = format!(
        "> GET /api/v1/users HTTP/1.1\n> Authorization: Bearer {bearer}\n> Cookie: theme=dark; PHPSESSID={sess}\n\
         < Set-Cookie: connect.sid={set}; Path=/; HttpOnly\nX-Api-Key: {key}\nContent-Type: application/json\n"
    );
    let (out, summary) = assert_removed(&input, &[&bearer, &sess, &set, &key]);
    assert!(out.contains("theme=dark"), "non-secret cookie kept:\n{out}");
    assert!(out.contains("Content-Type: application/json"));
    assert!(out.contains("GET /api/v1/users HTTP/1.1"));
    assert!(summary.by_kind.get("header").copied().unwrap_or(0) >= 4);
}

#[test]
fn embedded_headers_in_log_messages() {
    let bearer = opaque(5, 40);
    let input = format!(
        "2026-11-28T12:00:00Z DEBUG upstream request headers={{\"Authorization: Bearer {bearer}\"}} status=401\n"
    );
    let (out, _) = assert_removed(&input, &[&bearer]);
    assert!(out.contains("status=401"));
    assert!(out.starts_with("2026-11-28T12:00:00Z DEBUG"));
}

#[test]
fn curl_commands() {
    let bearer = opaque(6, 40);
    let sess = opaque(7, 32);
    let jsess = opaque(8, 32);
    let pass = "hunter2-Tr0ub4dor";
    let form_pass = "S3cret!pass-word";
    let json_pass = "another-Passw0rd";
    let input = format!(
        "curl -sS -H 'Authorization: Bearer {bearer}' https://api.example.com/v1/me\n\
         curl --header \"Cookie: session={sess}\" https://app.example.com/\n\
         curl -b 'JSESSIONID={jsess}' https://app.example.com/\n\
         curl -u admin:{pass} https://intranet.example.com/\n\
         curl https://login.example.com/form --data 'username=bob&password={form_pass}'\n\
         curl -X POST --data-raw '{{\"user\":\"bob\",\"password\":\"{json_pass}\"}}' https://login.example.com/json\n"
    );
    let (out, summary) = assert_removed(
        &input,
        &[&bearer, &sess, &jsess, pass, form_pass, json_pass],
    );
    assert!(
        out.contains("username=bob"),
        "non-secret form field kept:\n{out}"
    );
    assert!(out.contains("curl -u admin:"), "user name kept:\n{out}");
    assert!(summary.by_kind.get("command").copied().unwrap_or(0) >= 3);
}

#[test]
fn httpie_commands() {
    let bearer = opaque(9, 40);
    let pass = "Xyzzy-plugh-42";
    let key = opaque(10, 32);
    let input = format!(
        "http :8080/api/items Authorization:'Bearer {bearer}' name=widget\n\
         http -a alice:{pass} https://intranet.example.com/\n\
         https POST api.example.com/login password={pass} api_key=={key}\n"
    );
    let (out, _) = assert_removed(&input, &[&bearer, pass, &key]);
    assert!(out.contains("name=widget"), "{out}");
    assert!(out.contains("-a alice:"), "{out}");
}

#[test]
fn key_value_pairs() {
    let db = "p4ssw0rd-for-db";
    let token = opaque(11, 40);
    let secret = opaque(12, 40);
    let input = format!(
        "config loaded db_password={db} pool=10\n\
         {{\"user\": \"bob\", \"access_token\": \"{token}\", \"expires_in\": 3600}}\n\
         client_secret: {secret}\n"
    );
    let (out, summary) = assert_removed(&input, &[db, &token, &secret]);
    assert!(
        out.contains("pool=10")
            && out.contains("\"expires_in\": 3600")
            && out.contains("\"user\": \"bob\"")
    );
    assert!(summary.by_kind.get("key-value").copied().unwrap_or(0) >= 2);
}

#[test]
fn urls_anywhere_in_a_line() {
    let code = opaque(13, 32);
    let code2 = opaque(14, 32);
    let at = opaque(15, 40);
    let pw = "Pa55w0rd-in-url";
    let input = format!(
        "redirecting to https://app.example.com/callback?code={code}&state=xyz (user=bob)\n\
         10.0.0.1 - - [28/Nov/2026:12:00:00 +0000] \"GET /oauth/callback?code={code2}&state=abc HTTP/1.1\" 302 0\n\
         implicit flow: https://app.example.com/#access_token={at}&token_type=bearer\n\
         connecting to postgres://svc:{pw}@db.internal:5432/app\n"
    );
    let (out, summary) = assert_removed(&input, &[&code, &code2, &at, pw]);
    assert!(
        out.contains("https://app.example.com/callback?code="),
        "{out}"
    );
    assert!(out.contains("\" 302 0"), "{out}");
    assert!(summary.by_kind.get("url").copied().unwrap_or(0) >= 3);
}

#[test]
fn free_detector_catches_shapes_without_names() {
    let token = jwt(16);
    let input = format!("cached value {token} for later\nplain line without secrets\n");
    let (out, _) = assert_removed(&input, &[&token]);
    assert!(out.contains("plain line without secrets"));
}

#[test]
fn benign_logs_pass_unchanged() {
    let input = "2026-11-28T12:00:00Z INFO GET /api/v1/items?page=2&per_page=50 200 12ms\n\
                 etag: \"33a64df551425fcc55e4d42a148795d9f25f89d4\"\n\
                 request_id=7f1c2a9e-4b3d-4e5f-8a6b-9c0d1e2f3a4b user=bob\n\
                 Content-Length: 1234\r\n\
                 last line without newline";
    let (out, summary) = run(input);
    assert_eq!(
        out, input,
        "benign text is not changed (line endings included)"
    );
    assert!(summary.is_clean());
    assert_eq!(summary.redactions(), 0);
    assert_eq!(summary.lines, 5);
    assert_eq!(summary.bytes_in, input.len() as u64);
    assert_eq!(summary.bytes_out, input.len() as u64);
}

#[test]
fn sanitizing_is_idempotent_and_markers_are_well_formed() {
    let bearer = opaque(17, 40);
    let input = format!(
        "Authorization: Bearer {bearer}\nurl=https://x.example.com/?access_token={bearer}\n"
    );
    let (once, _) = run(&input);
    let (twice, summary) = run(&once);
    assert_eq!(once, twice);
    assert_eq!(summary.redactions(), 0);
    let marker = once
        .split_whitespace()
        .find(|w| w.starts_with("[redacted:"))
        .expect("a marker");
    assert!(is_marker(marker), "{marker}");
}

#[test]
fn over_long_line_is_an_error_naming_the_line() {
    let limits = TextLimits {
        max_line_bytes: 100,
        ..TextLimits::default()
    };
    let input = format!("short\n{}\nafter\n", "a".repeat(500));
    let err = text::sanitize(
        input.as_bytes(),
        Vec::new(),
        &Scanner::new(),
        &Redactor::new([1; 32]),
        &limits,
    )
    .unwrap_err();
    match &err {
        TextError::LineTooLong {
            line,
            byte_offset,
            limit,
        } => {
            assert_eq!((*line, *byte_offset, *limit), (2, 6, 100));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("line 2"), "{err}");
    // Exactly at the limit is fine, with either line ending.
    let ok = format!("{}\r\n{}\n", "b".repeat(100), "c".repeat(100));
    text::sanitize(
        ok.as_bytes(),
        Vec::new(),
        &Scanner::new(),
        &Redactor::new([1; 32]),
        &limits,
    )
    .unwrap();
}

#[test]
fn invalid_utf8_names_line_column_and_offset_never_the_bytes() {
    let secret = opaque(18, 40);
    let mut input = b"first line\n".to_vec();
    input.extend_from_slice(format!("Authorization: Bearer {secret}").as_bytes());
    input.extend_from_slice(b" \xC3\x28 tail\n");
    let err = text::sanitize(
        &input[..],
        Vec::new(),
        &Scanner::new(),
        &Redactor::new([1; 32]),
        &TextLimits::default(),
    )
    .unwrap_err();
    let col = "Authorization: Bearer ".len() + 40 + 1;
    match &err {
        TextError::InvalidUtf8 {
            line,
            column,
            byte_offset,
        } => {
            assert_eq!(*line, 2);
            assert_eq!(*column, col as u64 + 1);
            assert_eq!(*byte_offset, 11 + col as u64);
        }
        other => panic!("unexpected {other:?}"),
    }
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("line 2"), "{shown}");
    assert!(
        !shown.contains(&secret),
        "the error leaks the value: {shown}"
    );
}

#[test]
fn no_value_in_findings_or_summary_debug() {
    let bearer = opaque(19, 40);
    let input = format!("Authorization: Bearer {bearer}\n");
    let mut findings = Vec::new();
    text::inspect(
        input.as_bytes(),
        &Scanner::new(),
        &Redactor::new([2; 32]),
        &TextLimits::default(),
        &mut |f| findings.push(f),
    )
    .unwrap();
    assert!(!findings.is_empty());
    let f = &findings[0];
    assert_eq!(f.location.line, Some(1));
    assert_eq!(
        f.location.column,
        Some("Authorization: Bearer ".len() as u64 + 1)
    );
    assert!(is_marker(&f.preview), "{}", f.preview);
    let (_, summary) = run(&input);
    let shown = format!("{findings:?} {summary:?}");
    assert!(!shown.contains(&bearer), "a value leaks: {shown}");
}

#[test]
fn an_endless_line_stops_at_the_limit() {
    // An infinite input without a newline: the sanitizer must stop at the line limit
    // (bounded memory) rather than buffer until the machine runs out.
    struct Endless;
    impl std::io::Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            buf.fill(b'a');
            Ok(buf.len())
        }
    }
    let err = text::sanitize(
        Endless,
        std::io::sink(),
        &Scanner::new(),
        &Redactor::new([3; 32]),
        &TextLimits::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, TextError::LineTooLong { line: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn a_forged_marker_does_not_shield_a_token() {
    // Someone pastes a marker-like string before a live token: the token must not
    // survive (it is redacted, or the artifact is refused).
    let token = opaque(20, 40);
    let input = format!("Authorization: Bearer [redacted:bearer-token:0123456789ab] {token}\n");
    let scanner = Scanner::new();
    let mut out = Vec::new();
    let summary = text::sanitize(
        input.as_bytes(),
        &mut out,
        &scanner,
        &Redactor::new([4; 32]),
        &TextLimits::default(),
    )
    .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(
        !summary.is_clean() || !out.contains(&token),
        "token survived a clean verdict: {out}"
    );
}

#[test]
fn the_line_limit_is_exact() {
    let limits = TextLimits {
        max_line_bytes: 10,
        ..TextLimits::default()
    };
    let run = |s: &str| {
        text::sanitize(
            s.as_bytes(),
            Vec::new(),
            &Scanner::new(),
            &Redactor::new([1; 32]),
            &limits,
        )
    };
    run("0123456789\n0123456789\r\n0123456789").unwrap();
    for over in ["0123456789A\n", "0123456789A\r\n", "0123456789A"] {
        assert!(
            matches!(run(over), Err(TextError::LineTooLong { line: 1, .. })),
            "{over:?}"
        );
    }
}

#[test]
fn multi_line_private_keys_are_removed_whole() {
    let body: Vec<String> = (0..6).map(|i| opaque(100 + i, 64)).collect();
    let input = format!(
        "2026-11-28 loading key\n-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\n{}\n{}==\n-----END RSA PRIVATE KEY-----\nkey loaded ok\n",
        body[..5].join("\n"),
        body[5]
    );
    let (out, summary) = run(&input);
    for line in &body {
        assert!(
            !out.contains(line.as_str()),
            "key material survived:\n{out}"
        );
    }
    assert!(summary.is_clean());
    assert!(out.contains("[redacted:private-key:"), "{out}");
    assert!(out.starts_with("2026-11-28 loading key\n"));
    assert!(
        out.ends_with("key loaded ok\n"),
        "the block ends at END:\n{out}"
    );
    assert_eq!(
        out.lines().count(),
        input.lines().count(),
        "line structure kept"
    );
    // Why the block state is needed: a body line alone is not recognisable, so a
    // line-by-line pass without it leaves the key material in place.
    let (alone, _) = run(&format!("{}\n", body[0]));
    assert!(alone.contains(body[0].as_str()));
}

#[test]
fn a_truncated_private_key_block_ends_at_the_first_non_body_line() {
    let body = opaque(200, 64);
    let input = format!("-----BEGIN PRIVATE KEY-----\n{body}\n2026-11-28 INFO next request\n");
    let (out, _) = run(&input);
    assert!(!out.contains(&body));
    assert!(out.ends_with("2026-11-28 INFO next request\n"), "{out}");
}
