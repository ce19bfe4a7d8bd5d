// Invite codes ([CO5]): owners and admins make a code with a role and an expiry; any
// user who has it joins with that role. Who may make which code is the permission
// matrix's call, asked through QueueService.authorize; the join itself is a queue
// command (collaborator_joined), so it flows like every other change.
import { randomBytes } from 'node:crypto';
import { AppError, notFound } from '../errors.ts';
import { canManageRole } from '../queues/permissions.ts';
import type { CollaboratorRole } from '../queues/queue.ts';
import type { Actor } from '../model/actor.ts';
import type { QueueService, WriteOptions, WriteResult } from '../queues/service.ts';
import type { Invite, InviteStore } from './store.ts';
import { DEFAULT_INVITE_TTL_SECONDS } from './schemas.ts';

export interface InviteDeps {
  queues: QueueService;
  invites: InviteStore;
  now: () => number;
  /** Live invites one queue may have. */
  maxInvitesPerQueue?: number;
}

export interface InviteView {
  code: string;
  queueId: string;
  role: CollaboratorRole;
  createdBy: string;
  createdAt: string;
  expiresAt: string;
  maxUses: number | null;
  uses: number;
}

const view = (i: Invite): InviteView => ({
  code: i.code,
  queueId: i.queueId,
  role: i.role,
  createdBy: i.createdBy,
  createdAt: new Date(i.createdAt).toISOString(),
  expiresAt: new Date(i.expiresAt).toISOString(),
  maxUses: i.maxUses,
  uses: i.uses,
});

export class InviteService {
  private readonly deps: InviteDeps;
  constructor(deps: InviteDeps) {
    this.deps = deps;
  }

  async create(actor: Actor, queueId: string, input: { role: CollaboratorRole; expiresInSeconds?: number; maxUses?: number }): Promise<InviteView> {
    const { role } = await this.deps.queues.authorize(actor, queueId, 'invite');
    if (!canManageRole(role, input.role))
      throw new AppError('forbidden', 'forbidden', `your role (${role}) may not invite ${input.role}s`, { role: input.role });
    const now = this.deps.now();
    const live = (await this.deps.invites.list(queueId)).filter((i) => i.expiresAt > now);
    const max = this.deps.maxInvitesPerQueue ?? 100;
    if (live.length >= max) throw new AppError('limit', 'too_many_invites', `a queue has at most ${max} live invites; revoke one`, { limit: max });
    const invite = await this.deps.invites.create({
      code: randomBytes(16).toString('base64url'),
      queueId,
      role: input.role,
      createdBy: actor.userId,
      createdAt: now,
      expiresAt: now + (input.expiresInSeconds ?? DEFAULT_INVITE_TTL_SECONDS) * 1000,
      maxUses: input.maxUses ?? null,
    });
    return view(invite);
  }

  async list(actor: Actor, queueId: string): Promise<InviteView[]> {
    await this.deps.queues.authorize(actor, queueId, 'invite');
    const now = this.deps.now();
    return (await this.deps.invites.list(queueId)).filter((i) => i.expiresAt > now).map(view);
  }

  async revoke(actor: Actor, queueId: string, code: string): Promise<void> {
    await this.deps.queues.authorize(actor, queueId, 'invite');
    if (!(await this.deps.invites.revoke(queueId, code))) throw notFound('invite_not_found', 'no such invite on this queue');
  }

  /** Joins the invite's queue with its role. A wrong or revoked code is 404, an expired one 403 invite_expired. */
  async accept(actor: Actor, code: string, opts: WriteOptions): Promise<WriteResult> {
    const claim = await this.deps.invites.claim(code, this.deps.now());
    if (!claim.ok) {
      if (claim.reason === 'expired')
        throw new AppError('forbidden', 'invite_expired', 'this invite has expired; ask for a new one', {
          expiredAt: new Date(claim.invite!.expiresAt).toISOString(),
        });
      if (claim.reason === 'used_up') throw new AppError('forbidden', 'invite_used_up', 'this invite has been used as often as it may be');
      throw notFound('invite_not_found', 'no such invite');
    }
    const { invite } = claim;
    let result: WriteResult;
    try {
      result = await this.deps.queues.joinWithInvite(actor, invite.queueId, invite.role, opts);
    } catch (err) {
      await this.deps.invites.release(code);
      // The queue is gone: so is its invite, as far as the caller can tell.
      if (err instanceof AppError && err.code === 'queue_not_found') throw notFound('invite_not_found', 'no such invite');
      throw err;
    }
    // A retry, or a member who already had that role or more: no use was made of the code.
    if (result.replayed || result.body.events.length === 0) await this.deps.invites.release(code);
    return result;
  }
}
