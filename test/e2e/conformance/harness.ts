// The differential runner: one operation sequence applied to a Deployment (upstream's
// controllers in the reference kube-controller-manager) and to a PodGroup with the same spec,
// side by side in one namespace. After each operation both must settle; the timeline records
// every distinct state seen while polling, invariants are checked at each poll, and the final
// states must be equal after the declared differences (differences.ts).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { GROUP, PLURAL, REVISION_ANNOTATION, ROLLBACK_ANNOTATION, VERSION, type PodGroup } from '../../../src/api/podgroup.js';
import { clusterState, eventually } from '../support/cluster.js';
import { apps, core, custom, mergePatch } from '../support/podgroups.js';
import { normalize, sideBySide, type Kind, type Observed } from './differences.js';
import { spelledContainer, spelledPodFields } from './spellings.js';

const run = promisify(execFile);

/** A node selector no node has: the template becomes unschedulable. */
export const NOWHERE = { 'conformance.podgroup.dev/nowhere': 'true' };
/** The finalizer that keeps pods of a slowTermination workload Terminating until the harness removes it. */
const HOLD_FINALIZER = 'conformance.podgroup.dev/hold';
/** How long a pod of a slowTermination workload stays Terminating (unless held longer). */
const RELEASE_AFTER_MS = 1_500;
/** The label marking the harness's bare pods (they carry the selector's labels too). */
const BARE_LABEL = 'conformance.podgroup.dev/bare';

export interface WorkloadSpec {
  replicas: number;
  image?: string;
  strategy?: { type: 'RollingUpdate' | 'Recreate'; rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string } };
  minReadySeconds?: number;
  progressDeadlineSeconds?: number;
  revisionHistoryLimit?: number;
  paused?: boolean;
  /** Extra template labels (e.g. for an admission policy to match). */
  labels?: Record<string, string>;
  /**
   * Pods take time to terminate: the template carries a finalizer (HOLD_FINALIZER) the harness
   * removes RELEASE_AFTER_MS after deletion starts, or only after `releaseTerminating` while
   * `holdTerminating` is in force (a node that does not come back, a stuck finalizer).
   */
  slowTermination?: boolean;
  /** A required pod anti-affinity term over the workload's pods (labelSelector app=<app>). */
  antiAffinity?: { topologyKey: string; matchLabelKeys?: string[] };
  /** How the template is written (spellings.ts); every spelling is the same template. */
  spelling?: number;
}

export type Op =
  | { op: 'scale'; replicas: number }
  | { op: 'scaleSubresource'; replicas: number }
  | { op: 'image'; image: string }
  | { op: 'pause' }
  | { op: 'resume' }
  /** Deletes pods of the current template, or of any other (an old revision's) when `of` is 'old'. */
  | { op: 'deletePods'; count: number; of?: 'current' | 'old' }
  | { op: 'unschedulable' }
  | { op: 'schedulable' }
  | { op: 'orphanRecreate' }
  | { op: 'rollback' }
  | { op: 'relabelPod' }
  | { op: 'patch'; spec: Partial<Omit<WorkloadSpec, 'image' | 'labels' | 'slowTermination' | 'antiAffinity' | 'spelling'>> }
  /** Stop (hold) or resume (release) removing the finalizer of terminating pods (slowTermination). */
  | { op: 'holdTerminating' }
  | { op: 'releaseTerminating' }
  /** A bare pod (no owner) carrying the selector's labels, as `kubectl run --labels` makes one. */
  | { op: 'barePod' }
  /** Pods of the current template end (Failed: evicted, node shutdown; Succeeded), as the kubelet reports it. */
  | { op: 'finishPods'; count: number; phase: 'Failed' | 'Succeeded' }
  /** Writes the same template another way (spellings.ts): nothing may roll. */
  | { op: 'respell'; spelling: number }
  /** Server-side rollback to the previous revision: the annotation each controller acts on. */
  | { op: 'rollbackAnnotation' };

export const describeOp = (o: Op): string => JSON.stringify(o);

