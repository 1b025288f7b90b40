// Building container images without Docker or a registry: a root filesystem staged in a
// directory becomes a single-layer OCI image-layout tar (layer + config + manifest + index, with
// containerd's io.containerd.image.name annotation per name), which `ctr images import` loads.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface ImageConfig {
  user?: string;
  env: Record<string, string>;
  entrypoint: string[];
  cmd: string[];
  workingDir: string;
  exposedPorts?: number[];
}

/** A reference as containerd stores it: short Docker Hub names get docker.io/library/. */
export function normalizeImageName(name: string): string {
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    return name;
  }
  return slash < 0 ? `docker.io/library/${name}` : `docker.io/${name}`;
}

/** A fresh directory with Debian's merged-/usr layout (bin, sbin, lib, lib64 link into usr). */
export function stageRootfs(dir: string): string {
  rmSync(dir, { recursive: true, force: true });
  for (const d of ['usr/bin', 'usr/sbin', 'usr/lib', 'usr/lib64', 'etc', 'tmp', 'dev', 'proc', 'sys', 'run', 'var']) {
    mkdirSync(join(dir, d), { recursive: true });
  }
  for (const d of ['bin', 'sbin', 'lib', 'lib64']) {
    symlinkSync(`usr/${d}`, join(dir, d));
  }
  chmodSync(join(dir, 'tmp'), 0o1777);
  return dir;
}

/** The path `file` has on the host, with merged-/usr links resolved (so it lands under usr/ in the image). */
function canonical(file: string): string {
  return join(realpathSync(dirname(file)), basename(file));
}

/** Copies a file's content to the same path in rootfs, creating directories. */
export function copyIn(rootfs: string, file: string, to = canonical(file), mode?: number): void {
  const dest = join(rootfs, to);
  mkdirSync(dirname(dest), { recursive: true });
  copyFileSync(file, dest);
  chmodSync(dest, mode ?? statSync(file).mode & 0o7777);
}

/** Copies executables (host paths) and every shared library they load, as ldd reports them. */
export function copyWithLibraries(rootfs: string, files: Array<{ from: string; to?: string }>): void {
  for (const { from, to } of files) {
    copyIn(rootfs, from, to);
  }
  addLibraries(
    rootfs,
    files.map((f) => f.from),
  );
}

const isElf = (file: string): boolean => {
  try {
    return readFileSync(file)
      .subarray(0, 4)
      .equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } catch {
    return false;
  }
};

/** Copies a host directory as it is (hard links and symlinks kept) plus the libraries its executables load. */
export function copyTreeWithLibraries(rootfs: string, dir: string): void {
  const dest = join(rootfs, canonical(dir));
  mkdirSync(dirname(dest), { recursive: true });
  execFileSync('cp', ['-a', dir, dest]);
  const files = execFileSync('find', [dir, '-type', 'f'], { encoding: 'utf8' }).trim().split('\n').filter(isElf);
  addLibraries(rootfs, files);
}

/** Copies the shared libraries `executables` (host paths) load into rootfs. */
export function addLibraries(rootfs: string, executables: string[]): void {
  const libraries = new Set<string>();
  for (const from of executables) {
    let out = '';
    try {
      out = execFileSync('ldd', [from], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch {
      continue; // static: "not a dynamic executable"
    }
    for (const m of out.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)) {
      libraries.add(m[1] ?? '');
    }
  }
  for (const lib of libraries) {
    if (lib !== '' && !existsSync(join(rootfs, canonical(lib)))) {
      copyIn(rootfs, lib);
    }
  }
  // The dynamic loader is asked for by its ABI path.
  const loader = join(rootfs, 'usr', 'lib64', 'ld-linux-x86-64.so.2');
  if ([...libraries].some((l) => l.endsWith('/ld-linux-x86-64.so.2')) && !existsSync(loader)) {
    copyIn(rootfs, '/lib64/ld-linux-x86-64.so.2', '/usr/lib64/ld-linux-x86-64.so.2');
  }
}

/** Debian's busybox-static as the image's shell and core tools (links for the applets not already there). */
export function addBusybox(rootfs: string): void {
  copyIn(rootfs, '/bin/busybox', '/usr/bin/busybox', 0o755);
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).trim().split('\n');
  for (const applet of applets) {
    const link = join(rootfs, 'usr', 'bin', applet);
    if (!existsSync(link) && !existsSync(join(rootfs, 'usr', 'sbin', applet))) {
      symlinkSync('busybox', link);
    }
  }
}

export function writeFiles(rootfs: string, files: Record<string, string | { content: string; mode: number }>): void {
  for (const [path, value] of Object.entries(files)) {
    const dest = join(rootfs, path);
    mkdirSync(dirname(dest), { recursive: true });
    const { content, mode } = typeof value === 'string' ? { content: value, mode: 0o644 } : value;
    rmSync(dest, { force: true });
    writeFileSync(dest, content);
    chmodSync(dest, mode);
  }
}

export function symlinkIn(rootfs: string, links: Record<string, string>): void {
  for (const [path, target] of Object.entries(links)) {
    const dest = join(rootfs, path);
    mkdirSync(dirname(dest), { recursive: true });
    if (existsSync(dest) || lstatSync(dest, { throwIfNoEntry: false }) !== undefined) {
      rmSync(dest, { force: true });
    }
    symlinkSync(target, dest);
  }
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/**
 * Writes an OCI image-layout tar of one layer (rootfs, owned by root, reproducible mtimes)
 * named `names` (each stored as containerd's io.containerd.image.name) and returns its path.
 */
export function writeOciArchive(rootfs: string, config: ImageConfig, names: string[], out: string): string {
  const layout = `${out}.d`;
  rmSync(layout, { recursive: true, force: true });
  const blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const layerFile = join(layout, 'layer.tar');
  execFileSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', rootfs, '-cf', layerFile, '.']);
  const layer = readFileSync(layerFile);
  const layerDigest = sha256(layer);
  writeFileSync(join(blobs, layerDigest), layer);
  rmSync(layerFile);
  const blob = (value: object): { digest: string; size: number } => {
    const data = Buffer.from(JSON.stringify(value));
    const digest = sha256(data);
    writeFileSync(join(blobs, digest), data);
    return { digest: `sha256:${digest}`, size: data.length };
  };
  const imageConfig = blob({
    architecture: 'amd64',
    os: 'linux',
    created: '1970-01-01T00:00:00Z',
    config: {
      ...(config.user === undefined ? {} : { User: config.user }),
      Env: Object.entries(config.env).map(([k, v]) => `${k}=${v}`),
      Entrypoint: config.entrypoint,
      ...(config.cmd.length > 0 ? { Cmd: config.cmd } : {}),
      WorkingDir: config.workingDir,
      ...(config.exposedPorts === undefined ? {} : { ExposedPorts: Object.fromEntries(config.exposedPorts.map((p) => [`${p}/tcp`, {}])) }),
    },
    rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] },
  });
  const manifest = blob({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...imageConfig },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${layerDigest}`, size: layer.length }],
  });
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: names.map((name) => ({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        ...manifest,
        platform: { architecture: 'amd64', os: 'linux' },
        annotations: { 'io.containerd.image.name': normalizeImageName(name), 'org.opencontainers.image.ref.name': name.slice(name.lastIndexOf(':') + 1) },
      })),
    }),
  );
  execFileSync('tar', ['-C', layout, '-cf', out, 'oci-layout', 'index.json', 'blobs']);
  rmSync(layout, { recursive: true, force: true });
  return out;
}
