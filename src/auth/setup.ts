// The authenticator as the server process runs it: minted tokens, the identity provider
// when one is configured, and revocations from the database, signalled through Redis when
// there is one. Started (revocations read, provider keys fetched in the background) before
// the server listens.
import type { Redis } from 'ioredis';
import type { AuthConfig } from '../config.ts';
import { Authenticator } from './authenticator.ts';
import { ProviderTokens, type ProviderLog } from './provider.ts';
import type { RevocationStore } from './revocation-store.ts';
import { LocalRevocationSignal, RedisRevocationSignal } from './revocation-signal.ts';
import { Revocations } from './revocations.ts';
import type { Tokens } from './tokens.ts';

export interface AuthSetup {
  config: AuthConfig;
  tokens: Tokens;
  store: RevocationStore;
  /** The Redis the instances share (its publishing connection is reused); none: one instance. */
  redis?: { url: string; prefix: string; pub: Redis };
  log?: ProviderLog;
  now?: () => number;
}

export async function startAuthenticator(s: AuthSetup): Promise<Authenticator> {
  const now = s.now ?? Date.now;
  const signal = s.redis ? new RedisRevocationSignal(s.redis.url, s.redis.prefix, s.redis.pub, s.log) : new LocalRevocationSignal();
  const revocations = new Revocations({ store: s.store, signal, now, pollMs: s.config.revocationPollMs, log: s.log });
  const provider = s.config.provider ? new ProviderTokens(s.config.provider, { now, log: s.log }) : null;
  const auth = new Authenticator({ tokens: s.tokens, provider, revocations, now });
  await auth.start();
  return auth;
}

/** One line for the start-up banner: which tokens are accepted. */
export function describeAuth(config: AuthConfig): string {
  const p = config.provider;
  if (!p) return 'tokens: minted with the admin key';
  const from = p.issuer ? `issuer ${p.issuer}` : `keys at ${p.jwksUrl}`;
  return `tokens: minted with the admin key, and access tokens from ${from} (audience ${p.audience.join(', ')}; user id from "${p.userClaim}"; ${p.algorithms.join('/')})`;
}
