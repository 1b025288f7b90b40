import { describe, expect, it } from '@jest/globals';
import type * as k8s from '@kubernetes/client-node';
import fc from 'fast-check';
import { API_VERSION, KIND, podGroupOwnerOf } from '../../../src/api/podgroup.js';
import type { EventHandler } from '../../../src/runtime/informer.js';
import { objectKey, Store } from '../../../src/runtime/store.js';
import { groupKey, PlacementIndex, type Binding, type PodSource } from '../../../src/scheduling/placement-index.js';
import { podRequests, type Resources } from '../../../src/scheduling/resources.js';

const TTL_MS = 60_000;
const IN_FLIGHT_MS = 1_000;

/** A pod cache that reports changes as the informer does (add, update, delete; a relist deletes what it did not list). */
class FakePodSource implements PodSource {
  readonly store = new Store<k8s.V1Pod>();
  private readonly handlers: EventHandler<k8s.V1Pod>[] = [];

  addEventHandler(handler: EventHandler<k8s.V1Pod>): void {
    this.handlers.push(handler);
    this.store.list().forEach((pod) => handler.onAdd?.(pod));
  }

  upsert(pod: k8s.V1Pod): void {
    const old = this.store.upsert(pod);
    this.handlers.forEach((h) => (old === undefined ? h.onAdd?.(pod) : h.onUpdate?.(old, pod)));
  }

  delete(key: string): void {
    const old = this.store.delete(key);
    if (old !== undefined) {
      this.handlers.forEach((h) => h.onDelete?.(old));
    }
  }

  relist(pods: k8s.V1Pod[]): void {
    const listed = new Set<string>();
    for (const pod of pods) {
      listed.add(objectKey(pod));
      this.upsert(pod);
    }
    for (const key of [...this.store.keys()].filter((k) => !listed.has(k))) {
      this.delete(key);
    }
  }
}

interface PodSpec {
  namespace: string;
  name: string;
  node: string | undefined;
  phase: string;
  deleting: boolean;
  owner: { kind: string; uid: string } | undefined;
  cpu: string;
  memory: string;
}

const makePod = (p: PodSpec): k8s.V1Pod => ({
  metadata: {
    namespace: p.namespace,
    name: p.name,
    uid: `${p.namespace}-${p.name}`,
    deletionTimestamp: p.deleting ? new Date(0) : undefined,
    ownerReferences:
      p.owner === undefined
        ? undefined
        : [{ apiVersion: p.owner.kind === KIND ? API_VERSION : 'apps/v1', kind: p.owner.kind, name: 'g', uid: p.owner.uid, controller: true }],
  },
  spec: { nodeName: p.node, containers: [{ name: 'c', resources: { requests: { cpu: p.cpu, memory: p.memory } } }] },
  status: { phase: p.phase },
});

const NODES = ['n0', 'n1', 'n2'];
const GROUPS = [groupKey('a', 'u1'), groupKey('a', 'u2'), groupKey('b', 'u1'), groupKey('b', 'u2')];
const podSpec: fc.Arbitrary<PodSpec> = fc.record({
  namespace: fc.constantFrom('a', 'b'),
  name: fc.constantFrom('p0', 'p1', 'p2', 'p3', 'p4'),
  node: fc.constantFrom(undefined, ...NODES),
  phase: fc.constantFrom('Pending', 'Running', 'Succeeded', 'Failed'),
  deleting: fc.boolean(),
  owner: fc.constantFrom(undefined, { kind: KIND, uid: 'u1' }, { kind: KIND, uid: 'u2' }, { kind: 'ReplicaSet', uid: 'u3' }),
  cpu: fc.constantFrom('100m', '250m', '0.3', '1', '1500m'),
  memory: fc.constantFrom('64Mi', '1Gi', '100M'),
});
const POD_KEYS = ['a', 'b'].flatMap((ns) => ['p0', 'p1', 'p2', 'p3', 'p4'].map((n) => `${ns}/${n}`));
const podKey = fc.tuple(fc.constantFrom('a', 'b'), fc.constantFrom('p0', 'p1', 'p2', 'p3', 'p4')).map(([ns, n]) => `${ns}/${n}`);

type Event =
  | { kind: 'upsert'; pod: PodSpec }
  | { kind: 'delete'; key: string }
  | { kind: 'relist'; pods: PodSpec[] }
  | { kind: 'bind'; key: string; node: string; group: string | undefined; cpu: number }
  | { kind: 'forget'; key: string }
  | { kind: 'wait'; ms: number };

