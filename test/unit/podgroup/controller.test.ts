// The reconciler as an adapter: driven through a recording fake of PodGroupControl over real
// stores, it must turn every API refusal into a reported, retried failure (never an unhandled
// rejection), adopt orphaned revisions instead of colliding with them, and create what the
// plan decided per revision.
import { describe, expect, it } from '@jest/globals';
import type * as k8s from '@kubernetes/client-node';
import { ApiException } from '@kubernetes/client-node';
import { REVISION_HASH_LABEL, REVISION_SIDECARS_ANNOTATION, type PodGroup } from '../../../src/api/podgroup.js';
import type { PodGroupControl } from '../../../src/podgroup/control.js';
import { PodGroupReconciler } from '../../../src/podgroup/controller.js';
import { controllerRef, newRevision, decideUpdateRevision } from '../../../src/podgroup/revisions.js';
import type { EventType } from '../../../src/runtime/events.js';
import { silentLogger } from '../../../src/runtime/logging.js';
import {
  BY_CONTROLLER_UID,
  BY_NAMESPACE,
  BY_NAMESPACE_UNCONTROLLED,
  BY_NAMESPACED_CONTROLLER_UID,
  controllerUidIndex,
  namespacedControllerUidIndex,
  namespaceIndex,
  Store,
  uncontrolledNamespaceIndex,
} from '../../../src/runtime/store.js';
import { NOW, pod, pods, spec } from './fixtures.js';

const indexers = {
  [BY_NAMESPACE]: namespaceIndex,
  [BY_CONTROLLER_UID]: controllerUidIndex,
  [BY_NAMESPACE_UNCONTROLLED]: uncontrolledNamespaceIndex,
  [BY_NAMESPACED_CONTROLLER_UID]: namespacedControllerUidIndex,
};

interface Call {
  verb: string;
  name: string;
  body?: unknown;
}

const apiError = (code: number, message: string): ApiException<string> => new ApiException(code, message, JSON.stringify({ message }), {});

/** Records every call; `fail` decides which ones the "API" refuses. */
class RecordingControl implements PodGroupControl {
  calls: Call[] = [];
  constructor(
    private readonly pg: PodGroup,
    private readonly fail: (verb: string, name: string) => ApiException<string> | undefined = () => undefined,
  ) {}
  private record(verb: string, name: string, body?: unknown): void {
    this.calls.push({ verb, name, body });
    const err = this.fail(verb, name);
    if (err !== undefined) {
      throw err;
    }
  }
  async createPod(_ns: string, pod: k8s.V1Pod): Promise<k8s.V1Pod> {
    this.record('createPod', pod.metadata?.name ?? '', pod);
    return pod;
  }
  async deletePod(pod: k8s.V1Pod): Promise<void> {
    this.record('deletePod', pod.metadata?.name ?? '');
  }
  async patchPod(pod: k8s.V1Pod, body: object): Promise<void> {
    this.record('patchPod', pod.metadata?.name ?? '', body);
  }
  async createRevision(r: k8s.V1ControllerRevision): Promise<k8s.V1ControllerRevision> {
    this.record('createRevision', r.metadata?.name ?? '', r);
    return r;
  }
  async readRevision(_ns: string, name: string): Promise<k8s.V1ControllerRevision> {
    this.record('readRevision', name);
    throw apiError(404, 'not found');
  }
  async patchRevision(r: k8s.V1ControllerRevision, body: object): Promise<k8s.V1ControllerRevision> {
    this.record('patchRevision', r.metadata?.name ?? '', body);
    const version = r.metadata?.resourceVersion === undefined ? undefined : String(Number(r.metadata.resourceVersion) + 1);
    return { ...r, metadata: { ...r.metadata, resourceVersion: version, ownerReferences: [controllerRef(this.pg)] } };
  }
  async deleteRevision(r: k8s.V1ControllerRevision): Promise<void> {
    this.record('deleteRevision', r.metadata?.name ?? '');
  }
  async getPodGroup(): Promise<PodGroup> {
    this.record('getPodGroup', this.pg.metadata?.name ?? '');
    return this.pg;
  }
  async patchPodGroupStatus(_pg: PodGroup, status: object): Promise<void> {
    this.record('patchPodGroupStatus', this.pg.metadata?.name ?? '', status);
  }
  async jsonPatchPodGroup(_pg: PodGroup, ops: object[]): Promise<void> {
    this.record('jsonPatchPodGroup', this.pg.metadata?.name ?? '', ops);
  }
  of(verb: string): Call[] {
    return this.calls.filter((c) => c.verb === verb);
  }
}

