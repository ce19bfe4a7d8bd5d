// Where a client keeps what must survive a restart of the app: its offline outbox (local
// edits not yet on the server), its client id and counters. Values are JSON strings.
// MemoryStorage (the default) keeps nothing across restarts; IndexedDbStorage does in
// browsers; FileStorage (Node build only, ./file-storage.ts) in a directory.

export interface ClientStorage {
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
}

export class MemoryStorage implements ClientStorage {
  private readonly map = new Map<string, string>();
  async get(key: string): Promise<string | null> {
    return this.map.get(key) ?? null;
  }
  async set(key: string, value: string): Promise<void> {
    this.map.set(key, value);
  }
  async delete(key: string): Promise<void> {
    this.map.delete(key);
  }
}

// The few IndexedDB members used here (the repository compiles without the DOM library).
interface IdbRequest<T = unknown> {
  result: T;
  error: unknown;
  onsuccess: (() => void) | null;
  onerror: (() => void) | null;
}
interface IdbOpenRequest extends IdbRequest<IdbDatabase> {
  onupgradeneeded: (() => void) | null;
}
interface IdbDatabase {
  objectStoreNames: { contains(name: string): boolean };
  createObjectStore(name: string): unknown;
  transaction(
    name: string,
    mode: 'readonly' | 'readwrite',
  ): {
    objectStore(name: string): { get(k: string): IdbRequest; put(v: string, k: string): IdbRequest; delete(k: string): IdbRequest };
    oncomplete: (() => void) | null;
    onerror: (() => void) | null;
    onabort: (() => void) | null;
    error: unknown;
  };
}
interface IdbFactory {
  open(name: string, version?: number): IdbOpenRequest;
}

/** Browsers: one IndexedDB database (default `queue-service-client`), one object store. */
export class IndexedDbStorage implements ClientStorage {
  private db: Promise<IdbDatabase> | null = null;
  private static readonly STORE = 'kv';

  private readonly name: string;
  private readonly factory?: IdbFactory;
  constructor(name = 'queue-service-client', factory?: IdbFactory) {
    this.name = name;
    this.factory = factory;
  }

  private open(): Promise<IdbDatabase> {
    if (this.db !== null) return this.db;
    const f = this.factory ?? (globalThis as { indexedDB?: IdbFactory }).indexedDB;
    if (!f) return Promise.reject(new Error('IndexedDB is not available here'));
    this.db = new Promise((resolve, reject) => {
      const req = f.open(this.name, 1);
      req.onupgradeneeded = () => {
        if (!req.result.objectStoreNames.contains(IndexedDbStorage.STORE)) req.result.createObjectStore(IndexedDbStorage.STORE);
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    return this.db;
  }

  private async run<T>(mode: 'readonly' | 'readwrite', fn: (s: ReturnType<ReturnType<IdbDatabase['transaction']>['objectStore']>) => IdbRequest): Promise<T> {
    const db = await this.open();
    return new Promise<T>((resolve, reject) => {
      const tx = db.transaction(IndexedDbStorage.STORE, mode);
      const req = fn(tx.objectStore(IndexedDbStorage.STORE));
      // Resolved when the transaction commits, so a write is durable before we go on.
      tx.oncomplete = () => resolve(req.result as T);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }

  async get(key: string): Promise<string | null> {
    const v = await this.run<unknown>('readonly', (s) => s.get(key));
    return typeof v === 'string' ? v : null;
  }
  async set(key: string, value: string): Promise<void> {
    await this.run('readwrite', (s) => s.put(value, key));
  }
  async delete(key: string): Promise<void> {
    await this.run('readwrite', (s) => s.delete(key));
  }
}
