// One full garbage collection on demand (after the recommender's start-up build, which
// leaves hundreds of MB of short-lived rows behind: without it V8 keeps that heap, and the
// process's RSS, until memory pressure). Uses the process's own `gc` when started with
// --expose-gc, else exposes it for a fresh context (v8.setFlagsFromString is Node's API
// for V8 flags). Returns false when neither works; the caller then just goes on.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export function collectGarbage(): boolean {
  try {
    let gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
    }
    // Twice: the second one finds the first one's survivors compacted and frees their pages.
    gc();
    gc();
    return true;
  } catch {
    return false;
  }
}
