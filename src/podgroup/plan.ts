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

export interface PodCreation {
  /** The revision whose template the pods are made from. */
  hash: string;
  count: number;
}

export interface Plan {
  /** Pods to create per revision (at most one entry per revision, none with count 0). */
  create: PodCreation[];
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
  /**
   * The spec.replicas the pods were last sized for (status.sizedForReplicas): a different value
   * now is a scaling event, spread across revisions in proportion (Deployment's desired-replicas
   * and max-replicas annotations play this part).
   */
  sizedFor: number | undefined;
  /** status.replicas of the last status: the fallback size before the scale, as upstream's. */
  previousReplicas: number;
  /**
   * When each revision (by hash) was created, in ms: old pods go oldest revision first, and
   * proportional scaling breaks ties by age (as upstream orders ReplicaSets by creationTimestamp).
   */
  revisionCreated: ReadonlyMap<string, number>;
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
    create: create > 0 ? [{ hash: createHash, count: create }] : [],
    delete: [...deletions, ...more],
    ...(recheckAfterMs === undefined ? {} : { recheckAfterMs }),
  });

  // Paused, or replicas changed since the pods were sized: scale without rolling (Deployment's
  // sync(): scale(), then nothing else in this pass).
  const scalingEvent = input.sizedFor !== undefined && input.sizedFor !== replicas;
  if (spec.paused === true || (scalingEvent && spec.strategy?.type !== 'Recreate')) {
    const targets = scaleTargets(input, counts);
    if (targets !== undefined || spec.paused === true) {
      return resize(targets ?? new Map(), counts, deletions, recheckAfterMs, now);
    }
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

  // Too many pods of the new revision: scale it down and nothing else in this pass (old pods
  // go by the availability bound below in the next one, as reconcileNewReplicaSet).
  if (counts.newActive.length > replicas) {
    return result(0, input.updateHash, scaleDown(counts.newActive, counts.newActive.length - replicas, now));
  }

  // Scale up the new revision within the surge bound; a pass that scales up does nothing else
  // (rolloutRolling returns after reconcileNewReplicaSet scaled), so the status shows the surge
  // before old pods go and progress is seen as a Deployment's is.
  const room = replicas + maxSurge - counted;
  const create = Math.max(0, Math.min(replicas - counts.newActive.length, room));
  if (create > 0) {
    return result(create, input.updateHash, []);
  }

  // Scale down old pods within the availability bound, as reconcileOldReplicaSets: first the
  // old pods that are not available (they cost no availability), at most maxScaledDown; then as
  // many as available pods exceed the minimum. Oldest revision first, the best candidates of a
  // revision first (its ReplicaSet's ranking).
  const oldDeletions: PodDeletion[] = [];
  if (counts.oldActive.length > 0) {
    const minAvailable = replicas - Math.min(maxUnavailable, replicas);
    const newUnavailable = counts.newActive.filter((p) => !available(p)).length;
    const maxScaledDown = counts.active.length - minAvailable - newUnavailable;
    if (maxScaledDown > 0) {
      const byAge = oldestRevisionFirst(counts.oldActive, input.revisionCreated, counts.active, now);
      const unhealthy = byAge.filter((p) => !available(p)).slice(0, maxScaledDown);
      oldDeletions.push(...unhealthy.map((pod) => ({ pod, reason: 'rollout' as const })));
      const budget = counts.active.filter(available).length - minAvailable;
      if (budget > 0) {
        const chosen = new Set(unhealthy);
        oldDeletions.push(...byAge.filter((p) => !chosen.has(p)).slice(0, budget).map((pod) => ({ pod, reason: 'rollout' as const })));
      }
    }
  }
  return result(create, input.updateHash, oldDeletions);
}

/**
 * Pods per revision after a scaling event or while paused, as Deployment's scale(): a single
 * active revision (or the newest, when none is active) takes all replicas; a saturated update
 * revision leaves the old ones nothing; otherwise (RollingUpdate) replicas + maxSurge are shared
 * in proportion to each revision's size before the scale, leftovers to the largest. Undefined
 * when nothing is to change.
 */
