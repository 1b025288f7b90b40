// The namespace-scoped install (config/namespace-scoped): the manager runs with a TokenRequest
// token of its ServiceAccount holding that overlay's RBAC only — Roles in one watched namespace,
// read-only nodes and namespaces cluster-wide, no ClusterRole over pods. Without
// --watch-namespaces it cannot even list pods (its cluster-wide watches are forbidden, it never
// becomes ready); with it, it rolls out a PodGroup in the watched namespace, pods bound by its
// extender, and leaves another namespace's PodGroup alone.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseAllDocuments, stringify } from 'yaml';
import { REPO_ROOT } from '../../../hack/control-plane/paths.js';
import { adminKubectl, clusterState, createNamespace, eventually, namespaceNotTerminating } from '../support/cluster.js';
import { httpGet, killAll } from '../support/processes.js';
import { createPodGroup, getPodGroup, podGroupManifest, podsOf, startManager, waitForRollout, type RunningManager } from '../support/podgroups.js';
import { canI, serviceAccountKubeconfig } from '../support/security.js';

const SA = 'system:serviceaccount:podgroup-system:podgroup-controller';

describe('namespace-scoped install', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'podgroup-ns-scoped-'));
  let watched: { name: string; remove: () => Promise<void> };
  let other: { name: string; remove: () => Promise<void> };
  let kubeconfig: string;
  let manager: RunningManager | undefined;

  beforeAll(async () => {
    watched = await createNamespace('e2e-watched');
    other = await createNamespace('e2e-unwatched');
    const overlay = join(REPO_ROOT, 'config', 'namespace-scoped');
    await namespaceNotTerminating('podgroup-system');
    adminKubectl(['apply', '--server-side', '--force-conflicts', '-f', join(REPO_ROOT, 'config', 'manager', 'namespace.yaml')]);
    adminKubectl(['apply', '--server-side', '--force-conflicts', '-k', join(REPO_ROOT, 'config', 'rbac')]);
    // The overlay's RBAC, as it renders (team-a is the namespace the user names): the
    // cluster-wide ClusterRole over pods is not part of it.
    adminKubectl(['delete', '--ignore-not-found', 'clusterrolebinding', 'podgroup-controller']);
    adminKubectl(['apply', '-f', join(overlay, 'cluster_read_role.yaml')]);
    adminKubectl(
      ['apply', '-f', '-'],
      readFileSync(join(overlay, 'workloads_role.yaml'), 'utf8').replaceAll('namespace: team-a', `namespace: ${watched.name}`),
    );
    // The local podgroup-scheduler trusts the extender CA in the local cluster's own namespace:
    // the account gets config/rbac's Role there, as it has it in podgroup-system.
    const namespacedRbac = parseAllDocuments(readFileSync(join(REPO_ROOT, 'config', 'rbac', 'role.yaml'), 'utf8'))
      .map((d) => d.toJS() as { kind: string })
      .filter((d) => d.kind === 'Role' || d.kind === 'RoleBinding');
    adminKubectl(['apply', '-n', clusterState().extenderSecretNamespace, '-f', '-'], namespacedRbac.map((d) => stringify(d)).join('---\n'));
    kubeconfig = await serviceAccountKubeconfig('podgroup-system', 'podgroup-controller', tmp);
    expect(adminKubectl(['kustomize', overlay])).toContain('--watch-namespaces=team-a');
  });

  afterAll(async () => {
    await manager?.stop();
    await killAll();
    adminKubectl(['delete', '--ignore-not-found', '-f', join(REPO_ROOT, 'config', 'namespace-scoped', 'cluster_read_role.yaml')]);
    adminKubectl(['delete', '--ignore-not-found', '-n', clusterState().extenderSecretNamespace, 'role/podgroup-controller', 'rolebinding/podgroup-controller']);
    // config/rbac as installed by the other tests (the cluster-wide binding back).
    adminKubectl(['apply', '--server-side', '--force-conflicts', '-k', join(REPO_ROOT, 'config', 'rbac')]);
    await watched?.remove();
    await other?.remove();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('holds Roles only: pods in the watched namespace, nothing over pods elsewhere', () => {
    expect(canI(['create', 'pods', '-n', watched.name], SA)).toBe(true);
    expect(canI(['create', 'pods', '--subresource', 'binding', '-n', watched.name], SA)).toBe(true);
    expect(canI(['list', 'pods', '-n', other.name], SA)).toBe(false);
    expect(canI(['list', 'pods', '--all-namespaces'], SA)).toBe(false);
    expect(canI(['delete', 'pods', '-n', 'kube-system'], SA)).toBe(false);
    expect(canI(['list', 'podgroups.podgroup.dev', '--all-namespaces'], SA)).toBe(false);
    expect(canI(['list', 'nodes'], SA)).toBe(true);
    expect(canI(['patch', 'nodes'], SA)).toBe(false);
  });

  it('without --watch-namespaces the manager cannot watch (its cluster-wide lists are forbidden) and never becomes ready', async () => {
    manager = await startManager(['--kubeconfig', kubeconfig]);
    try {
      await manager.proc.waitForLine(/cannot list resource.*at the cluster scope.*list\/watch failed; restarting/, 60_000);
      expect((await httpGet(`${manager.probesUrl}/readyz`)).status).not.toBe(200);
    } finally {
      await manager.stop();
      manager = undefined;
    }
  });

  it("with --watch-namespaces it rolls out the watched namespace's PodGroup and leaves the other one alone", async () => {
    await createPodGroup(other.name, podGroupManifest('elsewhere', { replicas: 2 }));
    manager = await startManager(['--kubeconfig', kubeconfig, '--watch-namespaces', watched.name]);
    await eventually('the manager ready', async () => (await httpGet(`${manager?.probesUrl}/readyz`)).status === 200, 60_000, 250);
    await createPodGroup(watched.name, podGroupManifest('app', { replicas: 3, minAvailable: 3 }));
    const pg = await waitForRollout(watched.name, 'app');
    expect(pg.status?.availableReplicas).toBe(3);
    const pods = await podsOf(watched.name, 'app');
    // Bound by the extender (pods/binding through the Role), gang-checked.
    expect(pods.every((p) => p.spec?.schedulerName === 'podgroup-scheduler' && p.spec.nodeName)).toBe(true);
    expect(pg.status?.conditions?.find((c) => c.type === 'GangScheduled')?.status).toBe('True');
    // The other namespace's PodGroup, created first, was never reconciled.
    expect(await podsOf(other.name, 'elsewhere')).toHaveLength(0);
    // Only the CRD's default status (observedGeneration 0, nothing else): no controller wrote it.
    expect((await getPodGroup(other.name, 'elsewhere')).status).toEqual({ observedGeneration: 0 });
    const metrics = (await httpGet(manager.metricsUrl)).body;
    expect(metrics).not.toMatch(/rest_client_requests_total\{code="403"/);
  });
});
