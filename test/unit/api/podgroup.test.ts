import { describe, expect, it } from '@jest/globals';
import type * as k8s from '@kubernetes/client-node';
import { controllingPodGroup, DEFAULT_POD_REPLACEMENT_POLICY, podGroupKeyOf, withDefaults, type PodGroup } from '../../../src/api/podgroup.js';

const bare: PodGroup = {
  metadata: { name: 'web', namespace: 'ns' },
  spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } } } },
};

describe('withDefaults (the CRD schema defaults, applied once)', () => {
  it('fills every defaulted field of a spec that predates them', () => {
    expect(withDefaults(bare).spec).toEqual({
      ...bare.spec,
      replicas: 1,
      minReadySeconds: 0,
      progressDeadlineSeconds: 600,
      revisionHistoryLimit: 10,
      podReplacementPolicy: DEFAULT_POD_REPLACEMENT_POLICY,
      strategy: { type: 'RollingUpdate' },
    });
  });

  it('keeps what is set, zeros included, and leaves the object it was given alone', () => {
    const set: PodGroup = {
      ...bare,
      spec: {
        ...bare.spec,
        replicas: 0,
        minReadySeconds: 5,
        progressDeadlineSeconds: 30,
        revisionHistoryLimit: 0,
        podReplacementPolicy: 'TerminationComplete',
        strategy: { type: 'Recreate' },
      },
    };
    expect(withDefaults(set).spec).toEqual(set.spec);
    withDefaults(bare);
    expect(bare.spec.replicas).toBeUndefined();
  });
});

describe('controllingPodGroup', () => {
  const web: PodGroup = {
    apiVersion: 'podgroup.dev/v1alpha1',
    kind: 'PodGroup',
    metadata: { name: 'web', namespace: 'shop', uid: 'u1' },
    spec: { selector: {}, template: {} },
  };
  const ref = (uid: string, extra: Partial<k8s.V1OwnerReference> = {}): k8s.V1OwnerReference => ({
    apiVersion: 'podgroup.dev/v1alpha1',
    kind: 'PodGroup',
    name: 'web',
    uid,
    controller: true,
    ...extra,
  });
  const lookup = (key: string): PodGroup | undefined => (key === 'shop/web' ? web : undefined);

  it('finds the PodGroup named by the controller reference, in the object namespace', () => {
    expect(podGroupKeyOf({ metadata: { namespace: 'shop', ownerReferences: [ref('u1')] } })).toBe('shop/web');
    expect(controllingPodGroup({ metadata: { namespace: 'shop', ownerReferences: [ref('u1')] } }, lookup)).toBe(web);
    // An admitted pod may carry no namespace of its own: the request's is passed.
    expect(controllingPodGroup({ metadata: { ownerReferences: [ref('u1')] } }, lookup, 'shop')).toBe(web);
  });

  it('names no PodGroup for another UID (recreated under the same name, or forged), another namespace or a non-controller reference', () => {
    expect(controllingPodGroup({ metadata: { namespace: 'shop', ownerReferences: [ref('u2')] } }, lookup)).toBeUndefined();
    expect(controllingPodGroup({ metadata: { namespace: 'other', ownerReferences: [ref('u1')] } }, lookup)).toBeUndefined();
    expect(controllingPodGroup({ metadata: { namespace: 'shop', ownerReferences: [ref('u1', { controller: false })] } }, lookup)).toBeUndefined();
    expect(podGroupKeyOf({ metadata: { namespace: 'shop' } })).toBeUndefined();
  });
});
