// Typed REST wrappers over the service's routes (src/**/routes.ts). Request and answer
// types are the server's own: TypeBox schemas read with `Static`, and the queue domain's
// TypeScript types, imported as types only (nothing of the server runs here but the
// pure queue code the mirrors fold with). `request()` reaches any other route.
import type { Static, TSchema } from '@sinclair/typebox';
import type * as QS from '../../src/queues/schemas.ts';
import type * as CS from '../../src/catalog/schemas.ts';
import type * as PS from '../../src/playback/schemas.ts';
import type * as RS from '../../src/radio/schemas.ts';
import type * as OS from '../../src/offline/schemas.ts';
import type { CreateInviteBody, InviteSchema, PresenceResponse } from '../../src/collab/schemas.ts';
import type { QueueEvent, QueueView, WindowQuery, CollaboratorRole } from '../../src/queues/queue.ts';
import type { ClientContext } from './context.ts';
import { retryAfterMs } from './backoff.ts';
import { errorFromBody, QueueServiceError } from './errors.ts';

type S<T extends TSchema> = Static<T>;
/** Answers that embed the queue and its events by reference get the domain's types for them. */
type WithQueue<T> = Omit<T, 'queue' | 'events'> & { queue: QueueView; events: QueueEvent[] };

export type { QueueEvent, QueueView, WindowQuery };
/** Order keys of window items: itemId -> {key, shuffleKey?} ([QW7]). */
export type ItemKeys = Record<string, { key: string; shuffleKey?: string }>;
export type QueueWindowAnswer = QueueView & { itemKeys?: ItemKeys };
/** Mutation answers: the events appended, the version, and (unless minimal) the queue. */
export interface WriteAnswer {
  queue?: QueueView;
  events: QueueEvent[];
  version: number;
}
export type QueueList = S<typeof QS.ListResponse>;
export type QueueListEntry = QueueList['queues'][number];
export type EventsAnswer = Omit<S<typeof QS.EventsResponse>, 'events'> & { events: QueueEvent[] };
export type CreateQueueBody = S<typeof QS.CreateQueueBody>;
export type CreateCollaborativeBody = S<typeof QS.CreateCollaborativeBody>;
export type AddTracksBody = S<typeof QS.AddTracksBody>;
export type MoveItemBody = S<typeof QS.MoveItemBody>;
export type Collaborators = Omit<S<typeof QS.CollaboratorsResponse>, 'collaborators'> & {
  collaborators: { userId: string; role: CollaboratorRole; via: string; joinedAt: string }[];
};
export type QueueHistory = S<typeof QS.HistoryResponse>;
export type Invite = S<typeof InviteSchema>;
export type CreateInvite = S<typeof CreateInviteBody>;
export type QueuePresenceAnswer = S<typeof PresenceResponse>;
export type SearchAnswer = S<typeof CS.SearchResponse>;
export type CatalogTrack = S<typeof CS.TrackSchema>;
export type TrackLookup = S<typeof CS.LookupTracksResponse>;
export type PlaybackStateAnswer = S<typeof PS.PlaybackStateResponse>;
export type PlaybackWrite = S<typeof PS.PlaybackWriteBody>;
export type Devices = S<typeof PS.DevicesResponse>;
export type Device = S<typeof PS.DeviceSchema>;
export type DeviceInfo = S<typeof PS.DeviceBody>;
export type SyncEventsAnswer = S<typeof PS.SyncEventsResponse>;
export type UserSyncEvent = S<typeof PS.SyncEventSchema>;
export type RadioBody = S<typeof RS.RadioBody>;
export type RadioAnswer = WithQueue<S<typeof RS.RadioResponse>>;
export type BatchAnswer = WithQueue<S<typeof RS.BatchResponse>>;
export type RecoQueueBody = S<typeof RS.RecoQueueBody>;
export type OfflineChange = S<typeof OS.OfflineChange>;
export type OfflineSyncBody = S<typeof OS.SyncBody>;
export type OfflineSyncAnswer = Omit<S<typeof OS.SyncResponse>, 'events' | 'queues'> & {
  events: { queues: Record<string, QueueEvent[]>; user: UserSyncEvent[] };
  queues: Record<string, QueueView>;
};
/** GET /auth/me. */
export interface TokenInfo {
  userId: string;
  /** null: the user's full rights. */
  scopes: string[] | null;
  expiresAt: string | null;
  tokenId: string | null;
  source: 'minted' | 'provider';
}
export interface MintedToken {
  token: string;
  expiresAt: string;
  tokenId: string;
  scopes: string[] | null;
}
export type OfflineQueueAnswer = Omit<S<typeof OS.OfflineQueueResponse>, 'queue'> & { queue: QueueView };

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
  /** Sent as Idempotency-Key: a retry of the same write is applied once ([Q2]). */
  idempotencyKey?: string;
  /** Prefer: return=minimal on queue writes ([QW5]). */
  minimal?: boolean;
  /** Use this credential instead of the user token (e.g. the admin API key). */
  bearer?: string;
  signal?: AbortSignal;
  /**
   * Retries after a 503 `overloaded` or `shutting_down` (nothing was applied), each after the
   * answer's Retry-After with jitter ([AD9]); default 5, 0 = none (the error is thrown).
   */
  busyRetries?: number;
}

