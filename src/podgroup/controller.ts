// Doing: the PodGroup reconciler. It reads the caches, lets the pure modules decide (claim,
// revisions, plan, status, rollback), and applies their decisions through PodGroupControl:
// adopt/release pods and revisions, write ControllerRevisions and their desired pod counts,
// create (slow start) and delete pods under expectations, write status once.
import type * as k8s from '@kubernetes/client-node';
import {
  GROUP,
  KIND,
  PLURAL,
  podGroupKeyOf,
  podGroupOwnerOf,
  ROLLBACK_ANNOTATION,
  VERSION,
  withDefaults,
  type DefaultedPodGroup,
  type PodGroup,
} from '../api/podgroup.js';
import { Controller, type ReconcileContext, type Request, type Result } from '../runtime/controller.js';
import type { EventRecorder } from '../runtime/events.js';
import { errorMessage, ExpectedError, isConflict, isNamespaceTerminating, isNotFound } from '../runtime/kube-client.js';
import type { Manager } from '../runtime/manager.js';
import { controllerRevisionResource, customResource, podResource } from '../runtime/resources.js';
import { BY_NAMESPACE, BY_NAMESPACE_UNCONTROLLED, BY_NAMESPACED_CONTROLLER_UID, namespacedControllerUid, objectKey, type Reader } from '../runtime/store.js';
import { claimPods, claimRevisions, planPodClaim, planRevisionClaim, type ClaimDeps } from './claim.js';
import { KubePodGroupControl, type PodGroupControl } from './control.js';
import { AssumedSizes } from './assumed-sizes.js';
import { Expectations } from './expectations.js';
import { withKstatusConditions } from './kstatus.js';
import { registerPodGroupStateMetrics } from './state-exporter.js';
import { plan, type Plan } from './plan.js';
import { classify } from './pod-counts.js';
import { resolveFenceposts } from './rollout.js';
import { isActive, isFinished, isTerminating } from './pod-state.js';
import { podFromRevision } from './new-pod.js';
import {
  cachedCanonicalJson,
  canonicalJson,
  decidedNumber,
  decideUpdateRevision,
  recordReplicasPatch,
  revisionAnnotationOps,
  revisionContent,
  revisionData,
  revisionHashOf,
  revisionNumber,
  revisionsToPrune,
  sameContent,
  type RevisionData,
} from './revisions.js';
import { decideRollback } from './rollback.js';
import { matchesSelector } from './selector.js';
import { slowStartBatch } from './slow-start.js';
import { computeStatus, isRolloutComplete, REASON, revisionCreateFailed, statusEvents, type StatusInput } from './status.js';
import { WrittenStatuses } from './written-status.js';

export const CONTROLLER_NAME = 'podgroup';

export interface PodGroupControllerOptions {
  workers: number;
  /** Set on created pods whose template names no scheduler. */
  schedulerName?: string;
  /** At most this many creates or deletes per sync (KCM's burstReplicas). */
  burstReplicas?: number;
}

export interface PodGroupCaches {
  podGroups: Reader<PodGroup>;
  pods: Reader<k8s.V1Pod>;
  revisions: Reader<k8s.V1ControllerRevision>;
}

type ReplicaFailure = StatusInput['replicaFailure'];

export class PodGroupReconciler {
  readonly expectations = new Expectations();
  private readonly writtenStatuses = new WrittenStatuses();
  private readonly assumedSizes = new AssumedSizes();
  private readonly burst: number;

  constructor(
    private readonly caches: PodGroupCaches,
    private readonly control: PodGroupControl,
    private readonly events: EventRecorder,
    private readonly options: PodGroupControllerOptions,
    private readonly clock: () => number = Date.now,
  ) {
    this.burst = options.burstReplicas ?? 500;
  }

