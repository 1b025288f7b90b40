// The informer against a real API server: it sees adds, updates and deletes; it survives a
// kube-apiserver kill and restart and catches up on changes made while it was disconnected
// (including a delete); it re-watches when its watch goes silent, and when a watch request never
// gets an answer at all (a black-holed connection, through a fault proxy).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { findComponent, startComponent, stopComponent } from '../../../hack/control-plane/components.js';
import { Informer } from '../../../src/runtime/informer.js';
import { KubeClients } from '../../../src/runtime/kube-client.js';
import { registry } from '../../../src/runtime/metrics.js';
import { configMapResource } from '../../../src/runtime/resources.js';
import { BY_NAMESPACE, namespaceIndex } from '../../../src/runtime/store.js';
import { clusterState, createNamespace, eventually, kubeConfig } from '../support/cluster.js';
import { startFaultProxy } from '../support/fault-proxy.js';

const kc = kubeConfig();
const clients = new KubeClients(kc, { qps: 0, burst: 0 });
const core = kc.makeApiClient(k8s.CoreV1Api);

interface Seen {
  added: string[];
  updated: string[];
  deleted: string[];
}

function track(informer: Informer<k8s.V1ConfigMap>): Seen {
  const seen: Seen = { added: [], updated: [], deleted: [] };
  informer.addEventHandler({
    onAdd: (o) => seen.added.push(o.metadata?.name ?? ''),
    onUpdate: (_old, o) => seen.updated.push(`${o.metadata?.name}=${o.data?.v}`),
    onDelete: (o) => seen.deleted.push(o.metadata?.name ?? ''),
  });
  return seen;
}

async function restarts(reason: string): Promise<number> {
  const metric = await registry.getSingleMetric('podgroup_informer_restarts_total')?.get();
  return metric?.values.filter((v) => v.labels.reason === reason).reduce((sum, v) => sum + v.value, 0) ?? 0;
}

const cm = (name: string, v: string): k8s.V1ConfigMap => ({ metadata: { name }, data: { v } });

