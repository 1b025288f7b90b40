import { describe, expect, it } from '@jest/globals';
import type * as k8s from '@kubernetes/client-node';
import {
  BY_CONTROLLER_UID,
  BY_NAMESPACE,
  BY_NAMESPACE_UNCONTROLLED,
  BY_NAMESPACED_CONTROLLER_UID,
  BY_OWNER_UID,
  controllerUidIndex,
  namespacedControllerUid,
  namespacedControllerUidIndex,
  namespaceIndex,
  objectKey,
  ownerUidIndex,
  splitKey,
  Store,
  uncontrolledNamespaceIndex,
} from '../../../src/runtime/store.js';

const pod = (
  ns: string,
  name: string,
  owners: Array<{ uid: string; controller?: boolean; kind?: string; apiVersion?: string; name?: string }> = [],
): k8s.V1Pod => ({
  metadata: {
    namespace: ns,
    name,
    resourceVersion: '1',
    ownerReferences: owners.map((o) => ({
      apiVersion: o.apiVersion ?? 'podgroup.dev/v1alpha1',
      kind: o.kind ?? 'PodGroup',
      name: o.name ?? 'pg',
      uid: o.uid,
      controller: o.controller,
    })),
  },
});

describe('Store', () => {
  const newStore = (): Store<k8s.V1Pod> =>
    new Store<k8s.V1Pod>({
      [BY_NAMESPACE]: namespaceIndex,
      [BY_OWNER_UID]: ownerUidIndex,
      [BY_CONTROLLER_UID]: controllerUidIndex,
      [BY_NAMESPACE_UNCONTROLLED]: uncontrolledNamespaceIndex,
      [BY_NAMESPACED_CONTROLLER_UID]: namespacedControllerUidIndex,
    });

  it('finds objects by namespace and by owner without scanning', () => {
    const store = newStore();
    store.upsert(pod('a', 'p1', [{ uid: 'u1', controller: true }]));
    store.upsert(pod('a', 'p2', [{ uid: 'u2' }]));
    store.upsert(pod('b', 'p3', [{ uid: 'u1', controller: true }]));
    expect(store.byIndex(BY_NAMESPACE, 'a').map(objectKey).sort()).toEqual(['a/p1', 'a/p2']);
    expect(store.byIndex(BY_OWNER_UID, 'u1').map(objectKey).sort()).toEqual(['a/p1', 'b/p3']);
    expect(store.byIndex(BY_CONTROLLER_UID, 'u2')).toEqual([]);
    expect(store.byIndex(BY_OWNER_UID, 'u2').map(objectKey)).toEqual(['a/p2']);
  });

  it('finds what a controller owns in its own namespace only (a UID named from another namespace is not found)', () => {
    const store = newStore();
    store.upsert(pod('a', 'mine', [{ uid: 'u1', controller: true }]));
    store.upsert(pod('b', 'forged', [{ uid: 'u1', controller: true }]));
    store.upsert(pod('a', 'not-controller', [{ uid: 'u1' }]));
    expect(store.byIndex(BY_NAMESPACED_CONTROLLER_UID, namespacedControllerUid('a', 'u1')).map(objectKey)).toEqual(['a/mine']);
    expect(store.byIndex(BY_NAMESPACED_CONTROLLER_UID, namespacedControllerUid('b', 'u1')).map(objectKey)).toEqual(['b/forged']);
  });

  it('finds the objects without a controller per namespace, and forgets them once adopted', () => {
    const store = newStore();
    store.upsert(pod('a', 'owned', [{ uid: 'u1', controller: true }]));
    store.upsert(pod('a', 'orphan'));
    store.upsert(pod('a', 'only-owner', [{ uid: 'u2' }]));
    store.upsert(pod('b', 'elsewhere'));
    expect(store.byIndex(BY_NAMESPACE_UNCONTROLLED, 'a').map(objectKey).sort()).toEqual(['a/only-owner', 'a/orphan']);
    store.upsert(pod('a', 'orphan', [{ uid: 'u1', controller: true }]));
    expect(store.byIndex(BY_NAMESPACE_UNCONTROLLED, 'a').map(objectKey)).toEqual(['a/only-owner']);
  });

  it('re-indexes on update and forgets on delete', () => {
    const store = newStore();
    store.upsert(pod('a', 'p1', [{ uid: 'u1', controller: true }]));
    store.upsert(pod('a', 'p1', [{ uid: 'u9', controller: true }]));
    expect(store.byIndex(BY_CONTROLLER_UID, 'u1')).toEqual([]);
    expect(store.byIndex(BY_CONTROLLER_UID, 'u9').map(objectKey)).toEqual(['a/p1']);
    expect(store.delete('a/p1')?.metadata?.name).toBe('p1');
    expect(store.byIndex(BY_CONTROLLER_UID, 'u9')).toEqual([]);
    expect(store.size).toBe(0);
    expect(() => store.byIndex('nope', 'x')).toThrow('no index named nope');
  });

  it('splits keys of namespaced and cluster-scoped objects', () => {
    expect(splitKey('ns/name')).toEqual({ namespace: 'ns', name: 'name' });
    expect(splitKey('node-1')).toEqual({ namespace: undefined, name: 'node-1' });
  });
});