  async reconcile(request: Request, ctx: ReconcileContext): Promise<Result | undefined> {
    const key = `${request.namespace}/${request.name}`;
    const cached = this.caches.podGroups.get(key);
    if (cached === undefined) {
      this.expectations.forget(key);
      this.writtenStatuses.forget(key);
      this.assumedSizes.forget(key);
      return undefined;
    }
    if (cached.metadata?.deletionTimestamp != null) {
      // Garbage collection removes the pods and revisions through their owner references.
      return undefined;
    }
    const pg = withDefaults(cached);
    const deps: ClaimDeps = { control: this.control, events: this.events, log: ctx.log };
    const namespace = pg.metadata?.namespace ?? '';
    const revisions = await claimRevisions(
      deps,
      pg,
      planRevisionClaim(
        pg,
        this.caches.revisions.byIndex(BY_NAMESPACED_CONTROLLER_UID, ownedKey(pg)),
        this.caches.revisions.byIndex(BY_NAMESPACE_UNCONTROLLED, namespace),
      ),
    );
    // As syncDeployment: a paused PodGroup only scales; a rollback waits for the resume.
    if (pg.metadata?.annotations?.[ROLLBACK_ANNOTATION] !== undefined && pg.spec.paused !== true) {
      await this.rollback(pg, revisions, ctx);
      return undefined;
    }
    const revisionState = await this.syncRevisions(pg, revisions, ctx);
    if (revisionState === 'collision') {
      return { requeue: true };
    }
    const { updateHash, updateNumber, revisionCreated, contents } = revisionState;
    const byHash = new Map<string, k8s.V1ControllerRevision>();
    for (const r of [...revisions, ...(revisionState.updateRevision === undefined ? [] : [revisionState.updateRevision])]) {
      byHash.set(revisionHashOf(r) ?? '', r);
    }
    // Pods are claimed once the revisions are known, the one just created included: an orphan
    // of its template is adopted at once, as a new ReplicaSet adopts it.
    const pods = await claimPods(
      deps,
      pg,
      planPodClaim(
        pg,
        this.caches.pods.byIndex(BY_NAMESPACED_CONTROLLER_UID, ownedKey(pg)),
        this.caches.pods.byIndex(BY_NAMESPACE_UNCONTROLLED, namespace),
        new Set(byHash.keys()),
      ),
    );
    const now = this.clock();
    // Plan and status count the same pods.
    const counts = classify(pods, updateHash);

    let failure: ReplicaFailure;
    let planRecheck: number | undefined;
    let sizedFor = pg.status?.sizedForReplicas;
    let desiredSizes: ReadonlyMap<string, number> = this.assumedSizes.sizes(key, byHash);
    if (this.expectations.satisfied(key)) {
      const desired = desiredSizes;
      const decided = plan(
        {
          spec: pg.spec,
          pods,
          updateHash,
          desired,
          sizedFor,
          previousReplicas: pg.status?.replicas ?? 0,
          maxReplicas: this.assumedSizes.maxReplicas(key, byHash),
          revisionCreated: new Map(
            [...byHash].map(([hash, r]) => [hash, r.metadata?.creationTimestamp === undefined ? now : new Date(r.metadata.creationTimestamp).getTime()]),
          ),
          now,
        },
        counts,
      );
      planRecheck = decided.recheckAfterMs;
      sizedFor = pg.spec.replicas;
      desiredSizes = decided.sizes;
      await this.recordSizes(key, decided.sizes, desired, byHash, pods, pg.spec.replicas + resolveFenceposts(pg.spec, pg.spec.replicas).maxSurge);
      failure = await this.apply(key, pg, decided, contents, ctx);
    } else {
      ctx.log.debug('waiting for expectations', { pending: this.expectations.pending(key) });
    }

    // The status describes the pods as this sync found them (adoptions included); what it did
    // shows in the next one, as a Deployment's status lags its ReplicaSets'. Counting pods
    // created in this very sync would hide that progress from the next one.
    const { status, recheckAfterMs } = computeStatus(
      {
        pg,
        pods,
        updateHash,
        collisionCount: pg.status?.collisionCount ?? 0,
        replicaFailure: failure,
        sizedForReplicas: sizedFor,
        revisionCreated,
        desiredSizes,
        now,
      },
      counts,
    );
    await this.writeStatus(pg, withKstatusConditions(pg.spec, status, now), ctx);
    if (updateNumber !== undefined) {
      await this.recordRevisionNumber(pg, updateNumber);
    }
    // Old revisions are cleaned up only once the last status showed a complete rollout of this
    // generation, or while paused (Deployment's DeploymentComplete(d, &d.Status) / sync()).
    if (wasComplete(pg) || pg.spec.paused === true) {
      const wanted = [...this.assumedSizes.sizes(key, byHash)].filter(([, size]) => size > 0).map(([hash]) => hash);
      await this.pruneRevisions(pg, revisions, updateHash, wanted, ctx);
    }

    if (failure !== undefined) {
      // The status says why; the throw makes the queue retry with backoff.
      throw new ExpectedError(`${failure.reason}: ${failure.message}`);
    }
    const delays = [planRecheck, recheckAfterMs].filter((d): d is number => d !== undefined && d > 0);
    return delays.length > 0 ? { requeueAfterMs: Math.min(...delays) + 50 } : undefined;
  }

