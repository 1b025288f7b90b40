// Runs one container of a pod spec as a local process, as close to what a container runtime does
// as a test can get without one:
//   - a private mount and PID namespace (unshare), so every mount below vanishes with the process;
//   - the root is an overlay over the image's root filesystem (as built by hack/images for the
//     real node: the upstream binary at its path, its libraries, /etc/passwd and /etc/group, git
//     for git-sync), as containerd's overlayfs snapshotter mounts it, remounted read-only when
//     readOnlyRootFilesystem is set — so a write to the root fails with EROFS; /dev and /proc as
//     a runtime provides them (the host's /dev, a new /proc);
//   - each volumeMount is a host directory bound at its mountPath (read-only when the mount is);
//     emptyDirs are created as the kubelet does (0777, or group fsGroup with setgid when set);
//   - the container's user (runAsUser/runAsGroup, fsGroup as a supplementary group) through
//     `chroot --userspec` under `setpriv --no-new-privs`; a non-root uid holds no capabilities,
//     which stands in for capabilities.drop ALL and allowPrivilegeEscalation false;
//   - the image's environment, the container's env (literal values), and its entrypoint with
//     the container's args (or the image's cmd).
// What differs from a container runtime: the working directory is "/" (chroot's), not the image's
// WORKDIR (git-sync's /tmp; it opens no relative path); the network namespace is the host's (ports
// are those of the spec, on 127.0.0.1); no seccomp filter, no cgroup limits, no /etc/hosts or
// resolv.conf from the kubelet.
// Needs root and util-linux's unshare/setpriv; `sandboxProblem()` names what is missing.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import type { ImageLayout } from '../../../hack/images/layouts.js';

export interface RunningContainer {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the exit code once the container's process has exited. */
  exited: Promise<number | null>;
  stop: () => Promise<void>;
}

/** Why containers cannot be run here, or undefined when they can. */
export function sandboxProblem(): string | undefined {
  if (process.getuid?.() !== 0) {
    return 'running a container spec needs root (mount namespaces, chroot, setuid)';
  }
  for (const tool of ['unshare', 'setpriv', 'chroot', 'ldd']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      return `${tool} (util-linux/coreutils) is not on PATH`;
    }
  }
  return undefined;
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** An emptyDir as the kubelet creates it: 0777, or setgid and owned by fsGroup when the pod has one. */
export function emptyDir(parent: string, name: string, fsGroup: number | undefined): string {
  const dir = join(parent, name);
  mkdirSync(dir);
  if (fsGroup === undefined) {
    chmodSync(dir, 0o777);
  } else {
    chownSync(dir, 0, fsGroup);
    chmodSync(dir, 0o2777);
  }
  return dir;
}

function literalEnv(container: k8s.V1Container): Array<[string, string]> {
  return (container.env ?? []).map((e) => {
    if (e.value === undefined) {
      throw new Error(`env ${e.name} of ${container.name} is not a literal value; the sandbox cannot resolve it`);
    }
    return [e.name, e.value];
  });
}

/**
 * Starts `container` of `pod` on `imageRootfs` (a staged image root filesystem) with `layout` as
 * its image config. `volumes` maps each volume name the container mounts to a host directory.
 */
export function runContainer(
  pod: k8s.V1Pod,
  container: k8s.V1Container,
  imageRootfs: string,
  layout: ImageLayout,
  volumes: Record<string, string>,
): RunningContainer {
  const work = mkdtempSync(join(tmpdir(), `sandbox-${container.name}-`));
  const root = join(work, 'root');
  for (const d of ['root', 'upper', 'overlay-work']) {
    mkdirSync(join(work, d));
  }

  const sc = container.securityContext ?? {};
  const podSc = pod.spec?.securityContext ?? {};
  const [imageUid, imageGid] = (layout.user ?? '0:0').split(':').map(Number);
  const uid = sc.runAsUser ?? podSc.runAsUser ?? imageUid ?? 0;
  const gid = sc.runAsGroup ?? podSc.runAsGroup ?? imageGid ?? 0;
  if ((sc.runAsNonRoot ?? podSc.runAsNonRoot) === true && uid === 0) {
    throw new Error(`${container.name}: runAsNonRoot but the user is root (the kubelet would refuse to start it)`);
  }
  const groups = [...new Set([gid, ...(podSc.fsGroup === undefined ? [] : [podSc.fsGroup]), ...(podSc.supplementalGroups ?? [])])];
  const readOnlyRoot = sc.readOnlyRootFilesystem === true;

  const lines: string[] = [
    'set -eu',
    `R=${quote(root)}`,
    `mount -t overlay sandbox-root -o lowerdir=${quote(imageRootfs)},upperdir=${quote(join(work, 'upper'))},workdir=${quote(join(work, 'overlay-work'))} "$R"`,
    'mkdir -p "$R/dev" "$R/proc"',
    'mount --rbind /dev "$R/dev"',
    'mount -t proc proc "$R/proc"',
  ];
  for (const m of container.volumeMounts ?? []) {
    const host = volumes[m.name];
    if (host === undefined) {
      throw new Error(`${container.name} mounts volume ${m.name}, which the test did not provide`);
    }
    lines.push(`mkdir -p "$R"${quote(m.mountPath)}`, `mount --bind ${quote(host)} "$R"${quote(m.mountPath)}`);
    if (m.readOnly === true) {
      lines.push(`mount -o remount,bind,ro "$R"${quote(m.mountPath)}`);
    }
  }
  if (readOnlyRoot) {
    lines.push('mount -o remount,ro "$R"');
  }
  const env = Object.entries({ ...layout.env, ...Object.fromEntries(literalEnv(container)) }).map(([k, v]) => `${k}=${v}`);
  const argv = [...(container.command ?? layout.entrypoint), ...(container.args ?? (container.command === undefined ? layout.cmd : []))];
  // The environment is set on the host side (the image may have no env binary: distroless);
  // chroot leaves the process in the new root's "/".
  const exec = [
    'env',
    '-i',
    ...env.map(quote),
    'setpriv',
    '--no-new-privs',
    'chroot',
    `--userspec=${uid}:${gid}`,
    `--groups=${groups.join(',')}`,
    '"$R"',
    ...argv.map(quote),
  ].join(' ');
  // This shell is PID 1 of the namespace: when it dies (unshare --kill-child), everything does.
  lines.push(`${exec} &`, 'wait $!');
  const script = join(work, 'run.sh');
  writeFileSync(script, `${lines.join('\n')}\n`);

  const child = spawn('unshare', ['--mount', '--propagation', 'private', '--pid', '--fork', '--kill-child', 'sh', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => resolve(code));
  });
  return {
    child,
    output: () => output,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
      }
      await exited;
      // Mounts went with the namespace; only plain directories remain.
      if (existsSync(work)) {
        spawnSync('rm', ['-rf', work]);
      }
    },
  };
}
