// What a pod's status means to a workload controller (as kube-controller-manager reads it).
import type * as k8s from '@kubernetes/client-node';

export const isTerminating = (pod: k8s.V1Pod): boolean => pod.metadata?.deletionTimestamp != null;

/** Succeeded or Failed: the pod will never run again; it counts for nothing and is replaced (but not deleted). */
export const isFinished = (pod: k8s.V1Pod): boolean => pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';

/** Counts toward replicas: not terminating and not finished. */
export const isActive = (pod: k8s.V1Pod): boolean => !isTerminating(pod) && !isFinished(pod);

export const isScheduled = (pod: k8s.V1Pod): boolean => (pod.spec?.nodeName ?? '') !== '';

function readyCondition(pod: k8s.V1Pod): k8s.V1PodCondition | undefined {
  return pod.status?.conditions?.find((c) => c.type === 'Ready');
}

export const isReady = (pod: k8s.V1Pod): boolean => readyCondition(pod)?.status === 'True';

/** Milliseconds since the pod became Ready, or undefined when it is not ready. */
export function readyForMs(pod: k8s.V1Pod, now: number): number | undefined {
  const ready = readyCondition(pod);
  if (ready?.status !== 'True') {
    return undefined;
  }
  const since = ready.lastTransitionTime ? new Date(ready.lastTransitionTime).getTime() : now;
  return Math.max(0, now - since);
}

/** Ready for at least minReadySeconds. */
export function isAvailable(pod: k8s.V1Pod, minReadySeconds: number, now: number): boolean {
  if (minReadySeconds <= 0) {
    return isReady(pod);
  }
  const ms = readyForMs(pod, now);
  return ms !== undefined && ms >= minReadySeconds * 1000;
}

/** When a ready pod will turn available, if that is in the future. */
export function msUntilAvailable(pod: k8s.V1Pod, minReadySeconds: number, now: number): number | undefined {
  if (minReadySeconds <= 0) {
    return undefined;
  }
  const ms = readyForMs(pod, now);
  if (ms === undefined) {
    return undefined;
  }
  const remaining = minReadySeconds * 1000 - ms;
  return remaining > 0 ? remaining : undefined;
}

/** The PodScheduled=False message (why the scheduler could not place the pod), if any. */
export function unschedulableMessage(pod: k8s.V1Pod): string | undefined {
  const c = pod.status?.conditions?.find((cond) => cond.type === 'PodScheduled');
  return c?.status === 'False' ? (c.message ?? c.reason ?? 'unschedulable') : undefined;
}

/** Waiting reasons that are a normal step of starting, not a cause worth reporting. */
const STARTING = new Set(['PodInitializing', 'ContainerCreating']);

/**
 * Why a scheduled pod is not ready, from its containers' states (init containers, which include
 * native sidecars such as an injected git-sync, first): a container that keeps failing or
 * waits for a reason other than starting. Stable across a crash loop's restarts (no counts or
 * back-off durations), so the status does not churn. Undefined when nothing explains it.
 */
export function notReadyCause(pod: k8s.V1Pod): string | undefined {
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  for (const c of statuses) {
    if (c.ready) {
      continue;
    }
    const last = c.lastState?.terminated ?? c.state?.terminated;
    if ((c.restartCount ?? 0) > 0 && last !== undefined && last.exitCode !== 0) {
      return `container ${c.name} keeps failing (exit code ${last.exitCode}${last.reason === undefined ? '' : `, ${last.reason}`})`;
    }
    const waiting = c.state?.waiting?.reason;
    if (waiting !== undefined && !STARTING.has(waiting) && waiting !== 'CrashLoopBackOff') {
      return `container ${c.name} waiting: ${waiting}`;
    }
  }
  return undefined;
}
