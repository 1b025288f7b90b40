// Deciding: from the PodGroup, the pods it owns and each revision's desired pod count to the
// new desired counts and the pods to create and delete now. Pure: no clock (now is an input), no API.
//
// Two levels, as kube-controller-manager's Deployment and ReplicaSet controllers:
//  - sizing (decideSizes): the Deployment's sync — scale (paused or a scaling event), Recreate,
//    or one step of a rolling update — moves each revision's desired count (a ReplicaSet's
//    spec.replicas);
//  - reconciling (reconcilePods): every revision's active pods are brought to its count, so a
//    lost pod is replaced in its own revision, also in the middle of a rollout or while paused.
//
// Bounds, at every step (all counts are of pods owned by the PodGroup):
//  - pods that count ≤ replicas + maxSurge, where terminating pods count only under the
//    opt-in podReplacementPolicy TerminationComplete (the default, TerminationStarted, replaces
//    a pod as soon as its deletion starts, as a ReplicaSet does);
//  - available pods ≥ replicas − maxUnavailable: an old revision's count is lowered past its
//    unavailable pods only when enough others are available (as reconcileOldReplicaSets);
//  - Recreate lowers every old revision to 0 and raises the update revision only when no old
//    pod is left, terminating or not.
import type * as k8s from '@kubernetes/client-node';
import type { DefaultedPodGroupSpec } from '../api/podgroup.js';
import { classify, type PodCounts } from './pod-counts.js';
import { isAvailable, msUntilAvailable } from './pod-state.js';
import { rankForDeletion } from './ranking.js';
import { revisionHashOf } from './revisions.js';
import { countsTerminatingPods, resolveFenceposts } from './rollout.js';

export type DeleteReason = 'scale-down' | 'rollout' | 'recreate';

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
  /** The desired pod count of every revision (by hash) after this pass. */
  sizes: Map<string, number>;
  /** Pods to create per revision (at most one entry per revision, none with count 0). */
  create: PodCreation[];
  delete: PodDeletion[];
  /** Re-check after this long (a ready pod will become available). */
  recheckAfterMs?: number;
}

export interface PlanInput {
  spec: DefaultedPodGroupSpec;
  /** Every pod the PodGroup owns (any state). */
  pods: k8s.V1Pod[];
  /** The revision hash of the current template. */
  updateHash: string;
  /**
   * Each revision's desired pod count as recorded (by hash). A revision not in here (none
   * recorded yet, or pods of a revision that no longer exists) is sized by its active pods.
   */
  desired: ReadonlyMap<string, number>;
  /**
   * Each revision's recorded replicas + maxSurge when its count was last set (by hash): the
   * baseline of its share in proportional scaling, as a ReplicaSet's max-replicas annotation.
   * Missing (recorded before there was one): sizedFor + today's maxSurge.
   */
  maxReplicas?: ReadonlyMap<string, number>;
  /**
   * The spec.replicas the revisions were last sized for (status.sizedForReplicas): a different
   * value now is a scaling event, spread across revisions in proportion (Deployment's
   * desired-replicas and max-replicas annotations play this part).
   */
  sizedFor: number | undefined;
  /** status.replicas of the last status: the fallback size before the scale, as upstream's. */
  previousReplicas: number;
  /**
   * When each existing revision (by hash) was created, in ms: old revisions are scaled down
   * oldest first, and proportional scaling breaks ties by age (as upstream orders ReplicaSets by
   * creationTimestamp). The update revision is absent while paused before it exists.
   */
  revisionCreated: ReadonlyMap<string, number>;
  now: number;
}

/** `counts`: the pods classified for the update revision, when the caller already has them (as computeStatus's). */
export function plan(input: PlanInput, counts: PodCounts = classify(input.pods, input.updateHash)): Plan {
  const { now } = input;
  const minReadySeconds = input.spec.minReadySeconds;
  const { sizes, mode } = decideSizes(input, counts, currentSizes(input, counts));
  const recheckAfterMs = earliestAvailability(counts.active, minReadySeconds, now);
  return { sizes, ...reconcilePods(input, counts, sizes, mode), ...(recheckAfterMs === undefined ? {} : { recheckAfterMs }) };
}

