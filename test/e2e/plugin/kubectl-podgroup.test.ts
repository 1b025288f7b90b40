// kubectl podgroup …: every verb through the real kubectl binary with the plugin on PATH, against
// the local control plane and a running manager.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { REPO_ROOT } from '../../../hack/control-plane/paths.js';
import { ROLLBACK_ANNOTATION } from '../../../src/api/podgroup.js';
import { RESTARTED_AT_ANNOTATION } from '../../../src/plugin/kubectl-rollout.js';
import { CHANGE_CAUSE_ANNOTATION } from '../../../src/podgroup/revisions.js';
import { clusterState, createNamespace } from '../support/cluster.js';
import { killAll } from '../support/processes.js';
import { createPodGroup, getPodGroup, patchPodGroup, podGroupManifest, startManager, type RunningManager } from '../support/podgroups.js';
import { anchorsAndAliases } from '../../unit/config/anchors.js';
import { installPlugin, kubectl as kubectlIn, type CommandResult } from '../support/plugin.js';

describe('kubectl podgroup', () => {
  let plugin: ReturnType<typeof installPlugin>;
  let manager: RunningManager;
  let ns: Awaited<ReturnType<typeof createNamespace>>;
  const kubectl = (...args: string[]): CommandResult => kubectlIn(plugin.binDir, args);
  const pg = (...args: string[]): CommandResult => kubectl('podgroup', '-n', ns.name, ...args);
  const lastLine = (text: string): string => text.trimEnd().split('\n').at(-1) ?? '';

  beforeAll(async () => {
    plugin = installPlugin();
    manager = await startManager();
    ns = await createNamespace('e2e-plugin');
  });
  afterAll(async () => {
    await ns?.remove();
    await manager?.stop();
    await killAll();
    plugin?.remove();
  });

  it('rollout status, history (with change-cause), undo, pause, resume, restart', async () => {
    const web = podGroupManifest('web', { replicas: 2 }, 'registry.example/web:1');
    web.metadata = { ...web.metadata, annotations: { [CHANGE_CAUSE_ANNOTATION]: 'create web:1' } };
    await createPodGroup(ns.name, web);
    let r = pg('rollout', 'status', 'web', '--timeout', '2m');
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(lastLine(r.stdout)).toBe('podgroup "web" successfully rolled out');

    await patchPodGroup(ns.name, 'web', {
      metadata: { annotations: { [CHANGE_CAUSE_ANNOTATION]: 'image web:2' } },
      spec: { template: { spec: { containers: [{ name: 'app', image: 'registry.example/web:2' }] } } },
    });
    r = pg('rollout', 'status', 'web', '--timeout=2m');
    expect(r.status).toBe(0);
    expect(lastLine(r.stdout)).toBe('podgroup "web" successfully rolled out');

    r = pg('rollout', 'history', 'web');
    expect(r).toEqual({
      status: 0,
      stderr: '',
      stdout: 'podgroup.podgroup.dev/web \nREVISION  CHANGE-CAUSE\n1         create web:1\n2         image web:2\n\n',
    });
    r = pg('rollout', 'history', 'web', '--revision', '1');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^podgroup\.podgroup\.dev\/web with revision #1\nPod Template:\n {2}Labels:\tapp=web\n/);
    expect(r.stdout).toContain('    Image:\tregistry.example/web:1\n');
    expect(r.stdout).toContain('  Sidecars:\t<none>');
    r = pg('rollout', 'history', 'web', '--revision', '7');
    expect(r).toMatchObject({ status: 1, stderr: 'error: unable to find the specified revision\n' });

    // undo: the previous revision, through the controller's rollback annotation.
    r = pg('rollout', 'undo', 'web');
    expect(r).toEqual({ status: 0, stderr: '', stdout: 'podgroup.podgroup.dev/web rolled back\n' });
    const rolledBack = await getPodGroup(ns.name, 'web');
    expect(rolledBack.spec.template.spec?.containers[0]?.image).toBe('registry.example/web:1');
    expect(rolledBack.metadata?.annotations?.[ROLLBACK_ANNOTATION]).toBeUndefined();
    expect(pg('rollout', 'status', 'web', '--timeout', '2m').status).toBe(0);
    // Revision 1 became 3 and kept its change-cause (carried back to the PodGroup by the rollback).
    expect(pg('rollout', 'history', 'web').stdout).toBe(
      'podgroup.podgroup.dev/web \nREVISION  CHANGE-CAUSE\n2         image web:2\n3         create web:1\n\n',
    );
    // The running revision is on the object (podgroup.dev/revision); --revision pins rollout status to it.
    expect((await getPodGroup(ns.name, 'web')).metadata?.annotations?.['podgroup.dev/revision']).toBe('3');
    expect(lastLine(pg('rollout', 'status', 'web', '--revision', '3', '--timeout', '2m').stdout)).toBe('podgroup "web" successfully rolled out');
    expect(pg('rollout', 'status', 'web', '--revision=2')).toMatchObject({
      status: 1,
      stderr: 'error: desired revision (2) is different from the running revision (3)\n',
    });
    r = pg('rollout', 'undo', 'web', '--to-revision', '3');
    expect(r).toEqual({ status: 0, stderr: '', stdout: 'podgroup.podgroup.dev/web skipped rollback (current template already matches revision 3)\n' });
    r = pg('rollout', 'undo', 'web', '--to-revision=9');
    expect(r).toMatchObject({ status: 1, stderr: 'error: unable to find specified revision 9 in history\n' });

    // pause / resume / restart
    expect(pg('rollout', 'pause', 'web')).toEqual({ status: 0, stderr: '', stdout: 'podgroup.podgroup.dev/web paused\n' });
    expect(pg('rollout', 'pause', 'web')).toMatchObject({ status: 1, stderr: 'error: podgroups.podgroup.dev "web" is already paused\n' });
    expect(pg('rollout', 'restart', 'web')).toMatchObject({
      status: 1,
      stderr: 'error: podgroups.podgroup.dev "web" can\'t restart paused podgroup (run rollout resume first)\n',
    });
    expect(pg('rollout', 'undo', 'web', '--to-revision', '2').stderr).toBe(
      "error: you cannot rollback a paused podgroup; resume it first with 'kubectl podgroup rollout resume' and try again\n",
    );
    expect((await getPodGroup(ns.name, 'web')).spec.paused).toBe(true);
    expect(pg('rollout', 'resume', 'web')).toEqual({ status: 0, stderr: '', stdout: 'podgroup.podgroup.dev/web resumed\n' });
    expect(pg('rollout', 'resume', 'web')).toMatchObject({ status: 1, stderr: 'error: podgroups.podgroup.dev "web" is not paused\n' });

    const before = (await getPodGroup(ns.name, 'web')).status?.updateRevision;
    expect(pg('rollout', 'restart', 'web')).toEqual({ status: 0, stderr: '', stdout: 'podgroup.podgroup.dev/web restarted\n' });
    const restarted = await getPodGroup(ns.name, 'web');
    expect(restarted.spec.template.metadata?.annotations?.[RESTARTED_AT_ANNOTATION]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(lastLine(pg('rollout', 'status', 'web', '--timeout', '2m').stdout)).toBe('podgroup "web" successfully rolled out');
    expect((await getPodGroup(ns.name, 'web')).status?.updateRevision).not.toBe(before);
  });

  it('rollout status: exit 1 on a progress deadline and on --timeout; --watch=false prints once', async () => {
    const unschedulable = { nodeSelector: { 'podgroup.dev/no-such-node': 'x' } };
    const stuck = podGroupManifest('stuck', { replicas: 2, progressDeadlineSeconds: 3 });
    stuck.spec.template.spec = { ...stuck.spec.template.spec, ...unschedulable, containers: stuck.spec.template.spec?.containers ?? [] };
    await createPodGroup(ns.name, stuck);
    let r = pg('rollout', 'status', 'stuck', '--timeout', '2m');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('error: podgroup "stuck" exceeded its progress deadline\n');

    const slow = podGroupManifest('slow', { replicas: 1 });
    slow.spec.template.spec = { ...slow.spec.template.spec, ...unschedulable, containers: slow.spec.template.spec?.containers ?? [] };
    await createPodGroup(ns.name, slow);
    r = pg('rollout', 'status', 'slow', '--timeout', '2s');
    expect(r).toMatchObject({ status: 1, stderr: 'error: timed out waiting for the condition\n' });
    r = pg('rollout', 'status', 'slow', '--watch=false');
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/^Waiting for podgroup "slow" rollout to finish: [^\n]*\.\.\.\n$/);

    // why: the scheduler's message for the Pending members, the conditions and the warnings.
    r = pg('why', 'stuck');
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/^PodGroup e2e-plugin-\w+\/stuck: 0\/2 ready/);
    expect(r.stdout).toMatch(/Progressing +False +ProgressDeadlineExceeded/);
    expect(r.stdout).toContain('Pending members: 2 of 2');
    expect(r.stdout).toMatch(/stuck-\S+ +<none> +\S+ +0\/\d+ nodes are available: .*node affinity\/selector/);
    expect(r.stdout).toMatch(/Recent warnings:\n.*\n.*ProgressDeadlineExceeded +podgroup\/stuck/);
  });

  it('kubectl-style flags, usage errors (exit 2), server errors, inject', () => {
    const other = pg('rollout', 'status', 'nope');
    expect(other).toMatchObject({ status: 1, stderr: 'Error from server (NotFound): podgroups.podgroup.dev "nope" not found\n' });
    // --kubeconfig and --context as kubectl has them.
    const kubeconfig = clusterState().kubeconfig;
    const context = kubectl('config', 'current-context').stdout.trim();
    let r = kubectlIn(plugin.binDir, ['podgroup', 'rollout', 'history', 'web', '--kubeconfig', kubeconfig, '--context', context, '--namespace', ns.name], {
      KUBECONFIG: '/nonexistent',
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('REVISION  CHANGE-CAUSE');
    r = pg('rollout', 'history', 'web', '--context', 'no-such-context');
    expect(r).toMatchObject({ status: 1, stderr: 'error: context "no-such-context" does not exist\n' });

    r = pg('rollout', 'status', 'web', '--bogus'); // pg() puts -n NS first: the verb is still found
    expect(r.status).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe('kubectl-podgroup: unknown flag --bogus');
    expect(r.stderr).toContain('usage: kubectl podgroup rollout status NAME');
    r = pg('rollout', 'status', 'web', '--timeout', 'soon');
    expect(r.status).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe('kubectl-podgroup: --timeout: "soon" is not a duration (examples: 500ms, 15s, 1m30s)');
    r = pg('rollout', 'undo', 'web', '--to-revision', '-1');
    expect(r.status).toBe(2);
    for (const verb of [
      ['rollout', 'status'],
      ['rollout', 'history'],
      ['rollout', 'undo'],
      ['rollout', 'pause'],
      ['rollout', 'resume'],
      ['rollout', 'restart'],
      ['why'],
      ['inject'],
    ]) {
      r = kubectl('podgroup', ...verb, '--help');
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`usage: kubectl podgroup ${verb.join(' ')}`);
      expect(r.stdout).toContain('--kubeconfig');
    }
    r = kubectl('podgroup', 'inject', '-f', join(REPO_ROOT, 'config', 'samples', 'podgroup-sidecars.yaml'));
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('name: log-collector');
    expect(anchorsAndAliases(r.stdout)).toBe(0);
  });
});
