// Which pods to delete first on scale-down: kube-controller-manager's ActivePodsWithRanks order.
//  1. unscheduled before scheduled;
//  2. Pending before Unknown before Running;
//  3. not ready before ready;
//  4. lower controller.kubernetes.io/pod-deletion-cost first;
//  5. more pods of this group on the same node first (spreads what remains);
//  6. ready for less time first;
//  7. more container restarts first;
//  8. newer first.
import type * as k8s from '@kubernetes/client-node';
import { POD_DELETION_COST_ANNOTATION } from '../api/podgroup.js';
import { isReady, isScheduled, readyForMs, restartCount } from './pod-state.js';

const PHASE_RANK: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

function deletionCost(pod: k8s.V1Pod): number {
  const raw = pod.metadata?.annotations?.[POD_DELETION_COST_ANNOTATION];
  const cost = raw === undefined ? 0 : Number(raw);
  return Number.isInteger(cost) ? cost : 0;
}

function created(pod: k8s.V1Pod): number {
  const ts = pod.metadata?.creationTimestamp;
  return ts ? new Date(ts).getTime() : 0;
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
  const key = (pod: k8s.V1Pod): number[] => {
    const ready = isReady(pod);
    return [
      isScheduled(pod) ? 1 : 0,
      PHASE_RANK[pod.status?.phase ?? 'Pending'] ?? 0,
      ready ? 1 : 0,
      deletionCost(pod),
      -(isScheduled(pod) ? (perNode.get(pod.spec?.nodeName ?? '') ?? 0) : 0),
      ready ? (readyForMs(pod, now) ?? 0) : 0,
      -restartCount(pod),
      -created(pod),
    ];
  };
  const decorated = pods.map((pod) => ({ pod, key: key(pod), name: pod.metadata?.name ?? '' }));
  decorated.sort((a, b) => {
    for (let i = 0; i < a.key.length; i += 1) {
      const d = (a.key[i] ?? 0) - (b.key[i] ?? 0);
      if (d !== 0) {
        return d;
      }
    }
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
  return decorated.map((d) => d.pod);
}
