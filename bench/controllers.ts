// Our PodGroup controller against kube-controller-manager's ReplicaSet/Deployment controllers, side
// by side on the same local control plane, plus the API server's raw ceiling and the manager's
// memory with a large pod cache. Every figure is a median of several repetitions with min–max.
//   npm run bench:controllers [-- --quick] [-- --only equal|unthrottled]
//   (quick: N=100, 1 repetition, no 1000-pod runs)
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { addFakeNodes, defaultNodeSpecs, down, installCrds, loadKubeConfig, REPO_ROOT, startExtraComponent, up, type ClusterState } from '../hack/cluster/local-cluster.js';
import { freePort, isAlive, stopProcess, waitFor } from '../hack/cluster/processes.js';
import { startTs, type TsProcess } from '../test/e2e/support/processes.js';
import { writeResult } from './report.js';

const { values } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, 'keep-cluster': { type: 'boolean', default: false }, only: { type: 'string' } },
});
const QUICK = values.quick;
const REPS = QUICK ? 1 : 3;
const stateDir = join(REPO_ROOT, '.cluster-bench');
const log = (line: string): void => console.error(`[bench] ${line}`);

const { state } = await up({ stateDir, nodes: 0, log: (l) => console.error(`[cluster] ${l}`) });
await addFakeNodes(state, defaultNodeSpecs(QUICK ? 3 : 20, 'bench-node'), 180_000);
await installCrds(state);
const kc = loadKubeConfig(state);
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? Number.NaN;
const summary = (xs: number[]): { median: number; min: number; max: number; runs: number[] } => ({
  median: median(xs),
  min: Math.min(...xs),
  max: Math.max(...xs),
  runs: xs.map((x) => Math.round(x * 1000) / 1000),
});

const template = (app: string, image: string): k8s.V1PodTemplateSpec => ({
  metadata: { labels: { app } },
  // Both controllers' pods go through the default scheduler: this compares controllers only.
  spec: { schedulerName: 'default-scheduler', terminationGracePeriodSeconds: 0, containers: [{ name: 'app', image, resources: { requests: { cpu: '10m', memory: '16Mi' } } }] },
});

/** Resolves when `count(pods)` is true, watching pods with the label selector. */
async function watchPods(namespace: string, selector: string, done: (pods: Map<string, k8s.V1Pod>) => boolean, timeoutMs: number): Promise<void> {
  const pods = new Map<string, k8s.V1Pod>();
  const list = await core.listNamespacedPod({ namespace, labelSelector: selector });
  for (const p of list.items) {
    pods.set(p.metadata?.name ?? '', p);
  }
  if (done(pods)) {
    return;
  }
  await new Promise<void>((resolve, reject) => {
    let controller: AbortController | undefined;
    const timer = setTimeout(() => {
      controller?.abort();
      reject(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    void new k8s.Watch(kc)
      .watch(
        `/api/v1/namespaces/${namespace}/pods`,
        { labelSelector: selector, resourceVersion: list.metadata?.resourceVersion },
        (type: string, obj: k8s.V1Pod) => {
          if (type === 'DELETED') {
            pods.delete(obj.metadata?.name ?? '');
          } else {
            pods.set(obj.metadata?.name ?? '', obj);
          }
          if (done(pods)) {
            clearTimeout(timer);
            controller?.abort();
            resolve();
          }
        },
        () => undefined,
      )
      .then((c) => {
        controller = c;
      });
  });
}

const ready = (p: k8s.V1Pod): boolean => p.metadata?.deletionTimestamp == null && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
const allReady = (n: number, image?: string) => (pods: Map<string, k8s.V1Pod>): boolean => {
  const live = [...pods.values()].filter((p) => p.metadata?.deletionTimestamp == null);
  return live.length === n && live.every((p) => ready(p) && (image === undefined || p.spec?.containers[0]?.image === image));
};

async function freshNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${Date.now().toString(36)}`;
  await core.createNamespace({ body: { metadata: { name } } });
  await waitFor('default ServiceAccount', async () => {
    await core.readNamespacedServiceAccount({ name: 'default', namespace: name });
    return true;
  }, { timeoutMs: 30_000 });
  return name;
}

async function dropNamespace(name: string): Promise<void> {
  await core.deleteNamespace({ name }).catch(() => undefined);
}

/** A second kube-controller-manager running only the replicaset and deployment controllers. */
async function startKcm(s: ClusterState, qps: number, burst: number): Promise<void> {
  const port = await freePort();
  await startExtraComponent(s, {
    name: 'bench-kcm',
    binary: join(s.binDir, 'kube-controller-manager'),
    args: [
      `--kubeconfig=${s.kubeconfig}`,
      `--authentication-kubeconfig=${s.kubeconfig}`,
      `--authorization-kubeconfig=${s.kubeconfig}`,
      '--controllers=replicaset-controller,deployment-controller',
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${port}`,
      `--kube-api-qps=${qps}`,
      `--kube-api-burst=${burst}`,
      '--concurrent-replicaset-syncs=5',
      '--concurrent-deployment-syncs=5',
    ],
    pid: 0,
    ports: [port],
    log: join(s.stateDir, 'logs', 'bench-kcm.log'),
    health: { url: `https://127.0.0.1:${port}/healthz`, tls: 'insecure' },
  });
}

