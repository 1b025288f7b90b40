// Deciding the status: counts, revisions and the conditions `kubectl describe podgroup` shows,
// with kube-controller-manager's Deployment condition reasons. Pure: `now` is an input, and an
// unchanged world yields an identical status (so an idle controller writes nothing).
import type * as k8s from '@kubernetes/client-node';
import {
  CONDITION_AVAILABLE,
  CONDITION_GANG_SCHEDULED,
  CONDITION_PROGRESSING,
  CONDITION_REPLICA_FAILURE,
  type Condition,
  type DefaultedPodGroup,
  type DefaultedPodGroupSpec,
  type PodGroupStatus,
} from '../api/podgroup.js';
import { classify, type PodCounts } from './pod-counts.js';
import { isAvailable, isReady, isScheduled, notReadyCause, unschedulableMessage } from './pod-state.js';
import { revisionHashOf } from './revisions.js';
import { resolveFenceposts } from './rollout.js';

export const REASON = {
  newRevisionCreated: 'NewReplicaSetCreated',
  foundNewRevision: 'FoundNewReplicaSet',
  progressing: 'ReplicaSetUpdated',
  complete: 'NewReplicaSetAvailable',
  deadlineExceeded: 'ProgressDeadlineExceeded',
  paused: 'DeploymentPaused',
  resumed: 'DeploymentResumed',
  minimumAvailable: 'MinimumReplicasAvailable',
  minimumUnavailable: 'MinimumReplicasUnavailable',
  failedCreate: 'FailedCreate',
  failedDelete: 'FailedDelete',
  revisionCreateError: 'ReplicaSetCreateError',
  gangScheduled: 'AllMembersScheduled',
  gangPending: 'Unschedulable',
} as const;

export interface StatusInput {
  pg: DefaultedPodGroup;
  pods: k8s.V1Pod[];
  updateHash: string;
  collisionCount: number;
  /** A create or delete the API refused in this sync (ReplicaFailure, as the ReplicaSet reports it). */
  replicaFailure: { reason: typeof REASON.failedCreate | typeof REASON.failedDelete; message: string } | undefined;
  /** The spec.replicas the pods are now sized for (see PlanInput.sizedFor). */
  sizedForReplicas: number | undefined;
  /** True when this sync created the update revision. */
  revisionCreated: boolean;
  /**
   * Every revision's desired pod count after this sync (a ReplicaSet's spec.replicas): their sum
   * minus the available pods is unavailableReplicas, as upstream's calculateStatus. A surge pod
   * that cannot be created (quota) stays unavailable.
   */
  desiredSizes: ReadonlyMap<string, number>;
  now: number;
}

/** " 2 pods: container git-sync keeps failing (exit code 1, Error)." — the most common causes among not-ready pods. */
function causes(pods: k8s.V1Pod[]): string {
  const byCause = new Map<string, number>();
  for (const pod of pods) {
    const cause = isReady(pod) ? undefined : notReadyCause(pod);
    if (cause !== undefined) {
      byCause.set(cause, (byCause.get(cause) ?? 0) + 1);
    }
  }
  const ranked = [...byCause.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 2);
  return ranked.map(([cause, n]) => ` ${n} pod${n === 1 ? '' : 's'}: ${cause}.`).join('');
}

export interface StatusResult {
  status: PodGroupStatus;
  /** When to re-check the progress deadline, if a rollout is under way. */
  recheckAfterMs: number | undefined;
}

