// What the browser tests share: playwright-core (from tests/e2e/node) driving Debian's chromium,
// and the accessibility checks every page must pass.
import { createRequire } from 'node:module';
import path from 'node:path';

import { E2E_DIR } from './deps.mjs';

export const CHROMIUM = process.env.HODOS_CHROMIUM ?? '/usr/bin/chromium';

export function loadPlaywright() {
  try {
    return createRequire(path.join(E2E_DIR, 'node', 'package.json'))('playwright-core');
  } catch (e) {
    throw new Error(`cannot load playwright-core (${e.code ?? e.message}): run \`make setup\` (npm ci in tests/e2e/node)`);
  }
}

// Every input, select, button (and other control) on every page has a name a screen reader can
// say, as Chromium's accessibility tree computes it (labels, aria-label, text).
export async function unnamedControls(page) {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { nodes } = await cdp.send('Accessibility.getFullAXTree');
    const controls = new Set(['button', 'textbox', 'searchbox', 'combobox', 'listbox', 'checkbox', 'radio',
                              'spinbutton', 'slider', 'switch', 'link', 'tree', 'treeitem', 'tab', 'menuitem']);
    const unnamed = nodes.filter((n) => !n.ignored && controls.has(n.role?.value) && !(n.name?.value ?? '').trim());
    // Say which element: its tag and attributes.
    return Promise.all(unnamed.map(async (n) => {
      const { node } = await cdp.send('DOM.describeNode', { backendNodeId: n.backendDOMNodeId });
      const attrs = (node.attributes ?? []).reduce((out, v, i, all) => (i % 2 ? out : `${out} ${v}="${all[i + 1]}"`), '');
      return `${n.role.value}: <${node.localName}${attrs}>`;
    }));
  } finally {
    await cdp.detach();
  }
}

// WCAG AA: 4.5:1 for text, 3:1 for large text (24px, or 18.66px bold), over the first opaque
// background behind it. Disabled controls and hidden text are exempt.
export function lowContrastText(page) {
  return page.evaluate(() => {
    const rgba = (c) => {
      const m = c.match(/rgba?\(([^)]+)\)/);
      if (!m) return null;
      const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
      return [r, g, b, a];
    };
    const lum = ([r, g, b]) => {
      const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const background = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const c = rgba(getComputedStyle(e).backgroundColor);
        if (c && c[3] >= 1) return c;
      }
      return [255, 255, 255, 1];
    };
    const out = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const seen = new Set();
    for (let t = walker.nextNode(); t; t = walker.nextNode()) {
      const el = t.parentElement;
      if (!t.textContent.trim() || seen.has(el)) continue;
      seen.add(el);
      if (el.closest(':disabled, [aria-hidden=true], .sr-only, canvas, svg') || !el.checkVisibility?.({ opacityProperty: true, visibilityProperty: true })) continue;
      const style = getComputedStyle(el);
      const fg = rgba(style.color);
      if (!fg) continue;
      const bg = background(el);
      const mix = fg.slice(0, 3).map((v, i) => v * fg[3] + bg[i] * (1 - fg[3]));
      const [l1, l2] = [lum(mix), lum(bg)].sort((a, b) => b - a);
      const ratio = (l1 + 0.05) / (l2 + 0.05);
      const size = parseFloat(style.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
      if (ratio < (large ? 3 : 4.5)) out.push(`${ratio.toFixed(2)}:1 "${t.textContent.trim().slice(0, 40)}" (${style.color} on rgb(${bg.slice(0, 3)}), .${el.className})`);
    }
    return out;
  });
}
