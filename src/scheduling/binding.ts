// Whether the extender may create a Binding for a bind call: only for a pod that is one of our
// schedulers' pods, still unbound, with the UID the call names, which passed our filter for that
// very node moments ago. Anything else is refused with the reason (the scheduler logs it and
// retries the pod), so the extender's pods/binding right cannot be borrowed to place pods
// elsewhere. Pure: the caller supplies the live pod and what filter remembered.
import type * as k8s from '@kubernetes/client-node';
import type { ExtenderBindingArgs } from './wire.js';

/** What filter remembers about a pod it answered, until that pod's bind arrives. */
export interface FilteredPod {
  uid: string;
  /** Nodes filter let through for this pod. */
  passed: Pick<ReadonlySet<string>, 'has'>;
}

export function bindRefusal(
  args: ExtenderBindingArgs,
  pod: k8s.V1Pod | undefined,
  filtered: FilteredPod | undefined,
  schedulerNames: readonly string[],
): string | undefined {
  const key = `${args.PodNamespace}/${args.PodName}`;
  if (pod === undefined) {
    return `pod ${key} does not exist`;
  }
  if (pod.metadata?.uid !== args.PodUID) {
    return `pod ${key} has UID ${pod.metadata?.uid ?? '(none)'}, not ${args.PodUID}`;
  }
  const schedulerName = pod.spec?.schedulerName ?? 'default-scheduler';
  if (!schedulerNames.includes(schedulerName)) {
    return `pod ${key} belongs to scheduler ${JSON.stringify(schedulerName)}; this extender binds only pods of ${schedulerNames.map((n) => JSON.stringify(n)).join(', ')}`;
  }
  if (pod.spec?.nodeName) {
    return `pod ${key} is already bound to ${pod.spec.nodeName}`;
  }
  if (filtered === undefined || filtered.uid !== args.PodUID) {
    return `pod ${key} has not passed this extender's filter (or that was too long ago); it will be filtered again`;
  }
  if (!filtered.passed.has(args.Node)) {
    return `node ${args.Node} did not pass this extender's filter for pod ${key}`;
  }
  return undefined;
}
