// The podgroup-scheduler keeps the default scheduler's scoring beside the extender's placement:
// a soft topology spread constraint (whenUnsatisfiable: ScheduleAnyway) on a label the extender
// knows nothing of is honoured, and resource fit (NodeResourcesFit, LeastAllocated) steers
// single pods to the emptier node — as for a Deployment's pods under default-scheduler. With
// those scores disabled (the profile before) each placement below was a coin toss among nodes the
// extender scores equally: the three PodGroups of each case all landing right had a 6 % (spread)
// and 12.5 % (fit) chance.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { addFakeNodes, type FakeNodeSpec } from '../../../hack/control-plane/fake-nodes.js';
import type { PodGroup } from '../../../src/api/podgroup.js';
import { clusterState, createNamespace, eventually } from '../support/cluster.js';
import { killAll } from '../support/processes.js';
import { core, createPodGroup, podGroupManifest, podsOf, startManager, type RunningManager } from '../support/podgroups.js';

const POOL = 'e2e.podgroup.dev/pool';
const RACK = 'e2e.podgroup.dev/rack';

describe('podgroup-scheduler scoring beside the extender', () => {
  let ns: { name: string; remove: () => Promise<void> };
  let manager: RunningManager | undefined;
  const nodes: string[] = [];

  beforeAll(async () => {
    ns = await createNamespace('e2e-scoring');
    manager = await startManager();
  });
  afterAll(async () => {
    await manager?.stop();
    await killAll();
    // Gone at once: a pod still bound to a pool node when the node is deleted below would stay
    // Terminating for good (no kubelet, no pod garbage collector here), and its namespace with it.
    await core.deleteCollectionNamespacedPod({ namespace: ns.name, gracePeriodSeconds: 0 }).catch(() => undefined);
    await ns.remove();
    for (const name of nodes) {
      await core.deleteNode({ name }).catch(() => undefined);
    }
  });

  async function pool(name: string, specs: Array<Partial<FakeNodeSpec>>): Promise<string[]> {
    const full = specs.map((s, i) => ({
      name: `${name}-${i}`,
      zone: 'zone-a',
      cpu: '16',
      ...s,
      labels: { [POOL]: name, ...s.labels },
      taints: [{ key: POOL, value: name, effect: 'NoSchedule' as const }],
    }));
    await addFakeNodes(clusterState(), full);
    nodes.push(...full.map((s) => s.name));
    return full.map((s) => s.name);
  }

  function inPool(pool: string, name: string, replicas: number, extra: Partial<NonNullable<PodGroup['spec']['template']['spec']>> = {}): PodGroup {
    const pg = podGroupManifest(name, { replicas });
    pg.spec.template.spec = {
      containers: [{ name: 'app', image: 'registry.example/app:1', resources: { requests: { cpu: '1' } } }],
      nodeSelector: { [POOL]: pool },
      tolerations: [{ key: POOL, operator: 'Equal', value: pool, effect: 'NoSchedule' }],
      terminationGracePeriodSeconds: 0,
      ...extra,
    };
    return pg;
  }

  async function nodesOf(name: string, count: number): Promise<string[]> {
    return eventually(
      `${count} pods of ${name} scheduled`,
      async () => {
        const pods = await podsOf(ns.name, name);
        return pods.length === count && pods.every((p) => p.spec?.nodeName) ? pods.map((p) => p.spec?.nodeName ?? '') : undefined;
      },
      60_000,
    );
  }

  it("honours a soft topology spread constraint on a label of the user's own", async () => {
    // Four nodes in rack a, one in rack b; the extender spreads over nodes and zones only.
    const names = await pool('racks', [
      { labels: { [RACK]: 'a' } },
      { labels: { [RACK]: 'a' } },
      { labels: { [RACK]: 'a' } },
      { labels: { [RACK]: 'a' } },
      { labels: { [RACK]: 'b' } },
    ]);
    const rackB = names[4];
    for (const name of ['web-1', 'web-2', 'web-3']) {
      await createPodGroup(
        ns.name,
        inPool('racks', name, 2, {
          topologySpreadConstraints: [{ maxSkew: 1, topologyKey: RACK, whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { app: name } } }],
        }),
      );
      // Each constraint counts its own PodGroup's pods only: one of each pair in rack b.
      const placed = await nodesOf(name, 2);
      expect(placed.filter((n) => n === rackB)).toHaveLength(1);
    }
  });

  it('scores resource fit: a single pod goes to the emptier node', async () => {
    const [busy, empty] = await pool('fit', [{}, {}]);
    // 12 of the busy node's 16 cpus taken by a pod placed there directly.
    await core.createNamespacedPod({
      namespace: ns.name,
      body: {
        metadata: { name: 'filler' },
        spec: {
          nodeName: busy,
          containers: [{ name: 'f', image: 'registry.example/f:1', resources: { requests: { cpu: '12' } } }],
          tolerations: [{ key: POOL, operator: 'Exists' }],
        },
      },
    });
    for (const name of ['solo-1', 'solo-2', 'solo-3']) {
      await createPodGroup(ns.name, inPool('fit', name, 1));
      expect(await nodesOf(name, 1)).toEqual([empty]);
    }
  });
});
