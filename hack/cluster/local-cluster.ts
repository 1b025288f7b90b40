// The local control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
// kwok run as processes on 127.0.0.1, with fake Nodes. Used by `npm run cluster:up/down`, the
// e2e test harness and the demo. State (PKI, kubeconfig, logs, PIDs) lives in one directory.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import {
  createCertificateAuthority,
  createSigningKeyPair,
  issueCertificate,
  type PemKeyPair,
} from '../../src/runtime/certificates.js';
import { extenderTlsOptions, parseFlags } from '../../src/flags.js';
import { createLogger } from '../../src/runtime/logging.js';
import { ensureExtenderCertificates } from '../../src/scheduling/tls.js';
import {
  ClusterError,
  freePort,
  isAlive,
  isOurProcess,
  isPortFree,
  logTail,
  startDetached,
  stopProcess,
  waitFor,
} from './processes.js';
import { teardownRealNode, type RealNodeState } from '../real-node/teardown.js';

export { ClusterError } from './processes.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_STATE_DIR = join(REPO_ROOT, '.cluster');
export const KUBE_VERSION = 'v1.34.4';

const YEAR_MS = 365 * 24 * 3600 * 1000;
const SERVICE_CIDR = '10.96.0.0/16';
const POD_CIDR = '10.244.0.0/16';
export const ZONES = ['zone-a', 'zone-b', 'zone-c'];

export type ComponentName =
  | 'etcd'
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kwok'
  | (string & {});

/** Everything needed to (re)start a component exactly as cluster:up did. */
export interface ComponentRecord {
  name: ComponentName;
  binary: string;
  args: string[];
  pid: number;
  ports: number[];
  log: string;
  /** URL polled until it answers 200; 'admin' uses the admin client cert, 'insecure' skips server verification. */
  health?: { url: string; tls: 'none' | 'admin' | 'insecure' };
}

export interface ClusterState {
  stateDir: string;
  binDir: string;
  kubeconfig: string;
  apiserverUrl: string;
  /** Where the podgroup-scheduler expects the manager's extender (127.0.0.1). */
  extenderPort: number;
  /**
   * The podgroup-scheduler's client certificate for the extender (and the CA it verifies the
   * extender with), as the manager issued them into the Secret the in-cluster scheduler mounts.
   */
  extenderClientTls: ExtenderClientTlsFiles;
  /** The namespace of the extender's Secrets (pass it as --extender-secret-namespace). */
  extenderSecretNamespace: string;
  pki: { caCert: string; caKey: string; adminCert: string; adminKey: string };
  components: ComponentRecord[];
  /** Present while the real kubelet node runs (cluster up --real-node; hack/real-node). */
  realNode?: RealNodeState;
}

export interface ExtenderClientTlsFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
}

/**
 * Where the local cluster keeps the extender's Secrets (managers started against it get
 * `--extender-secret-namespace` from the state): a namespace of its own, so removing an installed
 * podgroup-system (the deploy test deletes its bundle) never takes the CA the running
 * podgroup-scheduler trusts.
 */
export const LOCAL_EXTENDER_NAMESPACE = 'podgroup-local';

export interface UpOptions {
  stateDir?: string;
  nodes?: number;
  apiserverPort?: number;
  log?: (line: string) => void;
  /** Serve the API server's /debug/pprof (the scale benchmark profiles it); off otherwise. */
  apiserverProfiling?: boolean;
  /**
   * kwok's node Lease duration (renewed every quarter of it). 40 s by default, as a kubelet's;
   * thousands of fake nodes renewing every 10 s would load the API server more than the workload.
   */
  kwokNodeLeaseSeconds?: number;
}

export interface FakeNodeSpec {
  name: string;
  zone: string;
  cpu?: string;
  memory?: string;
  pods?: string;
  labels?: Record<string, string>;
  taints?: k8s.V1Taint[];
}

const stateFile = (stateDir: string): string => join(stateDir, 'state.json');

function stageFiles(binDir: string): string[] {
  const dir = join(binDir, 'kwok-stages');
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.yaml')) : [];
  if (files.length === 0) {
    throw new ClusterError(`no kwok stage files in ${dir}; delete ${binDir} and run hack/build-binaries.sh again`);
  }
  return files.sort().map((f) => join(dir, f));
}

