// Resource arithmetic for placement decisions: Kubernetes quantities, what a pod requests and
// what a node has left. Pure.
import type * as k8s from '@kubernetes/client-node';

/** Resource name → amount in base units (cores for cpu, bytes for memory, counts otherwise). */
export type Resources = Record<string, number>;

const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** Parses a Kubernetes quantity ("100m", "64Mi", "1.5", "2e3"); NaN when malformed. */
export function parseQuantity(q: string | number | undefined): number {
  if (typeof q === 'number') {
    return q;
  }
  if (q === undefined) {
    return 0;
  }
  const m = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/.exec(q.trim());
  if (m === null) {
    return Number.NaN;
  }
  const base = Number(m[1]);
  return m[2] !== undefined ? base * 10 ** Number(m[2].slice(1)) : base * (SUFFIX[m[3] ?? ''] ?? 1);
}

function add(into: Resources, from: Record<string, string> | undefined): void {
  for (const [name, q] of Object.entries(from ?? {})) {
    const v = parseQuantity(q);
    if (Number.isFinite(v)) {
      into[name] = (into[name] ?? 0) + v;
    }
  }
}

/**
 * What the scheduler reserves for a pod: containers plus native sidecars (init containers with
 * restartPolicy Always), or the largest regular init container if that is more, plus one pod slot.
 */
export function podRequests(pod: k8s.V1Pod): Resources {
  const steady: Resources = {};
  for (const c of pod.spec?.containers ?? []) {
    add(steady, c.resources?.requests as Record<string, string> | undefined);
  }
  const sidecars = (pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always');
  for (const c of sidecars) {
    add(steady, c.resources?.requests as Record<string, string> | undefined);
  }
  const total: Resources = { ...steady };
  for (const c of (pod.spec?.initContainers ?? []).filter((i) => i.restartPolicy !== 'Always')) {
    const init: Resources = {};
    add(init, c.resources?.requests as Record<string, string> | undefined);
    for (const [name, v] of Object.entries(init)) {
      total[name] = Math.max(total[name] ?? 0, v);
    }
  }
  add(total, pod.spec?.overhead as Record<string, string> | undefined);
  total.pods = 1;
  return total;
}

export function nodeAllocatable(node: k8s.V1Node): Resources {
  const out: Resources = {};
  add(out, (node.status?.allocatable ?? node.status?.capacity) as Record<string, string> | undefined);
  return out;
}

/** Cached objects are replaced, never mutated, on change: results can be memoised per object. */
function memoised<K extends object, V>(compute: (key: K) => V): (key: K) => V {
  const cache = new WeakMap<K, V>();
  return (key) => {
    let value = cache.get(key);
    if (value === undefined) {
      value = compute(key);
      cache.set(key, value);
    }
    return value;
  };
}

/** podRequests of a cached pod, computed once per object. */
export const cachedPodRequests = memoised(podRequests);
/** nodeAllocatable of a cached node, computed once per object. */
export const cachedNodeAllocatable = memoised(nodeAllocatable);

const NOTHING: Readonly<Resources> = Object.freeze({});

/** How many more pods requesting `request` fit into `free`, and which resource limits it. */
export function slots(free: Readonly<Resources>, request: Readonly<Resources>): { count: number; limitedBy: string | undefined } {
  return slotsLeft(free, NOTHING, request);
}

/**
 * slots() of what `allocatable` has left after `requested`, without building the free amounts (it
 * runs for every node of every filter call); a resource the node does not have leaves room for none.
 */
export function slotsLeft(
  allocatable: Readonly<Resources>,
  requested: Readonly<Resources>,
  request: Readonly<Resources>,
): { count: number; limitedBy: string | undefined } {
  let count = Number.POSITIVE_INFINITY;
  let limitedBy: string | undefined;
  for (const name in request) {
    const need = request[name] ?? 0;
    if (need <= 0) {
      continue;
    }
    const has = allocatable[name];
    const n = has === undefined ? 0 : Math.max(0, Math.floor((has - (requested[name] ?? 0) + 1e-9) / need));
    if (n < count) {
      count = n;
      limitedBy = name;
    }
  }
  return { count: Number.isFinite(count) ? count : 0, limitedBy };
}
