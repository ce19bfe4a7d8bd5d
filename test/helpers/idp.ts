// A small identity provider for tests: a real HTTP server on a free port that serves an
// OIDC discovery document and a JWK set of keys the test generates (jose), and signs access
// tokens with them. It counts what it serves, can rotate keys, answer 503, or go away
// (port closed) and come back on the same port.
import { createServer, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export type IdpAlg = 'RS256' | 'ES256' | 'EdDSA';

interface Key {
  kid: string;
  alg: IdpAlg;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

export interface TokenOptions {
  sub?: string;
  aud?: string | string[];
  iss?: string;
  /** Seconds from now; default 300. */
  expiresIn?: number;
  /** Absolute `exp` (epoch s), instead of expiresIn; null: no `exp` at all. */
  exp?: number | null;
  nbf?: number;
  iat?: number;
  scope?: string;
  scp?: string[];
  jti?: string | null;
  /** Which key (default: the first); a kid not in the set may be given with `alg`. */
  kid?: string;
  alg?: IdpAlg;
  extra?: JWTPayload;
}

export interface Idp {
  issuer: string;
  jwksUrl: string;
  audience: string;
  port: number;
  /** GETs of the JWK set, and of the discovery document. */
  readonly jwksHits: number;
  readonly discoveryHits: number;
  /** 'up': serve; 'error': answer 503; set with setMode. */
  setMode(mode: 'up' | 'error'): void;
  /** Close the port (connections refused) / listen on it again. */
  down(): Promise<void>;
  up(): Promise<void>;
  /** A new key in the set (rotation); answers its kid. */
  addKey(alg: IdpAlg): Promise<string>;
  removeKey(kid: string): void;
  kids(): string[];
  /** The SPKI PEM of a key's public half (for the HS256-with-the-public-key attack). */
  publicPem(kid?: string): Promise<string>;
  token(opts?: TokenOptions): Promise<string>;
  stop(): Promise<void>;
}

async function newKey(alg: IdpAlg): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `${alg.toLowerCase()}-${randomUUID().slice(0, 8)}`;
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicKey, jwk };
}

export async function startIdp(opts: { audience?: string; algs?: IdpAlg[]; discoveryIssuer?: string } = {}): Promise<Idp> {
  const keys: Key[] = [];
  for (const alg of opts.algs ?? ['RS256', 'ES256']) keys.push(await newKey(alg));
  let mode: 'up' | 'error' = 'up';
  let jwksHits = 0;
  let discoveryHits = 0;
  let issuer = '';
  const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/.well-known/openid-configuration') discoveryHits++;
    if (path === '/jwks.json') jwksHits++;
    if (mode === 'error') {
      res.writeHead(503).end('unavailable');
      return;
    }
    if (path === '/.well-known/openid-configuration') {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ issuer: opts.discoveryIssuer ?? issuer, jwks_uri: `${issuer}/jwks.json` }));
    } else if (path === '/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: keys.map((k) => k.jwk) }));
    } else res.writeHead(404).end();
  };
  let server: Server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  issuer = `http://127.0.0.1:${port}`;
  const audience = opts.audience ?? 'https://queue.example.com';
  const keyOf = (kid?: string) => {
    const k = kid === undefined ? keys[0] : keys.find((x) => x.kid === kid);
    if (!k) throw new Error(`no key ${kid}`);
    return k;
  };
  const idp: Idp = {
    issuer,
    jwksUrl: `${issuer}/jwks.json`,
    audience,
    port,
    get jwksHits() {
      return jwksHits;
    },
    get discoveryHits() {
      return discoveryHits;
    },
    setMode(m) {
      mode = m;
    },
    async down() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
    async up() {
      server = createServer(handler);
      await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    },
    async addKey(alg) {
      const k = await newKey(alg);
      keys.push(k);
      return k.kid;
    },
    removeKey(kid) {
      const i = keys.findIndex((k) => k.kid === kid);
      if (i >= 0) keys.splice(i, 1);
    },
    kids: () => keys.map((k) => k.kid),
    async publicPem(kid) {
      return exportSPKI(keyOf(kid).publicKey);
    },
    async token(o = {}) {
      // A kid that is not in the set: signed by a key of the set of the asked algorithm, under
      // the made-up kid (the server never gets as far as the signature).
      const known = o.kid === undefined || keys.some((k) => k.kid === o.kid);
      const key = known ? keyOf(o.kid) : (keys.find((k) => k.alg === (o.alg ?? 'RS256')) ?? keys[0]!);
      const now = Math.floor(Date.now() / 1000);
      const claims: JWTPayload = { ...o.extra };
      if (o.scope !== undefined) claims.scope = o.scope;
      if (o.scp !== undefined) claims.scp = o.scp;
      const jwt = new SignJWT(claims)
        .setProtectedHeader({ alg: key.alg, kid: known ? key.kid : o.kid!, typ: 'at+jwt' })
        .setIssuer(o.iss ?? issuer)
        .setAudience(o.aud ?? audience)
        .setIssuedAt(o.iat ?? now);
      if (o.exp !== null) jwt.setExpirationTime(o.exp ?? now + (o.expiresIn ?? 300));
      if (o.sub !== undefined) jwt.setSubject(o.sub);
      if (o.nbf !== undefined) jwt.setNotBefore(o.nbf);
      if (o.jti !== null) jwt.setJti(o.jti ?? randomUUID());
      return jwt.sign(key.privateKey);
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return idp;
}

/** The server environment that trusts this provider (discovery through AUTH_ISSUER). */
export function idpEnv(idp: Idp, extra: Record<string, string> = {}): Record<string, string> {
  return { AUTH_ISSUER: idp.issuer, AUTH_AUDIENCE: idp.audience, ...extra };
}