export function readState(stateDir = DEFAULT_STATE_DIR): ClusterState | undefined {
  const file = stateFile(stateDir);
  if (!existsSync(file)) {
    return undefined;
  }
  return JSON.parse(readFileSync(file, 'utf8')) as ClusterState;
}

export function writeState(state: ClusterState): void {
  writeFileSync(stateFile(state.stateDir), JSON.stringify(state, null, 2));
}

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
    abort: () =>
      isAlive(component.pid)
        ? undefined
        : `${component.name} exited during start-up; last lines of ${component.log}:\n${logTail(component.log)}`,
  });
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

/** Stops one component (SIGTERM, then SIGKILL), or kills it at once with `kill: true`. */
export async function stopComponent(state: ClusterState, name: ComponentName, options: { kill?: boolean } = {}): Promise<void> {
  const component = findComponent(state, name);
  if (!isOurProcess(component.pid, component.binary)) {
    return;
  }
  await stopProcess(component.pid, options.kill === true ? 0 : 10_000);
}

export function findComponent(state: ClusterState, name: ComponentName): ComponentRecord {
  const component = state.components.find((c) => c.name === name);
  if (component === undefined) {
    throw new ClusterError(`no component ${name} in ${state.stateDir}`);
  }
  return component;
}

export function loadKubeConfig(state: ClusterState): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(state.kubeconfig);
  return kc;
}

function writePki(stateDir: string): ClusterState['pki'] & { saKey: string; saPub: string; servingCert: string; servingKey: string; kubeletClientCert: string; kubeletClientKey: string } {
  const dir = join(stateDir, 'pki');
  mkdirSync(dir, { recursive: true });
  const write = (name: string, content: string): string => {
    const path = join(dir, name);
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  };
  const ca = createCertificateAuthority('podgroup-local-ca', 10 * YEAR_MS);
  const serving = issueCertificate(ca, {
    commonName: 'kube-apiserver',
    dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
    ipAddresses: ['127.0.0.1', '10.96.0.1'],
    usages: ['server'],
    validForMs: YEAR_MS,
  });
  const admin = issueCertificate(ca, {
    commonName: 'admin',
    organizations: ['system:masters'],
    usages: ['client'],
    validForMs: YEAR_MS,
  });
  // How the API server authenticates to a real kubelet (logs, exec, port-forward).
  const kubeletClient = issueCertificate(ca, {
    commonName: 'kube-apiserver-kubelet-client',
    organizations: ['system:masters'],
    usages: ['client'],
    validForMs: YEAR_MS,
  });
  const sa = createSigningKeyPair();
  const pair = (p: PemKeyPair, name: string): [string, string] => [write(`${name}.crt`, p.certPem), write(`${name}.key`, p.keyPem)];
  const [caCert, caKey] = pair(ca, 'ca');
  const [servingCert, servingKey] = pair(serving, 'apiserver');
  const [adminCert, adminKey] = pair(admin, 'admin');
  const [kubeletClientCert, kubeletClientKey] = pair(kubeletClient, 'apiserver-kubelet-client');
  return {
    kubeletClientCert,
    kubeletClientKey,
    caCert,
    caKey,
    adminCert,
    adminKey,
    servingCert,
    servingKey,
    saKey: write('sa.key', sa.privateKeyPem),
    saPub: write('sa.pub', sa.publicKeyPem),
  };
}

function kubeconfigYaml(server: string, caPem: string, admin: PemKeyPair): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  return toYaml({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'podgroup-local', cluster: { server, 'certificate-authority-data': b64(caPem) } }],
    users: [{ name: 'admin', user: { 'client-certificate-data': b64(admin.certPem), 'client-key-data': b64(admin.keyPem) } }],
    contexts: [{ name: 'podgroup-local', context: { cluster: 'podgroup-local', user: 'admin', namespace: 'default' } }],
    'current-context': 'podgroup-local',
  });
}

/**
 * Applies crds/ with server-side apply (the PodGroup CRD is too large for client-side apply's
 * last-applied annotation) and waits until every CRD is Established.
 */
