import { describe, expect, it } from '@jest/globals';
import type * as k8s from '@kubernetes/client-node';
import type { DefaultedPodGroup } from '../../../src/api/podgroup.js';
import { CHANGE_CAUSE_ANNOTATION, decideUpdateRevision, newRevision, rollbackAnnotationsOps } from '../../../src/podgroup/revisions.js';
import { describeTemplate } from '../../../src/plugin/describe.js';
import {
  decideUndo,
  historyTable,
  pausePatch,
  restartPatch,
  rolloutStatus,
  RolloutError,
  RESTARTED_AT_ANNOTATION,
} from '../../../src/plugin/kubectl-rollout.js';
import { spec } from '../podgroup/fixtures.js';

function podGroup(overrides: Partial<DefaultedPodGroup> = {}, image = 'x:2'): DefaultedPodGroup {
  const s = spec();
  return {
    metadata: { name: 'web', namespace: 'ns', uid: 'u1', generation: 2, annotations: {} },
    spec: { ...s, template: { ...s.template, spec: { containers: [{ name: 'app', image }] } } },
    status: { observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 3, readyReplicas: 3 },
    ...overrides,
  };
}

function revision(number: number, image: string, cause?: string): k8s.V1ControllerRevision {
  const r = newRevision(podGroup({}, image), `h${number}`, number);
  if (cause !== undefined) {
    r.metadata = { ...r.metadata, annotations: { [CHANGE_CAUSE_ANNOTATION]: cause } };
  }
  return r;
}

describe('rolloutStatus (kubectl DeploymentStatusViewer)', () => {
  const cases: Array<[string, Partial<DefaultedPodGroup>, string, boolean]> = [
    ['spec not observed', { status: { observedGeneration: 1 } }, 'Waiting for podgroup spec update to be observed...', false],
    [
      'updating',
      { status: { observedGeneration: 2, replicas: 4, updatedReplicas: 1 } },
      'Waiting for podgroup "web" rollout to finish: 1 out of 3 new replicas have been updated...',
      false,
    ],
    [
      'old pending',
      { status: { observedGeneration: 2, replicas: 4, updatedReplicas: 3 } },
      'Waiting for podgroup "web" rollout to finish: 1 old replicas are pending termination...',
      false,
    ],
    [
      'unavailable',
      { status: { observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 2 } },
      'Waiting for podgroup "web" rollout to finish: 2 of 3 updated replicas are available...',
      false,
    ],
    ['done', {}, 'podgroup "web" successfully rolled out', true],
  ];
  it.each(cases)('%s', (_, overrides, message, done) => {
    expect(rolloutStatus(podGroup(overrides))).toEqual({ message, done });
  });
  it('fails on ProgressDeadlineExceeded', () => {
    const pg = podGroup({ status: { observedGeneration: 2, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] } });
    expect(() => rolloutStatus(pg)).toThrow(new RolloutError('podgroup "web" exceeded its progress deadline'));
  });
  it('--revision: fails unless that revision runs (podgroup.dev/revision), as kubectl for a Deployment', () => {
    const at = (value: string | undefined): DefaultedPodGroup => {
      const pg = podGroup({});
      pg.metadata = { ...pg.metadata, annotations: value === undefined ? {} : { 'podgroup.dev/revision': value } };
      return pg;
    };
    expect(rolloutStatus(at('3'), 3)).toEqual({ message: 'podgroup "web" successfully rolled out', done: true });
    expect(() => rolloutStatus(at('2'), 3)).toThrow(new RolloutError('desired revision (3) is different from the running revision (2)'));
    expect(() => rolloutStatus(at(undefined), 1)).toThrow(new RolloutError('desired revision (1) is different from the running revision (0)'));
    expect(() => rolloutStatus(at('x'), 1)).toThrow(/cannot get the revision of podgroup "web"/);
    // 0 (the default) pins nothing.
    expect(rolloutStatus(at('2'), 0).done).toBe(true);
  });
});