export function scaleTargets(input: PlanInput, counts: PodCounts): Map<string, number> | undefined {
  const replicas = input.spec.replicas ?? 1;
  const sizes = new Map<string, number>();
  for (const pod of counts.active) {
    const hash = revisionHashOf(pod) ?? '';
    sizes.set(hash, (sizes.get(hash) ?? 0) + 1);
  }
  const createdAt = (hash: string): number => input.revisionCreated.get(hash) ?? Number.MAX_SAFE_INTEGER;
  if (sizes.size <= 1) {
    const only = [...sizes.keys()][0] ?? input.updateHash;
    if ((sizes.get(only) ?? 0) === replicas) {
      return undefined;
    }
    return new Map([[only, replicas]]);
  }
  const minReadySeconds = input.spec.minReadySeconds ?? 0;
  const newAvailable = counts.newActive.filter((p) => isAvailable(p, minReadySeconds, input.now)).length;
  if (counts.newActive.length === replicas && newAvailable === replicas) {
    return new Map([...sizes.keys()].map((h) => [h, h === input.updateHash ? replicas : 0]));
  }
  if (input.spec.strategy?.type === 'Recreate') {
    return undefined;
  }
  const { maxSurge } = resolveFenceposts(input.spec, replicas);
  const allowed = replicas > 0 ? replicas + maxSurge : 0;
  const total = counts.active.length;
  const toAdd = allowed - total;
  if (toAdd === 0) {
    return undefined;
  }
  const before = input.sizedFor === undefined || input.sizedFor === 0 ? input.previousReplicas : input.sizedFor + resolveFenceposts(input.spec, input.sizedFor).maxSurge;
  // Larger first; on a tie the newer first when adding, the older first when removing.
  const order = [...sizes.keys()].sort((a, b) => (sizes.get(b) ?? 0) - (sizes.get(a) ?? 0) || (toAdd > 0 ? createdAt(b) - createdAt(a) : createdAt(a) - createdAt(b)));
  const targets = new Map<string, number>();
  let added = 0;
  for (const hash of order) {
    const size = sizes.get(hash) ?? 0;
    let proportion = 0;
    if (size > 0 && added !== toAdd) {
      const fraction = replicas === 0 ? -size : before === 0 ? 0 : Math.round((size * allowed) / before) - size;
      const left = toAdd - added;
      proportion = toAdd > 0 ? Math.min(fraction, left) : Math.max(fraction, left);
    }
    targets.set(hash, size + proportion);
    added += proportion;
  }
  const largest = order[0] ?? input.updateHash;
  targets.set(largest, Math.max(0, (targets.get(largest) ?? 0) + toAdd - added));
  return targets;
}

/** Creates and deletes that bring each revision to its target size. */
function resize(targets: Map<string, number>, counts: PodCounts, deletions: PodDeletion[], recheckAfterMs: number | undefined, now: number): Plan {
  const create: PodCreation[] = [];
  const more: PodDeletion[] = [];
  for (const [hash, target] of targets) {
    const own = counts.active.filter((p) => revisionHashOf(p) === hash);
    if (target > own.length) {
      create.push({ hash, count: target - own.length });
    } else if (target < own.length) {
      more.push(...rankForDeletion(own, counts.active, now).slice(0, own.length - target).map((pod) => ({ pod, reason: 'scale-down' as const })));
    }
  }
  return { create, delete: [...deletions, ...more], ...(recheckAfterMs === undefined ? {} : { recheckAfterMs }) };
}

/** Pods of the oldest revision first; within a revision, the best candidates for deletion first. */
function oldestRevisionFirst(pods: k8s.V1Pod[], revisionCreated: ReadonlyMap<string, number>, related: k8s.V1Pod[], now: number): k8s.V1Pod[] {
  const byHash = new Map<string, k8s.V1Pod[]>();
  for (const pod of pods) {
    const hash = revisionHashOf(pod) ?? '';
    byHash.set(hash, [...(byHash.get(hash) ?? []), pod]);
  }
  return [...byHash.entries()]
    .sort(([a], [b]) => (revisionCreated.get(a) ?? Number.MAX_SAFE_INTEGER) - (revisionCreated.get(b) ?? Number.MAX_SAFE_INTEGER) || (a < b ? -1 : 1))
    .flatMap(([, group]) => rankForDeletion(group, related, now));
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
