//! Benign entries: documents, scripts, styles, images, fonts, JSON APIs, analytics
//! beacons, redirects, preflights and websocket chatter, full of the high-entropy
//! strings that are not credentials (ETags, hashes, SRI digests, UUIDs, request and
//! trace ids, cache keys, CDN version hashes, analytics ids).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::Ctx;
use super::model::{
    Cache, Content, Cookie, Entry, Initiator, Nv, Request, Response, Timings, WsMessage, cookie, nv,
};

pub(super) const APP: &str = "app.example.com";
pub(super) const API: &str = "api.example.com";
pub(super) const CDN: &str = "cdn.examplecdn.net";
pub(super) const IDP: &str = "login.example-idp.com";

/// What a request is, for its headers (`sec-fetch-*`, `accept`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Dest {
    Document,
    Script,
    Style,
    Image,
    Font,
    Fetch,
    Websocket,
}

/// A body of a response.
pub(super) enum Body {
    Empty,
    Text(String),
    Base64(Vec<u8>),
}

/// Picks and builds one benign entry.
pub(super) fn entry(ctx: &mut Ctx) -> Entry {
    match ctx.g.range(0, 100) {
        0..5 => document(ctx),
        5..20 => script(ctx),
        20..28 => stylesheet(ctx),
        28..43 => image(ctx),
        43..46 => font(ctx),
        46..70 => api_get(ctx),
        70..78 => api_post(ctx),
        78..86 => ga_collect(ctx),
        86..91 => segment(ctx),
        91..93 => redirect(ctx),
        93..97 => preflight(ctx),
        _ => websocket(ctx),
    }
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
    rest.find('/').and_then(|i| rest.get(i..)).unwrap_or("/")
}

/// The query parameters of a URL, as Chrome lists them (raw values).
pub(super) fn query_of(url: &str) -> Vec<Nv> {
    let no_frag = url.split_once('#').map_or(url, |(u, _)| u);
    let Some((_, query)) = no_frag.split_once('?') else {
        return Vec::new();
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            nv(n, v)
        })
        .collect()
}

/// A request with a browser's headers; `extra` headers and `cookies` are added.
pub(super) fn request(
    ctx: &mut Ctx,
    method: &str,
    url: &str,
    dest: Dest,
    extra: Vec<Nv>,
    cookies: Vec<Cookie>,
) -> Request {
    let host = host_of(url).to_owned();
    let mut headers = vec![
        nv(":authority", host.clone()),
        nv(":method", method),
        nv(":path", path_of(url)),
        nv(":scheme", "https"),
    ];
    let accept = match dest {
        Dest::Document => {
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
        }
        Dest::Script | Dest::Fetch | Dest::Websocket => "*/*",
        Dest::Style => "text/css,*/*;q=0.1",
        Dest::Image => "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
        Dest::Font => "*/*",
    };
    headers.push(nv("accept", accept));
    headers.push(nv("accept-encoding", "gzip, deflate, br, zstd"));
    headers.push(nv("accept-language", "en-US,en;q=0.9"));
    let first_party = host.ends_with("example.com");
    let mut all_cookies: Vec<Cookie> = Vec::new();
    if first_party {
        for (n, v) in &ctx.benign_cookies {
            all_cookies.push(cookie(n, v));
        }
    }
    all_cookies.extend(cookies);
    if !all_cookies.is_empty() {
        let line: Vec<String> = all_cookies
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        headers.push(nv("cookie", line.join("; ")));
    }
    if dest != Dest::Document {
        headers.push(nv("referer", ctx.page_url.clone()));
    }
    headers.push(nv(
        "sec-ch-ua",
        "\"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"",
    ));
    headers.push(nv("sec-ch-ua-mobile", "?0"));
    headers.push(nv("sec-ch-ua-platform", "\"Linux\""));
    let fetch_dest = match dest {
        Dest::Document => "document",
        Dest::Script => "script",
        Dest::Style => "style",
        Dest::Image => "image",
        Dest::Font => "font",
        Dest::Fetch => "empty",
        Dest::Websocket => "websocket",
    };
    headers.push(nv("sec-fetch-dest", fetch_dest));
    headers.push(nv(
        "sec-fetch-mode",
        if dest == Dest::Document {
            "navigate"
        } else {
            "cors"
        },
    ));
    headers.push(nv(
        "sec-fetch-site",
        if first_party {
            "same-origin"
        } else {
            "cross-site"
        },
    ));
    headers.push(nv("user-agent", ctx.user_agent.clone()));
    headers.extend(extra);
    Request {
        method: method.to_owned(),
        url: url.to_owned(),
        http_version: "http/2.0".to_owned(),
        headers,
        query_string: query_of(url),
        cookies: all_cookies,
        headers_size: -1,
        body_size: 0,
        post_data: None,
    }
}

