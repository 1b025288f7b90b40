import { describe, expect, it } from '@jest/globals';
import { Expectations } from '../../../src/podgroup/expectations.js';
import { rankForDeletion } from '../../../src/podgroup/ranking.js';
import { canonicalJson, decideUpdateRevision, newRevision, revisionsToPrune, contentHash } from '../../../src/podgroup/revisions.js';
import { resolveFenceposts, scaledValue } from '../../../src/podgroup/rollout.js';
import { matchesSelector } from '../../../src/podgroup/selector.js';
import type { PodGroup } from '../../../src/api/podgroup.js';
import { NOW, pod, spec } from './fixtures.js';

describe('rollout arithmetic', () => {
  it.each([
    [1, 10, true, 1],
    ['25%', 10, true, 3],
    ['25%', 10, false, 2],
    ['0%', 10, true, 0],
    ['100%', 3, false, 3],
    ['33%', 3, true, 1],
    ['33%', 3, false, 0],
  ] as const)('scaledValue(%p of %p, up=%p) = %p', (value, total, up, expected) => {
    expect(scaledValue(value, total, up)).toBe(expected);
  });

  it('rejects junk and turns 0/0 into maxUnavailable 1', () => {
    expect(() => scaledValue('abc', 3, true)).toThrow('invalid int-or-percent');
    expect(resolveFenceposts({ strategy: { rollingUpdate: { maxSurge: 0, maxUnavailable: '10%' } } }, 3)).toEqual({ maxSurge: 0, maxUnavailable: 1 });
    expect(resolveFenceposts({}, 4)).toEqual({ maxSurge: 1, maxUnavailable: 1 });
  });
});

describe('rankForDeletion (KCM order)', () => {
  const order = (...ps: ReturnType<typeof pod>[]): string[] => rankForDeletion(ps, ps, NOW).map((p) => p.metadata?.name ?? '');
  it.each([
    ['unscheduled before scheduled', pod('b'), pod('a', { scheduled: false, ready: false }), ['a', 'b']],
    ['Pending before Running', pod('b'), pod('a', { phase: 'Pending', ready: false }), ['a', 'b']],
    ['not ready before ready', pod('b'), pod('a', { ready: false }), ['a', 'b']],
    ['lower deletion cost first', pod('b', { cost: 5 }), pod('a', { cost: -1 }), ['a', 'b']],
    ['ready for less time first', pod('b', { readySinceMs: 60_000 }), pod('a', { readySinceMs: 1000 }), ['a', 'b']],
    ['more restarts first', pod('b'), pod('a', { restarts: 4 }), ['a', 'b']],
    ['newer first', pod('b', { createdMsAgo: 60_000 }), pod('a', { createdMsAgo: 1000 }), ['a', 'b']],
  ])('%s', (_desc, x, y, expected) => {
    expect(order(x, y)).toEqual(expected);
  });

  const withUid = (p: ReturnType<typeof pod>, uid: string): ReturnType<typeof pod> => ({ ...p, metadata: { ...p.metadata, uid } });

  it('LogarithmicScaleDown: ready times in the same log2 bucket tie, broken by UID, before restarts count', () => {
    // Ready 40 s and 50 s ago: both in bucket floor(log2(ns)) = 35, so the UID decides (not the newer, not the restarts).
    const a = withUid(pod('a', { readySinceMs: 40_000 }), 'uid-2');
    const b = withUid(pod('b', { readySinceMs: 50_000, restarts: 3 }), 'uid-1');
    expect(order(a, b)).toEqual(['b', 'a']);
    // 10 s and 50 s ago are in different buckets (33 and 35): the more recently ready goes first.
    const c = withUid(pod('c', { readySinceMs: 10_000 }), 'uid-9');
    expect(order(b, c)).toEqual(['c', 'b']);
  });

  it('LogarithmicScaleDown: creation times in the same bucket tie, broken by UID', () => {
    const ready = { readySinceMs: 30_000 };
    const older = withUid(pod('older', { ...ready, createdMsAgo: 50_000 }), 'uid-1');
    const newer = withUid(pod('newer', { ...ready, createdMsAgo: 40_000 }), 'uid-2');
    expect(order(newer, older)).toEqual(['older', 'newer']);
    const newest = withUid(pod('newest', { ...ready, createdMsAgo: 2_000 }), 'uid-3');
    expect(order(older, newest)).toEqual(['newest', 'older']);
  });

  it('restarts: regular containers first, then sidecars (restartable init containers)', () => {
    const sidecar = (name: string, restarts: number): ReturnType<typeof pod> => {
      const p = pod(name);
      return {
        ...p,
        spec: {
          ...p.spec,
          containers: p.spec?.containers ?? [],
          initContainers: [
            { name: 'log', image: 'x', restartPolicy: 'Always' },
            { name: 'init', image: 'x' },
          ],
        },
        status: {
          ...p.status,
          initContainerStatuses: [
            { name: 'log', image: 'x', imageID: '', ready: true, restartCount: restarts },
            { name: 'init', image: 'x', imageID: '', ready: false, restartCount: 9 },
          ],
        },
      };
    };
    expect(order(sidecar('calm', 0), sidecar('flaky', 2))).toEqual(['flaky', 'calm']);
    // A plain init container's restarts do not count; a regular container's outrank any sidecar's.
    expect(order(sidecar('flaky', 2), { ...pod('crashy', { restarts: 1 }) })).toEqual(['crashy', 'flaky']);
  });

  it('prefers pods on crowded nodes', () => {
    const crowded = [pod('c1', { node: 'n1' }), pod('c2', { node: 'n1' }), pod('lonely', { node: 'n2' })];
    expect(rankForDeletion(crowded, crowded, NOW)[2]?.metadata?.name).toBe('lonely');
  });
});

