// REST calls the console makes through the SDK's generic `client.request` (issue 14 may
// talk to the API through @queue-service/client only). One function per call the
// console needs, typed with the answers' shapes from /openapi.json.
import type { Client } from './sdk.ts';

export interface QueueSummary { id: string; name: string; type: string; ownerId: string; version: number; itemCount: number; updatedAt: string; role: string }
export interface CatalogTrack { id: string; title: string; artist: string; album: string | null; duration?: number | null }
export interface Device { deviceId: string; name: string | null; type: string | null; online: boolean; lastSeen: string; firstSeen: string; isActive: boolean }
export interface Collaborator { userId: string; role: string; via: string; joinedAt: string }
export interface Collaborators { ownerId: string; isPublic: boolean; yourRole: string; collaborators: Collaborator[]; version: number }
export interface Invite { code: string; queueId: string; role: string; createdBy: string; createdAt: string; expiresAt: string; maxUses: number | null; uses: number }
export interface HistoryEntry { sequenceNumber: number; action: string; userId: string; deviceId: string | null; timestamp: string; itemId: string | null; trackId: string | null; data: Record<string, unknown> }
export interface MemberDevice { deviceId: string; connectionId: string; offsetMs: number; rttMs: number; oneWayMs: number; degraded: boolean; followDelayMs: number; samples: number }
export interface PartyMember { userId: string; joinedAt: string; isHost: boolean; online: boolean; deviceInfo: Record<string, unknown>; devices: MemberDevice[] }
export interface PartyInfo { id: string; queueId: string; hostId: string; inviteCode: string; allowMemberAdds: boolean; status: 'active' | 'ended'; members: PartyMember[] }

const enc = encodeURIComponent;

export const api = {
  mintToken: (adminClient: Client, userId: string) =>
    adminClient.request<{ token: string; expiresAt: string }>('POST', '/auth/tokens', { userId }),
  queues: (c: Client) => c.request<{ queues: QueueSummary[]; nextCursor: string | null }>('GET', '/queues?limit=100'),
  createQueue: (c: Client, name: string, collaborative: boolean) =>
    c.request<{ queue: { id: string } }>('POST', collaborative ? '/queues/collaborative' : '/queues', { name, tracks: [] }),
  deleteQueue: (c: Client, id: string) => c.request('DELETE', `/queues/${enc(id)}`),
  search: (c: Client, q: string) => c.request<{ tracks: CatalogTrack[] }>('GET', `/catalog/search?q=${enc(q)}&limit=10`),
  track: (c: Client, id: string) => c.request<CatalogTrack>('GET', `/catalog/tracks/${enc(id)}`),
  setCurrent: (c: Client, queueId: string, itemId: string) => c.request('PUT', `/queues/${enc(queueId)}/current`, { itemId }),
  devices: (c: Client) => c.request<{ devices: Device[] }>('GET', '/users/me/devices'),
  nameDevice: (c: Client, deviceId: string, name: string) => c.request('PUT', `/users/me/devices/${enc(deviceId)}`, { name, type: 'web' }),
  collaborators: (c: Client, queueId: string) => c.request<Collaborators>('GET', `/queues/${enc(queueId)}/collaborators`),
  addCollaborator: (c: Client, queueId: string, userId: string, permissionLevel: string) =>
    c.request('POST', `/queues/${enc(queueId)}/collaborators`, { userId, permissionLevel }),
  setRole: (c: Client, queueId: string, userId: string, permissionLevel: string) =>
    c.request('PUT', `/queues/${enc(queueId)}/collaborators/${enc(userId)}`, { permissionLevel }),
  removeCollaborator: (c: Client, queueId: string, userId: string) => c.request('DELETE', `/queues/${enc(queueId)}/collaborators/${enc(userId)}`),
  presence: (c: Client, queueId: string) => c.request<{ viewers: { userId: string; deviceId?: string | null; since: string }[] }>('GET', `/queues/${enc(queueId)}/presence`),
  invites: (c: Client, queueId: string) => c.request<{ invites: Invite[] }>('GET', `/queues/${enc(queueId)}/invites`),
  createInvite: (c: Client, queueId: string, role: string) => c.request<Invite>('POST', `/queues/${enc(queueId)}/invites`, { role, expiresInSeconds: 24 * 3600 }),
  revokeInvite: (c: Client, queueId: string, code: string) => c.request('DELETE', `/queues/${enc(queueId)}/invites/${enc(code)}`),
  acceptInvite: (c: Client, code: string) => c.request<{ queue?: { id: string }; version: number }>('POST', `/invites/${enc(code)}/accept`, {}),
  history: (c: Client, queueId: string) => c.request<{ entries: HistoryEntry[]; version: number }>('GET', `/queues/${enc(queueId)}/history?limit=50`),
  vote: (c: Client, queueId: string, itemId: string, vote: 1 | -1 | 0) => c.request('POST', `/queues/${enc(queueId)}/items/${enc(itemId)}/vote`, { vote }),
  setVisibility: (c: Client, queueId: string, isPublic: boolean) => c.request('PUT', `/queues/${enc(queueId)}/visibility`, { isPublic }),
  settings: (c: Client, queueId: string, s: { fairOrder?: boolean; voteOrder?: boolean }) => c.request('PUT', `/queues/${enc(queueId)}/settings`, s),
  startRadio: (c: Client, stationId: string) =>
    c.request<{ queue: { id: string; name: string }; station: { id: string; kind: string; label: string } }>('POST', `/radio/${enc(stationId)}/queue`, { userId: 'me' }),
  extend: (c: Client, queueId: string, count = 10) => c.request('POST', `/queues/${enc(queueId)}/extend`, { count }),
  party: (c: Client, partyId: string) => c.request<PartyInfo>('GET', `/parties/${enc(partyId)}`),
};