describe('history', () => {
  it("prints kubectl's REVISION / CHANGE-CAUSE table sorted by revision", () => {
    expect(historyTable([revision(12, 'b', 'kubectl set image'), revision(3, 'a')])).toBe(
      'REVISION  CHANGE-CAUSE\n3         <none>\n12        kubectl set image\n',
    );
    expect(historyTable([])).toBe('No rollout history found.');
  });
  it('describes a template with its sidecars', () => {
    const text = describeTemplate(
      { metadata: { labels: { app: 'web' }, annotations: { a: 'b' } }, spec: { containers: [{ name: 'app', image: 'x:1', ports: [{ containerPort: 80 }] }] } },
      { logCollector: { path: '/var/log/app' } },
    );
    expect(text).toContain('Pod Template:\n  Labels:\tapp=web\n  Annotations:\ta: b\n  Containers:\n   app:\n    Image:\tx:1\n    Port:\t80/TCP');
    expect(text).toContain('  Sidecars:\n   log-collector:\t/var/log/app/*.log -> stdout');
  });
});

describe('decideUndo (kubectl DeploymentRollbacker)', () => {
  const revisions = [revision(1, 'x:1'), revision(2, 'x:2'), revision(3, 'x:3')];
  it('revision 0 is the second highest', () => {
    expect(decideUndo(podGroup({}, 'x:3'), revisions, 0)).toEqual({ kind: 'rollback', revision: 2 });
  });
  it('a named revision', () => {
    expect(decideUndo(podGroup({}, 'x:3'), revisions, 1)).toEqual({ kind: 'rollback', revision: 1 });
  });
  it('skips when the template already matches', () => {
    expect(decideUndo(podGroup({}, 'x:3'), revisions, 3)).toEqual({ kind: 'skip', message: 'skipped rollback (current template already matches revision 3)' });
  });
  it('refuses paused, unknown revisions and no history', () => {
    const paused = podGroup({}, 'x:3');
    paused.spec.paused = true;
    expect(() => decideUndo(paused, revisions, 1)).toThrow(
      "you cannot rollback a paused podgroup; resume it first with 'kubectl podgroup rollout resume' and try again",
    );
    expect(() => decideUndo(podGroup(), revisions, 9)).toThrow('unable to find specified revision 9 in history');
    expect(() => decideUndo(podGroup(), [revision(1, 'x:2')], 0)).toThrow('no rollout history found for podgroup "web"');
  });
});

describe('pause, resume, restart', () => {
  it('pause/resume patch spec.paused or answer as kubectl', () => {
    expect(pausePatch(podGroup(), true)).toEqual({ patch: { spec: { paused: true } } });
    const paused = podGroup();
    paused.spec.paused = true;
    expect(pausePatch(paused, true)).toEqual({ error: 'podgroups.podgroup.dev "web" is already paused' });
    expect(pausePatch(podGroup(), false)).toEqual({ error: 'podgroups.podgroup.dev "web" is not paused' });
    expect(pausePatch(paused, false)).toEqual({ patch: { spec: { paused: false } } });
  });
  it('restart sets restartedAt (RFC 3339, seconds) unless paused', () => {
    const now = new Date('2026-01-02T03:04:05.678Z');
    expect(restartPatch(podGroup(), now)).toEqual({
      patch: { spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: '2026-01-02T03:04:05Z' } } } } },
    });
    const paused = podGroup();
    paused.spec.paused = true;
    expect(restartPatch(paused, now)).toEqual({ error: 'podgroups.podgroup.dev "web" can\'t restart paused podgroup (run rollout resume first)' });
  });
});

