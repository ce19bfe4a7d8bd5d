// The AsyncAPI 3 document of the WebSocket API, generated from the protocol's schemas
// so it cannot drift from what the server validates and sends. Served at /asyncapi.json.
import type { TSchema } from '@sinclair/typebox';
import { clientMessages, CloseCode, DEFAULT_REPLAY_CAP, PROTOCOL_VERSION, serverMessages } from './protocol.ts';

const idOf = (s: TSchema) => s.$id as string;

/** The party socket's messages (src/party/protocol.ts), given by the app so this module stays below the party feature. */
export interface PartyChannelMessages {
  server: readonly TSchema[];
  client: readonly TSchema[];
}

export function asyncApiDocument({ server: partyServerMessages, client: partyClientMessages }: PartyChannelMessages): Record<string, unknown> {
  const messages: Record<string, unknown> = {};
  for (const s of [...serverMessages, ...clientMessages]) {
    messages[idOf(s)] = { name: idOf(s), summary: s.description ?? idOf(s), payload: { ...s, $id: undefined } };
  }
  const ref = (s: TSchema) => ({ $ref: `#/components/messages/${idOf(s)}` });
  const query = {
    token: 'User token (or the Authorization header)',
    since: `Last sequence number seen; the missed events are replayed, or one snapshot is sent past ${DEFAULT_REPLAY_CAP} events`,
    deviceId: 'This device; its own changes are acknowledged to it, not sent back',
    deviceName: 'Shown in the device list (sync socket)',
    deviceType: 'e.g. phone, desktop, speaker (sync socket)',
  };
  const channel = (address: string, description: string, params: Record<string, string>) => ({
    address,
    description: `${description}\n\nQuery parameters: ${Object.entries(query)
      .map(([k, v]) => `\`${k}\`: ${v}`)
      .join('; ')}.`,
    parameters: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, { description: v }])),
    messages: Object.fromEntries([...serverMessages, ...clientMessages].map((s) => [idOf(s), ref(s)])),
  });
  // Listening parties (rules [PA1]... in docs/SPEC.md): their own channel and messages.
  for (const s of [...partyServerMessages, ...partyClientMessages]) {
    messages[idOf(s)] ??= { name: idOf(s), summary: s.description ?? idOf(s), payload: { ...s, $id: undefined } };
  }
  const party = {
    address: '/ws/party/{partyId}',
    description:
      "A listening party: its sequenced events (resume with `since`), the party queue, clock exchanges, position reports and the host's playback commands.\n\nQuery parameters: `token`, `since` (last party sequence number seen), `deviceId`.",
    parameters: { partyId: { description: 'The party (members only)' } },
    messages: Object.fromEntries([...partyServerMessages, ...partyClientMessages].map((s) => [idOf(s), ref(s)])),
  };
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Queue service realtime API',
      version: String(PROTOCOL_VERSION),
      description: [
        `WebSocket protocol version ${PROTOCOL_VERSION}. Rules with ids ([RT1]...) are in docs/SPEC.md.`,
        'Close codes: ' +
          Object.entries(CloseCode)
            .filter(([k]) => k !== 'badRequest')
            .map(([k, v]) => `${v} ${k}`)
            .join(', ') +
          '.',
      ].join('\n\n'),
    },
    channels: {
      queue: channel('/ws/queues/{queueId}', "One queue's events, for anyone allowed to read it. Commands default to this queue.", { queueId: 'The queue' }),
      sync: channel(
        '/ws/sync/{userId}',
        "A user's devices: playback sync and transfers (the user stream), presence, and queues subscribed to with `subscribe`.",
        {
          userId: 'The caller (or `me`)',
        },
      ),
      party,
    },
    operations: {
      receiveQueue: {
        action: 'receive',
        channel: { $ref: '#/channels/queue' },
        messages: serverMessages.map((s) => ({ $ref: `#/channels/queue/messages/${idOf(s)}` })),
      },
      sendQueue: {
        action: 'send',
        channel: { $ref: '#/channels/queue' },
        messages: clientMessages.map((s) => ({ $ref: `#/channels/queue/messages/${idOf(s)}` })),
      },
      receiveSync: {
        action: 'receive',
        channel: { $ref: '#/channels/sync' },
        messages: serverMessages.map((s) => ({ $ref: `#/channels/sync/messages/${idOf(s)}` })),
      },
      sendSync: {
        action: 'send',
        channel: { $ref: '#/channels/sync' },
        messages: clientMessages.map((s) => ({ $ref: `#/channels/sync/messages/${idOf(s)}` })),
      },
      receiveParty: {
        action: 'receive',
        channel: { $ref: '#/channels/party' },
        messages: partyServerMessages.map((s) => ({ $ref: `#/channels/party/messages/${idOf(s)}` })),
      },
      sendParty: {
        action: 'send',
        channel: { $ref: '#/channels/party' },
        messages: partyClientMessages.map((s) => ({ $ref: `#/channels/party/messages/${idOf(s)}` })),
      },
    },
    components: { messages },
  };
}
