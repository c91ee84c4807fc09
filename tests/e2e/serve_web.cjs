// tests/e2e/serve_web.cjs — the web page of `ragdb serve` in headless
// Chromium, driven by playwright-core (run by test_serve_web.sh with
// BASE_URL, NPM_DIR and SHOT set): search as you type, a document holding
// HTML shown as text, ask with a streamed answer and clickable citations,
// upload a file and find it, delete it. Saves a screenshot to SHOT.
'use strict';
const assert = require('node:assert/strict');
const { createRequire } = require('node:module');
const { chromium } = createRequire(process.env.NPM_DIR + '/')('playwright-core');

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

(async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
                                          args: FLAGS, timeout: 60000 });
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  // Nothing may be fetched from anywhere but the server.
  const foreign = [];
  page.on('request', (r) => { if (!r.url().startsWith(process.env.BASE_URL)) foreign.push(r.url()); });
  page.setDefaultTimeout(20000);

  await page.goto(process.env.BASE_URL + '/');
  await page.waitForFunction(() => /documents/.test(document.getElementById('kb-info').textContent));

  // Search as you type: results appear without pressing a key beyond typing.
  await page.locator('#q').pressSequentially('rotate the API signing keys', { delay: 15 });
  await page.waitForSelector('#results li.result');
  const first = await page.locator('#results li.result .result-id').first().textContent();
  assert.equal(first, 'rotating-api-keys.md');
  // A result opens its passage.
  await page.locator('#results li.result').first().click();
  await page.waitForSelector('#passage[open]');
  assert.match(await page.locator('#passage-text').textContent(), /sign/i);
  await page.keyboard.press('Escape');

  // A document that holds HTML and script is shown as text, and runs nothing.
  await page.fill('#q', 'zebracorn xss marker');
  await page.waitForFunction(() => {
    const r = document.querySelector('#results li.result .result-id');
    return r && r.textContent === 'evil.html.txt';
  });
  const snippet = await page.locator('#results li.result .snippet').first().textContent();
  assert.ok(snippet.includes('<img src=x onerror='), 'the markup is visible as text: ' + snippet);
  assert.equal(await page.locator('#results img, #results script').count(), 0);
  assert.equal(await page.evaluate(() => window.__xss), undefined, 'no injected script ran');

  // Ask: the answer streams in with [n] citations that open the cited passage.
  await page.click('#tab-ask');
  await page.fill('#question', 'How do I rotate the API signing keys?');
  await page.click('#ask');
  await page.waitForSelector('#answer button.cite');
  await page.waitForFunction(() => /answered by/.test(document.getElementById('ask-status').textContent));
  const answer = await page.locator('#answer').textContent();
  assert.match(answer, /\[1\]/);
  assert.ok(await page.locator('#sources li').count() >= 1);
  await page.locator('#answer button.cite').first().click();
  await page.waitForSelector('#passage[open]');
  assert.match(await page.locator('#passage-title').textContent(), /^\[\d+\] /);
  assert.ok((await page.locator('#passage-text').textContent()).length > 20);
  await page.screenshot({ path: process.env.SHOT, fullPage: true });
  await page.keyboard.press('Escape');

  // Upload a file, see it listed, find it by search.
  await page.click('#tab-docs');
  await page.setInputFiles('#file', { name: 'greenhouse.md', mimeType: 'text/markdown',
    buffer: Buffer.from('# Greenhouse\n\nThe orchids in the greenhouse are misted at dawn.\n') });
  await page.click('#upload');
  await page.waitForFunction(() => /greenhouse\.md: added/.test(document.getElementById('upload-status').textContent));
  await page.waitForSelector('#docs tr[data-id="greenhouse.md"]');
  await page.click('#tab-search');
  await page.fill('#q', 'when are the orchids misted');
  await page.waitForFunction(() => {
    const r = document.querySelector('#results li.result .result-id');
    return r && r.textContent === 'greenhouse.md';
  });

  // Delete it from the list.
  await page.click('#tab-docs');
  page.once('dialog', (d) => d.accept());
  await page.locator('#docs tr[data-id="greenhouse.md"] button.delete').click();
  await page.waitForSelector('#docs tr[data-id="greenhouse.md"]', { state: 'detached' });
  assert.deepEqual(foreign, [], 'requests outside the server');
  assert.deepEqual(errors, [], 'errors in the page');
  // (This 404 is expected, so it comes after the page's error check.)
  const gone = await page.evaluate(async () => (await fetch('/v1/documents/greenhouse.md')).status);
  assert.equal(gone, 404);
  await browser.close();
  console.log('web page: search, escaping, ask with citations, upload, delete: ok');
})().catch((e) => { console.error(e); process.exit(1); });
