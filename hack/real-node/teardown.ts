// Stopping the real node and undoing its host changes, in the order that leaves nothing behind:
// the kubelet first (so it restarts nothing), then every container through containerd (their
// shims exit), containerd, the Git server, kube-proxy (and its --cleanup), CoreDNS, the API
// server relay and the kwok pod CIDR route, then mounts, network namespaces, the bridge, iptables
// chains, sysctls, cgroups and the fixed paths (host.ts).
import { spawnSync } from 'node:child_process';
import { isOurProcess, stopProcess } from '../control-plane/processes.js';
import type { RealNodeState } from '../control-plane/state.js';
import { leftovers, pidsMentioning, restoreHost } from './host.js';

export const REAL_NODE_NAME = 'real-node-0';
export const REAL_NODE_COMPONENTS = ['kubelet', 'containerd', 'git-server', 'kube-proxy', 'coredns', 'apiserver-relay'] as const;

interface Component {
  name: string;
  binary: string;
  pid: number;
}

function ctr(socket: string, args: string[]): string {
  const result = spawnSync('ctr', ['-a', socket, '-n', 'k8s.io', ...args], { encoding: 'utf8', timeout: 60_000 });
  return result.status === 0 ? result.stdout : '';
}

/** Stops the real node's processes and undoes its host changes; returns what could not be undone. */
export async function teardownRealNode(node: RealNodeState, components: Component[], log: (line: string) => void): Promise<string[]> {
  const byName = (name: string): Component | undefined => components.find((c) => c.name === name);
  const stop = async (name: string): Promise<void> => {
    const c = byName(name);
    if (c !== undefined && c.pid > 0 && isOurProcess(c.pid, c.binary)) {
      log(`stopping ${name} (pid ${c.pid})`);
      await stopProcess(c.pid);
    }
  };
  await stop('kubelet');
  const containerd = byName('containerd');
  if (containerd !== undefined && isOurProcess(containerd.pid, containerd.binary)) {
    const tasks = ctr(node.containerdSocket, ['tasks', 'ls', '-q'])
      .split('\n')
      .filter((t) => t !== '');
    if (tasks.length > 0) {
      log(`stopping ${tasks.length} container(s)`);
    }
    for (const task of tasks) {
      ctr(node.containerdSocket, ['tasks', 'kill', '-s', 'SIGKILL', task]);
    }
    for (const task of tasks) {
      for (
        let i = 0;
        i < 50 && ctr(node.containerdSocket, ['tasks', 'delete', task]) === '' && ctr(node.containerdSocket, ['tasks', 'ls', '-q']).includes(task);
        i++
      ) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    for (const container of ctr(node.containerdSocket, ['containers', 'ls', '-q'])
      .split('\n')
      .filter((c) => c !== '')) {
      ctr(node.containerdSocket, ['containers', 'delete', container]);
    }
  }
  await stop('containerd');
  // Shims started for our containerd (their command line names its socket) that outlived it.
  for (const pid of pidsMentioning(node.containerdSocket)) {
    log(`stopping a leftover containerd shim (pid ${pid})`);
    await stopProcess(pid, 2000);
  }
  await stop('git-server');
  // kube-proxy stops, then removes what it programmed (iptables rules and chains); restoreHost
  // below removes any chain still new. Then cluster DNS, the API server relay and our route.
  const kubeProxy = byName('kube-proxy');
  await stop('kube-proxy');
  if (kubeProxy !== undefined) {
    const result = spawnSync(kubeProxy.binary, ['--cleanup', '--v=0'], { encoding: 'utf8', timeout: 60_000 });
    if (result.status !== 0) {
      log(`kube-proxy --cleanup exited ${result.status}: ${(result.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
    }
  }
  await stop('coredns');
  await stop('apiserver-relay');
  for (const route of node.addedRoutes ?? []) {
    spawnSync('ip', ['-4', 'route', 'del', ...route.split(' ')]);
  }
  const options = { ownMountPrefixes: [node.dir], bridge: node.bridge };
  restoreHost(node.snapshot, options);
  const remaining = leftovers(node.snapshot, options);
  for (const route of node.addedRoutes ?? []) {
    const cidr = route.split(' ').at(-1) ?? '';
    if (spawnSync('ip', ['-4', 'route', 'show', cidr], { encoding: 'utf8' }).stdout.trim() !== '') {
      remaining.push(`route ${route}`);
    }
  }
  log(remaining.length === 0 ? 'real node stopped; host changes undone' : `real node stopped; NOT undone: ${remaining.join(', ')}`);
  return remaining;
}
