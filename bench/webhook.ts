// Admission latency added by the sidecar webhook, and the event-loop lag admission and scheduling
// see, in the compiled manager (node dist/main.js, as the image runs it) while it is busy. Pod
// creates at 100/s each (open loop, --rate), interleaved, into a namespace without injection and
// one with it, against the local control plane; pods are pre-bound to a node that does not exist,
// so no scheduler or kubelet work disturbs the API server. Three phases, one manager:
//   idle     the caches synced, nothing else happening;
//   busy     a 1000-pod PodGroup rolls out (scheduled by the podgroup-scheduler through this
//            manager's extender onto kwok nodes) while /metrics, with 10k PodGroups' gauges, is
//            scraped back to back;
//   relist   the API server restarts, so every informer relists (50k pods) while creates go on.
// The manager's event-loop lag is sampled inside it by bench/support/loop-lag-probe.mjs.
//   npm run bench:webhook [-- --quick] [--podgroups N] [--relist-pods N] [--rollout N] [--rate N] [--cpu-prof] [--keep-cluster]
// --cpu-prof profiles the manager (node --cpu-prof) into .cluster-bench-webhook/profiles.
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type PodGroup } from '../src/api/podgroup.js';
import { commandLineOrExit, integerFlag, parseCommandLine } from '../src/cli-args.js';
import { down, up } from '../hack/cluster/local-cluster.js';
import { findComponent, startComponent, stopComponent } from '../hack/control-plane/components.js';
import { installCrds, localWebhookConfiguration } from '../hack/control-plane/manifests.js';
import { REPO_ROOT } from '../hack/control-plane/paths.js';
import { freePort, stopProcess, waitFor } from '../hack/control-plane/processes.js';
import { loadKubeConfig } from '../hack/control-plane/state.js';
import { startCompiledManager } from './manager.js';
import { percentile, writeResult } from './report.js';

const USAGE = 'usage: npm run bench:webhook [-- --quick] [--podgroups N] [--relist-pods N] [--rollout N] [--rate N] [--cpu-prof] [--keep-cluster]';
const { values, PODGROUPS, RELIST_PODS, ROLLOUT, RATE } = commandLineOrExit('bench:webhook', USAGE, () => {
  const parsed = parseCommandLine({
    options: {
      quick: { type: 'boolean', default: false },
      podgroups: { type: 'string', default: '10000' },
      'relist-pods': { type: 'string', default: '50000' },
      rollout: { type: 'string', default: '1000' },
      rate: { type: 'string', default: '100' },
      'cpu-prof': { type: 'boolean', default: false },
      'keep-cluster': { type: 'boolean', default: false },
    },
  });
  const quick = parsed.values.quick;
  return {
    values: parsed.values,
    PODGROUPS: integerFlag('podgroups', quick ? '1000' : parsed.values.podgroups, { min: 0 }),
    RELIST_PODS: integerFlag('relist-pods', quick ? '2000' : parsed.values['relist-pods'], { min: 0 }),
    ROLLOUT: integerFlag('rollout', quick ? '200' : parsed.values.rollout, { min: 1 }),
    RATE: integerFlag('rate', parsed.values.rate, { min: 1 }),
  };
});
const CREATES = values.quick ? 300 : 1000;
const CONCURRENCY = 50;
const stateDir = join(REPO_ROOT, '.cluster-bench-webhook');
const log = (l: string): void => console.error(`[bench] ${l}`);
const uptime = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

const { state } = await up({ stateDir, nodes: Math.max(3, Math.ceil((ROLLOUT * 1.3) / 100)), log: (l) => console.error(`[cluster] ${l}`) });
await installCrds(state);
const kc = loadKubeConfig(state);
const core = kc.makeApiClient(k8s.CoreV1Api);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
const stamp = Date.now().toString(36);
const ns = {
  system: `bench-system-${stamp}`,
  off: `bench-off-${stamp}`,
  on: `bench-on-${stamp}`,
  groups: `bench-groups-${stamp}`,
  rollout: `bench-rollout-${stamp}`,
  relist: `bench-relist-${stamp}`,
};
const lagDir = join(stateDir, 'loop-lag');
rmSync(lagDir, { recursive: true, force: true });
mkdirSync(lagDir, { recursive: true });
const lagFile = join(lagDir, 'manager.jsonl');

