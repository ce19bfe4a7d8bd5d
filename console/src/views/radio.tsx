// Radio: start a station from a track or an artist; the queue it makes is shown live, and
// grows as the station extends it (Next near the end, or Extend).
import { useEffect, useState } from 'preact/hooks';
import { api, type CatalogTrack } from '../api.ts';
import type { Session } from '../session.ts';
import { rememberTracks } from '../tracks.tsx';
import { ErrorLine, Field, errorText } from '../ui.tsx';
import { QueueView } from './queue.tsx';

export function RadioView(props: { session: Session; queueId?: string }) {
  const { client } = props.session;
  const [kind, setKind] = useState<'track' | 'artist'>('artist');
  const [value, setValue] = useState('');
  const [matches, setMatches] = useState<CatalogTrack[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const words = value.trim();
    if (!words || kind !== 'track') return setMatches([]);
    const t = setTimeout(
      () =>
        api.search(client, words).then(
          (r) => {
            rememberTracks(r.tracks);
            setMatches(r.tracks);
          },
          () => setMatches([]),
        ),
      200,
    );
    return () => clearTimeout(t);
  }, [value, kind]);

  const start = async (stationId: string) => {
    setBusy(true);
    setError(null);
    try {
      const r = await api.startRadio(client, stationId);
      location.hash = `#/radio/${encodeURIComponent(r.queue.id)}`;
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="radio-title">
      <h1 id="radio-title">Radio</h1>
      <form
        class="card"
        onSubmit={(e) => {
          e.preventDefault();
          if (kind === 'artist') void start(`artist:${value.trim()}`);
          else if (matches[0]) void start(`track:${matches[0].id}`);
        }}
      >
        <fieldset class="choice">
          <legend>Start a station from</legend>
          <label>
            <input type="radio" name="seed" checked={kind === 'artist'} onChange={() => setKind('artist')} /> an artist
          </label>
          <label>
            <input type="radio" name="seed" checked={kind === 'track'} onChange={() => setKind('track')} /> a track
          </label>
        </fieldset>
        <Field label={kind === 'artist' ? 'Artist name' : 'Search a track'}>
          <input name="seedValue" required value={value} onInput={(e) => setValue(e.currentTarget.value)} />
        </Field>
        {kind === 'track' && matches.length > 0 ? (
          <ul class="results" aria-label="Tracks to start from">
            {matches.map((t) => (
              <li key={t.id}>
                <span class="track">
                  <span class="title">{t.title}</span>
                  <span class="artist">{t.artist}</span>
                </span>
                <button type="button" disabled={busy} onClick={() => start(`track:${t.id}`)}>
                  Start
                </button>
              </li>
            ))}
          </ul>
        ) : null}
        {kind === 'artist' ? (
          <button type="submit" disabled={busy}>
            Start the station
          </button>
        ) : null}
        <ErrorLine error={error} />
      </form>
      {props.queueId ? <QueueView key={props.queueId} session={props.session} queueId={props.queueId} radio /> : null}
    </section>
  );
}
