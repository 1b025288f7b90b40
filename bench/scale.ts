// The scale benchmark: many PodGroups on many kwok nodes against as many Deployments on
// kube-controller-manager's deployment and replicaset controllers, on the same kind of control plane.
//   npm run bench:scale [-- --tier 1|2] [--nodes N] [--groups N] [--pods-per-group N] [--big-group N]
//                       [--runs N] [--profile] [--keep-cluster]
// Tier 1 (default): 1000 nodes, 1000 groups x 10 pods, one cluster, runs interleaved (KCM, ours,
// KCM, ours ...), medians of 3. Tier 2: 5000 nodes, 10k groups x 10 pods then one group of 10k
// pods, one run each, a fresh cluster per controller. Flags shrink either for a quick check.
// Only the controller under test runs during a run (started fresh for it, stopped after), so its
// CPU and peak RSS are the run's. kwok's node Leases last an hour (renewed every 15 min), so
// thousands of fake nodes do not swamp the API server. The completion watcher counts ready pods
// by name and keeps no pod objects. Results: bench/results/scale-tier<N>.json (command, machine,
// versions, every run); with --profile also the API server's and the manager's CPU profiles, summarised.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { basename, join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { GROUP, KIND, PLURAL, VERSION } from '../src/api/podgroup.js';
import { commandLineOrExit, integerFlag, parseCommandLine, UsageError } from '../src/cli-args.js';
import { down, up } from '../hack/cluster/local-cluster.js';
import { KUBE_VERSION } from '../hack/control-plane/components.js';
import { addFakeNodes, defaultNodeSpecs } from '../hack/control-plane/fake-nodes.js';
import { installCrds } from '../hack/control-plane/manifests.js';
import { REPO_ROOT } from '../hack/control-plane/paths.js';
import { loadKubeConfig, type ClusterState } from '../hack/control-plane/state.js';
import { startReferenceKcm, stopReferenceKcm } from '../hack/cluster/reference-kcm.js';
import { isAlive, stopProcess, waitFor } from '../hack/control-plane/processes.js';
import { liveHeapBytes, startCompiledManager, type CompiledManager } from './manager.js';
import { cpuSeconds, residentMiB } from './process-stats.js';
import { writeResult } from './report.js';
import { createRunNamespace, deleteRunNamespace } from './support/namespaces.js';

const USAGE =
  'usage: npm run bench:scale [-- --tier 1|2] [--nodes N] [--groups N] [--pods-per-group N] [--big-group N] [--runs N] [--profile] [--keep-cluster]';
const opts = commandLineOrExit('bench:scale', USAGE, () => {
  const { values } = parseCommandLine({
    options: {
      tier: { type: 'string', default: '1' },
      nodes: { type: 'string' },
      groups: { type: 'string' },
      'pods-per-group': { type: 'string' },
      'big-group': { type: 'string' },
      runs: { type: 'string' },
      profile: { type: 'boolean', default: false },
      'keep-cluster': { type: 'boolean', default: false },
    },
  });
  if (values.tier !== '1' && values.tier !== '2') {
    throw new UsageError(`--tier: ${JSON.stringify(values.tier)} is not 1 or 2`);
  }
  const tier = Number(values.tier) as 1 | 2;
  const int = (name: string, value: string | undefined, fallback: number, min: number): number =>
    value === undefined ? fallback : integerFlag(name, value, { min });
  return {
    tier,
    nodes: int('nodes', values.nodes, tier === 1 ? 1000 : 5000, 1),
    groups: int('groups', values.groups, tier === 1 ? 1000 : 10_000, 1),
    podsPerGroup: int('pods-per-group', values['pods-per-group'], 10, 1),
    bigGroup: int('big-group', values['big-group'], tier === 1 ? 0 : 10_000, 0),
    runs: int('runs', values.runs, tier === 1 ? 3 : 1, 1),
    profile: values.profile,
    keepCluster: values['keep-cluster'],
    /** Any size given: the results file says -custom, so it never passes for a tier's figures. */
    sized: [values.nodes, values.groups, values['pods-per-group'], values['big-group'], values.runs].some((v) => v !== undefined),
  };
});

type ControllerName = 'kcm' | 'podgroup';
const CONTROLLERS: ControllerName[] = ['kcm', 'podgroup'];
/** Both controllers unthrottled and with KCM's default 5 concurrent syncs: this compares the controllers, not their rate limits. */
const QPS = 5000;
const BURST = 10_000;
const CREATE_CONCURRENCY = 25;
const log = (line: string): void => console.error(`[scale ${new Date().toISOString().slice(11, 19)}] ${line}`);

