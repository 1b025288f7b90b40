// Pods and PodGroups for table-driven tests of the pure PodGroup modules.
import type * as k8s from '@kubernetes/client-node';
import { defaultSpec, REVISION_HASH_LABEL, type DefaultedPodGroupSpec, type PodGroupSpec } from '../../../src/api/podgroup.js';

export const NOW = Date.parse('2026-01-01T00:10:00Z');

export interface PodOptions {
  hash?: string;
  ready?: boolean;
  readySinceMs?: number;
  scheduled?: boolean;
  phase?: string;
  terminating?: boolean;
  node?: string;
  cost?: number;
  restarts?: number;
  createdMsAgo?: number;
}

let counter = 0;

export function pod(name: string, o: PodOptions = {}): k8s.V1Pod {
  counter += 1;
  const ready = o.ready ?? true;
  const scheduled = o.scheduled ?? true;
  return {
    metadata: {
      name,
      namespace: 'ns',
      uid: `uid-${name}-${counter}`,
      labels: { app: 'web', [REVISION_HASH_LABEL]: o.hash ?? 'new' },
      annotations: o.cost === undefined ? undefined : { 'controller.kubernetes.io/pod-deletion-cost': String(o.cost) },
      creationTimestamp: new Date(NOW - (o.createdMsAgo ?? 60_000)),
      deletionTimestamp: o.terminating === true ? new Date(NOW) : undefined,
    },
    spec: { containers: [{ name: 'app', image: 'x' }], nodeName: scheduled ? (o.node ?? 'node-a') : undefined },
    status: {
      phase: o.phase ?? (scheduled ? 'Running' : 'Pending'),
      conditions: [
        { type: 'PodScheduled', status: scheduled ? 'True' : 'False' },
        { type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: new Date(NOW - (o.readySinceMs ?? 30_000)) },
      ],
      containerStatuses: [{ name: 'app', image: 'x', imageID: '', ready, restartCount: o.restarts ?? 0 }],
    },
  };
}

export const pods = (n: number, prefix: string, o: PodOptions = {}): k8s.V1Pod[] => Array.from({ length: n }, (_, i) => pod(`${prefix}-${i}`, o));

/** A spec as the controller hands it to the deciding modules: with the schema defaults applied. */
export function spec(overrides: Partial<PodGroupSpec> = {}): DefaultedPodGroupSpec {
  return defaultSpec({
    replicas: 3,
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'x:2' }] } },
    podReplacementPolicy: 'TerminationComplete',
    ...overrides,
  });
}