interface TimelineEntry {
  t: number;
  after: string;
  observed: Observed;
  events?: string[];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function template(app: string, spec: WorkloadSpec): k8s.V1PodTemplateSpec {
  return {
    metadata: { labels: { app, ...spec.labels }, ...(spec.slowTermination === true ? { finalizers: [HOLD_FINALIZER] } : {}) },
    spec: {
      // Both kinds' pods go through the default scheduler: this compares controllers only.
      schedulerName: 'default-scheduler',
      terminationGracePeriodSeconds: 0,
      containers: [spelledContainer(spec.image ?? 'registry.example/app:1', spec.spelling ?? 0)],
      ...Object.fromEntries(Object.entries(spelledPodFields(spec.spelling ?? 0)).filter(([, v]) => v !== null)),
      ...(spec.antiAffinity === undefined ? {} : { affinity: antiAffinity(app, spec.antiAffinity) }),
    },
  };
}

function antiAffinity(app: string, term: NonNullable<WorkloadSpec['antiAffinity']>): k8s.V1Affinity {
  return {
    podAntiAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [
        { labelSelector: { matchLabels: { app } }, topologyKey: term.topologyKey, matchLabelKeys: term.matchLabelKeys },
      ],
    },
  };
}

const templateKey = (pod: k8s.V1Pod): string => `${pod.spec?.containers[0]?.image ?? '?'}${pod.spec?.nodeSelector === undefined ? '' : '+unschedulable'}`;

const isBare = (pod: k8s.V1Pod): boolean => pod.metadata?.labels?.[BARE_LABEL] !== undefined;
const isFinished = (pod: k8s.V1Pod): boolean => pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded';

/**
 * How observe() groups a pod: by template; bare pods and finished pods apart ("bare …",
 * "… finished"), so neither is mistaken for a running pod of the workload.
 */
function podKey(pod: k8s.V1Pod): string {
  if (isBare(pod)) {
    return `bare ${templateKey(pod)}`;
  }
  return isFinished(pod) ? `${templateKey(pod)} finished` : templateKey(pod);
}

/** Whether an observed group (a key of Observed.pods) holds the workload's running or terminating pods. */
const countsAsWorkloadPods = (key: string): boolean => !key.startsWith('bare ') && !key.endsWith(' finished');

function isAvailable(pod: k8s.V1Pod, minReadySeconds: number, now: number): boolean {
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') {
    return false;
  }
  const since = ready.lastTransitionTime ? new Date(ready.lastTransitionTime).getTime() : now;
  return minReadySeconds <= 0 || now - since >= minReadySeconds * 1000;
}

/** One workload under test: a Deployment or a PodGroup named `name`, its pods labelled app=<name>. */
export class Workload {
  readonly timeline: TimelineEntry[] = [];
  violations: string[] = [];
  /** The surge invariant is not checked (refused-deletes). */
  surgeWaived = false;
  private maxSurgeBound = 0;
  /** During a rollout that started complete: the fewest available pods allowed (0: not checked). */
  private minAvailableBound = 0;
  /** The last state observed, to tell whether an operation starts from a complete rollout. */
  private last: Observed | undefined;
  /** holdTerminating is in force: terminating pods keep their finalizer until releaseTerminating. */
  holding = false;
  private bareCount = 0;

  constructor(
    readonly kind: Kind,
    readonly namespace: string,
    readonly name: string,
    /** The pods' app label (the selector); a name may be longer than a label value holds. */
    readonly app: string,
    private spec: WorkloadSpec,
  ) {}

