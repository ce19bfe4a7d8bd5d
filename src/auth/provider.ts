// Access tokens from the app's own identity provider (issue 23, docs/SPEC.md [AU1]-[AU4]):
// OIDC discovery (AUTH_ISSUER) or a JWKS URL (AUTH_JWKS_URL), keys from jose's remote JWK
// set, and the claims checked as configured. Every refusal is an AppError 401.
//
// jose's createRemoteJWKSet fetches the set on first use and again for a `kid` it does not
// know (once per cooldown after a successful fetch). Two things it does not do are added
// here: keys never go stale by age (cacheMaxAge is infinite: a set it cannot refresh would
// otherwise refuse every token once the set is old, while the endpoint is down); instead
// the set is refreshed in the background every `refreshMs`, and a failed refresh keeps the
// known keys. And every fetch, failed ones too, goes through a gate that lets at most one
// through per cooldown: jose counts its cooldown from the last *successful* fetch only, so
// while the endpoint is down a flood of tokens with made-up `kid`s would each cause a fetch.
import { createRemoteJWKSet, customFetch, errors as joseErrors, jwtVerify, type FetchImplementation, type JWTPayload } from 'jose';
import type { ProviderConfig } from '../config.ts';
import { AppError } from '../errors.ts';
import { grant, scopeNames, type Granted } from './scopes.ts';
import { providerUserId } from './user-ids.ts';

/** A provider's token, checked. */
export interface ProviderClaims {
  userId: string;
  granted: Granted;
  tokenId: string | null;
  /** Epoch seconds. */
  issuedAt: number | null;
  /** When it stops being accepted: `exp` plus the clock skew (epoch ms). */
  expiresAt: number;
}

export interface ProviderLog {
  warn(obj: object, msg: string): void;
}

const unauthorized = (code: string, message: string, details: Record<string, unknown> = {}) => new AppError('unauthorized', code, message, details);

/** A jose error (or any other failure) as the 401 a client gets. */
export function refusal(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof joseErrors.JWTExpired) return unauthorized('token_expired', 'the token has expired');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return unauthorized('token_not_yet_valid', 'the token is not valid yet (nbf)');
    const what = err.claim === 'iss' ? 'issuer' : err.claim === 'aud' ? 'audience' : err.claim;
    return unauthorized('invalid_token', `the token's ${what} is not accepted`, { reason: what });
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed)
    return unauthorized('invalid_token', 'the token is signed with an algorithm that is not accepted', { reason: 'algorithm' });
  if (err instanceof joseErrors.JWSSignatureVerificationFailed)
    return unauthorized('invalid_token', 'the token signature is not valid', { reason: 'signature' });
  if (err instanceof joseErrors.JWKSNoMatchingKey)
    return unauthorized('invalid_token', "the token's signing key is not in the provider's key set", { reason: 'unknown_key' });
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid)
    return unauthorized('invalid_token', 'the token is not a valid JWT', { reason: 'malformed' });
  if (err instanceof joseErrors.JOSENotSupported)
    return unauthorized('invalid_token', 'the token uses an algorithm or key this service does not support', { reason: 'algorithm' });
  return unauthorized('invalid_token', "the identity provider's keys could not be fetched to check the token", { reason: 'keys_unavailable' });
}

export class ProviderTokens {
  private readonly cfg: ProviderConfig;
  private readonly now: () => number;
  private readonly log: ProviderLog | undefined;
  private remote: ReturnType<typeof createRemoteJWKSet> | null = null;
  private discovery: Promise<URL> | null = null;
  private lastDiscovery = -Infinity;
  private lastFetch = -Infinity;
  private knownKeys: Set<string> | null = null;
  private refresher: ReturnType<typeof setInterval> | null = null;
  private readonly keysRemoved = new Set<() => void>();
  /** Fetches of the key set and the discovery document that went out (for /metrics and tests). */
  fetches = 0;

  constructor(cfg: ProviderConfig, opts: { now?: () => number; log?: ProviderLog } = {}) {
    this.cfg = cfg;
    this.now = opts.now ?? Date.now;
    this.log = opts.log;
  }

  /** Fetches the keys now (in the background; a failure is logged) and keeps them fresh. */
  start(): void {
    this.keySet()
      .then((set) => set.reload())
      .catch((err: unknown) => this.log?.warn({ err: String(err) }, 'identity provider keys not fetched at start; tokens are checked once they are'));
    if (this.cfg.refreshMs > 0) {
      this.refresher = setInterval(() => {
        this.keySet()
          .then((set) => set.reload())
          .catch((err: unknown) => this.log?.warn({ err: String(err) }, 'identity provider keys not refreshed; the known keys stay in use'));
      }, this.cfg.refreshMs);
      this.refresher.unref();
    }
  }

