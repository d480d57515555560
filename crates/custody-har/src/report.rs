//! The sanitization report: what was removed, counted by class and by location kind,
//! with the rules version and the input and output digests. It never holds a value.

use std::collections::BTreeMap;

/// The kind of place a redacted value sat in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum LocationKind {
    /// A request or response header value.
    Header,
    /// A `cookies[]` value.
    Cookie,
    /// A `queryString[]` value.
    Query,
    /// A URL field (`url`, `redirectURL`, initiator URLs, ...).
    Url,
    /// Request `postData` (params or text).
    PostData,
    /// Response `content.text` (plain or base64).
    ResponseBody,
    /// A websocket frame (`_webSocketMessages`).
    Websocket,
    /// A server-sent event of a `text/event-stream` body.
    ServerSentEvent,
    /// A page (`log.pages[]`): titles and page-level fields.
    Page,
    /// Any other field of the HAR format (creator, comments, timings, ...).
    HarField,
    /// An unknown or vendor-specific (`_`-prefixed) field.
    UnknownField,
    /// A value of a plain JSON document.
    JsonValue,
    /// An exact reuse of a credential already redacted elsewhere in the artifact.
    KnownSecret,
}

impl LocationKind {
    /// The kebab-case id used in reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Cookie => "cookie",
            Self::Query => "query",
            Self::Url => "url",
            Self::PostData => "post-data",
            Self::ResponseBody => "response-body",
            Self::Websocket => "websocket",
            Self::ServerSentEvent => "server-sent-event",
            Self::Page => "page",
            Self::HarField => "har-field",
            Self::UnknownField => "unknown-field",
            Self::JsonValue => "json-value",
            Self::KnownSecret => "known-secret",
        }
    }
}

/// A sanitization report. Serialises to JSON for `custody sanitize --report`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Report {
    /// Artifact kind: `"har"` or `"json"`.
    pub kind: &'static str,
    /// The detector's rule-set version.
    pub rules_version: String,
    /// Hex SHA-256 of the input bytes.
    pub input_sha256: String,
    /// Hex SHA-256 of the output bytes (empty for inspect-only runs).
    pub output_sha256: String,
    /// Input size in bytes.
    pub bytes_in: u64,
    /// Output size in bytes.
    pub bytes_out: u64,
    /// HAR entries (or top-level JSON elements) processed.
    pub entries: u64,
    /// Number of values replaced by a marker.
    pub redactions: u64,
    /// Redactions by credential class (`jwt`, `session-cookie`, ...).
    pub by_class: BTreeMap<String, u64>,
    /// Redactions by location kind (`header`, `cookie`, `query`, ...).
    pub by_location: BTreeMap<String, u64>,
    /// Credentials still present after sanitizing (non-zero means refused).
    pub remaining: u64,
    /// `"clean"` or `"refused"`.
    pub verdict: &'static str,
}