  private body(): k8s.V1Deployment | PodGroup {
    const spec = {
      replicas: this.spec.replicas,
      selector: { matchLabels: { app: this.app } },
      template: template(this.app, this.spec),
      ...(this.spec.strategy === undefined ? {} : { strategy: this.spec.strategy }),
      ...(this.spec.minReadySeconds === undefined ? {} : { minReadySeconds: this.spec.minReadySeconds }),
      ...(this.spec.progressDeadlineSeconds === undefined ? {} : { progressDeadlineSeconds: this.spec.progressDeadlineSeconds }),
      ...(this.spec.revisionHistoryLimit === undefined ? {} : { revisionHistoryLimit: this.spec.revisionHistoryLimit }),
      ...(this.spec.paused === undefined ? {} : { paused: this.spec.paused }),
    };
    return this.kind === 'Deployment'
      ? { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: this.name }, spec: spec as k8s.V1DeploymentSpec }
      : { apiVersion: `${GROUP}/${VERSION}`, kind: 'PodGroup', metadata: { name: this.name }, spec: spec as PodGroup['spec'] };
  }

  async create(): Promise<void> {
    if (this.kind === 'Deployment') {
      await apps.createNamespacedDeployment({ namespace: this.namespace, body: this.body() as k8s.V1Deployment });
    } else {
      await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: this.namespace, plural: PLURAL, body: this.body() });
    }
  }

  private async read(): Promise<k8s.V1Deployment | PodGroup> {
    return this.kind === 'Deployment'
      ? apps.readNamespacedDeployment({ name: this.name, namespace: this.namespace })
      : ((await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: this.namespace, plural: PLURAL, name: this.name })) as PodGroup);
  }

  private async patch(body: object): Promise<void> {
    if (this.kind === 'Deployment') {
      await apps.patchNamespacedDeployment({ name: this.name, namespace: this.namespace, body }, mergePatch);
    } else {
      await custom.patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, namespace: this.namespace, plural: PLURAL, name: this.name, body },
        mergePatch,
      );
    }
  }

  private async pods(): Promise<k8s.V1Pod[]> {
    return (await core.listNamespacedPod({ namespace: this.namespace, labelSelector: `app=${this.app}` })).items;
  }

  /**
   * What the spec now allows at most (the surge invariant), across the last change of replicas
   * or of the strategy: neither kind deletes pods to meet a lowered maxSurge.
   */
  private bound(before: WorkloadSpec): void {
    const replicas = Math.max(before.replicas, this.spec.replicas);
    const surge = (spec: WorkloadSpec): number => (spec.strategy?.type === 'Recreate' ? 0 : surgeOf(spec, replicas));
    this.maxSurgeBound = replicas + Math.max(surge(before), surge(this.spec));
  }

  async apply(op: Op): Promise<void> {
    const before = this.spec;
    switch (op.op) {
      case 'scale':
        this.spec = { ...this.spec, replicas: op.replicas };
        await this.patch({ spec: { replicas: op.replicas } });
        break;
      case 'scaleSubresource': {
        this.spec = { ...this.spec, replicas: op.replicas };
        const body = { spec: { replicas: op.replicas } };
        if (this.kind === 'Deployment') {
          await apps.patchNamespacedDeploymentScale({ name: this.name, namespace: this.namespace, body }, mergePatch);
        } else {
          await custom.patchNamespacedCustomObjectScale(
            { group: GROUP, version: VERSION, namespace: this.namespace, plural: PLURAL, name: this.name, body },
            mergePatch,
          );
        }
        break;
      }
      case 'image':
        this.spec = { ...this.spec, image: op.image };
        await this.patch({ spec: { template: { spec: { containers: [spelledContainer(op.image, this.spec.spelling ?? 0)] } } } });
        break;
      case 'respell':
        await this.respell(op.spelling);
        break;
      case 'rollbackAnnotation':
        await this.requestRollback();
        break;
      case 'pause':
      case 'resume':
        this.spec = { ...this.spec, paused: op.op === 'pause' };
        await this.patch({ spec: { paused: op.op === 'pause' } });
        break;
      case 'unschedulable':
        await this.patch({ spec: { template: { spec: { nodeSelector: NOWHERE } } } });
        break;
      case 'schedulable':
        await this.patch({ spec: { template: { spec: { nodeSelector: null } } } });
        break;
      case 'deletePods': {
        // Chosen by template (comparable across both kinds: pod names are not), then by name.
        const image = this.spec.image ?? 'registry.example/app:1';
        const unschedulable = (await this.read()).spec?.template?.spec?.nodeSelector !== undefined;
        const currentKey = `${image}${unschedulable ? '+unschedulable' : ''}`;
        const victims = (await this.pods())
          .filter((p) => p.metadata?.deletionTimestamp == null && !isBare(p) && !isFinished(p) && (templateKey(p) === currentKey) === (op.of !== 'old'))
          .sort((a, b) => templateKey(a).localeCompare(templateKey(b)) || (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))
          .slice(0, op.count);
        await Promise.all(victims.map((p) => core.deleteNamespacedPod({ name: p.metadata?.name ?? '', namespace: this.namespace }).catch(() => undefined)));
        break;
      }
      case 'relabelPod': {
        const victim = (await this.pods())
          .filter((p) => p.metadata?.deletionTimestamp == null && !isBare(p))
          .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))[0];
        if (victim !== undefined) {
          await core.patchNamespacedPod(
            { name: victim.metadata?.name ?? '', namespace: this.namespace, body: { metadata: { labels: { app: `${this.app}-released` } } } },
            mergePatch,
          );
        }
        break;
      }
      case 'orphanRecreate':
        await this.orphanRecreate();
        break;
      case 'rollback':
        if (this.kind === 'Deployment') {
          // kubectl refuses when there is no earlier revision; the PodGroup then reports RollbackRevisionNotFound.
          await run('kubectl', ['--kubeconfig', clusterState().kubeconfig, '-n', this.namespace, 'rollout', 'undo', `deployment/${this.name}`]).catch(
            (err: unknown) => {
              if (!String(err).includes('no rollout history')) {
                throw err;
              }
            },
          );
        } else {
          await this.patch({ metadata: { annotations: { [ROLLBACK_ANNOTATION]: '0' } } });
        }
        break;
      case 'patch':
        this.spec = { ...this.spec, ...op.spec };
        await this.patch({ spec: op.spec });
        break;
      case 'holdTerminating':
      case 'releaseTerminating':
        this.holding = op.op === 'holdTerminating';
        break;
      case 'barePod':
        await this.createBarePod();
        break;
      case 'finishPods':
        await this.finishPods(op.count, op.phase);
        break;
    }
    this.bound(before);
    this.minAvailableBound = 0;
    if ((op.op === 'image' || op.op === 'unschedulable' || op.op === 'schedulable') && this.startsComplete()) {
      // A template change from a complete rollout: RollingUpdate keeps replicas − maxUnavailable available.
      this.minAvailableBound = Math.max(0, this.spec.replicas - unavailableOf(this.spec, this.spec.replicas));
    }
  }

  private startsComplete(): boolean {
    const o = this.last;
    if (o === undefined || this.spec.paused === true || this.spec.strategy?.type === 'Recreate') {
      return false;
    }
    const templates = Object.entries(o.pods)
      .filter(([key]) => countsAsWorkloadPods(key))
      .map(([, p]) => p);
    return templates.length === 1 && templates[0]?.available === this.spec.replicas && templates[0]?.total === this.spec.replicas;
  }

  /** A pod nobody owns with the selector's labels (and the bare marker), scheduled like the workload's. */
  private async createBarePod(): Promise<void> {
    this.bareCount += 1;
    await core.createNamespacedPod({
      namespace: this.namespace,
      body: {
        metadata: { name: `${this.name}-bare-${this.bareCount}`, labels: { app: this.app, [BARE_LABEL]: 'true' } },
        spec: { schedulerName: 'default-scheduler', terminationGracePeriodSeconds: 0, containers: [{ name: 'debug', image: 'registry.example/debug:1' }] },
      },
    });
  }

  /** The first `count` running pods of the current template (by name) end in `phase`, not ready, as the kubelet would report them. */
  private async finishPods(count: number, phase: 'Failed' | 'Succeeded'): Promise<void> {
    const image = this.spec.image ?? 'registry.example/app:1';
    const victims = (await this.pods())
      .filter((p) => p.metadata?.deletionTimestamp == null && !isBare(p) && !isFinished(p) && templateKey(p) === image && p.status?.phase === 'Running')
      .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))
      .slice(0, count);
    const now = new Date().toISOString();
    for (const p of victims) {
      const conditions = (p.status?.conditions ?? []).map((c) =>
        c.type === 'Ready' || c.type === 'ContainersReady' ? { ...c, status: 'False', reason: 'PodCompleted', lastTransitionTime: now } : c,
      );
      await core.patchNamespacedPodStatus(
        {
          name: p.metadata?.name ?? '',
          namespace: this.namespace,
          body: { status: { phase, conditions, reason: phase === 'Failed' ? 'Evicted' : undefined } },
        },
        mergePatch,
      );
    }
  }

  /**
   * slowTermination: removes the hold finalizer of pods terminating for RELEASE_AFTER_MS (none
   * while holding). Called at every poll, so pods take time to terminate but never forever.
   */
  async releaseTerminated(now: number, force = false): Promise<void> {
    if (this.spec.slowTermination !== true || (this.holding && !force)) {
      return;
    }
    const due = (await this.pods()).filter(
      (p) =>
        p.metadata?.finalizers?.includes(HOLD_FINALIZER) === true &&
        p.metadata.deletionTimestamp != null &&
        (force || now - new Date(p.metadata.deletionTimestamp).getTime() >= RELEASE_AFTER_MS),
    );
    await Promise.all(
      due.map(
        (p) =>
          core
            .patchNamespacedPod(
              {
                name: p.metadata?.name ?? '',
                namespace: this.namespace,
                body: {
                  metadata: { finalizers: (p.metadata?.finalizers ?? []).filter((f) => f !== HOLD_FINALIZER), resourceVersion: p.metadata?.resourceVersion },
                },
              },
              mergePatch,
            )
            .catch(() => undefined), // changed or gone meanwhile: the next poll sees it again
      ),
    );
  }

  /**
   * After a slowTermination scenario: deletes the workload and removes the hold finalizer from
   * its pods until none is left holding, so the namespace can go.
   */
  async dispose(): Promise<void> {
    if (this.spec.slowTermination !== true) {
      return;
    }
    this.holding = false;
    const gone = async (): Promise<unknown> =>
      this.kind === 'Deployment'
        ? apps.deleteNamespacedDeployment({ name: this.name, namespace: this.namespace })
        : custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: this.namespace, plural: PLURAL, name: this.name });
    await gone().catch(() => undefined);
    await eventually(
      `${this.kind} ${this.name}: no pod left holding ${HOLD_FINALIZER}`,
      async () => {
        await this.releaseTerminated(Date.now(), true);
        const held = (await this.pods()).filter((p) => p.metadata?.finalizers?.includes(HOLD_FINALIZER) === true);
        // Pods not yet terminating are deleted with the workload by the garbage collector.
        return held.length === 0;
      },
      60_000,
      500,
    );
  }

  /** The same template written another way (a merge patch, as `kubectl apply` of a respelled manifest sends). */
  private async respell(spelling: number): Promise<void> {
    this.spec = { ...this.spec, spelling };
    const image = this.spec.image ?? 'registry.example/app:1';
    await this.patch({ spec: { template: { spec: { containers: [spelledContainer(image, spelling)], ...spelledPodFields(spelling) } } } });
  }

  /**
   * Asks the controller itself to roll back to the previous revision: a Deployment's
   * `deprecated.deployment.rollback.to` (still honoured by kube-controller-manager, and left
   * alone while paused), a PodGroup's `podgroup.dev/rollback-to`.
   */
  private async requestRollback(): Promise<void> {
    const key = this.kind === 'Deployment' ? 'deprecated.deployment.rollback.to' : ROLLBACK_ANNOTATION;
    await this.patch({ metadata: { annotations: { [key]: '0' } } });
  }

  /** `kubectl delete --cascade=orphan`, wait until it is gone, then apply the same manifest again. */
  private async orphanRecreate(): Promise<void> {
    const current = await this.read();
    if (this.kind === 'Deployment') {
      await apps.deleteNamespacedDeployment({ name: this.name, namespace: this.namespace, body: { propagationPolicy: 'Orphan' } });
    } else {
      await custom.deleteNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: this.namespace,
        plural: PLURAL,
        name: this.name,
        body: { propagationPolicy: 'Orphan' },
      });
    }
    await eventually(
      `${this.kind} ${this.name} deleted`,
      async () => {
        try {
          await this.read();
          return false;
        } catch {
          return true;
        }
      },
      60_000,
      200,
    );
    const body = { apiVersion: current.apiVersion, kind: current.kind, metadata: { name: this.name }, spec: current.spec };
    if (this.kind === 'Deployment') {
      await apps.createNamespacedDeployment({ namespace: this.namespace, body: body as k8s.V1Deployment });
    } else {
      await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: this.namespace, plural: PLURAL, body });
    }
  }

  async observe(now = Date.now()): Promise<Observed> {
    const [obj, pods, revisions] = await Promise.all([this.read(), this.pods(), this.revisionsOf()]);
    const status = (obj.status ?? {}) as Record<string, unknown>;
    const minReadySeconds = obj.spec?.minReadySeconds ?? 0;
    const byTemplate: Observed['pods'] = {};
    for (const pod of pods) {
      const key = podKey(pod);
      const entry = (byTemplate[key] ??= { total: 0, ready: 0, available: 0, terminating: 0 });
      entry.total += 1;
      if (pod.metadata?.deletionTimestamp != null) {
        entry.terminating += 1;
        continue;
      }
      if (isFinished(pod)) {
        continue;
      }
      if (pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) {
        entry.ready += 1;
      }
      if (isAvailable(pod, minReadySeconds, now)) {
        entry.available += 1;
      }
    }
    const conditions = ((status.conditions ?? []) as Array<{ type: string; status: string; reason?: string }>).map(
      (c) => [c.type, `${c.status}/${c.reason ?? ''}`] as const,
    );
    return {
      generation: obj.metadata?.generation ?? 0,
      observedGeneration: Number(status.observedGeneration ?? 0),
      status: Object.fromEntries(Object.entries(status).filter(([, v]) => typeof v === 'number')) as Record<string, number>,
      conditions: Object.fromEntries(conditions.sort()),
      pods: Object.fromEntries(Object.entries(byTemplate).sort(([a], [b]) => a.localeCompare(b))),
      revisions: revisions.length,
      revision: Number(obj.metadata?.annotations?.[this.kind === 'Deployment' ? 'deployment.kubernetes.io/revision' : REVISION_ANNOTATION] ?? 0),
    };
  }

  private async revisionsOf(): Promise<k8s.KubernetesObject[]> {
    const owned = (o: k8s.KubernetesObject): boolean => o.metadata?.ownerReferences?.some((r) => r.controller === true && r.name === this.name) ?? false;
    if (this.kind === 'Deployment') {
      return (await apps.listNamespacedReplicaSet({ namespace: this.namespace })).items.filter((r) => owned(r) && r.metadata?.deletionTimestamp == null);
    }
    return (await apps.listNamespacedControllerRevision({ namespace: this.namespace })).items.filter((r) => owned(r) && r.metadata?.deletionTimestamp == null);
  }

  /**
   * Invariants at one instant: never more pods than the surge bound allows (terminating pods
   * not counted, for both: the PodGroup's default podReplacementPolicy is a ReplicaSet's).
   */
  checkInvariants(o: Observed, after: string): void {
    this.last = o;
    const own = Object.entries(o.pods)
      .filter(([key]) => countsAsWorkloadPods(key))
      .map(([, p]) => p);
    const available = own.reduce((n, p) => n + p.available, 0);
    if (available < this.minAvailableBound) {
      this.violations.push(`${this.kind}: ${available} available < ${this.minAvailableBound} (replicas − maxUnavailable) after ${after}`);
    }
    const counted = own.reduce((n, p) => n + p.total - p.terminating, 0);
    if (!this.surgeWaived && this.maxSurgeBound > 0 && counted > this.maxSurgeBound) {
      this.violations.push(`${this.kind}: ${counted} pods > ${this.maxSurgeBound} (replicas + maxSurge) after ${after}`);
    }
  }

  /** Event reasons so far with their counts, e.g. "SuccessfulCreate×3". */
  async eventReasons(): Promise<string[]> {
    const counts = new Map<string, number>();
    for (const line of await this.events()) {
      const [, reason, count] = /^\S+ (\S+) ×(\d+)/.exec(line) ?? [];
      if (reason !== undefined) {
        counts.set(reason, (counts.get(reason) ?? 0) + Number(count));
      }
    }
    return [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([reason, n]) => `${reason}×${n}`);
  }

  async events(): Promise<string[]> {
    const list = await core.listNamespacedEvent({ namespace: this.namespace });
    return list.items
      .filter(
        (e) =>
          e.involvedObject.name === this.name ||
          (this.kind === 'Deployment' && e.involvedObject.kind === 'ReplicaSet' && e.involvedObject.name?.startsWith(`${this.name}-`)),
      )
      .sort((a, b) => String(a.firstTimestamp ?? a.eventTime ?? '').localeCompare(String(b.firstTimestamp ?? b.eventTime ?? '')))
      .map((e) => `${e.type} ${e.reason} ×${e.count ?? 1}: ${e.message}`);
  }
}

