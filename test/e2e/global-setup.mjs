// Brings the local control plane up once per e2e run through the same CLI users run
// (npm run cluster:up), in its own state dir so a demo cluster in .cluster is left alone.
// PODGROUP_E2E_KEEP_CLUSTER=1 keeps it after the run; the next run reuses it.
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function clusterCli(args) {
  const result = spawnSync(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', '--loader', 'ts-node/esm', join(root, 'hack', 'cluster', 'main.ts'), ...args],
    { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, NODE_OPTIONS: '' } },
  );
  if (result.status !== 0) {
    throw new Error(`cluster ${args.join(' ')} failed (exit ${result.status})`);
  }
}

export default function globalSetup() {
  process.env.PODGROUP_E2E_CLUSTER_DIR ??= join(root, '.cluster-e2e');
  clusterCli(['up', '--state-dir', process.env.PODGROUP_E2E_CLUSTER_DIR, '--nodes', '3']);
}