/// A response with a server's usual headers around `body`.
pub(super) fn response(
    ctx: &mut Ctx,
    status: u16,
    mime: &str,
    body: Body,
    extra: Vec<Nv>,
    cookies: Vec<Cookie>,
) -> Response {
    let g = &mut ctx.g;
    let (text, encoding, size) = match body {
        Body::Empty => (None, None, 0_i64),
        Body::Text(t) => {
            let n = i64::try_from(t.len()).unwrap_or(i64::MAX);
            (Some(t), None, n)
        }
        Body::Base64(bytes) => {
            let n = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
            (Some(STANDARD.encode(bytes)), Some("base64".to_owned()), n)
        }
    };
    let mut headers = vec![
        nv("date", g.now_http_date()),
        nv("content-type", mime),
        nv("content-length", size.to_string()),
    ];
    if status == 200 {
        let etag = match g.range(0, 3) {
            0 => format!("W/\"{:x}-{}\"", size, g.b64url_chars(27)),
            1 => format!("\"{}\"", g.hex(32)),
            _ => format!("\"{}-gzip\"", g.hex(40)),
        };
        headers.push(nv("etag", etag));
        headers.push(nv("last-modified", g.now_http_date()));
    }
    headers.push(nv(
        "cache-control",
        g.pick(&[
            "public, max-age=31536000, immutable",
            "no-cache",
            "private, max-age=0, must-revalidate",
            "max-age=600",
        ]),
    ));
    headers.push(nv("x-request-id", g.uuid()));
    headers.push(nv("x-amz-cf-id", g.b64url_chars(56)));
    headers.push(nv(
        "x-amz-cf-pop",
        g.pick(&["FRA56-P3", "CDG50-C1", "IAD89-P2"]),
    ));
    headers.push(nv(
        "x-cache",
        g.pick(&[
            "Hit from cloudfront",
            "Miss from cloudfront",
            "RefreshHit from cloudfront",
        ]),
    ));
    headers.push(nv("cf-ray", format!("{}-FRA", g.hex(16))));
    headers.push(nv(
        "x-amzn-trace-id",
        format!("Root=1-{}-{}", g.hex(8), g.hex(24)),
    ));
    headers.push(nv(
        "server-timing",
        format!(
            "cdn-cache;desc=HIT, edge;dur={}, origin;dur={}",
            g.range(1, 30),
            g.range(10, 400)
        ),
    ));
    headers.push(nv(
        "strict-transport-security",
        "max-age=63072000; includeSubDomains; preload",
    ));
    headers.push(nv("vary", "Accept-Encoding, Origin"));
    headers.extend(extra);
    let status_text = match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        302 => "Found",
        304 => "Not Modified",
        401 => "Unauthorized",
        _ => "",
    };
    let transfer = size / 3 + 400;
    Response {
        status,
        status_text: status_text.to_owned(),
        http_version: "http/2.0".to_owned(),
        headers,
        cookies,
        content: Content {
            size,
            mime_type: mime.to_owned(),
            compression: Some(size - size / 3),
            text,
            encoding,
        },
        redirect_url: String::new(),
        headers_size: -1,
        body_size: transfer,
        transfer_size: transfer + 300,
        error: None,
    }
}

