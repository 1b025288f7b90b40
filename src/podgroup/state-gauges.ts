// Deciding the per-PodGroup gauges, as kube-state-metrics derives kube_deployment_* from a
// Deployment object: one pure function from a PodGroup to its samples. Pure.
import type { DefaultedPodGroup } from '../api/podgroup.js';

export type StateGauge =
  | 'podgroup_spec_replicas'
  | 'podgroup_spec_min_available'
  | 'podgroup_spec_paused'
  | 'podgroup_metadata_generation'
  | 'podgroup_status_observed_generation'
  | 'podgroup_status_replicas'
  | 'podgroup_status_replicas_ready'
  | 'podgroup_status_replicas_available'
  | 'podgroup_status_replicas_updated'
  | 'podgroup_status_replicas_unavailable'
  | 'podgroup_status_condition';

export const STATE_GAUGES: Record<StateGauge, { help: string; labels: readonly string[] }> = {
  podgroup_spec_replicas: { help: 'Number of desired pods for a PodGroup.', labels: [] },
  podgroup_spec_min_available: { help: 'Members the gang needs scheduled together (spec.minAvailable; replicas when unset).', labels: [] },
  podgroup_spec_paused: { help: 'Whether the PodGroup is paused and will not be processed by the controller.', labels: [] },
  podgroup_metadata_generation: { help: 'Sequence number representing a specific generation of the desired state.', labels: [] },
  podgroup_status_observed_generation: { help: 'The generation observed by the PodGroup controller.', labels: [] },
  podgroup_status_replicas: { help: 'The number of replicas per PodGroup.', labels: [] },
  podgroup_status_replicas_ready: { help: 'The number of ready replicas per PodGroup.', labels: [] },
  podgroup_status_replicas_available: { help: 'The number of available replicas per PodGroup.', labels: [] },
  podgroup_status_replicas_updated: { help: 'The number of updated replicas per PodGroup.', labels: [] },
  podgroup_status_replicas_unavailable: { help: 'The number of unavailable replicas per PodGroup.', labels: [] },
  podgroup_status_condition: {
    help: 'The current status conditions of a PodGroup (one series per status: true, false, unknown).',
    labels: ['condition', 'status', 'reason'],
  },
};

export interface StateSample {
  gauge: StateGauge;
  labels: Record<string, string>;
  value: number;
}

const STATUSES = ['true', 'false', 'unknown'] as const;

/** Every sample of one PodGroup, labelled namespace/podgroup (kube-state-metrics' shape). */
export function podGroupSamples(pg: DefaultedPodGroup): StateSample[] {
  const base = { namespace: pg.metadata?.namespace ?? '', podgroup: pg.metadata?.name ?? '' };
  const s = pg.status ?? {};
  const replicas = pg.spec.replicas;
  const one = (gauge: StateGauge, value: number): StateSample => ({ gauge, labels: base, value });
  const samples = [
    one('podgroup_spec_replicas', replicas),
    one('podgroup_spec_min_available', pg.spec.minAvailable ?? replicas),
    one('podgroup_spec_paused', pg.spec.paused === true ? 1 : 0),
    one('podgroup_metadata_generation', pg.metadata?.generation ?? 0),
    one('podgroup_status_observed_generation', s.observedGeneration ?? 0),
    one('podgroup_status_replicas', s.replicas ?? 0),
    one('podgroup_status_replicas_ready', s.readyReplicas ?? 0),
    one('podgroup_status_replicas_available', s.availableReplicas ?? 0),
    one('podgroup_status_replicas_updated', s.updatedReplicas ?? 0),
    one('podgroup_status_replicas_unavailable', s.unavailableReplicas ?? 0),
  ];
  for (const c of s.conditions ?? []) {
    for (const status of STATUSES) {
      samples.push({
        gauge: 'podgroup_status_condition',
        labels: { ...base, condition: c.type, status, reason: c.reason ?? '' },
        value: c.status.toLowerCase() === status ? 1 : 0,
      });
    }
  }
  return samples;
}
