// /metrics with many PodGroups: how long a scrape takes and the longest time it holds the event
// loop (the loop that also answers the webhook, the extender and the Lease renewal), cold (first
// scrape after a start) and warm (PodGroups unchanged, then 1 % of them changed). No cluster: the
// PodGroups sit in a store as the informer leaves them.
//   npm run bench:state-metrics [-- --podgroups N]
import type { PodGroup } from '../src/api/podgroup.js';
import { commandLineOrExit, integerFlag, parseCommandLine } from '../src/cli-args.js';
import { registerPodGroupStateMetrics } from '../src/podgroup/state-exporter.js';
import { scrape } from '../src/runtime/metrics.js';
import { writeResult } from './report.js';

const { PODGROUPS } = commandLineOrExit('bench:state-metrics', 'usage: npm run bench:state-metrics [-- --podgroups N]', () => {
  const parsed = parseCommandLine({ options: { podgroups: { type: 'string', default: '10000' } } });
  return { PODGROUPS: integerFlag('podgroups', parsed.values.podgroups, { min: 1 }) };
});

const condition = (type: string, status: 'True' | 'False', reason: string): NonNullable<NonNullable<PodGroup['status']>['conditions']>[number] => ({
  type,
  status,
  reason,
  lastTransitionTime: '2026-01-01T00:00:00Z',
  message: '',
});
const podGroup = (i: number, generation: number): PodGroup => ({
  apiVersion: 'podgroup.dev/v1alpha1',
  kind: 'PodGroup',
  metadata: { name: `group-${i}`, namespace: `team-${i % 50}`, generation, resourceVersion: `${i}-${generation}` },
  spec: { replicas: 10, selector: { matchLabels: { app: `group-${i}` } }, template: { spec: { containers: [{ name: 'app', image: 'app:1' }] } } },
  status: {
    observedGeneration: generation,
    replicas: 10,
    readyReplicas: 10,
    availableReplicas: 10,
    updatedReplicas: 10,
    unavailableReplicas: 0,
    conditions: [
      condition('Available', 'True', 'MinimumReplicasAvailable'),
      condition('Progressing', 'True', 'NewRevisionAvailable'),
      condition('GangScheduled', 'True', 'MinAvailableScheduled'),
    ],
  },
});

const objects = new Map<string, PodGroup>();
for (let i = 0; i < PODGROUPS; i += 1) {
  objects.set(`${i}`, podGroup(i, 1));
}
registerPodGroupStateMetrics({ store: { list: () => [...objects.values()] }, isLeader: () => true });

/** One scrape: its duration and the longest gap between two runs of a 1 ms timer meanwhile (how long the loop was held). */
async function timedScrape(): Promise<{ ms: number; maxBlockMs: number; bytes: number }> {
  let last = performance.now();
  let maxGap = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 1);
  const started = performance.now();
  const { parts } = await scrape();
  // What the metrics server does with them: encodes each piece onto the socket.
  let bytes = 0;
  for (const part of parts) {
    bytes += Buffer.byteLength(part);
  }
  const ms = performance.now() - started;
  // One more tick records a block at the very end.
  await new Promise((resolve) => setTimeout(resolve, 2));
  clearInterval(ticker);
  return { ms: Math.round(ms), maxBlockMs: Math.round(maxGap), bytes };
}

const rows: Array<Record<string, string | number>> = [];
const record = (what: string, r: { ms: number; maxBlockMs: number; bytes: number }): void => {
  rows.push({
    scrape: what,
    podgroups: PODGROUPS,
    ms: r.ms,
    'longest event-loop block ms': r.maxBlockMs,
    'body MiB': Math.round((r.bytes / 2 ** 20) * 10) / 10,
  });
};
record('cold (first after start)', await timedScrape());
const warm: number[] = [];
for (let i = 0; i < 5; i += 1) {
  const r = await timedScrape();
  warm.push(r.ms);
  if (i === 4) {
    record('warm (nothing changed; last of 5)', r);
  }
}
for (let i = 0; i < PODGROUPS; i += 100) {
  objects.set(`${i}`, podGroup(i, 2));
}
record('1 % of PodGroups changed', await timedScrape());
console.table(rows);
writeResult(`state-metrics-${PODGROUPS}`, { command: `npm run bench:state-metrics -- --podgroups ${PODGROUPS}`, rows });