/// Wraps a request and response into an entry with timings.
pub(super) fn finish(
    ctx: &mut Ctx,
    request: Request,
    response: Response,
    resource_type: &str,
    ws: Vec<WsMessage>,
) -> Entry {
    let g = &mut ctx.g;
    g.tick();
    let ms = |g: &mut crate::rng::Gen, lo: u64, hi: u64| {
        g.range(lo, hi) as f64 + g.range(0, 1_000) as f64 / 1_000.0
    };
    let fresh = g.chance(1, 10);
    let timings = Timings {
        blocked: ms(g, 0, 40),
        dns: if fresh { ms(g, 1, 30) } else { -1.0 },
        ssl: if fresh { ms(g, 5, 60) } else { -1.0 },
        connect: if fresh { ms(g, 10, 90) } else { -1.0 },
        send: ms(g, 0, 2),
        wait: ms(g, 5, 600),
        receive: ms(g, 0, 80),
        blocked_queueing: ms(g, 0, 10),
    };
    let time = timings.blocked
        + timings.dns.max(0.0)
        + timings.connect.max(0.0)
        + timings.send
        + timings.wait
        + timings.receive;
    let initiator = if resource_type == "document" {
        Initiator {
            kind: "other".to_owned(),
            url: None,
            line_number: None,
        }
    } else {
        Initiator {
            kind: "script".to_owned(),
            url: Some(ctx.page_url.clone()),
            line_number: Some(g.range(1, 3_000)),
        }
    };
    let priority = g.pick(&["VeryHigh", "High", "Medium", "Low"]).to_owned();
    let ip = format!(
        "{}.{}.{}.{}",
        g.range(13, 200),
        g.range(0, 255),
        g.range(0, 255),
        g.range(1, 254)
    );
    Entry {
        initiator,
        priority,
        resource_type: resource_type.to_owned(),
        cache: Cache {},
        connection: g.range(1_000, 999_999).to_string(),
        pageref: format!("page_{}", ctx.page + 1),
        request,
        response,
        server_ip_address: ip,
        started_date_time: g.now_iso(),
        time,
        timings,
        web_socket_messages: ws,
    }
}

/// An SRI digest (`sha384-...`).
fn sri(ctx: &mut Ctx) -> String {
    format!("sha384-{}", ctx.g.b64_of_random(48))
}

/// Bytes that start like a PNG or JPEG file.
pub(super) fn image_bytes(ctx: &mut Ctx, png: bool, n: usize) -> Vec<u8> {
    let mut out: Vec<u8> = if png {
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec()
    } else {
        b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01".to_vec()
    };
    out.extend(ctx.g.bytes(n));
    out
}

/// An HTML page with SRI-pinned assets, an inline base64 image, a search form and
/// a benign hidden input; `extra` is inserted into the body.
pub(super) fn html_page(ctx: &mut Ctx, title: &str, extra: &str) -> String {
    let css = ctx.g.hex(12);
    let js = ctx.g.hex(8);
    let css_sri = sri(ctx);
    let js_sri = sri(ctx);
    let nonce = ctx.g.b64_of_random(16);
    let img_len = usize::try_from(ctx.g.range(100, 1_500)).unwrap_or(200);
    let png = STANDARD.encode(image_bytes(ctx, true, img_len));
    let build = ctx.g.hex(40);
    let mut items = String::new();
    for _ in 0..ctx.g.range(5, 40) {
        let id = ctx.g.uuid();
        let w = ctx.g.word();
        items.push_str(&format!("<li data-id=\"{id}\"><a href=\"/{w}/{id}\">{w}</a> <span class=\"sku\">{}</span></li>\n", ctx.g.hex(10)));
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\n<meta name=\"build\" content=\"{build}\">\n<link rel=\"stylesheet\" href=\"https://{CDN}/static/css/main.{css}.css\" integrity=\"{css_sri}\" crossorigin=\"anonymous\">\n<script nonce=\"{nonce}\" src=\"https://{CDN}/static/js/main.{js}.js\" integrity=\"{js_sri}\" crossorigin=\"anonymous\" defer></script>\n</head><body>\n<img alt=\"logo\" src=\"data:image/png;base64,{png}\">\n<form action=\"/search\" method=\"get\"><input type=\"hidden\" name=\"page\" value=\"1\"><input type=\"hidden\" name=\"view\" value=\"grid\"><input name=\"q\" placeholder=\"Search\"></form>\n<ul>\n{items}</ul>\n{extra}\n</body></html>\n"
    )
}

fn document(ctx: &mut Ctx) -> Entry {
    let word = ctx.g.word();
    let url = format!("https://{APP}/{word}?tab={}&sort=desc", ctx.g.word());
    ctx.page_url.clone_from(&url);
    let req = request(
        ctx,
        "GET",
        &url,
        Dest::Document,
        vec![nv("upgrade-insecure-requests", "1")],
        Vec::new(),
    );
    let html = html_page(ctx, word, "");
    let csp = format!(
        "default-src 'self'; script-src 'self' 'nonce-{}' https://{CDN}",
        ctx.g.b64_of_random(16)
    );
    let resp = response(
        ctx,
        200,
        "text/html; charset=utf-8",
        Body::Text(html),
        vec![nv("content-security-policy", csp)],
        Vec::new(),
    );
    finish(ctx, req, resp, "document", Vec::new())
}

