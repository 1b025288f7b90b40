// Deployment conformance of revisions and status: respelled templates, history cleanup, status
// under a quota, refused revision creates, proportional scaling after a maxSurge change, the
// revision number on the object, rollback while paused. Each scenario runs a Deployment
// (reference kube-controller-manager) and a PodGroup side by side (harness.ts) and failed before
// the change it pins down.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startReferenceKcm, stopReferenceKcm } from '../../../hack/cluster/reference-kcm.js';
import { clusterState, createNamespace } from '../support/cluster.js';
import { killAll } from '../support/processes.js';
import { GROUP, PLURAL, VERSION } from '../../../src/api/podgroup.js';
import { apps, core, custom, getPodGroup, mergePatch, startManager, type RunningManager } from '../support/podgroups.js';
import { checkDeclarations } from './differences.js';
import { inNamespace, runScenario, type Pair, type Step, type WorkloadSpec } from './harness.js';

const rolling = (maxSurge: number | string, maxUnavailable: number | string): WorkloadSpec['strategy'] => ({
  type: 'RollingUpdate',
  rollingUpdate: { maxSurge, maxUnavailable },
});

/** A ResourceQuota with its usage written by hand (no resourcequota controller runs here; admission then keeps it). */
async function quota(namespace: string, hard: Record<string, string>): Promise<void> {
  await core.createNamespacedResourceQuota({ namespace, body: { metadata: { name: 'limit' }, spec: { hard } } });
  const used = Object.fromEntries(Object.keys(hard).map((k) => [k, '0']));
  await core.patchNamespacedResourceQuotaStatus({ name: 'limit', namespace, body: { status: { hard, used } } }, mergePatch);
}

