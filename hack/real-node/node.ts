// `cluster up --real-node`: a real kubelet node, real-node-0, beside the kwok nodes. Debian's
// containerd + runc + CNI bridge (hack/real-node/install-packages.sh), the kubelet built from the
// pinned modules, images built offline (hack/images), and a read-only Git server on the bridge
// gateway. Every process is a recorded component (PID, log, health); every host change is
// recorded first and undone by cluster:down (teardown.ts, host.ts).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments, stringify as toYaml } from 'yaml';
import type { PodGroup } from '../../src/api/podgroup.js';
import { issueCertificateSync } from '../../src/runtime/certificates.js';
import { startExtraComponent } from '../control-plane/components.js';
import { logFile, REPO_ROOT } from '../control-plane/paths.js';
import { clientKubeconfig, clusterCa, YEAR_MS } from '../control-plane/pki.js';
import { ClusterError, freePort, isPortFree, waitFor } from '../control-plane/processes.js';
import { loadKubeConfig, writeState, type ClusterState, type RealNodeState } from '../control-plane/state.js';
import { buildImages, PAUSE_IMAGE } from '../images/build.js';
import { FLUENT_BIT_LAYOUT, GIT_SYNC_LAYOUT } from '../images/layouts.js';
import { mountsUnder, snapshotHost } from './host.js';
import { blockKwokPodCidr, CLUSTER_DOMAIN, exposeApiServer, startClusterDns, startKubeProxy, unexposeApiServer } from './services.js';
import { REAL_NODE_COMPONENTS, REAL_NODE_NAME, teardownRealNode } from './teardown.js';

export { REAL_NODE_NAME } from './teardown.js';
export const REAL_NODE_LABEL = { key: 'type', value: 'real' };
export const REAL_NODE_TAINT: k8s.V1Taint = { key: 'podgroup.dev/real-node', value: 'true', effect: 'NoSchedule' };
export const KUBELET_PORT = 10250;
export const KUBELET_HEALTHZ_PORT = 10248;
const BRIDGE = 'pgcni0';
const SUBNET = '10.88.0.0/24';
const GATEWAY = '10.88.0.1';
const REQUIRED_COMMANDS = ['containerd', 'runc', 'ctr', 'iptables', 'ip6tables', 'ip', 'findmnt', 'git', 'dpkg-deb', 'apt-get', 'ldd'];
const CNI_PLUGINS = ['bridge', 'host-local', 'loopback'];

/** What a pod needs to land on the real node (it is tainted and labelled so nothing else does). */
export function onRealNode(spec: k8s.V1PodSpec): k8s.V1PodSpec {
  return {
    ...spec,
    nodeSelector: { ...spec.nodeSelector, [REAL_NODE_LABEL.key]: REAL_NODE_LABEL.value },
    tolerations: [...(spec.tolerations ?? []), { key: REAL_NODE_TAINT.key, operator: 'Equal', value: REAL_NODE_TAINT.value, effect: REAL_NODE_TAINT.effect }],
  };
}

/**
 * A manifest (e.g. config/samples/podgroup-sidecars.yaml) for the real node: every PodGroup's pods
 * pinned to it and its git-sync pointed at `repo` (the node's Git server), ref main, period 5s.
 */
export function sampleOnRealNode(yamlText: string, repo: string): string {
  const docs = parseAllDocuments(yamlText).map((d) => d.toJS() as { kind?: string; spec?: PodGroup['spec'] });
  for (const doc of docs) {
    if (doc.kind === 'PodGroup' && doc.spec !== undefined) {
      doc.spec.template.spec = onRealNode(doc.spec.template.spec ?? { containers: [] });
      if (doc.spec.sidecars?.gitSync !== undefined) {
        // The node's Git server speaks plain HTTP on the bridge, which git-sync only takes when told.
        doc.spec.sidecars.gitSync = { ...doc.spec.sidecars.gitSync, repo, ref: 'main', period: '5s', allowPlainHTTP: true };
      }
    }
  }
  return `# On ${REAL_NODE_NAME}: pods pinned to the node, git-sync from its Git server.\n${docs.map((d) => toYaml(d)).join('---\n')}`;
}

const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