/// Pseudo-minified JavaScript of about `n` bytes.
pub(super) fn minified_js(ctx: &mut Ctx, n: usize) -> String {
    let mut out =
        String::from("\"use strict\";(self.webpackChunkapp=self.webpackChunkapp||[]).push([[");
    out.push_str(&format!("{}],{{", ctx.g.range(100, 999)));
    while out.len() < n {
        let id = ctx.g.range(1_000, 99_999);
        let w = ctx.g.word();
        let h = ctx.g.hex(20);
        let u = ctx.g.uuid();
        out.push_str(&format!(
            "{id}:function(e,t,n){{var r=n({}),o=n.n(r),a=\"{w}\",i={{id:\"{u}\",hash:\"{h}\",v:{}}};t.Z=function(c){{return c&&c.{w}?o()(c.{w},a):i}}}},",
            ctx.g.range(1_000, 99_999),
            ctx.g.range(1, 99)
        ));
    }
    out.push_str(&format!(
        "}}]);\n//# sourceMappingURL=main.{}.js.map\n",
        ctx.g.hex(8)
    ));
    out
}

fn script(ctx: &mut Ctx) -> Entry {
    let url = format!(
        "https://{CDN}/static/js/{}.{}.chunk.js",
        ctx.g.range(100, 999),
        ctx.g.hex(8)
    );
    let req = request(ctx, "GET", &url, Dest::Script, Vec::new(), Vec::new());
    let n = usize::try_from(ctx.g.range(2_000, 60_000)).unwrap_or(4_000);
    let js = minified_js(ctx, n);
    let resp = response(
        ctx,
        200,
        "application/javascript",
        Body::Text(js),
        Vec::new(),
        Vec::new(),
    );
    finish(ctx, req, resp, "script", Vec::new())
}

fn stylesheet(ctx: &mut Ctx) -> Entry {
    let url = format!(
        "https://{CDN}/static/css/{}.{}.css",
        ctx.g.word(),
        ctx.g.hex(12)
    );
    let req = request(ctx, "GET", &url, Dest::Style, Vec::new(), Vec::new());
    let mut css = String::new();
    let n = ctx.g.range(1_000, 20_000);
    while (css.len() as u64) < n {
        css.push_str(&format!(
            ".{w}-{a}{{color:#{c};background:url(/static/media/{w}.{h}.png) no-repeat;margin:{m}px}}",
            w = ctx.g.word(),
            a = ctx.g.alnum_lower(5),
            c = ctx.g.hex(6),
            h = ctx.g.hex(20),
            m = ctx.g.range(0, 32)
        ));
    }
    let resp = response(
        ctx,
        200,
        "text/css",
        Body::Text(css),
        Vec::new(),
        Vec::new(),
    );
    finish(ctx, req, resp, "stylesheet", Vec::new())
}

fn image(ctx: &mut Ctx) -> Entry {
    let png = ctx.g.chance(1, 2);
    let ext = if png { "png" } else { "jpg" };
    let url = format!(
        "https://{CDN}/images/{}/{}.{ext}?w={}&q=80&v={}",
        ctx.g.word(),
        ctx.g.hex(64),
        ctx.g.range(64, 1_600),
        ctx.g.hex(10)
    );
    let req = request(ctx, "GET", &url, Dest::Image, Vec::new(), Vec::new());
    let n = usize::try_from(ctx.g.range(300, 24_000)).unwrap_or(1_000);
    let bytes = image_bytes(ctx, png, n);
    let mime = if png { "image/png" } else { "image/jpeg" };
    let resp = response(ctx, 200, mime, Body::Base64(bytes), Vec::new(), Vec::new());
    finish(ctx, req, resp, "image", Vec::new())
}

fn font(ctx: &mut Ctx) -> Entry {
    let url = format!("https://{CDN}/fonts/inter-var.{}.woff2", ctx.g.hex(16));
    let req = request(
        ctx,
        "GET",
        &url,
        Dest::Font,
        vec![nv("origin", format!("https://{APP}"))],
        Vec::new(),
    );
    let mut bytes = b"wOF2\0\x01\0\0".to_vec();
    let n = usize::try_from(ctx.g.range(2_000, 30_000)).unwrap_or(2_000);
    bytes.extend(ctx.g.bytes(n));
    let resp = response(
        ctx,
        200,
        "font/woff2",
        Body::Base64(bytes),
        vec![nv("access-control-allow-origin", "*")],
        Vec::new(),
    );
    finish(ctx, req, resp, "font", Vec::new())
}

