//! Differential tests: the raw-span fast path (`crate::har`, `crate::json`) against
//! the reference owned-tree path (`crate::reference`): byte-identical output, the
//! same report, the same refusals and the same inspect findings, on generated HARs
//! with credentials planted in every DESIGN.md §4 location, written compactly and
//! pretty-printed, with canonical and non-canonical escapes, read through readers
//! that return a few bytes at a time (strings and entries across buffer refills).

use std::io::Read;

use base64::Engine as _;
use custody_scan::{Finding, Redactor, Scanner};
use serde_json::{Value as J, json};

use crate::error::SanitizeError;
use crate::{Report, SanitizeOptions};

#[path = "../../benches/common/mod.rs"]
#[allow(dead_code, reason = "the benchmark generator, shared with the benches")]
mod common;

/// xorshift64*, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn token(&mut self, len: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| char::from(A[(self.next() % A.len() as u64) as usize]))
            .collect()
    }
}

/// The live credentials of one generated artifact.
struct Secrets {
    session: String,
    jwt: String,
    opaque: String,
    aws: String,
    password: String,
}

impl Secrets {
    fn new(rng: &mut Rng) -> Self {
        Self {
            session: rng.token(32),
            jwt: format!(
                "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLmNvbSIsImV4cCI6MTkwMDAwMDAwMH0.{}",
                rng.token(86)
            ),
            opaque: rng.token(40),
            aws: format!("AKIA{}", rng.token(16).to_ascii_uppercase()),
            password: format!("Pw-{}!", rng.token(12)),
        }
    }
}

fn header(name: &str, value: impl Into<String>) -> J {
    json!({"name": name, "value": value.into()})
}

