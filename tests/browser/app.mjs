// A small local web app that issues real credentials, for custody's real-browser
// capture-and-replay test. Node's `http` module only, no framework.
//
// Usage: APP_PASSWORD=... ISSUED_SECRETS_FILE=/tmp/issued.jsonl node app.mjs
// Listens on 127.0.0.1 on an ephemeral port and prints one JSON line:
//   {"listening":"http://127.0.0.1:PORT"}
// Every credential it issues or receives (session cookie, CSRF token, bearer
// tokens, OAuth code/state, refresh token, the login password) is appended to
// ISSUED_SECRETS_FILE as a JSON line {"kind": ..., "value": ...}, so the test can
// assert that none of them survives sanitization. Values are never printed.
//
// Routes:
//   GET  /                  login form (username/password + CSRF hidden input)
//   POST /login             checks CSRF and password, sets `sid` (HttpOnly) cookie
//   GET  /dashboard         page whose JS gets a bearer and calls the APIs
//   GET  /api/me            200 with a valid `sid` cookie, else 401
//   POST /api/token         cookie-authenticated; {"access_token","token_type":"Bearer"}
//   GET  /api/data          200 with a valid `Authorization: Bearer`, else 401
//   GET  /oauth/authorize   302 to /oauth/callback?code=...&state=...
//   GET  /oauth/callback    page whose JS exchanges the code at /oauth/token
//   POST /oauth/token       form post (grant_type=authorization_code, code,
//                           code_verifier) -> access/refresh token JSON
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';

const USER = 'admin@example.test';
const PASSWORD = process.env.APP_PASSWORD;
const ISSUED = process.env.ISSUED_SECRETS_FILE;
if (!PASSWORD || !ISSUED) {
  console.error('app.mjs: APP_PASSWORD and ISSUED_SECRETS_FILE must be set');
  process.exit(2);
}

const sessions = new Set();
const csrfTokens = new Set();
const bearers = new Set();
const codes = new Map(); // code -> {state, challenge}

function issue(kind, value) {
  fs.appendFileSync(ISSUED, JSON.stringify({ kind, value }) + '\n');
  return value;
}
issue('password', PASSWORD);

const random = (n = 32) => crypto.randomBytes(n).toString('base64url');

function cookies(req) {
  const out = {};
  for (const part of (req.headers.cookie || '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

function body(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > 1 << 20) {
        reject(new Error('body too large'));
        req.destroy();
      } else {
        chunks.push(c);
      }
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res, status, type, text, headers = {}) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...headers });
  res.end(text);
}
const json = (res, status, obj) => send(res, status, 'application/json', JSON.stringify(obj));
const html = (res, title, inner) =>
  send(res, 200, 'text/html; charset=utf-8', `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body>${inner}</body></html>`);

const authed = (req) => sessions.has(cookies(req).sid);
function bearer(req) {
  const m = /^Bearer (.+)$/.exec(req.headers.authorization || '');
  return m && bearers.has(m[1]);
}

const DASHBOARD_JS = `
(async () => {
  const out = document.getElementById('out');
  const me = await fetch('/api/me');
  out.textContent += 'me:' + me.status + ' ';
  const tok = await (await fetch('/api/token', { method: 'POST' })).json();
  const data = await fetch('/api/data', { headers: { Authorization: 'Bearer ' + tok.access_token } });
  out.textContent += 'data:' + data.status;
  document.getElementById('done').hidden = false;
})();`;

const CALLBACK_JS = `
(async () => {
  const params = new URLSearchParams(location.search);
  const form = new URLSearchParams({ grant_type: 'authorization_code', code: params.get('code'),
    code_verifier: sessionStorage.getItem('pkce') || '', redirect_uri: location.origin + '/oauth/callback' });
  const res = await fetch('/oauth/token', { method: 'POST', body: form });
  const tok = await res.json();
  const data = await fetch('/api/data', { headers: { Authorization: 'Bearer ' + tok.access_token } });
  document.getElementById('out').textContent = 'token:' + res.status + ' data:' + data.status;
  document.getElementById('done').hidden = false;
})();`;

