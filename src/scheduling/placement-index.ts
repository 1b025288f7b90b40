// What the extender's decisions read about the cluster, kept current from pod events (as
// kube-scheduler's node cache is) so that a filter or prioritize call costs O(nodes sent + the
// pod's group), never O(pods in the cluster):
// - requests per node: every non-terminal pod bound to a node, plus bindings this extender made
//   that the pod cache does not show yet;
// - members per PodGroup per node: pods not being deleted whose controller is the PodGroup (keyed
//   by the PodGroup's namespace and UID: a pod in another namespace pointing at a PodGroup is
//   never its member, as kube-controller-manager only looks in the owner's namespace), on the
//   node they are bound to, or on the node this extender just bound them to;
// - members in flight: scored or filtered, bind not arrived yet.
//
// Each pod key's contribution (from the cached pod and our binding of it, together) is
// remembered, so any event replaces exactly that contribution: adds, updates, phase changes,
// deletes and the deletes a relist reports all cost O(1).
import type * as k8s from '@kubernetes/client-node';
import { podGroupOwnerOf } from '../api/podgroup.js';
import { BoundedMap, stringBytes } from '../runtime/bounded-map.js';
import type { EventHandler } from '../runtime/informer.js';
import { objectKey, type Reader } from '../runtime/store.js';
import { Tally } from '../runtime/tally.js';
import { cachedPodRequests, type Resources } from './resources.js';

/** The pod cache, as an informer offers it. */
export interface PodSource {
  readonly store: Reader<k8s.V1Pod>;
  addEventHandler(handler: EventHandler<k8s.V1Pod>): void;
}

/** A binding this extender made. */
export interface Binding {
  node: string;
  requests: Resources;
  /** namespace/UID of the PodGroup the pod is a member of, if any. */
  group: string | undefined;
}

export interface PlacementIndexOptions {
  /** Bindings stay counted until the pod cache shows them, or this long at most. */
  bindingMemoryMs: number;
  bindingMemoryBytes: number;
  /** A member filtered or scored but not bound is waited for this long at most. */
  inFlightMs: number;
  now?: () => number;
}

/** What one pod key adds to the totals. */
interface Contribution {
  /** Node whose requests include this pod's. */
  requestedOn: string | undefined;
  requests: Resources;
  /** PodGroup (namespace/UID) and node the pod counts as a member on. */
  member: { group: string; node: string } | undefined;
}

/** The key members of a PodGroup are counted under. */
export const groupKey = (namespace: string | undefined, uid: string | undefined): string => `${namespace ?? ''}/${uid ?? ''}`;

const TERMINAL = new Set(['Succeeded', 'Failed']);

/** What the pod (as cached) and our binding of it (while the cache does not show it bound) add. */
export function contributionOf(pod: k8s.V1Pod | undefined, binding: Binding | undefined): Contribution | undefined {
  const boundTo = pod?.spec?.nodeName || undefined;
  let requestedOn: string | undefined;
  let requests: Resources = {};
  if (boundTo !== undefined) {
    if (!TERMINAL.has(pod?.status?.phase ?? '')) {
      requestedOn = boundTo;
      requests = cachedPodRequests(pod as k8s.V1Pod);
    }
  } else if (binding !== undefined) {
    requestedOn = binding.node;
    requests = binding.requests;
  }
  let member: Contribution['member'];
  if (pod !== undefined) {
    const owner = podGroupOwnerOf(pod);
    const node = boundTo ?? binding?.node;
    if (owner !== undefined && pod.metadata?.deletionTimestamp == null && node !== undefined) {
      member = { group: groupKey(pod.metadata?.namespace, owner.uid), node };
    }
  } else if (binding?.group !== undefined) {
    member = { group: binding.group, node: binding.node };
  }
  return requestedOn === undefined && member === undefined ? undefined : { requestedOn, requests, member };
}

export interface GroupMembers {
  /** node → members of the group on it. */
  perNode: ReadonlyMap<string, number>;
  /** Members bound (or bound by us), in total. */
  bound: number;
}

const NO_MEMBERS: ReadonlyMap<string, number> = new Map();

export class PlacementIndex {
  private readonly requested = new Tally();
  /** group → node → members. */
  private readonly members = new Map<string, Map<string, number>>();
  private readonly membersTotal = new Map<string, number>();
  private readonly contributions = new Map<string, Contribution>();
  private readonly bindings: BoundedMap<string, Binding>;
  /** Members that passed filter or were scored and whose bind has not arrived: pod key → group, when (oldest first). */
  private readonly inFlight = new Map<string, { group: string; at: number }>();
  private readonly inFlightByGroup = new Map<string, Set<string>>();
  private readonly now: () => number;

  constructor(
    private readonly pods: PodSource,
    private readonly options: PlacementIndexOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.bindings = new BoundedMap(options.bindingMemoryBytes, options.bindingMemoryMs, this.now, (key) => this.refresh(key));
    pods.addEventHandler({
      onAdd: (pod) => this.podChanged(objectKey(pod)),
      onUpdate: (_, pod) => this.podChanged(objectKey(pod)),
      onDelete: (pod) => this.podChanged(objectKey(pod)),
    });
  }