/// A JSON:API-like document with ids, hashes, ETags and timestamps.
pub(super) fn api_json(ctx: &mut Ctx) -> String {
    let g = &mut ctx.g;
    let mut items = Vec::new();
    for _ in 0..g.range(1, 25) {
        items.push(serde_json::json!({
            "id": g.uuid(),
            "type": g.word(),
            "attributes": {
                "name": format!("{} {}", g.word(), g.range(1, 999)),
                "sha256": g.hex(64),
                "sha1": g.hex(40),
                "etag": format!("W/\"{}\"", g.hex(16)),
                "cache_key": format!("v3:{}:{}", g.word(), g.hex(32)),
                "created_at": g.now_iso(),
                "version": g.range(1, 60),
                "price_cents": g.range(100, 99_999),
                "thumbnail": format!("https://{CDN}/images/{}.{}.webp", g.hex(12), g.hex(8)),
            },
        }));
    }
    let doc = serde_json::json!({
        "data": items,
        "meta": {
            "request_id": format!("req_{}", g.base62(24)),
            "trace_id": g.hex(32),
            "page": g.range(1, 20),
            "per_page": 25,
            "total": g.range(25, 5_000),
            "generated_in_ms": g.range(1, 400),
        },
        "links": { "next": format!("https://{API}/v2/{}?page[cursor]={}", g.word(), g.b64url_chars(24)) },
    });
    doc.to_string()
}

fn api_get(ctx: &mut Ctx) -> Entry {
    let url = format!(
        "https://{API}/v2/{}?page={}&limit=25&include={}&_={}",
        ctx.g.word(),
        ctx.g.range(1, 20),
        ctx.g.word(),
        ctx.g.now_secs() * 1_000
    );
    let traceparent = format!("00-{}-{}-01", ctx.g.hex(32), ctx.g.hex(16));
    let etag = format!("W/\"{}\"", ctx.g.hex(16));
    let extra = vec![
        nv("traceparent", traceparent),
        nv("if-none-match", etag),
        nv("x-client-version", format!("web-{}", ctx.g.hex(7))),
    ];
    let req = request(ctx, "GET", &url, Dest::Fetch, extra, Vec::new());
    let body = api_json(ctx);
    let resp = response(
        ctx,
        200,
        "application/json; charset=utf-8",
        Body::Text(body),
        Vec::new(),
        Vec::new(),
    );
    finish(ctx, req, resp, "fetch", Vec::new())
}

fn api_post(ctx: &mut Ctx) -> Entry {
    let url = format!("https://{API}/v2/{}/{}", ctx.g.word(), ctx.g.uuid());
    let idem = ctx.g.uuid();
    let mut req = request(
        ctx,
        "POST",
        &url,
        Dest::Fetch,
        vec![
            nv("content-type", "application/json"),
            nv("idempotency-key", idem),
        ],
        Vec::new(),
    );
    let g = &mut ctx.g;
    let body = serde_json::json!({
        "op": "update",
        "item_id": g.uuid(),
        "quantity": g.range(1, 9),
        "client_ts": g.now_iso(),
        "checksum": g.hex(64),
        "note": format!("{} {}", g.word(), g.word()),
    })
    .to_string();
    req.body_size = i64::try_from(body.len()).unwrap_or(0);
    req.post_data = Some(super::model::PostData {
        mime_type: "application/json".to_owned(),
        text: body,
        params: Vec::new(),
    });
    let out = api_json(ctx);
    let resp = response(
        ctx,
        201,
        "application/json",
        Body::Text(out),
        Vec::new(),
        Vec::new(),
    );
    finish(ctx, req, resp, "fetch", Vec::new())
}

fn ga_collect(ctx: &mut Ctx) -> Entry {
    let cid = ctx
        .benign_cookies
        .first()
        .map(|(_, v)| v.trim_start_matches("GA1.2.").to_owned())
        .unwrap_or_default();
    let url = format!(
        "https://region1.google-analytics.com/g/collect?v=2&tid=G-{}&gtm=45je4{}&_p={}&cid={cid}&ul=en-us&sr=1920x1080&_s={}&sid={}&sct={}&seg=1&dl=https%3A%2F%2F{APP}%2F{}&dt={}&en=page_view&_ee=1",
        ctx.g.base32(10),
        ctx.g.alnum_lower(6),
        ctx.g.range(100_000_000, 2_000_000_000),
        ctx.g.range(1, 20),
        ctx.g.now_secs(),
        ctx.g.range(1, 30),
        ctx.g.word(),
        ctx.g.word()
    );
    let req = request(ctx, "POST", &url, Dest::Fetch, Vec::new(), Vec::new());
    let resp = response(ctx, 204, "text/plain", Body::Empty, Vec::new(), Vec::new());
    finish(ctx, req, resp, "ping", Vec::new())
}

