// Process and port helpers for the local control plane: start detached components with
// their output in a log file, stop exactly the PIDs we started, and wait with deadlines.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

export class ClusterError extends Error {}

/** Resolves with a port the kernel considers free on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0); it has exited for our purposes.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** True when pid is alive and still runs the binary we started (guards against PID reuse). */
export function isOurProcess(pid: number, binary: string): boolean {
  if (!isAlive(pid)) {
    return false;
  }
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
    return argv0 === binary;
  } catch {
    return false;
  }
}

export function startDetached(binary: string, args: string[], logFile: string, env: NodeJS.ProcessEnv): number {
  if (!existsSync(binary)) {
    throw new ClusterError(`binary ${binary} is missing; run hack/build-binaries.sh`);
  }
  const log = openSync(logFile, 'a');
  try {
    const child = spawn(binary, args, { detached: true, stdio: ['ignore', log, log], env });
    child.unref();
    if (child.pid === undefined) {
      throw new ClusterError(`could not start ${binary}`);
    }
    return child.pid;
  } finally {
    closeSync(log);
  }
}

export function logTail(logFile: string, lines = 25): string {
  try {
    const all = readFileSync(logFile, 'utf8').trimEnd().split('\n');
    return all.slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `check` until it returns true. Fails with `describe()` after the deadline, or at
 * once when `abort()` names a reason (e.g. the component exited).
 */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  options: { timeoutMs: number; intervalMs?: number; abort?: () => string | undefined },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const reason = options.abort?.();
    if (reason !== undefined) {
      throw new ClusterError(reason);
    }
    try {
      if (await check()) {
        return;
      }
    } catch {
      // not yet: keep polling until the deadline
    }
    if (Date.now() > deadline) {
      throw new ClusterError(`timed out after ${options.timeoutMs / 1000}s waiting for ${what}`);
    }
    await sleep(options.intervalMs ?? 200);
  }
}

/** SIGTERM, then SIGKILL after graceMs; resolves once the process is gone. */
export async function stopProcess(pid: number, graceMs = 10_000): Promise<void> {
  if (!isAlive(pid)) {
    return;
  }
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) {
    await sleep(50);
  }
  if (isAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      return;
    }
    await waitFor(`process ${pid} to exit after SIGKILL`, () => !isAlive(pid), { timeoutMs: 10_000, intervalMs: 50 });
  }
}
