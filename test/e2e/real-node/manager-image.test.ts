// The manager image as shipped, on the real node: built from the unmodified Dockerfile (buildah,
// offline stand-ins for its bases), loaded into the node's containerd (the `kind load` step), both
// through hack/kind/deploy.sh as kind-up runs it; then two pods with the manager's pod template
// from `kubectl kustomize config/default` run it on real-node-0: both Ready, one leader, the
// leader's pod deleted → the other leads, and the container's restrictions observed from inside.
//
// Until the node has kube-proxy, the pods use the host network and reach the API server at
// 127.0.0.1 (the node's pods cannot reach a loopback-only API server otherwise), each with its
// own ports, and without the webhook and extender listeners (their Services are not routable yet).
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../../../hack/cluster/local-cluster.js';
import { freePort } from '../../../hack/cluster/processes.js';
import { clusterState, eventually, kubeConfig } from '../support/cluster.js';
import { describeOnRealNode, kubectl, onRealNode } from '../support/real-node.js';

const NAMESPACE = 'podgroup-system';
const IMAGE = 'podgroup-controller:dev';
const LEASE = 'podgroup-controller';

interface Manifest {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: { template?: { spec: k8s.V1PodSpec } };
}

/** What the container sees of itself: /proc/1/status, its command line, a write to /, its memory limit. */
const SELF_CHECK = `
const fs = require('fs');
const status = Object.fromEntries(fs.readFileSync('/proc/1/status', 'utf8').trim().split('\\n').map((l) => l.split(/:\\s+/)));
let write;
try { fs.writeFileSync('/app/probe', 'x'); write = 'ok'; } catch (e) { write = e.code; }
const limitFile = ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes'].find((f) => fs.existsSync(f));
console.log(JSON.stringify({
  uid: status.Uid, gid: status.Gid, capEff: status.CapEff, capBnd: status.CapBnd, noNewPrivs: status.NoNewPrivs, seccomp: status.Seccomp,
  cmdline: fs.readFileSync('/proc/1/cmdline', 'utf8').split('\\0').filter(Boolean),
  write, memoryLimit: limitFile && fs.readFileSync(limitFile, 'utf8').trim(),
}));
`;

function deploySh(args: string[], env: Record<string, string>): void {
  execFileSync(`${REPO_ROOT}/hack/kind/deploy.sh`, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, KUBECONFIG: clusterState().kubeconfig, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 20 * 60_000,
  });
}

