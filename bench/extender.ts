// Scheduler-extender latency: filter + prioritize round trips over HTTPS with a client
// certificate (as kube-scheduler calls it, one pod at a time on one keep-alive connection) on
// 127.0.0.1, from 100 nodes / 1k pods to 5000 nodes / 100k pods, with at most 500 node names per
// call (kube-scheduler's adaptive percentage sends about that many at 5000 nodes) and with the
// same nodes as full Node objects. The extender's caches are filled directly and its index is
// built from them as the informer would: this measures the HTTP + decision path, not the API
// server. Then, unless --no-scheduler, pods bound per second through the real podgroup-scheduler
// on kwok nodes, with the extender and without it (bench/scheduler-throughput.ts): the pods in one
// PodGroup, or with --groups N in N PodGroups (e.g. --groups 200: 200 PodGroups of 10).
//   npm run bench:extender [-- --quick] [--sizes 100x10,500x20,5000x20] [--no-scheduler] [--kwok-nodes 1000] [--pods 2000] [--groups 1] [--cpu-prof] [--keep-cluster]
// --cpu-prof profiles the manager serving the scheduler (node --cpu-prof) into .cluster-bench-extender/profiles.
import { Agent, request } from 'node:https';
import { loadavg } from 'node:os';
import * as k8s from '@kubernetes/client-node';
import { commandLineOrExit, integerFlag, parseCommandLine } from '../src/cli-args.js';
import { API_VERSION, KIND, type PodGroup } from '../src/api/podgroup.js';
import { createCertificateAuthoritySync, issueCertificateSync } from '../src/runtime/certificates.js';
import { Informer } from '../src/runtime/informer.js';
import { KubeClients } from '../src/runtime/kube-client.js';
import { createLogger } from '../src/runtime/logging.js';
import type { ResourceType } from '../src/runtime/resources.js';
import { BY_CONTROLLER_UID, controllerUidIndex } from '../src/runtime/store.js';
import { SchedulerExtender } from '../src/scheduling/extender.js';
import { join } from 'node:path';
import { down, up } from '../hack/cluster/local-cluster.js';
import { installCrds } from '../hack/control-plane/manifests.js';
import { REPO_ROOT } from '../hack/control-plane/paths.js';
import { loadKubeConfig } from '../hack/control-plane/state.js';
import { stopProcess } from '../hack/control-plane/processes.js';
import { startCompiledManager } from './manager.js';
import { percentile, writeResult } from './report.js';
import { measureThroughput, type ThroughputRow } from './scheduler-throughput.js';

const USAGE =
  'usage: npm run bench:extender [-- --quick] [--sizes 100x10,500x20,5000x20] [--no-scheduler] [--kwok-nodes 1000] [--pods 2000] [--groups 1] [--cpu-prof] [--keep-cluster]';
const { values, KWOK_NODES, PODS, GROUPS } = commandLineOrExit('bench:extender', USAGE, () => {
  const parsed = parseCommandLine({
    options: {
      quick: { type: 'boolean', default: false },
      sizes: { type: 'string', default: '100x10,500x20,5000x20' },
      'no-scheduler': { type: 'boolean', default: false },
      'kwok-nodes': { type: 'string', default: '1000' },
      pods: { type: 'string', default: '2000' },
      groups: { type: 'string', default: '1' },
      'cpu-prof': { type: 'boolean', default: false },
      'keep-cluster': { type: 'boolean', default: false },
    },
  });
  const pods = integerFlag('pods', parsed.values.pods, { min: 2 });
  return {
    values: parsed.values,
    KWOK_NODES: integerFlag('kwok-nodes', parsed.values['kwok-nodes'], { min: 1 }),
    PODS: pods,
    // Each PodGroup gets at least one pod.
    GROUPS: integerFlag('groups', parsed.values.groups, { min: 1, max: pods }),
  };
});
const ITERATIONS = values.quick ? 200 : 2000;

const kc = new k8s.KubeConfig();
kc.loadFromOptions({
  clusters: [{ name: 'bench', server: 'http://127.0.0.1:1' }],
  users: [{ name: 'bench' }],
  contexts: [{ name: 'bench', cluster: 'bench', user: 'bench' }],
  currentContext: 'bench',
});
const clients = new KubeClients(kc, { qps: 0, burst: 0 });
const hour = 3_600_000;
const ca = createCertificateAuthoritySync('bench-ca', hour);
const serving = issueCertificateSync(ca, { commonName: 'bench', ipAddresses: ['127.0.0.1'], usages: ['server'], validForMs: hour });
const client = issueCertificateSync(ca, { commonName: 'podgroup-scheduler', usages: ['client'], validForMs: hour });
const tls = { start: () => Promise.resolve({ certPem: serving.certPem, keyPem: serving.keyPem, clientCaPem: ca.certPem }), stop: () => undefined };

