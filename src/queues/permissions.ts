// Who may do what to a queue: ONE matrix, used by the service for REST and WebSocket
// alike (docs/SPEC.md [CO1]-[CO4]). Rules that need more than the role (a contributor
// may remove or move only their own additions; an admin manages contributors and
// viewers only) are decided in decide.ts with the role in the context.
import { collaboratorOf, type CollaboratorRole, type QueueState } from './queue.ts';

export type Role = 'owner' | CollaboratorRole;
export const ROLES: readonly Role[] = ['owner', 'admin', 'contributor', 'viewer'];

export type QueueAction =
  | 'read' // get the queue, its events, history, collaborators, presence; subscribe
  | 'add' // add tracks
  | 'edit_own' // remove / move items the caller added
  | 'edit_any' // remove / move anyone's items, clear
  | 'vote'
  | 'control' // shuffle, repeat, current, next, previous
  | 'rename' // name and metadata
  | 'settings' // fairOrder, voteOrder
  | 'manage_members' // add, change, remove collaborators (admins: contributors and viewers only)
  | 'invite' // create, list and revoke invite codes
  | 'visibility' // public or private
  | 'transfer' // hand the queue to another collaborator
  | 'delete';

export const QUEUE_ACTIONS: readonly QueueAction[] = [
  'read',
  'add',
  'edit_own',
  'edit_any',
  'vote',
  'control',
  'rename',
  'settings',
  'manage_members',
  'invite',
  'visibility',
  'transfer',
  'delete',
];

const viewer: QueueAction[] = ['read'];
const contributor: QueueAction[] = [...viewer, 'add', 'edit_own', 'vote'];
const admin: QueueAction[] = [...contributor, 'edit_any', 'control', 'rename', 'settings', 'manage_members', 'invite'];
const owner: QueueAction[] = [...admin, 'visibility', 'transfer', 'delete'];

const allowed: Record<Role, ReadonlySet<QueueAction>> = {
  owner: new Set(owner),
  admin: new Set(admin),
  contributor: new Set(contributor),
  viewer: new Set(viewer),
};

const rank: Record<Role, number> = { owner: 3, admin: 2, contributor: 1, viewer: 0 };

/** The role a user holds as a member: owner, or their collaborator role; null for everyone else. */
export function memberRole(state: QueueState, userId: string): Role | null {
  if (state.ownerId === userId) return 'owner';
  return collaboratorOf(state, userId)?.role ?? null;
}

/** The role a user acts with: their member role, else viewer on a public queue, else none. */
export function roleOf(state: QueueState, userId: string): Role | null {
  return memberRole(state, userId) ?? (state.isPublic ? 'viewer' : null);
}

export function can(role: Role | null, action: QueueAction): boolean {
  return role !== null && allowed[role].has(action);
}

/** Whether `actor` may give a collaborator the role `role`, or take it away: owners any, admins contributor and viewer. */
export function canManageRole(actor: Role | null, role: Role): boolean {
  if (!can(actor, 'manage_members') || role === 'owner') return false;
  return actor === 'owner' || rank[role] < rank.admin;
}

/**
 * [CO12] Events after which `userId` may have lost read access to the queue: their own
 * leave or removal, or the queue turning private. A socket of theirs then asks the service
 * again (QueueService.get) and its queue stream ends when the answer is no.
 */
export function mayLoseAccess(userId: string, e: { type: string; data?: unknown }): boolean {
  const d = (e.data ?? {}) as { userId?: string; isPublic?: boolean };
  return (e.type === 'collaborator_left' && d.userId === userId) || (e.type === 'visibility_changed' && d.isPublic === false);
}
