// config/kube-state-metrics/podgroup-state-metrics.yaml, checked with a real kube-state-metrics
// (built from its Go module, hack/tools/kube-state-metrics) against the manager's own /metrics:
// for PodGroups in several states, every per-PodGroup series of ours has the same value in
// kube-state-metrics' output, after the differences the configuration declares.
// Not part of npm test (the kube-state-metrics build takes minutes): `npm run check:kube-state-metrics`.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { REPO_ROOT } from '../../hack/control-plane/paths.js';
import { freePort } from '../../hack/control-plane/processes.js';
import { clusterState, createNamespace, eventually } from './support/cluster.js';
import { httpGet } from './support/processes.js';
import { createPodGroup, patchPodGroup, podGroupManifest, startManager, type RunningManager } from './support/podgroups.js';

const CONFIG = join(REPO_ROOT, 'config', 'kube-state-metrics', 'podgroup-state-metrics.yaml');

/** Parses a text exposition into "name{sorted labels}" → value, keeping podgroup_* series only. */
export function series(text: string, normalize: (labels: Record<string, string>) => Record<string, string> = (l) => l): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(podgroup_[a-z_]+)(?:\{(.*)\})? ([0-9.eE+-]+|NaN)$/.exec(line);
    if (m === null) {
      continue;
    }
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1] ?? ''] = l[2] ?? '';
    }
    const kept = normalize(labels);
    const key = `${m[1]}{${Object.keys(kept)
      .sort()
      .map((k) => `${k}="${kept[k]}"`)
      .join(',')}}`;
    out.set(key, Number(m[3]));
  }
  return out;
}

/** The differences podgroup-state-metrics.yaml declares (made by kube-state-metrics itself). */
function asOurs(labels: Record<string, string>): Record<string, string> {
  const { customresource_group: _g, customresource_kind: _k, customresource_version: _v, ...rest } = labels;
  return rest.status === undefined ? rest : { ...rest, status: rest.status.toLowerCase() };
}

describe('kube-state-metrics with podgroup-state-metrics.yaml exports our per-PodGroup series', () => {
  let manager: RunningManager;
  let ksm: ChildProcess | undefined;
  let ksmUrl = '';
  let ns: { name: string; remove: () => Promise<void> };

  beforeAll(async () => {
    const binDir = execFileSync(join(REPO_ROOT, 'hack', 'build-gitops-tools.sh'), ['--with-kube-state-metrics'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 1_800_000,
    }).trim();
    manager = await startManager();
    ns = await createNamespace('ksm');
    const port = await freePort();
    const telemetry = await freePort();
    ksm = spawn(join(binDir, 'kube-state-metrics'), [
      `--kubeconfig=${clusterState().kubeconfig}`,
      `--custom-resource-state-config-file=${CONFIG}`,
      '--custom-resource-state-only',
      `--namespaces=${ns.name}`,
      '--host=127.0.0.1',
      `--port=${port}`,
      '--telemetry-host=127.0.0.1',
      `--telemetry-port=${telemetry}`,
    ]);
    ksm.stderr?.resume();
    ksm.stdout?.resume();
    ksmUrl = `http://127.0.0.1:${port}/metrics`;
  }, 1_900_000);
  afterAll(async () => {
    ksm?.kill('SIGTERM');
    await manager?.stop();
    await ns?.remove();
  });

  it('the same series and values for PodGroups in different states', async () => {
    await createPodGroup(ns.name, podGroupManifest('steady', { replicas: 2, minAvailable: 2 }));
    await createPodGroup(ns.name, podGroupManifest('paused', { replicas: 3, paused: true, minAvailable: 3 }));
    await createPodGroup(ns.name, podGroupManifest('stuck', { replicas: 2, progressDeadlineSeconds: 2, minAvailable: 1 }));
    await patchPodGroup(ns.name, 'stuck', { spec: { template: { spec: { nodeSelector: { 'podgroup.dev/nowhere': 'true' } } } } });

    const inNamespace = (m: Map<string, number>): Map<string, number> => new Map([...m].filter(([k]) => k.includes(`namespace="${ns.name}"`)));
    const differences = await eventually(
      'kube-state-metrics and the manager agree on every series',
      async () => {
        const ours = inNamespace(series((await httpGet(manager.metricsUrl)).body));
        const theirs = inNamespace(series((await httpGet(ksmUrl)).body, asOurs));
        const diff = [...new Set([...ours.keys(), ...theirs.keys()])]
          .filter((k) => ours.get(k) !== theirs.get(k))
          .map((k) => `${k}: ours ${ours.get(k)}, kube-state-metrics ${theirs.get(k)}`);
        const settled = [...ours.keys()].some(
          (k) => k.includes('condition="Stalled"') && k.includes('podgroup="stuck"') && k.includes('status="true"') && ours.get(k) === 1,
        );
        return settled && ours.size > 30 && diff.length === 0 ? diff : undefined;
      },
      60_000,
      500,
    ).catch(async (err: unknown) => {
      const ours = inNamespace(series((await httpGet(manager.metricsUrl)).body));
      const theirs = inNamespace(series((await httpGet(ksmUrl)).body, asOurs));
      const diff = [...new Set([...ours.keys(), ...theirs.keys()])]
        .filter((k) => ours.get(k) !== theirs.get(k))
        .map((k) => `${k}: ours ${ours.get(k)}, kube-state-metrics ${theirs.get(k)}`);
      throw new Error(`${String(err)}\n${diff.join('\n')}`);
    });
    expect(differences).toEqual([]);
  });
});
