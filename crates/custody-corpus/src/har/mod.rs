//! Streaming HAR 1.2 generators: [`benign_har`] (realistic traffic without any
//! credential) and [`planted_har`] (the same traffic with credentials planted at
//! random positions, returned as [`Plant`]s).
//!
//! Output is pretty-printed like a browser export (one JSON member per line), so
//! line-oriented scanners can be scored by line. Memory stays bounded: one entry
//! is built, written and dropped at a time.

mod benign;
mod model;
mod planted;

use std::io::Write;

use serde::Serialize;

use crate::CorpusError;
use crate::plant::{Plant, PlantKind, search_forms};
use crate::rng::Gen;
use model::Entry;

/// Counts of what a generator wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Bytes written.
    pub bytes: u64,
    /// HAR entries (or text lines) written.
    pub entries: u64,
}

/// Number of pages the capture is split into (`pages[]` is written up front).
const PAGES: usize = 6;

/// Writes a benign HAR of at least `target_bytes` (one entry more than needed,
/// then the closing brackets) to `w`. Same seed, same bytes.
///
/// # Errors
///
/// [`CorpusError::Write`] when `w` fails, [`CorpusError::Serialize`] if an entry
/// cannot be encoded.
pub fn benign_har<W: Write>(seed: u64, target_bytes: u64, w: W) -> Result<Stats, CorpusError> {
    write_har(seed, target_bytes, false, w).map(|(stats, _)| stats)
}

/// Writes a HAR like [`benign_har`] in which about one entry in six carries
/// planted credentials, cycling through every [`PlantKind::HAR_KINDS`] in a seeded
/// random order (a 10 MB output holds each kind several times), and returns what
/// was planted where.
///
/// # Errors
///
/// As [`benign_har`].
pub fn planted_har<W: Write>(
    seed: u64,
    target_bytes: u64,
    w: W,
) -> Result<Vec<Plant>, CorpusError> {
    write_har(seed, target_bytes, true, w).map(|(_, plants)| plants)
}

/// A writer that counts bytes and newlines.
pub(crate) struct Counting<W> {
    inner: W,
    pub(crate) bytes: u64,
    pub(crate) newlines: u64,
}

impl<W: Write> Counting<W> {
    pub(crate) fn new(inner: W) -> Self {
        Self {
            inner,
            bytes: 0,
            newlines: 0,
        }
    }

