//! Deterministic benign corpora (shared by the precision tests and the benchmarks):
//! mixed text with the shapes that trip secret scanners (ETags, hashes, UUIDs, git
//! SHAs, cache keys, base64 images, minified JS, analytics ids, SRI hashes, request
//! ids) and HAR-like JSON with benign headers, cookies and URLs.

#![allow(dead_code, reason = "each test or bench binary uses a subset")]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// xorshift64*: deterministic and dependency-free.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| {
                char::from(
                    b"0123456789abcdef"
                        .get(self.below(16))
                        .copied()
                        .unwrap_or(b'0'),
                )
            })
            .collect()
    }
    pub fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..n)
            .map(|_| char::from(A.get(self.below(A.len())).copied().unwrap_or(b'a')))
            .collect()
    }
    pub fn b64(&mut self, bytes: usize) -> String {
        let raw: Vec<u8> = (0..bytes).map(|_| self.next() as u8).collect();
        STANDARD.encode(raw)
    }
    pub fn uuid(&mut self) -> String {
        format!(
            "{}-{}-4{}-a{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(3),
            self.hex(3),
            self.hex(12)
        )
    }
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items
            .get(self.below(items.len()))
            .copied()
            .unwrap_or_default()
    }
}

const WORDS: &[&str] = &[
    "the",
    "request",
    "failed",
    "after",
    "retry",
    "user",
    "clicked",
    "button",
    "page",
    "loaded",
    "session",
    "expired",
    "token",
    "refresh",
    "cache",
    "miss",
    "hit",
    "upstream",
    "latency",
    "error",
    "warning",
    "info",
    "debug",
    "connection",
    "reset",
    "by",
    "peer",
    "timeout",
    "while",
    "reading",
    "response",
    "header",
    "from",
    "server",
    "key",
    "value",
    "password",
    "reset",
    "link",
    "sent",
    "authorization",
    "pending",
    "secret",
    "santa",
    "keyboard",
    "monkey",
    "author",
    "authority",
];

/// One benign line of mixed text.
pub fn benign_line(rng: &mut Rng, out: &mut String) {
    match rng.below(16) {
        0 => out.push_str(&format!("ETag: W/\"{}-{}\"\n", rng.hex(2), rng.alnum(27))),
        1 => out.push_str(&format!("commit {} sha256:{}\n", rng.hex(40), rng.hex(64))),
        2 => out.push_str(&format!("x-request-id: {} trace={}\n", rng.uuid(), rng.hex(32))),
        3 => out.push_str(&format!("cache_key=v2:{}:{}\n", rng.hex(16), rng.alnum(24))),
        4 => out.push_str(&format!("<img src=\"data:image/png;base64,{}\">\n", rng.b64(180))),
        5 => out.push_str(&format!(
            "!function(e,t){{var n=e.token||t.key;return n?n.session:e.password}}(window,{{a:\"{}\",b:{}}});\n",
            rng.alnum(12),
            rng.below(9999)
        )),
        6 => out.push_str(&format!("Cookie: _ga=GA1.2.{}.{}; _gid=GA1.2.{}.{}; theme=dark\n", rng.below(1 << 30), rng.below(1 << 30), rng.below(1 << 30), rng.below(1 << 30))),
        7 => out.push_str(&format!(
            "<script src=\"/static/app.{}.js\" integrity=\"sha384-{}\" crossorigin=\"anonymous\"></script>\n",
            rng.hex(8),
            rng.b64(48)
        )),
        8 => out.push_str(&format!(
            "GET https://cdn.example.com/assets/{}/bundle.js?v={}&utm_source=newsletter&lang=en-US 200\n",
            rng.hex(12),
            rng.hex(8)
        )),
        9 => out.push_str(&format!(
            "{{\"id\":\"{}\",\"etag\":\"{}\",\"token_type\":\"Bearer\",\"expires_in\":3600,\"state\":\"open\"}}\n",
            rng.uuid(),
            rng.hex(32)
        )),
        10 => out.push_str(&format!("If-None-Match: \"{}\"\nContent-MD5: {}\n", rng.hex(32), rng.b64(16))),
        11 => out.push_str(&format!("analytics cid={}.{} _gcl_au=1.1.{}.{}\n", rng.below(1 << 30), rng.below(1 << 30), rng.below(1 << 30), rng.below(1 << 30))),
        12 => out.push_str(&format!("docker pull registry.example.com/app@sha256:{}\n", rng.hex(64))),
        13 => out.push_str(&format!("https://example.com/search?q={}&page={}#results\n", rng.pick(WORDS), rng.below(50))),
        _ => {
            for _ in 0..(8 + rng.below(12)) {
                out.push_str(rng.pick(WORDS));
                out.push(' ');
            }
            out.push('\n');
        }
    }
}

/// About `size` bytes of benign mixed text.
pub fn benign_text(seed: u64, size: usize) -> String {
    let mut rng = Rng::new(seed);
    let mut out = String::with_capacity(size + 1024);
    while out.len() < size {
        benign_line(&mut rng, &mut out);
    }
    out
}