/** The address other machines reach this host on (the kubelet refuses a loopback node IP). */
export function hostAddress(): string | undefined {
  const out = spawnSync('ip', ['-4', 'route', 'get', '1.1.1.1'], { encoding: 'utf8' }).stdout ?? '';
  return /\bsrc (\d+\.\d+\.\d+\.\d+)/.exec(out)?.[1];
}

/** Everything that keeps a real node from starting here, each naming its fix; empty when it can. */
export async function preflight(options: { packages: boolean } = { packages: true }): Promise<string[]> {
  const problems: string[] = [];
  if (process.platform !== 'linux') {
    return ['a real node needs Linux'];
  }
  if (process.getuid?.() !== 0) {
    problems.push('a real node needs root (containerd, runc, mounts, iptables)');
  }
  if (options.packages) {
    const missing = REQUIRED_COMMANDS.filter((c) => !has(c));
    const plugins = CNI_PLUGINS.filter((p) => !existsSync(join('/usr/lib/cni', p)));
    if (missing.length > 0 || plugins.length > 0 || !existsSync('/bin/busybox')) {
      problems.push(
        `missing: ${[...missing, ...plugins.map((p) => `/usr/lib/cni/${p}`), ...(existsSync('/bin/busybox') ? [] : ['/bin/busybox'])].join(', ')}; run hack/real-node/install-packages.sh as root`,
      );
    }
  }
  if (!existsSync('/sys/fs/cgroup/memory') && !existsSync('/sys/fs/cgroup/cgroup.controllers')) {
    problems.push('no cgroup hierarchy with the memory controller under /sys/fs/cgroup');
  }
  for (const layout of [GIT_SYNC_LAYOUT, FLUENT_BIT_LAYOUT]) {
    if (!existsSync(layout.binary.source)) {
      problems.push(`${layout.binary.source} is missing (the ${layout.name} image is built from it)`);
    }
  }
  const ip = hostAddress();
  if (ip === undefined) {
    problems.push('no default route: the kubelet needs a non-loopback node IP');
  }
  for (const [port, host] of [
    [KUBELET_PORT, ip ?? '0.0.0.0'],
    [KUBELET_HEALTHZ_PORT, '127.0.0.1'],
  ] as const) {
    if (!(await isPortFree(port)) || !(await portFreeOn(port, host))) {
      problems.push(`port ${port} is in use (another kubelet on this host?); a host runs one real node`);
    }
  }
  if (spawnSync('ip', ['link', 'show', BRIDGE], { stdio: 'ignore' }).status === 0) {
    problems.push(`the bridge ${BRIDGE} already exists (another real node, or one not torn down: npm run cluster:down)`);
  }
  const routes = spawnSync('ip', ['-4', 'route'], { encoding: 'utf8' }).stdout ?? '';
  if (routes.includes('10.88.0.')) {
    problems.push(`${SUBNET} (the real node's pod network) is already routed on this host`);
  }
  return problems;
}

async function portFreeOn(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** Installs the Debian packages with the project's script (root only; a no-op when present). */
export function installPackages(log: (line: string) => void): void {
  const result = spawnSync('bash', [join(REPO_ROOT, 'hack', 'real-node', 'install-packages.sh')], { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
  if (result.status !== 0) {
    throw new ClusterError(`installing the real node's Debian packages failed: ${result.stderr.trim()}`);
  }
  log('Debian packages present (containerd, runc, CNI plugins, iptables, busybox-static, git)');
}

function containerdConfig(dir: string, socket: string, metricsPort: number): string {
  return `version = 2
root = "${join(dir, 'containerd', 'root')}"
state = "${join(dir, 'containerd', 'state')}"
[grpc]
  address = "${socket}"
[ttrpc]
  address = "${socket}.ttrpc"
[metrics]
  address = "127.0.0.1:${metricsPort}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  # root here lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj below the parent's.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${join(dir, 'cni', 'net.d')}"
`;
}

function cniConfig(dir: string): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'podgroup-real-node',
      plugins: [
        {
          type: 'bridge',
          bridge: BRIDGE,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: SUBNET, gateway: GATEWAY }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(dir, 'cni', 'ipam') },
        },
      ],
    },
    null,
    2,
  );
}