/** Runs `make(i)` for i < count, CONCURRENCY at a time. */
async function fill(what: string, count: number, make: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        const i = next;
        next += 1;
        await make(i);
      }
    }),
  );
  log(`created ${count} ${what} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

const parked = (namespace: string, generateName: string): Promise<unknown> =>
  core.createNamespacedPod({
    namespace,
    body: {
      metadata: { generateName },
      spec: { nodeName: 'bench-nowhere', terminationGracePeriodSeconds: 0, containers: [{ name: 'app', image: 'registry.example/app:1' }] },
    },
  });

const podGroup = (name: string, replicas: number, image = 'registry.example/app:1'): PodGroup => ({
  apiVersion: `${GROUP}/${VERSION}`,
  kind: 'PodGroup',
  metadata: { name },
  spec: {
    replicas,
    // Members are placed one by one (no gang wait); a PodGroup of 0 replicas takes no minAvailable.
    ...(replicas > 0 ? { minAvailable: 1 } : {}),
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'app', image, resources: { requests: { cpu: '10m', memory: '16Mi' } } }] },
    },
  },
});

/** Event-loop lag samples (ms) the probe wrote between two epoch times. */
function lagBetween(from: number, to: number): number[] {
  const samples: number[] = [];
  for (const line of readFileSync(lagFile, 'utf8').split('\n')) {
    if (line === '') {
      continue;
    }
    const { t, lag } = JSON.parse(line) as { t: number; lag: number[] };
    if (t >= from && t <= to + 1000) {
      samples.push(...lag);
    }
  }
  return samples.sort((a, b) => a - b);
}

/** Creates refused or failed (e.g. the webhook not answering within its 5 s timeout), per phase. */
const failures: Record<string, { count: number; first: string }> = {};

interface Creates {
  /** Latencies of the creates that succeeded, sorted (ms). */
  latencies: number[];
  /** Creates completed per second, from the first start to the last answer: below RATE, the API server (not the webhook) set the pace. */
  achievedPerS: number;
}

/**
 * CREATES pod creates into each namespace at RATE/s each, open loop (the i-th starts at i / RATE
 * seconds, whatever earlier ones are doing), the namespaces' creates interleaved half a period
 * apart: both see the same moment of the manager's work (a rollout may be over in seconds), so
 * their difference is the webhook's.
 */
async function creates(namespaces: string[], phase: string): Promise<Creates[]> {
  const latencies: number[][] = namespaces.map(() => []);
  const finished: number[] = namespaces.map(() => 0);
  const pending: Promise<void>[] = [];
  const started = performance.now();
  for (let i = 0; i < CREATES; i += 1) {
    for (const [n, namespace] of namespaces.entries()) {
      const wait = started + ((i + n / namespaces.length) * 1000) / RATE - performance.now();
      if (wait > 0) {
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
      const t0 = performance.now();
      pending.push(
        parked(namespace, 'p-')
          .then(
            () => void latencies[n]?.push(performance.now() - t0),
            (err: unknown) => {
              const f = (failures[`${phase}, ${namespace}`] ??= { count: 0, first: '' });
              f.count += 1;
              f.first ||= (err as { body?: string }).body ?? String(err);
            },
          )
          .finally(() => (finished[n] = performance.now())),
      );
    }
  }
  await Promise.all(pending);
  return latencies.map((l, n) => ({
    latencies: l.sort((a, b) => a - b),
    achievedPerS: Number((l.length / (((finished[n] ?? started) - started) / 1000)).toFixed(1)),
  }));
}

const rows: Array<Record<string, string | number>> = [];
const lagRows: Array<Record<string, string | number>> = [];
const ms = (v: number): string => v.toFixed(1);

function recordLag(phase: string, from: number, to: number, load: string): void {
  const lag = lagBetween(from, to);
  lagRows.push({
    phase,
    samples: lag.length,
    'lag p50 ms': ms(percentile(lag, 50)),
    'lag p99 ms': ms(percentile(lag, 99)),
    'lag max ms': ms(lag.at(-1) ?? Number.NaN),
    'load (1/5/15 min)': load,
  });
}

async function measureAdmission(phase: string): Promise<void> {
  const load = uptime();
  const [without, withWebhook] = await creates([ns.off, ns.on], phase);
  if (without === undefined || withWebhook === undefined) {
    return;
  }
  const p = (c: Creates, q: number): number => percentile(c.latencies, q);
  rows.push({
    phase,
    'without p50 ms': ms(p(without, 50)),
    'without p99 ms': ms(p(without, 99)),
    'with p50 ms': ms(p(withWebhook, 50)),
    'with p99 ms': ms(p(withWebhook, 99)),
    'added p50 ms': ms(p(withWebhook, 50) - p(without, 50)),
    'added p99 ms': ms(p(withWebhook, 99) - p(without, 99)),
    'achieved creates/s (without, with)': `${without.achievedPerS}, ${withWebhook.achievedPerS}`,
    'load (1/5/15 min)': load,
  });
  log(JSON.stringify(rows.at(-1)));
}

let managerPid: number | undefined;
const config = `podgroup-bench-${stamp}`;
try {
  for (const [name, labels] of [
    [ns.system, {}],
    [ns.off, {}],
    [ns.on, { 'sidecars.podgroup.dev/injection': 'enabled' }],
    [ns.groups, {}],
    [ns.rollout, {}],
    [ns.relist, {}],
  ] as const) {
    await core.createNamespace({ body: { metadata: { name, labels } } });
  }
  await fill('parked pods (relisted later)', RELIST_PODS, () => parked(ns.relist, 'r-'));
  await fill('PodGroups (scraped gauges)', PODGROUPS, (i) =>
    custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns.groups, plural: PLURAL, body: podGroup(`g-${i}`, 0) }),
  );

  const port = await freePort();
  const metricsPort = await freePort();
  await admission.createMutatingWebhookConfiguration({ body: localWebhookConfiguration(port, { name: config, ownNamespace: ns.system }) });
  process.env.PODGROUP_BENCH_LOOP_LAG_FILE = lagFile;
  const manager = await startCompiledManager(
    state,
    [
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      '--metrics-secure=false',
      `--extender-bind-address=127.0.0.1:${state.extenderPort}`,
      `--extender-secret-namespace=${state.extenderSecretNamespace}`,
      `--webhook-bind-address=127.0.0.1:${port}`,
      '--webhook-cert-ips=127.0.0.1',
      `--webhook-namespace=${ns.system}`,
      `--webhook-config-name=${config}`,
      '--log-level=warn',
    ],
    {
      logName: 'bench-webhook-manager',
      nodeArgs: [
        '--import',
        join(REPO_ROOT, 'bench', 'support', 'loop-lag-probe.mjs'),
        ...(values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${join(stateDir, 'profiles')}`] : []),
      ],
      timeoutMs: 600_000,
    },
  );
  managerPid = manager.pid;
  log(`manager ready after ${(manager.readyAfterMs / 1000).toFixed(1)} s (${RELIST_PODS} parked pods, ${PODGROUPS} PodGroups)`);
  await waitFor(
    'caBundle',
    async () => {
      const c = await admission.readMutatingWebhookConfiguration({ name: config });
      return (c.webhooks?.[0]?.clientConfig.caBundle ?? '') !== '';
    },
    { timeoutMs: 60_000 },
  );
  // The scraped PodGroups' first reconciles (a revision, a status and an Event each, at the
  // manager's 50 requests/s: ~1 min per 1000) must be over before anything is measured: the
  // rollout would wait behind them in the queue, and "idle" would not be idle.
  let drainedPolls = 0;
  await waitFor(
    "the scraped PodGroups' first reconciles",
    async () => {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(30_000) })).text();
      const depth = Number(/^workqueue_depth\{name="podgroup"[^}]*\} (\S+)$/m.exec(text)?.[1] ?? Number.NaN);
      const done = /^controller_runtime_reconcile_total\{controller="podgroup",result="success"\} (\S+)$/m.exec(text)?.[1];
      log(`podgroup queue depth ${depth}, ${done ?? '?'} reconciles done`);
      drainedPolls = depth === 0 ? drainedPolls + 1 : 0;
      return drainedPolls >= 2;
    },
    { timeoutMs: 120_000 + PODGROUPS * 300, intervalMs: 5000 },
  );
  await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns.rollout, plural: PLURAL, body: podGroup('rollout', ROLLOUT) });
  const ready = async (): Promise<PodGroup> =>
    (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns.rollout, plural: PLURAL, name: 'rollout' })) as PodGroup;
  const rolledOut = async (): Promise<boolean> => {
    const pg = await ready();
    const s = pg.status ?? {};
    return s.observedGeneration === pg.metadata?.generation && s.updatedReplicas === ROLLOUT && s.readyReplicas === ROLLOUT && s.replicas === ROLLOUT;
  };
  await waitFor(`${ROLLOUT} pods of the rollout PodGroup ready`, rolledOut, { timeoutMs: 300_000 + ROLLOUT * 600, intervalMs: 2000 });

  // Idle: warm-up, then measured.
  await creates([ns.off], 'warm-up');
  let from = Date.now();
  let load = uptime();
  await measureAdmission('idle');
  recordLag('idle', from, Date.now(), load);

  // Busy: a rollout and back-to-back scrapes.
  from = Date.now();
  load = uptime();
  await custom.patchNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    namespace: ns.rollout,
    plural: PLURAL,
    name: 'rollout',
    body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'registry.example/app:2' }],
  });
  let scraping = true;
  const scrapeMs: number[] = [];
  const scrapeFailures: string[] = [];
  const scrapes = (async () => {
    while (scraping) {
      const t0 = performance.now();
      try {
        const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(30_000) });
        await res.text();
        scrapeMs.push(performance.now() - t0);
      } catch (err) {
        // A scrape slower than Prometheus' own timeout is a finding, not the end of the run.
        scrapeFailures.push(String(err));
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();
  await measureAdmission('busy (rollout + scrapes)');
  await waitFor('rollout complete', rolledOut, { timeoutMs: 300_000 + ROLLOUT * 600, intervalMs: 1000 });
  const rolloutSeconds = (Date.now() - from) / 1000;
  scraping = false;
  await scrapes;
  recordLag('busy (rollout + scrapes)', from, Date.now(), load);
  scrapeMs.sort((a, b) => a - b);
  log(
    `rollout of ${ROLLOUT} pods took ${rolloutSeconds.toFixed(1)} s; ${scrapeMs.length} scrapes, p50 ${ms(percentile(scrapeMs, 50))} ms, max ${ms(scrapeMs.at(-1) ?? 0)} ms`,
  );

  // Relist: restart the API server; the informers relist while creates (with the webhook) go on.
  load = uptime();
  await stopComponent(state, 'kube-apiserver');
  await startComponent(state, findComponent(state, 'kube-apiserver'), 120_000);
  from = Date.now();
  const [relist] = await creates([ns.on], 'relist, with');
  // The relist may outlast the creates: the lag window runs 10 s past them.
  await new Promise((resolve) => setTimeout(resolve, 10_000));
  recordLag('relist (API server restart)', from, Date.now(), load);
  rows.push({
    phase: 'relist (API server restart), with webhook only',
    'with p50 ms': ms(percentile(relist?.latencies ?? [], 50)),
    'with p99 ms': ms(percentile(relist?.latencies ?? [], 99)),
    'achieved creates/s (without, with)': `-, ${relist?.achievedPerS}`,
    'load (1/5/15 min)': load,
  });

  console.table(rows);
  console.table(lagRows);
  if (Object.keys(failures).length > 0) {
    console.log('failed creates:', failures);
  }
  writeResult('webhook', {
    rate_per_s: RATE,
    creates_per_case: CREATES,
    podgroups_scraped: PODGROUPS,
    relisted_pods: RELIST_PODS,
    rollout_pods: ROLLOUT,
    rollout_seconds: Number(rolloutSeconds.toFixed(1)),
    scrapes: { count: scrapeMs.length, failed: scrapeFailures.length, p50_ms: Number(ms(percentile(scrapeMs, 50))), max_ms: Number(ms(scrapeMs.at(-1) ?? 0)) },
    admission: rows,
    failed_creates: failures,
    event_loop_lag: lagRows,
  });
} finally {
  if (managerPid !== undefined) {
    await stopProcess(managerPid);
  }
  await admission.deleteMutatingWebhookConfiguration({ name: config }).catch(() => undefined);
  for (const name of Object.values(ns)) {
    await core.deleteNamespace({ name }).catch(() => undefined);
  }
  if (values['cpu-prof']) {
    // Kept until the next cluster up in this state dir.
    console.log(`manager CPU profile: ${join(stateDir, 'profiles')}`);
  }
  if (!values['keep-cluster']) {
    await down({ stateDir, log: (l) => console.error(`[cluster] ${l}`) });
  }
}
