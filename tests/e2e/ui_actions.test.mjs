// The actions page (/actions) end to end: Debian's chromium, driven by playwright-core, against a
// real `hodos up --no-agent` fed spans by the real OpenTelemetry JS SDK. A user adds a redaction
// action with the quick form (the JSON it writes is the processor's config), sees a broken JSON
// and the processor's own refusal next to the form (the form stays filled), previews the action
// on the stored spans (the email masked in the before/after table), saves it disabled (new spans
// still stored as sent), enables it with the switch (new spans stored masked, older ones left as
// they were), drops health checks with the filter quick form (previewed as dropped, then not
// stored), deletes with a confirmation, and reads and edits the sampling settings and rules. Every
// control is named and text has AA contrast; no script errors.
// Screenshots go to $HODOS_SCREENSHOT_DIR, by default ui-screenshots/ beside the hodos binary.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { HODOS_BIN, makeTempDir, waitFor } from './lib/collector.mjs';
import { api } from './lib/deps.mjs';
import { CHROMIUM, loadPlaywright, lowContrastText, unnamedControls } from './lib/browser.mjs';
import { HodosUp } from './lib/hodos_up.mjs';
import { MS, makeSpan, withProviders } from './lib/shop_traces.mjs';

const SCREENSHOTS = process.env.HODOS_SCREENSHOT_DIR ?? path.join(path.dirname(HODOS_BIN), 'ui-screenshots');
const EMAIL = 'jane.doe@example.com';


// One signup trace (a SERVER span carrying an email and a password) and one health check, sent
// with the SDK over OTLP/HTTP a minute ago; returns their ids.
async function sendSignupAndHealth(up, tag) {
  const startUs = (Date.now() - 60000) * 1000;
  const out = {};
  await withProviders({ grpcPort: up.ports.grpc, httpPort: up.ports.otlpHttp }, {
    web: { protocol: 'http/protobuf', attributes: { 'service.name': 'signup', 'host.name': 'web-1' } },
  }, (tr) => {
    out.signup = makeSpan(tr.web, 'POST /signup', {
      kind: api.SpanKind.SERVER, startUs, durationUs: 20 * MS,
      attributes: {
        'http.request.method': 'POST', 'url.path': '/signup', 'user.email': EMAIL, 'user.password': 'hunter2',
        'e2e.batch': tag, 'http.response.status_code': 201,
      },
    });
    out.health = makeSpan(tr.web, 'GET /health', {
      kind: api.SpanKind.SERVER, startUs: startUs + 30 * MS, durationUs: 1 * MS,
      attributes: { 'http.request.method': 'GET', 'url.path': '/health', 'e2e.batch': tag, 'http.response.status_code': 200 },
    });
  });
  return out;
}

