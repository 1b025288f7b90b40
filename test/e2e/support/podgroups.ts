// PodGroup helpers for e2e tests: the manager as a real process, typed access to PodGroups,
// and a pod watcher that checks rollout bounds at every event it observes.
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { installCrds } from '../../../hack/control-plane/manifests.js';
import { REPO_ROOT } from '../../../hack/control-plane/paths.js';
import { GROUP, PLURAL, REVISION_HASH_LABEL, VERSION, type PodGroup, type PodGroupSpec } from '../../../src/api/podgroup.js';
import { isReady, isTerminating } from '../../../src/podgroup/pod-state.js';
import { clusterState, eventually, kubeConfig } from './cluster.js';
import { httpGet, metricValue, startTs, type TsProcess } from './processes.js';

const kc = kubeConfig();
export const core = kc.makeApiClient(k8s.CoreV1Api);
export const custom = kc.makeApiClient(k8s.CustomObjectsApi);
export const apps = kc.makeApiClient(k8s.AppsV1Api);
export const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

export interface RunningManager {
  proc: TsProcess;
  metricsUrl: string;
  probesUrl: string;
  stop(): Promise<void>;
}

let managerCount = 0;

/** Starts src/main.ts against the e2e cluster; resolves once it reports its ports. */
/**
 * Manager flags for a webhook served on 127.0.0.1:port (the API server calls the local process),
 * with its TLS Secret in ownNamespace and, if given, the caBundle kept current in configName.
 */
export function localWebhookFlags(port: number, ownNamespace: string, configName?: string): string[] {
  return [
    '--webhook-bind-address',
    `127.0.0.1:${port}`,
    '--webhook-cert-ips',
    '127.0.0.1',
    '--webhook-namespace',
    ownNamespace,
    ...(configName === undefined ? [] : ['--webhook-config-name', configName]),
  ];
}

export async function startManager(extraArgs: string[] = []): Promise<RunningManager> {
  await installCrds(clusterState());
  managerCount += 1;
  const proc = startTs(
    join(REPO_ROOT, 'src', 'main.ts'),
    [
      '--kubeconfig',
      clusterState().kubeconfig,
      '--metrics-bind-address',
      '127.0.0.1:0',
      // Plain metrics for the tests that read them; test/e2e/security covers the secure server.
      '--metrics-secure=false',
      '--health-probe-bind-address',
      '127.0.0.1:0',
      '--kube-api-qps',
      '200',
      '--kube-api-burst',
      '400',
      '--extender-bind-address',
      `127.0.0.1:${clusterState().extenderPort}`,
      // The Secrets the local podgroup-scheduler's client certificate came from.
      '--extender-secret-namespace',
      clusterState().extenderSecretNamespace,
      // The webhook needs its own namespace and configuration: tests that want it pass them.
      '--webhook-bind-address',
      '0',
      ...extraArgs,
    ],
    `manager-${process.pid}-${managerCount}`,
  );
  const [, metrics, probes] = await proc.waitForLine(/"extender":\d+.*"message":"manager started".*"metrics":(\d+).*"probes":(\d+)/);
  return {
    proc,
    metricsUrl: `http://127.0.0.1:${metrics}/metrics`,
    probesUrl: `http://127.0.0.1:${probes}`,
    stop: async () => {
      await proc.kill('SIGTERM');
    },
  };
}

/** Sum of rest_client_requests_total for the given methods. */
export async function apiRequests(manager: RunningManager, methods: string[]): Promise<number> {
  const text = (await httpGet(manager.metricsUrl)).body;
  let total = 0;
  for (const line of text.split('\n')) {
    const m = /^rest_client_requests_total\{code="[^"]*",method="([A-Z]+)",host="[^"]*"\} (\d+(?:\.\d+)?)/.exec(line);
    if (m !== null && methods.includes(m[1] ?? '')) {
      total += Number(m[2]);
    }
  }
  return total;
}

export async function reconcileCount(manager: RunningManager): Promise<number> {
  const text = (await httpGet(manager.metricsUrl)).body;
  return metricValue(text, 'controller_runtime_reconcile_total{controller="podgroup",result="success"}') ?? 0;
}

export function podGroupManifest(name: string, spec: Partial<PodGroupSpec> = {}, image = 'registry.example/web:1'): PodGroup {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'PodGroup',
    metadata: { name },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image }], terminationGracePeriodSeconds: 0 },
      },
      ...spec,
    },
  };
}

