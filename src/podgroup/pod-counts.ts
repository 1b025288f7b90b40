// The PodGroup's pods sorted by what they count for: active or terminating, of the update
// revision or an older one. Plan and status both start from it. Pure.
import type * as k8s from '@kubernetes/client-node';
import { isActive, isTerminating } from './pod-state.js';
import { revisionHashOf } from './revisions.js';

export interface PodCounts {
  active: k8s.V1Pod[];
  newActive: k8s.V1Pod[];
  oldActive: k8s.V1Pod[];
  terminating: k8s.V1Pod[];
}

/** One pass over the pods (a reconcile classifies once, for plan and status). */
export function classify(pods: k8s.V1Pod[], updateHash: string): PodCounts {
  const counts: PodCounts = { active: [], newActive: [], oldActive: [], terminating: [] };
  for (const pod of pods) {
    if (isActive(pod)) {
      counts.active.push(pod);
      (revisionHashOf(pod) === updateHash ? counts.newActive : counts.oldActive).push(pod);
    }
    if (isTerminating(pod)) {
      counts.terminating.push(pod);
    }
  }
  return counts;
}
