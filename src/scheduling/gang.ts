// Gang feasibility and per-node filtering for one PodGroup member. Pure: the adapter gathers
// what is bound and requested per node (informer cache plus bindings it made itself).
import { slotsLeft, type Resources } from './resources.js';

export interface NodeView {
  name: string;
  zone: string | undefined;
  allocatable: Resources;
  /** Requests of pods on the node (bound, or bound by us and not yet seen). */
  requested: Resources;
  /** Members of this PodGroup on the node. */
  members: number;
}

export interface GangInput {
  /** namespace/name of the PodGroup. */
  group: string;
  minAvailable: number | undefined;
  maxPerNode: number | undefined;
  /** Members already bound (or bound by us and not yet seen), not counting the pod being placed. */
  bound: number;
  /** What the pod being placed requests (pods: 1 included). */
  request: Resources;
  nodes: NodeView[];
}

export interface GangVerdict {
  /** Nodes the pod may go to. */
  passed: string[];
  /** node → why not. */
  failed: Record<string, string>;
  /** Set when the whole group cannot reach minAvailable: every node fails with it. */
  gangMessage: string | undefined;
  room: number;
}

export function filterForGang(input: GangInput): GangVerdict {
  const failed: Record<string, string> = {};
  const passed: string[] = [];
  let room = 0;
  const roomByNode: Array<[string, number]> = [];
  const limits = new Map<string, number>();
  for (const node of input.nodes) {
    const fit = slotsLeft(node.allocatable, node.requested, input.request);
    let count = fit.count;
    let reason = fit.count === 0 ? `insufficient ${fit.limitedBy ?? 'resources'}` : undefined;
    if (input.maxPerNode !== undefined) {
      const left = Math.max(0, input.maxPerNode - node.members);
      if (left < count) {
        count = left;
        if (left === 0) {
          reason = `maxPerNode ${input.maxPerNode} reached`;
        }
      }
    }
    roomByNode.push([node.name, count]);
    if (count > 0) {
      passed.push(node.name);
      room += count;
    } else {
      failed[node.name] = reason ?? 'no room';
      const key = reason?.startsWith('maxPerNode') === true ? 'maxPerNode' : (fit.limitedBy ?? 'resources');
      limits.set(key, (limits.get(key) ?? 0) + 1);
    }
    if (fit.limitedBy !== undefined && count > 0) {
      limits.set(fit.limitedBy, limits.get(fit.limitedBy) ?? 0);
    }
  }
  const need = (input.minAvailable ?? 0) - input.bound;
  if (need > 0 && room < need) {
    const limitedBy = mostLimiting(input, limits);
    const message = `PodGroup ${input.group} needs ${input.minAvailable} members, ${input.bound} bound: ${need} more must fit at once, ${room} ${room === 1 ? 'fits' : 'fit'} (${describeRoom(roomByNode)}), limited by ${limitedBy}`;
    return { passed: [], failed: Object.fromEntries(input.nodes.map((n) => [n.name, message])), gangMessage: message, room };
  }
  return { passed, failed, gangMessage: undefined, room };
}

/**
 * Whether filterForGang's verdict for a member can change when the group's members in flight
 * (passed filter or scored by kube-scheduler, bind not arrived) land, so filter must wait for
 * their binds. It reads the group's placement only through maxPerNode (members per node) and,
 * while the gang is short (need > 0), through bound and room. With no maxPerNode and `bound`
 * already at minAvailable, a bind only raises bound, so need stays <= 0 and the verdict is the
 * per-node resource fit alone. That fit does see the in-flight member's requests on its node,
 * but kube-scheduler runs its own NodeResourcesFit on its assumed cache (in-flight pods
 * included) before calling extenders, so a node the in-flight member fills is never sent — as
 * for the members of other groups in flight, which filter never waited for.
 */
export function filterReadsMembersInFlight(group: Pick<GangInput, 'minAvailable' | 'maxPerNode' | 'bound'>): boolean {
  return group.maxPerNode !== undefined || (group.minAvailable ?? 0) > group.bound;
}

const NODES_NAMED = 5;

/**
 * Where the members that fit would go, roomiest nodes first: "a: 2, b: 1; 3 nodes full". Every
 * node gets the same message (kube-scheduler counts nodes per distinct reason), so it carries the
 * per-node picture and the total, bounded to a few names on large clusters.
 */
function describeRoom(roomByNode: Array<[string, number]>): string {
  const withRoom = roomByNode.filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const full = roomByNode.length - withRoom.length;
  if (withRoom.length === 0) {
    return roomByNode.length === 0 ? 'no candidate nodes' : `all ${full} candidate node${full === 1 ? ' is' : 's are'} full`;
  }
  const named = withRoom.slice(0, NODES_NAMED).map(([name, n]) => `${name}: ${n}`);
  const rest = withRoom.slice(NODES_NAMED);
  if (rest.length > 0) {
    named.push(`${rest.length} more node${rest.length === 1 ? '' : 's'}: ${rest.reduce((sum, [, n]) => sum + n, 0)}`);
  }
  return full === 0 ? named.join(', ') : `${named.join(', ')}; ${full} node${full === 1 ? '' : 's'} full`;
}

/** The resource that bounds the group's room: the one whose per-node fit is smallest overall. */
function mostLimiting(input: GangInput, limits: Map<string, number>): string {
  if (input.nodes.length === 0) {
    return 'no candidate nodes';
  }
  let best: string | undefined;
  let bestRoom = Number.POSITIVE_INFINITY;
  for (const name of Object.keys(input.request)) {
    if ((input.request[name] ?? 0) <= 0) {
      continue;
    }
    let total = 0;
    for (const node of input.nodes) {
      total += slotsLeft(node.allocatable, node.requested, { [name]: input.request[name] ?? 0 }).count;
    }
    if (total < bestRoom) {
      bestRoom = total;
      best = name;
    }
  }
  if (input.maxPerNode !== undefined) {
    const perNodeRoom = input.nodes.reduce((s, n) => s + Math.max(0, (input.maxPerNode ?? 0) - n.members), 0);
    if (perNodeRoom < bestRoom) {
      best = 'maxPerNode';
    }
  }
  return best ?? [...limits.keys()][0] ?? 'resources';
}
