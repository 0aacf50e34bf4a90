// @ts-check
// Which Chromium the demo's e2e suite launches, and why it skips when there is none.
const fs = require('node:fs');
const { chromium } = require('@playwright/test');

// Where a system Chromium is looked for (Debian's package by default).
const SYSTEM_CHROMIUM = process.env.QAAGENT_SYSTEM_CHROMIUM || '/usr/bin/chromium';

/** The browser executable: $QAAGENT_CHROMIUM, else the system's chromium, else none (Playwright's own). */
function chromiumPath() {
  if (process.env.QAAGENT_CHROMIUM) return process.env.QAAGENT_CHROMIUM;
  return fs.existsSync(SYSTEM_CHROMIUM) ? SYSTEM_CHROMIUM : undefined;
}

/**
 * @returns {import('@playwright/test').LaunchOptions}
 */
function chromiumLaunchOptions() {
  const executablePath = chromiumPath();
  if (!executablePath) return {};
  return {
    executablePath,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu'],
  };
}

/**
 * Why the suite cannot run here, or '' when a Chromium is available. An explicit
 * $QAAGENT_CHROMIUM is never second-guessed: a wrong path must fail, not skip.
 */
function missingBrowserReason() {
  if (chromiumPath()) return '';
  let own = '';
  try {
    own = chromium.executablePath();
  } catch {
    own = '';
  }
  if (own && fs.existsSync(own)) return '';
  return 'no Chromium found: install one with `apt-get install chromium` (or set QAAGENT_CHROMIUM) or `npx playwright install chromium`';
}

module.exports = { chromiumLaunchOptions, missingBrowserReason };
