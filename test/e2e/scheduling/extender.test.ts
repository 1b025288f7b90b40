// The secondary kube-scheduler (podgroup-scheduler) with our extender, on the local control
// plane: Spread by node and zone, Pack, maxPerNode, gang feasibility with its explanation on
// pods and on the PodGroup, pass-through for other pods, the extender's HTTP errors, and what
// happens while the extender is down (ignorable false and true).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { addFakeNodes, type FakeNodeSpec } from '../../../hack/control-plane/fake-nodes.js';
import { localPodGroupSchedulerConfig } from '../../../hack/control-plane/manifests.js';
import { freePort, isAlive, startDetached, stopProcess, waitFor } from '../../../hack/control-plane/processes.js';
import type { PodGroupSpec } from '../../../src/api/podgroup.js';
import { clusterState, createNamespace, eventually } from '../support/cluster.js';
import { postExtender } from '../support/extender.js';
import { httpGet, killAll, metricValue } from '../support/processes.js';
import { core, createPodGroup, getPodGroup, podGroupManifest, podsOf, startManager, type RunningManager } from '../support/podgroups.js';

const POOL = 'e2e.podgroup.dev/pool';

describe('podgroup-scheduler with the extender', () => {
  let ns: { name: string; remove: () => Promise<void> };
  let manager: RunningManager | undefined;
  const nodes: string[] = [];

  beforeAll(async () => {
    ns = await createNamespace('e2e-sched');
    manager = await startManager();
  });
  afterAll(async () => {
    await manager?.stop();
    await killAll();
    await ns.remove();
    for (const name of nodes) {
      await core.deleteNode({ name }).catch(() => undefined);
    }
  });

  async function pool(name: string, specs: Array<Partial<FakeNodeSpec> & { zone: string }>): Promise<string[]> {
    // Tainted, so pods of other tests never land on pool nodes.
    const full = specs.map((s, i) => ({
      name: `${name}-${i}`,
      cpu: '16',
      ...s,
      labels: { [POOL]: name, ...s.labels },
      taints: [{ key: POOL, value: name, effect: 'NoSchedule' }],
    }));
    await addFakeNodes(clusterState(), full);
    nodes.push(...full.map((s) => s.name));
    return full.map((s) => s.name);
  }

  function inPool(name: string, spec: Partial<PodGroupSpec>, cpu = '1'): ReturnType<typeof podGroupManifest> {
    const pg = podGroupManifest(name, spec);
    pg.spec.template.spec = {
      containers: [{ name: 'app', image: 'registry.example/app:1', resources: { requests: { cpu } } }],
      nodeSelector: { [POOL]: name },
      tolerations: [{ key: POOL, operator: 'Equal', value: name, effect: 'NoSchedule' }],
      terminationGracePeriodSeconds: 0,
    };
    return pg;
  }

  async function placement(name: string, count: number): Promise<Map<string, number>> {
    return eventually(
      `${count} pods of ${name} scheduled`,
      async () => {
        const pods = await podsOf(ns.name, name);
        if (pods.length !== count || pods.some((p) => !p.spec?.nodeName)) {
          return undefined;
        }
        const perNode = new Map<string, number>();
        for (const p of pods) {
          perNode.set(p.spec?.nodeName ?? '', (perNode.get(p.spec?.nodeName ?? '') ?? 0) + 1);
        }
        return perNode;
      },
      60_000,
    );
  }

  it('spreads members evenly over nodes (6 on 3 → 2/2/2) and uses podgroup-scheduler', async () => {
    await pool('spread', [{ zone: 'zone-a' }, { zone: 'zone-b' }, { zone: 'zone-c' }]);
    await createPodGroup(ns.name, inPool('spread', { replicas: 6 }));
    const perNode = await placement('spread', 6);
    expect([...perNode.values()].sort()).toEqual([2, 2, 2]);
    const pods = await podsOf(ns.name, 'spread');
    expect(pods.every((p) => p.spec?.schedulerName === 'podgroup-scheduler')).toBe(true);
  });

  it('balances by zone when zones have different node counts', async () => {
    const [x0, x1, y0] = await pool('zones', [{ zone: 'zone-x' }, { zone: 'zone-x' }, { zone: 'zone-y' }]);
    await createPodGroup(ns.name, inPool('zones', { replicas: 4 }));
    const perNode = await placement('zones', 4);
    expect((perNode.get(x0 ?? '') ?? 0) + (perNode.get(x1 ?? '') ?? 0)).toBe(2);
    expect(perNode.get(y0 ?? '')).toBe(2);
  });

  it('packs members onto as few nodes as capacity allows', async () => {
    await pool('pack', [{ zone: 'zone-a' }, { zone: 'zone-b' }, { zone: 'zone-c' }]);
    // 16-cpu nodes, 4-cpu members: 6 members need 2 nodes.
    await createPodGroup(ns.name, inPool('pack', { replicas: 6, placement: { policy: 'Pack' } }, '4'));
    const perNode = await placement('pack', 6);
    expect(perNode.size).toBe(2);
    expect([...perNode.values()].sort()).toEqual([2, 4]);
  });

  it('enforces maxPerNode in filter and says so', async () => {
    await pool('maxper', [{ zone: 'zone-a' }, { zone: 'zone-b' }]);
    await createPodGroup(ns.name, inPool('maxper', { replicas: 3, placement: { policy: 'Spread', maxPerNode: 1 } }));
    const pending = await eventually(
      'one member Pending on maxPerNode',
      async () => {
        const pods = await podsOf(ns.name, 'maxper');
        const waiting = pods.filter((p) => !p.spec?.nodeName);
        const message = waiting[0]?.status?.conditions?.find((c) => c.type === 'PodScheduled')?.message;
        return pods.length === 3 && waiting.length === 1 && message?.includes('maxPerNode 1 reached') ? message : undefined;
      },
      60_000,
    );
    expect(pending).toContain('maxPerNode 1 reached');
  });

  it('holds a gang that cannot reach minAvailable, explains why, and places it once room appears', async () => {
    await pool('gang', [{ zone: 'zone-a' }]);
    // One 16-cpu node fits 3 members of 5 cpu; the gang needs 5.
    await createPodGroup(ns.name, inPool('gang', { replicas: 5, minAvailable: 5 }, '5'));
    const expected = `PodGroup ${ns.name}/gang needs 5 members, 0 bound: 5 more must fit at once, 3 fit (gang-0: 3), limited by cpu`;
    await eventually(
      'every member Pending with the gang message',
      async () => {
        const pods = await podsOf(ns.name, 'gang');
        return (
          pods.length === 5 &&
          pods.every((p) => !p.spec?.nodeName && (p.status?.conditions?.find((c) => c.type === 'PodScheduled')?.message ?? '').includes(expected))
        );
      },
      60_000,
    );
    const pg = await eventually('GangScheduled=False on the PodGroup', async () => {
      const got = await getPodGroup(ns.name, 'gang');
      const c = got.status?.conditions?.find((x) => x.type === 'GangScheduled');
      return c?.status === 'False' && c.message?.includes(expected) ? got : undefined;
    });
    expect(pg.status?.scheduledReplicas).toBe(0);
    const events = await core.listNamespacedEvent({ namespace: ns.name, fieldSelector: 'involvedObject.name=gang,reason=Unschedulable' });
    expect(events.items[0]?.message).toContain(expected);

    await pool('gang', [{ name: 'gang-extra', zone: 'zone-b' }]);
    const perNode = await placement('gang', 5);
    expect([...perNode.values()].reduce((a, b) => a + b, 0)).toBe(5);
    await eventually('GangScheduled=True', async () => {
      const got = await getPodGroup(ns.name, 'gang');
      return got.status?.conditions?.find((x) => x.type === 'GangScheduled')?.status === 'True';
    });
    const metrics = (await httpGet(manager?.metricsUrl ?? '')).body;
    expect(metricValue(metrics, 'podgroup_gang_rejections_total')).toBeGreaterThan(0);
    expect(metrics).toMatch(/podgroup_extender_requests_total\{verb="filter",code="200"\} [1-9]/);
    expect(metrics).toMatch(/podgroup_extender_requests_total\{verb="bind",code="200"\} [1-9]/);
  });

  it('schedules a pod that is not a PodGroup member normally', async () => {
    await core.createNamespacedPod({
      namespace: ns.name,
      body: { metadata: { name: 'plain' }, spec: { schedulerName: 'podgroup-scheduler', containers: [{ name: 'a', image: 'registry.example/a:1' }] } },
    });
    await eventually('plain pod running', async () => (await core.readNamespacedPod({ name: 'plain', namespace: ns.name })).status?.phase === 'Running');
  });

  it('answers bad requests with 4xx and a message, never a crash', async () => {
    const post = async (path: string, body: string): Promise<{ status: number; json: { Error?: string } }> => {
      const res = await postExtender(path, body);
      return { status: res.status, json: JSON.parse(res.body) as { Error?: string } };
    };
    expect(await post('/filter', '{not json')).toMatchObject({ status: 400, json: { Error: expect.stringContaining('malformed JSON') } });
    expect(await post('/filter', '{"Pod":{}}')).toMatchObject({ status: 400, json: { Error: 'Pod with metadata.name is required' } });
    expect(await post('/preempt', '{}')).toMatchObject({ status: 404, json: { Error: expect.stringContaining('unknown extender verb') } });
    expect(await post('/filter', JSON.stringify({ pad: 'x'.repeat(5 * 1024 * 1024) }))).toMatchObject({ status: 413 });
    expect(await post('/bind', '{"PodName":"x"}')).toMatchObject({ status: 400, json: { Error: 'PodNamespace is required' } });
    const unknown = await post('/filter', JSON.stringify({ Pod: { metadata: { name: 'ghost', namespace: ns.name } }, NodeNames: ['no-such-node'] }));
    expect(unknown.status).toBe(200);
    expect(unknown.json).toMatchObject({ NodeNames: [], FailedNodes: { 'no-such-node': expect.stringContaining('unknown') } });
    // Not nodeCacheCapable: full Node objects in, full Node objects out.
    const node = await core.readNode({ name: 'spread-0' });
    const full = await post('/filter', JSON.stringify({ Pod: { metadata: { name: 'plain', namespace: ns.name } }, Nodes: { items: [node] } }));
    expect(full.status).toBe(200);
    expect((full.json as { Nodes?: { items: Array<{ metadata: { name: string } }> } }).Nodes?.items.map((n) => n.metadata.name)).toEqual(['spread-0']);
    // Still serving.
    expect((await httpGet(`${manager?.probesUrl}/healthz`)).status).toBe(200);
  });

  it('while the extender is down: ignorable false keeps pods Pending, ignorable true schedules them', async () => {
    await manager?.stop();
    manager = undefined;
    await core.createNamespacedPod({
      namespace: ns.name,
      body: { metadata: { name: 'strict' }, spec: { schedulerName: 'podgroup-scheduler', containers: [{ name: 'a', image: 'registry.example/a:1' }] } },
    });
    const message = await eventually(
      'strict pod Pending with the extender error',
      async () => {
        const pod = await core.readNamespacedPod({ name: 'strict', namespace: ns.name });
        const c = pod.status?.conditions?.find((x) => x.type === 'PodScheduled');
        return c?.status === 'False' && !pod.spec?.nodeName ? c.message : undefined;
      },
      60_000,
    );
    expect(message).toMatch(/connection refused|extender/i);

    // A second secondary scheduler with ignorable: true, pointed at the same dead extender.
    const state = clusterState();
    const dir = mkdtempSync(join(tmpdir(), 'podgroup-ignorable-'));
    const config = join(dir, 'config.yaml');
    writeFileSync(
      config,
      localPodGroupSchedulerConfig(state.kubeconfig, state.extenderPort, state.extenderClientTls, {
        schedulerName: 'podgroup-scheduler-ignorable',
        ignorable: true,
      }),
    );
    const port = await freePort();
    const binary = join(state.binDir, 'kube-scheduler');
    const pid = startDetached(binary, [`--config=${config}`, '--bind-address=127.0.0.1', `--secure-port=${port}`], join(dir, 'scheduler.log'), process.env);
    try {
      await core.createNamespacedPod({
        namespace: ns.name,
        body: {
          metadata: { name: 'lenient' },
          spec: { schedulerName: 'podgroup-scheduler-ignorable', containers: [{ name: 'a', image: 'registry.example/a:1' }] },
        },
      });
      await waitFor(
        'lenient pod scheduled without the extender',
        async () => Boolean((await core.readNamespacedPod({ name: 'lenient', namespace: ns.name })).spec?.nodeName),
        {
          timeoutMs: 60_000,
          abort: () => (isAlive(pid) ? undefined : 'the ignorable scheduler exited'),
        },
      );
    } finally {
      await stopProcess(pid);
      rmSync(dir, { recursive: true, force: true });
    }
    const strict = await core.readNamespacedPod({ name: 'strict', namespace: ns.name });
    expect(strict.spec?.nodeName).toBeUndefined();

    // Back up: the strict pod gets placed.
    manager = await startManager();
    await eventually(
      'strict pod scheduled once the extender is back',
      async () => Boolean((await core.readNamespacedPod({ name: 'strict', namespace: ns.name })).spec?.nodeName),
      90_000,
    );
  });
});
