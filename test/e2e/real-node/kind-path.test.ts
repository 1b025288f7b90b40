// The kind path, step for step, on the real node: hack/kind/deploy.sh (shared with kind-up) builds
// the manager image from the unmodified Dockerfile and loads it into the node's containerd, then
// installs the CRD and applies config/default through config/kind (as kind-up does) with the
// two Deployments placed on real-node-0 (hack/real-node/kustomize), and waits for the rollouts.
// The Deployments are run by an upstream kube-controller-manager's deployment and replicaset
// controllers (hack/cluster/reference-kcm.ts: the local one leaves them to our PodGroup controller).
//
// It shows: both manager pods Running on the real node with one leader, the container as shipped
// observed from inside; a PodGroup's pods injected by the webhook, which the API server calls
// through its Service, and scheduled by the in-cluster podgroup-scheduler (config/scheduler),
// which calls the extender through its Service name (CoreDNS, kube-proxy); the real Prometheus
// scraping the managers through config/prometheus's in-cluster job (Kubernetes service discovery
// of the metrics Service's endpoints); deleting the leader's pod makes the other lead; and
// `kubectl delete -k` leaves nothing behind.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { startReferenceKcm, stopReferenceKcm } from '../../../hack/cluster/reference-kcm.js';
import { installAdmissionPolicies, installCrds } from '../../../hack/control-plane/manifests.js';
import { REPO_ROOT } from '../../../hack/control-plane/paths.js';
import { freePort, isAlive, startDetached, stopProcess } from '../../../hack/control-plane/processes.js';
import { clusterState, createNamespace, eventually, kubeConfig } from '../support/cluster.js';
import { httpGet } from '../support/processes.js';
import { describeOnRealNode, fetchFromPod, kubectl, onRealNode } from '../support/real-node.js';
import { serviceAccountToken } from '../support/security.js';

const NAMESPACE = 'podgroup-system';
const OVERLAY = join(REPO_ROOT, 'hack', 'real-node', 'kustomize');
const MANAGER_SELECTOR = 'app.kubernetes.io/name=podgroup-controller';
const SCHEDULER_SELECTOR = 'app.kubernetes.io/name=podgroup-scheduler';

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
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

function deploySh(args: string[], env: Record<string, string>): string {
  return execFileSync(`${REPO_ROOT}/hack/kind/deploy.sh`, args, {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, KUBECONFIG: clusterState().kubeconfig, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 20 * 60_000,
  });
}

/** A PodGroup NAME of REPLICAS (all needed at once) with the log collector, applied with kubectl as a user would. */
function applyGangWithLogCollector(namespace: string, name: string, replicas: number, podSpec: k8s.V1PodSpec): void {
  execFileSync('kubectl', ['--kubeconfig', clusterState().kubeconfig, 'apply', '-n', namespace, '-f', '-'], {
    input: stringify({
      apiVersion: 'podgroup.dev/v1alpha1',
      kind: 'PodGroup',
      metadata: { name },
      spec: {
        replicas,
        minAvailable: replicas,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: podSpec },
        sidecars: { logCollector: {} },
      },
    }),
    stdio: ['pipe', 'ignore', 'pipe'],
  });
}

