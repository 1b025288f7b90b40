// The sidecar-injecting webhook through the real kube-apiserver, registered by URL: opted-in
// namespaces and PodGroup spec.sidecars get sidecars, invalid annotations are denied with our
// message, kube-system is never touched, the serving certificate rotates under a stream of pod
// creations without losing one, and with the webhook down failurePolicy decides (Fail rejects;
// Ignore admits, and the missed injection is reported).
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { localWebhookConfiguration } from '../../../hack/control-plane/manifests.js';
import { freePort } from '../../../hack/control-plane/processes.js';
import { NAMESPACE_LABEL, POD_LABEL, STATUS_ANNOTATION } from '../../../src/injection/config.js';
import { clusterState, createNamespace, eventually, kubeConfig } from '../support/cluster.js';
import { httpGet, killAll } from '../support/processes.js';
import { core, createPodGroup, podGroupManifest, podsOf, localWebhookFlags, startManager, type RunningManager } from '../support/podgroups.js';

const admission = kubeConfig().makeApiClient(k8s.AdmissionregistrationV1Api);
const CONFIG = 'podgroup-controller-e2e';

const pod = (name: string, o: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}): k8s.V1Pod => ({
  metadata: { name, labels: o.labels, annotations: o.annotations },
  spec: { containers: [{ name: 'app', image: 'registry.example/app:1' }], terminationGracePeriodSeconds: 0 },
});

