// The user's devices with presence, the playback state (position moving in real time,
// extrapolated by the SDK with the server clock offset) and transfer between devices.
import { useEffect, useState } from 'preact/hooks';
import { api, type Device } from '../api.ts';
import type { Session } from '../session.ts';
import { TrackName, useTrackNames } from '../tracks.tsx';
import { ErrorLine, Field, ago, clock, errorText } from '../ui.tsx';

type Playback = ReturnType<Session['client']['playback']>;

export function DevicesView(props: { session: Session }) {
  const { client, deviceId } = props.session;
  const [pb, setPb] = useState<Playback | null>(null);
  const [state, setState] = useState<Playback['state'] | null>(null);
  const [position, setPosition] = useState(0);
  const [devices, setDevices] = useState<Device[]>([]);
  const [name, setName] = useState('');
  const [track, setTrack] = useState('');
  const [error, setError] = useState<string | null>(null);
  const act = (p: Promise<unknown>) => p.catch((e) => setError(errorText(e)));

  useEffect(() => {
    const p = client.playback();
    setPb(p);
    setState(p.state);
    const loadDevices = () =>
      api.devices(client).then(
        (r) => setDevices(r.devices),
        (e) => setError(errorText(e)),
      );
    void loadDevices();
    const off = p.on('change', () => {
      setState(p.state);
      void loadDevices();
    });
    // The position moves between events: read the extrapolation a few times a second.
    const tick = setInterval(() => setPosition(p.positionNow() ?? 0), 250);
    const poll = setInterval(loadDevices, 3000);
    return () => {
      off();
      clearInterval(tick);
      clearInterval(poll);
    };
  }, [client]);
  const s = state as
    | (Playback['state'] & { currentTrackId?: string | null; isPlaying?: boolean; deviceId?: string; activeDeviceId?: string | null; queueId?: string | null })
    | null;
  useTrackNames(client, s?.currentTrackId ? [s.currentTrackId] : []);

  return (
    <section aria-labelledby="devices-title">
      <h1 id="devices-title">Devices</h1>
      <ErrorLine error={error} />
      <div class="card now-playing" data-testid="playback">
        <h2>Playback</h2>
        {s?.currentTrackId ? (
          <>
            <p class="big">
              <TrackName id={s.currentTrackId} />
            </p>
            <p>
              <span class="position" data-testid="position" role="timer" aria-label="position">
                {clock(position)}
              </span>{' '}
              {s.isPlaying ? <span class="playing">playing</span> : <span class="muted">paused</span>} on{' '}
              <strong data-testid="active-device">{s.activeDeviceId ?? s.deviceId}</strong>
            </p>
          </>
        ) : (
          <p class="muted">Nothing played yet on any device.</p>
        )}
        {pb ? (
          <form
            class="inline-form"
            onSubmit={(e) => {
              e.preventDefault();
              void act(pb.update({ trackId: track.trim() || s?.currentTrackId || 'demo-track', position: 0, isPlaying: true }));
            }}
          >
            <label class="inline">
              Track id <input name="playTrack" value={track} placeholder={s?.currentTrackId ?? 'a track id'} onInput={(e) => setTrack(e.currentTarget.value)} />
            </label>
            <button type="submit">Play here</button>
            <button
              type="button"
              disabled={!s?.currentTrackId}
              onClick={() => act(pb.update({ trackId: s!.currentTrackId!, position: pb.positionNow() ?? 0, isPlaying: !s!.isPlaying }))}
            >
              {s?.isPlaying ? 'Pause' : 'Resume'} here
            </button>
          </form>
        ) : null}
      </div>
      <table class="list" data-testid="devices">
        <thead>
          <tr>
            <th>Device</th>
            <th>Presence</th>
            <th class="wide">Last seen</th>
            <th>
              <span class="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {devices.map((d) => (
            <tr key={d.deviceId} data-device-id={d.deviceId}>
              <td>
                {d.name ?? d.deviceId}
                {d.name ? <span class="muted"> {d.deviceId}</span> : null}
                {d.deviceId === deviceId ? <span class="tag">this browser</span> : null}
                {d.isActive ? <span class="tag active">active</span> : null}
              </td>
              <td>
                <span class={d.online ? 'online' : 'offline'}>{d.online ? '● online' : '○ offline'}</span>
              </td>
              <td class="wide">{ago(d.lastSeen)}</td>
              <td>
                {pb && !d.isActive ? (
                  <button
                    type="button"
                    aria-label={`Transfer playback to ${d.name ?? d.deviceId} (${d.deviceId})`}
                    onClick={() => act(pb.transferTo(d.deviceId))}
                  >
                    Transfer playback
                  </button>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form
        class="card inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          void act(
            api
              .nameDevice(client, deviceId, name.trim())
              .then(() => api.devices(client))
              .then((r) => setDevices(r.devices)),
          );
        }}
      >
        <Field label={`Name this browser (${deviceId})`}>
          <input name="deviceName" required maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <button type="submit">Save name</button>
      </form>
    </section>
  );
}
