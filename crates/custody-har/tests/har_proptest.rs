//! Property tests: random HARs with credentials planted at random positions (headers,
//! cookies, query, URL, nested URL parameters, form and JSON post data, base64
//! response bodies, websocket frames, unknown `_` fields). After sanitizing, no
//! planted value survives raw, percent-encoded or base64-encoded; the output is valid
//! HAR 1.2 with the same entries in the same order; sanitizing again changes nothing;
//! the report never holds a planted value.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "test code: a panic is a test failure"
)]

#[path = "har_util.rs"]
mod util;

use proptest::prelude::*;
use serde_json::{Value, json};
use util::*;

/// Where a credential is planted.
#[derive(Debug, Clone, Copy)]
enum Spot {
    AuthorizationHeader,
    CookieHeader,
    ApiKeyHeader,
    SetCookieHeader,
    CookiesArray,
    QueryString,
    UrlCode,
    NestedUrl,
    FormParam,
    JsonPostData,
    Base64Response,
    WebsocketFrame,
    UnknownField,
}

const SPOTS: [Spot; 13] = [
    Spot::AuthorizationHeader,
    Spot::CookieHeader,
    Spot::ApiKeyHeader,
    Spot::SetCookieHeader,
    Spot::CookiesArray,
    Spot::QueryString,
    Spot::UrlCode,
    Spot::NestedUrl,
    Spot::FormParam,
    Spot::JsonPostData,
    Spot::Base64Response,
    Spot::WebsocketFrame,
    Spot::UnknownField,
];

/// An opaque credential: random alphanumerics with every character class present.
fn secret() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{24,40}".prop_map(|s| format!("{s}Q7z"))
}

fn word() -> impl Strategy<Value = String> {
    "[a-z]{3,10}"
}

#[derive(Debug, Clone)]
struct EntrySpec {
    method: bool,
    path: String,
    filler: Vec<String>,
    plants: Vec<(usize, String)>,
}

fn entry_spec() -> impl Strategy<Value = EntrySpec> {
    (
        any::<bool>(),
        word(),
        prop::collection::vec(word(), 1..6),
        prop::collection::vec((0..SPOTS.len(), secret()), 0..5),
    )
        .prop_map(|(method, path, filler, plants)| EntrySpec {
            method,
            path,
            filler,
            plants,
        })
}

