// The cost of one reconcile's deciding for one large PodGroup: classify() (once, for both),
// plan() and computeStatus() over 1k / 10k / 100k pods, as the controller calls them (pods
// straight from the cache, plain JSON as the informer keeps them). Scenarios: steady (nothing to do: the common resync), scale-down by a
// tenth (ranking for deletion), and mid-rollout (half the pods on the old revision). No cluster.
//   npm run bench:plan [-- --sizes 1000,10000,100000] [--budget-s 120]
// A size is skipped once the previous one took longer than the budget for a single call would allow.
import type * as k8s from '@kubernetes/client-node';
import { defaultSpec, REVISION_HASH_LABEL, type DefaultedPodGroup, type DefaultedPodGroupSpec } from '../src/api/podgroup.js';
import { commandLineOrExit, integerFlag, parseCommandLine } from '../src/cli-args.js';
import { classify } from '../src/podgroup/pod-counts.js';
import { plan, type PlanInput } from '../src/podgroup/plan.js';
import { computeStatus } from '../src/podgroup/status.js';
import { writeResult } from './report.js';

const { SIZES, BUDGET_S } = commandLineOrExit('bench:plan', 'usage: npm run bench:plan [-- --sizes N,N] [--budget-s S]', () => {
  const { values } = parseCommandLine({ options: { sizes: { type: 'string', default: '1000,10000,100000' }, 'budget-s': { type: 'string', default: '120' } } });
  return { SIZES: values.sizes.split(',').map((n) => integerFlag('sizes', n, { min: 1 })), BUDGET_S: integerFlag('budget-s', values['budget-s'], { min: 1 }) };
});

const NOW = Date.parse('2026-01-01T00:10:00Z');
const iso = (ms: number): string => new Date(ms).toISOString();

/** A ready pod as the informer caches it (JSON: timestamps are strings). */
function pod(i: number, hash: string): k8s.V1Pod {
  return JSON.parse(
    JSON.stringify({
      metadata: {
        name: `big-${i}`,
        namespace: 'ns',
        uid: `uid-${i}`,
        labels: { app: 'big', [REVISION_HASH_LABEL]: hash },
        creationTimestamp: iso(NOW - 600_000 + i),
      },
      spec: { nodeName: `node-${i % 5000}`, containers: [{ name: 'app', image: `app:${hash}` }] },
      status: {
        phase: 'Running',
        conditions: [
          { type: 'PodScheduled', status: 'True' },
          { type: 'Ready', status: 'True', lastTransitionTime: iso(NOW - 300_000 + (i % 1000)) },
        ],
        containerStatuses: [{ name: 'app', image: `app:${hash}`, imageID: '', ready: true, restartCount: 0 }],
      },
    }),
  ) as k8s.V1Pod;
}

const spec = (replicas: number): DefaultedPodGroupSpec =>
  defaultSpec({
    replicas,
    selector: { matchLabels: { app: 'big' } },
    template: { metadata: { labels: { app: 'big' } }, spec: { containers: [{ name: 'app', image: 'app:new' }] } },
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
  });

interface Scenario {
  name: string;
  input: PlanInput;
}

function scenarios(n: number): Scenario[] {
  const allNew = Array.from({ length: n }, (_, i) => pod(i, 'new'));
  const half = Array.from({ length: n }, (_, i) => pod(i, i % 2 === 0 ? 'new' : 'old'));
  const base = { updateHash: 'new', previousReplicas: n, now: NOW };
  return [
    {
      name: 'steady',
      input: { ...base, spec: spec(n), pods: allNew, desired: new Map([['new', n]]), sizedFor: n, revisionCreated: new Map([['new', NOW - 900_000]]) },
    },
    {
      name: 'scale down 10 %',
      input: { ...base, spec: spec(n - n / 10), pods: allNew, desired: new Map([['new', n]]), sizedFor: n, revisionCreated: new Map([['new', NOW - 900_000]]) },
    },
    {
      name: 'mid-rollout',
      input: {
        ...base,
        spec: spec(n),
        pods: half,
        desired: new Map([
          ['new', n / 2],
          ['old', n / 2],
        ]),
        sizedFor: n,
        revisionCreated: new Map([
          ['old', NOW - 1_900_000],
          ['new', NOW - 900_000],
        ]),
      },
    },
  ];
}

function timeMs(fn: () => unknown, reps: number): number {
  const times: number[] = [];
  for (let i = 0; i < reps; i += 1) {
    const started = performance.now();
    fn();
    times.push(performance.now() - started);
  }
  return [...times].sort((a, b) => a - b)[Math.floor((reps - 1) / 2)] ?? Number.NaN;
}

const rows: Array<Record<string, string | number>> = [];
let previousWorst = 0;
let previousSize = 0;
for (const n of SIZES) {
  // Quadratic growth from the previous size: skip a size that would blow the budget.
  const projected = previousSize === 0 ? 0 : (previousWorst * (n / previousSize) ** 2) / 1000;
  if (projected > BUDGET_S) {
    rows.push({ pods: n, scenario: 'all', 'classify ms': '', 'plan ms': `skipped (≈${Math.round(projected)} s projected)`, 'computeStatus ms': '' });
    continue;
  }
  let worst = 0;
  for (const { name, input } of scenarios(n)) {
    const reps = n >= 100_000 ? 1 : n >= 10_000 ? 3 : 9;
    const pg: DefaultedPodGroup = {
      metadata: { name: 'big', namespace: 'ns', generation: 2 },
      spec: input.spec,
      status: { observedGeneration: 1, replicas: n, readyReplicas: n, availableReplicas: n, updatedReplicas: n },
    };
    // Once per reconcile, for both plan and status.
    const classifyMs = timeMs(() => classify(input.pods, input.updateHash), reps);
    const counts = classify(input.pods, input.updateHash);
    const planMs = timeMs(() => plan(input, counts), reps);
    const statusMs = timeMs(
      () =>
        computeStatus(
          {
            pg,
            pods: input.pods,
            updateHash: 'new',
            desiredSizes: new Map([['new', n]]),
            collisionCount: 0,
            replicaFailure: undefined,
            sizedForReplicas: n,
            revisionCreated: false,
            now: NOW,
          },
          counts,
        ),
      reps,
    );
    worst = Math.max(worst, classifyMs, planMs, statusMs);
    const round = (ms: number): number => Math.round(ms * 10) / 10;
    rows.push({ pods: n, scenario: name, 'classify ms': round(classifyMs), 'plan ms': round(planMs), 'computeStatus ms': round(statusMs) });
    console.error(`[bench] ${n} pods, ${name}: classify ${classifyMs.toFixed(1)} ms, plan ${planMs.toFixed(1)} ms, computeStatus ${statusMs.toFixed(1)} ms`);
  }
  previousWorst = worst;
  previousSize = n;
}
console.table(rows);
writeResult('plan', { command: `npm run bench:plan -- --sizes ${SIZES.join(',')}`, rows });