describe('revisions', () => {
  const pg = (image: string): PodGroup => ({
    metadata: { name: 'web', namespace: 'ns', uid: 'u1' },
    spec: spec({ template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image }] } } }),
  });

  it('hashes templates canonically, and differently per collision count', () => {
    const a = { metadata: { labels: { x: '1', y: '2' } }, spec: { containers: [{ name: 'a', image: 'i' }] } };
    const b = { spec: { containers: [{ image: 'i', name: 'a' }] }, metadata: { labels: { y: '2', x: '1' } } };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(contentHash({ template: a }, 0)).toBe(contentHash({ template: b }, 0));
    expect(contentHash({ template: a }, 1)).not.toBe(contentHash({ template: a }, 0));
    expect(contentHash({ template: a }, 0)).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
  });

  it('creates, finds, and renumbers (rollback) revisions', () => {
    const v1 = pg('x:1');
    const first = decideUpdateRevision(v1, [], 0);
    expect(first.kind).toBe('create');
    expect(first.revision.revision).toBe(1);
    expect(first.revision.metadata?.name).toBe(`web-${first.hash}`);
    expect(first.revision.metadata?.ownerReferences?.[0]).toMatchObject({ uid: 'u1', controller: true });
    const r1 = first.revision;
    expect(decideUpdateRevision(v1, [r1], 0).kind).toBe('existing');
    const second = decideUpdateRevision(pg('x:2'), [r1], 0);
    expect(second).toMatchObject({ kind: 'create' });
    expect(second.revision.revision).toBe(2);
    const back = decideUpdateRevision(v1, [r1, second.revision], 0);
    expect(back).toMatchObject({ kind: 'renumber', number: 3, hash: first.hash });
  });

  it('prunes only the oldest revisions beyond the limit, skipping busy ones without widening (cleanupDeployment)', () => {
    const revs = [1, 2, 3, 4, 5].map((n) => newRevision(pg(`x:${n}`), `h${n}`, n));
    // 4 old revisions, limit 2: only h1 and h2 are considered; h1 is busy, so only h2 goes (h3 stays for rollout undo).
    expect(revisionsToPrune(revs, 'h5', new Set(['h1']), 2).map((r) => r.revision)).toEqual([2]);
    expect(revisionsToPrune(revs, 'h5', new Set(), 2).map((r) => r.revision)).toEqual([1, 2]);
    expect(revisionsToPrune(revs, 'h5', new Set(['h1', 'h2']), 2)).toEqual([]);
    expect(revisionsToPrune(revs, 'h5', new Set(), 10)).toEqual([]);
    // The update revision is never old, whatever its number (a rollback renumbers it).
    expect(revisionsToPrune(revs, 'h1', new Set(), 0).map((r) => r.revision)).toEqual([2, 3, 4, 5]);
    // Revisions already being deleted do not count.
    const deleting = revs.map((r, i) => (i === 0 ? { ...r, metadata: { ...r.metadata, deletionTimestamp: new Date() } } : r));
    expect(revisionsToPrune(deleting, 'h5', new Set(), 2).map((r) => r.revision)).toEqual([2]);
  });
});

describe('Expectations', () => {
  it('waits for observed creates and deletes, and expires', () => {
    let now = 0;
    const e = new Expectations(() => now, 1000);
    expect(e.satisfied('k')).toBe(true);
    e.expect('k', 2, ['ns/a']);
    expect(e.satisfied('k')).toBe(false);
    e.creationObserved('k');
    e.lowerAdds('k', 1);
    expect(e.satisfied('k')).toBe(false);
    e.deletionObserved('k', 'ns/a');
    expect(e.satisfied('k')).toBe(true);
    e.expect('k', 5, []);
    now = 2000;
    expect(e.satisfied('k')).toBe(true);
  });
});

describe('matchesSelector', () => {
  it.each([
    [{ matchLabels: { a: '1' } }, { a: '1', b: '2' }, true],
    [{ matchLabels: { a: '1' } }, { a: '2' }, false],
    [{ matchExpressions: [{ key: 'a', operator: 'In', values: ['1', '2'] }] }, { a: '2' }, true],
    [{ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['1'] }] }, { a: '1' }, false],
    [{ matchExpressions: [{ key: 'a', operator: 'Exists' }] }, {}, false],
    [{ matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] }, {}, true],
    [{}, { a: '1' }, false],
  ])('%j matches %j: %p', (selector, labels, expected) => {
    expect(matchesSelector(selector, labels)).toBe(expected);
  });
});
