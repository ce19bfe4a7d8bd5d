// @queue-service/client: the typed client SDK of queue-service (browser and Node).
export { QueueClient, type QueueClientOptions, type ClientStatus, type ClientEvents, type PresenceNote } from './client.ts';
export {
  QueueMirror,
  commandOf,
  type MirrorState,
  type MirrorWindow,
  type MirrorEvents,
  type MutationResult,
  type OfflineConflict,
  type Placement,
  type OpenQueueOptions,
} from './mirror.ts';
export {
  PartySession,
  type PartySessionOptions,
  type PartyEvents,
  type PlaybackEvent,
  type PlaybackCommand,
  type PlaybackSync,
  type QueueUpdated,
  type SyncCorrection,
  type SyncDegraded,
  type ClockView,
  type SessionStatus,
  type PartyEventMessage,
  type PartyView,
  type PartyDeviceView,
  type PartyState,
} from './party.ts';
export { PlaybackMirror, type PlaybackMirrorState, type PlaybackUpdate, type PlaybackEvents } from './playback.ts';
export { Api, type RequestOptions, type TokenInfo, type MintedToken } from './api.ts';
export type * from './api.ts';
export { QueueServiceError } from './errors.ts';
export type { BusyRetry } from './backoff.ts';
export { MemoryStorage, IndexedDbStorage, type ClientStorage } from './storage.ts';
export {
  makeContext,
  socketUrl,
  findWebSocket,
  tokenTimes,
  type ClientContext,
  type ContextOptions,
  type WebSocketCtor,
  type WebSocketLike,
} from './context.ts';
export type { OutboxEntry } from './outbox.ts';
export { Emitter } from './emitter.ts';
export type { QueueItem, QueueEvent, RepeatMode, Collaborator } from '../../src/queues/queue.ts';
import type { QueueItem, QueueState as FoldedState } from '../../src/queues/queue.ts';
/** A queue's state as the SDK gives it to the app (`q.state`): the server's, its items an array. */
export type QueueState = Omit<FoldedState, 'items'> & { items: QueueItem[] };