describe('sidecar webhook', () => {
  let own: { name: string; remove: () => Promise<void> };
  let optedIn: { name: string; remove: () => Promise<void> };
  let plain: { name: string; remove: () => Promise<void> };
  let manager: RunningManager | undefined;
  let port = 0;

  const start = async (): Promise<RunningManager> =>
    startManager([...localWebhookFlags(port, own.name, CONFIG), '--webhook-cert-validity', '9s', '--webhook-cert-check-interval', '500ms']);

  async function setFailurePolicy(policy: 'Fail' | 'Ignore'): Promise<void> {
    const config = await admission.readMutatingWebhookConfiguration({ name: CONFIG });
    await admission.patchMutatingWebhookConfiguration({
      name: CONFIG,
      body: (config.webhooks ?? []).map((_, i) => ({ op: 'replace', path: `/webhooks/${i}/failurePolicy`, value: policy })),
    });
  }

  beforeAll(async () => {
    own = await createNamespace('e2e-wh-system');
    optedIn = await createNamespace('e2e-wh-on', { [NAMESPACE_LABEL]: 'enabled' });
    plain = await createNamespace('e2e-wh-off');
    port = await freePort();
    await admission.deleteMutatingWebhookConfiguration({ name: CONFIG }).catch(() => undefined);
    // The shipped configuration (config/webhook), pointed at the local manager.
    await admission.createMutatingWebhookConfiguration({ body: localWebhookConfiguration(port, { name: CONFIG, ownNamespace: own.name }) });
    manager = await start();
    await eventually('caBundle patched in', async () => {
      const config = await admission.readMutatingWebhookConfiguration({ name: CONFIG });
      return (config.webhooks ?? []).every((w) => (w.clientConfig.caBundle ?? '').length > 0);
    });
  });

  afterAll(async () => {
    await admission.deleteMutatingWebhookConfiguration({ name: CONFIG }).catch(() => undefined);
    await manager?.stop();
    await killAll();
    await Promise.all([own, optedIn, plain].map((n) => n?.remove()));
  });

  it('injects a native log collector into pods of an opted-in namespace', async () => {
    const created = await core.createNamespacedPod({ namespace: optedIn.name, body: pod('logs') });
    const sidecar = created.spec?.initContainers?.find((c) => c.name === 'log-collector');
    expect(sidecar?.restartPolicy).toBe('Always');
    expect(sidecar?.image).toBe('cr.fluentbit.io/fluent/fluent-bit:4.0.3');
    expect(sidecar?.args).toEqual(expect.arrayContaining(['tail', 'path=/var/log/app/*.log', 'stdout']));
    expect(created.spec?.containers[0]?.volumeMounts).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'podgroup-logs', mountPath: '/var/log/app' })]),
    );
    expect(JSON.parse(created.metadata?.annotations?.[STATUS_ANNOTATION] ?? '{}')).toEqual({ injected: ['log-collector'], mode: 'native' });
    // kwok runs it: the pod becomes Running with its native sidecar.
    await eventually('pod running', async () => (await core.readNamespacedPod({ name: 'logs', namespace: optedIn.name })).status?.phase === 'Running');
  });

  it('injects git-sync with a startup probe so the app starts after the first sync', async () => {
    const created = await core.createNamespacedPod({
      namespace: optedIn.name,
      body: pod('code', {
        annotations: {
          'sidecars.podgroup.dev/git-repo': 'https://github.com/kubernetes/git-sync.git',
          'sidecars.podgroup.dev/git-ref': 'master',
          'sidecars.podgroup.dev/git-period': '30s',
        },
      }),
    });
    const git = created.spec?.initContainers?.find((c) => c.name === 'git-sync');
    expect(git?.restartPolicy).toBe('Always');
    expect(git?.args).toEqual(
      expect.arrayContaining(['--repo=https://github.com/kubernetes/git-sync.git', '--ref=master', '--period=30s', '--root=/git', '--link=current']),
    );
    expect(git?.startupProbe?.httpGet?.port).toBe(8742);
    expect(created.spec?.securityContext?.fsGroup).toBe(65533);
    expect(created.spec?.containers[0]?.volumeMounts).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'podgroup-code', mountPath: '/git', readOnly: true })]),
    );
  });

  it("injects what a PodGroup's spec.sidecars asks for into its pods", async () => {
    const pg = podGroupManifest('synced', {
      replicas: 2,
      sidecars: {
        gitSync: { repo: 'https://example.com/site.git', mode: 'fallback' },
        logCollector: { path: '/logs', output: { type: 'forward', host: 'fluentd.logging', port: 24224 } },
      },
    });
    await createPodGroup(plain.name, pg);
    const pods = await eventually('2 injected pods', async () => {
      const list = await podsOf(plain.name, 'synced');
      return list.length === 2 && list.every((p) => p.metadata?.annotations?.[STATUS_ANNOTATION] !== undefined) ? list : undefined;
    });
    for (const p of pods) {
      expect(JSON.parse(p.metadata?.annotations?.[STATUS_ANNOTATION] ?? '{}')).toEqual({ injected: ['git-sync', 'log-collector'], mode: 'fallback' });
      expect(p.spec?.initContainers?.find((c) => c.name === 'git-sync-init')?.args).toContain('--one-time');
      expect(p.spec?.containers.map((c) => c.name)).toEqual(['app', 'git-sync', 'log-collector']);
      expect(p.spec?.containers.find((c) => c.name === 'log-collector')?.args).toEqual(
        expect.arrayContaining(['forward', 'host=fluentd.logging', 'port=24224']),
      );
    }
  });

  it('denies invalid annotations with a message naming the annotation and the fix', () => {
    let stderr = '';
    try {
      execFileSync('kubectl', ['--kubeconfig', clusterState().kubeconfig, 'apply', '-n', optedIn.name, '-f', '-'], {
        input: JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          ...pod('bad', { annotations: { 'sidecars.podgroup.dev/git-repo': 'https://example.com/r.git', 'sidecars.podgroup.dev/git-period': 'often' } }),
        }),
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    } catch (err) {
      stderr = String((err as { stderr?: Buffer }).stderr);
    }
    expect(stderr).toContain('admission webhook "namespace.sidecars.podgroup.dev" denied the request');
    expect(stderr).toContain('sidecars.podgroup.dev/git-period: "often" is not a duration; use a Go duration such as 10s or 1m');
  });

  it('never touches kube-system, and skips opted-out pods', async () => {
    const created = await core.createNamespacedPod({ namespace: 'kube-system', body: pod(`e2e-untouched-${port}`, { labels: { [POD_LABEL]: 'true' } }) });
    try {
      expect(created.spec?.initContainers).toBeUndefined();
      expect(created.metadata?.annotations?.[STATUS_ANNOTATION]).toBeUndefined();
    } finally {
      await core.deleteNamespacedPod({ name: created.metadata?.name ?? '', namespace: 'kube-system' });
    }
    const optedOut = await core.createNamespacedPod({
      namespace: optedIn.name,
      body: pod('opted-out', { annotations: { 'sidecars.podgroup.dev/inject': 'false' } }),
    });
    expect(optedOut.spec?.initContainers).toBeUndefined();
  });

  it('rotates its serving certificate under a stream of pod creations without losing one', async () => {
    const secretCerts = new Set<string>();
    let failures = 0;
    let created = 0;
    const deadline = Date.now() + 20_000;
    for (let i = 0; Date.now() < deadline; i += 1) {
      try {
        const p = await core.createNamespacedPod({ namespace: optedIn.name, body: pod(`stream-${i}`) });
        if (p.metadata?.annotations?.[STATUS_ANNOTATION] === undefined) {
          failures += 1;
        }
        created += 1;
      } catch {
        failures += 1;
      }
      const secret = await core.readNamespacedSecret({ name: 'podgroup-webhook-tls', namespace: own.name });
      secretCerts.add(secret.data?.['tls.crt'] ?? '');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    process.stderr.write(`webhook: ${created} pods created across ${secretCerts.size} serving certificates, ${failures} failures\n`);
    expect(failures).toBe(0);
    expect(secretCerts.size).toBeGreaterThanOrEqual(3);
    const metrics = (await httpGet(manager?.metricsUrl ?? '')).body;
    expect(metrics).toMatch(/controller_runtime_webhook_requests_total\{webhook="\/mutate-v1-pod",code="200"\} [1-9]/);
    expect(metrics).toMatch(/podgroup_sidecar_injections_total\{sidecar="log-collector",mode="native"\} [1-9]/);
  });

  it('with the webhook down: Fail rejects, Ignore admits and the missed injection is reported', async () => {
    await manager?.stop();
    manager = undefined;
    await expect(core.createNamespacedPod({ namespace: optedIn.name, body: pod('while-down') })).rejects.toMatchObject({
      body: expect.stringContaining('failed calling webhook'),
    });
    await setFailurePolicy('Ignore');
    const admitted = await core.createNamespacedPod({ namespace: optedIn.name, body: pod('missed') });
    expect(admitted.spec?.initContainers).toBeUndefined();
    manager = await start();
    await eventually('SidecarInjectionMissed event', async () => {
      const events = await core.listNamespacedEvent({ namespace: optedIn.name, fieldSelector: 'involvedObject.name=missed,reason=SidecarInjectionMissed' });
      return events.items.length > 0;
    });
    const metrics = (await httpGet(manager.metricsUrl)).body;
    expect(metrics).toMatch(/podgroup_sidecar_missed_injections_total [1-9]/);
  });
});