function unavailableOf(spec: WorkloadSpec, replicas: number): number {
  const value = spec.strategy?.rollingUpdate?.maxUnavailable ?? '25%';
  const n = typeof value === 'number' ? value : Math.floor((Number(value.replace('%', '')) * replicas) / 100);
  // Both 0 is not allowed; upstream then lets one be unavailable (ResolveFenceposts).
  return n === 0 && surgeOf(spec, replicas) === 0 ? 1 : Math.min(n, replicas);
}

function surgeOf(spec: WorkloadSpec, replicas: number): number {
  const value = spec.strategy?.rollingUpdate?.maxSurge ?? '25%';
  return typeof value === 'number' ? value : Math.ceil((Number(value.replace('%', '')) * replicas) / 100);
}

export interface ScenarioOptions {
  /** Settled means: nothing observable changed for this long. */
  quietMs?: number;
  settleTimeoutMs?: number;
  pollMs?: number;
  /** Extra condition for settling after an op (e.g. both timed out). */
  until?: (observed: Observed) => boolean;
  /** Settled even if status.observedGeneration stays behind (a sync that fails before its status, as getNewReplicaSet's create error). */
  staleGeneration?: boolean;
}

export interface ScenarioResult {
  deployment: Observed;
  podGroup: Observed;
  timelines: { deployment: TimelineEntry[]; podGroup: TimelineEntry[] };
}

