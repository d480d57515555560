// Extracts every credential a HAR holds for the test app and replays the
// authenticated requests with it, as an attacker holding the HAR would.
//
// Usage: node replay.mjs FILE.har BASEURL
// Prints one JSON object: {"attempts": N, "accepted": N, "refused": N,
// "replays": [{"via", "name", "fp", "status", "accepted"}]}. Credential values
// are never printed: `fp` is the first 12 hex digits of their SHA-256.
//
// Sources: request Cookie headers and cookies[] arrays, response Set-Cookie
// headers and cookies[]; Authorization: Bearer headers; JSON bodies (request and
// response, base64 or not) with access_token / token / id_token members; OAuth
// `code` query parameters. Replays: every cookie -> GET /api/me; every bearer ->
// GET /api/data; every code -> POST /oauth/token (codes are single use, so these
// are reported but the test does not count on them).
import fs from 'node:fs';
import crypto from 'node:crypto';

const [file, base] = process.argv.slice(2);
if (!file || !base) {
  console.error('usage: node replay.mjs FILE.har BASEURL');
  process.exit(2);
}
const har = JSON.parse(fs.readFileSync(file, 'utf8'));
const entries = (har.log && har.log.entries) || [];

const cookies = new Map(); // "name=value" -> name
const bearers = new Set();
const codes = new Set();
const header = (list, name) => (list || []).filter((h) => h.name.toLowerCase() === name);

function tokensFromJson(text) {
  let v;
  try { v = JSON.parse(text); } catch { return; }
  const walk = (x) => {
    if (x && typeof x === 'object') {
      for (const [k, val] of Object.entries(x)) {
        if (typeof val === 'string' && /^(access_token|token|id_token)$/i.test(k)) bearers.add(val);
        else walk(val);
      }
    }
  };
  walk(v);
}

for (const e of entries) {
  const rq = e.request || {};
  const rs = e.response || {};
  for (const h of header(rq.headers, 'cookie')) {
    for (const part of String(h.value).split(';')) {
      const i = part.indexOf('=');
      if (i > 0) cookies.set(part.trim(), part.slice(0, i).trim());
    }
  }
  for (const c of [...(rq.cookies || []), ...(rs.cookies || [])]) cookies.set(`${c.name}=${c.value}`, c.name);
  for (const h of header(rs.headers, 'set-cookie')) {
    for (const line of String(h.value).split('\n')) {
      const first = line.split(';')[0];
      const i = first.indexOf('=');
      if (i > 0) cookies.set(first.trim(), first.slice(0, i).trim());
    }
  }
  for (const h of header(rq.headers, 'authorization')) {
    const m = /^Bearer\s+(.+)$/i.exec(String(h.value));
    if (m) bearers.add(m[1]);
  }
  if (rq.postData && rq.postData.text) tokensFromJson(rq.postData.text);
  const content = rs.content || {};
  if (content.text) {
    tokensFromJson(content.encoding === 'base64' ? Buffer.from(content.text, 'base64').toString('utf8') : content.text);
  }
  try {
    const code = new URL(rq.url).searchParams.get('code');
    if (code) codes.add(code);
  } catch { /* not a URL: nothing to take */ }
}

const fp = (v) => crypto.createHash('sha256').update(v).digest('hex').slice(0, 12);
const replays = [];
async function attempt(via, name, value, url, init) {
  let status = 0;
  try {
    status = (await fetch(url, init)).status;
  } catch {
    status = -1; // the header value could not even be sent (e.g. not a valid header)
  }
  replays.push({ via, name, fp: fp(value), status, accepted: status === 200 });
}

for (const [pair, name] of cookies) {
  await attempt('cookie', name, pair, `${base}/api/me`, { headers: { cookie: pair } });
}
for (const token of bearers) {
  await attempt('bearer', 'authorization', token, `${base}/api/data`, { headers: { authorization: `Bearer ${token}` } });
}
for (const code of codes) {
  await attempt('code', 'code', code, `${base}/oauth/token`, {
    method: 'POST', body: new URLSearchParams({ grant_type: 'authorization_code', code }),
  });
}
const accepted = replays.filter((r) => r.accepted).length;
console.log(JSON.stringify({ attempts: replays.length, accepted, refused: replays.length - accepted, replays }));
