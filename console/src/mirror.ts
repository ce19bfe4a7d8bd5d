// A live queue for a view: opens the SDK's mirror (client.openQueue), re-renders on each
// change, closes it when the view goes away.
import { useEffect, useState } from 'preact/hooks';
import type { Client } from './sdk.ts';
import type { Session } from './session.ts';
import { errorText } from './ui.tsx';

export type Mirror = Awaited<ReturnType<Client['openQueue']>>;
type SdkState = Mirror['state'];
export type Item = SdkState['items'][number];
/** The mirror's state with the header fields the views show (present in the service's snapshots). */
export type QueueState = SdkState & {
  name?: string;
  type?: string;
  itemCount?: number;
  votes?: { itemId: string; score: number }[];
};

export function useMirror(session: Session, queueId: string) {
  const [mirror, setMirror] = useState<Mirror | null>(null);
  const [state, setState] = useState<QueueState | null>(null);
  const [pending, setPending] = useState(0);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let closed = false;
    let m: Mirror | null = null;
    const offs: (() => void)[] = [];
    session.client.openQueue(queueId).then(
      (opened) => {
        if (closed) return opened.close();
        m = opened;
        setMirror(opened);
        setState({ ...(opened.state as QueueState) });
        setPending(opened.pending.length);
        offs.push(
          opened.on('change', () => {
            setState({ ...(opened.state as QueueState) });
            setPending(opened.pending.length);
          }),
        );
        offs.push(opened.on('error', (e: unknown) => setError(errorText(e))));
      },
      (e) => setError(errorText(e)),
    );
    return () => {
      closed = true;
      for (const off of offs) off();
      m?.close();
    };
  }, [session, queueId]);
  return { mirror, state, pending, error, setError };
}