class RecordingEvents {
  events: { type: EventType; reason: string; message: string }[] = [];
  event(_obj: k8s.KubernetesObject, type: EventType, reason: string, message: string): void {
    this.events.push({ type, reason, message });
  }
}

function world(pg: PodGroup, podList: k8s.V1Pod[], revisions: k8s.V1ControllerRevision[]) {
  const podGroups = new Store<PodGroup>(indexers);
  podGroups.upsert(pg);
  const podStore = new Store<k8s.V1Pod>(indexers);
  podList.forEach((p) => podStore.upsert(p));
  const revisionStore = new Store<k8s.V1ControllerRevision>(indexers);
  revisions.forEach((r) => revisionStore.upsert(r));
  return { podGroups, pods: podStore, revisions: revisionStore };
}

const ctx = { log: silentLogger, reconcileID: 'test', signal: new AbortController().signal };
const request = { namespace: 'ns', name: 'web' };

const podGroup = (overrides: Partial<PodGroup['spec']> = {}, status?: PodGroup['status']): PodGroup => ({
  metadata: { name: 'web', namespace: 'ns', uid: 'pg-uid', generation: 2, resourceVersion: '10' },
  spec: spec({ replicas: 3, progressDeadlineSeconds: 600, revisionHistoryLimit: 10, ...overrides }),
  ...(status === undefined ? {} : { status }),
});

const owned = (list: k8s.V1Pod[], pg: PodGroup): k8s.V1Pod[] => list.map((p) => ({ ...p, metadata: { ...p.metadata, ownerReferences: [controllerRef(pg)] } }));

