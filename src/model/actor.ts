// Who does something: a user, and the device the request came from (X-Device-Id), if any.
// Every feature's services take one; the transports (REST, sockets) make it from the token.

export interface Actor {
  userId: string;
  deviceId: string | null;
}
