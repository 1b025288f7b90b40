// What a real kubelet node changes on this host, recorded before it starts and undone after it
// stops: sysctls, iptables chains, fixed paths, mounts, the CNI bridge and veths, kubepods
// cgroups, leftover container shims and network namespaces. See ../shared/docs/real-node.md.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HostSnapshot } from '../control-plane/state.js';

/**
 * Set by the kubelet (first three) and by the bridge plugin (ip_forward); kube-proxy is configured
 * to leave route_localnet alone, recorded in case a version does not.
 */
export const SYSCTLS = ['vm.overcommit_memory', 'kernel.panic', 'kernel.panic_on_oops', 'net.ipv4.ip_forward', 'net.ipv4.conf.all.route_localnet'];
/** Paths the kubelet, containerd's shims and CNI use whatever their configured roots. */
export const FIXED_PATHS = ['/var/lib/kubelet', '/var/lib/cni', '/run/containerd', '/var/run/netns'];
const IPTABLES = ['iptables', 'ip6tables'];
const TABLES = ['filter', 'nat', 'mangle'];

const sysctlPath = (name: string): string => join('/proc/sys', ...name.split('.'));

function chains(): string[] {
  const found: string[] = [];
  for (const cmd of IPTABLES) {
    for (const table of TABLES) {
      const result = spawnSync(cmd, ['-w', '5', '-t', table, '-S'], { encoding: 'utf8' });
      if (result.status !== 0) {
        continue;
      }
      for (const line of result.stdout.split('\n')) {
        const m = /^-N (\S+)/.exec(line);
        if (m !== null) {
          found.push(`${cmd}/${table}/${m[1]}`);
        }
      }
    }
  }
  return found;
}

const cgroupControllers = (): string[] => (existsSync('/sys/fs/cgroup') ? readdirSync('/sys/fs/cgroup') : []);
const netns = (): string[] => (existsSync('/var/run/netns') ? readdirSync('/var/run/netns') : []);

export function snapshotHost(): HostSnapshot {
  return {
    sysctls: Object.fromEntries(SYSCTLS.map((s) => [s, readFileSync(sysctlPath(s), 'utf8').trim()])),
    existingPaths: FIXED_PATHS.filter((p) => existsSync(p)),
    existingChains: chains(),
    existingNetns: netns(),
    existingKubepods: cgroupControllers().filter((c) => existsSync(join('/sys/fs/cgroup', c, 'kubepods'))),
  };
}

/** The path as the mount table shows it (/var/run is a link to /run on Debian). */
const canonicalPath = (p: string): string => p.replace(/^\/var\/run(\/|$)/, '/run$1');

/** Mount points under any of the prefixes, deepest first. */
export function mountsUnder(paths: string[]): string[] {
  const prefixes = paths.map(canonicalPath);
  const out = spawnSync('findmnt', ['-rn', '-o', 'TARGET'], { encoding: 'utf8' }).stdout ?? '';
  return out
    .split('\n')
    .map((l) => l.replace(/\\x20/g, ' ').trim())
    .filter((t) => t !== '' && prefixes.some((p) => t === p || t.startsWith(`${p}/`)))
    .sort((a, b) => b.length - a.length);
}

function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) {
    return;
  }
  for (const entry of readdirSync(dir)) {
    const child = join(dir, entry);
    try {
      if (statSync(child).isDirectory()) {
        removeCgroupTree(child);
      }
    } catch {
      // gone meanwhile
    }
  }
  try {
    rmdirSync(dir);
  } catch {
    // a cgroup still holding a process stays; reported by leftovers()
  }
}

/**
 * Undoes what the node changed, given the snapshot taken before it started. Processes must be
 * stopped first. `ownMountPrefixes` are the node's own directories (state dir).
 */
