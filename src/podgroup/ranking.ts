// Which pods to delete first on scale-down: kube-controller-manager's ActivePodsWithRanks order
// (LogarithmicScaleDown, on by default since 1.22):
//  1. unscheduled before scheduled;
//  2. Pending before Unknown before Running;
//  3. not ready before ready;
//  4. lower controller.kubernetes.io/pod-deletion-cost first;
//  5. more pods of this group on the same node first (spreads what remains);
//  6. both ready: ready for less time first, compared by log2 buckets of the time ready, a tie
//     within a bucket broken by UID;
//  7. more restarts of regular containers first, then of sidecar (restartable init) containers;
//  8. newer first, by log2 buckets of age, a tie within a bucket broken by UID.
// Buckets keep pods of about the same age in an order that does not follow their age, so a
// scale-down removes old and new pods alike instead of always the newest.
import type * as k8s from '@kubernetes/client-node';
import { POD_DELETION_COST_ANNOTATION } from '../api/podgroup.js';
import { isReady, isScheduled } from './pod-state.js';

const PHASE_RANK: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

function deletionCost(pod: k8s.V1Pod): number {
  const raw = pod.metadata?.annotations?.[POD_DELETION_COST_ANNOTATION];
  const cost = raw === undefined ? 0 : Number(raw);
  return Number.isInteger(cost) ? cost : 0;
}

/** A timestamp in ms; 0 for none (Go's zero time). */
const millis = (t: Date | string | undefined): number => (t === undefined ? 0 : new Date(t).getTime() || 0);

/** When the pod became ready (its Ready condition's lastTransitionTime); 0 when not ready or unknown. */
function readySince(pod: k8s.V1Pod): number {
  if (!isReady(pod)) {
    return 0;
  }
  return millis(pod.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True')?.lastTransitionTime);
}

/** The most restarts of any regular container, and of any sidecar (an init container with restartPolicy Always). */
export function maxRestarts(pod: k8s.V1Pod): { regular: number; sidecar: number } {
  const regular = (pod.status?.containerStatuses ?? []).reduce((max, c) => Math.max(max, c.restartCount ?? 0), 0);
  const sidecars = new Set((pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always').map((c) => c.name));
  const sidecar = (pod.status?.initContainerStatuses ?? []).filter((c) => sidecars.has(c.name)).reduce((max, c) => Math.max(max, c.restartCount ?? 0), 0);
  return { regular, sidecar };
}

/** log2 of the time since `t` in nanoseconds, truncated (-1 for none), as logarithmicRankDiff. */
function bucket(t: number, now: number): number {
  const ns = (now - t) * 1e6;
  return ns > 0 ? Math.floor(Math.log2(ns)) : -1;
}

/** afterOrZero: a zero time sorts first, else the later one. Negative when a goes first. */
const afterOrZero = (a: number, b: number): number => (a === 0 || b === 0 ? (a === 0 ? -1 : 1) : b - a);

/** Two different times, later first: by buckets when both are known, a tie broken by UID. */
function compareTimes(a: number, b: number, uidA: string, uidB: string, now: number): number {
  if (a === 0 || b === 0) {
    return afterOrZero(a, b);
  }
  const diff = bucket(a, now) - bucket(b, now);
  if (diff !== 0) {
    return diff;
  }
  return uidA < uidB ? -1 : uidA > uidB ? 1 : 0;
}

/** Pods sorted so that the first ones are the best to delete. `related` gives node co-location. */
export function rankForDeletion(pods: k8s.V1Pod[], related: k8s.V1Pod[], now: number): k8s.V1Pod[] {
  const perNode = new Map<string, number>();
  for (const p of related) {
    const node = p.spec?.nodeName;
    if (node) {
      perNode.set(node, (perNode.get(node) ?? 0) + 1);
    }
  }
  const decorated = pods.map((pod) => ({
    pod,
    scheduled: isScheduled(pod),
    phase: PHASE_RANK[pod.status?.phase ?? 'Pending'] ?? 0,
    ready: isReady(pod),
    cost: deletionCost(pod),
    crowd: isScheduled(pod) ? (perNode.get(pod.spec?.nodeName ?? '') ?? 0) : 0,
    readySince: readySince(pod),
    restarts: maxRestarts(pod),
    created: millis(pod.metadata?.creationTimestamp),
    uid: pod.metadata?.uid ?? '',
    name: pod.metadata?.name ?? '',
  }));
  type Ranked = (typeof decorated)[number];
  const compare = (a: Ranked, b: Ranked): number => {
    if (a.scheduled !== b.scheduled) {
      return a.scheduled ? 1 : -1;
    }
    if (a.phase !== b.phase) {
      return a.phase - b.phase;
    }
    if (a.ready !== b.ready) {
      return a.ready ? 1 : -1;
    }
    if (a.cost !== b.cost) {
      return a.cost - b.cost;
    }
    if (a.crowd !== b.crowd) {
      return b.crowd - a.crowd;
    }
    if (a.ready && b.ready && a.readySince !== b.readySince) {
      const byReady = compareTimes(a.readySince, b.readySince, a.uid, b.uid, now);
      if (byReady !== 0) {
        return byReady;
      }
    }
    if (a.restarts.regular !== b.restarts.regular) {
      return b.restarts.regular - a.restarts.regular;
    }
    if (a.restarts.sidecar !== b.restarts.sidecar) {
      return b.restarts.sidecar - a.restarts.sidecar;
    }
    if (a.created !== b.created) {
      const byAge = compareTimes(a.created, b.created, a.uid, b.uid, now);
      if (byAge !== 0) {
        return byAge;
      }
    }
    // Equal for upstream (its sort is not stable); the name keeps the choice deterministic.
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  };
  return decorated.sort(compare).map((d) => d.pod);
}