  private async syncRevisions(
    pg: DefaultedPodGroup,
    owned: k8s.V1ControllerRevision[],
    ctx: ReconcileContext,
  ): Promise<
    | 'collision'
    | { updateHash: string; updateRevision?: k8s.V1ControllerRevision; updateNumber?: number; revisionCreated: boolean; contents: Map<string, RevisionData> }
  > {
    const collisionCount = pg.status?.collisionCount ?? 0;
    const decision = decideUpdateRevision(pg, owned, collisionCount);
    const contents = new Map<string, RevisionData>();
    for (const r of owned) {
      const data = revisionData(r);
      const hash = revisionHashOf(r);
      if (data !== undefined && hash !== undefined) {
        contents.set(hash, data);
      }
    }
    let revisionCreated = false;
    let updateRevision: k8s.V1ControllerRevision | undefined = decision.kind === 'create' ? undefined : decision.revision;
    // As getAllReplicaSetsAndSyncRevision(createIfNotExisted=false): no new revision while paused.
    if (decision.kind === 'create' && pg.spec.paused !== true) {
      try {
        updateRevision = await this.control.createRevision(decision.revision);
        revisionCreated = true;
        this.events.event(pg, 'Normal', 'RevisionCreated', `Created revision ${decision.revision.metadata?.name} (revision ${decision.revision.revision})`);
      } catch (err) {
        if (!isConflict(err)) {
          await this.reportRevisionCreateError(pg, decision.revision.metadata?.name ?? '', err, ctx);
          throw err;
        }
        // As getNewReplicaSet: an existing object of that name is fine only if it is ours and equal.
        const existing = await this.control.readRevision(pg.metadata?.namespace ?? '', decision.revision.metadata?.name ?? '');
        const ours = podGroupOwnerOf(existing)?.uid === pg.metadata?.uid;
        if (!ours || !sameContent(revisionData(existing), revisionContent(pg.spec))) {
          await this.control.patchPodGroupStatus(pg, { collisionCount: collisionCount + 1 });
          ctx.log.info('revision hash collision', { revision: decision.revision.metadata?.name, collisionCount: collisionCount + 1 });
          return 'collision';
        }
        updateRevision = existing;
      }
    } else if (decision.kind !== 'create' && decision.patch !== undefined) {
      await this.control.patchRevision(decision.revision, decision.patch);
      if (decision.kind === 'renumber') {
        this.events.event(
          pg,
          'Normal',
          'RevisionReused',
          `Template equals revision ${decision.revision.metadata?.name}; it is now revision ${decision.number}`,
        );
      }
    }
    contents.set(decision.hash, revisionContent(pg.spec));
    // While paused before the update revision exists, the number stays the last one's (as a Deployment's).
    const updateNumber = updateRevision === undefined ? undefined : decision.kind === 'create' ? revisionNumber(updateRevision) : decidedNumber(decision);
    return {
      updateHash: decision.hash,
      ...(updateRevision === undefined ? {} : { updateRevision }),
      ...(updateNumber === undefined ? {} : { updateNumber }),
      revisionCreated,
      contents,
    };
  }

  /** The update revision's number onto the PodGroup (revisionAnnotationOps); a PodGroup deleted meanwhile needs none. */
  private async recordRevisionNumber(pg: PodGroup, number: number): Promise<void> {
    const ops = revisionAnnotationOps(pg, number);
    if (ops.length === 0) {
      return;
    }
    try {
      await this.control.jsonPatchPodGroup(pg, ops);
    } catch (err) {
      if (!isNotFound(err)) {
        throw err;
      }
    }
  }

