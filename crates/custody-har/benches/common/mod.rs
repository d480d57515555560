//! A deterministic generator of realistic HAR files for the sanitizer benchmarks:
//! browser-like entries (15-20 headers, cookies on every request, JSON API bodies,
//! HTML pages, some base64 images, a bearer token on API calls), streamed to a writer.

use std::io::{self, Write};

/// xorshift64*: deterministic, fast, good enough for filler.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn token(&mut self, len: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| char::from(A[(self.next() % A.len() as u64) as usize]))
            .collect()
    }
}

const WORDS: &[&str] = &[
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
];

fn json_body(rng: &mut Rng, items: usize) -> String {
    let mut s = String::from("{\"items\":[");
    for i in 0..items {
        if i > 0 {
            s.push(',');
        }
        let w = WORDS[rng.below(WORDS.len() as u64) as usize];
        s.push_str(&format!(
            "{{\"id\":{},\"name\":\"{w} {}\",\"status\":\"active\",\"updated\":\"2026-11-28T10:{:02}:00Z\",\"tags\":[\"{w}\",\"team-{}\"],\"score\":{}.{}}}",
            rng.below(1_000_000),
            rng.below(100),
            rng.below(60),
            rng.below(50),
            rng.below(100),
            rng.below(100)
        ));
    }
    s.push_str("],\"page\":2,\"total\":\"1337\"}");
    s
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One entry; `session` and `bearer` are the artifact's live credentials.
fn entry(rng: &mut Rng, i: u64, session: &str, bearer: &str) -> String {
    let api = !i.is_multiple_of(3);
    let path = if api {
        format!(
            "/api/v1/{}/{}?page={}&q={}",
            WORDS[(i % 20) as usize],
            rng.below(10_000),
            rng.below(9),
            WORDS[rng.below(20) as usize]
        )
    } else {
        format!("/app/{}", WORDS[(i % 20) as usize])
    };
    let auth = if api {
        format!(r#",{{"name":"Authorization","value":"Bearer {bearer}"}}"#)
    } else {
        String::new()
    };
    let (mime, text, encoding) = match i % 10 {
        0 => ("image/png", image(rng), r#","encoding":"base64""#),
        1 | 4 => (
            "text/html; charset=utf-8",
            escape(&format!(
                "<!doctype html><html><head><title>{} dashboard</title></head><body>{}</body></html>",
                WORDS[(i % 20) as usize],
                (0..40)
                    .map(|k| format!(
                        "<div class=\"row r{k}\"><a href=\"/app/item/{k}\">{}</a></div>",
                        WORDS[k % 20]
                    ))
                    .collect::<String>()
            )),
            "",
        ),
        _ => {
            let items = 12 + rng.below(12) as usize;
            ("application/json", escape(&json_body(rng, items)), "")
        }
    };
    let size = text.len();
    format!(
        r#"{{"pageref":"page_1","startedDateTime":"2026-11-28T10:00:{:02}.{:03}Z","time":{}.{},"request":{{"method":"{}","url":"https://app.example.com{path}","httpVersion":"HTTP/2","headers":[{{"name":":authority","value":"app.example.com"}},{{"name":"accept","value":"application/json, text/plain, */*"}},{{"name":"accept-encoding","value":"gzip, deflate, br"}},{{"name":"accept-language","value":"en-US,en;q=0.9"}},{{"name":"cookie","value":"sid={session}; _ga=GA1.2.{}.{}; theme=dark"}},{{"name":"referer","value":"https://app.example.com/app/home"}},{{"name":"sec-ch-ua","value":"\"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\""}},{{"name":"sec-fetch-mode","value":"cors"}},{{"name":"user-agent","value":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"}},{{"name":"x-request-id","value":"{}"}}{auth}],"queryString":[{{"name":"page","value":"{}"}}],"cookies":[{{"name":"sid","value":"{session}","path":"/","httpOnly":true,"secure":true}},{{"name":"theme","value":"dark"}}],"headersSize":-1,"bodySize":0}},"response":{{"status":200,"statusText":"OK","httpVersion":"HTTP/2","headers":[{{"name":"content-type","value":"{mime}"}},{{"name":"cache-control","value":"private, max-age=0"}},{{"name":"date","value":"Sat, 28 Nov 2026 10:00:00 GMT"}},{{"name":"etag","value":"W/\"{}\""}},{{"name":"server","value":"nginx"}},{{"name":"x-request-id","value":"{}"}},{{"name":"strict-transport-security","value":"max-age=31536000"}}],"cookies":[],"content":{{"size":{size},"mimeType":"{mime}","text":"{text}"{encoding}}},"redirectURL":"","headersSize":-1,"bodySize":{size},"_transferSize":{}}},"cache":{{}},"timings":{{"blocked":0.5,"dns":-1,"ssl":-1,"connect":-1,"send":0.1,"wait":{}.{},"receive":0.7}},"serverIPAddress":"203.0.113.7","_initiator":{{"type":"script"}},"_priority":"High","_resourceType":"{}"}}"#,
        i % 60,
        rng.below(1000),
        rng.below(500),
        rng.below(100),
        if api && i % 4 == 1 { "POST" } else { "GET" },
        rng.below(1_000_000_000),
        rng.below(1_000_000_000),
        rng.token(16),
        rng.below(9),
        rng.token(20),
        rng.token(16),
        size + 300,
        rng.below(300),
        rng.below(100),
        if api { "fetch" } else { "document" },
    )
}

fn image(rng: &mut Rng) -> String {
    use base64::Engine as _;
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    bytes.extend((0..3000).map(|_| (rng.next() >> 24) as u8));
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Writes a HAR of about `target_bytes` to `w`; returns (bytes, entries).
pub fn write_har<W: Write>(seed: u64, target_bytes: u64, w: W) -> io::Result<(u64, u64)> {
    let mut w = io::BufWriter::with_capacity(1 << 20, w);
    let mut rng = Rng::new(seed);
    let session = rng.token(32);
    let bearer = format!(
        "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLmNvbSIsImV4cCI6MTkwMDAwMDAwMH0.{}",
        rng.token(86)
    );
    let head = r#"{"log":{"version":"1.2","creator":{"name":"WebInspector","version":"537.36"},"pages":[{"startedDateTime":"2026-11-28T10:00:00.000Z","id":"page_1","title":"https://app.example.com/app/home","pageTimings":{"onContentLoad":120.5,"onLoad":300.2}}],"entries":["#;
    w.write_all(head.as_bytes())?;
    let mut written = head.len() as u64;
    let mut n = 0u64;
    while written < target_bytes {
        let e = entry(&mut rng, n, &session, &bearer);
        if n > 0 {
            w.write_all(b",\n")?;
            written += 2;
        }
        w.write_all(e.as_bytes())?;
        written += e.len() as u64;
        n += 1;
    }
    w.write_all(b"]}}\n")?;
    w.flush()?;
    Ok((written + 4, n))
}
