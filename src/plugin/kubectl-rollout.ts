// Deciding for `kubectl podgroup rollout …`: pure functions over a PodGroup and its
// ControllerRevisions that give kubectl's own answers for a Deployment (its messages, its
// choices), so the plugin's I/O layer only reads, patches and prints.
import type * as k8s from '@kubernetes/client-node';
import { CONDITION_PROGRESSING, REVISION_ANNOTATION, type DefaultedPodGroup, type PodGroup } from '../api/podgroup.js';
import { CHANGE_CAUSE_ANNOTATION, revisionContent, revisionData, revisionNumber, sameContent } from '../podgroup/revisions.js';
import { REASON } from '../podgroup/status.js';

/** The template annotation `kubectl rollout restart` sets on a Deployment. */
export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt';

/** Raised for answers kubectl gives as "error: …" (exit 1). */
export class RolloutError extends Error {}

/** `<resource>.<group>/<name>`, as kubectl's name printer shows an object. */
export const objectName = (name: string): string => `podgroup.podgroup.dev/${name}`;
/** `<resource>.<group> "<name>"`, as kubectl's pause/resume/restart errors name an object. */
const quoted = (name: string): string => `podgroups.podgroup.dev ${JSON.stringify(name)}`;

/**
 * kubectl's DeploymentStatusViewer for a PodGroup: the line to print and whether the rollout is
 * done; a progress deadline exceeded is an error, and so is (with `revision` above 0) a running
 * revision other than the one asked for.
 */
export function rolloutStatus(pg: DefaultedPodGroup, revision = 0): { message: string; done: boolean } {
  const name = pg.metadata?.name ?? '';
  const status = pg.status ?? {};
  if (revision > 0) {
    const raw = pg.metadata?.annotations?.[REVISION_ANNOTATION];
    const running = raw === undefined ? 0 : Number(raw);
    if (!Number.isSafeInteger(running)) {
      throw new RolloutError(`cannot get the revision of podgroup ${JSON.stringify(name)}: invalid ${REVISION_ANNOTATION} ${JSON.stringify(raw)}`);
    }
    if (running !== revision) {
      throw new RolloutError(`desired revision (${revision}) is different from the running revision (${running})`);
    }
  }
  if ((pg.metadata?.generation ?? 0) > (status.observedGeneration ?? 0)) {
    return { message: 'Waiting for podgroup spec update to be observed...', done: false };
  }
  const progressing = status.conditions?.find((c) => c.type === CONDITION_PROGRESSING);
  if (progressing?.reason === REASON.deadlineExceeded) {
    throw new RolloutError(`podgroup ${JSON.stringify(name)} exceeded its progress deadline`);
  }
  const replicas = pg.spec.replicas;
  const updated = status.updatedReplicas ?? 0;
  const current = status.replicas ?? 0;
  const available = status.availableReplicas ?? 0;
  if (updated < replicas) {
    return {
      message: `Waiting for podgroup ${JSON.stringify(name)} rollout to finish: ${updated} out of ${replicas} new replicas have been updated...`,
      done: false,
    };
  }
  if (current > updated) {
    return {
      message: `Waiting for podgroup ${JSON.stringify(name)} rollout to finish: ${current - updated} old replicas are pending termination...`,
      done: false,
    };
  }
  if (available < updated) {
    return {
      message: `Waiting for podgroup ${JSON.stringify(name)} rollout to finish: ${available} of ${updated} updated replicas are available...`,
      done: false,
    };
  }
  return { message: `podgroup ${JSON.stringify(name)} successfully rolled out`, done: true };
}

const changeCause = (r: k8s.V1ControllerRevision): string => r.metadata?.annotations?.[CHANGE_CAUSE_ANNOTATION] ?? '';

/** kubectl's tab-writer table (min width 0, tab 8, padding 2) for REVISION / CHANGE-CAUSE. */
export function historyTable(revisions: k8s.V1ControllerRevision[]): string {
  if (revisions.length === 0) {
    return 'No rollout history found.';
  }
  const rows = [...revisions].sort((a, b) => revisionNumber(a) - revisionNumber(b)).map((r) => [String(revisionNumber(r)), changeCause(r) || '<none>']);
  const all = [['REVISION', 'CHANGE-CAUSE'], ...rows];
  const width = Math.max(...all.map(([r]) => (r ?? '').length)) + 2;
  return all.map(([r, c]) => `${(r ?? '').padEnd(width)}${c ?? ''}\n`).join('');
}

export function findRevision(revisions: k8s.V1ControllerRevision[], number: number): k8s.V1ControllerRevision | undefined {
  return revisions.find((r) => revisionNumber(r) === number);
}

export type UndoDecision =
  | { kind: 'skip'; message: string }
  /** Set the server-side rollback annotation to this revision number. */
  | { kind: 'rollback'; revision: number };

/**
 * kubectl's DeploymentRollbacker: revision 0 is the previous one (second highest number); a
 * paused PodGroup, an unknown revision or no history are errors; a template that already equals
 * the target is skipped.
 */
export function decideUndo(pg: PodGroup, revisions: k8s.V1ControllerRevision[], toRevision: number): UndoDecision {
  const name = pg.metadata?.name ?? '';
  const sorted = [...revisions].sort((a, b) => revisionNumber(b) - revisionNumber(a));
  const target = toRevision === 0 ? sorted[1] : findRevision(revisions, toRevision);
  if (target === undefined) {
    throw new RolloutError(
      toRevision === 0 ? `no rollout history found for podgroup ${JSON.stringify(name)}` : `unable to find specified revision ${toRevision} in history`,
    );
  }
  if (pg.spec.paused === true) {
    throw new RolloutError(`you cannot rollback a paused podgroup; resume it first with 'kubectl podgroup rollout resume' and try again`);
  }
  if (sameContent(revisionData(target), revisionContent(pg.spec))) {
    return { kind: 'skip', message: `skipped rollback (current template already matches revision ${toRevision})` };
  }
  return { kind: 'rollback', revision: revisionNumber(target) };
}

/** The merge patch for pause/resume, or the "already" answer kubectl prints. */
export function pausePatch(pg: PodGroup, pause: boolean): { patch: object } | { error: string } {
  if ((pg.spec.paused === true) === pause) {
    return { error: `${quoted(pg.metadata?.name ?? '')} ${pause ? 'is already paused' : 'is not paused'}` };
  }
  return { patch: { spec: { paused: pause } } };
}

/** The merge patch `kubectl rollout restart` sends: a new restartedAt on the pod template. */
export function restartPatch(pg: PodGroup, now: Date): { patch: object } | { error: string } {
  if (pg.spec.paused === true) {
    return { error: `${quoted(pg.metadata?.name ?? '')} can't restart paused podgroup (run rollout resume first)` };
  }
  const restartedAt = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  if (pg.spec.template.metadata?.annotations?.[RESTARTED_AT_ANNOTATION] === restartedAt) {
    return {
      error: `failed to create patch for ${pg.metadata?.name ?? ''}: if restart has already been triggered within the past second, please wait before attempting to trigger another`,
    };
  }
  return { patch: { spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: restartedAt } } } } } };
}
