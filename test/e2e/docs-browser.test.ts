// The one web page we serve, /docs, opened in a real browser (Debian's Chromium driven
// by playwright-core): the Swagger UI renders our operations from /openapi.json.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { startServerOn, type RunningServer } from '../helpers/server.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `browser test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)`;
if (skip && process.env.TEST_REQUIRE_BROWSER) throw new Error(`TEST_REQUIRE_BROWSER is set but ${CHROMIUM} is missing`);

describe('API docs page in a real browser', { skip }, () => {
  let server: RunningServer & { cleanup(): Promise<void> };
  let browser: Browser;

  before(async () => {
    server = await startServerOn('sqlite');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  after(async () => {
    await browser?.close();
    await server?.cleanup();
  });

  it('renders the queue operations from /openapi.json and expands one, with the security headers on', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    // A content security policy that refused one of the page's scripts, styles or images shows here.
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    const response = await page.goto(`${server.url}/docs/`, { waitUntil: 'domcontentloaded' });
    const headers = response!.headers();
    assert.match(headers['content-security-policy'] ?? '', /default-src 'self'/, 'the page is served with its CSP');
    assert.equal(headers['x-content-type-options'], 'nosniff');
    assert.equal(headers['x-frame-options'], 'SAMEORIGIN');
    const op = page.locator('.opblock-summary-path', { hasText: '/queues/{queueId}/tracks' }).first();
    await op.waitFor({ timeout: 15_000 });
    const paths = await page.locator('.opblock-summary-path').allTextContents();
    for (const p of ['/queues', '/queues/{queueId}', '/queues/{queueId}/events', '/users/{userId}/playback-state']) {
      assert.ok(paths.some((x) => x.replace(/\u200b/g, '') === p), `${p} missing from the docs page: ${paths.join(', ')}`);
    }
    await op.click();
    await page.locator('.opblock-body').first().waitFor({ timeout: 5000 });
    const body = await page.locator('.opblock-body').first().textContent();
    assert.match(body ?? '', /afterItemId/);
    assert.deepEqual(errors, []);
  });
});
