// @ts-check
// End-to-end checks of the demo app in a real browser. Other suites add items to the
// same running app at the same time, so every test uses its own unique names.
const { test, expect } = require('@playwright/test');
const { missingBrowserReason } = require('../browser');

// Without any Chromium the suite is reported as skipped, with the reason, never dropped.
const reason = missingBrowserReason();
test.skip(reason !== '', reason);

function uniqueName(prefix) {
  return `${prefix} ${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

test('the home page lists the items from the app', async ({ page }) => {
  await page.goto('/');
  await expect(page).toHaveTitle('qaagent demo shop');
  await expect(page.getByTestId('item').filter({ hasText: 'apple' })).toHaveCount(1);
  await expect(page.locator('#api-status')).toHaveText(/^API reports \d+ items$/);
});

test('the form adds an item that then appears on the page', async ({ page }) => {
  const name = uniqueName('browser');
  await page.goto('/');
  await page.getByLabel('New item').fill(name);
  await page.getByRole('button', { name: 'Add item' }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId('item').filter({ hasText: name })).toHaveCount(1);
});

test('the API accepts a new item and lists it', async ({ request }) => {
  const name = uniqueName('api');
  const created = await request.post('/api/items', { data: { name } });
  expect(created.status()).toBe(201);
  const item = await created.json();
  expect(item.name).toBe(name);

  const listed = await request.get('/api/items');
  expect(listed.ok()).toBeTruthy();
  expect(await listed.json()).toContainEqual(item);
});

test('the API refuses an empty name', async ({ request }) => {
  const response = await request.post('/api/items', { data: { name: '' } });
  expect(response.status()).toBe(400);
  expect((await response.json()).error).toContain('must not be empty');
});
