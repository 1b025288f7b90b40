// The control plane's components: the binaries (built by hack/build-binaries.sh), the table of
// how each is started (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, the
// podgroup-scheduler and kwok), and starting, stopping and health-checking any recorded
// component, the cluster's own and those added later (the reference KCM, the real node's).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { logFile, REPO_ROOT } from './paths.js';
import type { ControlPlanePki } from './pki.js';
import { ClusterError, isAlive, isOurProcess, isPortFree, logTail, startDetached, stopProcess, waitFor } from './processes.js';
import { writeState, type ClusterState, type ComponentName, type ComponentRecord } from './state.js';

/** The Kubernetes version the binaries are built from (hack/build-binaries.sh pins the same). */
export const KUBE_VERSION = 'v1.34.4';
/** kwok's fake pod IPs: never routed off this host (the real node blocks them). */
export const KWOK_POD_CIDR = '10.244.0.0/16';
const SERVICE_CIDR = '10.96.0.0/16';

/** Runs hack/build-binaries.sh (progress on stderr) and returns the bin dir. */
export function ensureBinaries(log: (line: string) => void): string {
  const script = join(REPO_ROOT, 'hack', 'build-binaries.sh');
  log('checking control-plane binaries (the first build takes many minutes; progress follows)');
  const result = spawnSync('bash', [script], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (result.status !== 0) {
    throw new ClusterError('building the control-plane binaries failed (see the messages above)');
  }
  const lines = result.stdout.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

function stageFiles(binDir: string): string[] {
  const dir = join(binDir, 'kwok-stages');
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.yaml')) : [];
  if (files.length === 0) {
    throw new ClusterError(`no kwok stage files in ${dir}; delete ${binDir} and run hack/build-binaries.sh again`);
  }
  return files.sort().map((f) => join(dir, f));
}

export interface ControlPlanePorts {
  apiserver: number;
  etcd: number;
  etcdPeer: number;
  kcm: number;
  scheduler: number;
  podgroupScheduler: number;
  kwok: number;
}

/** What the component table is filled in from (cluster up writes the files first). */
export interface ControlPlaneLayout {
  stateDir: string;
  binDir: string;
  kubeconfig: string;
  pki: ControlPlanePki;
  ports: ControlPlanePorts;
  schedulerConfig: string;
  podgroupSchedulerConfig: string;
  /** Serve the API server's /debug/pprof (the scale benchmark profiles it); off otherwise. */
  apiserverProfiling?: boolean;
  /**
   * kwok's node Lease duration (renewed every quarter of it). 40 s by default, as a kubelet's;
   * thousands of fake nodes renewing every 10 s would load the API server more than the workload.
   */
  kwokNodeLeaseSeconds?: number;
}

/** The control plane's components in start order, not yet started (pid 0). */
export function controlPlaneComponents(layout: ControlPlaneLayout): ComponentRecord[] {
  const { stateDir, binDir, kubeconfig, pki, ports } = layout;
  const bin = (name: string): string => join(binDir, name);
  const log = (name: string): string => logFile(stateDir, name);
  const apiserverUrl = `https://127.0.0.1:${ports.apiserver}`;
  return [
    {
      name: 'etcd',
      binary: bin('etcd'),
      pid: 0,
      ports: [ports.etcd, ports.etcdPeer],
      log: log('etcd'),
      health: { url: `http://127.0.0.1:${ports.etcd}/health`, tls: 'none' },
      args: [
        '--name=local',
        `--data-dir=${join(stateDir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${ports.etcd}`,
        `--advertise-client-urls=http://127.0.0.1:${ports.etcd}`,
        `--listen-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
        `--initial-cluster=local=http://127.0.0.1:${ports.etcdPeer}`,
        '--unsafe-no-fsync=true',
        '--quota-backend-bytes=8589934592',
        '--log-level=warn',
      ],
    },
    {
      name: 'kube-apiserver',
      binary: bin('kube-apiserver'),
      pid: 0,
      ports: [ports.apiserver],
      log: log('kube-apiserver'),
      health: { url: `${apiserverUrl}/readyz`, tls: 'admin' },
      args: [
        `--etcd-servers=http://127.0.0.1:${ports.etcd}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${ports.apiserver}`,
        '--advertise-address=127.0.0.1',
        '--endpoint-reconciler-type=none',
        `--tls-cert-file=${pki.servingCert}`,
        `--tls-private-key-file=${pki.servingKey}`,
        `--client-ca-file=${pki.caCert}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${pki.saPub}`,
        `--service-account-signing-key-file=${pki.saKey}`,
        '--authorization-mode=Node,RBAC',
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        '--allow-privileged=true',
        // Otherwise every new Node gets a not-ready NoSchedule taint that only the
        // node-lifecycle controller (not run here) removes.
        '--disable-admission-plugins=TaintNodesByCondition',
        // As many production clusters: owner references with blockOwnerDeletion need
        // update on the owner's finalizers subresource, so every test proves the RBAC grants it.
        '--enable-admission-plugins=OwnerReferencesPermissionEnforcement',
        `--profiling=${layout.apiserverProfiling === true}`,
        '--max-requests-inflight=1000',
        '--max-mutating-requests-inflight=500',
        // For the real node: the API server dials the kubelet's InternalIP (its hostname does
        // not resolve) with this client certificate.
        `--kubelet-client-certificate=${pki.kubeletClientCert}`,
        `--kubelet-client-key=${pki.kubeletClientKey}`,
        '--kubelet-preferred-address-types=InternalIP,Hostname',
      ],
    },
    {
      name: 'kube-controller-manager',
      binary: bin('kube-controller-manager'),
      pid: 0,
      ports: [ports.kcm],
      log: log('kube-controller-manager'),
      health: { url: `https://127.0.0.1:${ports.kcm}/healthz`, tls: 'insecure' },
      args: [
        `--kubeconfig=${kubeconfig}`,
        `--authentication-kubeconfig=${kubeconfig}`,
        `--authorization-kubeconfig=${kubeconfig}`,
        // Only these: our manager replaces the replicaset and deployment controllers. The
        // endpointslice controller gives kube-proxy (real node) the Services' endpoints; the
        // endpoints controller gives them to readers of v1 Endpoints (Prometheus' `role: endpoints`).
        '--controllers=serviceaccount-controller,namespace-controller,garbage-collector-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller,endpointslice-controller,endpoints-controller',
        `--service-account-private-key-file=${pki.saKey}`,
        `--root-ca-file=${pki.caCert}`,
        '--leader-elect=false',
        '--bind-address=127.0.0.1',
        `--secure-port=${ports.kcm}`,
        '--kube-api-qps=200',
        '--kube-api-burst=400',
      ],
    },
    scheduler('kube-scheduler', layout.schedulerConfig, ports.scheduler, layout),
    scheduler('podgroup-scheduler', layout.podgroupSchedulerConfig, ports.podgroupScheduler, layout),
    {
      name: 'kwok',
      binary: bin('kwok'),
      pid: 0,
      ports: [ports.kwok],
      log: log('kwok'),
      health: { url: `http://127.0.0.1:${ports.kwok}/healthz`, tls: 'none' },
      args: [
        `--kubeconfig=${kubeconfig}`,
        '--manage-all-nodes=false',
        '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
        `--cidr=${KWOK_POD_CIDR}`,
        '--node-ip=127.0.0.1',
        `--node-lease-duration-seconds=${layout.kwokNodeLeaseSeconds ?? 40}`,
        `--server-address=127.0.0.1:${ports.kwok}`,
        // v0.8.0 ships no built-in stages; build-binaries.sh copies the module's "fast" set.
        `--config=${stageFiles(binDir).join(',')}`,
      ],
    },
  ];
}

/** A kube-scheduler with its own configuration (the default one, or the podgroup-scheduler). */
function scheduler(name: string, config: string, port: number, layout: ControlPlaneLayout): ComponentRecord {
  return {
    name,
    binary: join(layout.binDir, 'kube-scheduler'),
    pid: 0,
    ports: [port],
    log: logFile(layout.stateDir, name),
    health: { url: `https://127.0.0.1:${port}/healthz`, tls: 'insecure' },
    args: [
      `--config=${config}`,
      `--authentication-kubeconfig=${layout.kubeconfig}`,
      `--authorization-kubeconfig=${layout.kubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${port}`,
    ],
  };
}

function get(url: string, tls: 'none' | 'admin' | 'insecure', state: ClusterState): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const options =
      tls === 'admin'
        ? {
            ca: readFileSync(state.pki.caCert),
            cert: readFileSync(state.pki.adminCert),
            key: readFileSync(state.pki.adminKey),
          }
        : { rejectUnauthorized: false };
    const req = (tls === 'none' ? httpRequest : httpsRequest)(url, { ...options, timeout: 2000 }, (res) => {
      res.resume();
      resolvePromise(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export async function isHealthy(state: ClusterState, component: ComponentRecord): Promise<boolean> {
  if (!isOurProcess(component.pid, component.binary)) {
    return false;
  }
  if (component.health === undefined) {
    return true;
  }
  return (await get(component.health.url, component.health.tls, state)) === 200;
}

/** True when every recorded component is alive and the apiserver is ready. */
export async function isUp(state: ClusterState): Promise<boolean> {
  for (const component of state.components) {
    if (!(await isHealthy(state, component).catch(() => false))) {
      return false;
    }
  }
  return true;
}

export function findComponent(state: ClusterState, name: ComponentName): ComponentRecord {
  const component = state.components.find((c) => c.name === name);
  if (component === undefined) {
    throw new ClusterError(`no component ${name} in ${state.stateDir}`);
  }
  return component;
}

/** Starts (or restarts) a recorded component and waits until it is healthy. */
export async function startComponent(state: ClusterState, component: ComponentRecord, timeoutMs = 60_000): Promise<void> {
  for (const port of component.ports) {
    if (!(await isPortFree(port))) {
      throw new ClusterError(`${component.name}: port ${port} on 127.0.0.1 is already in use by another process`);
    }
  }
  component.pid = startDetached(component.binary, component.args, component.log, {
    ...process.env,
    KWOK_WORKDIR: join(state.stateDir, 'kwok-workdir'),
  });
  writeState(state);
  await waitFor(`${component.name} to become healthy`, () => isHealthy(state, component), {
    timeoutMs,
    abort: () => (isAlive(component.pid) ? undefined : `${component.name} exited during start-up; last lines of ${component.log}:\n${logTail(component.log)}`),
  });
}

/** Stops one component (SIGTERM, then SIGKILL), or kills it at once with `kill: true`. */
export async function stopComponent(state: ClusterState, name: ComponentName, options: { kill?: boolean } = {}): Promise<void> {
  const component = findComponent(state, name);
  if (!isOurProcess(component.pid, component.binary)) {
    return;
  }
  await stopProcess(component.pid, options.kill === true ? 0 : 10_000);
}

/**
 * Adds a process of our own (e.g. the manager in the demo) to the cluster's components, so
 * cluster:down stops it too; a previous one of the same name is stopped first.
 */
export async function startExtraComponent(state: ClusterState, component: ComponentRecord, timeoutMs = 60_000): Promise<void> {
  const previous = state.components.find((c) => c.name === component.name);
  if (previous !== undefined) {
    if (isOurProcess(previous.pid, previous.binary)) {
      await stopProcess(previous.pid);
    }
    state.components = state.components.filter((c) => c !== previous);
  }
  state.components.push(component);
  await startComponent(state, component, timeoutMs);
}

/**
 * Stops a component started with startExtraComponent and forgets it, so the cluster's state lists
 * only what is meant to be running (a stopped record would read as a component that is down).
 */
export async function removeExtraComponent(state: ClusterState, name: ComponentName): Promise<void> {
  if (!state.components.some((c) => c.name === name)) {
    return;
  }
  await stopComponent(state, name);
  state.components = state.components.filter((c) => c.name !== name);
  writeState(state);
}
