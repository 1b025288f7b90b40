// Doing: the PodGroup reconciler. It reads the caches, lets the pure modules decide (revisions,
// plan, status), and applies their decisions through the API: adopt/release pods, write
// ControllerRevisions, create and delete pods (slow start, expectations), write status once.
import * as k8s from '@kubernetes/client-node';
import {
  API_VERSION,
  CONDITION_GANG_SCHEDULED,
  CONDITION_PROGRESSING,
  GROUP,
  KIND,
  PLURAL,
  ROLLBACK_ANNOTATION,
  VERSION,
  type PodGroup,
} from '../api/podgroup.js';
import { Controller, type ReconcileContext, type Request, type Result } from '../runtime/controller.js';
import type { EventRecorder } from '../runtime/events.js';
import type { Informer } from '../runtime/informer.js';
import { errorMessage, ExpectedError, isAlreadyExists, isConflict, isNamespaceTerminating, isNotFound, mergePatch, statusCode } from '../runtime/kube-client.js';
import type { Manager } from '../runtime/manager.js';
import { controllerRevisionResource, customResource, podResource } from '../runtime/resources.js';
import { BY_CONTROLLER_UID, BY_NAMESPACE, BY_NAMESPACE_UNCONTROLLED, objectKey } from '../runtime/store.js';
import { Expectations } from './expectations.js';
import { registerPodGroupStateMetrics } from './metrics.js';
import { plan, type PodDeletion } from './plan.js';
import { isTerminating } from './pod-state.js';
import { podFromTemplate } from './pods.js';
import {
  canonicalJson,
  controllerRef,
  decideUpdateRevision,
  revisionHashOf,
  revisionNumber,
  revisionsToPrune,
  revisionTemplate,
  rollbackChangeCauseOps,
  sameTemplate,
} from './revisions.js';
import { matchesSelector } from './selector.js';
import { computeStatus, REASON } from './status.js';

export const CONTROLLER_NAME = 'podgroup';

export interface PodGroupControllerOptions {
  workers: number;
  /** Set on created pods whose template names no scheduler. */
  schedulerName?: string;
  /** At most this many creates or deletes per sync (KCM's burstReplicas). */
  burstReplicas?: number;
}

const strategicMergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);
const OWNER = { apiVersion: API_VERSION, kind: KIND };

export class PodGroupReconciler {
  readonly expectations = new Expectations();
  /** The last status written per PodGroup and the resourceVersion it was computed from. */
  private readonly lastWritten = new Map<string, { basedOn: string | undefined; json: string }>();
  private readonly core: k8s.CoreV1Api;
  private readonly apps: k8s.AppsV1Api;
  private readonly custom: k8s.CustomObjectsApi;
  private readonly events: EventRecorder;
  private readonly burst: number;

  constructor(
    manager: Manager,
    private readonly podGroups: Informer<PodGroup>,
    private readonly pods: Informer<k8s.V1Pod>,
    private readonly revisions: Informer<k8s.V1ControllerRevision>,
    private readonly options: PodGroupControllerOptions,
  ) {
    this.core = manager.clients.api(k8s.CoreV1Api);
    this.apps = manager.clients.api(k8s.AppsV1Api);
    this.custom = manager.clients.api(k8s.CustomObjectsApi);
    this.events = manager.events;
    this.burst = options.burstReplicas ?? 500;
  }

