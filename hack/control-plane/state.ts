// What a state directory's state.json records (everything needed to restart, stop and reach the
// cluster: its components, its PKI, the real node and the host snapshot taken before it started)
// and reading and writing it. Every part of the cluster records itself here, so this file names
// them all and imports none of them.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { DEFAULT_STATE_DIR, stateFile } from './paths.js';

export type ComponentName = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kwok' | (string & {});

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

export interface ExtenderClientTlsFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
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

/** The real node (hack/real-node/node.ts) as its teardown needs it. */
export interface RealNodeState {
  name: string;
  nodeIp: string;
  /** The node's own directory (containerd root/state, kubelet root, CNI, images, Git repos). */
  dir: string;
  containerdSocket: string;
  bridge: string;
  subnet: string;
  gateway: string;
  /** Where pods fetch the Git repositories the node serves (http://gateway:port). */
  gitUrl: string;
  gitRepos: string;
  snapshot: HostSnapshot;
  timings: Record<string, number>;
  /** `ip route` specs added for the node (real-node/services.ts), deleted by teardown. */
  addedRoutes?: string[];
  /** kube-proxy's configuration (real-node/services.ts), when it was started. */
  kubeProxyConfig?: string;
}

/** The host as it was before the real node started (taken and restored by real-node/host.ts). */
export interface HostSnapshot {
  sysctls: Record<string, string>;
  /** FIXED_PATHS (real-node/host.ts) that existed before (kept; only what was created is removed). */
  existingPaths: string[];
  /** "iptables/nat/CHAIN" of every chain that existed before. */
  existingChains: string[];
  existingNetns: string[];
  /** cgroup controllers that already had a kubepods cgroup. */
  existingKubepods: string[];
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

/** A client configuration for the cluster, as its admin. */
export function loadKubeConfig(state: ClusterState): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(state.kubeconfig);
  return kc;
}