const stateKey = (o: Observed): string => JSON.stringify(o);

/** Polls both until neither changed for quietMs (and `until` holds for both); records the timeline. */
async function settle(pair: Workload[], after: string, options: ScenarioOptions): Promise<Observed[]> {
  const quietMs = options.quietMs ?? 2_500;
  const deadline = Date.now() + (options.settleTimeoutMs ?? 120_000);
  const last: (string | undefined)[] = pair.map(() => undefined);
  let stableSince = Date.now();
  for (;;) {
    const now = Date.now();
    await Promise.all(pair.map((w) => w.releaseTerminated(now)));
    const observed = await Promise.all(pair.map((w) => w.observe(now)));
    observed.forEach((o, i) => {
      const w = pair[i] as Workload;
      w.checkInvariants(o, after);
      const key = stateKey(o);
      if (key !== last[i]) {
        last[i] = key;
        stableSince = now;
        w.timeline.push({ t: now, after, observed: o });
      }
    });
    // Held pods stay Terminating: settled then means nothing else changes.
    const caughtUp = observed.every(
      (o, i) =>
        (options.staleGeneration === true || o.observedGeneration >= o.generation) &&
        (pair[i]?.holding === true || Object.values(o.pods).every((p) => p.terminating === 0)),
    );
    const wanted = options.until === undefined || observed.every(options.until);
    if (caughtUp && wanted && now - stableSince >= quietMs) {
      // The settled state joins the timeline with the events so far (reason ×count).
      await Promise.all(
        pair.map(async (w, i) => w.timeline.push({ t: now, after: `${after} (settled)`, observed: observed[i] as Observed, events: await w.eventReasons() })),
      );
      return observed;
    }
    if (now > deadline) {
      throw new Error(
        `did not settle within ${options.settleTimeoutMs ?? 120_000} ms after ${after}:\n${sideBySide(observed[0], observed[1], ['Deployment', 'PodGroup'])}`,
      );
    }
    await sleep(options.pollMs ?? 400);
  }
}

