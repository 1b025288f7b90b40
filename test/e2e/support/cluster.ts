// What e2e tests need from the shared local control plane: its state, a kubeconfig, a fresh
// namespace per test file, kubectl as its admin, and polling with deadlines.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { REPO_ROOT } from '../../../hack/control-plane/paths.js';
import { loadKubeConfig, readState, type ClusterState } from '../../../hack/control-plane/state.js';

export const E2E_STATE_DIR = process.env.PODGROUP_E2E_CLUSTER_DIR ?? join(REPO_ROOT, '.cluster-e2e');

export function clusterState(): ClusterState {
  const state = readState(E2E_STATE_DIR);
  if (state === undefined) {
    throw new Error(`no e2e cluster in ${E2E_STATE_DIR}; run the e2e tests through jest (global setup starts it)`);
  }
  return state;
}

export function kubeConfig(): k8s.KubeConfig {
  return loadKubeConfig(clusterState());
}

/** Polls until check returns a value other than undefined/false, or fails after timeoutMs with `what`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) {
        return value;
      }
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const detail = lastError === undefined ? '' : ` (last error: ${String(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Creates a namespace with a unique name and waits for its `default` ServiceAccount (up to
 * `serviceAccountTimeoutMs`); the returned function deletes it.
 */
export async function createNamespace(
  prefix: string,
  labels: Record<string, string> = {},
  serviceAccountTimeoutMs = 30_000,
): Promise<{ name: string; remove: () => Promise<void> }> {
  const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name, labels } } });
  await eventually(
    `ServiceAccount ${name}/default`,
    async () => {
      await core.readNamespacedServiceAccount({ name: 'default', namespace: name });
      return true;
    },
    serviceAccountTimeoutMs,
  );
  return {
    name,
    remove: async () => {
      await core.deleteNamespace({ name }).catch(() => undefined);
    },
  };
}

/**
 * Waits until `name` is not being deleted (an earlier test file may have removed it, e.g.
 * podgroup-system), so the next apply into it is not refused.
 */
export async function namespaceNotTerminating(name: string, timeoutMs = 120_000): Promise<void> {
  const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  await eventually(
    `namespace ${name} not terminating`,
    async () => {
      const list = await core.listNamespace({ fieldSelector: `metadata.name=${name}` });
      return list.items.length === 0 || list.items[0]?.status?.phase === 'Active';
    },
    timeoutMs,
    500,
  );
}

/** kubectl as the cluster's admin; throws with kubectl's stderr when it fails. */
export function adminKubectl(args: string[], input?: string): string {
  return execFileSync('kubectl', ['--kubeconfig', clusterState().kubeconfig, ...args], {
    encoding: 'utf8',
    input,
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: 60_000,
  });
}
