// What a kind node has for Services and we add beside the real node, each a recorded component:
//   - the API server for pods: the `kubernetes` Service's EndpointSlice names the bridge gateway,
//     where a TCP relay (tcp-relay.ts) forwards to kube-apiserver on 127.0.0.1;
//   - cluster DNS: CoreDNS (built from its Go module, hack/tools/coredns) on the bridge gateway,
//     the kubelet's clusterDNS, serving cluster.local from the API server;
//   - kube-proxy (iptables mode, built with the kubelet) so ClusterIPs work from pods and from the
//     host (the API server calls webhooks through their Service);
//   - an `unreachable` route for kwok's pod CIDR: kube-proxy programs every Service endpoint,
//     kwok's fake pod IPs included; a connection to one fails on this host instead of leaving it.
// Everything here is undone by teardown.ts (kube-proxy --cleanup, the route, the components).
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { stringify as toYaml } from 'yaml';
import { KWOK_POD_CIDR, startExtraComponent } from '../control-plane/components.js';
import { logFile, REPO_ROOT } from '../control-plane/paths.js';
import { clientKubeconfig } from '../control-plane/pki.js';
import { ClusterError, freePort } from '../control-plane/processes.js';
import { loadKubeConfig, type ClusterState, type RealNodeState } from '../control-plane/state.js';

export const CLUSTER_DOMAIN = 'cluster.local';
const ENDPOINTSLICE_MANAGER = 'podgroup-local-real-node';

/** Routes kwok's pod CIDR nowhere (recorded in node.addedRoutes; teardown deletes it). */
export function blockKwokPodCidr(node: RealNodeState): void {
  const existing = spawnSync('ip', ['-4', 'route', 'show', KWOK_POD_CIDR], { encoding: 'utf8' }).stdout.trim();
  if (existing !== '') {
    throw new ClusterError(`${KWOK_POD_CIDR} (kwok's pod IPs) is already routed on this host: ${existing}`);
  }
  const result = spawnSync('ip', ['-4', 'route', 'add', 'unreachable', KWOK_POD_CIDR], { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new ClusterError(`ip route add unreachable ${KWOK_POD_CIDR} failed: ${result.stderr.trim()}`);
  }
  node.addedRoutes = [...(node.addedRoutes ?? []), `unreachable ${KWOK_POD_CIDR}`];
}

/**
 * The `kubernetes` Service's endpoint for pods: the relay on the bridge gateway (the API server
 * runs with --endpoint-reconciler-type=none, so nothing else writes it), then the relay itself.
 */
export async function exposeApiServer(state: ClusterState, node: RealNodeState): Promise<void> {
  const apiPort = Number(new URL(state.apiserverUrl).port);
  await startExtraComponent(
    state,
    {
      name: 'apiserver-relay',
      binary: process.execPath,
      args: [
        '--disable-warning=ExperimentalWarning',
        '--loader',
        'ts-node/esm',
        join(REPO_ROOT, 'hack', 'real-node', 'tcp-relay.ts'),
        '--listen',
        `${node.gateway}:${apiPort}`,
        '--to',
        `127.0.0.1:${apiPort}`,
      ],
      pid: 0,
      ports: [],
      log: logFile(state.stateDir, 'apiserver-relay'),
      health: { url: `https://${node.gateway}:${apiPort}/readyz`, tls: 'insecure' },
    },
    60_000,
  );
  const discovery = loadKubeConfig(state).makeApiClient(k8s.DiscoveryV1Api);
  const body: k8s.V1EndpointSlice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: 'kubernetes',
      namespace: 'default',
      labels: { 'kubernetes.io/service-name': 'kubernetes', 'endpointslice.kubernetes.io/managed-by': ENDPOINTSLICE_MANAGER },
    },
    addressType: 'IPv4',
    endpoints: [{ addresses: [node.gateway], conditions: { ready: true } }],
    ports: [{ name: 'https', port: apiPort, protocol: 'TCP' }],
  };
  await discovery.deleteNamespacedEndpointSlice({ name: 'kubernetes', namespace: 'default' }).catch(() => undefined);
  await discovery.createNamespacedEndpointSlice({ namespace: 'default', body });
}

