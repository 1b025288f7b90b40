// Our PodGroup controller against kube-controller-manager's ReplicaSet/Deployment controllers, side
// by side on the same local control plane, plus the API server's raw ceiling. The manager runs
// compiled (dist/main.js), as the image runs it. Every figure is a median of several repetitions
// with min–max; each run's namespace is gone before the next run starts.
//   npm run bench:controllers [-- --quick] [-- --only equal|unthrottled] [-- --sizes 1000] [-- --rollout 0]
//   (quick: N=100, 1 repetition, no 1000-pod runs; --sizes picks the scale-up sizes, --rollout the rollout size, 0 for none)
// Each scale-up also records the API server's write requests by resource and the CPU seconds of the
// controller under test, kube-apiserver and etcd: the side-by-side cost explains a difference in time.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { API_VERSION, GROUP, KIND, PLURAL, VERSION } from '../src/api/podgroup.js';
import { commandLineOrExit, integerFlag, parseCommandLine, UsageError } from '../src/cli-args.js';
import { down, up } from '../hack/cluster/local-cluster.js';
import { startReferenceKcm } from '../hack/cluster/reference-kcm.js';
import { addFakeNodes, defaultNodeSpecs } from '../hack/control-plane/fake-nodes.js';
import { installCrds } from '../hack/control-plane/manifests.js';
import { REPO_ROOT } from '../hack/control-plane/paths.js';
import { isAlive, stopProcess, waitFor } from '../hack/control-plane/processes.js';
import { loadKubeConfig } from '../hack/control-plane/state.js';
import { startCompiledManager } from './manager.js';
import { cpuSeconds } from './process-stats.js';
import { writeResult } from './report.js';
import { createRunNamespace, deleteRunNamespace } from './support/namespaces.js';

const USAGE = 'usage: npm run bench:controllers [-- --quick] [--only equal|unthrottled] [--sizes N,N] [--rollout N] [--keep-cluster]';
const {
  values,
  sizes: sizesFlag,
  rolloutFlag,
} = commandLineOrExit('bench:controllers', USAGE, () => {
  const parsed = parseCommandLine({
    options: {
      quick: { type: 'boolean', default: false },
      'keep-cluster': { type: 'boolean', default: false },
      only: { type: 'string' },
      sizes: { type: 'string' },
      rollout: { type: 'string' },
    },
  });
  const { only, sizes, rollout } = parsed.values;
  if (only !== undefined && only !== 'equal' && only !== 'unthrottled') {
    throw new UsageError(`--only: ${JSON.stringify(only)} is not equal or unthrottled`);
  }
  return {
    values: parsed.values,
    sizes: sizes?.split(',').map((n) => integerFlag('sizes', n, { min: 1 })),
    rolloutFlag: rollout === undefined ? undefined : integerFlag('rollout', rollout, { min: 0 }),
  };
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
  spec: {
    schedulerName: 'default-scheduler',
    terminationGracePeriodSeconds: 0,
    containers: [{ name: 'app', image, resources: { requests: { cpu: '10m', memory: '16Mi' } } }],
  },
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

const ready = (p: k8s.V1Pod): boolean =>
  p.metadata?.deletionTimestamp == null && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
const allReady =
  (n: number, image?: string) =>
  (pods: Map<string, k8s.V1Pod>): boolean => {
    const live = [...pods.values()].filter((p) => p.metadata?.deletionTimestamp == null);
    return live.length === n && live.every((p) => ready(p) && (image === undefined || p.spec?.containers[0]?.image === image));
  };

const WRITE_VERBS = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'APPLY']);

