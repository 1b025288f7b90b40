// The standard Reconciling and Stalled conditions that kstatus (sigs.k8s.io/cli-utils: Flux's
// health checks, kpt live apply, Helm 4's --wait) reads on any kind it does not know, derived from
// the Deployment-style status, so that it reaches for a PodGroup the verdict it reaches for a
// Deployment in the same state: InProgress while pods come up or a rollout runs (paused
// included), Failed once the progress deadline is exceeded, Current when the rollout is complete.
// kstatus takes the first True one of the two it finds: they are never True together.
import { CONDITION_AVAILABLE, CONDITION_PROGRESSING, type Condition, type DefaultedPodGroupSpec, type PodGroupStatus } from '../api/podgroup.js';
import { hasProgressDeadline, REASON, setCondition } from './status.js';

export const CONDITION_RECONCILING = 'Reconciling';
export const CONDITION_STALLED = 'Stalled';

/**
 * Why the rollout is not complete, checked in the order kstatus checks a Deployment's counts and
 * conditions (its reasons; its messages with revision for ReplicaSet), or undefined when complete.
 */
export function rolloutInProgress(spec: DefaultedPodGroupSpec, status: PodGroupStatus): { reason: string; message: string } | undefined {
  const desired = spec.replicas;
  const replicas = status.replicas ?? 0;
  const updated = status.updatedReplicas ?? 0;
  const ready = status.readyReplicas ?? 0;
  const available = status.availableReplicas ?? 0;
  const condition = (type: string): Condition | undefined => status.conditions?.find((c) => c.type === type);
  if (desired > replicas) {
    return { reason: 'LessReplicas', message: `Replicas: ${replicas}/${desired}` };
  }
  if (desired > updated) {
    return { reason: 'LessUpdated', message: `Updated: ${updated}/${desired}` };
  }
  if (replicas > desired) {
    return { reason: 'ExtraPods', message: `Pending termination: ${replicas - desired}` };
  }
  if (updated > available) {
    return { reason: 'LessAvailable', message: `Available: ${available}/${updated}` };
  }
  if (desired > ready) {
    return { reason: 'LessReady', message: `Ready: ${ready}/${desired}` };
  }
  // Without a deadline there is no Progressing verdict to wait for (upstream sets none either).
  const progressing = condition(CONDITION_PROGRESSING);
  if (hasProgressDeadline(spec) && !(progressing?.status === 'True' && progressing.reason === REASON.complete)) {
    return { reason: 'RevisionNotAvailable', message: 'Revision not Available' };
  }
  if (condition(CONDITION_AVAILABLE)?.status !== 'True') {
    return { reason: 'PodGroupNotAvailable', message: 'PodGroup not Available' };
  }
  return undefined;
}

/** The status with Reconciling and Stalled set from its counts and its Progressing and Available conditions. */
export function withKstatusConditions(spec: DefaultedPodGroupSpec, status: PodGroupStatus, now: number): PodGroupStatus {
  const nowIso = new Date(Math.floor(now / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  const progressing = status.conditions?.find((c) => c.type === CONDITION_PROGRESSING);
  const stalled = progressing?.reason === REASON.deadlineExceeded;
  const inProgress = stalled ? undefined : rolloutInProgress(spec, status);
  let conditions = setCondition(
    status.conditions ?? [],
    stalled
      ? { type: CONDITION_STALLED, status: 'True', reason: REASON.deadlineExceeded, message: `Progress deadline exceeded: ${progressing.message ?? ''}`.trim() }
      : { type: CONDITION_STALLED, status: 'False', reason: 'NotStalled', message: 'The rollout is not past its progress deadline.' },
    nowIso,
    true,
  );
  conditions = setCondition(
    conditions,
    inProgress !== undefined
      ? { type: CONDITION_RECONCILING, status: 'True', ...inProgress }
      : stalled
        ? { type: CONDITION_RECONCILING, status: 'False', reason: REASON.deadlineExceeded, message: 'The rollout stopped: see Stalled.' }
        : { type: CONDITION_RECONCILING, status: 'False', reason: 'RolloutComplete', message: `PodGroup is available. Replicas: ${status.replicas ?? 0}` },
    nowIso,
    true,
  );
  return { ...status, conditions };
}
