import { describe, expect, it } from '@jest/globals';
import { defaultSpec } from '../../../src/api/podgroup.js';
import { plan, type PlanInput } from '../../../src/podgroup/plan.js';
import { NOW, pod, pods, spec } from './fixtures.js';

const run = (input: Partial<PlanInput> & Pick<PlanInput, 'pods'>): ReturnType<typeof plan> =>
  plan({
    spec: spec(),
    updateHash: 'new',
    desired: new Map(),
    sizedFor: undefined,
    previousReplicas: 0,
    revisionCreated: new Map([
      ['old', 1000],
      ['new', 2000],
    ]),
    now: NOW,
    ...input,
  });
/** Pods to create, all revisions. */
const created = (p: ReturnType<typeof plan>): number => p.create.reduce((n, c) => n + c.count, 0);

const names = (p: ReturnType<typeof plan>): string[] => p.delete.map((d) => d.pod.metadata?.name ?? '').sort();

describe('plan: scaling and self-healing', () => {
  it.each([
    { desc: 'creates all replicas from nothing', replicas: 3, existing: 0, create: 3, del: 0 },
    { desc: 'replaces a missing pod', replicas: 3, existing: 2, create: 1, del: 0 },
    { desc: 'scales up within the surge bound only for new pods', replicas: 10, existing: 3, create: 7, del: 0 },
    { desc: 'scales down the excess', replicas: 2, existing: 5, create: 0, del: 3 },
    { desc: 'does nothing when converged', replicas: 3, existing: 3, create: 0, del: 0 },
    { desc: 'scales to zero', replicas: 0, existing: 2, create: 0, del: 2 },
  ])('$desc', ({ replicas, existing, create, del }) => {
    const result = run({ spec: spec({ replicas }), pods: pods(existing, 'p') });
    expect(created(result)).toBe(create);
    expect(result.delete).toHaveLength(del);
    expect(result.create.every((c) => c.hash === 'new')).toBe(true);
  });

  it('counts terminating pods against the surge bound with TerminationComplete', () => {
    // replicas 4 → maxSurge 1: 3 active + 2 terminating already fill replicas+surge.
    const input = { spec: spec({ replicas: 4 }), pods: [...pods(3, 'a'), ...pods(2, 't', { terminating: true })] };
    expect(created(run(input))).toBe(0);
    expect(created(run({ ...input, spec: spec({ replicas: 4, podReplacementPolicy: 'TerminationStarted' }) }))).toBe(1);
  });

  it.each([
    { desc: 'maxSurge 1', strategy: undefined },
    { desc: 'maxSurge 0', strategy: { type: 'RollingUpdate' as const, rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } } },
  ])('by default (no podReplacementPolicy) replaces pods held terminating at once, as a ReplicaSet ($desc)', ({ strategy }) => {
    // 2 of 3 pods held Terminating (a finalizer, an unreachable node): both replaced now.
    const { podReplacementPolicy: _unset, ...unset } = spec({ replicas: 3, ...(strategy === undefined ? {} : { strategy }) });
    const defaults = defaultSpec(unset);
    const result = run({ spec: defaults, pods: [...pods(1, 'a'), ...pods(2, 't', { terminating: true })] });
    expect(result.create).toEqual([{ hash: 'new', count: 2 }]);
    expect(result.delete).toEqual([]);
    // The opt-in waits for them: with maxSurge 0 it replaces none.
    const strict = run({ spec: { ...defaults, podReplacementPolicy: 'TerminationComplete' }, pods: [...pods(1, 'a'), ...pods(2, 't', { terminating: true })] });
    expect(created(strict)).toBe(strategy === undefined ? 1 : 0);
  });

  it('ignores finished pods: replaced, never deleted (left to the pod garbage collector)', () => {
    for (const phase of ['Failed', 'Succeeded']) {
      const result = run({ pods: [...pods(2, 'ok'), pod('done', { phase, ready: false })] });
      expect(result.create).toEqual([{ hash: 'new', count: 1 }]);
      expect(result.delete).toEqual([]);
    }
    // Nor are they scale-down candidates: only running pods go.
    const down = run({ spec: spec({ replicas: 1 }), pods: [...pods(2, 'ok'), pod('done', { phase: 'Failed', ready: false })] });
    expect(names(down)).not.toContain('done');
    expect(down.delete).toHaveLength(1);
  });

  it('scales down unscheduled and not-ready pods first', () => {
    const existing = [pod('running-1'), pod('running-2'), pod('pending', { scheduled: false, ready: false }), pod('not-ready', { ready: false })];
    expect(names(run({ spec: spec({ replicas: 2 }), pods: existing }))).toEqual(['not-ready', 'pending']);
  });

  it('asks to re-check when a ready pod will become available', () => {
    const result = run({ spec: spec({ minReadySeconds: 10 }), pods: pods(3, 'p', { readySinceMs: 4000 }) });
    expect(result.recheckAfterMs).toBe(6000);
  });
});

