// Control-plane restarts during rollouts, bounded in time: kube-apiserver, then etcd, is stopped
// and started again while a rolling update is half done, under the pod watcher that checks at
// every event (and at every relist after it lost its watch) that pods never exceed
// replicas + maxSurge, terminating ones included, and available pods never drop below
// replicas − maxUnavailable. The manager keeps running through it; the rollout must converge
// with the exact replica count, all pods on the new image, none orphaned. Afterwards every
// component of the shared cluster must be serving again (kube-scheduler places and kwok runs a
// plain pod, kube-controller-manager creates and deletes namespaces).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type * as k8s from '@kubernetes/client-node';
import { findComponent, isHealthy, startComponent, stopComponent } from '../../../hack/control-plane/components.js';
import { isReady, isTerminating } from '../../../src/podgroup/pod-state.js';
import { clusterState, createNamespace, eventually } from '../support/cluster.js';
import { killAll } from '../support/processes.js';
import {
  core,
  createPodGroup,
  podGroupManifest,
  podsOf,
  PodWatcher,
  setImage,
  startManager,
  waitForRollout,
  type RunningManager,
} from '../support/podgroups.js';

const REPLICAS = 10;
const SURGE = 2;
const UNAVAILABLE = 1;

const image = (name: string, v: number): string => `registry.example/${name}:${v}`;
const onImage = (p: k8s.V1Pod, img: string): boolean => p.spec?.containers[0]?.image === img;

/** Every recorded component healthy, and each one doing its job for a fresh namespace. */
async function controlPlaneServes(): Promise<void> {
  const state = clusterState();
  for (const component of state.components) {
    await eventually(`${component.name} healthy`, () => isHealthy(state, component).catch(() => false), 60_000, 200);
  }
  // kube-controller-manager's serviceaccount controller: createNamespace waits for `default`.
  // After an API server restart, client-go's reflectors come back on their own backoff (up to
  // 30 s, jittered): seen here taking longer than 30 s once, so this wait allows 90 s.
  const probe = await createNamespace('e2e-cp-probe', {}, 90_000);
  try {
    await core.createNamespacedPod({
      namespace: probe.name,
      body: { metadata: { name: 'probe' }, spec: { containers: [{ name: 'app', image: 'registry.example/probe:1' }], terminationGracePeriodSeconds: 0 } },
    });
    await eventually(
      'kube-scheduler to place and kwok to run a plain pod',
      async () => (await core.readNamespacedPod({ name: 'probe', namespace: probe.name })).status?.phase === 'Running',
      60_000,
      200,
    );
  } finally {
    await probe.remove();
  }
  // kube-controller-manager's namespace controller empties and removes it.
  await eventually(
    `namespace ${probe.name} to be deleted`,
    async () => {
      try {
        await core.readNamespace({ name: probe.name });
        return false;
      } catch (err) {
        return (err as { code?: number }).code === 404;
      }
    },
    60_000,
    200,
  );
}

describe('control-plane restarts during a rollout', () => {
  let ns: { name: string; remove: () => Promise<void> };
  let manager: RunningManager | undefined;
  const watchers: PodWatcher[] = [];

  beforeAll(async () => {
    ns = await createNamespace('e2e-cp');
    manager = await startManager();
  });
  afterAll(async () => {
    watchers.forEach((w) => w.stop());
    await manager?.stop();
    await killAll();
    await ns.remove();
  });

  for (const component of ['kube-apiserver', 'etcd'] as const) {
    it(`completes a rolling update through a ${component} restart without breaking its bounds`, async () => {
      const name = component === 'etcd' ? 'through-etcd' : 'through-apiserver';
      const strategy = { type: 'RollingUpdate' as const, rollingUpdate: { maxSurge: SURGE, maxUnavailable: UNAVAILABLE } };
      await createPodGroup(
        ns.name,
        podGroupManifest(name, { replicas: REPLICAS, minReadySeconds: 1, strategy, podReplacementPolicy: 'TerminationComplete' }, image(name, 1)),
      );
      await waitForRollout(ns.name, name);
      const watcher = new PodWatcher(ns.name, `app=${name}`, { maxPods: REPLICAS + SURGE, minAvailable: REPLICAS - UNAVAILABLE });
      watchers.push(watcher);
      await watcher.start();

      await setImage(ns.name, name, image(name, 2));
      await eventually('the watcher to see a pod of the new revision', () => watcher.snapshot().some((p) => onImage(p, image(name, 2))), 30_000, 20);

      const state = clusterState();
      const relistsBefore = watcher.relists;
      const stoppingAt = Date.now();
      let stoppedAt = stoppingAt;
      let atOutage: k8s.V1Pod[] = [];
      try {
        await stopComponent(state, component);
        stoppedAt = Date.now();
        atOutage = watcher.snapshot();
      } finally {
        // Whatever happened, later tests need a working control plane.
        await startComponent(state, findComponent(state, component), 120_000);
      }
      const healthyAt = Date.now();
      // After an etcd restart kube-apiserver has to reconnect by itself before it serves again.
      await eventually(
        'kube-apiserver to serve a pod list',
        async () => (await core.listNamespacedPod({ namespace: ns.name, labelSelector: `app=${name}` })).items.length > 0,
        60_000,
        50,
      );
      const servingAt = Date.now();
      const done = await waitForRollout(ns.name, name, 120_000);
      const convergedAt = Date.now();

      // The last state the watcher saw before the outage was mid-rollout.
      const updatedAvailable = atOutage.filter((p) => onImage(p, image(name, 2)) && isReady(p) && !isTerminating(p)).length;
      expect(atOutage.some((p) => !onImage(p, image(name, 2))) || updatedAvailable < REPLICAS).toBe(true);

      expect(watcher.violations).toEqual([]);
      if (component === 'kube-apiserver') {
        // Its watch was cut and it resumed by relisting.
        expect(watcher.relists).toBeGreaterThan(relistsBefore);
      }
      await eventually('the watcher to be watching', () => watcher.watching, 30_000);
      expect(manager?.proc.child.exitCode).toBeNull();

      const pods = await podsOf(ns.name, name);
      expect(pods).toHaveLength(REPLICAS);
      expect(pods.every((p) => p.metadata?.ownerReferences?.some((r) => r.controller === true && r.kind === 'PodGroup' && r.uid === done.metadata?.uid))).toBe(
        true,
      );
      expect(pods.every((p) => onImage(p, image(name, 2)) && !isTerminating(p) && isReady(p))).toBe(true);

      await controlPlaneServes();

      process.stderr.write(
        `control-plane: ${component} restarted mid-rollout (${updatedAvailable}/${REPLICAS} updated and available at the outage): ` +
          `stop ${stoppedAt - stoppingAt} ms, outage ${healthyAt - stoppingAt} ms (stop → healthy), API serving ${servingAt - stoppingAt} ms after the stop, ` +
          `ready → converged ${convergedAt - servingAt} ms; watcher: ${watcher.events} pod events, ${watcher.relists - relistsBefore} relists ` +
          `(${watcher.gaps.map((g) => `"${g.reason}" ${g.lostAt - stoppingAt} ms after the stop, watching again ${g.ms} ms later`).join('; ') || 'its watch was never cut'}), ` +
          `${watcher.violations.length} violations, max ${watcher.maxSeen} pods, min ${watcher.minAvailableSeen} available\n`,
      );
    });
  }
});
