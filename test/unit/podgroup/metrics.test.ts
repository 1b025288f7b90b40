import { describe, expect, it } from '@jest/globals';
import client from 'prom-client';
import type { PodGroup } from '../../../src/api/podgroup.js';
import { registerPodGroupStateMetrics } from '../../../src/podgroup/metrics.js';
import { podGroupSamples } from '../../../src/podgroup/state-metrics.js';
import { spec } from './fixtures.js';

const pg = (name: string, overrides: Partial<PodGroup> = {}): PodGroup => ({
  metadata: { name, namespace: 'ns', generation: 3 },
  spec: spec({ minAvailable: 2 }),
  status: {
    observedGeneration: 2,
    replicas: 4,
    readyReplicas: 3,
    availableReplicas: 2,
    updatedReplicas: 1,
    unavailableReplicas: 2,
    conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }],
  },
  ...overrides,
});

describe('podGroupSamples (kube-state-metrics shape)', () => {
  it('derives every gauge from the object', () => {
    const byName = Object.fromEntries(podGroupSamples(pg('web')).filter((s) => s.gauge !== 'podgroup_status_condition').map((s) => [s.gauge, s.value]));
    expect(byName).toEqual({
      podgroup_spec_replicas: 3,
      podgroup_spec_min_available: 2,
      podgroup_spec_paused: 0,
      podgroup_metadata_generation: 3,
      podgroup_status_observed_generation: 2,
      podgroup_status_replicas: 4,
      podgroup_status_replicas_ready: 3,
      podgroup_status_replicas_available: 2,
      podgroup_status_replicas_updated: 1,
      podgroup_status_replicas_unavailable: 2,
    });
    const conditions = podGroupSamples(pg('web')).filter((s) => s.gauge === 'podgroup_status_condition');
    expect(conditions.map((s) => [s.labels.status, s.value])).toEqual([['true', 0], ['false', 1], ['unknown', 0]]);
    expect(conditions[0]?.labels).toEqual({ namespace: 'ns', podgroup: 'web', condition: 'Progressing', status: 'true', reason: 'ProgressDeadlineExceeded' });
  });
});

describe('registerPodGroupStateMetrics', () => {
  it('reads the cache at scrape time, only on the leader, and leaves no series of a deleted PodGroup', async () => {
    const register = new client.Registry();
    const objects = new Map([['ns/a', pg('a')], ['ns/b', pg('b')]]);
    let leader = false;
    const unregister = registerPodGroupStateMetrics({ store: { list: () => [...objects.values()] }, isLeader: () => leader }, register);
    expect(await register.metrics()).not.toMatch(/^podgroup_spec_replicas\{/m);
    leader = true;
    let text = await register.metrics();
    expect(text).toContain('podgroup_spec_replicas{namespace="ns",podgroup="a"} 3');
    expect(text).toContain('podgroup_status_condition{namespace="ns",podgroup="b",condition="Progressing",status="false",reason="ProgressDeadlineExceeded"} 1');
    objects.delete('ns/a');
    text = await register.metrics();
    expect(text).not.toContain('podgroup="a"');
    expect(text).toContain('podgroup_spec_replicas{namespace="ns",podgroup="b"} 3');
    unregister();
    expect(await register.metrics()).toBe('\n');
  });
});
