// The web console (console/, issue 14): its built files (console/dist, made by
// `npm run build:console`, which `npm install` runs) served at /console. The pages'
// CSP (src/http/browser.ts, PAGE_CSP) already covers /console: scripts, styles and
// sockets from this origin only; the console ships no inline script or style, so it
// needs no relaxation. The files are public: the page asks for a token itself.
import { readFile, readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

const DIST = fileURLToPath(new URL('../../console/dist/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.txt': 'text/plain; charset=utf-8',
};

const NOT_BUILT =
  '<!doctype html><meta charset="utf-8"><title>Console not built</title>' +
  '<p>The console has not been built: run <code>npm run build:console</code> (npm install does it).</p>';

export interface ConsoleOptions {
  /** Where the built files are; console/dist by default. */
  dir?: string;
}

export function consolePlugin(opts: ConsoleOptions = {}) {
  const dir = opts.dir ?? DIST;
  return async function consoleRoutes(app: FastifyInstance): Promise<void> {
    const config = { auth: 'public' as const };
    const schema = { hide: true };

    // Only names the build wrote are served (listed on each request, so a rebuild
    // while the server runs is picked up): no path from the URL reaches the disk.
    const send = async (reply: FastifyReply, name: string) => {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        return reply.status(503).type(TYPES['.html']!).send(NOT_BUILT);
      }
      if (!names.includes(name)) {
        return reply.status(404).send({ error: { code: 'not_found', message: `no console file ${name}`, details: {} } });
      }
      const body = await readFile(join(dir, name));
      reply.header('cache-control', 'no-cache');
      return reply.type(TYPES[extname(name)] ?? 'application/octet-stream').send(body);
    };

    app.get('/console', { config, schema }, async (_r, reply) => send(reply, 'index.html'));
    app.get('/console/', { config, schema }, async (_r, reply) => send(reply, 'index.html'));
    app.get<{ Params: { file: string } }>('/console/:file', { config, schema }, async (r, reply) => send(reply, r.params.file));
  };
}
