// One full garbage collection on demand (after the recommender's start-up build, which
// leaves hundreds of MB of short-lived rows behind: without it V8 keeps that heap, and the
// process's RSS, until memory pressure). Uses the process's own `gc` when started with
// --expose-gc, else exposes it for a fresh context (v8.setFlagsFromString is Node's API
// for V8 flags). Returns false when neither works; the caller then just goes on.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Gc = (options?: { type: 'major'; execution: 'sync'; flavor: 'regular' | 'last-resort' }) => void;

/**
 * A memory-reducing collection, the one V8 runs under memory pressure ("last resort";
 * issue 24). Two plain ones (what this did before) left the pages the build's garbage had
 * used pooled for reuse, still resident (50-75 MB on the shared data when the server said
 * ready), and V8 then set the heap's next limit at up to 4x what was live: two collections
 * back to back look so expensive that it lets the heap grow. This one gives the pooled
 * pages back and sizes the next limit conservatively; it costs the build ~3 s of CPU more
 * on the shared data (its collections every 100,000 rows).
 */
export function collectGarbage(): boolean {
  try {
    let gc = (globalThis as { gc?: Gc }).gc;
    if (!gc) {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as Gc;
    }
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    return true;
  } catch {
    return false;
  }
}
