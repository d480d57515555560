//! Server-side rendering of a sanitized artifact, one page at a time, in bounded
//! memory: HAR entries are summarised (time, method, URL, status, type, size) while the
//! JSON streams past, and entries outside the page are skipped without being built;
//! text and JSON artifacts page by lines, each cut at [`MAX_LINE`] bytes. Only already
//! sanitized bytes reach this module.

use std::fmt;
use std::io::{BufRead, BufReader, Read};

use custody_store::ArtifactKind;
use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::BrokerError;

/// Most items in one page.
pub const MAX_PAGE: u32 = 200;
/// Longest line shown (bytes); longer lines are cut and flagged.
pub const MAX_LINE: usize = 4096;

/// Which page to render.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    /// Index of the first item.
    pub offset: u64,
    /// Items wanted (at most [`MAX_PAGE`]).
    pub limit: u32,
}

/// One rendered page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Page {
    /// `entries` (HAR) or `lines`.
    pub unit: &'static str,
    /// Index of the first item.
    pub offset: u64,
    /// Items in the whole artifact.
    pub total: u64,
    /// The items.
    pub items: Vec<serde_json::Value>,
}

/// Summary of one HAR entry (fields a support engineer scans first).
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
struct EntrySummary {
    #[serde(rename = "startedDateTime")]
    started: Option<String>,
    time: Option<f64>,
    request: RequestSummary,
    response: ResponseSummary,
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
struct RequestSummary {
    method: Option<String>,
    url: Option<String>,
    #[serde(rename = "httpVersion")]
    http_version: Option<String>,
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
struct ResponseSummary {
    status: Option<i64>,
    #[serde(rename = "statusText")]
    status_text: Option<String>,
    content: ContentSummary,
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
struct ContentSummary {
    size: Option<i64>,
    #[serde(rename = "mimeType")]
    mime_type: Option<String>,
}

/// Renders one page of `reader` (the decrypted sanitized artifact).
pub fn render<R: Read>(
    reader: R,
    kind: ArtifactKind,
    page: PageRequest,
) -> Result<Page, BrokerError> {
    let limit = page.limit.clamp(1, MAX_PAGE);
    let page = PageRequest { limit, ..page };
    match kind {
        ArtifactKind::Har => render_har(reader, page),
        ArtifactKind::Json | ArtifactKind::Text => render_lines(reader, page),
        ArtifactKind::Zip => Err(BrokerError::BadRequest(
            "a zip archive has no server-side view; download or export it".into(),
        )),
    }
}

struct Collector {
    page: PageRequest,
    total: u64,
    items: Vec<serde_json::Value>,
}

fn render_har<R: Read>(reader: R, page: PageRequest) -> Result<Page, BrokerError> {
    let mut collector = Collector {
        page,
        total: 0,
        items: Vec::new(),
    };
    let mut de = serde_json::Deserializer::from_reader(BufReader::new(reader));
    Root(&mut collector)
        .deserialize(&mut de)
        .map_err(|e| BrokerError::Internal(format!("stored HAR does not parse: {e}")))?;
    Ok(Page {
        unit: "entries",
        offset: page.offset,
        total: collector.total,
        items: collector.items,
    })
}

struct Root<'a>(&'a mut Collector);
struct Log<'a>(&'a mut Collector);
struct Entries<'a>(&'a mut Collector);

