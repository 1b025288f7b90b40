// Preloaded into the benchmarked manager (node --import): measures its event-loop lag as
// monitorEventLoopDelay does (how late a 10 ms timer fires) and appends the raw samples, one JSON
// line a second ({ t: epoch ms, lag: [ms, ...] }), to $PODGROUP_BENCH_LOOP_LAG_FILE, so a benchmark
// can take percentiles over any window. Benchmarks only: the manager itself is unchanged.
import { appendFileSync } from 'node:fs';

const file = process.env.PODGROUP_BENCH_LOOP_LAG_FILE;
if (file) {
  const PERIOD_MS = 10;
  let expected = performance.now() + PERIOD_MS;
  let samples = [];
  const tick = setInterval(() => {
    const now = performance.now();
    samples.push(Math.max(0, Math.round((now - expected) * 10) / 10));
    expected = now + PERIOD_MS;
  }, PERIOD_MS);
  tick.unref();
  const flush = setInterval(() => {
    appendFileSync(file, `${JSON.stringify({ t: Date.now(), lag: samples })}\n`);
    samples = [];
  }, 1000);
  flush.unref();
}
