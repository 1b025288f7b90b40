// The PodGroup API as the API server serves it: invalid specs are rejected with clear
// messages (schema + CEL), defaults are applied, and `kubectl explain` documents every field.
import { execFileSync } from 'node:child_process';
import { beforeAll, afterAll, describe, expect, it } from '@jest/globals';
import type { PodGroup } from '../../../src/api/podgroup.js';
import { installCrds } from '../../../hack/control-plane/manifests.js';
import { clusterState, createNamespace } from '../support/cluster.js';
import { createPodGroup, patchPodGroup, podGroupManifest } from '../support/podgroups.js';

// Explanations are wrapped to the terminal width: compare with whitespace collapsed.
const kubectl = (...args: string[]): string =>
  execFileSync('kubectl', ['--kubeconfig', clusterState().kubeconfig, ...args], { encoding: 'utf8' }).replace(/\s+/g, ' ');

type Mutation = (pg: PodGroup) => void;

const invalid: Array<[string, Mutation, RegExp]> = [
  ['minAvailable above replicas', (pg) => Object.assign(pg.spec, { replicas: 2, minAvailable: 3 }), /spec.minAvailable must not exceed spec.replicas/],
  [
    'maxSurge and maxUnavailable both 0',
    (pg) => (pg.spec.strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: '0%' } }),
    /must not both be 0/,
  ],
  [
    'maxSurge not a number or percentage',
    (pg) => (pg.spec.strategy = { rollingUpdate: { maxSurge: 'lots' } }),
    /maxSurge.*must be a non-negative integer or a percentage/,
  ],
  [
    'negative maxUnavailable',
    (pg) => (pg.spec.strategy = { rollingUpdate: { maxUnavailable: -1 } }),
    /maxUnavailable.*must be a non-negative integer or a percentage/,
  ],
  [
    'selector that does not match the template',
    (pg) => (pg.spec.selector = { matchLabels: { app: 'other' } }),
    /spec.selector.matchLabels must match spec.template.metadata.labels/,
  ],
  [
    'matchExpressions that do not match the template',
    (pg) => (pg.spec.selector = { matchExpressions: [{ key: 'app', operator: 'In', values: ['nope'] }] }),
    /matchExpressions must match spec.template.metadata.labels/,
  ],
  ['empty selector', (pg) => (pg.spec.selector = {}), /spec.selector must not be empty/],
  [
    'In without values',
    (pg) => (pg.spec.selector = { matchLabels: { app: 'bad' }, matchExpressions: [{ key: 'app', operator: 'In' }] }),
    /In and NotIn need values/,
  ],
  ['negative replicas', (pg) => (pg.spec.replicas = -1), /spec.replicas.*greater than or equal to 0/],
  [
    'rollingUpdate with Recreate',
    (pg) => (pg.spec.strategy = { type: 'Recreate', rollingUpdate: { maxSurge: 1 } }),
    /rollingUpdate is only allowed when strategy.type is RollingUpdate/,
  ],
  ['unknown strategy type', (pg) => (pg.spec.strategy = { type: 'BlueGreen' as 'Recreate' }), /spec.strategy.type: Unsupported value: .{0,4}BlueGreen/],
  [
    'progress deadline not above minReadySeconds',
    (pg) => Object.assign(pg.spec, { minReadySeconds: 30, progressDeadlineSeconds: 30 }),
    /progressDeadlineSeconds must be greater than spec.minReadySeconds/,
  ],
  ['missing template', (pg) => delete (pg.spec as Partial<PodGroup['spec']>).template, /spec.template: Required value/],
  ['missing selector', (pg) => delete (pg.spec as Partial<PodGroup['spec']>).selector, /spec.selector: Required value/],
  [
    'template without containers',
    (pg) => (pg.spec.template.spec = {} as PodGroup['spec']['template']['spec']),
    /spec.template.spec.containers: Required value/,
  ],
  ['restartPolicy Never', (pg) => pg.spec.template.spec && (pg.spec.template.spec.restartPolicy = 'Never'), /restartPolicy must be Always/],
  ['unknown placement policy', (pg) => (pg.spec.placement = { policy: 'Random' as 'Spread' }), /spec.placement.policy: Unsupported value: .{0,4}Random/],
  ['minAvailable 0', (pg) => (pg.spec.minAvailable = 0), /spec.minAvailable.*greater than or equal to 1/],
  ['negative revisionHistoryLimit', (pg) => (pg.spec.revisionHistoryLimit = -1), /revisionHistoryLimit.*greater than or equal to 0/],
  ['unknown podReplacementPolicy', (pg) => (pg.spec.podReplacementPolicy = 'Whenever' as 'TerminationStarted'), /podReplacementPolicy.*Unsupported value/],
  ['git-sync repo that is not a URL', (pg) => (pg.spec.sidecars = { gitSync: { repo: 'my repo' } }), /spec.sidecars.gitSync.repo.*should match/],
  [
    'git-sync period that is not a duration',
    (pg) => (pg.spec.sidecars = { gitSync: { repo: 'https://example.com/r.git', period: '10 seconds' } }),
    /spec.sidecars.gitSync.period.*should match/,
  ],
  [
    'log forwarding without a host',
    (pg) => (pg.spec.sidecars = { logCollector: { output: { type: 'forward' } } }),
    /output.host is required when output.type is forward/,
  ],
  ['relative log path', (pg) => (pg.spec.sidecars = { logCollector: { path: 'var/log' } }), /spec.sidecars.logCollector.path.*should match/],
];

