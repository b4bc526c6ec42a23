// The web UI end to end: Debian's chromium, driven by playwright-core, against a real
// `hodos up --no-agent` serving the UI built into the binary, fed the known shop traces (see
// lib/shop_traces.mjs) by the real OpenTelemetry JS SDK. The first-run page, search (form, plot,
// list), the trace timeline (order, nesting, the error span, span detail, critical path), deep
// links on reload, the service map, the services overview, the sources page (a saved choice of a
// service not running enabled again), adding a destination (then listed by `hodos destinations
// list`), accessibility (every control named, the trace page by keyboard alone, visible focus, text
// contrast), the token page of an API off loopback, and how the binary serves the files (types,
// caching, SPA fallback).
// Screenshots of each page go to $HODOS_SCREENSHOT_DIR, by default ui-screenshots/ beside the
// hodos binary (build/ui-screenshots/).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { HODOS_BIN, freePort, makeTempDir, waitFor } from './lib/collector.mjs';
import { CHROMIUM, loadPlaywright, lowContrastText, unnamedControls } from './lib/browser.mjs';
import { HodosUp } from './lib/hodos_up.mjs';
import { sendShopTraces } from './lib/shop_traces.mjs';

const SCREENSHOTS = process.env.HODOS_SCREENSHOT_DIR ?? path.join(path.dirname(HODOS_BIN), 'ui-screenshots');


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
    // Choices saved by an earlier run (the format of docs/agent.md#sources): with --no-agent no
    // process runs, so the sources page lists them as choices of services not running now.
    fs.mkdirSync(up.dataDir, { recursive: true });
    fs.writeFileSync(path.join(up.dataDir, 'sources.json'),
                     JSON.stringify({ version: 1, sources: { 'http.server': { enabled: false }, app: { name: 'web' } } }));
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
    for (const route of ['/search?service=frontend', '/trace/0123abcd', '/sources', '/map?lookback=6h', '/services']) {
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

  it('the trace page marks the critical path', async () => {
    const A = shop.A.spans;
    await page.goto(url(`/trace/${shop.A.traceId}`));
    await page.locator('.span-row').first().waitFor();
    // Every span of A is on the path at some moment; the root only where no child runs:
    // 0-10 ms (before POST /pay), 80-85 (between POST /pay and render), 95-100 (after render).
    const critical = () => page.locator('.span-row.critical').evaluateAll((rows) => rows.map((r) => r.dataset.spanId));
    assert.deepEqual(await critical(), [A.root.spanId, A.payClient.spanId, A.payServer.spanId, A.db.spanId, A.render.spanId]);
    const sections = (id) => page.locator(`.span-row[data-span-id="${id}"] .cp-section`).evaluateAll((els) =>
      els.map((e) => [Math.round(parseFloat(e.style.left)), Math.round(parseFloat(e.style.width))]));
    assert.deepEqual(await sections(A.root.spanId), [[0, 10], [80, 5], [95, 5]]);
    // The payments server span (15-75 ms) waits on its query (20-30) in between.
    assert.deepEqual(await sections(A.payServer.spanId), [[15, 5], [30, 45]]);
    assert.deepEqual(await sections(A.db.spanId), [[20, 10]]);
    assert.match(await page.locator('.timeline-tools').textContent(), /5 of 5 spans/);
    await page.locator('input[name=critical-path]').uncheck();
    assert.equal(await page.locator('.cp-section').count(), 0);
    assert.equal(await page.locator('.span-row.critical').count(), 0);
  });

  it('the service map shows the services and their calls, coloured by health; a node opens its search', async () => {
    // 6 hours: trace D (3 h old) adds inventory.
    await page.goto(url('/map?lookback=6h'));
    const canvas = page.locator('.map-canvas[data-ready=true]');
    await canvas.waitFor();
    const graph = () => canvas.evaluate((el) => ({
      nodes: el.cy.nodes().map((n) => ({ id: n.id(), calls: n.data('calls'), health: n.data('health'), size: n.data('size') })),
      edges: el.cy.edges().map((e) => ({ from: e.source().id(), to: e.target().id(), label: e.data('label'), health: e.data('health') })),
    }));
    const g = await graph();
    // frontend handled A, B, C and D; payments one failed call; inventory one call.
    assert.deepEqual(g.nodes, [
      { id: 'frontend', calls: 4, health: 'ok', size: 90 },
      { id: 'inventory', calls: 1, health: 'ok', size: 62 },
      { id: 'payments', calls: 1, health: 'failing', size: 62 },
      // No spans of its own: measured by the one call payments made to it.
      { id: 'postgresql', calls: 1, health: 'ok', size: 62 },
    ]);
    assert.deepEqual(g.edges, [
      { from: 'frontend', to: 'inventory', label: '1 call', health: 'ok' },
      { from: 'frontend', to: 'payments', label: '1 call · 100% err', health: 'failing' },
      { from: 'payments', to: 'postgresql', label: '1 call', health: 'ok' },
    ]);
    // The same in the tables beside the graph.
    const table = (name) => page.locator(`table[aria-label="${name}"] tbody tr`).evaluateAll((rows) =>
      rows.map((r) => [...r.querySelectorAll('th, td')].map((c) => c.textContent.trim())));
    assert.deepEqual(await table('Calls between services'), [['frontend', 'inventory', '1', '0%'], ['frontend', 'payments', '1', '100%'],
                                                           ['payments', 'postgresql', '1', '0%']]);
    assert.deepEqual((await table('Services on the map')).map((r) => [r[0], r[1], r[3], r[4]]), [
      ['frontend', '4', '0%', 'ok'], ['inventory', '1', '0%', 'ok'], ['payments', '1', '100%', 'failing'],
      ['postgresql', '1', '0%', 'ok'],
    ]);
    // Left to right: the caller before its callees.
    const xs = await canvas.evaluate((el) => Object.fromEntries(el.cy.nodes().map((n) => [n.id(), n.position('x')])));
    assert.ok(xs.frontend < xs.payments && xs.frontend < xs.inventory, JSON.stringify(xs));
    await shot('map');

    // The default window (1 h) leaves D out; reloading keeps the window of the URL.
    await page.goto(url('/map'));
    await waitFor('the 1-hour map', async () => {
      const h = await page.locator('.map-canvas[data-ready=true]').evaluate((el) => el.cy.nodes().map((n) => n.id()).join()).catch(() => '');
      return h === 'frontend,payments,postgresql';
    });
    await page.goto(url('/map?lookback=6h'));
    await page.reload();
    await waitFor('the 6-hour map after reload', async () =>
      (await page.locator('.map-canvas[data-ready=true]').evaluate((el) => el.cy.nodes().length).catch(() => 0)) === 4);
    assert.equal(await page.locator('select[name=lookback]').inputValue(), '6h');

    // A click on the payments node opens its search over the same window.
    const box = await canvas.boundingBox();
    const pos = await canvas.evaluate((el) => el.cy.getElementById('payments').renderedPosition());
    await page.mouse.click(box.x + pos.x, box.y + pos.y);
    await waitFor('the search of payments', () => new URL(page.url()).pathname + new URL(page.url()).search === '/search?service=payments&lookback=6h',
      { describe: () => page.url() });
    await waitFor('its trace', async () => JSON.stringify(await rowIds()) === JSON.stringify([shop.A.traceId]));
  });

  it('the services page shows rate, errors and p50/p99 over the window, with sparklines', async () => {
    await page.goto(url('/services'));
    await page.locator('.services-table tbody tr').first().waitFor();
    const rows = await page.locator('.services-table tbody tr').evaluateAll((trs) => trs.map((tr) => ({
      service: tr.dataset.service,
      health: tr.dataset.health,
      ...Object.fromEntries([...tr.querySelectorAll('[data-metric]')].map((td) => [td.dataset.metric, Number(td.dataset.value)])),
      sparklines: [...tr.querySelectorAll('.sparkline')].map((s) => Number(s.dataset.points)),
      charts: tr.querySelectorAll('.sparkline canvas').length,
      text: tr.textContent,
    })));
    assert.deepEqual(rows.map((r) => r.service), ['frontend', 'inventory', 'payments']);
    const [frontend, inventory, payments] = rows;
    // frontend: A (100 ms), B (2 ms), C (1.5 s) in the last hour, none failed.
    assert.equal(frontend.calls, 3);
    assert.equal(frontend.errors, 0);
    assert.equal(frontend.health, 'ok');
    // Quantiles come from a histogram with √2-wide buckets.
    assert.ok(frontend.p50 > 100 / Math.SQRT2 && frontend.p50 < 100 * Math.SQRT2, `p50 ${frontend.p50}`);
    assert.ok(frontend.p99 > 1500 / Math.SQRT2 && frontend.p99 < 1500 * Math.SQRT2, `p99 ${frontend.p99}`);
    assert.equal(frontend.charts, 4);
    // ~30 points over the hour for the rate; the error and latency points only where there were calls.
    assert.ok(frontend.sparklines[0] >= 25, `rate points ${frontend.sparklines}`);
    assert.ok(frontend.sparklines.slice(1).every((n) => n >= 1), `points ${frontend.sparklines}`);
    // payments: one call, failed, 60 ms.
    assert.equal(payments.calls, 1);
    assert.equal(payments.errors, 1);
    assert.equal(payments.health, 'failing');
    assert.match(payments.text, /100%/);
    assert.ok(payments.p50 > 60 / Math.SQRT2 && payments.p50 < 60 * Math.SQRT2, `p50 ${payments.p50}`);
    // inventory's only call is 3 hours old.
    assert.match(inventory.text, /no calls in this window/);
    await shot('services');

    await page.locator('select[name=lookback]').selectOption('6h');
    await waitFor('the 6-hour window in the URL', () => new URL(page.url()).search === '?lookback=6h');
    await waitFor('inventory\'s call', async () =>
      (await page.locator('tr[data-service=inventory] [data-metric=calls]').getAttribute('data-value').catch(() => null)) === '1');
    await page.locator('tr[data-service=frontend] a').click();
    await waitFor('the search of frontend', () => new URL(page.url()).pathname + new URL(page.url()).search === '/search?service=frontend&lookback=6h');
    await waitFor('its 4 traces', async () => (await rowIds()).length === 4);
  });

  it('a destination added with the destinations page is listed by `hodos destinations list`', async () => {
    const closed = await freePort();
    await page.goto(url('/destinations'));
    await page.locator('.status-indicator[data-status=ok]').waitFor();
    await page.locator('select[name=kind]').selectOption('otlphttp');
    await page.locator('input[name=name]').fill('ui-dest');
    await page.locator('input[name=endpoint]').fill(`http://127.0.0.1:${closed}`);
    await page.getByRole('button', { name: 'Test connection' }).click();
    assert.match(await page.locator('.dest-form [data-test-ok=false]').textContent(),
                 /Test failed \(connection_refused\): connection refused/);
    await page.getByRole('button', { name: 'Add destination' }).click();
    await page.locator('tr[data-destination=ui-dest]').waitFor();
    await shot('destinations');
    const list = await new Promise((resolve) => execFile(HODOS_BIN, ['destinations', 'list', '--api', up.apiUrl],
      (error, stdout, stderr) => resolve({ code: error ? error.code : 0, stdout, stderr })));
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`^ui-dest +otlphttp +http://127\\.0\\.0\\.1:${closed}/v1/traces `, 'm'));
    await page.locator('tr[data-destination=ui-dest]').getByRole('button', { name: 'Remove' }).click();
    await page.locator('tr[data-destination=ui-dest]').waitFor({ state: 'detached' });
    assert.deepEqual((await up.json('/api/v1/destinations')).destinations, []);
  });

  it('the sources page says the agent is off and enables a saved service again', async () => {
    await page.goto(url('/sources'));
    const warn = page.locator('.warn-box');
    await warn.waitFor();
    assert.match(await warn.textContent(), /agent is not running: hodos up runs with --no-agent/);
    const saved = () => page.locator('.saved-choices tbody tr').evaluateAll((rows) => rows.map((r) => ({
      service: r.dataset.saved,
      choice: r.children[1].textContent,
      action: r.querySelector('button').textContent,
    })));
    await page.locator('.saved-choices tbody tr').first().waitFor();
    assert.deepEqual(await saved(), [
      { service: 'app', choice: 'renamed to web', action: 'Disable' },
      { service: 'http.server', choice: 'disabled', action: 'Enable' },
    ]);
    await shot('sources');

    await page.getByRole('button', { name: 'Enable http.server' }).click();
    assert.match(await page.locator('.notice').textContent(),
                 /^enable http\.server: saved; the agent is not running \(hodos up runs with --no-agent\), so it applies from its next start\.$/);
    await waitFor('the row to show the new choice', async () =>
      JSON.stringify((await saved())[1]) === JSON.stringify({ service: 'http.server', choice: 'enabled', action: 'Disable' }),
    { describe: async () => JSON.stringify(await saved()) });
    // Saved for the agent's next start: in the API and on disk.
    assert.deepEqual((await up.json('/api/v1/sources')).saved, { 'http.server': { enabled: true }, app: { name: 'web' } });
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(up.dataDir, 'sources.json'), 'utf8')).sources,
                     { 'http.server': { enabled: true }, app: { name: 'web' } });
  });

  it('every control on every page has an accessible name, and text has AA contrast', async () => {
    const pages = {
      '/search?service=frontend': () => page.locator('.trace-row').first().waitFor(),
      [`/trace/${shop.A.traceId}?span=${shop.A.spans.payServer.spanId}`]: () => page.locator('.span-detail').waitFor(),
      '/map?lookback=6h': () => page.locator('.map-canvas[data-ready=true]').waitFor(),
      '/services': () => page.locator('.services-table tbody tr').first().waitFor(),
      '/sources': () => page.locator('.saved-choices tbody tr').first().waitFor(),
      '/destinations': () => page.locator('select[name=kind]').waitFor(),
    };
    for (const [route, ready] of Object.entries(pages)) {
      await page.goto(url(route));
      await ready();
      assert.deepEqual(await unnamedControls(page), [], `controls without a name on ${route}`);
      assert.deepEqual(await lowContrastText(page), [], `text below AA contrast on ${route}`);
    }
  });

  it('the trace page works by keyboard alone, with the focus always visible', async () => {
    const A = shop.A.spans;
    await page.goto(url(`/trace/${shop.A.traceId}`));
    await page.locator('.span-row').first().waitFor();
    // Tab from the top of the page to the span tree; every stop shows where the focus is.
    const focused = () => page.evaluate(() => {
      const el = document.activeElement;
      const style = getComputedStyle(el);
      return { role: el.getAttribute('role'), tag: el.tagName, name: el.getAttribute('aria-label') ?? el.textContent.trim().slice(0, 30),
               outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 1 };
    });
    const stops = [];
    for (let i = 0; i < 30; i++) {
      await page.keyboard.press('Tab');
      const f = await focused();
      stops.push(f);
      assert.ok(f.outline, `no visible focus on ${JSON.stringify(f)}`);
      if (f.role === 'tree') break;
    }
    assert.equal(stops.at(-1).role, 'tree', `Tab never reached the span tree: ${JSON.stringify(stops)}`);

    const selected = () => page.locator('.span-row.selected').getAttribute('data-span-id');
    const spanInUrl = () => new URL(page.url()).searchParams.get('span');
    // ↓ selects the first span and opens its detail; ↓ ↓ go down to the payments span.
    await page.keyboard.press('ArrowDown');
    await page.locator('.span-detail').waitFor();
    assert.equal(await selected(), A.root.spanId);
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    await waitFor('the payments span selected', async () => spanInUrl() === A.payServer.spanId);
    assert.equal(await page.locator('.span-row.selected').getAttribute('aria-selected'), 'true');
    assert.match(await page.locator('.span-detail').textContent(), /card declined/);
    // Enter collapses it (its SELECT child goes), Space expands it again.
    const row = page.locator(`.span-row[data-span-id="${A.payServer.spanId}"]`);
    await page.keyboard.press('Enter');
    assert.equal(await row.getAttribute('aria-expanded'), 'false');
    assert.equal(await page.locator('.span-row').count(), 4);
    await page.keyboard.press(' ');
    assert.equal(await row.getAttribute('aria-expanded'), 'true');
    assert.equal(await page.locator('.span-row').count(), 5);
    // ← collapses, ← again goes to the parent, → expands, End/Home jump.
    await page.keyboard.press('ArrowLeft');
    assert.equal(await row.getAttribute('aria-expanded'), 'false');
    await page.keyboard.press('ArrowLeft');
    await waitFor('the parent selected', async () => spanInUrl() === A.payClient.spanId);
    await page.keyboard.press('End');
    await waitFor('the last span selected', async () => spanInUrl() === A.render.spanId);
    await page.keyboard.press('Home');
    await waitFor('the first span selected', async () => spanInUrl() === A.root.spanId);
    // The tree says which span is active, for screen readers.
    assert.equal(await page.locator('[role=tree]').getAttribute('aria-activedescendant'), `row-${A.root.spanId}`);
    // Escape closes the detail; the focus stays in the tree.
    await page.keyboard.press('Escape');
    await page.locator('.span-detail').waitFor({ state: 'detached' });
    assert.equal(spanInUrl(), null);
    assert.equal((await focused()).role, 'tree');
    assert.deepEqual(consoleErrors.filter((e) => !/404 \(Not Found\)/.test(e)), [], 'no script errors in the pages');
  });
});

