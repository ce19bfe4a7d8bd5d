// Node: a ClientStorage in a directory, one file per key, written to a temporary file and
// renamed over the old one (atomic on POSIX), so a crash mid-write leaves the old value.
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClientStorage } from './storage.ts';

export class FileStorage implements ClientStorage {
  private chain: Promise<unknown> = Promise.resolve();
  private readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  private file(key: string): string {
    return join(this.dir, `${encodeURIComponent(key)}.json`);
  }

  async get(key: string): Promise<string | null> {
    await this.chain;
    try {
      return await readFile(this.file(key), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  set(key: string, value: string): Promise<void> {
    const run = async () => {
      await mkdir(this.dir, { recursive: true });
      const tmp = `${this.file(key)}.${process.pid}.tmp`;
      await writeFile(tmp, value);
      await rename(tmp, this.file(key));
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  delete(key: string): Promise<void> {
    const run = () => rm(this.file(key), { force: true });
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }
}
