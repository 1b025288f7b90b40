// Deciding: from the PodGroup and the pods it owns to the pods to create and delete now.
// Pure: no clock (now is an input), no API.
//
// Bounds, at every step (all counts are of pods owned by the PodGroup):
//  - pods that count ≤ replicas + maxSurge, where terminating pods count unless
//    podReplacementPolicy is TerminationStarted;
//  - available pods ≥ replicas − maxUnavailable: an old available pod is deleted only when
//    enough others are available (as KCM's reconcileOldReplicaSets);
//  - Recreate deletes every old pod and creates nothing until none is left, terminating or not.
import type * as k8s from '@kubernetes/client-node';
import type { PodGroupSpec } from '../api/podgroup.js';
import { isActive, isAvailable, isFinished, isTerminating, msUntilAvailable } from './pod-state.js';
import { rankForDeletion } from './ranking.js';
import { revisionHashOf } from './revisions.js';
import { resolveFenceposts } from './rollout.js';

export type DeleteReason = 'finished' | 'scale-down' | 'rollout' | 'recreate';

export interface PodDeletion {
  pod: k8s.V1Pod;
  reason: DeleteReason;
}

export interface Plan {
  /** Pods to create, all from the template of revision `createHash`. */
  create: number;
  createHash: string;
  delete: PodDeletion[];
  /** Re-check after this long (a ready pod will become available). */
  recheckAfterMs?: number;
}

export interface PlanInput {
  spec: PodGroupSpec;
  /** Every pod the PodGroup owns (any state). */
  pods: k8s.V1Pod[];
  /** The revision hash of the current template. */
  updateHash: string;
  /** The revision hash new pods get while paused (the stable revision), if any. */
  stableHash: string | undefined;
  now: number;
}

export interface PodCounts {
  active: k8s.V1Pod[];
  newActive: k8s.V1Pod[];
  oldActive: k8s.V1Pod[];
  terminating: k8s.V1Pod[];
  finished: k8s.V1Pod[];
}

export function classify(pods: k8s.V1Pod[], updateHash: string): PodCounts {
  const active = pods.filter(isActive);
  return {
    active,
    newActive: active.filter((p) => revisionHashOf(p) === updateHash),
    oldActive: active.filter((p) => revisionHashOf(p) !== updateHash),
    terminating: pods.filter(isTerminating),
    finished: pods.filter((p) => !isTerminating(p) && isFinished(p)),
  };
}

export function plan(input: PlanInput): Plan {
  const { spec, now } = input;
  const replicas = spec.replicas ?? 1;
  const minReadySeconds = spec.minReadySeconds ?? 0;
  const counts = classify(input.pods, input.updateHash);
  const deletions: PodDeletion[] = counts.finished.map((pod) => ({ pod, reason: 'finished' }));
  const available = (p: k8s.V1Pod): boolean => isAvailable(p, minReadySeconds, now);
  const recheckAfterMs = earliestAvailability(counts.active, minReadySeconds, now);
  const result = (create: number, createHash: string, more: PodDeletion[]): Plan => ({
    create,
    createHash,
    delete: [...deletions, ...more],
    ...(recheckAfterMs === undefined ? {} : { recheckAfterMs }),
  });

  // Paused: no rollout progress. Keep the replica count with whatever runs; new pods get the
  // stable revision so a pause never sneaks the new template in.
  if (spec.paused === true) {
    const hash = input.stableHash ?? input.updateHash;
    return result(Math.max(0, replicas - counts.active.length), hash, scaleDown(counts.active, counts.active.length - replicas, now));
  }

  if (spec.strategy?.type === 'Recreate') {
    if (counts.oldActive.length > 0) {
      return result(0, input.updateHash, counts.oldActive.map((pod) => ({ pod, reason: 'recreate' })));
    }
    const oldTerminating = counts.terminating.filter((p) => revisionHashOf(p) !== input.updateHash);
    if (oldTerminating.length > 0) {
      return result(0, input.updateHash, []);
    }
    const n = counts.newActive.length;
    return result(Math.max(0, replicas - n), input.updateHash, scaleDown(counts.newActive, n - replicas, now));
  }

  // RollingUpdate (also plain scaling and self-healing, when every pod is of the update revision).
  const { maxSurge, maxUnavailable } = resolveFenceposts(spec, replicas);
  const countTerminating = (spec.podReplacementPolicy ?? 'TerminationComplete') === 'TerminationComplete';
  const counted = counts.active.length + (countTerminating ? counts.terminating.length : 0);

  // Too many pods of the new revision (scaled down): remove the excess, best candidates first.
  if (counts.newActive.length > replicas) {
    return result(0, input.updateHash, [
      ...scaleDown(counts.newActive, counts.newActive.length - replicas, now),
      ...counts.oldActive.map((pod) => ({ pod, reason: 'scale-down' as const })),
    ]);
  }

  // Scale up the new revision within the surge bound.
  const room = replicas + maxSurge - counted;
  const create = Math.max(0, Math.min(replicas - counts.newActive.length, room));

  // Scale down old pods within the availability bound.
  const oldDeletions: PodDeletion[] = [];
  if (counts.oldActive.length > 0) {
    const minAvailable = replicas - maxUnavailable;
    const newUnavailable = counts.newActive.filter((p) => !available(p)).length;
    const maxScaledDown = counts.active.length - minAvailable - newUnavailable;
    if (maxScaledDown > 0) {
      // Old pods that are not available cost no availability: remove them first.
      const unhealthy = rankForDeletion(counts.oldActive.filter((p) => !available(p)), counts.active, now).slice(0, maxScaledDown);
      oldDeletions.push(...unhealthy.map((pod) => ({ pod, reason: 'rollout' as const })));
      const availableCount = counts.active.filter(available).length;
      const budget = Math.min(availableCount - minAvailable, maxScaledDown - unhealthy.length);
      if (budget > 0) {
        const healthy = rankForDeletion(counts.oldActive.filter(available), counts.active, now).slice(0, budget);
        oldDeletions.push(...healthy.map((pod) => ({ pod, reason: 'rollout' as const })));
      }
    }
    // Plain scale-down while old pods remain: never keep more than replicas in total.
    const excess = counts.active.length - oldDeletions.length - Math.max(replicas, counts.newActive.length) - maxSurge;
    if (excess > 0) {
      const chosen = new Set(oldDeletions.map((d) => d.pod));
      const more = rankForDeletion(counts.oldActive.filter((p) => !chosen.has(p)), counts.active, now).slice(0, excess);
      oldDeletions.push(...more.map((pod) => ({ pod, reason: 'scale-down' as const })));
    }
  }
  return result(create, input.updateHash, oldDeletions);
}

function scaleDown(pods: k8s.V1Pod[], count: number, now: number): PodDeletion[] {
  if (count <= 0) {
    return [];
  }
  return rankForDeletion(pods, pods, now)
    .slice(0, count)
    .map((pod) => ({ pod, reason: 'scale-down' }));
}

function earliestAvailability(pods: k8s.V1Pod[], minReadySeconds: number, now: number): number | undefined {
  let earliest: number | undefined;
  for (const pod of pods) {
    const ms = msUntilAvailable(pod, minReadySeconds, now);
    if (ms !== undefined && (earliest === undefined || ms < earliest)) {
      earliest = ms;
    }
  }
  return earliest;
}
