// hack/build-binaries.sh builds only what the run will use and says first how long it will take:
// run with a stand-in `go` on PATH that records each build and writes its outputs, into a bin dir
// of this test's own.
import { afterAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../../hack/control-plane/paths.js';

const work = mkdtempSync(join(tmpdir(), 'build-binaries-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// Answers `go env GOVERSION`; for `go build -o OUT pkgs...` records the packages and creates the
// binaries (OUT/ + each package's last element, or the file OUT).
const FAKE_GO = `#!/usr/bin/env bash
set -euo pipefail
case "$1" in
  env) echo go1.26.8 ;;
  build)
    shift
    out="" pkgs=()
    while (($#)); do
      case "$1" in
        -o) out="$2"; shift 2 ;;
        -ldflags | -tags=*) [[ "$1" == -ldflags ]] && shift 2 || shift ;;
        -*) shift ;;
        *) pkgs+=("$1"); shift ;;
      esac
    done
    echo "build \${pkgs[*]}" >> "${join(work, 'go.log')}"
    if [[ "$out" == */ ]]; then for p in "\${pkgs[@]}"; do touch "$out\${p##*/}"; chmod +x "$out\${p##*/}"; done; else touch "$out"; chmod +x "$out"; fi
    ;;
  *) echo "fake go: unexpected $*" >&2; exit 1 ;;
esac
`;

function run(binDir: string, args: string[]): { status: number | null; stderr: string; builds: string[] } {
  const fakeBin = join(work, 'fake-bin');
  mkdirSync(fakeBin, { recursive: true });
  writeFileSync(join(fakeBin, 'go'), FAKE_GO);
  chmodSync(join(fakeBin, 'go'), 0o755);
  rmSync(join(work, 'go.log'), { force: true });
  const result = spawnSync('bash', [join(REPO_ROOT, 'hack', 'build-binaries.sh'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${fakeBin}:${process.env.PATH ?? ''}`, PODGROUP_BIN_DIR: binDir },
    timeout: 60_000,
  });
  const log = join(work, 'go.log');
  return { status: result.status, stderr: result.stderr, builds: existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [] };
}

/** A bin dir holding etcd and kwok already (kwok's stage copy needs its module). */
function binDir(name: string, present: string[]): string {
  const dir = join(work, name);
  mkdirSync(join(dir, 'kwok-stages'), { recursive: true });
  for (const b of ['etcd', 'kwok', ...present]) {
    writeFileSync(join(dir, b), '');
    chmodSync(join(dir, b), 0o755);
  }
  return dir;
}

describe('hack/build-binaries.sh', () => {
  it('builds the control plane only, saying first how long it will take', () => {
    const dir = binDir('control-plane', []);
    const r = run(dir, []);
    expect(r.status).toBe(0);
    expect(r.builds).toEqual(['build k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler']);
    expect(r.stderr).toMatch(
      /^build-binaries: building control-plane once \(then cached in .*\): about \d+ min on this machine's \d+ cores with empty Go caches/m,
    );
    expect(r.stderr.indexOf('about')).toBeLessThan(r.stderr.indexOf('build-binaries: building kubernetes'));
    expect(existsSync(join(dir, 'kubelet'))).toBe(false);
  });

  it('--with-node adds the kubelet, kube-proxy and CoreDNS, and nothing already built', () => {
    const r = run(binDir('with-node', ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']), ['--with-node']);
    expect(r.status).toBe(0);
    expect(r.builds).toEqual(['build k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy', 'build .']);
    expect(r.stderr).toContain('building node coredns once');
  });

  it('says nothing and builds nothing when everything the run needs is there', () => {
    const r = run(binDir('complete', ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']), []);
    expect(r).toMatchObject({ status: 0, builds: [], stderr: '' });
  });

  it('refuses an unknown argument', () => {
    expect(run(binDir('bad', []), ['--with-kubelet']).stderr).toContain('unknown argument --with-kubelet');
  });
});
