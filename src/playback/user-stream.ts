// The user sync stream as the sockets see it (queues/socket.ts UserStream), over the
// playback service: reads, the snapshot, device registration, presence notes, and the set_playback op,
// validated against the same schema as the PUT playback-state body.
import type { Static } from '@sinclair/typebox';
import { AppError } from '../errors.ts';
import { fingerprint } from '../util/commit.ts';
import type { UserStream } from '../queues/socket-commands.ts';
import { strictAjv } from '../validation.ts';
import { PlaybackWriteBody } from './schemas.ts';
import type { PlaybackService } from './service.ts';

const validatePlayback = strictAjv.compile<Static<typeof PlaybackWriteBody>>(PlaybackWriteBody);

export function userStream(playback: PlaybackService): UserStream {
  return {
    readEvents: (userId, after, limit) => playback.readEvents(userId, after, limit),
    snapshot: (userId) => playback.snapshot(userId),
    registerDevice: async (userId, deviceId, info) => {
      await playback.registerDevice(userId, deviceId, info);
    },
    notePresence: (userId, deviceId, online) => playback.notePresence(userId, deviceId, online),
    setPlayback: async (userId, deviceId, args, mutationId) => {
      if (!validatePlayback(args)) {
        const e = validatePlayback.errors?.[0];
        throw new AppError('invalid', 'validation_failed', `args${e?.instancePath ?? ''} ${e?.message ?? 'is invalid'}`, {
          op: 'set_playback',
          issues: validatePlayback.errors ?? [],
        });
      }
      const res = await playback.write({ userId, deviceId }, args, { idempotencyKey: mutationId, fingerprint: fingerprint('ws', 'set_playback', args) });
      return { sequenceNumber: res.body.sequenceNumber, result: { ...res.body } };
    },
  };
}
