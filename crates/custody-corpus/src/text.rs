//! Log and text corpora: access logs, application logs, JSON log lines, stack
//! traces and build output, with (for [`mixed_text`]) credential lines sprinkled
//! in, so scan throughput can be measured with few or many matches.

use std::io::Write;

use crate::CorpusError;
use crate::har::{Counting, Stats};
use crate::plant::{Plant, PlantKind};
use crate::rng::Gen;
use crate::secrets as s;

/// Writes benign log text (no credential) of at least `target_bytes`.
///
/// # Errors
///
/// [`CorpusError::Write`] when `w` fails.
pub fn benign_text<W: Write>(seed: u64, target_bytes: u64, w: W) -> Result<Stats, CorpusError> {
    write_text(seed, target_bytes, None, w).map(|(stats, _)| stats)
}

/// Writes log text of at least `target_bytes` with credential lines planted: about
/// one line in 5,000 when `few_matches`, one in 20 otherwise. Returns the plants
/// (kind [`PlantKind::TextLine`], line numbers set).
///
/// # Errors
///
/// [`CorpusError::Write`] when `w` fails.
pub fn mixed_text<W: Write>(
    seed: u64,
    target_bytes: u64,
    few_matches: bool,
    w: W,
) -> Result<Vec<Plant>, CorpusError> {
    let rate = if few_matches { 5_000 } else { 20 };
    write_text(seed, target_bytes, Some(rate), w).map(|(_, plants)| plants)
}

fn write_text<W: Write>(
    seed: u64,
    target_bytes: u64,
    rate: Option<u64>,
    w: W,
) -> Result<(Stats, Vec<Plant>), CorpusError> {
    let mut g = Gen::new(seed);
    let mut out = Counting::new(w);
    let mut plants = Vec::new();
    let mut line_no: u64 = 0;
    while out.bytes < target_bytes {
        g.tick();
        line_no += 1;
        let physical = out.newlines + 1;
        let line = match rate {
            Some(r) if g.chance(1, r) => {
                let (line, value) = secret_line(&mut g);
                let mut plant = Plant::new(PlantKind::TextLine, value, line_no);
                plant.set_location(Vec::new(), vec![physical]);
                plants.push(plant);
                line
            }
            _ => benign_line(&mut g),
        };
        out.put(line.as_bytes())?;
        out.put(b"\n")?;
    }
    let stats = Stats {
        bytes: out.bytes,
        entries: line_no,
    };
    out.finish()?;
    Ok((stats, plants))
}

fn benign_line(g: &mut Gen) -> String {
    let ts = g.now_iso();
    match g.range(0, 10) {
        0..3 => format!(
            "{}.{}.{}.{} - - [{}] \"GET /{}/{}?page={} HTTP/1.1\" {} {} \"https://app.example.com/\" \"Mozilla/5.0\" rt={}.{:03} uct=0.000 req_id={}",
            g.range(10, 200),
            g.range(0, 255),
            g.range(0, 255),
            g.range(1, 254),
            g.now_http_date(),
            g.word(),
            g.uuid(),
            g.range(1, 50),
            g.pick(&["200", "200", "304", "404", "500"]),
            g.range(100, 90_000),
            g.range(0, 3),
            g.range(0, 999),
            g.hex(32)
        ),
        3..5 => format!(
            "{{\"ts\":\"{ts}\",\"level\":\"{}\",\"msg\":\"{} {} completed\",\"trace_id\":\"{}\",\"span_id\":\"{}\",\"duration_ms\":{},\"etag\":\"W/\\\"{}\\\"\",\"user_id\":\"{}\"}}",
            g.pick(&["info", "debug", "warn"]),
            g.word(),
            g.word(),
            g.hex(32),
            g.hex(16),
            g.range(1, 900),
            g.hex(16),
            g.uuid()
        ),
        5 => format!(
            "{ts} ERROR [{}] java.lang.IllegalStateException: {} not ready\n\tat com.example.{}.Service.handle(Service.java:{})\n\tat com.example.{}.Router.dispatch(Router.java:{})",
            g.hex(8),
            g.word(),
            g.word(),
            g.range(10, 900),
            g.word(),
            g.range(10, 900)
        ),
        6 => format!(
            "{ts} INFO  cache miss key=v3:{}:{} sha256={} size={}",
            g.word(),
            g.hex(32),
            g.hex(64),
            g.range(100, 1_000_000)
        ),
        7 => format!(
            "{ts} DEBUG upload object s3://assets-{}/{}/{}.tar.gz md5={} integrity=sha384-{}",
            g.hex(6),
            g.word(),
            g.hex(40),
            g.hex(32),
            g.b64_of_random(48)
        ),
        8 => format!(
            "   Compiling {}-{} v{}.{}.{} (registry+https://github.com/rust-lang/crates.io-index) checksum {}",
            g.word(),
            g.word(),
            g.range(0, 3),
            g.range(0, 30),
            g.range(0, 20),
            g.hex(64)
        ),
        _ => format!(
            "{ts} WARN  slow request id={} path=/api/{}/{} took {}ms cdn=https://cdn.examplecdn.net/assets/app.{}.js",
            g.uuid(),
            g.word(),
            g.uuid(),
            g.range(1_000, 9_000),
            g.hex(20)
        ),
    }
}

fn secret_line(g: &mut Gen) -> (String, String) {
    let ts = g.now_iso();
    match g.range(0, 10) {
        0 => {
            let t = s::jwt(
                g,
                "https://login.example-idp.com/oauth2/default",
                "api://default",
            );
            (
                format!("{ts} DEBUG outgoing request headers: Authorization: Bearer {t}"),
                t,
            )
        }
        1 => {
            let v = s::phpsessid(g);
            (
                format!(
                    "curl -s 'https://app.example.com/api/me' -H 'Cookie: theme=dark; PHPSESSID={v}' --compressed"
                ),
                v,
            )
        }
        2 => {
            let v = s::aws_secret(g);
            (format!("aws_secret_access_key = {v}"), v)
        }
        3 => {
            let v = s::oauth_code(g);
            (
                format!(
                    "{ts} INFO  GET /callback?code={v}&state={} 302",
                    g.b64url_chars(20)
                ),
                v,
            )
        }
        4 => {
            let v = s::password(g);
            (
                format!("{ts} DEBUG form body: username=ops%40example.org&password={v}"),
                v,
            )
        }
        5 => {
            let v = s::github_token(g);
            (format!("export GITHUB_TOKEN={v}"), v)
        }
        6 => {
            let v = s::slack_token(g);
            (format!("{ts} WARN  slack notify failed token={v}"), v)
        }
        7 => {
            let v = s::aws_key_id(g);
            (format!("{ts} INFO  assumed role with AccessKeyId {v}"), v)
        }
        8 => {
            let v = s::stripe_key(g);
            (format!("STRIPE_SECRET_KEY=\"{v}\""), v)
        }
        _ => {
            let v = s::ssws(g);
            (format!("{ts} DEBUG > Authorization: SSWS {v}"), v)
        }
    }
}
