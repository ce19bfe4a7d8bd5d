// The WAL checkpointer's thread (src/store/checkpointer.ts): its own connection to the
// file, a passive checkpoint every so often, the result posted back. A passive checkpoint
// never blocks the writers; its fsyncs happen here, not on the event loop.
// Plain JavaScript: a worker thread does not inherit a TypeScript loader on every Node we run on.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const { file, everyMs, holdPages } = workerData;
const db = new Database(file, { fileMustExist: true });
db.pragma('busy_timeout = 1000');

/** While the writers hold, a passive checkpoint copies every frame: the next write starts the WAL over. */
let onHeld = null;

function passive() {
  const [r] = db.pragma('wal_checkpoint(PASSIVE)');
  return r;
}

let timer = null;

/** The next pass: soon after one that found a long WAL (writes are coming fast), else in `everyMs`. */
function schedule(logPages) {
  timer = setTimeout(checkpoint, logPages > holdPages / 4 ? 5 : everyMs);
}

function checkpoint() {
  let r = { log: 0 };
  try {
    r = passive();
    parentPort.postMessage({ type: 'checkpointed', ...r });
    // Writes kept the WAL from being copied back whole and it is getting long: ask the
    // writers to hold for one more pass, which then catches up (a short tail to copy).
    if (r.log > holdPages && r.checkpointed < r.log && onHeld === null) {
      onHeld = () => {
        onHeld = null;
        try {
          const again = passive();
          parentPort.postMessage({ type: 'checkpointed', ...again, held: true });
        } finally {
          parentPort.postMessage({ type: 'release' });
        }
      };
      parentPort.postMessage({ type: 'hold' });
    }
  } catch (err) {
    parentPort.postMessage({ type: 'error', message: err.message });
  }
  schedule(r.log);
}

schedule(0);
parentPort.on('message', (m) => {
  if (m === 'now') {
    clearTimeout(timer);
    checkpoint();
  }
  if (m === 'held') onHeld?.();
  if (m === 'close') {
    clearTimeout(timer);
    db.close();
    parentPort.close();
  }
});