  async reconcile(request: Request, ctx: ReconcileContext): Promise<Result | undefined> {
    const key = `${request.namespace}/${request.name}`;
    const cached = this.podGroups.store.get(key);
    if (cached === undefined) {
      this.expectations.forget(key);
      this.lastWritten.delete(key);
      return undefined;
    }
    if (cached.metadata?.deletionTimestamp != null) {
      // Garbage collection removes the pods and revisions through their owner references.
      return undefined;
    }
    const pg = withDefaults(cached);
    if (pg.metadata?.annotations?.[ROLLBACK_ANNOTATION] !== undefined) {
      await this.rollback(pg, ctx);
      return undefined;
    }

    const pods = await this.claimPods(pg, ctx);
    const revisionState = await this.syncRevisions(pg, ctx);
    if (revisionState === 'collision') {
      return { requeue: true };
    }
    const { updateHash, revisionCreated, templates } = revisionState;
    const now = Date.now();

    let createFailure: string | undefined;
    let planRecheck: number | undefined;
    if (this.expectations.satisfied(key)) {
      const stableHash = pg.status?.currentRevision !== undefined && templates.has(pg.status.currentRevision) ? pg.status.currentRevision : undefined;
      const decided = plan({ spec: pg.spec, pods, updateHash, stableHash, now });
      planRecheck = decided.recheckAfterMs;
      const template = templates.get(decided.createHash) ?? pg.spec.template;
      createFailure = await this.apply(key, pg, decided.create, decided.createHash, template, decided.delete, ctx);
    } else {
      ctx.log.debug('waiting for expectations', { pending: this.expectations.pending(key) });
    }

    const { status, recheckAfterMs } = computeStatus({
      pg,
      pods: this.ownedPods(pg),
      updateHash,
      collisionCount: pg.status?.collisionCount ?? 0,
      createFailure,
      revisionCreated,
      now,
    });
    await this.writeStatus(pg, status, ctx);
    await this.pruneRevisions(pg, updateHash, ctx);

    if (createFailure !== undefined) {
      // The status says why; the throw makes the queue retry with backoff.
      throw new ExpectedError(`creating pods failed: ${createFailure}`);
    }
    const delays = [planRecheck, recheckAfterMs].filter((d): d is number => d !== undefined && d > 0);
    return delays.length > 0 ? { requeueAfterMs: Math.min(...delays) + 50 } : undefined;
  }

  private ownedPods(pg: PodGroup): k8s.V1Pod[] {
    return this.pods.store.byIndex(BY_CONTROLLER_UID, pg.metadata?.uid ?? '');
  }

  /** Adopts matching orphans and releases owned pods that no longer match (KCM's ClaimPods). */
  private async claimPods(pg: PodGroup, ctx: ReconcileContext): Promise<k8s.V1Pod[]> {
    const uid = pg.metadata?.uid ?? '';
    const namespace = pg.metadata?.namespace ?? '';
    const owned: k8s.V1Pod[] = [];
    const orphans: k8s.V1Pod[] = [];
    const release: k8s.V1Pod[] = [];
    // Through the indexes: a reconcile costs O(own pods + orphans), not O(pods in the namespace).
    for (const pod of this.pods.store.byIndex(BY_CONTROLLER_UID, uid)) {
      (matchesSelector(pg.spec.selector, pod.metadata?.labels) ? owned : release).push(pod);
    }
    for (const pod of this.pods.store.byIndex(BY_NAMESPACE_UNCONTROLLED, namespace)) {
      if (matchesSelector(pg.spec.selector, pod.metadata?.labels) && !isTerminating(pod)) {
        orphans.push(pod);
      }
    }
    for (const pod of release) {
      await this.patchPod(pod, { metadata: { ownerReferences: [{ $patch: 'delete', uid }], uid: pod.metadata?.uid } }, ctx, 'release');
      this.events.event(pg, 'Normal', 'ReleasedPod', `Released pod ${pod.metadata?.name}: its labels no longer match the selector`);
    }
    if (orphans.length > 0 && (await this.stillCurrent(pg))) {
      for (const pod of orphans) {
        if (await this.patchPod(pod, { metadata: { ownerReferences: [controllerRef(pg)], uid: pod.metadata?.uid } }, ctx, 'adopt')) {
          owned.push(pod);
          this.events.event(pg, 'Normal', 'AdoptedPod', `Adopted orphan pod ${pod.metadata?.name}`);
        }
      }
    }
    return owned;
  }