  /**
   * A refused revision create, as getNewReplicaSet reports a refused ReplicaSet create: a
   * Warning event and Progressing=False/ReplicaSetCreateError written at once (the sync stops
   * here and is retried with backoff).
   */
  private async reportRevisionCreateError(pg: DefaultedPodGroup, revisionName: string, err: unknown, ctx: ReconcileContext): Promise<void> {
    const message = errorMessage(err);
    if (isNamespaceTerminating(err)) {
      return;
    }
    const conditions = revisionCreateFailed(pg, revisionName, message, this.clock());
    if (conditions !== undefined) {
      try {
        await this.control.patchPodGroupStatus(pg, { conditions });
      } catch (patchErr) {
        if (!isConflict(patchErr) && !isNotFound(patchErr)) {
          throw patchErr;
        }
        ctx.log.debug('status not written: the PodGroup changed meanwhile');
      }
    }
    this.events.event(pg, 'Warning', REASON.revisionCreateError, `Failed to create new revision ${JSON.stringify(revisionName)}: ${message}`);
  }

  /**
   * Writes the desired counts that changed onto their revisions (as the Deployment controller
   * scales ReplicaSets) before any pod is created or deleted for them. A revision that never
   * had a count and has no pods keeps none: it is 0 either way.
   */
  private async recordSizes(
    key: string,
    sizes: ReadonlyMap<string, number>,
    recorded: ReadonlyMap<string, number>,
    byHash: ReadonlyMap<string, k8s.V1ControllerRevision>,
    pods: k8s.V1Pod[],
    maxReplicas: number,
  ): Promise<void> {
    const withPods = new Set(pods.map((p) => revisionHashOf(p) ?? ''));
    for (const [hash, size] of sizes) {
      const revision = byHash.get(hash);
      const before = recorded.get(hash);
      if (revision === undefined || before === size || (before === undefined && size === 0 && !withPods.has(hash))) {
        continue;
      }
      let written: k8s.V1ControllerRevision;
      try {
        written = await this.control.patchRevision(revision, recordReplicasPatch(size, maxReplicas));
      } catch (err) {
        if (isNotFound(err)) {
          continue; // deleted meanwhile: its pods are sized by what exists
        }
        throw err;
      }
      this.assumedSizes.assume(key, revision, written.metadata?.resourceVersion, size, maxReplicas);
    }
  }

  /**
   * Deletes and creates (per revision, slow start) at once, waits for every outcome, and
   * returns the first refusal to report. Nothing is left unawaited: a refused delete is a
   * reported failure and a retry, never an unhandled rejection.
   */
  private async apply(key: string, pg: PodGroup, decided: Plan, contents: Map<string, RevisionData>, ctx: ReconcileContext): Promise<ReplicaFailure> {
    let budget = this.burst;
    const creations = decided.create.map((c) => {
      const count = Math.min(c.count, budget);
      budget -= count;
      return { ...c, count };
    });
    const deletes = decided.delete.slice(0, this.burst);
    const createTotal = creations.reduce((n, c) => n + c.count, 0);
    if (createTotal === 0 && deletes.length === 0) {
      return undefined;
    }
    this.expectations.expect(
      key,
      createTotal,
      deletes.map((d) => objectKey(d.pod)),
    );
    const namespace = pg.metadata?.namespace ?? '';

    const deleting = Promise.allSettled(deletes.map((d) => this.control.deletePod(d.pod)));
    let createFailure: string | undefined;
    for (const creation of creations) {
      const content = contents.get(creation.hash);
      if (content === undefined || creation.count === 0) {
        this.expectations.lowerAdds(key, creation.count);
        continue;
      }
      const result = await slowStartBatch(creation.count, 1, () =>
        this.control.createPod(namespace, podFromRevision(pg, content, creation.hash, this.options.schedulerName)),
      );
      // Creates that failed or were never attempted will never be observed.
      this.expectations.lowerAdds(key, result.failed.length + result.skipped);
      const reportable = result.failed.filter((err) => !isNamespaceTerminating(err));
      if (reportable.length > 0) {
        createFailure ??= errorMessage(reportable[0]);
      }
      if (result.succeeded.length > 0) {
        const names = result.succeeded.map((p) => p.metadata?.name ?? '');
        this.events.event(
          pg,
          'Normal',
          'SuccessfulCreate',
          `Created ${names.length} pod(s) of revision ${pg.metadata?.name}-${creation.hash}: ${summarize(names)}`,
        );
        ctx.log.info('created pods', { count: names.length, revision: creation.hash });
      }
      if (result.failed.length > 0 && reportable.length === 0) {
        // As KCM does: the namespace is going away with everything in it; nothing to report or retry.
        break;
      }
    }
    if (createFailure !== undefined) {
      this.events.event(pg, 'Warning', 'FailedCreate', `Error creating pod: ${createFailure}`);
    }

    const outcomes = await deleting;
    const deleted = new Map<string, string[]>();
    let deleteFailure: string | undefined;
    outcomes.forEach((outcome, i) => {
      const d = deletes[i];
      if (d === undefined) {
        return;
      }
      const name = d.pod.metadata?.name ?? '';
      if (outcome.status === 'fulfilled') {
        deleted.set(d.reason, [...(deleted.get(d.reason) ?? []), name]);
        return;
      }
      // Not deleted by us: nothing to wait for.
      this.expectations.deletionObserved(key, objectKey(d.pod));
      if (isNotFound(outcome.reason) || isConflict(outcome.reason)) {
        return; // gone already, or replaced by another pod of the same name
      }
      const message = errorMessage(outcome.reason);
      deleteFailure ??= message;
      this.events.event(pg, 'Warning', 'FailedDelete', `Error deleting pod ${name}: ${message}`);
    });
    for (const [reason, names] of deleted) {
      this.events.event(pg, 'Normal', 'SuccessfulDelete', `Deleted ${names.length} pod(s) (${reason}): ${summarize(names)}`);
      ctx.log.info('deleted pods', { count: names.length, reason });
    }
    if (createFailure !== undefined) {
      return { reason: REASON.failedCreate, message: createFailure };
    }
    return deleteFailure === undefined ? undefined : { reason: REASON.failedDelete, message: deleteFailure };
  }