export interface Step {
  /** An operation applied to both workloads at once. */
  op?: Op;
  /** Or something done to the cluster (e.g. lifting an admission policy). */
  action?: { label: string; run: () => Promise<void> };
  options?: ScenarioOptions;
  /** Also compare the settled states after this step (all of it, or only the conditions), not only at the end. */
  compare?: boolean | 'conditions';
  /** From this step on, the Deployment may surge past maxSurge (refused-deletes). */
  waiveDeploymentSurge?: boolean;
}

/** Where the two workloads live and what they are called. */
export interface Pair {
  namespaces: [string, string];
  names: [string, string];
  apps: [string, string];
}

/** Both in one namespace, named <prefix>-d and <prefix>-pg. */
export const inNamespace = (namespace: string, prefix: string): Pair => ({
  namespaces: [namespace, namespace],
  names: [`${prefix}-d`, `${prefix}-pg`],
  apps: [`${prefix}-d`, `${prefix}-pg`],
});

/** "3×app:2 (3 available) | Progressing True/NewReplicaSetAvailable | 2 revisions" */
function outcome(o: Observed): string {
  const pods =
    Object.entries(o.pods)
      .map(([key, p]) => `${p.total}×${key.replace('registry.example/', '')} (${p.available} available)`)
      .join(' + ') || 'no pods';
  const conditions = Object.entries(normalize(o).conditions)
    .map(([type, v]) => `${type} ${v}`)
    .join(', ');
  return `${pods} | ${conditions} | ${o.revisions} revisions`;
}

