// Fake nodes: Nodes that kwok keeps Ready (it manages those annotated kwok.x-k8s.io/node=fake),
// spread over three zones, where pods are scheduled but nothing runs.
import * as k8s from '@kubernetes/client-node';
import { findComponent, KUBE_VERSION } from './components.js';
import { isAlive, logTail, waitFor } from './processes.js';
import { loadKubeConfig, type ClusterState } from './state.js';

export const ZONES = ['zone-a', 'zone-b', 'zone-c'];

export interface FakeNodeSpec {
  name: string;
  zone: string;
  cpu?: string;
  memory?: string;
  pods?: string;
  labels?: Record<string, string>;
  taints?: k8s.V1Taint[];
}

export function fakeNodeManifest(spec: FakeNodeSpec): k8s.V1Node {
  const capacity = { cpu: spec.cpu ?? '16', memory: spec.memory ?? '64Gi', pods: spec.pods ?? '110', 'ephemeral-storage': '200Gi' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: spec.name,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/hostname': spec.name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'topology.kubernetes.io/zone': spec.zone,
        type: 'kwok',
        ...spec.labels,
      },
    },
    spec: spec.taints === undefined ? {} : { taints: spec.taints },
    status: {
      capacity,
      allocatable: capacity,
      nodeInfo: {
        architecture: 'amd64',
        operatingSystem: 'linux',
        kubeletVersion: `${KUBE_VERSION}-kwok`,
        kubeProxyVersion: '',
        bootID: '',
        containerRuntimeVersion: 'kwok',
        kernelVersion: '',
        machineID: '',
        osImage: 'kwok',
        systemUUID: '',
      },
    },
  };
}

/** Creates fake Nodes (kwok manages them) and waits until each is Ready. */
export async function addFakeNodes(state: ClusterState, specs: FakeNodeSpec[], timeoutMs = 60_000): Promise<void> {
  const core = loadKubeConfig(state).makeApiClient(k8s.CoreV1Api);
  for (const spec of specs) {
    try {
      await core.createNode({ body: fakeNodeManifest(spec) });
    } catch (err) {
      if ((err as { code?: number }).code !== 409) {
        throw err;
      }
    }
  }
  const names = new Set(specs.map((s) => s.name));
  await waitFor(
    `${specs.length} fake node(s) to be Ready`,
    async () => {
      const nodes = await core.listNode();
      const ready = nodes.items.filter(
        (n) => names.has(n.metadata?.name ?? '') && n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      );
      return ready.length === names.size;
    },
    {
      timeoutMs,
      abort: () => (isAlive(findComponent(state, 'kwok').pid) ? undefined : `kwok exited; last lines:\n${logTail(findComponent(state, 'kwok').log)}`),
    },
  );
}

export function defaultNodeSpecs(count: number, prefix = 'kwok-node'): FakeNodeSpec[] {
  return Array.from({ length: count }, (_, i) => ({ name: `${prefix}-${i}`, zone: ZONES[i % ZONES.length] ?? 'zone-a' }));
}
