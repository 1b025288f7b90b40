// `kubectl podgroup why NAME`: one screen answering "why isn't it ready" from the PodGroup, its
// pods and the recent events about them. Pure: the I/O layer gathers, this renders.
import type * as k8s from '@kubernetes/client-node';
import { CONDITION_GANG_SCHEDULED, type DefaultedPodGroup } from '../api/podgroup.js';
import { isReady, isScheduled, isTerminating, unschedulableMessage } from '../podgroup/pod-state.js';

export interface WhyInput {
  pg: DefaultedPodGroup;
  pods: k8s.V1Pod[];
  /** Events whose involved object is the PodGroup or one of its pods. */
  events: k8s.CoreV1Event[];
  now: Date;
}

/** kubectl's short ages: 45s, 3m, 2h, 4d. */
export function age(from: Date | string | undefined, now: Date): string {
  if (from === undefined) {
    return '<unknown>';
  }
  const s = Math.max(0, Math.floor((now.getTime() - new Date(from).getTime()) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.floor(s / 60)}m` : s < 172800 ? `${Math.floor(s / 3600)}h` : `${Math.floor(s / 86400)}d`;
}

/** Aligned columns, two spaces apart (kubectl's tab writer). */
export function table(rows: string[][], indent = '  '): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => `${indent}${r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd((widths[i] ?? 0) + 2))).join('')}`.trimEnd());
}

/** When the event last happened; client-node leaves some timestamps as strings, so parse either. */
function eventTime(e: k8s.CoreV1Event): Date | undefined {
  const t: unknown = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp;
  return t instanceof Date ? t : typeof t === 'string' ? new Date(t) : undefined;
}

export function renderWhy({ pg, pods, events, now }: WhyInput): string {
  const name = pg.metadata?.name ?? '';
  const s = pg.status ?? {};
  const replicas = pg.spec.replicas;
  const out: string[] = [];
  const observed = (s.observedGeneration ?? 0) >= (pg.metadata?.generation ?? 0);
  out.push(
    `PodGroup ${pg.metadata?.namespace}/${name}: ${s.readyReplicas ?? 0}/${replicas} ready, ${s.availableReplicas ?? 0} available, ${s.updatedReplicas ?? 0} updated` +
      `${pg.spec.minAvailable === undefined ? '' : `, minAvailable ${pg.spec.minAvailable}`}${pg.spec.paused === true ? ', PAUSED' : ''}` +
      `${observed ? '' : ' (the controller has not seen the latest spec yet)'}`,
  );
  const conditions = s.conditions ?? [];
  out.push('', 'Conditions:');
  out.push(
    ...(conditions.length === 0
      ? ['  <none>']
      : table([
          ['TYPE', 'STATUS', 'REASON', 'AGE', 'MESSAGE'],
          ...conditions.map((c) => [c.type, c.status, c.reason ?? '', age(c.lastTransitionTime, now), c.message ?? '']),
        ])),
  );
  const gang = conditions.find((c) => c.type === CONDITION_GANG_SCHEDULED);
  if (gang !== undefined && gang.status !== 'True') {
    out.push('', `Gang: ${gang.message ?? gang.reason ?? 'not scheduled'}`);
  }

  const active = pods.filter((p) => !isTerminating(p));
  const pending = active.filter((p) => !isScheduled(p) || p.status?.phase === 'Pending');
  out.push('', `Pending members: ${pending.length} of ${active.length}`);
  if (pending.length > 0) {
    out.push(
      ...table([
        ['POD', 'NODE', 'AGE', 'WHY'],
        ...pending.map((p) => [
          p.metadata?.name ?? '',
          p.spec?.nodeName || '<none>',
          age(p.metadata?.creationTimestamp, now),
          unschedulableMessage(p) ?? waitingReason(p),
        ]),
      ]),
    );
  }
  const unready = active.filter((p) => isScheduled(p) && p.status?.phase !== 'Pending' && !isReady(p));
  if (unready.length > 0) {
    out.push(
      '',
      `Running but not ready: ${unready.length}`,
      ...table([['POD', 'NODE', 'WHY'], ...unready.map((p) => [p.metadata?.name ?? '', p.spec?.nodeName ?? '', waitingReason(p)])]),
    );
  }

  const missed = events.filter((e) => e.reason === 'SidecarInjectionMissed' && e.involvedObject.kind === 'Pod');
  out.push('', `Missed sidecar injections: ${missed.length === 0 ? 'none' : ''}`.trimEnd());
  for (const e of missed) {
    out.push(`  ${e.involvedObject.name}: ${e.message ?? ''}`);
  }

  const warnings = events
    .filter((e) => e.type === 'Warning')
    .sort((a, b) => (eventTime(b)?.getTime() ?? 0) - (eventTime(a)?.getTime() ?? 0))
    .slice(0, 10);
  out.push('', `Recent warnings: ${warnings.length === 0 ? 'none' : ''}`.trimEnd());
  if (warnings.length > 0) {
    out.push(
      ...table([
        ['AGE', 'REASON', 'OBJECT', 'MESSAGE'],
        ...warnings.map((e) => [
          age(eventTime(e), now),
          e.reason ?? '',
          `${(e.involvedObject.kind ?? '').toLowerCase()}/${e.involvedObject.name ?? ''}`,
          `${e.message ?? ''}${(e.count ?? 1) > 1 ? ` (x${e.count})` : ''}`,
        ]),
      ]),
    );
  }
  return `${out.join('\n')}\n`;
}

function waitingReason(pod: k8s.V1Pod): string {
  for (const c of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
    const w = c.state?.waiting;
    if (w !== undefined) {
      return `${c.name}: ${w.reason ?? 'waiting'}${w.message === undefined ? '' : `: ${w.message}`}`;
    }
  }
  const notReady = pod.status?.conditions?.find((c) => c.type === 'Ready' && c.status !== 'True');
  return notReady?.message ?? notReady?.reason ?? pod.status?.phase ?? 'unknown';
}
