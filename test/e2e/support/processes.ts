// Child processes for e2e tests: TypeScript entry points run with ts-node, their stdout lines
// awaited with deadlines, and every started process killed by PID at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../../hack/control-plane/paths.js';

export interface TsProcess {
  child: ChildProcess;
  pid: number;
  /** Resolves with the first output line (stdout or stderr) matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

const started = new Set<ChildProcess>();

export function startTs(entry: string, args: string[], logName: string, env: NodeJS.ProcessEnv = {}): TsProcess {
  const logDir = join(REPO_ROOT, '.cluster-e2e', 'test-logs');
  mkdirSync(logDir, { recursive: true });
  const log = createWriteStream(join(logDir, `${logName}.log`), { flags: 'a' });
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', '--loader', 'ts-node/esm', entry, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  // stdout and stderr are split into lines separately (a line never mixes the two).
  const buffers = new Map<unknown, string>();
  const splitter =
    (stream: unknown) =>
    (chunk: Buffer): void => {
      let buffer = (buffers.get(stream) ?? '') + chunk.toString();
      let nl = buffer.indexOf('\n');
      while (nl >= 0) {
        lines.push(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
        nl = buffer.indexOf('\n');
      }
      buffers.set(stream, buffer);
      listeners.forEach((l) => l());
    };
  const onData = splitter('stderr');
  const onStdout = splitter('stdout');
  child.stdout?.on('data', (chunk: Buffer) => {
    log.write(chunk);
    onStdout(chunk);
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    log.write(chunk);
    onData(chunk);
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      started.delete(child);
      listeners.forEach((l) => l());
      resolve(code);
    }),
  );
  return {
    child,
    pid: child.pid ?? -1,
    exited,
    waitForLine(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          for (const line of lines) {
            const m = line.match(pattern);
            if (m !== null) {
              cleanup();
              resolve(m);
              return;
            }
          }
          if (child.exitCode !== null || child.signalCode !== null) {
            cleanup();
            reject(
              new Error(`${logName} exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}; see .cluster-e2e/test-logs/${logName}.log`),
            );
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`${logName} did not print ${pattern} within ${timeoutMs} ms`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
      }
      return exited;
    },
  };
}

/** Kills (SIGKILL) every process started by this test file that is still running. */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...started].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) {
            resolve();
            return;
          }
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}

export async function httpGet(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

/** The value of one sample in Prometheus text format, e.g. metric('x_total{a="b"}'). */
export function metricValue(text: string, sample: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${sample} `)) {
      return Number(line.slice(sample.length + 1));
    }
  }
  return undefined;
}