export function restoreHost(snapshot: HostSnapshot, options: { ownMountPrefixes: string[]; bridge: string }): void {
  const created = FIXED_PATHS.filter((p) => !snapshot.existingPaths.includes(p));
  const newNetns = netns().filter((n) => !snapshot.existingNetns.includes(n));
  const prefixes = [
    ...options.ownMountPrefixes,
    ...created,
    ...newNetns.map((n) => `/var/run/netns/${n}`),
    '/run/containerd/io.containerd.runtime.v2.task',
    '/run/containerd/io.containerd.grpc.v1.cri',
  ];
  for (const target of mountsUnder(prefixes)) {
    spawnSync('umount', ['-l', target]);
  }
  for (const n of newNetns) {
    try {
      rmSync(`/var/run/netns/${n}`, { force: true });
    } catch {
      // still mounted: reported by leftovers()
    }
  }
  // veths die with their namespaces; the bridge is ours.
  spawnSync('ip', ['link', 'delete', options.bridge]);
  const before = new Set(snapshot.existingChains);
  for (const cmd of IPTABLES) {
    for (const table of TABLES) {
      const rules = spawnSync(cmd, ['-w', '5', '-t', table, '-S'], { encoding: 'utf8' }).stdout ?? '';
      const ours = rules
        .split('\n')
        .map((l) => /^-N (\S+)/.exec(l)?.[1])
        .filter((c): c is string => c !== undefined && !before.has(`${cmd}/${table}/${c}`));
      if (ours.length === 0) {
        continue;
      }
      // First the rules that jump to our chains (from any chain), then the chains themselves.
      for (const line of rules.split('\n')) {
        const m = /^-A (\S+) (.*)$/.exec(line);
        if (m !== null && ours.some((c) => line.includes(`-j ${c}`)) && !ours.includes(m[1] ?? '')) {
          spawnSync('sh', ['-c', `${cmd} -w 5 -t ${table} -D ${m[1]} ${m[2]}`]);
        }
      }
      for (const chain of ours) {
        spawnSync(cmd, ['-w', '5', '-t', table, '-F', chain]);
      }
      for (const chain of ours) {
        spawnSync(cmd, ['-w', '5', '-t', table, '-X', chain]);
      }
    }
  }
  for (const [name, value] of Object.entries(snapshot.sysctls)) {
    try {
      writeFileSync(sysctlPath(name), value);
    } catch {
      // reported by leftovers()
    }
  }
  for (const controller of cgroupControllers()) {
    if (!snapshot.existingKubepods.includes(controller)) {
      removeCgroupTree(join('/sys/fs/cgroup', controller, 'kubepods'));
    }
  }
  for (const path of created) {
    if (mountsUnder([path]).length === 0) {
      rmSync(path, { recursive: true, force: true });
    }
  }
}

/** What is still different from the snapshot (empty when the host is back as it was). */
export function leftovers(snapshot: HostSnapshot, options: { ownMountPrefixes: string[]; bridge: string }): string[] {
  const problems: string[] = [];
  for (const [name, value] of Object.entries(snapshot.sysctls)) {
    const now = readFileSync(sysctlPath(name), 'utf8').trim();
    if (now !== value) {
      problems.push(`sysctl ${name}=${now} (was ${value})`);
    }
  }
  const before = new Set(snapshot.existingChains);
  problems.push(
    ...chains()
      .filter((c) => !before.has(c))
      .map((c) => `iptables chain ${c}`),
  );
  problems.push(...FIXED_PATHS.filter((p) => !snapshot.existingPaths.includes(p) && existsSync(p)).map((p) => `path ${p}`));
  problems.push(...mountsUnder(options.ownMountPrefixes).map((m) => `mount ${m}`));
  problems.push(
    ...netns()
      .filter((n) => !snapshot.existingNetns.includes(n))
      .map((n) => `netns ${n}`),
  );
  if (spawnSync('ip', ['link', 'show', options.bridge], { stdio: 'ignore' }).status === 0) {
    problems.push(`link ${options.bridge}`);
  }
  problems.push(
    ...cgroupControllers()
      .filter((c) => !snapshot.existingKubepods.includes(c) && existsSync(join('/sys/fs/cgroup', c, 'kubepods')))
      .map((c) => `cgroup /sys/fs/cgroup/${c}/kubepods`),
  );
  return problems;
}

/** PIDs of processes whose command line mentions `needle` (e.g. shims started for our containerd socket). */
export function pidsMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) {
      continue;
    }
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(needle)) {
        pids.push(Number(entry));
      }
    } catch {
      // exited
    }
  }
  return pids;
}
