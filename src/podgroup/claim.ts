// Claiming (KCM's ControllerRefManager): a PodGroup owns the pods and ControllerRevisions its
// selector matches. It adopts matching orphans and releases what it controls but no longer
// matches. Revisions are adopted by the selector alone (StatefulSet's adoptOrphanRevisions /
// ClaimControllerRevisions); pods only when their revision hash names one of the PodGroup's
// revisions, as a Deployment's ReplicaSets select on pod-template-hash: a bare pod that merely
// carries the selector's labels (kubectl run --labels, a Helm test hook) is never taken over.
// Only objects in the PodGroup's own namespace are looked at (owner references never cross
// namespaces). Deciding is pure (planClaim); doing goes through PodGroupControl.
import type * as k8s from '@kubernetes/client-node';
import type { PodGroup } from '../api/podgroup.js';
import type { EventRecorder } from '../runtime/events.js';
import { isConflict, isNotFound } from '../runtime/kube-client.js';
import type { Logger } from '../runtime/logging.js';
import type { PodGroupControl } from './control.js';
import { controllerRef, revisionHashOf } from './revisions.js';
import { matchesSelector } from './selector.js';

export interface ClaimPlan<T> {
  /** Controlled and still matching. */
  owned: T[];
  adopt: T[];
  release: T[];
}

/** Which of the controlled objects to keep or release, and which orphans to adopt. */
export function planClaim<T extends k8s.KubernetesObject>(
  selector: k8s.V1LabelSelector,
  controlled: T[],
  orphans: T[],
  adoptable: (obj: T) => boolean = () => true,
): ClaimPlan<T> {
  const matches = (obj: T): boolean => matchesSelector(selector, obj.metadata?.labels);
  return {
    owned: controlled.filter(matches),
    release: controlled.filter((o) => !matches(o)),
    adopt: orphans.filter((o) => matches(o) && o.metadata?.deletionTimestamp == null && adoptable(o)),
  };
}

/** Owner references never cross namespaces: an object elsewhere that names the PodGroup is not its. */
const inNamespaceOf =
  (pg: PodGroup) =>
  (obj: k8s.KubernetesObject): boolean =>
    obj.metadata?.namespace === pg.metadata?.namespace;

/**
 * Pods: only orphans of one of the PodGroup's revisions (`revisionHashes`) are adopted. A
 * finished orphan of its own revision is adopted too: it is kept, never deleted, and goes with
 * its revision, as a Deployment's finished pods stay with their ReplicaSet through an orphaning
 * delete and re-apply.
 */
export const planPodClaim = (pg: PodGroup, controlled: k8s.V1Pod[], orphans: k8s.V1Pod[], revisionHashes: ReadonlySet<string>): ClaimPlan<k8s.V1Pod> =>
  planClaim(pg.spec.selector, controlled.filter(inNamespaceOf(pg)), orphans.filter(inNamespaceOf(pg)), (pod) => {
    const hash = revisionHashOf(pod);
    return hash !== undefined && revisionHashes.has(hash);
  });

/** Revisions being deleted are neither kept nor adopted: no template is served from one. */
export const planRevisionClaim = (
  pg: PodGroup,
  controlled: k8s.V1ControllerRevision[],
  orphans: k8s.V1ControllerRevision[],
): ClaimPlan<k8s.V1ControllerRevision> =>
  planClaim(
    pg.spec.selector,
    controlled.filter((r) => inNamespaceOf(pg)(r) && r.metadata?.deletionTimestamp == null),
    orphans.filter(inNamespaceOf(pg)),
  );

export interface ClaimDeps {
  control: PodGroupControl;
  events: EventRecorder;
  log: Logger;
}

// Strategic merge patches for pods (merge by owner UID); the UID makes them fail on a replaced object.
const adoptPatch = (pg: PodGroup, obj: k8s.KubernetesObject): object => ({ metadata: { ownerReferences: [controllerRef(pg)], uid: obj.metadata?.uid } });
const releasePatch = (pg: PodGroup, obj: k8s.KubernetesObject): object => ({
  metadata: { ownerReferences: [{ $patch: 'delete', uid: pg.metadata?.uid }], uid: obj.metadata?.uid },
});
// JSON merge patches for revisions (the whole list; resourceVersion makes them fail on a changed object).
const ownersPatch = (obj: k8s.KubernetesObject, ownerReferences: k8s.V1OwnerReference[]): object => ({
  metadata: { ownerReferences, uid: obj.metadata?.uid, resourceVersion: obj.metadata?.resourceVersion },
});