/** The API server's write requests so far, by "VERB resource[/subresource]" (its own metric). */
function apiWrites(): Map<string, number> {
  const out = spawnSync('kubectl', ['--kubeconfig', state.kubeconfig, 'get', '--raw', '/metrics'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (out.status !== 0) {
    throw new Error(`kubectl get --raw /metrics: ${out.stderr}`);
  }
  const writes = new Map<string, number>();
  for (const line of out.stdout.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) {
      continue;
    }
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (!WRITE_VERBS.has(labels.verb ?? '') || labels.dry_run !== '') {
      continue;
    }
    const key = `${labels.verb} ${labels.resource}${labels.subresource === '' ? '' : `/${labels.subresource}`}`;
    writes.set(key, (writes.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return writes;
}

interface RunCost {
  /** API writes made meanwhile by all clients, largest first. */
  writes: Record<string, number>;
  /** CPU seconds used meanwhile by the controller under test and by the control plane. */
  cpu_s: Record<string, number>;
}

/** Runs fn and returns what it cost: API writes and CPU of the controller, kube-apiserver and etcd. */
async function measured(controllerPid: number, fn: () => Promise<void>): Promise<RunCost> {
  const pids: Record<string, number> = { controller: controllerPid };
  for (const name of ['kube-apiserver', 'etcd']) {
    pids[name] = state.components.find((c) => c.name === name)?.pid ?? 0;
  }
  const cpu = (): Record<string, number> => Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)]));
  const before = apiWrites();
  const cpuBefore = cpu();
  await fn();
  const cpuAfter = cpu();
  const after = apiWrites();
  const delta = [...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const).filter(([, v]) => v > 0);
  return {
    writes: Object.fromEntries(delta.sort((a, b) => b[1] - a[1])),
    cpu_s: Object.fromEntries(Object.keys(pids).map((name) => [name, Math.round(((cpuAfter[name] ?? 0) - (cpuBefore[name] ?? 0)) * 100) / 100])),
  };
}