/** Refusals that say "not now, and nothing was applied": safe to send again as they are. */
const BUSY_CODES = new Set(['overloaded', 'shutting_down']);

const enc = encodeURIComponent;

/** The REST API, typed. One instance per QueueClient (`client.api`), sharing its context. */
export class Api {
  private readonly ctx: ClientContext;
  private readonly observe?: (body: unknown) => void;
  /**
   * `observe` sees every successful answer: QueueClient passes the queue events of write
   * answers to its mirrors at once (the socket never sends a device its own writes, [RT5]).
   */
  constructor(ctx: ClientContext, observe?: (body: unknown) => void) {
    this.ctx = ctx;
    this.observe = observe;
  }

  /**
   * Any route: JSON in, JSON out; a non-2xx answer throws QueueServiceError with the
   * service's code. A 401 asks the app for a fresh token (getToken) and retries once.
   */
  async request<T = unknown>(method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<T> {
    let refusedBusy = 0;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { 'x-device-id': this.ctx.deviceId, ...opts.headers };
      headers.authorization = `Bearer ${opts.bearer ?? (await this.ctx.token())}`;
      if (opts.idempotencyKey) headers['idempotency-key'] = opts.idempotencyKey;
      if (opts.minimal) headers.prefer = 'return=minimal';
      let payload: string | undefined;
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        payload = JSON.stringify(body);
      }
      const url = new URL(path, `${this.ctx.baseUrl}/`);
      for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
      let res: Response;
      try {
        res = await this.ctx.fetch(url.toString(), { method, headers, body: payload, signal: opts.signal });
      } catch (err) {
        throw new QueueServiceError(-1, 'network_error', err instanceof Error ? err.message : String(err));
      }
      const text = await res.text();
      let json: unknown = null;
      try {
        json = text ? JSON.parse(text) : null;
      } catch {
        json = text;
      }
      if (res.ok) {
        this.observe?.(json);
        return json as T;
      }
      if (res.status === 401 && !opts.bearer && attempt === 0) {
        this.ctx.tokenRejected();
        continue;
      }
      const err = errorFromBody(res.status, json);
      if (res.status === 503 && BUSY_CODES.has(err.code) && refusedBusy < (opts.busyRetries ?? 5) && !opts.signal?.aborted) {
        refusedBusy++;
        const wait = retryAfterMs(res.headers.get('retry-after') ?? err.details.retryAfterSeconds);
        this.ctx.busy({
          source: 'rest',
          code: err.code,
          reason: typeof err.details.reason === 'string' ? err.details.reason : undefined,
          retryInMs: wait,
          attempt: refusedBusy,
        });
        await new Promise((r) => setTimeout(r, wait));
        continue;
      }
      throw err;
    }
  }

  // ---- queues ----
  /** The queues the caller owns or collaborates on, each with the caller's role ([CO4]). */
  listQueues(q: { limit?: number; cursor?: string } = {}): Promise<QueueList> {
    return this.request('GET', '/queues', undefined, { query: q });
  }
  createQueue(body: CreateQueueBody, opts: RequestOptions = {}): Promise<WriteAnswer & { queue: QueueView }> {
    return this.request('POST', '/queues', body, opts);
  }
  createCollaborativeQueue(body: CreateCollaborativeBody, opts: RequestOptions = {}): Promise<WriteAnswer & { queue: QueueView }> {
    return this.request('POST', '/queues/collaborative', body, opts);
  }
  /** The header and one window of items ([QW1]-[QW3]); `keys: true` adds the items' order keys. */
  getQueue(queueId: string, window: WindowQuery & { keys?: boolean } = {}): Promise<QueueWindowAnswer> {
    return this.request('GET', `/queues/${enc(queueId)}`, undefined, { query: window as Record<string, string | number | boolean | undefined> });
  }
  queueEvents(queueId: string, since: number, limit?: number): Promise<EventsAnswer> {
    return this.request('GET', `/queues/${enc(queueId)}/events`, undefined, { query: { since, limit } });
  }
  updateQueue(queueId: string, body: { name?: string; metadata?: Record<string, unknown> }, opts: RequestOptions = {}): Promise<WriteAnswer> {
    return this.request('PATCH', `/queues/${enc(queueId)}`, body, opts);
  }
  deleteQueue(queueId: string, opts: RequestOptions = {}): Promise<WriteAnswer> {
    return this.request('DELETE', `/queues/${enc(queueId)}`, undefined, opts);
  }
  addTracks(queueId: string, body: AddTracksBody, opts: RequestOptions = {}): Promise<WriteAnswer> {
    return this.request('POST', `/queues/${enc(queueId)}/tracks`, body, opts);
  }
  removeItem(queueId: string, itemId: string, opts: RequestOptions = {}): Promise<WriteAnswer> {
    return this.request('DELETE', `/queues/${enc(queueId)}/items/${enc(itemId)}`, undefined, opts);
  }
  moveItem(queueId: string, itemId: string, body: MoveItemBody, opts: RequestOptions = {}): Promise<WriteAnswer> {
    return this.request('POST', `/queues/${enc(queueId)}/items/${enc(itemId)}/move`, body, opts);
  }
  /** Items of the queue with a signed download URL each, for offline play. */
  offlineQueue(queueId: string): Promise<OfflineQueueAnswer> {
    return this.request('GET', `/queues/${enc(queueId)}/offline`);
  }

  // ---- collaboration ----
  collaborators(queueId: string): Promise<Collaborators> {
    return this.request('GET', `/queues/${enc(queueId)}/collaborators`);
  }
  addCollaborator(queueId: string, userId: string, permissionLevel: CollaboratorRole, opts: RequestOptions = {}): Promise<WriteAnswer> {
    return this.request('POST', `/queues/${enc(queueId)}/collaborators`, { userId, permissionLevel }, opts);
  }
  setCollaboratorRole(queueId: string, userId: string, permissionLevel: CollaboratorRole, opts: RequestOptions = {}): Promise<WriteAnswer> {
    return this.request('PUT', `/queues/${enc(queueId)}/collaborators/${enc(userId)}`, { permissionLevel }, opts);
  }
  removeCollaborator(queueId: string, userId: string, opts: RequestOptions = {}): Promise<WriteAnswer> {
    return this.request('DELETE', `/queues/${enc(queueId)}/collaborators/${enc(userId)}`, undefined, opts);
  }
  leaveQueue(queueId: string, opts: RequestOptions = {}): Promise<WriteAnswer> {
    return this.request('POST', `/queues/${enc(queueId)}/leave`, {}, opts);
  }
  joinPublicQueue(queueId: string, opts: RequestOptions = {}): Promise<WriteAnswer> {
    return this.request('POST', `/queues/${enc(queueId)}/join`, {}, opts);
  }
  transferOwnership(queueId: string, userId: string, opts: RequestOptions = {}): Promise<WriteAnswer> {
    return this.request('POST', `/queues/${enc(queueId)}/transfer`, { userId }, opts);
  }
  setVisibility(queueId: string, isPublic: boolean, opts: RequestOptions = {}): Promise<WriteAnswer> {
    return this.request('PUT', `/queues/${enc(queueId)}/visibility`, { isPublic }, opts);
  }
  updateSettings(queueId: string, settings: { fairOrder?: boolean; voteOrder?: boolean }, opts: RequestOptions = {}): Promise<WriteAnswer> {
    return this.request('PUT', `/queues/${enc(queueId)}/settings`, settings, opts);
  }
  vote(queueId: string, itemId: string, vote: 1 | -1 | 0, opts: RequestOptions = {}): Promise<WriteAnswer> {
    return this.request('POST', `/queues/${enc(queueId)}/items/${enc(itemId)}/vote`, { vote }, opts);
  }
  /** Who did what, newest first ([CO6]). */
  history(queueId: string, q: { before?: number; limit?: number } = {}): Promise<QueueHistory> {
    return this.request('GET', `/queues/${enc(queueId)}/history`, undefined, { query: q });
  }
  /** Who has the queue open now ([CO11]). */
  queuePresence(queueId: string): Promise<QueuePresenceAnswer> {
    return this.request('GET', `/queues/${enc(queueId)}/presence`);
  }
  createInvite(queueId: string, body: CreateInvite): Promise<Invite> {
    return this.request('POST', `/queues/${enc(queueId)}/invites`, body);
  }
  listInvites(queueId: string): Promise<{ invites: Invite[] }> {
    return this.request('GET', `/queues/${enc(queueId)}/invites`);
  }
  revokeInvite(queueId: string, code: string): Promise<null> {
    return this.request('DELETE', `/queues/${enc(queueId)}/invites/${enc(code)}`);
  }
  acceptInvite(code: string, opts: RequestOptions = {}): Promise<WriteAnswer> {
    return this.request('POST', `/invites/${enc(code)}/accept`, {}, opts);
  }

  // ---- catalog, radio, recommendations ----
  searchCatalog(q: string, limit?: number): Promise<SearchAnswer> {
    return this.request('GET', '/catalog/search', undefined, { query: { q, limit } });
  }
  getTrack(trackId: string): Promise<CatalogTrack> {
    return this.request('GET', `/catalog/tracks/${enc(trackId)}`);
  }
  /** Up to 200 tracks at once (e.g. the names of a window); ids the catalog lacks come back in `missing`. */
  lookupTracks(ids: readonly string[]): Promise<TrackLookup> {
    return this.request('POST', '/catalog/tracks/lookup', { ids });
  }
  /** A radio queue from a seed station (track:<id>, artist:<name>, genre:<name>, ...). */
  startRadio(stationId: string, body: Partial<RadioBody> = {}, opts: RequestOptions = {}): Promise<RadioAnswer> {
    return this.request('POST', `/radio/${enc(stationId)}/queue`, { userId: 'me', ...body }, opts);
  }
  /** Append recommended tracks to a queue. */
  extendQueue(queueId: string, count?: number, opts: RequestOptions = {}): Promise<BatchAnswer> {
    return this.request('POST', `/queues/${enc(queueId)}/extend`, count === undefined ? {} : { count }, opts);
  }
  recommendationsQueue(body: RecoQueueBody, opts: RequestOptions = {}): Promise<unknown> {
    return this.request('POST', '/recommendations/queue', body, opts);
  }

  // ---- playback and devices ----
  playbackState(excludeDevice?: string): Promise<PlaybackStateAnswer> {
    return this.request('GET', '/users/me/playback-state', undefined, { query: { exclude_device: excludeDevice } });
  }
  putPlaybackState(body: PlaybackWrite, opts: RequestOptions = {}): Promise<PlaybackStateAnswer> {
    return this.request('PUT', '/users/me/playback-state', body, opts);
  }
  transferPlayback(deviceId: string, play?: boolean, opts: RequestOptions = {}): Promise<PlaybackStateAnswer> {
    return this.request('POST', '/users/me/playback/transfer', play === undefined ? { deviceId } : { deviceId, play }, opts);
  }
  syncEvents(since: number, limit?: number): Promise<SyncEventsAnswer> {
    return this.request('GET', '/users/me/sync-events', undefined, { query: { since, limit } });
  }
  /** The user's devices, with presence (`online`) and the active one. */
  devices(): Promise<Devices> {
    return this.request('GET', '/users/me/devices');
  }
  registerDevice(deviceId: string, info: DeviceInfo): Promise<Device> {
    return this.request('PUT', `/users/me/devices/${enc(deviceId)}`, info);
  }

  // ---- offline ----
  syncOffline(body: OfflineSyncBody): Promise<OfflineSyncAnswer> {
    return this.request('POST', '/sync/offline', body);
  }

  // ---- tokens ----
  /** Who the token is: the user id the service knows it by (a provider's id may be mapped), its scopes, expiry and source. */
  me(): Promise<TokenInfo> {
    return this.request('GET', '/auth/me');
  }

  // ---- operators ----
  /** Mint a user token with the operator's admin API key (POST /auth/tokens), optionally limited to `scopes`. */
  mintToken(adminKey: string, userId: string, ttlSeconds?: number, scopes?: string[]): Promise<MintedToken> {
    const body: Record<string, unknown> = { userId };
    if (ttlSeconds !== undefined) body.ttlSeconds = ttlSeconds;
    if (scopes !== undefined) body.scopes = scopes;
    return this.request('POST', '/auth/tokens', body, { bearer: adminKey });
  }
  /** Revoke one token ({token} or {tokenId}) or every token of a user issued before now ({userId}), with the admin API key. */
  revokeTokens(
    adminKey: string,
    what: { token: string } | { tokenId: string; userId?: string } | { userId: string },
  ): Promise<{ revoked: 'token' | 'user'; tokenId: string | null; userId: string | null; issuedBefore: string | null; revokedAt: string }> {
    return this.request('POST', '/auth/tokens/revoke', what, { bearer: adminKey });
  }
}