/** A small site repository the demo and the tests commit to (bare, served by the Git server). */
export function createSiteRepository(repos: string, name: string, content: string): string {
  const bare = join(repos, `${name}.git`);
  const work = join(repos, `${name}.work`);
  execFileSync('git', ['init', '-q', '--bare', '--initial-branch=main', bare]);
  execFileSync('git', ['init', '-q', '--initial-branch=main', work]);
  execFileSync('git', ['-C', work, 'remote', 'add', 'origin', bare]);
  commitToSite(repos, name, content);
  return bare;
}

/** Commits index.html with `content` to the site repository and pushes it; returns the commit. */
export function commitToSite(repos: string, name: string, content: string, file = 'index.html'): string {
  const work = join(repos, `${name}.work`);
  writeFileSync(join(work, file), content);
  const git = (...args: string[]): string =>
    execFileSync('git', ['-C', work, '-c', 'user.name=podgroup', '-c', 'user.email=podgroup@localhost', ...args], { encoding: 'utf8' });
  git('add', file);
  git('commit', '-q', '-m', `update ${file}`);
  git('push', '-q', 'origin', 'main');
  return git('rev-parse', 'HEAD').trim();
}

function writeKubeletPki(state: ClusterState, dir: string, nodeIp: string): { kubeconfig: string; servingCert: string; servingKey: string } {
  const serving = issueCertificateSync(clusterCa(state), {
    commonName: REAL_NODE_NAME,
    dnsNames: [REAL_NODE_NAME, 'localhost'],
    ipAddresses: [nodeIp, '127.0.0.1'],
    usages: ['server'],
    validForMs: YEAR_MS,
  });
  // The Node authorizer and NodeRestriction know a node by this identity.
  const kubeconfig = clientKubeconfig(state, dir, 'kubelet', `system:node:${REAL_NODE_NAME}`, ['system:nodes']);
  const pki = join(dir, 'pki');
  mkdirSync(pki, { recursive: true });
  const write = (name: string, content: string): string => {
    writeFileSync(join(pki, name), content, { mode: 0o600 });
    return join(pki, name);
  };
  return { kubeconfig, servingCert: write('kubelet.crt', serving.certPem), servingKey: write('kubelet.key', serving.keyPem) };
}

function kubeletConfig(state: ClusterState, dir: string, nodeIp: string, socket: string, pki: { servingCert: string; servingKey: string }): string {
  return toYaml({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: nodeIp,
    port: KUBELET_PORT,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: KUBELET_HEALTHZ_PORT,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: state.pki.caCert } },
    authorization: { mode: 'Webhook' },
    tlsCertFile: pki.servingCert,
    tlsPrivateKeyFile: pki.servingKey,
    containerRuntimeEndpoint: `unix://${socket}`,
    cgroupDriver: 'cgroupfs',
    failSwapOn: false,
    failCgroupV1: false,
    registerNode: true,
    registerWithTaints: [REAL_NODE_TAINT],
    maxPods: 30,
    podLogsDir: join(dir, 'pod-logs'),
    volumePluginDir: join(dir, 'volume-plugins'),
    resolvConf: '/etc/resolv.conf',
    // CoreDNS on the bridge gateway (services.ts); kind's kubelet names the kube-dns Service's IP.
    clusterDNS: [GATEWAY],
    clusterDomain: CLUSTER_DOMAIN,
    // Images are imported, never pulled: garbage collection must not delete them.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: { 'memory.available': '50Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
    syncFrequency: '10s',
    fileCheckFrequency: '10s',
    nodeStatusReportFrequency: '10s',
    serializeImagePulls: false,
    protectKernelDefaults: false,
    makeIPTablesUtilChains: true,
  });
}

function importImages(socket: string, archives: string[]): void {
  for (const archive of archives) {
    const result = spawnSync('ctr', ['-a', socket, '-n', 'k8s.io', 'images', 'import', archive], { encoding: 'utf8', timeout: 300_000 });
    if (result.status !== 0) {
      throw new ClusterError(`importing ${archive} into containerd failed: ${result.stderr.trim()}`);
    }
  }
}

