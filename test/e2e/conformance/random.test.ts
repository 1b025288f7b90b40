// Randomised conformance: fast-check generates a workload spec and a sequence of operations
// (scale up/down, template change, pause/resume, delete pods, make the template unschedulable
// and schedulable again, orphan-delete and re-create, a bare pod with the selector's labels,
// respell the template; pods that take time to terminate); the Deployment and the PodGroup must end
// equal (harness.ts). A fixed seed list runs in `npm test`; `npm run test:conformance` adds
// PODGROUP_CONFORMANCE_RUNS (default there: 200) random seeds. Every failure names its seed:
// PODGROUP_CONFORMANCE_SEEDS=<seed,...> re-runs exactly those.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { startReferenceKcm, stopReferenceKcm } from '../../../hack/cluster/reference-kcm.js';
import { clusterState, createNamespace } from '../support/cluster.js';
import { killAll } from '../support/processes.js';
import { startManager, type RunningManager } from '../support/podgroups.js';
import { checkDeclarations } from './differences.js';
import { describeOp, inNamespace, runScenario, type Op, type WorkloadSpec } from './harness.js';
import { SPELLINGS } from './spellings.js';

/** Seeds that run in every `npm test`. */
export const FIXED_SEEDS = [11, 23, 37, 41, 59, 67];
const RANDOM_RUNS = Number(process.env.PODGROUP_CONFORMANCE_RUNS ?? 0);
const CONCURRENCY = Number(process.env.PODGROUP_CONFORMANCE_CONCURRENCY ?? 6);
const ONLY = process.env.PODGROUP_CONFORMANCE_SEEDS?.split(',').map(Number);

const images = ['registry.example/app:1', 'registry.example/app:2', 'registry.example/app:3'];

const specArb: fc.Arbitrary<WorkloadSpec> = fc.record({
  replicas: fc.integer({ min: 1, max: 4 }),
  strategy: fc.oneof(
    { weight: 1, arbitrary: fc.constant({ type: 'Recreate' as const }) },
    {
      weight: 3,
      arbitrary: fc
        .record({ maxSurge: fc.integer({ min: 0, max: 2 }), maxUnavailable: fc.integer({ min: 0, max: 2 }) })
        .filter((r) => r.maxSurge + r.maxUnavailable > 0)
        .map((rollingUpdate) => ({ type: 'RollingUpdate' as const, rollingUpdate })),
    },
  ),
  revisionHistoryLimit: fc.integer({ min: 0, max: 3 }),
  // Pods that take time to terminate (a finalizer the harness removes after a while).
  slowTermination: fc.boolean(),
});

/** The same template written another way (spellings.ts): nothing may roll. */
const revisionOpArb: fc.Arbitrary<Op> = fc.integer({ min: 0, max: SPELLINGS - 1 }).map((spelling): Op => ({ op: 'respell', spelling }));

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.integer({ min: 0, max: 5 }).map((replicas): Op => ({ op: 'scale', replicas })),
  fc.constantFrom(...images).map((image): Op => ({ op: 'image', image })),
  fc.constant<Op>({ op: 'pause' }),
  fc.constant<Op>({ op: 'resume' }),
  fc.record({ count: fc.integer({ min: 1, max: 2 }), of: fc.constantFrom('current' as const, 'old' as const) }).map((r): Op => ({ op: 'deletePods', ...r })),
  fc.constant<Op>({ op: 'unschedulable' }),
  fc.constant<Op>({ op: 'schedulable' }),
  fc.constant<Op>({ op: 'orphanRecreate' }),
  fc.constant<Op>({ op: 'barePod' }),
  revisionOpArb,
);

const sequenceArb = fc.record({ spec: specArb, ops: fc.array(opArb, { minLength: 2, maxLength: 5 }) });

export function sequenceFor(seed: number): { spec: WorkloadSpec; ops: Op[] } {
  const [sequence] = fc.sample(sequenceArb, { seed, numRuns: 1 });
  if (sequence === undefined) {
    throw new Error(`no sequence for seed ${seed}`);
  }
  return sequence;
}

describe('Deployment conformance: random operation sequences', () => {
  let manager: RunningManager;
  beforeAll(async () => {
    checkDeclarations();
    await startReferenceKcm(clusterState());
    manager = await startManager();
  });
  afterAll(async () => {
    await manager?.stop();
    await killAll();
    await stopReferenceKcm(clusterState());
  });

  async function runSeed(seed: number): Promise<void> {
    const { spec, ops } = sequenceFor(seed);
    const ns = await createNamespace(`conf-seed`);
    try {
      await runScenario(
        inNamespace(ns.name, 'r'),
        spec,
        ops.map((op) => ({ op })),
        { label: `seed ${seed}` },
      );
    } catch (err) {
      throw new Error(
        `seed ${seed} (re-run: PODGROUP_CONFORMANCE_SEEDS=${seed}) spec ${JSON.stringify(spec)} ops ${ops.map(describeOp).join(' → ')}\n${err instanceof Error ? err.message : String(err)}`,
      );
    } finally {
      await ns.remove();
    }
  }

  /** Runs seeds `concurrency` at a time; returns the failures (every seed runs). */
  async function runAll(seeds: number[]): Promise<string[]> {
    const failures: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(CONCURRENCY, seeds.length) }, async () => {
        while (next < seeds.length) {
          const seed = seeds[next] as number;
          next += 1;
          await runSeed(seed).catch((err: unknown) => {
            failures.push(err instanceof Error ? err.message : String(err));
            console.error(`conformance: seed ${seed} failed`);
          });
        }
      }),
    );
    return failures;
  }

  it(`fixed seeds ${(ONLY ?? FIXED_SEEDS).join(', ')}`, async () => {
    const failures = await runAll(ONLY ?? FIXED_SEEDS);
    expect(failures).toEqual([]);
  }, 900_000);

  // Registered only for npm run test:conformance (npm test runs the fixed seeds above).
  if (RANDOM_RUNS > 0 && ONLY === undefined) {
    it(`${RANDOM_RUNS} random seeds`, async () => {
      const base = Number(process.env.PODGROUP_CONFORMANCE_BASE_SEED ?? Date.now() % 1_000_000_000);
      const seeds = Array.from({ length: RANDOM_RUNS }, (_, i) => base + i);
      console.log(`conformance: ${RANDOM_RUNS} random seeds from ${base} (PODGROUP_CONFORMANCE_BASE_SEED=${base} repeats them)`);
      const started = Date.now();
      const failures = await runAll(seeds);
      console.log(`conformance: ${RANDOM_RUNS - failures.length}/${RANDOM_RUNS} random sequences equal in ${Math.round((Date.now() - started) / 1000)} s`);
      expect(failures).toEqual([]);
    }, 7_200_000);
  }
});