/** The recorded desired counts, completed with active pod counts where none is recorded. */
function currentSizes(input: PlanInput, counts: PodCounts): Map<string, number> {
  const sizes = countBy(counts.active);
  for (const [hash, desired] of input.desired) {
    sizes.set(hash, desired);
  }
  if (input.revisionCreated.has(input.updateHash) && !sizes.has(input.updateHash)) {
    sizes.set(input.updateHash, 0);
  }
  return sizes;
}

type SizingMode = 'scale' | 'recreate' | 'rolling';

/** The Deployment's sync over desired counts: one step, as sync() / rolloutRecreate / rolloutRolling. */
export function decideSizes(input: PlanInput, counts: PodCounts, current: Map<string, number>): { sizes: Map<string, number>; mode: SizingMode } {
  const { spec, updateHash } = input;
  const replicas = spec.replicas;
  const sizes = new Map(current);
  const size = (hash: string): number => sizes.get(hash) ?? 0;
  const old = oldestFirst(
    [...sizes.keys()].filter((h) => h !== updateHash),
    input.revisionCreated,
  );

  // Paused, or replicas changed since the revisions were sized: scale without rolling (sync():
  // scale(), then nothing else in this pass).
  const scalingEvent = input.sizedFor !== undefined && input.sizedFor !== replicas;
  if (spec.paused === true || (scalingEvent && spec.strategy?.type !== 'Recreate')) {
    const targets = scaleTargets(input, counts, current);
    if (targets !== undefined || spec.paused === true) {
      for (const [hash, target] of targets ?? []) {
        sizes.set(hash, target);
      }
      return { sizes, mode: 'scale' };
    }
  }

  if (spec.strategy?.type === 'Recreate') {
    // scaleDownOldReplicaSetsForRecreate, then oldPodsRunning, then scaleUpNewReplicaSetForRecreate.
    if (old.some((h) => size(h) > 0)) {
      old.forEach((h) => sizes.set(h, 0));
    } else if (counts.oldActive.length === 0 && !counts.terminating.some((p) => revisionHashOf(p) !== updateHash)) {
      sizes.set(updateHash, replicas);
    }
    return { sizes, mode: 'recreate' };
  }

  // reconcileNewReplicaSet: a pass that moves the update revision does nothing else.
  const { maxSurge, maxUnavailable } = resolveFenceposts(spec, replicas);
  const newSize = size(updateHash);
  if (newSize > replicas) {
    sizes.set(updateHash, replicas);
    return { sizes, mode: 'rolling' };
  }
  if (newSize < replicas) {
    // Pods that count: each revision's count, or its pods when more are left (refused deletes),
    // and terminating pods under TerminationComplete.
    const countTerminating = countsTerminatingPods(spec);
    const activeOf = countBy(counts.active);
    let counted = countTerminating ? counts.terminating.length : 0;
    for (const hash of new Set([...sizes.keys(), ...activeOf.keys()])) {
      counted += Math.max(size(hash), activeOf.get(hash) ?? 0);
    }
    const up = Math.max(0, Math.min(replicas + maxSurge - counted, replicas - newSize));
    if (up > 0) {
      sizes.set(updateHash, newSize + up);
      return { sizes, mode: 'rolling' };
    }
  }

  // reconcileOldReplicaSets over the old revisions that still want pods.
  const activeOld = old.filter((h) => size(h) > 0);
  if (activeOld.length === 0) {
    return { sizes, mode: 'rolling' };
  }
  const minReadySeconds = spec.minReadySeconds;
  const availableOf = countBy(counts.active.filter((p) => isAvailable(p, minReadySeconds, input.now)));
  // A revision's available pods beyond its count are about to go (a count lowered by a previous
  // pass whose deletes have not happened yet, e.g. its process was killed): they are no margin.
  const available = (hash: string): number => Math.min(availableOf.get(hash) ?? 0, size(hash));
  const minAvailable = replicas - Math.min(maxUnavailable, replicas);
  const total = [...sizes.values()].reduce((n, v) => n + v, 0);
  const maxScaledDown = total - minAvailable - (newSize - available(updateHash));
  if (maxScaledDown <= 0) {
    return { sizes, mode: 'rolling' };
  }
  // cleanupUnhealthyReplicas: first what old revisions want beyond their available pods.
  let cleaned = 0;
  for (const hash of activeOld) {
    const unhealthy = size(hash) - available(hash);
    if (cleaned >= maxScaledDown) {
      break;
    }
    if (unhealthy > 0) {
      const n = Math.min(maxScaledDown - cleaned, unhealthy);
      sizes.set(hash, size(hash) - n);
      cleaned += n;
    }
  }
  // scaleDownOldReplicaSetsForRollingUpdate: then as many as available pods exceed the minimum.
  const availableNow = [updateHash, ...activeOld].reduce((n, h) => n + available(h), 0);
  let budget = availableNow - minAvailable;
  for (const hash of activeOld) {
    if (budget <= 0) {
      break;
    }
    const n = Math.min(size(hash), budget);
    sizes.set(hash, size(hash) - n);
    budget -= n;
  }
  return { sizes, mode: 'rolling' };
}