  private async writeStatus(pg: PodGroup, status: NonNullable<PodGroup['status']>, ctx: ReconcileContext): Promise<void> {
    const key = objectKey(pg);
    const json = canonicalJson(status);
    // Skip when unchanged, or when we already wrote exactly this and the cache has not caught up.
    if (
      json === (pg.status === undefined ? '{}' : cachedCanonicalJson(pg.status)) ||
      this.writtenStatuses.alreadyWritten(key, pg.metadata?.resourceVersion, json)
    ) {
      return;
    }
    try {
      await this.control.patchPodGroupStatus(pg, status);
      this.writtenStatuses.wrote(key, pg.metadata?.resourceVersion, json);
    } catch (err) {
      if (isConflict(err)) {
        // Computed from a stale copy; the newer one is on its way through the informer and syncs again.
        ctx.log.debug('status not written: the PodGroup changed meanwhile');
        return;
      }
      if (!isNotFound(err)) {
        throw err;
      }
      ctx.log.debug('PodGroup deleted before its status was written');
      return;
    }
    for (const e of statusEvents(pg.status?.conditions ?? [], status.conditions ?? [])) {
      this.events.event(pg, e.type, e.reason, e.message);
    }
  }

  private async rollback(pg: PodGroup, revisions: k8s.V1ControllerRevision[], ctx: ReconcileContext): Promise<void> {
    const decision = decideRollback(pg, revisions);
    await this.control.jsonPatchPodGroup(pg, [{ op: 'test', path: '/metadata/resourceVersion', value: pg.metadata?.resourceVersion }, ...decision.ops]);
    this.events.event(pg, decision.event.type, decision.event.reason, decision.event.message);
    ctx.log.info('rollback', { requested: pg.metadata?.annotations?.[ROLLBACK_ANNOTATION], outcome: decision.event.reason });
  }

