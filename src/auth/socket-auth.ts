// Tokens on open sockets: the scope each message needs ([AU7]), and a fresh token for an
// open socket ([AU11]) so that a provider's short-lived tokens (5 to 60 minutes) do not
// cost a reconnect (and the device's presence a flap) each time one expires.
import { AppError } from '../errors.ts';
import type { Connection } from '../realtime/connection.ts';
import type { Authenticator } from './authenticator.ts';
import { requireScope, type Granted, type Scope } from './scopes.ts';

/** What the socket's token may do (the connection holds the scopes as strings; they are ours). */
export const socketScopes = (c: Connection): Granted => (c.credential?.scopes ?? null) as Granted;

/** 403 insufficient_scope (as an `error` message, the socket stays open) unless the socket's token covers `needed`. */
export function requireSocketScope(c: Connection, needed: Scope | readonly Scope[]): void {
  requireScope(socketScopes(c), needed);
}

/**
 * Checks `token` and, if it is the same user's and covers what the socket was opened for
 * (`opened`), makes it the socket's token: its expiry (4401 then), its scopes, its id
 * (revocations). Otherwise an AppError, and the socket keeps the token it had.
 */
export async function renewSocketToken(
  c: Connection,
  auth: Pick<Authenticator, 'authenticate'>,
  msg: { token: string; mutationId?: string },
  opened: Scope,
): Promise<{ type: 'auth_ok'; mutationId: string | null; expiresAt: number | null; scopes: string[] | null }> {
  const { token } = msg;
  const next = await auth.authenticate(token);
  if (next.userId !== c.userId) {
    throw new AppError('forbidden', 'token_user_mismatch', 'the new token is for another user: open a new socket with it', {
      userId: next.userId,
      socketUserId: c.userId,
    });
  }
  requireScope(next.scopes, opened);
  c.expiresAt = next.expiresAt;
  c.credential = next;
  return { type: 'auth_ok', mutationId: msg.mutationId ?? null, expiresAt: next.expiresAt, scopes: next.scopes === null ? null : [...next.scopes].sort() };
}
