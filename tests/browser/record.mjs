// Drives headless Chromium (playwright-core, system Chromium) through the test
// app and records a HAR with embedded content, as a customer would before
// uploading it to a support case.
//
// Usage: APP_PASSWORD=... node record.mjs BASEURL OUT.har
// Env: CHROMIUM (default /usr/bin/chromium).
import { chromium } from 'playwright-core';

const [base, out] = process.argv.slice(2);
const password = process.env.APP_PASSWORD;
if (!base || !out || !password) {
  console.error('usage: APP_PASSWORD=... node record.mjs BASEURL OUT.har');
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
    '--no-first-run', '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ recordHar: { path: out, content: 'embed' } });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  await page.goto(base);
  await page.fill('#username', 'admin@example.test');
  await page.fill('#password', password);
  await Promise.all([page.waitForURL('**/dashboard'), page.click('#submit')]);
  await page.waitForSelector('#done', { state: 'attached' });
  await page.waitForFunction(() => !document.getElementById('done').hidden);
  const dash = await page.textContent('#out');
  await page.click('#connect');
  await page.waitForURL('**/oauth/callback**');
  await page.waitForFunction(() => document.getElementById('done') && !document.getElementById('done').hidden);
  const cb = await page.textContent('#out');
  await context.close(); // writes the HAR
  console.log(JSON.stringify({ dashboard: dash.trim(), callback: cb.trim() }));
  if (!dash.includes('me:200') || !dash.includes('data:200') || !cb.includes('token:200') || !cb.includes('data:200')) {
    console.error('record.mjs: the app did not authenticate the browser as expected');
    process.exitCode = 1;
  }
} finally {
  await browser.close();
}