/**
 * Builds the kubelet, kube-proxy and CoreDNS into the cluster's bin dir if they are missing:
 * `cluster up` builds only the control plane, so a host that cannot run a real node never
 * spends the time (hack/build-binaries.sh says how long before it starts).
 */
function ensureNodeBinaries(state: ClusterState, log: (line: string) => void): void {
  if (['kubelet', 'kube-proxy', 'coredns'].every((b) => existsSync(join(state.binDir, b)))) {
    return;
  }
  log("building the real node's binaries (kubelet, kube-proxy, CoreDNS) once; progress follows");
  const result = spawnSync('bash', [join(REPO_ROOT, 'hack', 'build-binaries.sh'), '--with-node'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    timeout: 3_600_000,
  });
  const dir = result.stdout?.trim().split('\n').at(-1);
  if (result.status !== 0) {
    throw new ClusterError("building the real node's binaries failed (see the messages above)");
  }
  if (dir !== state.binDir) {
    throw new ClusterError(
      `hack/build-binaries.sh built into ${dir ?? '?'}, but the cluster runs from ${state.binDir}: PODGROUP_BIN_DIR or the pinned versions changed since cluster up; run npm run cluster:down and up again`,
    );
  }
}

/**
 * Adds real-node-0 to a running local cluster and waits until it is Ready. On failure, what was
 * started is stopped and the host restored.
 */