function compare(d: Observed, p: Observed, deployment: Workload, podGroup: Workload, what: true | 'conditions' = true): string | undefined {
  const left = what === true ? normalize(d) : { conditions: normalize(d).conditions };
  const right = what === true ? normalize(p) : { conditions: normalize(p).conditions };
  const violations = [...deployment.violations, ...podGroup.violations];
  if (JSON.stringify(left) === JSON.stringify(right) && violations.length === 0) {
    return undefined;
  }
  return [...(violations.length > 0 ? ['invariant violations:', ...violations.slice(0, 10)] : []), sideBySide(left, right, ['Deployment', 'PodGroup'])].join(
    '\n',
  );
}

/**
 * Creates both workloads, settles, applies each step to both at once and settles again, then
 * compares the final states (and those of steps marked `compare`). A mismatch throws with a
 * side-by-side diff, both timelines and both workloads' events.
 */
export async function runScenario(pair: Pair, spec: WorkloadSpec, steps: Step[], options: ScenarioOptions & { label?: string } = {}): Promise<ScenarioResult> {
  const deployment = new Workload('Deployment', pair.namespaces[0], pair.names[0], pair.apps[0], spec);
  const podGroup = new Workload('PodGroup', pair.namespaces[1], pair.names[1], pair.apps[1], spec);
  const both = [deployment, podGroup];
  const done: string[] = [];
  const fail = async (what: string, detail: string): Promise<never> => {
    const [de, pe] = await Promise.all([deployment.events(), podGroup.events()]);
    const timeline = (w: Workload): string =>
      w.timeline
        .map(
          (e) =>
            `  +${e.t - (w.timeline[0]?.t ?? 0)}ms after ${e.after}: ${JSON.stringify(e.observed)}${e.events === undefined ? '' : ` events ${e.events.join(' ')}`}`,
        )
        .join('\n');
    throw new Error(
      [
        `conformance mismatch${options.label === undefined ? '' : ` (${options.label})`} ${what}, after ${done.join(' → ')}`,
        detail,
        'Deployment timeline:',
        timeline(deployment),
        'PodGroup timeline:',
        timeline(podGroup),
        'Deployment events:',
        ...de,
        'PodGroup events:',
        ...pe,
      ].join('\n'),
    );
  };
  let result: ScenarioResult;
  try {
    result = await runSteps(both, steps, options, done, fail);
  } catch (err) {
    // The scenario's own failure is what to report; cleanup is best effort then.
    await Promise.allSettled(both.map((w) => w.dispose()));
    throw err;
  }
  await Promise.all(both.map((w) => w.dispose()));
  return result;
}

