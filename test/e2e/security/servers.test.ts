// The manager as an attacker with a pod on the network sees it, against the real control plane:
// the extender refuses plain HTTP, TLS without a client certificate, and certificates that are not
// the scheduler's; bind refuses pods of other schedulers, other UIDs and pods that never passed
// filter; /metrics answers 401 without a token, 403 for a token without the role, 200 with
// podgroup-metrics-reader; 300 idle connections to every server leave it ready and admitting
// (the webhook configuration's 1 s timeout is the deadline); a burst of maximum-size bodies stays
// under the Deployment's 512 MiB memory limit.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { localWebhookConfiguration } from '../../../hack/control-plane/manifests.js';
import { REPO_ROOT } from '../../../hack/control-plane/paths.js';
import { freePort } from '../../../hack/control-plane/processes.js';
import { REVISION_SIDECARS_ANNOTATION } from '../../../src/api/podgroup.js';
import { NAMESPACE_LABEL, STATUS_ANNOTATION } from '../../../src/injection/config.js';
import { createCertificateAuthoritySync, issueCertificateSync } from '../../../src/runtime/certificates.js';
import { clusterState, createNamespace, eventually, kubeConfig } from '../support/cluster.js';
import { postExtender, schedulerTls } from '../support/extender.js';
import { killAll } from '../support/processes.js';
import { core, createPodGroup, podGroupManifest, localWebhookFlags, startManager, type RunningManager } from '../support/podgroups.js';
import { IdleConnections, memoryOf, send, serviceAccountToken } from '../support/security.js';

const kc = kubeConfig();
const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
const CONFIG = 'podgroup-e2e-security';
const MEMORY_LIMIT_MIB = 512;
/** Maximum-size bodies sent at once to each of the webhook and the extender (6× their in-flight budgets). */
const BURST = 24;
const kubectl = (args: string[]): string => execFileSync('kubectl', ['--kubeconfig', clusterState().kubeconfig, ...args], { encoding: 'utf8' });