  /** An uncached read: never adopt for a PodGroup that is being deleted or was replaced. */
  private async stillCurrent(pg: PodGroup): Promise<boolean> {
    try {
      const fresh = (await this.custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: pg.metadata?.namespace ?? '',
        plural: PLURAL,
        name: pg.metadata?.name ?? '',
      })) as PodGroup;
      return fresh.metadata?.uid === pg.metadata?.uid && fresh.metadata?.deletionTimestamp == null;
    } catch (err) {
      if (isNotFound(err)) {
        return false;
      }
      throw err;
    }
  }

  private async patchPod(pod: k8s.V1Pod, body: object, ctx: ReconcileContext, what: string): Promise<boolean> {
    try {
      await this.core.patchNamespacedPod({ name: pod.metadata?.name ?? '', namespace: pod.metadata?.namespace ?? '', body }, strategicMergePatch);
      return true;
    } catch (err) {
      if (isNotFound(err) || isConflict(err)) {
        ctx.log.info(`could not ${what} pod (gone or changed); will retry on the next event`, { pod: pod.metadata?.name });
        return false;
      }
      throw err;
    }
  }

  private async syncRevisions(
    pg: PodGroup,
    ctx: ReconcileContext,
  ): Promise<'collision' | { updateHash: string; revisionCreated: boolean; templates: Map<string, k8s.V1PodTemplateSpec> }> {
    const owned = this.revisions.store.byIndex(BY_CONTROLLER_UID, pg.metadata?.uid ?? '');
    const collisionCount = pg.status?.collisionCount ?? 0;
    const decision = decideUpdateRevision(pg, owned, collisionCount);
    const templates = new Map<string, k8s.V1PodTemplateSpec>();
    for (const r of owned) {
      const t = revisionTemplate(r);
      const h = revisionHashOf(r);
      if (t !== undefined && h !== undefined) {
        templates.set(h, t);
      }
    }
    let revisionCreated = false;
    const namespace = pg.metadata?.namespace ?? '';
    if (decision.kind === 'create') {
      try {
        await this.apps.createNamespacedControllerRevision({ namespace, body: decision.revision });
        revisionCreated = true;
        this.events.event(pg, 'Normal', 'RevisionCreated', `Created revision ${decision.revision.metadata?.name} (revision ${decision.revision.revision})`);
      } catch (err) {
        if (!isConflict(err)) {
          throw err;
        }
        const existing = await this.apps.readNamespacedControllerRevision({ name: decision.revision.metadata?.name ?? '', namespace });
        const ours = existing.metadata?.ownerReferences?.some((r) => r.uid === pg.metadata?.uid) ?? false;
        if (!ours || !sameTemplate(revisionTemplate(existing), pg.spec.template)) {
          // A different template hashed to the same name: count the collision and rehash.
          await this.custom.patchNamespacedCustomObjectStatus(
            { group: GROUP, version: VERSION, namespace, plural: PLURAL, name: pg.metadata?.name ?? '', body: { status: { collisionCount: collisionCount + 1 } } },
            mergePatch,
          );
          ctx.log.info('revision hash collision', { revision: decision.revision.metadata?.name, collisionCount: collisionCount + 1 });
          return 'collision';
        }
      }
    } else if (decision.patch !== undefined) {
      await this.apps.patchNamespacedControllerRevision({ name: decision.revision.metadata?.name ?? '', namespace, body: decision.patch }, mergePatch);
      if (decision.kind === 'renumber') {
        this.events.event(pg, 'Normal', 'RevisionReused', `Template equals revision ${decision.revision.metadata?.name}; it is now revision ${decision.number}`);
      }
    }
    templates.set(decision.hash, pg.spec.template);
    return { updateHash: decision.hash, revisionCreated, templates };
  }

  /** Creates (slow start: 1, 2, 4, … stopping at the first error) and deletes; returns a create failure. */
  private async apply(
    key: string,
    pg: PodGroup,
    createCount: number,
    hash: string,
    template: k8s.V1PodTemplateSpec,
    deletions: PodDeletion[],
    ctx: ReconcileContext,
  ): Promise<string | undefined> {
    const creates = Math.min(createCount, this.burst);
    const deletes = deletions.slice(0, this.burst);
    if (creates === 0 && deletes.length === 0) {
      return undefined;
    }
    this.expectations.expect(key, creates, deletes.map((d) => objectKey(d.pod)));
    const namespace = pg.metadata?.namespace ?? '';

    const deleting = Promise.all(deletes.map((d) => this.deletePod(key, pg, d, ctx))).then((results) => {
      const byReason = new Map<string, string[]>();
      deletes.forEach((d, i) => {
        if (results[i] === true) {
          byReason.set(d.reason, [...(byReason.get(d.reason) ?? []), d.pod.metadata?.name ?? '']);
        }
      });
      for (const [reason, names] of byReason) {
        this.events.event(pg, 'Normal', 'SuccessfulDelete', `Deleted ${names.length} pod(s) (${reason}): ${summarize(names)}`);
      }
    });

    let failure: string | undefined;
    const created: string[] = [];
    let remaining = creates;
    let terminating = false;
    for (let batch = 1; remaining > 0 && failure === undefined && !terminating; batch *= 2) {
      const size = Math.min(batch, remaining);
      remaining -= size;
      const results = await Promise.allSettled(
        Array.from({ length: size }, () => this.createPod(namespace, podFromTemplate(pg, template, hash, this.options.schedulerName), ctx)),
      );
      for (const r of results) {
        if (r.status === 'fulfilled') {
          created.push(r.value.metadata?.name ?? '');
        } else {
          this.expectations.lowerAdds(key, 1);
          if (isNamespaceTerminating(r.reason)) {
            // As KCM does: the namespace is going away with everything in it; nothing to report or retry.
            terminating = true;
            continue;
          }
          failure ??= errorMessage(r.reason);
        }
      }
    }
    // Creates never attempted will never be observed.
    this.expectations.lowerAdds(key, remaining);
    if (created.length > 0) {
      this.events.event(pg, 'Normal', 'SuccessfulCreate', `Created ${created.length} pod(s) of revision ${pg.metadata?.name}-${hash}: ${summarize(created)}`);
      ctx.log.info('created pods', { count: created.length, revision: hash });
    }
    if (failure !== undefined) {
      this.events.event(pg, 'Warning', 'FailedCreate', `Error creating pod: ${failure}`);
    }
    await deleting;
    return failure;
  }

  /**
   * Creates a pod. When no answer came back (the connection broke), the pod may exist: the same
   * create is sent once more, and AlreadyExists then means the first attempt worked. Counting it
   * as failed instead would lower expectations for a pod that will still show up, and the next
   * sync would create one too many (past maxSurge during a rollout).
   */
  private async createPod(namespace: string, body: k8s.V1Pod, ctx: ReconcileContext): Promise<k8s.V1Pod> {
    try {
      return await this.core.createNamespacedPod({ namespace, body });
    } catch (err) {
      if (statusCode(err) !== undefined) {
        throw err;
      }
      ctx.log.info('pod create got no answer; sending it again', { pod: body.metadata?.name, error: errorMessage(err) });
      try {
        return await this.core.createNamespacedPod({ namespace, body });
      } catch (again) {
        if (isAlreadyExists(again)) {
          return body;
        }
        throw again;
      }
    }
  }

  /** True when this call deleted the pod. */
  private async deletePod(key: string, pg: PodGroup, deletion: PodDeletion, ctx: ReconcileContext): Promise<boolean> {
    const pod = deletion.pod;
    try {
      await this.core.deleteNamespacedPod({
        name: pod.metadata?.name ?? '',
        namespace: pod.metadata?.namespace ?? '',
        body: { preconditions: { uid: pod.metadata?.uid } },
      });
      ctx.log.info('deleted pod', { pod: pod.metadata?.name, reason: deletion.reason });
      return true;
    } catch (err) {
      // Gone already, or replaced by another pod of the same name: nothing to wait for.
      this.expectations.deletionObserved(key, objectKey(pod));
      if (!isNotFound(err) && !isConflict(err)) {
        this.events.event(pg, 'Warning', 'FailedDelete', `Error deleting pod ${pod.metadata?.name}: ${errorMessage(err)}`);
        throw err;
      }
      return false;
    }
  }

  private async writeStatus(pg: PodGroup, status: NonNullable<PodGroup['status']>, ctx: ReconcileContext): Promise<void> {
    const key = objectKey(pg);
    const json = canonicalJson(status);
    const last = this.lastWritten.get(key);
    // Skip when unchanged, or when we already wrote exactly this and the cache has not caught up.
    if (json === canonicalJson(pg.status ?? {}) || (last?.basedOn === pg.metadata?.resourceVersion && last?.json === json)) {
      return;
    }
    this.statusEvents(pg, status);
    try {
      await this.custom.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, namespace: pg.metadata?.namespace ?? '', plural: PLURAL, name: pg.metadata?.name ?? '', body: { status } },
        mergePatch,
      );
      this.lastWritten.set(key, { basedOn: pg.metadata?.resourceVersion, json });
    } catch (err) {
      if (!isNotFound(err)) {
        throw err;
      }
      ctx.log.debug('PodGroup deleted before its status was written');
    }
  }

  /** Events for condition changes worth a line in `kubectl describe`. */
  private statusEvents(pg: PodGroup, status: NonNullable<PodGroup['status']>): void {
    const before = new Map((pg.status?.conditions ?? []).map((c) => [c.type, c]));
    for (const c of status.conditions ?? []) {
      const old = before.get(c.type);
      if (old?.reason === c.reason && old?.message === c.message) {
        continue;
      }
      if (c.type === CONDITION_PROGRESSING && c.reason === REASON.deadlineExceeded) {
        this.events.event(pg, 'Warning', REASON.deadlineExceeded, c.message ?? '');
      } else if (c.type === CONDITION_PROGRESSING && c.reason === REASON.complete && old?.reason !== REASON.complete) {
        this.events.event(pg, 'Normal', 'RolloutComplete', c.message ?? '');
      } else if (c.type === CONDITION_GANG_SCHEDULED && c.status === 'False') {
        this.events.event(pg, 'Warning', 'Unschedulable', c.message ?? '');
      }
    }
  }

  private async rollback(pg: PodGroup, ctx: ReconcileContext): Promise<void> {
    const requested = pg.metadata?.annotations?.[ROLLBACK_ANNOTATION] ?? '';
    const owned = this.revisions.store.byIndex(BY_CONTROLLER_UID, pg.metadata?.uid ?? '').sort((a, b) => revisionNumber(b) - revisionNumber(a));
    // "0" or "previous" means the newest revision whose template differs from the current one.
    const target =
      requested === '0' || requested === 'previous'
        ? owned.find((r) => !sameTemplate(revisionTemplate(r), pg.spec.template))
        : owned.find((r) => String(revisionNumber(r)) === requested);
    const annotationPath = `/metadata/annotations/${ROLLBACK_ANNOTATION.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    const ops: object[] = [{ op: 'remove', path: annotationPath }];
    const template = target === undefined ? undefined : revisionTemplate(target);
    if (template === undefined) {
      this.events.event(pg, 'Warning', 'RollbackRevisionNotFound', `Unable to find revision ${requested} to roll back to; available: ${owned.map(revisionNumber).join(', ')}`);
    } else {
      ops.push({ op: 'replace', path: '/spec/template', value: template }, ...rollbackChangeCauseOps(pg, target as k8s.V1ControllerRevision));
      this.events.event(pg, 'Normal', 'RollbackDone', `Rolled back to revision ${revisionNumber(target as k8s.V1ControllerRevision)} (${target?.metadata?.name})`);
    }
    // JSON Patch replaces the template wholesale (a merge patch would keep stray labels).
    await this.custom.patchNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: pg.metadata?.namespace ?? '',
      plural: PLURAL,
      name: pg.metadata?.name ?? '',
      body: [{ op: 'test', path: '/metadata/resourceVersion', value: pg.metadata?.resourceVersion }, ...ops],
    });
    ctx.log.info('rollback', { requested, found: template !== undefined });
  }

  private async pruneRevisions(pg: PodGroup, updateHash: string, ctx: ReconcileContext): Promise<void> {
    const owned = this.revisions.store.byIndex(BY_CONTROLLER_UID, pg.metadata?.uid ?? '');
    const live = new Set(this.ownedPods(pg).map((p) => revisionHashOf(p) ?? ''));
    for (const r of revisionsToPrune(owned, updateHash, live, pg.spec.revisionHistoryLimit ?? 10)) {
      try {
        await this.apps.deleteNamespacedControllerRevision({ name: r.metadata?.name ?? '', namespace: r.metadata?.namespace ?? '' });
        ctx.log.info('pruned revision', { revision: r.metadata?.name });
      } catch (err) {
        if (!isNotFound(err)) {
          throw err;
        }
      }
    }
  }
}

/** Schema defaults, in case the object predates them (the API server applies them on read too). */
function withDefaults(pg: PodGroup): PodGroup {
  return {
    ...pg,
    spec: {
      ...pg.spec,
      replicas: pg.spec.replicas ?? 1,
      minReadySeconds: pg.spec.minReadySeconds ?? 0,
      progressDeadlineSeconds: pg.spec.progressDeadlineSeconds ?? 600,
      revisionHistoryLimit: pg.spec.revisionHistoryLimit ?? 10,
      podReplacementPolicy: pg.spec.podReplacementPolicy ?? 'TerminationComplete',
      strategy: pg.spec.strategy ?? { type: 'RollingUpdate' },
    },
  };
}

function summarize(names: string[]): string {
  return names.length <= 5 ? names.join(', ') : `${names.slice(0, 5).join(', ')} and ${names.length - 5} more`;
}

/** Wires the PodGroup controller into a manager: informers, event mapping, expectations. */
export function setupPodGroupController(manager: Manager, options: PodGroupControllerOptions): { controller: Controller; reconciler: PodGroupReconciler } {
  const podGroups = manager.informers.for(customResource<PodGroup>(manager.clients, { group: GROUP, version: VERSION, plural: PLURAL, kind: KIND }));
  const pods = manager.informers.for(podResource(manager.clients));
  const revisions = manager.informers.for(controllerRevisionResource(manager.clients), { labelSelector: `${GROUP}/name` });
  const reconciler = new PodGroupReconciler(manager, podGroups, pods, revisions, options);
  const controller = new Controller(CONTROLLER_NAME, reconciler, { maxConcurrentReconciles: options.workers, logger: manager.log });

  const ownerKeyOf = (pod: k8s.V1Pod): string | undefined => {
    const ref = pod.metadata?.ownerReferences?.find((r) => r.controller === true && r.kind === KIND && r.apiVersion.startsWith(`${GROUP}/`));
    return ref === undefined ? undefined : `${pod.metadata?.namespace}/${ref.name}`;
  };
  // Orphans: every PodGroup in the namespace whose selector matches may adopt them.
  const matchingPodGroups = (pod: k8s.V1Pod): string[] =>
    podGroups.store
      .byIndex(BY_NAMESPACE, pod.metadata?.namespace ?? '')
      .filter((pg) => matchesSelector(pg.spec.selector, pod.metadata?.labels))
      .map(objectKey);
  const keysFor = (pod: k8s.V1Pod): string[] => {
    const owner = ownerKeyOf(pod);
    if (owner !== undefined) {
      return [owner];
    }
    return pod.metadata?.ownerReferences?.some((r) => r.controller === true) ? [] : matchingPodGroups(pod);
  };

  // Expectations first, so the reconcile these events trigger sees them observed.
  pods.addEventHandler({
    onAdd: (pod) => {
      const owner = ownerKeyOf(pod);
      if (owner !== undefined) {
        reconciler.expectations.creationObserved(owner);
      }
    },
    onUpdate: (oldPod, pod) => {
      const owner = ownerKeyOf(pod);
      if (owner !== undefined && !isTerminating(oldPod) && isTerminating(pod)) {
        reconciler.expectations.deletionObserved(owner, objectKey(pod));
      }
    },
    onDelete: (pod) => {
      const owner = ownerKeyOf(pod);
      if (owner !== undefined) {
        reconciler.expectations.deletionObserved(owner, objectKey(pod));
      }
    },
  });
  controller.watchFor(podGroups).watches(pods, keysFor).watchOwned(revisions, OWNER);
  manager.addController(controller);
  registerPodGroupStateMetrics({ store: podGroups.store, isLeader: () => manager.isLeader() });
  return { controller, reconciler };
}
