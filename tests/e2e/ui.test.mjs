// The web UI end to end: Debian's chromium, driven by playwright-core, against a real
// `hodos up --no-agent` serving the UI built into the binary, fed the known shop traces (see
// lib/shop_traces.mjs) by the real OpenTelemetry JS SDK. The first-run page, search (form, plot,
// list), the trace timeline (order, nesting, the error span, span detail), deep links on reload,
// the sources page, and how the binary serves the files (types, caching, SPA fallback).
// Screenshots of each page go to $HODOS_SCREENSHOT_DIR, by default ui-screenshots/ beside the
// hodos binary (build/ui-screenshots/).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { HODOS_BIN, makeTempDir, waitFor } from './lib/collector.mjs';
import { E2E_DIR } from './lib/deps.mjs';
import { HodosUp } from './lib/hodos_up.mjs';
import { sendShopTraces } from './lib/shop_traces.mjs';

const CHROMIUM = process.env.HODOS_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOTS = process.env.HODOS_SCREENSHOT_DIR ?? path.join(path.dirname(HODOS_BIN), 'ui-screenshots');

function loadPlaywright() {
  try {
    return createRequire(path.join(E2E_DIR, 'node', 'package.json'))('playwright-core');
  } catch (e) {
    throw new Error(`cannot load playwright-core (${e.code ?? e.message}): run \`make setup\` (npm ci in tests/e2e/node)`);
  }
}

