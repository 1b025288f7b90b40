// The images the real node runs, built offline from what is on this machine (no registry):
//   - the sandbox image (hack/images/pause, a few lines of Go);
//   - git-sync and Fluent Bit laid out like the upstream images (hack/images/layouts.ts) from the
//     upstream binaries in ../shared/bin, under the exact names the webhook injects;
//   - the app: Debian's nginx laid out like the official nginx image (config in /etc/nginx,
//     conf.d/default.conf serving /usr/share/nginx/html, access/error logs linked to
//     stdout/stderr, entrypoint /docker-entrypoint.sh, CMD nginx -g 'daemon off;'), under the
//     names the samples use (nginx:1.27 and nginx:1.28 are the same stand-in: Debian's 1.22);
//   - kube-scheduler: the control plane's own binary (hack/build-binaries.sh) at
//     /usr/local/bin/kube-scheduler, under the name config/scheduler deploys.
// Each becomes an OCI archive for `ctr images import`. Usable on its own:
//   node --loader ts-node/esm hack/images/build.ts OUT_DIR
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KUBE_VERSION } from '../control-plane/components.js';
import { REPO_ROOT } from '../control-plane/paths.js';
import { FLUENT_BIT_LAYOUT, GIT_SYNC_LAYOUT, type ImageLayout } from './layouts.js';
import { addBusybox, copyIn, copyTreeWithLibraries, copyWithLibraries, stageRootfs, symlinkIn, writeFiles, writeOciArchive } from './oci.js';

/** The sandbox image kubelet v1.34 and the node's containerd use. */
export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10';
export const APP_IMAGES = ['nginx:1.27', 'nginx:1.28'];
/** config/scheduler/namespaced/deployment.yaml's image. */
export const KUBE_SCHEDULER_IMAGE = `registry.k8s.io/kube-scheduler:${KUBE_VERSION}`;

export interface BuiltImage {
  names: string[];
  archive: string;
  seconds: number;
}

export class ImageBuildError extends Error {}

const cacheDir = (): string => join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'podgroup-controller');

function etcFor(layout: Pick<ImageLayout, 'passwd' | 'group'>): Record<string, string> {
  return {
    '/etc/passwd': ['root:x:0:0:root:/root:/sbin/nologin', ...layout.passwd, ''].join('\n'),
    '/etc/group': ['root:x:0:', ...layout.group, ''].join('\n'),
  };
}

