// Manager memory with a large pod cache: RSS of the compiled manager (node dist/main.js) once its
// informers have synced 10,000 pods, with and without dropping metadata.managedFields, and its live
// JavaScript heap: the sum of a heap snapshot's objects (a snapshot holds only reachable objects,
// so it is the heap after a full GC; RSS also counts garbage not yet collected).
//   npm run build && npm run bench:memory [-- --pods N] [-- --keep-cluster] [-- --informer-initial-list watch-list|list]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { commandLineOrExit, integerFlag, parseCommandLine } from '../src/cli-args.js';
import { down, up } from '../hack/cluster/local-cluster.js';
import { installCrds } from '../hack/control-plane/manifests.js';
import { REPO_ROOT } from '../hack/control-plane/paths.js';
import { stopProcess, waitFor } from '../hack/control-plane/processes.js';
import { loadKubeConfig } from '../hack/control-plane/state.js';
import { liveHeapBytes, startCompiledManager } from './manager.js';
import { writeResult } from './report.js';

const { values, PODS } = commandLineOrExit(
  'bench:memory',
  'usage: npm run bench:memory [-- --pods N] [--keep-cluster] [--informer-initial-list watch-list|list]',
  () => {
    const parsed = parseCommandLine({
      options: {
        pods: { type: 'string', default: '10000' },
        'keep-cluster': { type: 'boolean', default: false },
        // Passed to the manager only when given (a build before the flag existed rejects it).
        'informer-initial-list': { type: 'string', default: '' },
      },
    });
    return { values: parsed.values, PODS: integerFlag('pods', parsed.values.pods, { min: 1 }) };
  },
);
const stateDir = join(REPO_ROOT, '.cluster-bench-memory');

const { state } = await up({ stateDir, nodes: 1, log: (l) => console.error(`[cluster] ${l}`) });
await installCrds(state);
const core = loadKubeConfig(state).makeApiClient(k8s.CoreV1Api);

try {
  const namespace = 'memory';
  await core.createNamespace({ body: { metadata: { name: namespace } } }).catch(() => undefined);
  await waitFor(
    'default ServiceAccount',
    async () => {
      await core.readNamespacedServiceAccount({ name: 'default', namespace });
      return true;
    },
    { timeoutMs: 30_000 },
  );
  const existing = (await core.listNamespacedPod({ namespace, limit: 1 })).metadata?.remainingItemCount ?? 0;
  let next = existing;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (next < PODS) {
        next += 1;
        await core.createNamespacedPod({
          namespace,
          body: {
            metadata: { generateName: 'm-', labels: { app: 'memory', tier: 'bench' }, annotations: { 'example.com/owner': 'team-a' } },
            // Bound to a node that does not exist: no scheduler or kubelet work.
            spec: {
              nodeName: 'memory-nowhere',
              containers: [{ name: 'app', image: 'registry.example/app:1', resources: { requests: { cpu: '10m', memory: '16Mi' } } }],
            },
          },
        });
      }
    }),
  );
  console.error(`[bench] created ${PODS} pods in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const rows: Array<Record<string, string | number>> = [];
  for (const drop of [true, false]) {
    const snapshots = mkdtempSync(join(tmpdir(), 'podgroup-heap-'));
    const initialList = values['informer-initial-list'] === '' ? [] : [`--informer-initial-list=${values['informer-initial-list']}`];
    const manager = await startCompiledManager(state, [drop ? '--drop-managed-fields' : '--no-drop-managed-fields', '--log-level=warn', ...initialList], {
      logName: `memory-manager-${drop ? 'drop' : 'keep'}`,
      nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshots}`],
      timeoutMs: 300_000,
    });
    const pid = manager.pid;
    try {
      const syncSeconds = manager.readyAfterMs / 1000;
      // Let the heap settle after the initial list before reading RSS.
      await new Promise((resolve) => setTimeout(resolve, 5000));
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      const heapMiB = Math.round((await liveHeapBytes(pid, manager.probesPort, snapshots)) / 1024 / 1024);
      rows.push({
        'drop managedFields': String(drop),
        pods: PODS,
        'RSS MiB': Math.round(rssKb / 1024),
        'live heap MiB': heapMiB,
        'ready after s': syncSeconds.toFixed(1),
      });
    } finally {
      await stopProcess(pid);
      rmSync(snapshots, { recursive: true, force: true });
    }
  }
  console.table(rows);
  writeResult('memory', { rows });
} finally {
  if (!values['keep-cluster']) {
    await down({ stateDir, log: (l) => console.error(`[cluster] ${l}`) });
  }
}
