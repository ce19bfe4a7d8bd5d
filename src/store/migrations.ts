// Versioned SQL migrations, one folder per adapter: NNN_name.sql applied in order, once.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const here = dirname(fileURLToPath(import.meta.url));

export function loadMigrations(kind: 'sqlite' | 'postgres'): Migration[] {
  const dir = join(here, 'migrations', kind);
  return readdirSync(dir)
    .filter((f) => /^\d+_.+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number.parseInt(f, 10), name: f.replace(/\.sql$/, ''), sql: readFileSync(join(dir, f), 'utf8') }));
}