describe('informer', () => {
  let ns: { name: string; remove: () => Promise<void> };
  const informers: Informer<k8s.V1ConfigMap>[] = [];
  const newInformer = (options: ConstructorParameters<typeof Informer<k8s.V1ConfigMap>>[2] = {}): Informer<k8s.V1ConfigMap> => {
    const informer = new Informer(kc, configMapResource(clients), {
      fieldSelector: `metadata.namespace=${ns.name}`,
      indexers: { [BY_NAMESPACE]: namespaceIndex },
      ...options,
    });
    informers.push(informer);
    return informer;
  };

  beforeAll(async () => {
    ns = await createNamespace('e2e-informer');
  });
  afterAll(async () => {
    await Promise.all(informers.map((i) => i.stop()));
    await ns.remove();
  });

  it('is synced only after the first list, then sees add, update and delete', async () => {
    await core.createNamespacedConfigMap({ namespace: ns.name, body: cm('pre', '0') });
    const informer = newInformer();
    const seen = track(informer);
    expect(informer.hasSynced()).toBe(false);
    informer.start();
    await informer.waitForSync();
    expect(informer.store.get(`${ns.name}/pre`)?.data?.v).toBe('0');
    expect(informer.store.byIndex(BY_NAMESPACE, ns.name).map((o) => o.metadata?.name)).toContain('pre');

    await core.createNamespacedConfigMap({ namespace: ns.name, body: cm('a', '1') });
    await core.patchNamespacedConfigMap(
      { name: 'a', namespace: ns.name, body: { data: { v: '2' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await core.deleteNamespacedConfigMap({ name: 'pre', namespace: ns.name });
    await eventually('add, update and delete observed', () => seen.added.includes('a') && seen.updated.includes('a=2') && seen.deleted.includes('pre'));
    expect(informer.store.get(`${ns.name}/pre`)).toBeUndefined();
    expect(informer.store.get(`${ns.name}/a`)?.data?.v).toBe('2');
  });

  it('recovers from a kube-apiserver kill and sees what changed while it was disconnected', async () => {
    const state = clusterState();
    await core.createNamespacedConfigMap({ namespace: ns.name, body: cm('keep', '1') });
    await core.createNamespacedConfigMap({ namespace: ns.name, body: cm('doomed', '1') });
    // A long first backoff guarantees the changes below land before it reconnects,
    // so they can only be learned from the relist.
    const informer = newInformer({ backoff: { initialMs: 12_000, maxMs: 12_000 } });
    const seen = track(informer);
    informer.start();
    await informer.waitForSync();
    const errorsBefore = await restarts('error');

    await stopComponent(state, 'kube-apiserver', { kill: true });
    try {
      await eventually('informer to notice the lost connection', async () => (await restarts('error')) > errorsBefore, 60_000);
    } finally {
      // Whatever happened, later tests need an API server.
      await startComponent(state, findComponent(state, 'kube-apiserver'), 120_000);
    }

    await core.createNamespacedConfigMap({ namespace: ns.name, body: cm('born', '1') });
    await core.replaceNamespacedConfigMap({ name: 'keep', namespace: ns.name, body: cm('keep', '2') });
    await core.deleteNamespacedConfigMap({ name: 'doomed', namespace: ns.name });

    await eventually(
      'changes made while disconnected',
      () => seen.added.includes('born') && seen.updated.includes('keep=2') && seen.deleted.includes('doomed'),
      60_000,
    );
    expect(informer.store.get(`${ns.name}/doomed`)).toBeUndefined();
    expect(informer.hasSynced()).toBe(true);
  });

  it('catches up quickly after a kube-apiserver restart with the default backoff', async () => {
    const state = clusterState();
    const informer = newInformer();
    const seen = track(informer);
    informer.start();
    await informer.waitForSync();
    try {
      await stopComponent(state, 'kube-apiserver');
    } finally {
      await startComponent(state, findComponent(state, 'kube-apiserver'), 120_000);
    }
    const readyAt = Date.now();
    await core.createNamespacedConfigMap({ namespace: ns.name, body: cm('after-restart', '1') });
    await eventually('a change after the restart', () => seen.added.includes('after-restart'), 60_000, 20);
    process.stderr.write(`informer caught up ${Date.now() - readyAt} ms after kube-apiserver was ready again\n`);
  });

  it('re-watches when the watch goes silent for longer than the stall timeout', async () => {
    const informer = newInformer({ stallTimeoutMs: 1500 });
    const seen = track(informer);
    informer.start();
    await informer.waitForSync();
    const before = await restarts('stalled');
    await eventually('a stall restart', async () => (await restarts('stalled')) > before, 20_000);
    await core.createNamespacedConfigMap({ namespace: ns.name, body: cm('after-stall', '1') });
    await eventually('events after the restart', () => seen.added.includes('after-stall'));
  });

  it('gives up a watch that never gets an answer (black-holed), re-watches, and still stops', async () => {
    // The first watch request is held by a proxy: no headers, ever. client-node cannot abort such
    // a request by itself; the stall timeout must retire it and the next watch must work.
    let watches = 0;
    const proxy = await startFaultProxy(clusterState(), (method, path) => {
      if (method !== 'GET' || !path.includes('watch=true')) {
        return 'pass';
      }
      watches += 1;
      return watches === 1 ? 'hold' : 'pass';
    });
    try {
      const proxied = new k8s.KubeConfig();
      proxied.loadFromFile(proxy.kubeconfig);
      const informer = new Informer(proxied, configMapResource(new KubeClients(proxied, { qps: 0, burst: 0 })), {
        fieldSelector: `metadata.namespace=${ns.name}`,
        stallTimeoutMs: 1500,
      });
      informers.push(informer);
      const seen = track(informer);
      const before = await restarts('stalled');
      informer.start();
      await informer.waitForSync();
      await eventually('the held watch retired as stalled', async () => (await restarts('stalled')) > before, 20_000);
      await core.createNamespacedConfigMap({ namespace: ns.name, body: cm('after-black-hole', '1') });
      await eventually('events through the second watch', () => seen.added.includes('after-black-hole'));
      expect(proxy.held).toHaveLength(1);
      // stop() must not wait on any request still in flight.
      await informer.stop();
    } finally {
      await proxy.close();
    }
  });
});
