// The PodGroup's ReplicaSet half against the real control plane: creates and self-heals its
// pods, scales (deleting unscheduled pods first), replaces failed pods, adopts and releases,
// reports creates refused by admission as ReplicaFailure, and is garbage-collected with its pods.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { GROUP, PLURAL, REVISION_HASH_LABEL, VERSION } from '../../../src/api/podgroup.js';
import { isScheduled, isTerminating } from '../../../src/podgroup/pod-state.js';
import { contentHash } from '../../../src/podgroup/revisions.js';
import { clusterState, createNamespace, eventually, kubeConfig } from '../support/cluster.js';
import { killAll } from '../support/processes.js';
import {
  apps,
  core,
  createPodGroup,
  custom,
  getPodGroup,
  patchPodGroup,
  podGroupManifest,
  podsOf,
  startManager,
  waitForRollout,
  type RunningManager,
} from '../support/podgroups.js';

const admission = kubeConfig().makeApiClient(k8s.AdmissionregistrationV1Api);
const kubectl = (...args: string[]): string => execFileSync('kubectl', ['--kubeconfig', clusterState().kubeconfig, ...args], { encoding: 'utf8' });

describe('PodGroup lifecycle', () => {
  let ns: { name: string; remove: () => Promise<void> };
  let manager: RunningManager;
  beforeAll(async () => {
    ns = await createNamespace('e2e-pg-life');
    manager = await startManager();
  });
  afterAll(async () => {
    await manager?.stop();
    await killAll();
    await ns.remove();
  });

  it('runs 3 pods on kwok nodes with correct status and columns, and replaces a deleted pod', async () => {
    await createPodGroup(ns.name, podGroupManifest('web'));
    const pg = await waitForRollout(ns.name, 'web');
    const pods = await podsOf(ns.name, 'web');
    expect(pods).toHaveLength(3);
    const hash = pg.status?.updateRevision ?? '';
    for (const pod of pods) {
      expect(pod.status?.phase).toBe('Running');
      expect(pod.spec?.nodeName).toMatch(/^kwok-node-/);
      expect(pod.metadata?.name).toMatch(new RegExp(`^web-${hash}-[a-z0-9]{5}$`));
      expect(pod.metadata?.labels?.[REVISION_HASH_LABEL]).toBe(hash);
      const ref = pod.metadata?.ownerReferences?.[0];
      expect(ref).toMatchObject({ kind: 'PodGroup', name: 'web', uid: pg.metadata?.uid, controller: true, blockOwnerDeletion: true });
    }
    expect(pg.status).toMatchObject({ replicas: 3, readyReplicas: 3, availableReplicas: 3, updatedReplicas: 3, unavailableReplicas: 0, selector: 'app=web' });
    expect(pg.status?.conditions?.find((c) => c.type === 'Available')?.status).toBe('True');
    expect(pg.status?.conditions?.find((c) => c.type === 'Progressing')?.reason).toBe('NewReplicaSetAvailable');

    const table = kubectl('get', 'podgroup', 'web', '-n', ns.name).trim().split('\n');
    expect(table[0]).toMatch(/^NAME\s+READY\s+DESIRED\s+UP-TO-DATE\s+AVAILABLE\s+MIN-AVAILABLE\s+AGE$/);
    expect(table[1]).toMatch(/^web\s+3\s+3\s+3\s+3\s+/);
    expect(kubectl('get', 'pgd', '-n', ns.name, '-o', 'name').trim()).toBe('podgroup.podgroup.dev/web');

    const victim = pods[0]?.metadata?.name ?? '';
    await core.deleteNamespacedPod({ name: victim, namespace: ns.name });
    await eventually('a replacement pod', async () => {
      const now = (await podsOf(ns.name, 'web')).filter((p) => !isTerminating(p));
      return now.length === 3 && !now.some((p) => p.metadata?.name === victim) ? now : undefined;
    });
    await waitForRollout(ns.name, 'web');
    const events = await core.listNamespacedEvent({ namespace: ns.name, fieldSelector: 'involvedObject.name=web' });
    expect(events.items.map((e) => e.reason)).toEqual(expect.arrayContaining(['RevisionCreated', 'SuccessfulCreate']));
  });

  it('scales through the scale subresource and deletes unscheduled pods first', async () => {
    // 16-cpu nodes: 6-cpu pods fit 2 per node, so 6 of 10 can be scheduled.
    const base = podGroupManifest('big');
    base.spec.template.spec = {
      containers: [{ name: 'app', image: 'registry.example/big:1', resources: { requests: { cpu: '6' } } }],
      terminationGracePeriodSeconds: 0,
    };
    await createPodGroup(ns.name, base);
    await waitForRollout(ns.name, 'big');
    const firstThree = new Set((await podsOf(ns.name, 'big')).map((p) => p.metadata?.name));

    kubectl('scale', 'podgroup', 'big', '-n', ns.name, '--replicas=10');
    await eventually(
      '10 pods, 6 scheduled and 4 Pending',
      async () => {
        const pods = (await podsOf(ns.name, 'big')).filter((p) => !isTerminating(p));
        const unschedulable = pods.filter((p) => p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False'));
        return pods.length === 10 && pods.filter(isScheduled).length === 6 && unschedulable.length === 4;
      },
      60_000,
    );
    const pg = await eventually('gang condition explains Pending', async () => {
      const got = await getPodGroup(ns.name, 'big');
      const c = got.status?.conditions?.find((x) => x.type === 'GangScheduled');
      return c?.status === 'False' && /Insufficient cpu/.test(c.message ?? '') && got.status?.scheduledReplicas === 6 ? got : undefined;
    });
    expect(pg.status?.replicas).toBe(10);

    kubectl('scale', 'podgroup', 'big', '-n', ns.name, '--replicas=6');
    await eventually(
      'only scheduled pods remain',
      async () => {
        const pods = (await podsOf(ns.name, 'big')).filter((p) => !isTerminating(p));
        return pods.length === 6 && pods.every(isScheduled);
      },
      60_000,
    );
    const remaining = new Set((await podsOf(ns.name, 'big')).map((p) => p.metadata?.name));
    for (const name of firstThree) {
      expect(remaining.has(name)).toBe(true);
    }
    kubectl('scale', 'podgroup', 'big', '-n', ns.name, '--replicas=2');
    const scaled = await waitForRollout(ns.name, 'big');
    expect(scaled.status?.replicas).toBe(2);
    const scale = JSON.parse(kubectl('get', '--raw', `/apis/${GROUP}/${VERSION}/namespaces/${ns.name}/${PLURAL}/big/scale`)) as {
      status: { replicas: number; selector: string };
    };
    expect(scale.status).toEqual({ replicas: 2, selector: 'app=big' });
  });

  it('replaces a Failed pod and keeps it for the user to inspect (left to the pod garbage collector, as a ReplicaSet does)', async () => {
    await createPodGroup(ns.name, podGroupManifest('fails', { replicas: 2 }));
    await waitForRollout(ns.name, 'fails');
    const victim = (await podsOf(ns.name, 'fails'))[0]?.metadata?.name ?? '';
    await core.patchNamespacedPodStatus(
      { name: victim, namespace: ns.name, body: { status: { phase: 'Failed', reason: 'Evicted' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await eventually(
      'failed pod replaced',
      async () => {
        const running = (await podsOf(ns.name, 'fails')).filter((p) => p.metadata?.name !== victim);
        return running.length === 2 && running.every((p) => p.status?.phase === 'Running');
      },
      60_000,
    );
    const kept = await core.readNamespacedPod({ name: victim, namespace: ns.name });
    expect(kept.status?.phase).toBe('Failed');
    expect(kept.metadata?.deletionTimestamp).toBeUndefined();
    // It counts for nothing: the status shows the two running pods.
    await eventually('status of the two running pods', async () => {
      const s = (await getPodGroup(ns.name, 'fails')).status;
      return s?.replicas === 2 && s.availableReplicas === 2;
    });
  });

  it('adopts a matching orphan and releases pods whose labels stop matching', async () => {
    const manifest = podGroupManifest('adopter', { replicas: 1 });
    // The orphan carries the hash of the PodGroup's template, so once adopted it counts as up to date.
    const hash = contentHash({ template: manifest.spec.template }, 0);
    await core.createNamespacedPod({
      namespace: ns.name,
      body: {
        metadata: { name: 'orphan', labels: { app: 'adopter', [REVISION_HASH_LABEL]: hash } },
        spec: { containers: [{ name: 'app', image: 'registry.example/web:1' }], terminationGracePeriodSeconds: 0 },
      },
    });
    await eventually('orphan running', async () => (await core.readNamespacedPod({ name: 'orphan', namespace: ns.name })).status?.phase === 'Running');
    const pg = await createPodGroup(ns.name, manifest);
    // Had the PodGroup created a pod before seeing the orphan, that Pending pod ranks first for deletion.
    await eventually('orphan adopted as the only pod', async () => {
      const pods = (await podsOf(ns.name, 'adopter')).filter((p) => !isTerminating(p));
      const orphan = pods.find((p) => p.metadata?.name === 'orphan');
      return pods.length === 1 && orphan?.metadata?.ownerReferences?.find((r) => r.controller)?.uid === pg.metadata?.uid;
    });
    await patchPodGroup(ns.name, 'adopter', { spec: { replicas: 2 } });
    const converged = await waitForRollout(ns.name, 'adopter');
    expect(converged.status?.updatedReplicas).toBe(2);

    await core.patchNamespacedPod(
      { name: 'orphan', namespace: ns.name, body: { metadata: { labels: { app: 'elsewhere' } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await eventually('released and replaced', async () => {
      const released = await core.readNamespacedPod({ name: 'orphan', namespace: ns.name });
      const pods = (await podsOf(ns.name, 'adopter')).filter((p) => !isTerminating(p));
      return (released.metadata?.ownerReferences ?? []).length === 0 && pods.length === 2;
    });
    await core.deleteNamespacedPod({ name: 'orphan', namespace: ns.name });
    const events = await core.listNamespacedEvent({ namespace: ns.name, fieldSelector: 'involvedObject.name=adopter' });
    expect(events.items.map((e) => e.reason)).toEqual(expect.arrayContaining(['AdoptedPod', 'ReleasedPod']));
  });

  it('reports a create refused by admission as ReplicaFailure and recovers when allowed', async () => {
    const policy = `e2e-deny-${ns.name}`;
    await admission.createValidatingAdmissionPolicy({
      body: {
        metadata: { name: policy },
        spec: {
          failurePolicy: 'Fail',
          matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }] },
          validations: [{ expression: 'false', message: 'pods of app=refused are not allowed in this namespace' }],
        },
      },
    });
    await admission.createValidatingAdmissionPolicyBinding({
      body: {
        metadata: { name: policy },
        spec: {
          policyName: policy,
          validationActions: ['Deny'],
          matchResources: {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns.name } },
            objectSelector: { matchLabels: { app: 'refused' } },
          },
        },
      },
    });
    try {
      await eventually('the policy to deny', async () => {
        try {
          await core.createNamespacedPod({
            namespace: ns.name,
            dryRun: 'All',
            body: { metadata: { name: 'probe', labels: { app: 'refused' } }, spec: { containers: [{ name: 'a', image: 'x' }] } },
          });
          return false;
        } catch {
          return true;
        }
      });
      await createPodGroup(ns.name, podGroupManifest('refused', { replicas: 2 }));
      const failed = await eventually('ReplicaFailure', async () => {
        const got = await getPodGroup(ns.name, 'refused');
        const c = got.status?.conditions?.find((x) => x.type === 'ReplicaFailure');
        return c?.status === 'True' ? c : undefined;
      });
      expect(failed.reason).toBe('FailedCreate');
      expect(failed.message).toMatch(/pods of app=refused are not allowed in this namespace/);
      expect(await podsOf(ns.name, 'refused')).toHaveLength(0);
      const events = await core.listNamespacedEvent({ namespace: ns.name, fieldSelector: 'involvedObject.name=refused,reason=FailedCreate' });
      expect(events.items[0]?.type).toBe('Warning');
    } finally {
      await admission.deleteValidatingAdmissionPolicyBinding({ name: policy });
      await admission.deleteValidatingAdmissionPolicy({ name: policy });
    }
    const pg = await waitForRollout(ns.name, 'refused', 120_000);
    expect(pg.status?.conditions?.some((c) => c.type === 'ReplicaFailure')).toBe(false);
  });

  it('counts a pod available only after minReadySeconds', async () => {
    await createPodGroup(ns.name, podGroupManifest('slow', { replicas: 2, minReadySeconds: 4 }));
    const early = await eventually('ready but not yet available', async () => {
      const got = await getPodGroup(ns.name, 'slow');
      return got.status?.readyReplicas === 2 ? got : undefined;
    });
    expect(early.status?.availableReplicas).toBe(0);
    const later = await waitForRollout(ns.name, 'slow', 30_000);
    expect(later.status?.availableReplicas).toBe(2);
  });

  it('is garbage-collected with its pods and revisions, in background and foreground', async () => {
    for (const propagationPolicy of ['Background', 'Foreground']) {
      const name = `gc-${propagationPolicy.toLowerCase()}`;
      await createPodGroup(ns.name, podGroupManifest(name, { replicas: 2 }));
      await waitForRollout(ns.name, name);
      await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns.name, plural: PLURAL, name, propagationPolicy });
      await eventually(
        `${propagationPolicy}: pods and revisions gone`,
        async () => {
          const pods = await podsOf(ns.name, name);
          const revisions = await apps.listNamespacedControllerRevision({ namespace: ns.name, labelSelector: `${GROUP}/name=${name}` });
          const pgs = (await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns.name, plural: PLURAL })) as {
            items: Array<{ metadata: { name: string } }>;
          };
          return pods.length === 0 && revisions.items.length === 0 && !pgs.items.some((p) => p.metadata.name === name);
        },
        90_000,
      );
    }
  });
});
