// Listening parties: create one on a queue or join with an invite code; the SDK's
// PartySession keeps this device's clock in sync with the server. Shown live: every
// member's measured clock offset and round trip (the server measures each device; this
// device's own estimate comes from the SDK), the host's controls, and a plot of position
// error in ms: each member device's error as the server measured it from that device's
// position reports ([PA9], read through the SDK's fetchView about once a second), and this
// page's own player against the party timeline, measured here.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type MemberDevice, type PartyInfo, type PartyMember, type QueueSummary } from '../api.ts';
import type { Session } from '../session.ts';
import { ErrorLine, Field, clock, errorText } from '../ui.tsx';
import { ErrorPlot, type Series } from './plot.tsx';

type Party = Awaited<ReturnType<Session['client']['joinParty']>>;

let current: Party | null = null; // one party session per page, kept across view changes

export function PartyView(props: { session: Session; partyId?: string }) {
  const { client } = props.session;
  const [party, setParty] = useState<Party | null>(current && !props.partyId ? current : current?.id === props.partyId ? current : null);
  const [queues, setQueues] = useState<QueueSummary[]>([]);
  const [queueId, setQueueId] = useState('');
  const [partyId, setPartyId] = useState(props.partyId ?? '');
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api.queues(client).then(
      (r) => {
        const own = r.queues.filter((q) => q.role === 'owner');
        setQueues(own);
        if (own[0] && !queueId) setQueueId(own[0].id);
      },
      () => undefined,
    );
  }, [client]);

  const open = async (p: Promise<Party>) => {
    setBusy(true);
    setError(null);
    try {
      current?.close();
      const s = await p;
      current = s;
      setParty(s);
      location.hash = `#/party/${encodeURIComponent(s.id)}`;
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  if (party)
    return (
      <PartyLive
        session={props.session}
        party={party}
        onLeave={() => {
          current = null;
          setParty(null);
          location.hash = '#/party';
        }}
      />
    );
  return (
    <section aria-labelledby="party-title">
      <h1 id="party-title">Party</h1>
      <ErrorLine error={error} />
      <div class="forms">
        <form
          class="card"
          onSubmit={(e) => {
            e.preventDefault();
            void open(client.createParty(queueId));
          }}
        >
          <h2>Host a party</h2>
          <Field label="On your queue">
            <select name="partyQueue" required value={queueId} onChange={(e) => setQueueId(e.currentTarget.value)}>
              {queues.map((q) => (
                <option value={q.id}>
                  {q.name} ({q.itemCount} items)
                </option>
              ))}
            </select>
          </Field>
          <button type="submit" disabled={busy || !queueId}>
            Create
          </button>
        </form>
        <form
          class="card"
          onSubmit={(e) => {
            e.preventDefault();
            void open(client.joinParty(partyId.trim(), code.trim()));
          }}
        >
          <h2>Join a party</h2>
          <Field label="Party id">
            <input name="partyId" required value={partyId} onInput={(e) => setPartyId(e.currentTarget.value)} />
          </Field>
          <Field label="Invite code">
            <input name="partyCode" required value={code} onInput={(e) => setCode(e.currentTarget.value)} />
          </Field>
          <button type="submit" disabled={busy}>
            Join
          </button>
        </form>
      </div>
    </section>
  );
}

/** A stand-in for an audio element: follows the party timeline like a player would (set at each scheduled change, then runs on its own clock, optionally drifting), and is corrected when the server says so. */
class SimulatedPlayer {
  base = 0;
  t0 = performance.now();
  playing = false;
  rate = 1;
  driftPct = 0;
  constructor(private party: Party) {
    this.snap();
  }
  snap(): void {
    this.base = this.party.positionNow();
    this.t0 = performance.now();
    this.playing = this.party.isPlaying();
    this.rate = this.party.timeline()?.rate ?? 1;
  }
  position(): number {
    return this.playing ? this.base + (performance.now() - this.t0) * this.rate * (1 + this.driftPct / 100) : this.base;
  }
}

const WINDOW = 200; // samples kept per series (20 s at 10 a second)

function PartyLive(props: { session: Session; party: Party; onLeave: () => void }) {
  const { party } = props;
  const [view, setView] = useState<PartyInfo | null>(null);
  const [, bump] = useState(0);
  const [drift, setDrift] = useState(0);
  const [corrections, setCorrections] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [seekTo, setSeekTo] = useState('0');
  const player = useRef<SimulatedPlayer | null>(null);
  const series = useRef(new Map<string, Series>());
  const latest = useRef<PartyInfo | null>(null);
  const act = (p: Promise<unknown>) => p.catch((e) => setError(errorText(e)));

  useEffect(() => {
    const pl = new SimulatedPlayer(party);
    player.current = pl;
    const offs = [
      party.on('playback', () => pl.snap()),
      party.on('snapshot', () => pl.snap()),
      party.on('correction', () => {
        pl.snap();
        setCorrections((n) => n + 1);
      }),
      party.on('clock', () => bump((n) => n + 1)),
      party.on('members', () => void party.fetchView().then((v) => setView(v))),
      party.on('host', () => bump((n) => n + 1)),
      party.on('ended', (info) => setError(`The party is over (${info.reason}).`)),
      party.on('error', (e) => setError(errorText(e))),
    ];
    const load = () =>
      party.fetchView().then(
        (v) => setView(v),
        (e) => setError(errorText(e)),
      );
    void load();
    const poll = setInterval(load, 1000);
    const sample = setInterval(() => {
      // This page's player, measured here against the timeline.
      push(series.current, "this page's player (measured here)", 'here', undefined, pl.position() - party.positionNow());
      // Every member device (this one too), as the server measured it from its last position report.
      const listed = new Set<string>();
      for (const m of latest.current?.members ?? []) {
        for (const d of m.devices) {
          const name = `${m.userId} · ${d.deviceId}`;
          listed.add(name);
          push(series.current, name, 'server', m.userId, d.positionErrorMs);
        }
      }
      // A device whose socket closed drops out (its line would no longer line up in time).
      for (const [name, s] of series.current) if (s.source === 'server' && latest.current && !listed.has(name)) series.current.delete(name);
      bump((n) => n + 1);
    }, 100);
    const report = setInterval(() => party.reportPosition(Math.max(0, pl.position()), party.timeline()?.itemId ?? null), 1000);
    return () => {
      for (const off of offs) off();
      clearInterval(poll);
      clearInterval(sample);
      clearInterval(report);
    };
  }, [party]);
  useEffect(() => {
    if (player.current) player.current.driftPct = drift;
  }, [drift]);
  latest.current = view;

  const c = party.clock;
  const isHost = party.isHost;
  return (
    <section aria-labelledby="party-live-title" class="party">
      <h1 id="party-live-title">
        Party <code>{party.id.slice(0, 8)}</code>
      </h1>
      <p>
        Invite code{' '}
        <code class="code" data-testid="party-code">
          {party.inviteCode}
        </code>{' '}
        · party id <code data-testid="party-id">{party.id}</code>
      </p>
      <p>
        Host <strong data-testid="party-host">{party.hostId}</strong>
        {isHost ? ' (you)' : ''} · timeline{' '}
        <span class="position" data-testid="party-position">
          {clock(party.positionNow() / 1000)}
        </span>{' '}
        {party.isPlaying() ? 'playing' : 'paused'} · this device: offset <span data-testid="my-offset">{c.offsetMs.toFixed(1)}</span> ms, RTT{' '}
        {c.rttMs.toFixed(1)} ms (±{c.uncertaintyMs.toFixed(1)} ms, {c.samples} samples)
      </p>
      <ErrorLine error={error} />
      {isHost ? (
        <div class="controls" role="toolbar" aria-label="Host controls">
          <button type="button" onClick={() => act(party.play())}>
            ▶ Play
          </button>
          <button type="button" onClick={() => act(party.pause())}>
            ❚❚ Pause
          </button>
          <button type="button" onClick={() => act(party.previous())}>
            ‹ Previous
          </button>
          <button type="button" onClick={() => act(party.next())}>
            Next ›
          </button>
          <form
            class="inline-form"
            onSubmit={(e) => {
              e.preventDefault();
              void act(party.seek(Math.max(0, Number(seekTo) * 1000)));
            }}
          >
            <label class="inline">
              Seek to (s) <input name="seek" type="number" min="0" step="1" value={seekTo} onInput={(e) => setSeekTo(e.currentTarget.value)} />
            </label>
            <button type="submit">Seek</button>
          </form>
          <label class="check">
            <input
              type="checkbox"
              name="memberAdds"
              checked={party.state.allowMemberAdds}
              onChange={(e) => act(party.setAllowMemberAdds(e.currentTarget.checked).then(() => bump((n) => n + 1)))}
            />{' '}
            Members may add tracks
          </label>
        </div>
      ) : (
        <p class="muted">Only the host controls playback.</p>
      )}
      <table class="list" data-testid="party-members">
        <thead>
          <tr>
            <th>Member</th>
            <th>Device</th>
            <th class="num">Offset (ms)</th>
            <th class="num">RTT (ms)</th>
            <th class="num">Error (ms)</th>
            <th class="wide">Link</th>
            <th>
              <span class="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {(view?.members ?? [])
            .flatMap((m): { m: PartyMember; d: MemberDevice | null }[] => (m.devices.length === 0 ? [{ m, d: null }] : m.devices.map((d) => ({ m, d }))))
            .map(({ m, d }) => (
              <tr key={`${m.userId}/${d?.connectionId ?? ''}`} data-member={m.userId}>
                <td>
                  {m.userId}
                  {m.isHost ? <span class="tag">host</span> : null}
                  {m.online ? '' : <span class="muted"> (offline)</span>}
                </td>
                <td>{d?.deviceId ?? '-'}</td>
                <td class="num" data-testid="member-offset">
                  {d ? d.offsetMs.toFixed(1) : '-'}
                </td>
                <td class="num" data-testid="member-rtt">
                  {d ? d.rttMs.toFixed(1) : '-'}
                </td>
                <td class="num" data-testid="member-error">
                  {d?.positionErrorMs != null ? d.positionErrorMs.toFixed(1) : '-'}
                </td>
                <td class="wide">
                  {d ? `${d.samples} samples, one-way ${d.oneWayMs.toFixed(1)} ms${d.degraded ? `, degraded (+${d.followDelayMs} ms)` : ''}` : ''}
                </td>
                <td>
                  {isHost && !m.isHost ? (
                    <button type="button" class="link" onClick={() => act(party.handHostTo(m.userId))}>
                      Make host
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
        </tbody>
      </table>
      <h2>Position error (ms)</h2>
      <ErrorPlot series={[...series.current.values()]} />
      <p class="muted">
        Solid, one line per member device: its player's position minus the party timeline's, as the server measured it from the device's last position report
        (each device reports about once a second; the server allows for its clock offset and follow delay). Dashed: this page's player against the timeline,
        measured here (<span data-testid="corrections">{corrections}</span> corrections from the server).
      </p>
      <label class="inline">
        Simulate player drift (%){' '}
        <input name="drift" type="number" min="-5" max="5" step="0.5" value={drift} onInput={(e) => setDrift(Number(e.currentTarget.value) || 0)} />
      </label>
      <p>
        <button type="button" onClick={() => act(party.leave().then(props.onLeave))}>
          Leave
        </button>{' '}
        {isHost ? (
          <button type="button" class="danger" onClick={() => act(party.end().then(props.onLeave))}>
            End the party
          </button>
        ) : null}
      </p>
    </section>
  );
}

function push(map: Map<string, Series>, name: string, source: Series['source'], member: string | undefined, value: number | null): void {
  let s = map.get(name);
  if (!s) map.set(name, (s = { name, source, member, values: [] }));
  if (value === null) return; // no report yet: listed in the legend, no line
  s.values.push(value);
  if (s.values.length > WINDOW) s.values.splice(0, s.values.length - WINDOW);
}