  /** Requests of the pods on the node (a read-only view, valid until the next event). */
  requestedOn(node: string): Readonly<Resources> {
    this.bindings.prune();
    return this.requested.get(node);
  }

  /** The group's members per node and in total, not counting `exceptPod` (the pod being placed). */
  membersOf(group: string, exceptPod: string): GroupMembers {
    this.bindings.prune();
    const perNode = this.members.get(group) ?? NO_MEMBERS;
    const bound = this.membersTotal.get(group) ?? 0;
    const own = this.contributions.get(exceptPod)?.member;
    if (own === undefined || own.group !== group) {
      return { perNode, bound };
    }
    const without = new Map(perNode);
    const left = (without.get(own.node) ?? 0) - 1;
    if (left > 0) {
      without.set(own.node, left);
    } else {
      without.delete(own.node);
    }
    return { perNode: without, bound: bound - 1 };
  }

  /** How many members the group has bound, not counting `exceptPod`: O(1), for deciding whether to wait. */
  boundMembers(group: string, exceptPod: string): number {
    this.bindings.prune();
    const own = this.contributions.get(exceptPod)?.member;
    return (this.membersTotal.get(group) ?? 0) - (own?.group === group ? 1 : 0);
  }

  recordBinding(podKey: string, binding: Binding): void {
    this.bindings.set(podKey, binding, 256 + stringBytes(podKey) + stringBytes(binding.node) + stringBytes(binding.group ?? ''));
    this.leaveInFlight(podKey);
    this.refresh(podKey);
  }

  /** Takes back a binding that failed (the scheduler will place the pod again). */
  forgetBinding(podKey: string): void {
    this.bindings.delete(podKey);
    this.refresh(podKey);
  }

  /** The pod passed filter or was scored: other members wait for its bind (at most inFlightMs). */
  markInFlight(podKey: string, group: string): void {
    this.leaveInFlight(podKey);
    this.inFlight.set(podKey, { group, at: this.now() });
    let keys = this.inFlightByGroup.get(group);
    if (keys === undefined) {
      keys = new Set();
      this.inFlightByGroup.set(group, keys);
    }
    keys.add(podKey);
  }

  /** Whether another member of the group is in flight. */
  othersInFlight(group: string, podKey: string): boolean {
    this.forgetStaleInFlight();
    const keys = this.inFlightByGroup.get(group);
    return keys !== undefined && (keys.size > 1 || (keys.size === 1 && !keys.has(podKey)));
  }

  private forgetStaleInFlight(): void {
    const oldest = this.now() - this.options.inFlightMs;
    for (const [key, entry] of this.inFlight) {
      if (entry.at >= oldest) {
        break;
      }
      // Scheduled elsewhere, or failed after scoring.
      this.leaveInFlight(key);
    }
  }

  private leaveInFlight(podKey: string): void {
    const entry = this.inFlight.get(podKey);
    if (entry === undefined) {
      return;
    }
    this.inFlight.delete(podKey);
    const keys = this.inFlightByGroup.get(entry.group);
    keys?.delete(podKey);
    if (keys?.size === 0) {
      this.inFlightByGroup.delete(entry.group);
    }
  }

  private podChanged(key: string): void {
    if (this.pods.store.get(key)?.spec?.nodeName) {
      // The cache shows the pod bound: our binding of it is no longer needed, and whoever bound it, it is no longer in flight.
      this.bindings.delete(key);
      this.leaveInFlight(key);
    }
    this.refresh(key);
  }

  /** Replaces the key's contribution with what its cached pod and our binding add now. */
  private refresh(key: string): void {
    // Read first: an expired binding's eviction refreshes this key itself, before `old` is taken.
    const binding = this.bindings.get(key);
    const old = this.contributions.get(key);
    const next = contributionOf(this.pods.store.get(key), binding);
    if (old !== undefined) {
      this.apply(old, -1);
      this.contributions.delete(key);
    }
    if (next !== undefined) {
      this.apply(next, 1);
      this.contributions.set(key, next);
    }
  }

  private apply(c: Contribution, sign: 1 | -1): void {
    if (c.requestedOn !== undefined) {
      if (sign > 0) {
        this.requested.add(c.requestedOn, c.requests);
      } else {
        this.requested.remove(c.requestedOn, c.requests);
      }
    }
    if (c.member !== undefined) {
      const { group, node } = c.member;
      let perNode = this.members.get(group);
      if (perNode === undefined) {
        perNode = new Map();
        this.members.set(group, perNode);
      }
      const onNode = (perNode.get(node) ?? 0) + sign;
      if (onNode > 0) {
        perNode.set(node, onNode);
      } else {
        perNode.delete(node);
      }
      const total = (this.membersTotal.get(group) ?? 0) + sign;
      if (total > 0) {
        this.membersTotal.set(group, total);
      } else {
        this.membersTotal.delete(group);
        this.members.delete(group);
      }
    }
  }
}
