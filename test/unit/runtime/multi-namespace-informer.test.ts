// A namespace-scoped install: one namespaced list/watch per watched namespace, one cache to read.
import { describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { Informer } from '../../../src/runtime/informer.js';
import { KubeClients } from '../../../src/runtime/kube-client.js';
import { silentLogger } from '../../../src/runtime/logging.js';
import { MultiNamespaceInformer } from '../../../src/runtime/multi-namespace-informer.js';
import { controllerRevisionResource, customResource, nodeResource, podResource } from '../../../src/runtime/resources.js';
import { SharedInformers } from '../../../src/runtime/shared-informers.js';
import { BY_CONTROLLER_UID, BY_NAMESPACE, controllerUidIndex, namespaceIndex } from '../../../src/runtime/store.js';

const kc = new k8s.KubeConfig();
kc.loadFromOptions({
  clusters: [{ name: 'none', server: 'http://127.0.0.1:1', skipTLSVerify: true }],
  users: [{ name: 'none' }],
  contexts: [{ name: 'none', cluster: 'none', user: 'none' }],
  currentContext: 'none',
});
const clients = new KubeClients(kc, { qps: -1, burst: 1 });

const pod = (namespace: string, name: string, owner?: string): k8s.V1Pod => ({
  metadata: {
    namespace,
    name,
    resourceVersion: '1',
    ownerReferences: owner === undefined ? undefined : [{ apiVersion: 'podgroup.dev/v1alpha1', kind: 'PodGroup', name: 'pg', uid: owner, controller: true }],
  },
});

describe('namespaced forms of the resources', () => {
  it("lists and watches one namespace's collection; cluster-scoped kinds have none", () => {
    expect(podResource(clients).inNamespace?.('team-a').path).toBe('/api/v1/namespaces/team-a/pods');
    expect(controllerRevisionResource(clients).inNamespace?.('team-a').path).toBe('/apis/apps/v1/namespaces/team-a/controllerrevisions');
    const podGroups = customResource(clients, { group: 'podgroup.dev', version: 'v1alpha1', plural: 'podgroups', kind: 'PodGroup' });
    expect(podGroups.inNamespace?.('team-a').path).toBe('/apis/podgroup.dev/v1alpha1/namespaces/team-a/podgroups');
    expect(podGroups.inNamespace?.('team-a').name).toBe('podgroups.podgroup.dev in team-a');
    expect(nodeResource(clients).inNamespace).toBeUndefined();
    expect(customResource(clients, { group: 'x.dev', version: 'v1', plural: 'things', kind: 'Thing', clusterScoped: true }).inNamespace).toBeUndefined();
  });
});

describe('SharedInformers with a namespace list', () => {
  it('splits namespaced kinds per namespace and keeps cluster-scoped kinds whole', () => {
    const scoped = new SharedInformers({ dropManagedFields: true, logger: silentLogger, namespaces: ['team-a', 'team-b'] });
    expect(scoped.for(podResource(clients))).toBeInstanceOf(MultiNamespaceInformer);
    expect(scoped.for(nodeResource(clients))).toBeInstanceOf(Informer);
    const all = new SharedInformers({ dropManagedFields: true, logger: silentLogger });
    expect(all.for(podResource(clients))).toBeInstanceOf(Informer);
  });
});

describe('MultiNamespaceInformer', () => {
  const indexers = { [BY_NAMESPACE]: namespaceIndex, [BY_CONTROLLER_UID]: controllerUidIndex };
  const make = (): { union: MultiNamespaceInformer<k8s.V1Pod>; a: Informer<k8s.V1Pod>; b: Informer<k8s.V1Pod> } => {
    const a = new Informer<k8s.V1Pod>(podResource(clients).inNamespace?.('a') ?? podResource(clients), { indexers });
    const b = new Informer<k8s.V1Pod>(podResource(clients).inNamespace?.('b') ?? podResource(clients), { indexers });
    return {
      union: new MultiNamespaceInformer(
        podResource(clients),
        new Map([
          ['a', a],
          ['b', b],
        ]),
      ),
      a,
      b,
    };
  };

  it("reads the union of the namespaces' caches: get by key, list, indexes", () => {
    const { union, a, b } = make();
    a.store.upsert(pod('a', 'p1', 'uid-1'));
    a.store.upsert(pod('a', 'p2'));
    b.store.upsert(pod('b', 'p1', 'uid-1'));
    expect(union.store.get('a/p1')?.metadata?.namespace).toBe('a');
    expect(union.store.get('b/p1')?.metadata?.namespace).toBe('b');
    expect(union.store.get('c/p1')).toBeUndefined();
    expect(
      union.store
        .list()
        .map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`)
        .sort(),
    ).toEqual(['a/p1', 'a/p2', 'b/p1']);
    expect(
      union.store
        .byIndex(BY_NAMESPACE, 'a')
        .map((p) => p.metadata?.name)
        .sort(),
    ).toEqual(['p1', 'p2']);
    expect(union.store.byIndex(BY_CONTROLLER_UID, 'uid-1')).toHaveLength(2);
    expect(union.store.size).toBe(3);
  });

  it("is synced only when every namespace is, and hands each handler every namespace's objects", () => {
    const { union, a, b } = make();
    a.store.upsert(pod('a', 'p1'));
    b.store.upsert(pod('b', 'p1'));
    const seen: string[] = [];
    union.addEventHandler({ onAdd: (p) => seen.push(`${p.metadata?.namespace}/${p.metadata?.name}`) });
    expect(seen.sort()).toEqual(['a/p1', 'b/p1']);
    expect(union.hasSynced()).toBe(false);
  });
});
