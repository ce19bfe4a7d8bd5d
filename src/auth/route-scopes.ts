// The scope each user-token route needs ([AU6]), in one table rather than in each feature's
// route file: one place to read what a TV-display token (queue:read) or a remote control
// (playback:write) may call. A route may also say it in its own config (`scope`), which wins.
// Public routes and operator routes (config `auth`) are not here: the admin key, or the
// `admin` scope, is what those need. test/unit/auth.scopes.test.ts fails on a user-token
// route missing from this table; at run time such a route needs queue:read to read
// (GET, HEAD) and queue:write for anything else.
import type { Scope } from './scopes.ts';

/** One scope, or several of which any one will do. */
export type Needed = Scope | readonly Scope[];

const R: Scope = 'queue:read';
const W: Scope = 'queue:write';
const P: Scope = 'playback:write';
const JOIN: Scope = 'party:join';
const HOST: Scope = 'party:host';

export const ROUTE_SCOPES: Record<string, Needed> = {
  // queues (src/queues/routes.ts)
  'POST /queues': W,
  'GET /queues': R,
  'GET /queues/:queueId': R,
  'PATCH /queues/:queueId': W,
  'DELETE /queues/:queueId': W,
  'POST /queues/:queueId/tracks': W,
  'DELETE /queues/:queueId/items/:itemId': W,
  'POST /queues/:queueId/items/remove': W,
  'POST /queues/:queueId/items/:itemId/move': W,
  'POST /queues/:queueId/clear': W,
  'PUT /queues/:queueId/shuffle': P,
  'PUT /queues/:queueId/repeat': P,
  'PUT /queues/:queueId/current': P,
  'POST /queues/:queueId/next': P,
  'POST /queues/:queueId/previous': P,
  'GET /queues/:queueId/events': R,
  // sockets: opening one reads; each message is checked again (queues/socket.ts, party/socket.ts)
  'GET /ws/queues/:queueId': R,
  'GET /ws/sync/:userId': R,
  'GET /ws/party/:partyId': JOIN,
  // collaboration (src/collab/routes.ts)
  'POST /queues/collaborative': W,
  'GET /queues/:queueId/collaborators': R,
  'POST /queues/:queueId/collaborators': W,
  'PUT /queues/:queueId/collaborators/:userId': W,
  'DELETE /queues/:queueId/collaborators/:userId': W,
  'POST /queues/:queueId/leave': W,
  'POST /queues/:queueId/join': W,
  'POST /queues/:queueId/transfer': W,
  'PUT /queues/:queueId/visibility': W,
  'PUT /queues/:queueId/settings': W,
  'POST /queues/:queueId/items/:itemId/vote': W,
  'GET /queues/:queueId/history': R,
  'GET /queues/:queueId/presence': R,
  'POST /queues/:queueId/invites': W,
  'GET /queues/:queueId/invites': R,
  'DELETE /queues/:queueId/invites/:code': W,
  'POST /invites/:code/accept': W,
  // playback (src/playback/routes.ts)
  'PUT /users/:userId/playback-state': P,
  'GET /users/:userId/playback-state': R,
  'POST /users/:userId/playback/transfer': P,
  'GET /users/:userId/sync-events': R,
  'GET /users/:userId/devices': R,
  'PUT /users/:userId/devices/:deviceId': P,
  // offline (src/offline/routes.ts): each change of a batch is checked by its op too
  'POST /sync/offline': [R, P],
  'GET /queues/:queueId/offline': R,
  // parties (src/party/routes.ts)
  'POST /parties': HOST,
  'GET /parties/:partyId': JOIN,
  'POST /parties/:partyId/join': JOIN,
  'POST /parties/:partyId/leave': JOIN,
  'POST /parties/:partyId/end': HOST,
  'POST /parties/:partyId/host': HOST,
  'PATCH /parties/:partyId': HOST,
  'POST /parties/:partyId/playback': HOST,
  'POST /parties/:partyId/tracks': JOIN,
  // catalog reads and what a user reports (src/catalog/routes.ts; its writes are operator routes)
  'GET /catalog/tracks/:trackId': R,
  'POST /catalog/tracks/lookup': R,
  'GET /catalog/search': R,
  'POST /users/:userId/history': P,
  'POST /users/:userId/context': P,
  // radio and recommendations (src/radio/routes.ts): each makes or extends a queue, or is feedback
  'POST /radio/:stationId/queue': W,
  'GET /queues/:queueId/extend': W,
  'POST /queues/:queueId/extend': W,
  'POST /radio/:stationId/feedback': P,
  'POST /recommendations/queue': W,
  'POST /queues/:queueId/refresh': W,
  'POST /recommendations/feedback': P,
  'POST /queues/contextual': W,
  // who the token is (src/http/token-routes.ts): any valid token
  'GET /auth/me': [],
};

/** The scope a route needs: its own config's, the table's, or by its method. An empty list: none. */
export function routeScope(method: string, url: string | undefined, configured: Needed | undefined): Needed {
  if (configured !== undefined) return configured;
  const listed = url === undefined ? undefined : ROUTE_SCOPES[`${method} ${url}`];
  if (listed !== undefined) return listed;
  return method === 'GET' || method === 'HEAD' ? R : W;
}
