// Signed download URLs for offline play. A URL names one track for one user until an
// expiry; the signature is an HMAC-SHA256 over exactly "trackId\nuserId\nexp" with the
// media signing key, base64url without padding. The operator's media server or CDN
// checks it with `verifyMediaUrl` (or the same three lines in any language, see
// docs/OFFLINE.md), or asks GET /media/verify.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { MediaConfig } from '../config.ts';

/** Label of the key derived from the admin key when MEDIA_SIGNING_KEY is not set. */
export const MEDIA_KEY_LABEL = 'queue-service/media-urls/v1';

export interface MediaSettings {
  baseUrl: string;
  /** Used as its UTF-8 bytes. */
  signingKey: string;
  urlTtlSeconds: number;
}

/** MEDIA_SIGNING_KEY, or base64url(HMAC-SHA256(admin key, MEDIA_KEY_LABEL)) when it is not set. */
export function deriveMediaKey(adminKey: string): string {
  return createHmac('sha256', adminKey).update(MEDIA_KEY_LABEL).digest('base64url');
}

export function resolveMediaSettings(config: MediaConfig, adminKey: string): MediaSettings {
  return { baseUrl: config.baseUrl.replace(/\/+$/, ''), signingKey: config.signingKey ?? deriveMediaKey(adminKey), urlTtlSeconds: config.urlTtlSeconds };
}

export function mediaSignature(trackId: string, userId: string, exp: number, key: string): string {
  return createHmac('sha256', key).update(`${trackId}\n${userId}\n${exp}`).digest('base64url');
}

/** `${baseUrl}/tracks/${encodeURIComponent(trackId)}?u=<userId>&exp=<epoch s>&sig=<signature>`. */
export function signMediaUrl(baseUrl: string, trackId: string, userId: string, exp: number, key: string): string {
  const q = new URLSearchParams({ u: userId, exp: String(exp), sig: mediaSignature(trackId, userId, exp, key) });
  return `${baseUrl.replace(/\/+$/, '')}/tracks/${encodeURIComponent(trackId)}?${q.toString()}`;
}

export type MediaUrlProblem = 'malformed' | 'bad_signature' | 'expired';

export interface MediaUrlCheck {
  ok: boolean;
  /** Null when the URL is valid. */
  reason: MediaUrlProblem | null;
  /** What the URL names (also when it is expired or tampered with, so a log can say what was tried). */
  trackId: string | null;
  userId: string | null;
  /** Epoch seconds. */
  exp: number | null;
}

/**
 * Checks a signed URL: the signature first (constant time), then the expiry against `now`
 * (epoch ms). Accepts an absolute URL or a path with its query (`/media/tracks/t1?u=..`).
 * The base URL is not checked: the server that serves the path is the one asking.
 */
export function verifyMediaUrl(url: string, key: string, now: number = Date.now()): MediaUrlCheck {
  const bad = (reason: MediaUrlProblem, trackId: string | null = null, userId: string | null = null, exp: number | null = null): MediaUrlCheck => ({
    ok: false,
    reason,
    trackId,
    userId,
    exp,
  });
  let u: URL;
  try {
    u = new URL(url, 'http://relative.invalid');
  } catch {
    return bad('malformed');
  }
  const at = u.pathname.lastIndexOf('/tracks/');
  const encoded = at < 0 ? '' : u.pathname.slice(at + '/tracks/'.length);
  let trackId: string;
  try {
    trackId = decodeURIComponent(encoded);
  } catch {
    return bad('malformed');
  }
  if (trackId === '' || encoded.includes('/')) return bad('malformed');
  const userId = u.searchParams.get('u');
  const expRaw = u.searchParams.get('exp');
  const sig = u.searchParams.get('sig');
  if (!userId || !expRaw || !sig) return bad('malformed', trackId, userId);
  if (!/^\d{1,15}$/.test(expRaw)) return bad('malformed', trackId, userId);
  const exp = Number(expRaw);
  const expected = Buffer.from(mediaSignature(trackId, userId, exp, key));
  const given = Buffer.from(sig);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return bad('bad_signature', trackId, userId, exp);
  if (exp * 1000 <= now) return bad('expired', trackId, userId, exp);
  return { ok: true, reason: null, trackId, userId, exp };
}