export async function installCrds(state: ClusterState): Promise<void> {
  const dir = join(REPO_ROOT, 'crds');
  const result = spawnSync('kubectl', ['--kubeconfig', state.kubeconfig, 'apply', '--server-side', '--force-conflicts', '-k', dir], { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new ClusterError(`kubectl apply -k crds/ failed: ${result.stderr || result.error?.message}`);
  }
  const ext = loadKubeConfig(state).makeApiClient(k8s.ApiextensionsV1Api);
  const names = [...result.stdout.matchAll(/customresourcedefinition\.apiextensions\.k8s\.io\/(\S+)/g)].map((m) => m[1] ?? '');
  for (const name of names) {
    await waitFor(`CRD ${name} to be Established`, async () => {
      const crd = await ext.readCustomResourceDefinition({ name });
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
    }, { timeoutMs: 60_000 });
  }
}

/**
 * config/webhook's MutatingWebhookConfiguration for a manager running as a local process: the API
 * server calls https://127.0.0.1:port, and `ownNamespace` (the manager's, never injected) takes
 * the place of podgroup-system in the namespace selectors.
 */
export function localWebhookConfiguration(port: number, options: { name?: string; ownNamespace?: string } = {}): k8s.V1MutatingWebhookConfiguration {
  const config = k8s.loadYaml<k8s.V1MutatingWebhookConfiguration>(readFileSync(join(REPO_ROOT, 'config', 'webhook', 'mutating_webhook_configuration.yaml'), 'utf8'));
  if (options.name !== undefined) {
    config.metadata = { ...config.metadata, name: options.name };
  }
  for (const webhook of config.webhooks ?? []) {
    webhook.clientConfig = { url: `https://127.0.0.1:${port}/mutate-v1-pod` };
    for (const expression of webhook.namespaceSelector?.matchExpressions ?? []) {
      if (options.ownNamespace !== undefined && expression.values !== undefined) {
        expression.values = expression.values.map((v) => (v === 'podgroup-system' ? (options.ownNamespace as string) : v));
      }
    }
  }
  return config;
}

/**
 * config/scheduler/namespaced/scheduler-config.yaml, pointed at the local API server and extender:
 * the same HTTPS and client-certificate settings, with the mounted Secret's files replaced by the
 * local copies (the server name stays the Service's, which the serving certificate carries).
 */
export function localPodGroupSchedulerConfig(
  kubeconfig: string,
  extenderPort: number,
  tls: ExtenderClientTlsFiles,
  overrides: { schedulerName?: string; ignorable?: boolean } = {},
): string {
  const config = parseYaml(readFileSync(join(REPO_ROOT, 'config', 'scheduler', 'namespaced', 'scheduler-config.yaml'), 'utf8')) as {
    clientConnection?: object;
    leaderElection?: object;
    profiles: Array<{ schedulerName: string }>;
    extenders: Array<{ urlPrefix: string; ignorable?: boolean; tlsConfig?: { certFile?: string; keyFile?: string; caFile?: string } }>;
  };
  config.clientConnection = { kubeconfig, qps: 200, burst: 400 };
  config.leaderElection = { leaderElect: false };
  for (const extender of config.extenders) {
    const url = new URL(extender.urlPrefix);
    url.hostname = '127.0.0.1';
    url.port = String(extenderPort);
    extender.urlPrefix = url.toString().replace(/\/$/, '');
    extender.tlsConfig = { ...extender.tlsConfig, certFile: tls.certFile, keyFile: tls.keyFile, caFile: tls.caFile };
    if (overrides.ignorable !== undefined) {
      extender.ignorable = overrides.ignorable;
    }
  }
  if (overrides.schedulerName !== undefined) {
    for (const profile of config.profiles) {
      profile.schedulerName = overrides.schedulerName;
    }
  }
  return toYaml(config);
}

export function fakeNodeManifest(spec: FakeNodeSpec): k8s.V1Node {
  const capacity = { cpu: spec.cpu ?? '16', memory: spec.memory ?? '64Gi', pods: spec.pods ?? '110', 'ephemeral-storage': '200Gi' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: spec.name,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/hostname': spec.name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'topology.kubernetes.io/zone': spec.zone,
        type: 'kwok',
        ...spec.labels,
      },
    },
    spec: spec.taints === undefined ? {} : { taints: spec.taints },
    status: {
      capacity,
      allocatable: capacity,
      nodeInfo: {
        architecture: 'amd64',
        operatingSystem: 'linux',
        kubeletVersion: `${KUBE_VERSION}-kwok`,
        kubeProxyVersion: '',
        bootID: '',
        containerRuntimeVersion: 'kwok',
        kernelVersion: '',
        machineID: '',
        osImage: 'kwok',
        systemUUID: '',
      },
    },
  };
}

