import { describe, expect, it } from '@jest/globals';
import type * as k8s from '@kubernetes/client-node';
import type { DefaultedPodGroup, PodGroup } from '../../../src/api/podgroup.js';
import { notReadyCause } from '../../../src/podgroup/pod-state.js';
import { computeStatus, selectorString, statusEvents, type StatusInput } from '../../../src/podgroup/status.js';
import { NOW, pod, pods, spec } from './fixtures.js';

const pg = (overrides: Partial<DefaultedPodGroup> = {}): DefaultedPodGroup => ({
  metadata: { name: 'web', namespace: 'ns', generation: 2 },
  spec: spec(),
  ...overrides,
});
const run = (input: Partial<StatusInput>): ReturnType<typeof computeStatus> =>
  computeStatus({
    pg: pg(),
    pods: [],
    updateHash: 'new',
    collisionCount: 0,
    replicaFailure: undefined,
    sizedForReplicas: undefined,
    revisionCreated: false,
    desiredSizes: new Map([['new', 3]]),
    now: NOW,
    ...input,
  });
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

  it("unavailableReplicas: the revisions' desired counts summed minus available pods (calculateStatus)", () => {
    // A rollout whose surge pod a quota refuses: 3 old available, the new revision wants 1 that does not exist.
    const quotaBlocked = run({
      pods: pods(3, 'old', { hash: 'old' }),
      desiredSizes: new Map([
        ['old', 3],
        ['new', 1],
      ]),
    });
    expect(quotaBlocked.status).toMatchObject({ replicas: 3, availableReplicas: 3, unavailableReplicas: 1 });
    // More available pods than wanted (a scale-down whose deletes are under way): never negative.
    expect(run({ pods: pods(3, 'p'), desiredSizes: new Map([['new', 1]]) }).status.unavailableReplicas).toBe(0);
    // Not ready pods count as unavailable, whatever spec.replicas says.
    const notReady = [...pods(2, 'p'), pod('n', { ready: false })];
    expect(run({ pods: notReady, desiredSizes: new Map([['new', 3]]) }).status.unavailableReplicas).toBe(1);
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
    pending.status?.conditions?.splice(0, 1, {
      type: 'PodScheduled',
      status: 'False',
      reason: 'Unschedulable',
      message: '0/3 nodes are available: 3 Insufficient cpu.',
    });
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

describe('computeStatus: Progressing as syncRolloutStatus', () => {
  const s = spec({
    replicas: 4,
    minReadySeconds: 6,
    progressDeadlineSeconds: 10,
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
  });
  const progressing = (r: ReturnType<typeof computeStatus>) => r.status.conditions?.find((c) => c.type === 'Progressing');

  it('renews lastUpdateTime on every progress, so a slow healthy rollout never times out', () => {
    // t0: 4 old, 1 new just ready; every 6 s one more new pod becomes available.
    let status: PodGroup['status'] = { replicas: 5, updatedReplicas: 1, readyReplicas: 4, availableReplicas: 4, conditions: [] };
    let world = [...pods(4, 'old', { hash: 'old' }), pod('n0', { readySinceMs: 0 })];
    status = run({ pg: pg({ spec: s, status }), pods: world, revisionCreated: true }).status;
    for (let step = 1; step <= 4; step += 1) {
      const now = NOW + step * 6000;
      // One old pod gone, one more new pod: the rollout advances by one every 6 s (> half the deadline).
      world = [...world.slice(1), pod(`n${step}`, { readySinceMs: 0 })];
      const r = run({ pg: pg({ spec: s, status }), pods: world, now });
      expect(progressing(r)).toMatchObject({ status: 'True', reason: 'ReplicaSetUpdated', lastUpdateTime: new Date(now).toISOString().replace('.000Z', 'Z') });
      status = r.status;
    }
  });

  it('losing a pod of a complete PodGroup is no rollout: the condition and its times stay, no event', () => {
    const complete = run({ pg: pg({ spec: spec({ replicas: 3 }) }), pods: pods(3, 'p') });
    const after = run({ pg: pg({ spec: spec({ replicas: 3 }), status: complete.status }), pods: pods(2, 'q'), now: NOW + 5000 });
    expect(progressing(after)).toEqual(progressing(complete));
    expect(statusEvents(complete.status.conditions ?? [], after.status.conditions ?? [])).toEqual([]);
  });

  it('progressDeadlineSeconds MaxInt32 means no deadline: no Progressing condition, no re-check timer', () => {
    const r = run({ pg: pg({ spec: spec({ progressDeadlineSeconds: 2147483647 }) }), pods: pods(1, 'p'), revisionCreated: true });
    expect(progressing(r)).toBeUndefined();
    expect(r.recheckAfterMs).toBeUndefined();
  });

  it('announces completion once, as an event on the transition only', () => {
    const before = run({ pg: pg(), pods: pods(2, 'p'), revisionCreated: true });
    const done = run({ pg: pg({ status: before.status }), pods: pods(3, 'p') });
    expect(statusEvents(before.status.conditions ?? [], done.status.conditions ?? [])).toEqual([expect.objectContaining({ reason: 'RolloutComplete' })]);
    const again = run({ pg: pg({ status: done.status }), pods: pods(3, 'p'), now: NOW + 1000 });
    expect(statusEvents(done.status.conditions ?? [], again.status.conditions ?? [])).toEqual([]);
  });
});

describe('why pods are not available', () => {
  const withStatuses = (name: string, init: k8s.V1ContainerStatus[], containers: k8s.V1ContainerStatus[] = []): k8s.V1Pod => {
    const p = pod(name, { ready: false });
    return { ...p, status: { ...p.status, initContainerStatuses: init, containerStatuses: containers } };
  };
  const crashing: k8s.V1ContainerStatus = {
    name: 'git-sync',
    image: 'git-sync',
    imageID: '',
    ready: false,
    restartCount: 3,
    state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container' } },
    lastState: { terminated: { exitCode: 1, reason: 'Error' } },
  };
  const appWaiting: k8s.V1ContainerStatus = {
    name: 'app',
    image: 'x',
    imageID: '',
    ready: false,
    restartCount: 0,
    state: { waiting: { reason: 'PodInitializing' } },
  };

  it('names a crash-looping init or sidecar container, stably across restarts', () => {
    expect(notReadyCause(withStatuses('a', [crashing], [appWaiting]))).toBe('container git-sync keeps failing (exit code 1, Error)');
    const restarted = withStatuses('a', [{ ...crashing, restartCount: 9, state: { running: { startedAt: new Date(NOW) } } }], [appWaiting]);
    expect(notReadyCause(restarted)).toBe('container git-sync keeps failing (exit code 1, Error)');
    expect(notReadyCause(withStatuses('b', [], [{ ...appWaiting, state: { waiting: { reason: 'ErrImageNeverPull' } } }]))).toBe(
      'container app waiting: ErrImageNeverPull',
    );
    expect(notReadyCause(withStatuses('c', [], [appWaiting]))).toBeUndefined();
  });

  it('puts the most common causes into the Available=False message', () => {
    const r = run({ pods: [withStatuses('a', [crashing], [appWaiting]), withStatuses('b', [crashing], [appWaiting]), pod('c')] });
    expect(condition(r, 'Available')).toMatchObject({
      status: 'False',
      reason: 'MinimumReplicasUnavailable',
      message: 'PodGroup does not have minimum availability. 2 pods: container git-sync keeps failing (exit code 1, Error).',
    });
  });
});
