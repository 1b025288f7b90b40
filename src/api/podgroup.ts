// The PodGroup API (podgroup.dev/v1alpha1): TypeScript types matching crds/podgroup.yaml, and
// the label/annotation keys the controller, webhook and extender share.
import type * as k8s from '@kubernetes/client-node';

export const GROUP = 'podgroup.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'PodGroup';
export const PLURAL = 'podgroups';

/** Label on pods and ControllerRevisions: the revision's template hash (as StatefulSet/DaemonSet use). */
export const REVISION_HASH_LABEL = 'controller-revision-hash';
/**
 * Label on pods, beside REVISION_HASH_LABEL and with the same value: the label a Deployment's
 * pods carry, which `topologySpreadConstraints[].matchLabelKeys` and pod (anti-)affinity
 * `matchLabelKeys` name to spread or separate the pods of one template during a rollout.
 */
export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';
/** Label on ControllerRevisions: the PodGroup they belong to (revisions are found by owner index too). */
export const PODGROUP_NAME_LABEL = `${GROUP}/name`;
/** Annotation on a PodGroup: roll back to this revision number; the controller applies and removes it. */
export const ROLLBACK_ANNOTATION = `${GROUP}/rollback-to`;
/**
 * Annotation on pods a PodGroup creates: the spec.sidecars of the pod's revision (JSON). The
 * webhook injects from it, so a replacement pod of an old revision keeps that revision's sidecars.
 */
export const REVISION_SIDECARS_ANNOTATION = `${GROUP}/sidecars`;
/**
 * Annotation on ControllerRevisions: how many pods of that revision the PodGroup wants now (a
 * ReplicaSet's spec.replicas). Rollouts and scaling move these counts; each revision's pods are
 * then brought to its count, so a lost pod is replaced in its own revision.
 */
export const REVISION_REPLICAS_ANNOTATION = `${GROUP}/replicas`;
/**
 * Annotation on ControllerRevisions: replicas + maxSurge of the PodGroup when the revision's
 * count was last set (a ReplicaSet's deployment.kubernetes.io/max-replicas), the baseline of
 * proportional scaling: a maxSurge changed since then does not skew the shares.
 */
export const REVISION_MAX_REPLICAS_ANNOTATION = `${GROUP}/max-replicas`;
/**
 * Annotation on a PodGroup: the number of its update revision, as `deployment.kubernetes.io/revision`
 * on a Deployment (CD scripts and `kubectl podgroup rollout status --revision` read it).
 */
export const REVISION_ANNOTATION = `${GROUP}/revision`;
/** The pod annotation KCM's ranking reads: lower cost is deleted first on scale-down. */
export const POD_DELETION_COST_ANNOTATION = 'controller.kubernetes.io/pod-deletion-cost';
/** The secondary scheduler that runs the gang/placement extender. */
export const PODGROUP_SCHEDULER = 'podgroup-scheduler';

export type IntOrString = number | string;

export interface RollingUpdate {
  maxSurge?: IntOrString;
  maxUnavailable?: IntOrString;
}

export interface Strategy {
  type?: 'RollingUpdate' | 'Recreate';
  rollingUpdate?: RollingUpdate;
}

export interface Placement {
  policy?: 'Spread' | 'Pack';
  maxPerNode?: number;
}

export interface LogCollectorSidecar {
  enabled?: boolean;
  containers?: string[];
  path?: string;
  files?: string;
  output?: { type?: 'stdout' | 'forward'; host?: string; port?: number };
  image?: string;
  resources?: k8s.V1ResourceRequirements;
}

export interface GitSyncSidecar {
  repo: string;
  ref?: string;
  period?: string;
  root?: string;
  link?: string;
  mountPath?: string;
  containers?: string[];
  credentialsSecretRef?: { name: string };
  /** The user name git-sync sends with the Secret's password (not a secret; default "git"). */
  username?: string;
  /** Allow a plain http:// repository (no credentials): code fetched without TLS can be altered on the way. */
  allowPlainHTTP?: boolean;
  mode?: 'native' | 'fallback';
  image?: string;
  resources?: k8s.V1ResourceRequirements;
}

export interface Sidecars {
  logCollector?: LogCollectorSidecar;
  gitSync?: GitSyncSidecar;
}

export type PodReplacementPolicy = 'TerminationStarted' | 'TerminationComplete';
/**
 * A ReplicaSet's behaviour: a pod is replaced as soon as its deletion starts, so pods held
 * Terminating (a finalizer, an unreachable node) never leave the PodGroup short.
 */
export const DEFAULT_POD_REPLACEMENT_POLICY: PodReplacementPolicy = 'TerminationStarted';

