// What e2e tests on the real node (real-node-0, started by the global setup when the host allows
// it) need: whether it is there (or why not), pods pinned to it, kubectl, site repositories on
// its Git server, and the webhook-enabled manager.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { describe, it } from '@jest/globals';
import { localWebhookConfiguration } from '../../../hack/control-plane/manifests.js';
import { freePort } from '../../../hack/control-plane/processes.js';
import type { RealNodeState } from '../../../hack/control-plane/state.js';
import { commitToSite, createSiteRepository, onRealNode } from '../../../hack/real-node/node.js';
import { clusterState, E2E_STATE_DIR, eventually, kubeConfig } from './cluster.js';
import { localWebhookFlags, startManager, type RunningManager } from './podgroups.js';

export { onRealNode };

/** The real node, or why the tests cannot use it (and then skip, or fail under PODGROUP_REQUIRE_REAL=1). */
export function realNode(): { node: RealNodeState | undefined; reason: string | undefined } {
  const node = clusterState().realNode;
  if (node !== undefined) {
    return { node, reason: undefined };
  }
  const file = join(E2E_STATE_DIR, 'real-node-unavailable');
  return { node: undefined, reason: existsSync(file) ? readFileSync(file, 'utf8').trim() : 'the e2e cluster has no real node' };
}

/** describe when the real node is there; otherwise one line and a skip, or a failing suite in CI. */
export function describeOnRealNode(title: string, body: (node: RealNodeState) => void): void {
  const { node, reason } = realNode();
  if (node !== undefined) {
    describe(title, () => body(node));
    return;
  }
  if (process.env.PODGROUP_REQUIRE_REAL === '1') {
    describe(title, () => {
      it('needs the real node', () => {
        throw new Error(`PODGROUP_REQUIRE_REAL=1 but the real node is not available: ${reason}`);
      });
    });
    return;
  }
  console.log(`${title}: skipped, no real node (${reason})`);
  describe.skip(title, () => body({} as RealNodeState));
}

export function kubectl(args: string[]): string {
  return execFileSync('kubectl', ['--kubeconfig', clusterState().kubeconfig, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
  });
}

let repoCount = 0;

/** A new site repository on the node's Git server; returns its URL (as pods reach it) and a commit function. */
export function siteRepository(node: RealNodeState, prefix: string, content: string): { url: string; commit: (content: string) => string } {
  repoCount += 1;
  const name = `${prefix}-${process.pid}-${repoCount}`;
  createSiteRepository(node.gitRepos, name, content);
  return { url: `${node.gitUrl}/${name}.git`, commit: (next) => commitToSite(node.gitRepos, name, next) };
}

/** GET http://<pod IP>:port/path from the host (real-node pod IPs are on its bridge). */
export async function fetchFromPod(pod: k8s.V1Pod, port: number, path = '/'): Promise<{ status: number; body: string } | undefined> {
  const ip = pod.status?.podIP;
  if (ip === undefined || !ip.startsWith('10.88.')) {
    return undefined;
  }
  try {
    const res = await fetch(`http://${ip}:${port}${path}`, { signal: AbortSignal.timeout(3000) });
    return { status: res.status, body: await res.text() };
  } catch {
    return undefined;
  }
}

export interface WebhookManager {
  manager: RunningManager;
  stop: () => Promise<void>;
}

/** The manager with its webhook registered by URL (config/webhook), owning namespace `own`. */
export async function startWebhookManager(own: string, configName: string): Promise<WebhookManager> {
  const admission = kubeConfig().makeApiClient(k8s.AdmissionregistrationV1Api);
  const port = await freePort();
  await admission.deleteMutatingWebhookConfiguration({ name: configName }).catch(() => undefined);
  await admission.createMutatingWebhookConfiguration({ body: localWebhookConfiguration(port, { name: configName, ownNamespace: own }) });
  const manager = await startManager(localWebhookFlags(port, own, configName));
  await eventually('caBundle patched in', async () => {
    const config = await admission.readMutatingWebhookConfiguration({ name: configName });
    return (config.webhooks ?? []).every((w) => (w.clientConfig.caBundle ?? '').length > 0);
  });
  return {
    manager,
    stop: async () => {
      await admission.deleteMutatingWebhookConfiguration({ name: configName }).catch(() => undefined);
      await manager.stop();
    },
  };
}
