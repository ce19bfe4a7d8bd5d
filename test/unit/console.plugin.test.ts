// The console plugin on its own (src/console/plugin.ts): only the files the build wrote,
// with their types; a clear 503 page when the console was never built.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Fastify from 'fastify';
import { consolePlugin } from '../../src/console/plugin.ts';

describe('console plugin', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qs-console-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>c</title>');
  writeFileSync(join(dir, 'app.js'), 'export {};');
  writeFileSync(join(dir, 'styles.css'), 'body{}');

  it('serves index.html at /console and /console/, and the built files with their types', async () => {
    const app = Fastify();
    await app.register(consolePlugin({ dir }));
    for (const url of ['/console', '/console/']) {
      const r = await app.inject({ url });
      assert.equal(r.statusCode, 200, url);
      assert.match(r.headers['content-type'] as string, /^text\/html/);
      assert.equal(r.body, '<!doctype html><title>c</title>');
    }
    assert.match((await app.inject({ url: '/console/app.js' })).headers['content-type'] as string, /^text\/javascript/);
    assert.match((await app.inject({ url: '/console/styles.css' })).headers['content-type'] as string, /^text\/css/);
    // A file written after start is served (a rebuild while the server runs).
    writeFileSync(join(dir, 'late.js'), '1');
    assert.equal((await app.inject({ url: '/console/late.js' })).statusCode, 200);
    await app.close();
  });

  it('answers 404 in the API error shape for anything the build did not write, escapes included', async () => {
    const app = Fastify();
    await app.register(consolePlugin({ dir }));
    for (const url of ['/console/nope.js', '/console/..%2Fetc%2Fpasswd', '/console/index.html%00.js']) {
      const r = await app.inject({ url });
      assert.equal(r.statusCode, 404, url);
      assert.deepEqual(Object.keys(r.json().error).sort(), ['code', 'details', 'message'], url);
    }
    // A dot-dot segment never reaches the plugin's route (the router resolves or refuses it).
    assert.equal((await app.inject({ url: '/console/%2e%2e' })).statusCode, 404);
    await app.close();
  });

  it('answers 503 with a hint when the console was not built', async () => {
    const app = Fastify();
    await app.register(consolePlugin({ dir: join(dir, 'missing') }));
    const r = await app.inject({ url: '/console' });
    assert.equal(r.statusCode, 503);
    assert.match(r.body, /npm run build:console/);
    await app.close();
  });
});