export async function createPodGroup(namespace: string, pg: PodGroup): Promise<PodGroup> {
  return (await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, body: pg })) as PodGroup;
}

export async function getPodGroup(namespace: string, name: string): Promise<PodGroup> {
  return (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name })) as PodGroup;
}

export async function patchPodGroup(namespace: string, name: string, body: object): Promise<PodGroup> {
  return (await custom.patchNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body }, mergePatch)) as PodGroup;
}

export async function setImage(namespace: string, name: string, image: string): Promise<void> {
  await custom.patchNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: PLURAL,
    name,
    body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: image }],
  });
}

export async function podsOf(namespace: string, name: string): Promise<k8s.V1Pod[]> {
  return (await core.listNamespacedPod({ namespace, labelSelector: `app=${name}` })).items;
}

/** Waits until the PodGroup has converged: every desired pod updated, ready and available, nothing extra. */
export async function waitForRollout(namespace: string, name: string, timeoutMs = 120_000): Promise<PodGroup> {
  return eventually(
    `PodGroup ${name} to converge`,
    async () => {
      const pg = await getPodGroup(namespace, name);
      const s = pg.status;
      const want = pg.spec.replicas ?? 1;
      const pods = await podsOf(namespace, name);
      const done =
        s !== undefined &&
        s.observedGeneration === pg.metadata?.generation &&
        s.updatedReplicas === want &&
        s.availableReplicas === want &&
        s.replicas === want &&
        pods.length === want &&
        pods.every((p) => !isTerminating(p) && isReady(p));
      return done ? pg : undefined;
    },
    timeoutMs,
    200,
  );
}

export interface Bounds {
  maxPods: number;
  minAvailable: number;
  /**
   * Whether terminating pods count against maxPods: true (the default here) for
   * podReplacementPolicy TerminationComplete, false for TerminationStarted (the PodGroup's default).
   */
  countTerminating?: boolean;
}

/** Backoff between relist attempts after the watch was lost: 200 ms doubling to 2 s. */
const RELIST_BACKOFF = { initialMs: 200, maxMs: 2_000 };
/** A relist that has not answered by then (e.g. the API server waits on a stopped etcd) is retried. */
const RELIST_TIMEOUT_MS = 5_000;

/**
 * Watches a PodGroup's pods and records, at every event, the pods that count against the surge
 * bound (terminating included) and how many are available (Ready, not terminating).
 *
 * It survives control-plane outages: when its watch ends (an error, a close, or an ERROR event
 * such as 410 Gone for an expired resourceVersion) and stop() was not called, it relists (the
 * list replaces what it knew and is checked like an event), then watches again from the list's
 * resourceVersion, retrying with a short backoff until that succeeds or stop() is called. What
 * happened while it had no watch is only seen as the relisted state.
 */
export class PodWatcher {
  private readonly pods = new Map<string, k8s.V1Pod>();
  private controller: AbortController | undefined;
  /** Bumped whenever a watch is retired, so callbacks of an older watch are ignored. */
  private generation = 0;
  private stopped = false;
  private recovering = false;
  private backoffTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  maxSeen = 0;
  /** Most distinct revision hashes present at one instant (1 means no overlap). */
  maxRevisionsAtOnce = 0;
  minAvailableSeen = Number.POSITIVE_INFINITY;
  events = 0;
  /** DELETED events seen (a pod gone from the API, not merely terminating). */
  deletions = 0;
  violations: string[] = [];
  /** How many times the watch was lost and regained through a relist. */
  relists = 0;
  /** One entry per lost watch: why it ended, when (epoch ms), and how long until it watched again (ms). */
  gaps: { reason: string; lostAt: number; ms: number }[] = [];

  constructor(
    private readonly namespace: string,
    private readonly labelSelector: string,
    private bounds: Bounds,
  ) {}

  setBounds(bounds: Bounds): void {
    this.bounds = bounds;
  }

  /** Lists (a failure is thrown) and starts watching. */
  async start(): Promise<void> {
    await this.listAndWatch('initial list');
  }

  stop(): void {
    this.stopped = true;
    this.retire();
    clearTimeout(this.backoffTimer);
    this.wake?.();
  }

  /** The pods as last observed. */
  snapshot(): k8s.V1Pod[] {
    return [...this.pods.values()];
  }

