// Runs one container of a pod spec as a local process, as close to what a container runtime does
// as a test can get without one:
//   - a private mount and PID namespace (unshare), so every mount below vanishes with the process;
//   - a root that is a tmpfs remounted read-only, holding the image's layout (binary at its path,
//     /etc/passwd and /etc/group, its directories) plus the host's /usr, /etc, /dev bound
//     read-only (the image's Debian base and libraries) — so readOnlyRootFilesystem means EROFS;
//   - each volumeMount is a host directory bound at its mountPath (read-only when the mount is);
//     emptyDirs are created as the kubelet does (0777, or group fsGroup with setgid when set);
//   - the container's user (runAsUser/runAsGroup, fsGroup as a supplementary group) through
//     `chroot --userspec` under `setpriv --no-new-privs`; a non-root uid holds no capabilities,
//     which stands in for capabilities.drop ALL and allowPrivilegeEscalation false;
//   - the image's environment, the container's env (literal values), the image's working
//     directory, and its entrypoint with the container's args (or the image's cmd).
// The network namespace is the host's (ports are those of the spec, on 127.0.0.1).
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
  for (const tool of ['unshare', 'setpriv', 'chroot']) {
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
 * Starts `container` of `pod` with `layout` as its image. `volumes` maps each volume name the
 * container mounts to a host directory.
 */
export function runContainer(pod: k8s.V1Pod, container: k8s.V1Container, layout: ImageLayout, volumes: Record<string, string>): RunningContainer {
  const work = mkdtempSync(join(tmpdir(), `sandbox-${container.name}-`));
  const root = join(work, 'root');
  mkdirSync(root);
  const image = join(work, 'image');
  mkdirSync(image);
  writeFileSync(join(image, 'passwd'), ['root:x:0:0:root:/root:/sbin/nologin', ...layout.passwd, ''].join('\n'));
  writeFileSync(join(image, 'group'), ['root:x:0:', ...layout.group, ''].join('\n'));

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

  const lines: string[] = ['set -eu', `R=${quote(root)}`, 'mount -t tmpfs -o mode=755 sandbox-root "$R"'];
  const bindRo = (from: string, to: string): void => {
    lines.push(`mount --rbind ${quote(from)} "$R"${quote(to)}`, `mount -o remount,bind,ro "$R"${quote(to)}`);
  };
  for (const dir of ['usr', 'etc']) {
    lines.push(`mkdir "$R/${dir}"`);
    bindRo(`/${dir}`, `/${dir}`);
  }
  lines.push('for l in bin sbin lib lib64; do if [ -L "/$l" ]; then ln -s "$(readlink "/$l")" "$R/$l"; elif [ -d "/$l" ]; then mkdir "$R/$l"; mount --rbind "/$l" "$R/$l"; mount -o remount,bind,ro "$R/$l"; fi; done');
  lines.push('mkdir "$R/dev" "$R/proc"', 'mount --rbind /dev "$R/dev"', 'mount -t proc proc "$R/proc"');
  // The image's own files over the base.
  bindRo(join(image, 'passwd'), '/etc/passwd');
  bindRo(join(image, 'group'), '/etc/group');
  for (const d of layout.directories) {
    lines.push(`mkdir -p "$R"${quote(d.path)}`, `chmod ${d.mode.toString(8)} "$R"${quote(d.path)}`);
  }
  const binDir = layout.binary.path.slice(0, layout.binary.path.lastIndexOf('/')) || '/';
  lines.push(`mkdir -p "$R"${quote(binDir)}`, `touch "$R"${quote(layout.binary.path)}`);
  bindRo(layout.binary.source, layout.binary.path);
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
  const workingDir = container.workingDir ?? layout.workingDir;
  const exec = [
    'setpriv', '--no-new-privs', 'chroot', `--userspec=${uid}:${gid}`, `--groups=${groups.join(',')}`, '"$R"',
    '/usr/bin/env', '-i', ...env.map(quote), `--chdir=${quote(workingDir)}`, ...argv.map(quote),
  ].join(' ');
  // This shell is PID 1 of the namespace: when it dies (unshare --kill-child), everything does.
  lines.push(`${exec} &`, 'wait $!');
  const script = join(work, 'run.sh');
  writeFileSync(script, `${lines.join('\n')}\n`);

  const child = spawn('unshare', ['--mount', '--propagation', 'private', '--pid', '--fork', '--kill-child', 'sh', script], { stdio: ['ignore', 'pipe', 'pipe'] });
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
