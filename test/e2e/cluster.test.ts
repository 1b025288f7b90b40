// The local control plane is a real Kubernetes: scheduling, kwok kubelets, namespace
// deletion and garbage collection all work, and CRDs from crds/ install and serve.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { installCrds } from '../../hack/control-plane/manifests.js';
import { REPO_ROOT } from '../../hack/control-plane/paths.js';
import { renderCrd } from '../../hack/crd/generate.js';
import { clusterState, createNamespace, eventually, kubeConfig } from './support/cluster.js';

const kc = kubeConfig();
const core = kc.makeApiClient(k8s.CoreV1Api);

const pod = (name: string, extra: Partial<k8s.V1ObjectMeta> = {}): k8s.V1Pod => ({
  metadata: { name, ...extra },
  spec: { containers: [{ name: 'app', image: 'registry.example/app:1' }] },
});

describe('local control plane', () => {
  let ns: { name: string; remove: () => Promise<void> };
  beforeAll(async () => {
    ns = await createNamespace('e2e-cluster');
  });
  afterAll(async () => {
    await ns.remove();
  });

  it('serves Kubernetes v1.34 with 3 Ready fake nodes spread over zones', async () => {
    const version = await kc.makeApiClient(k8s.VersionApi).getCode();
    expect(version.gitVersion).toMatch(/^v1\.34\.\d+$/);
    // The fake nodes (the real node, when the host allows one, is labelled type=real).
    const nodes = (await core.listNode({ labelSelector: 'type=kwok' })).items;
    expect(nodes).toHaveLength(3);
    for (const node of nodes) {
      expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(node.metadata?.labels?.['kubernetes.io/hostname']).toBe(node.metadata?.name);
      expect(Number(node.status?.allocatable?.cpu)).toBeGreaterThan(0);
      expect(node.status?.allocatable?.pods).toBe('110');
    }
    const zones = new Set(nodes.map((n) => n.metadata?.labels?.['topology.kubernetes.io/zone']));
    expect(zones.size).toBe(3);
  });

  it('schedules a pod onto a kwok node, runs it, and deletes it', async () => {
    await core.createNamespacedPod({ namespace: ns.name, body: pod('runner') });
    const running = await eventually('pod Running with an IP', async () => {
      const p = await core.readNamespacedPod({ name: 'runner', namespace: ns.name });
      return p.status?.phase === 'Running' && p.status.podIP ? p : undefined;
    });
    expect(running.spec?.nodeName).toMatch(/^kwok-node-/);
    expect(running.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    await core.deleteNamespacedPod({ name: 'runner', namespace: ns.name });
    await eventually('pod gone', async () => {
      const pods = await core.listNamespacedPod({ namespace: ns.name, fieldSelector: 'metadata.name=runner' });
      return pods.items.length === 0;
    });
  });

  it('garbage-collects a dependent when its owner is deleted', async () => {
    const owner = await core.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: 'owner' } } });
    await core.createNamespacedPod({
      namespace: ns.name,
      body: pod('dependent', {
        ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata?.uid ?? '' }],
      }),
    });
    await core.deleteNamespacedConfigMap({ name: 'owner', namespace: ns.name });
    await eventually(
      'dependent pod garbage-collected',
      async () => (await core.listNamespacedPod({ namespace: ns.name, fieldSelector: 'metadata.name=dependent' })).items.length === 0,
      60_000,
    );
  });

  it('removes a namespace and its pods (namespace controller)', async () => {
    const doomed = await createNamespace('e2e-doomed');
    await core.createNamespacedPod({ namespace: doomed.name, body: pod('p1') });
    await core.createNamespacedPod({ namespace: doomed.name, body: pod('p2') });
    await doomed.remove();
    await eventually(
      'namespace and pods gone',
      async () => {
        const list = await core.listNamespace();
        return !list.items.some((n) => n.metadata?.name === doomed.name);
      },
      90_000,
      250,
    );
    const leftover = await core.listPodForAllNamespaces({ fieldSelector: `metadata.namespace=${doomed.name}` });
    expect(leftover.items).toHaveLength(0);
  });

  it('installs every CRD in crds/ and serves objects of it', async () => {
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    await installCrds(clusterState());
    const files = readdirSync(join(REPO_ROOT, 'crds')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      // loadAllYaml maps JSON names (x-kubernetes-...) onto client-node's model properties.
      for (const crd of k8s.loadAllYaml(readFileSync(join(REPO_ROOT, 'crds', file), 'utf8')) as k8s.V1CustomResourceDefinition[]) {
        const name = crd.metadata?.name ?? '';
        const got = await ext.readCustomResourceDefinition({ name });
        expect(got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')).toBe(true);
        const version = crd.spec.versions.find((v) => v.storage)?.name ?? '';
        // Right after a (re)apply the API server may answer 429 "storage is (re)initializing" for a moment.
        const list = await eventually(`a list of ${name}`, () =>
          custom.listNamespacedCustomObject({ group: crd.spec.group, version, namespace: ns.name, plural: crd.spec.names.plural }),
        );
        expect(list).toHaveProperty('items');
      }
    }
  });

  it("has crds/podgroup.yaml up to date with this API server's OpenAPI", async () => {
    expect(await renderCrd(kc)).toBe(readFileSync(join(REPO_ROOT, 'crds', 'podgroup.yaml'), 'utf8'));
  });
});
