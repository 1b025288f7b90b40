// The kubectl-podgroup plugin as users run it: the compiled bin on PATH, invoked through the real
// kubectl binary (`kubectl podgroup …`).
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../../hack/control-plane/paths.js';
import { clusterState } from './cluster.js';

export interface CommandResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Compiles the project (npm run build) and puts dist/plugin/main.js on a fresh PATH dir as kubectl-podgroup. */
export function installPlugin(): { binDir: string; remove: () => void } {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: REPO_ROOT, stdio: 'inherit' });
  const binDir = mkdtempSync(join(tmpdir(), 'kubectl-podgroup-'));
  const entry = join(REPO_ROOT, 'dist', 'plugin', 'main.js');
  chmodSync(entry, 0o755);
  symlinkSync(entry, join(binDir, 'kubectl-podgroup'));
  return { binDir, remove: () => rmSync(binDir, { recursive: true, force: true }) };
}

/** Runs `kubectl ARGS` with the plugin dir first on PATH; the e2e cluster's kubeconfig via $KUBECONFIG. */
export function kubectl(binDir: string, args: string[], env: NodeJS.ProcessEnv = {}): CommandResult {
  const result = spawnSync('kubectl', args, {
    encoding: 'utf8',
    timeout: 180_000,
    env: { ...process.env, KUBECONFIG: clusterState().kubeconfig, PATH: `${binDir}:${process.env.PATH ?? ''}`, ...env },
  });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}
