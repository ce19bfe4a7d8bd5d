// Track names from the catalog, looked up once per id (a window's ids in one request,
// POST /catalog/tracks/lookup) and shared by every view. Ids the catalog does not know stay
// shown as ids.
import { useEffect, useState } from 'preact/hooks';
import { api, type CatalogTrack } from './api.ts';
import type { Client } from './sdk.ts';

const known = new Map<string, CatalogTrack | null>();
const inFlight = new Set<string>();
const listeners = new Set<() => void>();

export function rememberTracks(tracks: CatalogTrack[]): void {
  for (const t of tracks) known.set(t.id, t);
  for (const l of listeners) l();
}

export function trackOf(id: string): CatalogTrack | null | undefined {
  return known.get(id);
}

/** One request for the ids neither known nor asked for yet (at most 200, the API's limit). */
function lookUp(client: Client, ids: string[]): void {
  const wanted = [...new Set(ids)].filter((id) => !known.has(id) && !inFlight.has(id)).slice(0, 200);
  if (wanted.length === 0) return;
  for (const id of wanted) inFlight.add(id);
  void api
    .tracks(client, wanted)
    .then(
      (r) => {
        for (const t of r.tracks) known.set(t.id, t);
        for (const id of r.missing) known.set(id, null);
      },
      () => undefined, // not remembered: asked again on the next render that needs them
    )
    .finally(() => {
      for (const id of wanted) inFlight.delete(id);
      for (const l of listeners) l();
    });
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
    // A long queue is read in windows, so is its catalog.
    lookUp(client, ids);
  }, [client, ids.join('\n')]);
}

export function TrackName(props: { id: string }) {
  const t = known.get(props.id);
  if (!t)
    return (
      <span class="track">
        <span class="title">{props.id}</span>
        {t === null ? <span class="artist">not in the catalog</span> : null}
      </span>
    );
  return (
    <span class="track">
      <span class="title">{t.title}</span>
      <span class="artist">{t.artist}</span>
    </span>
  );
}
