// @ts-check
// Playwright settings for the qaagent demo. qaagent starts the app, exports BASE_URL
// and adds its own JUnit reporter; this file stays runnable by hand as well.
const { defineConfig, devices } = require('@playwright/test');
const { chromiumLaunchOptions } = require('./browser');

module.exports = defineConfig({
  testDir: './tests',
  outputDir: './test-results',
  timeout: 15_000,
  expect: { timeout: 5_000 },
  fullyParallel: true,
  forbidOnly: !!process.env.CI,
  // Playwright retries a failing test once, recording a trace of the retry ('on-first-retry');
  // a test that passes on it is reported flaky by qaagent. The profile sets no qaagent retry here.
  retries: 1,
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
