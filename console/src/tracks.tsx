// Track names from the catalog, looked up once per id and shared by every view. Ids the
// catalog does not know stay shown as ids.
import { useEffect, useState } from 'preact/hooks';
import { api, type CatalogTrack } from './api.ts';
import type { Client } from './sdk.ts';

const known = new Map<string, CatalogTrack | null>();
const inFlight = new Map<string, Promise<void>>();
const listeners = new Set<() => void>();

export function rememberTracks(tracks: CatalogTrack[]): void {
  for (const t of tracks) known.set(t.id, t);
  for (const l of listeners) l();
}

export function trackOf(id: string): CatalogTrack | null | undefined {
  return known.get(id);
}

function lookUp(client: Client, id: string): Promise<void> {
  let p = inFlight.get(id);
  if (!p) {
    p = api.track(client, id).then((t) => void known.set(id, t), () => void known.set(id, null)).finally(() => {
      inFlight.delete(id);
      for (const l of listeners) l();
    });
    inFlight.set(id, p);
  }
  return p;
}

/** Re-renders the caller when names of `ids` arrive. */
export function useTrackNames(client: Client, ids: string[]): void {
  const [, bump] = useState(0);
  useEffect(() => {
    const l = () => bump((n) => n + 1);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  useEffect(() => {
    // A few at a time: a long queue is read in windows, so is its catalog.
    for (const id of ids.slice(0, 200)) if (!known.has(id)) void lookUp(client, id);
  }, [client, ids.join('\n')]);
}

export function TrackName(props: { id: string }) {
  const t = known.get(props.id);
  if (!t) return <span class="track"><span class="title">{props.id}</span>{t === null ? <span class="artist">not in the catalog</span> : null}</span>;
  return <span class="track"><span class="title">{t.title}</span><span class="artist">{t.artist}</span></span>;
}
