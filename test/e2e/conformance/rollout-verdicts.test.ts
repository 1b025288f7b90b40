// "Is it rolled out?" as GitOps tools decide it, upstream as the oracle: a Deployment (the
// reference kube-controller-manager) and a PodGroup with the same spec are driven side by side
// through pods coming up, a rollout that misses its progress deadline, a fixing rollout, a pause
// and a resume. At every poll both objects go through kstatus itself (sigs.k8s.io/cli-utils, as
// Flux, kpt and Helm 4 --wait run it) and through the Argo CD health script on gopher-lua (the
// script mirrors Argo CD's built-in Deployment check, so on the Deployment it gives Argo CD's
// verdict); the sequences of verdicts must be the same for both kinds, and the expected ones.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startReferenceKcm, stopReferenceKcm } from '../../../hack/cluster/reference-kcm.js';
import { argoHealth, ARGOCD_CUSTOMIZATIONS, gitopsToolsDir, kstatus } from '../../../hack/gitops-tools.js';
import { API_VERSION, GROUP, PLURAL, VERSION } from '../../../src/api/podgroup.js';
import { clusterState, createNamespace, eventually } from '../support/cluster.js';
import { killAll } from '../support/processes.js';
import { apps, custom, mergePatch, startManager, type RunningManager } from '../support/podgroups.js';
import { NOWHERE } from './harness.js';

const HEALTH_LUA = readFileSync(join(ARGOCD_CUSTOMIZATIONS, 'podgroup.dev', 'PodGroup', 'health.lua'), 'utf8');
type Kind = 'Deployment' | 'PodGroup';
const KINDS: Kind[] = ['Deployment', 'PodGroup'];

interface Verdicts {
  kstatus: string;
  argo: string;
}

