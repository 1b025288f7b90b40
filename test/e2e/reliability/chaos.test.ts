// Faults during rollouts, bounded in time: the manager is killed with SIGKILL at random points
// of 20 rolling updates and restarted each time, while a pod watcher checks at every event that
// pods never exceed replicas + maxSurge (terminating pods counted: podReplacementPolicy TerminationComplete) and
// available pods never drop below replicas − maxUnavailable; at the end no pod is orphaned and the
// PodGroup has converged. Then two managers share a Lease through a failover, and at no observed
// instant do both report leader_election_master_status 1.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createNamespace, eventually } from '../support/cluster.js';
import { httpGet, killAll, metricValue } from '../support/processes.js';
import { createPodGroup, podGroupManifest, podsOf, PodWatcher, setImage, startManager, waitForRollout, type RunningManager } from '../support/podgroups.js';

const ROLLOUTS = 20;
const REPLICAS = 8;
const SURGE = 2;
const UNAVAILABLE = 1;

describe('chaos', () => {
  let ns: { name: string; remove: () => Promise<void> };
  let manager: RunningManager | undefined;
  let watcher: PodWatcher | undefined;

  beforeAll(async () => {
    ns = await createNamespace('e2e-chaos');
  });
  afterAll(async () => {
    watcher?.stop();
    await manager?.stop();
    await killAll();
    await ns.remove();
  });

  it(`keeps rollout bounds while the manager is killed during ${ROLLOUTS} rolling updates`, async () => {
    manager = await startManager();
    const strategy = { type: 'RollingUpdate' as const, rollingUpdate: { maxSurge: SURGE, maxUnavailable: UNAVAILABLE } };
    await createPodGroup(
      ns.name,
      podGroupManifest('chaos', { replicas: REPLICAS, strategy, podReplacementPolicy: 'TerminationComplete' }, 'registry.example/chaos:0'),
    );
    await waitForRollout(ns.name, 'chaos');
    watcher = new PodWatcher(ns.name, 'app=chaos', { maxPods: REPLICAS + SURGE, minAvailable: REPLICAS - UNAVAILABLE });
    await watcher.start();
    const recoveries: number[] = [];
    for (let i = 1; i <= ROLLOUTS; i += 1) {
      await setImage(ns.name, 'chaos', `registry.example/chaos:${i}`);
      // Kill at a random point: immediately, mid-way, or near the end of the rollout.
      await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 1500)));
      await manager.proc.kill('SIGKILL');
      const killedAt = Date.now();
      manager = await startManager();
      await waitForRollout(ns.name, 'chaos', 120_000);
      recoveries.push(Date.now() - killedAt);
      expect(watcher.violations).toEqual([]);
    }
    const pods = await podsOf(ns.name, 'chaos');
    expect(pods).toHaveLength(REPLICAS);
    expect(pods.every((p) => p.metadata?.ownerReferences?.some((r) => r.controller === true && r.name === 'chaos'))).toBe(true);
    expect(pods.every((p) => p.spec?.containers[0]?.image === `registry.example/chaos:${ROLLOUTS}`)).toBe(true);
    recoveries.sort((a, b) => a - b);
    process.stderr.write(
      `chaos: ${ROLLOUTS} rollouts with SIGKILL, ${watcher.events} pod events, 0 violations, max ${watcher.maxSeen} pods, min ${watcher.minAvailableSeen} available; ` +
        `kill → converged median ${recoveries[Math.floor(recoveries.length / 2)]} ms, max ${recoveries[recoveries.length - 1]} ms (includes process start)\n`,
    );
  });

  it('never has two active leaders through a failover', async () => {
    await manager?.stop();
    manager = undefined;
    const args = [
      '--leader-elect',
      '--leader-election-namespace',
      ns.name,
      '--leader-elect-lease-duration',
      '4s',
      '--leader-elect-renew-deadline',
      '3s',
      '--leader-elect-retry-period',
      '500ms',
    ];
    // Two processes on one machine cannot share the extender port: the first gets a spare one,
    // the second serves the podgroup-scheduler (so pods still schedule once the first is killed).
    const a = await startManager([...args, '--extender-bind-address', '127.0.0.1:0']);
    const master = async (m: RunningManager): Promise<number> => {
      const res = await httpGet(m.metricsUrl).catch(() => undefined);
      return res === undefined ? 0 : (metricValue(res.body, 'leader_election_master_status{name="podgroup-controller"}') ?? 0);
    };
    await eventually('a leads', async () => (await master(a)) === 1, 30_000);
    const b = await startManager(args);
    await createPodGroup(ns.name, podGroupManifest('failover', { replicas: 4 }, 'registry.example/failover:1'));
    await waitForRollout(ns.name, 'failover');
    let both = 0;
    let samples = 0;
    const poll = setInterval(() => {
      void Promise.all([master(a), master(b)]).then(([x, y]) => {
        samples += 1;
        if (x === 1 && y === 1) {
          both += 1;
        }
      });
    }, 50);
    try {
      await a.proc.kill('SIGKILL');
      await eventually('b leads', async () => (await master(b)) === 1, 20_000, 50);
      // A rollout completes under the new leader.
      await setImage(ns.name, 'failover', 'registry.example/failover:2');
      await waitForRollout(ns.name, 'failover', 120_000);
    } finally {
      clearInterval(poll);
    }
    expect(samples).toBeGreaterThan(10);
    expect(both).toBe(0);
    await b.stop();
  });
});