describe('the actions page in chromium', () => {
  const tmp = makeTempDir('ui-actions');
  const up = new HodosUp({ name: 'ui-actions', dir: tmp.dir });
  let browser;
  let page;
  const pageErrors = [];

  before(async () => {
    // Never skip: a missing browser is a broken setup, not a pass.
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} not found: the UI tests need Debian's chromium; run \`make setup\` ` +
                      '(apt-get install chromium), or point HODOS_CHROMIUM at a Chromium binary');
    }
    const { chromium } = loadPlaywright();
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    await up.start();
    const probe = await up.get('/api/v1/actions');
    if (probe.status !== 200) {
      throw new Error(`GET /api/v1/actions answered ${probe.status} (${probe.text.slice(0, 200)}): this hodos has no actions API`);
    }
    // As root, Chromium's sandbox cannot start; the page is our own UI.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
    page.setDefaultTimeout(10000);
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      // A refused request is logged by the browser; the page's own errors are what counts.
      if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) pageErrors.push(m.text());
    });
  });

  after(async () => {
    await browser?.close();
    const exit = await up.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, `hodos up exits 0 on SIGTERM:\n${up.tail()}`);
    tmp.remove();
  });

  const url = (p) => `${up.apiUrl}${p}`;
  const shot = (name) => page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
  // The stored span's attributes (Jaeger JSON tags) once its trace is in the store.
  const storedSpan = async (s) => {
    let span;
    await waitFor(`span ${s.name} of trace ${s.traceId} in the store`, async () => {
      const r = await up.get(`/api/traces/${s.traceId}`);
      span = r.status === 200 ? r.body.data?.[0]?.spans.find((x) => x.spanID === s.spanId) : undefined;
      return span !== undefined;
    });
    return Object.fromEntries(span.tags.map((t) => [t.key, t.value]));
  };
  const configInForm = async () => JSON.parse(await page.locator('textarea[name=config]').inputValue());
  const row = (name) => page.locator(`tr[data-action="${name}"]`);

  let first;

  it('lists no actions, and says that without an enabled sampling rule every trace is kept', async () => {
    first = await sendSignupAndHealth(up, 'before');
    assert.equal((await storedSpan(first.signup))['user.email'], EMAIL);
    await page.goto(url('/actions'));
    await page.getByText('No actions: spans are stored and sent as they arrive.').waitFor();
    await page.locator('.actions-page [data-enabled-rules]').waitFor();
    assert.equal(await page.locator('.topbar a[aria-current=page]').textContent(), 'Actions');
    assert.match(await page.locator('[data-enabled-rules]').textContent(), /^No sampling rule is enabled, so every trace is kept/);
  });

  it('the redaction quick form writes the processor\'s config; bad JSON and a refused config are shown by the form', async () => {
    await page.getByRole('button', { name: 'Add an action' }).click();
    await page.locator('select[name=type]').selectOption('redaction');
    // The type's help and example come from GET /api/v1/actions/types.
    const types = (await up.json('/api/v1/actions/types')).types;
    const redaction = types.find((t) => t.type === 'redaction');
    assert.equal(await page.locator('#action-type-help').textContent(), redaction.help);
    await page.getByRole('button', { name: 'Use the redaction example' }).click();
    assert.deepEqual(await configInForm(), redaction.example);

    await page.locator('input[name=name]').fill('mask-pii');
    await page.locator('input[name=description]').fill('no emails or passwords leave this host');
    // From an empty config, the quick form alone: it warns that without allow_all_keys every
    // attribute would be removed, until the box is ticked.
    const textarea = page.locator('textarea[name=config]');
    await textarea.fill('{}');
    await page.getByRole('checkbox', { name: /^Email addresses/ }).check();
    await page.locator('input[name=blocked-keys]').fill('password');
    assert.match(await page.locator('.quick-form .warn-box').textContent(), /every attribute \(service\.name included\) will be removed/);
    await page.getByRole('checkbox', { name: /^Keep every attribute/ }).check();
    assert.equal(await page.locator('.quick-form .warn-box').count(), 0);
    await page.locator('input[name=enabled]').uncheck();
    assert.deepEqual(await configInForm(), { allow_all_keys: true, builtin_patterns: ['email'], blocked_key_patterns: ['(?i)password'] });

    // Broken JSON: said inline, where, and nothing is sent.
    const good = await textarea.inputValue();
    await textarea.fill('{\n  "allow_all_keys": true,\n}');
    assert.match(await page.locator('#action-config-error').textContent(), /^config is not valid JSON: line 3, column 1: /);
    assert.equal(await textarea.getAttribute('aria-invalid'), 'true');
    await page.getByRole('button', { name: 'Add action' }).click();
    assert.deepEqual((await up.json('/api/v1/actions')).actions, []);

    // A config the processor refuses: its message beside the config, the form still filled.
    await textarea.fill(JSON.stringify({ ...JSON.parse(good), builtin_patterns: ['email', 'ssn'] }, null, 2));
    await page.getByRole('button', { name: 'Add action' }).click();
    const refusal = page.locator('#action-config-error[role=alert]');
    await refusal.waitFor();
    assert.match(await refusal.textContent(), /ssn/);
    assert.equal(await page.locator('input[name=name]').inputValue(), 'mask-pii');
    assert.deepEqual((await up.json('/api/v1/actions')).actions, []);
    await textarea.fill(good);
  });

  it('previews the unsaved action on the stored spans: the email masked in the before/after table', async () => {
    await page.getByRole('button', { name: 'Preview on recent spans' }).click();
    const preview = page.locator('.preview');
    await preview.waitFor();
    assert.ok(Number(await preview.getAttribute('data-examined')) >= 2, await preview.textContent());
    assert.ok(Number(await preview.getAttribute('data-changed')) >= 1, await preview.textContent());
    assert.equal(await preview.getAttribute('data-dropped'), '0');
    const example = preview.locator(`.preview-example[data-span-id="${first.signup.spanId}"]`);
    const email = example.locator('tr[data-key="user.email"]');
    assert.equal(await email.getAttribute('data-kind'), 'changed');
    assert.equal(await email.locator('td.before').textContent(), EMAIL);
    assert.equal(await email.locator('td.after').textContent(), '****');
    assert.equal(await example.locator('tr[data-key="user.password"]').getAttribute('data-kind'), 'changed');
    assert.equal(await example.locator('tr[data-key="user.password"] td.after').textContent(), '****');
    // Unchanged attributes are folded away until asked for.
    assert.equal(await example.locator('tr[data-key="url.path"]').count(), 0);
    await page.getByRole('checkbox', { name: 'Show unchanged attributes' }).check();
    assert.equal(await example.locator('tr[data-key="url.path"]').getAttribute('data-kind'), 'same');
    // The health check has nothing to mask: not an example.
    assert.equal(await preview.locator(`.preview-example[data-span-id="${first.health.spanId}"]`).count(), 0);
    // Previewing changed nothing.
    assert.equal((await storedSpan(first.signup))['user.email'], EMAIL);
    await shot('actions-preview');
  });

  it('saves it disabled (new spans as sent), then the switch enables it (new spans masked)', async () => {
    await page.getByRole('button', { name: 'Add action' }).click();
    await row('mask-pii').waitFor();
    assert.equal(await row('mask-pii').getAttribute('data-enabled'), 'false');
    assert.match(await page.locator('.notice').textContent(), /^Added mask-pii: disabled/);
    const saved = (await up.json('/api/v1/actions')).actions;
    assert.deepEqual(saved.map((a) => [a.name, a.type, a.enabled, a.description]),
                     [['mask-pii', 'redaction', false, 'no emails or passwords leave this host']]);
    assert.deepEqual(saved[0].config.builtin_patterns, ['email']);

    const whileOff = await sendSignupAndHealth(up, 'disabled');
    assert.equal((await storedSpan(whileOff.signup))['user.email'], EMAIL);

    await page.getByRole('switch', { name: 'mask-pii enabled' }).check();
    await page.locator('tr[data-action="mask-pii"][data-enabled="true"]').waitFor();
    assert.equal((await up.json('/api/v1/actions')).actions[0].enabled, true);

    const whileOn = await sendSignupAndHealth(up, 'enabled');
    const tags = await storedSpan(whileOn.signup);
    assert.equal(tags['user.email'], '****');
    assert.equal(tags['user.password'], '****');
    assert.equal(tags['url.path'], '/signup'); // allow_all_keys: every key kept
    // Spans stored before stay as they were.
    assert.equal((await storedSpan(first.signup))['user.email'], EMAIL);
    // The row's counts come from the action's status.
    await waitFor('the counts of mask-pii', async () => Number(await row('mask-pii').locator('td.counts').getAttribute('data-spans-in')) >= 2,
                  { describe: async () => row('mask-pii').locator('td.counts').textContent() });
    assert.match(await row('mask-pii').locator('td.counts').textContent(), /\d+ in · \d+ out · \d+ dropped/);
  });

  it('the filter quick form drops health checks: previewed as dropped, then not stored; delete asks first', async () => {
    await page.getByRole('button', { name: 'Add an action' }).click();
    await page.locator('select[name=type]').selectOption('filter');
    await page.locator('textarea[name=config]').fill('{}');
    await page.locator('input[name=name]').fill('drop-health');
    await page.locator('input[name=path-value-0]').fill('/health');
    assert.deepEqual((await configInForm()).traces, { span: ['attributes["url.path"] == "/health"'] });
    await page.getByRole('button', { name: 'Preview on recent spans' }).click();
    const dropped = page.locator(`.preview-example[data-span-id="${first.health.spanId}"]`);
    await dropped.waitFor();
    assert.equal(await dropped.getAttribute('data-dropped'), 'true');
    assert.ok(Number(await page.locator('.preview').getAttribute('data-dropped')) >= 3); // one per batch sent
    assert.equal(await page.locator(`.preview-example[data-span-id="${first.signup.spanId}"]`).count(), 0);
    // Editing after a preview says the preview is stale.
    await page.locator('input[name=path-value-0]').fill('/healthz');
    await page.locator('.preview .warn-box').waitFor();
    await page.locator('input[name=path-value-0]').fill('/health');
    await page.getByRole('button', { name: 'Add action' }).click();
    await row('drop-health').waitFor();
    assert.deepEqual((await up.json('/api/v1/actions')).actions.map((a) => [a.name, a.enabled]), [['mask-pii', true], ['drop-health', true]]);

    const filtered = await sendSignupAndHealth(up, 'filtered');
    await storedSpan(filtered.signup);
    // The signup span is stored: the health check of the same export, if kept, would be too.
    const health = await up.get(`/api/traces/${filtered.health.traceId}`);
    assert.equal(health.status, 404, `the health check was stored: ${health.text.slice(0, 300)}`);
    await shot('actions');

    // Delete asks first; Keep keeps it.
    await row('drop-health').getByRole('button', { name: 'Delete drop-health' }).click();
    await page.getByRole('button', { name: 'Keep' }).click();
    assert.equal((await up.json('/api/v1/actions')).actions.length, 2);
    await row('drop-health').getByRole('button', { name: 'Delete drop-health' }).click();
    await row('drop-health').getByRole('button', { name: 'Delete drop-health' }).click(); // the confirmation's
    await row('drop-health').waitFor({ state: 'detached' });
    assert.deepEqual((await up.json('/api/v1/actions')).actions.map((a) => a.name), ['mask-pii']);
  });

  it('edits an action in place: the form opens with its config, a change is saved with PUT', async () => {
    await row('mask-pii').getByRole('button', { name: 'Edit mask-pii' }).click();
    assert.equal(await page.locator('input[name=name]').getAttribute('readonly'), '');
    assert.deepEqual((await configInForm()).builtin_patterns, ['email']);
    await page.getByRole('checkbox', { name: /^IPv4 addresses/ }).check();
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.locator('.action-form').waitFor({ state: 'detached' });
    const saved = (await up.json('/api/v1/actions')).actions;
    assert.deepEqual(saved.map((a) => [a.name, a.enabled]), [['mask-pii', true]]);
    assert.deepEqual(saved[0].config.builtin_patterns, ['email', 'ipv4']);
  });

  it('sampling: settings checked before they are sent and saved; a rule added disabled keeps everything kept', async () => {
    const settings = page.locator('form.settings-form');
    await settings.locator('input[name=decision_wait]').fill('10');
    await settings.getByRole('button', { name: 'Save settings' }).click();
    assert.match(await settings.locator('[role=alert]').textContent(), /^decision_wait: '10' is not a duration/);
    await settings.locator('input[name=decision_wait]').fill('5s');
    await settings.locator('input[name=num_traces]').fill('20000');
    await settings.getByRole('button', { name: 'Save settings' }).click();
    await waitFor('the settings saved', async () => {
      const s = (await up.json('/api/v1/sampling')).settings;
      return s.decision_wait === '5s' && s.num_traces === 20000;
    });

    await page.getByRole('button', { name: 'Add a rule' }).click();
    await page.locator('select[name=rule-type]').selectOption('status_code');
    await page.locator('input[name=rule-name]').fill('errors');
    await page.locator('input[name=rule-enabled]').uncheck();
    assert.deepEqual(JSON.parse(await page.locator('textarea#rule-config').inputValue()), { status_codes: ['ERROR'] });
    await page.getByRole('button', { name: 'Add rule' }).click();
    await page.locator('tr[data-rule=errors][data-enabled=false]').waitFor();
    assert.match(await page.locator('[data-enabled-rules]').textContent(), /^No sampling rule is enabled, so every trace is kept/);
    const rules = (await up.json('/api/v1/sampling')).rules;
    assert.deepEqual(rules.map((r) => [r.name, r.type, r.enabled, r.config]), [['errors', 'status_code', false, { status_codes: ['ERROR'] }]]);
    await page.getByRole('switch', { name: 'errors enabled' }).check();
    await page.locator('[data-enabled-rules="1"]').waitFor();
    assert.match(await page.locator('[data-enabled-rules]').textContent(), /^1 rule is enabled: each trace is held for 5s/);
    await page.getByRole('button', { name: 'Delete errors' }).click();
    await page.getByRole('button', { name: 'Delete errors' }).click(); // the confirmation's
    await page.locator('tr[data-rule=errors]').waitFor({ state: 'detached' });
    assert.deepEqual((await up.json('/api/v1/sampling')).rules, []);
  });

  it('every control is named, text has AA contrast, and the form works from the keyboard', async () => {
    await page.goto(url('/actions'));
    await row('mask-pii').waitFor();
    await page.getByRole('button', { name: 'Add an action' }).click();
    // The form opens with the focus on its first field (moved there once it has rendered); Tab
    // walks it in order.
    await waitFor('the focus on the form\'s first field', async () =>
      (await page.evaluate(() => document.activeElement?.getAttribute('name'))) === 'type');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('name')), 'name');
    await page.keyboard.type('kbd-check');
    await page.getByRole('button', { name: 'Preview on recent spans' }).focus();
    await page.keyboard.press('Enter');
    await page.locator('.preview').waitFor();
    assert.deepEqual(await unnamedControls(page), [], 'controls without a name on /actions');
    assert.deepEqual(await lowContrastText(page), [], 'text below AA contrast on /actions');
    await page.getByRole('button', { name: 'Cancel' }).focus();
    await page.keyboard.press('Enter');
    // Closing the form gives the focus back to the button that opened it.
    await waitFor('the focus on "Add an action"', async () =>
      (await page.evaluate(() => document.activeElement?.textContent)) === 'Add an action');
    assert.deepEqual((await up.json('/api/v1/actions')).actions.map((a) => a.name), ['mask-pii']);
    assert.deepEqual(pageErrors, [], 'no script errors');
  });
});