/// One entry with credentials in a random subset of the §4 locations (every
/// location is reached over a few dozen entries).
fn entry(rng: &mut Rng, i: u64, k: &Secrets) -> J {
    let mut req_headers = vec![
        header("Host", "app.example.com"),
        header("accept", "application/json"),
        header(
            "sec-ch-ua",
            "\"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\"",
        ),
        header("x-request-id", rng.token(16)),
    ];
    let mut resp_headers = vec![
        header("content-type", "application/json"),
        header("etag", format!("W/\"{}\"", rng.token(20))),
    ];
    let mut url = format!("https://app.example.com/api/{i}?page={}", rng.below(9));
    let mut query = vec![json!({"name": "page", "value": "1"})];
    let mut req_cookies = vec![json!({"name": "theme", "value": "dark"})];
    let mut resp_cookies = Vec::new();
    let mut redirect = String::new();
    let mut extra = serde_json::Map::new();
    let mut post: Option<J> = None;
    let mut content = json!({"size": 2, "mimeType": "application/json", "text": "{}"});
    let pick = rng.below(24);
    if rng.chance(60) {
        req_headers.push(header("Authorization", format!("Bearer {}", k.jwt)));
    }
    if rng.chance(50) {
        req_headers.push(header(
            "cookie",
            format!(
                "sid={}; _ga=GA1.2.{}; theme=dark",
                k.session,
                rng.below(99_999)
            ),
        ));
        req_cookies.push(json!({"name": "sid", "value": k.session, "httpOnly": true}));
    }
    match pick {
        0 => req_headers.push(header(
            "Proxy-Authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("alice:{}", k.password))
            ),
        )),
        1 => req_headers.push(header("X-API-Key", k.opaque.clone())),
        2 => req_headers.push(header("x-amz-security-token", k.opaque.clone())),
        3 => req_headers.push(header("X-Okta-Session-Id", k.opaque.clone())),
        4 => req_headers.push(header("x-csrf-token", k.opaque.clone())),
        5 => {
            resp_headers.push(header(
                "Set-Cookie",
                format!("sid={}; Path=/; HttpOnly; Secure", k.session),
            ));
            resp_cookies.push(json!({"name": "sid", "value": k.session, "path": "/"}));
        }
        6 => {
            url = format!(
                "https://app.example.com/cb?code={}&state={}#access_token={}",
                k.opaque,
                rng.token(12),
                k.jwt
            );
            query.push(json!({"name": "code", "value": k.opaque}));
        }
        7 => {
            url = format!(
                "https://bucket.s3.amazonaws.com/o?X-Amz-Credential={}%2F20261128&X-Amz-Signature={}",
                k.aws,
                rng.token(64).to_ascii_lowercase()
            );
        }
        8 => {
            req_headers.push(header(
                "referer",
                format!("https://app.example.com/cb?id_token={}", k.jwt),
            ));
        }
        9 => {
            resp_headers.push(header(
                "location",
                format!("https://app.example.com/cb?refresh_token={}", k.opaque),
            ));
            redirect = format!("https://app.example.com/cb?token={}", k.opaque);
        }
        10 => {
            post = Some(json!({
                "mimeType": "application/x-www-form-urlencoded",
                "params": [{"name": "username", "value": "alice"},
                           {"name": "password", "value": k.password}],
                "text": format!("username=alice&password={}&SAMLResponse={}", k.password,
                    base64::engine::general_purpose::STANDARD.encode(
                        format!("<samlp:Response>{}</samlp:Response>", k.opaque))),
            }));
        }
        11 => {
            post = Some(json!({
                "mimeType": "application/json",
                "text": json!({"user": "alice", "password": k.password,
                    "nested": {"client_secret": k.opaque}, "list": [1, 2.50, null, true]})
                    .to_string(),
            }));
        }
        12 => {
            let boundary = "----b0undary";
            post = Some(json!({
                "mimeType": format!("multipart/form-data; boundary={boundary}"),
                "text": format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"access_token\"\r\n\r\n{}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--{boundary}--\r\n",
                    k.opaque
                ),
            }));
        }
        13 => {
            post = Some(
                json!({"mimeType": "text/plain", "text": format!("token={} and more", k.opaque)}),
            );
        }
        14 => {
            content = json!({"size": 10, "mimeType": "application/json",
                "text": json!({"access_token": k.jwt, "token_type": "Bearer",
                    "expires_in": 3600, "note": "line\nbreak \u{1} \u{8} tab\t"}).to_string()});
        }
        15 => {
            let text = json!({"refresh_token": k.opaque, "ok": true}).to_string();
            content = json!({"size": 10, "mimeType": "application/json", "encoding": "base64",
                "text": base64::engine::general_purpose::STANDARD.encode(text)});
        }
        16 => {
            let mut bytes = vec![0x89, b'P', b'N', b'G', 0, 0xff];
            bytes.extend_from_slice(format!("Authorization: Bearer {}", k.jwt).as_bytes());
            bytes.extend_from_slice(&[0xfe, 0, 1]);
            content = json!({"size": 10, "mimeType": "image/png", "encoding": "base64",
                "text": base64::engine::general_purpose::STANDARD.encode(bytes)});
        }
        17 => {
            content = json!({"size": 10, "mimeType": "text/html",
                "text": format!("<html><head><meta name=\"csrf-token\" content=\"{}\"></head><body><form><input type=\"hidden\" name=\"SAMLResponse\" value=\"{}\"></form><a href=\"/x\">x</a></body></html>",
                    k.opaque,
                    base64::engine::general_purpose::STANDARD.encode(format!("<samlp:Response>{}</samlp:Response>", k.opaque)))});
        }
        18 => {
            content = json!({"size": 10, "mimeType": "text/event-stream",
                "text": format!("event: token\ndata: {{\"access_token\":\"{}\"}}\n\ndata: plain {}\n\n", k.opaque, k.jwt)});
        }
        19 => {
            extra.insert(
                "_webSocketMessages".into(),
                json!([
                    {"type": "send", "time": 1.5, "opcode": 1,
                     "data": json!({"auth": {"token": k.opaque}}).to_string()},
                    {"type": "receive", "time": 1.6, "opcode": 2,
                     "data": base64::engine::general_purpose::STANDARD
                        .encode(format!("\u{0}\u{1}Bearer {}", k.jwt))},
                ]),
            );
        }
        20 => {
            extra.insert(
                "_initiator".into(),
                json!({"type": "script", "stack": {"callFrames": [
                    {"functionName": "f", "url": format!("https://app.example.com/x.js?access_token={}", k.opaque),
                     "lineNumber": 3}]}}),
            );
        }
        21 => {
            extra.insert(
                "_vendor".into(),
                json!({"apiKey": k.opaque, "aws": k.aws, "embedded": json!({"password": k.password}).to_string()}),
            );
        }
        22 => {
            // A secret first seen in a neutral field, then in a credential position of
            // the same entry (the end-of-unit sweep), and again in later entries.
            extra.insert("comment".into(), json!(format!("saw {} here", k.session)));
        }
        _ => {
            query.push(json!({"name": "q", "value": "{\"password\":\"hunter2-hunter2\"}"}));
        }
    }
    let mut request = json!({
        "method": if post.is_some() { "POST" } else { "GET" },
        "url": url,
        "httpVersion": "HTTP/2",
        "headers": req_headers,
        "queryString": query,
        "cookies": req_cookies,
        "headersSize": -1,
        "bodySize": 0,
    });
    if let (Some(p), Some(obj)) = (post, request.as_object_mut()) {
        obj.insert("postData".into(), p);
    }
    let mut e = json!({
        "pageref": "page_1",
        "startedDateTime": "2026-11-28T10:00:00.000Z",
        "time": 12.5,
        "request": request,
        "response": {
            "status": 200, "statusText": "OK", "httpVersion": "HTTP/2",
            "headers": resp_headers, "cookies": resp_cookies, "content": content,
            "redirectURL": redirect, "headersSize": -1, "bodySize": -1,
        },
        "cache": {},
        "timings": {"send": 0.1, "wait": 10.25, "receive": 1e-3},
    });
    if let Some(obj) = e.as_object_mut() {
        obj.extend(extra);
    }
    e
}