// ---- duration estimate (measured on a 2-core machine; a busy machine is slower) ----
const EST_CLUSTER_UP_S = 40;
const EST_NODES_PER_S = 60;
const EST_PODS_PER_S = 70;
const EST_CLEANUP_PODS_PER_S = 400;
const EST_RESTART_PODS_PER_S = 8000;

function estimateSeconds(): number {
  const many = opts.groups * opts.podsPerGroup;
  const perRun = (pods: number): number => 15 + pods / EST_PODS_PER_S + pods / EST_RESTART_PODS_PER_S + (opts.tier === 1 ? pods / EST_CLEANUP_PODS_PER_S : 0);
  const clusters = opts.tier === 1 ? 1 : CONTROLLERS.length;
  const runs = opts.tier === 1 ? opts.runs * CONTROLLERS.length : CONTROLLERS.length;
  return clusters * (EST_CLUSTER_UP_S + opts.nodes / EST_NODES_PER_S) + runs * (perRun(many) + (opts.bigGroup > 0 ? perRun(opts.bigGroup) : 0));
}

// ---- Prometheus text ----
type Samples = Map<string, number>;

/** `name{labels}` -> value for the lines of the given metric names (histograms: their _bucket/_sum/_count). */
function parseMetrics(text: string, names: string[]): Samples {
  const out: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !names.some((n) => line.startsWith(n))) {
      continue;
    }
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

