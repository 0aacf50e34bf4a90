// Opens a `qaagent history report` page in headless Chromium and prints what it shows, as JSON.
// Usage: node history_report.cjs PAGE_HTML SCREENSHOT_PNG [FILTER_TEXT]
// Every request other than the page itself is blocked and recorded; console messages and page
// errors are collected. Run by tests/test_history_report.py.
'use strict';
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const { chromium } = require(path.join(process.env.QAAGENT_NODE_MODULES, 'playwright'));

(async () => {
  const [page_path, screenshot, filter] = process.argv.slice(2);
  const page_url = pathToFileURL(path.resolve(page_path)).href;
  const browser = await chromium.launch({
    executablePath: process.env.QAAGENT_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu'],
  });
  const out = { blocked: [], console: [], pageErrors: [] };
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    page.on('console', (m) => out.console.push(m.type() + ': ' + m.text()));
    page.on('pageerror', (e) => out.pageErrors.push(String(e)));
    page.on('dialog', (d) => { out.pageErrors.push('dialog: ' + d.message()); d.dismiss(); });
    await page.route('**', (route) => {
      const url = route.request().url();
      if (url === page_url) return route.continue();
      out.blocked.push(url);
      return route.abort();
    });
    await page.goto(page_url, { waitUntil: 'load' });
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30000 });
    const names = (sel) => page.evaluate((s) => [...document.querySelectorAll(s)].map((n) => n.textContent), sel);
    out.title = await page.title();
    out.charts = await page.evaluate(() => [...document.querySelectorAll('svg.chart')].map((svg) => ({
      label: svg.querySelector('title').textContent,
      lines: svg.querySelectorAll('polyline').length,
      dots: svg.querySelectorAll('circle').length,
      width: svg.getBoundingClientRect().width,
    })));
    out.legend = await names('.legend li');
    out.flaky = await names('#flaky-table td.name');
    out.flakyRates = await names('#flaky-table tbody tr td:nth-child(3)');
    out.slowest = await names('#slow-table td.name');
    out.injected = await page.evaluate(() =>
      document.querySelectorAll('b, img, iframe, script:not([nonce]):not([type="application/json"])').length);
    await page.screenshot({ path: screenshot, fullPage: true });
    if (filter) {
      await page.fill('#flaky-filter', filter);
      await page.waitForTimeout(400);
      out.filtered = await names('#flaky-table td.name');
      out.note = await page.textContent('#flaky-note');
    }
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out));
})().catch((error) => { console.error(String((error && error.stack) || error)); process.exit(1); });