  /**
   * Prunes old revisions beyond the history limit (revisionsToPrune), and with each its finished
   * pods, as the garbage collector removes a pruned ReplicaSet's pods. Busy: active pods use it or
   * it wants pods (`wanted`); pods that are only terminating do not keep it, as they do not count
   * in a ReplicaSet's status.replicas.
   */
  private async pruneRevisions(
    pg: DefaultedPodGroup,
    owned: k8s.V1ControllerRevision[],
    updateHash: string,
    wanted: string[],
    ctx: ReconcileContext,
  ): Promise<void> {
    const pods = this.caches.pods.byIndex(BY_NAMESPACED_CONTROLLER_UID, ownedKey(pg));
    const busy = new Set([...pods.filter(isActive).map((p) => revisionHashOf(p) ?? ''), ...wanted]);
    for (const r of revisionsToPrune(owned, updateHash, busy, pg.spec.revisionHistoryLimit)) {
      try {
        await this.control.deleteRevision(r);
        ctx.log.info('pruned revision', { revision: r.metadata?.name });
      } catch (err) {
        if (!isNotFound(err)) {
          throw err;
        }
      }
      const finished = pods.filter((p) => isFinished(p) && !isTerminating(p) && revisionHashOf(p) === revisionHashOf(r));
      for (const outcome of await Promise.allSettled(finished.map((p) => this.control.deletePod(p)))) {
        if (outcome.status === 'rejected' && !isNotFound(outcome.reason)) {
          throw outcome.reason;
        }
      }
    }
  }
}

/** Where the PodGroup's own pods and revisions are indexed: its namespace and UID. */
const ownedKey = (pg: PodGroup): string => namespacedControllerUid(pg.metadata?.namespace ?? '', pg.metadata?.uid ?? '');

/** Whether the last status written showed this generation's rollout complete. */
function wasComplete(pg: DefaultedPodGroup): boolean {
  const s = pg.status;
  return (
    s !== undefined &&
    isRolloutComplete(pg.spec.replicas, { replicas: s.replicas, updated: s.updatedReplicas, available: s.availableReplicas }) &&
    (s.observedGeneration ?? 0) >= (pg.metadata?.generation ?? 0)
  );
}

function summarize(names: string[]): string {
  return names.length <= 5 ? names.join(', ') : `${names.slice(0, 5).join(', ')} and ${names.length - 5} more`;
}

/** Wires the PodGroup controller into a manager: informers, event mapping, expectations. */
export function setupPodGroupController(manager: Manager, options: PodGroupControllerOptions): { controller: Controller; reconciler: PodGroupReconciler } {
  const podGroups = manager.informers.for(customResource<PodGroup>(manager.clients, { group: GROUP, version: VERSION, plural: PLURAL, kind: KIND }));
  const pods = manager.informers.for(podResource(manager.clients));
  const revisions = manager.informers.for(controllerRevisionResource(manager.clients), { labelSelector: `${GROUP}/name` });
  const reconciler = new PodGroupReconciler(
    { podGroups: podGroups.store, pods: pods.store, revisions: revisions.store },
    new KubePodGroupControl(manager.clients, manager.log),
    manager.events,
    options,
  );
  const controller = new Controller(CONTROLLER_NAME, reconciler, { maxConcurrentReconciles: options.workers, logger: manager.log });

  // Orphans: every PodGroup in the namespace whose selector matches may adopt them.
  const keysFor = (obj: k8s.KubernetesObject): string[] => {
    const owner = podGroupKeyOf(obj);
    if (owner !== undefined) {
      return [owner];
    }
    if (obj.metadata?.ownerReferences?.some((r) => r.controller === true)) {
      return [];
    }
    return podGroups.store
      .byIndex(BY_NAMESPACE, obj.metadata?.namespace ?? '')
      .filter((pg) => matchesSelector(pg.spec.selector, obj.metadata?.labels))
      .map(objectKey);
  };

  // Expectations first, so the reconcile these events trigger sees them observed.
  pods.addEventHandler({
    onAdd: (pod) => {
      const owner = podGroupKeyOf(pod);
      if (owner !== undefined) {
        reconciler.expectations.creationObserved(owner);
      }
    },
    onUpdate: (oldPod, pod) => {
      const owner = podGroupKeyOf(pod);
      if (owner !== undefined && !isTerminating(oldPod) && isTerminating(pod)) {
        reconciler.expectations.deletionObserved(owner, objectKey(pod));
      }
    },
    onDelete: (pod) => {
      const owner = podGroupKeyOf(pod);
      if (owner !== undefined) {
        reconciler.expectations.deletionObserved(owner, objectKey(pod));
      }
    },
  });
  controller.watchFor(podGroups).watches(pods, keysFor).watches(revisions, keysFor);
  manager.addController(controller);
  registerPodGroupStateMetrics({ store: podGroups.store, isLeader: () => manager.isLeader() });
  return { controller, reconciler };
}