async function startManager(qps: number, burst: number): Promise<TsProcess> {
  const proc = startTs(join(REPO_ROOT, 'src', 'main.ts'), [
    `--kubeconfig=${state.kubeconfig}`,
    '--metrics-bind-address=127.0.0.1:0',
    '--health-probe-bind-address=127.0.0.1:0',
    '--extender-bind-address=0',
    '--webhook-bind-address=0',
    `--kube-api-qps=${qps}`,
    `--kube-api-burst=${burst}`,
    '--concurrent-podgroup-syncs=5',
  ], `bench-manager-${qps}`);
  await proc.waitForLine(/manager started/, 120_000);
  return proc;
}

async function rawCeiling(n: number, concurrency: number): Promise<number> {
  const ns = await freshNamespace('raw');
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next += 1;
        await core.createNamespacedPod({ namespace: ns, body: { metadata: { generateName: 'raw-', labels: { app: 'raw' } }, spec: template('raw', 'x').spec as k8s.V1PodSpec } });
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await dropNamespace(ns);
  return n / seconds;
}

async function scaleUpReplicaSet(n: number): Promise<number> {
  const ns = await freshNamespace('rs');
  const started = performance.now();
  await apps.createNamespacedReplicaSet({ namespace: ns, body: { metadata: { name: 'rs' }, spec: { replicas: n, selector: { matchLabels: { app: 'rs' } }, template: template('rs', 'x:1') } } });
  await watchPods(ns, 'app=rs', allReady(n), 600_000);
  const seconds = (performance.now() - started) / 1000;
  await dropNamespace(ns);
  return seconds;
}

async function scaleUpPodGroup(n: number): Promise<number> {
  const ns = await freshNamespace('pg');
  const started = performance.now();
  await custom.createNamespacedCustomObject({
    group: 'podgroup.dev',
    version: 'v1alpha1',
    namespace: ns,
    plural: 'podgroups',
    body: { apiVersion: 'podgroup.dev/v1alpha1', kind: 'PodGroup', metadata: { name: 'pg' }, spec: { replicas: n, selector: { matchLabels: { app: 'pg' } }, template: template('pg', 'x:1') } },
  });
  await watchPods(ns, 'app=pg', allReady(n), 600_000);
  const seconds = (performance.now() - started) / 1000;
  await dropNamespace(ns);
  return seconds;
}

const strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } };

async function rolloutDeployment(n: number): Promise<number> {
  const ns = await freshNamespace('deploy');
  await apps.createNamespacedDeployment({ namespace: ns, body: { metadata: { name: 'd' }, spec: { replicas: n, selector: { matchLabels: { app: 'd' } }, template: template('d', 'x:1'), strategy } } });
  await watchPods(ns, 'app=d', allReady(n, 'x:1'), 600_000);
  const started = performance.now();
  await apps.patchNamespacedDeployment({ name: 'd', namespace: ns, body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'x:2' }] });
  await watchPods(ns, 'app=d', allReady(n, 'x:2'), 600_000);
  const seconds = (performance.now() - started) / 1000;
  await dropNamespace(ns);
  return seconds;
}

