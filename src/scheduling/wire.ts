// The kube-scheduler extender wire format (k8s.io/kube-scheduler/extender/v1). The Go types
// have no json tags, so every key is PascalCase.
import type * as k8s from '@kubernetes/client-node';

export interface ExtenderArgs {
  Pod: k8s.V1Pod;
  /** Sent when the extender is not nodeCacheCapable. */
  Nodes?: { items?: k8s.V1Node[] | null } | null;
  /** Sent when the extender is nodeCacheCapable. */
  NodeNames?: string[] | null;
}

export interface ExtenderFilterResult {
  Nodes?: { items: k8s.V1Node[] } | null;
  NodeNames?: string[] | null;
  /** node → reason; the scheduler may try these nodes again after preemption. */
  FailedNodes: Record<string, string>;
  /** node → reason; preemption cannot help. */
  FailedAndUnresolvableNodes: Record<string, string>;
  Error: string;
}

export interface HostPriority {
  Host: string;
  /** 0..MAX_EXTENDER_PRIORITY; the scheduler multiplies it by the extender's weight. */
  Score: number;
}

export interface ExtenderBindingArgs {
  PodName: string;
  PodNamespace: string;
  PodUID: string;
  Node: string;
}

export interface ExtenderBindingResult {
  Error: string;
}

export const MAX_EXTENDER_PRIORITY = 10;

/** Validates the shape of filter/prioritize arguments; returns a message for the Error field. */
export function checkExtenderArgs(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'request body must be a JSON object with Pod and Nodes or NodeNames';
  }
  const args = value as Record<string, unknown>;
  const pod = args.Pod as { metadata?: { name?: unknown } } | undefined;
  if (typeof pod !== 'object' || pod === null || typeof pod.metadata?.name !== 'string') {
    return 'Pod with metadata.name is required';
  }
  const names = args.NodeNames;
  const nodes = args.Nodes as { items?: unknown } | null | undefined;
  if (names != null && (!Array.isArray(names) || names.some((n) => typeof n !== 'string'))) {
    return 'NodeNames must be a list of strings';
  }
  if (nodes != null && (typeof nodes !== 'object' || (nodes.items != null && !Array.isArray(nodes.items)))) {
    return 'Nodes must be a NodeList';
  }
  const items = (nodes?.items ?? []) as unknown[];
  if (items.some((n) => typeof (n as { metadata?: { name?: unknown } } | null)?.metadata?.name !== 'string')) {
    return 'every item of Nodes needs metadata.name';
  }
  if (names == null && nodes == null) {
    return 'either Nodes or NodeNames is required';
  }
  return undefined;
}

export function checkBindingArgs(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'request body must be a JSON object with PodName, PodNamespace, PodUID and Node';
  }
  const args = value as Record<string, unknown>;
  for (const key of ['PodName', 'PodNamespace', 'PodUID', 'Node']) {
    if (typeof args[key] !== 'string' || args[key] === '') {
      return `${key} is required`;
    }
  }
  return undefined;
}
