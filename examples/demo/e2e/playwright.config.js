// @ts-check
// Playwright settings for the qaagent demo. qaagent starts the app, exports BASE_URL
// and adds its own JUnit reporter; this file stays runnable by hand as well.
const fs = require('node:fs');
const { defineConfig, devices } = require('@playwright/test');

const DEBIAN_CHROMIUM = '/usr/bin/chromium';

/**
 * The browser to launch: $QAAGENT_CHROMIUM, else Debian's chromium when it is installed,
 * else none (Playwright's own downloaded browser).
 * @returns {import('@playwright/test').LaunchOptions}
 */
function chromiumLaunchOptions() {
  const executablePath =
    process.env.QAAGENT_CHROMIUM || (fs.existsSync(DEBIAN_CHROMIUM) ? DEBIAN_CHROMIUM : undefined);
  if (!executablePath) {
    return {};
  }
  return {
    executablePath,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu'],
  };
}

module.exports = defineConfig({
  testDir: './tests',
  outputDir: './test-results',
  timeout: 15_000,
  expect: { timeout: 5_000 },
  fullyParallel: true,
  forbidOnly: !!process.env.CI,
  retries: 0, // qaagent reruns failed tests itself
  reporter: [['list']],
  use: {
    baseURL: process.env.BASE_URL || 'http://127.0.0.1:8765',
    screenshot: 'only-on-failure',
    trace: 'on-first-retry',
  },
  projects: [
    {
      name: 'chromium',
      use: { ...devices['Desktop Chrome'], launchOptions: chromiumLaunchOptions() },
    },
  ],
});
