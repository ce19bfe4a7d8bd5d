// Who may do what to a queue, decided in one place. Today a queue has only its
// owner; collaborators (admin, contributor, viewer) slot in here without touching callers.
import type { QueueState } from './queue.ts';

export type Role = 'owner' | 'admin' | 'contributor' | 'viewer';
export type QueueAction = 'read' | 'control' | 'edit' | 'delete';

const allowed: Record<Role, ReadonlySet<QueueAction>> = {
  owner: new Set(['read', 'control', 'edit', 'delete']),
  admin: new Set(['read', 'control', 'edit']),
  contributor: new Set(['read', 'edit']),
  viewer: new Set(['read']),
};

export function roleOf(state: QueueState, userId: string): Role | null {
  return state.ownerId === userId ? 'owner' : null;
}

export function can(role: Role | null, action: QueueAction): boolean {
  return role !== null && allowed[role].has(action);
}
