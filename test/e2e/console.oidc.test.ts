// The web console signed in with a pasted identity-provider token (issue 23), in Chromium
// (as test/e2e/console.test.ts drives it), against a server that trusts a real local provider
// (test/helpers/idp.ts). The page learns who the token is from GET /auth/me (a provider's
// user id, mapped), works with it like with a minted token, shows a scoped token's scopes,
// and refuses a token of the wrong audience with the service's message.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { browserSkip, launchChromium } from '../helpers/browser.ts';
import { idpEnv, startIdp, type Idp } from '../helpers/idp.ts';
import { client, startServerOn, type RunningServer } from '../helpers/server.ts';

describe('web console with an identity provider token', { skip: browserSkip, timeout: 120_000 }, () => {
  let idp: Idp;
  let server: RunningServer & { cleanup(): Promise<void> };
  let browser: Browser;
  let ctx: BrowserContext;
  let page: Page;
  const problems: string[] = [];

  const signIn = async (token: string) => {
    await page.goto(`${server.url}/console`);
    await page.getByRole('textbox', { name: /^User token/ }).fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
  };
  const signOut = async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
  };

  before(async () => {
    idp = await startIdp();
    server = await startServerOn('sqlite', { env: idpEnv(idp) });
    browser = await launchChromium();
    ctx = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    ctx.setDefaultTimeout(10_000);
    page = await ctx.newPage();
    page.on('pageerror', (e) => problems.push(String(e)));
    page.on('console', (m) => {
      // The refused sign-in's 401 is logged by the browser: expected in the last test.
      if (m.type() === 'error' && !/status of 401/.test(m.text())) problems.push(m.text());
    });
  });
  after(async () => {
    await browser?.close();
    await server?.cleanup();
    await idp?.stop();
  });

  it("[AU1] signs in with a pasted provider token: the provider's user id, live, and what it creates is that user's", async () => {
    const token = await idp.token({ sub: 'auth0|console-user', expiresIn: 600, scope: 'openid profile' });
    await signIn(token);
    await page.getByTestId('status').filter({ hasText: 'online' }).waitFor({ timeout: 15_000 });
    assert.equal(((await page.getByTestId('user').textContent()) ?? '').trim(), 'auth0|console-user');
    await page.getByLabel('Name').fill('From my provider');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('heading', { name: /From my provider/ }).waitFor();
    const list = await client(server.url, token)('GET', '/queues');
    assert.deepEqual(
      list.body.queues.map((q: { name: string }) => q.name),
      ['From my provider'],
    );
    assert.equal(list.body.queues[0].ownerId ?? list.body.queues[0].queue?.ownerId ?? 'auth0|console-user', 'auth0|console-user');
    await signOut();
  });

  it('[AU6] a scoped provider token shows its scopes; the queues it may read are listed', async () => {
    await signIn(await idp.token({ sub: 'auth0|console-user', expiresIn: 600, scp: ['queue:read'] }));
    await page.getByTestId('status').filter({ hasText: 'online' }).waitFor({ timeout: 15_000 });
    assert.equal(((await page.getByTestId('user').textContent()) ?? '').replace(/\s+/g, ' ').trim(), 'auth0|console-user (queue:read)');
    await page.getByText('From my provider').first().waitFor();
    await signOut();
  });

  it("[AU2] a provider token for another audience is refused on the sign-in page with the service's message", async () => {
    await signIn(await idp.token({ sub: 'auth0|console-user', aud: 'https://another-api.example.com' }));
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match((await alert.textContent()) ?? '', /audience/);
    assert.deepEqual(problems, []);
  });
});