/** Creates fake Nodes (kwok manages them) and waits until each is Ready. */
export async function addFakeNodes(state: ClusterState, specs: FakeNodeSpec[], timeoutMs = 60_000): Promise<void> {
  const core = loadKubeConfig(state).makeApiClient(k8s.CoreV1Api);
  for (const spec of specs) {
    try {
      await core.createNode({ body: fakeNodeManifest(spec) });
    } catch (err) {
      if ((err as { code?: number }).code !== 409) {
        throw err;
      }
    }
  }
  const names = new Set(specs.map((s) => s.name));
  await waitFor(`${specs.length} fake node(s) to be Ready`, async () => {
    const nodes = await core.listNode();
    const ready = nodes.items.filter(
      (n) => names.has(n.metadata?.name ?? '') && n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    return ready.length === names.size;
  }, { timeoutMs, abort: () => (isAlive(findComponent(state, 'kwok').pid) ? undefined : `kwok exited; last lines:\n${logTail(findComponent(state, 'kwok').log)}`) });
}

export function defaultNodeSpecs(count: number, prefix = 'kwok-node'): FakeNodeSpec[] {
  return Array.from({ length: count }, (_, i) => ({ name: `${prefix}-${i}`, zone: ZONES[i % ZONES.length] ?? 'zone-a' }));
}

async function pickPort(requested: number | undefined, component: string): Promise<number> {
  if (requested === undefined) {
    return freePort();
  }
  if (!(await isPortFree(requested))) {
    throw new ClusterError(`${component}: requested port ${requested} on 127.0.0.1 is already in use`);
  }
  return requested;
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

export async function up(options: UpOptions = {}): Promise<{ state: ClusterState; alreadyUp: boolean }> {
  const stateDir = resolve(options.stateDir ?? DEFAULT_STATE_DIR);
  const log = options.log ?? ((line: string) => console.log(line));
  const nodeCount = options.nodes ?? 3;
  if (!Number.isInteger(nodeCount) || nodeCount < 0 || nodeCount > 5000) {
    throw new ClusterError(`node count must be an integer between 0 and 5000, got ${options.nodes}`);
  }
  const existing = readState(stateDir);
  if (existing !== undefined) {
    if (await isUp(existing)) {
      return { state: existing, alreadyUp: true };
    }
    log(`found a stopped or broken cluster in ${stateDir}; cleaning it up and starting afresh`);
    await down({ stateDir, log: () => undefined });
  }

  const binDir = ensureBinaries(log);
  rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(join(stateDir, 'logs'), { recursive: true });
  mkdirSync(join(stateDir, 'kwok-workdir'), { recursive: true });

  const pki = writePki(stateDir);
  const apiserverPort = await pickPort(options.apiserverPort, 'kube-apiserver');
  const [etcdPort, etcdPeerPort, kcmPort, schedulerPort, kwokPort, podgroupSchedulerPort, extenderPort] = (await Promise.all(
    Array.from({ length: 7 }, () => freePort()),
  )) as [number, number, number, number, number, number, number];
  const apiserverUrl = `https://127.0.0.1:${apiserverPort}`;
  const kubeconfig = join(stateDir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    kubeconfigYaml(apiserverUrl, readFileSync(pki.caCert, 'utf8'), {
      certPem: readFileSync(pki.adminCert, 'utf8'),
      keyPem: readFileSync(pki.adminKey, 'utf8'),
    }),
    { mode: 0o600 },
  );
  const schedulerConfig = join(stateDir, 'kube-scheduler.yaml');
  writeFileSync(
    schedulerConfig,
    toYaml({
      apiVersion: 'kubescheduler.config.k8s.io/v1',
      kind: 'KubeSchedulerConfiguration',
      clientConnection: { kubeconfig, qps: 200, burst: 400 },
      leaderElection: { leaderElect: false },
    }),
  );

  const extenderClientTls: ExtenderClientTlsFiles = {
    certFile: join(stateDir, 'pki', 'podgroup-scheduler-extender-client.crt'),
    keyFile: join(stateDir, 'pki', 'podgroup-scheduler-extender-client.key'),
    caFile: join(stateDir, 'pki', 'podgroup-extender-ca.crt'),
  };
  const podgroupSchedulerConfig = join(stateDir, 'podgroup-scheduler.yaml');
  writeFileSync(podgroupSchedulerConfig, localPodGroupSchedulerConfig(kubeconfig, extenderPort, extenderClientTls));

  const bin = (name: string): string => join(binDir, name);
  const logFile = (name: string): string => join(stateDir, 'logs', `${name}.log`);
  const state: ClusterState = {
    stateDir,
    binDir,
    kubeconfig,
    apiserverUrl,
    extenderPort,
    extenderClientTls,
    extenderSecretNamespace: LOCAL_EXTENDER_NAMESPACE,
    pki: { caCert: pki.caCert, caKey: pki.caKey, adminCert: pki.adminCert, adminKey: pki.adminKey },
    components: [
      {
        name: 'etcd',
        binary: bin('etcd'),
        pid: 0,
        ports: [etcdPort, etcdPeerPort],
        log: logFile('etcd'),
        health: { url: `http://127.0.0.1:${etcdPort}/health`, tls: 'none' },
        args: [
          '--name=local',
          `--data-dir=${join(stateDir, 'etcd')}`,
          `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
          `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
          `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
          `--initial-cluster=local=http://127.0.0.1:${etcdPeerPort}`,
          '--unsafe-no-fsync=true',
          '--quota-backend-bytes=8589934592',
          '--log-level=warn',
        ],
      },
      {
        name: 'kube-apiserver',
        binary: bin('kube-apiserver'),
        pid: 0,
        ports: [apiserverPort],
        log: logFile('kube-apiserver'),
        health: { url: `${apiserverUrl}/readyz`, tls: 'admin' },
        args: [
          `--etcd-servers=http://127.0.0.1:${etcdPort}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${apiserverPort}`,
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
          `--profiling=${options.apiserverProfiling === true}`,
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
        ports: [kcmPort],
        log: logFile('kube-controller-manager'),
        health: { url: `https://127.0.0.1:${kcmPort}/healthz`, tls: 'insecure' },
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
          `--secure-port=${kcmPort}`,
          '--kube-api-qps=200',
          '--kube-api-burst=400',
        ],
      },
      {
        name: 'kube-scheduler',
        binary: bin('kube-scheduler'),
        pid: 0,
        ports: [schedulerPort],
        log: logFile('kube-scheduler'),
        health: { url: `https://127.0.0.1:${schedulerPort}/healthz`, tls: 'insecure' },
        args: [
          `--config=${schedulerConfig}`,
          `--authentication-kubeconfig=${kubeconfig}`,
          `--authorization-kubeconfig=${kubeconfig}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${schedulerPort}`,
        ],
      },
      {
        name: 'podgroup-scheduler',
        binary: bin('kube-scheduler'),
        pid: 0,
        ports: [podgroupSchedulerPort],
        log: logFile('podgroup-scheduler'),
        health: { url: `https://127.0.0.1:${podgroupSchedulerPort}/healthz`, tls: 'insecure' },
        args: [
          `--config=${podgroupSchedulerConfig}`,
          `--authentication-kubeconfig=${kubeconfig}`,
          `--authorization-kubeconfig=${kubeconfig}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${podgroupSchedulerPort}`,
        ],
      },
      {
        name: 'kwok',
        binary: bin('kwok'),
        pid: 0,
        ports: [kwokPort],
        log: logFile('kwok'),
        health: { url: `http://127.0.0.1:${kwokPort}/healthz`, tls: 'none' },
        args: [
          `--kubeconfig=${kubeconfig}`,
          '--manage-all-nodes=false',
          '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
          `--cidr=${POD_CIDR}`,
          '--node-ip=127.0.0.1',
          `--node-lease-duration-seconds=${options.kwokNodeLeaseSeconds ?? 40}`,
          `--server-address=127.0.0.1:${kwokPort}`,
          // v0.8.0 ships no built-in stages; build-binaries.sh copies the module's "fast" set.
          `--config=${stageFiles(binDir).join(',')}`,
        ],
      },
    ],
  };
  writeState(state);

  try {
    for (const component of state.components) {
      if (component.name === 'podgroup-scheduler') {
        log('issuing the podgroup-scheduler\'s extender client certificate');
        await prepareExtenderClientTls(state);
      }
      const started = Date.now();
      log(`starting ${component.name}`);
      await startComponent(state, component, component.name === 'kube-apiserver' ? 120_000 : 60_000);
      log(`  ${component.name} ready in ${((Date.now() - started) / 1000).toFixed(1)}s (pid ${component.pid})`);
    }
    const core = loadKubeConfig(state).makeApiClient(k8s.CoreV1Api);
    await waitFor('ServiceAccount default/default', async () => {
      await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' });
      return true;
    }, { timeoutMs: 60_000 });
    if (nodeCount > 0) {
      log(`creating ${nodeCount} fake node(s)`);
      await addFakeNodes(state, defaultNodeSpecs(nodeCount), 60_000 + nodeCount * 500);
    }
  } catch (err) {
    log('start-up failed; stopping what was started');
    await down({ stateDir, log: () => undefined });
    throw err;
  }
  return { state, alreadyUp: false };
}

/**
 * What the kubelet does for the in-cluster scheduler: the manager's own code (run here once, as
 * at its start) creates the extender CA and the scheduler's client certificate in their Secrets
 * (in podgroup-local), and their contents become the files the scheduler reads.
 */
async function prepareExtenderClientTls(state: ClusterState): Promise<void> {
  const core = loadKubeConfig(state).makeApiClient(k8s.CoreV1Api);
  try {
    await core.createNamespace({ body: { metadata: { name: state.extenderSecretNamespace, labels: { 'app.kubernetes.io/part-of': 'podgroup-controller' } } } });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) {
      throw err;
    }
  }
  const flags = parseFlags(['--extender-secret-namespace', state.extenderSecretNamespace], {});
  if (flags === 'help') {
    throw new ClusterError('unexpected help');
  }
  const tls = await ensureExtenderCertificates(core, extenderTlsOptions(flags), createLogger({ silent: true }));
  writeFileSync(state.extenderClientTls.certFile, tls.clientCertPem, { mode: 0o600 });
  writeFileSync(state.extenderClientTls.keyFile, tls.clientKeyPem, { mode: 0o600 });
  writeFileSync(state.extenderClientTls.caFile, tls.caPem, { mode: 0o600 });
}

/** Stops exactly the processes recorded in the state dir, in reverse start order, and waits for their ports. */
export async function down(options: { stateDir?: string; log?: (line: string) => void } = {}): Promise<boolean> {
  const stateDir = resolve(options.stateDir ?? DEFAULT_STATE_DIR);
  const log = options.log ?? ((line: string) => console.log(line));
  const state = readState(stateDir);
  if (state === undefined) {
    log(`no cluster state in ${stateDir}: nothing to stop`);
    return false;
  }
  if (state.realNode !== undefined) {
    // The kubelet and its containers go first, then the host is restored (hack/real-node).
    await teardownRealNode(state.realNode, state.components, log);
  }
  for (const component of [...state.components].reverse()) {
    if (component.pid > 0 && isOurProcess(component.pid, component.binary)) {
      log(`stopping ${component.name} (pid ${component.pid})`);
      await stopProcess(component.pid);
    }
  }
  for (const component of state.components) {
    for (const port of component.ports) {
      await waitFor(`port ${port} (${component.name}) to be free`, () => isPortFree(port), { timeoutMs: 15_000 });
    }
  }
  rmSync(stateFile(stateDir), { force: true });
  return true;
}