/**
 * Pods per revision after a scaling event or while paused, as Deployment's scale() over the
 * revisions' desired counts: a single revision that wants pods (or the newest, when none does)
 * takes all replicas; a saturated update revision leaves the old ones nothing; otherwise
 * (RollingUpdate) replicas + maxSurge are shared in proportion to each revision's count before
 * the scale, leftovers to the largest. Undefined when nothing is to change.
 */
export function scaleTargets(input: PlanInput, counts: PodCounts, current: ReadonlyMap<string, number>): Map<string, number> | undefined {
  const replicas = input.spec.replicas;
  const sizes = new Map([...current].filter(([, n]) => n > 0));
  const createdAt = (hash: string): number => input.revisionCreated.get(hash) ?? Number.MAX_SAFE_INTEGER;
  if (sizes.size <= 1) {
    // FindActiveOrLatest: the only one, else the update revision, else the newest that exists.
    const latest = input.revisionCreated.has(input.updateHash)
      ? input.updateHash
      : oldestFirst([...input.revisionCreated.keys()], input.revisionCreated).at(-1);
    const only = [...sizes.keys()][0] ?? latest;
    if (only === undefined || (sizes.get(only) ?? 0) === replicas) {
      return undefined;
    }
    return new Map([[only, replicas]]);
  }
  const minReadySeconds = input.spec.minReadySeconds;
  const newAvailable = counts.newActive.filter((p) => isAvailable(p, minReadySeconds, input.now)).length;
  if ((sizes.get(input.updateHash) ?? 0) === replicas && newAvailable === replicas) {
    return new Map([...sizes.keys()].map((h) => [h, h === input.updateHash ? replicas : 0]));
  }
  if (input.spec.strategy?.type === 'Recreate') {
    return undefined;
  }
  const { maxSurge } = resolveFenceposts(input.spec, replicas);
  const allowed = replicas > 0 ? replicas + maxSurge : 0;
  const total = [...sizes.values()].reduce((n, v) => n + v, 0);
  const toAdd = allowed - total;
  if (toAdd === 0) {
    return undefined;
  }
  const fallback =
    input.sizedFor === undefined || input.sizedFor === 0 ? input.previousReplicas : input.sizedFor + resolveFenceposts(input.spec, input.sizedFor).maxSurge;
  const baseline = (hash: string): number => input.maxReplicas?.get(hash) ?? fallback;
  // Larger first; on a tie the newer first when adding, the older first when removing.
  const order = [...sizes.keys()].sort(
    (a, b) => (sizes.get(b) ?? 0) - (sizes.get(a) ?? 0) || (toAdd > 0 ? createdAt(b) - createdAt(a) : createdAt(a) - createdAt(b)),
  );
  const targets = new Map<string, number>();
  let added = 0;
  for (const hash of order) {
    const size = sizes.get(hash) ?? 0;
    let proportion = 0;
    if (added !== toAdd) {
      const before = baseline(hash);
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

/**
 * The ReplicaSet controller's manageReplicas for every revision: creates what a revision lacks
 * and deletes its excess (its best candidates first). Finished pods count for nothing and are
 * left to the pod garbage collector (and go with their revision when it is pruned). Under RollingUpdate,
 * creates stay within replicas + maxSurge of the pods that count (terminating ones included
 * under TerminationComplete), the update revision first.
 */
function reconcilePods(input: PlanInput, counts: PodCounts, sizes: Map<string, number>, mode: SizingMode): Pick<Plan, 'create' | 'delete'> {
  const { spec, updateHash, now } = input;
  const replicas = spec.replicas;
  const deletions: PodDeletion[] = [];
  const wanted: PodCreation[] = [];
  const byHash = new Map<string, k8s.V1Pod[]>();
  for (const pod of counts.active) {
    const hash = revisionHashOf(pod) ?? '';
    const own = byHash.get(hash);
    // Appended in place: copying the array per pod made a sync quadratic in the group's size.
    if (own === undefined) {
      byHash.set(hash, [pod]);
    } else {
      own.push(pod);
    }
  }
  for (const hash of new Set([...sizes.keys(), ...byHash.keys()])) {
    const own = byHash.get(hash) ?? [];
    const target = sizes.get(hash) ?? own.length;
    if (target > own.length) {
      wanted.push({ hash, count: target - own.length });
    } else if (target < own.length) {
      const reason: DeleteReason = hash === updateHash || mode === 'scale' ? 'scale-down' : mode === 'recreate' ? 'recreate' : 'rollout';
      deletions.push(
        ...rankForDeletion(own, counts.active, now)
          .slice(0, own.length - target)
          .map((pod) => ({ pod, reason })),
      );
    }
  }
  if (spec.strategy?.type === 'Recreate') {
    return { create: wanted, delete: deletions };
  }
  const countTerminating = countsTerminatingPods(spec);
  let room = replicas + resolveFenceposts(spec, replicas).maxSurge - counts.active.length - (countTerminating ? counts.terminating.length : 0);
  const newestFirst = [
    ...oldestFirst(
      wanted.map((c) => c.hash).filter((h) => h !== updateHash),
      input.revisionCreated,
    ),
  ].reverse();
  const wantedOf = new Map(wanted.map((c) => [c.hash, c.count]));
  const create: PodCreation[] = [];
  for (const hash of [updateHash, ...newestFirst]) {
    const want = wantedOf.get(hash) ?? 0;
    const count = Math.min(want, Math.max(0, room));
    if (count > 0) {
      create.push({ hash, count });
      room -= count;
    }
  }
  return { create, delete: deletions };
}

function countBy(pods: k8s.V1Pod[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const pod of pods) {
    const hash = revisionHashOf(pod) ?? '';
    counts.set(hash, (counts.get(hash) ?? 0) + 1);
  }
  return counts;
}

/** Revision hashes, oldest revision first (unknown ones last, by hash). */
function oldestFirst(hashes: string[], revisionCreated: ReadonlyMap<string, number>): string[] {
  const at = (h: string): number => revisionCreated.get(h) ?? Number.MAX_SAFE_INTEGER;
  return [...hashes].sort((a, b) => at(a) - at(b) || (a < b ? -1 : 1));
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
