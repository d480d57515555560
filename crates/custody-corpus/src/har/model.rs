//! The subset of HAR 1.2 (plus Chrome's `_`-prefixed extensions) the generator
//! writes, as serde structs so that field order matches what browsers export.

use serde::Serialize;

/// A `{name, value}` pair (headers, query parameters, form parameters).
#[derive(Serialize, Clone)]
pub(crate) struct Nv {
    pub(crate) name: String,
    pub(crate) value: String,
}

pub(crate) fn nv(name: &str, value: impl Into<String>) -> Nv {
    Nv {
        name: name.to_owned(),
        value: value.into(),
    }
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Cookie {
    pub(crate) name: String,
    pub(crate) value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) expires: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) http_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) secure: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) same_site: Option<String>,
}

pub(crate) fn cookie(name: &str, value: &str) -> Cookie {
    Cookie {
        name: name.to_owned(),
        value: value.to_owned(),
        path: None,
        domain: None,
        expires: None,
        http_only: None,
        secure: None,
        same_site: None,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PostData {
    pub(crate) mime_type: String,
    pub(crate) text: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) params: Vec<Nv>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) url: String,
    pub(crate) http_version: String,
    pub(crate) headers: Vec<Nv>,
    pub(crate) query_string: Vec<Nv>,
    pub(crate) cookies: Vec<Cookie>,
    pub(crate) headers_size: i64,
    pub(crate) body_size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) post_data: Option<PostData>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Content {
    pub(crate) size: i64,
    pub(crate) mime_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) compression: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) encoding: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) status_text: String,
    pub(crate) http_version: String,
    pub(crate) headers: Vec<Nv>,
    pub(crate) cookies: Vec<Cookie>,
    pub(crate) content: Content,
    #[serde(rename = "redirectURL")]
    pub(crate) redirect_url: String,
    pub(crate) headers_size: i64,
    pub(crate) body_size: i64,
    #[serde(rename = "_transferSize")]
    pub(crate) transfer_size: i64,
    #[serde(rename = "_error", skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct Timings {
    pub(crate) blocked: f64,
    pub(crate) dns: f64,
    pub(crate) ssl: f64,
    pub(crate) connect: f64,
    pub(crate) send: f64,
    pub(crate) wait: f64,
    pub(crate) receive: f64,
    #[serde(rename = "_blocked_queueing")]
    pub(crate) blocked_queueing: f64,
}

#[derive(Serialize)]
pub(crate) struct Initiator {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) url: Option<String>,
    #[serde(rename = "lineNumber", skip_serializing_if = "Option::is_none")]
    pub(crate) line_number: Option<u64>,
}

#[derive(Serialize)]
pub(crate) struct WsMessage {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) time: f64,
    pub(crate) opcode: u8,
    pub(crate) data: String,
}

#[derive(Serialize)]
pub(crate) struct Cache {}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Entry {
    #[serde(rename = "_initiator")]
    pub(crate) initiator: Initiator,
    #[serde(rename = "_priority")]
    pub(crate) priority: String,
    #[serde(rename = "_resourceType")]
    pub(crate) resource_type: String,
    pub(crate) cache: Cache,
    #[serde(rename = "connection")]
    pub(crate) connection: String,
    pub(crate) pageref: String,
    pub(crate) request: Request,
    pub(crate) response: Response,
    #[serde(rename = "serverIPAddress")]
    pub(crate) server_ip_address: String,
    pub(crate) started_date_time: String,
    pub(crate) time: f64,
    pub(crate) timings: Timings,
    #[serde(rename = "_webSocketMessages", skip_serializing_if = "Vec::is_empty")]
    pub(crate) web_socket_messages: Vec<WsMessage>,
}