function post(agent: Agent, url: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const resource = <T extends k8s.KubernetesObject>(name: string): ResourceType<T> => ({
  name,
  apiVersion: 'v1',
  kind: name,
  path: '/',
  listPage: () => Promise.reject(new Error('not used: the benchmark fills the store directly')),
  watch: () => Promise.reject(new Error('not used: the benchmark fills the store directly')),
});

interface Size {
  nodes: number;
  podsPerNode: number;
}

const SIZES: Size[] = values.sizes.split(',').map((text) => {
  const [nodes, podsPerNode] = text.split('x').map(Number);
  if (!Number.isInteger(nodes) || !Number.isInteger(podsPerNode) || (nodes ?? 0) < 1 || (podsPerNode ?? 0) < 1) {
    console.error(`bench:extender: --sizes takes NODESxPODS_PER_NODE,..., got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return { nodes: nodes ?? 0, podsPerNode: podsPerNode ?? 0 };
});
/** kube-scheduler sends at most this many nodes at 5000 (numFeasibleNodesToFind's adaptive percentage). */
const NAMES_SENT = 500;
/** Members of the candidate's PodGroup, at every size: a call's cost follows the group, not the cluster. */
const GROUP_MEMBERS = 200;
/** Other pods belong to PodGroups of this many pods, or to none. */
const OTHER_GROUP_SIZE = 100;
const uptime = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

async function run(size: Size, cacheCapable: boolean): Promise<Record<string, string | number>> {
  const nodeCount = size.nodes;
  const nodes = new Informer<k8s.V1Node>(resource('nodes'));
  const pods = new Informer<k8s.V1Pod>(resource('pods'), { indexers: { [BY_CONTROLLER_UID]: controllerUidIndex } });
  const groups = new Informer<PodGroup>(resource('podgroups'));
  const nodeObjects: k8s.V1Node[] = [];
  for (let i = 0; i < nodeCount; i += 1) {
    const node: k8s.V1Node = {
      metadata: { name: `node-${i}`, resourceVersion: '1', labels: { 'topology.kubernetes.io/zone': `zone-${i % 3}` } },
      status: { allocatable: { cpu: '64', memory: '256Gi', pods: '110' } },
    };
    nodes.store.upsert(node);
    nodeObjects.push(node);
  }
  const podGroup = (name: string, uid: string): PodGroup => ({
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name, namespace: 'bench', uid },
    spec: { replicas: 1000, minAvailable: 10, selector: { matchLabels: { app: name } }, template: {}, placement: { policy: 'Spread' } },
  });
  const ownedBy = (name: string, uid: string): k8s.V1OwnerReference[] => [{ apiVersion: API_VERSION, kind: KIND, name, uid, controller: true }];
  groups.store.upsert(podGroup('bench', 'pg-uid'));
  const owner = ownedBy('bench', 'pg-uid');
  const podCount = nodeCount * size.podsPerNode;
  const memberEvery = Math.floor(podCount / GROUP_MEMBERS);
  for (let i = 0; i < podCount; i += 1) {
    const other = Math.floor(i / OTHER_GROUP_SIZE);
    const ownerReferences = i % memberEvery === 0 ? owner : other % 2 === 0 ? ownedBy(`other-${other}`, `other-${other}`) : undefined;
    pods.store.upsert({
      metadata: { name: `p-${i}`, namespace: 'bench', uid: `p-${i}`, ownerReferences },
      spec: { nodeName: `node-${i % nodeCount}`, containers: [{ name: 'a', resources: { requests: { cpu: '100m', memory: '128Mi' } } }] },
      status: { phase: 'Running' },
    });
  }
  // The extender builds its index from the pod cache's events (here: the replay a late handler gets).
  const built = performance.now();
  const extender = new SchedulerExtender(clients, createLogger({ silent: true }), pods, nodes, groups, {
    address: { host: '127.0.0.1', port: 0 },
    limits: { maxConnections: 16, requestTimeoutMs: 10_000, headersTimeoutMs: 5_000, maxBodyBytes: 64 * 1024 * 1024 },
    tls,
    clientName: 'podgroup-scheduler',
    schedulerNames: ['podgroup-scheduler'],
  });
  const indexMs = performance.now() - built;
  await extender.start();
  const url = `https://127.0.0.1:${extender.port}`;
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.certPem, cert: client.certPem, key: client.keyPem });
  const pod = {
    metadata: { name: 'candidate', namespace: 'bench', uid: 'candidate', ownerReferences: owner },
    spec: { containers: [{ name: 'a', resources: { requests: { cpu: '500m' } } }] },
  };
  // As kube-scheduler, each call sends the next window of nodes (it resumes where the last search stopped).
  const sent = Math.min(NAMES_SENT, nodeCount);
  const bodies = Array.from({ length: 16 }, (_, w) => {
    const window = Array.from({ length: sent }, (_, j) => nodeObjects[(w * 97 + j * Math.max(1, Math.floor(nodeCount / sent))) % nodeCount] as k8s.V1Node);
    return JSON.stringify(cacheCapable ? { Pod: pod, NodeNames: window.map((n) => n.metadata?.name) } : { Pod: pod, Nodes: { items: window } });
  });
  const samples: number[] = [];
  const load = uptime();
  for (let i = 0; i < ITERATIONS + 50; i += 1) {
    const body = bodies[i % bodies.length] ?? '';
    const started = performance.now();
    for (const verb of ['filter', 'prioritize']) {
      const status = await post(agent, `${url}/${verb}`, body);
      if (status !== 200) {
        throw new Error(`${verb}: HTTP ${status}`);
      }
    }
    if (i >= 50) {
      samples.push(performance.now() - started);
    }
  }
  agent.destroy();
  await extender.stop();
  samples.sort((a, b) => a - b);
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  return {
    nodes: nodeCount,
    pods: podCount,
    'names sent': sent,
    mode: cacheCapable ? 'NodeNames' : 'full Nodes',
    'p50 ms': percentile(samples, 50).toFixed(2),
    'p99 ms': percentile(samples, 99).toFixed(2),
    'mean ms': mean.toFixed(2),
    'index build ms': indexMs.toFixed(0),
    'load (1/5/15 min)': load,
  };
}

const rows: Array<Record<string, string | number>> = [];
for (const size of SIZES) {
  for (const cacheCapable of [true, false]) {
    rows.push(await run(size, cacheCapable));
  }
}
console.table(rows);
const p99 = (nodes: number): number => Number(rows.find((r) => r.nodes === nodes && r.mode === 'NodeNames')?.['p99 ms']);
const ratio = p99(5000) / p99(100);
if (Number.isFinite(ratio)) {
  console.log(`p99 at 5000 nodes / 100k pods: ${p99(5000).toFixed(2)} ms (goal <= 5), ${ratio.toFixed(2)}x the p99 at 100 nodes / 1k pods (goal <= 1.5x)`);
}
const throughput: ThroughputRow[] = [];
if (!values['no-scheduler']) {
  const stateDir = join(REPO_ROOT, '.cluster-bench-extender');
  const log = (l: string): void => console.error(`[cluster] ${l}`);
  const { state } = await up({ stateDir, nodes: KWOK_NODES, log });
  try {
    await installCrds(state);
    const core = loadKubeConfig(state).makeApiClient(k8s.CoreV1Api);
    const namespace = `throughput-${Date.now().toString(36)}`;
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    // The manager as deployed (default client rate limits), serving the extender the cluster's schedulers call.
    const manager = await startCompiledManager(
      state,
      [
        `--extender-bind-address=127.0.0.1:${state.extenderPort}`,
        `--extender-secret-namespace=${state.extenderSecretNamespace}`,
        '--extender-scheduler-names=bench-with-extender',
        '--log-level=warn',
      ],
      {
        logName: 'bench-extender-manager',
        timeoutMs: 300_000,
        nodeArgs: values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${join(stateDir, 'profiles')}`] : [],
      },
    );
    try {
      for (const withExtender of [false, true]) {
        const row = await measureThroughput(state, {
          namespace,
          schedulerName: withExtender ? 'bench-with-extender' : 'bench-without-extender',
          withExtender,
          pods: PODS,
          groups: GROUPS,
          nodes: KWOK_NODES,
        });
        console.error(`[bench] ${JSON.stringify(row)}`);
        throughput.push(row);
      }
    } finally {
      await stopProcess(manager.pid);
    }
    await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  } finally {
    if (!values['keep-cluster']) {
      await down({ stateDir, log });
    }
  }
  console.table(throughput);
  const rate = (withExtender: boolean): number => Number(throughput.find((r) => r.scheduler.includes(withExtender ? 'with the' : 'without'))?.['pods bound/s']);
  console.log(`with the extender: ${rate(true).toFixed(1)} pods/s (goal >= 100), ${(rate(true) / rate(false)).toFixed(2)}x the rate without it (goal >= 0.8x)`);
}
writeResult(`${values.sizes === '100x10,500x20,5000x20' ? 'extender' : 'extender-partial'}${GROUPS > 1 ? `-groups-${GROUPS}` : ''}`, {
  iterations: ITERATIONS,
  names_sent_at_most: NAMES_SENT,
  group_members: GROUP_MEMBERS,
  rows,
  ...(Number.isFinite(ratio) ? { p99_ratio_5000_vs_100: Number(ratio.toFixed(2)) } : {}),
  ...(throughput.length > 0 ? { scheduler_throughput: throughput } : {}),
});