describe("kstatus and Argo CD read a PodGroup as they read a Deployment, through a rollout's life", () => {
  let manager: RunningManager;
  let ns: { name: string; remove: () => Promise<void> };

  beforeAll(async () => {
    gitopsToolsDir();
    await startReferenceKcm(clusterState());
    manager = await startManager();
    ns = await createNamespace('verdicts');
  });
  afterAll(async () => {
    await manager?.stop();
    await killAll();
    await stopReferenceKcm(clusterState());
    await ns?.remove();
  });

  const name = (kind: Kind): string => `web-${kind.toLowerCase()}`;

  function body(kind: Kind): object {
    return {
      apiVersion: kind === 'Deployment' ? 'apps/v1' : API_VERSION,
      kind,
      metadata: { name: name(kind) },
      spec: {
        replicas: 2,
        // Pods are Ready at once on kwok; minReadySeconds keeps "coming up" observable.
        minReadySeconds: 3,
        progressDeadlineSeconds: 6,
        selector: { matchLabels: { app: name(kind) } },
        template: {
          metadata: { labels: { app: name(kind) } },
          spec: { schedulerName: 'default-scheduler', terminationGracePeriodSeconds: 0, containers: [{ name: 'app', image: 'registry.example/app:1' }] },
        },
      },
    };
  }

  async function read(kind: Kind): Promise<object> {
    const obj =
      kind === 'Deployment'
        ? await apps.readNamespacedDeployment({ name: name(kind), namespace: ns.name })
        : await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns.name, plural: PLURAL, name: name(kind) });
    return { ...JSON.parse(JSON.stringify(obj)), apiVersion: kind === 'Deployment' ? 'apps/v1' : API_VERSION, kind };
  }

  async function patch(kind: Kind, patchBody: object): Promise<void> {
    if (kind === 'Deployment') {
      await apps.patchNamespacedDeployment({ name: name(kind), namespace: ns.name, body: patchBody }, mergePatch);
    } else {
      await custom.patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, namespace: ns.name, plural: PLURAL, name: name(kind), body: patchBody },
        mergePatch,
      );
    }
  }

  /** Every distinct verdict in the order seen, per kind. */
  const seen: Record<Kind, Verdicts[]> = { Deployment: [], PodGroup: [] };

  async function poll(): Promise<Record<Kind, Verdicts>> {
    const objects = await Promise.all(KINDS.map(read));
    const k = kstatus(objects);
    const a = argoHealth(HEALTH_LUA, objects);
    const now = {} as Record<Kind, Verdicts>;
    KINDS.forEach((kind, i) => {
      const v = { kstatus: k[i]?.status ?? `error: ${k[i]?.error}`, argo: a[i]?.status ?? `error: ${a[i]?.error}` };
      now[kind] = v;
      const last = seen[kind].at(-1);
      if (last?.kstatus !== v.kstatus || last.argo !== v.argo) {
        seen[kind].push(v);
      }
    });
    return now;
  }

  /** Polls until both kinds show `want`. */
  async function until(what: string, want: Verdicts, timeoutMs = 60_000): Promise<void> {
    await eventually(
      `${what}: both kinds ${JSON.stringify(want)} (seen ${JSON.stringify(seen)})`,
      async () => {
        const now = await poll();
        return KINDS.every((kind) => now[kind].kstatus === want.kstatus && now[kind].argo === want.argo);
      },
      timeoutMs,
      150,
    );
  }

  /**
   * The distinct verdicts in order. A resume bumps the generation, so Argo CD's check may show
   * Progressing for the instant before the controller observes it (on either kind, as a poll
   * happens to catch it): that instant is left out.
   */
  const collapsed = (verdicts: Verdicts[], key: keyof Verdicts): string[] =>
    verdicts
      .map((v) => v[key])
      .filter((s, i, all) => i === 0 || all[i - 1] !== s)
      .filter((s, i, all) => !(key === 'argo' && s === 'Progressing' && all[i - 1] === 'Suspended' && all[i + 1] === 'Healthy'));

  it('InProgress while pods come up, Failed past the deadline, InProgress again when a fix rolls out, Current when complete', async () => {
    for (const kind of KINDS) {
      if (kind === 'Deployment') {
        await apps.createNamespacedDeployment({ namespace: ns.name, body: body(kind) });
      } else {
        await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns.name, plural: PLURAL, body: body(kind) });
      }
    }
    await until('pods up and available', { kstatus: 'Current', argo: 'Healthy' });

    // A rollout to a template no node can take: stuck, then past its 6 s deadline.
    await Promise.all(KINDS.map((kind) => patch(kind, { spec: { template: { spec: { nodeSelector: NOWHERE } } } })));
    await until('a stuck rollout past its progress deadline', { kstatus: 'Failed', argo: 'Degraded' });

    // The fix: a new template that can run. It starts a new rollout, which completes.
    await Promise.all(
      KINDS.map((kind) =>
        patch(kind, { spec: { template: { spec: { nodeSelector: null, containers: [{ name: 'app', image: 'registry.example/app:2' }] } } } }),
      ),
    );
    await until('the fixing rollout complete', { kstatus: 'Current', argo: 'Healthy' });

    await Promise.all(KINDS.map((kind) => patch(kind, { spec: { paused: true } })));
    await until('paused', { kstatus: 'InProgress', argo: 'Suspended' });
    await Promise.all(KINDS.map((kind) => patch(kind, { spec: { paused: false } })));
    await until('resumed', { kstatus: 'Current', argo: 'Healthy' });

    for (const kind of KINDS) {
      expect({ kind, kstatus: collapsed(seen[kind], 'kstatus') }).toEqual({
        kind,
        kstatus: ['InProgress', 'Current', 'InProgress', 'Failed', 'InProgress', 'Current', 'InProgress', 'Current'],
      });
      expect({ kind, argo: collapsed(seen[kind], 'argo') }).toEqual({
        kind,
        argo: ['Progressing', 'Healthy', 'Progressing', 'Degraded', 'Progressing', 'Healthy', 'Suspended', 'Healthy'],
      });
    }
  });
});