  stop(): void {
    if (this.refresher) clearInterval(this.refresher);
    this.refresher = null;
  }

  /** Called when a refresh found that keys the set had are gone (cached tokens signed by them must be checked again). */
  onKeysRemoved(fn: () => void): void {
    this.keysRemoved.add(fn);
  }

  async verify(token: string): Promise<ProviderClaims> {
    let payload: JWTPayload;
    try {
      const set = await this.keySet();
      ({ payload } = await jwtVerify(token, set, {
        issuer: this.cfg.issuer ?? undefined,
        audience: this.cfg.audience,
        algorithms: this.cfg.algorithms,
        clockTolerance: this.cfg.clockSkewSeconds,
        requiredClaims: ['exp'],
        currentDate: new Date(this.now()),
      }));
    } catch (err) {
      throw refusal(err);
    }
    const userId = providerUserId(payload[this.cfg.userClaim]);
    if (userId === null)
      throw unauthorized('invalid_token', `the token has no user id in its "${this.cfg.userClaim}" claim`, { reason: 'user_claim', claim: this.cfg.userClaim });
    const granted = grant(scopeNames(payload));
    return {
      userId,
      granted: granted === null && this.cfg.requireScopes ? new Set() : granted,
      tokenId: typeof payload.jti === 'string' ? payload.jti : null,
      issuedAt: typeof payload.iat === 'number' ? payload.iat : null,
      expiresAt: (payload.exp as number) * 1000 + this.cfg.clockSkewSeconds * 1000,
    };
  }

  /** The remote key set, created once the JWKS URL is known (discovery first, when configured so). */
  private async keySet(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    if (this.remote) return this.remote;
    const url = this.cfg.jwksUrl ? new URL(this.cfg.jwksUrl) : await this.discover();
    this.remote ??= createRemoteJWKSet(url, {
      cooldownDuration: this.cfg.cooldownMs,
      cacheMaxAge: Infinity,
      timeoutDuration: 5000,
      [customFetch]: this.gatedFetch,
    });
    return this.remote;
  }

  /** At most one fetch per cooldown, failed or not; each answer is compared with the keys held. */
  private readonly gatedFetch: FetchImplementation = async (url, options) => {
    const t = this.now();
    if (t - this.lastFetch < this.cfg.cooldownMs) throw new Error('key set fetched less than a cooldown ago');
    this.lastFetch = t;
    this.fetches++;
    const res = await fetch(url, options);
    if (res.status === 200) {
      res
        .clone()
        .json()
        .then(
          (body: unknown) => this.noteKeys(body),
          () => undefined,
        );
    }
    return res;
  };

  private noteKeys(body: unknown): void {
    const keys = (body as { keys?: unknown })?.keys;
    if (!Array.isArray(keys)) return;
    const now = new Set(keys.map((k) => JSON.stringify(k)));
    const before = this.knownKeys;
    this.knownKeys = now;
    if (before && [...before].some((k) => !now.has(k))) for (const fn of this.keysRemoved) fn();
  }

  /** `jwks_uri` from the issuer's discovery document; its `issuer` must be the configured one. */
  private discover(): Promise<URL> {
    if (this.discovery !== null) return this.discovery;
    const t = this.now();
    if (t - this.lastDiscovery < this.cfg.cooldownMs) return Promise.reject(new Error('discovery tried less than a cooldown ago'));
    this.lastDiscovery = t;
    const issuer = this.cfg.issuer!;
    const at = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    this.fetches++;
    const attempt = (async () => {
      const res = await fetch(at, { signal: AbortSignal.timeout(5000), redirect: 'manual', headers: { accept: 'application/json' } });
      if (res.status !== 200) throw new Error(`discovery at ${at} answered ${res.status}`);
      const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
      if (doc.issuer !== issuer) throw new Error(`discovery at ${at} names the issuer ${String(doc.issuer)}, not ${issuer}`);
      if (typeof doc.jwks_uri !== 'string') throw new Error(`discovery at ${at} has no jwks_uri`);
      return new URL(doc.jwks_uri);
    })();
    this.discovery = attempt;
    // A failed discovery is tried again (after the cooldown) by the next token that needs it.
    attempt.catch((err: unknown) => {
      if (this.discovery === attempt) this.discovery = null;
      this.log?.warn({ err: String(err) }, 'identity provider discovery failed');
    });
    return attempt;
  }
}