const event: fc.Arbitrary<Event> = fc.oneof(
  { weight: 5, arbitrary: podSpec.map((pod) => ({ kind: 'upsert' as const, pod })) },
  { weight: 2, arbitrary: podKey.map((key) => ({ kind: 'delete' as const, key })) },
  { weight: 1, arbitrary: fc.array(podSpec, { maxLength: 8 }).map((pods) => ({ kind: 'relist' as const, pods })) },
  {
    weight: 3,
    arbitrary: fc
      .record({ key: podKey, node: fc.constantFrom(...NODES), group: fc.constantFrom(undefined, ...GROUPS), cpu: fc.constantFrom(0.1, 0.25, 2) })
      .map((b) => ({ kind: 'bind' as const, ...b })),
  },
  { weight: 1, arbitrary: podKey.map((key) => ({ kind: 'forget' as const, key })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 40_000 }).map((ms) => ({ kind: 'wait' as const, ms })) },
);

/** The full recount the index replaces: every cached pod and every live binding, from scratch. */
function recount(
  pods: k8s.V1Pod[],
  bindings: Map<string, Binding>,
  lookup: (key: string) => k8s.V1Pod | undefined,
): { requested: Map<string, Resources>; members: Map<string, Map<string, number>> } {
  const requested = new Map<string, Resources>();
  const addTo = (node: string, r: Resources): void => {
    const total = requested.get(node) ?? {};
    for (const [name, v] of Object.entries(r)) {
      total[name] = (total[name] ?? 0) + v;
    }
    requested.set(node, total);
  };
  const members = new Map<string, Map<string, number>>();
  const count = (group: string, node: string): void => {
    const perNode = members.get(group) ?? new Map<string, number>();
    perNode.set(node, (perNode.get(node) ?? 0) + 1);
    members.set(group, perNode);
  };
  for (const pod of pods) {
    const node = pod.spec?.nodeName;
    if (node && pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed') {
      addTo(node, podRequests(pod));
    }
    const owner = podGroupOwnerOf(pod);
    const memberNode = node || bindings.get(objectKey(pod))?.node;
    if (owner !== undefined && pod.metadata?.deletionTimestamp == null && memberNode) {
      count(groupKey(pod.metadata?.namespace, owner.uid), memberNode);
    }
  }
  for (const [key, b] of bindings) {
    const pod = lookup(key);
    if (!pod?.spec?.nodeName) {
      addTo(b.node, b.requests);
    }
    if (pod === undefined && b.group !== undefined) {
      count(b.group, b.node);
    }
  }
  return { requested, members };
}

/** Drops what rounds to zero, so sums built in another order compare equal. */
const significant = (r: Readonly<Resources>): Record<string, number> =>
  Object.fromEntries(
    Object.entries(r)
      .filter(([, v]) => Math.abs(v) > 1e-6)
      .map(([k, v]) => [k, Math.round(v * 1e6) / 1e6]),
  );