describe('web UI with a token (API off loopback)', () => {
  const TOKEN = 'ui-e2e-token-7f3a';
  const tmp = makeTempDir('ui-auth');
  const up = new HodosUp({ name: 'ui-auth', dir: tmp.dir, httpHost: '0.0.0.0', args: ['--auth-token', TOKEN] });
  let browser;
  let page;
  let shop;
  const errors = [];

  before(async () => {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: run \`make setup\``);
    const { chromium } = loadPlaywright();
    await up.start();
    shop = await sendShopTraces({ grpcPort: up.ports.grpc, httpPort: up.ports.otlpHttp });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
    page.setDefaultTimeout(10000);
    page.on('pageerror', (e) => errors.push(e.message));
  });

  after(async () => {
    await browser?.close();
    const exit = await up.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, `hodos up exits 0 on SIGTERM:\n${up.tail()}`);
    tmp.remove();
  });

  const url = (p) => `${up.apiUrl}${p}`;
  const storedToken = () => page.evaluate(() => localStorage.getItem('hodos.apiToken'));

  it('asks for the token, refuses a wrong one, then works with the right one (and after a reload)', async () => {
    assert.equal((await up.get('/api/services')).status, 401); // the API really wants it
    await page.goto(url('/search?service=frontend'));
    const prompt = page.locator('.token-page');
    await prompt.waitFor();
    assert.equal(await prompt.locator('h1').textContent(), 'This Hodos API needs a token');
    assert.equal(await page.locator('.trace-row').count(), 0);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'token.png'), fullPage: true });

    // The input is focused and labelled: type a wrong token, Enter.
    const input = page.getByLabel('API token');
    assert.equal(await input.evaluate((el) => el === document.activeElement), true);
    await page.keyboard.type('not-the-token');
    await page.keyboard.press('Enter');
    assert.match(await page.locator('#token-error').textContent(), /^Wrong token: the API refused it \(401\)/);
    assert.equal(await input.getAttribute('aria-invalid'), 'true');
    assert.equal(await storedToken(), null, 'a refused token is not kept');

    await input.fill(TOKEN);
    await page.getByRole('button', { name: 'Use token' }).click();
    // The page reloads and the search of the URL runs with the token.
    await waitFor('the search results', async () => (await page.locator('.trace-row').count()) === 3);
    assert.equal(await storedToken(), TOKEN);
    assert.equal(await page.locator('.token-page').count(), 0);
    const sent = page.waitForRequest((r) => r.url().includes('/api/traces/'));
    await page.locator(`.trace-row[data-trace-id="${shop.A.traceId}"] a`).first().click();
    assert.equal((await sent).headers().authorization, `Bearer ${TOKEN}`);
    await page.locator('.span-row').first().waitFor();

    await page.reload();
    await waitFor('the trace after reload', async () => (await page.locator('.span-row').count()) === 5);
    assert.equal(await page.locator('.token-page').count(), 0);

    // A saved token the API no longer takes: the page says so.
    await page.evaluate(() => localStorage.setItem('hodos.apiToken', 'stale'));
    await page.goto(url('/services'));
    await page.locator('.token-page').waitFor();
    assert.match(await page.locator('#token-error').textContent(), /^The saved token was refused/);
    assert.deepEqual(errors, [], 'no script errors');
  });
});