function buildPause(work: string): string {
  const out = join(work, 'pause-bin');
  execFileSync('go', ['build', '-trimpath', '-ldflags', '-s -w', '-o', out, '.'], {
    cwd: join(REPO_ROOT, 'hack', 'images', 'pause'),
    env: { ...process.env, CGO_ENABLED: '0', GOTOOLCHAIN: 'local' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const rootfs = stageRootfs(join(work, 'pause'));
  copyIn(rootfs, out, '/pause', 0o755);
  return writeOciArchive(rootfs, { user: '65535:65535', env: {}, entrypoint: ['/pause'], cmd: [], workingDir: '/' }, [PAUSE_IMAGE], join(work, 'pause.tar'));
}

function sidecarRootfs(work: string, layout: ImageLayout): string {
  if (!existsSync(layout.binary.source)) {
    throw new ImageBuildError(`${layout.binary.source} is missing: the ${layout.name} image is built from that upstream binary (see ../shared/bin/README.md)`);
  }
  const rootfs = stageRootfs(join(work, layout.name.replace(/[^a-z0-9]+/g, '-')));
  copyWithLibraries(rootfs, [{ from: layout.binary.source, to: layout.binary.path }]);
  writeFiles(rootfs, etcFor(layout));
  for (const d of layout.directories) {
    mkdirSync(join(rootfs, d.path), { recursive: true, mode: d.mode });
    execFileSync('chmod', [d.mode.toString(8), join(rootfs, d.path)]);
  }
  return rootfs;
}

/** The git-sync image's root filesystem, staged in a directory under work. */
export function stageGitSyncImage(work: string): string {
  if (!existsSync('/bin/busybox') || !existsSync('/usr/lib/git-core')) {
    throw new ImageBuildError('the git-sync image needs /bin/busybox (Debian busybox-static) and /usr/lib/git-core (Debian git)');
  }
  const rootfs = sidecarRootfs(work, GIT_SYNC_LAYOUT);
  // Debian's git and templates; busybox as the base's shell. All of git-core: git-sync also runs
  // commands that are scripts (git submodule), through busybox's sh.
  copyWithLibraries(rootfs, [{ from: '/usr/bin/git' }]);
  copyTreeWithLibraries(rootfs, '/usr/lib/git-core');
  mkdirSync(join(rootfs, 'usr', 'share'), { recursive: true });
  execFileSync('cp', ['-r', '/usr/share/git-core', join(rootfs, 'usr', 'share', 'git-core')]);
  if (existsSync('/etc/ssl/certs/ca-certificates.crt')) {
    copyIn(rootfs, '/etc/ssl/certs/ca-certificates.crt', '/etc/ssl/certs/ca-certificates.crt');
  }
  addBusybox(rootfs);
  return rootfs;
}

function buildGitSync(work: string): string {
  const rootfs = stageGitSyncImage(work);
  const l = GIT_SYNC_LAYOUT;
  return writeOciArchive(
    rootfs,
    { user: l.user, env: l.env, entrypoint: l.entrypoint, cmd: l.cmd, workingDir: l.workingDir },
    [l.name],
    join(work, 'git-sync.tar'),
  );
}

/** The Fluent Bit image's root filesystem, staged in a directory under work. */
export function stageFluentBitImage(work: string): string {
  const rootfs = sidecarRootfs(work, FLUENT_BIT_LAYOUT);
  writeFiles(rootfs, {
    '/fluent-bit/etc/fluent-bit.conf':
      '[SERVICE]\n    Flush 1\n    Log_Level info\n\n[INPUT]\n    Name cpu\n    Tag  cpu.local\n    Interval_Sec 1\n\n[OUTPUT]\n    Name  stdout\n    Match *\n',
  });
  return rootfs;
}

function buildFluentBit(work: string): string {
  const rootfs = stageFluentBitImage(work);
  const l = FLUENT_BIT_LAYOUT;
  return writeOciArchive(
    rootfs,
    { user: l.user, env: l.env, entrypoint: l.entrypoint, cmd: l.cmd, workingDir: l.workingDir },
    [l.name],
    join(work, 'fluent-bit.tar'),
  );
}

/** Debian's nginx packages, downloaded once into the cache (apt-get download needs no root). */
function nginxPackages(): string[] {
  const dir = join(cacheDir(), 'debs');
  mkdirSync(dir, { recursive: true });
  const have = (): string[] => readdirSync(dir).filter((f) => /^nginx(-common)?_.*\.deb$/.test(f));
  if (have().length < 2) {
    try {
      execFileSync('apt-get', ['download', 'nginx', 'nginx-common'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      throw new ImageBuildError(
        `apt-get download nginx nginx-common failed (the app image is built from Debian's nginx): ${(err as { stderr?: Buffer }).stderr?.toString().trim() ?? String(err)}`,
      );
    }
  }
  return have().map((f) => join(dir, f));
}

const NGINX_CONF = `user  nginx;
worker_processes  1;
error_log  /var/log/nginx/error.log notice;
pid        /var/run/nginx.pid;
events {
    worker_connections  1024;
}
http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;
    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';
    access_log  /var/log/nginx/access.log  main;
    sendfile        on;
    keepalive_timeout  65;
    include /etc/nginx/conf.d/*.conf;
}
`;

const DEFAULT_CONF = `server {
    listen       80;
    server_name  localhost;
    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }
}
`;

function buildNginx(work: string): string {
  const debs = join(work, 'nginx-debs');
  for (const deb of nginxPackages()) {
    execFileSync('dpkg-deb', ['-x', deb, debs]);
  }
  const rootfs = stageRootfs(join(work, 'nginx'));
  copyWithLibraries(rootfs, [{ from: join(debs, 'usr', 'sbin', 'nginx'), to: '/usr/sbin/nginx' }]);
  copyIn(rootfs, join(debs, 'etc', 'nginx', 'mime.types'), '/etc/nginx/mime.types');
  addBusybox(rootfs);
  writeFiles(rootfs, {
    '/etc/passwd':
      'root:x:0:0:root:/root:/bin/sh\nnginx:x:101:101:nginx user:/nonexistent:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n',
    '/etc/group': 'root:x:0:\nnginx:x:101:\nnogroup:x:65534:\n',
    '/etc/nginx/nginx.conf': NGINX_CONF,
    '/etc/nginx/conf.d/default.conf': DEFAULT_CONF,
    '/usr/share/nginx/html/index.html': '<!DOCTYPE html>\n<title>Welcome to nginx!</title>\n<h1>Welcome to nginx!</h1>\n',
    // The official image runs the scripts in /docker-entrypoint.d first; this stand-in has none.
    '/docker-entrypoint.sh': { content: '#!/bin/sh\nexec "$@"\n', mode: 0o755 },
  });
  symlinkIn(rootfs, { '/var/log/nginx/access.log': '/dev/stdout', '/var/log/nginx/error.log': '/dev/stderr' });
  for (const d of [
    'var/cache/nginx',
    'var/lib/nginx/body',
    'var/lib/nginx/proxy',
    'var/lib/nginx/fastcgi',
    'var/lib/nginx/uwsgi',
    'var/lib/nginx/scgi',
    'usr/lib/nginx/modules',
  ]) {
    mkdirSync(join(rootfs, d), { recursive: true });
  }
  return writeOciArchive(
    rootfs,
    {
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
      entrypoint: ['/docker-entrypoint.sh'],
      cmd: ['nginx', '-g', 'daemon off;'],
      workingDir: '/',
      exposedPorts: [80],
    },
    APP_IMAGES,
    join(work, 'nginx.tar'),
  );
}

/**
 * Like the upstream image (a distroless static base with the binary at /usr/local/bin, run by the
 * manifests' `command: [kube-scheduler, ...]`), from our statically built binary; upstream's base
 * also has go-runner as its entrypoint, this one starts the binary directly.
 */
function buildKubeScheduler(work: string, binDir: string): string {
  const binary = join(binDir, 'kube-scheduler');
  if (!existsSync(binary)) {
    throw new ImageBuildError(`${binary} is missing (hack/build-binaries.sh builds it)`);
  }
  const rootfs = stageRootfs(join(work, 'kube-scheduler'));
  copyIn(rootfs, binary, '/usr/local/bin/kube-scheduler', 0o755);
  writeFiles(rootfs, etcFor({ passwd: ['nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin'], group: ['nonroot:x:65532:'] }));
  for (const d of ['tmp', 'home/nonroot']) {
    mkdirSync(join(rootfs, d), { recursive: true });
  }
  execFileSync('chmod', ['1777', join(rootfs, 'tmp')]);
  return writeOciArchive(
    rootfs,
    { env: { PATH: '/usr/local/bin:/usr/bin:/bin' }, entrypoint: ['/usr/local/bin/kube-scheduler'], cmd: [], workingDir: '/' },
    [KUBE_SCHEDULER_IMAGE],
    join(work, 'kube-scheduler.tar'),
  );
}

/**
 * Builds every image of the real node into outDir; log gets one line per image with its time.
 * With binDir, also the kube-scheduler image from the control plane's binary.
 */
export function buildImages(outDir: string, log: (line: string) => void = () => undefined, options: { binDir?: string } = {}): BuiltImage[] {
  mkdirSync(outDir, { recursive: true });
  const steps: Array<[string[], (work: string) => string]> = [
    [[PAUSE_IMAGE], buildPause],
    [[GIT_SYNC_LAYOUT.name], buildGitSync],
    [[FLUENT_BIT_LAYOUT.name], buildFluentBit],
    [APP_IMAGES, buildNginx],
  ];
  const binDir = options.binDir;
  if (binDir !== undefined) {
    steps.push([[KUBE_SCHEDULER_IMAGE], (work) => buildKubeScheduler(work, binDir)]);
  }
  return steps.map(([names, build]) => {
    const started = Date.now();
    const archive = build(outDir);
    const seconds = (Date.now() - started) / 1000;
    log(`built ${names.join(', ')} in ${seconds.toFixed(1)}s`);
    return { names, archive, seconds };
  });
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2];
  if (out === undefined) {
    console.error('usage: build.ts OUT_DIR');
    process.exit(2);
  }
  try {
    for (const image of buildImages(resolve(out), (l) => console.log(l))) {
      console.log(`${image.archive}: ${image.names.join(', ')}`);
    }
  } catch (err) {
    console.error(`images: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