    pub(crate) fn put(&mut self, data: &[u8]) -> Result<(), CorpusError> {
        self.inner.write_all(data).map_err(CorpusError::write)?;
        self.bytes += data.len() as u64;
        self.newlines += data.iter().filter(|&&b| b == b'\n').count() as u64;
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<(), CorpusError> {
        self.inner.flush().map_err(CorpusError::write)
    }
}

/// Per-capture state: the random source and what a browser keeps between requests.
pub(crate) struct Ctx {
    pub(crate) g: Gen,
    /// Analytics and preference cookies the browser sends to first-party hosts.
    pub(crate) benign_cookies: Vec<(String, String)>,
    pub(crate) user_agent: String,
    pub(crate) page: usize,
    pub(crate) page_url: String,
}

impl Ctx {
    fn new(seed: u64) -> Self {
        let mut g = Gen::new(seed);
        let ts = g.now_secs();
        let ga_tag = g.base32(10);
        let benign_cookies = vec![
            (
                "_ga".to_owned(),
                format!(
                    "GA1.2.{}.{}",
                    g.range(100_000_000, 999_999_999),
                    ts - g.range(0, 9_000_000)
                ),
            ),
            (
                "_gid".to_owned(),
                format!(
                    "GA1.2.{}.{}",
                    g.range(100_000_000, 999_999_999),
                    ts - g.range(0, 80_000)
                ),
            ),
            (
                format!("_ga_{ga_tag}"),
                format!("GS1.1.{ts}.{}.1.{}.0.0.0", g.range(1, 40), ts + 100),
            ),
            (
                "_fbp".to_owned(),
                format!(
                    "fb.1.{}.{}",
                    ts * 1_000 + g.range(0, 999),
                    g.range(100_000_000, 2_000_000_000)
                ),
            ),
            ("ajs_anonymous_id".to_owned(), g.uuid()),
            ("theme".to_owned(), "dark".to_owned()),
            ("locale".to_owned(), "en-US".to_owned()),
            ("OptanonAlertBoxClosed".to_owned(), g.now_iso()),
        ];
        let user_agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36".to_owned();
        Self {
            g,
            benign_cookies,
            user_agent,
            page: 0,
            page_url: "https://app.example.com/".to_owned(),
        }
    }
}

fn write_har<W: Write>(
    seed: u64,
    target_bytes: u64,
    plant: bool,
    w: W,
) -> Result<(Stats, Vec<Plant>), CorpusError> {
    let mut out = Counting::new(w);
    let mut ctx = Ctx::new(seed);
    write_head(&mut ctx, &mut out)?;
    let mut plants = Vec::new();
    let mut order: Vec<PlantKind> = Vec::new();
    let mut index: u64 = 0;
    loop {
        ctx.page = usize::try_from(index / 40).unwrap_or(0) % PAGES;
        let planted = plant && ctx.g.chance(1, 6);
        let (entry, mut new_plants) = if planted {
            if order.is_empty() {
                order = PlantKind::HAR_KINDS.to_vec();
                shuffle(&mut ctx.g, &mut order);
            }
            let kind = order.pop().unwrap_or(PlantKind::BearerOpaque);
            planted::entry(&mut ctx, kind, index)
        } else {
            (benign::entry(&mut ctx), Vec::new())
        };
        let buf = to_pretty(&entry)?;
        if index > 0 {
            out.put(b",\n")?;
        }
        if !new_plants.is_empty() {
            locate(&entry, &buf, index, out.newlines, &mut new_plants)?;
            plants.append(&mut new_plants);
        }
        out.put(&buf)?;
        index += 1;
        if out.bytes >= target_bytes {
            break;
        }
    }
    out.put(b"\n    ]\n  }\n}\n")?;
    let stats = Stats {
        bytes: out.bytes,
        entries: index,
    };
    out.finish()?;
    Ok((stats, plants))
}

fn shuffle(g: &mut Gen, items: &mut [PlantKind]) {
    for i in (1..items.len()).rev() {
        let j = g.index(i + 1);
        items.swap(i, j);
    }
}

fn to_pretty<T: Serialize>(value: &T) -> Result<Vec<u8>, CorpusError> {
    serde_json::to_vec_pretty(value).map_err(CorpusError::serialize)
}

fn write_head<W: Write>(ctx: &mut Ctx, out: &mut Counting<W>) -> Result<(), CorpusError> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct PageTimings {
        on_content_load: f64,
        on_load: f64,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Page {
        started_date_time: String,
        id: String,
        title: String,
        page_timings: PageTimings,
    }
    let mut pages = Vec::new();
    for i in 0..PAGES {
        ctx.g.tick();
        let word = ctx.g.word();
        pages.push(Page {
            started_date_time: ctx.g.now_iso(),
            id: format!("page_{}", i + 1),
            title: format!("https://app.example.com/{word}"),
            page_timings: PageTimings {
                on_content_load: ctx.g.range(200, 2_000) as f64 + 0.5,
                on_load: ctx.g.range(800, 5_000) as f64 + 0.25,
            },
        });
    }
    let pages_json = serde_json::to_string_pretty(&pages).map_err(CorpusError::serialize)?;
    let head = format!(
        "{{\n  \"log\": {{\n    \"version\": \"1.2\",\n    \"creator\": {{\n      \"name\": \"WebInspector\",\n      \"version\": \"537.36\"\n    }},\n    \"browser\": {{\n      \"name\": \"Chrome\",\n      \"version\": \"124.0.6367.60\"\n    }},\n    \"pages\": {pages_json},\n    \"entries\": [\n"
    );
    out.put(head.as_bytes())
}

/// Fills in each plant's JSON pointers and the output lines on which it appears.
fn locate(
    entry: &Entry,
    buf: &[u8],
    index: u64,
    base_lines: u64,
    plants: &mut [Plant],
) -> Result<(), CorpusError> {
    let value = serde_json::to_value(entry).map_err(CorpusError::serialize)?;
    for plant in plants.iter_mut() {
        let forms = search_forms(plant.expose_value());
        let mut pointers = Vec::new();
        let mut path = format!("/log/entries/{index}");
        find_pointers(&value, &forms, &mut path, &mut pointers);
        let mut lines = Vec::new();
        let automaton = aho_corasick::AhoCorasick::new(&forms).map_err(CorpusError::search)?;
        for m in automaton.find_iter(buf) {
            let before = buf.get(..m.start()).unwrap_or_default();
            let line = base_lines + 1 + before.iter().filter(|&&b| b == b'\n').count() as u64;
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
        if pointers.is_empty() || lines.is_empty() {
            return Err(CorpusError::Unlocated { kind: plant.kind() });
        }
        plant.set_location(pointers, lines);
    }
    Ok(())
}

/// Collects the pointers of every string under `v` that holds one of `forms`.
fn find_pointers(
    v: &serde_json::Value,
    forms: &[String],
    path: &mut String,
    found: &mut Vec<String>,
) {
    match v {
        serde_json::Value::String(s) if forms.iter().any(|f| s.contains(f.as_str())) => {
            found.push(path.clone());
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                find_pointers(item, forms, path, found);
                path.truncate(len);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, item) in map {
                let len = path.len();
                path.push('/');
                path.push_str(&k.replace('~', "~0").replace('/', "~1"));
                find_pointers(item, forms, path, found);
                path.truncate(len);
            }
        }
        _ => {}
    }
}
