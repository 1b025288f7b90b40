import { describe, expect, it } from '@jest/globals';
import type * as k8s from '@kubernetes/client-node';
import { PODGROUP_NAME_LABEL, REVISION_SIDECARS_ANNOTATION, type PodGroup } from '../../../src/api/podgroup.js';
import { planClaim, planPodClaim, planRevisionClaim } from '../../../src/podgroup/claim.js';
import { podFromRevision } from '../../../src/podgroup/new-pod.js';
import { boundedLabelValue, decideUpdateRevision, newRevision, revisionContent } from '../../../src/podgroup/revisions.js';
import { decideRollback } from '../../../src/podgroup/rollback.js';
import { slowStartBatch } from '../../../src/podgroup/slow-start.js';
import { NOW, pod, spec } from './fixtures.js';

const pg = (name: string, overrides: Partial<PodGroup['spec']> = {}): PodGroup => ({ metadata: { name, namespace: 'ns', uid: 'u1' }, spec: spec(overrides) });

describe('long names (a 66-character PodGroup works like a 66-character Deployment)', () => {
  const name = `web-${'x'.repeat(62)}`;

  it('keeps every label value within 63 characters and distinct per name', () => {
    expect(boundedLabelValue('web')).toBe('web');
    expect(boundedLabelValue(name)).toHaveLength(63);
    expect(boundedLabelValue(name)).not.toBe(boundedLabelValue(`${name}y`));
    const decision = decideUpdateRevision(pg(name), [], 0);
    for (const value of Object.values(decision.revision.metadata?.labels ?? {})) {
      expect(value.length).toBeLessThanOrEqual(63);
    }
    expect(decision.revision.metadata?.labels?.[PODGROUP_NAME_LABEL]).toBe(boundedLabelValue(name));
  });

  it('cuts pod names as generateName does', () => {
    const p = podFromRevision(pg(name), revisionContent(pg(name).spec), 'abc', undefined);
    expect(p.metadata?.name?.length).toBe(63);
    for (const value of Object.values(p.metadata?.labels ?? {})) {
      expect(value.length).toBeLessThanOrEqual(63);
    }
  });
});

describe('spec.sidecars is part of the revision', () => {
  const v1 = pg('web', { sidecars: { logCollector: { enabled: true } } });
  const v2 = pg('web', { sidecars: { logCollector: { enabled: true, path: '/var/log/app' } } });

  it('a sidecars change is a new revision; the same sidecars find it again', () => {
    const r1 = decideUpdateRevision(v1, [], 0);
    const r2 = decideUpdateRevision(v2, [r1.revision], 0);
    expect(r2.kind).toBe('create');
    expect(r2.hash).not.toBe(r1.hash);
    expect(decideUpdateRevision(v1, [r1.revision, r2.revision], 0)).toMatchObject({ kind: 'renumber', hash: r1.hash });
    expect(decideUpdateRevision(pg('web'), [r1.revision], 0).kind).toBe('create');
  });

  it("stamps the revision's sidecars on its pods", () => {
    const p = podFromRevision(v2, revisionContent(v1.spec), 'h1', undefined);
    expect(JSON.parse(p.metadata?.annotations?.[REVISION_SIDECARS_ANNOTATION] ?? '')).toEqual({ logCollector: { enabled: true } });
    expect(podFromRevision(pg('web'), revisionContent(pg('web').spec), 'h0', undefined).metadata?.annotations).toBeUndefined();
  });

  it('rollback restores template and sidecars, or removes sidecars the old revision did not have', () => {
    const none = pg('web');
    const r0 = newRevision(none, 'h0', 1);
    const r1 = newRevision(v1, 'h1', 2);
    const r2 = newRevision(v2, 'h2', 3);
    const withAnnotation = (p: PodGroup, to: string): PodGroup => ({ ...p, metadata: { ...p.metadata, annotations: { 'podgroup.dev/rollback-to': to } } });
    const back = decideRollback(withAnnotation(v2, '0'), [r0, r1, r2]);
    expect(back.event).toMatchObject({ type: 'Normal', reason: 'RollbackDone' });
    expect(back.ops).toContainEqual({ op: 'add', path: '/spec/sidecars', value: { logCollector: { enabled: true } } });
    const toNone = decideRollback(withAnnotation(v2, '1'), [r0, r1, r2]);
    expect(toNone.ops).toContainEqual({ op: 'remove', path: '/spec/sidecars' });
    expect(decideRollback(withAnnotation(v2, '3'), [r0, r1, r2]).event.reason).toBe('RollbackTemplateUnchanged');
    expect(decideRollback(withAnnotation(v2, '9'), [r0, r1, r2]).event.reason).toBe('RollbackRevisionNotFound');
    expect(decideRollback(withAnnotation(v2, 'x'), [r0, r1, r2]).ops).toEqual([{ op: 'remove', path: '/metadata/annotations/podgroup.dev~1rollback-to' }]);
  });
});

