// Signed download URLs (src/media/signing.ts, docs/OFFLINE.md [MU1]-[MU3]).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { DEFAULT_MEDIA, loadConfig } from '../../src/config.ts';
import { deriveMediaKey, resolveMediaSettings, signMediaUrl, verifyMediaUrl } from '../../src/media/signing.ts';

const KEY = 'k';
const NOW = Date.UTC(2025, 0, 1);
const EXP = NOW / 1000 + 3600;

describe('signed media URLs', () => {
  it('[MU1] the URL format and signature are the documented ones', () => {
    const url = signMediaUrl('https://cdn.example/m/', 'a b/ü', 'alice', EXP, KEY);
    const sig = createHmac('sha256', KEY).update(`a b/ü\nalice\n${EXP}`).digest('base64url');
    assert.equal(url, `https://cdn.example/m/tracks/${encodeURIComponent('a b/ü')}?u=alice&exp=${EXP}&sig=${sig}`);
  });

  it('[MU2] verify: valid until exp, then expired; any tampering is a bad signature; junk is malformed', () => {
    const url = signMediaUrl('https://cdn.example/m', 'track-1', 'alice', EXP, KEY);
    assert.deepEqual(verifyMediaUrl(url, KEY, NOW), { ok: true, reason: null, trackId: 'track-1', userId: 'alice', exp: EXP });
    assert.equal(verifyMediaUrl(new URL(url).pathname + new URL(url).search, KEY, NOW).ok, true, 'path and query are enough');
    assert.equal(verifyMediaUrl(url, KEY, EXP * 1000 - 1).ok, true);
    assert.deepEqual(verifyMediaUrl(url, KEY, EXP * 1000), { ok: false, reason: 'expired', trackId: 'track-1', userId: 'alice', exp: EXP });
    const bad = [
      url.replace('track-1', 'track-2'),
      url.replace('u=alice', 'u=bob'),
      url.replace(`exp=${EXP}`, `exp=${EXP + 1}`),
      url.slice(0, -2) + (url.endsWith('AA') ? 'BB' : 'AA'),
    ];
    for (const b of bad) assert.equal(verifyMediaUrl(b, KEY, NOW).reason, 'bad_signature', b);
    assert.equal(verifyMediaUrl(url, 'other-key', NOW).reason, 'bad_signature');
    // An expired URL with a forged signature reports the forgery.
    assert.equal(verifyMediaUrl(url.replace('u=alice', 'u=bob'), KEY, EXP * 1000 + 1).reason, 'bad_signature');
    for (const m of [
      '',
      '::',
      'https://x/other/t?u=a&exp=1&sig=x',
      'https://x/tracks/?u=a&exp=1&sig=x',
      'https://x/tracks/t?exp=1&sig=x',
      'https://x/tracks/t?u=a&exp=1e9&sig=x',
      'https://x/tracks/%E0%A4%A?u=a&exp=1&sig=x',
    ]) {
      assert.equal(verifyMediaUrl(m, KEY, NOW).reason, 'malformed', m);
    }
  });

  it('[MU3] the key is MEDIA_SIGNING_KEY, else derived from the admin key; config reads the media settings', () => {
    assert.equal(deriveMediaKey('admin'), createHmac('sha256', 'admin').update('queue-service/media-urls/v1').digest('base64url'));
    assert.notEqual(deriveMediaKey('admin'), deriveMediaKey('admin2'));
    assert.equal(resolveMediaSettings({ ...DEFAULT_MEDIA, signingKey: 'set' }, 'admin').signingKey, 'set');
    assert.equal(resolveMediaSettings(DEFAULT_MEDIA, 'admin').signingKey, deriveMediaKey('admin'));
    const c = loadConfig({ MEDIA_BASE_URL: 'https://cdn.example/media/', MEDIA_SIGNING_KEY: 'x', MEDIA_URL_TTL_SECONDS: '60' });
    assert.deepEqual(c.media, { baseUrl: 'https://cdn.example/media', signingKey: 'x', urlTtlSeconds: 60 });
    assert.deepEqual(loadConfig({}).media, { baseUrl: 'http://127.0.0.1:8080/media', signingKey: null, urlTtlSeconds: 7 * 24 * 3600 });
    assert.throws(() => loadConfig({ MEDIA_BASE_URL: 'ftp://x' }), /MEDIA_BASE_URL/);
    assert.throws(() => loadConfig({ MEDIA_URL_TTL_SECONDS: '0' }), /MEDIA_URL_TTL_SECONDS/);
  });
});
