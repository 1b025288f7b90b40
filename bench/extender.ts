// Scheduler-extender latency: filter + prioritize round trips over HTTPS with a client
// certificate (as kube-scheduler calls it, on one keep-alive connection) on 127.0.0.1, for 100
// and 500 nodes, with NodeNames (nodeCacheCapable) and with full Node objects, as kube-scheduler
// calls them (one pod at a time). The extender's caches are filled directly: this measures the
// HTTP + decision path, not the API server.
//   npm run bench:extender [-- --quick]
import { Agent, request } from 'node:https';
import * as k8s from '@kubernetes/client-node';
import { commandLineOrExit, parseCommandLine } from '../src/cli-args.js';
import { API_VERSION, KIND, type PodGroup } from '../src/api/podgroup.js';
import { createCertificateAuthority, issueCertificate } from '../src/runtime/certificates.js';
import { Informer } from '../src/runtime/informer.js';
import { KubeClients } from '../src/runtime/kube-client.js';
import { createLogger } from '../src/runtime/logging.js';
import type { ResourceType } from '../src/runtime/resources.js';
import { BY_CONTROLLER_UID, controllerUidIndex } from '../src/runtime/store.js';
import { SchedulerExtender } from '../src/scheduling/extender.js';
import { percentile, writeResult } from './report.js';

const { values } = commandLineOrExit('bench:extender', 'usage: npm run bench:extender [-- --quick]', () =>
  parseCommandLine({ options: { quick: { type: 'boolean', default: false } } }),
);
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
const ca = createCertificateAuthority('bench-ca', hour);
const serving = issueCertificate(ca, { commonName: 'bench', ipAddresses: ['127.0.0.1'], usages: ['server'], validForMs: hour });
const client = issueCertificate(ca, { commonName: 'podgroup-scheduler', usages: ['client'], validForMs: hour });
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
});

async function run(nodeCount: number, cacheCapable: boolean): Promise<{ p50: number; p99: number; mean: number }> {
  const nodes = new Informer<k8s.V1Node>(kc, resource('nodes'));
  const pods = new Informer<k8s.V1Pod>(kc, resource('pods'), { indexers: { [BY_CONTROLLER_UID]: controllerUidIndex } });
  const groups = new Informer<PodGroup>(kc, resource('podgroups'));
  const nodeObjects: k8s.V1Node[] = [];
  for (let i = 0; i < nodeCount; i += 1) {
    const node: k8s.V1Node = {
      metadata: { name: `node-${i}`, labels: { 'topology.kubernetes.io/zone': `zone-${i % 3}` } },
      status: { allocatable: { cpu: '16', memory: '64Gi', pods: '110' } },
    };
    nodes.store.upsert(node);
    nodeObjects.push(node);
  }
  const group: PodGroup = {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name: 'bench', namespace: 'bench', uid: 'pg-uid' },
    spec: { replicas: 1000, minAvailable: 10, selector: { matchLabels: { app: 'bench' } }, template: {}, placement: { policy: 'Spread' } },
  };
  groups.store.upsert(group);
  const owner = [{ apiVersion: API_VERSION, kind: KIND, name: 'bench', uid: 'pg-uid', controller: true }];
  // 10 pods per node: 2 members of the group and 8 others.
  for (let i = 0; i < nodeCount * 10; i += 1) {
    pods.store.upsert({
      metadata: { name: `p-${i}`, namespace: 'bench', ownerReferences: i % 5 === 0 ? owner : undefined },
      spec: { nodeName: `node-${i % nodeCount}`, containers: [{ name: 'a', resources: { requests: { cpu: '100m', memory: '128Mi' } } }] },
      status: { phase: 'Running' },
    });
  }
  const extender = new SchedulerExtender(clients, createLogger({ silent: true }), pods, nodes, groups, {
    address: { host: '127.0.0.1', port: 0 },
    limits: { maxConnections: 16, requestTimeoutMs: 10_000, headersTimeoutMs: 5_000, maxBodyBytes: 64 * 1024 * 1024 },
    tls,
    clientName: 'podgroup-scheduler',
    schedulerNames: ['podgroup-scheduler'],
  });
  await extender.start();
  const url = `https://127.0.0.1:${extender.port}`;
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: ca.certPem, cert: client.certPem, key: client.keyPem });
  const pod = { metadata: { name: 'candidate', namespace: 'bench', ownerReferences: owner }, spec: { containers: [{ name: 'a', resources: { requests: { cpu: '500m' } } }] } };
  const body = JSON.stringify(cacheCapable ? { Pod: pod, NodeNames: nodeObjects.map((n) => n.metadata?.name) } : { Pod: pod, Nodes: { items: nodeObjects } });
  const samples: number[] = [];
  for (let i = 0; i < ITERATIONS + 50; i += 1) {
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
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), mean: samples.reduce((a, b) => a + b, 0) / samples.length };
}

const rows: Array<Record<string, string | number>> = [];
for (const nodeCount of [100, 500]) {
  for (const cacheCapable of [true, false]) {
    const r = await run(nodeCount, cacheCapable);
    rows.push({ nodes: nodeCount, mode: cacheCapable ? 'NodeNames (nodeCacheCapable)' : 'full Nodes', 'p50 ms': r.p50.toFixed(2), 'p99 ms': r.p99.toFixed(2), 'mean ms': r.mean.toFixed(2) });
  }
}
console.table(rows);
writeResult('extender', { iterations: ITERATIONS, pods_per_node: 10, rows });