describeOnRealNode('the kind path: config/default deployed on the real node', (node) => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const coordination = kc.makeApiClient(k8s.CoordinationV1Api);
  const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  const rendered = parseAllDocuments(execFileSync('kubectl', ['kustomize', OVERLAY], { encoding: 'utf8' })).map((d) => d.toJS() as Manifest);
  const env = { NODE_RUNTIME: 'containerd', CONTAINERD_ADDRESS: node.containerdSocket };
  const tmp = mkdtempSync(join(tmpdir(), 'kind-path-'));
  let prometheusPid: number | undefined;
  let testNamespace: { name: string; remove: () => Promise<void> } | undefined;
  let deleted = false;

  const ready = (pod: k8s.V1Pod): boolean =>
    pod.metadata?.deletionTimestamp === undefined && pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
  const managerPods = async (): Promise<k8s.V1Pod[]> => (await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: MANAGER_SELECTOR })).items;
  /** The pod holding the Lease (holderIdentity is `<pod name>_<random>`). */
  const leaderPod = async (): Promise<string | undefined> => {
    const holder = (await coordination.readNamespacedLease({ name: 'podgroup-controller', namespace: NAMESPACE })).spec?.holderIdentity ?? '';
    return holder === '' ? undefined : holder.slice(0, holder.lastIndexOf('_'));
  };

  beforeAll(async () => {
    await eventually(
      'namespace podgroup-system not terminating (an earlier test)',
      async () => {
        const list = await core.listNamespace({ fieldSelector: `metadata.name=${NAMESPACE}` });
        return list.items.length === 0 || list.items[0]?.status?.phase === 'Active';
      },
      120_000,
      500,
    );
    const started = Date.now();
    deploySh(['build'], env);
    const built = Date.now();
    deploySh(['load'], env);
    console.log(
      `manager image built from the Dockerfile in ${((built - started) / 1000).toFixed(0)}s, archived and loaded in ${((Date.now() - built) / 1000).toFixed(0)}s`,
    );
    // The Deployment and ReplicaSet controllers a kind cluster's kube-controller-manager runs.
    await startReferenceKcm(clusterState());
    deploySh(['crds'], env);
    const applied = Date.now();
    deploySh(['apply', OVERLAY], env);
    deploySh(['wait'], env);
    console.log(`config/default applied and both Deployments rolled out in ${((Date.now() - applied) / 1000).toFixed(0)}s`);
  }, 25 * 60_000);

  afterAll(async () => {
    if (prometheusPid !== undefined) {
      await stopProcess(prometheusPid);
    }
    await kc
      .makeApiClient(k8s.RbacAuthorizationV1Api)
      .deleteClusterRoleBinding({ name: 'e2e-kind-path-prometheus' })
      .catch(() => undefined);
    await testNamespace?.remove();
    if (!deleted) {
      execFileSync('kubectl', ['--kubeconfig', clusterState().kubeconfig, 'delete', '--ignore-not-found', '--wait=false', '-k', OVERLAY], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    }
    await eventually(
      'namespace podgroup-system gone',
      async () => (await core.listNamespace({ fieldSelector: `metadata.name=${NAMESPACE}` })).items.length === 0,
      180_000,
      500,
    );
    await stopReferenceKcm(clusterState());
    // `kubectl delete -k` removed the CRD and config/policy's admission policies; the other tests
    // expect them installed, as the cluster's start installs them.
    await installCrds(clusterState());
    installAdmissionPolicies(clusterState());
    rmSync(tmp, { recursive: true, force: true });
  }, 300_000);

  it('runs both manager replicas and both podgroup-scheduler replicas as pods on the real node, with one leader', async () => {
    const pods = await eventually(
      'two Ready manager pods',
      async () => {
        const items = (await managerPods()).filter(ready);
        return items.length === 2 ? items : undefined;
      },
      120_000,
      500,
    );
    for (const pod of pods) {
      expect(pod.spec?.nodeName).toBe(node.name);
      expect(pod.status?.podIP).toMatch(/^10\.88\.0\./);
      expect(pod.spec?.containers[0]?.image).toBe('podgroup-controller:dev');
    }
    const names = pods.map((p) => p.metadata?.name);
    expect(names).toContain(
      await eventually(
        'a leader among the two pods',
        async () => {
          const leader = await leaderPod();
          return leader !== undefined && names.includes(leader) ? leader : undefined;
        },
        60_000,
        500,
      ),
    );
    // config/scheduler runs two podgroup-scheduler replicas (one leads; a PDB keeps one through a drain).
    const schedulers = await eventually(
      'two Ready podgroup-scheduler pods',
      async () => {
        const items = (await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: SCHEDULER_SELECTOR })).items.filter(ready);
        return items.length === 2 ? items : undefined;
      },
      120_000,
      500,
    );
    for (const pod of schedulers) {
      expect(pod.spec?.nodeName).toBe(node.name);
      expect(pod.spec?.containers[0]?.image).toBe('registry.k8s.io/kube-scheduler:v1.34.4');
    }
  }, 180_000);

  it('runs the container as shipped: numeric non-root user, no capabilities, no privilege escalation, seccomp, read-only root, memory limit, probes', async () => {
    const pod = (await managerPods()).find(ready);
    const name = pod?.metadata?.name ?? '';
    const container = pod?.spec?.containers[0];
    expect(container?.livenessProbe?.httpGet?.path).toBe('/healthz');
    expect(container?.readinessProbe?.httpGet?.path).toBe('/readyz');
    // The limit config/manager ships, and the heap cap that keeps V8 collecting below it.
    expect(container?.resources?.limits?.memory).toBe('1Gi');
    expect(container?.env).toContainEqual({ name: 'NODE_OPTIONS', value: '--max-old-space-size=768' });
    // Ready means the kubelet's readiness probe passed; no restart means liveness never failed.
    expect(pod?.status?.containerStatuses?.[0]).toMatchObject({ ready: true, restartCount: 0 });
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
      memoryLimit: String(1024 * 1024 * 1024),
    });
    expect((seen.cmdline as string[]).slice(0, 3)).toEqual(['/nodejs/bin/node', 'dist/main.js', '--leader-elect']);
  }, 60_000);

  it("creates a PodGroup's pods, injected through the webhook Service and scheduled by the in-cluster podgroup-scheduler through the extender Service", async () => {
    const webhooks = (await admission.readMutatingWebhookConfiguration({ name: 'podgroup-controller' })).webhooks ?? [];
    expect(webhooks.map((w) => [w.clientConfig.url, w.clientConfig.service?.name])).toEqual(webhooks.map(() => [undefined, 'podgroup-controller-webhook']));
    testNamespace = await createNamespace('kind-path');
    const ns = testNamespace.name;
    applyGangWithLogCollector(ns, 'gang', 3, { containers: [{ name: 'app', image: 'nginx:1.27', resources: { requests: { cpu: '100m', memory: '64Mi' } } }] });
    const pods = await eventually(
      '3 pods bound',
      async () => {
        const items = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=gang' })).items;
        return items.length === 3 && items.every((p) => p.spec?.nodeName !== undefined) ? items : undefined;
      },
      120_000,
      500,
    );
    for (const pod of pods) {
      expect(pod.spec?.schedulerName).toBe('podgroup-scheduler');
      // The webhook's patch: the log collector as a native sidecar.
      expect(pod.spec?.initContainers?.map((c) => c.name)).toContain('log-collector');
    }
    // kube-scheduler reports the binding under its profile's name; the extender did the bind.
    const scheduled = await eventually(
      '3 Scheduled events from the podgroup-scheduler',
      async () => {
        const events = (await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'reason=Scheduled' })).items;
        return events.length >= 3 ? events : undefined;
      },
      60_000,
      500,
    );
    expect(new Set(scheduled.map((e) => e.reportingComponent ?? e.source?.component))).toEqual(new Set(['podgroup-scheduler']));
    const logs = kubectl(['-n', NAMESPACE, 'logs', '-l', SCHEDULER_SELECTOR, '--tail=-1']);
    expect(logs).toContain('"URLPrefix":"https://podgroup-controller-extender.podgroup-system.svc:8888"');
    // Each pod bound at the first attempt: its filter and bind reached the same replica
    // (the extender Service's ClientIP affinity), and the Service name resolved.
    expect(logs).not.toMatch(/Failed to bind pod|refused|no such host/);
  }, 240_000);

  it("runs a PodGroup's pods on the real node for real: bound through the extender Service, injected, Ready, serving", async () => {
    const ns = testNamespace?.name ?? '';
    applyGangWithLogCollector(
      ns,
      'web',
      2,
      onRealNode({
        containers: [
          {
            name: 'nginx',
            image: 'nginx:1.27',
            imagePullPolicy: 'Never',
            ports: [{ containerPort: 80 }],
            resources: { requests: { cpu: '50m', memory: '32Mi' } },
          },
        ],
      }),
    );
    const pods = await eventually(
      '2 pods Ready on the real node',
      async () => {
        const items = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' })).items.filter(ready);
        return items.length === 2 ? items : undefined;
      },
      180_000,
      500,
    );
    for (const pod of pods) {
      expect(pod.spec?.nodeName).toBe(node.name);
      expect(pod.spec?.schedulerName).toBe('podgroup-scheduler');
      // Both containers really run: the app and the injected log collector (a native sidecar).
      expect(pod.status?.initContainerStatuses?.find((c) => c.name === 'log-collector')?.started).toBe(true);
      expect(pod.status?.containerStatuses?.find((c) => c.name === 'nginx')?.ready).toBe(true);
      const page = await eventually(`nginx answering on ${pod.status?.podIP}`, () => fetchFromPod(pod, 80), 30_000, 500);
      expect(page.body).toContain('Welcome to nginx!');
    }
  }, 240_000);

  it("is scraped by the real Prometheus through config/prometheus's in-cluster job (the metrics Service's endpoints)", async () => {
    const shipped = parse(readFileSync(join(REPO_ROOT, 'config', 'prometheus', 'scrape-config.yaml'), 'utf8')) as {
      scrape_configs: Array<
        Record<string, unknown> & { job_name: string; kubernetes_sd_configs?: Array<{ role?: string; namespaces?: { names?: string[] } }> }
      >;
    };
    const job = shipped.scrape_configs.find((j) => j.job_name === 'podgroup-controller');
    const sd = job?.kubernetes_sd_configs?.[0];
    expect(sd).toMatchObject({ role: 'endpoints', namespaces: { names: [NAMESPACE] } });
    // Prometheus runs on the host, not in a pod, and Debian's build has no Kubernetes service
    // discovery: the test discovers what `role: endpoints` would (every ready address of every
    // Service in the namespace, with its __meta labels) into a file_sd file, so the shipped
    // relabelling (keep the metrics Service) picks the targets. The token file is a ServiceAccount's
    // bound to podgroup-metrics-reader (in a pod: Prometheus' own). The rest is as shipped.
    const ns = testNamespace?.name ?? 'default';
    const token = await serviceAccountToken(ns, 'prometheus');
    kubectl(['create', 'clusterrolebinding', 'e2e-kind-path-prometheus', '--clusterrole=podgroup-metrics-reader', `--serviceaccount=${ns}:prometheus`]);
    writeFileSync(join(tmp, 'token'), token);
    const discovery = kc.makeApiClient(k8s.DiscoveryV1Api);
    const targets = join(tmp, 'targets.json');
    const discover = async (): Promise<number> => {
      const slices = (await discovery.listNamespacedEndpointSlice({ namespace: NAMESPACE })).items;
      const groups = slices.flatMap((slice) =>
        slice.endpoints
          .filter((e) => e.conditions?.ready === true)
          .flatMap((e) =>
            (slice.ports ?? []).map((port) => ({
              targets: [`${e.addresses[0]}:${port.port}`],
              labels: {
                __meta_kubernetes_namespace: NAMESPACE,
                __meta_kubernetes_service_name: slice.metadata?.labels?.['kubernetes.io/service-name'] ?? '',
                __meta_kubernetes_endpoint_port_name: port.name ?? '',
                __meta_kubernetes_pod_name: e.targetRef?.name ?? '',
                __meta_kubernetes_pod_node_name: e.nodeName ?? '',
              },
            })),
          ),
      );
      writeFileSync(targets, JSON.stringify(groups));
      return groups.length;
    };
    await discover();
    const config = join(tmp, 'prometheus.yaml');
    const { kubernetes_sd_configs: _omitted, ...rest } = job ?? { job_name: 'podgroup-controller' };
    writeFileSync(
      config,
      stringify({
        // config/kind has no cert-manager, so the managers serve self-signed metrics certificates the
        // shipped job (which verifies against cert-manager's CA) refuses by design: this test is
        // about discovery and relabelling; the deploy test proves the verification.
        scrape_configs: [
          {
            ...rest,
            authorization: { credentials_file: join(tmp, 'token') },
            tls_config: { insecure_skip_verify: true },
            file_sd_configs: [{ files: [targets], refresh_interval: '5s' }],
          },
        ],
      }),
    );
    const port = await freePort();
    prometheusPid = startDetached(
      '/usr/bin/prometheus',
      [`--config.file=${config}`, `--storage.tsdb.path=${join(tmp, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`],
      join(tmp, 'prometheus.log'),
      process.env,
    );
    const query = async (q: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> => {
      const body = JSON.parse((await httpGet(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`)).body) as {
        data?: { result?: Array<{ metric: Record<string, string>; value: [number, string] }> };
      };
      return body.data?.result ?? [];
    };
    const pods = (await managerPods()).filter(ready);
    const up = await eventually(
      'Prometheus: both managers up',
      async () => {
        await discover();
        if (!isAlive(prometheusPid ?? 0)) {
          throw new Error(`prometheus exited: ${readFileSync(join(tmp, 'prometheus.log'), 'utf8').slice(-2000)}`);
        }
        const result = await query('up{job="podgroup-controller"} == 1');
        return result.length === 2 ? result : undefined;
      },
      90_000,
      1000,
    );
    // Only the metrics Service's endpoints (the extender's and the webhook's were dropped).
    expect(new Set(up.map((r) => r.metric.instance))).toEqual(new Set(pods.map((p) => `${p.status?.podIP}:8443`)));
    // The binds of the PodGroups' 5 pods went through the extender; the webhook admitted them.
    await eventually(
      'Prometheus: extender binds',
      async () => Number((await query('sum(podgroup_extender_requests_total{job="podgroup-controller",verb="bind"})'))[0]?.value[1] ?? 0) >= 5,
      60_000,
      1000,
    );
    await eventually(
      'Prometheus: webhook requests',
      async () => Number((await query('sum(controller_runtime_webhook_requests_total{job="podgroup-controller"})'))[0]?.value[1] ?? 0) >= 5,
      60_000,
      1000,
    );
    await eventually(
      'Prometheus: one leader',
      async () => Number((await query('sum(leader_election_master_status{job="podgroup-controller"})'))[0]?.value[1] ?? -1) === 1,
      60_000,
      1000,
    );
  }, 240_000);

  it("hands leadership to the other replica when the leader's pod is deleted", async () => {
    const leader = await eventually('a leader', leaderPod, 60_000, 500);
    const other = (await managerPods())
      .filter(ready)
      .map((p) => p.metadata?.name)
      .find((n) => n !== leader);
    expect(other).toBeDefined();
    // The leader's own account of its shutdown, shown if the hand-over is late.
    const leaderLog = join(tmp, 'leader.log');
    const follower = spawn('kubectl', ['--kubeconfig', clusterState().kubeconfig, '-n', NAMESPACE, 'logs', '-f', '--tail=5', leader], {
      stdio: ['ignore', openSync(leaderLog, 'w'), 'ignore'],
    });
    const started = Date.now();
    let newLeader: string | undefined;
    try {
      kubectl(['-n', NAMESPACE, 'delete', 'pod', leader, '--wait=false']);
      // The leader releases the Lease on SIGTERM, so another replica takes over well within a lease
      // duration: the standby, or the Deployment's replacement pod when its first attempt comes
      // before the standby's next retry (both are live replicas; the deleted pod must not hold it).
      newLeader = await eventually(
        'another replica leading',
        async () => {
          const holder = await leaderPod();
          const live = (await managerPods()).filter((p) => p.metadata?.deletionTimestamp === undefined).map((p) => p.metadata?.name);
          return holder !== undefined && holder !== leader && live.includes(holder) ? holder : undefined;
        },
        60_000,
        200,
      ).catch(async (err: unknown) => {
        const lease = await coordination.readNamespacedLease({ name: 'podgroup-controller', namespace: NAMESPACE });
        throw new Error(
          `${String(err)}; lease ${JSON.stringify(lease.spec)}; pods ${JSON.stringify((await managerPods()).map((p) => [p.metadata?.name, p.status?.phase, p.metadata?.deletionTimestamp]))}; the leader's log:\n${readFileSync(leaderLog, 'utf8').slice(-4000)}`,
        );
      });
    } finally {
      follower.kill();
    }
    console.log(
      `failover: ${((Date.now() - started) / 1000).toFixed(1)}s from kubectl delete pod to the new holder (${newLeader === other ? 'the standby' : 'the replacement pod'})`,
    );
    // The Deployment replaces the deleted pod, on the real node again.
    await eventually('two Ready manager pods again', async () => (await managerPods()).filter(ready).length === 2, 120_000, 500);
  }, 240_000);

  it('leaves nothing behind after kubectl delete -k', async () => {
    if (prometheusPid !== undefined) {
      await stopProcess(prometheusPid);
      prometheusPid = undefined;
    }
    await kc
      .makeApiClient(k8s.RbacAuthorizationV1Api)
      .deleteClusterRoleBinding({ name: 'e2e-kind-path-prometheus' })
      .catch(() => undefined);
    await testNamespace?.remove();
    testNamespace = undefined;
    execFileSync('kubectl', ['--kubeconfig', clusterState().kubeconfig, 'delete', '-k', OVERLAY, '--timeout=180s'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 240_000,
    });
    deleted = true;
    await eventually(
      'namespace podgroup-system gone',
      async () => (await core.listNamespace({ fieldSelector: `metadata.name=${NAMESPACE}` })).items.length === 0,
      180_000,
      500,
    );
    // Every object config/default renders, cluster-scoped ones included (CRD, ClusterRoles and
    // bindings, the MutatingWebhookConfiguration), and what the managers created at run time in
    // their namespace (Leases, TLS Secrets), gone with it.
    const left = execFileSync('kubectl', ['--kubeconfig', clusterState().kubeconfig, 'get', '--ignore-not-found', '-o', 'name', '-f', '-'], {
      input: rendered.map((m) => JSON.stringify(m)).join('\n'),
      encoding: 'utf8',
    }).trim();
    expect(left).toBe('');
    expect((await coordination.listNamespacedLease({ namespace: NAMESPACE })).items).toEqual([]);
    expect((await core.listNamespacedSecret({ namespace: NAMESPACE })).items).toEqual([]);
    expect((await admission.listMutatingWebhookConfiguration()).items.map((w) => w.metadata?.name)).not.toContain('podgroup-controller');
    // And on the node: no container of those pods is left in its containerd.
    await eventually(
      'no podgroup-system containers on the node',
      () => {
        const ids = execFileSync(
          'ctr',
          ['-a', node.containerdSocket, '-n', 'k8s.io', 'containers', 'ls', '-q', `labels."io.kubernetes.pod.namespace"==${NAMESPACE}`],
          { encoding: 'utf8' },
        ).trim();
        return ids === '';
      },
      150_000,
      1000,
    );
  }, 420_000);
});
