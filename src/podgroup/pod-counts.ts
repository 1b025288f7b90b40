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

export function classify(pods: k8s.V1Pod[], updateHash: string): PodCounts {
  const active = pods.filter(isActive);
  return {
    active,
    newActive: active.filter((p) => revisionHashOf(p) === updateHash),
    oldActive: active.filter((p) => revisionHashOf(p) !== updateHash),
    terminating: pods.filter(isTerminating),
  };
}
