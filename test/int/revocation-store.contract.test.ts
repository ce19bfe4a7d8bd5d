// The revocation store (migration 024) on both stores, and the in-memory revocations over it
// as one instance would hold them ([AU9]): what is stored, what a poll finds, a user's cutoff
// that only moves later, sweeping expired token revocations.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RevocationStore } from '../../src/auth/revocation-store.ts';
import type { Revocation } from '../../src/auth/revocation-store.ts';
import { LocalRevocationSignal } from '../../src/auth/revocation-signal.ts';
import { Revocations } from '../../src/auth/revocations.ts';
import { Authenticator } from '../../src/auth/authenticator.ts';
import { Tokens } from '../../src/auth/tokens.ts';
import { AppError } from '../../src/errors.ts';
import { pgSkipReason } from '../helpers/pg.ts';
import { openTestStorage, type TestStorage } from '../helpers/storage.ts';

const T = Date.parse('2026-06-01T00:00:00.000Z');

for (const [kind, skip] of [
  ['sqlite', false],
  ['postgres', pgSkipReason],
] as const) {
  describe(`revocation store contract: ${kind}`, { skip }, () => {
    let storage: TestStorage;
    let store: RevocationStore;

    before(async () => {
      storage = await openTestStorage(kind);
      store = storage.features.revocations;
    });
    after(async () => {
      await storage?.cleanup();
    });

    it('[AU9] keeps token and user revocations; a poll finds those recorded since a time, tokens only while unexpired', async () => {
      await store.add({ kind: 'token', tokenId: 'j1', userId: 'alice', expiresAt: T + 60_000, revokedAt: T });
      await store.add({ kind: 'token', tokenId: 'j2', userId: null, expiresAt: T + 10_000, revokedAt: T + 5_000 });
      await store.add({ kind: 'user', userId: 'bob', issuedBefore: T / 1000 + 1, revokedAt: T + 6_000 });
      const all = await store.since(0, T);
      assert.deepEqual(all.map((r) => (r.kind === 'token' ? r.tokenId : r.userId)).sort(), ['bob', 'j1', 'j2']);
      const later = await store.since(T + 5_000, T);
      assert.deepEqual(later.map((r) => (r.kind === 'token' ? r.tokenId : r.userId)).sort(), ['bob', 'j2']);
      const afterJ2Expired = await store.since(0, T + 20_000);
      assert.deepEqual(
        afterJ2Expired.filter((r) => r.kind === 'token').map((r) => (r as { tokenId: string }).tokenId),
        ['j1'],
      );
      const j1 = all.find((r) => r.kind === 'token' && r.tokenId === 'j1')!;
      assert.deepEqual(j1, { kind: 'token', tokenId: 'j1', userId: 'alice', expiresAt: T + 60_000, revokedAt: T });
    });

    it("[AU9] a user's cutoff only ever moves later; the stored one is answered", async () => {
      const first = await store.add({ kind: 'user', userId: 'carol', issuedBefore: 2_000_000_000, revokedAt: T });
      assert.equal(first.kind === 'user' && first.issuedBefore, 2_000_000_000);
      const earlier = await store.add({ kind: 'user', userId: 'carol', issuedBefore: 1_900_000_000, revokedAt: T + 1 });
      assert.equal(earlier.kind === 'user' && earlier.issuedBefore, 2_000_000_000);
      assert.equal(await store.issuedBefore('carol'), 2_000_000_000);
      await store.add({ kind: 'user', userId: 'carol', issuedBefore: 2_000_000_100, revokedAt: T + 2 });
      assert.equal(await store.issuedBefore('carol'), 2_000_000_100);
      assert.equal(await store.issuedBefore('nobody'), null);
    });

    it('[AU9] the same token revoked twice is one row that lasts as long as the later expiry; sweep drops expired ones', async () => {
      await store.add({ kind: 'token', tokenId: 'j3', userId: 'dan', expiresAt: T + 1_000, revokedAt: T });
      await store.add({ kind: 'token', tokenId: 'j3', userId: 'dan', expiresAt: T + 90_000, revokedAt: T });
      assert.equal((await store.since(0, T + 50_000)).filter((r) => r.kind === 'token' && r.tokenId === 'j3').length, 1);
      const swept = await store.sweep(T + 70_000);
      assert.ok(swept >= 2, `swept ${swept}`); // j1 (T+60 s) and j2 (T+10 s)
      const left = (await store.since(0, 0)).filter((r) => r.kind === 'token').map((r) => (r as { tokenId: string }).tokenId);
      assert.deepEqual(left, ['j3']);
    });

    it('[AU10] an instance learns by polling what another wrote, and tells its listeners once per change', async () => {
      let now = T + 100_000;
      const a = new Revocations({ store, signal: new LocalRevocationSignal(), now: () => now, pollMs: 0 });
      const b = new Revocations({ store, signal: new LocalRevocationSignal(), now: () => now, pollMs: 0 });
      await a.start();
      await b.start();
      let changes = 0;
      b.onChange(() => changes++);
      const erin = { userId: 'erin', tokenId: 'je', issuedAt: Math.floor(now / 1000) - 10 };
      assert.equal(b.isRevoked(erin), false);
      await a.revoke({ kind: 'token', tokenId: 'je', userId: 'erin', expiresAt: now + 60_000, revokedAt: now } satisfies Revocation);
      assert.equal(a.isRevoked(erin), true, 'at once where it was made');
      assert.equal(b.isRevoked(erin), false, 'no signal between these two');
      await b.poll();
      assert.equal(b.isRevoked(erin), true);
      assert.equal(changes, 1);
      await b.poll();
      assert.equal(changes, 1, 'nothing new, no call');
      assert.equal(b.isRevoked({ ...erin, userId: 'mallory' }), false, "a token id revoked for one user is not another's");
      // A user's cutoff covers tokens issued before it, and those without an issue time.
      await a.revoke({ kind: 'user', userId: 'frank', issuedBefore: Math.floor(now / 1000) + 1, revokedAt: now });
      now += 1000;
      await b.poll();
      assert.equal(b.isRevoked({ userId: 'frank', tokenId: null, issuedAt: Math.floor(now / 1000) - 1 }), true);
      assert.equal(b.isRevoked({ userId: 'frank', tokenId: null, issuedAt: null }), true);
      assert.equal(b.isRevoked({ userId: 'frank', tokenId: null, issuedAt: Math.floor(now / 1000) }), false, 'issued after the cutoff');
      await a.close();
      await b.close();
    });

    it('[AU10] a revocation takes only the tokens it covers out of the cache of verified tokens; the rest are not checked again', async () => {
      class CountingTokens extends Tokens {
        checks = 0;
        override async claims(token: string, opts?: { ignoreExpiry?: boolean }) {
          this.checks++;
          return super.claims(token, opts);
        }
      }
      const tokens = new CountingTokens('contract-key');
      const revocations = new Revocations({ store, signal: new LocalRevocationSignal(), now: Date.now, pollMs: 0 });
      const auth = new Authenticator({ tokens, provider: null, revocations });
      await auth.start();
      const gil = await tokens.mint('gil', 600);
      const hal = await tokens.mint('hal', 600);
      await auth.authenticate(gil.token);
      await auth.authenticate(hal.token);
      assert.equal(tokens.checks, 2);
      await auth.revoke({ userId: 'gil' }, 3600_000);
      await assert.rejects(auth.authenticate(gil.token), (e: unknown) => e instanceof AppError && e.code === 'token_revoked');
      assert.equal((await auth.authenticate(hal.token)).userId, 'hal');
      assert.equal(tokens.checks, 3, "hal's token came from the cache; gil's was checked again (and refused)");
      await auth.close();
    });
  });
}
