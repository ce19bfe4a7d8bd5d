// One queue, live: the SDK's mirror (client.openQueue) renders every change made here
// (applied at once, optimistically) or anywhere else (pushed over the socket).
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type CatalogTrack } from '../api.ts';
import type { Session } from '../session.ts';
import { rememberTracks, TrackName, useTrackNames } from '../tracks.tsx';
import { ErrorLine, errorText } from '../ui.tsx';
import { CollabPanel, HistoryPanel } from './collab.tsx';
import { useMirror, type Mirror, type Item } from '../mirror.ts';

export function QueueView(props: { session: Session; queueId: string; radio?: boolean }) {
  const { session, queueId } = props;
  const { mirror, state, pending, error, setError } = useMirror(session, queueId);
  const [tab, setTab] = useState<'items' | 'collab' | 'history'>('items');
  const items = state?.items ?? [];
  useTrackNames(
    session.client,
    items.map((i) => i.trackId),
  );

  if (!mirror || !state)
    return (
      <section>
        <ErrorLine error={error} />
        {error ? null : <p>Opening the queue…</p>}
      </section>
    );
  const act = (p: Promise<unknown>) => p.catch((e) => setError(errorText(e)));

  return (
    <section aria-labelledby="queue-title" class="queue">
      <div class="queue-head">
        <h1 id="queue-title">
          {state.name ?? 'Queue'} <span class="tag">{state.type ?? 'user'}</span>
        </h1>
        <p class="meta">
          <span data-testid="version">v{state.version}</span> · <span data-testid="item-count">{state.itemCount ?? items.length} items</span>
          {pending > 0 ? (
            <span class="pending" data-testid="pending">
              {' '}
              · {pending} pending
            </span>
          ) : null}
        </p>
      </div>
      <div class="controls" role="toolbar" aria-label="Playback order">
        <button type="button" onClick={() => act(mirror.previous())} aria-label="Previous item">
          ‹ Previous
        </button>
        <button type="button" onClick={() => act(mirror.next())} aria-label="Next item">
          Next ›
        </button>
        <label class="check">
          <input type="checkbox" checked={state.shuffle} onChange={(e) => act(mirror.setShuffle(e.currentTarget.checked))} /> Shuffle
        </label>
        <label class="inline">
          Repeat{' '}
          <select value={state.repeat} onChange={(e) => act(mirror.setRepeat(e.currentTarget.value as 'off' | 'all' | 'one'))}>
            <option value="off">off</option>
            <option value="all">all</option>
            <option value="one">one</option>
          </select>
        </label>
        {state.type === 'radio' || props.radio ? (
          <button type="button" onClick={() => act(api.extend(session.client, queueId, 10))}>
            Extend +10
          </button>
        ) : null}
      </div>
      <ErrorLine error={error} />
      <div
        class="tabs"
        role="tablist"
        aria-label="Queue panels"
        onKeyDown={(e) => {
          // The tabs pattern: arrows move between tabs (one tab stop for the list).
          const order = ['items', 'collab', 'history'] as const;
          const step = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
          if (!step) return;
          const next = order[(order.indexOf(tab) + step + order.length) % order.length]!;
          setTab(next);
          document.getElementById(`tab-${next}`)?.focus();
        }}
      >
        {(['items', 'collab', 'history'] as const).map((t) => (
          <button
            type="button"
            role="tab"
            id={`tab-${t}`}
            aria-selected={tab === t}
            aria-controls={`panel-${t}`}
            tabIndex={tab === t ? 0 : -1}
            onClick={() => setTab(t)}
          >
            {t === 'items' ? 'Items' : t === 'collab' ? 'Collaboration' : 'History'}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === 'items' ? (
          <ItemsPanel
            session={session}
            mirror={mirror}
            items={items}
            currentItemId={state.currentItemId}
            reasons={reasonsOf(state.metadata)}
            act={act}
            more={state.itemCount !== undefined && state.itemCount > items.length}
          />
        ) : null}
        {tab === 'collab' ? <CollabPanel session={session} queueId={queueId} version={state.version} /> : null}
        {tab === 'history' ? <HistoryPanel session={session} queueId={queueId} version={state.version} /> : null}
      </div>
    </section>
  );
}

function ItemsPanel(props: {
  session: Session;
  mirror: Mirror;
  items: Item[];
  currentItemId: string | null;
  reasons: Record<string, { text: string }>;
  act: (p: Promise<unknown>) => void;
  more: boolean;
}) {
  const { mirror, items, act, session } = props;
  const [dragging, setDragging] = useState<string | null>(null);
  const [over, setOver] = useState<string | null>(null);
  const focusAfter = useRef<string | null>(null);
  const list = useRef<HTMLOListElement>(null);

  // Keyboard moves keep the focus on the moved item's row.
  useEffect(() => {
    if (!focusAfter.current) return;
    const el = list.current?.querySelector<HTMLElement>(`[data-item-id="${CSS.escape(focusAfter.current)}"] .handle`);
    el?.focus();
    focusAfter.current = null;
  });

  const move = (itemId: string, to: number) => {
    const from = items.findIndex((i) => i.itemId === itemId);
    if (from < 0 || to < 0 || to >= items.length || to === from) return;
    const anchor = items[to]!.itemId;
    focusAfter.current = itemId;
    act(to > from ? mirror.moveItem(itemId, { afterItemId: anchor }) : mirror.moveItem(itemId, { beforeItemId: anchor }));
  };

  return (
    <div>
      <AddTracks session={session} onAdd={(ids) => act(mirror.addTracks(ids))} />
      {items.length === 0 ? <p class="muted">The queue is empty: add tracks from the catalog above.</p> : null}
      <ol class="items" ref={list} data-testid="items" aria-label="Items in play order">
        {items.map((item, index) => {
          const current = item.itemId === props.currentItemId;
          return (
            <li
              key={item.itemId}
              data-item-id={item.itemId}
              data-track-id={item.trackId}
              class={`item${current ? ' current' : ''}${dragging === item.itemId ? ' dragging' : ''}${over === item.itemId ? ' over' : ''}`}
              draggable
              aria-current={current ? 'true' : undefined}
              onDragStart={(e) => {
                setDragging(item.itemId);
                e.dataTransfer?.setData('text/plain', item.itemId);
                if (e.dataTransfer) e.dataTransfer.effectAllowed = 'move';
              }}
              onDragEnd={() => {
                setDragging(null);
                setOver(null);
              }}
              onDragOver={(e) => {
                e.preventDefault();
                if (over !== item.itemId) setOver(item.itemId);
              }}
              onDrop={(e) => {
                e.preventDefault();
                const id = e.dataTransfer?.getData('text/plain') || dragging;
                setDragging(null);
                setOver(null);
                if (id) move(id, index);
              }}
            >
              <button
                type="button"
                class="handle"
                aria-label={`Item ${index + 1}: use Alt+Arrow keys to move`}
                title="Drag to reorder; Alt+↑/↓ with the keyboard"
                onKeyDown={(e) => {
                  if (!e.altKey) return;
                  if (e.key === 'ArrowUp') {
                    e.preventDefault();
                    move(item.itemId, index - 1);
                  }
                  if (e.key === 'ArrowDown') {
                    e.preventDefault();
                    move(item.itemId, index + 1);
                  }
                }}
              >
                ⠿
              </button>
              <span class="pos">{index + 1}</span>
              <TrackName id={item.trackId} />
              {props.reasons[item.trackId] ? <span class="reason muted">{props.reasons[item.trackId]!.text}</span> : null}
              {current ? (
                <span class="now">
                  <span aria-hidden="true">▶ </span>now
                </span>
              ) : null}
              <span class="by muted">{item.addedBy}</span>
              {votesOf(item) ? (
                <span class="score" title="vote score">
                  {score(item) > 0 ? '+' : ''}
                  {score(item)}
                </span>
              ) : null}
              <span class="row-actions">
                <button type="button" class="icon" aria-label="Vote up" title="Vote up" onClick={() => act(mirror.vote(item.itemId, 1))}>
                  ▲
                </button>
                <button type="button" class="icon" aria-label="Vote down" title="Vote down" onClick={() => act(mirror.vote(item.itemId, -1))}>
                  ▼
                </button>
                <button type="button" class="icon" aria-label="Play this item" title="Play this item" onClick={() => act(mirror.setCurrent(item.itemId))}>
                  ▶
                </button>
                <button type="button" class="icon" aria-label="Move up" title="Move up" disabled={index === 0} onClick={() => move(item.itemId, index - 1)}>
                  ↑
                </button>
                <button
                  type="button"
                  class="icon"
                  aria-label="Move down"
                  title="Move down"
                  disabled={index === items.length - 1}
                  onClick={() => move(item.itemId, index + 1)}
                >
                  ↓
                </button>
                <button type="button" class="icon danger" aria-label="Remove" title="Remove" onClick={() => act(mirror.removeItem(item.itemId))}>
                  ✕
                </button>
              </span>
            </li>
          );
        })}
      </ol>
      {props.more ? (
        <button type="button" onClick={() => act(mirror.loadMore())}>
          Load more
        </button>
      ) : null}
    </div>
  );
}

/** Why a radio or recommendations queue holds a track (the service keeps it in the queue's metadata). */
function reasonsOf(metadata: unknown): Record<string, { text: string }> {
  const m = metadata as
    | { radio?: { reasons?: Record<string, { text: string }> }; recommendations?: { reasons?: Record<string, { text: string }> } }
    | undefined;
  return m?.radio?.reasons ?? m?.recommendations?.reasons ?? {};
}

const votesOf = (item: Item) => (item as Item & { votes?: { vote: number }[] }).votes?.length ?? 0;
const score = (item: Item) => ((item as Item & { votes?: { vote: number }[] }).votes ?? []).reduce((n, v) => n + v.vote, 0);

function AddTracks(props: { session: Session; onAdd: (trackIds: string[]) => void }) {
  const [q, setQ] = useState('');
  const [results, setResults] = useState<CatalogTrack[]>([]);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const words = q.trim();
    if (!words) return setResults([]);
    const t = setTimeout(() => {
      api.search(props.session.client, words).then(
        (r) => {
          rememberTracks(r.tracks);
          setResults(r.tracks);
          setError(null);
        },
        (e) => setError(errorText(e)),
      );
    }, 200);
    return () => clearTimeout(t);
  }, [q]);
  return (
    <div class="add">
      <label class="field">
        <span class="field-label">Add from the catalog</span>
        <input type="search" name="catalogSearch" placeholder="title, artist or album" value={q} onInput={(e) => setQ(e.currentTarget.value)} />
      </label>
      <ErrorLine error={error} />
      {results.length > 0 ? (
        <ul class="results" data-testid="search-results" aria-label="Catalog results">
          {results.map((t) => (
            <li key={t.id}>
              <span class="track">
                <span class="title">{t.title}</span>
                <span class="artist">
                  {t.artist}
                  {t.album ? ` · ${t.album}` : ''}
                </span>
              </span>
              <button type="button" aria-label={`Add ${t.title} by ${t.artist}`} onClick={() => props.onAdd([t.id])}>
                Add
              </button>
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
