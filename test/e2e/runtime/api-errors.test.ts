// An API error as the manager logs it, from the real API server: a ValidatingAdmissionPolicy that
// refuses ControllerRevisions in one namespace makes the revision create fail with 403 Forbidden;
// the log line names the verb, resource, object, code, reason and the API's message, without
// headers or a stack.
import { afterAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { apps, core, createPodGroup, podGroupManifest, startManager, type RunningManager } from '../support/podgroups.js';
import { createNamespace, eventually, kubeConfig } from '../support/cluster.js';
import { killAll } from '../support/processes.js';

describe('API errors in the manager log', () => {
  let manager: RunningManager | undefined;
  let ns: Awaited<ReturnType<typeof createNamespace>> | undefined;
  const admission = kubeConfig().makeApiClient(k8s.AdmissionregistrationV1Api);
  const policy = `e2e-no-revisions-${process.pid}`;
  afterAll(async () => {
    await admission.deleteValidatingAdmissionPolicyBinding({ name: policy }).catch(() => undefined);
    await admission.deleteValidatingAdmissionPolicy({ name: policy }).catch(() => undefined);
    await ns?.remove();
    await manager?.stop();
    await killAll();
  });

  it('one JSON line with verb, resource, object, code, reason and message', async () => {
    manager = await startManager();
    ns = await createNamespace('e2e-apierr');
    await admission.createValidatingAdmissionPolicy({
      body: {
        metadata: { name: policy },
        spec: {
          failurePolicy: 'Fail',
          matchConstraints: { resourceRules: [{ apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE'], resources: ['controllerrevisions'] }] },
          validations: [{ expression: 'false', message: 'no ControllerRevisions in this namespace', reason: 'Forbidden' }],
        },
      },
    });
    await admission.createValidatingAdmissionPolicyBinding({
      body: {
        metadata: { name: policy },
        spec: {
          policyName: policy,
          validationActions: ['Deny'],
          matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns.name } } },
        },
      },
    });
    // The policy takes effect asynchronously: wait until a dry-run create is refused.
    await eventually('the admission policy refuses ControllerRevisions', async () => {
      try {
        await apps.createNamespacedControllerRevision({
          namespace: ns?.name ?? '',
          dryRun: 'All',
          body: { metadata: { name: 'probe' }, revision: 1, data: {} },
        });
        return false;
      } catch (err) {
        return err instanceof k8s.ApiException && err.code === 403;
      }
    });
    await createPodGroup(ns.name, podGroupManifest('web', { replicas: 1 }));
    const [line] = await manager.proc.waitForLine(new RegExp(`^.*"message":"reconciler error".*"namespace":"${ns.name}".*$`), 60_000);
    const entry = JSON.parse(line) as Record<string, unknown>;
    expect(entry).toMatchObject({
      level: 'error',
      verb: 'create',
      resource: 'controllerrevisions',
      object: expect.stringMatching(new RegExp(`^${ns.name}/web-`)),
      code: 403,
      reason: 'Forbidden',
      name: 'web',
    });
    expect(entry.error).toMatch(
      new RegExp(
        `^create controllerrevisions ${ns.name}/web-\\w+: 403 Forbidden: controllerrevisions.apps "web-\\w+" is forbidden: ValidatingAdmissionPolicy '${policy}' .*denied request: no ControllerRevisions in this namespace$`,
      ),
    );
    expect(line).not.toMatch(/Headers|HTTP-Code|audit-id|"stack"|\\n/);
  });
});
