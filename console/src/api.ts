// The REST calls the views make, all through the SDK's typed wrappers (`client.api`).
// Kept in one file so the views read `api.queues(client)` and a change in the SDK's
// names is a change here. Nothing here calls fetch: the console reaches the API only
// through @queue-service/client.
import type { CatalogTrack as Track, Client, Collaborators, Device, Invite, PartyDeviceView, PartyView, QueueHistory, QueueListEntry } from './sdk.ts';

// The answers as the SDK types them (its wire types, from the server's schemas): no copy here.
export type { Collaborators, Device, Invite };
/** What the views show of a track: a search hit, or a track looked up by id. */
export type CatalogTrack = Pick<Track, 'id' | 'title' | 'artist' | 'album'>;
export type QueueSummary = QueueListEntry;
export type HistoryEntry = QueueHistory['entries'][number];
// A party as the server shows it: the SDK's own types (from the party protocol).
export type MemberDevice = PartyDeviceView;
export type PartyMember = PartyView['members'][number];
export type PartyInfo = PartyView;

/** A collaborator's role, as the SDK's calls take it. */
type Role = Parameters<Client['api']['setCollaboratorRole']>[2];

export const api = {
  queues: async (c: Client): Promise<{ queues: QueueSummary[] }> => c.api.listQueues({ limit: 100 }),
  createQueue: async (c: Client, name: string, collaborative: boolean): Promise<{ queue: { id: string } }> =>
    collaborative ? c.api.createCollaborativeQueue({ name, tracks: [] }) : c.api.createQueue({ name, tracks: [] }),
  search: async (c: Client, q: string): Promise<{ tracks: CatalogTrack[] }> => c.api.searchCatalog(q, 10),
  tracks: async (c: Client, ids: string[]): Promise<{ tracks: CatalogTrack[]; missing: string[] }> => c.api.lookupTracks(ids),
  devices: async (c: Client): Promise<{ devices: Device[] }> => c.api.devices(),
  nameDevice: (c: Client, deviceId: string, name: string) => c.api.registerDevice(deviceId, { name, type: 'web' }),
  collaborators: async (c: Client, queueId: string): Promise<Collaborators> => c.api.collaborators(queueId),
  addCollaborator: (c: Client, queueId: string, userId: string, role: string) => c.api.addCollaborator(queueId, userId, role as Role),
  setRole: (c: Client, queueId: string, userId: string, role: string) => c.api.setCollaboratorRole(queueId, userId, role as Role),
  removeCollaborator: (c: Client, queueId: string, userId: string) => c.api.removeCollaborator(queueId, userId),
  presence: async (c: Client, queueId: string): Promise<{ viewers: { userId: string; deviceIds: string[] }[] }> => c.api.queuePresence(queueId),
  invites: async (c: Client, queueId: string): Promise<{ invites: Invite[] }> => c.api.listInvites(queueId),
  createInvite: (c: Client, queueId: string, role: string) => c.api.createInvite(queueId, { role: role as Role, expiresInSeconds: 24 * 3600 }),
  revokeInvite: (c: Client, queueId: string, code: string) => c.api.revokeInvite(queueId, code),
  acceptInvite: async (c: Client, code: string): Promise<{ queue?: { id: string } }> => c.api.acceptInvite(code) as Promise<{ queue?: { id: string } }>,
  history: async (c: Client, queueId: string): Promise<{ entries: HistoryEntry[] }> => c.api.history(queueId, { limit: 50 }),
  setVisibility: (c: Client, queueId: string, isPublic: boolean) => c.api.setVisibility(queueId, isPublic),
  startRadio: async (c: Client, stationId: string): Promise<{ queue: { id: string } }> => c.api.startRadio(stationId),
  extend: (c: Client, queueId: string, count = 10) => c.api.extendQueue(queueId, count),
};
