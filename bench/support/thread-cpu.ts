// The main thread's own CPU time (Linux: /proc/self/task/<pid>/schedstat, nanoseconds on a CPU),
// so a benchmark can tell how long the event loop was held by its own work from how long the
// thread merely waited for a core on a busy machine (which a wall-clock timer cannot).
import { readFileSync } from 'node:fs';

const path = `/proc/self/task/${process.pid}/schedstat`;

/** Milliseconds the main thread has run on a CPU so far; undefined where the kernel does not say. */
export function mainThreadCpuMs(): number | undefined {
  try {
    const onCpuNs = Number(readFileSync(path, 'utf8').split(' ')[0]);
    return Number.isFinite(onCpuNs) ? onCpuNs / 1e6 : undefined;
  } catch {
    return undefined;
  }
}
