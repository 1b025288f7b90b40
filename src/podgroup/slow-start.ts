// KCM's slowStartBatch: run `count` calls in batches of 1, 2, 4, … and stop at the first batch
// with a failure, so a create refused for every pod (quota, admission) costs a handful of
// requests instead of `count`.

export interface SlowStartResult<T> {
  succeeded: T[];
  failed: unknown[];
  /** Calls never made because an earlier batch failed. */
  skipped: number;
}

export async function slowStartBatch<T>(count: number, initialBatch: number, call: () => Promise<T>): Promise<SlowStartResult<T>> {
  const succeeded: T[] = [];
  const failed: unknown[] = [];
  let remaining = count;
  for (let batch = Math.max(1, initialBatch); remaining > 0; batch *= 2) {
    const size = Math.min(batch, remaining);
    remaining -= size;
    const results = await Promise.allSettled(Array.from({ length: size }, call));
    for (const r of results) {
      if (r.status === 'fulfilled') {
        succeeded.push(r.value);
      } else {
        failed.push(r.reason);
      }
    }
    if (failed.length > 0) {
      break;
    }
  }
  return { succeeded, failed, skipped: remaining };
}
