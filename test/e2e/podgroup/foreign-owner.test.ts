// The controller looks for a PodGroup's pods and revisions in the PodGroup's own namespace only,
// as kube-controller-manager does. The attack: a tenant who can create pods in namespace B and
// read namespace A creates pods in B with a controller owner reference to A's PodGroup, its
// labels and revision hash, and a finalizer; counted as A's (terminating) pods they would stop A
// from replacing pods and rolling out, and as A's active pods they would make A delete its own.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type * as k8s from '@kubernetes/client-node';
import { API_VERSION, KIND, REVISION_HASH_LABEL } from '../../../src/api/podgroup.js';
import { createNamespace, eventually } from '../support/cluster.js';
import { killAll } from '../support/processes.js';
import { core, createPodGroup, podGroupManifest, podsOf, setImage, startManager, waitForRollout, type RunningManager } from '../support/podgroups.js';

const HOLD = 'podgroup.dev/e2e-hold';

describe('owner lookups stay in the PodGroup namespace', () => {
  let victim: { name: string; remove: () => Promise<void> };
  let attacker: { name: string; remove: () => Promise<void> };
  let manager: RunningManager;
  beforeAll(async () => {
    victim = await createNamespace('e2e-owner-a');
    attacker = await createNamespace('e2e-owner-b');
    manager = await startManager();
  });
  afterAll(async () => {
    for (const p of (await core.listNamespacedPod({ namespace: attacker.name })).items) {
      await core
        .patchNamespacedPod({ name: p.metadata?.name ?? '', namespace: attacker.name, body: [{ op: 'remove', path: '/metadata/finalizers' }] })
        .catch(() => undefined);
    }
    await manager?.stop();
    await killAll();
    await Promise.all([victim?.remove(), attacker?.remove()]);
  });

  it('pods in another namespace naming the PodGroup as controller (held Terminating) neither stall it nor cost it pods', async () => {
    // The strictest policy (terminating pods count) and no surge: the attack's best case. The
    // default scheduler: this tests the controller, not the extender.
    const manifest = podGroupManifest('web', {
      replicas: 3,
      podReplacementPolicy: 'TerminationComplete',
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
    });
    manifest.spec.template.spec = {
      ...manifest.spec.template.spec,
      containers: manifest.spec.template.spec?.containers ?? [],
      schedulerName: 'default-scheduler',
    };
    const created = await createPodGroup(victim.name, manifest);
    const converged = await waitForRollout(victim.name, 'web');
    const hash = converged.status?.updateRevision ?? '';
    const ownerReference: k8s.V1OwnerReference = { apiVersion: API_VERSION, kind: KIND, name: 'web', uid: created.metadata?.uid ?? '', controller: true };
    const forged = (i: number): k8s.V1Pod => ({
      metadata: {
        name: `forged-${i}`,
        labels: { app: 'web', [REVISION_HASH_LABEL]: hash, 'pod-template-hash': hash },
        ownerReferences: [ownerReference],
        finalizers: [HOLD],
      },
      // Never scheduled: no scheduler has this name.
      spec: { schedulerName: 'nobody', containers: [{ name: 'app', image: 'registry.example/web:1' }] },
    });
    for (let i = 0; i < 4; i += 1) {
      await core.createNamespacedPod({ namespace: attacker.name, body: forged(i) });
    }
    // Three held Terminating (the garbage collector would delete the rest: their owner is not in B).
    for (let i = 0; i < 3; i += 1) {
      await core.deleteNamespacedPod({ name: `forged-${i}`, namespace: attacker.name });
    }
    const mine = async (): Promise<string[]> => (await podsOf(victim.name, 'web')).map((p) => p.metadata?.name ?? '').sort();
    const before = await mine();

    // A lost pod is replaced, and a rollout completes.
    await core.deleteNamespacedPod({ name: before[0] ?? '', namespace: victim.name });
    await eventually('the lost pod replaced', async () => (await mine()).length === 3 && !(await mine()).includes(before[0] ?? ''), 60_000, 300);
    expect((await mine()).filter((n) => before.includes(n))).toEqual(before.slice(1));
    await setImage(victim.name, 'web', 'registry.example/web:2');
    const rolled = await waitForRollout(victim.name, 'web');
    expect(rolled.status).toMatchObject({ replicas: 3, availableReplicas: 3, updatedReplicas: 3, terminatingReplicas: 0 });

    // Nothing in B was touched by the controller: still naming the PodGroup, never deleted by it.
    const left = (await core.listNamespacedPod({ namespace: attacker.name })).items;
    expect(left.map((p) => p.metadata?.name).sort()).toEqual(['forged-0', 'forged-1', 'forged-2', 'forged-3']);
    for (const p of left) {
      expect(p.metadata?.ownerReferences).toEqual([expect.objectContaining({ uid: ownerReference.uid, controller: true })]);
    }
    const events = (await core.listNamespacedEvent({ namespace: victim.name, fieldSelector: 'involvedObject.name=web' })).items;
    expect(events.filter((e) => /forged/.test(e.message ?? ''))).toEqual([]);
  }, 240_000);
});