describe('change-cause on revisions', () => {
  it("a new revision records the PodGroup's change-cause", () => {
    const pg = podGroup({ metadata: { name: 'web', namespace: 'ns', uid: 'u1', annotations: { [CHANGE_CAUSE_ANNOTATION]: 'image x:2' } } });
    const d = decideUpdateRevision(pg, [], 0);
    expect(d.kind).toBe('create');
    expect(d.revision.metadata?.annotations).toEqual({ [CHANGE_CAUSE_ANNOTATION]: 'image x:2' });
  });
  it('an existing revision gets a changed cause; none on the PodGroup keeps the recorded one', () => {
    const pg = podGroup({ metadata: { name: 'web', namespace: 'ns', uid: 'u1', annotations: { [CHANGE_CAUSE_ANNOTATION]: 'new cause' } } });
    expect(decideUpdateRevision(pg, [revision(1, 'x:2', 'old cause')], 0)).toMatchObject({
      kind: 'existing',
      patch: { metadata: { annotations: { [CHANGE_CAUSE_ANNOTATION]: 'new cause' } } },
    });
    expect(decideUpdateRevision(podGroup(), [revision(1, 'x:2', 'old cause')], 0)).not.toHaveProperty('patch');
  });
  it('a renumbered revision keeps its number patch and takes the cause', () => {
    const pg = podGroup({ metadata: { name: 'web', namespace: 'ns', uid: 'u1', annotations: { [CHANGE_CAUSE_ANNOTATION]: 'c' } } });
    expect(decideUpdateRevision(pg, [revision(1, 'x:2'), revision(2, 'x:3')], 0)).toMatchObject({
      kind: 'renumber',
      number: 3,
      patch: { revision: 3, metadata: { annotations: { [CHANGE_CAUSE_ANNOTATION]: 'c' } } },
    });
  });
  it("a rollback gives the PodGroup the target's annotations and keeps its own (SetDeploymentAnnotationsTo)", () => {
    const pg = podGroup({
      metadata: {
        name: 'web',
        annotations: {
          [CHANGE_CAUSE_ANNOTATION]: 'now',
          team: 'b',
          'podgroup.dev/rollback-to': '0',
          'podgroup.dev/revision': '2',
          'kubectl.kubernetes.io/last-applied-configuration': '{}',
        },
      },
    });
    const target = revision(1, 'x:1', 'then');
    target.metadata = { ...target.metadata, annotations: { ...target.metadata?.annotations, team: 'a', 'podgroup.dev/replicas': '3' } };
    expect(rollbackAnnotationsOps(pg, target)).toEqual([
      {
        op: 'replace',
        path: '/metadata/annotations',
        value: { 'podgroup.dev/revision': '2', 'kubectl.kubernetes.io/last-applied-configuration': '{}', [CHANGE_CAUSE_ANNOTATION]: 'then', team: 'a' },
      },
    ]);
    // A target without a cause leaves none; an equal set needs no op.
    expect(rollbackAnnotationsOps(pg, revision(1, 'x:1'))).toEqual([
      { op: 'replace', path: '/metadata/annotations', value: { 'podgroup.dev/revision': '2', 'kubectl.kubernetes.io/last-applied-configuration': '{}' } },
    ]);
    expect(rollbackAnnotationsOps(podGroup({ metadata: { name: 'web', annotations: { 'podgroup.dev/rollback-to': '0' } } }), revision(1, 'x:1'))).toEqual([]);
  });
  it('a new revision takes every annotation of the PodGroup but its own; an existing one gets those that differ', () => {
    const pg = podGroup({
      metadata: {
        name: 'web',
        namespace: 'ns',
        uid: 'u1',
        annotations: { team: 'a', 'podgroup.dev/revision': '1', 'kubectl.kubernetes.io/last-applied-configuration': '{}' },
      },
    });
    expect(decideUpdateRevision(pg, [], 0).revision.metadata?.annotations).toEqual({ team: 'a' });
    const existing = revision(1, 'x:2');
    existing.metadata = { ...existing.metadata, annotations: { team: 'old', other: 'kept' } };
    expect(decideUpdateRevision(pg, [existing], 0)).toMatchObject({ kind: 'existing', patch: { metadata: { annotations: { team: 'a' } } } });
  });
});