describe('claiming', () => {
  it('adopts only orphans of its own revisions, releases owned pods that no longer match, never adopts terminating pods', () => {
    const group = pg('web');
    const stray = pod('stray');
    stray.metadata = { ...stray.metadata, labels: { app: 'other' } };
    // Every fixture pod carries the hash 'new' unless told otherwise.
    const orphans = [
      pod('a'),
      pod('done', { phase: 'Failed', ready: false }),
      pod('gone', { terminating: true }),
      pod('foreign'),
      pod('older', { hash: 'h-old' }),
    ];
    orphans[3]!.metadata!.labels = { app: 'other', 'controller-revision-hash': 'new' };
    const claim = planPodClaim(group, [pod('kept'), stray], orphans, new Set(['new', 'h-old']));
    expect(claim.owned.map((p) => p.metadata?.name)).toEqual(['kept']);
    expect(claim.release.map((p) => p.metadata?.name)).toEqual(['stray']);
    // A finished orphan of its own revision is adopted (kept, and pruned with its revision).
    expect(claim.adopt.map((p) => p.metadata?.name)).toEqual(['a', 'done', 'older']);
  });

  it('never adopts a bare pod that only carries the selector labels, nor a pod of a revision it does not have (as a ReplicaSet selects on pod-template-hash)', () => {
    const group = pg('web');
    const bare = pod('debug');
    bare.metadata = { ...bare.metadata, labels: { app: 'web' } };
    const stranger = pod('stranger', { hash: 'someone-elses' });
    expect(planPodClaim(group, [], [bare, stranger], new Set(['new'])).adopt).toEqual([]);
    expect(planPodClaim(group, [], [bare, stranger, pod('mine')], new Set(['new'])).adopt.map((p) => p.metadata?.name)).toEqual(['mine']);
  });

  it('looks only in its own namespace: a pod or revision elsewhere naming it as controller is neither owned, released nor adopted', () => {
    const group = pg('web');
    const elsewhere = (p: k8s.V1Pod): k8s.V1Pod => ({ ...p, metadata: { ...p.metadata, namespace: 'attacker' } });
    const foreignOwned = [elsewhere(pod('x')), elsewhere({ ...pod('y'), metadata: { ...pod('y').metadata, labels: { app: 'other' } } })];
    const claim = planPodClaim(group, [pod('kept'), ...foreignOwned], [elsewhere(pod('z'))], new Set(['new']));
    expect(claim.owned.map((p) => p.metadata?.name)).toEqual(['kept']);
    expect(claim.release).toEqual([]);
    expect(claim.adopt).toEqual([]);
    const revision = newRevision(group, 'h1', 1);
    const foreignRevision = { ...revision, metadata: { ...revision.metadata, namespace: 'attacker' } };
    expect(planRevisionClaim(group, [foreignRevision], [foreignRevision])).toEqual({ owned: [], release: [], adopt: [] });
  });

  it('ignores revisions being deleted', () => {
    const group = pg('web');
    const live = newRevision(group, 'h1', 1);
    const deleting = { ...newRevision(group, 'h2', 2), metadata: { ...newRevision(group, 'h2', 2).metadata, deletionTimestamp: new Date(NOW) } };
    const claim = planRevisionClaim(group, [live, deleting], [{ ...deleting, metadata: { ...deleting.metadata, ownerReferences: [] } }]);
    expect(claim.owned.map((r) => r.metadata?.name)).toEqual(['web-h1']);
    expect(claim.release).toEqual([]);
    expect(claim.adopt).toEqual([]);
  });

  it('claims revisions by the selector on their (template) labels', () => {
    const group = pg('web');
    const mine = newRevision(group, 'h1', 1);
    const other = newRevision(pg('db', { template: { metadata: { labels: { app: 'db' } }, spec: { containers: [] } } }), 'h2', 1);
    expect(planClaim(group.spec.selector, [], [mine, other]).adopt.map((r) => r.metadata?.name)).toEqual(['web-h1']);
  });
});

describe('slowStartBatch', () => {
  it('runs batches of 1, 2, 4, … and stops after the first batch with a failure', async () => {
    let calls = 0;
    const result = await slowStartBatch(20, 1, async () => {
      calls += 1;
      if (calls > 4) {
        throw new Error('quota');
      }
      return calls;
    });
    // 1 + 2 + 4: the third batch has failures; 13 are never tried.
    expect(calls).toBe(7);
    expect(result.succeeded).toHaveLength(4);
    expect(result.failed).toHaveLength(3);
    expect(result.skipped).toBe(13);
  });
});
