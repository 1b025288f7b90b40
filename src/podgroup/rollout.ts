// Rolling-update arithmetic, as kube-controller-manager does it for Deployments.
import type { DefaultedPodGroupSpec, IntOrString, PodGroupSpec } from '../api/podgroup.js';

export const DEFAULT_MAX_SURGE = '25%';
export const DEFAULT_MAX_UNAVAILABLE = '25%';

/** An int-or-percent against a total; percentages round up or down as asked. */
export function scaledValue(value: IntOrString, total: number, roundUp: boolean): number {
  if (typeof value === 'number') {
    return value;
  }
  const match = /^(\d+)%$/.exec(value);
  if (match === null) {
    const asInt = Number(value);
    if (Number.isInteger(asInt)) {
      return asInt;
    }
    throw new Error(`invalid int-or-percent value ${JSON.stringify(value)}`);
  }
  const scaled = (Number(match[1]) * total) / 100;
  return roundUp ? Math.ceil(scaled) : Math.floor(scaled);
}

/**
 * maxSurge (rounded up) and maxUnavailable (rounded down) for `replicas`. When both end up 0
 * the rollout could never progress, so maxUnavailable becomes 1 (KCM's ResolveFenceposts).
 */
export function resolveFenceposts(spec: Pick<PodGroupSpec, 'strategy'>, replicas: number): { maxSurge: number; maxUnavailable: number } {
  const ru = spec.strategy?.rollingUpdate;
  const maxSurge = scaledValue(ru?.maxSurge ?? DEFAULT_MAX_SURGE, replicas, true);
  let maxUnavailable = scaledValue(ru?.maxUnavailable ?? DEFAULT_MAX_UNAVAILABLE, replicas, false);
  if (maxSurge === 0 && maxUnavailable === 0) {
    maxUnavailable = 1;
  }
  return { maxSurge, maxUnavailable };
}

/** Whether terminating pods count against replicas + maxSurge (podReplacementPolicy TerminationComplete). */
export const countsTerminatingPods = (spec: Pick<DefaultedPodGroupSpec, 'podReplacementPolicy'>): boolean =>
  spec.podReplacementPolicy === 'TerminationComplete';
