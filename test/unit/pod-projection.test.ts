import { describe, expect, it } from '@jest/globals';
import type * as k8s from '@kubernetes/client-node';
import { REVISION_HASH_LABEL } from '../../src/api/podgroup.js';
import { slimPod } from '../../src/pod-projection.js';
import { plan } from '../../src/podgroup/plan.js';
import { notReadyCause, unschedulableMessage } from '../../src/podgroup/pod-state.js';
import { rankForDeletion } from '../../src/podgroup/ranking.js';
import { computeStatus } from '../../src/podgroup/status.js';
import { bindRefusal } from '../../src/scheduling/binding.js';
import { podRequests } from '../../src/scheduling/resources.js';
import { spec } from './podgroup/fixtures.js';

const NOW = Date.parse('2026-01-01T00:10:00Z');

/** A pod as the API server returns it: defaulted fields, a projected token volume, a native sidecar. */
function fullPod(i: number, o: { hash: string; ready: boolean; node?: string }): k8s.V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `web-${i}`,
      namespace: 'ns',
      uid: `uid-${i}`,
      resourceVersion: `${100 + i}`,
      labels: { app: 'web', [REVISION_HASH_LABEL]: o.hash },
      annotations: { 'controller.kubernetes.io/pod-deletion-cost': String(i % 3), 'podgroup.dev/inject-log-collector': 'true' },
      ownerReferences: [{ apiVersion: 'podgroup.dev/v1alpha1', kind: 'PodGroup', name: 'web', uid: 'pg-uid', controller: true, blockOwnerDeletion: true }],
      creationTimestamp: new Date(NOW - 600_000 + i * 1000),
    },
    spec: {
      nodeName: o.node,
      schedulerName: 'podgroup-scheduler',
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
      volumes: [{ name: 'kube-api-access', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3607 } }] } }],
      overhead: { cpu: '5m' },
      initContainers: [
        { name: 'log-collector', image: 'fluent-bit:4', restartPolicy: 'Always', resources: { requests: { cpu: '20m', memory: '32Mi' } } },
        { name: 'setup', image: 'busybox', resources: { requests: { cpu: '500m' } } },
      ],
      containers: [
        {
          name: 'app',
          image: `app:${o.hash}`,
          env: [{ name: 'MODE', value: 'production' }],
          resources: { requests: { cpu: '100m', memory: '64Mi' } },
          volumeMounts: [{ name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
          terminationMessagePath: '/dev/termination-log',
          imagePullPolicy: 'IfNotPresent',
        },
      ],
    },
    status: {
      phase: o.node === undefined ? 'Pending' : 'Running',
      conditions: [
        o.node === undefined
          ? { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available: 3 Insufficient cpu.' }
          : { type: 'PodScheduled', status: 'True' },
        { type: 'Ready', status: o.ready ? 'True' : 'False', lastTransitionTime: new Date(NOW - 120_000 + i) },
      ],
      containerStatuses: [
        {
          name: 'app',
          image: `app:${o.hash}`,
          imageID: '',
          ready: o.ready,
          restartCount: i % 2,
          state: o.ready ? { running: {} } : { waiting: { reason: 'CrashLoopBackOff', message: 'back-off' } },
        },
      ],
    },
  };
}

const pods = [
  ...Array.from({ length: 6 }, (_, i) => fullPod(i, { hash: 'old', ready: i % 3 !== 0, node: `node-${i % 2}` })),
  ...Array.from({ length: 4 }, (_, i) => fullPod(10 + i, { hash: 'new', ready: i !== 0, node: i === 3 ? undefined : `node-${i}` })),
];
const slim = pods.map((p) => slimPod(structuredClone(p)));

describe('slimPod', () => {
  it('drops what no reader reads and keeps metadata and status whole', () => {
    const s = slim[0];
    expect(s?.spec?.volumes).toBeUndefined();
    expect(s?.spec?.tolerations).toBeUndefined();
    expect(s?.spec?.containers[0]?.env).toBeUndefined();
    expect(s?.metadata).toEqual(pods[0]?.metadata);
    expect(s?.status).toEqual(pods[0]?.status);
    expect(slimPod(structuredClone(s as k8s.V1Pod))).toEqual(s);
  });

  it('gives every reader of cached pods the answers the full pods give', () => {
    const input = (ps: k8s.V1Pod[]) => ({
      spec: spec({ replicas: 7, strategy: { type: 'RollingUpdate' as const, rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } } }),
      pods: ps,
      updateHash: 'new',
      desired: new Map([
        ['old', 6],
        ['new', 4],
      ]),
      sizedFor: 10,
      previousReplicas: 10,
      revisionCreated: new Map([
        ['old', NOW - 900_000],
        ['new', NOW - 300_000],
      ]),
      now: NOW,
    });
    const names = (ps: k8s.V1Pod[]): string[] => ps.map((p) => p.metadata?.name ?? '');
    const planOf = (ps: k8s.V1Pod[]) => {
      const p = plan(input(ps));
      return { sizes: [...p.sizes], create: p.create, delete: p.delete.map((d) => [d.pod.metadata?.name, d.reason]), recheck: p.recheckAfterMs };
    };
    expect(planOf(slim)).toEqual(planOf(pods));
    const pg = { metadata: { name: 'web', namespace: 'ns', generation: 2 }, spec: spec({ replicas: 7 }), status: { observedGeneration: 1, replicas: 10 } };
    const statusOf = (ps: k8s.V1Pod[]) =>
      computeStatus({
        pg,
        pods: ps,
        updateHash: 'new',
        desiredSizes: new Map([
          ['old', 3],
          ['new', 4],
        ]),
        collisionCount: 0,
        replicaFailure: undefined,
        sizedForReplicas: 7,
        revisionCreated: false,
        now: NOW,
      });
    expect(statusOf(slim)).toEqual(statusOf(pods));
    expect(names(rankForDeletion(slim, slim, NOW))).toEqual(names(rankForDeletion(pods, pods, NOW)));
    expect(slim.map(podRequests)).toEqual(pods.map(podRequests));
    expect(slim.map(notReadyCause)).toEqual(pods.map(notReadyCause));
    expect(slim.map(unschedulableMessage)).toEqual(pods.map(unschedulableMessage));
    const args = { PodName: 'web-13', PodNamespace: 'ns', PodUID: 'uid-13', Node: 'node-1' };
    expect(bindRefusal(args, slim[9], undefined, ['podgroup-scheduler'])).toEqual(bindRefusal(args, pods[9], undefined, ['podgroup-scheduler']));
    expect(bindRefusal({ ...args, PodName: 'web-0', PodUID: 'uid-0' }, slim[0], undefined, ['podgroup-scheduler'])).toEqual(
      bindRefusal({ ...args, PodName: 'web-0', PodUID: 'uid-0' }, pods[0], undefined, ['podgroup-scheduler']),
    );
  });
});