describe('PlacementIndex', () => {
  it('keeps the same totals as a full recount over any sequence of adds, updates, phase changes, deletes, bindings (made, failed, expired) and relists', () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 60 }), (events) => {
        let now = 0;
        const source = new FakePodSource();
        const index = new PlacementIndex(source, { bindingMemoryMs: TTL_MS, bindingMemoryBytes: 1 << 20, inFlightMs: IN_FLIGHT_MS, now: () => now });
        // The model of our bindings: kept until the cache shows the pod bound, or TTL_MS.
        const bindings = new Map<string, Binding & { until: number }>();
        const seen = (pod: k8s.V1Pod): void => {
          if (pod.spec?.nodeName) {
            bindings.delete(objectKey(pod));
          }
        };
        for (const e of events) {
          switch (e.kind) {
            case 'upsert': {
              const pod = makePod(e.pod);
              source.upsert(pod);
              seen(pod);
              break;
            }
            case 'delete':
              source.delete(e.key);
              break;
            case 'relist': {
              const pods = e.pods.map(makePod);
              source.relist(pods);
              pods.forEach(seen);
              break;
            }
            case 'bind': {
              const binding = { node: e.node, group: e.group, requests: { cpu: e.cpu, pods: 1 } };
              index.recordBinding(e.key, binding);
              bindings.set(e.key, { ...binding, until: now + TTL_MS });
              break;
            }
            case 'forget':
              index.forgetBinding(e.key);
              bindings.delete(e.key);
              break;
            case 'wait':
              now += e.ms;
              break;
          }
          for (const [key, b] of bindings) {
            if (b.until <= now) {
              bindings.delete(key);
            }
          }
          const expected = recount(source.store.list(), bindings, (key) => source.store.get(key));
          for (const node of NODES) {
            expect(significant(index.requestedOn(node))).toEqual(significant(expected.requested.get(node) ?? {}));
          }
          for (const group of GROUPS) {
            const perNode = expected.members.get(group) ?? new Map<string, number>();
            const members = index.membersOf(group, 'a/none');
            expect(new Map(members.perNode)).toEqual(perNode);
            expect(members.bound).toBe([...perNode.values()].reduce((a, b) => a + b, 0));
            for (const key of POD_KEYS) {
              expect(index.boundMembers(group, key)).toBe(index.membersOf(group, key).bound);
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it("counts only pods in the PodGroup's own namespace as its members, whatever their ownerReference says", () => {
    const source = new FakePodSource();
    const index = new PlacementIndex(source, { bindingMemoryMs: TTL_MS, bindingMemoryBytes: 1 << 20, inFlightMs: IN_FLIGHT_MS });
    const member = { name: 'm', node: 'n0', phase: 'Running', deleting: false, owner: { kind: KIND, uid: 'u1' }, cpu: '1', memory: '1Gi' };
    source.upsert(makePod({ ...member, namespace: 'a', name: 'own' }));
    // A tenant of namespace b points its pods at a's PodGroup (same UID): they are not its members.
    source.upsert(makePod({ ...member, namespace: 'b', name: 'intruder-1', node: 'n1' }));
    source.upsert(makePod({ ...member, namespace: 'b', name: 'intruder-2', node: 'n1' }));
    index.recordBinding('b/intruder-3', { node: 'n2', requests: { cpu: 1, pods: 1 }, group: groupKey('b', 'u1') });
    const members = index.membersOf(groupKey('a', 'u1'), 'a/next');
    expect(new Map(members.perNode)).toEqual(new Map([['n0', 1]]));
    expect(members.bound).toBe(1);
    // They still take room on their nodes.
    expect(index.requestedOn('n1').cpu).toBe(2);
    expect(index.requestedOn('n2').cpu).toBe(1);
  });

  it("does not count the pod being placed among its group's members", () => {
    const source = new FakePodSource();
    const index = new PlacementIndex(source, { bindingMemoryMs: TTL_MS, bindingMemoryBytes: 1 << 20, inFlightMs: IN_FLIGHT_MS });
    const member = { namespace: 'a', node: 'n0', phase: 'Running', deleting: false, owner: { kind: KIND, uid: 'u1' }, cpu: '1', memory: '1Gi' };
    source.upsert(makePod({ ...member, name: 'p0' }));
    source.upsert(makePod({ ...member, name: 'p1' }));
    const members = index.membersOf(groupKey('a', 'u1'), 'a/p1');
    expect(new Map(members.perNode)).toEqual(new Map([['n0', 1]]));
    expect(members.bound).toBe(1);
    expect(index.membersOf(groupKey('a', 'u1'), 'a/other').bound).toBe(2);
  });

  it('tracks members in flight until bound, seen bound, or stale', () => {
    let now = 0;
    const source = new FakePodSource();
    const index = new PlacementIndex(source, { bindingMemoryMs: TTL_MS, bindingMemoryBytes: 1 << 20, inFlightMs: IN_FLIGHT_MS, now: () => now });
    const group = groupKey('a', 'u1');
    index.markInFlight('a/p0', group);
    index.markInFlight('a/p1', group);
    expect(index.othersInFlight(group, 'a/p0')).toBe(true);
    expect(index.othersInFlight(groupKey('b', 'u1'), 'b/p0')).toBe(false);
    index.recordBinding('a/p1', { node: 'n0', requests: { pods: 1 }, group });
    expect(index.othersInFlight(group, 'a/p0')).toBe(false);
    expect(index.othersInFlight(group, 'a/p1')).toBe(true);
    // Bound by someone else: the cache shows it.
    source.upsert(
      makePod({ namespace: 'a', name: 'p0', node: 'n1', phase: 'Pending', deleting: false, owner: { kind: KIND, uid: 'u1' }, cpu: '1', memory: '1Gi' }),
    );
    expect(index.othersInFlight(group, 'a/p1')).toBe(false);
    index.markInFlight('a/p2', group);
    now += IN_FLIGHT_MS + 1;
    expect(index.othersInFlight(group, 'a/p3')).toBe(false);
  });

  it('stops counting a binding evicted by the byte budget', () => {
    const source = new FakePodSource();
    const index = new PlacementIndex(source, { bindingMemoryMs: TTL_MS, bindingMemoryBytes: 600, inFlightMs: IN_FLIGHT_MS });
    for (let i = 0; i < 5; i += 1) {
      index.recordBinding(`a/p${i}`, { node: 'n0', requests: { cpu: 1, pods: 1 }, group: undefined });
    }
    const kept = index.requestedOn('n0').pods ?? 0;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(5);
    expect(index.requestedOn('n0').cpu).toBe(kept);
  });
});