/// A HAR of `n` entries. `pretty`: indented; `slashes`: every `/` written `\/`
/// (a non-canonical escape the writer must not copy).
fn planted_har(seed: u64, n: u64, pretty: bool, slashes: bool) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    let k = Secrets::new(&mut rng);
    let entries: Vec<J> = (0..n).map(|i| entry(&mut rng, i, &k)).collect();
    let doc = json!({"log": {
        "version": "1.2",
        "creator": {"name": "test", "version": "1", "comment": "caf\u{e9} \u{1F600}"},
        "pages": [{"startedDateTime": "2026-11-28T10:00:00.000Z", "id": "page_1",
                   "title": format!("https://app.example.com/?session={}", k.session),
                   "pageTimings": {"onLoad": 300.2}}],
        "entries": entries,
        "comment": "top",
    }});
    let mut text = if pretty {
        serde_json::to_string_pretty(&doc).unwrap()
    } else {
        serde_json::to_string(&doc).unwrap()
    };
    if slashes {
        // `/` only ever occurs inside JSON strings.
        text = text.replace('/', "\\/");
    }
    text.into_bytes()
}

/// A reader that returns at most `chunk` bytes per call.
struct Trickle<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.chunk.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

type Outcome = (Vec<u8>, Result<Report, String>);

fn show(e: &SanitizeError) -> String {
    match e {
        SanitizeError::Refused(r) => format!("{e} {:?} {:?}", r.findings(), r.report()),
        other => other.to_string(),
    }
}

fn fast(input: &[u8], chunk: usize, opts: &SanitizeOptions) -> Outcome {
    let scanner = Scanner::new();
    let redactor = Redactor::new([3; 32]);
    let mut out = Vec::new();
    let r = crate::har::sanitize(
        Trickle { data: input, chunk },
        &mut out,
        &scanner,
        &redactor,
        opts,
    );
    (out, r.map_err(|e| show(&e)))
}

fn reference(input: &[u8], opts: &SanitizeOptions) -> Outcome {
    let scanner = Scanner::new();
    let redactor = Redactor::new([3; 32]);
    let mut out = Vec::new();
    let r = crate::reference::har::sanitize(input, &mut out, &scanner, &redactor, opts);
    (out, r.map_err(|e| show(&e)))
}

fn findings(f: &[Finding]) -> Vec<String> {
    f.iter()
        .map(|f| {
            format!(
                "{} {} {:?} {}",
                f.rule_id,
                f.class.as_str(),
                f.location.pointer,
                f.location.byte_offset
            )
        })
        .collect()
}

