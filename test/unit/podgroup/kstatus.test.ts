// kstatus itself (sigs.k8s.io/cli-utils, built by hack/build-gitops-tools.sh) reads a PodGroup
// whose status carries the derived Reconciling/Stalled conditions as it reads a Deployment with
// the same spec and status, over generated states: counts, Progressing and Available conditions,
// pause, a deadline or none, an unobserved generation.
import { beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { gitopsToolsDir, kstatus } from '../../../hack/gitops-tools.js';
import { API_VERSION, defaultSpec, type Condition, type PodGroupStatus } from '../../../src/api/podgroup.js';
import { CONDITION_RECONCILING, CONDITION_STALLED, withKstatusConditions } from '../../../src/podgroup/kstatus.js';
import { NO_PROGRESS_DEADLINE } from '../../../src/podgroup/status.js';
import { NOW } from './fixtures.js';

const PROGRESSING: Condition[] = [
  { type: 'Progressing', status: 'True', reason: 'NewReplicaSetCreated', message: 'Created new revision "web-2"' },
  { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: 'PodGroup "web" revision "web-2" is progressing.' },
  { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: 'PodGroup "web" revision "web-2" has successfully progressed.' },
  { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'PodGroup "web" revision "web-2" has timed out progressing.' },
  { type: 'Progressing', status: 'Unknown', reason: 'DeploymentPaused', message: 'PodGroup is paused' },
];

const state = fc.record({
  desired: fc.integer({ min: 0, max: 4 }),
  replicas: fc.integer({ min: 0, max: 5 }),
  updated: fc.integer({ min: 0, max: 5 }),
  ready: fc.integer({ min: 0, max: 5 }),
  available: fc.integer({ min: 0, max: 5 }),
  progressing: fc.option(fc.constantFrom(...PROGRESSING), { nil: undefined }),
  availableCondition: fc.option(fc.boolean(), { nil: undefined }),
  noDeadline: fc.boolean(),
  paused: fc.boolean(),
  generationObserved: fc.boolean(),
  // Conditions an earlier sync left: they must not decide the verdict.
  stale: fc.boolean(),
});

type State = typeof state extends fc.Arbitrary<infer T> ? T : never;

function objects(s: State): { deployment: object; podGroup: object } {
  const spec = {
    replicas: s.desired,
    paused: s.paused,
    // Both API servers default it to 600 (kstatus reads an absent one as no deadline).
    progressDeadlineSeconds: s.noDeadline ? NO_PROGRESS_DEADLINE : 600,
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'app:1' }] } },
  };
  const conditions: Condition[] = [
    ...(s.availableCondition === undefined
      ? []
      : [{ type: 'Available', status: s.availableCondition ? ('True' as const) : ('False' as const), reason: 'MinimumReplicas' }]),
    ...(s.progressing === undefined ? [] : [s.progressing]),
  ];
  const status: PodGroupStatus = {
    observedGeneration: s.generationObserved ? 3 : 2,
    replicas: s.replicas,
    updatedReplicas: s.updated,
    readyReplicas: s.ready,
    availableReplicas: s.available,
    conditions,
  };
  const stale: Condition[] = s.stale
    ? [
        { type: CONDITION_RECONCILING, status: 'True', reason: 'LessReady', message: 'Ready: 0/9' },
        { type: CONDITION_STALLED, status: 'False', reason: 'NotStalled' },
      ]
    : [];
  const metadata = { name: 'web', namespace: 'ns', generation: 3 };
  return {
    deployment: { apiVersion: 'apps/v1', kind: 'Deployment', metadata, spec, status },
    podGroup: {
      apiVersion: API_VERSION,
      kind: 'PodGroup',
      metadata,
      spec,
      status: withKstatusConditions(defaultSpec(spec), { ...status, conditions: [...stale, ...conditions] }, NOW),
    },
  };
}

/** The Deployment's message in PodGroup words. */
const inPodGroupWords = (message: string): string => message.replaceAll('ReplicaSet', 'Revision').replaceAll('Deployment', 'PodGroup');

describe('kstatus reads a PodGroup as it reads a Deployment in the same state', () => {
  // The checker is built once (about 40 s cold; .ci/run builds it before the tests).
  beforeAll(() => void gitopsToolsDir(), 600_000);

  it('generated states: same status; same message where kstatus words it from the counts', () => {
    const states = fc.sample(state, { numRuns: 400, seed: 20261207 });
    const pairs = states.map(objects);
    const verdicts = kstatus(pairs.flatMap((p) => [p.deployment, p.podGroup]));
    const differences = states.flatMap((s, i) => {
      const deployment = verdicts[2 * i];
      const podGroup = verdicts[2 * i + 1];
      const sameStatus = deployment?.status === podGroup?.status;
      const comparableMessage = deployment?.status === 'InProgress';
      const sameMessage = !comparableMessage || inPodGroupWords(deployment?.message ?? '') === podGroup?.message;
      return sameStatus && sameMessage ? [] : [{ state: s, deployment, podGroup }];
    });
    expect(differences).toEqual([]);
    // The generated states reach every verdict a Deployment has.
    expect(new Set(verdicts.map((v) => v.status))).toEqual(new Set(['InProgress', 'Failed', 'Current']));
  });

  it('names the cause: the counts while pods come up, the deadline once it is exceeded', () => {
    const base = { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: {} } as never;
    const coming = withKstatusConditions(base, { replicas: 3, updatedReplicas: 3, readyReplicas: 1, availableReplicas: 1, conditions: [] }, NOW);
    expect(coming.conditions?.find((c) => c.type === CONDITION_RECONCILING)).toMatchObject({
      status: 'True',
      reason: 'LessAvailable',
      message: 'Available: 1/3',
    });
    expect(coming.conditions?.find((c) => c.type === CONDITION_STALLED)).toMatchObject({ status: 'False' });
    const stuck = withKstatusConditions(base, { replicas: 4, updatedReplicas: 1, conditions: [PROGRESSING[3] as Condition] }, NOW);
    expect(stuck.conditions?.find((c) => c.type === CONDITION_STALLED)).toMatchObject({ status: 'True', reason: 'ProgressDeadlineExceeded' });
    expect(stuck.conditions?.find((c) => c.type === CONDITION_RECONCILING)).toMatchObject({ status: 'False' });
  });
});
