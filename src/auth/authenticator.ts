// Who a bearer token is, for every route and socket ([AU1]-[AU10]): a token this service
// minted (HS256, iss "queue-service") or, when one is configured, an access token of the
// app's identity provider (any other issuer; provider.ts). Either may carry scopes; either
// may be revoked (revocations.ts). Verified tokens are cached per instance until they
// expire; a revocation, wherever it was made, takes the tokens it covers out of every
// instance's cache as it arrives, and every hit is checked against the revocations again,
// so a revoked token is refused on its next use.
import { decodeJwt } from 'jose';
import { AppError } from '../errors.ts';
import type { ProviderTokens } from './provider.ts';
import type { Revocation } from './revocation-store.ts';
import type { Revocations } from './revocations.ts';
import { grant, type Granted, type Scope } from './scopes.ts';
import { MINTED_ISSUER, type Minted, type Tokens } from './tokens.ts';

/** A checked token: who it is for and what it may do. */
export interface Credential {
  userId: string;
  /** null: the user's full rights (the token names none of our scopes). */
  scopes: Granted;
  /** When it stops being accepted (epoch ms); null: never. Sockets opened with it close then (4401). */
  expiresAt: number | null;
  /** The token's `jti`, if it has one. */
  tokenId: string | null;
  /** Its `iat` (epoch seconds), if it has one. */
  issuedAt: number | null;
  source: 'minted' | 'provider';
}

/** The most verified tokens kept per instance (oldest out). */
const CACHE_MAX = 10_000;

const invalidToken = () => new AppError('unauthorized', 'invalid_token', 'the token is not valid');
export const revokedToken = () => new AppError('unauthorized', 'token_revoked', 'the token has been revoked');

export interface AuthenticatorDeps {
  tokens: Tokens;
  /** The identity provider's tokens; null: minted tokens only. */
  provider: ProviderTokens | null;
  revocations: Revocations;
  now?: () => number;
}

export class Authenticator {
  readonly tokens: Tokens;
  readonly provider: ProviderTokens | null;
  readonly revocations: Revocations;
  private readonly now: () => number;
  private readonly cache = new Map<string, Credential>();

  constructor(d: AuthenticatorDeps) {
    this.tokens = d.tokens;
    this.provider = d.provider;
    this.revocations = d.revocations;
    this.now = d.now ?? Date.now;
    // A revocation takes what it covers out of the cache of verified tokens (the rest stays:
    // no re-verification of every active token); keys the provider took back empty it.
    d.revocations.onChange(() => {
      for (const [token, c] of this.cache) if (this.revocations.isRevoked(c)) this.cache.delete(token);
    });
    d.provider?.onKeysRemoved(() => this.cache.clear());
  }

  isAdminKey(candidate: string): boolean {
    return this.tokens.isAdminKey(candidate);
  }

  /**
   * The credential of a token verified before and still valid, without waiting: the request
   * path's common case (issue 21). Undefined when it must be checked (authenticate()); throws
   * the 401 for a revoked one.
   */
  cached(token: string): Credential | undefined {
    const hit = this.cache.get(token);
    if (hit === undefined) return undefined;
    if (hit.expiresAt === null || hit.expiresAt > this.now()) {
      if (this.revocations.isRevoked(hit)) throw revokedToken();
      return hit;
    }
    this.cache.delete(token);
    return undefined;
  }

  /** The credential a token stands for; AppError 401 (invalid, expired, not yet valid, revoked) otherwise. */
  async authenticate(token: string): Promise<Credential> {
    const hit = this.cached(token);
    if (hit) return hit;
    const c = await this.check(token);
    if (this.revocations.isRevoked(c)) throw revokedToken();
    if (c.expiresAt !== null) {
      if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(token, c);
    }
    return c;
  }

  /** Checks a token's signature and claims (no cache, no revocation check). */
  async check(token: string, opts: { ignoreExpiry?: boolean } = {}): Promise<Credential> {
    let iss: unknown;
    try {
      iss = decodeJwt(token).iss;
    } catch {
      throw invalidToken();
    }
    if (iss === MINTED_ISSUER || !this.provider) {
      const m = await this.tokens.claims(token, opts);
      return { userId: m.userId, scopes: grant(m.scopeNames), expiresAt: m.expiresAt, tokenId: m.tokenId, issuedAt: m.issuedAt, source: 'minted' };
    }
    const p = await this.provider.verify(token);
    return { userId: p.userId, scopes: p.granted, expiresAt: p.expiresAt, tokenId: p.tokenId, issuedAt: p.issuedAt, source: 'provider' };
  }

  /** A token for `userId`, issued after any revocation of the user's tokens (also one made this second). */
  async mint(userId: string, ttlSeconds: number, scopes?: readonly Scope[]): Promise<Minted> {
    const notBefore = await this.revocations.issuedBefore(userId);
    return this.tokens.mint(userId, ttlSeconds, { scopes, notBefore: notBefore ?? undefined });
  }

  /** Revokes one token (by the token itself, or its id) or every token of a user issued before now. */
  async revoke(what: { token: string } | { tokenId: string; userId?: string } | { userId: string }, maxLifetimeMs: number): Promise<Revocation> {
    const revokedAt = this.now();
    if ('token' in what) {
      // Its signature must hold; an expired token may still be named (nothing changes for it then).
      const c = await this.check(what.token, { ignoreExpiry: true }).catch((err: unknown) => {
        // The caller's credential is fine (a 401 would say otherwise): the token in the body is not one of ours.
        const why = err instanceof AppError ? err.code : 'invalid_token';
        throw new AppError('invalid', 'unrecognized_token', 'the token to revoke is not one this service accepts', { reason: why });
      });
      if (c.tokenId === null)
        throw new AppError('invalid', 'token_has_no_id', "this token has no id (jti): revoke its user's tokens instead", { userId: c.userId });
      return this.revocations.revoke({ kind: 'token', tokenId: c.tokenId, userId: c.userId, expiresAt: c.expiresAt ?? revokedAt + maxLifetimeMs, revokedAt });
    }
    if ('tokenId' in what) {
      // Without the token its expiry is unknown: kept as long as a minted token can live.
      return this.revocations.revoke({ kind: 'token', tokenId: what.tokenId, userId: what.userId ?? null, expiresAt: revokedAt + maxLifetimeMs, revokedAt });
    }
    // Tokens are stamped in whole seconds: this second's are covered too (mint() issues later ones after it).
    return this.revocations.revoke({ kind: 'user', userId: what.userId, issuedBefore: Math.floor(revokedAt / 1000) + 1, revokedAt });
  }

  /** Is this credential revoked now (for sockets opened with it). */
  isRevoked(c: Pick<Credential, 'userId' | 'tokenId' | 'issuedAt'>): boolean {
    return this.revocations.isRevoked(c);
  }

  /** Called after every change of the revocations (the socket server closes what they cover). */
  onRevocation(fn: () => void): () => void {
    return this.revocations.onChange(fn);
  }

  async start(): Promise<void> {
    await this.revocations.start();
    this.provider?.start();
  }

  async close(): Promise<void> {
    this.provider?.stop();
    await this.revocations.close();
  }
}