/** spec.selector in label-selector string form (for the scale subresource / HPA). */
export function selectorString(selector: k8s.V1LabelSelector): string {
  const parts = Object.entries(selector.matchLabels ?? {})
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`);
  for (const e of selector.matchExpressions ?? []) {
    const values = [...(e.values ?? [])].sort().join(',');
    switch (e.operator) {
      case 'In':
        parts.push(`${e.key} in (${values})`);
        break;
      case 'NotIn':
        parts.push(`${e.key} notin (${values})`);
        break;
      case 'Exists':
        parts.push(e.key);
        break;
      case 'DoesNotExist':
        parts.push(`!${e.key}`);
        break;
      default:
        break;
    }
  }
  return parts.join(',');
}

/**
 * Sets a condition as upstream's SetDeploymentCondition: unchanged when status and reason are
 * the same (and, with `messageMatters`, the message); lastTransitionTime kept while the status
 * is the same. Returns a new list.
 */
export function setCondition(conditions: Condition[], next: Condition, nowIso: string, messageMatters = false): Condition[] {
  const existing = conditions.find((c) => c.type === next.type);
  if (existing !== undefined && existing.status === next.status && existing.reason === next.reason && (!messageMatters || existing.message === next.message)) {
    return conditions;
  }
  return renewCondition(conditions, next, nowIso);
}

/**
 * The conditions after the API refused to create the update revision (quota, admission), as
 * getNewReplicaSet sets them: Progressing=False/ReplicaSetCreateError when there is a progress
 * deadline; undefined when nothing is to be written. Nothing else in the status moves: the sync
 * stops there, so observedGeneration too stays behind.
 */
export function revisionCreateFailed(pg: DefaultedPodGroup, revisionName: string, message: string, now: number): Condition[] | undefined {
  if (!hasProgressDeadline(pg.spec)) {
    return undefined;
  }
  const nowIso = new Date(Math.floor(now / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  const before = pg.status?.conditions ?? [];
  const after = setCondition(
    before,
    {
      type: CONDITION_PROGRESSING,
      status: 'False',
      reason: REASON.revisionCreateError,
      message: `Failed to create new revision ${JSON.stringify(revisionName)}: ${message}`,
    },
    nowIso,
  );
  return after === before ? undefined : after;
}

/**
 * The one condition upsert: `next` with a fresh lastUpdateTime (progress: the deadline counts
 * from here) even when nothing else changed, lastTransitionTime kept while the status is the
 * same. Returns a new list, sorted by type.
 */
function renewCondition(conditions: Condition[], next: Condition, nowIso: string): Condition[] {
  const existing = conditions.find((c) => c.type === next.type);
  const merged: Condition = {
    ...next,
    lastTransitionTime: existing?.status === next.status ? (existing.lastTransitionTime ?? nowIso) : nowIso,
    lastUpdateTime: nowIso,
  };
  return [...conditions.filter((c) => c.type !== next.type), merged].sort((a, b) => (a.type < b.type ? -1 : 1));
}

/**
 * Whether the rollout is complete (Deployment's DeploymentComplete): exactly the wanted pods,
 * all of the update revision and available. The counts are the status's, or the pods' now.
 */
export const isRolloutComplete = (
  wanted: number,
  counts: { replicas: number | undefined; updated: number | undefined; available: number | undefined },
): boolean => counts.updated === wanted && counts.replicas === wanted && counts.available === wanted;

/** progressDeadlineSeconds of MaxInt32 means no deadline (upstream's HasProgressDeadline). */
export const NO_PROGRESS_DEADLINE = 2147483647;
export const hasProgressDeadline = (spec: Pick<DefaultedPodGroupSpec, 'progressDeadlineSeconds'>): boolean =>
  spec.progressDeadlineSeconds !== NO_PROGRESS_DEADLINE;

const removeCondition = (conditions: Condition[], type: string): Condition[] => conditions.filter((c) => c.type !== type);

/** `counts`: the pods classified for the update revision, when the caller already has them (as plan's). */
export function computeStatus(input: StatusInput, counts: PodCounts = classify(input.pods, input.updateHash)): StatusResult {
  const { pg, now } = input;
  const nowIso = new Date(Math.floor(now / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  const spec = pg.spec;
  const replicas = spec.replicas;
  const minReadySeconds = spec.minReadySeconds;
  const previous = pg.status ?? {};
  const available = counts.active.filter((p) => isAvailable(p, minReadySeconds, now)).length;
  const ready = counts.active.filter(isReady).length;
  const updated = counts.newActive.length;
  const oldHashes = new Set(counts.oldActive.map((p) => revisionHashOf(p) ?? ''));
  // Every active pod is new (updated === active), so no old pod is left either.
  const complete = isRolloutComplete(replicas, { replicas: counts.active.length, updated, available });

  // currentRevision moves to the update revision once a rollout completes.
  let currentRevision = previous.currentRevision;
  if (complete || currentRevision === undefined || (!oldHashes.has(currentRevision) && currentRevision !== input.updateHash)) {
    currentRevision = complete || oldHashes.size === 0 ? input.updateHash : [...oldHashes].sort()[0];
  }

  let conditions = [...(previous.conditions ?? [])];
  const { maxUnavailable } = resolveFenceposts(spec, replicas);
  const minimum = spec.strategy?.type === 'Recreate' ? replicas : replicas - maxUnavailable;
  conditions = setCondition(
    conditions,
    available >= minimum
      ? { type: CONDITION_AVAILABLE, status: 'True', reason: REASON.minimumAvailable, message: 'PodGroup has minimum availability.' }
      : {
          type: CONDITION_AVAILABLE,
          status: 'False',
          reason: REASON.minimumUnavailable,
          message: `PodGroup does not have minimum availability.${causes(counts.active)}`,
        },
    nowIso,
    // The message names why pods are not ready: it follows them (upstream's message is fixed).
    true,
  );

  // Progressing, as KCM's checkPausedConditions, getNewReplicaSet and syncRolloutStatus.
  const name = pg.metadata?.name ?? '';
  const revisionName = `${name}-${input.updateHash}`;
  let recheckAfterMs: number | undefined;
  const current = (): Condition | undefined => conditions.find((c) => c.type === CONDITION_PROGRESSING);
  if (!hasProgressDeadline(spec)) {
    conditions = removeCondition(conditions, CONDITION_PROGRESSING);
  } else if (current()?.reason !== REASON.deadlineExceeded) {
    if (spec.paused === true && current()?.reason !== REASON.paused) {
      conditions = setCondition(conditions, { type: CONDITION_PROGRESSING, status: 'Unknown', reason: REASON.paused, message: 'PodGroup is paused' }, nowIso);
    } else if (spec.paused !== true && current()?.reason === REASON.paused) {
      conditions = setCondition(conditions, { type: CONDITION_PROGRESSING, status: 'Unknown', reason: REASON.resumed, message: 'PodGroup is resumed' }, nowIso);
    }
  }
  if (hasProgressDeadline(spec) && spec.paused !== true) {
    if (input.revisionCreated) {
      conditions = setCondition(
        conditions,
        { type: CONDITION_PROGRESSING, status: 'True', reason: REASON.newRevisionCreated, message: `Created new revision "${revisionName}"` },
        nowIso,
      );
    } else if (current() === undefined) {
      conditions = setCondition(
        conditions,
        { type: CONDITION_PROGRESSING, status: 'True', reason: REASON.foundNewRevision, message: `Found new revision "${revisionName}"` },
        nowIso,
      );
    }
    // A resync of a finished rollout (every pod updated) estimates no progress: losing a pod
    // or scaling is not a rollout.
    const wasComplete = counts.active.length === updated && current()?.reason === REASON.complete;
    const deadlineMs = spec.progressDeadlineSeconds * 1000;
    if (!wasComplete) {
      const progressed =
        updated > (previous.updatedReplicas ?? 0) ||
        counts.active.length - updated < (previous.replicas ?? 0) - (previous.updatedReplicas ?? 0) ||
        ready > (previous.readyReplicas ?? 0) ||
        available > (previous.availableReplicas ?? 0);
      const prev = current();
      if (complete) {
        conditions = setCondition(
          conditions,
          {
            type: CONDITION_PROGRESSING,
            status: 'True',
            reason: REASON.complete,
            message: `PodGroup "${name}" revision "${revisionName}" has successfully progressed.`,
          },
          nowIso,
        );
      } else if (progressed) {
        conditions = renewCondition(
          conditions,
          { type: CONDITION_PROGRESSING, status: 'True', reason: REASON.progressing, message: `PodGroup "${name}" revision "${revisionName}" is progressing.` },
          nowIso,
        );
        recheckAfterMs = deadlineMs;
      } else if (prev !== undefined && prev.reason !== REASON.complete && prev.reason !== REASON.deadlineExceeded) {
        const lastProgress = new Date(prev.lastUpdateTime ?? prev.lastTransitionTime ?? nowIso).getTime();
        const remaining = lastProgress + deadlineMs - now;
        if (remaining < 0) {
          conditions = setCondition(
            conditions,
            {
              type: CONDITION_PROGRESSING,
              status: 'False',
              reason: REASON.deadlineExceeded,
              message: `PodGroup "${name}" revision "${revisionName}" has timed out progressing.`,
            },
            nowIso,
          );
        } else {
          recheckAfterMs = Math.max(remaining, 1000);
        }
      }
    }
  }

  conditions =
    input.replicaFailure === undefined
      ? removeCondition(conditions, CONDITION_REPLICA_FAILURE)
      : setCondition(
          conditions,
          { type: CONDITION_REPLICA_FAILURE, status: 'True', reason: input.replicaFailure.reason, message: input.replicaFailure.message },
          nowIso,
        );

  // Why members are Pending: the scheduler's own words from PodScheduled=False.
  const pendingMessages = counts.active
    .filter((p) => !isScheduled(p))
    .map(unschedulableMessage)
    .filter((m): m is string => m !== undefined);
  const scheduled = counts.active.filter(isScheduled).length;
  if (pendingMessages.length > 0) {
    conditions = setCondition(
      conditions,
      {
        type: CONDITION_GANG_SCHEDULED,
        status: 'False',
        reason: REASON.gangPending,
        message: `${pendingMessages.length} member(s) Pending: ${mostCommon(pendingMessages)}`,
      },
      nowIso,
      true,
    );
  } else if (counts.active.length > 0 && scheduled === counts.active.length) {
    conditions = setCondition(
      conditions,
      { type: CONDITION_GANG_SCHEDULED, status: 'True', reason: REASON.gangScheduled, message: `All ${scheduled} member(s) are scheduled` },
      nowIso,
      true,
    );
  }

  const status: PodGroupStatus = {
    observedGeneration: pg.metadata?.generation,
    replicas: counts.active.length,
    readyReplicas: ready,
    availableReplicas: available,
    updatedReplicas: updated,
    unavailableReplicas: Math.max(0, [...input.desiredSizes.values()].reduce((n, v) => n + v, 0) - available),
    terminatingReplicas: counts.terminating.length,
    scheduledReplicas: scheduled,
    currentRevision,
    updateRevision: input.updateHash,
    collisionCount: input.collisionCount,
    ...(input.sizedForReplicas === undefined ? {} : { sizedForReplicas: input.sizedForReplicas }),
    selector: selectorString(spec.selector),
    conditions,
  };
  return { status, recheckAfterMs };
}

function mostCommon(messages: string[]): string {
  const counts = new Map<string, number>();
  for (const m of messages) {
    counts.set(m, (counts.get(m) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '';
}

export interface StatusEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** Events for condition changes worth a line in `kubectl describe`: only transitions, never resyncs. */
export function statusEvents(before: Condition[], after: Condition[]): StatusEvent[] {
  const old = new Map(before.map((c) => [c.type, c]));
  const out: StatusEvent[] = [];
  for (const c of after) {
    const was = old.get(c.type);
    if (was?.status === c.status && was?.reason === c.reason) {
      continue;
    }
    if (c.type === CONDITION_PROGRESSING && c.reason === REASON.deadlineExceeded) {
      out.push({ type: 'Warning', reason: REASON.deadlineExceeded, message: c.message ?? '' });
    } else if (c.type === CONDITION_PROGRESSING && c.reason === REASON.complete) {
      out.push({ type: 'Normal', reason: 'RolloutComplete', message: c.message ?? '' });
    } else if (c.type === CONDITION_GANG_SCHEDULED && c.status === 'False') {
      out.push({ type: 'Warning', reason: 'Unschedulable', message: c.message ?? '' });
    }
  }
  return out;
}