describe('PodGroup API validation', () => {
  let ns: { name: string; remove: () => Promise<void> };
  beforeAll(async () => {
    await installCrds(clusterState());
    ns = await createNamespace('e2e-pg-api');
  });
  afterAll(async () => {
    await ns.remove();
  });

  it.each(invalid)('rejects %s', async (_name, mutate, message) => {
    const pg = podGroupManifest('bad');
    mutate(pg);
    let error = '';
    try {
      await createPodGroup(ns.name, pg);
    } catch (err) {
      error = String((err as { body?: unknown }).body ?? err);
    }
    expect(error).toMatch(/is invalid/);
    expect(error).toMatch(message);
  });

  it('rejects a selector change (immutable) and applies schema defaults', async () => {
    const created = await createPodGroup(ns.name, podGroupManifest('ok'));
    expect(created.spec).toMatchObject({
      replicas: 3,
      minReadySeconds: 0,
      progressDeadlineSeconds: 600,
      revisionHistoryLimit: 10,
      paused: false,
      podReplacementPolicy: 'TerminationStarted',
      strategy: { type: 'RollingUpdate' },
    });
    await expect(
      patchPodGroup(ns.name, 'ok', {
        spec: { selector: { matchLabels: { app: 'ok', tier: 'x' } }, template: { metadata: { labels: { app: 'ok', tier: 'x' } } } },
      }),
    ).rejects.toMatchObject({ body: expect.stringMatching(/spec.selector is immutable/) });
  });

  it('kubectl apply shows the message to the user', () => {
    let stderr = '';
    try {
      execFileSync('kubectl', ['--kubeconfig', clusterState().kubeconfig, 'apply', '-n', ns.name, '-f', '-'], {
        input: JSON.stringify({ ...podGroupManifest('cli'), spec: { ...podGroupManifest('cli').spec, replicas: 1, minAvailable: 4 } }),
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    } catch (err) {
      stderr = String((err as { stderr?: Buffer }).stderr);
    }
    expect(stderr).toContain('spec.minAvailable must not exceed spec.replicas');
  });

  it('documents fields for kubectl explain', () => {
    const strategy = kubectl('explain', 'podgroup.spec.strategy');
    expect(strategy).toContain('Recreate deletes every old pod');
    expect(kubectl('explain', 'podgroup.spec.podReplacementPolicy')).toContain('TerminationStarted (default, what a ReplicaSet does)');
    expect(kubectl('explain', 'podgroup.spec.template.spec.containers.image')).toContain('Container image name');
    expect(kubectl('explain', 'podgroup.status.conditions')).toContain('ProgressDeadlineExceeded');
  });
});
