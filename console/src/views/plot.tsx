// A small SVG line plot of position errors (ms) over the last samples, one line per series.
export interface Series {
  name: string;
  /** 'here': measured on this page; 'server': measured by the server from a device's position reports. */
  source: 'here' | 'server';
  /** The member a server-measured series belongs to. */
  member?: string;
  values: number[];
}

const COLORS = ['#1f6feb', '#d1242f', '#1a7f37', '#9a6700', '#8250df', '#bf3989'];
const W = 1000;
const H = 240;

export function ErrorPlot(props: { series: Series[] }) {
  const all = props.series.flatMap((s) => s.values);
  const span = Math.max(5, ...all.map((v) => Math.abs(v))) * 1.1;
  const y = (v: number) => H / 2 - (v / span) * (H / 2 - 10);
  const n = 200;
  return (
    <figure class="plot">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label="Position error of each member in milliseconds, last 20 seconds" data-testid="error-plot">
        <line x1="0" x2={W} y1={H / 2} y2={H / 2} class="axis" />
        <text x="4" y="12" class="tick">
          +{span.toFixed(0)} ms
        </text>
        <text x="4" y={H / 2 - 4} class="tick">
          0
        </text>
        <text x="4" y={H - 4} class="tick">
          -{span.toFixed(0)} ms
        </text>
        {props.series.map((s, i) => {
          const pts = s.values.map((v, j) => `${((n - s.values.length + j) / (n - 1)) * W},${y(v)}`).join(' ');
          return (
            <polyline
              key={s.name}
              points={pts}
              fill="none"
              stroke={COLORS[i % COLORS.length]}
              stroke-width="2"
              stroke-dasharray={s.source === 'here' ? '6 4' : undefined}
              data-series={s.name}
            />
          );
        })}
      </svg>
      <figcaption>
        {props.series.map((s, i) => (
          <span class="legend" key={s.name} data-source={s.source} data-member={s.member}>
            <span class="swatch" style={{ background: COLORS[i % COLORS.length] }} />
            {s.name}: <span data-testid="legend-value">{s.values.length ? `${s.values[s.values.length - 1]!.toFixed(1)} ms` : 'no report yet'}</span>
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
