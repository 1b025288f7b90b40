// The compiled manager (node dist/main.js, as the image runs it) for the benchmarks: every edge on a
// spare port, its log in the cluster's log directory; resolves once /readyz answers (caches synced).
import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../hack/control-plane/paths.js';
import { freePort, waitFor } from '../hack/control-plane/processes.js';
import type { ClusterState } from '../hack/control-plane/state.js';

export interface CompiledManager {
  pid: number;
  probesPort: number;
  /** From spawn until /readyz answered 200. */
  readyAfterMs: number;
}

export async function startCompiledManager(
  state: ClusterState,
  args: string[],
  options: { logName: string; nodeArgs?: string[]; timeoutMs?: number },
): Promise<CompiledManager> {
  const probesPort = await freePort();
  const log = openSync(join(state.stateDir, 'logs', `${options.logName}.log`), 'a');
  const started = performance.now();
  const child = spawn(process.execPath, [
    ...(options.nodeArgs ?? []),
    join(REPO_ROOT, 'dist', 'main.js'),
    `--kubeconfig=${state.kubeconfig}`,
    '--metrics-bind-address=0',
    `--health-probe-bind-address=127.0.0.1:${probesPort}`,
    '--extender-bind-address=0',
    '--webhook-bind-address=0',
    ...args,
  ], { stdio: ['ignore', log, log] });
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
  return { pid: child.pid ?? 0, probesPort, readyAfterMs: performance.now() - started };
}