describe('plan: rolling update', () => {
  const rolling = (replicas: number, maxSurge: number | string, maxUnavailable: number | string) =>
    spec({ replicas, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge, maxUnavailable } } });

  it.each([
    // [replicas, surge, unavailable, old available, new (ready?), terminating] → [create, delete old]
    { desc: 'starts: surges first (a scale-up pass does nothing else)', r: 4, s: 1, u: 1, old: 4, fresh: 0, term: 0, create: 1, del: 0 },
    { desc: 'then removes up to maxUnavailable', r: 4, s: 1, u: 1, old: 4, fresh: 1, term: 0, create: 0, del: 2 },
    { desc: 'maxUnavailable 0 waits for new pods to be available', r: 3, s: 1, u: 0, old: 3, fresh: 0, term: 0, create: 1, del: 0 },
    { desc: 'maxUnavailable 0 deletes once a new pod is available', r: 3, s: 1, u: 0, old: 3, fresh: 1, term: 0, create: 0, del: 1 },
    { desc: 'maxSurge 0 deletes first', r: 3, s: 0, u: 1, old: 3, fresh: 0, term: 0, create: 0, del: 1 },
    { desc: 'maxSurge 0 creates once room is free', r: 3, s: 0, u: 1, old: 2, fresh: 0, term: 0, create: 1, del: 0 },
    { desc: 'terminating pods block creation (TerminationComplete)', r: 3, s: 1, u: 1, old: 2, fresh: 1, term: 1, create: 0, del: 1 },
    { desc: 'percentages: 25% of 10 → surge 3, unavailable 2', r: 10, s: '25%', u: '25%', old: 10, fresh: 0, term: 0, create: 3, del: 0 },
    { desc: 'finishes: last old pod removed when new are available', r: 3, s: 1, u: 0, old: 1, fresh: 3, term: 0, create: 0, del: 1 },
  ])('$desc', ({ r, s, u, old, fresh, term, create, del }) => {
    const existing = [...pods(old, 'old', { hash: 'old' }), ...pods(fresh, 'new'), ...pods(term, 'term', { hash: 'old', terminating: true })];
    const result = run({ spec: rolling(r, s, u), pods: existing });
    expect(created(result)).toBe(create);
    expect(result.delete.filter((d) => d.pod.metadata?.labels?.['controller-revision-hash'] === 'old')).toHaveLength(del);
  });

  it('never plans more than replicas + maxSurge pods or fewer than replicas - maxUnavailable available', () => {
    // Walk a whole rollout, applying each plan as if the cluster acted instantly.
    for (const [r, s, u] of [
      [5, 2, 1],
      [10, 0, 3],
      [7, 3, 0],
      [1, 1, 0],
      [4, '50%', '50%'],
    ] as const) {
      let world = pods(r, 'old', { hash: 'old' });
      let step = 0;
      for (; step < 100; step += 1) {
        const result = run({ spec: rolling(r, s, u), pods: world });
        const gone = new Set(result.delete.map((d) => d.pod));
        world = world.filter((p) => !gone.has(p));
        world.push(...pods(created(result), `s${step}`));
        const surge = typeof s === 'number' ? s : Math.ceil(r / 2);
        const unavailable = typeof u === 'number' ? u : Math.floor(r / 2);
        expect(world.length).toBeLessThanOrEqual(r + surge);
        expect(world.length).toBeGreaterThanOrEqual(r - Math.max(unavailable, surge === 0 && unavailable === 0 ? 1 : 0));
        if (world.every((p) => p.metadata?.labels?.['controller-revision-hash'] === 'new') && world.length === r) {
          break;
        }
      }
      expect(step).toBeLessThan(100);
    }
  });

  it('scales down surplus old pods when replicas drop mid-rollout', () => {
    const existing = [...pods(6, 'old', { hash: 'old' }), ...pods(2, 'new')];
    const result = run({ spec: rolling(3, 1, 0), pods: existing });
    // 8 pods already exceed 3 + 1: nothing is created until old pods go; 5 old pods may go now.
    expect(created(result)).toBe(0);
    expect(result.delete).toHaveLength(5);
    expect(result.delete.every((d) => d.pod.metadata?.labels?.['controller-revision-hash'] === 'old')).toBe(true);
  });
});

