// The informer against a real API server: it loads the initial state by WatchList when the API
// server allows it and by a paginated list when forced to; it sees adds, updates and deletes; it
// survives a kube-apiserver kill and restart and catches up on changes made while it was
// disconnected (including a delete); it relists after 410 Gone; it re-watches when its watch goes
// silent, and when a watch request never gets an answer at all (a black-holed connection, through
// a fault proxy); and it lets the event loop run while it applies a large initial state.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { findComponent, startComponent, stopComponent } from '../../../hack/control-plane/components.js';
import { Informer, type InitialListMethod } from '../../../src/runtime/informer.js';
import { KubeClients } from '../../../src/runtime/kube-client.js';
import { registry } from '../../../src/runtime/metrics.js';
import { configMapResource, customResource, type ResourceType } from '../../../src/runtime/resources.js';
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

async function initialLists(method: InitialListMethod): Promise<number> {
  const metric = await registry.getSingleMetric('podgroup_informer_initial_lists_total')?.get();
  return metric?.values.filter((v) => v.labels.method === method && v.labels.resource === 'configmaps').reduce((sum, v) => sum + v.value, 0) ?? 0;
}

/** Whether the API server's WatchList feature gate is on (kubernetes_feature_enabled in its /metrics). */
function serverWatchListEnabled(): boolean {
  const metrics = execFileSync('kubectl', ['--kubeconfig', clusterState().kubeconfig, 'get', '--raw', '/metrics'], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    timeout: 60_000,
  });
  const line = metrics.split('\n').find((l) => l.startsWith('kubernetes_feature_enabled{') && l.includes('name="WatchList"'));
  if (line === undefined) {
    throw new Error('kube-apiserver /metrics has no kubernetes_feature_enabled for WatchList');
  }
  return line.trim().endsWith(' 1');
}

const cm = (name: string, v: string): k8s.V1ConfigMap => ({ metadata: { name }, data: { v } });

