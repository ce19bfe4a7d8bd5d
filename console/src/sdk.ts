// The one place the console meets @queue-service/client: the views import the client
// from here, so a change in the SDK's surface is a change in this file. The console
// talks to the API through nothing else.
export { IndexedDbStorage, QueueClient } from '@queue-service/client';
import type { QueueClient } from '@queue-service/client';
export type {
  CatalogTrack,
  Collaborators,
  Device,
  Invite,
  PartyDeviceView,
  PartyView,
  QueueHistory,
  QueueListEntry,
} from '@queue-service/client';

export type Client = QueueClient;
