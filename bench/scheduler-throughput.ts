// Scheduling throughput through the real podgroup-scheduler (kube-scheduler with our profile) on
// kwok nodes: pods bound per second with the extender (filter, prioritize and bind through the
// compiled manager) and with the same profile minus the extender, for one big PodGroup or many
// small ones (members of different PodGroups never wait for each other). Each run's pods are created
// first under a scheduler name nobody serves yet, then a kube-scheduler for that name starts; the
// rate is counted from the first pod bound to the last (start-up excluded), as kube-scheduler's
// own scheduler_perf reports pods scheduled per second.
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { GROUP, PLURAL, VERSION, type PodGroup } from '../src/api/podgroup.js';
import { freePort, waitFor } from '../hack/control-plane/processes.js';
import { removeExtraComponent, startExtraComponent } from '../hack/control-plane/components.js';
import { localPodGroupSchedulerConfig } from '../hack/control-plane/manifests.js';
import { loadKubeConfig, type ClusterState } from '../hack/control-plane/state.js';
import { percentile } from './report.js';

export interface ThroughputRow extends Record<string, string | number> {
  scheduler: string;
  podgroups: number;
  pods: number;
  nodes: number;
  'pods bound/s': string;
  'first → last bound s': string;
  'load (1/5/15 min)': string;
}

const uptime = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** A kube-scheduler serving `schedulerName` with our profile, with or without the extender. */
async function startScheduler(state: ClusterState, schedulerName: string, withExtender: boolean): Promise<string> {
  const config = parseYaml(localPodGroupSchedulerConfig(state.kubeconfig, state.extenderPort, state.extenderClientTls, { schedulerName })) as {
    extenders?: unknown[];
  };
  if (!withExtender) {
    delete config.extenders;
  }
  const file = join(state.stateDir, `${schedulerName}.yaml`);
  writeFileSync(file, toYaml(config));
  const port = await freePort();
  const name = `bench-${schedulerName}`;
  await startExtraComponent(state, {
    name,
    binary: join(state.binDir, 'kube-scheduler'),
    pid: 0,
    ports: [port],
    log: join(state.stateDir, 'logs', `${name}.log`),
    health: { url: `https://127.0.0.1:${port}/healthz`, tls: 'insecure' },
    args: [
      `--config=${file}`,
      `--authentication-kubeconfig=${state.kubeconfig}`,
      `--authorization-kubeconfig=${state.kubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${port}`,
    ],
  });
  return name;
}

/** Label every pod of one run carries (each PodGroup selects its own by `app`). */
const RUN_LABEL = 'throughput-run';

/**
 * One run: `pods` pods in `groups` PodGroups (sizes differing by one at most), held under
 * `schedulerName` until its scheduler starts.
 */
export async function measureThroughput(
  state: ClusterState,
  options: { namespace: string; schedulerName: string; withExtender: boolean; pods: number; groups: number; nodes: number },
): Promise<ThroughputRow> {
  const kc = loadKubeConfig(state);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const { namespace, schedulerName, pods, groups } = options;
  const name = `throughput-${options.withExtender ? 'ext' : 'plain'}`;
  for (let i = 0; i < groups; i += 1) {
    const app = groups === 1 ? name : `${name}-${i}`;
    const group: PodGroup = {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'PodGroup',
      metadata: { name: app },
      spec: {
        replicas: Math.floor(pods / groups) + (i < pods % groups ? 1 : 0),
        // Every member is placed on its own (no gang wait): the rate is the scheduler's, not the gang's.
        minAvailable: 1,
        selector: { matchLabels: { app } },
        placement: { policy: 'Spread' },
        template: {
          metadata: { labels: { app, [RUN_LABEL]: name } },
          spec: {
            schedulerName,
            terminationGracePeriodSeconds: 0,
            containers: [{ name: 'app', image: 'registry.example/app:1', resources: { requests: { cpu: '10m', memory: '16Mi' } } }],
          },
        },
      },
    };
    await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, body: group });
  }
  const selector = `${RUN_LABEL}=${name}`;
  await waitFor(`${pods} pods of ${name} created`, async () => (await core.listNamespacedPod({ namespace, labelSelector: selector })).items.length >= pods, {
    timeoutMs: 900_000,
    intervalMs: 2000,
  });
  const load = uptime();
  const component = await startScheduler(state, schedulerName, options.withExtender);
  // Bind times from a watch (each pod's first sight with a node), so polling cost is not in the
  // figure; a watch the server ends is opened again (pods already seen are not counted twice).
  const boundAt: number[] = [];
  const seen = new Set<string>();
  const watch = new k8s.Watch(kc);
  let current: AbortController | undefined;
  let finished = false;
  const done = new Promise<void>((resolve, reject) => {
    const open = (): void => {
      watch
        .watch(
          `/api/v1/namespaces/${namespace}/pods`,
          { labelSelector: selector },
          (_phase, pod: k8s.V1Pod) => {
            const uid = pod.metadata?.uid ?? '';
            if (pod.spec?.nodeName && !seen.has(uid)) {
              seen.add(uid);
              boundAt.push(performance.now());
              if (seen.size >= pods) {
                resolve();
              }
            }
          },
          () => {
            if (!finished && seen.size < pods) {
              open();
            }
          },
        )
        .then((controller) => (current = controller), reject);
    };
    open();
  });
  let deadline: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      done,
      new Promise(
        (_, reject) => (deadline = setTimeout(() => reject(new Error(`${name}: not all ${pods} pods bound within 15 min (${seen.size} bound)`)), 900_000)),
      ),
    ]);
  } finally {
    finished = true;
    current?.abort();
    clearTimeout(deadline);
    await removeExtraComponent(state, component);
  }
  boundAt.sort((a, b) => a - b);
  const span = ((boundAt.at(-1) ?? 0) - (boundAt[0] ?? 0)) / 1000;
  // Inter-bind gaps, to show whether the rate was steady.
  const gaps = boundAt
    .slice(1)
    .map((t, i) => t - (boundAt[i] ?? t))
    .sort((a, b) => a - b);
  return {
    scheduler: options.withExtender ? 'podgroup-scheduler with the extender' : 'same profile without the extender',
    podgroups: groups,
    pods,
    nodes: options.nodes,
    'pods bound/s': ((boundAt.length - 1) / Math.max(span, 1e-3)).toFixed(1),
    'first → last bound s': span.toFixed(1),
    'p99 gap ms': percentile(gaps, 99).toFixed(1),
    'load (1/5/15 min)': load,
  };
}