describe('informer', () => {
  let ns: { name: string; remove: () => Promise<void> };
  const informers: Informer<k8s.V1ConfigMap>[] = [];
  const newInformer = (options: ConstructorParameters<typeof Informer<k8s.V1ConfigMap>>[1] = {}): Informer<k8s.V1ConfigMap> => {
    const informer = new Informer(configMapResource(clients), {
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

  it('loads the initial state by WatchList when the API server allows it, else by list', async () => {
    await core.createNamespacedConfigMap({ namespace: ns.name, body: cm('streamed', '1') });
    const enabled = serverWatchListEnabled();
    process.stderr.write(`kube-apiserver WatchList feature gate: ${enabled ? 'on' : 'off'}\n`);
    const [watchListsBefore, listsBefore] = [await initialLists('watch-list'), await initialLists('list')];
    const informer = newInformer();
    informer.start();
    await informer.waitForSync();
    expect(informer.store.get(`${ns.name}/streamed`)?.data?.v).toBe('1');
    expect([(await initialLists('watch-list')) - watchListsBefore, (await initialLists('list')) - listsBefore]).toEqual(enabled ? [1, 0] : [0, 1]);
  });

  it("uses a paginated list when forced to (initialList: 'list')", async () => {
    const [watchListsBefore, listsBefore] = [await initialLists('watch-list'), await initialLists('list')];
    const informer = newInformer({ initialList: 'list' });
    const seen = track(informer);
    informer.start();
    await informer.waitForSync();
    expect(seen.added).toContain('streamed');
    expect([(await initialLists('watch-list')) - watchListsBefore, (await initialLists('list')) - listsBefore]).toEqual([0, 1]);
  });

  it('relists at once when the API server answers a watch with 410 Gone', async () => {
    // A kind created now has a watch cache that starts now, so a watch from resourceVersion 1 is
    // older than anything the API server can replay: its answer is 410 (too old resource version).
    // The first watch after the initial list asks for exactly that.
    const group = 'informer.e2e.podgroup.dev';
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    const crd = `probes.${group}`;
    await ext.createCustomResourceDefinition({
      body: {
        metadata: { name: crd },
        spec: {
          group,
          scope: 'Namespaced',
          names: { plural: 'probes', singular: 'probe', kind: 'Probe' },
          versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } } }],
        },
      },
    });
    try {
      const custom = kc.makeApiClient(k8s.CustomObjectsApi);
      const create = (name: string): Promise<unknown> =>
        custom.createNamespacedCustomObject({
          group,
          version: 'v1',
          plural: 'probes',
          namespace: ns.name,
          body: { apiVersion: `${group}/v1`, kind: 'Probe', metadata: { name } },
        });
      await eventually(
        'the CRD served',
        () =>
          create('first').then(
            () => true,
            () => false,
          ),
        30_000,
      );
      const base = customResource<k8s.KubernetesObject>(clients, { group, version: 'v1', plural: 'probes', kind: 'Probe' }, ns.name);
      let resumed = 0;
      const stale: ResourceType<k8s.KubernetesObject> = {
        ...base,
        watch: (options, signal) => base.watch(options.sendInitialEvents !== true && ++resumed === 1 ? { ...options, resourceVersion: '1' } : options, signal),
      };
      const before = await restarts('expired');
      const informer = new Informer(stale, { initialList: 'list', backoff: { initialMs: 60_000, maxMs: 60_000 } });
      informers.push(informer as unknown as Informer<k8s.V1ConfigMap>);
      informer.start();
      await informer.waitForSync();
      await eventually('a relist after 410', async () => (await restarts('expired')) > before, 20_000);
      await create('after-gone');
      // With a 60 s backoff, only an immediate relist gets here within the deadline.
      await eventually('events after the relist', () => informer.store.get(`${ns.name}/after-gone`) !== undefined, 20_000);
    } finally {
      await ext.deleteCustomResourceDefinition({ name: crd }).catch(() => undefined);
    }
  });

  it.each(['watch-list', 'list'] as const)(
    'lets timers run while it applies a large initial state (%s)',
    async (method) => {
      const bulk = await createNamespace('e2e-informer-bulk');
      try {
        const names = Array.from({ length: 450 }, (_, i) => `bulk-${i}`);
        for (let i = 0; i < names.length; i += 25) {
          await Promise.all(names.slice(i, i + 25).map((name) => core.createNamespacedConfigMap({ namespace: bulk.name, body: cm(name, '1') })));
        }
        const informer = new Informer(configMapResource(clients), { fieldSelector: `metadata.namespace=${bulk.name}`, initialList: method });
        informers.push(informer);
        const sequence: string[] = [];
        informer.addEventHandler({
          onAdd: (o) => {
            // ~0.2 ms of handler work per object: one page (or stream) of 450 takes ~90 ms to apply.
            const busyUntil = performance.now() + 0.2;
            while (performance.now() < busyUntil) {
              // the cost of handling one object
            }
            sequence.push(o.metadata?.name ?? '');
          },
        });
        let ticking = true;
        const tick = (): void => {
          sequence.push('tick');
          if (ticking) {
            setTimeout(tick, 0);
          }
        };
        setTimeout(tick, 0);
        informer.start();
        await informer.waitForSync();
        ticking = false;
        // (The namespace also holds its kube-root-ca.crt.)
        const adds = sequence.map((s, i) => (s.startsWith('bulk-') ? i : -1)).filter((i) => i >= 0);
        expect(adds).toHaveLength(names.length);
        const during = sequence.slice(adds[0], adds.at(-1)).filter((s) => s === 'tick').length;
        expect(during).toBeGreaterThanOrEqual(2);
      } finally {
        await bulk.remove();
      }
    },
    120_000,
  );

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
    // The first watch request (the WatchList) is held by a proxy: no headers, ever. The stall
    // timeout, shorter than the request's header deadline, must retire it and abort the request,
    // and the next watch must work.
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
      const informer = new Informer(configMapResource(new KubeClients(proxied, { qps: 0, burst: 0 })), {
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
