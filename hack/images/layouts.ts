// How the upstream sidecar images are laid out (user, HOME, working directory, entrypoint, where
// the binary lives), so that both the locally built images and the contract tests run the real
// binaries from ../shared/bin exactly as the images injected by the webhook would.
import { join } from 'node:path';
import { DEFAULT_GIT_SYNC_IMAGE, DEFAULT_LOG_COLLECTOR_IMAGE } from '../../src/injection/mutate.js';
import { REPO_ROOT } from '../control-plane/paths.js';

/** Where the upstream binaries are kept (built from their release tags; see its README). */
export const SHARED_BIN_DIR = process.env.PODGROUP_SHARED_BIN ?? join(REPO_ROOT, '..', 'shared', 'bin');

export interface ImageLayout {
  /** The full reference the webhook injects (containerd stores it under docker.io/... for short names). */
  name: string;
  /** The upstream binary and its path in the image. */
  binary: { source: string; path: string };
  entrypoint: string[];
  /** The image's default arguments (replaced by a container's args). */
  cmd: string[];
  /** Numeric "uid:gid" as in the image config; undefined runs as root. */
  user: string | undefined;
  env: Record<string, string>;
  workingDir: string;
  /** Lines for /etc/passwd and /etc/group beyond root's. */
  passwd: string[];
  group: string[];
  /** Directories the image creates, with their modes. */
  directories: Array<{ path: string; mode: number }>;
  /** What the image needs from its base (Debian packages whose files it uses). */
  needs: string;
}

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** registry.k8s.io/git-sync/git-sync:v4.4.2: Debian + git, USER 65533:65533, HOME=/tmp, WORKDIR /tmp. */
export const GIT_SYNC_LAYOUT: ImageLayout = {
  name: DEFAULT_GIT_SYNC_IMAGE,
  binary: { source: join(SHARED_BIN_DIR, 'git-sync'), path: '/git-sync' },
  entrypoint: ['/git-sync'],
  cmd: [],
  user: '65533:65533',
  env: { PATH, HOME: '/tmp' },
  workingDir: '/tmp',
  passwd: ['git-sync:x:65533:65533::/tmp:/sbin/nologin'],
  group: ['git-sync:x:65533:'],
  directories: [{ path: '/tmp', mode: 0o1777 }],
  needs: 'git (Debian package) on PATH',
};

/** cr.fluentbit.io/fluent/fluent-bit:4.0.3: distroless cc-debian12, runs as root, entrypoint the binary. */
export const FLUENT_BIT_LAYOUT: ImageLayout = {
  name: DEFAULT_LOG_COLLECTOR_IMAGE,
  binary: { source: join(SHARED_BIN_DIR, 'fluent-bit'), path: '/fluent-bit/bin/fluent-bit' },
  entrypoint: ['/fluent-bit/bin/fluent-bit'],
  cmd: ['-c', '/fluent-bit/etc/fluent-bit.conf'],
  user: undefined,
  env: { PATH },
  workingDir: '/',
  passwd: ['nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin', 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin'],
  group: ['nonroot:x:65532:', 'nogroup:x:65534:'],
  directories: [
    { path: '/fluent-bit/etc', mode: 0o755 },
    { path: '/tmp', mode: 0o1777 },
  ],
  needs: 'libssl3 and libyaml-0-2 (Debian packages)',
};
