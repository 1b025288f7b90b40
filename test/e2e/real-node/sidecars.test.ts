// The seed's two sidecar stories running for real on real-node-0: PodGroup pods injected by the
// webhook (unmodified output) with git-sync and the Fluent Bit log collector, images as the
// webhook names them. The shipped sample, both sidecars together (native: git-sync ready before the app starts; the
// page changes after a commit; access-log lines come out of kubectl logs as JSON), the fallback
// mode, an invalid repository (failure visible in events and the PodGroup's condition, app never
// started), a pod deleted mid-sync, and a namespace enforcing the restricted Pod Security level.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { REPO_ROOT } from '../../../hack/control-plane/paths.js';
import { sampleOnRealNode } from '../../../hack/real-node/node.js';
import { GROUP } from '../../../src/api/podgroup.js';
import type { PodGroup } from '../../../src/api/podgroup.js';
import { createNamespace, eventually } from '../support/cluster.js';
import { killAll } from '../support/processes.js';
import { core, createPodGroup, getPodGroup, podsOf, waitForRollout } from '../support/podgroups.js';
import { describeOnRealNode, fetchFromPod, kubectl, onRealNode, siteRepository, startWebhookManager, type WebhookManager } from '../support/real-node.js';

const NGINX_CONF = `server {
    listen 80;
    root /git/current;
    access_log /var/log/app/access.log;
    error_log /var/log/app/error.log;
}
`;

/** The app records at start whether the synced site was already there (native sidecar ordering). */
const APP_COMMAND = [
  'sh',
  '-c',
  'if [ -e /git/current/index.html ]; then echo "app start: site present"; else echo "app start: site missing"; fi; exec nginx -g "daemon off;"',
];

function sitePodGroup(name: string, repo: string, o: { mode?: 'native' | 'fallback'; replicas?: number; period?: string } = {}): PodGroup {
  return {
    apiVersion: `${GROUP}/v1alpha1`,
    kind: 'PodGroup',
    metadata: { name },
    spec: {
      replicas: o.replicas ?? 2,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: onRealNode({
          terminationGracePeriodSeconds: 2,
          containers: [
            {
              name: 'nginx',
              image: 'nginx:1.27',
              command: APP_COMMAND,
              ports: [{ containerPort: 80 }],
              readinessProbe: { httpGet: { path: '/', port: 80 }, periodSeconds: 1 },
              volumeMounts: [{ name: 'nginx-conf', mountPath: '/etc/nginx/conf.d', readOnly: true }],
            },
          ],
          volumes: [{ name: 'nginx-conf', configMap: { name: 'site-nginx' } }],
        }),
      },
      sidecars: {
        gitSync: { repo, ref: 'main', period: o.period ?? '2s', allowPlainHTTP: true, ...(o.mode === undefined ? {} : { mode: o.mode }) },
        logCollector: { path: '/var/log/app', files: '*.log' },
      },
    },
  };
}

const containerStatus = (pod: k8s.V1Pod, name: string): k8s.V1ContainerStatus | undefined =>
  [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])].find((c) => c.name === name);