async function freshNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${Date.now().toString(36)}`;
  await createRunNamespace(kc, name, 30_000);
  return name;
}

const dropNamespace = (name: string): Promise<void> => deleteRunNamespace(kc, name, { timeoutMs: 600_000, intervalMs: 250 });

/** The compiled manager (npm run build), as the image runs it. */
async function startManager(qps: number, burst: number): Promise<number> {
  const manager = await startCompiledManager(state, [`--kube-api-qps=${qps}`, `--kube-api-burst=${burst}`, '--concurrent-podgroup-syncs=5'], {
    logName: `bench-manager-${qps}`,
  });
  return manager.pid;
}

/**
 * The API server's own ceiling for creating pods: `concurrency` clients each POSTing as fast as it
 * answers, over kept-alive connections (one TLS handshake per connection, as any controller's
 * client pays), with the admin client certificate.
 */
async function rawCeiling(n: number, concurrency: number): Promise<number> {
  const ns = await freshNamespace('raw');
  const agent = new Agent({
    keepAlive: true,
    maxSockets: concurrency,
    ca: readFileSync(state.pki.caCert),
    cert: readFileSync(state.pki.adminCert),
    key: readFileSync(state.pki.adminKey),
  });
  const body = JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'raw-', labels: { app: 'raw' } }, spec: template('raw', 'x').spec });
  const create = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = httpsRequest(
        `${state.apiserverUrl}/api/v1/namespaces/${ns}/pods`,
        { method: 'POST', agent, headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, timeout: 30_000 },
        (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`POST pod: HTTP ${res.statusCode}`))));
        },
      );
      req.on('timeout', () => req.destroy(new Error('POST pod timed out')));
      req.on('error', reject);
      req.end(body);
    });
  const started = performance.now();
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < n) {
          next += 1;
          await create();
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  const seconds = (performance.now() - started) / 1000;
  await dropNamespace(ns);
  return n / seconds;
}

interface ScaleUp extends RunCost {
  seconds: number;
}

async function scaleUpReplicaSet(n: number, kcmPid: number): Promise<ScaleUp> {
  const ns = await freshNamespace('rs');
  const started = performance.now();
  const cost = await measured(kcmPid, async () => {
    await apps.createNamespacedReplicaSet({
      namespace: ns,
      body: { metadata: { name: 'rs' }, spec: { replicas: n, selector: { matchLabels: { app: 'rs' } }, template: template('rs', 'x:1') } },
    });
    await watchPods(ns, 'app=rs', allReady(n), 600_000);
  });
  const seconds = (performance.now() - started) / 1000;
  await dropNamespace(ns);
  return { seconds, ...cost };
}

async function scaleUpPodGroup(n: number, managerPid: number): Promise<ScaleUp> {
  const ns = await freshNamespace('pg');
  const started = performance.now();
  const cost = await measured(managerPid, async () => {
    await custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: PLURAL,
      body: {
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name: 'pg' },
        spec: { replicas: n, selector: { matchLabels: { app: 'pg' } }, template: template('pg', 'x:1') },
      },
    });
    await watchPods(ns, 'app=pg', allReady(n), 600_000);
  });
  const seconds = (performance.now() - started) / 1000;
  await dropNamespace(ns);
  return { seconds, ...cost };
}

const strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } };

async function rolloutDeployment(n: number): Promise<number> {
  const ns = await freshNamespace('deploy');
  await apps.createNamespacedDeployment({
    namespace: ns,
    body: { metadata: { name: 'd' }, spec: { replicas: n, selector: { matchLabels: { app: 'd' } }, template: template('d', 'x:1'), strategy } },
  });
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
    group: GROUP,
    version: VERSION,
    namespace: ns,
    plural: PLURAL,
    body: {
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: { name: 'pg' },
      spec: { replicas: n, selector: { matchLabels: { app: 'pg' } }, template: template('pg', 'x:1'), strategy },
    },
  });
  await watchPods(ns, 'app=pg', allReady(n, 'x:1'), 600_000);
  const started = performance.now();
  await custom.patchNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ns,
    plural: PLURAL,
    name: 'pg',
    body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'x:2' }],
  });
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

/** Repetitions of a scale-up: their durations, and the API writes and CPU of the median run. */
async function repeatScaleUp(
  what: string,
  fn: () => Promise<ScaleUp>,
): Promise<ReturnType<typeof summary> & { median_run: { api_writes: Record<string, number>; cpu_s: Record<string, number> } }> {
  const runs: ScaleUp[] = [];
  await repeat(what, async () => {
    const run = await fn();
    runs.push(run);
    return run.seconds;
  });
  const medianRun = [...runs].sort((a, b) => a.seconds - b.seconds)[Math.floor((runs.length - 1) / 2)];
  const cost = { api_writes: medianRun?.writes ?? {}, cpu_s: medianRun?.cpu_s ?? {} };
  log(`${what} median run: ${JSON.stringify(cost)}`);
  return { ...summary(runs.map((r) => r.seconds)), median_run: cost };
}

const results: Record<string, unknown> = {};
let managerPid: number | undefined;
try {
  results.raw_ceiling_pods_per_s = summary(await repeat('raw ceiling (pods/s, 500 pods, concurrency 50, keep-alive)', () => rawCeiling(QUICK ? 200 : 500, 50)));

  const sizes = sizesFlag ?? (QUICK ? [100] : [100, 1000]);
  const rolloutN = rolloutFlag ?? (QUICK ? 100 : 500);
  const settings: Array<[string, number, number]> = [
    ['equal qps 20 / burst 30 (KCM defaults)', 20, 30],
    ['unthrottled (qps 5000 / burst 10000)', 5000, 10000],
  ];
  const scale: Array<Record<string, unknown>> = [];
  const rollouts: Array<Record<string, unknown>> = [];
  for (const [label, qps, burst] of settings.filter(([l]) => values.only === undefined || l.startsWith(values.only))) {
    const kcmPid = await startReferenceKcm(state, { qps, burst });
    managerPid = await startManager(qps, burst);
    const pgPid = managerPid;
    for (const n of sizes) {
      const rs = await repeatScaleUp(`ReplicaSet 0→${n} (${label})`, () => scaleUpReplicaSet(n, kcmPid));
      const pg = await repeatScaleUp(`PodGroup 0→${n} (${label})`, () => scaleUpPodGroup(n, pgPid));
      scale.push({ client: label, n, replicaset_s: rs, podgroup_s: pg, ratio_podgroup_over_replicaset: pg.median / rs.median });
    }
    if (rolloutN > 0) {
      const d = summary(await repeat(`Deployment rollout of ${rolloutN} (${label})`, () => rolloutDeployment(rolloutN)));
      const p = summary(await repeat(`PodGroup rollout of ${rolloutN} (${label})`, () => rolloutPodGroup(rolloutN)));
      rollouts.push({ client: label, n: rolloutN, deployment_s: d, podgroup_s: p, ratio_podgroup_over_deployment: p.median / d.median });
    }
    await stopProcess(managerPid);
    managerPid = undefined;
    if (isAlive(kcmPid)) {
      await stopProcess(kcmPid);
    }
  }
  results.scale_up = scale;
  results.rolling_update = rollouts;
  console.log(JSON.stringify(results, null, 2));
  writeResult(`controllers${QUICK ? '-quick' : ''}${values.only === undefined ? '' : `-${values.only}`}`, results);
} finally {
  if (managerPid !== undefined) {
    await stopProcess(managerPid);
  }
  if (!values['keep-cluster']) {
    await down({ stateDir, log: (l) => console.error(`[cluster] ${l}`) });
  }
}
