// One pod informer (the manager's slim pod projection) loading every pod of a cluster: time to
// sync, the process RSS after it, and the longest event-loop lag while it synced (how late a 10 ms
// timer fired: what a webhook or extender request queued behind the sync would have waited).
// A handler costing --handler-us per added pod stands in for the manager's handlers (its placement
// index costs 8–14 µs per pod event). Runs against the cluster bench:memory keeps:
//   npm run bench:memory -- --pods 20000 --keep-cluster
//   npm run bench:informer-sync [-- --initial-list watch-list|list] [--handler-us N] [--runs N] [--kubeconfig PATH]
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { commandLineOrExit, integerFlag, parseCommandLine } from '../src/cli-args.js';
import { slimPod } from '../src/pod-projection.js';
import { Informer } from '../src/runtime/informer.js';
import { KubeClients } from '../src/runtime/kube-client.js';
import { podResource } from '../src/runtime/resources.js';
import { REPO_ROOT } from '../hack/control-plane/paths.js';
import { writeResult } from './report.js';

const { kubeconfig, initialList, handlerUs, runs } = commandLineOrExit(
  'bench:informer-sync',
  'usage: npm run bench:informer-sync [-- --initial-list watch-list|list] [--handler-us N] [--runs N] [--kubeconfig PATH]',
  () => {
    const { values } = parseCommandLine({
      options: {
        kubeconfig: { type: 'string', default: join(REPO_ROOT, '.cluster-bench-memory', 'kubeconfig') },
        'initial-list': { type: 'string', default: 'watch-list' },
        'handler-us': { type: 'string', default: '0' },
        runs: { type: 'string', default: '3' },
      },
    });
    const method = values['initial-list'];
    if (method !== 'watch-list' && method !== 'list') {
      throw new Error(`--initial-list: ${JSON.stringify(method)} is not watch-list or list`);
    }
    return {
      kubeconfig: values.kubeconfig,
      initialList: method as 'watch-list' | 'list',
      handlerUs: integerFlag('handler-us', values['handler-us'], { min: 0 }),
      runs: integerFlag('runs', values.runs, { min: 1 }),
    };
  },
);

const kc = new k8s.KubeConfig();
kc.loadFromFile(kubeconfig);
const rows: Array<Record<string, string | number>> = [];
for (let run = 1; run <= runs; run += 1) {
  const clients = new KubeClients(kc, { qps: 50, burst: 100 });
  const lags: number[] = [];
  let expected = performance.now() + 10;
  const probe = setInterval(() => {
    const now = performance.now();
    lags.push(now - expected);
    expected = now + 10;
  }, 10);
  const informer = new Informer(podResource(clients), { transform: slimPod, initialList });
  informer.addEventHandler({
    onAdd: () => {
      const until = performance.now() + handlerUs / 1000;
      while (performance.now() < until) {
        // the handler's work
      }
    },
  });
  const started = performance.now();
  informer.start();
  await informer.waitForSync();
  const syncMs = performance.now() - started;
  // The tick after the last block records it.
  await new Promise((resolve) => setTimeout(resolve, 50));
  clearInterval(probe);
  await informer.stop();
  clients.close();
  rows.push({
    run,
    'initial list': initialList,
    pods: informer.store.size,
    'handler µs': handlerUs,
    'sync s': (syncMs / 1000).toFixed(2),
    'max loop lag ms': Math.round(Math.max(0, ...lags)),
    'RSS MiB': Math.round(process.memoryUsage().rss / 1024 / 1024),
  });
}
console.table(rows);
writeResult(`informer-sync-${initialList}`, { rows });
