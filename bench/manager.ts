// The compiled manager (node dist/main.js, as the image runs it) for the benchmarks: every edge on a
// spare port, its log in the cluster's log directory; resolves once /readyz answers (caches synced).
import { spawn } from 'node:child_process';
import { openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../hack/control-plane/paths.js';
import { freePort, waitFor } from '../hack/control-plane/processes.js';
import type { ClusterState } from '../hack/control-plane/state.js';

export interface CompiledManager {
  pid: number;
  probesPort: number;
  /** Plain-HTTP /metrics on 127.0.0.1 (with `metrics: true`). */
  metricsPort: number | undefined;
  /** From spawn until /readyz answered 200. */
  readyAfterMs: number;
}

export async function startCompiledManager(
  state: ClusterState,
  args: string[],
  options: { logName: string; nodeArgs?: string[]; timeoutMs?: number; metrics?: boolean },
): Promise<CompiledManager> {
  const probesPort = await freePort();
  const metricsPort = options.metrics === true ? await freePort() : undefined;
  const log = openSync(join(state.stateDir, 'logs', `${options.logName}.log`), 'a');
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [
      ...(options.nodeArgs ?? []),
      join(REPO_ROOT, 'dist', 'main.js'),
      `--kubeconfig=${state.kubeconfig}`,
      ...(metricsPort === undefined ? ['--metrics-bind-address=0'] : [`--metrics-bind-address=127.0.0.1:${metricsPort}`, '--metrics-secure=false']),
      `--health-probe-bind-address=127.0.0.1:${probesPort}`,
      '--extender-bind-address=0',
      '--webhook-bind-address=0',
      ...args,
    ],
    { stdio: ['ignore', log, log] },
  );
  try {
    await waitFor('manager ready (caches synced)', async () => (await fetch(`http://127.0.0.1:${probesPort}/readyz`).catch(() => undefined))?.status === 200, {
      timeoutMs: options.timeoutMs ?? 120_000,
      intervalMs: 250,
      abort: () => (child.exitCode === null ? undefined : `manager exited with ${child.exitCode}; see ${state.stateDir}/logs/${options.logName}.log`),
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return { pid: child.pid ?? 0, probesPort, metricsPort, readyAfterMs: performance.now() - started };
}

/**
 * Asks a manager started with --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=`dir` for a heap
 * snapshot and sums its objects' sizes: a snapshot holds only reachable objects, so this is the
 * live heap after a full GC. Writing it blocks the manager's event loop, so once the file exists
 * and /readyz answers again it is complete.
 */
export async function liveHeapBytes(pid: number, probesPort: number, dir: string): Promise<number> {
  const before = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  const file = (): string | undefined => readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
  await waitFor(
    'heap snapshot written',
    async () => file() !== undefined && (await fetch(`http://127.0.0.1:${probesPort}/readyz`).catch(() => undefined))?.status === 200,
    {
      timeoutMs: 300_000,
      intervalMs: 500,
    },
  );
  const snapshot = JSON.parse(readFileSync(join(dir, file() ?? ''), 'utf8')) as { snapshot: { meta: { node_fields: string[] } }; nodes: number[] };
  const fields = snapshot.snapshot.meta.node_fields;
  const selfSize = fields.indexOf('self_size');
  let total = 0;
  for (let i = selfSize; i < snapshot.nodes.length; i += fields.length) {
    total += snapshot.nodes[i] ?? 0;
  }
  return total;
}
