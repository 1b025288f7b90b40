// A second podgroup-scheduler for a test: the upstream kube-scheduler binary with
// config/scheduler's configuration (localPodGroupSchedulerConfig) under another schedulerName,
// with the kubeconfig, client-certificate files and leader election the test chooses.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { localPodGroupSchedulerConfig } from '../../../hack/control-plane/manifests.js';
import { REPO_ROOT } from '../../../hack/control-plane/paths.js';
import { type ExtenderClientTlsFiles } from '../../../hack/control-plane/state.js';
import { freePort, isAlive, logTail, startDetached, stopProcess, waitFor } from '../../../hack/control-plane/processes.js';
import { clusterState } from './cluster.js';
import { send } from './security.js';

export interface TestScheduler {
  pid: number;
  port: number;
  log: string;
  /** The scheduler's log so far. */
  output(): string;
  stop(): Promise<void>;
}

export async function startTestScheduler(options: {
  schedulerName: string;
  dir: string;
  kubeconfig?: string;
  tls?: ExtenderClientTlsFiles;
  /** The shipped leaderElection section (its own Lease in podgroup-system) instead of none. */
  leaderElection?: boolean;
}): Promise<TestScheduler> {
  const state = clusterState();
  const kubeconfig = options.kubeconfig ?? state.kubeconfig;
  const config = parse(
    localPodGroupSchedulerConfig(kubeconfig, state.extenderPort, options.tls ?? state.extenderClientTls, { schedulerName: options.schedulerName }),
  ) as Record<string, unknown>;
  if (options.leaderElection === true) {
    const shipped = parse(readFileSync(join(REPO_ROOT, 'config', 'scheduler', 'namespaced', 'scheduler-config.yaml'), 'utf8')) as { leaderElection: unknown };
    config.leaderElection = shipped.leaderElection;
  }
  const file = join(options.dir, `${options.schedulerName}.yaml`);
  writeFileSync(file, stringify(config));
  const port = await freePort();
  // Beside the managers' logs, kept after the test for a post-mortem.
  const logDir = join(state.stateDir, 'test-logs');
  mkdirSync(logDir, { recursive: true });
  const log = join(logDir, `${options.schedulerName}-${process.pid}.log`);
  const pid = startDetached(
    join(state.binDir, 'kube-scheduler'),
    [
      `--config=${file}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${port}`,
    ],
    log,
    process.env,
  );
  await waitFor(`${options.schedulerName} healthy`, async () => (await send(`https://127.0.0.1:${port}/healthz`).catch(() => ({ status: 0 }))).status === 200, {
    timeoutMs: 60_000,
    abort: () => (isAlive(pid) ? undefined : `${options.schedulerName} exited:\n${logTail(log)}`),
  });
  return {
    pid,
    port,
    log,
    output: () => readFileSync(log, 'utf8'),
    stop: async () => {
      if (isAlive(pid)) {
        await stopProcess(pid);
      }
    },
  };
}