fn segment(ctx: &mut Ctx) -> Entry {
    let url = "https://api.segment.io/v1/t".to_owned();
    let mut req = request(
        ctx,
        "POST",
        &url,
        Dest::Fetch,
        vec![nv("content-type", "text/plain")],
        Vec::new(),
    );
    let anon = ctx
        .benign_cookies
        .get(4)
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let g = &mut ctx.g;
    let body = serde_json::json!({
        "timestamp": g.now_iso(),
        "integrations": {},
        "type": "track",
        "event": format!("{} Viewed", g.word()),
        "properties": { "item": g.uuid(), "path": format!("/{}", g.word()) },
        "context": { "page": { "path": "/", "url": format!("https://{APP}/") }, "library": { "name": "analytics.js", "version": "next-1.64.0" } },
        "messageId": format!("ajs-next-{}", g.hex(32)),
        "anonymousId": anon,
        "sentAt": g.now_iso(),
    })
    .to_string();
    req.body_size = i64::try_from(body.len()).unwrap_or(0);
    req.post_data = Some(super::model::PostData {
        mime_type: "text/plain".to_owned(),
        text: body,
        params: Vec::new(),
    });
    let resp = response(
        ctx,
        200,
        "application/json",
        Body::Text("{\"success\":true}".to_owned()),
        Vec::new(),
        Vec::new(),
    );
    finish(ctx, req, resp, "fetch", Vec::new())
}

fn redirect(ctx: &mut Ctx) -> Entry {
    let url = format!("https://{APP}/{}", ctx.g.word());
    let req = request(ctx, "GET", &url, Dest::Document, Vec::new(), Vec::new());
    let location = format!(
        "https://{APP}/{}/?utm_source=newsletter&utm_campaign={}",
        ctx.g.word(),
        ctx.g.hex(8)
    );
    let mut resp = response(
        ctx,
        302,
        "text/html",
        Body::Empty,
        vec![nv("location", location.clone())],
        Vec::new(),
    );
    resp.redirect_url = location;
    finish(ctx, req, resp, "document", Vec::new())
}

fn preflight(ctx: &mut Ctx) -> Entry {
    let url = format!("https://{API}/v2/{}", ctx.g.word());
    let extra = vec![
        nv("access-control-request-method", "POST"),
        nv(
            "access-control-request-headers",
            "authorization,content-type,x-csrf-token",
        ),
        nv("origin", format!("https://{APP}")),
    ];
    let req = request(ctx, "OPTIONS", &url, Dest::Fetch, extra, Vec::new());
    let resp = response(
        ctx,
        204,
        "text/plain",
        Body::Empty,
        vec![
            nv(
                "access-control-allow-headers",
                "authorization,content-type,x-csrf-token",
            ),
            nv("access-control-max-age", "600"),
        ],
        Vec::new(),
    );
    finish(ctx, req, resp, "preflight", Vec::new())
}

fn websocket(ctx: &mut Ctx) -> Entry {
    let url = format!("wss://{APP}/realtime?v=2&client={}", ctx.g.uuid());
    let key = ctx.g.b64_of_random(16);
    let req = request(
        ctx,
        "GET",
        &url,
        Dest::Websocket,
        vec![
            nv("sec-websocket-key", key),
            nv("sec-websocket-version", "13"),
        ],
        Vec::new(),
    );
    let accept = ctx.g.b64_of_random(20);
    let mut resp = response(
        ctx,
        101,
        "x-unknown",
        Body::Empty,
        vec![
            nv("sec-websocket-accept", accept),
            nv("upgrade", "websocket"),
        ],
        Vec::new(),
    );
    resp.status_text = "Switching Protocols".to_owned();
    let mut ws = Vec::new();
    let t0 = ctx.g.now_secs() as f64;
    for i in 0..ctx.g.range(2, 12) {
        let data = serde_json::json!({"type": "presence", "seq": i, "room": ctx.g.uuid(), "ts": ctx.g.now_iso()}).to_string();
        ws.push(WsMessage {
            kind: if i % 2 == 0 { "send" } else { "receive" }.to_owned(),
            time: t0 + i as f64 * 0.5,
            opcode: 1,
            data,
        });
    }
    finish(ctx, req, resp, "websocket", ws)
}
