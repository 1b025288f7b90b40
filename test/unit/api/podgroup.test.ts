import { describe, expect, it } from '@jest/globals';
import { DEFAULT_POD_REPLACEMENT_POLICY, withDefaults, type PodGroup } from '../../../src/api/podgroup.js';

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