describe('security: the manager does not trust its network', () => {
  let own: { name: string; remove: () => Promise<void> };
  let apps: { name: string; remove: () => Promise<void> };
  let manager: RunningManager | undefined;
  let webhookPort = 0;
  let metricsUrl = '';
  const extenderPort = (): number => clusterState().extenderPort;

  beforeAll(async () => {
    own = await createNamespace('e2e-sec-system');
    apps = await createNamespace('e2e-sec-apps', { [NAMESPACE_LABEL]: 'enabled' });
    webhookPort = await freePort();
    await admission.deleteMutatingWebhookConfiguration({ name: CONFIG }).catch(() => undefined);
    const config = localWebhookConfiguration(webhookPort, { name: CONFIG, ownNamespace: own.name });
    // The API server gives up on the webhook after 1 s: an admission that succeeds took less.
    for (const webhook of config.webhooks ?? []) {
      webhook.timeoutSeconds = 1;
    }
    await admission.createMutatingWebhookConfiguration({ body: config });
    kubectl(['apply', '-f', join(REPO_ROOT, 'config', 'rbac', 'metrics_reader_role.yaml')]);
    manager = await startManager([
      '--metrics-secure=true',
      // The burst below is about memory: on a loaded machine its uploads may take longer than the
      // default 10 s request deadline (which would cut them, as intended against slow clients).
      '--server-request-timeout=30s',
      // Likewise for 48 TLS handshakes at once on a busy machine; still short enough that the idle
      // connections below are closed within their 15 s.
      '--server-headers-timeout=10s',
      ...localWebhookFlags(webhookPort, own.name, CONFIG),
    ]);
    metricsUrl = manager.metricsUrl.replace('http://', 'https://');
    await eventually('caBundle patched in', async () =>
      ((await admission.readMutatingWebhookConfiguration({ name: CONFIG })).webhooks ?? []).every((w) => (w.clientConfig.caBundle ?? '') !== ''),
    );
  });

  afterAll(async () => {
    await admission.deleteMutatingWebhookConfiguration({ name: CONFIG }).catch(() => undefined);
    await rbac.deleteClusterRoleBinding({ name: `${own.name}-metrics-reader` }).catch(() => undefined);
    await manager?.stop();
    await killAll();
    await Promise.all([own, apps].map((n) => n?.remove()));
  });

  describe('extender', () => {
    const filterBody = JSON.stringify({ Pod: { metadata: { name: 'x', namespace: 'default' } }, NodeNames: [] });

    it("refuses plain HTTP and TLS without the scheduler's client certificate", async () => {
      await expect(send(`http://127.0.0.1:${extenderPort()}/filter`, { body: filterBody })).rejects.toThrow();
      await expect(send(`https://127.0.0.1:${extenderPort()}/filter`, { body: filterBody })).rejects.toThrow();
      // A certificate from some other CA.
      const hour = 3_600_000;
      const otherCa = createCertificateAuthoritySync('attacker-ca', hour);
      const forged = issueCertificateSync(otherCa, { commonName: 'podgroup-scheduler', usages: ['client'], validForMs: hour });
      await expect(send(`https://127.0.0.1:${extenderPort()}/filter`, { body: filterBody, cert: forged.certPem, key: forged.keyPem })).rejects.toThrow();
      // The scheduler's own certificate works.
      expect((await postExtender('/filter', filterBody)).status).toBe(200);
    });

    it("refuses a certificate of its CA that is not the scheduler's", async () => {
      // Whoever could read the CA Secret could mint one; the common name still has to match.
      const ca = await core.readNamespacedSecret({ name: 'podgroup-extender-ca', namespace: clusterState().extenderSecretNamespace });
      const decode = (key: string): string => Buffer.from(ca.data?.[key] ?? '', 'base64').toString();
      const other = issueCertificateSync(
        { certPem: decode('ca.crt'), keyPem: decode('ca.key') },
        { commonName: 'intruder', usages: ['client'], validForMs: 3_600_000 },
      );
      const reply = await postExtender('/filter', filterBody, { ...schedulerTls(), cert: other.certPem, key: other.keyPem });
      expect(reply.status).toBe(403);
      expect(reply.body).toContain("is not the scheduler's");
    });

    it("binds only our scheduler's pods with their UID after they passed filter", async () => {
      const node = (await core.listNode()).items.find((n) => n.metadata?.labels?.type === 'kwok')?.metadata?.name ?? '';
      const foreign = await core.createNamespacedPod({
        namespace: apps.name,
        body: {
          metadata: { name: 'foreign', annotations: { 'sidecars.podgroup.dev/inject': 'false' } },
          spec: { schedulerName: 'nobody-scheduler', containers: [{ name: 'a', image: 'registry.example/a:1' }] },
        },
      });
      const bind = async (name: string, uid: string): Promise<string> =>
        (
          JSON.parse((await postExtender('/bind', JSON.stringify({ PodName: name, PodNamespace: apps.name, PodUID: uid, Node: node }))).body) as {
            Error: string;
          }
        ).Error;
      expect(await bind('foreign', foreign.metadata?.uid ?? '')).toContain('belongs to scheduler "nobody-scheduler"');

      // A podgroup-scheduler pod: only after filter let it through, and only with its UID. The
      // pod is held by a nodeSelector no node has, so the real scheduler never binds it.
      const ours = await core.createNamespacedPod({
        namespace: apps.name,
        body: {
          metadata: { name: 'ours', annotations: { 'sidecars.podgroup.dev/inject': 'false' } },
          spec: {
            schedulerName: 'podgroup-scheduler',
            nodeSelector: { 'e2e.podgroup.dev/none': 'x' },
            containers: [{ name: 'a', image: 'registry.example/a:1' }],
          },
        },
      });
      expect(await bind('ours', ours.metadata?.uid ?? '')).toContain("has not passed this extender's filter");
      expect(await bind('ours', 'another-uid')).toContain('not another-uid');
      const filtered = await postExtender('/filter', JSON.stringify({ Pod: ours, NodeNames: [node] }));
      expect(JSON.parse(filtered.body)).toMatchObject({ NodeNames: [node] });
      expect(await bind('ours', ours.metadata?.uid ?? '')).toBe('');
      for (const name of ['foreign', 'ours']) {
        const pod = await core.readNamespacedPod({ name, namespace: apps.name });
        expect([name, pod.spec?.nodeName]).toEqual([name, name === 'ours' ? node : undefined]);
      }
    });
  });

  it('serves /metrics over HTTPS only to tokens allowed to get /metrics', async () => {
    await expect(send(metricsUrl.replace('https://', 'http://'))).rejects.toThrow();
    expect((await send(metricsUrl)).status).toBe(401);
    expect((await send(metricsUrl, { token: 'not-a-token' })).status).toBe(401);
    const outsider = await serviceAccountToken(apps.name, 'outsider');
    const outsiderReply = await send(metricsUrl, { token: outsider });
    expect(outsiderReply.status).toBe(403);
    expect(outsiderReply.body).toContain(`system:serviceaccount:${apps.name}:outsider`);
    const reader = await serviceAccountToken(apps.name, 'scraper');
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: `${own.name}-metrics-reader` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'podgroup-metrics-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'scraper', namespace: apps.name }],
      },
    });
    const ok = await eventually('metrics-reader gets 200', async () => {
      const reply = await send(metricsUrl, { token: reader });
      return reply.status === 200 ? reply : undefined;
    });
    expect(ok.body).toContain('controller_runtime_reconcile_total');
  });

  it('stays ready and admitting with 300 idle connections to each server for 15 s', async () => {
    const ports = [extenderPort(), webhookPort, Number(new URL(metricsUrl).port), Number(new URL(manager?.probesUrl ?? '').port)];
    const idle = ports.map((port) => new IdleConnections(port, 300));
    idle.forEach((c) => c.start());
    const started = Date.now();
    const latencies: number[] = [];
    try {
      while (Date.now() - started < 15_000) {
        const ready = await send(`${manager?.probesUrl}/readyz`);
        expect(ready.status).toBe(200);
        // Under the webhook's 1 s timeout, or the API server refuses the pod (failurePolicy Fail).
        const sent = performance.now();
        const pod = await core.createNamespacedPod({
          namespace: apps.name,
          body: { metadata: { generateName: 'idle-' }, spec: { containers: [{ name: 'a', image: 'registry.example/a:1' }] } },
        });
        latencies.push(performance.now() - sent);
        expect(pod.metadata?.annotations?.[STATUS_ANNOTATION]).toBeDefined();
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    } finally {
      idle.forEach((c) => c.stop());
    }
    // Idle connections are not kept forever: the header timeout closes them (and they come back).
    expect(idle.every((c) => c.closedByServer > 0)).toBe(true);
    latencies.sort((x, y) => x - y);
    const ms = (v: number | undefined): string => `${(v ?? NaN).toFixed(0)} ms`;
    process.stderr.write(
      `idle connections: ${latencies.length} pod creates admitted and injected with 4 × 300 idle connections (create round trip p50 ${ms(latencies[Math.floor(latencies.length / 2)])}, max ${ms(latencies[latencies.length - 1])}); server closed ${idle.map((c) => c.closedByServer).join('/')} idle connections (extender/webhook/metrics/probes)\n`,
    );
  });

  it("keeps memory under the Deployment's limit through a burst of maximum-size bodies", async () => {
    const pid = manager?.proc.pid ?? 0;
    const before = memoryOf(pid);
    const started = performance.now();
    const webhookBody = JSON.stringify({ pad: 'x'.repeat(7 * 1024 * 1024 - 20) });
    const extenderBody = JSON.stringify({ pad: 'x'.repeat(4 * 1024 * 1024 - 20) });
    const statuses = new Map<string, number>();
    const count =
      (label: string) =>
      (reply: { status: number }): void => {
        statuses.set(`${label} ${reply.status}`, (statuses.get(`${label} ${reply.status}`) ?? 0) + 1);
      };
    await Promise.all([
      ...Array.from({ length: BURST }, () =>
        send(`https://127.0.0.1:${webhookPort}/mutate-v1-pod`, { body: webhookBody, timeoutMs: 60_000 }).then(count('webhook'), (err: unknown) =>
          count(`webhook ${String(err)}`)({ status: 0 }),
        ),
      ),
      ...Array.from({ length: BURST }, () =>
        postExtender('/filter', extenderBody, schedulerTls(), 60_000).then(count('extender'), (err: unknown) =>
          count(`extender ${String(err)}`)({ status: 0 }),
        ),
      ),
    ]);
    const after = memoryOf(pid);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    process.stderr.write(
      `burst: ${[...statuses].map(([k, v]) => `${k}: ${v}`).join(', ')}; ${seconds} s; RSS ${before.rssMiB.toFixed(0)} MiB before, peak ${after.peakMiB.toFixed(0)} MiB (limit ${MEMORY_LIMIT_MIB} MiB)\n`,
    );
    // Every request got an answer: a 400 for the shape, or 429 when too many bytes were in flight.
    expect([...statuses.keys()].every((k) => / (400|429)$/.test(k))).toBe(true);
    expect(after.peakMiB).toBeLessThan(MEMORY_LIMIT_MIB);
    // Still serving.
    expect((await send(`${manager?.probesUrl}/readyz`)).status).toBe(200);
  });

  it('is Ready only with the webhook listening', async () => {
    expect((await send(`${manager?.probesUrl}/readyz`)).body).toContain('[+]webhook ok');
  });

  it("gives a pod its PodGroup's sidecar settings only when the ownerReference carries the PodGroup's UID", async () => {
    const sidecars = { gitSync: { repo: 'https://example.com/pg.git' } };
    const pg = await createPodGroup(apps.name, podGroupManifest('coded', { replicas: 0, sidecars }));
    // As the controller makes its pods: the revision's sidecar settings stamped on the pod, which
    // the webhook honours only for a pod whose ownerReference carries the live PodGroup's UID.
    const member = (uid: string): k8s.V1Pod => ({
      metadata: {
        generateName: 'member-',
        annotations: { 'sidecars.podgroup.dev/inject': 'git-sync', [REVISION_SIDECARS_ANNOTATION]: JSON.stringify(sidecars) },
        ownerReferences: [{ apiVersion: 'podgroup.dev/v1alpha1', kind: 'PodGroup', name: 'coded', uid, controller: true }],
      },
      spec: { containers: [{ name: 'app', image: 'registry.example/a:1' }] },
    });
    // The webhook reads PodGroups from its cache: wait until it has this one.
    const injected = await eventually("the PodGroup's repository injected", async () => {
      const pod = await core.createNamespacedPod({ namespace: apps.name, body: member(pg.metadata?.uid ?? '') }).catch(() => undefined);
      return pod?.spec?.initContainers?.find((c) => c.name === 'git-sync');
    });
    expect(injected.args).toContain('--repo=https://example.com/pg.git');
    // The same name with another UID: not that PodGroup's pod, so no repository to sync.
    await expect(core.createNamespacedPod({ namespace: apps.name, body: member('00000000-0000-0000-0000-000000000000') })).rejects.toMatchObject({
      body: expect.stringContaining('git-sync needs a repository'),
    });
  });

  it('answers an oversized webhook body with 413 and a message', async () => {
    const reply = await send(`https://127.0.0.1:${webhookPort}/mutate-v1-pod`, { body: JSON.stringify({ pad: 'x'.repeat(8 * 1024 * 1024) }) });
    expect(reply.status).toBe(413);
    expect(JSON.parse(reply.body)).toMatchObject({ message: expect.stringContaining('exceeds the limit of 7340032 bytes') });
  });
});