describe('plan: Recreate and paused', () => {
  it('Recreate deletes all old pods first, then waits for terminating ones, then creates', () => {
    const s = spec({ replicas: 3, strategy: { type: 'Recreate' } });
    const phase1 = run({ spec: s, pods: pods(3, 'old', { hash: 'old' }) });
    expect([created(phase1), phase1.delete.length]).toEqual([0, 3]);
    expect(phase1.delete.every((d) => d.reason === 'recreate')).toBe(true);
    const phase2 = run({ spec: s, pods: pods(3, 'old', { hash: 'old', terminating: true }) });
    expect([created(phase2), phase2.delete.length]).toEqual([0, 0]);
    const phase3 = run({ spec: s, pods: [] });
    expect(created(phase3)).toBe(3);
  });

  it('paused keeps the stable revision for replacements and rolls nothing', () => {
    const s = spec({ replicas: 3, paused: true });
    const result = run({ spec: s, pods: pods(2, 'old', { hash: 'old' }) });
    expect(result).toMatchObject({ create: [{ hash: 'old', count: 1 }], delete: [] });
    expect(run({ spec: spec({ replicas: 1, paused: true }), pods: pods(3, 'old', { hash: 'old' }) }).delete).toHaveLength(2);
  });
});

describe('plan: scaling during a rollout is proportional (Deployment scale(), GetProportion)', () => {
  // 10 replicas, maxSurge 3, maxUnavailable 2; rolled to an unschedulable template: 8 old Running, 5 new Pending.
  const stuck = (): ReturnType<typeof pods> => [...pods(8, 'old', { hash: 'old' }), ...pods(5, 'new', { scheduled: false, ready: false })];
  const s = (replicas: number) => spec({ replicas, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 3, maxUnavailable: 2 } } });
  const perHash = (p: ReturnType<typeof plan>, hash: string) => ({
    create: p.create.find((c) => c.hash === hash)?.count ?? 0,
    delete: p.delete.filter((d) => d.pod.metadata?.labels?.['controller-revision-hash'] === hash).length,
  });

  it('scale-down 10 → 2 keeps old and new in proportion instead of deleting every healthy pod', () => {
    const result = run({ spec: s(2), pods: stuck(), sizedFor: 10, previousReplicas: 13 });
    // 13 pods, max before 13, max now 5: old 8 → round(8·5/13) = 3, new 5 → 2.
    expect(perHash(result, 'old')).toEqual({ create: 0, delete: 5 });
    expect(perHash(result, 'new')).toEqual({ create: 0, delete: 3 });
  });

  it('scale-up 10 → 20 adds to old and new revisions in proportion', () => {
    const result = run({ spec: s(20), pods: stuck(), sizedFor: 10, previousReplicas: 13 });
    // max now 23: 10 more; old (larger, first) round(8·23/13) − 8 = 6, new the remaining 4.
    expect(perHash(result, 'old')).toEqual({ create: 6, delete: 0 });
    expect(perHash(result, 'new')).toEqual({ create: 4, delete: 0 });
  });

  it('without a scaling event the rollout goes on by the availability bound only', () => {
    const result = run({ spec: s(10), pods: stuck(), sizedFor: 10, previousReplicas: 13 });
    expect(created(result)).toBe(0);
    // min available 8, new unavailable 5: 13 − 8 − 5 = 0 old pods may go.
    expect(result.delete).toEqual([]);
  });

  it('a scaled-down update revision loses its excess and nothing else in that pass', () => {
    const result = run({ spec: s(3), pods: [...pods(2, 'old', { hash: 'old' }), ...pods(5, 'new')], sizedFor: 3, previousReplicas: 7 });
    expect(perHash(result, 'new')).toEqual({ create: 0, delete: 2 });
    expect(perHash(result, 'old')).toEqual({ create: 0, delete: 0 });
  });

  it('paused: a single revision is scaled to replicas; several are scaled in proportion', () => {
    const paused = (replicas: number) =>
      spec({ replicas, paused: true, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } });
    expect(run({ spec: paused(5), pods: pods(3, 'old', { hash: 'old' }), sizedFor: 3 }).create).toEqual([{ hash: 'old', count: 2 }]);
    const mixed = run({ spec: paused(8), pods: [...pods(3, 'old', { hash: 'old' }), ...pods(1, 'new')], sizedFor: 3, previousReplicas: 4 });
    // max before 4, max now 9: old round(3·9/4) − 3 = 4, new round(9/4) − 1 = 1.
    expect(perHash(mixed, 'old').create).toBe(4);
    expect(perHash(mixed, 'new').create).toBe(1);
  });
});

