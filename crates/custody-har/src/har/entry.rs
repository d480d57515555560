//! The HAR entry walker: which field each value of an entry is (DESIGN.md §4).
//!
//! `request.url`, `response.redirectURL` → URL; `headers[].value` → header by name;
//! `cookies[].value` → cookie by name; `queryString[].value` → query parameter;
//! `postData.params[].value` → form field; `postData.text` and `content.text` → body by
//! media type (base64 decoded first); `_webSocketMessages[].data` → websocket frame;
//! everything else, `_`-prefixed fields included, → kept and walked generically.

use custody_scan::Field;

use crate::json::engine::Engine;
use crate::json::value::{Src, Str, Value};
use crate::report::LocationKind;

/// Sanitizes one `log.entries[]` element in place.
pub(crate) fn entry(e: &mut Engine<'_>, src: Src<'_>, v: &mut Value) {
    let Value::Obj(members, _) = v else {
        e.walk(src, v, None, LocationKind::UnknownField);
        return;
    };
    for (k, v) in members.iter_mut() {
        let k = src.text(k);
        let mark = e.pointer.push(k);
        match (k, &mut *v) {
            ("request", Value::Obj(m, _)) => message(e, src, m, true),
            ("response", Value::Obj(m, _)) => message(e, src, m, false),
            ("_webSocketMessages", Value::Arr(frames, _)) => websocket(e, src, frames),
            (k, v) => {
                e.walk(src, v, Some(k), loc_of(k));
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
fn message(e: &mut Engine<'_>, src: Src<'_>, members: &mut [(Str, Value)], is_request: bool) {
    for (k, v) in members.iter_mut() {
        let k = src.text(k);
        let mark = e.pointer.push(k);
        match (k, &mut *v) {
            ("url" | "redirectURL", Value::Str(s)) => {
                e.redact_str(src, s, Field::Url, LocationKind::Url);
            }
            ("headers", Value::Arr(items, _)) => {
                pairs(e, src, items, LocationKind::Header, &|name| Field::Header {
                    name,
                });
            }
            ("cookies", Value::Arr(items, _)) => {
                pairs(e, src, items, LocationKind::Cookie, &|name| Field::Cookie {
                    name,
                });
            }
            ("queryString", Value::Arr(items, _)) if is_request => {
                pairs(e, src, items, LocationKind::Query, &|name| Field::Query {
                    name,
                });
            }
            ("postData", Value::Obj(m, _)) if is_request => {
                payload(e, src, m, LocationKind::PostData);
            }
            ("content", Value::Obj(m, _)) if !is_request => {
                payload(e, src, m, LocationKind::ResponseBody);
            }
            (k, v) => {
                e.walk(src, v, Some(k), loc_of(k));
            }
        }
        e.pointer.truncate(mark);
    }
}

/// `[{ "name": .., "value": .., ... }]`: each value judged as `field(name)`.
fn pairs(
    e: &mut Engine<'_>,
    src: Src<'_>,
    items: &mut [Value],
    loc: LocationKind,
    field: &dyn for<'n> Fn(&'n str) -> Field<'n>,
) {
    let is_param = matches!(field(""), Field::Query { .. } | Field::Form { .. });
    for (i, item) in items.iter_mut().enumerate() {
        let mark = e.pointer.push_index(i);
        match item {
            Value::Obj(members, _) => {
                let name = members
                    .iter()
                    .find(|(k, _)| src.text(k) == "name")
                    .and_then(|(_, v)| src.str_of(v))
                    .unwrap_or_default();
                for (k, v) in members.iter_mut() {
                    let k = src.text(k);
                    let m2 = e.pointer.push(k);
                    match (k, &mut *v) {
                        ("value", Value::Str(s)) if is_param => {
                            e.param_str(src, s, field(&name), loc);
                        }
                        ("value", Value::Str(s)) => {
                            e.redact_str(src, s, field(&name), loc);
                        }
                        // Parameter names are scanned as text (a bare token in a query
                        // string becomes a name with an empty value).
                        ("name", Value::Str(s)) if is_param => {
                            e.redact_str(src, s, Field::Text, loc);
                        }
                        // Header and cookie names are kept: fixed tokens a support
                        // engineer reads.
                        ("name", Value::Str(_)) => {}
                        (k, v) => {
                            e.walk(src, v, Some(k), loc);
                        }
                    }
                    e.pointer.truncate(m2);
                }
            }
            other => {
                e.walk(src, other, None, loc);
            }
        }
        e.pointer.truncate(mark);
    }
}

/// `postData` or `content`: params, text (by media type, base64 decoded first).
fn payload(e: &mut Engine<'_>, src: Src<'_>, members: &mut [(Str, Value)], loc: LocationKind) {
    let field_str = |members: &[(Str, Value)], key: &str| {
        members
            .iter()
            .find(|(k, _)| src.text(k) == key)
            .and_then(|(_, v)| src.str_of(v))
            .unwrap_or_default()
    };
    let mime = field_str(members, "mimeType");
    let base64 = field_str(members, "encoding").eq_ignore_ascii_case("base64");
    for (k, v) in members.iter_mut() {
        let k = src.text(k);
        let mark = e.pointer.push(k);
        match (k, &mut *v) {
            ("text", Value::Str(s)) if base64 => {
                let new = e.base64_body(src.text(s), &mime, loc);
                set(s, new);
            }
            ("text", Value::Str(s)) => {
                let new = e.body(src.text(s), &mime, loc);
                set(s, new);
            }
            ("params", Value::Arr(items, _)) => {
                pairs(e, src, items, loc, &|name| Field::Form { name });
            }
            ("mimeType" | "encoding", Value::Str(_)) => {}
            (k, v) => {
                e.walk(src, v, Some(k), loc);
            }
        }
        e.pointer.truncate(mark);
    }
}

/// Chrome's `_webSocketMessages`: `data` of text frames (opcode 1) is a body, of
/// binary frames (opcode 2) base64.
fn websocket(e: &mut Engine<'_>, src: Src<'_>, frames: &mut [Value]) {
    for (i, frame) in frames.iter_mut().enumerate() {
        let mark = e.pointer.push_index(i);
        match frame {
            Value::Obj(members, _) => {
                let binary = members.iter().any(|(k, v)| {
                    src.text(k) == "opcode" && matches!(v, Value::Num(n) if src.slice(n) == "2")
                });
                for (k, v) in members.iter_mut() {
                    let k = src.text(k);
                    let m2 = e.pointer.push(k);
                    match (k, &mut *v) {
                        ("data", Value::Str(s)) if binary => {
                            let new = e.base64_body(src.text(s), "", LocationKind::Websocket);
                            set(s, new);
                        }
                        ("data", Value::Str(s)) => {
                            let new = e.body(src.text(s), "", LocationKind::Websocket);
                            set(s, new);
                        }
                        (k, v) => {
                            e.walk(src, v, Some(k), LocationKind::Websocket);
                        }
                    }
                    e.pointer.truncate(m2);
                }
            }
            other => {
                e.walk(src, other, None, LocationKind::Websocket);
            }
        }
        e.pointer.truncate(mark);
    }
}

/// Stores a body's new text, if it changed.
fn set(s: &mut Str, new: Option<String>) {
    if let Some(text) = new {
        s.set(text);
    }
}
