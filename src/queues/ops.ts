// Queue operations by name, as clients send them over the socket and in offline
// batches: each op takes the REST body of the same operation, is validated
// by the same schema and becomes the same command.
import { Type, type TSchema } from '@sinclair/typebox';
import { invalid } from '../errors.ts';
import { MutationFields } from '../http/schemas.ts';
import { strictAjv, type ValidateFunction } from '../validation.ts';
import type { QueueCommand } from './decide.ts';
import * as S from './schemas.ts';

// The arguments reach `command` only after `schema` has validated them (socket and
// offline batches alike), so each op reads its own fields as the schema typed them.
// biome-ignore lint/suspicious/noExplicitAny: validated by the op's schema just before, as above
type Args = Record<string, any>;
interface Op {
  schema: TSchema;
  command(args: Args): QueueCommand;
}

const ItemArgs = (extra: Record<string, TSchema> = {}) =>
  Type.Object({ itemId: Type.String({ minLength: 1, maxLength: 64 }), ...extra }, { additionalProperties: false });

const placement = (a: Args) => ({ position: a.position, afterItemId: a.afterItemId, beforeItemId: a.beforeItemId });

export const queueOps: Record<string, Op> = {
  add_tracks: { schema: S.AddTracksBody, command: (a) => ({ type: 'add_tracks', tracks: a.tracks, ...placement(a) }) },
  remove_item: { schema: ItemArgs(MutationFields), command: (a) => ({ type: 'remove_items', itemIds: [a.itemId] }) },
  remove_items: { schema: S.RemoveItemsBody, command: (a) => ({ type: 'remove_items', itemIds: a.itemIds }) },
  move_item: {
    schema: Type.Composite([ItemArgs(), S.MoveItemBody], { additionalProperties: false }),
    command: (a) => ({ type: 'move_item', itemId: a.itemId, ...placement(a) }),
  },
  clear: { schema: S.ClearBody, command: (a) => ({ type: 'clear', upcomingOnly: a.upcomingOnly }) },
  set_shuffle: { schema: S.ShuffleBody, command: (a) => ({ type: 'set_shuffle', shuffle: a.shuffle }) },
  set_repeat: { schema: S.RepeatBody, command: (a) => ({ type: 'set_repeat', repeat: a.repeat }) },
  set_current: { schema: S.CurrentBody, command: (a) => ({ type: 'set_current', itemId: a.itemId }) },
  next: { schema: S.NextBody, command: (a) => ({ type: 'next', reason: a.reason }) },
  previous: { schema: S.PreviousBody, command: () => ({ type: 'previous' }) },
  update_queue: { schema: S.UpdateQueueBody, command: (a) => ({ type: 'update_queue', name: a.name, metadata: a.metadata }) },
  delete_queue: { schema: S.EmptyWriteBody, command: () => ({ type: 'delete_queue' }) },
  // Collaboration ([CO1]-[CO10]): the same bodies as the REST routes.
  vote_item: {
    schema: Type.Composite([ItemArgs(), S.VoteBody], { additionalProperties: false }),
    command: (a) => ({ type: 'vote_item', itemId: a.itemId, vote: a.vote }),
  },
  add_collaborator: { schema: S.AddCollaboratorBody, command: (a) => ({ type: 'add_collaborator', userId: a.userId, role: a.permissionLevel }) },
  set_collaborator_role: {
    schema: S.AddCollaboratorBody,
    command: (a) => ({ type: 'set_collaborator_role', userId: a.userId, role: a.permissionLevel }),
  },
  remove_collaborator: {
    schema: Type.Object({ userId: S.UserId, ...MutationFields }, { additionalProperties: false }),
    command: (a) => ({ type: 'remove_collaborator', userId: a.userId }),
  },
  leave_queue: { schema: S.EmptyWriteBody, command: () => ({ type: 'leave_queue' }) },
  join_queue: { schema: S.EmptyWriteBody, command: () => ({ type: 'join_queue', role: 'viewer', via: 'public' }) },
  transfer_ownership: { schema: S.TransferBody, command: (a) => ({ type: 'transfer_ownership', userId: a.userId }) },
  set_visibility: { schema: S.VisibilityBody, command: (a) => ({ type: 'set_visibility', isPublic: a.isPublic }) },
  update_settings: { schema: S.SettingsBody, command: (a) => ({ type: 'update_settings', fairOrder: a.fairOrder, voteOrder: a.voteOrder }) },
};

const validators = new Map<string, ValidateFunction>();

/** The command for an op and its arguments, or an AppError naming what is wrong. */
export function queueCommandOf(op: string, args: unknown): { command: QueueCommand; expectedVersion?: number } {
  const def = Object.hasOwn(queueOps, op) ? queueOps[op] : undefined; // not "toString" and the like
  if (!def) throw invalid('unknown_op', `unknown op "${op}"`, { op, ops: Object.keys(queueOps) });
  let validate = validators.get(op);
  if (!validate) {
    validate = strictAjv.compile(def.schema);
    validators.set(op, validate);
  }
  const a = (args ?? {}) as Args;
  if (!validate(a)) {
    const e = validate.errors?.[0];
    throw invalid('validation_failed', `args${e?.instancePath ?? ''} ${e?.message ?? 'is invalid'}`, { op, issues: validate.errors ?? [] });
  }
  if (op === 'move_item' && a.position === undefined && a.afterItemId === undefined && a.beforeItemId === undefined) {
    throw invalid('missing_placement', 'give one of position, afterItemId, beforeItemId');
  }
  return { command: def.command(a), expectedVersion: a.expectedVersion };
}
