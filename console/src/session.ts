// Who is signed in: the SDK client for a user token and this browser's device id.
// The token stays in sessionStorage (this tab, until it closes) so a reload keeps the
// session; an admin key is used once to mint a token and is kept nowhere.
import { QueueClient, type Client } from './sdk.ts';
import { api } from './api-extra.ts';

export interface Session {
  client: Client;
  userId: string;
  deviceId: string;
}

const TOKEN_KEY = 'qs-console-token';
const DEVICE_KEY = 'qs-console-device';

/** This browser profile's device id (one per profile, kept in localStorage). */
export function deviceId(): string {
  let id = localStorage.getItem(DEVICE_KEY);
  if (!id) {
    id = `web-${crypto.randomUUID().slice(0, 8)}`;
    localStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

/** The user id in a JWT's `sub` (read only for display; the service checks the token). */
export function tokenUser(token: string): string {
  try {
    const part = token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/');
    const sub = (JSON.parse(atob(part)) as { sub?: unknown }).sub;
    return typeof sub === 'string' ? sub : '?';
  } catch {
    return '?';
  }
}

export function savedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export async function signIn(token: string): Promise<Session> {
  const device = deviceId();
  const client = new QueueClient({ baseUrl: location.origin, token, deviceId: device });
  // A wrong or expired token is refused here, before any view opens.
  await api.queues(client);
  sessionStorage.setItem(TOKEN_KEY, token);
  return { client, userId: tokenUser(token), deviceId: device };
}

/** Mint a user token with the operator's admin key (POST /auth/tokens); the key is not stored. */
export async function mintWithAdminKey(adminKey: string, userId: string): Promise<string> {
  const admin = new QueueClient({ baseUrl: location.origin, token: adminKey, deviceId: deviceId() });
  try {
    return (await api.mintToken(admin, userId)).token;
  } finally {
    await admin.close();
  }
}

export async function signOut(session: Session): Promise<void> {
  sessionStorage.removeItem(TOKEN_KEY);
  await session.client.close();
}

/** What the SDK reported about offline edits (synced, conflicts), newest first, for the Offline view. */
export interface OfflineEntry { at: number; kind: 'synced' | 'conflict' | 'error'; text: string }
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
