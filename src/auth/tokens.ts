// User tokens: HS256 JWTs (jose) minted with the operator's admin key.
// The signing key is derived from the admin key, so every instance that shares
// ADMIN_API_KEY accepts every other instance's tokens; rotating it revokes them all.
// Each token has an id (`jti`) and its issue time (`iat`), so it can be revoked alone or
// with the rest of its user's tokens (revocations.ts), and may carry scopes (scopes.ts).
// Checking a request's token, minted or from an identity provider, is authenticator.ts's.
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { AppError } from '../errors.ts';
import { scopeNames, type Scope } from './scopes.ts';
import { USER_ID_PATTERN, userIdRe } from './user-ids.ts';

export { USER_ID_PATTERN } from './user-ids.ts';

/** The `iss` of minted tokens: a token that names another issuer is checked as a provider's. */
export const MINTED_ISSUER = 'queue-service';

export interface AdminKey {
  key: string;
  /** Where a generated key is kept; null when it came from ADMIN_API_KEY. */
  file: string | null;
  generated: boolean;
}

/** ADMIN_API_KEY when set; else the key kept in DATA_DIR, generated on first start. */
export function resolveAdminKey(configured: string | null, dataDir: string): AdminKey {
  if (configured) return { key: configured, file: null, generated: false };
  const file = join(dataDir, 'admin-key');
  if (existsSync(file)) return { key: readFileSync(file, 'utf8').trim(), file, generated: false };
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32).toString('base64url');
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return { key, file, generated: true };
}

export interface MintOptions {
  /** The scopes the token may use; none: the user's full rights. */
  scopes?: readonly Scope[];
  /** Issue time (epoch seconds) no earlier than this: past a revocation of the user's tokens made this second. */
  notBefore?: number;
}

export interface Minted {
  token: string;
  expiresAt: string;
  /** The token's `jti`: POST /auth/tokens/revoke {tokenId} revokes it. */
  tokenId: string;
  /** null: the user's full rights. */
  scopes: Scope[] | null;
}

/** What a minted token says, once its signature and expiry are checked. */
export interface MintedClaims {
  userId: string;
  tokenId: string | null;
  /** Epoch seconds. */
  issuedAt: number | null;
  /** Epoch ms; null: never. */
  expiresAt: number | null;
  scopeNames: string[];
}

export class Tokens {
  private readonly signingKey: Uint8Array;
  private readonly adminKey: Buffer;
  private readonly now: () => number;

  constructor(adminKey: string, now: () => number = Date.now) {
    this.now = now;
    this.adminKey = Buffer.from(adminKey);
    this.signingKey = createHmac('sha256', adminKey).update('queue-service/user-tokens/v1').digest();
  }

  isAdminKey(candidate: string): boolean {
    const c = Buffer.from(candidate);
    return c.length === this.adminKey.length && timingSafeEqual(c, this.adminKey);
  }

  async mint(userId: string, ttlSeconds: number, opts: MintOptions = {}): Promise<Minted> {
    if (!userIdRe.test(userId)) throw new AppError('invalid', 'invalid_user_id', `userId must match ${USER_ID_PATTERN}`);
    const iat = Math.max(Math.floor(this.now() / 1000), opts.notBefore ?? 0);
    const exp = iat + ttlSeconds;
    const tokenId = randomUUID();
    const scopes = opts.scopes?.length ? [...new Set(opts.scopes)].sort() : null;
    const token = await new SignJWT(scopes ? { scope: scopes.join(' ') } : {})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(userId)
      .setIssuer(MINTED_ISSUER)
      .setJti(tokenId)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(this.signingKey);
    return { token, expiresAt: new Date(exp * 1000).toISOString(), tokenId, scopes };
  }

  /** The user id the token was minted for; AppError 401 for anything else. */
  async verify(token: string): Promise<string> {
    return (await this.claims(token)).userId;
  }

  /** What a minted token says; AppError 401 for anything else (no cache: authenticator.ts keeps one). */
  async claims(token: string, opts: { ignoreExpiry?: boolean } = {}): Promise<MintedClaims> {
    try {
      const { payload } = await jwtVerify(token, this.signingKey, {
        issuer: MINTED_ISSUER,
        algorithms: ['HS256'],
        // A revocation may name a token that expired meanwhile: its signature is all that counts there.
        currentDate: new Date(opts.ignoreExpiry ? 0 : this.now()),
      });
      if (typeof payload.sub !== 'string' || !userIdRe.test(payload.sub)) throw new Error('bad subject');
      return {
        userId: payload.sub,
        tokenId: typeof payload.jti === 'string' ? payload.jti : null,
        issuedAt: typeof payload.iat === 'number' ? payload.iat : null,
        expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : null,
        scopeNames: scopeNames(payload),
      };
    } catch (err) {
      const expired = err instanceof joseErrors.JWTExpired;
      throw new AppError('unauthorized', expired ? 'token_expired' : 'invalid_token', expired ? 'the token has expired' : 'the token is not valid');
    }
  }
}