async function runSteps(
  [deployment, podGroup]: Workload[],
  steps: Step[],
  options: ScenarioOptions & { label?: string },
  done: string[],
  fail: (what: string, detail: string) => Promise<never>,
): Promise<ScenarioResult> {
  if (deployment === undefined || podGroup === undefined) {
    throw new Error('a scenario needs a Deployment and a PodGroup');
  }
  const both = [deployment, podGroup];
  await Promise.all(both.map((w) => w.create()));
  done.push('create');
  let observed = await settle(both, 'create', options);
  for (const step of steps) {
    const label = step.op !== undefined ? describeOp(step.op) : (step.action?.label ?? '?');
    if (step.waiveDeploymentSurge === true) {
      deployment.surgeWaived = true;
    }
    if (step.op !== undefined) {
      const op = step.op;
      await Promise.all(both.map((w) => w.apply(op)));
    } else {
      await step.action?.run();
    }
    done.push(label);
    observed = await settle(both, label, { ...options, ...step.options });
    if (step.compare !== undefined && step.compare !== false) {
      const mismatch = compare(observed[0] as Observed, observed[1] as Observed, deployment, podGroup, step.compare);
      if (mismatch !== undefined) {
        await fail(`at step ${label}`, mismatch);
      }
    }
  }
  const [d, p] = observed as [Observed, Observed];
  const mismatch = compare(d, p, deployment, podGroup);
  if (mismatch !== undefined) {
    await fail('at the end', mismatch);
  }
  if (process.env.PODGROUP_CONFORMANCE_PRINT !== undefined) {
    // One line per workload: what both ended with (for reports).
    console.log([deployment, podGroup].map((w, i) => `${options.label ?? ''} ${w.kind}: ${outcome(observed[i] as Observed)}`).join('\n'));
  }
  return { deployment: d, podGroup: p, timelines: { deployment: deployment.timeline, podGroup: podGroup.timeline } };
}