function labelsOf(series: string): Record<string, string> {
  return Object.fromEntries([...series.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']));
}

/** Upper bounds of the p99 and of the largest observation, from a histogram's bucket deltas. */
function histogramBounds(before: Samples, after: Samples, name: string, match: Record<string, string> = {}): { count: number; p99_le: number; max_le: number } {
  const buckets: Array<[number, number]> = [];
  for (const [series, value] of after) {
    if (!series.startsWith(`${name}_bucket{`)) {
      continue;
    }
    const labels = labelsOf(series);
    if (Object.entries(match).some(([k, v]) => labels[k] !== v)) {
      continue;
    }
    buckets.push([labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(labels.le), value - (before.get(series) ?? 0)]);
  }
  buckets.sort((a, b) => a[0] - b[0]);
  const count = buckets[buckets.length - 1]?.[1] ?? 0;
  const firstReaching = (n: number): number => buckets.find(([, cumulative]) => cumulative >= n)?.[0] ?? Number.NaN;
  return { count, p99_le: count === 0 ? 0 : firstReaching(Math.ceil(0.99 * count)), max_le: count === 0 ? 0 : firstReaching(count) };
}

// ---- the cluster ----
function kubectlRaw(state: ClusterState, path: string): string {
  const out = spawnSync('kubectl', ['--kubeconfig', state.kubeconfig, 'get', '--raw', path], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  if (out.status !== 0) {
    throw new Error(`kubectl get --raw ${path}: ${out.stderr}`);
  }
  return out.stdout;
}

const apiserverMetrics = (state: ClusterState): Samples => parseMetrics(kubectlRaw(state, '/metrics'), ['apiserver_request_total']);

/** API requests made meanwhile by every client, by verb and by "VERB resource[/subresource]". */
function requestDelta(before: Samples, after: Samples): { by_verb: Record<string, number>; by_verb_resource: Record<string, number> } {
  const byVerb = new Map<string, number>();
  const byResource = new Map<string, number>();
  for (const [series, value] of after) {
    const labels = labelsOf(series);
    const delta = value - (before.get(series) ?? 0);
    if (delta <= 0 || labels.dry_run !== '') {
      continue;
    }
    const verb = labels.verb ?? '';
    const key = `${verb} ${labels.resource}${labels.subresource === '' ? '' : `/${labels.subresource}`}`;
    byVerb.set(verb, (byVerb.get(verb) ?? 0) + delta);
    byResource.set(key, (byResource.get(key) ?? 0) + delta);
  }
  const sorted = (m: Map<string, number>): Record<string, number> => Object.fromEntries([...m].sort((a, b) => b[1] - a[1]));
  return { by_verb: sorted(byVerb), by_verb_resource: sorted(byResource) };
}

/** Counts a namespace's ready pods by name from a list and a watch; keeps no pod objects. */
class ReadyPodCounter {
  private readonly ready = new Set<string>();
  private stopped = false;
  private abort: AbortController | undefined;
  private resourceVersion = '';
  private readonly core: k8s.CoreV1Api;

  constructor(
    private readonly kc: k8s.KubeConfig,
    private readonly namespace: string,
  ) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
  }

  get count(): number {
    return this.ready.size;
  }

  async start(): Promise<void> {
    await this.relist();
    this.watch();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  private observe(pod: k8s.V1Pod, deleted: boolean): void {
    const name = pod.metadata?.name ?? '';
    const isReady =
      !deleted && pod.metadata?.deletionTimestamp == null && (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
    if (isReady) {
      this.ready.add(name);
    } else {
      this.ready.delete(name);
    }
  }

  private async relist(): Promise<void> {
    this.ready.clear();
    let continueToken: string | undefined;
    do {
      const page = await this.core.listNamespacedPod({ namespace: this.namespace, limit: 500, _continue: continueToken });
      page.items.forEach((pod) => this.observe(pod, false));
      this.resourceVersion = page.metadata?.resourceVersion ?? this.resourceVersion;
      continueToken = page.metadata?._continue || undefined;
    } while (continueToken !== undefined);
  }

  private watch(): void {
    if (this.stopped) {
      return;
    }
    let expired = false;
    void new k8s.Watch(this.kc)
      .watch(
        `/api/v1/namespaces/${this.namespace}/pods`,
        { resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 300 },
        (type: string, obj: k8s.V1Pod & { code?: number }) => {
          if (type === 'ERROR') {
            expired = true;
            return;
          }
          this.resourceVersion = obj.metadata?.resourceVersion ?? this.resourceVersion;
          if (type !== 'BOOKMARK') {
            this.observe(obj, type === 'DELETED');
          }
        },
        (err: unknown) => {
          if (this.stopped) {
            return;
          }
          // A watch that ended cleanly resumes; an expired or failed one relists (counts afresh).
          const resume = expired || err != null ? this.relist().catch((e: unknown) => log(`relist failed: ${String(e)}`)) : Promise.resolve();
          void resume.then(() => this.watch());
        },
      )
      .then(
        (controller) => {
          this.abort = controller;
          if (this.stopped) {
            controller.abort();
          }
        },
        (err: unknown) => {
          log(`watch failed: ${String(err)}; retrying`);
          setTimeout(() => this.watch(), 1000).unref();
        },
      );
  }
}

// ---- one run ----
interface ControllerProcess {
  pid: number;
  manager?: CompiledManager;
  /** Heap snapshots land here (the manager only). */
  diagnosticDir?: string;
  cpuProfileDir?: string;
}

async function startController(state: ClusterState, name: ControllerName, runLabel: string): Promise<ControllerProcess> {
  if (name === 'kcm') {
    return { pid: await startReferenceKcm(state, { qps: QPS, burst: BURST, syncs: 5 }) };
  }
  const diagnosticDir = mkdtempSync(join(tmpdir(), 'podgroup-scale-'));
  const cpuProfileDir = opts.profile ? join(diagnosticDir, 'cpu') : undefined;
  const manager = await startCompiledManager(state, [`--kube-api-qps=${QPS}`, `--kube-api-burst=${BURST}`, '--concurrent-podgroup-syncs=5'], {
    logName: `scale-manager-${runLabel}`,
    metrics: true,
    nodeArgs: [
      '--heapsnapshot-signal=SIGUSR2',
      `--diagnostic-dir=${diagnosticDir}`,
      ...(cpuProfileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`]),
    ],
    timeoutMs: 600_000,
  });
  return { pid: manager.pid, manager, diagnosticDir, cpuProfileDir };
}

async function stopController(state: ClusterState, name: ControllerName, proc: ControllerProcess): Promise<void> {
  if (name === 'kcm') {
    await stopReferenceKcm(state);
  } else if (isAlive(proc.pid)) {
    await stopProcess(proc.pid, 60_000);
  }
}

async function managerMetrics(proc: ControllerProcess): Promise<Samples> {
  const port = proc.manager?.metricsPort;
  if (port === undefined) {
    return new Map();
  }
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(60_000) });
  return parseMetrics(await res.text(), [
    'controller_runtime_reconcile_time_seconds',
    'podgroup_event_loop_delay_seconds',
    'nodejs_eventloop_lag_max_seconds',
    'nodejs_heap_size_used_bytes',
  ]);
}

const template = (app: string, runId: string): k8s.V1PodTemplateSpec => ({
  metadata: { labels: { app, 'scale-run': runId } },
  // Both controllers' pods go through the default scheduler: this compares controllers only.
  spec: {
    schedulerName: 'default-scheduler',
    terminationGracePeriodSeconds: 0,
    containers: [{ name: 'app', image: 'registry.example/app:1', resources: { requests: { cpu: '10m', memory: '16Mi' } } }],
  },
});

async function createWorkload(
  kc: k8s.KubeConfig,
  controller: ControllerName,
  namespace: string,
  runId: string,
  groups: number,
  podsPerGroup: number,
): Promise<void> {
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(CREATE_CONCURRENCY, groups) }, async () => {
      while (next < groups) {
        const name = `g-${next}`;
        next += 1;
        const spec = { replicas: podsPerGroup, selector: { matchLabels: { app: name } }, template: template(name, runId) };
        if (controller === 'kcm') {
          await apps.createNamespacedDeployment({ namespace, body: { metadata: { name }, spec } });
        } else {
          await custom.createNamespacedCustomObject({
            group: GROUP,
            version: VERSION,
            namespace,
            plural: PLURAL,
            body: { apiVersion: `${GROUP}/${VERSION}`, kind: KIND, metadata: { name }, spec },
          });
        }
      }
    }),
  );
}

interface RunResult {
  controller: ControllerName;
  namespace: string;
  scenario: string;
  pods: number;
  converge_s: number;
  cpu_s: Record<string, number>;
  load_average_1m: [number, number];
  controller_rss_mib: { peak: number; after_converge: number; after_restart_sync?: number };
  live_heap_mib?: number;
  heap_used_mib_after_restart?: number;
  event_loop_delay_s?: { p99_le: number; max: number };
  reconcile_s?: { count: number; p99_le: number; max_le: number };
  restart_sync_s?: number;
  api_requests: ReturnType<typeof requestDelta>;
  profiles?: Record<string, string>;
}

/** Starts a CPU profile of the API server for `seconds` (pprof); resolves to the profile's file. */
function profileApiServer(state: ClusterState, seconds: number, file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'kubectl',
      ['--kubeconfig', state.kubeconfig, '--request-timeout', `${seconds + 60}s`, 'get', '--raw', `/debug/pprof/profile?seconds=${seconds}`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    child.stdout.pipe(createWriteStream(file));
    child.on('exit', (code) => (code === 0 ? resolve(file) : reject(new Error(`pprof of kube-apiserver exited ${code}`))));
  });
}

/** `go tool pprof -top` of a profile: the functions that used the CPU, by own (flat) and cumulative time. */
function pprofTop(file: string): string {
  const top = (extra: string[], nodes = 40): string => {
    const out = spawnSync('go', ['tool', 'pprof', '-top', `-nodecount=${nodes}`, ...extra, file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    return out.status === 0 ? out.stdout : `go tool pprof failed: ${out.stderr}`;
  };
  // The share of samples under each wire codec: what protobuf instead of JSON could save.
  const share = (focus: string): string => /Showing nodes accounting for [^\n]*/.exec(top([`-focus=${focus}`], 100_000))?.[0] ?? 'n/a';
  const codecs = ['runtime/serializer/json', 'runtime/serializer/protobuf'].map((f) => `stacks through ${f}: ${share(f)}`).join('\n');
  return `${codecs}\n\n${top([])}\n--- by cumulative time ---\n${top(['-cum'])}`;
}

/** Self time by function of a V8 .cpuprofile, largest first. */
function cpuProfileTop(dir: string): string {
  const file = existsSync(dir) ? readdirSync(dir).find((f) => f.endsWith('.cpuprofile')) : undefined;
  if (file === undefined) {
    return 'no .cpuprofile written';
  }
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
    nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }>;
    samples: number[];
  };
  const self = new Map<string, number>();
  for (const node of profile.nodes) {
    const where =
      node.callFrame.url === ''
        ? ''
        : ` ${node.callFrame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'dist/')}:${node.callFrame.lineNumber + 1}`;
    const key = `${node.callFrame.functionName || '(anonymous)'}${where}`;
    self.set(key, (self.get(key) ?? 0) + (node.hitCount ?? 0));
  }
  // Shares of the time the process was busy (idle time is the event loop waiting).
  const idle = self.get('(idle)') ?? 0;
  self.delete('(idle)');
  const busy = profile.samples.length - idle;
  const header = `busy ${busy} of ${profile.samples.length} samples; self time as a share of busy time:`;
  return [
    header,
    ...[...self]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 40)
      .map(([name, hits]) => `${((100 * hits) / Math.max(1, busy)).toFixed(1).padStart(5)}%  ${name}`),
  ].join('\n');
}

async function runOnce(
  state: ClusterState,
  controller: ControllerName,
  scenario: { name: string; groups: number; podsPerGroup: number },
  label: string,
  profile: boolean,
): Promise<RunResult> {
  const kc = loadKubeConfig(state);
  const runId = `${scenario.name}-${Date.now().toString(36)}`;
  const namespace = `scale-${runId}`;
  const pods = scenario.groups * scenario.podsPerGroup;
  await createRunNamespace(kc, namespace);
  const proc = await startController(state, controller, label);
  const pid = (name: string): number => state.components.find((c) => c.name === name)?.pid ?? 0;
  const pids: Record<string, number> = {
    controller: proc.pid,
    'kube-apiserver': pid('kube-apiserver'),
    etcd: pid('etcd'),
    'kube-scheduler': pid('kube-scheduler'),
    kwok: pid('kwok'),
  };
  const cpu = (): Record<string, number> => Object.fromEntries(Object.entries(pids).map(([n, p]) => [n, cpuSeconds(p)]));
  const counter = new ReadyPodCounter(kc, namespace);
  await counter.start();
  const requestsBefore = apiserverMetrics(state);
  const managerBefore = await managerMetrics(proc);
  const cpuBefore = cpu();
  const loadBefore = loadavg()[0] ?? 0;
  const profileDir = join(state.stateDir, 'profiles');
  mkdirSync(profileDir, { recursive: true });
  const expectedS = 15 + pods / EST_PODS_PER_S;
  const apiProfile = profile
    ? profileApiServer(state, Math.max(10, Math.min(60, Math.floor(expectedS * 0.6))), join(profileDir, `${label}-apiserver.pb.gz`))
    : undefined;
  const started = performance.now();
  const creating = createWorkload(kc, controller, namespace, runId, scenario.groups, scenario.podsPerGroup);
  const progress = setInterval(() => log(`  ${label}: ${counter.count}/${pods} pods ready, ${((performance.now() - started) / 1000).toFixed(0)} s`), 10_000);
  try {
    await creating;
    await waitFor(`${pods} pods ready`, () => counter.count >= pods, { timeoutMs: Math.max(600_000, expectedS * 10_000), intervalMs: 200 });
  } finally {
    clearInterval(progress);
    counter.stop();
  }
  const convergeS = (performance.now() - started) / 1000;
  const cpuAfter = cpu();
  const managerAfter = await managerMetrics(proc);
  const requests = requestDelta(requestsBefore, apiserverMetrics(state));
  const rssAfter = residentMiB(proc.pid);
  log(
    `  ${label}: converged in ${convergeS.toFixed(1)} s; controller CPU ${(cpuAfter.controller! - cpuBefore.controller!).toFixed(1)} s, peak RSS ${rssAfter.peak} MiB`,
  );
  const result: RunResult = {
    controller,
    namespace,
    scenario: scenario.name,
    pods,
    converge_s: Math.round(convergeS * 100) / 100,
    cpu_s: Object.fromEntries(Object.keys(pids).map((n) => [n, Math.round(((cpuAfter[n] ?? 0) - (cpuBefore[n] ?? 0)) * 100) / 100])),
    load_average_1m: [Math.round(loadBefore * 100) / 100, Math.round((loadavg()[0] ?? 0) * 100) / 100],
    controller_rss_mib: { peak: rssAfter.peak, after_converge: rssAfter.current },
    api_requests: requests,
  };
  if (controller === 'podgroup' && proc.manager !== undefined) {
    const delay = histogramBounds(managerBefore, managerAfter, 'podgroup_event_loop_delay_seconds');
    result.event_loop_delay_s = { p99_le: delay.p99_le, max: managerAfter.get('nodejs_eventloop_lag_max_seconds') ?? Number.NaN };
    result.reconcile_s = histogramBounds(managerBefore, managerAfter, 'controller_runtime_reconcile_time_seconds', { controller: 'podgroup' });
    // Initial sync after a restart with everything cached (the manager's /readyz waits for its caches).
    await stopController(state, controller, proc);
    result.profiles = {};
    if (proc.cpuProfileDir !== undefined) {
      result.profiles.manager_self_time = cpuProfileTop(proc.cpuProfileDir);
    }
    const restarted = await startController(state, controller, `${label}-restart`);
    result.restart_sync_s = Math.round(restarted.manager!.readyAfterMs / 100) / 10;
    result.controller_rss_mib.after_restart_sync = residentMiB(restarted.pid).current;
    result.heap_used_mib_after_restart = Math.round(((await managerMetrics(restarted)).get('nodejs_heap_size_used_bytes') ?? 0) / 1024 / 1024);
    // A heap snapshot of 100k pods is gigabytes of JSON: the live heap is read up to 20k pods.
    if (pods <= 20_000) {
      result.live_heap_mib = Math.round((await liveHeapBytes(restarted.pid, restarted.manager!.probesPort, restarted.diagnosticDir!)) / 1024 / 1024);
    }
    log(
      `  ${label}: restart synced in ${result.restart_sync_s} s, RSS ${result.controller_rss_mib.after_restart_sync} MiB, live heap ${result.live_heap_mib ?? 'n/a'} MiB`,
    );
    await stopController(state, controller, restarted);
    rmSync(restarted.diagnosticDir!, { recursive: true, force: true });
    rmSync(proc.diagnosticDir!, { recursive: true, force: true });
  } else {
    await stopController(state, controller, proc);
  }
  if (apiProfile !== undefined) {
    result.profiles = { ...result.profiles, apiserver_top: pprofTop(await apiProfile) };
  }
  return result;
}

// ---- tiers ----
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? Number.NaN;

function summarise(runs: RunResult[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const scenario of [...new Set(runs.map((r) => r.scenario))]) {
    const of = (c: ControllerName): RunResult[] => runs.filter((r) => r.scenario === scenario && r.controller === c);
    const total = (r: RunResult): number => (r.cpu_s.controller ?? 0) + (r.cpu_s['kube-apiserver'] ?? 0) + (r.cpu_s.etcd ?? 0);
    const row = (c: ControllerName): Record<string, number> => ({
      converge_s: median(of(c).map((r) => r.converge_s)),
      controller_cpu_s: median(of(c).map((r) => r.cpu_s.controller ?? 0)),
      apiserver_cpu_s: median(of(c).map((r) => r.cpu_s['kube-apiserver'] ?? 0)),
      etcd_cpu_s: median(of(c).map((r) => r.cpu_s.etcd ?? 0)),
      controller_apiserver_etcd_cpu_s: median(of(c).map(total)),
      peak_rss_mib: median(of(c).map((r) => r.controller_rss_mib.peak)),
    });
    const kcm = row('kcm');
    const ours = row('podgroup');
    out[scenario] = {
      runs_each: of('kcm').length,
      kcm,
      podgroup: ours,
      ratio_converge: Math.round(((ours.converge_s ?? 0) / (kcm.converge_s ?? 1)) * 100) / 100,
      ratio_total_cpu: Math.round(((ours.controller_apiserver_etcd_cpu_s ?? 0) / (kcm.controller_apiserver_etcd_cpu_s ?? 1)) * 100) / 100,
      ratio_apiserver_cpu: Math.round(((ours.apiserver_cpu_s ?? 0) / (kcm.apiserver_cpu_s ?? 1)) * 100) / 100,
    };
  }
  return out;
}

async function freshCluster(stateDir: string): Promise<ClusterState> {
  const { state } = await up({ stateDir, nodes: 0, apiserverProfiling: true, kwokNodeLeaseSeconds: 3600, log: (l) => log(`cluster: ${l}`) });
  log(`creating ${opts.nodes} kwok nodes`);
  const started = performance.now();
  await addFakeNodes(state, defaultNodeSpecs(opts.nodes, 'scale-node'), 120_000 + opts.nodes * 200);
  log(`  ${opts.nodes} nodes Ready in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  await installCrds(state);
  return state;
}

function gitCommit(): string {
  return spawnSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).stdout.trim();
}

const stateDir = join(REPO_ROOT, '.cluster-bench-scale');
const scenarios = [
  { name: 'many', groups: opts.groups, podsPerGroup: opts.podsPerGroup },
  ...(opts.bigGroup > 0 ? [{ name: 'big', groups: 1, podsPerGroup: opts.bigGroup }] : []),
];
const estimate = estimateSeconds();
log(
  `tier ${opts.tier}: ${opts.nodes} nodes; ${scenarios.map((s) => `${s.groups} x ${s.podsPerGroup} pods`).join(', then ')}; ` +
    `${opts.tier === 1 ? `${opts.runs} runs per controller, interleaved, one cluster` : 'one run per controller, a fresh cluster each'}. ` +
    `Expect about ${Math.ceil(estimate / 60)} min (load average now ${loadavg()[0]?.toFixed(2)} on ${cpus().length} cores; a busy machine takes longer).`,
);
if (!existsSync(join(REPO_ROOT, 'dist', 'main.js'))) {
  throw new Error('dist/main.js is missing: npm run bench:scale builds it first');
}
const runs: RunResult[] = [];
const startedAt = new Date().toISOString();
const benchStarted = performance.now();
let state: ClusterState | undefined;
try {
  const plan: Array<{ controller: ControllerName; rep: number }> = [];
  if (opts.tier === 1) {
    for (let rep = 1; rep <= opts.runs; rep += 1) {
      CONTROLLERS.forEach((controller) => plan.push({ controller, rep }));
    }
  } else {
    CONTROLLERS.forEach((controller) => plan.push({ controller, rep: 1 }));
  }
  let profiled = new Set<ControllerName>();
  for (const [i, { controller, rep }] of plan.entries()) {
    if (state === undefined || opts.tier === 2) {
      if (state !== undefined) {
        await down({ stateDir, log: (l) => log(`cluster: ${l}`) });
      }
      state = await freshCluster(stateDir);
      profiled = opts.tier === 2 ? new Set() : profiled;
    }
    for (const scenario of scenarios) {
      const label = `${scenario.name}-${controller}-${rep}`;
      const elapsed = (performance.now() - benchStarted) / 1000;
      log(
        `run ${i + 1}/${plan.length} (${label}): ${scenario.groups} ${controller === 'kcm' ? 'Deployments' : 'PodGroups'} x ${scenario.podsPerGroup} pods; ${Math.round(elapsed / 60)} of ~${Math.ceil(estimate / 60)} min elapsed`,
      );
      const profile = opts.profile && !profiled.has(controller) && scenario === scenarios[0];
      const result = await runOnce(state, controller, scenario, label, profile);
      if (profile) {
        profiled.add(controller);
      }
      runs.push(result);
      if (opts.tier === 1) {
        const cleanup = performance.now();
        await deleteRunNamespace(loadKubeConfig(state), result.namespace, { force: true, timeoutMs: 1_800_000, intervalMs: 500 });
        log(`  ${label}: namespace deleted in ${((performance.now() - cleanup) / 1000).toFixed(0)} s`);
      }
    }
  }
  const versions = { kubernetes: KUBE_VERSION, binaries: basename(state?.binDir ?? ''), node: process.version, podgroup_controller: gitCommit() };
  const machine = {
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model,
    memory_gib: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    load_average_1m_at_end: loadavg()[0],
  };
  const results = {
    command: `npm run bench:scale -- ${process.argv.slice(2).join(' ')}`.trim(),
    started: startedAt,
    minutes: Math.round((performance.now() - benchStarted) / 600) / 100,
    machine,
    versions,
    settings: { ...opts, controller_qps: QPS, controller_burst: BURST, concurrent_syncs: 5, kwok_node_lease_seconds: 3600, scheduler_qps: 200 },
    summary: summarise(runs),
    runs,
  };
  console.log(JSON.stringify(results.summary, null, 2));
  const name = `scale-tier${opts.tier}${opts.sized ? '-custom' : ''}`;
  writeResult(name, results);
  const profileDir = join(REPO_ROOT, 'bench', 'results', 'profiles');
  for (const run of runs.filter((r) => r.profiles !== undefined)) {
    mkdirSync(profileDir, { recursive: true });
    for (const [kind, text] of Object.entries(run.profiles ?? {})) {
      writeFileSync(join(profileDir, `${name}-${run.scenario}-${run.controller}-${kind}.txt`), `${text}\n`);
    }
  }
} finally {
  if (!opts.keepCluster && state !== undefined) {
    await down({ stateDir, log: (l) => log(`cluster: ${l}`) });
  }
}