describe('plan: each revision keeps its desired count (a ReplicaSet per revision)', () => {
  const rolling = (replicas: number, maxSurge: number, maxUnavailable: number, extra: Partial<Parameters<typeof spec>[0]> = {}) =>
    spec({ replicas, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge, maxUnavailable } }, ...extra });
  const sizes = (entries: Record<string, number>): Map<string, number> => new Map(Object.entries(entries));
  const createdIn = (p: ReturnType<typeof plan>, hash: string): number => p.create.find((c) => c.hash === hash)?.count ?? 0;

  it('replaces a lost pod of an old revision in that revision, in the middle of a stuck rollout', () => {
    // 3 replicas, surge 1, unavailable 0, stuck: old wants 3, new wants 1 (Pending). One old pod vanished.
    const existing = [...pods(2, 'old', { hash: 'old' }), ...pods(1, 'new', { scheduled: false, ready: false })];
    const result = run({ spec: rolling(3, 1, 0), pods: existing, desired: sizes({ old: 3, new: 1 }), sizedFor: 3 });
    expect(result.create).toEqual([{ hash: 'old', count: 1 }]);
    expect(result.delete).toEqual([]);
    expect(result.sizes).toEqual(sizes({ old: 3, new: 1 }));
  });

  it("proportional scaling shares from each revision's recorded max-replicas, not today's maxSurge (getReplicaSetFraction)", () => {
    // 10 replicas, surge 3: stuck with old 8 + new 5 (both recorded at 10 + 3 = 13). maxSurge then
    // lowered to 1, and scaled to 20: 21 allowed, 8 to add. Upstream: old round(8·21/13) = 13 (+5), new round(5·21/13) = 8 (+3).
    const existing = [...pods(8, 'old', { hash: 'old' }), ...pods(5, 'new', { scheduled: false, ready: false })];
    const input = { spec: rolling(20, 1, 2), pods: existing, desired: sizes({ old: 8, new: 5 }), sizedFor: 10 };
    expect(run({ ...input, maxReplicas: sizes({ old: 13, new: 13 }) }).sizes).toEqual(sizes({ old: 13, new: 8 }));
    // Without the record, today's maxSurge skews it (10 + 1 = 11 as the baseline): the old revision takes 7.
    expect(run(input).sizes).toEqual(sizes({ old: 15, new: 6 }));
  });

  it('while paused, replaces a lost pod of the update revision in that revision', () => {
    // replicas 1, surge 1: paused mid-rollout with old 1 (Running) and new 1 (Pending); the Pending pod is deleted.
    const result = run({ spec: rolling(1, 1, 0, { paused: true }), pods: pods(1, 'old', { hash: 'old' }), desired: sizes({ old: 1, new: 1 }), sizedFor: 1 });
    expect(result.create).toEqual([{ hash: 'new', count: 1 }]);
    expect(result.delete).toEqual([]);
  });

  it('a revision still owed pods after refused creates gets them, not the update revision', () => {
    // Old revision was scaled 2 → 4 by a proportional scale-up, but its creates were refused.
    const existing = [...pods(2, 'old', { hash: 'old' }), ...pods(2, 'new', { scheduled: false, ready: false })];
    const result = run({ spec: rolling(6, 2, 0), pods: existing, desired: sizes({ old: 4, new: 4 }), sizedFor: 6 });
    expect(createdIn(result, 'old')).toBe(2);
    expect(createdIn(result, 'new')).toBe(2);
  });

  it('an old revision wanted down to 0 loses its pods even when none was recorded before (adopted)', () => {
    const result = run({ spec: rolling(2, 1, 0), pods: [...pods(1, 'old', { hash: 'old' }), ...pods(2, 'new')], desired: sizes({ new: 2 }), sizedFor: 2 });
    expect(result.sizes.get('old')).toBe(0);
    expect(names(result)).toEqual(['old-0']);
    expect(result.delete[0]?.reason).toBe('rollout');
  });

  it('the update revision is never raised past replicas + maxSurge of the pods that count', () => {
    // Refused deletes: the old revision wants 0 but its 3 pods remain; surge 1 allows 1 new pod only.
    const existing = [...pods(3, 'old', { hash: 'old' }), ...pods(1, 'new', { scheduled: false, ready: false })];
    const result = run({ spec: rolling(3, 1, 0), pods: existing, desired: sizes({ old: 0, new: 1 }), sizedFor: 3 });
    expect(result.sizes.get('new')).toBe(1);
    expect(created(result)).toBe(0);
  });

  it('walks a whole rollout carrying the counts, with a pod lost along the way, and ends on the new revision only', () => {
    let world = pods(4, 'old', { hash: 'old' });
    let desired = sizes({ old: 4 });
    let lost = false;
    for (let step = 0; step < 50; step += 1) {
      const result = run({ spec: rolling(4, 1, 1), pods: world, desired, sizedFor: 4 });
      desired = result.sizes;
      const gone = new Set(result.delete.map((d) => d.pod));
      world = world.filter((p) => !gone.has(p));
      for (const c of result.create) {
        world.push(...pods(c.count, `s${step}-${c.hash}`, { hash: c.hash }));
      }
      expect(world.length).toBeLessThanOrEqual(5);
      if (!lost && world.some((p) => p.metadata?.labels?.['controller-revision-hash'] === 'new')) {
        // An old pod vanishes: its revision still wants it back until the rollout lowers the count.
        world = world.filter((p) => p !== world.find((q) => q.metadata?.labels?.['controller-revision-hash'] === 'old'));
        lost = true;
      }
      if (world.length === 4 && world.every((p) => p.metadata?.labels?.['controller-revision-hash'] === 'new')) {
        expect(desired).toEqual(sizes({ old: 0, new: 4 }));
        return;
      }
    }
    throw new Error('the rollout did not finish');
  });
});

describe('plan: availability counts only what each revision keeps', () => {
  it('a count lowered before a restart is no margin: deletes stay within maxUnavailable', () => {
    // 8 replicas, surge 2, unavailable 1. A killed manager lowered the old revision to 4 but never
    // deleted: 5 old + 5 new pods, all available. Counting the old 5 as available would let the
    // count drop to 1 and delete 4 (6 available < 7).
    const existing = [...pods(5, 'old', { hash: 'old' }), ...pods(5, 'new')];
    const result = run({
      spec: spec({ replicas: 8, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 2, maxUnavailable: 1 } } }),
      pods: existing,
      desired: new Map([
        ['old', 4],
        ['new', 5],
      ]),
      sizedFor: 8,
    });
    expect(result.delete).toHaveLength(3);
    expect(10 - result.delete.length).toBeGreaterThanOrEqual(7);
  });
});
