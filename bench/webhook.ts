// Admission latency added by the sidecar webhook: pod creates at ~100/s (open loop) into a
// namespace without injection and one with it, against the local control plane, through the real
// manager process serving the webhook. Pods are pre-bound to a node that does not exist, so no
// scheduler or kubelet work disturbs the API server.
//   npm run bench:webhook [-- --quick] [-- --keep-cluster]
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { commandLineOrExit, parseCommandLine } from '../src/cli-args.js';
import { down, up } from '../hack/cluster/local-cluster.js';
import { installCrds, localWebhookConfiguration } from '../hack/control-plane/manifests.js';
import { REPO_ROOT } from '../hack/control-plane/paths.js';
import { freePort, waitFor } from '../hack/control-plane/processes.js';
import { loadKubeConfig } from '../hack/control-plane/state.js';
import { startTs } from '../test/e2e/support/processes.js';
import { percentile, writeResult } from './report.js';

const { values } = commandLineOrExit('bench:webhook', 'usage: npm run bench:webhook [-- --quick] [--keep-cluster]', () =>
  parseCommandLine({ options: { quick: { type: 'boolean', default: false }, 'keep-cluster': { type: 'boolean', default: false } } }),
);
const PODS = values.quick ? 200 : 1000;
const RATE = 100;
const stateDir = join(REPO_ROOT, '.cluster-bench');

const { state } = await up({ stateDir, nodes: 1, log: (l) => console.error(`[cluster] ${l}`) });
await installCrds(state);
const kc = loadKubeConfig(state);
const core = kc.makeApiClient(k8s.CoreV1Api);
const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
const stamp = Date.now().toString(36);
const system = `bench-system-${stamp}`;
const off = `bench-off-${stamp}`;
const on = `bench-on-${stamp}`;
for (const [name, labels] of [[system, {}], [off, {}], [on, { 'sidecars.podgroup.dev/injection': 'enabled' }]] as const) {
  await core.createNamespace({ body: { metadata: { name, labels } } });
}
const port = await freePort();
const config = `podgroup-bench-${stamp}`;
await admission.createMutatingWebhookConfiguration({ body: localWebhookConfiguration(port, { name: config, ownNamespace: system }) });
const manager = startTs(join(REPO_ROOT, 'src', 'main.ts'), [
  `--kubeconfig=${state.kubeconfig}`,
  '--metrics-bind-address=127.0.0.1:0',
  '--metrics-secure=false',
  '--health-probe-bind-address=127.0.0.1:0',
  '--extender-bind-address=0',
  `--webhook-bind-address=127.0.0.1:${port}`,
  '--webhook-cert-ips=127.0.0.1',
  `--webhook-namespace=${system}`,
  `--webhook-config-name=${config}`,
], `bench-webhook-manager`);

try {
  await manager.waitForLine(/manager started/);
  await waitFor('caBundle', async () => {
    const c = await admission.readMutatingWebhookConfiguration({ name: config });
    return (c.webhooks?.[0]?.clientConfig.caBundle ?? '') !== '';
  }, { timeoutMs: 60_000 });

  const run = async (namespace: string): Promise<number[]> => {
    const latencies: number[] = [];
    const pending: Promise<void>[] = [];
    const started = performance.now();
    for (let i = 0; i < PODS; i += 1) {
      // Open loop: the i-th create starts at i / RATE seconds, whatever earlier ones are doing.
      const due = started + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) {
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
      const t0 = performance.now();
      pending.push(
        core
          .createNamespacedPod({
            namespace,
            body: { metadata: { generateName: 'p-' }, spec: { nodeName: 'bench-nowhere', terminationGracePeriodSeconds: 0, containers: [{ name: 'app', image: 'registry.example/app:1' }] } },
          })
          .then(() => {
            latencies.push(performance.now() - t0);
          }),
      );
    }
    await Promise.all(pending);
    return latencies.sort((a, b) => a - b);
  };

  // Warm-up, then alternate so drift affects both equally.
  await run(off);
  const without = await run(off);
  const withWebhook = await run(on);
  const injected = (await core.listNamespacedPod({ namespace: on, limit: 1 })).items[0]?.metadata?.annotations?.['sidecars.podgroup.dev/status'];
  if (injected === undefined) {
    throw new Error('pods in the injection namespace were not injected');
  }
  const row = (name: string, l: number[]): Record<string, string> => ({ case: name, pods: String(l.length), 'p50 ms': percentile(l, 50).toFixed(1), 'p99 ms': percentile(l, 99).toFixed(1) });
  const rows = [row('without webhook', without), row('with webhook (log collector injected)', withWebhook)];
  console.table(rows);
  const added = { p50: percentile(withWebhook, 50) - percentile(without, 50), p99: percentile(withWebhook, 99) - percentile(without, 99) };
  console.log(`added by the webhook: p50 ${added.p50.toFixed(1)} ms, p99 ${added.p99.toFixed(1)} ms`);
  writeResult('webhook', { rate_per_s: RATE, pods: PODS, rows, added_ms: added });
} finally {
  await manager.kill('SIGTERM');
  await admission.deleteMutatingWebhookConfiguration({ name: config }).catch(() => undefined);
  for (const ns of [system, off, on]) {
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
  }
  if (!values['keep-cluster']) {
    await down({ stateDir, log: (l) => console.error(`[cluster] ${l}`) });
  }
}
