// Who is signed in: the SDK client for a user token and this browser's device id.
// The token stays in sessionStorage (this tab, until it closes) so a reload keeps the
// session; an admin key is used once to mint a token and is kept nowhere.
import { IndexedDbStorage, QueueClient, type Client } from './sdk.ts';

export interface Session {
  client: Client;
  /** The user id the service knows the token by (GET /auth/me: a provider's id may be mapped). */
  userId: string;
  /** What the token may do; null: the user's full rights. */
  scopes: string[] | null;
  /** 'provider': an access token of the app's identity provider; 'minted': one of the service's own. */
  source: 'minted' | 'provider';
  deviceId: string;
  stop(): void;
}

const TOKEN_KEY = 'qs-console-token';

/** The page's "Work offline" toggle (the browser's own offline mode is separate). */
let forcedOffline = false;
export function setForcedOffline(session: Session, on: boolean): void {
  forcedOffline = on;
  if (on) session.client.goOffline();
  else if (navigator.onLine) session.client.goOnline();
}
export const isForcedOffline = () => forcedOffline;
const DEVICE_KEY = 'qs-console-device';

const TAB_DEVICE_KEY = 'qs-console-tab-device';
const newDeviceId = () => `web-${crypto.randomUUID().slice(0, 8)}`;

/**
 * This tab's device id: the browser profile's (localStorage), so a later tab is the same
 * device, and a reload keeps the tab's id (sessionStorage). The SDK keeps one outbox per
 * device id, so two tabs open at once must not share one: a tab holds a Web Lock on its id
 * for as long as it is open, and a second tab takes an id of its own.
 */
export async function deviceId(): Promise<string> {
  let profile = localStorage.getItem(DEVICE_KEY);
  if (!profile) {
    profile = newDeviceId();
    localStorage.setItem(DEVICE_KEY, profile);
  }
  // A reload: the id this tab had, once the document it replaces lets go of it (a duplicated
  // tab has the same sessionStorage, but its original keeps the lock: it moves on after 1 s).
  const before = sessionStorage.getItem(TAB_DEVICE_KEY);
  let id = before !== null && (await claim(before, 1000)) ? before : null;
  if (id === null) id = (await claim(profile)) ? profile : newDeviceId();
  await claim(id);
  sessionStorage.setItem(TAB_DEVICE_KEY, id);
  return id;
}

const held = new Set<string>();
/** True when this tab holds (or now takes) the lock on `id` (waiting up to `waitMs`); false when another tab does. */
function claim(id: string, waitMs = 0): Promise<boolean> {
  const locks = (navigator as { locks?: LockManager }).locks;
  if (!locks || held.has(id)) return Promise.resolve(true);
  const options: LockOptions = waitMs > 0 ? { signal: AbortSignal.timeout(waitMs) } : { ifAvailable: true };
  return new Promise((resolve) => {
    locks
      .request(`qs-console-device:${id}`, options, (lock) => {
        resolve(lock !== null);
        if (!lock) return undefined;
        held.add(id);
        return new Promise<void>(() => undefined); // released when the tab closes
      })
      .catch(() => resolve(false)); // the wait timed out: another tab holds it
  });
}

export function savedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export async function signIn(token: string): Promise<Session> {
  const device = await deviceId();
  // Offline edits wait in IndexedDB: they survive a reload of the page.
  // Not connected until the token is known good: a refused one must not keep a socket retrying.
  const client = new QueueClient({
    baseUrl: location.origin,
    token,
    deviceId: device,
    storage: new IndexedDbStorage(),
    deviceName: 'Web console',
    deviceType: 'web',
    autoConnect: false,
  });
  client.on('conflict', (c) => offlineLog.add({ at: Date.now(), kind: 'conflict', text: describeConflict(c) }));
  // Failures not tied to a call (an offline sync that failed and will be tried again, ...).
  client.on('error', (e) => offlineLog.add({ at: Date.now(), kind: 'error', text: `${e.code}: ${e.message}` }));
  // A wrong or expired token is refused here, before any view opens; the answer says who it is
  // (a provider's token names its user in a claim of its own, mapped to our user ids).
  const me = await client.api.me().catch(async (err: unknown) => {
    await client.close();
    throw err;
  });
  void client.connect();
  sessionStorage.setItem(TOKEN_KEY, token);
  // Offline edits the server has decided (each POST /sync/offline), with how many conflicted.
  client.on('synced', (s) =>
    offlineLog.add({
      at: Date.now(),
      kind: 'synced',
      text: `${s.edits} offline edit(s) sent${s.conflicts ? `, ${s.conflicts} with a conflict` : ''}${s.refused ? `, ${s.refused} not applied` : ''}`,
    }),
  );
  // The browser's own offline mode: an open socket may outlive it for a while (until a
  // heartbeat is missed), so the page tells the client at once, and back when the browser is
  // online again (unless the page's own toggle keeps it offline).
  const offline = () => client.goOffline();
  const online = () => {
    if (!forcedOffline) client.goOnline();
  };
  addEventListener('offline', offline);
  addEventListener('online', online);
  if (!navigator.onLine) client.goOffline();
  return {
    client,
    userId: me.userId,
    scopes: me.scopes,
    source: me.source,
    deviceId: device,
    stop: () => {
      removeEventListener('offline', offline);
      removeEventListener('online', online);
    },
  };
}

/** Mint a user token with the operator's admin key (POST /auth/tokens); the key is not stored. */
export async function mintWithAdminKey(adminKey: string, userId: string): Promise<string> {
  // A client that opens no socket: it only makes this one call, with the key as its bearer.
  const admin = new QueueClient({ baseUrl: location.origin, token: adminKey, deviceId: await deviceId(), autoConnect: false });
  return (await admin.api.mintToken(adminKey, userId)).token;
}

export async function signOut(session: Session): Promise<void> {
  sessionStorage.removeItem(TOKEN_KEY);
  session.stop();
  await session.client.close();
}

function describeConflict(c: { queueId: string; resolution: string; reason?: unknown; change?: unknown }): string {
  const reason = c.reason as { code?: string; message?: string } | undefined;
  const change = c.change as { op?: string; type?: string } | undefined;
  return `${change?.op ?? change?.type ?? 'an edit'} on queue ${c.queueId.slice(0, 8)}: ${c.resolution}${reason?.message ? ` (${reason.code}: ${reason.message})` : ''}`;
}

/** What the SDK reported about offline edits (synced, conflicts), newest first, for the Offline view. */
export interface OfflineEntry {
  at: number;
  kind: 'synced' | 'conflict' | 'error';
  text: string;
}
export const offlineLog = {
  entries: [] as OfflineEntry[],
  listeners: new Set<() => void>(),
  add(e: OfflineEntry) {
    this.entries.unshift(e);
    this.entries.splice(50);
    for (const l of this.listeners) l();
  },
  subscribe(l: () => void) {
    this.listeners.add(l);
    return () => void this.listeners.delete(l);
  },
};
