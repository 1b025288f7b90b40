// Deployment conformance, upstream as the oracle: ports of upstream test/e2e/apps/deployment.go
// and replicaset.go scenarios, and a regression scenario for each divergence the PodGroup had,
// each run on a Deployment (reference kube-controller-manager) and a PodGroup side by side and
// compared (harness.ts, differences declared in docs/conformance.md).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { startReferenceKcm, stopReferenceKcm } from '../../../hack/cluster/reference-kcm.js';
import { GROUP, PLURAL, REVISION_SIDECARS_ANNOTATION, VERSION, type PodGroup } from '../../../src/api/podgroup.js';
import { clusterState, createNamespace, eventually, kubeConfig } from '../support/cluster.js';
import { killAll } from '../support/processes.js';
import { apps, core, custom, getPodGroup, mergePatch, reconcileCount, startManager, type RunningManager } from '../support/podgroups.js';
import { checkDeclarations } from './differences.js';
import { inNamespace, NOWHERE, runScenario, type Pair, type Step, type WorkloadSpec } from './harness.js';

const rolling = (maxSurge: number | string, maxUnavailable: number | string): WorkloadSpec['strategy'] => ({
  type: 'RollingUpdate',
  rollingUpdate: { maxSurge, maxUnavailable },
});
const admission = kubeConfig().makeApiClient(k8s.AdmissionregistrationV1Api);

