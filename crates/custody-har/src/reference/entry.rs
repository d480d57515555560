//! The HAR entry walker: which field each value of an entry is (DESIGN.md §4).
//!
//! `request.url`, `response.redirectURL` → URL; `headers[].value` → header by name;
//! `cookies[].value` → cookie by name; `queryString[].value` → query parameter;
//! `postData.params[].value` → form field; `postData.text` and `content.text` → body by
//! media type (base64 decoded first); `_webSocketMessages[].data` → websocket frame;
//! everything else, `_`-prefixed fields included, → kept and walked generically.

use custody_scan::Field;

use crate::reference::engine::Engine;
use crate::reference::value::Value;
use crate::report::LocationKind;

/// Sanitizes one `log.entries[]` element in place.
pub(crate) fn entry(e: &mut Engine<'_>, v: &mut Value) {
    let Value::Obj(members) = v else {
        e.walk(v, None, LocationKind::UnknownField);
        return;
    };
    for (k, v) in members.iter_mut() {
        let mark = e.pointer.push(k);
        match (k.as_str(), &mut *v) {
            ("request", Value::Obj(m)) => message(e, m, true),
            ("response", Value::Obj(m)) => message(e, m, false),
            ("_webSocketMessages", Value::Arr(frames)) => websocket(e, frames),
            (k, v) => {
                e.walk(v, Some(k), loc_of(k));
            }
        }
        e.pointer.truncate(mark);
    }
}

fn loc_of(key: &str) -> LocationKind {
    if key.starts_with('_') {
        LocationKind::UnknownField
    } else {
        LocationKind::HarField
    }
}

/// A request (`is_request`) or response object.
fn message(e: &mut Engine<'_>, members: &mut [(String, Value)], is_request: bool) {
    for (k, v) in members.iter_mut() {
        let mark = e.pointer.push(k);
        match (k.as_str(), &mut *v) {
            ("url" | "redirectURL", Value::Str(s)) => {
                e.redact(s, Field::Url, LocationKind::Url);
            }
            ("headers", Value::Arr(items)) => {
                pairs(e, items, LocationKind::Header, &|name| Field::Header {
                    name,
                });
            }
            ("cookies", Value::Arr(items)) => {
                pairs(e, items, LocationKind::Cookie, &|name| Field::Cookie {
                    name,
                });
            }
            ("queryString", Value::Arr(items)) if is_request => {
                pairs(e, items, LocationKind::Query, &|name| Field::Query { name });
            }
            ("postData", Value::Obj(m)) if is_request => payload(e, m, LocationKind::PostData),
            ("content", Value::Obj(m)) if !is_request => payload(e, m, LocationKind::ResponseBody),
            (k, v) => {
                e.walk(v, Some(k), loc_of(k));
            }
        }
        e.pointer.truncate(mark);
    }
}

/// `[{ "name": .., "value": .., ... }]`: each value judged as `field(name)`.
fn pairs(
    e: &mut Engine<'_>,
    items: &mut [Value],
    loc: LocationKind,
    field: &dyn for<'n> Fn(&'n str) -> Field<'n>,
) {
    let is_param = matches!(field(""), Field::Query { .. } | Field::Form { .. });
    for (i, item) in items.iter_mut().enumerate() {
        let mark = e.pointer.push_index(i);
        match item {
            Value::Obj(members) => {
                let name = members
                    .iter()
                    .find(|(k, _)| k == "name")
                    .and_then(|(_, v)| v.as_str())
                    .unwrap_or_default()
                    .to_owned();
                for (k, v) in members.iter_mut() {
                    let m2 = e.pointer.push(k);
                    match (k.as_str(), &mut *v) {
                        ("value", Value::Str(s)) if is_param => {
                            e.param(s, field(&name), loc, false);
                        }
                        ("value", Value::Str(s)) => {
                            e.redact(s, field(&name), loc);
                        }
                        // Parameter names are scanned as text (a bare token in a query
                        // string becomes a name with an empty value).
                        ("name", Value::Str(s)) if is_param => {
                            e.redact(s, Field::Text, loc);
                        }
                        // Header and cookie names are kept: fixed tokens a support
                        // engineer reads.
                        ("name", Value::Str(_)) => {}
                        (k, v) => {
                            e.walk(v, Some(k), loc);
                        }
                    }
                    e.pointer.truncate(m2);
                }
            }
            other => {
                e.walk(other, None, loc);
            }
        }
        e.pointer.truncate(mark);
    }
}

/// `postData` or `content`: params, text (by media type, base64 decoded first).
fn payload(e: &mut Engine<'_>, members: &mut [(String, Value)], loc: LocationKind) {
    let field_str = |members: &[(String, Value)], key: &str| {
        members
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let mime = field_str(members, "mimeType");
    let base64 = field_str(members, "encoding").eq_ignore_ascii_case("base64");
    for (k, v) in members.iter_mut() {
        let mark = e.pointer.push(k);
        match (k.as_str(), &mut *v) {
            ("text", Value::Str(s)) if base64 => {
                e.base64_body(s, &mime, loc);
            }
            ("text", Value::Str(s)) => {
                e.body(s, &mime, loc);
            }
            ("params", Value::Arr(items)) => {
                pairs(e, items, loc, &|name| Field::Form { name });
            }
            ("mimeType" | "encoding", Value::Str(_)) => {}
            (k, v) => {
                e.walk(v, Some(k), loc);
            }
        }
        e.pointer.truncate(mark);
    }
}

/// Chrome's `_webSocketMessages`: `data` of text frames (opcode 1) is a body, of
/// binary frames (opcode 2) base64.
fn websocket(e: &mut Engine<'_>, frames: &mut [Value]) {
    for (i, frame) in frames.iter_mut().enumerate() {
        let mark = e.pointer.push_index(i);
        match frame {
            Value::Obj(members) => {
                let binary = members
                    .iter()
                    .any(|(k, v)| k == "opcode" && matches!(v, Value::Num(n) if &**n == "2"));
                for (k, v) in members.iter_mut() {
                    let m2 = e.pointer.push(k);
                    match (k.as_str(), &mut *v) {
                        ("data", Value::Str(s)) if binary => {
                            e.base64_body(s, "", LocationKind::Websocket);
                        }
                        ("data", Value::Str(s)) => {
                            e.body(s, "", LocationKind::Websocket);
                        }
                        (k, v) => {
                            e.walk(v, Some(k), LocationKind::Websocket);
                        }
                    }
                    e.pointer.truncate(m2);
                }
            }
            other => {
                e.walk(other, None, LocationKind::Websocket);
            }
        }
        e.pointer.truncate(mark);
    }
}