describeOnRealNode('sidecars on the real node', (node) => {
  let own: { name: string; remove: () => Promise<void> };
  let ns: { name: string; remove: () => Promise<void> };
  let webhook: WebhookManager | undefined;

  beforeAll(async () => {
    own = await createNamespace('e2e-rn-system');
    ns = await createNamespace('e2e-rn');
    await core.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: 'site-nginx' }, data: { 'site.conf': NGINX_CONF } } });
    webhook = await startWebhookManager(own.name, `podgroup-e2e-rn-${process.pid}`);
  });

  afterAll(async () => {
    await webhook?.stop();
    await killAll();
    await Promise.all([own, ns].map((n) => n?.remove()));
  });

  it('both sidecars in a PodGroup: git-sync ready before the app starts, the synced page changes after a commit, access logs come out as JSON', async () => {
    const repo = siteRepository(node, 'both', '<h1>v1</h1>\n');
    await createPodGroup(ns.name, sitePodGroup('both', repo.url));
    await waitForRollout(ns.name, 'both', 120_000);
    const pods = await podsOf(ns.name, 'both');
    expect(pods.map((p) => p.spec?.nodeName)).toEqual(['real-node-0', 'real-node-0']);
    for (const pod of pods) {
      // The webhook's output, unmodified: native sidecars (init containers that keep running).
      expect(pod.spec?.initContainers?.map((c) => [c.name, c.restartPolicy])).toEqual([
        ['git-sync', 'Always'],
        ['log-collector', 'Always'],
      ]);
      const gitSync = containerStatus(pod, 'git-sync');
      const app = containerStatus(pod, 'nginx');
      expect(gitSync?.started).toBe(true);
      expect(app?.state?.running?.startedAt).toBeDefined();
      expect(new Date(app?.state?.running?.startedAt ?? 0).getTime()).toBeGreaterThanOrEqual(new Date(gitSync?.state?.running?.startedAt ?? 0).getTime());
      expect(kubectl(['logs', '-n', ns.name, pod.metadata?.name ?? '', '-c', 'nginx'])).toContain('app start: site present');
      expect((await fetchFromPod(pod, 80))?.body).toBe('<h1>v1</h1>\n');
    }
    const pod = pods[0] as k8s.V1Pod;
    repo.commit('<h1>v2</h1>\n');
    await eventually('the new commit served', async () => (await fetchFromPod(pod, 80))?.body === '<h1>v2</h1>\n', 30_000, 500);
    const logs = await eventually(
      'access-log lines as JSON from the log collector',
      () => {
        const out = kubectl(['logs', '-n', ns.name, pod.metadata?.name ?? '', '-c', 'log-collector']);
        const records = out
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as { file?: string; log?: string });
        return records.some((r) => r.file === '/var/log/app/access.log' && (r.log ?? '').includes('"GET / HTTP/1.1" 200')) ? records : undefined;
      },
      30_000,
      1000,
    );
    expect(logs.length).toBeGreaterThan(0);
  });

  it('config/samples/podgroup-sidecars.yaml serves the synced site from a read-only web root and its access log reaches the collector', async () => {
    // Its own namespace: the sample brings its own ConfigMap site-nginx.
    const sampleNs = await createNamespace('e2e-rn-sample');
    const repo = siteRepository(node, 'sample', '<h1>sample v1</h1>\n');
    const manifest = join(mkdtempSync(join(tmpdir(), 'sample-')), 'sample.yaml');
    writeFileSync(manifest, sampleOnRealNode(readFileSync(join(REPO_ROOT, 'config', 'samples', 'podgroup-sidecars.yaml'), 'utf8'), repo.url));
    kubectl(['apply', '-n', sampleNs.name, '-f', manifest]);
    await waitForRollout(sampleNs.name, 'site', 120_000);
    const [pod] = await podsOf(sampleNs.name, 'site');
    const name = pod?.metadata?.name ?? '';
    expect((await fetchFromPod(pod as k8s.V1Pod, 80))?.body).toBe('<h1>sample v1</h1>\n');
    // The web root is the code volume, read-only for the app.
    expect(() => kubectl(['exec', '-n', sampleNs.name, name, '-c', 'nginx', '--', 'touch', '/git/current/written-by-app'])).toThrow(/Read-only file system/);
    await eventually(
      'the access log as JSON from the collector',
      () =>
        kubectl(['logs', '-n', sampleNs.name, name, '-c', 'log-collector'])
          .split('\n')
          .some((l) => l.startsWith('{') && l.includes('"file":"/var/log/app/access.log"') && l.includes('GET / HTTP/1.1')),
      30_000,
      1000,
    );
    repo.commit('<h1>sample v2</h1>\n');
    await eventually('the new commit served', async () => (await fetchFromPod(pod as k8s.V1Pod, 80))?.body === '<h1>sample v2</h1>\n', 30_000, 500);
    await sampleNs.remove();
  });

  it('fallback mode: a --one-time init container syncs first, then git-sync runs as a regular container', async () => {
    const repo = siteRepository(node, 'fallback', '<h1>fallback v1</h1>\n');
    await createPodGroup(ns.name, sitePodGroup('fallback', repo.url, { mode: 'fallback', replicas: 1 }));
    await waitForRollout(ns.name, 'fallback', 120_000);
    const [pod] = await podsOf(ns.name, 'fallback');
    expect(pod?.spec?.initContainers?.map((c) => c.name)).toEqual(['git-sync-init']);
    expect(pod?.spec?.containers.map((c) => c.name)).toEqual(['nginx', 'git-sync', 'log-collector']);
    expect(containerStatus(pod as k8s.V1Pod, 'git-sync-init')?.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(containerStatus(pod as k8s.V1Pod, 'git-sync')?.state?.running).toBeDefined();
    expect(kubectl(['logs', '-n', ns.name, pod?.metadata?.name ?? '', '-c', 'nginx'])).toContain('app start: site present');
    expect((await fetchFromPod(pod as k8s.V1Pod, 80))?.body).toBe('<h1>fallback v1</h1>\n');
    repo.commit('<h1>fallback v2</h1>\n');
    await eventually('the new commit served', async () => (await fetchFromPod(pod as k8s.V1Pod, 80))?.body === '<h1>fallback v2</h1>\n', 30_000, 500);
  });

  it("an invalid repository: git-sync's failure shows in events and the PodGroup's condition, and the app never starts", async () => {
    await createPodGroup(ns.name, sitePodGroup('invalid', `${node.gitUrl}/no-such-repository.git`, { replicas: 1 }));
    const pod = await eventually(
      'git-sync to fail and restart',
      async () => {
        const [p] = await podsOf(ns.name, 'invalid');
        const status = p === undefined ? undefined : containerStatus(p, 'git-sync');
        return (status?.restartCount ?? 0) > 0 && status?.lastState?.terminated !== undefined ? p : undefined;
      },
      90_000,
      500,
    );
    expect(containerStatus(pod, 'git-sync')?.lastState?.terminated?.exitCode).not.toBe(0);
    expect(containerStatus(pod, 'nginx')?.state?.running).toBeUndefined();
    expect(containerStatus(pod, 'nginx')?.state?.waiting?.reason).toBe('PodInitializing');
    const name = pod.metadata?.name ?? '';
    // kubectl describe shows the kubelet's events: the failing git-sync, restarted with back-off.
    const describe = await eventually(
      'the back-off in kubectl describe',
      () => {
        const out = kubectl(['describe', 'pod', '-n', ns.name, name]);
        return /Back-off restarting failed container git-sync/.test(out) ? out : undefined;
      },
      60_000,
      1000,
    );
    expect(describe).toMatch(/git-sync:[\s\S]*Last State:\s+Terminated[\s\S]*Exit Code:\s+[1-9]/);
    // git-sync's own reason, from the current or the previous attempt (whichever the kubelet still has).
    await eventually(
      "git-sync's error in its log",
      () => {
        const logs = ['--previous', '']
          .map((flag) => {
            try {
              return kubectl(['logs', '-n', ns.name, name, '-c', 'git-sync', ...(flag === '' ? [] : [flag])]);
            } catch {
              return '';
            }
          })
          .join('\n');
        return /no-such-repository.*not found|not found.*no-such-repository/i.test(logs);
      },
      30_000,
      1000,
    );
    const condition = await eventually(
      'the PodGroup condition explaining it',
      async () => {
        const pg = await getPodGroup(ns.name, 'invalid');
        const available = pg.status?.conditions?.find((c) => c.type === 'Available');
        return available?.status === 'False' && (available.message ?? '').includes('container git-sync keeps failing') ? available : undefined;
      },
      60_000,
      500,
    );
    expect(condition.message).toMatch(/1 pod: container git-sync keeps failing \(exit code \d+/);
    expect(kubectl(['describe', 'podgroup', '-n', ns.name, 'invalid'])).toContain('container git-sync keeps failing');
  });

  it('a pod deleted during its first sync goes away and its replacement syncs and serves', async () => {
    // A slow first sync: a large file (incompressible) in the repository.
    const repo = siteRepository(node, 'midsync', '<h1>mid v1</h1>\n');
    const { randomBytes } = await import('node:crypto');
    repo.commit(randomBytes(20 * 1024 * 1024).toString('base64'));
    repo.commit('<h1>mid v2</h1>\n');
    await createPodGroup(ns.name, sitePodGroup('midsync', repo.url, { replicas: 1 }));
    const syncing = await eventually(
      'git-sync running but not yet synced',
      async () => {
        const [p] = await podsOf(ns.name, 'midsync');
        const status = p === undefined ? undefined : containerStatus(p, 'git-sync');
        return status?.state?.running !== undefined && status.started !== true ? p : undefined;
      },
      60_000,
      100,
    );
    const victim = syncing.metadata?.name ?? '';
    await core.deleteNamespacedPod({ name: victim, namespace: ns.name });
    await eventually('the deleted pod gone', async () => !(await podsOf(ns.name, 'midsync')).some((p) => p.metadata?.name === victim), 60_000, 250);
    await waitForRollout(ns.name, 'midsync', 180_000);
    const [replacement] = await podsOf(ns.name, 'midsync');
    expect(replacement?.metadata?.name).not.toBe(victim);
    expect((await fetchFromPod(replacement as k8s.V1Pod, 80))?.body).toBe('<h1>mid v2</h1>\n');
  });

  it('a namespace enforcing the restricted Pod Security level admits an injected pod, whose sidecars work', async () => {
    const restricted = await createNamespace('e2e-rn-restricted', { 'pod-security.kubernetes.io/enforce': 'restricted' });
    try {
      const repo = siteRepository(node, 'restricted', '<h1>restricted</h1>\n');
      const appSecurity: k8s.V1SecurityContext = {
        runAsNonRoot: true,
        runAsUser: 65534,
        runAsGroup: 65534,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      };
      const pod = (name: string, security: k8s.V1SecurityContext): k8s.V1Pod => ({
        metadata: {
          name,
          labels: { 'sidecars.podgroup.dev/inject': 'true' },
          annotations: {
            'sidecars.podgroup.dev/inject': 'git-sync,log-collector',
            'sidecars.podgroup.dev/git-repo': repo.url,
            'sidecars.podgroup.dev/git-allow-plain-http': 'true',
            'sidecars.podgroup.dev/git-period': '2s',
          },
        },
        spec: onRealNode({
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'app',
              image: 'nginx:1.27',
              // busybox's httpd as an unprivileged web server; -v logs each request (to the log file).
              command: ['sh', '-c', 'exec httpd -f -v -p 8080 -h /git/current 2>>/var/log/app/access.log'],
              ports: [{ containerPort: 8080 }],
              securityContext: security,
            },
          ],
        }),
      });
      // Enforcement is on: an app that may run as root is refused.
      await expect(
        core.createNamespacedPod({ namespace: restricted.name, body: pod('root-app', { ...appSecurity, runAsNonRoot: undefined, runAsUser: undefined }) }),
      ).rejects.toMatchObject({
        code: 403,
        // Only the app is named: the injected sidecars comply.
        body: expect.stringMatching(/violates PodSecurity \\+"restricted:latest\\+": runAsNonRoot != true \(pod or container \\+"app\\+" must set/),
      });
      const created = await core.createNamespacedPod({ namespace: restricted.name, body: pod('app', appSecurity) });
      expect(created.spec?.initContainers?.map((c) => c.name)).toEqual(['git-sync', 'log-collector']);
      const running = await eventually(
        'the injected pod Ready',
        async () => {
          const p = await core.readNamespacedPod({ name: 'app', namespace: restricted.name });
          return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
        },
        90_000,
        500,
      );
      expect((await fetchFromPod(running, 8080))?.body).toBe('<h1>restricted</h1>\n');
      await eventually(
        'the request logged by the collector',
        () => kubectl(['logs', '-n', restricted.name, 'app', '-c', 'log-collector']).includes('"file":"/var/log/app/access.log"'),
        30_000,
        1000,
      );
    } finally {
      await restricted.remove();
    }
  });
});