async function rolloutPodGroup(n: number): Promise<number> {
  const ns = await freshNamespace('pgroll');
  await custom.createNamespacedCustomObject({
    group: 'podgroup.dev',
    version: 'v1alpha1',
    namespace: ns,
    plural: 'podgroups',
    body: { apiVersion: 'podgroup.dev/v1alpha1', kind: 'PodGroup', metadata: { name: 'pg' }, spec: { replicas: n, selector: { matchLabels: { app: 'pg' } }, template: template('pg', 'x:1'), strategy } },
  });
  await watchPods(ns, 'app=pg', allReady(n, 'x:1'), 600_000);
  const started = performance.now();
  await custom.patchNamespacedCustomObject({ group: 'podgroup.dev', version: 'v1alpha1', namespace: ns, plural: 'podgroups', name: 'pg', body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'x:2' }] });
  await watchPods(ns, 'app=pg', allReady(n, 'x:2'), 600_000);
  const seconds = (performance.now() - started) / 1000;
  await dropNamespace(ns);
  return seconds;
}

async function repeat(what: string, fn: () => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < REPS; i += 1) {
    const v = await fn();
    log(`${what} run ${i + 1}: ${v.toFixed(2)}`);
    out.push(v);
  }
  return out;
}

const results: Record<string, unknown> = {};
let manager: TsProcess | undefined;
try {
  results.raw_ceiling_pods_per_s = summary(await repeat('raw ceiling (pods/s, 500 pods, concurrency 50)', () => rawCeiling(QUICK ? 200 : 500, 50)));

  const sizes = QUICK ? [100] : [100, 1000];
  const settings: Array<[string, number, number]> = [['equal qps 20 / burst 30 (KCM defaults)', 20, 30], ['unthrottled (qps 5000 / burst 10000)', 5000, 10000]];
  const scale: Array<Record<string, unknown>> = [];
  const rollouts: Array<Record<string, unknown>> = [];
  for (const [label, qps, burst] of settings.filter(([l]) => values.only === undefined || l.startsWith(values.only))) {
    await startKcm(state, qps, burst);
    manager = await startManager(qps, burst);
    for (const n of sizes) {
      const rs = summary(await repeat(`ReplicaSet 0→${n} (${label})`, () => scaleUpReplicaSet(n)));
      const pg = summary(await repeat(`PodGroup 0→${n} (${label})`, () => scaleUpPodGroup(n)));
      scale.push({ client: label, n, replicaset_s: rs, podgroup_s: pg, ratio_podgroup_over_replicaset: pg.median / rs.median });
    }
    const rolloutN = QUICK ? 100 : 500;
    const d = summary(await repeat(`Deployment rollout of ${rolloutN} (${label})`, () => rolloutDeployment(rolloutN)));
    const p = summary(await repeat(`PodGroup rollout of ${rolloutN} (${label})`, () => rolloutPodGroup(rolloutN)));
    rollouts.push({ client: label, n: rolloutN, deployment_s: d, podgroup_s: p, ratio_podgroup_over_deployment: p.median / d.median });
    await manager.kill('SIGTERM');
    manager = undefined;
    const kcm = state.components.find((c) => c.name === 'bench-kcm');
    if (kcm !== undefined && isAlive(kcm.pid)) {
      await stopProcess(kcm.pid);
    }
  }
  results.scale_up = scale;
  results.rolling_update = rollouts;
  console.log(JSON.stringify(results, null, 2));
  writeResult(`controllers${QUICK ? '-quick' : ''}${values.only === undefined ? '' : `-${values.only}`}`, results);
} finally {
  await manager?.kill('SIGTERM');
  if (!values['keep-cluster']) {
    await down({ stateDir, log: (l) => console.error(`[cluster] ${l}`) });
  }
}
