// User ids: the rule every user id keeps (USER_ID_PATTERN), and how an identity
// provider's user id becomes one ([AU3], README "Using your identity provider").
//
// Decision: a provider's id that already fits the rule is used as it is, so the ids an app
// knows its users by (Auth0's `auth0|abc`, Keycloak's and Cognito's UUIDs, Firebase's uid)
// are ours too: collaborators can be added by them, and an app that minted our tokens for
// its provider's ids keeps its users' data when it switches to the provider's tokens. Any
// other id (longer than 128 characters, other characters such as `+` or `/`, or one that
// starts with the reserved `sha256:`) becomes `sha256:` followed by the lowercase hex
// SHA-256 of its UTF-8 bytes: 71 characters, the same for the same id on every instance,
// and computable by the app (`'sha256:' + sha256hex(id)`). The reserved prefix makes the
// mapping one-to-one: no id that is kept as it is can look like a hashed one.
import { createHash } from 'node:crypto';
import { USER_ID_PATTERN } from '../model/wire.ts';

export { USER_ID_PATTERN };
export const userIdRe = new RegExp(USER_ID_PATTERN);

/** The prefix of hashed provider ids; a provider id that starts with it is hashed too. */
export const HASHED_PREFIX = 'sha256:';

/** Our user id for a provider's user id (the value of AUTH_USER_CLAIM); null when there is none. */
export function providerUserId(claim: unknown): string | null {
  const raw = typeof claim === 'string' ? claim : typeof claim === 'number' && Number.isSafeInteger(claim) ? String(claim) : null;
  if (raw === null || raw.length === 0) return null;
  if (userIdRe.test(raw) && !raw.startsWith(HASHED_PREFIX)) return raw;
  return HASHED_PREFIX + createHash('sha256').update(raw, 'utf8').digest('hex');
}
