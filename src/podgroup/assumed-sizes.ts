// Write-ahead memory of the desired counts written onto revisions (the scheduler's assume cache,
// for revision sizes): a count written but not yet in the informer cache is used instead of the
// cached one, or a stale count read back would undo a step (a new revision scaled up, then down
// again). An entry lives until the cache shows the write or anything newer.
import type * as k8s from '@kubernetes/client-node';
import { objectKey } from '../runtime/store.js';
import { recordedMaxReplicas, recordedReplicas } from './revisions.js';

/** A desired count written to a revision, until the cache shows the write (or anything newer). */
interface AssumedSize {
  /** The revision's resourceVersion the write produced. */
  written: string | undefined;
  size: number;
  /** The replicas + maxSurge written with it. */
  maxReplicas: number;
}

/**
 * Whether a cached object is older than a version this controller wrote. Versions are compared
 * as integers, as the scheduler's assume cache does (etcd revisions); if either is not one, only
 * the very version written counts as caught up.
 */
export function olderThan(cached: string | undefined, written: string | undefined): boolean {
  if (cached === undefined || written === undefined) {
    return cached !== written;
  }
  if (/^\d+$/.test(cached) && /^\d+$/.test(written)) {
    return BigInt(cached) < BigInt(written);
  }
  return cached !== written;
}

/** Per owner (a PodGroup's key), per revision (its object key): the counts written ahead of the cache. */
export class AssumedSizes {
  private readonly byOwner = new Map<string, Map<string, AssumedSize>>();

  /** Records a count (and replicas + maxSurge) written onto `revision`, producing resourceVersion `written`. */
  assume(owner: string, revision: k8s.V1ControllerRevision, written: string | undefined, size: number, maxReplicas: number): void {
    const assumed = this.byOwner.get(owner) ?? new Map<string, AssumedSize>();
    assumed.set(objectKey(revision), { written, size, maxReplicas });
    this.byOwner.set(owner, assumed);
  }

  /**
   * Each revision's desired count (by hash): the one written if the cache is behind it, else the
   * recorded one. Forgets what the cache has caught up with and revisions that are gone.
   */
  sizes(owner: string, byHash: ReadonlyMap<string, k8s.V1ControllerRevision>): Map<string, number> {
    const assumed = this.byOwner.get(owner);
    const live = new Set([...byHash.values()].map(objectKey));
    for (const revisionKey of assumed?.keys() ?? []) {
      if (!live.has(revisionKey)) {
        assumed?.delete(revisionKey);
      }
    }
    const sizes = new Map<string, number>();
    for (const [hash, r] of byHash) {
      const mine = assumed?.get(objectKey(r));
      const ahead = mine !== undefined && olderThan(r.metadata?.resourceVersion, mine.written);
      if (mine !== undefined && !ahead) {
        assumed?.delete(objectKey(r));
      }
      const size = ahead ? mine.size : recordedReplicas(r);
      if (size !== undefined) {
        sizes.set(hash, size);
      }
    }
    return sizes;
  }

  /** Each revision's replicas + maxSurge (by hash): the one written with a count the cache is behind, else the recorded one. */
  maxReplicas(owner: string, byHash: ReadonlyMap<string, k8s.V1ControllerRevision>): Map<string, number> {
    const assumed = this.byOwner.get(owner);
    const max = new Map<string, number>();
    for (const [hash, r] of byHash) {
      const mine = assumed?.get(objectKey(r));
      const value = mine !== undefined && olderThan(r.metadata?.resourceVersion, mine.written) ? mine.maxReplicas : recordedMaxReplicas(r);
      if (value !== undefined) {
        max.set(hash, value);
      }
    }
    return max;
  }

  forget(owner: string): void {
    this.byOwner.delete(owner);
  }
}
