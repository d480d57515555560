//! A customer admin's capture: the HTTP exchanges of a real session with the server
//! under test, written as a HAR 1.2 file, the way a browser's "Save all as HAR" would
//! write them: request headers with the live `Authorization: DPoP` token and the `DPoP`
//! proof, and the sign-in answer whose JSON body holds the access token.

use custody_client::Exchange;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The HAR 1.2 document of `exchanges` (oldest first).
pub fn har(exchanges: &[Exchange]) -> Vec<u8> {
    let entries: Vec<Value> = exchanges.iter().map(entry).collect();
    let doc = json!({
        "log": {
            "version": "1.2",
            "creator": { "name": "custody-sim", "version": env!("CARGO_PKG_VERSION") },
            "pages": [],
            "entries": entries,
        }
    });
    serde_json::to_vec_pretty(&doc).unwrap_or_default()
}

fn headers(list: &[(String, String)]) -> Vec<Value> {
    list.iter()
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect()
}

fn query(url: &str) -> Vec<Value> {
    let Some((_, query)) = url.split_once('?') else {
        return Vec::new();
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            json!({ "name": name, "value": value })
        })
        .collect()
}

fn started(exchange: &Exchange) -> String {
    let nanos = i128::from(exchange.started.unix_millis()) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

fn entry(exchange: &Exchange) -> Value {
    let mut request = json!({
        "method": exchange.method,
        "url": exchange.url,
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": headers(&exchange.request_headers),
        "queryString": query(&exchange.url),
        "headersSize": -1,
        "bodySize": exchange.request_body.as_ref().map_or(0, |(_, b)| b.len()),
    });
    if let (Some((mime, body)), Some(object)) = (&exchange.request_body, request.as_object_mut()) {
        object.insert(
            "postData".into(),
            json!({ "mimeType": mime, "text": String::from_utf8_lossy(body) }),
        );
    }
    let mime = exchange
        .response_headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map_or("", |(_, v)| v.as_str());
    json!({
        "startedDateTime": started(exchange),
        "time": exchange.elapsed_ms,
        "request": request,
        "response": {
            "status": exchange.status,
            "statusText": "",
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": headers(&exchange.response_headers),
            "content": {
                "size": exchange.response_body.len(),
                "mimeType": mime,
                "text": String::from_utf8_lossy(&exchange.response_body),
            },
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": exchange.response_body.len(),
        },
        "cache": {},
        "timings": { "send": 0, "wait": exchange.elapsed_ms, "receive": 0 },
    })
}