const LOG_WORDS: &[&str] = &[
    "the",
    "request",
    "failed",
    "after",
    "retry",
    "user",
    "clicked",
    "button",
    "page",
    "loaded",
    "worker",
    "started",
    "job",
    "queue",
    "drained",
    "cache",
    "miss",
    "hit",
    "upstream",
    "latency",
    "error",
    "warning",
    "debug",
    "connection",
    "reset",
    "by",
    "peer",
    "timeout",
    "while",
    "reading",
    "response",
    "from",
    "server",
    "value",
    "link",
    "sent",
    "pending",
    "checkout",
    "order",
    "shipped",
    "invoice",
    "report",
    "generated",
    "disk",
    "usage",
    "at",
    "percent",
    "memory",
    "pressure",
    "normal",
    "scheduler",
    "tick",
    "node",
    "healthy",
];

/// About `size` bytes of prose-like log text with few anchors (the "few matches"
/// throughput corpus) and one planted credential per `plant_every` bytes.
pub fn sparse_text(seed: u64, size: usize, plant_every: usize) -> String {
    let mut rng = Rng::new(seed);
    let mut out = String::with_capacity(size + 1024);
    let mut next_plant = plant_every;
    while out.len() < size {
        out.push_str(&format!(
            "2024-05-0{} 12:{:02}:{:02} INFO ",
            1 + rng.below(9),
            rng.below(60),
            rng.below(60)
        ));
        for _ in 0..(6 + rng.below(14)) {
            out.push_str(rng.pick(LOG_WORDS));
            out.push(' ');
        }
        if rng.below(8) == 0 {
            out.push_str(&format!("id={} hash={}", rng.uuid(), rng.hex(40)));
        }
        out.push('\n');
        if out.len() >= next_plant {
            out.push_str(&format!("export GITLAB_TOKEN=glpat-{}\n", rng.alnum(20)));
            next_plant += plant_every;
        }
    }
    out
}

/// A HAR-like JSON document of about `size` bytes, benign except for what the caller
/// plants.
pub fn har_like(seed: u64, size: usize) -> String {
    let mut rng = Rng::new(seed);
    let mut out = String::with_capacity(size + 4096);
    out.push_str("{\"log\":{\"version\":\"1.2\",\"creator\":{\"name\":\"WebInspector\",\"version\":\"537.36\"},\"entries\":[");
    let mut first = true;
    while out.len() < size {
        if !first {
            out.push(',');
        }
        first = false;
        let path = rng.hex(10);
        let body = {
            let mut b = String::new();
            for _ in 0..4 {
                benign_line(&mut rng, &mut b);
            }
            serde_json::to_string(&b).unwrap_or_default()
        };
        out.push_str(&format!(
            concat!(
                "{{\"startedDateTime\":\"2024-05-01T12:00:00.000Z\",\"time\":{},\"request\":{{\"method\":\"GET\",",
                "\"url\":\"https://app.example.com/api/{}?page={}&lang=en-US\",\"httpVersion\":\"HTTP/2\",",
                "\"headers\":[{{\"name\":\"accept\",\"value\":\"application/json\"}},{{\"name\":\"x-request-id\",\"value\":\"{}\"}},",
                "{{\"name\":\"if-none-match\",\"value\":\"W/\\\"{}\\\"\"}},{{\"name\":\"user-agent\",\"value\":\"Mozilla/5.0 (X11; Linux x86_64)\"}}],",
                "\"queryString\":[{{\"name\":\"page\",\"value\":\"{}\"}},{{\"name\":\"lang\",\"value\":\"en-US\"}}],",
                "\"cookies\":[{{\"name\":\"_ga\",\"value\":\"GA1.2.{}.{}\"}}],\"headersSize\":-1,\"bodySize\":0}},",
                "\"response\":{{\"status\":200,\"statusText\":\"OK\",\"httpVersion\":\"HTTP/2\",\"headers\":[",
                "{{\"name\":\"etag\",\"value\":\"\\\"{}\\\"\"}},{{\"name\":\"content-type\",\"value\":\"application/json\"}},",
                "{{\"name\":\"cache-control\",\"value\":\"max-age=3600\"}}],\"cookies\":[],",
                "\"content\":{{\"size\":{},\"mimeType\":\"application/json\",\"text\":{}}},\"redirectURL\":\"\",",
                "\"headersSize\":-1,\"bodySize\":-1}},\"cache\":{{}},\"timings\":{{\"send\":0.1,\"wait\":{},\"receive\":0.4}}}}"
            ),
            rng.below(900),
            path,
            rng.below(20),
            rng.uuid(),
            rng.alnum(27),
            rng.below(20),
            rng.below(1 << 30),
            rng.below(1 << 30),
            rng.hex(32),
            body.len(),
            body,
            rng.below(500)
        ));
    }
    out.push_str("]}}");
    out
}
