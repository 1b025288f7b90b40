// /metrics with many PodGroups: how long a scrape takes and the longest time it holds the event
// loop (the loop that also answers the webhook, the extender and the Lease renewal), cold (first
// scrape after a start) and warm (PodGroups unchanged, then 1 % of them changed). No cluster: the
// PodGroups sit in a store as the informer leaves them; the scrape is answered over loopback HTTP
// as the metrics server answers it (sendScrape) and read to the end by a client in this process.
// Besides wall time, the main thread's own CPU time (Linux) says how long the loop was held by the
// work itself rather than by waiting for a core on a busy machine.
//   npm run bench:state-metrics [-- --podgroups N]
import type { PodGroup } from '../src/api/podgroup.js';
import { commandLineOrExit, integerFlag, parseCommandLine } from '../src/cli-args.js';
import { registerPodGroupStateMetrics } from '../src/podgroup/state-exporter.js';
import { createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sendScrape } from '../src/runtime/metrics.js';
import { writeResult } from './report.js';
import { mainThreadCpuMs } from './support/thread-cpu.js';

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

const server = createServer((_req, res) => void sendScrape(res));
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;

/** GET /metrics, read to the end: the body's size. */
function fetchMetrics(): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => resolve(bytes));
      res.on('error', reject);
    }).on('error', reject);
  });
}

interface Timed {
  ms: number;
  maxBlockMs: number;
  cpuMs: number | undefined;
  maxBlockCpuMs: number | undefined;
  bytes: number;
}

/**
 * One scrape: its duration and the longest gap between two runs of a 1 ms timer meanwhile (how
 * long the loop was held), in wall time and in the main thread's CPU time.
 */
async function timedScrape(): Promise<Timed> {
  let last = performance.now();
  let lastCpu = mainThreadCpuMs();
  let maxGap = 0;
  let maxCpuGap = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    const cpu = mainThreadCpuMs();
    maxGap = Math.max(maxGap, now - last);
    maxCpuGap = Math.max(maxCpuGap, (cpu ?? 0) - (lastCpu ?? 0));
    last = now;
    lastCpu = cpu;
  }, 1);
  const started = performance.now();
  const startedCpu = mainThreadCpuMs();
  const bytes = await fetchMetrics();
  const ms = performance.now() - started;
  const endedCpu = mainThreadCpuMs();
  // One more tick records a block at the very end.
  await new Promise((resolve) => setTimeout(resolve, 2));
  clearInterval(ticker);
  const cpu = startedCpu === undefined || endedCpu === undefined ? undefined : endedCpu - startedCpu;
  return { ms: Math.round(ms), maxBlockMs: Math.round(maxGap), cpuMs: cpu && Math.round(cpu), maxBlockCpuMs: cpu && Math.round(maxCpuGap), bytes };
}

const rows: Array<Record<string, string | number>> = [];
const record = (what: string, r: Timed): void => {
  rows.push({
    scrape: what,
    podgroups: PODGROUPS,
    ms: r.ms,
    'longest event-loop block ms': r.maxBlockMs,
    'main-thread CPU ms': r.cpuMs ?? 'n/a',
    'longest block, CPU ms': r.maxBlockCpuMs ?? 'n/a',
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
server.close();
console.table(rows);
writeResult(`state-metrics-${PODGROUPS}`, { command: `npm run bench:state-metrics -- --podgroups ${PODGROUPS}`, rows });
