// The podgroup-scheduler's own role (config/scheduler/namespaced/rbac.yaml) instead of the
// default scheduler's: a kube-scheduler with config/scheduler's configuration, authenticated
// with a TokenRequest token of podgroup-system/podgroup-scheduler (that role, its Lease Role, the
// kube-system RoleBinding), leader-elected on its own Lease, schedules a gang through the
// extender and reports an unschedulable pod — with no request refused by RBAC. What it no longer
// holds, and what config/policy still refuses it, is checked as that account.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { installAdmissionPolicies } from '../../../hack/control-plane/manifests.js';
import { REPO_ROOT } from '../../../hack/control-plane/paths.js';
import { adminKubectl, clusterState, createNamespace, eventually, namespaceNotTerminating } from '../support/cluster.js';
import { killAll } from '../support/processes.js';
import { core, createPodGroup, mergePatch, podGroupManifest, podsOf, startManager, waitForRollout, type RunningManager } from '../support/podgroups.js';
import { canI, send, serviceAccountKubeconfig } from '../support/security.js';
import { startTestScheduler, type TestScheduler } from '../support/scheduler.js';

const SCHEDULER = 'e2e-least-privilege';
const SA = 'system:serviceaccount:podgroup-system:podgroup-scheduler';

describe('podgroup-scheduler with its least-privilege role', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'podgroup-sched-rbac-'));
  let ns: { name: string; remove: () => Promise<void> };
  let manager: RunningManager | undefined;
  let scheduler: TestScheduler | undefined;
  let kubeconfig: string;

  beforeAll(async () => {
    ns = await createNamespace('e2e-sched-rbac');
    const dir = join(REPO_ROOT, 'config', 'scheduler');
    await namespaceNotTerminating('podgroup-system');
    adminKubectl(['apply', '--server-side', '--force-conflicts', '-f', join(REPO_ROOT, 'config', 'manager', 'namespace.yaml')]);
    adminKubectl([
      'apply',
      '--server-side',
      '--force-conflicts',
      '-n',
      'podgroup-system',
      '-f',
      join(dir, 'namespaced', 'serviceaccount.yaml'),
      '-f',
      join(dir, 'namespaced', 'rbac.yaml'),
    ]);
    adminKubectl(['apply', '--server-side', '--force-conflicts', '-k', join(dir, 'kube-system')]);
    kubeconfig = await serviceAccountKubeconfig('podgroup-system', 'podgroup-scheduler', tmp);
    // config/policy lets this account write the status of podgroup-scheduler's pods only; this
    // test's scheduler has another name (the local podgroup-scheduler keeps its own): the shipped
    // policy with that one name changed stands in for it meanwhile.
    adminKubectl(['delete', '--ignore-not-found', 'validatingadmissionpolicybinding', 'podgroup-scheduler-pod-status']);
    adminKubectl(
      ['apply', '-f', '-'],
      readFileSync(join(REPO_ROOT, 'config', 'policy', 'scheduler-pod-status.yaml'), 'utf8')
        .replaceAll("== 'podgroup-scheduler'", `== '${SCHEDULER}'`)
        .replaceAll('name: podgroup-scheduler-pod-status', `name: ${SCHEDULER}-pod-status`)
        .replaceAll('policyName: podgroup-scheduler-pod-status', `policyName: ${SCHEDULER}-pod-status`),
    );
    manager = await startManager(['--extender-scheduler-names', `podgroup-scheduler,${SCHEDULER}`]);
    scheduler = await startTestScheduler({ schedulerName: SCHEDULER, dir: tmp, kubeconfig, leaderElection: true });
  });

  afterAll(async () => {
    adminKubectl(['delete', '--ignore-not-found', 'validatingadmissionpolicybinding', `${SCHEDULER}-pod-status`]);
    adminKubectl(['delete', '--ignore-not-found', 'validatingadmissionpolicy', `${SCHEDULER}-pod-status`]);
    installAdmissionPolicies(clusterState());
    await scheduler?.stop();
    await manager?.stop();
    await killAll();
    await ns?.remove();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('holds only what a secondary scheduler needs', () => {
    expect(canI(['list', 'pods', '--all-namespaces'], SA)).toBe(true);
    expect(canI(['patch', 'pods', '--subresource', 'status', '-n', ns.name], SA)).toBe(true);
    expect(canI(['update', 'leases.coordination.k8s.io/podgroup-scheduler', '-n', 'podgroup-system'], SA)).toBe(true);
    // What the default scheduler's role would have given it.
    expect(canI(['delete', 'pods', '-n', ns.name], SA)).toBe(false);
    expect(canI(['create', 'pods', '--subresource', 'binding', '-n', ns.name], SA)).toBe(false);
    expect(canI(['create', 'bindings', '-n', ns.name], SA)).toBe(false);
    expect(canI(['update', 'leases.coordination.k8s.io/kube-scheduler', '-n', 'kube-system'], SA)).toBe(false);
    expect(canI(['update', 'persistentvolumes'], SA)).toBe(false);
    expect(canI(['update', 'resourceclaims.resource.k8s.io', '--subresource', 'status', '-n', ns.name], SA)).toBe(false);
    expect(canI(['get', 'secrets', '-n', 'podgroup-system'], SA)).toBe(false);
  });

  it('schedules a gang through the extender and reports an unschedulable pod, with nothing refused', async () => {
    const gang = podGroupManifest('gang', { replicas: 3, minAvailable: 3 });
    gang.spec.template.spec = { ...gang.spec.template.spec, schedulerName: SCHEDULER, containers: gang.spec.template.spec?.containers ?? [] };
    await createPodGroup(ns.name, gang);
    await waitForRollout(ns.name, 'gang');
    expect((await podsOf(ns.name, 'gang')).every((p) => p.spec?.schedulerName === SCHEDULER && p.spec.nodeName)).toBe(true);

    const stuck = podGroupManifest('stuck', { replicas: 1 });
    stuck.spec.template.spec = {
      ...stuck.spec.template.spec,
      schedulerName: SCHEDULER,
      nodeSelector: { 'podgroup.dev/no-such-node': 'x' },
      containers: stuck.spec.template.spec?.containers ?? [],
    };
    await createPodGroup(ns.name, stuck);
    const condition = await eventually(
      'the PodScheduled=False condition written by the scheduler',
      async () => {
        const [pod] = await podsOf(ns.name, 'stuck');
        return pod?.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
      },
      60_000,
      250,
    );
    expect(condition.message).toMatch(/0\/\d+ nodes are available/);
    // Led on its own Lease; no request of the scheduler was refused (informers included: it
    // schedules only once every one of them has synced).
    const lease = await kubeConfigLease();
    expect(lease.spec?.holderIdentity ?? '').not.toBe('');
    expect(scheduler?.output()).not.toMatch(/forbidden|is not allowed|cannot (list|watch|get|update|patch|create)/i);
  });

  it('serves no profiling endpoint (enableProfiling: false)', async () => {
    // Asked by a caller allowed everything (the admin's client certificate, system:masters), so
    // authorization passes: with profiling on /debug/pprof/ answers 200, off it does not exist.
    const { adminCert, adminKey } = clusterState().pki;
    const reply = await send(`https://127.0.0.1:${scheduler?.port}/debug/pprof/`, { cert: readFileSync(adminCert), key: readFileSync(adminKey) });
    expect(reply.status).toBe(404);
    // The same caller reaches what is served.
    expect((await send(`https://127.0.0.1:${scheduler?.port}/metrics`, { cert: readFileSync(adminCert), key: readFileSync(adminKey) })).status).toBe(200);
  });

  it('cannot forge pod status beyond scheduling (config/policy, installed by the local cluster)', async () => {
    const [pod] = await podsOf(ns.name, 'stuck');
    const account = new k8s.KubeConfig();
    account.loadFromFile(kubeconfig);
    const asScheduler = account.makeApiClient(k8s.CoreV1Api);
    // A status patch as a dry run with the scheduler's token: '' when accepted, else the refusal.
    const patchStatus = async (name: string, status: object): Promise<string> => {
      try {
        await asScheduler.patchNamespacedPodStatus({ name, namespace: ns.name, body: { status }, dryRun: 'All' }, mergePatch);
        return '';
      } catch (err) {
        return String((err as { body?: string }).body ?? err);
      }
    };
    expect(await patchStatus(pod?.metadata?.name ?? '', { phase: 'Running', podIP: '10.244.9.9' })).toMatch(/may change only a pod's PodScheduled condition/);
    expect(await patchStatus(pod?.metadata?.name ?? '', { conditions: [{ type: 'Ready', status: 'True' }] })).toMatch(
      /may change only a pod's PodScheduled condition/,
    );
    await core.createNamespacedPod({
      namespace: ns.name,
      body: { metadata: { name: 'other-scheduler' }, spec: { schedulerName: 'e2e-nobody', containers: [{ name: 'a', image: 'registry.example/a:1' }] } },
    });
    expect(await patchStatus('other-scheduler', { nominatedNodeName: 'kwok-node-0' })).toMatch(/may not write the status of a pod of scheduler e2e-nobody/);
    // Its own scheduling fields pass.
    expect(await patchStatus(pod?.metadata?.name ?? '', { nominatedNodeName: 'kwok-node-0' })).toBe('');
  });
});

async function kubeConfigLease(): Promise<k8s.V1Lease> {
  const coordination = new k8s.KubeConfig();
  coordination.loadFromFile(clusterState().kubeconfig);
  return eventually(
    'the podgroup-scheduler Lease held',
    async () => {
      const lease = await coordination.makeApiClient(k8s.CoordinationV1Api).readNamespacedLease({ name: 'podgroup-scheduler', namespace: 'podgroup-system' });
      return lease.spec?.holderIdentity ? lease : undefined;
    },
    30_000,
    250,
  );
}
