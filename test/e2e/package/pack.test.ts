// The npm package as users get it: `npm pack` (prepack builds), installed into an empty directory;
// its bins work (kubectl-podgroup through the real kubectl against the local cluster,
// podgroup-controller --help) and it carries the CRD, the kustomize config and the LICENSE.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { REPO_ROOT } from '../../../hack/control-plane/paths.js';
import { clusterState } from '../support/cluster.js';

describe('npm pack', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'podgroup-pack-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('installs into an empty directory with working bins', () => {
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }),
    ) as Array<{
      filename: string;
      files: Array<{ path: string }>;
    }>;
    const files = packed[0]?.files.map((f) => f.path) ?? [];
    for (const path of [
      'LICENSE',
      'README.md',
      'package.json',
      'dist/main.js',
      'dist/plugin/main.js',
      'crds/podgroup.yaml',
      'config/default/kustomization.yaml',
      'config/prometheus/rules/podgroup-alerts.yaml',
      'config/prometheus/dashboard.json',
    ]) {
      expect([path, files.includes(path)]).toEqual([path, true]);
    }
    expect(files.filter((f) => /^(src|test|hack|bench)\//.test(f) || f.endsWith('.map') || f === 'dist/install.yaml')).toEqual([]);

    const app = join(tmp, 'app');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'empty', version: '1.0.0', private: true }));
    execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(tmp, packed[0]?.filename ?? '')], {
      cwd: app,
      stdio: ['ignore', 'ignore', 'inherit'],
      timeout: 300_000,
    });
    const bin = join(app, 'node_modules', '.bin');
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, KUBECONFIG: clusterState().kubeconfig };

    const help = spawnSync('podgroup-controller', ['--help'], { env, encoding: 'utf8', timeout: 60_000 });
    expect([help.status, help.stdout.split('\n')[0]]).toEqual([0, 'usage: podgroup-controller [flags]']);
    const plugins = spawnSync('kubectl', ['plugin', 'list'], { env, encoding: 'utf8', timeout: 60_000 });
    expect(plugins.stdout).toContain(join(bin, 'kubectl-podgroup'));
    // The installed plugin talks to the cluster: the API server's NotFound, in kubectl's words.
    const status = spawnSync('kubectl', ['podgroup', '-n', 'default', 'rollout', 'status', 'no-such-podgroup'], { env, encoding: 'utf8', timeout: 60_000 });
    expect([status.status, status.stderr]).toEqual([1, 'Error from server (NotFound): podgroups.podgroup.dev "no-such-podgroup" not found\n']);
    const injected = spawnSync(
      'kubectl',
      ['podgroup', 'inject', '-f', join(app, 'node_modules', 'podgroup-controller', 'config', 'samples', 'podgroup-sidecars.yaml')],
      { env, encoding: 'utf8', timeout: 60_000 },
    );
    expect([injected.status, injected.stdout]).toEqual([0, expect.stringContaining('name: log-collector')]);
    // The shipped config renders (config/crd includes the shipped crds/).
    const rendered = execFileSync('kubectl', ['kustomize', join(app, 'node_modules', 'podgroup-controller', 'config', 'default')], { encoding: 'utf8' });
    expect(rendered).toContain(
      readFileSync(join(REPO_ROOT, 'crds', 'podgroup.yaml'), 'utf8')
        .split('\n')
        .find((l) => l.startsWith('  name: ')) ?? 'missing',
    );
  });
});
