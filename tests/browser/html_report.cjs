// Opens a qaagent report.html in headless Chromium and prints what the page shows, as JSON.
// Usage: node html_report.cjs REPORT_HTML SCREENSHOT_PNG (or - for no screenshot)
// Every request except the file:// page and files inside its folder is blocked and recorded;
// console errors and page errors are collected. Run by tests/test_html_report.py.
'use strict';
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const modules = process.env.QAAGENT_NODE_MODULES;
const { chromium } = require(path.join(modules, 'playwright'));

(async () => {
  const [report, screenshot] = process.argv.slice(2);
  const folder = pathToFileURL(path.dirname(path.resolve(report))).href + '/';
  const page_url = pathToFileURL(path.resolve(report)).href;
  const browser = await chromium.launch({
    executablePath: process.env.QAAGENT_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu'],
  });
  const result = { blocked: [], requests: [], console: [], pageErrors: [] };
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('request', (r) => result.requests.push(r.url()));
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') result.console.push(m.type() + ': ' + m.text()); });
    page.on('pageerror', (e) => result.pageErrors.push(String(e)));
    page.on('dialog', (d) => { result.pageErrors.push('dialog: ' + d.message()); d.dismiss(); });
    await page.route('**', (route) => {
      const url = route.request().url();
      if (url === page_url || url.startsWith(folder)) return route.continue();
      result.blocked.push(url);
      return route.abort();
    });
    const started = Date.now();
    await page.goto(page_url, { waitUntil: 'load' });
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30000 });
    result.firstRenderMs = Date.now() - started;
    result.state = await page.evaluate(() => {
      const text = (sel) => { const n = document.querySelector(sel); return n ? n.textContent : null; };
      const totals = {};
      for (const key of ['total', 'passed', 'failed', 'errors', 'skipped', 'flaky']) totals[key] = Number(text('#total-' + key));
      const images = [...document.querySelectorAll('#problem-list img')].map((i) => ({ src: i.getAttribute('src'), complete: i.complete, naturalWidth: i.naturalWidth }));
      return {
        title: document.title,
        conclusion: text('#conclusion'),
        totals,
        bars: [...document.querySelectorAll('.timeline .bar')].map((b) => b.getAttribute('aria-label')),
        barsFocusable: [...document.querySelectorAll('.timeline .bar')].every((b) => b.tabIndex === 0),
        problems: [...document.querySelectorAll('#problem-list article h3')].map((h) => h.textContent),
        images,
        scripts: document.scripts.length,
        injected: document.querySelectorAll('b, img[src="x"], script:not([nonce]):not([type="application/json"]):not([type="application/octet-stream"])').length,
        rowsPerSuite: [...document.querySelectorAll('.tests-table')].map((t) => t.querySelectorAll('tbody tr.row').length),
        // the base-branch groups as rendered: each heading (its class names the group), its visible items
        compared: document.getElementById('base-branch-groups') && {
          heading: text('#base-branch-h'),
          groups: [...document.querySelectorAll('#base-branch-groups h3')].map((h) => ({
            key: h.className,
            heading: h.innerText,
            items: h.nextElementSibling ? [...h.nextElementSibling.querySelectorAll('li')].map((li) => li.innerText) : [],
          })),
        },
      };
    });
    // Wait for every inline image to finish loading (or fail).
    await page.waitForFunction(() => [...document.querySelectorAll('#problem-list img')].every((i) => i.complete), null, { timeout: 10000 });
    result.images = await page.evaluate(() => [...document.querySelectorAll('#problem-list img')].map((i) => ({ src: i.getAttribute('src'), naturalWidth: i.naturalWidth })));
    // Hover the first bar: its times appear.
    const bar = page.locator('.timeline .bar').first();
    if (await bar.count()) { await bar.focus(); result.focusInfo = await page.textContent('#tl-info'); }
    if (screenshot !== '-') await page.screenshot({ path: screenshot, fullPage: true }); // '-': none (benchmarks)
    // Filter every suite to "failed" using the keyboard-reachable select.
    for (const select of await page.locator('select.status-filter').all()) await select.selectOption('failed');
    result.failedRows = await page.evaluate(() => [...document.querySelectorAll('.tests-table tbody tr.row')].map((tr) => ({
      status: tr.getAttribute('data-status'), name: tr.querySelector('td.name').textContent })));
    // Search narrows the rows.
    const search = page.locator('input.name-search').first();
    if (await search.count()) {
      await page.locator('select.status-filter').first().selectOption('all');
      await search.fill(process.env.QAAGENT_SEARCH || 'zzz-no-such-test');
      await page.waitForTimeout(400);
      result.searchRows = await page.evaluate(() => document.querySelector('.tests-table').querySelectorAll('tbody tr.row').length);
    }
    await context.close();
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(result));
})().catch((error) => { console.error(String(error && error.stack || error)); process.exit(1); });
