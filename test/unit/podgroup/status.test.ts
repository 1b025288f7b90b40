import { describe, expect, it } from '@jest/globals';
import type { PodGroup } from '../../../src/api/podgroup.js';
import { computeStatus, selectorString, type StatusInput } from '../../../src/podgroup/status.js';
import { NOW, pod, pods, spec } from './fixtures.js';

const pg = (overrides: Partial<PodGroup> = {}): PodGroup => ({ metadata: { name: 'web', namespace: 'ns', generation: 2 }, spec: spec(), ...overrides });
const run = (input: Partial<StatusInput>): ReturnType<typeof computeStatus> =>
  computeStatus({ pg: pg(), pods: [], updateHash: 'new', collisionCount: 0, replicaFailure: undefined, sizedForReplicas: undefined, revisionCreated: false, now: NOW, ...input });
const condition = (r: ReturnType<typeof computeStatus>, type: string) => r.status.conditions?.find((c) => c.type === type);

describe('computeStatus', () => {
  it('counts pods and reports a complete rollout', () => {
    const r = run({ pods: [...pods(3, 'p'), pod('t', { terminating: true })] });
    expect(r.status).toMatchObject({
      observedGeneration: 2,
      replicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
      updatedReplicas: 3,
      unavailableReplicas: 0,
      terminatingReplicas: 1,
      scheduledReplicas: 3,
      currentRevision: 'new',
      updateRevision: 'new',
      selector: 'app=web',
    });
    expect(condition(r, 'Available')).toMatchObject({ status: 'True', reason: 'MinimumReplicasAvailable' });
    expect(condition(r, 'Progressing')).toMatchObject({ status: 'True', reason: 'NewReplicaSetAvailable' });
    expect(condition(r, 'GangScheduled')).toMatchObject({ status: 'True' });
  });

  it('is identical when nothing changed (an idle controller writes nothing)', () => {
    const first = run({ pods: pods(3, 'p') });
    const again = run({ pg: pg({ status: first.status }), pods: pods(3, 'p'), now: NOW + 60_000 });
    expect(again.status).toEqual(first.status);
  });

  it('times out a rollout that makes no progress', () => {
    const s = spec({ progressDeadlineSeconds: 10 });
    const stuckPods = [...pods(3, 'old', { hash: 'old' }), pod('n', { scheduled: false, ready: false })];
    // Before: 3 pods of the old revision, all updated then, all available.
    const before = { replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3 };
    const started = run({ pg: pg({ spec: s, status: before }), pods: stuckPods, revisionCreated: true });
    expect(condition(started, 'Progressing')).toMatchObject({ status: 'True', reason: 'NewReplicaSetCreated' });
    expect(started.recheckAfterMs).toBe(10_000);
    const waiting = run({ pg: pg({ spec: s, status: started.status }), pods: stuckPods, now: NOW + 4000 });
    expect(waiting.recheckAfterMs).toBe(6000);
    const late = run({ pg: pg({ spec: s, status: started.status }), pods: stuckPods, now: NOW + 11_000 });
    expect(condition(late, 'Progressing')).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded' });
  });

  it('explains Pending members and a refused create', () => {
    const pending = pod('p', { scheduled: false, ready: false });
    pending.status?.conditions?.splice(0, 1, { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available: 3 Insufficient cpu.' });
    const r = run({ pods: [pending], replicaFailure: { reason: 'FailedCreate', message: 'pods "x" is forbidden: exceeded quota' } });
    expect(condition(r, 'GangScheduled')).toMatchObject({ status: 'False', message: '1 member(s) Pending: 0/3 nodes are available: 3 Insufficient cpu.' });
    expect(condition(r, 'ReplicaFailure')).toMatchObject({ status: 'True', reason: 'FailedCreate', message: 'pods "x" is forbidden: exceeded quota' });
    expect(condition(r, 'Available')).toMatchObject({ status: 'False', reason: 'MinimumReplicasUnavailable' });
  });

  it('reports paused and resumed', () => {
    const paused = run({ pg: pg({ spec: spec({ paused: true }) }), pods: pods(3, 'p') });
    expect(condition(paused, 'Progressing')).toMatchObject({ status: 'Unknown', reason: 'DeploymentPaused' });
    const resumed = run({ pg: pg({ status: paused.status }), pods: pods(3, 'old', { hash: 'old' }) });
    expect(condition(resumed, 'Progressing')).toMatchObject({ status: 'Unknown', reason: 'DeploymentResumed' });
  });

  it('formats selectors as the scale subresource expects', () => {
    expect(
      selectorString({
        matchLabels: { b: '2', a: '1' },
        matchExpressions: [
          { key: 'env', operator: 'In', values: ['prod', 'dev'] },
          { key: 'x', operator: 'Exists' },
          { key: 'y', operator: 'DoesNotExist' },
        ],
      }),
    ).toBe('a=1,b=2,env in (dev,prod),x,!y');
  });
});