describe('Deployment conformance: the same operations on a Deployment and a PodGroup end equal', () => {
  let manager: RunningManager;
  const namespaces: { name: string; remove: () => Promise<void> }[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    checkDeclarations();
    await startReferenceKcm(clusterState());
    manager = await startManager();
  });
  afterAll(async () => {
    for (const cleanup of cleanups) {
      await cleanup().catch(() => undefined);
    }
    await manager?.stop();
    await killAll();
    await stopReferenceKcm(clusterState());
    await Promise.all(namespaces.map((ns) => ns.remove()));
  });

  async function namespace(prefix: string): Promise<string> {
    const ns = await createNamespace(`conf-${prefix}`);
    namespaces.push(ns);
    return ns.name;
  }

  async function scenario(prefix: string, spec: WorkloadSpec, steps: Step[]) {
    return runScenario(inNamespace(await namespace(prefix), prefix), spec, steps, { label: prefix });
  }

  // Ports of upstream test/e2e/apps/deployment.go and replicaset.go.
  it.concurrent('RollingUpdateDeployment: a new template replaces every pod', async () => {
    const r = await scenario('rolling', { replicas: 4, strategy: rolling(1, 1) }, [{ op: { op: 'image', image: 'registry.example/app:2' } }]);
    expect(r.podGroup.pods).toEqual({ 'registry.example/app:2': { total: 4, ready: 4, available: 4, terminating: 0 } });
  });

  it.concurrent('RecreateDeployment: all old pods go before new ones come', async () => {
    const r = await scenario('recreate', { replicas: 3, strategy: { type: 'Recreate' } }, [{ op: { op: 'image', image: 'registry.example/app:2' } }]);
    const mixed = r.timelines.podGroup.filter(
      (e) => Object.keys(e.observed.pods).length > 1 && Object.values(e.observed.pods).every((p) => p.total - p.terminating > 0),
    );
    expect(mixed).toEqual([]);
  });

  it.concurrent('rollover: a template that replaces a stuck one mid-rollout', async () => {
    await scenario('rollover', { replicas: 4, strategy: rolling(1, 1) }, [
      { op: { op: 'unschedulable' }, compare: true },
      { op: { op: 'image', image: 'registry.example/app:2' }, compare: true },
      { op: { op: 'schedulable' } },
    ]);
  });

  it.concurrent('iterative rollouts and revision history cleanup (revisionHistoryLimit 1)', async () => {
    const r = await scenario('history', { replicas: 2, revisionHistoryLimit: 1 }, [
      { op: { op: 'image', image: 'registry.example/app:2' } },
      { op: { op: 'image', image: 'registry.example/app:3' } },
      { op: { op: 'image', image: 'registry.example/app:4' } },
    ]);
    expect(r.podGroup.revisions).toBe(2);
  });

  it.concurrent('rollback to the previous revision', async () => {
    const r = await scenario('rollback', { replicas: 3 }, [{ op: { op: 'image', image: 'registry.example/app:2' } }, { op: { op: 'rollback' } }]);
    expect(Object.keys(r.podGroup.pods)).toEqual(['registry.example/app:1']);
  });

  it.concurrent('pause, change the template and scale while paused, resume', async () => {
    await scenario('paused', { replicas: 3, strategy: rolling(1, 0) }, [
      { op: { op: 'pause' } },
      { op: { op: 'image', image: 'registry.example/app:2' }, compare: true },
      { op: { op: 'scale', replicas: 5 }, compare: true },
      { op: { op: 'resume' } },
    ]);
  });

  it.concurrent('proportional scaling up of a stuck rollout (divergence 1, upstream "proportional scaling")', async () => {
    await scenario('propup', { replicas: 10, strategy: rolling(3, 2) }, [
      { op: { op: 'unschedulable' }, compare: true },
      { op: { op: 'scale', replicas: 20 } },
    ]);
  });

  it.concurrent('scaling a stuck rollout down keeps old and new in proportion (divergence 1)', async () => {
    await scenario('propdown', { replicas: 10, strategy: rolling(3, 2) }, [{ op: { op: 'unschedulable' } }, { op: { op: 'scale', replicas: 2 } }]);
  });

  it.concurrent('a pod of the old revision lost in the middle of a stuck rollout comes back in the old revision', async () => {
    const r = await scenario('lostold', { replicas: 3, strategy: rolling(1, 0) }, [
      { op: { op: 'unschedulable' }, compare: true },
      { op: { op: 'deletePods', count: 1, of: 'old' }, compare: true },
    ]);
    expect(r.podGroup.pods['registry.example/app:1']).toMatchObject({ total: 3, available: 3 });
  });

  it.concurrent('while paused, a lost pod of the new revision comes back in the new revision', async () => {
    await scenario('lostpaused', { replicas: 1, strategy: rolling(1, 0) }, [
      { op: { op: 'unschedulable' } },
      { op: { op: 'pause' } },
      { op: { op: 'deletePods', count: 1 }, compare: true },
      { op: { op: 'image', image: 'registry.example/app:2' } },
    ]);
  });

  it.concurrent('progress deadline exceeded on a stuck rollout', async () => {
    const r = await scenario('deadline', { replicas: 2, progressDeadlineSeconds: 3 }, [
      { op: { op: 'unschedulable' }, options: { until: (o) => o.conditions.Progressing === 'False/ProgressDeadlineExceeded' } },
    ]);
    expect(r.podGroup.conditions.Progressing).toBe('False/ProgressDeadlineExceeded');
  });

  it.concurrent('orphaning and adoption: delete --cascade=orphan and re-apply rolls nothing (divergence 2)', async () => {
    const ns = await namespace('orphan');
    const pair = inNamespace(ns, 'orphan');
    const podNames = async (): Promise<string[]> =>
      (await core.listNamespacedPod({ namespace: ns, labelSelector: `app=${pair.apps[1]}` })).items.map((p) => p.metadata?.name ?? '').sort();
    let before: string[] = [];
    const r = await runScenario(pair, { replicas: 3 }, [
      { action: { label: 'remember pods', run: async () => void (before = await podNames()) } },
      { op: { op: 'orphanRecreate' } },
    ]);
    expect(await podNames()).toEqual(before);
    expect(r.podGroup.status.collisionCount ?? 0).toBe(0);
    expect(r.podGroup.revisions).toBe(1);
    const orphanRevisions = (await apps.listNamespacedControllerRevision({ namespace: ns })).items.filter(
      (c) => (c.metadata?.ownerReferences ?? []).length === 0,
    );
    expect(orphanRevisions).toEqual([]);
  });

  it.concurrent('a pod relabelled out of the selector is released and replaced (replicaset.go)', async () => {
    const ns = await namespace('release');
    const pair = inNamespace(ns, 'release');
    await runScenario(pair, { replicas: 3 }, [{ op: { op: 'relabelPod' } }]);
    const released = (await core.listNamespacedPod({ namespace: ns, labelSelector: `app=${pair.apps[1]}-released` })).items;
    expect(released).toHaveLength(1);
    expect(released[0]?.metadata?.ownerReferences ?? []).toEqual([]);
  });

  it.concurrent('the scale subresource', async () => {
    await scenario('scale', { replicas: 2 }, [{ op: { op: 'scaleSubresource', replicas: 4 } }, { op: { op: 'scaleSubresource', replicas: 1 } }]);
  });

  it.concurrent('a ResourceQuota that refuses creates: ReplicaFailure/FailedCreate', async () => {
    const nsD = await namespace('quota');
    const nsP = await namespace('quota');
    for (const ns of [nsD, nsP]) {
      await core.createNamespacedResourceQuota({ namespace: ns, body: { metadata: { name: 'pods' }, spec: { hard: { pods: '2' } } } });
      // No resourcequota controller runs here: the usage it would compute is written by hand (admission then keeps it).
      await core.patchNamespacedResourceQuotaStatus(
        { name: 'pods', namespace: ns, body: { status: { hard: { pods: '2' }, used: { pods: '0' } } } },
        mergePatch,
      );
    }
    const pair: Pair = { namespaces: [nsD, nsP], names: ['quota', 'quota'], apps: ['quota', 'quota'] };
    const r = await runScenario(pair, { replicas: 3 }, [], { label: 'quota', until: (o) => o.conditions.ReplicaFailure === 'True/FailedCreate' });
    expect(r.podGroup.conditions.ReplicaFailure).toBe('True/FailedCreate');
  });

  // The divergences, each a scenario that failed before its fix.
  it.concurrent('refused pod deletes: reported as ReplicaFailure/FailedDelete, the manager survives, the rollout resumes (divergence 3)', async () => {
    const ns = await namespace('refused');
    const name = `conformance-deny-delete-${ns}`;
    await admission.createValidatingAdmissionPolicy({
      body: {
        metadata: { name },
        spec: {
          failurePolicy: 'Fail',
          matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], operations: ['DELETE'] }] },
          validations: [
            { expression: "!has(oldObject.metadata.labels) || !('protect' in oldObject.metadata.labels)", message: 'protected pods cannot be deleted' },
          ],
        },
      },
    });
    const unbind = async (): Promise<void> => {
      await admission.deleteValidatingAdmissionPolicyBinding({ name }).catch(() => undefined);
      await admission.deleteValidatingAdmissionPolicy({ name }).catch(() => undefined);
    };
    cleanups.push(unbind);
    const bind = async (): Promise<void> => {
      await admission.createValidatingAdmissionPolicyBinding({
        body: {
          metadata: { name },
          spec: {
            policyName: name,
            validationActions: ['Deny'],
            matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } },
          },
        },
      });
      // The policy is enforced once the API server has loaded the binding: a delete of a protected pod is refused.
      await eventually(
        'the policy to refuse deletes',
        async () => {
          const probe = await core.createNamespacedPod({
            namespace: ns,
            body: {
              metadata: { generateName: 'probe-', labels: { protect: 'yes' } },
              spec: { nodeSelector: NOWHERE, containers: [{ name: 'c', image: 'x' }] },
            },
          });
          try {
            await core.deleteNamespacedPod({ name: probe.metadata?.name ?? '', namespace: ns });
            return false;
          } catch {
            return true;
          }
        },
        30_000,
        500,
      );
    };
    const r = await runScenario(inNamespace(ns, 'refused'), { replicas: 3, strategy: rolling(1, 0), labels: { protect: 'yes' } }, [
      { action: { label: 'deny deletes of the pods', run: bind } },
      {
        op: { op: 'image', image: 'registry.example/app:2' },
        compare: 'conditions',
        waiveDeploymentSurge: true,
        options: { until: (o) => o.conditions.ReplicaFailure === 'True/FailedDelete' },
      },
      { action: { label: 'allow deletes again', run: unbind } },
    ]);
    expect(manager.proc.child.exitCode).toBeNull();
    expect(r.podGroup.conditions.ReplicaFailure).toBeUndefined();
  });

  it.concurrent(
    'a slow, healthy rollout never exceeds its progress deadline (divergence 4)',
    async () => {
      const r = await scenario('slow', { replicas: 4, minReadySeconds: 6, strategy: rolling(1, 0), progressDeadlineSeconds: 10 }, [
        {
          op: { op: 'image', image: 'registry.example/app:2' },
          options: { settleTimeoutMs: 180_000, until: (o) => o.pods['registry.example/app:2']?.available === 4 && Object.keys(o.pods).length === 1 },
        },
      ]);
      for (const timeline of [r.timelines.deployment, r.timelines.podGroup]) {
        expect(timeline.filter((e) => e.observed.conditions.Progressing === 'False/ProgressDeadlineExceeded')).toEqual([]);
      }
    },
    300_000,
  );

  it.concurrent('losing a pod of a complete workload is no rollout (divergence 5)', async () => {
    const ns = await namespace('losepod');
    const pair = inNamespace(ns, 'losepod');
    const progressing = async () => (await getPodGroup(ns, pair.names[1])).status?.conditions?.find((c) => c.type === 'Progressing');
    let before: Awaited<ReturnType<typeof progressing>>;
    await runScenario(pair, { replicas: 3 }, [
      { action: { label: 'remember Progressing', run: async () => void (before = await progressing()) } },
      { op: { op: 'deletePods', count: 1 }, compare: true },
    ]);
    expect(await progressing()).toEqual(before);
    const completes = (await core.listNamespacedEvent({ namespace: ns })).items.filter(
      (e) => e.involvedObject.name === pair.names[1] && e.reason === 'RolloutComplete',
    );
    expect(completes.reduce((n, e) => n + (e.count ?? 1), 0)).toBe(1);
  });

  it.concurrent('progressDeadlineSeconds MaxInt32 is "no deadline", not a hot loop (divergence 6)', async () => {
    const ns = await namespace('nodeadline');
    const pair = inNamespace(ns, 'nodeadline');
    const r = await runScenario(pair, { replicas: 2, progressDeadlineSeconds: 2147483647 }, [{ op: { op: 'image', image: 'registry.example/app:2' } }]);
    expect(r.podGroup.conditions.Progressing).toBeUndefined();
    const before = await reconcileCount(manager);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    // Other scenarios run meanwhile; a 1 ms requeue loop would add thousands.
    expect((await reconcileCount(manager)) - before).toBeLessThan(300);
  });

  it.concurrent('finished orphans are left alone, not adopted and deleted (divergence 8)', async () => {
    const ns = await namespace('finished');
    const pair = inNamespace(ns, 'finished');
    const finished: string[] = [];
    for (const app of pair.apps) {
      const pod = await core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: `${app}-done`, labels: { app } },
          spec: { nodeName: 'conformance-nowhere', containers: [{ name: 'app', image: 'registry.example/app:1' }] },
        },
      });
      await core.patchNamespacedPodStatus({ name: pod.metadata?.name ?? '', namespace: ns, body: { status: { phase: 'Succeeded' } } }, mergePatch);
      finished.push(pod.metadata?.name ?? '');
    }
    await runScenario(pair, { replicas: 2 }, []);
    for (const name of finished) {
      const pod = await core.readNamespacedPod({ name, namespace: ns });
      expect(pod.metadata?.ownerReferences ?? []).toEqual([]);
    }
  });

  it.concurrent('names longer than 63 characters work (divergence 9)', async () => {
    const ns = await namespace('long');
    const long = 'long-'.padEnd(63, 'x');
    await runScenario({ namespaces: [ns, ns], names: [`${long}-d`, `${long}-pg`], apps: ['long-d', 'long-pg'] }, { replicas: 2 }, [
      { op: { op: 'image', image: 'registry.example/app:2' } },
    ]);
  });

  // Round 2, the pods: each a scenario that failed before its fix (docs/conformance.md).
  it.concurrent('a bare pod carrying the selector labels is left alone, through a rollout (round 2: bare pods)', async () => {
    const r = await scenario('bare', { replicas: 3 }, [{ op: { op: 'barePod' }, compare: true }, { op: { op: 'image', image: 'registry.example/app:2' } }]);
    expect(r.podGroup.pods['bare registry.example/debug:1']).toMatchObject({ total: 1, available: 1 });
  });

  it.concurrent('pods held Terminating by a finalizer are replaced at once, as a ReplicaSet does (round 2: stuck terminating)', async () => {
    const r = await scenario('held', { replicas: 3, slowTermination: true }, [
      { op: { op: 'holdTerminating' } },
      { op: { op: 'deletePods', count: 2 }, compare: true },
      { op: { op: 'releaseTerminating' } },
    ]);
    expect(r.podGroup.pods['registry.example/app:1']).toMatchObject({ total: 3, available: 3 });
  });

  it.concurrent('with maxSurge 0, pods held Terminating are still replaced (round 2: stuck terminating)', async () => {
    await scenario('heldnosurge', { replicas: 3, slowTermination: true, strategy: rolling(0, 1) }, [
      { op: { op: 'holdTerminating' } },
      { op: { op: 'deletePods', count: 2 }, compare: true },
      { op: { op: 'releaseTerminating' } },
    ]);
  });

  it.concurrent('a rollout completes while the old pods are still terminating (round 2: stuck terminating)', async () => {
    await scenario('heldrollout', { replicas: 3, slowTermination: true, strategy: rolling(1, 0) }, [
      { op: { op: 'holdTerminating' } },
      { op: { op: 'image', image: 'registry.example/app:2' }, compare: true },
      { op: { op: 'releaseTerminating' } },
    ]);
  });

  it.concurrent('pods that take time to terminate, through scaling and a Recreate rollout (round 2: slow termination)', async () => {
    await scenario('slowterm', { replicas: 3, slowTermination: true, strategy: { type: 'Recreate' } }, [
      { op: { op: 'scale', replicas: 1 } },
      { op: { op: 'image', image: 'registry.example/app:2' } },
      { op: { op: 'scale', replicas: 3 } },
    ]);
  });

  it.concurrent('finished pods count for nothing, are replaced, and stay until their revision is pruned (round 2: finished pods)', async () => {
    const r = await scenario('finishedpods', { replicas: 3, revisionHistoryLimit: 0 }, [
      { op: { op: 'finishPods', count: 1, phase: 'Failed' }, compare: true },
      { op: { op: 'finishPods', count: 1, phase: 'Succeeded' }, compare: true },
      { op: { op: 'image', image: 'registry.example/app:2' } },
    ]);
    expect(r.podGroup.pods).toEqual({ 'registry.example/app:2': { total: 3, ready: 3, available: 3, terminating: 0 } });
  });

  it.concurrent(
    'pods carry pod-template-hash: anti-affinity with matchLabelKeys separates revisions, not the whole workload (round 2: pod-template-hash)',
    async () => {
      const ns = await namespace('tmplhash');
      const pair = inNamespace(ns, 'tmplhash');
      // Every node has kubernetes.io/os: one domain, so at most one pod per revision at a time.
      const r = await runScenario(
        pair,
        { replicas: 1, strategy: rolling(1, 0), antiAffinity: { topologyKey: 'kubernetes.io/os', matchLabelKeys: ['pod-template-hash'] } },
        [{ op: { op: 'image', image: 'registry.example/app:2' } }],
        { label: 'tmplhash' },
      );
      expect(r.podGroup.pods).toEqual({ 'registry.example/app:2': { total: 1, ready: 1, available: 1, terminating: 0 } });
      const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: `app=${pair.apps[1]}` })).items;
      expect(pods.map((p) => p.metadata?.labels?.['pod-template-hash'])).toEqual(pods.map((p) => p.metadata?.labels?.['controller-revision-hash']));
    },
  );

  // PodGroup only: a Deployment has no sidecars.
  it('spec.sidecars is part of the revision: a change rolls out, rollback restores it (divergence 10)', async () => {
    const ns = await namespace('sidecars');
    const body: PodGroup = {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'PodGroup',
      metadata: { name: 'web' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { schedulerName: 'default-scheduler', terminationGracePeriodSeconds: 0, containers: [{ name: 'app', image: 'registry.example/app:1' }] },
        },
        sidecars: { logCollector: { enabled: true, path: '/var/log/a' } },
      },
    };
    await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, body });
    const settledWith = (path: string) =>
      eventually(
        `every pod with log path ${path}`,
        async () => {
          const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' })).items.filter((p) => p.metadata?.deletionTimestamp == null);
          const paths = pods.map(
            (p) => (JSON.parse(p.metadata?.annotations?.[REVISION_SIDECARS_ANNOTATION] ?? '{}') as PodGroup['spec']['sidecars'])?.logCollector?.path,
          );
          return (
            pods.length === 2 &&
            paths.every((p) => p === path) &&
            pods.every((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
          );
        },
        90_000,
        300,
      );
    await settledWith('/var/log/a');
    await custom.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        namespace: ns,
        plural: PLURAL,
        name: 'web',
        body: { spec: { sidecars: { logCollector: { enabled: true, path: '/var/log/b' } } } },
      },
      mergePatch,
    );
    await settledWith('/var/log/b');
    expect((await apps.listNamespacedControllerRevision({ namespace: ns })).items).toHaveLength(2);
    // A replacement keeps its revision's settings: nothing else changes while the fleet is uniform.
    await custom.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, name: 'web', body: { metadata: { annotations: { 'podgroup.dev/rollback-to': '0' } } } },
      mergePatch,
    );
    await settledWith('/var/log/a');
    expect((await getPodGroup(ns, 'web')).spec.sidecars).toEqual({ logCollector: { enabled: true, path: '/var/log/a', files: '*.log' } });
  });
});
