// Placement scores (0..10) for one PodGroup member. Spread prefers nodes and zones with fewer
// members of the group; Pack prefers nodes with more members and higher utilisation. Pure.
import type { NodeView } from './gang.js';
import { MAX_EXTENDER_PRIORITY, type HostPriority } from './wire.js';

export type PlacementPolicy = 'Spread' | 'Pack';

function utilisation(node: NodeView): number {
  const parts: number[] = [];
  for (const name of ['cpu', 'memory']) {
    const alloc = node.allocatable[name] ?? 0;
    if (alloc > 0) {
      parts.push(Math.min(1, (node.requested[name] ?? 0) / alloc));
    }
  }
  return parts.length === 0 ? 0 : parts.reduce((a, b) => a + b, 0) / parts.length;
}

/**
 * `zoneMembers` counts members per zone over every node (not just candidates), so a zone with
 * one busy node is still seen as busy.
 */
export function score(policy: PlacementPolicy, candidates: NodeView[], zoneMembers: Map<string, number>): HostPriority[] {
  const maxNode = Math.max(0, ...candidates.map((n) => n.members));
  const zonesOfCandidates = candidates.map((n) => zoneMembers.get(n.zone ?? '') ?? 0);
  const maxZone = Math.max(0, ...zonesOfCandidates);
  return candidates.map((node) => {
    const nodeShare = maxNode === 0 ? 0 : node.members / maxNode;
    const zoneShare = maxZone === 0 || node.zone === undefined ? 0 : (zoneMembers.get(node.zone) ?? 0) / maxZone;
    const value = policy === 'Pack' ? 0.5 * nodeShare + 0.5 * utilisation(node) : 1 - (node.zone === undefined ? nodeShare : 0.5 * nodeShare + 0.5 * zoneShare);
    return { Host: node.name, Score: Math.round(MAX_EXTENDER_PRIORITY * Math.min(1, Math.max(0, value))) };
  });
}