describe('Deployment conformance: revisions and status', () => {
  let manager: RunningManager;
  const namespaces: { name: string; remove: () => Promise<void> }[] = [];

  beforeAll(async () => {
    checkDeclarations();
    await startReferenceKcm(clusterState());
    manager = await startManager();
  });
  afterAll(async () => {
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

  /** The two workloads in namespaces of their own (for quotas), both named `name`. */
  async function apart(prefix: string): Promise<Pair> {
    return { namespaces: [await namespace(prefix), await namespace(prefix)], names: [prefix, prefix], apps: [prefix, prefix] };
  }

  it.concurrent('a respelled template (quantities, defaulted fields) rolls no pods', async () => {
    const ns = await namespace('respell');
    const pair = inNamespace(ns, 'respell');
    const podNames = async (): Promise<string[]> =>
      (await core.listNamespacedPod({ namespace: ns, labelSelector: `app=${pair.apps[1]}` })).items.map((p) => p.metadata?.name ?? '').sort();
    let before: string[] = [];
    const r = await runScenario(
      pair,
      { replicas: 3 },
      [
        { action: { label: 'remember pods', run: async () => void (before = await podNames()) } },
        { op: { op: 'respell', spelling: 1 }, compare: true },
        { op: { op: 'respell', spelling: 2 }, compare: true },
        { op: { op: 'respell', spelling: 3 }, compare: true },
        { op: { op: 'respell', spelling: 0 } },
      ],
      { label: 'respell' },
    );
    expect(await podNames()).toEqual(before);
    expect(r.podGroup).toMatchObject({ revisions: 1, revision: 1 });
  });

  it.concurrent('a respelled template in the middle of a rollout changes nothing of it', async () => {
    const ns = await namespace('respellmid');
    await runScenario(
      inNamespace(ns, 'respellmid'),
      { replicas: 3, strategy: rolling(1, 0) },
      [{ op: { op: 'unschedulable' }, compare: true }, { op: { op: 'respell', spelling: 2 }, compare: true }, { op: { op: 'schedulable' } }],
      { label: 'respellmid' },
    );
  });

  it.concurrent('history limit 1, two stuck templates, paused: only the oldest old revision is considered, and it is busy', async () => {
    const ns = await namespace('histpause');
    const r = await runScenario(
      inNamespace(ns, 'histpause'),
      { replicas: 3, revisionHistoryLimit: 1 },
      [
        { op: { op: 'unschedulable' } },
        { op: { op: 'image', image: 'registry.example/app:2' }, compare: true },
        { op: { op: 'pause' }, compare: true },
        { op: { op: 'resume' } },
        { op: { op: 'schedulable' } },
      ],
      { label: 'histpause' },
    );
    expect(r.podGroup.revisions).toBe(2);
  });

  it.concurrent('a surge pod blocked by a pod quota is unavailable (unavailableReplicas 1)', async () => {
    const pair = await apart('surgequota');
    for (const ns of pair.namespaces) {
      await quota(ns, { pods: '3' });
    }
    const r = await runScenario(
      pair,
      { replicas: 3, strategy: rolling(1, 0) },
      [{ op: { op: 'image', image: 'registry.example/app:2' }, options: { until: (o) => o.conditions.ReplicaFailure === 'True/FailedCreate' } }],
      { label: 'surgequota' },
    );
    expect(r.podGroup.status.unavailableReplicas).toBe(1);
  });

  it.concurrent('a refused revision create: Progressing=False/ReplicaSetCreateError, then the rollout once allowed', async () => {
    const pair = await apart('revquota');
    await quota(pair.namespaces[0], { 'count/replicasets.apps': '1' });
    await quota(pair.namespaces[1], { 'count/controllerrevisions.apps': '1' });
    const lift: Step = {
      action: {
        label: 'lift the quotas and touch both objects',
        run: async () => {
          await Promise.all(pair.namespaces.map((ns) => core.deleteNamespacedResourceQuota({ name: 'limit', namespace: ns })));
          // A Deployment that failed many times waits out its backoff; an update event syncs both at once.
          await apps.patchNamespacedDeployment(
            { name: pair.names[0], namespace: pair.namespaces[0], body: { metadata: { annotations: { touched: 'yes' } } } },
            mergePatch,
          );
          await custom.patchNamespacedCustomObject(
            {
              group: GROUP,
              version: VERSION,
              namespace: pair.namespaces[1],
              plural: PLURAL,
              name: pair.names[1],
              body: { metadata: { annotations: { touched: 'yes' } } },
            },
            mergePatch,
          );
        },
      },
    };
    const r = await runScenario(
      pair,
      { replicas: 2 },
      [
        {
          op: { op: 'image', image: 'registry.example/app:2' },
          options: { staleGeneration: true, until: (o) => o.conditions.Progressing === 'False/ReplicaSetCreateError' },
          compare: true,
        },
        lift,
      ],
      { label: 'revquota' },
    );
    expect(r.podGroup.pods).toEqual({ 'registry.example/app:2': { total: 2, ready: 2, available: 2, terminating: 0 } });
    const warnings = (await core.listNamespacedEvent({ namespace: pair.namespaces[1] })).items.filter(
      (e) => e.type === 'Warning' && e.reason === 'ReplicaSetCreateError',
    );
    expect(warnings.length).toBeGreaterThan(0);
  });

  it.concurrent('proportional scaling after maxSurge changed during a stuck rollout uses the recorded max-replicas', async () => {
    const ns = await namespace('maxrep');
    await runScenario(
      inNamespace(ns, 'maxrep'),
      { replicas: 10, strategy: rolling(3, 2) },
      [
        { op: { op: 'unschedulable' }, compare: true },
        { op: { op: 'patch', spec: { strategy: rolling(1, 2) } }, compare: true },
        { op: { op: 'scale', replicas: 20 }, compare: true },
        { op: { op: 'scale', replicas: 7 } },
      ],
      { label: 'maxrep' },
    );
  });

  it.concurrent('the revision number on the object follows rollouts and rollbacks', async () => {
    const ns = await namespace('revnum');
    const r = await runScenario(
      inNamespace(ns, 'revnum'),
      { replicas: 2 },
      [
        { op: { op: 'image', image: 'registry.example/app:2' }, compare: true },
        { op: { op: 'pause' } },
        { op: { op: 'image', image: 'registry.example/app:3' }, compare: true },
        { op: { op: 'resume' }, compare: true },
        { op: { op: 'rollback' } },
      ],
      { label: 'revnum' },
    );
    expect(r.podGroup.revision).toBe(4);
  });

  it.concurrent("a rollback requested while paused waits for the resume, and restores the revision's annotations", async () => {
    const ns = await namespace('rbpaused');
    const pair = inNamespace(ns, 'rbpaused');
    const annotate = (team: string): Step => ({
      action: {
        label: `annotate team=${team}`,
        run: async () => {
          const body = { metadata: { annotations: { team } } };
          await apps.patchNamespacedDeployment({ name: pair.names[0], namespace: ns, body }, mergePatch);
          await custom.patchNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural: PLURAL, name: pair.names[1], body }, mergePatch);
        },
      },
    });
    const r = await runScenario(
      pair,
      { replicas: 3 },
      [
        annotate('a'),
        { op: { op: 'image', image: 'registry.example/app:2' } },
        annotate('b'),
        { op: { op: 'pause' } },
        { op: { op: 'rollbackAnnotation' }, compare: true },
        { op: { op: 'scale', replicas: 4 }, compare: true },
        { op: { op: 'resume' } },
      ],
      { label: 'rbpaused' },
    );
    expect(Object.keys(r.podGroup.pods)).toEqual(['registry.example/app:1']);
    // The Deployment took revision 1's annotations (SetDeploymentAnnotationsTo); so does the PodGroup.
    const deployment = await apps.readNamespacedDeployment({ name: pair.names[0], namespace: ns });
    const podGroup = await getPodGroup(ns, pair.names[1]);
    expect(deployment.metadata?.annotations?.team).toBe('a');
    expect(podGroup.metadata?.annotations?.team).toBe('a');
  });
});