describeOnRealNode('the manager image on the real node', (node) => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const coordination = kc.makeApiClient(k8s.CoordinationV1Api);
  const rendered = parseAllDocuments(execFileSync('kubectl', ['kustomize', `${REPO_ROOT}/config/default`], { encoding: 'utf8' })).map((d) => d.toJS() as Manifest);
  // The namespace and the manager's RBAC (the podgroup-scheduler's aside) exactly as config/default ships them.
  const rbacKinds = ['ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'];
  const rbac = rendered.filter((m) => m.kind === 'Namespace' || (rbacKinds.includes(m.kind) && !m.metadata.name.includes('scheduler')));
  const deployment = rendered.find((m) => m.kind === 'Deployment' && m.metadata.name === 'podgroup-controller');
  const names = ['manager-image-a', 'manager-image-b'];
  const apiPort = new URL(clusterState().apiserverUrl).port;

  async function managerPod(name: string): Promise<k8s.V1Pod> {
    const template = deployment?.spec?.template?.spec;
    if (template === undefined) {
      throw new Error('config/default has no podgroup-controller Deployment');
    }
    const [metrics, probes] = [await freePort(), await freePort()];
    const container = template.containers[0];
    if (container === undefined) {
      throw new Error('config/default\'s podgroup-controller Deployment has no container');
    }
    const shipped = container.args ?? [];
    // The shipped flags on this pod's own ports (host network), the listeners that need a routable Service off.
    const args = [
      ...shipped.filter((a) => !/^--(metrics|health-probe|extender|webhook)-/.test(a)),
      `--metrics-bind-address=:${metrics}`,
      `--health-probe-bind-address=:${probes}`,
      '--extender-bind-address=0',
      '--webhook-bind-address=0',
    ];
    return {
      metadata: { name, namespace: NAMESPACE, labels: { 'app.kubernetes.io/name': 'podgroup-controller-image-test' } },
      spec: onRealNode({
        ...template,
        hostNetwork: true,
        containers: [
          {
            ...container,
            image: IMAGE,
            imagePullPolicy: 'Never' as const,
            args,
            env: [...(container.env ?? []), { name: 'KUBERNETES_SERVICE_HOST', value: '127.0.0.1' }, { name: 'KUBERNETES_SERVICE_PORT', value: apiPort }],
            ports: [{ name: 'metrics', containerPort: metrics }, { name: 'probes', containerPort: probes }],
          },
        ],
      }),
    };
  }

  const ready = (pod: k8s.V1Pod): boolean => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
  const identityOf = (name: string): string | undefined => {
    const line = kubectl(['-n', NAMESPACE, 'logs', name]).split('\n').find((l) => l.includes('manager started'));
    return line === undefined ? undefined : (JSON.parse(line) as { identity?: string }).identity;
  };
  const holder = async (): Promise<string | undefined> => (await coordination.readNamespacedLease({ name: LEASE, namespace: NAMESPACE })).spec?.holderIdentity ?? undefined;

  beforeAll(async () => {
    const env = { NODE_RUNTIME: 'containerd', CONTAINERD_ADDRESS: node.containerdSocket };
    const started = Date.now();
    deploySh(['build'], env);
    deploySh(['load'], env);
    console.log(`manager image built and loaded in ${((Date.now() - started) / 1000).toFixed(0)}s`);
    deploySh(['crds'], env);
    await eventually('namespace podgroup-system not terminating (an earlier test)', async () => {
      const list = await core.listNamespace({ fieldSelector: `metadata.name=${NAMESPACE}` });
      return list.items.length === 0 || list.items[0]?.status?.phase === 'Active';
    }, 120_000, 500);
    execFileSync('kubectl', ['--kubeconfig', clusterState().kubeconfig, 'apply', '--server-side', '-f', '-'], { input: rbac.map((m) => JSON.stringify(m)).join('\n'), stdio: ['pipe', 'ignore', 'pipe'] });
    for (const name of names) {
      await core.createNamespacedPod({ namespace: NAMESPACE, body: await managerPod(name) });
    }
  }, 25 * 60_000);

  afterAll(async () => {
    for (const name of names) {
      await core.deleteNamespacedPod({ name, namespace: NAMESPACE, gracePeriodSeconds: 0 }).catch(() => undefined);
    }
    await eventually('the manager pods gone', async () => (await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: 'app.kubernetes.io/name=podgroup-controller-image-test' })).items.length === 0, 60_000, 500);
    // What config/default's namespace and RBAC added goes too (the image stays in the node's containerd).
    execFileSync('kubectl', ['--kubeconfig', clusterState().kubeconfig, 'delete', '--ignore-not-found', '--wait=false', '-f', '-'], { input: rbac.map((m) => JSON.stringify(m)).join('\n'), stdio: ['pipe', 'ignore', 'pipe'] });
    await eventually('namespace podgroup-system gone', async () => (await core.listNamespace({ fieldSelector: `metadata.name=${NAMESPACE}` })).items.length === 0, 120_000, 500);
  }, 240_000);

  it('runs both replicas Ready on the real node with one leader, and the other leads when the leader pod is deleted', async () => {
    for (const name of names) {
      const pod = await eventually(`${name} Ready`, async () => {
        const p = await core.readNamespacedPod({ name, namespace: NAMESPACE });
        return ready(p) ? p : undefined;
      }, 120_000, 500);
      expect(pod.spec?.nodeName).toBe(node.name);
    }
    const identities = new Map(names.map((n) => [identityOf(n), n]));
    const leader = await eventually('a leader among the two pods', async () => {
      const h = await holder();
      return h !== undefined && identities.has(h) ? identities.get(h) : undefined;
    }, 60_000, 500);
    const other = names.find((n) => n !== leader) as string;
    await core.deleteNamespacedPod({ name: leader as string, namespace: NAMESPACE });
    // The leader releases the Lease on SIGTERM, so the standby takes over well within a lease duration.
    const next = await eventually('the other pod leading', async () => {
      const h = await holder();
      return h !== undefined && identities.get(h) === other ? other : undefined;
    }, 60_000, 500);
    expect(next).toBe(other);
  }, 300_000);

  it('runs as shipped: numeric non-root user, no capabilities, no privilege escalation, seccomp, read-only root, memory limit, probes', async () => {
    const name = await eventually('a running manager pod', async () => {
      const pods = await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: 'app.kubernetes.io/name=podgroup-controller-image-test' });
      return pods.items.find((p) => ready(p) && p.metadata?.deletionTimestamp === undefined)?.metadata?.name;
    }, 60_000, 500);
    // Distroless: no shell; the image's own node runs the check.
    const seen = JSON.parse(kubectl(['-n', NAMESPACE, 'exec', name, '--', '/nodejs/bin/node', '-e', SELF_CHECK])) as Record<string, unknown>;
    expect(seen).toMatchObject({
      uid: '65532\t65532\t65532\t65532',
      gid: '65532\t65532\t65532\t65532',
      capEff: '0000000000000000',
      capBnd: '0000000000000000',
      noNewPrivs: '1',
      seccomp: '2',
      write: 'EROFS',
      memoryLimit: String(512 * 1024 * 1024),
    });
    expect((seen.cmdline as string[]).slice(0, 3)).toEqual(['/nodejs/bin/node', 'dist/main.js', '--leader-elect']);
    const pod = await core.readNamespacedPod({ name, namespace: NAMESPACE });
    const container = pod.spec?.containers[0];
    expect(container?.livenessProbe?.httpGet?.path).toBe('/healthz');
    expect(container?.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(pod.status?.containerStatuses?.[0]).toMatchObject({ ready: true, restartCount: 0 });
  }, 120_000);
});