  /** Whether a watch is currently open (false while recovering from a lost one). */
  get watching(): boolean {
    return this.controller !== undefined;
  }

  /** Lists, checks the listed state, and watches from the list's resourceVersion; true if the watch opened. */
  private async listAndWatch(what: string): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const list = await Promise.race([
      core.listNamespacedPod({ namespace: this.namespace, labelSelector: this.labelSelector }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`list not answered within ${RELIST_TIMEOUT_MS} ms`)), RELIST_TIMEOUT_MS);
      }),
    ]).finally(() => clearTimeout(timer));
    if (this.stopped) {
      return false;
    }
    this.pods.clear();
    for (const pod of list.items) {
      this.pods.set(pod.metadata?.name ?? '', pod);
    }
    this.check(what);
    this.generation += 1;
    const generation = this.generation;
    const controller = await new k8s.Watch(kc).watch(
      `/api/v1/namespaces/${this.namespace}/pods`,
      { labelSelector: this.labelSelector, resourceVersion: list.metadata?.resourceVersion },
      (type: string, obj: k8s.V1Pod) => {
        if (generation !== this.generation) {
          return;
        }
        if (type === 'ERROR') {
          // e.g. 410 Gone: the resourceVersion expired; only a relist can resume.
          const status = obj as k8s.V1Status;
          this.lost(generation, `watch ERROR ${status.code ?? '?'} ${status.reason ?? ''}: ${status.message ?? ''}`);
          return;
        }
        const name = obj.metadata?.name ?? '';
        if (type === 'DELETED') {
          this.pods.delete(name);
          this.deletions += 1;
        } else if (type === 'ADDED' || type === 'MODIFIED') {
          this.pods.set(name, obj);
        } else {
          return;
        }
        this.events += 1;
        this.check(`${type} ${name} rv=${obj.metadata?.resourceVersion}`);
      },
      (err: unknown) => this.lost(generation, err === null || err === undefined ? 'watch closed' : `watch failed: ${String(err)}`),
    );
    if (generation !== this.generation) {
      // It ended before it was handed back (refused, non-200) or stop() was called meanwhile.
      controller.abort();
      return false;
    }
    this.controller = controller;
    return true;
  }

  /** Retires the current watch: its callbacks are ignored from now on. */
  private retire(): void {
    this.generation += 1;
    const c = this.controller;
    this.controller = undefined;
    c?.abort();
  }

  private lost(generation: number, reason: string): void {
    if (this.stopped || generation !== this.generation) {
      return;
    }
    this.retire();
    if (!this.recovering) {
      void this.recover(reason);
    }
  }

  private async recover(reason: string): Promise<void> {
    this.recovering = true;
    const lostAt = Date.now();
    let backoffMs = RELIST_BACKOFF.initialMs;
    try {
      for (;;) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          this.backoffTimer = setTimeout(resolve, backoffMs);
        });
        if (this.stopped) {
          return;
        }
        const watching = await this.listAndWatch('relist after watch loss').catch(() => false);
        if (this.stopped) {
          return;
        }
        if (watching) {
          this.relists += 1;
          this.gaps.push({ reason, lostAt, ms: Date.now() - lostAt });
          return;
        }
        backoffMs = Math.min(backoffMs * 2, RELIST_BACKOFF.maxMs);
      }
    } finally {
      this.recovering = false;
      this.wake = undefined;
    }
  }

  private check(what: string): void {
    const all = [...this.pods.values()];
    const available = all.filter((p) => !isTerminating(p) && isReady(p)).length;
    this.maxSeen = Math.max(this.maxSeen, all.length);
    this.maxRevisionsAtOnce = Math.max(this.maxRevisionsAtOnce, new Set(all.map((p) => p.metadata?.labels?.[REVISION_HASH_LABEL])).size);
    this.minAvailableSeen = Math.min(this.minAvailableSeen, available);
    const counted = this.bounds.countTerminating === false ? all.filter((p) => !isTerminating(p)) : all;
    if (counted.length > this.bounds.maxPods) {
      this.violations.push(`${counted.length} pods > ${this.bounds.maxPods} after ${what}`);
    }
    if (available < this.bounds.minAvailable) {
      this.violations.push(`${available} available < ${this.bounds.minAvailable} after ${what}`);
    }
  }
}