impl<'de> DeserializeSeed<'de> for Root<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Root<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a HAR document")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "log" {
                map.next_value_seed(Log(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Log<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Log<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the HAR log object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "entries" {
                map.next_value_seed(Entries(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Entries<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Entries<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the HAR entries array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let c = self.0;
        let end = c.page.offset.saturating_add(u64::from(c.page.limit));
        loop {
            let index = c.total;
            let wanted = index >= c.page.offset && index < end;
            let more = if wanted {
                seq.next_element::<EntrySummary>()?.map(|entry| {
                    let mut value = serde_json::to_value(entry).unwrap_or_default();
                    if let Some(object) = value.as_object_mut() {
                        object.insert("index".into(), index.into());
                    }
                    c.items.push(value);
                })
            } else {
                seq.next_element::<IgnoredAny>()?.map(|_| ())
            };
            if more.is_none() {
                return Ok(());
            }
            c.total += 1;
        }
    }
}

fn render_lines<R: Read>(reader: R, page: PageRequest) -> Result<Page, BrokerError> {
    let mut reader = BufReader::new(reader);
    let end = page.offset.saturating_add(u64::from(page.limit));
    let mut items = Vec::new();
    let mut index = 0u64;
    let mut line = Vec::new();
    let mut cut = false;
    let mut pending = false;
    loop {
        let buf = reader
            .fill_buf()
            .map_err(|e| BrokerError::Internal(format!("stored artifact: {e}")))?;
        if buf.is_empty() {
            break;
        }
        let wanted = index >= page.offset && index < end;
        let (chunk, newline) = match memchr::memchr(b'\n', buf) {
            Some(at) => (buf.get(..at).unwrap_or_default(), Some(at)),
            None => (buf, None),
        };
        pending = true;
        if wanted {
            let room = MAX_LINE.saturating_sub(line.len());
            line.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
            cut |= chunk.len() > room;
        }
        let consumed = newline.map_or(buf.len(), |at| at + 1);
        reader.consume(consumed);
        if newline.is_some() {
            if wanted {
                items.push(line_item(index, &line, cut));
            }
            line.clear();
            cut = false;
            pending = false;
            index += 1;
        }
    }
    if pending {
        if index >= page.offset && index < end {
            items.push(line_item(index, &line, cut));
        }
        index += 1;
    }
    Ok(Page {
        unit: "lines",
        offset: page.offset,
        total: index,
        items,
    })
}

fn line_item(index: u64, line: &[u8], cut: bool) -> serde_json::Value {
    serde_json::json!({
        "index": index,
        "text": String::from_utf8_lossy(line),
        "truncated": cut,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn har(n: usize) -> String {
        let entries: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    r#"{{"startedDateTime":"2026-01-01T00:00:00Z","time":1.5,"request":{{"method":"GET","url":"https://a.example/{i}","headers":[]}},"response":{{"status":200,"content":{{"size":3,"mimeType":"text/plain","text":"abc"}}}}}}"#
                )
            })
            .collect();
        format!(
            r#"{{"log":{{"version":"1.2","creator":{{"name":"t","version":"1"}},"entries":[{}]}}}}"#,
            entries.join(",")
        )
    }

    #[test]
    fn har_pages_are_the_right_entries() {
        let text = har(7);
        let page = render(
            text.as_bytes(),
            ArtifactKind::Har,
            PageRequest {
                offset: 2,
                limit: 3,
            },
        )
        .unwrap();
        assert_eq!(page.total, 7);
        let urls: Vec<_> = page
            .items
            .iter()
            .map(|i| i["request"]["url"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            urls,
            [
                "https://a.example/2",
                "https://a.example/3",
                "https://a.example/4"
            ]
        );
        assert_eq!(page.items[0]["index"], 2);
        assert!(
            page.items[0].get("text").is_none(),
            "bodies are not part of the summary"
        );
    }

    #[test]
    fn line_pages_cut_long_lines() {
        let long = "x".repeat(MAX_LINE * 3);
        let text = format!("a\nb\n{long}\nlast");
        let page = render(
            text.as_bytes(),
            ArtifactKind::Text,
            PageRequest {
                offset: 1,
                limit: 10,
            },
        )
        .unwrap();
        assert_eq!(page.total, 4);
        assert_eq!(page.items.len(), 3);
        assert_eq!(page.items[1]["truncated"], true);
        assert_eq!(page.items[1]["text"].as_str().unwrap().len(), MAX_LINE);
        assert_eq!(page.items[2]["text"], "last");
    }
}
