// `queue-service revoke <userId>`: the same revocation POST /auth/tokens/revoke {userId}
// makes, from the operator's shell: written to the database (running instances read it at
// their next poll) and, with REDIS_URL, signalled so they apply it at once.
import { Redis } from 'ioredis';
import type { RevocationStore } from './revocation-store.ts';
import { revocationChannel } from './revocation-signal.ts';

/** Revokes the user's tokens issued before now; answers the cutoff (epoch s). */
export async function revokeUserTokens(
  userId: string,
  store: RevocationStore,
  redis: { url: string; prefix: string } | null,
  now = Date.now(),
): Promise<number> {
  const stored = await store.add({ kind: 'user', userId, issuedBefore: Math.floor(now / 1000) + 1, revokedAt: now });
  if (redis) {
    const pub = new Redis(redis.url, { maxRetriesPerRequest: 1, connectTimeout: 3000 });
    try {
      await pub.publish(revocationChannel(redis.prefix), JSON.stringify(stored));
    } finally {
      pub.disconnect();
    }
  }
  return stored.kind === 'user' ? stored.issuedBefore : 0;
}