/** Gone or changed meanwhile: skipped now, seen again on its next event. */
const skippable = (err: unknown): boolean => isNotFound(err) || isConflict(err);

/**
 * An uncached read: never adopt for a PodGroup that is being deleted or was replaced (the
 * recheck KCM's RecheckDeletionTimestamp does).
 */
async function stillCurrent(deps: ClaimDeps, pg: PodGroup): Promise<boolean> {
  try {
    const fresh = await deps.control.getPodGroup(pg.metadata?.namespace ?? '', pg.metadata?.name ?? '');
    return fresh.metadata?.uid === pg.metadata?.uid && fresh.metadata?.deletionTimestamp == null;
  } catch (err) {
    if (isNotFound(err)) {
      return false;
    }
    throw err;
  }
}

/**
 * How one kind of object is claimed (upstream's ClaimObject(match, adopt, release), the
 * matching done by planClaim): `adopt` writes the controller reference and returns the object
 * as owned; `release` removes it. `noun` names the kind in events and logs.
 */
interface ClaimOps<T extends k8s.KubernetesObject> {
  noun: 'pod' | 'revision';
  adopt(obj: T): Promise<T>;
  release(obj: T): Promise<void>;
}

/**
 * Applies a claim: releases first, then adopts (after an uncached recheck of the PodGroup);
 * objects gone or changed meanwhile are skipped and seen again on their next event. Returns the
 * objects the PodGroup owns afterwards.
 */
async function claim<T extends k8s.KubernetesObject>(deps: ClaimDeps, pg: PodGroup, plan: ClaimPlan<T>, ops: ClaimOps<T>): Promise<T[]> {
  const Noun = ops.noun === 'pod' ? 'Pod' : 'Revision';
  const owned = [...plan.owned];
  for (const obj of plan.release) {
    try {
      await ops.release(obj);
      deps.events.event(pg, 'Normal', `Released${Noun}`, `Released ${ops.noun} ${obj.metadata?.name}: its labels no longer match the selector`);
    } catch (err) {
      if (!skippable(err)) {
        throw err;
      }
    }
  }
  if (plan.adopt.length > 0 && (await stillCurrent(deps, pg))) {
    for (const obj of plan.adopt) {
      try {
        owned.push(await ops.adopt(obj));
        deps.events.event(pg, 'Normal', `Adopted${Noun}`, `Adopted orphan ${ops.noun} ${obj.metadata?.name}`);
      } catch (err) {
        if (!skippable(err)) {
          throw err;
        }
        deps.log.info(`could not adopt ${ops.noun} (gone or changed); will retry on its next event`, { [ops.noun]: obj.metadata?.name });
      }
    }
  }
  return owned;
}

/** Applies a pod claim (strategic merge patches); returns the pods the PodGroup owns afterwards. */
export const claimPods = (deps: ClaimDeps, pg: PodGroup, plan: ClaimPlan<k8s.V1Pod>): Promise<k8s.V1Pod[]> =>
  claim(deps, pg, plan, {
    noun: 'pod',
    adopt: async (pod) => {
      await deps.control.patchPod(pod, adoptPatch(pg, pod));
      return { ...pod, metadata: { ...pod.metadata, ownerReferences: [...(pod.metadata?.ownerReferences ?? []), controllerRef(pg)] } };
    },
    release: (pod) => deps.control.patchPod(pod, releasePatch(pg, pod)),
  });

/** Applies a revision claim (JSON merge patches of the whole list); returns the revisions the PodGroup owns afterwards. */
export const claimRevisions = (deps: ClaimDeps, pg: PodGroup, plan: ClaimPlan<k8s.V1ControllerRevision>): Promise<k8s.V1ControllerRevision[]> =>
  claim(deps, pg, plan, {
    noun: 'revision',
    adopt: (revision) => deps.control.patchRevision(revision, ownersPatch(revision, [...(revision.metadata?.ownerReferences ?? []), controllerRef(pg)])),
    release: async (revision) => {
      await deps.control.patchRevision(
        revision,
        ownersPatch(
          revision,
          (revision.metadata?.ownerReferences ?? []).filter((r) => r.uid !== pg.metadata?.uid),
        ),
      );
    },
  });