fn assert_same(input: &[u8], what: &str) {
    let opts = SanitizeOptions::default();
    let (ref_out, ref_report) = reference(input, &opts);
    for chunk in [usize::MAX, 4096, 7] {
        let (out, report) = fast(input, chunk, &opts);
        assert_eq!(report, ref_report, "{what}: report differs (chunk {chunk})");
        if out != ref_out {
            let at = out
                .iter()
                .zip(&ref_out)
                .position(|(a, b)| a != b)
                .unwrap_or(out.len().min(ref_out.len()));
            panic!(
                "{what}: output differs at byte {at} (chunk {chunk}): fast {:?} vs reference {:?}",
                String::from_utf8_lossy(&out[at.saturating_sub(60)..(at + 60).min(out.len())]),
                String::from_utf8_lossy(
                    &ref_out[at.saturating_sub(60)..(at + 60).min(ref_out.len())]
                ),
            );
        }
    }
    let scanner = Scanner::new();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let ra = crate::har::inspect(input, &scanner, &opts, &mut |f| a.push(f)).map_err(|e| show(&e));
    let rb = crate::reference::har::inspect(input, &scanner, &opts, &mut |f| b.push(f))
        .map_err(|e| show(&e));
    assert_eq!(ra, rb, "{what}: inspect verdict differs");
    assert_eq!(
        findings(&a),
        findings(&b),
        "{what}: inspect findings differ"
    );
}

#[test]
fn planted_credentials_give_byte_identical_output() {
    let mut redactions = 0;
    for (seed, pretty, slashes) in [
        (1, false, false),
        (2, true, false),
        (3, false, true),
        (4, true, true),
    ] {
        let input = planted_har(seed, 120, pretty, slashes);
        assert_same(
            &input,
            &format!("seed {seed} pretty {pretty} slashes {slashes}"),
        );
        if let (_, Ok(report)) = reference(&input, &SanitizeOptions::default()) {
            redactions += report.redactions;
        }
    }
    // The comparison is not vacuous: the reference redacted plenty, in every kind of
    // location (some inputs may be refused; those compare their refusals).
    assert!(redactions > 400, "{redactions}");
}

#[test]
fn every_location_is_redacted_by_both_paths() {
    let input = planted_har(5, 200, false, false);
    let (out, report) = fast(&input, usize::MAX, &SanitizeOptions::default());
    let report = report.unwrap();
    for loc in [
        "header",
        "cookie",
        "url",
        "query",
        "post-data",
        "response-body",
        "websocket",
        "unknown-field",
        "page",
        "server-sent-event",
    ] {
        assert!(
            report.by_location.contains_key(loc),
            "{loc} missing: {:?}",
            report.by_location
        );
    }
    let out = String::from_utf8(out).unwrap();
    let mut rng = Rng(5 | 1);
    let k = Secrets::new(&mut rng);
    for secret in [&k.session, &k.jwt, &k.opaque, &k.password] {
        assert!(!out.contains(secret.as_str()), "a planted secret survived");
    }
    assert_same(&input, "seed 5");
}

#[test]
fn the_benchmark_har_gives_byte_identical_output() {
    let mut input = Vec::new();
    let (_, entries) = common::write_har(42, 2 << 20, &mut input).unwrap();
    assert!(entries > 300);
    assert_same(&input, "benchmark HAR");
}

#[test]
fn bad_input_gives_the_same_errors() {
    let good = planted_har(6, 20, true, false);
    let cuts = [1, 17, good.len() / 3, good.len() / 2, good.len() - 2];
    for cut in cuts {
        assert_same(&good[..cut], &format!("truncated at {cut}"));
    }
    let mut bad_utf8 = good.clone();
    let at = bad_utf8.len() / 2;
    let quote = at + bad_utf8[at..].iter().position(|&b| b == b'"').unwrap();
    bad_utf8.insert(quote + 1, 0xff);
    assert_same(&bad_utf8, "invalid UTF-8");
    let mut bad_number = good.clone();
    let s = String::from_utf8_lossy(&good).replace("12.5", "12.");
    bad_number.clear();
    bad_number.extend_from_slice(s.as_bytes());
    assert_same(&bad_number, "invalid number");
    let control = String::from_utf8_lossy(&good).replace("HTTP/2", "HTTP\t2");
    assert_same(control.as_bytes(), "control character");
    let escape = String::from_utf8_lossy(&good).replace("HTTP/2", "HTTP\\x2");
    assert_same(escape.as_bytes(), "invalid escape");
    let limits = SanitizeOptions {
        max_value_bytes: 200,
        ..SanitizeOptions::default()
    };
    let (out, r) = fast(&good, 7, &limits);
    let (ref_out, ref_r) = reference(&good, &limits);
    assert_eq!(r, ref_r);
    assert_eq!(out, ref_out);
}