/** Removes the `kubernetes` EndpointSlice written by exposeApiServer (the cluster stays up without the node). */
export async function unexposeApiServer(state: ClusterState): Promise<void> {
  const discovery = loadKubeConfig(state).makeApiClient(k8s.DiscoveryV1Api);
  await discovery.deleteNamespacedEndpointSlice({ name: 'kubernetes', namespace: 'default' }).catch(() => undefined);
}

/** CoreDNS on the bridge gateway: the kubelet's clusterDNS. */
export async function startClusterDns(state: ClusterState, node: RealNodeState): Promise<void> {
  const [healthPort, readyPort] = [await freePort(), await freePort()];
  const kubeconfig = clientKubeconfig(state, node.dir, 'coredns', 'system:coredns');
  await ensureCoreDnsRbac(state);
  const corefile = join(node.dir, 'Corefile');
  writeFileSync(
    corefile,
    `.:53 {
    bind ${node.gateway}
    errors
    health 127.0.0.1:${healthPort}
    ready 127.0.0.1:${readyPort}
    kubernetes ${CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {
        kubeconfig ${kubeconfig} coredns
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    forward . /etc/resolv.conf
    cache 30
    loadbalance
}
`,
  );
  await startExtraComponent(
    state,
    {
      name: 'coredns',
      binary: join(state.binDir, 'coredns'),
      args: ['-conf', corefile],
      pid: 0,
      ports: [healthPort, readyPort],
      log: logFile(state.stateDir, 'coredns'),
      health: { url: `http://127.0.0.1:${readyPort}/ready`, tls: 'none' },
    },
    60_000,
  );
}

/** The read access CoreDNS's kubernetes plugin needs (upstream's system:coredns ClusterRole). */
async function ensureCoreDnsRbac(state: ClusterState): Promise<void> {
  const rbac = loadKubeConfig(state).makeApiClient(k8s.RbacAuthorizationV1Api);
  const role: k8s.V1ClusterRole = {
    metadata: { name: 'system:coredns' },
    rules: [
      { apiGroups: [''], resources: ['endpoints', 'services', 'pods', 'namespaces'], verbs: ['list', 'watch'] },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
    ],
  };
  const binding: k8s.V1ClusterRoleBinding = {
    metadata: { name: 'system:coredns' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:coredns' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'system:coredns' }],
  };
  await rbac.replaceClusterRole({ name: 'system:coredns', body: role }).catch(() => rbac.createClusterRole({ body: role }));
  await rbac.replaceClusterRoleBinding({ name: 'system:coredns', body: binding }).catch(() => rbac.createClusterRoleBinding({ body: binding }));
}

/** kube-proxy for the real node (system:kube-proxy, bound to system:node-proxier by the API server's bootstrap policy). */
export async function startKubeProxy(state: ClusterState, node: RealNodeState): Promise<void> {
  const [healthPort, metricsPort] = [await freePort(), await freePort()];
  const kubeconfig = clientKubeconfig(state, node.dir, 'kube-proxy', 'system:kube-proxy');
  const config = join(node.dir, 'kube-proxy-config.yaml');
  writeFileSync(
    config,
    toYaml({
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      clientConnection: { kubeconfig },
      hostnameOverride: node.name,
      mode: 'iptables',
      // Pods on the bridge: traffic to a Service from elsewhere is masqueraded.
      clusterCIDR: node.subnet,
      detectLocalMode: 'ClusterCIDR',
      healthzBindAddress: `127.0.0.1:${healthPort}`,
      metricsBindAddress: `127.0.0.1:${metricsPort}`,
      // NodePorts only on the bridge gateway, never on the host's own addresses.
      nodePortAddresses: [`${node.gateway}/32`],
      // Leave the host's conntrack sysctls and route_localnet as they are.
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
      iptables: { localhostNodePorts: false, masqueradeAll: false, syncPeriod: '10s', minSyncPeriod: '1s' },
    }),
  );
  node.kubeProxyConfig = config;
  await startExtraComponent(
    state,
    {
      name: 'kube-proxy',
      binary: join(state.binDir, 'kube-proxy'),
      args: [`--config=${config}`, '--v=1'],
      pid: 0,
      ports: [healthPort, metricsPort],
      log: logFile(state.stateDir, 'kube-proxy'),
      health: { url: `http://127.0.0.1:${healthPort}/healthz`, tls: 'none' },
    },
    60_000,
  );
}