async function route(req, res) {
  const url = new URL(req.url, 'http://127.0.0.1');
  const path = url.pathname;
  if (req.method === 'GET' && path === '/') {
    const csrf = issue('csrf', random());
    csrfTokens.add(csrf);
    return html(res, 'Sign in', `<h1>Sign in</h1><form method="post" action="/login">
<input type="hidden" name="csrf_token" value="${csrf}">
<label>Username <input id="username" name="username"></label>
<label>Password <input id="password" name="password" type="password"></label>
<button id="submit" type="submit">Sign in</button></form>`);
  }
  if (req.method === 'POST' && path === '/login') {
    const form = new URLSearchParams(await body(req));
    if (!csrfTokens.delete(form.get('csrf_token'))) return send(res, 403, 'text/plain', 'bad csrf');
    if (form.get('username') !== USER || form.get('password') !== PASSWORD) return send(res, 401, 'text/plain', 'bad login');
    const sid = issue('session_cookie', random());
    sessions.add(sid);
    return send(res, 302, 'text/plain', 'ok', {
      'set-cookie': [`sid=${sid}; Path=/; HttpOnly; SameSite=Lax`, 'theme=light; Path=/'],
      location: '/dashboard',
    });
  }
  if (req.method === 'GET' && path === '/dashboard') {
    if (!authed(req)) return send(res, 302, 'text/plain', 'login', { location: '/' });
    return html(res, 'Dashboard', `<h1>Dashboard</h1><p id="out"></p><p id="done" hidden>done</p>
<a id="connect" href="/oauth/start">Connect app</a><script>${DASHBOARD_JS}</script>`);
  }
  if (req.method === 'GET' && path === '/oauth/start') {
    // The browser-side PKCE verifier lives in sessionStorage; its S256 challenge goes to /authorize.
    return html(res, 'Connecting', `<script>
(async () => {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const verifier = btoa(String.fromCharCode(...bytes)).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  sessionStorage.setItem('pkce', verifier);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const challenge = btoa(String.fromCharCode(...digest)).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  const state = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16)))).replace(/[+/=]/g, 'x');
  location.href = '/oauth/authorize?client_id=demo&response_type=code&state=' + state + '&code_challenge=' + challenge + '&code_challenge_method=S256';
})();</script>`);
  }
  if (req.method === 'GET' && path === '/oauth/authorize') {
    if (!authed(req)) return send(res, 401, 'text/plain', 'login first');
    const code = issue('oauth_code', random());
    const state = url.searchParams.get('state') || '';
    issue('oauth_state', state);
    codes.set(code, { challenge: url.searchParams.get('code_challenge') || '' });
    return send(res, 302, 'text/plain', 'redirect', { location: `/oauth/callback?code=${code}&state=${encodeURIComponent(state)}` });
  }
  if (req.method === 'GET' && path === '/oauth/callback') {
    return html(res, 'Callback', `<p id="out"></p><p id="done" hidden>done</p><script>${CALLBACK_JS}</script>`);
  }
  if (req.method === 'POST' && path === '/oauth/token') {
    const form = new URLSearchParams(await body(req));
    const verifier = form.get('code_verifier') || '';
    if (verifier) issue('pkce_verifier', verifier);
    const entry = codes.get(form.get('code'));
    const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
    if (form.get('grant_type') !== 'authorization_code' || !entry || entry.challenge !== challenge) {
      return json(res, 400, { error: 'invalid_grant' });
    }
    codes.delete(form.get('code')); // single use, as a real authorization server
    const access = issue('oauth_access_token', random());
    const refresh = issue('refresh_token', random());
    bearers.add(access);
    return json(res, 200, { access_token: access, token_type: 'Bearer', expires_in: 3600, refresh_token: refresh, scope: 'read' });
  }
  if (req.method === 'GET' && path === '/api/me') {
    if (!authed(req)) return json(res, 401, { error: 'unauthorized' });
    return json(res, 200, { user: USER, roles: ['admin'] });
  }
  if (req.method === 'POST' && path === '/api/token') {
    if (!authed(req)) return json(res, 401, { error: 'unauthorized' });
    const token = issue('access_token', random());
    bearers.add(token);
    return json(res, 200, { access_token: token, token_type: 'Bearer', expires_in: 3600 });
  }
  if (req.method === 'GET' && path === '/api/data') {
    if (!bearer(req)) return json(res, 401, { error: 'unauthorized' });
    return json(res, 200, { items: [{ id: crypto.randomUUID(), name: 'report' }] });
  }
  if (path === '/favicon.ico') return send(res, 404, 'text/plain', 'none');
  return send(res, 404, 'text/plain', 'not found');
}

const server = http.createServer((req, res) => {
  route(req, res).catch(() => {
    if (!res.headersSent) send(res, 500, 'text/plain', 'error');
  });
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  console.log(JSON.stringify({ listening: `http://127.0.0.1:${port}` }));
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
