// The PodGroup's Deployment half against the real control plane: rolling updates that a pod
// watcher checks at every event, revisions and server-side rollback, Recreate, paused,
// progress deadline, a manager killed mid-rollout, and an idle controller that writes nothing.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { GROUP, REVISION_HASH_LABEL, ROLLBACK_ANNOTATION } from '../../../src/api/podgroup.js';
import { isTerminating } from '../../../src/podgroup/pod-state.js';
import { createNamespace, eventually } from '../support/cluster.js';
import { killAll } from '../support/processes.js';
import {
  apiRequests,
  apps,
  core,
  createPodGroup,
  getPodGroup,
  patchPodGroup,
  podGroupManifest,
  podsOf,
  PodWatcher,
  reconcileCount,
  setImage,
  startManager,
  waitForRollout,
  type RunningManager,
} from '../support/podgroups.js';

describe('PodGroup rollouts', () => {
  let ns: { name: string; remove: () => Promise<void> };
  let manager: RunningManager;
  const watchers: PodWatcher[] = [];
  beforeAll(async () => {
    ns = await createNamespace('e2e-pg-roll');
    manager = await startManager();
  });
  afterAll(async () => {
    watchers.forEach((w) => w.stop());
    await manager?.stop();
    await killAll();
    await ns.remove();
  });

  async function watch(name: string, maxPods: number, minAvailable: number): Promise<PodWatcher> {
    const watcher = new PodWatcher(ns.name, `app=${name}`, { maxPods, minAvailable });
    watchers.push(watcher);
    await watcher.start();
    return watcher;
  }

  it('rolls out within maxSurge/maxUnavailable at every observed instant, keeps revisions, and rolls back', async () => {
    const strategy = { type: 'RollingUpdate' as const, rollingUpdate: { maxSurge: 2, maxUnavailable: 1 } };
    await createPodGroup(ns.name, podGroupManifest('web', { replicas: 6, strategy, podReplacementPolicy: 'TerminationComplete' }, 'registry.example/web:1'));
    const v1 = await waitForRollout(ns.name, 'web');
    const watcher = await watch('web', 6 + 2, 6 - 1);

    await setImage(ns.name, 'web', 'registry.example/web:2');
    const v2 = await waitForRollout(ns.name, 'web');
    expect(v2.status?.updateRevision).not.toBe(v1.status?.updateRevision);
    expect(v2.status?.currentRevision).toBe(v2.status?.updateRevision);
    const pods = await podsOf(ns.name, 'web');
    expect(pods.every((p) => p.spec?.containers[0]?.image === 'registry.example/web:2')).toBe(true);
    expect(watcher.violations).toEqual([]);
    expect(watcher.maxSeen).toBeGreaterThan(6); // it did surge
    expect(watcher.events).toBeGreaterThan(12);

    const revisions = (await apps.listNamespacedControllerRevision({ namespace: ns.name, labelSelector: `${GROUP}/name=web` })).items;
    expect(revisions.map((r) => r.revision).sort()).toEqual([1, 2]);
    expect(revisions.map((r) => r.metadata?.labels?.[REVISION_HASH_LABEL]).sort()).toEqual([v1.status?.updateRevision, v2.status?.updateRevision].sort());

    // Server-side rollback: annotate with the revision number.
    await patchPodGroup(ns.name, 'web', { metadata: { annotations: { [ROLLBACK_ANNOTATION]: '1' } } });
    const back = await eventually('template restored', async () => {
      const pg = await getPodGroup(ns.name, 'web');
      return pg.spec.template.spec?.containers[0]?.image === 'registry.example/web:1' && pg.metadata?.annotations?.[ROLLBACK_ANNOTATION] === undefined
        ? pg
        : undefined;
    });
    expect(back.spec.template.spec?.containers[0]?.image).toBe('registry.example/web:1');
    const rolledBack = await waitForRollout(ns.name, 'web');
    expect(rolledBack.status?.updateRevision).toBe(v1.status?.updateRevision);
    expect((await podsOf(ns.name, 'web')).every((p) => p.spec?.containers[0]?.image === 'registry.example/web:1')).toBe(true);
    const after = (await apps.listNamespacedControllerRevision({ namespace: ns.name, labelSelector: `${GROUP}/name=web` })).items;
    // The old revision is reused under the next number, as StatefulSet and Deployment do.
    expect(after.find((r) => r.metadata?.labels?.[REVISION_HASH_LABEL] === v1.status?.updateRevision)?.revision).toBe(3);
    expect(watcher.violations).toEqual([]);

    await patchPodGroup(ns.name, 'web', { metadata: { annotations: { [ROLLBACK_ANNOTATION]: '42' } } });
    await eventually('a warning for an unknown revision', async () => {
      const events = await core.listNamespacedEvent({ namespace: ns.name, fieldSelector: 'involvedObject.name=web,reason=RollbackRevisionNotFound' });
      return events.items.length > 0;
    });
  });

  it('honours the default 25% bounds with terminating pods counted (TerminationComplete, the opt-in)', async () => {
    await createPodGroup(ns.name, podGroupManifest('dflt', { replicas: 4, podReplacementPolicy: 'TerminationComplete' }));
    await waitForRollout(ns.name, 'dflt');
    const watcher = await watch('dflt', 4 + 1, 4 - 1);
    await setImage(ns.name, 'dflt', 'registry.example/dflt:2');
    await waitForRollout(ns.name, 'dflt');
    expect(watcher.violations).toEqual([]);
  });

  it('TerminationStarted replaces pods as soon as they start terminating; held terminating pods do not count against maxSurge', async () => {
    // A finalizer keeps deleted pods Terminating (kwok would otherwise remove them at once).
    const hold = 'podgroup.dev/e2e-hold';
    const pg = podGroupManifest('started', {
      replicas: 3,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      podReplacementPolicy: 'TerminationStarted',
    });
    pg.spec.template.metadata = { ...pg.spec.template.metadata, finalizers: [hold] };
    try {
      await createPodGroup(ns.name, pg);
      await waitForRollout(ns.name, 'started');
      const watcher = new PodWatcher(ns.name, 'app=started', { maxPods: 3 + 1, minAvailable: 3, countTerminating: false });
      watchers.push(watcher);
      await watcher.start();
      await setImage(ns.name, 'started', 'registry.example/started:2');
      await eventually(
        'the new pods ready while the old ones are still terminating',
        async () => {
          const pods = await podsOf(ns.name, 'started');
          const active = pods.filter((p) => !isTerminating(p));
          return (
            active.length === 3 &&
            active.every(
              (p) =>
                p.spec?.containers[0]?.image === 'registry.example/started:2' &&
                (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
            ) &&
            pods.filter(isTerminating).length === 3
          );
        },
        120_000,
      );
      expect(watcher.violations).toEqual([]);
      // All six existed at once: the three terminating ones were not counted against maxSurge.
      expect(watcher.maxSeen).toBe(6);
      await eventually('status.terminatingReplicas 3', async () => (await getPodGroup(ns.name, 'started')).status?.terminatingReplicas === 3);
    } finally {
      for (const p of await podsOf(ns.name, 'started')) {
        await core
          .patchNamespacedPod({ name: p.metadata?.name ?? '', namespace: ns.name, body: [{ op: 'remove', path: '/metadata/finalizers' }] })
          .catch(() => undefined);
      }
    }
  });

  it('Recreate removes every old pod before creating new ones', async () => {
    await createPodGroup(ns.name, podGroupManifest('recreate', { replicas: 3, strategy: { type: 'Recreate' } }));
    await waitForRollout(ns.name, 'recreate');
    const watcher = await watch('recreate', 3, 0);
    await setImage(ns.name, 'recreate', 'registry.example/recreate:2');
    await waitForRollout(ns.name, 'recreate');
    // Old and new pods never existed at the same time, terminating ones included.
    expect(watcher.maxRevisionsAtOnce).toBe(1);
    expect(watcher.violations).toEqual([]);
    expect(watcher.minAvailableSeen).toBe(0);
  });

  it('records but does not roll out template changes while paused, then resumes', async () => {
    await createPodGroup(ns.name, podGroupManifest('paused', { replicas: 2 }));
    const v1 = await waitForRollout(ns.name, 'paused');
    await patchPodGroup(ns.name, 'paused', { spec: { paused: true } });
    await setImage(ns.name, 'paused', 'registry.example/paused:2');
    const observed = await eventually('new generation observed while paused', async () => {
      const pg = await getPodGroup(ns.name, 'paused');
      return pg.status?.observedGeneration === pg.metadata?.generation ? pg : undefined;
    });
    expect(observed.status?.conditions?.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'Unknown', reason: 'DeploymentPaused' });
    expect(observed.status?.updatedReplicas).toBe(0);
    const pods = (await podsOf(ns.name, 'paused')).filter((p) => !isTerminating(p));
    expect(pods.map((p) => p.metadata?.labels?.[REVISION_HASH_LABEL])).toEqual([v1.status?.updateRevision, v1.status?.updateRevision]);

    await patchPodGroup(ns.name, 'paused', { spec: { paused: false } });
    const resumed = await waitForRollout(ns.name, 'paused');
    expect(resumed.status?.updateRevision).not.toBe(v1.status?.updateRevision);
  });

  it('sets ProgressDeadlineExceeded when a rollout cannot progress', async () => {
    const pg = podGroupManifest('stuck', { replicas: 2, progressDeadlineSeconds: 3 });
    pg.spec.template.spec = { ...pg.spec.template.spec, containers: pg.spec.template.spec?.containers ?? [], nodeSelector: { 'no-such-label': 'anywhere' } };
    await createPodGroup(ns.name, pg);
    const condition = await eventually(
      'ProgressDeadlineExceeded',
      async () => {
        const got = await getPodGroup(ns.name, 'stuck');
        const c = got.status?.conditions?.find((x) => x.type === 'Progressing');
        return c?.reason === 'ProgressDeadlineExceeded' ? c : undefined;
      },
      30_000,
    );
    expect(condition.status).toBe('False');
    const events = await core.listNamespacedEvent({ namespace: ns.name, fieldSelector: 'involvedObject.name=stuck,reason=ProgressDeadlineExceeded' });
    expect(events.items[0]?.type).toBe('Warning');
  });

  it('finishes a rollout after the manager is killed mid-way, never exceeding the surge bound', async () => {
    const strategy = { type: 'RollingUpdate' as const, rollingUpdate: { maxSurge: 2, maxUnavailable: 0 } };
    await createPodGroup(ns.name, podGroupManifest('restart', { replicas: 10, strategy, minReadySeconds: 1, podReplacementPolicy: 'TerminationComplete' }));
    await waitForRollout(ns.name, 'restart');
    const watcher = await watch('restart', 12, 10);
    await setImage(ns.name, 'restart', 'registry.example/restart:2');
    await eventually(
      'rollout under way',
      async () => {
        const pg = await getPodGroup(ns.name, 'restart');
        const updated = pg.status?.updatedReplicas ?? 0;
        return updated >= 2 && updated < 8;
      },
      60_000,
      20,
    );
    await manager.proc.kill('SIGKILL');
    manager = await startManager();
    const done = await waitForRollout(ns.name, 'restart', 120_000);
    expect(done.status?.updatedReplicas).toBe(10);
    expect(watcher.violations).toEqual([]);
    expect(watcher.maxSeen).toBeLessThanOrEqual(12);
  });

  it('performs no API writes while nothing changes (60 s)', async () => {
    await waitForRollout(ns.name, 'web');
    // Namespaces of earlier test files may still be tearing down (their pods and PodGroups change).
    await eventually(
      'no namespace terminating',
      async () => {
        const list = await core.listNamespace();
        return !list.items.some((n) => n.status?.phase === 'Terminating');
      },
      180_000,
      500,
    );
    // Let in-flight work settle: no reconcile for a moment.
    let last = await reconcileCount(manager);
    await eventually(
      'reconciles to settle',
      async () => {
        const now = await reconcileCount(manager);
        const settled = now === last;
        last = now;
        return settled;
      },
      30_000,
      2000,
    );
    const writes = (): Promise<number> => apiRequests(manager, ['POST', 'PUT', 'PATCH', 'DELETE']);
    const before = await writes();
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      expect(await writes()).toBe(before);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    process.stderr.write(`idle for 60 s: ${(await writes()) - before} API writes\n`);
  });
});
