// The one place the console meets @queue-service/client: every view imports the SDK's
// types and the session's client from here, so a change in the SDK's surface is a
// change in this file. The console talks to the API through nothing else.
export { QueueClient } from '@queue-service/client';
import type { QueueClient } from '@queue-service/client';

export type Client = QueueClient;
