// Lost answers: the API server creates a pod but its answer never reaches the manager (the
// connection breaks after the API server has finished). The manager names its pods itself, sends
// such a create again under the same name, and takes AlreadyExists as proof that the first one
// worked — so the PodGroup ends with exactly its replicas and no extra pod is ever created.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { clusterState, createNamespace } from '../support/cluster.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { killAll } from '../support/processes.js';
import { createPodGroup, podGroupManifest, podsOf, PodWatcher, startManager, waitForRollout, type RunningManager } from '../support/podgroups.js';

const REPLICAS = 6;
const LOST = 3;

describe('lost answers', () => {
  let ns: { name: string; remove: () => Promise<void> };
  let proxy: FaultProxy | undefined;
  let manager: RunningManager | undefined;
  let watcher: PodWatcher | undefined;

  beforeAll(async () => {
    ns = await createNamespace('e2e-lost');
  });
  afterAll(async () => {
    watcher?.stop();
    await manager?.stop();
    await killAll();
    await proxy?.close();
    await ns.remove();
  });

  it(`creates exactly ${REPLICAS} pods when the answers to ${LOST} creates are lost`, async () => {
    const podsPath = `/api/v1/namespaces/${ns.name}/pods`;
    let creates = 0;
    const names = new Set<string>();
    proxy = await startFaultProxy(clusterState(), (method, path, body) => {
      // Pod creates only (not the extender's POST …/pods/<name>/binding).
      if (method !== 'POST' || path.split('?')[0] !== podsPath) {
        return 'pass';
      }
      creates += 1;
      // Lose the answer to the first attempt of the first few pods; their retries (same name) get through.
      const name = String((JSON.parse(body) as { metadata?: { name?: string } }).metadata?.name);
      const first = !names.has(name);
      names.add(name);
      return first && names.size <= LOST ? 'drop-answer' : 'pass';
    });
    watcher = new PodWatcher(ns.name, 'app=lost', { maxPods: REPLICAS, minAvailable: 0 });
    await watcher.start();
    manager = await startManager(['--kubeconfig', proxy.kubeconfig]);

    await createPodGroup(ns.name, podGroupManifest('lost', { replicas: REPLICAS, podReplacementPolicy: 'TerminationComplete' }));
    await waitForRollout(ns.name, 'lost');

    expect(proxy.dropped).toHaveLength(LOST);
    // Every pod's create reached the API server once, plus one retry for each lost answer.
    expect(creates).toBe(REPLICAS + LOST);
    const retried = await manager.proc.waitForLine(/pod create got no answer; sending it again/);
    expect(retried).not.toBeNull();
    const pods = await podsOf(ns.name, 'lost');
    expect(pods).toHaveLength(REPLICAS);
    // Never more than REPLICAS pods at any observed instant, and none was deleted.
    expect(watcher.violations).toEqual([]);
    expect(watcher.maxSeen).toBe(REPLICAS);
    expect(watcher.deletions).toBe(0);
    process.stderr.write(
      `lost answers: ${proxy.dropped.length} create answers dropped, ${creates} creates reached the API server, ${pods.length} pods, 0 extra\n`,
    );
  });
});