describe('web UI in chromium', () => {
  const tmp = makeTempDir('ui');
  const up = new HodosUp({ name: 'ui', dir: tmp.dir });
  let browser;
  let page;
  let shop;
  const consoleErrors = [];

  before(async () => {
    // Never skip: a missing browser is a broken setup, not a pass.
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} not found: the UI tests need Debian's chromium; run \`make setup\` ` +
                      '(apt-get install chromium), or point HODOS_CHROMIUM at a Chromium binary');
    }
    const { chromium } = loadPlaywright();
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    await up.start();
    // As root, Chromium's sandbox cannot start; the page is our own UI.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(10000);
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
  });

  after(async () => {
    await browser?.close();
    const exit = await up.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, `hodos up exits 0 on SIGTERM:\n${up.tail()}`);
    tmp.remove();
  });

  const url = (p) => `${up.apiUrl}${p}`;
  const shot = (name) => page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
  const rowIds = () => page.locator('.trace-row').evaluateAll((rows) => rows.map((r) => r.dataset.traceId));
  const timelineRows = () => page.locator('.span-row').evaluateAll((rows) => rows.map((r) => ({
    id: r.dataset.spanId,
    depth: Number(r.dataset.depth),
    service: r.querySelector('.svc').textContent,
    op: r.querySelector('.op').textContent,
    error: r.classList.contains('error') && r.querySelector('.error-mark') !== null,
  })));

  it('serves the embedded files: types, caching, gzip, SPA fallback, never for /api', async () => {
    const index = await fetch(url('/'));
    const html = await index.text();
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    assert.match(index.headers.get('content-security-policy'), /default-src 'self'/);
    const etag = index.headers.get('etag');
    assert.equal((await fetch(url('/'), { headers: { 'if-none-match': etag } })).status, 304);

    const scripts = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
    assert.ok(scripts.some((s) => s.endsWith('.js')) && scripts.some((s) => s.endsWith('.css')), html);
    for (const asset of scripts) {
      const r = await fetch(url(asset)); // fetch asks for gzip and inflates it
      assert.equal(r.status, 200, asset);
      assert.equal(r.headers.get('content-type'), asset.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8');
      assert.equal(r.headers.get('cache-control'), 'public, max-age=31536000, immutable');
      assert.equal(r.headers.get('content-encoding'), 'gzip');
      assert.ok((await r.text()).length > 1000, asset);
    }
    // Page routes answer index.html (deep links); a missing file or API route does not.
    for (const route of ['/search?service=frontend', '/trace/0123abcd', '/sources']) {
      const r = await fetch(url(route));
      assert.equal(r.status, 200, route);
      assert.equal(await r.text(), html, route);
    }
    assert.equal((await fetch(url('/assets/index-missing.js'))).status, 404);
    const api = await fetch(url('/api/nope'));
    assert.equal(api.status, 404);
    assert.match(api.headers.get('content-type'), /^application\/json/);
    assert.equal((await fetch(url('/search'), { method: 'POST' })).status, 405);
  });

  it('first run: the empty page says how traces arrive, then shows the search once they do', async () => {
    await page.goto(url('/search'));
    const empty = page.locator('.empty-state');
    await empty.locator('.warn').waitFor(); // the agent's state arrives after the page
    const text = await empty.textContent();
    assert.match(text, /No traces yet/);
    assert.match(text, /agent is not running here \(hodos up runs with --no-agent\)/);
    assert.match(text, /OTEL_EXPORTER_OTLP_ENDPOINT=http:\/\/127\.0\.0\.1:4318/);
    await shot('empty-state');

    shop = await sendShopTraces({ grpcPort: up.ports.grpc, httpPort: up.ports.otlpHttp });
    // The page polls: no reload needed. The first service is preselected.
    await page.locator('form.search-form').waitFor({ timeout: 15000 });
    assert.equal(await page.locator('select[name=service]').inputValue(), 'frontend');
  });

  it('search runs from the URL: plot and list of the last hour, sortable, errors badged', async () => {
    await page.goto(url('/search?service=frontend'));
    await page.locator('.trace-row').first().waitFor();
    // D is 3 h old: outside the default lookback of 1h. Newest first.
    assert.deepEqual(await rowIds(), [shop.C.traceId, shop.B.traceId, shop.A.traceId]);
    const rowA = page.locator(`.trace-row[data-trace-id="${shop.A.traceId}"]`);
    const textA = await rowA.textContent();
    assert.match(textA, /frontend: GET \/checkout/);
    assert.match(textA, /1 error/);
    assert.match(textA, /100ms/);
    assert.match(textA, /frontend3payments2/); // services with span counts
    assert.match(textA, /5 spans/);
    assert.doesNotMatch(await page.locator(`.trace-row[data-trace-id="${shop.B.traceId}"]`).textContent(), /error/);

    await page.locator('.results-bar select').selectOption('longest');
    assert.deepEqual(await rowIds(), [shop.C.traceId, shop.A.traceId, shop.B.traceId]);
    await page.locator('.results-bar select').selectOption('errors');
    assert.equal((await rowIds())[0], shop.A.traceId);

    // A wider lookback finds D too.
    await page.locator('select[name=lookback]').selectOption('6h');
    await page.locator('button[type=submit]').click();
    await waitFor('the URL to carry the lookback', () => page.url().endsWith('/search?service=frontend&lookback=6h'));
    await waitFor('trace D in the list', async () => (await rowIds()).length === 4);
    await shot('search');
  });

  it('the form narrows by operation and tags and puts them in the URL', async () => {
    await page.goto(url('/search'));
    await page.locator('select[name=service]').selectOption('payments');
    await waitFor('the operations of payments', async () =>
      (await page.locator('select[name=operation] option').allTextContents()).includes('POST /pay'));
    await page.locator('select[name=operation]').selectOption('POST /pay');
    await page.locator('input[name=tags]').fill('error=true http.response.status_code=500');
    await page.locator('input[name=minDuration]').fill('50ms');
    await page.locator('button[type=submit]').click();
    await waitFor('the search URL', () => new URL(page.url()).search ===
      '?service=payments&operation=POST+%2Fpay&tags=error%3Dtrue+http.response.status_code%3D500&minDuration=50ms',
    { describe: () => page.url() });
    await waitFor('one result', async () => JSON.stringify(await rowIds()) === JSON.stringify([shop.A.traceId]));
    // A tag without "=" is refused in the form, naming it.
    await page.locator('input[name=tags]').fill('error=true oops');
    await page.locator('button[type=submit]').click();
    assert.match(await page.locator('.form-error').textContent(), /"oops" is not key=value/);
  });

  it('a point of the plot opens its trace', async () => {
    await page.goto(url('/search?service=frontend'));
    const plot = page.locator('.scatter');
    await waitFor('3 points drawn on the plot', async () =>
      /^(\w+@[\d.]+,[\d.]+ ?){3}$/.test((await plot.getAttribute('data-points')) ?? ''));
    const points = Object.fromEntries((await plot.getAttribute('data-points')).split(' ').map((p) => {
      const [id, xy] = p.split('@');
      return [id, xy.split(',').map(Number)];
    }));
    // C (1.5 s) is the highest point; A (100 ms, an error) sits above B (2 ms).
    assert.ok(points[shop.C.traceId][1] < points[shop.A.traceId][1], JSON.stringify(points));
    assert.ok(points[shop.A.traceId][1] < points[shop.B.traceId][1], JSON.stringify(points));
    const box = await page.locator('.scatter .u-over').boundingBox();
    const [x, y] = points[shop.A.traceId];
    await page.mouse.click(box.x + x, box.y + y);
    await waitFor('the trace page of A', () => new URL(page.url()).pathname === `/trace/${shop.A.traceId}`);
    await page.locator('.span-row').first().waitFor();
  });

  it('the trace page shows every span in order, nested, the error marked, and a span\'s detail', async () => {
    const A = shop.A.spans;
    assert.deepEqual(await timelineRows(), [
      { id: A.root.spanId, depth: 0, service: 'frontend', op: 'GET /checkout', error: false },
      { id: A.payClient.spanId, depth: 1, service: 'frontend', op: 'POST /pay', error: false },
      { id: A.payServer.spanId, depth: 2, service: 'payments', op: 'POST /pay', error: true },
      { id: A.db.spanId, depth: 3, service: 'payments', op: 'SELECT payments', error: false },
      { id: A.render.spanId, depth: 1, service: 'frontend', op: 'render', error: false },
    ]);
    assert.equal(await page.locator('[data-testid=trace-id]').textContent(), shop.A.traceId);
    assert.equal(await page.locator('[data-testid=trace-duration]').textContent(), '100ms');
    assert.equal(await page.locator('[data-testid=trace-depth]').textContent(), '4');
    assert.equal(await page.locator('[data-testid=trace-span-count]').textContent(), '5');
    // Bars sit on the trace's time axis: POST /pay (payments) starts 15 ms into 100 ms and lasts 60.
    const bar = await page.locator(`.span-row[data-span-id="${A.payServer.spanId}"] .span-bar`).evaluate((b) => [b.style.left, b.style.width]);
    assert.deepEqual(bar.map((v) => Math.round(parseFloat(v))), [15, 60]);

    await page.locator(`.span-row[data-span-id="${A.payServer.spanId}"]`).click();
    const detail = page.locator('.span-detail');
    await detail.waitFor();
    await waitFor('the span in the URL', () => new URL(page.url()).search === `?span=${A.payServer.spanId}`);
    const attr = (table, key) => detail.locator(`table[aria-label="${table}"] tr[data-key="${key}"] td`).textContent();
    assert.equal(await attr('Attributes', 'http.request.method'), 'POST');
    assert.equal(await attr('Attributes', 'http.response.status_code'), '500');
    assert.equal(await attr('Resource', 'service.name'), 'payments');
    assert.equal(await attr('Resource', 'host.name'), 'pay-1');
    assert.equal(await detail.locator('[data-testid=span-status]').textContent(), 'ERROR: card declined');
    const events = await detail.locator('.events > li').allTextContents();
    assert.equal(events.length, 2);
    assert.match(events[0], /^retry \+25ms into the span.*attempt2/);
    assert.match(events[1], /^exception \+55ms into the span.*exception\.typeCardError/);
    await shot('trace');

    // Collapsing POST /pay (frontend) hides its two descendants; the keyboard opens it again.
    await page.locator(`.span-row[data-span-id="${A.payClient.spanId}"] button.toggle`).click();
    assert.deepEqual((await timelineRows()).map((r) => r.op), ['GET /checkout', 'POST /pay', 'render']);
    await page.locator(`.span-row[data-span-id="${A.payClient.spanId}"]`).click();
    await page.locator('.timeline-rows').focus();
    await page.keyboard.press('ArrowRight');
    assert.equal((await timelineRows()).length, 5);
    await page.keyboard.press('ArrowDown');
    await waitFor('the keyboard to select the next span', () => new URL(page.url()).search === `?span=${A.payServer.spanId}`);
  });

  it('deep links load on reload, and an unknown trace says so', async () => {
    await page.reload();
    await page.locator('.span-detail').waitFor();
    assert.equal(await page.locator('.span-row.selected').getAttribute('data-span-id'), shop.A.spans.payServer.spanId);
    assert.equal((await timelineRows()).length, 5);

    await page.goto(url('/search?service=payments&tags=error%3Dtrue'));
    await waitFor('the deep-linked search', async () => JSON.stringify(await rowIds()) === JSON.stringify([shop.A.traceId]));
    assert.equal(await page.locator('input[name=tags]').inputValue(), 'error=true');
    await page.reload();
    await waitFor('the same search after reload', async () => JSON.stringify(await rowIds()) === JSON.stringify([shop.A.traceId]));

    await page.goto(url(`/trace/${shop.D.traceId}`));
    await waitFor('trace D', async () => (await timelineRows()).map((r) => r.service).join() === 'frontend,inventory');
    await page.goto(url('/trace/0123456789abcdef0123456789abcdef'));
    assert.match(await page.locator('.error-box').textContent(), /No trace with this id is stored/);
  });

  it('the sources page says the agent is off', async () => {
    await page.goto(url('/sources'));
    const warn = page.locator('.warn-box');
    await warn.waitFor();
    assert.match(await warn.textContent(), /agent is not running: hodos up runs with --no-agent/);
    await shot('sources');
    assert.deepEqual(consoleErrors.filter((e) => !/404 \(Not Found\)/.test(e)), [], 'no script errors in the pages');
  });
});
