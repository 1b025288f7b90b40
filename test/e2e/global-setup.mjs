// Brings the local control plane up once per e2e run through the same CLI users run
// (npm run cluster:up), in its own state dir so a demo cluster in .cluster is left alone.
// PODGROUP_E2E_KEEP_CLUSTER=1 keeps it after the run; the next run reuses it.
// The real node (cluster up --real-node) is added when the host allows it (root, Debian
// packages, port 10250 free: one per host); otherwise the reason is written to
// <state dir>/real-node-unavailable and the real-node tests skip with it (fail in CI).
// PODGROUP_E2E_REAL_NODE=0 leaves it out.
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function run(args, stdio) {
  return spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', '--loader', 'ts-node/esm', join(root, 'hack', 'cluster', 'main.ts'), ...args], {
    cwd: root,
    stdio,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
}

export function clusterCli(args) {
  const result = run(args, ['ignore', 'inherit', 'inherit']);
  if (result.status !== 0) {
    throw new Error(`cluster ${args.join(' ')} failed (exit ${result.status})`);
  }
}

export default function globalSetup() {
  process.env.PODGROUP_E2E_CLUSTER_DIR ??= join(root, '.cluster-e2e');
  const dir = process.env.PODGROUP_E2E_CLUSTER_DIR;
  clusterCli(['up', '--state-dir', dir, '--nodes', '3']);
  const unavailable = join(dir, 'real-node-unavailable');
  rmSync(unavailable, { force: true });
  if (process.env.PODGROUP_E2E_REAL_NODE === '0') {
    writeFileSync(unavailable, 'PODGROUP_E2E_REAL_NODE=0');
    return;
  }
  const result = run(['up', '--state-dir', dir, '--nodes', '3', '--real-node'], ['ignore', 'pipe', 'pipe']);
  if (result.status !== 0) {
    const reason = (result.stderr || result.stdout).trim().replace(/^cluster: /, '');
    writeFileSync(unavailable, reason);
    process.stderr.write(`real node not started: ${reason}\n`);
  }
}
