// User tokens: HS256 JWTs (jose) minted with the operator's admin key.
// The signing key is derived from the admin key, so every instance that shares
// ADMIN_API_KEY accepts every other instance's tokens; rotating it revokes them all.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { AppError } from '../errors.ts';
import { USER_ID_PATTERN } from '../model/wire.ts';

export { USER_ID_PATTERN };
const userIdRe = new RegExp(USER_ID_PATTERN);
const ISSUER = 'queue-service';

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

  async mint(userId: string, ttlSeconds: number): Promise<{ token: string; expiresAt: string }> {
    if (!userIdRe.test(userId)) throw new AppError('invalid', 'invalid_user_id', `userId must match ${USER_ID_PATTERN}`);
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + ttlSeconds;
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(userId)
      .setIssuer(ISSUER)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(this.signingKey);
    return { token, expiresAt: new Date(exp * 1000).toISOString() };
  }

  /** Verified tokens, so a client's every request does not pay for the HMAC again. */
  private readonly cache = new Map<string, { userId: string; exp: number }>();

  /** The user id the token was minted for; AppError 401 for anything else. */
  async verify(token: string): Promise<string> {
    return (await this.claims(token)).userId;
  }

  /** The user id and when the token expires (epoch ms; null: never); AppError 401 for anything else. */
  async claims(token: string): Promise<{ userId: string; expiresAt: number | null }> {
    const hit = this.cache.get(token);
    if (hit && hit.exp * 1000 > this.now()) return { userId: hit.userId, expiresAt: hit.exp * 1000 };
    if (hit) this.cache.delete(token);
    try {
      const { payload } = await jwtVerify(token, this.signingKey, {
        issuer: ISSUER,
        algorithms: ['HS256'],
        currentDate: new Date(this.now()),
      });
      if (typeof payload.sub !== 'string' || !userIdRe.test(payload.sub)) throw new Error('bad subject');
      if (typeof payload.exp === 'number') {
        if (this.cache.size >= 10_000) this.cache.delete(this.cache.keys().next().value!);
        this.cache.set(token, { userId: payload.sub, exp: payload.exp });
      }
      return { userId: payload.sub, expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : null };
    } catch (err) {
      const expired = err instanceof joseErrors.JWTExpired;
      throw new AppError('unauthorized', expired ? 'token_expired' : 'invalid_token', expired ? 'the token has expired' : 'the token is not valid');
    }
  }
}