export interface PodGroupSpec {
  replicas?: number;
  selector: k8s.V1LabelSelector;
  template: k8s.V1PodTemplateSpec;
  minAvailable?: number;
  strategy?: Strategy;
  minReadySeconds?: number;
  progressDeadlineSeconds?: number;
  revisionHistoryLimit?: number;
  paused?: boolean;
  /** Whether a terminating pod still counts against replicas + maxSurge (DEFAULT_POD_REPLACEMENT_POLICY when unset). */
  podReplacementPolicy?: PodReplacementPolicy;
  placement?: Placement;
  sidecars?: Sidecars;
}

/**
 * The fields the CRD schema defaults, always set: what the deciding modules (plan, status, the
 * state gauges, the plugin) take, so that each default is written once, in `withDefaults`.
 */
export type DefaultedPodGroupSpec = PodGroupSpec &
  Required<Pick<PodGroupSpec, 'replicas' | 'minReadySeconds' | 'progressDeadlineSeconds' | 'revisionHistoryLimit' | 'podReplacementPolicy' | 'strategy'>>;

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastUpdateTime?: string;
  observedGeneration?: number;
}

export interface PodGroupStatus {
  observedGeneration?: number;
  replicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  updatedReplicas?: number;
  unavailableReplicas?: number;
  terminatingReplicas?: number;
  scheduledReplicas?: number;
  currentRevision?: string;
  updateRevision?: string;
  collisionCount?: number;
  /** The spec.replicas the pods were last sized for; a different spec.replicas is a scaling event. */
  sizedForReplicas?: number;
  selector?: string;
  conditions?: Condition[];
}

export interface PodGroup extends k8s.KubernetesObject {
  apiVersion?: string;
  kind?: string;
  metadata?: k8s.V1ObjectMeta;
  spec: PodGroupSpec;
  status?: PodGroupStatus;
}

/** A PodGroup whose spec has every schema default applied (see `withDefaults`). */
export interface DefaultedPodGroup extends PodGroup {
  spec: DefaultedPodGroupSpec;
}

/** The schema defaults of a spec, in case the object predates them (the API server applies them on read too). */
export function defaultSpec(spec: PodGroupSpec): DefaultedPodGroupSpec {
  return {
    ...spec,
    replicas: spec.replicas ?? 1,
    minReadySeconds: spec.minReadySeconds ?? 0,
    progressDeadlineSeconds: spec.progressDeadlineSeconds ?? 600,
    revisionHistoryLimit: spec.revisionHistoryLimit ?? 10,
    podReplacementPolicy: spec.podReplacementPolicy ?? DEFAULT_POD_REPLACEMENT_POLICY,
    strategy: spec.strategy ?? { type: 'RollingUpdate' },
  };
}

/** The PodGroup with its spec defaulted: the one place the schema defaults are applied in code. */
export const withDefaults = (pg: PodGroup): DefaultedPodGroup => ({ ...pg, spec: defaultSpec(pg.spec) });

export const CONDITION_AVAILABLE = 'Available';
export const CONDITION_PROGRESSING = 'Progressing';
export const CONDITION_REPLICA_FAILURE = 'ReplicaFailure';
/** Whether every member can be placed (the extender's gang verdict, from pods' PodScheduled). */
export const CONDITION_GANG_SCHEDULED = 'GangScheduled';

/**
 * The controller owner reference naming a PodGroup (kind PodGroup, API group podgroup.dev, any
 * version), or undefined. The one owner check the controller, the webhook and the extender share;
 * callers that hold the PodGroup compare `uid` too.
 */
export function podGroupOwnerOf(obj: { metadata?: { ownerReferences?: k8s.V1OwnerReference[] } }): k8s.V1OwnerReference | undefined {
  return obj.metadata?.ownerReferences?.find((r) => r.controller === true && r.kind === KIND && r.apiVersion.split('/')[0] === GROUP);
}

/**
 * The cache key (`namespace/name`) of the PodGroup named by `obj`'s controller reference, in
 * `namespace` (an owner is always in its dependent's namespace), or undefined.
 */
export function podGroupKeyOf(
  obj: { metadata?: { namespace?: string; ownerReferences?: k8s.V1OwnerReference[] } },
  namespace = obj.metadata?.namespace,
): string | undefined {
  const ref = podGroupOwnerOf(obj);
  return ref === undefined ? undefined : `${namespace}/${ref.name}`;
}

/**
 * The PodGroup controlling `obj`, looked up by key and checked by UID: a reference to a PodGroup
 * deleted and recreated under the same name, or a forged one, names no PodGroup.
 */
export function controllingPodGroup(
  obj: { metadata?: { namespace?: string; ownerReferences?: k8s.V1OwnerReference[] } },
  lookup: (key: string) => PodGroup | undefined,
  namespace = obj.metadata?.namespace,
): PodGroup | undefined {
  const key = podGroupKeyOf(obj, namespace);
  const group = key === undefined ? undefined : lookup(key);
  return group !== undefined && group.metadata?.uid === podGroupOwnerOf(obj)?.uid ? group : undefined;
}
