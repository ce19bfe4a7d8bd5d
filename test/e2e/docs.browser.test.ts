// The one web page we serve, /docs, opened in a real browser (Debian's Chromium driven
// by playwright-core): the Swagger UI renders our operations from /openapi.json.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { startServerOn, type RunningServer } from '../helpers/server.ts';
import { browserSkip, launchChromium } from '../helpers/browser.ts';

const skip = browserSkip;

describe('API docs page in a real browser', { skip }, () => {
  let server: RunningServer & { cleanup(): Promise<void> };
  let browser: Browser;

  before(async () => {
    server = await startServerOn('sqlite');
    browser = await launchChromium();
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
      assert.ok(
        paths.some((x) => x.replace(/\u200b/g, '') === p),
        `${p} missing from the docs page: ${paths.join(', ')}`,
      );
    }
    await op.click();
    await page.locator('.opblock-body').first().waitFor({ timeout: 5000 });
    const body = await page.locator('.opblock-body').first().textContent();
    assert.match(body ?? '', /afterItemId/);
    assert.deepEqual(errors, []);
  });
});