describe('PodGroupReconciler through a recording PodGroupControl', () => {
  it('reports a refused pod delete (403) as ReplicaFailure/FailedDelete, a Warning, and a retry; nothing is left unhandled', async () => {
    const pg = podGroup({ replicas: 1 });
    const current = decideUpdateRevision(pg, [], 0);
    const rev = newRevision(pg, current.hash, 1);
    const mine = owned(pods(3, 'p', { hash: current.hash }), pg);
    const control = new RecordingControl(pg, (verb) => (verb === 'deletePod' ? apiError(403, 'pods is forbidden: denied by policy') : undefined));
    const events = new RecordingEvents();
    const reconciler = new PodGroupReconciler(world(pg, mine, [rev]), control, events, { workers: 1 }, () => NOW);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      await expect(reconciler.reconcile(request, ctx)).rejects.toThrow('FailedDelete: pods is forbidden: denied by policy');
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
    expect(control.of('deletePod')).toHaveLength(2);
    const status = control.of('patchPodGroupStatus')[0]?.body as PodGroup['status'];
    expect(status?.conditions?.find((c) => c.type === 'ReplicaFailure')).toMatchObject({
      status: 'True',
      reason: 'FailedDelete',
      message: 'pods is forbidden: denied by policy',
    });
    expect(events.events.filter((e) => e.reason === 'FailedDelete' && e.type === 'Warning')).toHaveLength(2);
    // Refused deletes are not awaited forever: the next sync may decide again.
    expect(reconciler.expectations.satisfied('ns/web')).toBe(true);
  });

  it('adopts an orphaned revision with the same content instead of colliding and re-rolling every pod', async () => {
    const pg = podGroup();
    const previousOwner: PodGroup = { ...pg, metadata: { ...pg.metadata, uid: 'old-uid' } };
    const decision = decideUpdateRevision(previousOwner, [], 0);
    const orphanRevision = {
      ...newRevision(previousOwner, decision.hash, 1),
      metadata: { ...newRevision(previousOwner, decision.hash, 1).metadata, ownerReferences: [] },
    };
    const orphanPods = pods(3, 'p', { hash: decision.hash });
    const control = new RecordingControl(pg);
    const reconciler = new PodGroupReconciler(world(pg, orphanPods, [orphanRevision]), control, new RecordingEvents(), { workers: 1 }, () => NOW);
    await reconciler.reconcile(request, ctx);
    // Adopted, then its desired count (none recorded yet: its 3 pods) is recorded on it.
    expect(control.of('patchRevision').map((c) => c.name)).toEqual([`web-${decision.hash}`, `web-${decision.hash}`]);
    // With replicas + maxSurge (3 + 25% → 4) then, the baseline of proportional scaling.
    expect(control.of('patchRevision')[1]?.body).toEqual({ metadata: { annotations: { 'podgroup.dev/replicas': '3', 'podgroup.dev/max-replicas': '4' } } });
    expect(control.of('createRevision')).toEqual([]);
    expect(control.of('patchPod')).toHaveLength(3);
    expect(control.of('createPod')).toEqual([]);
    expect(control.of('deletePod')).toEqual([]);
    const status = control.of('patchPodGroupStatus')[0]?.body as PodGroup['status'];
    expect(status).toMatchObject({ updateRevision: decision.hash, collisionCount: 0, updatedReplicas: 3 });
  });

  it('adopts finished orphans of its own revision but never deletes them; they count for nothing', async () => {
    const pg = podGroup({ replicas: 1 });
    const decision = decideUpdateRevision(pg, [], 0);
    const rev = newRevision(pg, decision.hash, 1);
    const finished = pods(2, 'done', { hash: decision.hash, phase: 'Succeeded', ready: false });
    const control = new RecordingControl(pg);
    const reconciler = new PodGroupReconciler(world(pg, finished, [rev]), control, new RecordingEvents(), { workers: 1 }, () => NOW);
    await reconciler.reconcile(request, ctx);
    expect(control.of('patchPod').map((c) => c.name)).toEqual(['done-0', 'done-1']);
    expect(control.of('deletePod')).toEqual([]);
    expect(control.of('createPod')).toHaveLength(1);
  });

  it('adopts an orphan of its template in the sync that creates the revision, instead of creating a pod for it', async () => {
    const pg = podGroup({ replicas: 1 });
    const decision = decideUpdateRevision(pg, [], 0);
    const control = new RecordingControl(pg);
    const reconciler = new PodGroupReconciler(
      world(pg, pods(1, 'orphan', { hash: decision.hash }), []),
      control,
      new RecordingEvents(),
      { workers: 1 },
      () => NOW,
    );
    await reconciler.reconcile(request, ctx);
    expect(control.of('createRevision')).toHaveLength(1);
    expect(control.of('patchPod').map((c) => c.name)).toEqual(['orphan-0']);
    expect(control.of('createPod')).toEqual([]);
  });

  it('releases a pod and a revision it controls that no longer match its selector; one gone meanwhile is skipped', async () => {
    const pg = podGroup({ replicas: 1 });
    const decision = decideUpdateRevision(pg, [], 0);
    const fresh = newRevision(pg, decision.hash, 1);
    const rev = { ...fresh, metadata: { ...fresh.metadata, ownerReferences: [controllerRef(pg)] } };
    const relabel = <T extends k8s.KubernetesObject>(obj: T, name: string): T => ({
      ...obj,
      metadata: { ...obj.metadata, name, labels: { ...obj.metadata?.labels, app: 'other' }, ownerReferences: [controllerRef(pg)] },
    });
    const stale = relabel(newRevision(pg, 'stale', 2), 'web-stale');
    const [kept, moved, gone] = owned(pods(3, 'p', { hash: decision.hash }), pg);
    const control = new RecordingControl(pg, (verb, name) => (verb === 'patchPod' && name === 'gone' ? apiError(404, 'not found') : undefined));
    const events = new RecordingEvents();
    const cached = world(pg, [kept!, relabel(moved!, 'moved'), relabel(gone!, 'gone')], [rev, stale]);
    await new PodGroupReconciler(cached, control, events, { workers: 1 }, () => NOW).reconcile(request, ctx);
    expect(control.of('patchPod').map((c) => [c.name, c.body])).toEqual([
      ['moved', { metadata: { ownerReferences: [{ $patch: 'delete', uid: 'pg-uid' }], uid: moved?.metadata?.uid } }],
      ['gone', { metadata: { ownerReferences: [{ $patch: 'delete', uid: 'pg-uid' }], uid: gone?.metadata?.uid } }],
    ]);
    expect(control.of('patchRevision').find((c) => c.name === 'web-stale')?.body).toEqual({
      metadata: { ownerReferences: [], uid: stale.metadata?.uid, resourceVersion: stale.metadata?.resourceVersion },
    });
    expect(events.events.filter((e) => e.reason.startsWith('Released')).map((e) => [e.reason, e.message])).toEqual([
      ['ReleasedRevision', 'Released revision web-stale: its labels no longer match the selector'],
      ['ReleasedPod', 'Released pod moved: its labels no longer match the selector'],
    ]);
    // No uncached read: there was nothing to adopt.
    expect(control.of('getPodGroup')).toEqual([]);
  });

  it('leaves a bare pod with the selector labels alone: not adopted, not counted, not deleted', async () => {
    const pg = podGroup({ replicas: 2 });
    const decision = decideUpdateRevision(pg, [], 0);
    const rev = newRevision(pg, decision.hash, 1);
    const bare = pod('debug');
    bare.metadata = { ...bare.metadata, labels: { app: 'web' } };
    const control = new RecordingControl(pg);
    const reconciler = new PodGroupReconciler(
      world(pg, [bare, ...owned(pods(2, 'p', { hash: decision.hash }), pg)], [rev]),
      control,
      new RecordingEvents(),
      { workers: 1 },
      () => NOW,
    );
    await reconciler.reconcile(request, ctx);
    expect(control.of('patchPod')).toEqual([]);
    expect(control.of('deletePod')).toEqual([]);
    expect(control.of('createPod')).toEqual([]);
  });

  it('pods in another namespace that name it as controller (held Terminating by a finalizer) neither stall nor shrink it', async () => {
    const pg = podGroup({
      replicas: 3,
      podReplacementPolicy: 'TerminationComplete',
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
    });
    const decision = decideUpdateRevision(pg, [], 0);
    const rev = newRevision(pg, decision.hash, 1);
    const inAttackerNamespace = (p: k8s.V1Pod): k8s.V1Pod => ({ ...p, metadata: { ...p.metadata, namespace: 'attacker' } });
    const forged = owned([...pods(3, 'stuck', { hash: decision.hash, terminating: true }), ...pods(3, 'extra', { hash: decision.hash })], pg).map(
      inAttackerNamespace,
    );
    const control = new RecordingControl(pg);
    const reconciler = new PodGroupReconciler(
      world(pg, [...forged, ...owned(pods(2, 'p', { hash: decision.hash }), pg)], [rev]),
      control,
      new RecordingEvents(),
      { workers: 1 },
      () => NOW,
    );
    await reconciler.reconcile(request, ctx);
    // The missing pod is replaced; nothing of the other namespace is touched or counted.
    expect(control.of('createPod')).toHaveLength(1);
    expect(control.of('deletePod')).toEqual([]);
    expect(control.of('patchPod')).toEqual([]);
    const status = control.of('patchPodGroupStatus')[0]?.body as PodGroup['status'];
    expect(status).toMatchObject({ replicas: 2, terminatingReplicas: 0 });
  });

  it("a pruned revision takes its finished pods with it (as the garbage collector does with a ReplicaSet's); finished pods keep no revision alive", async () => {
    const complete = { replicas: 1, updatedReplicas: 1, availableReplicas: 1, observedGeneration: 2 };
    const v1 = podGroup({ replicas: 1, revisionHistoryLimit: 0 });
    const r1 = newRevision(v1, decideUpdateRevision(v1, [], 0).hash, 1);
    const hash1 = r1.metadata?.labels?.[REVISION_HASH_LABEL] ?? '';
    const v2: PodGroup = { ...v1, spec: { ...v1.spec, template: { ...v1.spec.template, metadata: { labels: { app: 'web', v: '2' } } } }, status: complete };
    const d2 = decideUpdateRevision(v2, [r1], 0);
    const r2 = newRevision(v2, d2.hash, 2);
    const mine = owned([pod('evicted', { hash: hash1, phase: 'Failed', ready: false }), pod('running', { hash: d2.hash })], v1);
    const control = new RecordingControl(v2);
    const reconciler = new PodGroupReconciler(world(v2, mine, [r1, r2]), control, new RecordingEvents(), { workers: 1 }, () => NOW);
    await reconciler.reconcile(request, ctx);
    expect(control.of('deleteRevision').map((c) => c.name)).toEqual([r1.metadata?.name]);
    expect(control.of('deletePod').map((c) => c.name)).toEqual(['evicted']);
    expect(control.calls.findIndex((c) => c.verb === 'deleteRevision')).toBeLessThan(control.calls.findIndex((c) => c.verb === 'deletePod'));
  });

  it('creates the pods of an old revision from that revision, with its sidecars, when scaling up mid-rollout', async () => {
    const v1 = podGroup({ sidecars: { logCollector: { enabled: true } } });
    const r1 = newRevision(v1, decideUpdateRevision(v1, [], 0).hash, 1);
    const v2spec = {
      ...v1.spec,
      replicas: 6,
      sidecars: { logCollector: { enabled: true, path: '/var/log/other' } },
      strategy: { type: 'RollingUpdate' as const, rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
    };
    const v2: PodGroup = { ...v1, spec: v2spec, status: { replicas: 4, sizedForReplicas: 3, updatedReplicas: 1 } };
    const d2 = decideUpdateRevision(v2, [r1], 0);
    const r2 = newRevision(v2, d2.hash, 2);
    const hash1 = r1.metadata?.labels?.[REVISION_HASH_LABEL] ?? '';
    const mine = owned([...pods(3, 'old', { hash: hash1 }), ...pods(1, 'new', { hash: d2.hash, ready: false })], v1);
    const control = new RecordingControl(v2);
    const reconciler = new PodGroupReconciler(world(v2, mine, [r1, r2]), control, new RecordingEvents(), { workers: 1 }, () => NOW);
    await reconciler.reconcile(request, ctx);
    const created = control.of('createPod').map((c) => c.body as k8s.V1Pod);
    // 3 → 6 with maxSurge 1: 4 pods before (max 4) → 7 allowed; 3 more shared 3:1 → old gets 2, new 1.
    const byHash = (h: string) => created.filter((p) => p.metadata?.labels?.[REVISION_HASH_LABEL] === h);
    expect(byHash(hash1)).toHaveLength(2);
    expect(byHash(d2.hash)).toHaveLength(1);
    expect(JSON.parse(byHash(hash1)[0]?.metadata?.annotations?.[REVISION_SIDECARS_ANNOTATION] ?? '{}')).toEqual({ logCollector: { enabled: true } });
    expect(JSON.parse(byHash(d2.hash)[0]?.metadata?.annotations?.[REVISION_SIDECARS_ANNOTATION] ?? '{}')).toEqual({
      logCollector: { enabled: true, path: '/var/log/other' },
    });
    const status = control.of('patchPodGroupStatus')[0]?.body as PodGroup['status'];
    expect(status?.sizedForReplicas).toBe(6);
  });

  it("records each revision's desired count, and a count it wrote wins over a stale cache", async () => {
    const v1 = podGroup({ strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } });
    const r1 = newRevision(v1, decideUpdateRevision(v1, [], 0).hash, 1);
    const hash1 = r1.metadata?.labels?.[REVISION_HASH_LABEL] ?? '';
    const v2: PodGroup = {
      ...v1,
      spec: { ...v1.spec, template: { ...v1.spec.template, metadata: { labels: { app: 'web', v: '2' } } } },
      status: { replicas: 3, sizedForReplicas: 3 },
    };
    const d2 = decideUpdateRevision(v2, [r1], 0);
    const withCount = (r: k8s.V1ControllerRevision, n: number): k8s.V1ControllerRevision => ({
      ...r,
      metadata: { ...r.metadata, resourceVersion: '7', annotations: { 'podgroup.dev/replicas': String(n) } },
    });
    const r2 = withCount(newRevision(v2, d2.hash, 2), 0);
    const caches = world(v2, owned(pods(3, 'old', { hash: hash1 }), v1), [withCount(r1, 3), r2]);
    const control = new RecordingControl(v2);
    const reconciler = new PodGroupReconciler(caches, control, new RecordingEvents(), { workers: 1 }, () => NOW);
    await reconciler.reconcile(request, ctx);
    // The surge step: the update revision wants 1, recorded before its pod is created.
    expect(control.of('patchRevision').map((c) => [c.name, c.body])).toEqual([
      [r2.metadata?.name, { metadata: { annotations: { 'podgroup.dev/replicas': '1', 'podgroup.dev/max-replicas': '4' } } }],
    ]);
    expect(control.calls.findIndex((c) => c.verb === 'patchRevision')).toBeLessThan(control.calls.findIndex((c) => c.verb === 'createPod'));
    const created = control.of('createPod').map((c) => c.body as k8s.V1Pod);
    expect(created.map((p) => p.metadata?.labels?.[REVISION_HASH_LABEL])).toEqual([d2.hash]);

    // The pod shows up (ready), but the revision cache still says 0: the written 1 holds, so
    // the new pod stays and one old pod goes.
    const newPod = owned([pod(created[0]?.metadata?.name ?? '', { hash: d2.hash })], v2)[0] as k8s.V1Pod;
    caches.pods.upsert(newPod);
    reconciler.expectations.creationObserved('ns/web');
    const again = new RecordingControl(v2);
    const second = new PodGroupReconciler(caches, again, new RecordingEvents(), { workers: 1 }, () => NOW);
    // A fresh reconciler has no memory of the write: it would read 0 and delete the new pod.
    await second.reconcile(request, ctx);
    expect(again.of('deletePod').map((c) => c.name)).toContain(newPod.metadata?.name);
    control.calls = [];
    await reconciler.reconcile(request, ctx);
    expect(control.of('deletePod').map((c) => c.name)).toHaveLength(1);
    expect(control.of('deletePod').map((c) => c.name)).not.toContain(newPod.metadata?.name);
    expect(control.of('patchRevision').map((c) => [c.name, c.body])).toEqual([
      [r1.metadata?.name, { metadata: { annotations: { 'podgroup.dev/replicas': '2', 'podgroup.dev/max-replicas': '4' } } }],
    ]);
  });

  it('a refused revision create: Progressing=False/ReplicaSetCreateError written at once, a Warning, a retry; nothing else moves', async () => {
    const v1 = podGroup({ replicas: 2 });
    const r1 = newRevision(v1, decideUpdateRevision(v1, [], 0).hash, 1);
    const hash1 = r1.metadata?.labels?.[REVISION_HASH_LABEL] ?? '';
    const before: PodGroup['status'] = {
      observedGeneration: 1,
      replicas: 2,
      conditions: [{ type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' }],
    };
    const v2: PodGroup = { ...v1, spec: { ...v1.spec, template: { ...v1.spec.template, metadata: { labels: { app: 'web', v: '2' } } } }, status: before };
    const quota = 'controllerrevisions.apps "web-x" is forbidden: exceeded quota: revisions, requested: count/controllerrevisions.apps=1';
    const control = new RecordingControl(v2, (verb) => (verb === 'createRevision' ? apiError(403, quota) : undefined));
    const events = new RecordingEvents();
    const reconciler = new PodGroupReconciler(world(v2, owned(pods(2, 'p', { hash: hash1 }), v1), [r1]), control, events, { workers: 1 }, () => NOW);
    await expect(reconciler.reconcile(request, ctx)).rejects.toThrow('exceeded quota');
    const written = control.of('patchPodGroupStatus').map((c) => c.body as PodGroup['status']);
    expect(written).toHaveLength(1);
    expect(Object.keys(written[0] ?? {})).toEqual(['conditions']);
    expect(written[0]?.conditions?.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'False', reason: 'ReplicaSetCreateError' });
    expect(events.events.filter((e) => e.type === 'Warning' && e.reason === 'ReplicaSetCreateError')).toHaveLength(1);
    expect([...control.of('createPod'), ...control.of('deletePod')]).toEqual([]);
  });

  it('a rollback requested while paused waits for the resume (as syncDeployment)', async () => {
    const paused = podGroup({ paused: true });
    paused.metadata = { ...paused.metadata, annotations: { 'podgroup.dev/rollback-to': '0' } };
    const rev = newRevision(paused, decideUpdateRevision(paused, [], 0).hash, 1);
    const control = new RecordingControl(paused);
    const reconciler = new PodGroupReconciler(
      world(paused, owned(pods(3, 'p', { hash: rev.metadata?.labels?.[REVISION_HASH_LABEL] }), paused), [rev]),
      control,
      new RecordingEvents(),
      { workers: 1 },
      () => NOW,
    );
    await reconciler.reconcile(request, ctx);
    // Only the revision number is written to the PodGroup: the annotation stays, the template too.
    expect(control.of('jsonPatchPodGroup').map((c) => c.body)).toEqual([[{ op: 'add', path: '/metadata/annotations/podgroup.dev~1revision', value: '1' }]]);
  });

  it("records the update revision's number on the PodGroup once (podgroup.dev/revision)", async () => {
    const pg = podGroup({ replicas: 1 });
    const control = new RecordingControl(pg);
    const reconciler = new PodGroupReconciler(world(pg, [], []), control, new RecordingEvents(), { workers: 1 }, () => NOW);
    await reconciler.reconcile(request, ctx);
    expect(control.of('jsonPatchPodGroup').map((c) => c.body)).toEqual([
      [{ op: 'add', path: '/metadata/annotations', value: { 'podgroup.dev/revision': '1' } }],
    ]);
    const recorded: PodGroup = { ...pg, metadata: { ...pg.metadata, annotations: { 'podgroup.dev/revision': '1' } } };
    const rev = newRevision(recorded, decideUpdateRevision(recorded, [], 0).hash, 1);
    const again = new RecordingControl(recorded);
    await new PodGroupReconciler(world(recorded, [], [rev]), again, new RecordingEvents(), { workers: 1 }, () => NOW).reconcile(request, ctx);
    expect(again.of('jsonPatchPodGroup')).toEqual([]);
  });

  it('a status computed from a stale copy is refused (409) and dropped, not retried as an error', async () => {
    const pg = podGroup({ replicas: 1 });
    const rev = newRevision(pg, decideUpdateRevision(pg, [], 0).hash, 1);
    const mine = owned(pods(1, 'p', { hash: decideUpdateRevision(pg, [], 0).hash }), pg);
    const control = new RecordingControl(pg, (verb) => (verb === 'patchPodGroupStatus' ? apiError(409, 'the object has been modified') : undefined));
    const reconciler = new PodGroupReconciler(world(pg, mine, [rev]), control, new RecordingEvents(), { workers: 1 }, () => NOW);
    await expect(reconciler.reconcile(request, ctx)).resolves.toBeUndefined();
    expect(control.of('patchPodGroupStatus')).toHaveLength(1);
  });
});