fn build_entry(i: usize, spec: &EntrySpec) -> Value {
    let mut url = format!(
        "https://app.example.com/{}/{i}?page={}",
        spec.path, spec.filler[0]
    );
    let mut req_headers = vec![
        json!({"name": "Host", "value": "app.example.com"}),
        json!({"name": "Accept", "value": "application/json"}),
    ];
    let mut resp_headers = vec![json!({"name": "Content-Type", "value": "application/json"})];
    let mut query = vec![json!({"name": "page", "value": spec.filler[0]})];
    let mut cookies = vec![];
    let mut params = vec![json!({"name": "user", "value": spec.filler[0]})];
    let mut json_post = serde_json::Map::new();
    json_post.insert("note".into(), json!(spec.filler.join(" ")));
    let mut body = serde_json::Map::new();
    body.insert("items".into(), json!(spec.filler));
    let mut ws =
        vec![json!({"type": "send", "time": 1.0, "opcode": 1, "data": "{\"type\":\"ping\"}"})];
    let mut custom = serde_json::Map::new();
    custom.insert("note".into(), json!(spec.filler[0]));
    for (k, (spot, s)) in spec.plants.iter().enumerate() {
        match SPOTS[*spot] {
            Spot::AuthorizationHeader => req_headers.push(json!({"name": "authorization", "value": format!("Bearer {s}")})),
            Spot::CookieHeader => req_headers.push(json!({"name": "Cookie", "value": format!("JSESSIONID={s}; theme=dark")})),
            Spot::ApiKeyHeader => req_headers.push(json!({"name": "X-API-KEY", "value": s})),
            Spot::SetCookieHeader => resp_headers.push(json!({"name": "set-cookie", "value": format!("sid={s}; Path=/; HttpOnly")})),
            Spot::CookiesArray => cookies.push(json!({"name": "session", "value": s, "path": "/"})),
            Spot::QueryString => {
                url.push_str(&format!("&access_token={s}"));
                query.push(json!({"name": "access_token", "value": s}));
            }
            Spot::UrlCode => url.push_str(&format!("&code={s}")),
            Spot::NestedUrl => url.push_str(&format!(
                "&redirect_uri={}",
                percent_encode(&format!("https://app.example.com/cb?access_token={s}"))
            )),
            Spot::FormParam => params.push(json!({"name": "password", "value": s})),
            Spot::JsonPostData => {
                json_post.insert(format!("refresh_token{}", if k == 0 { String::new() } else { format!("_{k}") }).replace("refresh_token_", "refresh_token"), json!(s));
            }
            Spot::Base64Response => {
                body.insert("access_token".into(), json!(s));
            }
            Spot::WebsocketFrame => ws.push(json!({"type": "receive", "time": 2.0, "opcode": 1, "data": format!("{{\"type\":\"auth\",\"token\":\"{s}\"}}")})),
            Spot::UnknownField => {
                custom.insert("apiKey".into(), json!(s));
            }
        }
    }
    let mut req = request(if spec.method { "POST" } else { "GET" }, &url);
    req["headers"] = json!(req_headers);
    req["queryString"] = json!(query);
    req["cookies"] = json!(cookies);
    req["postData"] = if i.is_multiple_of(2) {
        json!({"mimeType": "application/x-www-form-urlencoded", "params": params})
    } else {
        json!({"mimeType": "application/json", "text": Value::Object(json_post.clone()).to_string()})
    };
    // Form params also as text, and JSON post data also on even entries via params.
    if i.is_multiple_of(2) {
        let text = params
            .iter()
            .map(|p| {
                format!(
                    "{}={}",
                    p["name"].as_str().unwrap(),
                    percent_encode(p["value"].as_str().unwrap())
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        req["postData"]["text"] = json!(text);
        if json_post.len() > 1 {
            req["postData"]["params"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "payload", "value": Value::Object(json_post).to_string()}));
        }
    }
    let mut resp = response(200);
    resp["headers"] = json!(resp_headers);
    resp["content"] = json!({
        "size": 10, "mimeType": "application/json", "encoding": "base64",
        "text": b64(Value::Object(body).to_string().as_bytes())
    });
    let mut e = entry(req, resp);
    e["startedDateTime"] = json!(format!(
        "2026-11-28T10:{:02}:{:02}.000Z",
        (i / 60) % 60,
        i % 60
    ));
    e["_webSocketMessages"] = json!(ws);
    e["_custom"] = Value::Object(custom);
    e
}

fn secrets_of(specs: &[EntrySpec]) -> Vec<String> {
    specs
        .iter()
        .flat_map(|s| s.plants.iter().map(|(_, v)| v.clone()))
        .collect()
}

proptest! {
    // 48 cases by default (debug build, shared CI); PROPTEST_CASES raises it.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48),
        ..ProptestConfig::default()
    })]

    #[test]
    fn planted_credentials_never_survive(specs in prop::collection::vec(entry_spec(), 1..6)) {
        let doc = har(specs.iter().enumerate().map(|(i, s)| build_entry(i, s)).collect(), vec![]);
        let input = serde_json::to_vec(&doc).unwrap();
        let (out, report) = match sanitize_har(&input) {
            Ok(r) => r,
            Err(e) => {
                let shown = format!("{e} {e:?}");
                for s in secrets_of(&specs) {
                    prop_assert!(!shown.contains(&s), "the error leaks a planted value");
                }
                return Err(TestCaseError::fail(format!("refused or failed: {e}")));
            }
        };
        for s in secrets_of(&specs) {
            assert_gone(&out, &s, "planted value");
        }
        let report_text = format!("{report:?}");
        for s in secrets_of(&specs) {
            prop_assert!(!report_text.contains(&s), "the report leaks a planted value");
        }
        // Valid HAR 1.2, same entries in the same order.
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_valid_har(&v);
        let entries = v["log"]["entries"].as_array().unwrap();
        prop_assert_eq!(entries.len(), specs.len());
        prop_assert_eq!(report.entries, specs.len() as u64);
        for (i, (e, spec)) in entries.iter().zip(&specs).enumerate() {
            let expected = format!("https://app.example.com/{}/{i}?page=", spec.path);
            prop_assert!(e["request"]["url"].as_str().unwrap().starts_with(&expected));
            prop_assert_eq!(e["request"]["method"].as_str().unwrap(), if spec.method { "POST" } else { "GET" });
            prop_assert_eq!(&e["startedDateTime"], &doc["log"]["entries"][i]["startedDateTime"]);
        }
        // Idempotent: the sanitized output is clean and stable.
        let (again, report2) = sanitize_har(out.as_bytes()).unwrap();
        prop_assert_eq!(&again, &out);
        prop_assert_eq!(report2.redactions, 0);
    }
}

#[test]
fn the_unsanitized_har_holds_every_planted_value() {
    // The attack succeeds on the unsafe variant (no sanitizer): every planted value is
    // in the input in a form `assert_gone` looks for.
    let specs: Vec<EntrySpec> = (0..SPOTS.len())
        .map(|k| EntrySpec {
            method: k % 2 == 0,
            path: "p".into(),
            filler: vec!["w".into()],
            plants: vec![(k, format!("Zq9Hk2Lm7Vp4Qx1Zt8Rw3Nc6Yb{k:02}Q7z"))],
        })
        .collect();
    let doc = har(
        specs
            .iter()
            .enumerate()
            .map(|(i, s)| build_entry(i, s))
            .collect(),
        vec![],
    );
    let raw = serde_json::to_string(&doc).unwrap();
    for s in secrets_of(&specs) {
        let b = b64(s.as_bytes());
        let present = raw.contains(&s)
            || raw.contains(&percent_encode(&s))
            || raw.contains(&b[..b.len() - 4]);
        // Base64 bodies hold the value inside a larger base64 text: decode to check.
        let in_body = doc["log"]["entries"].as_array().unwrap().iter().any(|e| {
            let t = e["response"]["content"]["text"]
                .as_str()
                .unwrap_or_default();
            let d = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, t)
                .unwrap_or_default();
            String::from_utf8_lossy(&d).contains(&s)
        });
        assert!(present || in_body, "planted value missing from the input");
    }
    let (out, _) = sanitize_har(raw.as_bytes()).unwrap();
    for s in secrets_of(&specs) {
        assert_gone(&out, &s, "planted value");
    }
}
