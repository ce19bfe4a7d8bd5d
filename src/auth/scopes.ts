// Scopes (issue 23, docs/SPEC.md [AU5]-[AU8]): what a token may do of what its user may
// do. A token that names none of these scopes has its user's full rights (every token
// minted before scopes existed, and a provider's token that carries only `openid profile`).
// A token that names some may do only what they cover; each route and socket message
// says which one it needs (route-scopes.ts, and the socket handlers).
import { AppError } from '../errors.ts';

export const SCOPES = ['queue:read', 'queue:write', 'playback:write', 'party:join', 'party:host', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** What each scope is for, as the docs and the OpenAPI document say it. */
export const SCOPE_DESCRIPTIONS: Record<Scope, string> = {
  'queue:read': "read the user's queues, playback state, devices and the catalog; open the queue and sync sockets",
  'queue:write': 'change queues: create, add, remove, move, clear, rename, delete, collaborators, invites, votes, radio (implies queue:read)',
  'playback:write':
    "control playback: the playback state, transfer, devices, the queue's current item (next, previous, set current), shuffle, repeat; report history, context and feedback",
  'party:join': 'take part in listening parties as a member: join, leave, the party socket, clock sync, position reports, member adds',
  'party:host': 'host listening parties: create, play/pause/seek/skip, settings, hand over, end (implies party:join)',
  admin: 'the operator routes (mint and revoke tokens, the catalog), as the admin API key does',
};

/** A scope and those it takes along: a writer reads what it writes, a host is a member. */
const IMPLIES: Partial<Record<Scope, Scope[]>> = { 'queue:write': ['queue:read'], 'party:host': ['party:join'] };

const known = new Set<string>(SCOPES);
export const isScope = (s: string): s is Scope => known.has(s);

/** What a token may do: null = its user's full rights (no scope named); else exactly these (implications added). */
export type Granted = ReadonlySet<Scope> | null;

/** The scopes a list names, with what they imply; null when it names none of ours. */
export function grant(names: Iterable<string>): Granted {
  const out = new Set<Scope>();
  for (const n of names) {
    if (!isScope(n)) continue; // a provider's own scopes (openid, profile, ...) are not ours
    out.add(n);
    for (const i of IMPLIES[n] ?? []) out.add(i);
  }
  return out.size ? out : null;
}

/**
 * The scope names a token's claims carry: `scope` (a space-separated string, RFC 8693 /
 * RFC 9068) and `scp` (an array, or a string, as Okta and Azure AD send it), both read.
 */
export function scopeNames(claims: Readonly<Record<string, unknown>>): string[] {
  const names: string[] = [];
  for (const v of [claims.scope, claims.scp]) {
    if (typeof v === 'string') names.push(...v.split(' ').filter(Boolean));
    else if (Array.isArray(v)) for (const s of v) if (typeof s === 'string') names.push(...s.split(' ').filter(Boolean));
  }
  return names;
}

/** Whether `granted` covers any of `needed` (one scope, or a list of which any one will do). */
export function allows(granted: Granted, needed: Scope | readonly Scope[]): boolean {
  if (granted === null) return true;
  const list = typeof needed === 'string' ? [needed] : needed;
  return list.length === 0 || list.some((s) => granted.has(s));
}

/** 403 insufficient_scope naming the missing scope ([AU6]); nothing when `granted` covers it. */
export function requireScope(granted: Granted, needed: Scope | readonly Scope[]): void {
  if (allows(granted, needed)) return;
  const list = typeof needed === 'string' ? [needed] : [...needed];
  const first = list[0]!;
  throw new AppError(
    'forbidden',
    'insufficient_scope',
    list.length === 1 ? `this token lacks the scope ${first}` : `this token lacks the scope ${first} (or ${list.slice(1).join(' or ')})`,
    { scope: first, anyOf: list, granted: granted ? [...granted].sort() : [] },
  );
}

/**
 * The scope each socket and offline-batch operation needs, by op name ([AU7]). Edits of
 * what a queue holds are queue:write; what plays (the current item, shuffle, repeat, the
 * playback state) is playback:write, so a remote control may skip without editing.
 */
export const OP_SCOPES: Record<string, Scope> = {
  add_tracks: 'queue:write',
  remove_item: 'queue:write',
  remove_items: 'queue:write',
  move_item: 'queue:write',
  clear: 'queue:write',
  update_queue: 'queue:write',
  delete_queue: 'queue:write',
  vote_item: 'queue:write',
  add_collaborator: 'queue:write',
  set_collaborator_role: 'queue:write',
  remove_collaborator: 'queue:write',
  leave_queue: 'queue:write',
  join_queue: 'queue:write',
  transfer_ownership: 'queue:write',
  set_visibility: 'queue:write',
  update_settings: 'queue:write',
  set_shuffle: 'playback:write',
  set_repeat: 'playback:write',
  set_current: 'playback:write',
  next: 'playback:write',
  previous: 'playback:write',
  set_playback: 'playback:write',
};

/** The scope of an op; an op we do not know needs queue:write (it is refused as unknown after the check anyway). */
export const opScope = (op: string): Scope => (Object.hasOwn(OP_SCOPES, op) ? OP_SCOPES[op]! : 'queue:write');