export async function addRealNode(state: ClusterState, log: (line: string) => void): Promise<RealNodeState> {
  if (state.realNode !== undefined) {
    return state.realNode;
  }
  const started = Date.now();
  if (process.getuid?.() === 0) {
    installPackages(log);
  }
  const problems = await preflight();
  if (problems.length > 0) {
    throw new ClusterError(`cannot start a real node here:\n  - ${problems.join('\n  - ')}`);
  }
  ensureNodeBinaries(state, log);
  const nodeIp = hostAddress() ?? '';
  const dir = join(state.stateDir, 'real-node');
  // What an earlier start that failed left (its Git repositories would clash); teardown has
  // unmounted everything under it, and a directory still holding a mount is left alone.
  if (existsSync(dir) && mountsUnder([dir]).length === 0) {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const d of ['containerd', 'cni/net.d', 'cni/ipam', 'kubelet', 'pod-logs', 'volume-plugins', 'images', 'git']) {
    mkdirSync(join(dir, d), { recursive: true });
  }
  const socket = join(dir, 'containerd', 'containerd.sock');
  const node: RealNodeState = {
    name: REAL_NODE_NAME,
    nodeIp,
    dir,
    containerdSocket: socket,
    bridge: BRIDGE,
    subnet: SUBNET,
    gateway: GATEWAY,
    gitUrl: '',
    gitRepos: join(dir, 'git'),
    snapshot: snapshotHost(),
    timings: {},
  };
  state.realNode = node;
  const timed = async <T>(what: string, f: () => T | Promise<T>): Promise<T> => {
    const t = Date.now();
    const value = await f();
    node.timings[what] = (Date.now() - t) / 1000;
    log(`  ${what}: ${node.timings[what]?.toFixed(1)}s`);
    return value;
  };
  try {
    // The bridge exists before the first pod so the Git server can listen on its gateway address.
    execFileSync('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
    execFileSync('ip', ['addr', 'add', `${GATEWAY}/24`, 'dev', BRIDGE]);
    execFileSync('ip', ['link', 'set', BRIDGE, 'up']);
    writeFileSync(join(dir, 'cni', 'net.d', '10-podgroup.conflist'), cniConfig(dir));

    createSiteRepository(node.gitRepos, 'site', '<h1>site v1</h1>\n');
    const gitPort = await freePort();
    node.gitUrl = `http://${GATEWAY}:${gitPort}`;
    await timed('git server', () =>
      startExtraComponent(
        state,
        {
          name: 'git-server',
          binary: process.execPath,
          args: [
            '--disable-warning=ExperimentalWarning',
            '--loader',
            'ts-node/esm',
            join(REPO_ROOT, 'hack', 'real-node', 'git-server.ts'),
            '--root',
            node.gitRepos,
            '--listen',
            `${GATEWAY}:${gitPort}`,
          ],
          pid: 0,
          ports: [],
          log: logFile(state.stateDir, 'git-server'),
          health: { url: `${node.gitUrl}/site.git/info/refs?service=git-upload-pack`, tls: 'none' },
        },
        60_000,
      ),
    );

    const images = await timed('image builds', () => buildImages(join(dir, 'images'), (l) => log(`    ${l}`), { binDir: state.binDir }));

    const metricsPort = await freePort();
    const containerdConf = join(dir, 'containerd', 'config.toml');
    writeFileSync(containerdConf, containerdConfig(dir, socket, metricsPort));
    await timed('containerd ready', () =>
      startExtraComponent(
        state,
        {
          name: 'containerd',
          binary: '/usr/bin/containerd',
          args: ['--config', containerdConf],
          pid: 0,
          ports: [metricsPort],
          log: logFile(state.stateDir, 'containerd'),
          health: { url: `http://127.0.0.1:${metricsPort}/v1/metrics`, tls: 'none' },
        },
        60_000,
      ),
    );
    await timed('image import', () =>
      importImages(
        socket,
        images.map((i) => i.archive),
      ),
    );

    // What pods need of the cluster beyond the kubelet: the API server at the `kubernetes`
    // Service, cluster DNS, and (once the Node exists) kube-proxy.
    blockKwokPodCidr(node);
    await timed('API server for pods', () => exposeApiServer(state, node));
    await timed('CoreDNS ready', () => startClusterDns(state, node));

    const pki = writeKubeletPki(state, dir, nodeIp);
    const config = join(dir, 'kubelet-config.yaml');
    writeFileSync(config, kubeletConfig(state, dir, nodeIp, socket, pki));
    const kubeletStarted = Date.now();
    await startExtraComponent(
      state,
      {
        name: 'kubelet',
        binary: join(state.binDir, 'kubelet'),
        args: [
          `--config=${config}`,
          `--kubeconfig=${pki.kubeconfig}`,
          `--hostname-override=${REAL_NODE_NAME}`,
          `--node-ip=${nodeIp}`,
          `--root-dir=${join(dir, 'kubelet')}`,
          `--cert-dir=${join(dir, 'pki')}`,
          `--node-labels=${REAL_NODE_LABEL.key}=${REAL_NODE_LABEL.value},topology.kubernetes.io/zone=zone-real`,
          '--v=1',
        ],
        pid: 0,
        ports: [KUBELET_HEALTHZ_PORT],
        log: logFile(state.stateDir, 'kubelet'),
        health: { url: `http://127.0.0.1:${KUBELET_HEALTHZ_PORT}/healthz`, tls: 'none' },
      },
      120_000,
    );
    const core = loadKubeConfig(state).makeApiClient(k8s.CoreV1Api);
    await waitFor(
      `node ${REAL_NODE_NAME} to be Ready`,
      async () => {
        const n = await core.readNode({ name: REAL_NODE_NAME });
        return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    node.timings['kubelet start to node Ready'] = (Date.now() - kubeletStarted) / 1000;
    await timed('kube-proxy ready', () => startKubeProxy(state, node));
    node.timings['real node total'] = (Date.now() - started) / 1000;
    log(
      `  kubelet start to node Ready: ${node.timings['kubelet start to node Ready']?.toFixed(1)}s (real node total ${node.timings['real node total']?.toFixed(1)}s)`,
    );
    writeState(state);
    return node;
  } catch (err) {
    log('real node start-up failed; stopping it and undoing host changes');
    await removeRealNode(state, () => undefined);
    throw err;
  }
}

/** Stops the real node, undoes the host changes and forgets its components (the cluster keeps running). */
export async function removeRealNode(state: ClusterState, log: (line: string) => void): Promise<string[]> {
  const node = state.realNode;
  if (node === undefined) {
    return [];
  }
  const remaining = await teardownRealNode(node, state.components, log);
  await unexposeApiServer(state);
  state.components = state.components.filter((c) => !(REAL_NODE_COMPONENTS as readonly string[]).includes(c.name));
  delete state.realNode;
  writeState(state);
  await loadKubeConfig(state)
    .makeApiClient(k8s.CoreV1Api)
    .deleteNode({ name: REAL_NODE_NAME })
    .catch(() => undefined);
  return remaining;
}
